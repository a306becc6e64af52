//! Upstream names re-resolved while serving: the resolver on its own, and
//! through the real binary.

mod e2e;
mod refresher;

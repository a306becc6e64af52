//! The proxy's `[pins]` section through the real binary: serving the
//! signed pin file, monitoring the edges' certificates, pin-failure
//! reports, and the Certificate Transparency watch run by the proxy.

mod ct;
mod kit;
mod monitor;
mod reports;
mod serve;
#[path = "../../../pins/tests/ct/world.rs"]
mod world;

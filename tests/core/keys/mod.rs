//! Where keys come from and how they change while requests flow.

mod egress;
mod files;
mod k8s_swap;
mod refresh;

//! The pinning kit's verbs through the real binary, against rustls servers
//! on 127.0.0.1 and 127.0.0.2 with chains from the test kit's PKI
//! (`attestgate_testkit::pki`).

mod check_cert;
mod concurrency;
mod ct_certspotter;
mod ct_watch;
mod files;
mod live;
mod okhttp;
mod render;
mod rules;
mod signed;
mod worked_example;
#[path = "../../../pins/tests/ct/world.rs"]
mod world;

//! Waiting for Pingora's shutdown, for every background task of the proxy
//! (key refresh, re-resolve, secret watch, drain, pin monitor, CT watch).

use pingora_core::server::ShutdownWatch;

/// Resolves once shutdown has begun (or the watch is gone).
pub(crate) async fn shutdown_of(mut watch: ShutdownWatch) {
    while !*watch.borrow() {
        if watch.changed().await.is_err() {
            return;
        }
    }
}

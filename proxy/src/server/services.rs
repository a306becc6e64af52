//! The listening services: one proxy service per worker thread (see
//! [`super::workers`] for why), the admin endpoints and the demo echo
//! upstream. Each runs under [`Guard`]: a service whose listeners cannot
//! be built ends the process with a one-line reason.

use std::sync::Arc;

use attestgate_config::Config;
use pingora_core::apps::HttpServerOptions;
use pingora_core::apps::http_app::HttpServer;
use pingora_core::listeners::tls::TlsSettings;
use pingora_core::protocols::http::v2::server::default_h2_options;
use pingora_core::server::Server;
use pingora_core::services::listening::Service;
use pingora_proxy::HttpProxy;
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use super::StartError;
use super::admin::Admin;
use super::demo::Echo;
use super::listeners::keyed_listeners;
use super::workers::{listener_name, socket_options};
use crate::conns::Pool;
use crate::conns::app::{Admission, Guarded, TlsRegister};
use crate::conns::listening::Listening;
use crate::conns::service::{Guard, Socket};
use crate::gateway::Gateway;
use crate::lean::Lean;
use pingora_core::connectors::ConnectorOptions;

/// One single-threaded proxy service per worker thread, each with its own
/// sockets and upstream pool.
pub(super) fn add_proxy_workers(
    server: &mut Server,
    config: &Config,
    gateway: &Gateway,
    identities: &[Arc<CertifiedKey>],
    pool: &Arc<Pool>,
    listening: &Arc<Listening>,
) -> Result<(), StartError> {
    let s = &config.server;
    for worker in 0..s.threads {
        let proxy = proxy_app(server, config, gateway);
        let mut app = Guarded::new(Arc::new(proxy), pool.clone(), worker);
        if s.lean_http1 {
            let connect = ConnectorOptions::from_server_conf(&server.configuration);
            app = app.with_lean(Lean::new(gateway.clone(), connect));
        }
        let mut svc = Service::new("attestgate proxy".to_owned(), app);
        add_listeners(&mut svc, config, identities, worker)?;
        svc.set_connection_filter(Arc::new(Admission { pool: pool.clone() }));
        if !s.tls.is_empty() {
            // TLS connections count (and their deadline runs) from before
            // their handshake.
            svc.endpoints().set_pre_tls_callback(Arc::new(TlsRegister {
                pool: pool.clone(),
                worker,
            }));
        }
        let sockets = keyed_listeners(config)
            .into_iter()
            .map(|(key, addr)| Socket {
                key,
                addr,
                name: listener_name(addr, worker),
                reuseport: true,
            })
            .collect();
        server.add_service(Guard::new(
            svc,
            "attestgate proxy",
            format!("proxy worker {worker}"),
            Some((pool.clone(), worker)),
            sockets,
            listening.clone(),
            worker == 0,
        ));
    }
    Ok(())
}

/// The gateway as a Pingora HTTP proxy: h2c for plaintext gRPC clients
/// (prior knowledge); TLS listeners negotiate h2 with ALPN.
fn proxy_app(server: &Server, config: &Config, gateway: &Gateway) -> HttpProxy<Gateway> {
    let limits = &config.server.limits;
    let mut proxy = pingora_proxy::http_proxy(&server.configuration, gateway.clone());
    let mut server_options = HttpServerOptions::default();
    server_options.h2c = true;
    proxy.server_options = Some(server_options);
    let mut h2 = default_h2_options();
    h2.max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_send_buffer_size(limits.h2_max_send_buffer);
    proxy.h2_options = Some(h2);
    proxy
}

/// Worker `worker`'s own plain and TLS sockets.
fn add_listeners<A>(
    svc: &mut Service<A>,
    config: &Config,
    identities: &[Arc<CertifiedKey>],
    worker: usize,
) -> Result<(), StartError> {
    let s = &config.server;
    for addr in &s.listen {
        svc.add_tcp_with_settings(&listener_name(*addr, worker), socket_options());
    }
    for (t, identity) in s.tls.iter().zip(identities) {
        let cert = t.cert.to_string_lossy();
        let key = t.key.to_string_lossy();
        let mut tls = TlsSettings::intermediate(&cert, &key)
            .map_err(|e| StartError::Listener(format!("server.tls {}: {e}", t.listen)))?;
        // The chain and key checked in `prepare`, shared: Pingora would
        // read the files again per worker (and panic on a bad one).
        tls.set_cert_resolver(Arc::new(SingleCertAndKey::from(identity.clone())));
        tls.enable_h2();
        let name = listener_name(t.listen, worker);
        svc.add_tls_with_settings(&name, Some(socket_options()), tls);
    }
    Ok(())
}

/// The admin endpoints on their own listener and pool.
pub(super) fn add_admin(
    server: &mut Server,
    listen: std::net::SocketAddr,
    admin: Admin,
    pool: &Arc<Pool>,
    listening: &Arc<Listening>,
) {
    let app = HttpServer::new_app(admin);
    let mut svc = Service::new(
        "attestgate admin".to_owned(),
        Guarded::new(Arc::new(app), pool.clone(), 0),
    );
    svc.add_tcp(&listen.to_string());
    svc.set_connection_filter(Arc::new(Admission { pool: pool.clone() }));
    server.add_service(Guard::new(
        svc,
        "attestgate admin",
        "admin".to_owned(),
        Some((pool.clone(), 0)),
        vec![Socket {
            key: "admin.listen".to_owned(),
            addr: listen,
            name: listen.to_string(),
            reuseport: false,
        }],
        listening.clone(),
        false,
    ));
}

/// The built-in demo echo upstream, on a Unix socket only its owner reads.
pub(super) fn add_demo(server: &mut Server, demo_socket: &str, listening: &Arc<Listening>) {
    let _ = std::fs::remove_file(demo_socket);
    let mut svc = Service::new("attestgate demo echo".to_owned(), HttpServer::new_app(Echo));
    svc.add_uds(
        demo_socket,
        Some(std::os::unix::fs::PermissionsExt::from_mode(0o600)),
    );
    server.add_service(Guard::new(
        svc,
        "attestgate demo echo",
        format!("demo echo upstream ({demo_socket})"),
        None,
        Vec::new(),
        listening.clone(),
        false,
    ));
}

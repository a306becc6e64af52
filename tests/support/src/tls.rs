//! TLS for tests, all from the one test PKI ([`crate::pki`]): the kit's
//! HTTPS identity (a CA and two server certificates, made once per test
//! process and written to a folder, for configs that name files), HTTPS
//! servers and clients that use it, and TLS servers for the pinning tests
//! (any chain, a swappable certificate, a server that never answers).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::KeyPair;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::Reply;
use crate::http::{Handler, SeenRequest};
use crate::pki;

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A file of the kit's HTTPS identity: `ca.pem` (a test CA), and two
/// server certificates it signed with their keys: `localhost.pem`/`.key`
/// (`localhost`, `127.0.0.1`, `::1`) and `other.pem`/`.key`
/// (`other.example`, to show a certificate for the wrong name is refused).
/// Made at run time, once per test process.
pub fn path(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("attestgate-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ca = pki::root("attestgate test CA");
        ca.write(&dir, "ca");
        ca.server().write(&dir, "localhost");
        ca.server_for("other", "other.example").write(&dir, "other");
        dir
    })
    .join(name)
}

/// The kit's CA, as rustls trust anchors.
pub fn roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

/// A client configuration trusting only the kit's CA.
pub fn client_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots())
        .with_no_client_auth()
}

/// An HTTPS server with the certificate `name` (`localhost` or `other`)
/// answering with `handler`; returns its address. Stops with the runtime.
pub async fn start_https(name: &str, handler: Handler) -> SocketAddr {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(path(&format!("{name}.pem")))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    let key = PrivateKeyDer::from_pem_file(path(&format!("{name}.key"))).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let handler = handler.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    move |req: ::http::Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let seen = SeenRequest::collect(req).await;
                            Ok::<_, std::convert::Infallible>(handler(seen).await)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

/// GET over HTTPS, trusting only the kit's CA.
pub async fn https_get(url: &str, headers: &[(&str, &str)]) -> Result<Reply, String> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(client_config())
        .https_only()
        .enable_http1()
        .build();
    let client: HyperClient<_, Full<Bytes>> =
        HyperClient::builder(TokioExecutor::new()).build(https);
    let resp = client
        .request(crate::client::request("GET", url, headers, ""))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}

/// A TLS connection to `addr` (name `localhost`, trusting the kit's CA)
/// offering the ALPN protocols `alpn`.
pub async fn connect(
    addr: SocketAddr,
    alpn: &[&[u8]],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut config = client_config();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap()
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
) -> Arc<rustls::sign::CertifiedKey> {
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Arc::new(rustls::sign::CertifiedKey::from_der(chain, der, &provider()).unwrap())
}

/// Accepts TLS on `ip` (port 0) with `config`, each connection handed to
/// `then` after its handshake.
async fn serve_with<F, Fut>(ip: &str, config: rustls::ServerConfig, then: F) -> SocketAddr
where
    F: Fn(tokio_rustls::server::TlsStream<tokio::net::TcpStream>) -> Fut + Send + Copy + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(tcp).await {
                    then(tls).await;
                }
            });
        }
    });
    addr
}

/// A real TLS server on `ip` (port 0) serving `chain` with `key`; each
/// connection gets a handshake and a one-line answer.
pub async fn serve_tls(ip: &str, chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> SocketAddr {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            chain,
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    serve_with(ip, config, |mut tls| async move {
        let _ = tls.write_all(b"hello\n").await;
        let _ = tls.shutdown().await;
    })
    .await
}

/// A server on `ip` that accepts TCP and never answers the ClientHello.
pub async fn serve_stall(ip: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(format!("{ip}:0"))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = tcp.read(&mut buf).await;
            held.push(tcp);
        }
    });
    addr
}

/// A certificate a running server can be switched to.
#[derive(Debug, Clone)]
pub struct Swap(Arc<Mutex<Arc<rustls::sign::CertifiedKey>>>);

impl Swap {
    /// Serves `chain` with `key` from now on.
    pub fn set(&self, chain: Vec<CertificateDer<'static>>, key: &KeyPair) {
        *self.0.lock().unwrap() = certified_key(chain, key);
    }
}

impl rustls::server::ResolvesServerCert for Swap {
    fn resolve(
        &self,
        _: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.lock().unwrap().clone())
    }
}

/// A TLS server on `ip` whose certificate can be swapped while it runs.
pub async fn serve_swappable(
    ip: &str,
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
) -> (SocketAddr, Swap) {
    let swap = Swap(Arc::new(Mutex::new(certified_key(chain, key))));
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(swap.clone()));
    let addr = serve_with(ip, config, |mut tls| async move {
        let _ = tls.shutdown().await;
    })
    .await;
    (addr, swap)
}

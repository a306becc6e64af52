//! Real OkHttp for the pinning tests: Debian's OkHttp 3.13.1, the
//! rendered Kotlin compiled with kotlinc, the harness okhttp/PinCheck.java
//! run once per trust store for every case, and HTTPS servers (rustls +
//! hyper's HTTP/1.1) on 127.0.0.1 for it to connect to. The peers come
//! from scripts/ensure-tools; a missing one fails the test.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rcgen::KeyPair;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub const JARS: [&str; 3] = [
    "/usr/share/java/okhttp.jar",
    "/usr/share/java/okio.jar",
    "/usr/share/java/kotlin-stdlib.jar",
];

pub fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .unwrap();
    assert!(
        found.status.success(),
        "{name} is missing: run scripts/ensure-tools (Debian: default-jdk-headless, kotlin)"
    );
    String::from_utf8(found.stdout).unwrap().trim().to_owned()
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An HTTPS server (rustls + hyper's HTTP/1.1) serving `chain`.
pub async fn serve_https(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> SocketAddr {
    use hyper::service::service_fn;
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, der)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"pinned ok\n")),
                    ))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

/// Compiles the rendered Kotlin and the harness into `dir/classes`.
pub fn compile(dir: &Path, kotlin: &str) -> PathBuf {
    let classes = dir.join("classes");
    std::fs::write(
        dir.join("Pins.kt"),
        format!("import okhttp3.CertificatePinner\n\n{kotlin}"),
    )
    .unwrap();
    run(Command::new(tool("kotlinc"))
        .arg("-cp")
        .arg(JARS[0])
        .arg(dir.join("Pins.kt"))
        .arg("-d")
        .arg(&classes));
    let harness =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/cli/pins/okhttp/PinCheck.java");
    run(Command::new(tool("javac"))
        .arg("-cp")
        .arg(format!("{}:{}", JARS.join(":"), classes.display()))
        .arg("-d")
        .arg(&classes)
        .arg(harness));
    classes
}

/// Checks the jars are there.
pub fn need_okhttp() {
    for jar in JARS {
        assert!(
            Path::new(jar).exists(),
            "{jar} is missing: run scripts/ensure-tools (Debian: libokhttp-java, kotlin)"
        );
    }
}

/// Runs the harness (compiled in `classes`) with the roots in `roots_pem`
/// over `cases` (host, port): one JVM, one line per case.
pub fn connect_all(classes: &Path, roots_pem: &Path, cases: &[(String, u16)]) -> Vec<String> {
    let list: String = cases.iter().map(|(h, p)| format!("{h} {p}\n")).collect();
    let cases_file = roots_pem.with_extension("cases.txt");
    std::fs::write(&cases_file, list).unwrap();
    let out = run(Command::new(tool("java"))
        .arg("-cp")
        .arg(format!("{}:{}", JARS.join(":"), classes.display()))
        .arg("PinCheck")
        .arg(roots_pem)
        .arg(&cases_file));
    let lines: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), cases.len(), "{out}");
    lines
}

/// Whether OkHttp's answer is the kit's verdict: connected when it
/// accepts; "Certificate pinning failure" when only pins refuse; a
/// hostname failure when the name does; a handshake failure otherwise.
pub fn agrees(kit: &attestgate_pins::check::platform::Verdict, okhttp: &str) -> bool {
    if kit.accepts {
        okhttp.starts_with("ok 200")
    } else if !kit.pins.ok && kit.chain.ok && kit.date.ok && kit.name.ok {
        okhttp.contains("SSLPeerUnverifiedException: Certificate pinning failure")
    } else if !kit.name.ok && kit.chain.ok && kit.date.ok {
        okhttp.contains("SSLPeerUnverifiedException: Hostname") && okhttp.contains("not verified")
    } else {
        okhttp.contains("SSLHandshakeException")
    }
}

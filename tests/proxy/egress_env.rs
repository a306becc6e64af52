//! The environment's say in the JWKS fetch: `HTTPS_PROXY`/`HTTP_PROXY`,
//! `NO_PROXY`, `proxy = "off"`, and `SSL_CERT_FILE` with `system_roots`.
//!
//! Environment variables are process-wide, so each case runs the real
//! binary (`attestgate token verify`, which fetches the JWKS URL once) as a
//! child process with exactly the environment it needs, against a real
//! JWKS server over TLS from a private CA and a real CONNECT proxy on
//! 127.0.0.1 that counts its tunnels.

use std::process::{Command, Output};

use attestgate_testkit::TempDir;
use attestgate_testkit::connect::ConnectProxy;
use attestgate_testkit::jwks::{Answer, JwksServer};
use attestgate_testkit::pki::{root, server_config};
use attestgate_testkit::tokens::TestKeys;

const CLEARED: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUEST_METHOD",
];

struct Rig {
    dir: TempDir,
    ca_file: String,
    keys: TestKeys,
    tls: JwksServer,
    plain: JwksServer,
    proxy: ConnectProxy,
    dead_proxy: String,
}

async fn rig() -> Rig {
    let dir = TempDir::new("egress-env");
    let ca = root("attestgate env test CA");
    let ca_file = ca.write(&dir, "ca").display().to_string();
    let keys = TestKeys::new();
    let answer = Answer::Jwks {
        body: keys.jwks().to_string(),
        max_age: None,
    };
    let tls = JwksServer::start_tls(server_config(&ca.server(), None), answer.clone()).await;
    let plain = JwksServer::start(answer).await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_proxy = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    Rig {
        dir,
        ca_file,
        keys,
        tls,
        plain,
        proxy: ConnectProxy::start().await,
        dead_proxy,
    }
}

impl Rig {
    /// Runs `token verify` with `[token.jwks]` = `jwks` and exactly `env`
    /// (every proxy and certificate variable of the parent removed).
    async fn verify(&self, name: &str, jwks: &str, env: &[(&str, &str)]) -> Output {
        let config = self.dir.join(format!("{name}.toml"));
        std::fs::write(&config, format!("[token]\n[token.jwks]\n{jwks}\n")).unwrap();
        let token = self.keys.es256(60, serde_json::json!({}));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_attestgate"));
        cmd.args(["token", "verify", "--config"])
            .arg(&config)
            .arg(token);
        for k in CLEARED {
            cmd.env_remove(k);
        }
        cmd.env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap()
    }
}

fn ok(o: &Output) -> bool {
    o.status.success()
}

fn why(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[tokio::test]
async fn https_proxy_and_no_proxy_from_the_environment_are_honoured_and_can_be_turned_off() {
    let r = rig().await;
    let tls_jwks = format!("url = \"{}\"\nca_file = \"{}\"", r.tls.url(), r.ca_file);
    let proxy = r.proxy.url();

    // HTTPS_PROXY: the fetch goes through the tunnel, TLS inside it.
    let o = r.verify("env", &tls_jwks, &[("HTTPS_PROXY", &proxy)]).await;
    assert!(ok(&o), "{}", why(&o));
    assert_eq!(r.proxy.tunnels(), 1);
    assert_eq!(r.proxy.targets(), [r.tls.server.addr.to_string()]);
    // The lower-case spelling works too.
    let o = r
        .verify("lower", &tls_jwks, &[("https_proxy", &proxy)])
        .await;
    assert!(ok(&o), "{}", why(&o));
    assert_eq!(r.proxy.tunnels(), 2);

    // NO_PROXY naming the issuer's address bypasses the proxy (here a dead
    // one, so going through it would fail).
    for no in ["127.0.0.1", "127.0.0.0/8", "localhost, 127.0.0.1", "*"] {
        let o = r
            .verify(
                "no-proxy",
                &tls_jwks,
                &[("HTTPS_PROXY", &r.dead_proxy), ("NO_PROXY", no)],
            )
            .await;
        assert!(ok(&o), "NO_PROXY={no}: {}", why(&o));
    }
    // A NO_PROXY for other hosts does not.
    let o = r
        .verify(
            "no-proxy-other",
            &tls_jwks,
            &[
                ("HTTPS_PROXY", &r.dead_proxy),
                ("NO_PROXY", "issuer.example,10.0.0.0/8"),
            ],
        )
        .await;
    assert!(!ok(&o), "{}", why(&o));
    assert!(why(&o).contains("tunnel"), "{}", why(&o));

    // The dead proxy in the environment fails the fetch...
    let o = r
        .verify("dead", &tls_jwks, &[("HTTPS_PROXY", &r.dead_proxy)])
        .await;
    assert!(!ok(&o), "{}", why(&o));
    // ...unless the config says proxy = "off".
    let o = r
        .verify(
            "off",
            &format!("{tls_jwks}\nproxy = \"off\""),
            &[("HTTPS_PROXY", &r.dead_proxy), ("ALL_PROXY", &r.dead_proxy)],
        )
        .await;
    assert!(ok(&o), "{}", why(&o));
    // An explicit proxy wins over the environment's.
    let o = r
        .verify(
            "explicit",
            &format!("{tls_jwks}\nproxy = \"{proxy}\""),
            &[("HTTPS_PROXY", &r.dead_proxy)],
        )
        .await;
    assert!(ok(&o), "{}", why(&o));
    assert_eq!(r.proxy.tunnels(), 3);

    // http:// URLs follow HTTP_PROXY (not HTTPS_PROXY).
    let plain_jwks = format!("url = \"{}\"", r.plain.url());
    let o = r
        .verify(
            "http",
            &plain_jwks,
            &[("HTTPS_PROXY", &r.dead_proxy), ("HTTP_PROXY", &proxy)],
        )
        .await;
    assert!(ok(&o), "{}", why(&o));
    assert_eq!(r.proxy.tunnels(), 4);
    assert_eq!(r.plain.fetches(), 1);
}

#[tokio::test]
async fn system_roots_use_the_operating_system_store_and_ssl_cert_file() {
    let r = rig().await;
    let url = format!("url = \"{}\"\nproxy = \"off\"", r.tls.url());
    // The private CA as the "system" store.
    let cert_file = [("SSL_CERT_FILE", r.ca_file.as_str())];

    let o = r
        .verify("system", &format!("{url}\nsystem_roots = true"), &cert_file)
        .await;
    assert!(ok(&o), "{}", why(&o));
    // The compiled-in roots ignore SSL_CERT_FILE: the issuer is unknown.
    let o = r.verify("webpki", &url, &cert_file).await;
    assert!(!ok(&o), "{}", why(&o));
    assert!(why(&o).contains("UnknownIssuer"), "{}", why(&o));
    // The machine's own store (/etc/ssl/certs) does not know the private
    // CA either.
    let o = r
        .verify("system-plain", &format!("{url}\nsystem_roots = true"), &[])
        .await;
    assert!(!ok(&o), "{}", why(&o));
    assert!(why(&o).contains("UnknownIssuer"), "{}", why(&o));
    assert_eq!(r.tls.fetches(), 1);
}

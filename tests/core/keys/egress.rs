//! How the JWKS fetch reaches its issuer, against real servers on
//! 127.0.0.1: a JWKS over TLS from a private CA (`ca_file`), a server that
//! demands a client certificate (mTLS), and a real HTTP CONNECT proxy that
//! counts its tunnels (`proxy`). The environment (`HTTPS_PROXY`,
//! `NO_PROXY`, `SSL_CERT_FILE`) is process-wide, so those cases run the
//! real binary as a child process instead (tests/proxy/egress_env.rs).

use std::path::PathBuf;
use std::time::Duration;

use attestgate::{EgressOptions, JwksOptions, ProxySetting, Reason, Verifier};
use attestgate_testkit::TempDir;
use attestgate_testkit::connect::ConnectProxy;
use attestgate_testkit::jwks::{Answer, JwksServer};
use attestgate_testkit::pki::{Ca, root, server_config};
use attestgate_testkit::tokens::TestKeys;

fn jwks_answer(keys: &TestKeys) -> Answer {
    Answer::Jwks {
        body: keys.jwks().to_string(),
        max_age: None,
    }
}

/// A verifier of `url` with these egress settings. The environment's proxy
/// is ignored unless the test sets one explicitly (`Off` by default here).
fn verifier(url: &str, egress: EgressOptions) -> Verifier {
    Verifier::builder()
        .jwks_options(JwksOptions {
            url: Some(url.to_owned()),
            timeout: Duration::from_secs(5),
            egress,
            ..JwksOptions::default()
        })
        .build()
        .unwrap()
}

fn off() -> EgressOptions {
    EgressOptions {
        proxy: ProxySetting::Off,
        ..EgressOptions::default()
    }
}

/// Fetches once; Ok when the keys arrived and a token of them verifies.
async fn fetch(v: &Verifier, keys: &TestKeys) -> Result<(), String> {
    v.refresh_once().await.map_err(|e| e.to_string())?;
    let token = keys.es256(60, serde_json::json!({}));
    v.verify_token(&token).map(drop).map_err(|r| r.to_string())
}

struct Rig {
    dir: TempDir,
    ca: Ca,
    ca_file: PathBuf,
    keys: TestKeys,
}

fn rig() -> Rig {
    let dir = TempDir::new("egress");
    let ca = root("attestgate test issuer CA");
    let ca_file = ca.write(&dir, "issuer-ca");
    Rig {
        dir,
        ca,
        ca_file,
        keys: TestKeys::new(),
    }
}

#[tokio::test]
async fn a_private_ca_given_by_ca_file_is_trusted_and_nothing_else_is() {
    let r = rig();
    let server =
        JwksServer::start_tls(server_config(&r.ca.server(), None), jwks_answer(&r.keys)).await;
    let url = server.url();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");

    // The compiled-in roots do not know the private CA.
    let plain = verifier(&url, off());
    let err = fetch(&plain, &r.keys).await.unwrap_err();
    assert!(
        err.contains("jwks.url") && err.contains("UnknownIssuer"),
        "{err}"
    );
    assert_eq!(
        plain
            .verify_token(&r.keys.es256(60, serde_json::json!({})))
            .unwrap_err(),
        Reason::NoKeys
    );

    // With ca_file: trusted, fetched, verifying.
    let trusting = verifier(
        &url,
        EgressOptions {
            ca_file: Some(r.ca_file.clone()),
            ..off()
        },
    );
    fetch(&trusting, &r.keys).await.unwrap();

    // Another CA's file does not make the issuer trusted.
    let other = root("someone else");
    let wrong = verifier(
        &url,
        EgressOptions {
            ca_file: Some(other.write(&r.dir, "other-ca")),
            ..off()
        },
    );
    let err = fetch(&wrong, &r.keys).await.unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(server.fetches() >= 1);
}

#[tokio::test]
async fn a_server_demanding_a_client_certificate_gets_one_from_client_cert() {
    let r = rig();
    let client_ca = root("attestgate test client CA");
    let server = JwksServer::start_tls(
        server_config(&r.ca.server(), Some(&client_ca)),
        jwks_answer(&r.keys),
    )
    .await;
    let url = server.url();
    let (cert, key) = client_ca.client("gateway-1").write(&r.dir, "client");

    // Without a client certificate the handshake is refused.
    let without = verifier(
        &url,
        EgressOptions {
            ca_file: Some(r.ca_file.clone()),
            ..off()
        },
    );
    let err = fetch(&without, &r.keys).await.unwrap_err();
    assert!(err.contains("jwks.url"), "{err}");
    assert_eq!(server.fetches(), 0, "no request got through: {err}");

    // A certificate from a CA the server does not trust: refused too.
    let stranger = root("not the client CA").client("intruder");
    let (scert, skey) = stranger.write(&r.dir, "stranger");
    let wrong = verifier(
        &url,
        EgressOptions {
            ca_file: Some(r.ca_file.clone()),
            client_cert: Some(scert),
            client_key: Some(skey),
            ..off()
        },
    );
    assert!(fetch(&wrong, &r.keys).await.is_err());
    assert_eq!(server.fetches(), 0);

    // With the right one: fetched.
    let with = verifier(
        &url,
        EgressOptions {
            ca_file: Some(r.ca_file.clone()),
            client_cert: Some(cert.clone()),
            client_key: Some(key.clone()),
            ..off()
        },
    );
    fetch(&with, &r.keys).await.unwrap();
    assert_eq!(server.fetches(), 1);

    // The files are read at each fetch: a rotated certificate is used from
    // the next fetch, without a rebuild.
    let rotated = client_ca.client("gateway-1");
    std::fs::write(&cert, &rotated.cert_pem).unwrap();
    std::fs::write(&key, &rotated.key_pem).unwrap();
    with.refresh_once().await.unwrap();
    assert_eq!(server.fetches(), 2);
    // A key file that went bad fails that fetch and keeps the keys.
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let err = with.refresh_once().await.unwrap_err().to_string();
    assert!(err.contains("client_key"), "{err}");
    assert!(!err.contains("AAAA"), "{err}");
    assert!(with.is_ready());
}

#[tokio::test]
async fn an_explicit_proxy_carries_every_fetch_through_a_connect_tunnel() {
    let r = rig();
    let proxy = ConnectProxy::start().await;
    let tls_server =
        JwksServer::start_tls(server_config(&r.ca.server(), None), jwks_answer(&r.keys)).await;
    let plain_server = JwksServer::start(jwks_answer(&r.keys)).await;

    // https:// through the proxy: TLS to the issuer inside the tunnel,
    // checked against ca_file end to end.
    let v = verifier(
        &tls_server.url(),
        EgressOptions {
            ca_file: Some(r.ca_file.clone()),
            proxy: ProxySetting::Url(proxy.url()),
            ..EgressOptions::default()
        },
    );
    fetch(&v, &r.keys).await.unwrap();
    assert_eq!(proxy.tunnels(), 1);
    assert_eq!(proxy.targets(), [tls_server.server.addr.to_string()]);
    v.refresh_once().await.unwrap();
    assert_eq!(proxy.tunnels(), 2, "each fetch goes through the proxy");
    assert_eq!(tls_server.fetches(), 2);

    // http:// through the proxy: a tunnel too, to the port written out.
    let v = verifier(
        &plain_server.url(),
        EgressOptions {
            proxy: ProxySetting::Url(proxy.url()),
            ..EgressOptions::default()
        },
    );
    fetch(&v, &r.keys).await.unwrap();
    assert_eq!(proxy.tunnels(), 3);
    assert_eq!(plain_server.fetches(), 1);

    // A proxy that is down fails the fetch; the issuer is not reached
    // around it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let v = verifier(
        &plain_server.url(),
        EgressOptions {
            proxy: ProxySetting::Url(dead_url),
            ..EgressOptions::default()
        },
    );
    let err = fetch(&v, &r.keys).await.unwrap_err();
    assert!(err.contains("tunnel"), "{err}");
    assert_eq!(plain_server.fetches(), 1);
}

#[tokio::test(flavor = "current_thread")]
async fn proxy_credentials_are_sent_and_never_shown() {
    let r = rig();
    // "alice:s3cret" in base64.
    let proxy = ConnectProxy::start_with_auth(Some("Basic YWxpY2U6czNjcmV0".into())).await;
    let server = JwksServer::start(jwks_answer(&r.keys)).await;
    let url = |creds: &str| format!("http://{creds}{}", proxy.addr);

    let v = verifier(
        &server.url(),
        EgressOptions {
            proxy: ProxySetting::Url(url("alice:s3cret@")),
            ..EgressOptions::default()
        },
    );
    fetch(&v, &r.keys).await.unwrap();
    assert_eq!(proxy.tunnels(), 1);

    let logs = attestgate_testkit::logs::Logs::default();
    let _guard = logs.install();
    let v = verifier(
        &server.url(),
        EgressOptions {
            proxy: ProxySetting::Url(url("alice:wrong-pass@")),
            ..EgressOptions::default()
        },
    );
    let err = fetch(&v, &r.keys).await.unwrap_err();
    assert!(err.contains("proxy authorization required"), "{err}");
    assert_eq!(proxy.refused(), 1);
    assert!(!err.contains("wrong-pass"), "{err}");
    assert!(!format!("{v:?}").contains("wrong-pass"));
    let text = logs.text();
    assert!(
        !text.contains("wrong-pass") && !text.contains("s3cret"),
        "{text}"
    );
}

#[test]
fn bad_egress_settings_fail_the_build_with_their_paths() {
    let dir = TempDir::new("egress-build");
    let missing = dir.join("missing.pem");
    let case = |egress: EgressOptions| {
        Verifier::builder()
            .jwks_options(JwksOptions {
                url: Some("https://issuer.example/jwks".into()),
                egress,
                ..JwksOptions::default()
            })
            .build()
            .unwrap_err()
            .0
    };
    let p = case(EgressOptions {
        ca_file: Some(missing.clone()),
        ..EgressOptions::default()
    });
    assert_eq!(p[0].path, "jwks.ca_file", "{p:?}");
    let p = case(EgressOptions {
        client_cert: Some(missing.clone()),
        ..EgressOptions::default()
    });
    assert_eq!(p[0].path, "jwks.client_key", "{p:?}");
    let p = case(EgressOptions {
        proxy: ProxySetting::Url("socks5://u:hunter2@p:1080".into()),
        ..EgressOptions::default()
    });
    assert_eq!(p[0].path, "jwks.proxy", "{p:?}");
    assert!(!p[0].message.contains("hunter2"), "{p:?}");
}

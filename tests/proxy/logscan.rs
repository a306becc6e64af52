//! No log line at any level holds a token, a secret, a signature or a
//! password: the real binary at `RUST_LOG=trace` (access log on), every
//! route kind (token in a header, token in the query, signed request)
//! × every failure (upstream refused, reset, timed out, client gone, 4xx
//! and 5xx from the upstream, a refused token, a request Pingora cannot
//! parse), over HTTP/1.1 and h2c; then every line of the log is searched.
//! Pingora's own `Fail to proxy: … GET /path?approov-token=…` lines must
//! be there, redacted. And `check-config` never echoes a JWKS URL's
//! password.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use attestgate::mint::{self, SigningKey};
use attestgate::msgsig::{self, RequestParts};
use attestgate_testkit::client::{Client, request};
use attestgate_testkit::h2::H2Conn;
use attestgate_testkit::http::{Handler, TestServer, free_port, response};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use attestgate_testkit::proxy::{Proxy, Start, raw_exchange};
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use attestgate_testkit::{TempDir, eventually};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HEADER_SECRET: &str = "sk_live_HEADERSECRET_4242";
const QUERY_SECRET: &str = "sk_live_QUERYSECRET_4343";

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

/// A server that accepts, reads the request, and resets the connection.
async fn resetting() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            // SO_LINGER 0: the close is a reset and does not block.
            #[allow(deprecated)]
            let _ = s.set_linger(Some(Duration::ZERO));
            drop(s);
        }
    });
    port
}

/// A server that accepts and never answers.
async fn silent() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    port
}

const FAILURES: [&str; 6] = ["refused", "reset", "timeout", "gone", "404", "500"];

#[tokio::test(flavor = "multi_thread")]
async fn no_log_line_holds_a_token_secret_or_signature() {
    let secret = ApproovVectors::secret();
    let key = SigningKey::hs256_base64(&secret).unwrap();
    let exp = attestgate_testkit::now() + 300;
    let token = mint::mint(&key, None, &json!({"exp": exp, "did": "dev-log"})).unwrap();
    let expired = mint::mint(&key, None, &json!({"exp": exp - 900})).unwrap();
    let signed_token = ApproovVectors::token();

    let statuses: Handler = Arc::new(|req| {
        Box::pin(async move {
            let code = if req.uri.path().contains("/404") {
                404
            } else {
                500
            };
            response(code, &[("content-type", "text/plain")], "upstream says no")
        })
    });
    let status_server = TestServer::start(statuses).await;
    let slow = RecordingUpstream::start(Behaviour::Delay(Duration::from_secs(2))).await;
    let (reset, silent) = (resetting().await, silent().await);
    let refused = free_port();
    let upstream = |failure: &str| match failure {
        "refused" => format!("http://127.0.0.1:{refused}"),
        "reset" => format!("http://127.0.0.1:{reset}"),
        "timeout" => format!("http://127.0.0.1:{silent}"),
        "gone" => slow.url(),
        _ => format!("http://{}", status_server.addr),
    };
    let mut config = format!("[token]\n[[token.secret]]\nbase64 = {{ value = \"{secret}\" }}\n");
    for kind in ["hdr", "qry", "sig"] {
        for failure in FAILURES {
            config += &format!(
                "\n[[route]]\nname = \"{kind}-{failure}\"\npath_prefix = \"/{kind}/{failure}\"\nupstream = \"{}\"\nread_timeout = \"300ms\"\nconnect_timeout = \"300ms\"\n",
                upstream(failure)
            );
            match kind {
                "hdr" => {
                    config += &format!(
                        "[[route.substitute]]\nheader = \"api-key\"\nplaceholder = \"ph\"\nsecret = {{ value = \"{HEADER_SECRET}\" }}\n"
                    )
                }
                "qry" => {
                    config += &format!(
                        "[route.policy]\nquery_param = \"approov-token\"\n[[route.substitute]]\nquery = \"key\"\nplaceholder = \"ph\"\nsecret = {{ value = \"{QUERY_SECRET}\" }}\n"
                    )
                }
                _ => config += "[route.policy.message_signing]\n",
            }
        }
    }
    let proxy = Proxy::start(
        bin(),
        Start {
            config: &config,
            server_extra: "access_log = true",
            rust_log: "trace",
            ..Start::default()
        },
    )
    .await;
    let a = proxy.addr.to_string();
    let signer = InstallSigner::approov_test_key();
    let mut signatures = Vec::new();
    let client = Client::new();
    let h2 = H2Conn::h2c(proxy.addr).await;

    for failure in FAILURES {
        for kind in ["hdr", "qry", "sig"] {
            let path = format!("/{kind}/{failure}/x");
            for (tok, bad) in [(&token, false), (&expired, true)] {
                let (target, mut headers): (String, Vec<(String, String)>) = match kind {
                    "hdr" => (
                        format!("{path}?key=ph"),
                        vec![
                            ("approov-token".into(), tok.clone()),
                            ("api-key".into(), "ph".into()),
                        ],
                    ),
                    "qry" => (format!("{path}?approov-token={tok}&key=ph"), vec![]),
                    _ => {
                        let mut h = http::HeaderMap::new();
                        let t = if bad {
                            expired.clone()
                        } else {
                            signed_token.clone()
                        };
                        h.insert("approov-token", t.parse().unwrap());
                        let parts = RequestParts {
                            method: "GET",
                            scheme: "http",
                            authority: &a,
                            path_and_query: &path,
                            headers: &h,
                        };
                        let member = format!(
                            "(\"@method\" \"@target-uri\" \"approov-token\");alg=\"{}\";created={}",
                            msgsig::ALG,
                            attestgate_testkit::now()
                        );
                        let (input, sig) = signer.sign(&parts, &member);
                        signatures.push(
                            sig.trim_start_matches("install=:")
                                .trim_end_matches(':')
                                .to_owned(),
                        );
                        (
                            path.clone(),
                            vec![
                                ("approov-token".into(), t),
                                ("signature-input".into(), input),
                                ("signature".into(), sig),
                            ],
                        )
                    }
                };
                headers.push(("x-trace".into(), format!("{kind}-{failure}")));
                let pairs: Vec<(&str, &str)> = headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                if failure == "gone" {
                    // The client hangs up while the upstream is still busy.
                    let mut raw = format!("GET {target} HTTP/1.1\r\nHost: {a}\r\n");
                    for (k, v) in &pairs {
                        raw += &format!("{k}: {v}\r\n");
                    }
                    raw += "\r\n";
                    let at_upstream = slow.count();
                    let mut s = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
                    s.write_all(raw.as_bytes()).await.unwrap();
                    if bad {
                        // Refused: the answer comes at once.
                        let mut head = [0u8; 12];
                        let _ =
                            tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut head))
                                .await;
                    } else {
                        // Passed: it reaches the upstream, which is busy for 2 s.
                        assert!(
                            eventually(Duration::from_secs(10), || slow.count() > at_upstream)
                                .await,
                            "{kind}: the request never reached the upstream"
                        );
                    }
                    #[allow(deprecated)]
                    let _ = s.set_linger(Some(Duration::ZERO));
                    drop(s);
                    continue;
                }
                let r = client
                    .try_send(request("GET", &proxy.url(&target), &pairs, ""))
                    .await;
                let status = r.map_or(0, |r| r.status);
                assert!(status >= 400, "{kind} {failure} bad={bad}: {status}");
                if kind != "sig" {
                    let h2_status = h2
                        .send("GET", &target, &pairs, "")
                        .await
                        .map_or(0, |r| r.status);
                    assert!(
                        h2_status >= 400 || h2_status == 0,
                        "h2 {kind} {failure}: {h2_status}"
                    );
                }
            }
        }
    }
    // A request Pingora cannot parse, carrying a token in its target and
    // a header.
    let garbage = format!(
        "GET /qry/404/x?approov-token={token} HTTP/1.1\r\nHost: {a}\r\nApproov-Token: {token}\r\nBad Header Line\r\n\r\n"
    );
    let _ = raw_exchange(proxy.addr, garbage.as_bytes(), Duration::from_secs(3)).await;
    // Pingora's own error lines for the upstream failures are written
    // once each request has ended.
    assert!(
        eventually(Duration::from_secs(10), || proxy
            .logs()
            .matches("Fail to proxy")
            .count()
            >= 10)
        .await,
        "Pingora's error lines are missing:\n{}",
        proxy.logs()
    );
    // The client-gone requests end once the upstream answers (after 2 s):
    // their six access lines.
    let gone = || {
        proxy
            .logs()
            .lines()
            .filter(|l| l.contains("attestgate::access") && l.contains("-gone"))
            .count()
    };
    assert!(
        eventually(Duration::from_secs(15), || gone() >= 6).await,
        "{} of 6 client-gone requests ended:\n{}",
        gone(),
        proxy.logs()
    );
    let logs = proxy.logs();
    let mut forbidden: Vec<(String, String)> = vec![
        ("token".into(), token.clone()),
        ("expired token".into(), expired.clone()),
        ("signed token".into(), signed_token.clone()),
        ("account secret".into(), secret.clone()),
        ("header secret".into(), HEADER_SECRET.into()),
        ("query secret".into(), QUERY_SECRET.into()),
    ];
    for t in [&token, &expired, &signed_token] {
        let sig = t.rsplit('.').next().unwrap().to_owned();
        forbidden.push(("a token's signature".into(), sig));
        let payload = t.split('.').nth(1).unwrap().to_owned();
        forbidden.push(("a token's payload".into(), payload));
    }
    for s in &signatures {
        forbidden.push(("a message signature".into(), s.clone()));
    }
    for line in logs.lines() {
        for (what, value) in &forbidden {
            assert!(
                !line.contains(value.as_str()),
                "{what} in a log line: {line}"
            );
        }
    }
    let fail_lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("Fail to proxy"))
        .collect();
    assert!(
        fail_lines
            .iter()
            .any(|l| l.contains("approov-token=[redacted]")),
        "Pingora's line for a query-token route shows the target, redacted:\n{}",
        fail_lines.join("\n")
    );
    // The kinds of failure all reached the log.
    for kind in ["ConnectRefused", "ReadTimedout"] {
        assert!(logs.contains(kind), "{kind} missing:\n{logs}");
    }
}

#[tokio::test]
async fn check_config_never_echoes_a_jwks_password() {
    let dir = TempDir::new("jwks-userinfo");
    for (url, extra, ok) in [
        ("https://admin:hunter2-pw@issuer.example/jwks", "", false),
        ("http://admin:hunter2-pw@127.0.0.1:9/jwks", "", false),
        ("ftp://admin:hunter2-pw@issuer.example/jwks", "", false),
        ("http://issuer.example/jwks", "", false),
        (
            "http://issuer.example/jwks",
            "allow_insecure_http = true\n",
            true,
        ),
        ("http://127.0.0.1:9/jwks", "", true),
        ("http://localhost:9/jwks", "", true),
    ] {
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            format!("[token]\nalgorithms = [\"ES256\"]\n[token.jwks]\nurl = \"{url}\"\n{extra}\n[[route]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9\"\n"),
        )
        .unwrap();
        for verb in ["check-config", "serve"] {
            let mut cmd = tokio::process::Command::new(bin());
            cmd.arg(verb)
                .arg("--config")
                .arg(&path)
                .env("RUST_LOG", "trace")
                .kill_on_drop(true);
            let out = if verb == "serve" && ok {
                // A config that loads would start serving: only check-config.
                continue;
            } else {
                tokio::time::timeout(Duration::from_secs(20), cmd.output())
                    .await
                    .unwrap()
                    .unwrap()
            };
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(!text.contains("hunter2"), "{verb} {url}: {text}");
            if verb == "check-config" {
                assert_eq!(out.status.success(), ok, "{url}: {text}");
                if url.starts_with("http://issuer") {
                    assert!(text.contains("allow_insecure_http"), "{url}: {text}");
                }
            }
        }
    }
}

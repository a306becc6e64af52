//! Approov message signing over every protocol the proxy speaks to
//! clients: HTTP/1.1, h2c (prior knowledge) and h2 over TLS (ALPN), with
//! real clients (hyper's HTTP/1 and HTTP/2 clients, the `h2` crate for
//! what hyper will not send). Each client signs the authority it sends
//! (`Host`, or `:authority` with no `Host` at all on HTTP/2): Approov's
//! published cases pass on each; a signature over a wrong, empty or
//! port-less authority, the wrong scheme, or with an unsigned method
//! override is refused before the upstream sees a byte.

use std::net::SocketAddr;
use std::path::Path;

use attestgate::msgsig::{self, RequestParts};
use attestgate_testkit::client::{Client, request};
use attestgate_testkit::h2::H2Conn;
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tls;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

const BODY: &str = "My test message body";
const FULL: &str = r#"("@method" "@target-uri" "approov-token")"#;
const FULL_DIGEST: &str = r#"("@method" "@target-uri" "approov-token" "content-digest")"#;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    H1,
    H2c,
    H2Tls,
}

/// One request as a client signs and sends it.
struct Case {
    name: String,
    method: &'static str,
    path: String,
    body: &'static str,
    headers: Vec<(String, String)>,
    status: u16,
}

struct Signing<'a> {
    key: &'a InstallSigner,
    token: String,
    /// scheme and authority the client really uses
    scheme: &'static str,
    authority: String,
}

fn sha256_b64(body: &[u8]) -> String {
    STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, body))
}

impl Signing<'_> {
    /// Signs `method path` with `components`, as if the request went to
    /// `scheme://authority`; `extra` headers are sent (and signed when
    /// covered).
    #[allow(clippy::too_many_arguments)]
    fn case(
        &self,
        name: &str,
        method: &'static str,
        path: &str,
        body: &'static str,
        components: &str,
        signed_scheme: &str,
        signed_authority: &str,
        extra: &[(&str, String)],
        status: u16,
    ) -> Case {
        let mut h = HeaderMap::new();
        h.insert("approov-token", self.token.parse().unwrap());
        for (k, v) in extra {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let parts = RequestParts {
            method,
            scheme: signed_scheme,
            authority: signed_authority,
            path_and_query: path,
            headers: &h,
        };
        let member = format!(
            "{components};alg=\"{}\";created={}",
            msgsig::ALG,
            attestgate_testkit::now()
        );
        let (input, sig) = match msgsig::signature_base(&parts, &format!("install={member}")) {
            Ok(_) => self.key.sign(&parts, &member),
            // The core refuses to build a base over an empty authority; a
            // hostile client builds it by hand.
            Err(_) => {
                let mut base = String::new();
                for c in components.trim_matches(['(', ')']).split(' ') {
                    let v = match c.trim_matches('"') {
                        "@method" => method.to_owned(),
                        "@target-uri" => format!("{signed_scheme}://{signed_authority}{path}"),
                        "@authority" => signed_authority.to_owned(),
                        other => h.get(other).unwrap().to_str().unwrap().to_owned(),
                    };
                    base += &format!("{c}: {v}\n");
                }
                base += &format!("\"@signature-params\": {member}");
                let sig = self.key.sign_raw(base.as_bytes());
                (
                    format!("install={member}"),
                    format!("install=:{}:", STANDARD.encode(sig)),
                )
            }
        };
        let mut headers = vec![
            ("approov-token".to_owned(), self.token.clone()),
            ("signature-input".to_owned(), input),
            ("signature".to_owned(), sig),
        ];
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        Case {
            name: name.to_owned(),
            method,
            path: path.to_owned(),
            body,
            headers,
            status,
        }
    }

    fn cases(&self, port_less: &str) -> Vec<Case> {
        let (s, a) = (self.scheme, self.authority.as_str());
        let q = "?param1=value1&param2=value2";
        let d = sha256_b64(BODY.as_bytes());
        let other_scheme = if s == "https" { "http" } else { "https" };
        let override_ = || vec![("x-http-method-override", "DELETE".to_owned())];
        vec![
            // Approov's published script cases.
            self.case(
                "approov 1",
                "GET",
                &format!("/script/token{q}"),
                "",
                r#"("@method" "approov-token")"#,
                s,
                a,
                &[],
                200,
            ),
            self.case(
                "approov 2",
                "GET",
                &format!("/token{q}"),
                "",
                FULL,
                s,
                a,
                &[],
                200,
            ),
            self.case(
                "approov 3",
                "POST",
                &format!("/token{q}"),
                BODY,
                FULL_DIGEST,
                s,
                a,
                &[("content-digest", format!("sha-256=\"{d}\""))],
                200,
            ),
            self.case(
                "approov 4",
                "POST",
                &format!("/token{q}"),
                BODY,
                FULL_DIGEST,
                s,
                a,
                &[("content-digest", format!("sha-256=:{d}:"))],
                200,
            ),
            self.case(
                "authority and scheme",
                "GET",
                "/x",
                "",
                r#"("@method" "@authority" "@scheme" "@target-uri" "approov-token")"#,
                s,
                a,
                &[],
                200,
            ),
            self.case(
                "authority in upper case",
                "GET",
                "/x",
                "",
                FULL,
                s,
                &a.to_ascii_uppercase(),
                &[],
                200,
            ),
            self.case(
                "@authority only",
                "GET",
                "/script/x",
                "",
                r#"("@method" "@authority" "approov-token")"#,
                s,
                a,
                &[],
                200,
            ),
            self.case(
                "override covered",
                "GET",
                "/x",
                "",
                r#"("@method" "@target-uri" "approov-token" "x-http-method-override")"#,
                s,
                a,
                &override_(),
                200,
            ),
            // Refused.
            self.case(
                "wrong authority",
                "GET",
                "/x",
                "",
                FULL,
                s,
                "api.example.com",
                &[],
                401,
            ),
            self.case(
                "wrong port",
                "GET",
                "/x",
                "",
                FULL,
                s,
                "127.0.0.1:1",
                &[],
                401,
            ),
            self.case(
                "port-less authority",
                "GET",
                "/x",
                "",
                FULL,
                s,
                port_less,
                &[],
                401,
            ),
            self.case(
                "port-less @authority",
                "GET",
                "/x",
                "",
                r#"("@method" "@authority" "@target-uri" "approov-token")"#,
                s,
                port_less,
                &[],
                401,
            ),
            self.case("empty authority", "GET", "/x", "", FULL, s, "", &[], 401),
            self.case(
                "empty @authority",
                "GET",
                "/script/x",
                "",
                r#"("@method" "@authority" "approov-token")"#,
                s,
                "",
                &[],
                401,
            ),
            self.case(
                "port-less @authority only",
                "GET",
                "/script/x",
                "",
                r#"("@method" "@authority" "approov-token")"#,
                s,
                port_less,
                &[],
                401,
            ),
            self.case(
                "other scheme",
                "GET",
                "/x",
                "",
                FULL,
                other_scheme,
                a,
                &[],
                401,
            ),
            self.case(
                "override not covered",
                "GET",
                "/x",
                "",
                FULL,
                s,
                a,
                &override_(),
                401,
            ),
            self.case(
                "override spelled with _",
                "GET",
                "/x",
                "",
                FULL,
                s,
                a,
                &[("x_http_method", "DELETE".to_owned())],
                401,
            ),
            self.case(
                "non-canonical path signed",
                "GET",
                "/%61/x",
                "",
                FULL,
                s,
                a,
                &[],
                401,
            ),
        ]
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_bind_the_authority_on_every_protocol() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let tls_port = attestgate_testkit::http::free_port();
    let server_extra = format!(
        "underscore_headers = \"forward\"\n[[server.tls]]\nlisten = \"127.0.0.1:{tls_port}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        tls::path("localhost.pem").display(),
        tls::path("localhost.key").display()
    );
    let config = format!(
        r#"[token]
[[token.secret]]
base64 = {{ value = "{secret}" }}

[[route]]
name = "script"
path_prefix = "/script"
upstream = "{up}"
[route.policy.message_signing]
min_components = ["@method", "approov-token"]

[[route]]
name = "api"
path_prefix = "/"
upstream = "{up}"
[route.policy.message_signing]
"#,
        secret = ApproovVectors::secret(),
        up = up.url()
    );
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            server_extra: &server_extra,
            ..Start::default()
        },
    )
    .await;
    let key = InstallSigner::approov_test_key();
    let tls_addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let client = Client::new();
    let mut total = 0;
    for proto in [Proto::H1, Proto::H2c, Proto::H2Tls] {
        let (scheme, authority, port_less) = match proto {
            Proto::H1 | Proto::H2c => ("http", proxy.addr.to_string(), "127.0.0.1"),
            Proto::H2Tls => ("https", format!("localhost:{tls_port}"), "localhost"),
        };
        let signing = Signing {
            key: &key,
            token: ApproovVectors::token(),
            scheme,
            authority,
        };
        let conn = match proto {
            Proto::H1 => None,
            Proto::H2c => Some(H2Conn::h2c(proxy.addr).await),
            Proto::H2Tls => Some(H2Conn::tls(tls_addr).await),
        };
        for case in signing.cases(port_less) {
            let before = up.count();
            let headers: Vec<(&str, &str)> = case
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let r = match &conn {
                None => {
                    client
                        .send(request(
                            case.method,
                            &proxy.url(&case.path),
                            &headers,
                            case.body,
                        ))
                        .await
                }
                Some(c) => c
                    .send(case.method, &case.path, &headers, case.body)
                    .await
                    .unwrap(),
            };
            let what = format!("{proto:?} {}", case.name);
            assert_eq!(r.status, case.status, "{what}: {}", r.text());
            let reached = up.count() - before;
            assert_eq!(reached, usize::from(case.status == 200), "{what}");
            if case.status == 200 {
                let seen = up.last().unwrap();
                assert_eq!(&seen.body[..], case.body.as_bytes(), "{what}");
                // X-Forwarded-Host: the authority the client addressed, on
                // every version.
                assert_eq!(
                    seen.headers["x-forwarded-host"].to_str().unwrap(),
                    signing.authority,
                    "{what}"
                );
            }
            total += 1;
        }
    }
    assert_eq!(total, 57);
}

/// HTTP/2 requests whose authority is missing or contradicted, sent with
/// the `h2` crate (hyper always sends `:authority`): refused before
/// routing, whatever they carry.
#[tokio::test(flavor = "multi_thread")]
async fn an_http2_request_without_one_authority_is_refused() {
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let config = format!(
        "[[route]]\nname = \"open\"\ntoken = \"off\"\nupstream = \"{}\"\n",
        up.url()
    );
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            ..Start::default()
        },
    )
    .await;
    let a = proxy.addr.to_string();
    // (URI, Host header) → status
    let cases: Vec<(String, Option<&str>, u16)> = vec![
        ("/x".into(), None, 400),
        ("/x".into(), Some("localhost"), 200),
        (format!("http://{a}/x"), None, 200),
        (format!("http://{a}/x"), Some(&a), 200),
        (format!("http://{a}/x"), Some("other.example"), 400),
        (format!("http://{a}/x"), Some("127.0.0.1"), 400),
        ("http://api.example/x".into(), None, 200),
    ];
    for (uri, host, status) in cases {
        let tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut client = client.ready().await.unwrap();
        let mut req = http::Request::builder().method("GET").uri(&uri);
        if let Some(h) = host {
            req = req.header("host", h);
        }
        let before = up.count();
        let (resp, _) = client.send_request(req.body(()).unwrap(), true).unwrap();
        // A stream reset (no `:scheme`, a malformed request) is a refusal
        // too.
        let got = resp.await.map_or(0, |r| r.status().as_u16());
        assert!(
            got == status || (status == 400 && got == 0),
            "{uri} host={host:?}: {got}"
        );
        assert_eq!(up.count() - before, usize::from(status == 200), "{uri}");
        if status == 200 {
            let seen = up.last().unwrap();
            let xfh = seen.headers["x-forwarded-host"]
                .to_str()
                .unwrap()
                .to_owned();
            let want = uri
                .strip_prefix("http://")
                .map_or(host.unwrap_or_default(), |r| r.split('/').next().unwrap());
            assert_eq!(xfh, want, "{uri}");
        }
    }
}

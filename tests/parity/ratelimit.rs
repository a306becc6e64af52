//! Parity of the rate limits (`[[route.rate_limit]]`): one table of cases,
//! run through the proxy (the real binary in front of a recording
//! upstream) and the tower layer (a real axum server built from the same
//! configuration file), with the same answers: burst then refusal, refill
//! after the computed wait, devices independent, failing tokens spending
//! nothing, a token without `did` not limited but counted, monitor mode,
//! HTTP/2 and gRPC.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use attestgate::Metrics;
use attestgate::ratelimit::{RateLimitMetrics, RateLimits};
use attestgate_testkit::client::{Client, Reply, request};
use attestgate_testkit::grpc::demo::HelloRequest;
use attestgate_testkit::grpc::demo::demo_client::DemoClient;
use attestgate_testkit::grpc::{GrpcUpstream, h2c_channel, with_metadata};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::tokens::HsFixture;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use attestgate_tower::{AttestLayer, RateLimitLayer};
use axum::Router;
use axum::routing::get;
use prometheus::Registry;
use serde_json::json;

/// Burst 3, one request a second; the monitored route: burst 2.
fn routes(upstream: &str, grpc_upstream: &str) -> String {
    format!(
        r#"
[[route]]
name = "limited"
path_prefix = "/p"
upstream = "{upstream}"

[[route.rate_limit]]
name = "per-device"
key = "claim:did"
rate = "60/min"
burst = 3

[[route]]
name = "watched"
path_prefix = "/m"
upstream = "{upstream}"

[[route.rate_limit]]
name = "per-device"
key = "claim:did"
rate = "60/min"
burst = 2
mode = "monitor"

[[route]]
name = "grpc"
path_prefix = "/attestgate.demo.Demo/"
upstream = "{grpc_upstream}"

[[route.rate_limit]]
name = "per-device"
key = "claim:did"
rate = "60/min"
burst = 1
"#
    )
}

fn token_toml(fx: &HsFixture) -> String {
    format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{}\" }}\n",
        fx.secret_b64
    )
}

/// A front end under test: where to send, how many reached the upstream,
/// and its metrics text.
enum Front<'a> {
    Proxy {
        proxy: &'a Proxy,
        up: &'a RecordingUpstream,
    },
    Layer {
        base: String,
        hits: Arc<AtomicUsize>,
        registry: Registry,
    },
}

impl Front<'_> {
    fn name(&self) -> &'static str {
        match self {
            Front::Proxy { .. } => "proxy",
            Front::Layer { .. } => "layer",
        }
    }

    fn url(&self, path: &str) -> String {
        match self {
            Front::Proxy { proxy, .. } => proxy.url(path),
            Front::Layer { base, .. } => format!("{base}{path}"),
        }
    }

    fn reached(&self) -> usize {
        match self {
            Front::Proxy { up, .. } => up.count(),
            Front::Layer { hits, .. } => hits.load(Ordering::SeqCst),
        }
    }

    async fn metric(&self, series: &str) -> f64 {
        let text = match self {
            Front::Proxy { proxy, .. } => proxy.metrics().await,
            Front::Layer { registry, .. } => {
                let mut out = Vec::new();
                prometheus::Encoder::encode(
                    &prometheus::TextEncoder::new(),
                    &registry.gather(),
                    &mut out,
                )
                .unwrap();
                String::from_utf8(out).unwrap()
            }
        };
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }
}

fn token(fx: &HsFixture, did: Option<&str>) -> String {
    let exp = attestgate_testkit::now() + 600;
    match did {
        Some(d) => fx.token(json!({ "exp": exp, "did": d })),
        None => fx.token(json!({ "exp": exp })),
    }
}

async fn get_with(client: &Client, url: &str, token: Option<&str>) -> Reply {
    let pairs: Vec<(&str, &str)> = token.map(|t| ("approov-token", t)).into_iter().collect();
    client.send(request("GET", url, &pairs, "")).await
}

/// A structured-field list (RFC 9651) as a real parser reads it: each
/// member's string and its integer parameters.
fn sf_list(value: &str) -> Vec<(String, Vec<(String, i64)>)> {
    sfv::Parser::parse_list(value.as_bytes())
        .unwrap_or_else(|e| panic!("{value:?} is not a structured-field list: {e}"))
        .into_iter()
        .map(|entry| match entry {
            sfv::ListEntry::Item(item) => (
                item.bare_item.as_str().expect("a string name").to_owned(),
                item.params
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_int().expect("an integer")))
                    .collect(),
            ),
            other => panic!("{value:?}: {other:?}"),
        })
        .collect()
}

/// The 429 of the product: `{}`, JSON, `Retry-After` and the IETF fields.
fn assert_limited(what: &str, r: &Reply, policy: &str) {
    assert_eq!(r.status, 429, "{what}: {}", r.text());
    assert_eq!(&r.body[..], b"{}", "{what}");
    assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    let wait = r.header("retry-after").expect("retry-after");
    let secs: u64 = wait.parse().unwrap();
    assert!((1..=1).contains(&secs), "{what}: Retry-After {wait}");
    assert_eq!(r.header("ratelimit-policy"), Some(policy), "{what}");
    assert_eq!(
        r.header("ratelimit"),
        Some(format!("\"per-device\";r=0;t={secs}").as_str()),
        "{what}"
    );
    // As draft-ietf-httpapi-ratelimit-headers-11 reads them: a list of
    // policies (name; q quota, w window) and of limits (name; r left, t
    // seconds).
    let policies = sf_list(r.header("ratelimit-policy").unwrap());
    assert_eq!(
        policies,
        [(
            "per-device".to_owned(),
            vec![("q".to_owned(), 60), ("w".to_owned(), 60)]
        )],
        "{what}"
    );
    let limits = sf_list(r.header("ratelimit").unwrap());
    assert_eq!(
        limits,
        [(
            "per-device".to_owned(),
            vec![("r".to_owned(), 0), ("t".to_owned(), secs as i64)]
        )],
        "{what}"
    );
}

async fn table(front: &Front<'_>, fx: &HsFixture, client: &Client) {
    let f = front.name();
    let url = front.url("/p");
    let policy = "\"per-device\";q=60;w=60";

    // Burst then refusal; the refused request never reaches the upstream.
    let a = token(fx, Some("device-a"));
    let before = front.reached();
    let start = Instant::now();
    for i in 0..3 {
        let r = get_with(client, &url, Some(&a)).await;
        assert_eq!(r.status, 200, "{f}: burst request {i}: {}", r.text());
    }
    let limited_before = front
        .metric("attestgate_rate_limited_total{limit=\"per-device\",route=\"limited\"}")
        .await;
    let r = get_with(client, &url, Some(&a)).await;
    assert_limited(&format!("{f} over the burst"), &r, policy);
    assert_eq!(front.reached() - before, 3, "{f}");
    assert_eq!(
        front
            .metric("attestgate_rate_limited_total{limit=\"per-device\",route=\"limited\"}")
            .await
            - limited_before,
        1.0,
        "{f}"
    );

    // Refill after the computed wait: polled (refusals spend nothing),
    // never earlier than one interval after the first request.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get_with(client, &url, Some(&a)).await;
        if r.status == 200 {
            break;
        }
        assert_limited(&format!("{f} waiting for the refill"), &r, policy);
        assert!(Instant::now() < deadline, "{f}: no refill within 10s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{f}: refilled after {:?}",
        start.elapsed()
    );
    assert_eq!(get_with(client, &url, Some(&a)).await.status, 429, "{f}");

    // Two devices are independent.
    let b = token(fx, Some("device-b"));
    for i in 0..3 {
        assert_eq!(
            get_with(client, &url, Some(&b)).await.status,
            200,
            "{f}: b {i}"
        );
    }
    assert_eq!(get_with(client, &url, Some(&b)).await.status, 429, "{f}: b");

    // No token, or a bad token naming the device: 401, and no budget spent.
    let other = HsFixture::new();
    let forged = token(&other, Some("device-c"));
    let before = front.reached();
    for _ in 0..5 {
        assert_eq!(get_with(client, &url, None).await.status, 401, "{f}");
        let r = get_with(client, &url, Some(&forged)).await;
        assert_eq!(r.status, 401, "{f}: forged");
        assert!(r.header("retry-after").is_none(), "{f}");
    }
    assert_eq!(
        front.reached(),
        before,
        "{f}: a refused token reached upstream"
    );
    let c = token(fx, Some("device-c"));
    for i in 0..3 {
        assert_eq!(
            get_with(client, &url, Some(&c)).await.status,
            200,
            "{f}: c {i}"
        );
    }
    assert_eq!(get_with(client, &url, Some(&c)).await.status, 429, "{f}: c");

    // A token without `did`: not limited by the rule, counted.
    let no_key = "attestgate_rate_limit_no_key_total{limit=\"per-device\",route=\"limited\"}";
    let before = front.metric(no_key).await;
    let anonymous = token(fx, None);
    for i in 0..10 {
        assert_eq!(
            get_with(client, &url, Some(&anonymous)).await.status,
            200,
            "{f}: {i}"
        );
    }
    assert_eq!(front.metric(no_key).await - before, 10.0, "{f}");

    // Monitor mode: over the burst, let through and counted.
    let watched = "attestgate_rate_limited_total{limit=\"per-device\",route=\"watched\"}";
    let before = front.metric(watched).await;
    let m = token(fx, Some("device-m"));
    let murl = front.url("/m");
    for i in 0..5 {
        let r = get_with(client, &murl, Some(&m)).await;
        assert_eq!(r.status, 200, "{f}: monitored {i}");
        assert!(r.header("retry-after").is_none(), "{f}");
    }
    assert_eq!(front.metric(watched).await - before, 3.0, "{f}");

    // The gRPC form over HTTP/1 (the content type decides the form).
    let g = token(fx, Some("device-g"));
    let pairs = [
        ("approov-token", g.as_str()),
        ("content-type", "application/grpc"),
    ];
    let purl = front.url("/p");
    for _ in 0..3 {
        client.send(request("POST", &purl, &pairs, "")).await;
    }
    let r = client.send(request("POST", &purl, &pairs, "")).await;
    assert_eq!(r.status, 200, "{f}");
    assert_eq!(r.header("grpc-status"), Some("8"), "{f}");
    assert_eq!(r.header("grpc-message"), Some("resource exhausted"), "{f}");
    assert_eq!(r.header("content-type"), Some("application/grpc"), "{f}");
    assert_eq!(r.header("ratelimit-policy"), Some(policy), "{f}");
    assert!(r.body.is_empty(), "{f}");
}

#[tokio::test(flavor = "multi_thread")]
async fn proxy_and_layer_limit_alike() {
    let fx = HsFixture::new();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let grpc_up = GrpcUpstream::start().await;
    let config = format!("{}{}", token_toml(&fx), routes(&up.url(), &grpc_up.url()));
    let proxy = Proxy::start(
        Path::new(env!("CARGO_BIN_EXE_attestgate")),
        Start {
            config: &config,
            ..Start::default()
        },
    )
    .await;

    // The layer, built from the same file.
    let cfg = attestgate_config::Config::from_toml(&config, Path::new("ratelimit.toml")).unwrap();
    let verifier = cfg.token.as_ref().unwrap().build_verifier().unwrap();
    let registry = Registry::new();
    let metrics = Metrics::register(&registry).unwrap();
    let limit_metrics = RateLimitMetrics::register(&registry).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let mut app = Router::new();
    for (name, path) in [("limited", "/p"), ("watched", "/m")] {
        let route = cfg.route(name).unwrap();
        let limits = RateLimits::new(
            name,
            route.policy.mode,
            &route.rate_limits,
            &limit_metrics,
            |_| None,
        );
        let h = hits.clone();
        let h2 = hits.clone();
        let part = Router::new()
            .route(
                path,
                get(move || async move {
                    h.fetch_add(1, Ordering::SeqCst);
                    "ok"
                })
                .post(move || async move {
                    h2.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }),
            )
            .layer(RateLimitLayer::new(limits))
            .layer(
                AttestLayer::new(verifier.with_policy(route.policy.clone())).with_metrics(&metrics),
            );
        app = app.merge(part);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::new();
    for front in [
        Front::Proxy {
            proxy: &proxy,
            up: &up,
        },
        Front::Layer {
            base: format!("http://{addr}"),
            hits: hits.clone(),
            registry: registry.clone(),
        },
    ] {
        table(&front, &fx, &client).await;
    }

    // HTTP/2 and a real gRPC client through the proxy: the second call of
    // a device with burst 1 is RESOURCE_EXHAUSTED, and never reaches the
    // upstream.
    let d = token(&fx, Some("device-h2"));
    let mut demo = DemoClient::new(h2c_channel(proxy.addr).await);
    let hello = || HelloRequest {
        name: "limits".into(),
    };
    let pairs = [("approov-token", d.as_str())];
    demo.hello(with_metadata(hello(), &pairs)).await.unwrap();
    let seen = grpc_up.seen.count();
    let status = demo
        .hello(with_metadata(hello(), &pairs))
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    assert_eq!(status.message(), "resource exhausted");
    assert_eq!(grpc_up.seen.count(), seen);
    // The answer is trailers-only: one HEADERS frame, no DATA.
    let raw = attestgate_testkit::h2::raw_call(
        proxy.addr,
        "/attestgate.demo.Demo/Hello",
        &[
            ("approov-token", d.as_str()),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ],
        b"\0\0\0\0\0",
    )
    .await;
    assert_eq!(raw.status, 200);
    assert_eq!(raw.headers.get("grpc-status").unwrap(), "8");
    assert!(raw.headers.get("retry-after").is_some());
    assert!(
        raw.data_frames.is_empty() && raw.trailers.is_none(),
        "{raw:?}"
    );
    // Plain HTTP/2 (h2c) to an HTTP route: the same 429.
    let h2 = attestgate_testkit::h2::H2Conn::h2c(proxy.addr).await;
    let e = token(&fx, Some("device-h2-http"));
    let headers = [("approov-token", e.as_str())];
    for _ in 0..3 {
        assert_eq!(
            h2.send("GET", "/p", &headers, "").await.unwrap().status,
            200
        );
    }
    let r = h2.send("GET", "/p", &headers, "").await.unwrap();
    assert_limited("proxy over HTTP/2", &r, "\"per-device\";q=60;w=60");
}

//! Rate limits shared by a fleet (`store = "redis"`): three real proxies,
//! a service behind the tower layer, and one real `redis-server`. Together they let through one budget
//! (burst plus the refill over the test's duration, within one request);
//! with Redis stopped, `on_store_error = "allow"` passes, `"refuse"`
//! refuses (503, gRPC UNAVAILABLE), and the store-error metric counts;
//! with Redis back, the limits resume.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attestgate_testkit::client::{Client, request};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::redis::RedisServer;
use attestgate_testkit::tokens::HsFixture;
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use serde_json::json;

const BURST: u64 = 5;
/// One request per 250 ms.
const RATE: &str = "240/min";
const INTERVAL: Duration = Duration::from_millis(250);

fn config(fx: &HsFixture, upstream: &str, redis: &str) -> String {
    let limit = |name: &str, on_error: &str| {
        format!(
            r#"
[[route.rate_limit]]
name = "{name}"
key = "claim:did"
rate = "{RATE}"
burst = {BURST}
store = "redis"
redis_url = "{redis}"
redis_timeout = "200ms"
on_store_error = "{on_error}"
"#
        )
    };
    format!(
        "[token]\n[[token.secret]]\nbase64 = {{ value = \"{secret}\" }}\n\
         \n[[route]]\nname = \"lenient\"\npath_prefix = \"/p\"\nupstream = \"{upstream}\"\n{a}\
         \n[[route]]\nname = \"strict\"\npath_prefix = \"/s\"\nupstream = \"{upstream}\"\n{b}",
        secret = fx.secret_b64,
        a = limit("fleet", "allow"),
        b = limit("fleet", "refuse"),
    )
}

fn token(fx: &HsFixture, did: &str) -> String {
    fx.token(json!({ "exp": attestgate_testkit::now() + 600, "did": did }))
}

async fn status(client: &Client, url: &str, token: &str) -> u16 {
    client
        .send(request("GET", url, &[("approov-token", token)], ""))
        .await
        .status
}

async fn store_errors(proxies: &[Proxy], route: &str) -> f64 {
    let mut total = 0.0;
    for p in proxies {
        total += p
            .metric(&format!(
                "attestgate_rate_limit_store_errors_total{{limit=\"fleet\",route=\"{route}\"}}"
            ))
            .await
            .unwrap_or(0.0);
    }
    total
}

/// One command over RESP (inline form): the reply's lines, read until
/// the reply is whole (a number, or an array of `N` bulk strings).
fn resp(port: u16, command: &str) -> Vec<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(format!("{command}\r\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "redis closed the connection");
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8(out.clone()).unwrap();
        let lines: Vec<String> = text.split_terminator("\r\n").map(str::to_owned).collect();
        if !text.ends_with("\r\n") || lines.is_empty() {
            continue;
        }
        let want = match lines[0].strip_prefix('*') {
            Some(n) => 1 + 2 * n.parse::<usize>().unwrap(),
            None => 1,
        };
        if lines.len() >= want {
            return lines;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_proxies_share_one_budget_and_survive_redis() {
    let fx = HsFixture::new();
    let mut redis = RedisServer::start();
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let cfg = config(&fx, &up.url(), &redis.url());
    let mut proxies = Vec::new();
    for host in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        proxies.push(
            Proxy::start_on_host(
                Path::new(env!("CARGO_BIN_EXE_attestgate")),
                host,
                Start {
                    config: &cfg,
                    ..Start::default()
                },
            )
            .await,
        );
    }
    // A fourth member: an axum service with the tower layers, built from
    // the same file, its limit on the same Redis (same route and limit
    // names: the same budget).
    let layer_url = {
        use attestgate::ratelimit::{LimitStore, RateLimitMetrics, RateLimits, RedisLimitStore};
        let parsed = attestgate_config::Config::from_toml(&cfg, Path::new("fleet.toml")).unwrap();
        let verifier = parsed.token.as_ref().unwrap().build_verifier().unwrap();
        let route = parsed.route("lenient").unwrap();
        let limits = RateLimits::new(
            "lenient",
            route.policy.mode,
            &route.rate_limits,
            &RateLimitMetrics::unregistered().unwrap(),
            |rule| {
                let store = RedisLimitStore::new(rule.redis_url.as_deref()?, rule.redis_timeout);
                Some(Arc::new(store.unwrap()) as Arc<dyn LimitStore>)
            },
        );
        let app = axum::Router::new()
            .route("/p", axum::routing::get(|| async { "ok" }))
            .layer(attestgate_tower::RateLimitLayer::new(limits))
            .layer(attestgate_tower::AttestLayer::new(
                verifier.with_policy(route.policy.clone()),
            ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/p")
    };
    let client = Client::new();

    // One device, round robin over the fleet (three proxies and the
    // layer) for 3 s.
    let t = token(&fx, "fleet-device");
    let start = Instant::now();
    let (mut passed, mut refused, mut i) = (0u64, 0u64, 0usize);
    while start.elapsed() < Duration::from_secs(3) {
        let url = match i % 4 {
            3 => layer_url.clone(),
            k => proxies[k].url("/p"),
        };
        match status(&client, &url, &t).await {
            200 => passed += 1,
            429 => refused += 1,
            other => panic!("status {other}"),
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let elapsed = start.elapsed();
    let refill = (elapsed.as_micros() / INTERVAL.as_micros()) as u64;
    let want = BURST + refill;
    eprintln!("fleet: {passed} passed, {refused} refused in {elapsed:?}; one budget allows {want}");
    assert!(
        passed.abs_diff(want) <= 1,
        "fleet let {passed} through in {elapsed:?}; one budget allows {want} (burst {BURST} + {refill})"
    );
    assert!(refused > passed, "{refused} refused, {passed} passed");
    assert_eq!(store_errors(&proxies, "lenient").await, 0.0);

    // What Redis holds: digests under the prefix, each with a TTL; no
    // device id, no token.
    let keys = resp(redis.port(), "KEYS *");
    assert!(!keys.is_empty());
    for k in keys
        .iter()
        .filter(|k| !k.starts_with('*') && !k.starts_with('$'))
    {
        assert!(k.starts_with("attestgate:rl:"), "{k}");
        assert_eq!(k.len(), "attestgate:rl:".len() + 32, "{k}");
        assert!(!k.contains("fleet-device"), "{k}");
        let ttl = resp(redis.port(), &format!("PTTL {k}"));
        let ms: i64 = ttl[0].trim_start_matches(':').parse().unwrap();
        assert!(ms > 0 && ms <= 2_000, "{k}: PTTL {ms}");
    }

    // Redis stopped: allow passes, refuse refuses; both count.
    let port = redis.port();
    redis.stop();
    let fresh = token(&fx, "outage-device");
    for _ in 0..(BURST + 2) {
        assert_eq!(status(&client, &layer_url, &fresh).await, 200, "layer");
    }
    for p in &proxies {
        for _ in 0..(BURST + 2) {
            assert_eq!(status(&client, &p.url("/p"), &fresh).await, 200);
        }
        let r = client
            .send(request(
                "GET",
                &p.url("/s"),
                &[("approov-token", &fresh)],
                "",
            ))
            .await;
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(&r.body[..], b"{}");
        assert_eq!(r.header("retry-after"), Some("1"));
        let g = client
            .send(request(
                "POST",
                &p.url("/s"),
                &[
                    ("approov-token", &fresh),
                    ("content-type", "application/grpc"),
                ],
                "",
            ))
            .await;
        assert_eq!(g.header("grpc-status"), Some("14"));
    }
    assert!(store_errors(&proxies, "lenient").await >= (3 * (BURST + 2)) as f64);
    assert!(store_errors(&proxies, "strict").await >= 3.0);

    // Redis back on the same port: the limits resume (the connection
    // comes back in the background; polled with a deadline).
    let _redis = RedisServer::start_on(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    loop {
        n += 1;
        let t = token(&fx, &format!("after-{n}"));
        let mut statuses = Vec::new();
        for k in 0..=BURST {
            let p = &proxies[k as usize % 3];
            statuses.push(status(&client, &p.url("/s"), &t).await);
        }
        if statuses[..BURST as usize].iter().all(|s| *s == 200) && statuses[BURST as usize] == 429 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "limits did not resume: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

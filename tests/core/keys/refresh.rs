//! Keys from a JWKS URL, against a real JWKS server on 127.0.0.1 whose
//! answers the tests script: rotation, outages after warm-up, cold starts,
//! unknown-kid floods, shutdown.

use std::time::{Duration, Instant};

use attestgate::{JwksOptions, Metrics, Reason, Verifier};
use attestgate_testkit::jwks::{Answer, JwksServer};
use attestgate_testkit::logs::Logs;
use attestgate_testkit::tokens::TestKeys;
use attestgate_testkit::{TempDir, eventually, holds_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn options(url: &str) -> JwksOptions {
    JwksOptions {
        url: Some(url.to_owned()),
        refresh: Duration::from_secs(60),
        min_refetch: Duration::from_millis(100),
        timeout: Duration::from_millis(300),
        watch_interval: Duration::from_millis(50),
        ..JwksOptions::default()
    }
}

fn verifier(options: JwksOptions) -> (Verifier, prometheus::Registry) {
    let v = Verifier::builder().jwks_options(options).build().unwrap();
    let registry = prometheus::Registry::new();
    assert!(v.attach_metrics(&Metrics::register(&registry).unwrap()));
    (v, registry)
}

/// The value of one series, from the Prometheus text the admin endpoint
/// serves.
fn metric(registry: &prometheus::Registry, name: &str, labels: &[&str]) -> f64 {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

fn url_errors(r: &prometheus::Registry) -> f64 {
    metric(
        r,
        "attestgate_keyset_refresh_total",
        &["source=\"url\"", "result=\"error\""],
    )
}

fn url_oks(r: &prometheus::Registry) -> f64 {
    metric(
        r,
        "attestgate_keyset_refresh_total",
        &["source=\"url\"", "result=\"ok\""],
    )
}

/// Fresh tokens (a unique `jti`, so never a cache hit) of the three JWKS
/// keys.
fn fresh(keys: &TestKeys) -> [String; 3] {
    let n = fastrand::u64(..);
    [
        keys.es256(300, json!({ "jti": n })),
        keys.rs256(300, json!({ "jti": n })),
        keys.eddsa(300, json!({ "jti": n })),
    ]
}

fn all_pass(v: &Verifier, keys: &TestKeys) -> bool {
    fresh(keys).iter().all(|t| v.verify_token(t).is_ok())
}

#[tokio::test]
async fn a_new_kid_is_fetched_early_on_first_use_and_a_removed_kid_is_rejected() {
    let keys = TestKeys::new();
    let server = JwksServer::start(Answer::Jwks {
        body: json!({"keys": [
            keys.es.public_jwk(Some("es-1")).unwrap(),
            keys.rs.public_jwk(Some("rs-1")).unwrap(),
        ]})
        .to_string(),
        max_age: None,
    })
    .await;
    let min_refetch = Duration::from_millis(200);
    let (v, _r) = verifier(JwksOptions {
        min_refetch,
        ..options(&server.url())
    });
    let _refresher = v.spawn_refresher();
    assert!(eventually(WAIT, || v.is_ready()).await);
    assert_eq!(server.fetches(), 1);
    let old = keys.es256(300, json!({}));
    assert!(
        v.verify_token(&old).is_ok(),
        "cached under the first key set"
    );

    // The issuer rotates: ed-1 in, es-1 out. The refresh period is 60 s:
    // only the early refetch can bring ed-1 in time.
    server.serve_keys(&json!({"keys": [
        keys.rs.public_jwk(Some("rs-1")).unwrap(),
        keys.ed.public_jwk(Some("ed-1")).unwrap(),
    ]}));
    let new = keys.eddsa(300, json!({}));
    let first_use = Instant::now();
    assert_eq!(
        v.verify_token(&new).unwrap_err(),
        Reason::UnknownKey,
        "rejected at once, not held"
    );
    assert!(eventually(WAIT, || v.verify_token(&new).is_ok()).await);
    let took = first_use.elapsed();
    assert_eq!(server.fetches(), 2, "one early fetch");
    // min_refetch after the previous fetch, plus a loopback round trip; far
    // below the 60 s period (a loose bound: the machine is shared).
    assert!(took < Duration::from_secs(3), "{took:?}");
    // The removed key is gone, and its cached verification with it.
    assert_eq!(v.verify_token(&old).unwrap_err(), Reason::UnknownKey);
    assert!(v.verify_token(&keys.rs256(300, json!({}))).is_ok());
}

#[tokio::test]
async fn a_removed_kid_is_rejected_after_the_next_periodic_refresh() {
    let keys = TestKeys::new();
    let server = JwksServer::start(Answer::Jwks {
        body: keys.jwks().to_string(),
        max_age: None,
    })
    .await;
    let (v, r) = verifier(JwksOptions {
        refresh: Duration::from_millis(300),
        ..options(&server.url())
    });
    let _refresher = v.spawn_refresher();
    assert!(eventually(WAIT, || v.is_ready()).await);
    let es = keys.es256(300, json!({}));
    assert!(v.verify_token(&es).is_ok());
    let generation = v.keyset().generation();
    // Unchanged answers (304 to If-None-Match) keep the set as it is.
    assert!(eventually(WAIT, || server.not_modified() >= 2).await);
    assert_eq!(v.keyset().generation(), generation);
    // The server counts a 304 when it sends it, the refresher when it has
    // read it: wait for the client's count too.
    assert!(eventually(WAIT, || url_oks(&r) >= 3.0).await);

    server.serve_keys(&json!({"keys": [keys.rs.public_jwk(Some("rs-1")).unwrap()]}));
    assert!(
        eventually(WAIT, || matches!(
            v.verify_token(&es),
            Err(Reason::UnknownKey)
        ))
        .await
    );
    assert!(v.verify_token(&keys.rs256(300, json!({}))).is_ok());
    assert_eq!(v.keyset().len(), 1);
    assert_eq!(metric(&r, "attestgate_keyset_keys", &[]), 1.0);
}

#[tokio::test]
async fn an_outage_after_warm_up_keeps_the_last_good_keys() {
    let logs = Logs::default();
    let _guard = logs.install();
    let keys = TestKeys::new();
    let server = JwksServer::start(Answer::Jwks {
        body: keys.jwks().to_string(),
        max_age: None,
    })
    .await;
    let (v, r) = verifier(JwksOptions {
        refresh: Duration::from_millis(150),
        min_refetch: Duration::from_millis(50),
        timeout: Duration::from_millis(300),
        ..options(&server.url())
    });
    let refresher = v.spawn_refresher();
    assert!(eventually(WAIT, || v.is_ready()).await);
    let generation = v.keyset().generation();
    let elsewhere = format!("{}/moved", server.server.url(""));
    let answers = [
        Answer::Status(500),
        Answer::Status(404),
        Answer::Html,
        Answer::EmptyObject,
        Answer::EmptySet,
        Answer::Truncated,
        Answer::Oversize,
        Answer::Hang,
        Answer::Redirect(elsewhere),
    ];
    for answer in answers {
        server.set(answer.clone());
        let before = url_errors(&r);
        // Two failures: at least one surely answered with this script.
        assert!(
            eventually(WAIT, || url_errors(&r) >= before + 2.0).await,
            "{answer:?}"
        );
        assert!(all_pass(&v, &keys), "{answer:?}");
        assert_eq!(v.keyset().generation(), generation, "{answer:?}");
        assert!(v.is_ready());
    }
    // Connection refused: the endpoint is gone.
    drop(server);
    let before = url_errors(&r);
    assert!(eventually(WAIT, || url_errors(&r) >= before + 2.0).await);
    assert!(all_pass(&v, &keys));
    assert_eq!(v.keyset().generation(), generation);
    assert_eq!(metric(&r, "attestgate_keyset_keys", &[]), 3.0);
    refresher.shutdown().await;

    let text = logs.text();
    for reason in [
        "status 500",
        "status 404",
        "not a JWKS document",
        "no usable key",
        "EOF while parsing",
        "body over 1 MiB",
        "timeout after 300ms",
        "status 302 (redirects are not followed)",
        "onnection refused",
    ] {
        assert!(text.contains(reason), "no {reason:?} in the logs:\n{text}");
    }
    let failures = text
        .lines()
        .filter(|l| l.contains("JWKS refresh failed"))
        .count();
    assert_eq!(
        failures as f64,
        url_errors(&r),
        "one line per failed refresh"
    );
    assert!(
        text.lines()
            .filter(|l| l.contains("JWKS refresh failed"))
            .all(|l| l.contains("WARN"))
    );
    // Never a body.
    for body in ["Login", "<html", "\"kty\":\"EC\",\"crv\":\"P-2", "xxxxxxxx"] {
        assert!(
            !text.contains(body),
            "{body:?} leaked into the logs:\n{text}"
        );
    }
}

#[tokio::test]
async fn a_cold_start_with_the_endpoint_failing_recovers_without_a_restart() {
    let keys = TestKeys::new();
    let server = JwksServer::start(Answer::Status(503)).await;
    let (v, r) = verifier(options(&server.url()));
    let _refresher = v.spawn_refresher();
    let [es, ..] = fresh(&keys);
    assert!(!v.is_ready());
    assert_eq!(v.verify_token(&es).unwrap_err(), Reason::NoKeys);
    assert_eq!(v.reject_status(Reason::NoKeys), 503);
    assert!(eventually(WAIT, || url_errors(&r) >= 3.0).await);
    assert_eq!(v.verify_token(&es).unwrap_err(), Reason::NoKeys);
    assert!(!v.is_ready());

    server.serve_keys(&keys.jwks());
    // Requests keep coming: each no_keys asks for an early fetch, so the
    // backoff (60 s cap) does not hold recovery back.
    assert!(eventually(WAIT, || v.verify_token(&es).is_ok()).await);
    assert!(v.is_ready());
    assert!(all_pass(&v, &keys));
}

#[tokio::test]
async fn a_cold_start_with_the_endpoint_refusing_connections_recovers_on_the_same_port() {
    let keys = TestKeys::new();
    let port = attestgate_testkit::http::free_port();
    let url = format!("http://127.0.0.1:{port}/.well-known/jwks.json");
    let (v, r) = verifier(options(&url));
    let _refresher = v.spawn_refresher();
    assert!(eventually(WAIT, || url_errors(&r) >= 2.0).await);
    assert_eq!(
        v.verify_token(&fresh(&keys)[0]).unwrap_err(),
        Reason::NoKeys
    );

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = JwksServer::start_on(
        listener,
        Answer::Jwks {
            body: keys.jwks().to_string(),
            max_age: None,
        },
    );
    assert!(eventually(WAIT, || all_pass(&v, &keys)).await);
    assert!(server.fetches() >= 1);
}

#[tokio::test]
async fn a_cold_start_uses_the_cache_file_while_the_endpoint_is_down() {
    let keys = TestKeys::new();
    let dir = TempDir::new("jwks-cache");
    let cache = dir.join("jwks-cache.json");
    let server = JwksServer::start(Answer::Jwks {
        body: keys.jwks().to_string(),
        max_age: None,
    })
    .await;
    let opts = JwksOptions {
        cache_file: Some(cache.clone()),
        ..options(&server.url())
    };
    {
        let (v, _r) = verifier(opts.clone());
        assert!(!v.is_ready());
        let refresher = v.spawn_refresher();
        assert!(eventually(WAIT, || v.is_ready() && cache.exists()).await);
        refresher.shutdown().await;
    }
    // The last good document, written whole, with no temporary file left.
    let written = std::fs::read(&cache).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&written).unwrap(),
        keys.jwks()
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["jwks-cache.json"]);

    drop(server);
    let (v, r) = verifier(opts.clone());
    assert!(v.is_ready(), "ready from the cache file, before any fetch");
    assert!(all_pass(&v, &keys));
    let _refresher = v.spawn_refresher();
    assert!(eventually(WAIT, || url_errors(&r) >= 2.0).await);
    assert!(all_pass(&v, &keys));
    assert_eq!(
        std::fs::read(&cache).unwrap(),
        written,
        "a failed fetch leaves the cache file alone"
    );

    // A corrupt cache file is ignored (with a warning), not fatal.
    std::fs::write(&cache, "{\"keys\":[{\"kty\":").unwrap();
    let (v, _r) = verifier(opts);
    assert!(!v.is_ready());
    assert_eq!(
        v.verify_token(&fresh(&keys)[0]).unwrap_err(),
        Reason::NoKeys
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_kids_causes_at_most_three_fetches() {
    let keys = TestKeys::new();
    let server = JwksServer::start(Answer::Jwks {
        body: keys.jwks().to_string(),
        max_age: None,
    })
    .await;
    let min_refetch = Duration::from_millis(200);
    let (v, r) = verifier(JwksOptions {
        min_refetch,
        ..options(&server.url())
    });
    let _refresher = v.spawn_refresher();
    assert!(eventually(WAIT, || v.is_ready()).await);
    assert_eq!(server.fetches(), 1);
    let flood: Vec<String> = (0..500)
        .map(|i| {
            let kid = format!("random-{i}-{}", fastrand::u64(..));
            attestgate::mint::mint(
                &keys.es,
                Some(&kid),
                &attestgate_testkit::tokens::claims(300, json!({})),
            )
            .unwrap()
        })
        .collect();
    let rejections_before = metric(
        &r,
        "attestgate_rejections_total",
        &["reason=\"unknown_key\""],
    );
    for t in &flood {
        let mut headers = http::HeaderMap::new();
        headers.insert("approov-token", t.parse().unwrap());
        assert_eq!(v.check(&headers).unwrap_err(), Reason::UnknownKey);
    }
    assert_eq!(
        metric(
            &r,
            "attestgate_rejections_total",
            &["reason=\"unknown_key\""]
        ) - rejections_before,
        500.0
    );
    // The flood causes an early fetch, and over five times min_refetch
    // no more than three.
    assert!(
        eventually(WAIT, || server.fetches() >= 2).await,
        "no early fetch"
    );
    assert!(
        holds_for(5 * min_refetch, || server.fetches() - 1 <= 3).await,
        "{} fetches",
        server.fetches() - 1
    );
    assert!(all_pass(&v, &keys));
}

#[tokio::test]
async fn the_refresher_stops_on_shutdown_on_drop_and_with_the_last_clone() {
    let keys = TestKeys::new();
    let server = JwksServer::start(Answer::Jwks {
        body: keys.jwks().to_string(),
        max_age: None,
    })
    .await;
    let fast = JwksOptions {
        refresh: Duration::from_millis(100),
        min_refetch: Duration::from_millis(20),
        ..options(&server.url())
    };
    let settle = Duration::from_millis(500);

    // shutdown().await
    let (v, _r) = verifier(fast.clone());
    let handle = v.spawn_refresher();
    assert!(
        eventually(WAIT, || server.fetches() >= 2).await,
        "it refreshes every 100 ms"
    );
    tokio::time::timeout(Duration::from_secs(2), handle.shutdown())
        .await
        .unwrap();
    let stopped_at = server.fetches();
    assert!(
        holds_for(settle, || server.fetches() == stopped_at).await,
        "a fetch after shutdown"
    );

    // Dropping the handle.
    let handle = v.spawn_refresher();
    assert!(
        eventually(WAIT, || server.fetches() >= stopped_at + 2).await,
        "a new refresher may start"
    );
    drop(handle);
    // A fetch already under way may still land; then the count holds
    // still (a refresher left running would fetch every 100 ms).
    let mut stopped_at = None;
    for _ in 0..10 {
        let at = server.fetches();
        if holds_for(settle, || server.fetches() == at).await {
            stopped_at = Some(at);
            break;
        }
    }
    let stopped_at = stopped_at.expect("the refresher kept fetching after its handle was dropped");

    // Dropping every clone of the verifier.
    let handle = v.spawn_refresher();
    assert!(eventually(WAIT, || server.fetches() >= stopped_at + 2).await);
    drop(v);
    assert!(eventually(WAIT, || handle.is_finished()).await);

    // run_refresher inside the caller's task, as the proxy's background
    // service does, until its shutdown future resolves.
    let (v, _r) = verifier(fast);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn({
        let v = v.clone();
        async move {
            v.run_refresher(async move {
                let _ = stopped.await;
            })
            .await;
        }
    });
    assert!(eventually(WAIT, || v.is_ready()).await);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn refresh_once_fetches_now_and_says_why_it_failed() {
    let keys = TestKeys::new();
    let server = JwksServer::start(Answer::Status(500)).await;
    let (v, _r) = verifier(options(&server.url()));
    let err = v.refresh_once().await.unwrap_err();
    assert_eq!(err.to_string(), "jwks.url: status 500");
    assert!(!v.is_ready());
    server.serve_keys(&keys.jwks());
    v.refresh_once().await.unwrap();
    assert!(all_pass(&v, &keys));
    assert_eq!(server.fetches(), 2);
}

#[tokio::test]
async fn an_https_url_is_fetched_over_verified_tls_only() {
    // A plain-HTTP server behind an https:// URL: the TLS handshake fails,
    // nothing is loaded, the reason is logged.
    let keys = TestKeys::new();
    let server = JwksServer::start(Answer::Jwks {
        body: keys.jwks().to_string(),
        max_age: None,
    })
    .await;
    let url = format!("https://{}/.well-known/jwks.json", server.server.addr);
    let (v, r) = verifier(options(&url));
    let err = v.refresh_once().await.unwrap_err().to_string();
    assert!(err.starts_with("jwks.url: "), "{err}");
    assert!(!v.is_ready());
    assert_eq!(url_errors(&r), 1.0);
}

#[test]
fn a_bad_url_or_cap_is_a_build_error() {
    for (url, max) in [
        ("ftp://example.com/jwks", 1 << 20),
        ("not a url", 1 << 20),
        ("http://127.0.0.1/j", 10),
    ] {
        let err = Verifier::builder()
            .jwks_options(JwksOptions {
                url: Some(url.into()),
                max_body_bytes: max,
                ..JwksOptions::default()
            })
            .build()
            .unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(
            err.0[0].path == "jwks.url" || err.0[0].path == "jwks.max_body_bytes",
            "{err}"
        );
    }
}

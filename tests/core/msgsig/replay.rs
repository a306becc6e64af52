//! The replay cache: a signed request is accepted once. In memory (one
//! process) and in a real `redis-server` on loopback shared by several
//! stores standing for several proxy instances; Redis stopped mid-test,
//! following `on_redis_error`; a Redis that never answers, timing out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use attestgate::Reason;
use attestgate::msgsig::replay::{
    KEY_PREFIX, MemoryStore, RedisStore, ReplayKey, ReplayMetrics, ReplayStore, StoreError,
    p256_order,
};
use attestgate::msgsig::{
    InstallKey, IpkError, MessageSigning, MessageSigningPolicy, OnStoreError, ReplayError,
    ReplayMode, RequestParts,
};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use attestgate_testkit::redis::RedisServer;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A GET signed with Approov's test key at `created`.
fn signed_get(signer: &InstallSigner, created: i64, path: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("approov-token", ApproovVectors::token().parse().unwrap());
    let member = format!(
        "(\"@method\" \"@target-uri\" \"approov-token\");alg=\"ecdsa-p256-sha256\";created={created}"
    );
    let (input, sig) = signer.sign(&parts(&h, path), &member);
    h.insert("signature-input", input.parse().unwrap());
    h.insert("signature", sig.parse().unwrap());
    h
}

fn parts<'a>(h: &'a HeaderMap, path: &'a str) -> RequestParts<'a> {
    RequestParts {
        method: "GET",
        scheme: "https",
        authority: "api.example.com",
        path_and_query: path,
        headers: h,
    }
}

fn key() -> Result<InstallKey, IpkError> {
    InstallKey::from_ipk(&ApproovVectors::ipk())
}

fn policy(replay: ReplayMode, url: Option<String>, on_error: OnStoreError) -> MessageSigningPolicy {
    MessageSigningPolicy {
        replay,
        redis_url: url,
        on_redis_error: on_error,
        ..MessageSigningPolicy::default()
    }
}

fn redis_signing(
    url: &str,
    on_error: OnStoreError,
    metrics: &ReplayMetrics,
) -> (MessageSigning, Arc<RedisStore>) {
    let store =
        Arc::new(RedisStore::new(url, Duration::from_millis(200), metrics.clone()).unwrap());
    let signing = MessageSigning::new(
        policy(ReplayMode::Redis, Some(url.to_owned()), on_error),
        Some(store.clone() as Arc<dyn ReplayStore>),
    )
    .unwrap();
    (signing, store)
}

/// The `(r, n - s)` twin of a signature header: verifies just the same.
fn high_s_twin(h: &HeaderMap) -> HeaderMap {
    let v = h["signature"].to_str().unwrap();
    let mut sig = STANDARD
        .decode(v.trim_start_matches("install=:").trim_end_matches(':'))
        .unwrap();
    let n = p256_order();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(n[i]) - i16::from(sig[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        sig[32 + i] = d as u8;
    }
    let mut twin = h.clone();
    twin.insert(
        "signature",
        format!("install=:{}:", STANDARD.encode(&sig))
            .parse()
            .unwrap(),
    );
    twin
}

#[tokio::test]
async fn memory_refuses_the_second_use_and_the_high_s_twin() {
    let signer = InstallSigner::approov_test_key();
    let signing =
        MessageSigning::new(policy(ReplayMode::Memory, None, OnStoreError::Refuse), None).unwrap();
    let key = key();
    let t = 1_800_000_000i64;
    let h = signed_get(&signer, t, "/a?x=1");
    let at = |s: f64| (t as f64) + s;
    let check = |h: &HeaderMap, now: f64| {
        let h = h.clone();
        let signing = signing.clone();
        let key = key.clone();
        async move {
            signing
                .check(&parts(&h, "/a?x=1"), None, Some(&key), now)
                .await
        }
    };
    assert_eq!(check(&h, at(1.0)).await, Ok(()));
    assert_eq!(check(&h, at(2.0)).await, Err(Reason::Replay));
    // the malleated twin verifies, and is the same signature to the cache
    let twin = high_s_twin(&h);
    let signed = signing
        .verify(&parts(&twin, "/a?x=1"), None, Some(&key), at(3.0))
        .unwrap()
        .unwrap();
    assert_eq!(
        signing.check_replay(&signed, at(3.0)).await,
        Err(ReplayError::Seen)
    );
    // another signature of the same request (ECDSA is randomised) is new
    let again = signed_get(&signer, t, "/a?x=1");
    assert_eq!(check(&again, at(4.0)).await, Ok(()));
    // past the window the request is too old anyway
    assert_eq!(check(&h, at(65.0)).await, Err(Reason::Signature));
}

#[test]
fn memory_store_entry_lives_exactly_until_the_window_ends() {
    let store = MemoryStore::new(1000);
    let k = ReplayKey::of_signature(&[9u8; 64]);
    let end = 1065.0;
    assert!(store.check(&k, end, 1000.0));
    assert!(!store.check(&k, end, 1064.999));
    assert!(store.check(&k, end + 60.0, end));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_sharing_one_redis_accepts_each_signature_once() {
    let started = Instant::now();
    let redis = RedisServer::start();
    let registry = prometheus::Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let signer = InstallSigner::approov_test_key();
    let key = key();
    // three instances: three stores, three connections, one Redis
    let fleet: Vec<MessageSigning> = (0..3)
        .map(|_| redis_signing(&redis.url(), OnStoreError::Refuse, &metrics).0)
        .collect();

    // sequential: seen on A, refused on B and C
    let t = now();
    let h = signed_get(&signer, t as i64, "/pay");
    assert_eq!(
        fleet[0]
            .check(&parts(&h, "/pay"), None, Some(&key), t)
            .await,
        Ok(())
    );
    for other in &fleet[1..] {
        assert_eq!(
            other.check(&parts(&h, "/pay"), None, Some(&key), t).await,
            Err(Reason::Replay)
        );
    }
    // the twin too
    let twin = high_s_twin(&h);
    assert_eq!(
        fleet[2]
            .check(&parts(&twin, "/pay"), None, Some(&key), t)
            .await,
        Err(Reason::Replay)
    );

    // the key in Redis lives until the window ends (created + 60 s + 5 s)
    let signed = fleet[0]
        .verify(&parts(&h, "/pay"), None, Some(&key), t)
        .unwrap()
        .unwrap();
    let mut raw = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(format!("{KEY_PREFIX}{}", signed.replay_key.to_hex()))
        .query_async(&mut raw)
        .await
        .unwrap();
    let want_ms = ((signed.window_end - now()) * 1000.0) as i64;
    assert!(
        pttl > want_ms - 2000 && pttl <= want_ms + 1000,
        "PTTL {pttl} vs {want_ms}"
    );

    // concurrent: the same fresh signature on all three at once, one wins
    let h2 = signed_get(&signer, t as i64, "/pay2");
    let tasks: Vec<_> = fleet
        .iter()
        .cloned()
        .map(|s| {
            let h2 = h2.clone();
            let key = key.clone();
            tokio::spawn(async move { s.check(&parts(&h2, "/pay2"), None, Some(&key), t).await })
        })
        .collect();
    let mut oks = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => oks += 1,
            Err(r) => assert_eq!(r, Reason::Replay),
        }
    }
    assert_eq!(oks, 1);
    assert_eq!(metrics.total(), 0);
    eprintln!("fleet test: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_expires_the_key_when_the_window_ends() {
    let redis = RedisServer::start();
    let metrics = ReplayMetrics::unregistered().unwrap();
    let store = RedisStore::new(&redis.url(), Duration::from_millis(200), metrics).unwrap();
    let k = ReplayKey::of_signature(&[3u8; 64]);
    let t = now();
    assert_eq!(store.first_use(&k, t + 0.3, t).await, Ok(true));
    assert_eq!(store.first_use(&k, t + 0.3, t).await, Ok(false));
    // Once the window has passed, Redis has let the key go: a first use again.
    let expired = attestgate_testkit::eventually_async(Duration::from_secs(10), || async {
        store.first_use(&k, now() + 0.3, now()).await == Ok(true)
    })
    .await;
    assert!(expired, "the key outlived its window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_mid_test_refuses_or_allows_per_policy_and_counts() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    let registry = prometheus::Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let (refuse, _) = redis_signing(&redis.url(), OnStoreError::Refuse, &metrics);
    let (allow, _) = redis_signing(&redis.url(), OnStoreError::Allow, &metrics);
    let signer = InstallSigner::approov_test_key();
    let key = key();
    let fresh = |path: &'static str| {
        let t = now();
        (signed_get(&signer, t as i64, path), t)
    };

    let (h, t) = fresh("/before");
    assert_eq!(
        refuse
            .check(&parts(&h, "/before"), None, Some(&key), t)
            .await,
        Ok(())
    );
    let (h, t) = fresh("/before2");
    assert_eq!(
        allow
            .check(&parts(&h, "/before2"), None, Some(&key), t)
            .await,
        Ok(())
    );
    assert_eq!(metrics.total(), 0);

    redis.stop();
    let stopped = Instant::now();
    for i in 0..3 {
        let (h, t) = fresh("/down");
        let signed = refuse
            .verify(&parts(&h, "/down"), None, Some(&key), t)
            .unwrap()
            .unwrap();
        let begun = Instant::now();
        let got = refuse.check_replay(&signed, t).await;
        assert!(
            matches!(
                got,
                Err(ReplayError::Store(
                    StoreError::Unavailable | StoreError::Timeout
                ))
            ),
            "{i}: {got:?}"
        );
        assert!(
            begun.elapsed() < Duration::from_secs(2),
            "{:?}",
            begun.elapsed()
        );
        assert_eq!(Reason::from(got.unwrap_err()), Reason::Replay);
        let (h, t) = fresh("/down-allowed");
        assert_eq!(
            allow
                .check(&parts(&h, "/down-allowed"), None, Some(&key), t)
                .await,
            Ok(()),
            "{i}"
        );
    }
    assert!(metrics.total() >= 6, "{}", metrics.total());
    let text = {
        let mut out = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut out,
        )
        .unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(
        text.contains("attestgate_replay_store_errors_total{kind="),
        "{text}"
    );
    eprintln!("6 checks against a stopped redis: {:?}", stopped.elapsed());

    // Redis back on the same port: the store reconnects by itself.
    let _redis = RedisServer::start_on(port);
    let back = Instant::now();
    loop {
        let (h, t) = fresh("/after");
        match refuse
            .check(&parts(&h, "/after"), None, Some(&key), t)
            .await
        {
            Ok(()) => break,
            Err(_) if back.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("no reconnect after {:?}: {e}", back.elapsed()),
        }
    }
    eprintln!("reconnected after {:?}", back.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_never_answers_times_out_and_counts_a_timeout() {
    // A peer that accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut conns = Vec::new();
        while let Ok((c, _)) = listener.accept().await {
            conns.push(c);
        }
    });
    let registry = prometheus::Registry::new();
    let metrics = ReplayMetrics::register(&registry).unwrap();
    let store = RedisStore::new(
        &format!("redis://{addr}"),
        Duration::from_millis(150),
        metrics.clone(),
    )
    .unwrap();
    let k = ReplayKey::of_signature(&[5u8; 64]);
    let begun = Instant::now();
    let got = store.first_use(&k, now() + 60.0, now()).await;
    let took = begun.elapsed();
    assert_eq!(got, Err(StoreError::Timeout));
    assert!(
        took >= Duration::from_millis(140) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(metrics.total(), 1);
    held.abort();
}

#[test]
fn a_redis_policy_without_a_store_or_with_a_bad_url_is_refused() {
    assert!(
        MessageSigning::new(
            policy(
                ReplayMode::Redis,
                Some("redis://127.0.0.1:1".into()),
                OnStoreError::Refuse
            ),
            None
        )
        .is_err()
    );
    let m = ReplayMetrics::unregistered().unwrap();
    // outside a runtime: an error, not a panic
    assert!(matches!(
        RedisStore::new("redis://127.0.0.1:1", Duration::from_millis(100), m.clone()),
        Err(attestgate::msgsig::replay::RedisStoreError::NoRuntime)
    ));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    assert!(RedisStore::new("not a url", Duration::from_millis(100), m).is_err());
}

/// The front ends (Pingora, tower) need `Send` futures and shareable
/// checkers.
#[test]
fn the_checker_and_its_futures_are_send_and_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let signing = MessageSigning::new(MessageSigningPolicy::default(), None).unwrap();
    send_sync(&signing);
    let h = HeaderMap::new();
    let key = key();
    let req = parts(&h, "/");
    let fut = signing.check(&req, None, Some(&key), 0.0);
    send(&fut);
    let signed = attestgate::msgsig::Signed {
        replay_key: ReplayKey::of_signature(&[0; 64]),
        window_end: 1.0,
        created: 0,
    };
    send(&signing.check_replay(&signed, 0.0));
}

#[tokio::test(flavor = "current_thread")]
async fn an_outage_warns_once_and_never_logs_the_url_or_password() {
    let logs = attestgate_testkit::logs::Logs::default();
    let _guard = logs.install();
    // a port nobody listens on: bound on 127.0.0.1, then released, and
    // used on 127.0.0.43, where no other test's redis-server can take it
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = ReplayMetrics::unregistered().unwrap();
    let store = RedisStore::new(
        &format!("redis://:hunter2@127.0.0.43:{port}"),
        Duration::from_millis(100),
        metrics.clone(),
    )
    .unwrap();
    for i in 0..5u8 {
        let k = ReplayKey::of_signature(&[i; 64]);
        assert!(store.first_use(&k, now() + 60.0, now()).await.is_err());
    }
    assert_eq!(metrics.total(), 5);
    let text = logs.text();
    assert_eq!(
        text.matches("replay store (redis) did not answer").count(),
        1,
        "{text}"
    );
    assert!(
        !text.contains("hunter2") && !text.contains(&port.to_string()),
        "{text}"
    );
}

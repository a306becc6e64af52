//! A fleet of three real proxies on 127.0.0.1, 127.0.0.2 and 127.0.0.3
//! sharing one JWKS URL:
//!
//! - a key rotation at the issuer is picked up by all three within
//!   `min_refetch` of the first token with the new `kid`, with one early
//!   fetch each however many such tokens arrive;
//! - SIGTERM on one, under load from a client that spreads over all three
//!   and drops an instance once its `/readyz` goes 503, loses no request.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attestgate::Alg;
use attestgate::mint::{self, SigningKey};
use attestgate_testkit::client::Client;
use attestgate_testkit::jwks::{Answer, JwksServer};
use attestgate_testkit::proxy::{Proxy, Start};
use attestgate_testkit::upstream::{Behaviour, RecordingUpstream};
use attestgate_testkit::{eventually, holds_for};

const HOSTS: [&str; 3] = ["127.0.0.1", "127.0.0.2", "127.0.0.3"];
const MIN_REFETCH: Duration = Duration::from_secs(1);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_attestgate"))
}

fn key() -> SigningKey {
    SigningKey::from_pem(&mint::generate_pem(Alg::ES256).unwrap(), Alg::ES256).unwrap()
}

fn jwks(keys: &[(&SigningKey, &str)]) -> Answer {
    let keys: Vec<_> = keys
        .iter()
        .map(|(k, kid)| k.public_jwk(Some(kid)).unwrap())
        .collect();
    Answer::Jwks {
        body: serde_json::json!({ "keys": keys }).to_string(),
        max_age: None,
    }
}

fn token(key: &SigningKey, kid: &str) -> String {
    let exp = attestgate_testkit::now() + 600;
    mint::mint(key, Some(kid), &serde_json::json!({ "exp": exp })).unwrap()
}

async fn fleet(jwks_url: &str, upstream: &str) -> Vec<Proxy> {
    let config = format!(
        "[token]\nalgorithms = [\"ES256\"]\n[token.jwks]\nurl = \"{jwks_url}\"\nrefresh = \"10m\"\nmin_refetch = \"{}ms\"\ntimeout = \"2s\"\n\n[[route]]\nname = \"api\"\nupstream = \"{upstream}\"\n",
        MIN_REFETCH.as_millis()
    );
    let mut out = Vec::new();
    for host in HOSTS {
        out.push(
            Proxy::start_on_host(
                bin(),
                host,
                Start {
                    config: &config,
                    server_extra: "drain_delay = \"2s\"\ngrace_period = \"5s\"",
                    ..Start::default()
                },
            )
            .await,
        );
    }
    let c = Client::new();
    for p in &out {
        assert_eq!(p.addr.ip().to_string(), p.admin.ip().to_string());
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.get(&p.admin_url("/readyz"), &[]).await.status != 200 {
            assert!(Instant::now() < deadline, "{} never ready", p.addr);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_rotation_reaches_every_instance_within_min_refetch() {
    let (k1, k2) = (key(), key());
    let issuer = JwksServer::start(jwks(&[(&k1, "k1")])).await;
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let proxies = fleet(&issuer.url(), &up.url()).await;
    assert_eq!(issuer.fetches(), 3, "one fetch per instance at start");
    let c = Client::new();
    let old = token(&k1, "k1");
    for p in &proxies {
        assert_eq!(
            c.get(&p.url("/x"), &[("approov-token", &old)]).await.status,
            200
        );
    }
    // Let min_refetch pass since the start-up fetches.
    tokio::time::sleep(MIN_REFETCH + Duration::from_millis(200)).await;

    // The issuer rotates: k2 is published, and apps start sending it.
    issuer.set(jwks(&[(&k1, "k1"), (&k2, "k2")]));
    let new = token(&k2, "k2");
    let t0 = Instant::now();
    let mut picked_up = Vec::new();
    let mut refused = 0;
    for p in &proxies {
        // A burst of tokens with the new kid: refused until the keys come.
        loop {
            let status = c.get(&p.url("/x"), &[("approov-token", &new)]).await.status;
            if status == 200 {
                picked_up.push(t0.elapsed());
                break;
            }
            assert_eq!(status, 401, "unknown_key until the early fetch lands");
            refused += 1;
            assert!(
                t0.elapsed() < 3 * MIN_REFETCH,
                "{} never picked k2 up",
                p.addr
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    eprintln!(
        "rotation: picked up after {picked_up:?} (min_refetch {MIN_REFETCH:?}), {refused} requests refused meanwhile, {} JWKS fetches in all",
        issuer.fetches()
    );
    for (p, t) in proxies.iter().zip(&picked_up) {
        assert!(*t <= MIN_REFETCH, "{}: {t:?}", p.addr);
    }
    // More tokens with the new kid (now known) and a flood of unknown
    // kids: at most one more early fetch per instance per min_refetch.
    for p in &proxies {
        for i in 0..20 {
            let bogus = token(&k2, &format!("never-{i}"));
            assert_eq!(
                c.get(&p.url("/x"), &[("approov-token", &bogus)])
                    .await
                    .status,
                401
            );
        }
    }
    // Start-up + one early fetch each (already counted: every instance
    // had k2), + at most one more each for the flood, over a while.
    assert!(issuer.fetches() >= 6, "{}", issuer.fetches());
    assert!(
        holds_for(Duration::from_millis(300), || issuer.fetches() <= 9).await,
        "more than one early fetch per instance for the flood: {}",
        issuer.fetches()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_on_one_instance_under_load_loses_no_request() {
    let k1 = key();
    let issuer = JwksServer::start(jwks(&[(&k1, "k1")])).await;
    let up = RecordingUpstream::start(Behaviour::Echo).await;
    let mut proxies = fleet(&issuer.url(), &up.url()).await;
    let urls: Vec<String> = proxies.iter().map(|p| p.url("/load")).collect();
    let readyz: Vec<String> = proxies.iter().map(|p| p.admin_url("/readyz")).collect();

    // The client's view: which instances it may send to.
    let healthy = Arc::new(Mutex::new([true; 3]));
    let stop = Arc::new(AtomicBool::new(false));
    let served: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
    let failed = Arc::new(Mutex::new(Vec::<String>::new()));

    // Readiness watcher: drops an instance once /readyz is not 200.
    let watcher = {
        let (healthy, stop) = (healthy.clone(), stop.clone());
        tokio::spawn(async move {
            let c = Client::new();
            while !stop.load(Ordering::Relaxed) {
                for (i, url) in readyz.iter().enumerate() {
                    let ok = matches!(
                        c.try_send(attestgate_testkit::client::request("GET", url, &[], "")).await,
                        Ok(r) if r.status == 200
                    );
                    if !ok {
                        healthy.lock().unwrap()[i] = false;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // Eight clients spreading round-robin over the healthy instances.
    let tok = token(&k1, "k1");
    let mut workers = Vec::new();
    for w in 0..8usize {
        let (healthy, stop, served, failed, urls, tok) = (
            healthy.clone(),
            stop.clone(),
            served.clone(),
            failed.clone(),
            urls.clone(),
            tok.clone(),
        );
        workers.push(tokio::spawn(async move {
            let c = Client::new();
            let mut n = w;
            while !stop.load(Ordering::Relaxed) {
                let pick = {
                    let h = healthy.lock().unwrap();
                    (0..3).map(|j| (n + j) % 3).find(|&i| h[i])
                };
                n += 1;
                let Some(i) = pick else { break };
                let req = attestgate_testkit::client::request(
                    "GET",
                    &urls[i],
                    &[("approov-token", &tok)],
                    "",
                );
                match c.try_send(req).await {
                    Ok(r) if r.status == 200 => {
                        served[i].fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(r) => failed
                        .lock()
                        .unwrap()
                        .push(format!("instance {i}: status {}", r.status)),
                    Err(e) => failed.lock().unwrap().push(format!("instance {i}: {e}")),
                }
            }
        }));
    }

    // The load reaches all three before one is stopped.
    assert!(
        eventually(Duration::from_secs(10), || served
            .iter()
            .all(|n| n.load(Ordering::Relaxed) >= 20))
        .await,
        "the load never reached every instance"
    );
    let before = served[1].load(Ordering::Relaxed);
    let t0 = Instant::now();
    proxies[1].signal("TERM");
    // Under load the instance leaves the rotation through its /readyz...
    while healthy.lock().unwrap()[1] {
        assert!(
            t0.elapsed() < Duration::from_secs(2),
            "never saw /readyz 503"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dropped_after = t0.elapsed();
    let at_drop = served[1].load(Ordering::Relaxed);
    // ...the others carry on (the load runs until it has exited), and it
    // exits once drained.
    let exit = proxies[1]
        .wait_exit(Duration::from_secs(10))
        .await
        .expect("the terminated instance exits");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
    watcher.await.unwrap();
    assert!(exit.success(), "{exit}");

    let counts: Vec<usize> = served.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    let failed = failed.lock().unwrap().clone();
    eprintln!(
        "fleet under load: served {counts:?} (instance 1: {before} before SIGTERM, {at_drop} when dropped {dropped_after:?} after it, {} after), {} failed",
        counts[1],
        failed.len()
    );
    assert!(failed.is_empty(), "lost requests: {failed:?}");
    assert!(
        before > 0 && counts[0] > before && counts[2] > before,
        "{counts:?}"
    );
    assert!(
        counts[1] - at_drop <= 8,
        "at most the requests in flight at the drop"
    );
    assert!(dropped_after < Duration::from_secs(1), "{dropped_after:?}");
    assert_eq!(
        up.count(),
        counts.iter().sum::<usize>(),
        "every served request reached the upstream"
    );
}

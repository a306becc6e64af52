//! The refresher's loop on tokio's paused clock, with a scripted fetcher.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::options::JwksOptions;
use super::task::run;
use crate::clock;
use crate::jose::alg::Alg;
use crate::keys::fetch::{Fetched, Fetcher};
use crate::reason::Reason;
use crate::token::mint::{self, SigningKey};
use crate::verifier::Verifier;

const S: Duration = Duration::from_secs(1);

type Answer = Result<Fetched, String>;

/// A fetcher that answers from a script and records when it was called.
struct Script {
    calls: Arc<Mutex<Vec<(Instant, Option<String>)>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    then: fn() -> Answer,
    takes: Duration,
}

impl Fetcher for Script {
    fn fetch(&mut self, etag: Option<&str>) -> impl Future<Output = Answer> + Send {
        self.calls
            .lock()
            .unwrap()
            .push((Instant::now(), etag.map(str::to_owned)));
        let answer = self
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(self.then);
        let takes = self.takes;
        async move {
            tokio::time::sleep(takes).await;
            answer
        }
    }
}

struct Rig {
    verifier: Verifier,
    calls: Arc<Mutex<Vec<(Instant, Option<String>)>>>,
    answers: Arc<Mutex<VecDeque<Answer>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    start: Instant,
}

fn url_verifier(refresh: u64, min_refetch: u64) -> Verifier {
    Verifier::builder()
        .jwks_options(JwksOptions {
            url: Some("http://127.0.0.1:9/jwks.json".into()),
            refresh: Duration::from_secs(refresh),
            min_refetch: Duration::from_secs(min_refetch),
            ..JwksOptions::default()
        })
        .build()
        .unwrap()
}

fn rig(verifier: Verifier, answers: Vec<Answer>, then: fn() -> Answer, takes: Duration) -> Rig {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
    let script = Script {
        calls: calls.clone(),
        answers: answers.clone(),
        then,
        takes,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run(
        Arc::downgrade(&verifier.shared),
        Some(script),
        async move {
            let _ = stopped.await;
        },
    ));
    Rig {
        verifier,
        calls,
        answers,
        stop: Some(stop),
        task,
        start: Instant::now(),
    }
}

impl Rig {
    /// Call times, as offsets from the start.
    fn times(&self) -> Vec<Duration> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(t, _)| *t - self.start)
            .collect()
    }
    fn gaps(&self) -> Vec<Duration> {
        self.times().windows(2).map(|w| w[1] - w[0]).collect()
    }
    async fn stop(mut self) {
        drop(self.stop.take());
        tokio::time::timeout(S, self.task).await.unwrap().unwrap();
    }
}

fn es_key() -> SigningKey {
    SigningKey::from_pem(&mint::generate_pem(Alg::ES256).unwrap(), Alg::ES256).unwrap()
}

fn doc(keys: &[(&SigningKey, &str)]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|(k, kid)| k.public_jwk(Some(kid)).unwrap())
        .collect();
    serde_json::json!({ "keys": keys }).to_string()
}

fn body(doc: &str, etag: &str, max_age: Option<u64>) -> Answer {
    Ok(Fetched::Body {
        bytes: bytes::Bytes::from(doc.to_owned()),
        etag: Some(etag.into()),
        max_age: max_age.map(Duration::from_secs),
    })
}

fn not_modified() -> Answer {
    Ok(Fetched::NotModified { max_age: None })
}

fn status_500() -> Answer {
    Err("status 500".into())
}

fn token(key: &SigningKey, kid: &str) -> String {
    let exp = clock::now() as u64 + 3600;
    mint::mint(key, Some(kid), &serde_json::json!({ "exp": exp })).unwrap()
}

#[tokio::test(start_paused = true)]
async fn refreshes_every_refresh_minus_jitter_with_if_none_match() {
    let k = es_key();
    let v = url_verifier(300, 10);
    assert_eq!(
        v.verify_token(&token(&k, "k1")).unwrap_err(),
        Reason::NoKeys
    );
    let r = rig(
        v.clone(),
        vec![body(&doc(&[(&k, "k1")]), "\"e1\"", None)],
        not_modified,
        Duration::ZERO,
    );
    tokio::time::sleep(3600 * S).await;
    assert!(r.verifier.verify_token(&token(&k, "k1")).is_ok());
    let times = r.times();
    assert_eq!(times[0], Duration::ZERO, "the first fetch is at start");
    for g in r.gaps() {
        assert!(g >= 270 * S && g <= 300 * S, "{g:?}");
    }
    assert!((12..=14).contains(&times.len()), "{times:?}");
    let calls = r.calls.lock().unwrap().clone();
    assert_eq!(calls[0].1, None);
    assert!(
        calls[1..]
            .iter()
            .all(|(_, e)| e.as_deref() == Some("\"e1\""))
    );
    // 304s changed nothing: still the first swapped-in set.
    assert_eq!(r.verifier.keyset().generation(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn max_age_sets_the_pace_within_min_refetch_and_refresh() {
    let k = es_key();
    let d = doc(&[(&k, "k1")]);
    let answers = vec![
        body(&d, "\"a\"", Some(60)),
        body(&d, "\"a\"", Some(60)),
        body(&d, "\"a\"", Some(1)),
        body(&d, "\"a\"", Some(1)),
        body(&d, "\"a\"", Some(86_400)),
    ];
    let r = rig(url_verifier(300, 10), answers, not_modified, Duration::ZERO);
    tokio::time::sleep(1000 * S).await;
    let gaps = r.gaps();
    assert!(gaps[0] >= 54 * S && gaps[0] <= 60 * S, "{gaps:?}");
    assert!(gaps[1] >= 54 * S && gaps[1] <= 60 * S, "{gaps:?}");
    assert_eq!(
        gaps[2],
        10 * S,
        "max-age below min_refetch waits min_refetch"
    );
    assert_eq!(gaps[3], 10 * S);
    assert!(
        gaps[4] >= 270 * S && gaps[4] <= 300 * S,
        "max-age above refresh waits refresh: {gaps:?}"
    );
    // The same document again is no change: one swap in all.
    assert_eq!(r.verifier.keyset().generation(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failures_back_off_exponentially_keep_the_keys_and_recover() {
    let k = es_key();
    let d = doc(&[(&k, "k1")]);
    let mut answers = vec![body(&d, "\"a\"", None)];
    answers.extend((0..8).map(|_| status_500()));
    let r = rig(url_verifier(300, 10), answers, not_modified, Duration::ZERO);
    // Leave room for the first periodic refresh (270-300 s), the eight
    // failures (at most 10+20+40+80+160+300+300+300 s), the success after
    // them and one more periodic refresh (270-300 s each): at most 2110 s.
    // (2000 s, as it was, lost the eleventh fetch when the jitter drew low.)
    tokio::time::sleep(2400 * S).await;
    let gaps = r.gaps();
    assert!(gaps.len() >= 11, "{gaps:?}");
    let expected_top = [10u32, 20, 40, 80, 160, 300, 300, 300];
    for (i, top) in expected_top.iter().enumerate() {
        let g = gaps[i + 1];
        let top = S * *top;
        assert!(
            g <= top && g >= top.mul_f64(0.75).max(10 * S),
            "failure {}: {g:?}",
            i + 1
        );
    }
    // After the 9th fetch (a success) the pace is `refresh` again.
    assert!(gaps[9] >= 270 * S && gaps[9] <= 300 * S, "{gaps:?}");
    // Throughout, the keys stayed in service.
    assert!(r.verifier.verify_token(&token(&k, "k1")).is_ok());
    assert_eq!(r.verifier.keyset().generation(), 1);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_slow_fetch_counts_the_next_delay_from_its_end() {
    let k = es_key();
    let d = doc(&[(&k, "k1")]);
    let r = rig(
        url_verifier(300, 10),
        vec![status_500(), status_500(), body(&d, "\"a\"", None)],
        not_modified,
        4 * S,
    );
    tokio::time::sleep(100 * S).await;
    let gaps = r.gaps();
    // 4 s of fetch, then the backoff step (10 s, then 20 s, minus jitter).
    assert!(gaps[0] >= 4 * S + 10 * S && gaps[0] <= 14 * S, "{gaps:?}");
    assert!(gaps[1] >= 4 * S + 15 * S && gaps[1] <= 24 * S, "{gaps:?}");
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn unknown_kids_cause_one_early_fetch_per_min_refetch() {
    let k1 = es_key();
    let k2 = es_key();
    let r = rig(
        url_verifier(300, 10),
        vec![body(&doc(&[(&k1, "k1")]), "\"a\"", None)],
        not_modified,
        Duration::ZERO,
    );
    tokio::time::sleep(S).await;
    assert_eq!(r.times(), [Duration::ZERO]);
    // A flood of unknown kids at t = 1 s: rejected at once.
    for i in 0..500 {
        let t = token(&k1, &format!("random-{i}"));
        assert_eq!(r.verifier.verify_token(&t).unwrap_err(), Reason::UnknownKey);
    }
    // The issuer now publishes k2.
    r.answers
        .lock()
        .unwrap()
        .push_back(body(&doc(&[(&k1, "k1"), (&k2, "k2")]), "\"b\"", None));
    tokio::time::sleep(5 * S).await;
    assert_eq!(r.times().len(), 1, "not before min_refetch");
    tokio::time::sleep(5 * S).await;
    assert_eq!(
        r.times(),
        [Duration::ZERO, 10 * S],
        "one fetch at min_refetch after the last"
    );
    assert!(r.verifier.verify_token(&token(&k2, "k2")).is_ok());
    // A new flood at 11 s: the next early fetch at 20 s, not before.
    for i in 0..500 {
        let _ = r.verifier.verify_token(&token(&k1, &format!("again-{i}")));
    }
    tokio::time::sleep(100 * S).await;
    assert_eq!(r.times(), [Duration::ZERO, 10 * S, 20 * S]);
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_request_without_keys_asks_for_an_early_fetch() {
    let k = es_key();
    let d = doc(&[(&k, "k1")]);
    // Endpoint down at start: backoff would wait 10, 20, 40, ... s.
    let answers = vec![status_500(), status_500(), status_500(), status_500()];
    let r = rig(
        url_verifier(300, 10),
        answers,
        move || Err("status 503".into()),
        Duration::ZERO,
    );
    tokio::time::sleep(75 * S).await;
    // Fetches at 0, 10, 30, 70 (minus jitter); the next due is ~150 s.
    let before = r.times().len();
    assert_eq!(before, 4, "{:?}", r.times());
    assert!(!r.verifier.is_ready());
    r.answers.lock().unwrap().push_back(body(&d, "\"a\"", None));
    assert_eq!(
        r.verifier.verify_token(&token(&k, "k1")).unwrap_err(),
        Reason::NoKeys
    );
    tokio::time::sleep(10 * S).await;
    assert_eq!(
        r.times().len(),
        5,
        "the request's signal brought an early fetch"
    );
    assert!(r.verifier.verify_token(&token(&k, "k1")).is_ok());
    r.stop().await;
}

#[tokio::test(start_paused = true)]
async fn stops_when_every_clone_is_dropped() {
    let v = url_verifier(300, 10);
    let k = es_key();
    let r = rig(
        v,
        vec![body(&doc(&[(&k, "k1")]), "\"a\"", None)],
        not_modified,
        Duration::ZERO,
    );
    tokio::time::sleep(S / 2).await;
    let Rig {
        verifier,
        task,
        stop,
        ..
    } = r;
    drop(verifier);
    // Within one watch_interval (1 s), without the stop signal.
    tokio::time::timeout(2 * S, task).await.unwrap().unwrap();
    drop(stop);
}

#[tokio::test(start_paused = true)]
async fn nothing_to_refresh_returns_at_once_and_one_refresher_per_verifier() {
    let secret = mint::new_secret_base64().unwrap();
    let v = Verifier::builder()
        .secret_base64(&secret)
        .unwrap()
        .build()
        .unwrap();
    tokio::time::timeout(
        Duration::from_millis(1),
        v.run_refresher(std::future::pending()),
    )
    .await
    .unwrap();
    let h = v.spawn_refresher();
    tokio::task::yield_now().await;
    assert!(h.is_finished());

    let v = url_verifier(300, 10);
    let r = rig(v.clone(), vec![], status_500, Duration::ZERO);
    tokio::task::yield_now().await;
    // A second refresher on the same verifier: returns at once.
    tokio::time::timeout(
        Duration::from_millis(1),
        v.run_refresher(std::future::pending()),
    )
    .await
    .unwrap();
    r.stop().await;
    // Once the first has stopped, another may run.
    let second = rig(v, vec![], status_500, Duration::ZERO);
    tokio::time::sleep(S).await;
    assert_eq!(second.times().len(), 1);
    second.stop().await;
}

#[test]
fn the_refresher_future_is_send() {
    fn is_send<T: Send>(_: &T) {}
    let v = url_verifier(300, 10);
    let f = v.run_refresher(std::future::pending());
    is_send(&f);
}

//! Keys from files: a JWKS file and an HS256 secret file are re-read when
//! they change (atomic rename or in-place rewrite) while requests flow; a
//! half-written or invalid file keeps the last good keys.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attestgate::mint::{self, SigningKey};
use attestgate::{Alg, JwksOptions, Metrics, Reason, SecretSource, Verifier};
use attestgate_testkit::logs::Logs;
use attestgate_testkit::tokens::{TestKeys, claims};
use attestgate_testkit::{TempDir, eventually};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

fn metric(registry: &prometheus::Registry, name: &str, labels: &[&str]) -> f64 {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{text}"))
}

fn file_refreshes(r: &prometheus::Registry, result: &str) -> f64 {
    metric(
        r,
        "attestgate_keyset_refresh_total",
        &["source=\"file\"", &format!("result=\"{result}\"")],
    )
}

fn check(v: &Verifier, token: &str) -> Result<(), Reason> {
    let mut headers = http::HeaderMap::new();
    headers.insert("approov-token", token.parse().unwrap());
    v.check(&headers).map(|_| ())
}

/// Requests with a key present in every version of the file, on a thread of
/// their own, counting passes and failures.
struct Flow {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<Mutex<Vec<Reason>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Flow {
    fn start(v: &Verifier, mint: impl Fn(u64) -> String + Send + 'static) -> Flow {
        let (stop, ok, failed) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(Mutex::new(Vec::new())),
        );
        let thread = std::thread::spawn({
            let (v, stop, ok, failed) = (v.clone(), stop.clone(), ok.clone(), Arc::clone(&failed));
            move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match check(&v, &mint(n)) {
                        Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(reason) => {
                            failed.lock().unwrap().push(reason);
                            0
                        }
                    };
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        Flow {
            stop,
            ok,
            failed,
            thread,
        }
    }

    /// Stops; returns how many requests passed. Panics if any failed.
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let failed = self.failed.lock().unwrap();
        assert!(
            failed.is_empty(),
            "requests failed during the rotation: {failed:?}"
        );
        self.ok.load(Ordering::Relaxed)
    }
}

fn jwks(keys: &[(&SigningKey, &str)]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|(k, kid)| k.public_jwk(Some(kid)).unwrap())
        .collect();
    json!({ "keys": keys }).to_string()
}

#[tokio::test]
async fn a_jwks_file_is_reloaded_when_it_changes_while_requests_flow() {
    let logs = Logs::default();
    let _guard = logs.install();
    let keys = TestKeys::new();
    // Ed25519 key "ed-1" stays in every version; the flow signs with it.
    let ed_pem = mint::generate_pem(Alg::EdDSA).unwrap();
    let ed_key = || SigningKey::from_pem(&ed_pem, Alg::EdDSA).unwrap();
    let ed = ed_key();
    let dir = TempDir::new("jwks-file");
    let path = dir.write_atomic("jwks.json", jwks(&[(&ed, "ed-1"), (&keys.es, "es-1")]));
    let v = Verifier::builder()
        .jwks_options(JwksOptions {
            file: Some(path.clone()),
            watch_interval: Duration::from_millis(50),
            ..JwksOptions::default()
        })
        .build()
        .unwrap();
    let r = prometheus::Registry::new();
    v.attach_metrics(&Metrics::register(&r).unwrap());
    assert!(v.is_ready(), "a file is read when the verifier is built");
    let refresher = v.spawn_refresher();
    let flow_key = ed_key();
    let flow = Flow::start(&v, move |n| {
        mint::mint(&flow_key, Some("ed-1"), &claims(300, json!({ "jti": n }))).unwrap()
    });
    let es = keys.es256(300, json!({}));
    let rs = keys.rs256(300, json!({}));
    assert_eq!(check(&v, &es), Ok(()));
    assert_eq!(check(&v, &rs), Err(Reason::UnknownKey));

    // 1. Atomic rename: es-1 out, rs-1 in.
    let rotated = jwks(&[(&ed, "ed-1"), (&keys.rs, "rs-1")]);
    dir.write_atomic("jwks.json", &rotated);
    assert!(eventually(WAIT, || check(&v, &rs).is_ok()).await);
    assert_eq!(check(&v, &es), Err(Reason::UnknownKey));
    assert_eq!(file_refreshes(&r, "ok"), 1.0);
    let generation = v.keyset().generation();

    // 2. Half-written in place: the last good keys stay.
    std::fs::write(&path, &rotated[..rotated.len() / 2]).unwrap();
    assert!(eventually(WAIT, || file_refreshes(&r, "error") >= 1.0).await);
    assert_eq!(check(&v, &rs), Ok(()));
    assert_eq!(v.keyset().generation(), generation);

    // 3. Completed in place (same inode): es-1 back, rs-1 out.
    std::fs::write(&path, jwks(&[(&ed, "ed-1"), (&keys.es, "es-1")])).unwrap();
    assert!(eventually(WAIT, || check(&v, &es).is_ok()).await);
    assert_eq!(check(&v, &rs), Err(Reason::UnknownKey));

    // 4. A set with no usable key, then a missing file: no change.
    let errors = file_refreshes(&r, "error");
    dir.write_atomic("jwks.json", "{\"keys\":[]}");
    assert!(eventually(WAIT, || file_refreshes(&r, "error") >= errors + 1.0).await);
    std::fs::remove_file(&path).unwrap();
    assert!(eventually(WAIT, || file_refreshes(&r, "error") >= errors + 2.0).await);
    assert_eq!(check(&v, &es), Ok(()));
    assert_eq!(v.keyset().len(), 2);

    // 5. Back again.
    dir.write_atomic("jwks.json", &rotated);
    assert!(eventually(WAIT, || check(&v, &rs).is_ok()).await);

    let passed = flow.finish();
    assert!(passed > 10, "{passed}");
    refresher.shutdown().await;
    let text = logs.text();
    assert!(text.contains("EOF while parsing"), "{text}");
    assert!(text.contains("no usable key"), "{text}");
    assert!(text.contains("cannot read"), "{text}");
    let failures = text
        .lines()
        .filter(|l| l.contains("JWKS file not reloaded"))
        .count();
    assert_eq!(
        failures as f64,
        file_refreshes(&r, "error"),
        "one line per failure:\n{text}"
    );
    assert!(
        !text.contains("\"kty\""),
        "file content leaked into the logs:\n{text}"
    );
}

#[tokio::test]
async fn an_hs256_secret_file_is_reloaded_when_it_changes_while_requests_flow() {
    let logs = Logs::default();
    let _guard = logs.install();
    let dir = TempDir::new("secret-file");
    let [a, b, c, fixed] = [(); 4].map(|()| mint::new_secret_base64().unwrap());
    assert_eq!(
        b.len(),
        c.len(),
        "same size: only the content tells them apart"
    );
    let path = dir.write_atomic("account-secret", format!("{a}\n"));
    let v = Verifier::builder()
        .secret_source(SecretSource::File(path.clone()), None)
        .secret_base64(&fixed)
        .unwrap()
        .jwks_options(JwksOptions {
            watch_interval: Duration::from_millis(50),
            ..JwksOptions::default()
        })
        .build()
        .unwrap();
    let r = prometheus::Registry::new();
    v.attach_metrics(&Metrics::register(&r).unwrap());
    let refresher = v.spawn_refresher();
    let hs = |secret: &str| {
        let key = SigningKey::hs256_base64(secret).unwrap();
        move |n: u64| mint::mint(&key, None, &claims(300, json!({ "jti": n }))).unwrap()
    };
    let flow = Flow::start(&v, hs(&fixed));
    let (ta, tb, tc) = (hs(&a)(0), hs(&b)(0), hs(&c)(0));
    assert_eq!(check(&v, &ta), Ok(()));
    assert_eq!(check(&v, &tb), Err(Reason::BadSignature));

    // 1. Atomic rename to B.
    dir.write_atomic("account-secret", format!("{b}\n"));
    assert!(eventually(WAIT, || check(&v, &tb).is_ok()).await);
    assert_eq!(check(&v, &ta), Err(Reason::BadSignature));

    // 2. The start of C written in place (a torn write that stays): B stays.
    std::fs::write(&path, &c[..20]).unwrap();
    assert!(eventually(WAIT, || file_refreshes(&r, "error") >= 1.0).await);
    assert_eq!(check(&v, &tb), Ok(()));

    // 3. All of C in place, same size as B.
    std::fs::write(&path, &c).unwrap();
    assert!(eventually(WAIT, || check(&v, &tc).is_ok()).await);
    assert_eq!(check(&v, &tb), Err(Reason::BadSignature));
    assert_eq!(file_refreshes(&r, "ok"), 2.0);

    // 4. Junk, blank, missing: C stays.
    for (i, bad) in ["not base64! SECRETMARKER", "  \n", ""].iter().enumerate() {
        let errors = file_refreshes(&r, "error");
        if bad.is_empty() {
            std::fs::remove_file(&path).unwrap();
        } else {
            std::fs::write(&path, bad).unwrap();
        }
        assert!(
            eventually(WAIT, || file_refreshes(&r, "error") > errors).await,
            "step {i}"
        );
        assert_eq!(check(&v, &tc), Ok(()));
    }

    let passed = flow.finish();
    assert!(passed > 10, "{passed}");
    refresher.shutdown().await;
    let text = logs.text();
    for reason in [
        "decodes to",
        "is not valid base64",
        "is empty",
        "cannot read secret file",
    ] {
        assert!(text.contains(reason), "no {reason:?} in:\n{text}");
    }
    for secret in [&a[..], &b[..], &c[..], &fixed[..], &c[..20]] {
        assert!(!text.contains(secret), "a secret leaked into the logs");
    }
    assert!(
        !text.contains("SECRETMARKER"),
        "file content leaked into the logs:\n{text}"
    );
}

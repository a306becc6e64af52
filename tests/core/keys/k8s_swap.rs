//! The Kubernetes ConfigMap/Secret update, as the kubelet does it: the
//! files are symlinks through `..data`, itself a symlink to a timestamped
//! folder; an update writes a new folder, points a temporary symlink at it
//! and renames that over `..data` (one atomic step), then deletes the old
//! folder. The one file watcher must pick up the new secret file, JWKS file
//! and substitution secret, and ignore a swap that changes nothing.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use attestgate::mint::{self, SigningKey};
use attestgate::substitute::{LiveSecret, check_header_value};
use attestgate::{JwksOptions, Metrics, SecretSource, Verifier};
use attestgate_testkit::tokens::TestKeys;
use attestgate_testkit::{TempDir, eventually, holds_for};

const WAIT: Duration = Duration::from_secs(10);

/// One kubelet projection: writes `files` into a new timestamped folder and
/// swaps `..data` to it atomically; the first call also makes the
/// top-level symlinks. Returns the folder's name.
fn project(dir: &Path, generation: u32, files: &[(&str, String)]) -> String {
    let stamp = format!("..2026_12_01_20_00_{generation:02}.{:09}", generation * 7);
    std::fs::create_dir(dir.join(&stamp)).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(&stamp).join(name), content).unwrap();
    }
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp = dir.join("..data_tmp");
    symlink(&stamp, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for (name, _) in files {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(name), &link).unwrap();
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).unwrap();
    }
    stamp
}

fn jwks_of(key: &SigningKey, kid: &str) -> String {
    serde_json::json!({ "keys": [key.public_jwk(Some(kid)).unwrap()] }).to_string()
}

fn es256() -> SigningKey {
    SigningKey::from_pem(
        &mint::generate_pem(attestgate::Alg::ES256).unwrap(),
        attestgate::Alg::ES256,
    )
    .unwrap()
}

fn token(key: &SigningKey, kid: Option<&str>) -> String {
    let exp = attestgate_testkit::now() + 300;
    mint::mint(key, kid, &serde_json::json!({ "exp": exp })).unwrap()
}

fn file_reloads(registry: &prometheus::Registry) -> f64 {
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .unwrap();
    text.lines()
        .find(|l| {
            l.starts_with("attestgate_keyset_refresh_total")
                && l.contains("source=\"file\"")
                && l.contains("result=\"ok\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_kubernetes_symlink_swap_reloads_secret_jwks_and_substitution_files() {
    let dir = TempDir::new("k8s-swap");
    let (s1, s2) = (TestKeys::new(), TestKeys::new());
    let (e1, e2) = (es256(), es256());
    let files = |keys: &TestKeys, es: &SigningKey, kid: &str, api: &str| {
        vec![
            ("approov-secret", format!("{}\n", keys.secret_b64)),
            ("jwks.json", jwks_of(es, kid)),
            ("api-key", format!("{api}\n")),
        ]
    };
    project(dir.path(), 1, &files(&s1, &e1, "k1", "api-key-one"));

    let verifier = Verifier::builder()
        .secret_source(SecretSource::File(dir.join("approov-secret")), None)
        .jwks_options(JwksOptions {
            file: Some(dir.join("jwks.json")),
            watch_interval: Duration::from_millis(50),
            ..JwksOptions::default()
        })
        .build()
        .unwrap();
    let registry = prometheus::Registry::new();
    verifier.attach_metrics(&Metrics::register(&registry).unwrap());
    let live =
        LiveSecret::load(SecretSource::File(dir.join("api-key")), check_header_value).unwrap();
    let _refresher = verifier.spawn_refresher();

    let hs1 = s1.hs256(300, serde_json::json!({}));
    let hs2 = s2.hs256(300, serde_json::json!({}));
    assert!(verifier.verify_token(&hs1).is_ok());
    assert!(verifier.verify_token(&token(&e1, Some("k1"))).is_ok());
    assert!(verifier.verify_token(&hs2).is_err());
    assert_eq!(live.get().expose(), b"api-key-one");

    // The kubelet swaps in new values.
    project(dir.path(), 2, &files(&s2, &e2, "k2", "api-key-two"));
    assert!(
        eventually(WAIT, || verifier.verify_token(&hs2).is_ok()
            && verifier.verify_token(&token(&e2, Some("k2"))).is_ok())
        .await,
        "the new secret and JWKS were not picked up"
    );
    assert!(
        verifier.verify_token(&hs1).is_err(),
        "the old secret is gone"
    );
    assert!(
        verifier.verify_token(&token(&e1, Some("k1"))).is_err(),
        "the old key is gone"
    );
    assert!(
        eventually(WAIT, || live.reload_if_changed().unwrap()).await,
        "the substitution secret was not reloaded"
    );
    assert_eq!(live.get().expose(), b"api-key-two");

    // Every reload of the swap is counted once the count holds still over
    // a few of the watcher's polls (every 50ms).
    let reloads = loop {
        let r = file_reloads(&registry);
        if holds_for(Duration::from_millis(300), || file_reloads(&registry) == r).await {
            break r;
        }
    };
    // A resync that projects the same content into a new folder: a new
    // inode, the same bytes, so nothing is reloaded (watched over many
    // polls).
    let generation = verifier.keyset().generation();
    project(dir.path(), 3, &files(&s2, &e2, "k2", "api-key-two"));
    let unchanged = || {
        !live.reload_if_changed().unwrap()
            && file_reloads(&registry) == reloads
            && verifier.keyset().generation() == generation
    };
    assert!(
        holds_for(Duration::from_millis(800), unchanged).await,
        "same content: reloaded ({} reloads, was {reloads})",
        file_reloads(&registry)
    );
    assert_eq!(verifier.keyset().generation(), generation, "no new key set");
    assert!(verifier.verify_token(&hs2).is_ok());
}

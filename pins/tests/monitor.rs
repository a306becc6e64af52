//! What the proxy's monitor will run, at the crate level: `check_domains`
//! against rustls servers on 127.0.0.1 and 127.0.0.2; one server's
//! certificate is swapped to an unpinned key while they run, and the
//! results (and the state changes) show the mismatch for that address
//! only, then the recovery when it is swapped back.

use attestgate_pins::check::{self, AddressStatus, PinResult};
use attestgate_pins::monitor::{Change, States};
use attestgate_pins::{PinsFile, clock};
use attestgate_testkit::TempDir;
use attestgate_testkit::pki::*;
use attestgate_testkit::tls::serve_swappable;

/// One monitor round: check, flatten, note what changed.
async fn round(file: &PinsFile, states: &mut States) -> (Vec<AddressStatus>, Vec<Change>) {
    let checks = check::check_domains(&file.domains, clock::now_unix()).await;
    let rows = check::statuses(&checks);
    let changes = states.update(&rows);
    (rows, changes)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_swapped_certificate_shows_for_its_address_only() {
    let root = root("monitor root");
    let inter = intermediate("monitor inter", &root);
    let host = "api.monitor.test";
    let key = p256();
    let chain = || vec![leaf(&[host], &key, &inter, 60), inter.der()];
    let (a, _) = serve_swappable("127.0.0.1", chain(), &key).await;
    let (b, swap_b) = serve_swappable("127.0.0.2", chain(), &key).await;
    let dir = TempDir::new("monitor");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    let backup = key_pin(&p256());
    std::fs::write(
        dir.join("pins.toml"),
        format!(
            "[[domain]]\nname = \"{host}\"\naddresses = [\"{a}\", \"{b}\"]\nca_file = \"ca.pem\"\ntimeout = \"3s\"\npins = [{{ sha256 = \"{}\" }}, {{ sha256 = \"{backup}\" }}]\n",
            key_pin(&key)
        ),
    )
    .unwrap();
    let file = PinsFile::load(&dir.join("pins.toml")).unwrap();
    let mut states = States::new();
    let (rows, changes) = round(&file, &mut states).await;
    assert!(
        rows.iter().all(|r| r.result == PinResult::Match),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| r.expiry_seconds.unwrap() > 59 * 86_400));
    assert_eq!(changes, vec![]);

    // 127.0.0.2 now serves a new key nobody pinned.
    let rogue = p256();
    swap_b.set(vec![leaf(&[host], &rogue, &inter, 60), inter.der()], &rogue);
    let (rows, changes) = round(&file, &mut states).await;
    let results: Vec<(String, PinResult)> = rows
        .iter()
        .map(|r| (r.address.unwrap().to_string(), r.result))
        .collect();
    assert_eq!(
        results,
        vec![
            (a.to_string(), PinResult::Match),
            (b.to_string(), PinResult::Mismatch)
        ]
    );
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].address, Some(b));
    assert!(changes[0].is_bad());
    // Checked again, nothing new to say.
    let (_, changes) = round(&file, &mut states).await;
    assert_eq!(changes, vec![]);

    // Swapped back: it recovers, one change.
    swap_b.set(chain(), &key);
    let (rows, changes) = round(&file, &mut states).await;
    assert!(rows.iter().all(|r| r.result == PinResult::Match));
    assert_eq!(changes.len(), 1);
    assert_eq!(
        (changes[0].address, changes[0].to),
        (Some(b), Some(PinResult::Match))
    );
}

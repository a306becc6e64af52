//! `pins check-cert` through the real binary: a table of chains, each
//! row's verdict written per platform next to it, with the platform rule
//! that decides it.
//!
//! Verdict letters, in the order android, ios, okhttp (4.3+), okhttp3
//! (3.x), trustkit: `A` accepts, `R` refuses. Rules cited:
//!
//! - [path] every platform validates the chain before it looks at a pin,
//!   and builds it to a root of its store, trying the store before the
//!   intermediates sent (Android TrustManagerImpl; OkHttp's
//!   CertificateChainCleaner; Apple SecTrust). A pin never makes an
//!   untrusted chain acceptable.
//! - [dates] every certificate of the path must be valid at the time of the
//!   connection (RFC 5280 §6.1.3); check-cert judges now and `--at`.
//! - [name] subjectAltName dNSName, `*.` one label (RFC 6125 §6.4.3);
//!   the common name is not read (Apple HT210176, Android 9+, webpki).
//! - [android-pins] `<pin-set>`: a chain is accepted when any certificate
//!   of the built chain has a pinned key; after `expiration` no pin is
//!   checked (Android "Network security configuration").
//! - [ios-pins] `NSPinnedLeafIdentities` match the leaf,
//!   `NSPinnedCAIdentities` any CA certificate of the built chain; no
//!   expiry (Apple "Identity Pinning").
//! - [okhttp-pins] `CertificatePinner`: any certificate of the cleaned
//!   chain; `*.` one label; `**.` any depth from 4.3.0, a literal host on
//!   3.x (OkHttp docs and change log).
//! - [trustkit-pins] any certificate of the chain; `kTSKExpirationDate`.
//! - [apple-eku] / [apple-825]: iOS 13+ require EKU serverAuth and at most
//!   825 days of validity for certificates issued from 2019-07-01 (Apple
//!   HT210176).
//! - [aia] Apple fetches a missing issuer from the leaf's AIA caIssuers
//!   URL; Android and OkHttp build only from what the server sent and the
//!   store.
//!
//! Then every row is served for real (rustls + hyper on 127.0.0.1) and
//! requested by Debian's OkHttp 3.13.1 with the `CertificatePinner` of
//! `pins render --format okhttp`, compiled (okhttp_kit.rs): OkHttp must do
//! what the kit's `okhttp3` verdict says, as of now.

use attestgate_testkit::TempDir;
use std::path::{Path, PathBuf};

use attestgate_testkit::pki::*;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_attestgate");
const PLATFORMS: [&str; 5] = ["android", "ios", "okhttp", "okhttp3", "trustkit"];

struct Row {
    name: &'static str,
    host: &'static str,
    chain: Vec<CertificateDer<'static>>,
    roots: &'static str,
    extra: Vec<&'static str>,
    /// Per platform, android ios okhttp okhttp3 trustkit.
    expect: &'static str,
    /// The column a refusal must name.
    column: &'static str,
    rule: &'static str,
}

fn write(dir: &Path, name: &str, chain: &[CertificateDer<'_>]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, chain_pem(chain)).unwrap();
    p
}

#[test]
fn every_chain_gets_each_platforms_verdict() {
    let dir = TempDir::new("check-cert");
    let old_root = root("old root R");
    let new_key = p256();
    let new_root = root_with("new root N", copy(&new_key));
    let cross = cross_signed("new root N", copy(&new_key), &old_root);
    let inter = intermediate("issuing I", &old_root);
    let inter_n = intermediate("issuing IN", &new_root);
    let stranger = root("unknown root U");
    let inter_u = intermediate("issuing IU", &stranger);
    let (a, b, c) = (p256(), p256(), p256());
    let (rsa, rsa_pin) = rsa_key(BIN, &dir);
    let spare_root = key_pin(&p256());
    std::fs::write(
        dir.join("roots.pem"),
        format!("{}{}", old_root.pem(), new_root.pem()),
    )
    .unwrap();
    std::fs::write(dir.join("roots-old.pem"), old_root.pem()).unwrap();
    std::fs::write(dir.join("inter.pem"), inter.pem()).unwrap();
    let leafs = |extra: &str| {
        format!(
            "pins = [\n {{ sha256 = \"{}\", label = \"in service\" }},\n {{ sha256 = \"{}\", label = \"backup\" }},\n {{ sha256 = \"{rsa_pin}\", label = \"rsa backup\" }},\n]\n{extra}",
            key_pin(&a),
            key_pin(&b)
        )
    };
    let cas = |pin: &str| {
        format!(
            "pins = [\n {{ sha256 = \"{pin}\", kind = \"ca\", label = \"root\" }},\n {{ sha256 = \"{spare_root}\", kind = \"ca\", label = \"spare root\" }},\n]\n"
        )
    };
    let toml = format!(
        "[[domain]]\nname = \"api.rot.test\"\nca_file = \"roots.pem\"\n{}\n\
         [[domain]]\nname = \"sub.rot.test\"\ninclude_subdomains = true\nca_file = \"roots.pem\"\n{}\n\
         [[domain]]\nname = \"expired.rot.test\"\nexpires = \"2020-01-01\"\nca_file = \"roots.pem\"\n{}\n\
         [[domain]]\nname = \"cross.rot.test\"\n{}\n\
         [[domain]]\nname = \"oldroot.rot.test\"\n{}\n\
         [[domain]]\nname = \"both.rot.test\"\nca_file = \"roots.pem\"\npins = [\n {{ sha256 = \"{}\", kind = \"leaf\" }},\n {{ file = \"inter.pem\", label = \"issuing I\" }},\n]\n",
        leafs(""),
        leafs(""),
        leafs(""),
        cas(&new_root.pin),
        cas(&old_root.pin),
        key_pin(&a),
    );
    std::fs::write(dir.join("pins.toml"), toml).unwrap();
    let api = ["api.rot.test"];
    let by_i = |l: LeafSpec<'_>| vec![l.signed_by(&inter), inter.der()];
    let inter2 = intermediate("issuing I2", &old_root);
    let both = ["both.rot.test"];
    let rows = vec![
        Row {
            name: "renewal with the same key",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &a)),
            roots: "roots.pem",
            extra: vec![],
            expect: "AAAAA",
            column: "",
            rule: "[android-pins] [ios-pins] [okhttp-pins] [trustkit-pins]: the leaf key is pinned",
        },
        Row {
            name: "a new key nobody pinned",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &c)),
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "pins",
            rule: "no certificate of the chain has a pinned key, on any platform",
        },
        Row {
            name: "the backup key goes into service",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &b)),
            roots: "roots.pem",
            extra: vec![],
            expect: "AAAAA",
            column: "",
            rule: "the backup pin shipped beside the key in service",
        },
        Row {
            name: "an RSA-2048 leaf (the RSA backup key)",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &rsa)),
            roots: "roots.pem",
            extra: vec![],
            expect: "AAAAA",
            column: "",
            rule: "RSA 2048 with SHA-256 is accepted everywhere (Apple HT210176: RSA >= 2048)",
        },
        Row {
            name: "a self-signed leaf with the pinned key",
            host: "api.rot.test",
            chain: vec![LeafSpec::new(&api, &a).self_signed()],
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "chain",
            rule: "[path]: not issued by a trusted root; the pin does not rescue it",
        },
        Row {
            name: "an unknown root",
            host: "api.rot.test",
            chain: vec![LeafSpec::new(&api, &a).signed_by(&inter_u), inter_u.der()],
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "chain",
            rule: "[path]: U is in no store",
        },
        Row {
            name: "an expired leaf",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &a).days(-100, -10)),
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "date",
            rule: "[dates]",
        },
        Row {
            name: "a leaf not yet valid",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &a).days(10, 100)),
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "date",
            rule: "[dates]",
        },
        Row {
            name: "valid now, expired at the planned deployment (--at +30d)",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &a).days(-1, 20)),
            roots: "roots.pem",
            extra: vec!["--at", "+30d"],
            expect: "RRRRR",
            column: "date",
            rule: "[dates] at --at",
        },
        Row {
            name: "a name that does not cover the host",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&["other.rot.test"], &a)),
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "name",
            rule: "[name]",
        },
        Row {
            name: "a wildcard name, one label",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&["*.rot.test"], &a)),
            roots: "roots.pem",
            extra: vec![],
            expect: "AAAAA",
            column: "",
            rule: "[name]: *.rot.test covers api.rot.test",
        },
        Row {
            name: "a wildcard two labels up",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&["*.test"], &a)),
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "name",
            rule: "[name]: *.test covers one label only",
        },
        Row {
            name: "missing intermediate, its AIA URL fetched by Apple",
            host: "api.rot.test",
            chain: vec![
                LeafSpec::new(&api, &a)
                    .aia("http://127.0.0.1:9/issuing-i.der")
                    .signed_by(&inter),
            ],
            roots: "roots.pem",
            extra: vec!["--aia-issuer", "inter.pem"],
            expect: "RARRA",
            column: "chain",
            rule: "[aia]: iOS and TrustKit fetch I; Android and OkHttp do not",
        },
        Row {
            name: "missing intermediate, nothing to fetch it from",
            host: "api.rot.test",
            chain: vec![LeafSpec::new(&api, &a).signed_by(&inter)],
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "chain",
            rule: "[path]: no AIA URL, nobody can find I",
        },
        Row {
            name: "validity of 900 days under a private root",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &a).days(-1, 899)),
            roots: "roots.pem",
            extra: vec![],
            expect: "ARAAR",
            column: "date",
            rule: "[apple-825]",
        },
        Row {
            name: "a leaf without extended key usage",
            host: "api.rot.test",
            chain: by_i(LeafSpec::new(&api, &a).no_eku()),
            roots: "roots.pem",
            extra: vec![],
            expect: "ARAAR",
            column: "chain",
            rule: "[apple-eku]; RFC 5280 lets others take it",
        },
        Row {
            name: "cross-signed root, device trusting only the old root",
            host: "cross.rot.test",
            chain: vec![
                LeafSpec::new(&["cross.rot.test"], &c).signed_by(&inter_n),
                inter_n.der(),
                cross.der(),
            ],
            roots: "roots-old.pem",
            extra: vec![],
            expect: "AAAAA",
            column: "",
            rule: "[path] ends at R through the cross-signature, which carries N's key: the pin on N matches [ios-pins: a CA of the chain]",
        },
        Row {
            name: "cross-signed root, device trusting the new root",
            host: "cross.rot.test",
            chain: vec![
                LeafSpec::new(&["cross.rot.test"], &c).signed_by(&inter_n),
                inter_n.der(),
                cross.der(),
            ],
            roots: "roots.pem",
            extra: vec![],
            expect: "AAAAA",
            column: "",
            rule: "[path] ends at N, the store's own copy (never sent): its pin matches",
        },
        Row {
            name: "pin on the old root, device trusting the new root",
            host: "oldroot.rot.test",
            chain: vec![
                LeafSpec::new(&["oldroot.rot.test"], &c).signed_by(&inter_n),
                inter_n.der(),
                cross.der(),
            ],
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "pins",
            rule: "[path] ends at N before reaching R: R's key is in no certificate of the built chain",
        },
        Row {
            name: "pin on the old root, device trusting only the old root",
            host: "oldroot.rot.test",
            chain: vec![
                LeafSpec::new(&["oldroot.rot.test"], &c).signed_by(&inter_n),
                inter_n.der(),
                cross.der(),
            ],
            roots: "roots-old.pem",
            extra: vec![],
            expect: "AAAAA",
            column: "",
            rule: "[path] ends at R, never sent, from the store: its pin matches",
        },
        Row {
            name: "pin set expired, unpinned key",
            host: "expired.rot.test",
            chain: by_i(LeafSpec::new(&["expired.rot.test"], &c)),
            roots: "roots.pem",
            extra: vec![],
            expect: "ARRRA",
            column: "pins",
            rule: "[android-pins] [trustkit-pins] stop pinning after the expiry; iOS and OkHttp have none",
        },
        Row {
            name: "one label below an include_subdomains domain, unpinned key",
            host: "x.sub.rot.test",
            chain: by_i(LeafSpec::new(&["x.sub.rot.test"], &c)),
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRRR",
            column: "pins",
            rule: "[okhttp-pins] *.sub.rot.test on every OkHttp; NSIncludesSubdomains; includeSubdomains",
        },
        Row {
            name: "two labels below an include_subdomains domain, unpinned key",
            host: "a.b.sub.rot.test",
            chain: by_i(LeafSpec::new(&["a.b.sub.rot.test"], &c)),
            roots: "roots.pem",
            extra: vec![],
            expect: "RRRAR",
            column: "pins",
            rule: "[okhttp-pins] **.sub.rot.test needs 4.3.0: OkHttp 3.x pins nothing there",
        },
        Row {
            name: "leaf and CA pins, pinned leaf under another intermediate",
            host: "both.rot.test",
            chain: vec![LeafSpec::new(&both, &a).signed_by(&inter2), inter2.der()],
            roots: "roots.pem",
            extra: vec![],
            expect: "ARAAA",
            column: "pins",
            rule: "[ios-pins]: both kinds given, both must match (I is not in the chain); [android-pins]: any one pin",
        },
        Row {
            name: "leaf and CA pins, new key under the pinned intermediate",
            host: "both.rot.test",
            chain: vec![LeafSpec::new(&both, &c).signed_by(&inter), inter.der()],
            roots: "roots.pem",
            extra: vec![],
            expect: "ARAAA",
            column: "pins",
            rule: "[ios-pins]: the leaf identity must match too; [okhttp-pins]: I is enough",
        },
    ];
    let mut failures = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let file = write(&dir, &format!("row{i}.pem"), &row.chain);
        let out = std::process::Command::new(BIN)
            .args(["pins", "check-cert", "--json", "--config"])
            .arg(dir.join("pins.toml"))
            .args(["--domain", row.host, "--ca-file"])
            .arg(dir.join(row.roots))
            .args(row.extra.iter().map(|e| {
                if e.ends_with(".pem") {
                    dir.join(e).display().to_string()
                } else {
                    (*e).to_owned()
                }
            }))
            .arg(&file)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}: {}", row.name, String::from_utf8_lossy(&out.stderr)));
        let got: String = PLATFORMS
            .iter()
            .map(|p| {
                let verdict = v["verdicts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|x| x["platform"] == *p)
                    .unwrap();
                if verdict["accepts"] == true { 'A' } else { 'R' }
            })
            .collect();
        let want_code = if row.expect.contains('R') { 1 } else { 0 };
        if got != row.expect || out.status.code() != Some(want_code) {
            failures.push(format!(
                "{}: got {got} (exit {:?}), want {} ({})\n{v:#}",
                row.name,
                out.status.code(),
                row.expect,
                row.rule
            ));
            continue;
        }
        for (p, letter) in PLATFORMS.iter().zip(row.expect.chars()) {
            let verdict = v["verdicts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["platform"] == *p)
                .unwrap();
            if letter == 'R' && verdict[row.column]["ok"] != false {
                failures.push(format!(
                    "{}: {p} refuses, but not by its {} column: {verdict:#}",
                    row.name, row.column
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows wrong:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
    assert!(rows.len() >= 12);
    eprintln!(
        "check-cert table: {} rows x {} platforms",
        rows.len(),
        PLATFORMS.len()
    );

    // Real OkHttp on every row.
    super::okhttp::kit::need_okhttp();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let keys = [&a, &b, &c, &rsa];
    let ports: Vec<u16> = rows
        .iter()
        .map(|row| {
            let leaf_pin = attestgate_pins::fetch::ChainCert::from_der(0, &row.chain[0])
                .pin
                .unwrap()
                .to_base64();
            let key = keys.iter().find(|k| key_pin(k) == leaf_pin).unwrap();
            rt.block_on(super::okhttp::kit::serve_https(row.chain.clone(), key))
                .port()
        })
        .collect();
    let kotlin = super::okhttp::kit::run(
        std::process::Command::new(BIN)
            .args(["pins", "render", "--format", "okhttp", "--config"])
            .arg(dir.join("pins.toml")),
    );
    let classes = super::okhttp::kit::compile(&dir, &kotlin);
    let file = attestgate_pins::PinsFile::load(&dir.join("pins.toml")).unwrap();
    let now = attestgate_pins::clock::now_unix();
    let mut disagreements = Vec::new();
    for roots_file in ["roots.pem", "roots-old.pem"] {
        let which: Vec<usize> = (0..rows.len())
            .filter(|&i| rows[i].roots == roots_file)
            .collect();
        let cases: Vec<(String, u16)> = which
            .iter()
            .map(|&i| (rows[i].host.to_owned(), ports[i]))
            .collect();
        let answers = super::okhttp::kit::connect_all(&classes, &dir.join(roots_file), &cases);
        let roots = attestgate_pins::fetch::load_roots(Some(&dir.join(roots_file))).unwrap();
        for (&i, got) in which.iter().zip(&answers) {
            let row = &rows[i];
            let domain = file
                .domains
                .iter()
                .find(|d| row.host == d.name || row.host.ends_with(&format!(".{}", d.name)))
                .unwrap();
            let chain: Vec<Vec<u8>> = row.chain.iter().map(|c| c.to_vec()).collect();
            let j = attestgate_pins::check::judge(
                &chain,
                &attestgate_pins::check::PinSet::from(domain),
                row.host,
                &[now],
                &roots,
                &[],
            );
            let kit = j.of(attestgate_pins::check::Platform::Okhttp3).unwrap();
            if !super::okhttp::kit::agrees(kit, got) {
                disagreements.push(format!(
                    "{}: OkHttp 3.13.1 said {got:?}; the kit: {} ({})",
                    row.name,
                    if kit.accepts { "accepts" } else { "refuses" },
                    kit.reason
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} rows:\n{}",
        disagreements.len(),
        rows.len(),
        disagreements.join("\n")
    );
    eprintln!(
        "check-cert table: real OkHttp 3.13.1 agrees with the kit's okhttp3 verdict on all {} rows",
        rows.len()
    );
}

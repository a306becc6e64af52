//! Real OkHttp against the kit. `pins render --format okhttp` is compiled
//! with kotlinc (Debian's `kotlin`) against Debian's OkHttp
//! (`libokhttp-java`, 3.13.1); a small Java harness (okhttp/PinCheck.java)
//! makes real HTTPS requests with that `CertificatePinner` to real
//! servers here (rustls + hyper on 127.0.0.1, rcgen chains), every case
//! in one JVM. Each outcome must be the kit's own verdict for OkHttp 3.x
//! (`check::platform::judge`, platform `okhttp3`): connected when it
//! accepts; "Certificate pinning failure" when it refuses by pins; a
//! handshake or hostname failure when it refuses by chain, date or name.
//!
//! The peers come from scripts/ensure-tools; a missing one fails the test.

pub(super) mod kit;

use attestgate_testkit::TempDir;
use std::process::Command;

use attestgate_pins::check::platform::{self, PinSet, Platform};
use attestgate_pins::fetch::Roots;
use attestgate_testkit::pki::*;
use kit::{agrees, compile, connect_all, need_okhttp, run, serve_https};
use rcgen::KeyPair;
use rustls_pki_types::CertificateDer;

struct Case {
    host: &'static str,
    server: usize,
    why: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_okhttp_agrees_with_the_kit_on_every_case() {
    need_okhttp();
    let dir = TempDir::new("okhttp");
    let root = root("okhttp test root R");
    let inter = intermediate("okhttp issuing I", &root);
    let inter2 = intermediate("okhttp issuing I2", &root);
    let (a, b, c) = (p256(), p256(), p256());
    // a new root N, trusted by the client too, and its cross-signature by R
    let n_key = p256();
    let new_root = root_with("okhttp new root N", copy(&n_key));
    let cross = cross_signed("okhttp new root N", n_key, &root);
    let inter_n = intermediate("okhttp issuing IN", &new_root);
    let names = [
        "newroot.ok.test",
        "leaf.ok.test",
        "inter.ok.test",
        "root.ok.test",
        "sub.ok.test",
        "x.sub.ok.test",
        "a.b.sub.ok.test",
    ];
    let chains: Vec<(Vec<CertificateDer<'static>>, &KeyPair)> = vec![
        // 0: the pinned leaf key A under I
        (
            vec![LeafSpec::new(&names, &a).signed_by(&inter), inter.der()],
            &a,
        ),
        // 1: an unpinned key C under I
        (
            vec![LeafSpec::new(&names, &c).signed_by(&inter), inter.der()],
            &c,
        ),
        // 2: the unpinned key C under I2 (neither intermediate nor root pinned)
        (
            vec![LeafSpec::new(&names, &c).signed_by(&inter2), inter2.der()],
            &c,
        ),
        // 3: the pinned key A, expired
        (
            vec![
                LeafSpec::new(&names, &a).days(-60, -1).signed_by(&inter),
                inter.der(),
            ],
            &a,
        ),
        // 4: the pinned key A, for another name only
        (
            vec![
                LeafSpec::new(&["elsewhere.ok.test"], &a).signed_by(&inter),
                inter.der(),
            ],
            &a,
        ),
        // 5: the unpinned key C under IN, sent with N cross-signed by R
        (
            vec![
                LeafSpec::new(&names, &c).signed_by(&inter_n),
                inter_n.der(),
                cross.der(),
            ],
            &c,
        ),
    ];
    let mut servers = Vec::new();
    for (chain, key) in &chains {
        servers.push(serve_https(chain.clone(), key).await);
    }
    let pin = |k: &KeyPair| key_pin(k);
    let toml = format!(
        "[[domain]]\nname = \"leaf.ok.test\"\npins = [{{ sha256 = \"{}\", label = \"leaf A\" }}, {{ sha256 = \"{}\", label = \"backup B\" }}]\n\n\
         [[domain]]\nname = \"inter.ok.test\"\npins = [{{ sha256 = \"{}\", label = \"issuing I\" }}, {{ sha256 = \"{}\", label = \"backup B\" }}]\n\n\
         [[domain]]\nname = \"root.ok.test\"\npins = [{{ sha256 = \"{}\", label = \"root R, never served\" }}, {{ sha256 = \"{}\", label = \"backup B\" }}]\n\n\
         [[domain]]\nname = \"sub.ok.test\"\ninclude_subdomains = true\npins = [{{ sha256 = \"{}\", label = \"leaf A\" }}, {{ sha256 = \"{}\", label = \"backup B\" }}]\n\n\
         [[domain]]\nname = \"newroot.ok.test\"\npins = [{{ sha256 = \"{}\", label = \"root N\" }}, {{ sha256 = \"{}\", label = \"backup B\" }}]\n",
        pin(&a),
        pin(&b),
        inter.pin,
        pin(&b),
        root.pin,
        pin(&b),
        pin(&a),
        pin(&b),
        new_root.pin,
        pin(&b),
    );
    std::fs::write(dir.join("pins.toml"), &toml).unwrap();
    let kotlin = run(Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(["pins", "render", "--format", "okhttp", "--config"])
        .arg(dir.join("pins.toml")));
    assert!(kotlin.contains("OkHttp 3.x"), "{kotlin}");
    assert!(kotlin.contains("\"*.sub.ok.test\"") && kotlin.contains("\"**.sub.ok.test\""));
    let classes = compile(&dir, &kotlin);

    let cases = [
        Case {
            host: "leaf.ok.test",
            server: 0,
            why: "a pinned leaf connects",
        },
        Case {
            host: "leaf.ok.test",
            server: 1,
            why: "an unpinned leaf: pinning failure",
        },
        Case {
            host: "inter.ok.test",
            server: 1,
            why: "a pinned intermediate connects",
        },
        Case {
            host: "inter.ok.test",
            server: 2,
            why: "another intermediate: pinning failure",
        },
        Case {
            host: "root.ok.test",
            server: 1,
            why: "a pinned root never served connects",
        },
        Case {
            host: "root.ok.test",
            server: 2,
            why: "the pinned root under I2 connects too",
        },
        Case {
            host: "sub.ok.test",
            server: 1,
            why: "the include_subdomains domain itself, unpinned key",
        },
        Case {
            host: "x.sub.ok.test",
            server: 1,
            why: "one level below, unpinned key: *.sub.ok.test pins it",
        },
        Case {
            host: "a.b.sub.ok.test",
            server: 1,
            why: "two levels below, unpinned key: OkHttp 3.x does not pin it (the documented limit)",
        },
        Case {
            host: "x.sub.ok.test",
            server: 0,
            why: "one level below, pinned key",
        },
        Case {
            host: "a.b.sub.ok.test",
            server: 0,
            why: "two levels below, pinned key",
        },
        Case {
            host: "leaf.ok.test",
            server: 3,
            why: "an expired pinned leaf: the handshake fails first",
        },
        Case {
            host: "leaf.ok.test",
            server: 4,
            why: "a pinned leaf for another name: hostname check fails",
        },
        Case {
            host: "root.ok.test",
            server: 5,
            why: "pin on R, chain cross-signed by R: the chain is cleaned to N (trusted), R is not in it",
        },
        Case {
            host: "newroot.ok.test",
            server: 5,
            why: "pin on N, N never served (only its cross-signature): connects",
        },
    ];
    std::fs::write(
        dir.join("root.pem"),
        format!("{}{}", root.pem(), new_root.pem()),
    )
    .unwrap();
    let list: Vec<(String, u16)> = cases
        .iter()
        .map(|c| (c.host.to_owned(), servers[c.server].port()))
        .collect();
    let roots_pem = dir.join("root.pem");
    let lines = tokio::task::spawn_blocking(move || connect_all(&classes, &roots_pem, &list))
        .await
        .unwrap();

    let file = attestgate_pins::PinsFile::load(&dir.join("pins.toml")).unwrap();
    let roots = Roots::from_certificates(
        &[root.der().to_vec(), new_root.der().to_vec()],
        "the test roots",
    )
    .unwrap();
    let now = attestgate_pins::clock::now_unix();
    let mut disagreements = Vec::new();
    for (case, got) in cases.iter().zip(&lines) {
        let domain = file
            .domains
            .iter()
            .find(|d| case.host == d.name || case.host.ends_with(&format!(".{}", d.name)))
            .unwrap();
        let chain: Vec<Vec<u8>> = chains[case.server].0.iter().map(|c| c.to_vec()).collect();
        let j = platform::judge(
            &chain,
            &PinSet::from(domain),
            case.host,
            &[now],
            &roots,
            &[],
        );
        let kit = j.of(Platform::Okhttp3).unwrap();
        let agrees = agrees(kit, got);
        eprintln!(
            "{:<16} server {} | okhttp 3.13.1: {got} | kit okhttp3: {} | {}",
            case.host,
            case.server,
            if kit.accepts { "accepts" } else { "refuses" },
            case.why
        );
        if !agrees {
            disagreements.push(format!(
                "{} ({}): OkHttp said {got:?}, the kit said {}",
                case.host, case.why, kit.reason
            ));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    // the cases the issue names, by OkHttp's own words
    assert!(lines[0].starts_with("ok "), "pinned leaf");
    assert!(
        lines[1].contains("Certificate pinning failure"),
        "unpinned leaf"
    );
    assert!(
        lines[2].starts_with("ok ") && lines[4].starts_with("ok "),
        "intermediate, root"
    );
    assert!(
        lines[7].contains("Certificate pinning failure"),
        "one level below"
    );
    assert!(
        lines[8].starts_with("ok "),
        "OkHttp 3.x: two levels below is not pinned"
    );
    eprintln!(
        "okhttp: {} cases in one JVM, all agree with the kit",
        cases.len()
    );
}

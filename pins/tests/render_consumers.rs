//! Every render read by its real consumer, over generated pin sets:
//! arbitrary labels (any Unicode, and the hostile ones: `-` runs, `--`,
//! `-->`, U+FFFE/U+FFFF, C0 and C1 controls, bidi overrides, `<&]]>`),
//! host names (with `xn--` labels), dates from year 1 to 9999, one to five
//! pins per domain with repeats, leaf and CA kinds.
//!
//! Cases are drawn with proptest's runner and checked in one batch, so
//! each consumer starts once: the Android XML must parse in expat
//! (python's `xml.parsers.expat`, the parser aapt2 uses) and in
//! `xmllint --noout` (libxml2), the iOS plist in python's `plistlib`, the
//! JSON in a strict `json` (no duplicate member); each must hold exactly
//! the domains and pins given. `PINS_RENDER_CASES` sets the number of
//! cases (default 1000). A missing consumer fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use attestgate_pins::model::{Domain, PinEntry, PinKind, PinSource, PinsFile};
use attestgate_pins::render::{Format, render};
use attestgate_pins::spki::Pin;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-<>&'\"\\]!?* /a\u{0}\u{1}\u{8}\t\r\n\u{7f}\u{85}\u{2028}\u{202e}\u{fffe}\u{ffff}\u{fffd}]{0,24}",
        "-{1,7}(>|->)?",
        Just("a---b-".to_owned()),
        Just("--format android -->".to_owned()),
    ]
}

fn host() -> impl Strategy<Value = String> {
    let label = "([a-z0-9]|[a-z0-9][a-z0-9-]{0,8}[a-z0-9]|xn--[a-z0-9]{1,6})";
    proptest::string::string_regex(&format!("{label}(\\.{label}){{0,3}}")).unwrap()
}

fn date() -> impl Strategy<Value = time::Date> {
    (1i32..=9999, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| {
        time::Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap()
    })
}

fn pins() -> impl Strategy<Value = Vec<PinEntry>> {
    prop::collection::vec((0u8..6, label(), any::<bool>()), 1..6).prop_map(|list| {
        list.into_iter()
            .enumerate()
            .map(|(i, (which, label, ca))| PinEntry {
                // six values, so repeats happen
                pin: Pin::of_spki(&[which]),
                label,
                kind: if ca { PinKind::Ca } else { PinKind::Leaf },
                key_path: format!("domain[0].pins[{i}]"),
                source: PinSource::Literal,
            })
            .collect()
    })
}

fn file() -> impl Strategy<Value = PinsFile> {
    prop::collection::vec(
        (host(), any::<bool>(), prop::option::of(date()), pins()),
        1..4,
    )
    .prop_map(|list| PinsFile {
        path: PathBuf::from("generated.toml"),
        domains: list
            .into_iter()
            .enumerate()
            // unique names: a plist dictionary keeps one per name
            .map(|(i, (name, sub, expires, pins))| Domain {
                name: format!("d{i}.{name}"),
                include_subdomains: sub,
                addresses: Vec::new(),
                port: 443,
                servername: String::new(),
                ca_file: None,
                expires,
                timeout: std::time::Duration::from_secs(1),
                pins,
            })
            .collect(),
    })
}

fn distinct(pins: &[PinEntry], kind: Option<PinKind>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in pins.iter().filter(|p| kind.is_none_or(|k| p.kind == k)) {
        if !out.contains(&p.pin.to_base64()) {
            out.push(p.pin.to_base64());
        }
    }
    out
}

fn expected(file: &PinsFile, format: Format) -> Value {
    let date = |d: &Option<time::Date>| d.map(attestgate_pins::clock::date_text);
    match format {
        Format::Android => json!({"domains": file.domains.iter().map(|d| {
            let pins = distinct(&d.pins, None);
            json!({"name": d.name, "sub": d.include_subdomains.to_string(),
                "expiration": date(&d.expires), "pinset": true,
                "digests": vec!["SHA-256"; pins.len()], "pins": pins})
        }).collect::<Vec<_>>()}),
        Format::Ios => {
            let mut map = serde_json::Map::new();
            for d in &file.domains {
                let ids = |k| Some(distinct(&d.pins, Some(k))).filter(|v| !v.is_empty());
                map.insert(
                    d.name.clone(),
                    json!({"sub": d.include_subdomains,
                    "leaf": ids(PinKind::Leaf), "ca": ids(PinKind::Ca)}),
                );
            }
            json!({"domains": map})
        }
        _ => json!({"domains": file.domains.iter().map(|d| {
            let mut seen = Vec::new();
            let pins: Vec<Value> = d.pins.iter().filter(|p| {
                let new = !seen.contains(&p.pin);
                seen.push(p.pin);
                new
            }).map(|p| json!({"sha256": p.pin.to_base64(), "label": p.label, "kind": p.kind.as_str()})).collect();
            json!({"name": d.name, "include_subdomains": d.include_subdomains,
                "expires": date(&d.expires), "pins": pins})
        }).collect::<Vec<_>>()}),
    }
}

fn consumers_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pins/consumers.py")
}

fn need(tool: &str) {
    let ok = Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null")])
        .status()
        .unwrap()
        .success();
    assert!(
        ok,
        "{tool} is missing: run scripts/ensure-tools (Debian: python3, libxml2-utils)"
    );
}

#[test]
fn every_render_parses_in_its_consumer_and_holds_exactly_the_pins() {
    need("python3");
    need("xmllint");
    let cases: usize = std::env::var("PINS_RENDER_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!(
        "attestgate-render-consumers-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut runner = TestRunner::new(Config::default());
    let strategy = file();
    let mut want = std::collections::HashMap::new();
    let mut xml_files = Vec::new();
    let mut all_files = Vec::new();
    for i in 0..cases {
        let file = strategy.new_tree(&mut runner).unwrap().current();
        for (format, ext) in [
            (Format::Android, "xml"),
            (Format::Ios, "plist"),
            (Format::Json, "json"),
        ] {
            let text = render(&file, format).unwrap();
            let path = dir.join(format!("{i:05}.{ext}"));
            std::fs::write(&path, &text).unwrap();
            want.insert(path.display().to_string(), (expected(&file, format), text));
            if format == Format::Android {
                xml_files.push(path.clone());
            }
            all_files.push(path);
        }
    }
    // libxml2: every file at once
    let lint = Command::new("xmllint")
        .arg("--noout")
        .args(&xml_files)
        .output()
        .unwrap();
    assert!(
        lint.status.success() && lint.stderr.is_empty(),
        "xmllint refused: {}",
        String::from_utf8_lossy(&lint.stderr)
            .chars()
            .take(4000)
            .collect::<String>()
    );
    // expat, plistlib, json: one python for every file
    let mut seen = 0;
    for chunk in all_files.chunks(2000) {
        let out = Command::new("python3")
            .arg(consumers_script())
            .args(chunk)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let got: Value = serde_json::from_str(line).unwrap();
            let file = got["file"].as_str().unwrap();
            let (want, text) = &want[file];
            assert_eq!(got["ok"], true, "{file} refused: {}\n{text}", got["error"]);
            assert_eq!(&got["held"], want, "{file}\n{text}");
            seen += 1;
        }
    }
    assert_eq!(seen, all_files.len());
    eprintln!(
        "render consumers: {cases} generated pin sets; {} Android XML each parsed by expat and xmllint, {cases} plists by plistlib, {cases} JSON by strict json",
        xml_files.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_name_that_is_not_a_host_is_refused_by_every_format() {
    let mut runner = TestRunner::new(Config::default());
    let strategy = (file(), any::<String>());
    for _ in 0..500 {
        let (mut file, name) = strategy.new_tree(&mut runner).unwrap().current();
        let bad = !name.is_empty()
            && (name.len() > 253
                || name.split('.').any(|l| {
                    l.is_empty()
                        || l.len() > 63
                        || l.starts_with('-')
                        || l.ends_with('-')
                        || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                }));
        if !bad {
            continue;
        }
        file.domains[0].name = name.clone();
        for format in Format::ALL {
            assert!(
                render(&file, format).is_err(),
                "{format:?} rendered {name:?}"
            );
        }
    }
}

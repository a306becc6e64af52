//! `attestgate pins render`: every format equals its golden file under
//! tests/fixtures/pins/, and is read by its real consumer (the Android XML
//! by expat and `xmllint`, the plist by python's `plistlib`, the JSON by a
//! strict parser; tests/fixtures/pins/consumers.py), holding the pins
//! computed here from the fixture keys. (Generated pin sets go through the
//! same consumers in pins/tests/render_consumers.rs; the OkHttp code is
//! compiled and run in tests/cli/pins/okhttp/mod.rs.)
//!
//! The fixture keys and certificates are checked in (made once by
//! `scripts/gen-fixtures pins-fixture-keys`); the pin set's expiry is a
//! fixed date, so the golden files stay valid. `scripts/update-pins-golden`
//! (`UPDATE_GOLDEN=1`) rewrites them.

use std::path::{Path, PathBuf};

use attestgate_testkit::pki::*;
use rcgen::{KeyPair, PublicKeyData};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pins")
}

fn fixture_pin(name: &str) -> String {
    let pem = std::fs::read_to_string(fixtures().join(name)).unwrap();
    pin_of(&KeyPair::from_pem(&pem).unwrap().subject_public_key_info())
}

fn render(format: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(["pins", "render", "--config"])
        .arg(fixtures().join("pins.toml"))
        .args(["--format", format])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn golden(format: &str, file: &str) -> String {
    let got = render(format);
    let path = fixtures().join(file);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert_eq!(got, want, "{format} differs from {}", path.display());
    got
}

struct Expected {
    leaf: String,
    backup: String,
    ca: String,
}

fn expected() -> Expected {
    Expected {
        leaf: fixture_pin("leaf.key"),
        backup: fixture_pin("backup.key"),
        ca: fixture_pin("ca.key"),
    }
}

#[test]
fn android_xml_parses_and_holds_the_pins() {
    use quick_xml::events::Event;
    let xml = golden("android", "render.android.xml");
    let e = expected();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut stack: Vec<String> = Vec::new();
    let mut domains: Vec<(String, String, Option<String>, Vec<String>)> = Vec::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(s) => {
                let name = s.name().as_ref().to_owned();
                let attr = |key: &str| {
                    s.attributes()
                        .map(|a| a.unwrap())
                        .find(|a| a.key.as_ref() == key)
                        .map(|a| a.value.into_owned())
                };
                match name.as_str() {
                    "domain-config" => {
                        domains.push((String::new(), String::new(), None, Vec::new()))
                    }
                    "domain" => domains.last_mut().unwrap().1 = attr("includeSubdomains").unwrap(),
                    "pin-set" => domains.last_mut().unwrap().2 = attr("expiration"),
                    "pin" => assert_eq!(attr("digest").as_deref(), Some("SHA-256")),
                    _ => {}
                }
                stack.push(name);
            }
            Event::Text(t) => {
                let text = t.xml10_content().into_owned();
                match stack.last().map(String::as_str) {
                    Some("domain") => domains.last_mut().unwrap().0 = text,
                    Some("pin") => domains.last_mut().unwrap().3.push(text),
                    _ => {}
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 0);
    assert_eq!(
        domains,
        vec![
            (
                "api.example.com".into(),
                "false".into(),
                Some("2027-06-30".into()),
                vec![e.leaf.clone(), e.backup.clone()]
            ),
            (
                "cdn.example.com".into(),
                "true".into(),
                None,
                vec![e.ca, e.backup, e.leaf]
            ),
        ]
    );
}

#[test]
fn ios_plist_parses_and_splits_leaf_and_ca_identities() {
    let text = golden("ios", "render.ios.plist");
    let e = expected();
    let value = plist::Value::from_reader_xml(text.as_bytes()).unwrap();
    let domains = value.as_dictionary().unwrap()["NSAppTransportSecurity"]
        .as_dictionary()
        .unwrap()["NSPinnedDomains"]
        .as_dictionary()
        .unwrap();
    let ids = |domain: &str, key: &str| -> Option<Vec<String>> {
        domains[domain].as_dictionary().unwrap().get(key).map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|i| {
                    i.as_dictionary().unwrap()["SPKI-SHA256-BASE64"]
                        .as_string()
                        .unwrap()
                        .to_owned()
                })
                .collect()
        })
    };
    assert_eq!(domains.len(), 2);
    assert_eq!(
        domains["api.example.com"].as_dictionary().unwrap()["NSIncludesSubdomains"].as_boolean(),
        Some(false)
    );
    assert_eq!(
        ids("api.example.com", "NSPinnedLeafIdentities"),
        Some(vec![e.leaf.clone(), e.backup.clone()])
    );
    assert_eq!(ids("api.example.com", "NSPinnedCAIdentities"), None);
    assert_eq!(
        domains["cdn.example.com"].as_dictionary().unwrap()["NSIncludesSubdomains"].as_boolean(),
        Some(true)
    );
    assert_eq!(
        ids("cdn.example.com", "NSPinnedCAIdentities"),
        Some(vec![e.ca])
    );
    assert_eq!(
        ids("cdn.example.com", "NSPinnedLeafIdentities"),
        Some(vec![e.backup, e.leaf])
    );
}

#[test]
fn okhttp_trustkit_and_json_hold_the_pins() {
    let e = expected();
    let kt = golden("okhttp", "render.okhttp.kt");
    assert!(
        kt.contains(&format!(".add(\"api.example.com\", \"sha256/{}\")", e.leaf)),
        "{kt}"
    );
    assert!(
        kt.contains(&format!(
            ".add(\"**.cdn.example.com\", \"sha256/{}\")",
            e.ca
        )),
        "{kt}"
    );
    // one level on every OkHttp, every level on 4.3+, and the comment
    // telling the app's reviewer which is which
    assert!(
        kt.contains(&format!(".add(\"*.cdn.example.com\", \"sha256/{}\")", e.ca)),
        "{kt}"
    );
    assert!(kt.contains("OkHttp 3.x") && kt.contains("4.3.0"), "{kt}");
    assert_eq!(kt.matches(".add(").count(), 2 + 3 * 3);
    let swift = golden("trustkit", "render.trustkit.swift");
    assert!(swift.contains("kTSKExpirationDate: \"2027-06-30\""));
    assert_eq!(swift.matches(&e.backup).count(), 2);
    let json = golden("json", "render.json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["domains"][0]["pins"][0]["sha256"], e.leaf);
    assert_eq!(v["domains"][0]["expires"], "2027-06-30");
    assert_eq!(v["domains"][1]["pins"][0]["kind"], "ca");
    assert_eq!(v["domains"][1]["pins"][0]["sha256"], e.ca);
}

/// The golden Android XML and plist through libxml2, and all three
/// through python's expat, plistlib and strict json.
#[test]
fn golden_files_are_read_by_their_consumers() {
    let files = ["render.android.xml", "render.ios.plist", "render.json"];
    for f in &files {
        golden(
            match *f {
                "render.android.xml" => "android",
                "render.ios.plist" => "ios",
                _ => "json",
            },
            f,
        );
    }
    let lint = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg(fixtures().join(files[0]))
        .arg(fixtures().join(files[1]))
        .output()
        .expect("xmllint is missing: run scripts/ensure-tools (Debian: libxml2-utils)");
    assert!(
        lint.status.success() && lint.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&lint.stderr)
    );
    let out = std::process::Command::new("python3")
        .arg(fixtures().join("consumers.py"))
        .args(files.iter().map(|f| fixtures().join(f)))
        .output()
        .expect("python3 is missing: run scripts/ensure-tools");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = expected();
    let held: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(held.len(), 3);
    for h in &held {
        assert_eq!(h["ok"], true, "{h}");
    }
    assert_eq!(
        held[0]["held"]["domains"][1]["pins"],
        serde_json::json!([e.ca, e.backup, e.leaf])
    );
    assert_eq!(held[0]["held"]["domains"][0]["expiration"], "2027-06-30");
    assert_eq!(
        held[1]["held"]["domains"]["cdn.example.com"]["ca"],
        serde_json::json!([e.ca])
    );
    assert_eq!(held[2]["held"]["domains"][0]["pins"][1]["sha256"], e.backup);
}

#[test]
fn an_unknown_format_is_refused() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(["pins", "render", "--config"])
        .arg(fixtures().join("pins.toml"))
        .args(["--format", "windows"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

//! Pin-failure reports: TrustKit and HPKP (RFC 7469 §3) reports, written
//! here from the published formats around chains made with rcgen, are
//! classified by what their chain holds; malformed ones are refused
//! without echoing their text.

use attestgate_pins::Pin;
use attestgate_pins::fetch::load_roots;
use attestgate_pins::report::{self, ReportClass, ReportError, ReportFormat};
use attestgate_testkit::TempDir;
use attestgate_testkit::pki::*;
use serde_json::json;

fn trustkit(host: &str, chain: &[String], known: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "app-bundle-id": "com.example.app", "app-version": "1.0", "app-vendor-id": "C6F7C0AE",
        "app-platform": "IOS", "app-platform-version": "17.4.1", "trustkit-version": "3.0.3",
        "hostname": host, "port": 443, "noted-hostname": host, "include-subdomains": false,
        "enforce-pinning": true, "validated-certificate-chain": chain,
        "date-time": "2026-12-01T10:00:00Z",
        "known-pins": known.iter().map(|p| format!("pin-sha256=\"{p}\"")).collect::<Vec<_>>(),
        "validation-result": 1
    }))
    .unwrap()
}

fn hpkp(host: &str, chain: &[String], known: &[String]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "date-time": "2026-12-01T10:00:00Z", "hostname": host, "port": 443,
        "effective-expiration-date": "2027-01-01T00:00:00Z", "include-subdomains": false,
        "noted-hostname": host, "served-certificate-chain": chain, "validated-certificate-chain": chain,
        "known-pins": known.iter().map(|p| format!("pin-sha256=\"{p}\"")).collect::<Vec<_>>()
    }))
    .unwrap()
}

#[test]
fn reports_are_classified_by_their_chain() {
    let rogue = root("rogue root");
    let root = root("report root");
    let inter = intermediate("report inter", &root);
    let (ours, unknown) = (p256(), p256());
    let host = "api.report.test";
    let pem = |der: &[u8]| pem_of(der, "CERTIFICATE");
    let good = [pem(&leaf(&[host], &ours, &inter, 30)), pem(&inter.der())];
    let rotated = [pem(&leaf(&[host], &unknown, &inter, 30)), pem(&inter.der())];
    let mitm = [pem(&leaf(&[host], &unknown, &rogue, 30))];
    let dir = TempDir::new("report");
    std::fs::write(dir.join("ca.pem"), root.pem()).unwrap();
    let roots = load_roots(Some(&dir.join("ca.pem"))).unwrap();
    let our_pins = [
        Pin::parse(&key_pin(&ours)).unwrap(),
        Pin::parse(&inter.pin).unwrap(),
    ];
    let stale = vec![key_pin(&p256())];
    let now = attestgate_pins::clock::now_unix();
    for (body, format, class) in [
        (
            trustkit(host, &good, &stale),
            ReportFormat::Trustkit,
            ReportClass::KnownPin,
        ),
        (
            hpkp(host, &good, &stale),
            ReportFormat::Hpkp,
            ReportClass::KnownPin,
        ),
        (
            hpkp(host, &rotated[..1], &stale),
            ReportFormat::Hpkp,
            ReportClass::Untrusted,
        ),
        (
            trustkit(host, &mitm, &stale),
            ReportFormat::Trustkit,
            ReportClass::Untrusted,
        ),
        (
            hpkp(host, &mitm, &stale),
            ReportFormat::Hpkp,
            ReportClass::Untrusted,
        ),
    ] {
        let r = report::parse(&body).unwrap();
        assert_eq!(r.format, format);
        assert_eq!(r.hostname, host);
        assert_eq!(r.known_pins, vec![Pin::parse(&stale[0]).unwrap()]);
        assert_eq!(
            report::classify(&r, &our_pins, &roots, now),
            class,
            "{format:?}"
        );
    }
    // A key we do not know under the CA we trust: pin only the leaf.
    let leaf_only = [Pin::parse(&key_pin(&ours)).unwrap()];
    let r = report::parse(&hpkp(host, &rotated, &stale)).unwrap();
    assert_eq!(
        report::classify(&r, &leaf_only, &roots, now),
        ReportClass::UnknownKeyTrustedCa
    );
    assert_eq!(r.chain[0].pin.unwrap().to_base64(), key_pin(&unknown));
    // The same chain reported for another name does not validate for it.
    let r = report::parse(&hpkp("other.report.test", &rotated, &stale)).unwrap();
    assert_eq!(
        report::classify(&r, &leaf_only, &roots, now),
        ReportClass::Untrusted
    );
}

#[test]
fn malformed_reports_are_refused_without_echoing_them() {
    let root = root("malformed root");
    let cert = pem_of(&root.der(), "CERTIFICATE");
    let marker = "SECRET-MARKER-7d1e";
    let many: Vec<String> = (0..17).map(|_| cert.clone()).collect();
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            format!("{{\"hostname\": \"{marker}\"").into_bytes(),
            "ends early",
        ),
        (format!("not json {marker}").into_bytes(), "not JSON"),
        (
            br#"{"port": 443, "app-bundle-id": "x", "validated-certificate-chain": []}"#.to_vec(),
            "missing",
        ),
        (
            serde_json::to_vec(
                &json!({"hostname": "a.test", "validated-certificate-chain": [cert]}),
            )
            .unwrap(),
            "neither",
        ),
        (trustkit("a.test", &[], &[]), "no certificate chain"),
        (trustkit("a.test", &many, &[]), "17 certificates"),
        (
            trustkit(
                "a.test",
                &[format!(
                    "-----BEGIN CERTIFICATE-----\n{marker}\n-----END CERTIFICATE-----\n"
                )],
                &[],
            ),
            "certificate 0",
        ),
        (
            trustkit(
                "a.test",
                std::slice::from_ref(&cert),
                &[format!("sha256=\"{marker}\"")],
            ),
            "known-pins entry 0",
        ),
        (
            trustkit(&format!("a b {marker}"), std::slice::from_ref(&cert), &[]),
            "hostname",
        ),
        (
            br#"{"hostname": "a.test", "hostname": "b.test", "app-bundle-id": "x"}"#.to_vec(),
            "missing or of the wrong type",
        ),
        (
            serde_json::to_vec(&json!({"hostname": 5, "app-bundle-id": "x"})).unwrap(),
            "wrong type",
        ),
    ];
    for (body, want) in cases {
        let e = report::parse(&body).unwrap_err().to_string();
        assert!(e.contains(want), "want {want:?} in {e:?}");
        assert!(!e.contains(marker), "{e}");
    }
    let big = vec![b' '; report::MAX_REPORT_BYTES + 1];
    assert_eq!(report::parse(&big).unwrap_err(), ReportError::TooLarge);
}

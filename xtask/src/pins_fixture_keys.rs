//! The pinning kit's fixture CA, leaf (valid 2026 to 2126) and backup key
//! with its CSR, from the test kit's PKI. TEST keys only.

use std::path::Path;

use attestgate_testkit::pki::{p256, root};
use rcgen::{CertificateParams, DnType};

pub(crate) fn run(dir: &Path) {
    let ca = root("attestgate pins fixture CA");
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("ca.key"), ca.issuer.key().serialize_pem()).unwrap();
    let key = p256();
    let mut p = CertificateParams::new(vec!["api.example.com".to_owned()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "api.example.com");
    p.not_before = time::macros::datetime!(2026-01-01 0:00 UTC);
    p.not_after = time::macros::datetime!(2126-01-01 0:00 UTC);
    let cert = p.signed_by(&key, &ca.issuer).unwrap();
    std::fs::write(dir.join("leaf.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("leaf.key"), key.serialize_pem()).unwrap();
    let backup = p256();
    let mut p = CertificateParams::new(vec!["api.example.com".to_owned()]).unwrap();
    p.distinguished_name
        .push(DnType::CommonName, "api.example.com");
    std::fs::write(
        dir.join("backup.csr"),
        p.serialize_request(&backup).unwrap().pem().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("backup.key"), backup.serialize_pem()).unwrap();
}

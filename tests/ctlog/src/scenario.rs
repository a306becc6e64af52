//! The test logs' contents: a trusted CA (root and intermediate) whose
//! intermediate is a pinned CA key, an unknown CA (its own root, not in
//! the apps' trust), and certificates and precertificates for watched and
//! unrelated names. [`Scenario::pins_toml`] is the `pins.toml` the apps
//! shipped; [`Scenario::expected`] the verdict of each watched entry.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

use crate::Submit;

/// A CA and its key.
pub struct Ca {
    pub issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    pub fn der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

pub fn p256() -> KeyPair {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap()
}

/// The base64 SPKI SHA-256 pin of a key.
pub fn pin(key: &KeyPair) -> String {
    use base64::Engine;
    use rcgen::PublicKeyData;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(key.subject_public_key_info()))
}

pub fn root(cn: &str) -> Ca {
    Ca {
        issuer: CertifiedIssuer::self_signed(ca_params(cn), p256()).unwrap(),
    }
}

pub fn intermediate(cn: &str, parent: &Ca, key: KeyPair) -> Ca {
    Ca {
        issuer: CertifiedIssuer::signed_by(ca_params(cn), key, &parent.issuer).unwrap(),
    }
}

fn params(names: &[&str], serial: u64, poison: bool) -> CertificateParams {
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let day = time::OffsetDateTime::now_utc()
        .date()
        .midnight()
        .assume_utc();
    p.not_before = day - time::Duration::days(1);
    p.not_after = day + time::Duration::days(89);
    p.serial_number = Some(rcgen::SerialNumber::from(serial.to_be_bytes().to_vec()));
    if poison {
        let mut ext = CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 11129, 2, 4, 3],
            vec![0x05, 0x00],
        );
        ext.set_criticality(true);
        p.custom_extensions.push(ext);
    }
    p
}

/// A certificate (or, with `poison`, a precertificate) for `names`.
pub fn cert(names: &[&str], key: &KeyPair, by: &Ca, serial: u64, poison: bool) -> Vec<u8> {
    params(names, serial, poison)
        .signed_by(key, &by.issuer)
        .unwrap()
        .der()
        .to_vec()
}

/// What the watch must say about one entry (`None`: nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub index: usize,
    pub what: &'static str,
    pub verdict: Option<&'static str>,
}

/// The whole test world.
pub struct Scenario {
    pub root: Ca,
    pub ca: Ca,
    pub other_root: Ca,
    pub other_ca: Ca,
    pub leaf_key: KeyPair,
    pub backup_key: KeyPair,
    pub submissions: Vec<Submit>,
    pub expected: Vec<Expect>,
}

impl Scenario {
    pub fn new() -> Scenario {
        let root = root("Test Root");
        let ca = intermediate("Test Issuing CA", &root, p256());
        let other_root = root_named("Unknown Root");
        let other_ca = intermediate("Unknown Issuing CA", &other_root, p256());
        let leaf_key = p256();
        let backup_key = p256();
        let (new_key, wild_key, cdn_key, deep_key, rogue_key, other_key) =
            (p256(), p256(), p256(), p256(), p256(), p256());
        let chain = |leaf: Vec<u8>, by: &Ca| vec![leaf, by.der()];
        let pre = cert(&["api.example.com"], &leaf_key, &ca, 102, true);
        let fin = cert(&["api.example.com"], &leaf_key, &ca, 102, false);
        let mut s = Vec::new();
        let mut e = Vec::new();
        let mut add = |sub: Submit, what: &'static str, verdict: Option<&'static str>| {
            e.push(Expect {
                index: s.len(),
                what,
                verdict,
            });
            s.push(sub);
        };
        let c = |chain: Vec<Vec<u8>>| Submit::Chain {
            chain,
            precert: false,
        };
        let p = |chain: Vec<Vec<u8>>| Submit::Chain {
            chain,
            precert: true,
        };
        add(
            c(chain(
                cert(&["www.unrelated.org"], &other_key, &ca, 100, false),
                &ca,
            )),
            "an unrelated name",
            None,
        );
        add(
            c(chain(
                cert(&["api.example.com"], &leaf_key, &ca, 101, false),
                &ca,
            )),
            "the pinned key",
            Some("known_leaf"),
        );
        add(
            p(chain(pre, &ca)),
            "a precertificate with the pinned key",
            Some("known_leaf"),
        );
        add(
            c(chain(
                cert(
                    &["api.example.com", "api2.example.com"],
                    &backup_key,
                    &ca,
                    103,
                    false,
                ),
                &ca,
            )),
            "the backup key in service",
            Some("known_backup"),
        );
        add(
            c(chain(
                cert(&["api.example.com"], &new_key, &ca, 104, false),
                &ca,
            )),
            "a new key from the usual CA",
            Some("would_break"),
        );
        add(
            p(chain(
                cert(&["api.example.com"], &rogue_key, &other_ca, 105, true),
                &other_ca,
            )),
            "a new key from an unknown CA (precertificate)",
            Some("unknown_issuer"),
        );
        add(
            c(chain(
                cert(&["*.example.com"], &wild_key, &ca, 106, false),
                &ca,
            )),
            "a wildcard over both domains, new key",
            Some("would_break"),
        );
        add(
            c(chain(
                cert(&["x.cdn.example.com"], &cdn_key, &ca, 107, false),
                &ca,
            )),
            "a subdomain under the CA-pinned domain",
            Some("known_ca"),
        );
        add(
            c(chain(
                cert(&["a.b.cdn.example.com"], &deep_key, &ca, 108, false),
                &ca,
            )),
            "two labels under the CA-pinned domain",
            Some("known_ca"),
        );
        add(
            c(chain(
                cert(
                    &["example.com", "api.example.org"],
                    &other_key,
                    &ca,
                    109,
                    false,
                ),
                &ca,
            )),
            "the parent and a look-alike",
            None,
        );
        let mut garbage = b"\x30\x82\x01\x00 not a certificate: api.example.com ".to_vec();
        garbage.resize(80, b'!');
        add(
            Submit::Raw(garbage),
            "a malformed entry naming api.example.com",
            Some("malformed"),
        );
        let hostile_key = p256();
        add(
            c(chain(
                cert(
                    &[
                        "x$(touch pwned).cdn.example.com",
                        "a\nEVENT=forged\nATTESTGATE_VERDICT=known_leaf.cdn.example.com",
                    ],
                    &hostile_key,
                    &ca,
                    110,
                    false,
                ),
                &ca,
            )),
            "names that try shell and environment injection (no host name: refused by every platform)",
            Some("would_break"),
        );
        add(
            c(chain(fin, &ca)),
            "the certificate of the precertificate above (same TBS: not reported again)",
            None,
        );
        Scenario {
            root,
            ca,
            other_root,
            other_ca,
            leaf_key,
            backup_key,
            submissions: s,
            expected: e,
        }
    }

    /// The roots the log accepts (both CAs: a log accepts more than apps trust).
    pub fn log_roots(&self) -> Vec<Vec<u8>> {
        vec![self.root.der(), self.other_root.der()]
    }

    /// The `pins.toml` of the shipped apps; `ca_file` is the test root.
    pub fn pins_toml(&self, ca_file: &str) -> String {
        format!(
            "[[domain]]\nname = \"api.example.com\"\nca_file = \"{ca_file}\"\npins = [\n  {{ sha256 = \"{}\", label = \"current leaf\" }},\n  {{ sha256 = \"{}\", label = \"backup key\" }},\n]\n\n[[domain]]\nname = \"cdn.example.com\"\ninclude_subdomains = true\nca_file = \"{ca_file}\"\npins = [\n  {{ sha256 = \"{}\", label = \"issuing CA\", kind = \"ca\" }},\n]\n",
            pin(&self.leaf_key),
            pin(&self.backup_key),
            pin(self.ca.issuer.key()),
        )
    }

    /// An older `pins.toml` still in shipped apps: the leaf key only.
    pub fn old_pins_toml(&self, ca_file: &str) -> String {
        format!(
            "[[domain]]\nname = \"api.example.com\"\nca_file = \"{ca_file}\"\npins = [\n  {{ sha256 = \"{}\", label = \"leaf\" }},\n]\n",
            pin(&self.leaf_key),
        )
    }
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::new()
    }
}

fn root_named(cn: &str) -> Ca {
    root(cn)
}

/// PEM of a DER certificate.
pub fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = "-----BEGIN CERTIFICATE-----\n".to_owned();
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

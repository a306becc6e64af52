//! The offline verbs through the real binary: `from-file` on every format
//! (generated here) and on hostile files, and `backup-key`.

use attestgate_testkit::TempDir;
use std::path::{Path, PathBuf};
use std::process::Output;

use attestgate_testkit::pki::*;
use rcgen::{CertificateParams, DnType, KeyPair, PublicKeyData};
use serde_json::Value;

fn run(list: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_attestgate"))
        .args(list)
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited by signal")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The pins `from-file --json` reports for one file.
fn pins_of(path: &Path) -> Vec<String> {
    let out = run(&["pins", "from-file", "--json", path.to_str().unwrap()]);
    let (o, e) = text(&out);
    assert_eq!(code(&out), 0, "{}: {e}", path.display());
    let v: Value = serde_json::from_str(&o).unwrap();
    v[0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["pin"].as_str().unwrap().to_owned())
        .collect()
}

// ---- a tiny DER reader and writer of the test's own, to build SEC1 keys

fn tlv(input: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = input[0];
    let (len, hdr) = if input[1] < 0x80 {
        (input[1] as usize, 2)
    } else {
        let n = (input[1] & 0x7f) as usize;
        (
            input[2..2 + n]
                .iter()
                .fold(0usize, |a, &b| (a << 8) | b as usize),
            2 + n,
        )
    };
    (tag, &input[hdr..hdr + len], &input[hdr + len..])
}

fn enc(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    if content.len() < 0x80 {
        out.push(content.len() as u8);
    } else {
        out.extend_from_slice(&[0x82, (content.len() >> 8) as u8, content.len() as u8]);
    }
    out.extend_from_slice(content);
    out
}

/// SEC1 `ECPrivateKey` with its curve, from ring's PKCS#8 (which holds it
/// without `[0]`).
fn sec1_of(pkcs8: &[u8], curve_oid: &[u8]) -> Vec<u8> {
    let (_, info, _) = tlv(pkcs8);
    let (_, _, rest) = tlv(info); // version
    let (_, _, rest) = tlv(rest); // algorithm
    let (_, ec_private, _) = tlv(rest);
    let (_, fields, _) = tlv(ec_private);
    let (_, _, after_version) = tlv(fields);
    let (_, d, after_d) = tlv(after_version);
    let mut content = enc(0x02, &[1]);
    content.extend(enc(0x04, d));
    content.extend(enc(0xa0, &enc(0x06, curve_oid)));
    content.extend_from_slice(after_d); // [1] publicKey
    enc(0x30, &content)
}

const P256_OID: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384_OID: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];

fn b64_body(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn from_file_reads_every_format() {
    use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let dir = TempDir::new("formats");
    let w = |name: &str, bytes: &[u8]| -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let mut cases: Vec<(PathBuf, Vec<String>)> = Vec::new();

    // Certificates and a chain.
    let root = root("formats root");
    let inter = intermediate("formats inter", &root);
    let key = p256();
    let cert = leaf(&["formats.test"], &key, &inter, 30);
    cases.push((w("leaf.der", &cert), vec![key_pin(&key)]));
    cases.push((
        w("leaf.pem", pem_of(&cert, "CERTIFICATE").as_bytes()),
        vec![key_pin(&key)],
    ));
    let chain = chain_pem(&[cert.clone(), inter.der(), root.der()]);
    cases.push((
        w(
            "chain.pem",
            format!("Bag Attributes: whatever\n{chain}").as_bytes(),
        ),
        vec![key_pin(&key), inter.pin.clone(), root.pin.clone()],
    ));

    // Windows line ends and a byte-order mark; a certificate and its key in
    // one file (as many servers keep them).
    let crlf = format!(
        "\u{feff}{}",
        pem_of(&cert, "CERTIFICATE").replace('\n', "\r\n")
    );
    cases.push((w("leaf-crlf.pem", crlf.as_bytes()), vec![key_pin(&key)]));
    let combined = format!("{}{}", pem_of(&cert, "CERTIFICATE"), key.serialize_pem());
    cases.push((
        w("combined.pem", combined.as_bytes()),
        vec![key_pin(&key), key_pin(&key)],
    ));

    // Keys of each curve and Ed25519: SPKI, PKCS#8, CSR, SEC1.
    for (name, alg, curve) in [
        ("p256", &rcgen::PKCS_ECDSA_P256_SHA256, Some(P256_OID)),
        ("p384", &rcgen::PKCS_ECDSA_P384_SHA384, Some(P384_OID)),
        ("ed25519", &rcgen::PKCS_ED25519, None),
    ] {
        let k = KeyPair::generate_for(alg).unwrap();
        let pin = key_pin(&k);
        let spki = k.subject_public_key_info();
        cases.push((w(&format!("{name}.spki.der"), &spki), vec![pin.clone()]));
        cases.push((
            w(&format!("{name}.pub.pem"), k.public_key_pem().as_bytes()),
            vec![pin.clone()],
        ));
        cases.push((
            w(&format!("{name}.p8.der"), &k.serialize_der()),
            vec![pin.clone()],
        ));
        cases.push((
            w(&format!("{name}.p8.pem"), k.serialize_pem().as_bytes()),
            vec![pin.clone()],
        ));
        let mut params = CertificateParams::new(vec![format!("{name}.test")]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let csr = params.serialize_request(&k).unwrap();
        cases.push((w(&format!("{name}.csr.der"), csr.der()), vec![pin.clone()]));
        cases.push((
            w(&format!("{name}.csr.pem"), csr.pem().unwrap().as_bytes()),
            vec![pin.clone()],
        ));
        if let Some(curve) = curve {
            let sec1 = sec1_of(&k.serialize_der(), curve);
            cases.push((w(&format!("{name}.sec1.der"), &sec1), vec![pin.clone()]));
            // As `openssl ecparam -genkey` writes it: parameters first.
            let pem = format!(
                "{}{}",
                pem_of(&enc(0x06, curve), "EC PARAMETERS"),
                pem_of(&sec1, "EC PRIVATE KEY")
            );
            cases.push((w(&format!("{name}.sec1.pem"), pem.as_bytes()), vec![pin]));
        }
    }

    // RSA (the checked-in test key): PKCS#8, PKCS#1 private and public.
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rsa2048.pem"),
    )
    .unwrap();
    let rsa_key = rsa::RsaPrivateKey::from_pkcs8_der(&b64_body(&pem)).unwrap();
    let rsa_pin = pin_of(
        rsa_key
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    );
    cases.push((w("rsa.p8.pem", pem.as_bytes()), vec![rsa_pin.clone()]));
    let pkcs1 = rsa_key.to_pkcs1_der().unwrap();
    cases.push((w("rsa.pkcs1.der", pkcs1.as_bytes()), vec![rsa_pin.clone()]));
    cases.push((
        w(
            "rsa.pkcs1.pem",
            pem_of(pkcs1.as_bytes(), "RSA PRIVATE KEY").as_bytes(),
        ),
        vec![rsa_pin.clone()],
    ));
    let pub1 = rsa_key.to_public_key().to_pkcs1_der().unwrap();
    cases.push((w("rsa.pub1.der", pub1.as_bytes()), vec![rsa_pin.clone()]));
    cases.push((
        w(
            "rsa.pub1.pem",
            pem_of(pub1.as_bytes(), "RSA PUBLIC KEY").as_bytes(),
        ),
        vec![rsa_pin],
    ));

    for (path, want) in &cases {
        assert_eq!(&pins_of(path), want, "{}", path.display());
    }
    // Several files at once, text output: every pin printed.
    let paths: Vec<&str> = cases.iter().map(|(p, _)| p.to_str().unwrap()).collect();
    let mut argv = vec!["pins", "from-file"];
    argv.extend(&paths);
    let out = run(&argv);
    let (o, _) = text(&out);
    assert_eq!(code(&out), 0);
    for (_, want) in &cases {
        for p in want {
            assert!(o.contains(p.as_str()), "{p} missing");
        }
    }
    assert!(o.contains("certificate CN=formats inter [CA]"), "{o}");
    assert!(o.contains("private key (sec1), EC P-384"), "{o}");
    assert!(o.contains("RSA 2048"), "{o}");
}

#[test]
fn hostile_files_get_a_clear_error_never_a_panic() {
    let dir = TempDir::new("hostile");
    let root = root("hostile root");
    let key = p256();
    let cert_pem = pem_of(&leaf(&["h.test"], &key, &root, 30), "CERTIFICATE");
    // A certificate whose key is X25519 (no TLS stack accepts it).
    let ed = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let mut odd = leaf(&["odd.test"], &ed, &root, 30).to_vec();
    let spki_alg = [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21];
    let at = odd
        .windows(spki_alg.len())
        .position(|w| w == spki_alg)
        .unwrap();
    odd[at + 6] = 0x6e; // 1.3.101.112 (Ed25519) -> 1.3.101.110 (X25519)

    let huge = dir.join("huge.pem");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(100 * 1024 * 1024)
        .unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated.pem", cert_pem.as_bytes()[..cert_pem.len() / 2].to_vec(), "never ends"),
        ("no-end.pem", cert_pem.replace("-----END CERTIFICATE-----\n", "").into_bytes(), "never ends"),
        ("bad-base64.pem", cert_pem.replacen("MII", "M!I", 1).into_bytes(), "not valid base64"),
        ("mismatched.pem", cert_pem.replace("END CERTIFICATE", "END PUBLIC KEY").into_bytes(), "closes BEGIN"),
        ("unknown-key.der", odd.clone(), "unsupported key algorithm (OID 1.3.101.110)"),
        ("unknown-key.pem", pem_of(&odd, "CERTIFICATE").into_bytes(), "unsupported key algorithm"),
        ("garbage.der", (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect(), "not a certificate, CSR, public key or private key"),
        ("sequence.der", vec![0x30, 0x03, 0x02, 0x01, 0x00], "not a certificate"),
        ("empty.pem", Vec::new(), "is empty"),
        ("blank.pem", b"\n  \n".to_vec(), "is empty"),
        ("label.pem", b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n".to_vec(), "\"FOO\""),
        ("encrypted.pem", b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".to_vec(), "encrypted"),
        ("legacy-encrypted.pem", b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n-----END RSA PRIVATE KEY-----\n".to_vec(), "encrypted"),
        ("short-key.pem", pem_of(&[0x30, 0x03, 0x02, 0x01, 0x00], "PRIVATE KEY").into_bytes(), "PKCS#8"),
        ("binary.pem", vec![0xff, 0xfe, b'-', b'-', b'-', b'-', b'-', b'B', b'E', b'G', b'I', b'N', b' ', 0xff], "UTF-8"),
    ];
    let mut paths = Vec::new();
    for (name, bytes, _) in &cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let dir_arg = dir.join("a-directory");
    std::fs::create_dir_all(&dir_arg).unwrap();
    let mut all: Vec<(PathBuf, &str)> = paths.into_iter().zip(cases.iter().map(|c| c.2)).collect();
    all.push((huge, "104857600 bytes"));
    all.push((dir_arg, "is a directory"));
    all.push((dir.join("missing.pem"), "cannot read"));
    for (path, want) in &all {
        let out = run(&["pins", "from-file", path.to_str().unwrap()]);
        let (_, e) = text(&out);
        assert_eq!(code(&out), 2, "{}: {e}", path.display());
        assert!(
            e.contains(want),
            "{}: want {want:?} in {e:?}",
            path.display()
        );
        assert!(!e.contains("panicked"), "{e}");
    }
}

#[test]
fn backup_key_writes_a_key_and_csr_whose_pins_agree() {
    let dir = TempDir::new("backup");
    for alg in ["p256", "rsa2048"] {
        let out = run(&[
            "pins",
            "backup-key",
            "--out",
            dir.to_str().unwrap(),
            "--alg",
            alg,
            "--name",
            alg,
            "--subject",
            "api.example.com",
        ]);
        let (o, e) = text(&out);
        assert_eq!(code(&out), 0, "{e}");
        let pin = o.trim();
        let key_file = dir.join(format!("{alg}.key"));
        let csr_file = dir.join(format!("{alg}.csr"));
        // Independently: rcgen reads the key back and gives its SPKI.
        let key = KeyPair::from_pem(&std::fs::read_to_string(&key_file).unwrap()).unwrap();
        assert_eq!(pin, pin_of(&key.subject_public_key_info()));
        assert_eq!(pins_of(&csr_file), vec![pin.to_owned()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o077,
                0
            );
        }
        assert!(!o.contains("PRIVATE") && !e.contains("PRIVATE KEY-----"));
        // Never overwritten.
        let again = run(&[
            "pins",
            "backup-key",
            "--out",
            dir.to_str().unwrap(),
            "--alg",
            alg,
            "--name",
            alg,
        ]);
        assert_eq!(code(&again), 2);
        assert!(text(&again).1.contains("never overwritten"));
    }
    let bad = run(&[
        "pins",
        "backup-key",
        "--out",
        dir.to_str().unwrap(),
        "--alg",
        "dsa",
    ]);
    assert_eq!(code(&bad), 2);
}

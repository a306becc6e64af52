//! Approov installation message signing, client side: an [`InstallSigner`]
//! holds a P-256 key (Approov's published test key, or a fresh one) and
//! signs requests as the SDK does (label `install`, raw `r || s`).

use attestgate::msgsig::{self, RequestParts};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

/// The fixed DER prefix of a P-256 SubjectPublicKeyInfo.
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn fixture(name: &str) -> String {
    let p = crate::repo_root().join("tests/fixtures/msgsig").join(name);
    std::fs::read_to_string(p).unwrap().trim().to_owned()
}

/// Approov's test vectors (tests/fixtures/msgsig).
pub struct ApproovVectors;

impl ApproovVectors {
    /// `GOOD_IPK_TOKEN` (HS256, exp 1999999999, `ipk` = the test key).
    pub fn token() -> String {
        fixture("approov-ipk-token.jwt")
    }
    /// The dummy account secret (base64url) the token is signed with.
    pub fn secret() -> String {
        fixture("approov-test-secret.b64url")
    }
    /// `TEST_IPK`.
    pub fn ipk() -> String {
        fixture("approov-test-ipk.b64")
    }
}

/// A device's installation key pair.
pub struct InstallSigner {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl InstallSigner {
    /// Approov's published test key (`TEST_PRIVATE_KEY`: SEC1 DER).
    pub fn approov_test_key() -> InstallSigner {
        let der = STANDARD.decode(fixture("approov-test-key.b64")).unwrap();
        // SEC1: 30 77 02 01 01 04 20 <d: 32> a0 0a <curve OID> a1 44 03 42 00 <point: 65>
        assert_eq!(&der[..7], &[0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20]);
        let (d, point) = (&der[7..39], &der[der.len() - 65..]);
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_private_key_and_public_key(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            d,
            point,
            &rng,
        )
        .unwrap();
        InstallSigner { pair, rng }
    }

    /// A fresh key (another device).
    pub fn generate() -> InstallSigner {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        InstallSigner { pair, rng }
    }

    /// The public key as an `ipk` claim (base64 DER SubjectPublicKeyInfo).
    pub fn ipk(&self) -> String {
        let mut der = SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.pair.public_key().as_ref());
        STANDARD.encode(der)
    }

    /// A raw `r || s` signature of `message`.
    pub fn sign_raw(&self, message: &[u8]) -> [u8; 64] {
        let sig = self.pair.sign(&self.rng, message).unwrap();
        sig.as_ref().try_into().unwrap()
    }

    /// Signs `req` with the `install` member `member` (e.g.
    /// `("@method" "approov-token");alg="ecdsa-p256-sha256";created=1`):
    /// the `Signature-Input` and `Signature` header values.
    pub fn sign(&self, req: &RequestParts<'_>, member: &str) -> (String, String) {
        let input = format!("install={member}");
        let base = msgsig::signature_base(req, &input).unwrap();
        let sig = self.sign_raw(base.as_bytes());
        (input, format!("install=:{}:", STANDARD.encode(sig)))
    }
}

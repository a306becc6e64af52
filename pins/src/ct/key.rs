//! A log's public key (from the log list: a DER SubjectPublicKeyInfo) and
//! RFC 6962's `DigitallySigned` checked with it: ECDSA P-256 with SHA-256,
//! or RSA PKCS#1 v1.5 with SHA-256 (2048 bits and more), by ring.

use ring::digest::{SHA256, digest};
use ring::signature::{ECDSA_P256_SHA256_ASN1, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

use crate::der::{self, tag};

/// `prime256v1` (P-256), as DER OID content.
const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The signature algorithms RFC 6962 allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlg {
    /// ECDSA on P-256 (`DigitallySigned` signature algorithm 3).
    EcdsaP256,
    /// RSA (`DigitallySigned` signature algorithm 1).
    Rsa,
}

/// A log's key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogKey {
    spki: Vec<u8>,
    /// The log ID: SHA-256 of the SubjectPublicKeyInfo.
    pub id: [u8; 32],
    /// Its algorithm.
    pub alg: KeyAlg,
    /// What ring reads: the EC point, or the RSAPublicKey.
    public: Vec<u8>,
}

impl LogKey {
    /// Reads a DER SubjectPublicKeyInfo; only P-256 and RSA keys are logs'
    /// keys.
    pub fn from_spki(spki: &[u8]) -> Result<LogKey, String> {
        let outer =
            der::whole(spki, tag::SEQUENCE).ok_or("the key is not a DER SubjectPublicKeyInfo")?;
        let (alg, rest) =
            der::expect(outer.content, tag::SEQUENCE).ok_or("no AlgorithmIdentifier")?;
        let bits = der::whole(rest, tag::BIT_STRING).ok_or("no key bits")?;
        let (oid, params) = der::expect(alg.content, tag::OID).ok_or("no algorithm OID")?;
        let public = match bits.content.split_first() {
            Some((0, key)) if !key.is_empty() => key.to_vec(),
            _ => return Err("the key bits are empty or not whole bytes".into()),
        };
        let alg = if oid.content == der::oid::EC_PUBLIC_KEY {
            match der::whole(params, tag::OID) {
                Some(curve) if curve.content == P256 => KeyAlg::EcdsaP256,
                _ => return Err("an EC key on a curve other than P-256".into()),
            }
        } else if oid.content == der::oid::RSA {
            KeyAlg::Rsa
        } else {
            return Err("neither an EC P-256 nor an RSA key".into());
        };
        let mut id = [0u8; 32];
        id.copy_from_slice(digest(&SHA256, spki).as_ref());
        Ok(LogKey {
            spki: spki.to_vec(),
            id,
            alg,
            public,
        })
    }

    /// The SubjectPublicKeyInfo, DER.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }

    /// Checks an RFC 6962 `DigitallySigned` (`hash` 1 byte, `signature`
    /// 1 byte, `opaque signature<0..2^16-1>`, nothing after) over
    /// `message`.
    pub fn verify(&self, message: &[u8], signed: &[u8]) -> Result<(), String> {
        let [hash, sig_alg, hi, lo, sig @ ..] = signed else {
            return Err("the signature is too short".into());
        };
        if *hash != 4 {
            return Err(format!("hash algorithm {hash}, not SHA-256 (4)"));
        }
        let want = match self.alg {
            KeyAlg::EcdsaP256 => 3,
            KeyAlg::Rsa => 1,
        };
        if *sig_alg != want {
            return Err(format!(
                "signature algorithm {sig_alg}, but the log's key wants {want}"
            ));
        }
        if usize::from(u16::from_be_bytes([*hi, *lo])) != sig.len() {
            return Err("the signature's length does not match its bytes".into());
        }
        let alg: &dyn ring::signature::VerificationAlgorithm = match self.alg {
            KeyAlg::EcdsaP256 => &ECDSA_P256_SHA256_ASN1,
            KeyAlg::Rsa => &RSA_PKCS1_2048_8192_SHA256,
        };
        UnparsedPublicKey::new(alg, &self.public)
            .verify(message, sig)
            .map_err(|_| "the signature does not verify with the log's key".to_owned())
    }
}

/// RFC 6962 §3.5 `TreeHeadSignature`: what a log signs for a tree head.
pub fn tree_head_input(timestamp_ms: u64, size: u64, root: &[u8; 32]) -> [u8; 50] {
    let mut out = [0u8; 50];
    out[0] = 0; // version v1
    out[1] = 1; // signature_type tree_hash
    out[2..10].copy_from_slice(&timestamp_ms.to_be_bytes());
    out[10..18].copy_from_slice(&size.to_be_bytes());
    out[18..50].copy_from_slice(root);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};

    fn p256() -> (EcdsaKeyPair, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let curve = der::encode(tag::OID, P256);
        let spki = der::spki(&der::algorithm_ec(&curve), kp.public_key().as_ref());
        (kp, spki)
    }

    fn ds(sig_alg: u8, sig: &[u8]) -> Vec<u8> {
        let mut v = vec![4, sig_alg];
        v.extend_from_slice(&(sig.len() as u16).to_be_bytes());
        v.extend_from_slice(sig);
        v
    }

    #[test]
    fn verifies_p256_and_refuses_everything_else() {
        let (kp, spki) = p256();
        let key = LogKey::from_spki(&spki).unwrap();
        assert_eq!(key.alg, KeyAlg::EcdsaP256);
        let msg = tree_head_input(1, 2, &[3; 32]);
        let sig = kp.sign(&SystemRandom::new(), &msg).unwrap();
        key.verify(&msg, &ds(3, sig.as_ref())).unwrap();
        assert!(
            key.verify(&tree_head_input(1, 3, &[3; 32]), &ds(3, sig.as_ref()))
                .is_err()
        );
        assert!(key.verify(&msg, &ds(1, sig.as_ref())).is_err());
        let mut long = ds(3, sig.as_ref());
        long.push(0);
        assert!(key.verify(&msg, &long).is_err());
        assert!(key.verify(&msg, &[4, 3]).is_err());
        let mut sha1 = ds(3, sig.as_ref());
        sha1[0] = 2;
        assert!(key.verify(&msg, &sha1).is_err());
        for bad in [&b""[..], b"\x30\x00", &spki[..spki.len() - 1]] {
            assert!(LogKey::from_spki(bad).is_err());
        }
    }

    #[test]
    fn verifies_rsa_where_a_list_has_one() {
        use rsa::pkcs8::EncodePublicKey;
        let sk = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).unwrap();
        let spki = sk.to_public_key().to_public_key_der().unwrap();
        let key = LogKey::from_spki(spki.as_bytes()).unwrap();
        assert_eq!(key.alg, KeyAlg::Rsa);
        let msg = tree_head_input(5, 6, &[7; 32]);
        // PKCS#1 v1.5 over SHA-256: DigestInfo prefix, then the digest
        let mut info = vec![
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ];
        info.extend_from_slice(digest(&SHA256, &msg).as_ref());
        let sig = sk.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info).unwrap();
        key.verify(&msg, &ds(1, &sig)).unwrap();
        assert!(
            key.verify(&msg, &ds(3, &sig)).is_err(),
            "an ECDSA label on an RSA key"
        );
        assert!(
            key.verify(&tree_head_input(5, 7, &[7; 32]), &ds(1, &sig))
                .is_err()
        );
    }
}

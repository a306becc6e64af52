//! Signing keys of every family, and minting at run time.

use attestgate::Alg;
use attestgate::mint::{self, SigningKey};
use serde_json::{Value, json};

/// One key of each family, with kids, and the matching verifier inputs.
pub struct TestKeys {
    /// The HS256 account secret, base64 (what a config file holds).
    pub secret_b64: String,
    pub hs: SigningKey,
    pub es: SigningKey,
    pub rs: SigningKey,
    pub ed: SigningKey,
}

impl Default for TestKeys {
    fn default() -> Self {
        TestKeys::new()
    }
}

impl TestKeys {
    pub fn new() -> TestKeys {
        let secret_b64 = mint::new_secret_base64().unwrap();
        let rsa_pem =
            std::fs::read_to_string(crate::repo_root().join("tests/fixtures/rsa2048.pem")).unwrap();
        TestKeys {
            hs: SigningKey::hs256_base64(&secret_b64).unwrap(),
            secret_b64,
            es: SigningKey::from_pem(&mint::generate_pem(Alg::ES256).unwrap(), Alg::ES256).unwrap(),
            rs: SigningKey::from_pem(&rsa_pem, Alg::RS256).unwrap(),
            ed: SigningKey::from_pem(&mint::generate_pem(Alg::EdDSA).unwrap(), Alg::EdDSA).unwrap(),
        }
    }

    /// A JWKS with the ES256 ("es-1"), RS256 ("rs-1") and EdDSA ("ed-1") keys.
    pub fn jwks(&self) -> Value {
        json!({"keys": [
            self.es.public_jwk(Some("es-1")).unwrap(),
            self.rs.public_jwk(Some("rs-1")).unwrap(),
            self.ed.public_jwk(Some("ed-1")).unwrap(),
        ]})
    }

    /// An HS256 token with `exp` = now + `ttl` and extra claims.
    pub fn hs256(&self, ttl: i64, extra: Value) -> String {
        mint::mint(&self.hs, None, &claims(ttl, extra)).unwrap()
    }

    /// An ES256 token with kid "es-1".
    pub fn es256(&self, ttl: i64, extra: Value) -> String {
        mint::mint(&self.es, Some("es-1"), &claims(ttl, extra)).unwrap()
    }

    pub fn rs256(&self, ttl: i64, extra: Value) -> String {
        mint::mint(&self.rs, Some("rs-1"), &claims(ttl, extra)).unwrap()
    }

    pub fn eddsa(&self, ttl: i64, extra: Value) -> String {
        mint::mint(&self.ed, Some("ed-1"), &claims(ttl, extra)).unwrap()
    }
}

/// Claims with `exp` = now + ttl, merged with `extra`.
pub fn claims(ttl: i64, extra: Value) -> Value {
    let mut c = json!({"exp": crate::now() as i64 + ttl});
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            c[k] = v;
        }
    }
    c
}

/// An Approov-like claims set: `exp`, `ip`, `did`, and `pay` when binding.
pub fn approov_claims(ttl: i64, bind: Option<&[&str]>) -> Value {
    let mut c = claims(
        ttl,
        json!({"ip": "203.0.113.7", "did": "ZmFrZS1kZXZpY2UtaWQtZm9yLXRlc3Rz"}),
    );
    if let Some(values) = bind {
        c["pay"] = attestgate::pay_claim(values).into();
    }
    c
}

/// One HS256 account secret, its signing key, and a fixed "now", for the
/// core's tests (which inject the clock).
pub struct HsFixture {
    pub secret_b64: String,
    pub key: SigningKey,
    pub t0: f64,
}

impl Default for HsFixture {
    fn default() -> Self {
        HsFixture::new()
    }
}

impl HsFixture {
    pub fn new() -> HsFixture {
        let secret_b64 = mint::new_secret_base64().unwrap();
        HsFixture {
            key: SigningKey::hs256_base64(&secret_b64).unwrap(),
            secret_b64,
            t0: crate::now() as f64,
        }
    }

    /// A verifier builder with this secret.
    pub fn builder(&self) -> attestgate::VerifierBuilder {
        attestgate::Verifier::builder()
            .secret_base64(&self.secret_b64)
            .unwrap()
    }

    /// A token with exactly these claims.
    pub fn token(&self, claims: Value) -> String {
        mint::mint(&self.key, None, &claims).unwrap()
    }
}

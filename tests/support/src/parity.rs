//! One table of token cases that every front end must decide alike: the
//! core (`Verifier::check`), the tower layer, and the proxy.
//!
//! A [`Fixture`] holds the keys and the one verifier configuration the table
//! assumes; [`Fixture::cases`] mints the tokens at run time. Run each case
//! through a front end, observe its outcome (pass, or the rejection reason:
//! from `attestgate_rejections_total{reason}`, a log line, or the layer's
//! `Rejection` extension) and compare it with [`Case::expect`].
//!
//! The configuration: HS256 account secret (no kid) and a JWKS file with the
//! ES256 ("es-1"), RS256 ("rs-1") and EdDSA ("ed-1") keys; algorithms
//! HS256, ES256, RS256, EdDSA; binding header `Authorization`
//! ([`BOUND_VALUE`]), `allow_missing_pay = false`; `max_lifetime` of
//! [`MAX_LIFETIME_SECS`]; everything else default (header `Approov-Token`,
//! no prefix, leeway 0, enforce, 401). [`Fixture::verifier_builder`] and
//! [`Fixture::token_toml`] spell it for the core and for the TOML file.

use std::path::PathBuf;

use attestgate::mint::{self, SigningKey};
use attestgate::{Alg, Reason, VerifierBuilder};
use serde_json::json;

use crate::TempDir;
use crate::tokens::{TestKeys, claims};

/// The binding header of the table's configuration.
pub const BINDING_HEADER: &str = "authorization";
/// The value every passing case sends in [`BINDING_HEADER`] (its tokens'
/// `pay` binds it).
pub const BOUND_VALUE: &str = "Bearer parity-user-1";
/// `max_lifetime` of the table's configuration.
pub const MAX_LIFETIME_SECS: u64 = 3600;

/// What a front end must decide for a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Passes; the handler sees the token's claims.
    Allowed,
    /// Refused (or, in monitor mode, let through) for this reason.
    Rejected(Reason),
}

/// One row: the request headers and the expected decision.
#[derive(Clone, Debug)]
pub struct Case {
    /// A short name, unique in the table.
    pub name: &'static str,
    /// Request headers, in order (a name may repeat).
    pub headers: Vec<(&'static str, String)>,
    pub expect: Expect,
    /// For [`Expect::Allowed`]: the `did` claim the handler must see.
    pub did: Option<String>,
}

impl Case {
    /// The headers as a `HeaderMap` (repeated names appended).
    pub fn header_map(&self) -> ::http::HeaderMap {
        let mut map = ::http::HeaderMap::new();
        for (k, v) in &self.headers {
            map.append(
                ::http::HeaderName::from_static(k),
                ::http::HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    /// The headers as pairs, for `client::request`.
    pub fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// Keys, the JWKS file, and the table.
pub struct Fixture {
    pub keys: TestKeys,
    pub dir: TempDir,
    pub jwks_file: PathBuf,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    pub fn new() -> Fixture {
        let keys = TestKeys::new();
        let dir = TempDir::new("parity");
        let jwks_file = dir.write_atomic("jwks.json", keys.jwks().to_string());
        Fixture {
            keys,
            dir,
            jwks_file,
        }
    }

    /// The table's configuration for `attestgate::Verifier::builder()`.
    pub fn verifier_builder(&self) -> VerifierBuilder {
        attestgate::Verifier::builder()
            .secret_base64(&self.keys.secret_b64)
            .unwrap()
            .jwks_file(&self.jwks_file)
            .algorithms([Alg::HS256, Alg::ES256, Alg::RS256, Alg::EdDSA])
            .binding_headers([BINDING_HEADER])
            .max_lifetime(std::time::Duration::from_secs(MAX_LIFETIME_SECS))
    }

    /// The same configuration as the `[token]` section of the TOML file
    /// (as config/example.toml writes it), the secret given inline.
    pub fn token_toml(&self) -> String {
        format!(
            r#"[token]
header = "Approov-Token"
mode = "enforce"
algorithms = ["HS256", "ES256", "RS256", "EdDSA"]
max_lifetime = "{MAX_LIFETIME_SECS}s"
binding_headers = ["Authorization"]
allow_missing_pay = false

[[token.secret]]
base64 = {{ value = "{secret}" }}

[token.jwks]
file = "{jwks}"
"#,
            secret = self.keys.secret_b64,
            jwks = self.jwks_file.display(),
        )
    }

    /// The table. Tokens are minted now (valid for 10 minutes unless the
    /// case says otherwise).
    pub fn cases(&self) -> Vec<Case> {
        let k = &self.keys;
        let pay = attestgate::pay_claim(&[BOUND_VALUE]);
        let bound = |did: &str| json!({"did": did, "pay": pay, "ip": "203.0.113.7"});
        let other_hs = SigningKey::hs256_base64(&mint::new_secret_base64().unwrap()).unwrap();
        let other_es =
            SigningKey::from_pem(&mint::generate_pem(Alg::ES256).unwrap(), Alg::ES256).unwrap();
        let now = crate::now() as i64;

        let mut cases = Vec::new();
        let mut add = |name: &'static str, token: Option<String>, expect: Expect| {
            let mut headers = Vec::new();
            if let Some(t) = token {
                headers.push(("approov-token", t));
            }
            headers.push((BINDING_HEADER, BOUND_VALUE.to_owned()));
            let did = (expect == Expect::Allowed).then(|| format!("dev-{name}"));
            cases.push(Case {
                name,
                headers,
                expect,
                did,
            });
        };
        use Expect::{Allowed, Rejected};

        // Passing, one per algorithm family.
        add("hs256", Some(k.hs256(600, bound("dev-hs256"))), Allowed);
        add("es256", Some(k.es256(600, bound("dev-es256"))), Allowed);
        add("rs256", Some(k.rs256(600, bound("dev-rs256"))), Allowed);
        add("eddsa", Some(k.eddsa(600, bound("dev-eddsa"))), Allowed);

        // Step 1: extraction.
        add("missing", None, Rejected(Reason::Missing));
        add("empty", Some(String::new()), Rejected(Reason::Missing));
        add(
            "sdk_status_no_network",
            Some("NO_NETWORK".into()),
            Rejected(Reason::SdkStatus),
        );
        add(
            "sdk_status_mitm",
            Some("MITM_DETECTED".into()),
            Rejected(Reason::SdkStatus),
        );
        add(
            "comma_joined",
            Some(format!(
                "{},{}",
                k.hs256(600, bound("x")),
                k.hs256(600, bound("y"))
            )),
            Rejected(Reason::Malformed),
        );

        // Step 2: structure.
        add(
            "two_segments",
            Some("abc.def".into()),
            Rejected(Reason::Malformed),
        );
        add(
            "four_segments",
            Some(format!("{}.x", k.hs256(600, bound("x")))),
            Rejected(Reason::Malformed),
        );
        add(
            "header_not_json",
            Some(
                mint::sign_parts(
                    &k.hs,
                    b"not json",
                    claims(600, bound("x")).to_string().as_bytes(),
                )
                .unwrap(),
            ),
            Rejected(Reason::Malformed),
        );
        add(
            "crit_header",
            Some(
                mint::mint_with_header(
                    &k.hs,
                    &json!({"alg": "HS256", "crit": ["exp"]}),
                    &claims(600, bound("x")),
                )
                .unwrap(),
            ),
            Rejected(Reason::Malformed),
        );

        // Step 2: algorithm and key.
        add(
            "alg_none",
            Some(
                mint::mint_with_header(&k.hs, &json!({"alg": "none"}), &claims(600, bound("x")))
                    .unwrap(),
            ),
            Rejected(Reason::Algorithm),
        );
        add(
            "alg_not_allowed",
            Some(
                mint::mint_with_header(&k.hs, &json!({"alg": "HS384"}), &claims(600, bound("x")))
                    .unwrap(),
            ),
            Rejected(Reason::Algorithm),
        );
        add(
            "hmac_with_asymmetric_kid",
            Some(mint::mint(&k.hs, Some("es-1"), &claims(600, bound("x"))).unwrap()),
            Rejected(Reason::Algorithm),
        );
        add(
            "unknown_kid",
            Some(mint::mint(&k.es, Some("no-such-kid"), &claims(600, bound("x"))).unwrap()),
            Rejected(Reason::UnknownKey),
        );
        add(
            "hs256_other_secret",
            Some(mint::mint(&other_hs, None, &claims(600, bound("x"))).unwrap()),
            Rejected(Reason::BadSignature),
        );
        add(
            "es256_other_key",
            Some(mint::mint(&other_es, Some("es-1"), &claims(600, bound("x"))).unwrap()),
            Rejected(Reason::BadSignature),
        );

        // Step 2: time and claims.
        add(
            "expired",
            Some(k.hs256(-60, bound("x"))),
            Rejected(Reason::Expired),
        );
        let mut nbf = bound("x");
        nbf["nbf"] = (now + 600).into();
        add(
            "not_yet_valid",
            Some(k.hs256(900, nbf)),
            Rejected(Reason::NotYetValid),
        );
        add(
            "lifetime_too_long",
            Some(k.hs256(MAX_LIFETIME_SECS as i64 + 600, bound("x"))),
            Rejected(Reason::Claims),
        );
        add(
            "exp_not_a_number",
            Some(mint::mint(&k.hs, None, &json!({"exp": "soon", "pay": pay})).unwrap()),
            Rejected(Reason::Claims),
        );

        // Step 3: binding.
        add(
            "pay_other_value",
            Some(k.hs256(
                600,
                json!({"pay": attestgate::pay_claim(&["Bearer someone-else"])}),
            )),
            Rejected(Reason::Binding),
        );
        add(
            "pay_absent",
            Some(k.hs256(600, json!({"did": "x"}))),
            Rejected(Reason::Binding),
        );

        // Cases whose headers differ from the common shape.
        let t = k.hs256(600, bound("x"));
        cases.push(Case {
            name: "token_header_repeated",
            headers: vec![
                ("approov-token", t.clone()),
                ("approov-token", t.clone()),
                (BINDING_HEADER, BOUND_VALUE.to_owned()),
            ],
            expect: Rejected(Reason::Malformed),
            did: None,
        });
        cases.push(Case {
            name: "binding_header_missing",
            headers: vec![("approov-token", t.clone())],
            expect: Rejected(Reason::Binding),
            did: None,
        });
        cases.push(Case {
            name: "binding_header_repeated",
            headers: vec![
                ("approov-token", t),
                (BINDING_HEADER, BOUND_VALUE.to_owned()),
                (BINDING_HEADER, BOUND_VALUE.to_owned()),
            ],
            expect: Rejected(Reason::Binding),
            did: None,
        });
        cases
    }
}

/// Every reason the table covers (all but `no_keys`, which needs a verifier
/// without keys).
pub fn reasons_covered(cases: &[Case]) -> Vec<Reason> {
    let mut out: Vec<Reason> = cases
        .iter()
        .filter_map(|c| match c.expect {
            Expect::Rejected(r) => Some(r),
            Expect::Allowed => None,
        })
        .collect();
    out.sort_by_key(|r| r.index());
    out.dedup();
    out
}

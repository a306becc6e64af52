//! Message signing, table-driven: one signed request altered every way we
//! could think of, each row with the exact refusal it must get (or `Ok`
//! for the variants that must pass). The request is signed at run time
//! with Approov's test key; the clock is injected.

use attestgate::msgsig::{
    InstallKey, IpkError, MessageSigning, MessageSigningPolicy, ReplayMode, RequestParts,
    SignatureError, content_digest, signature_base,
};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue};

use SignatureError::*;

mod altered;
mod components;
mod malformed;
mod params;
mod passing;
mod rig;

use rig::*;

fn rows() -> Vec<Row> {
    let mut v = passing::passing();
    v.extend(altered::altered());
    v.extend(params::time_and_params());
    v.extend(components::components());
    v.extend(malformed::malformed_headers());
    v
}

#[test]
fn every_row_gets_its_answer() {
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let rows = rows();
    let mut names = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for row in &rows {
        assert!(names.insert(row.name), "row names are unique: {}", row.name);
        let mut r = Req::base();
        (row.prep)(&mut r);
        sign(&signer, &mut r, &row.member);
        (row.tamper)(&mut r);
        let got = signing
            .verify(&r.parts(), r.body.as_deref(), r.key.as_ref(), r.now)
            .map(|s| assert!(s.is_some(), "{}", row.name));
        if got != row.want {
            failures.push(format!("{}: got {got:?}, want {:?}", row.name, row.want));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(rows.len() > 120, "{}", rows.len());
}

#[test]
fn the_table_reaches_every_refusal() {
    let seen: std::collections::BTreeSet<&str> = rows()
        .iter()
        .filter_map(|r| r.want.err())
        .map(|e| e.as_str())
        .collect();
    // DigestSyntax is reached in the digest module's own table.
    for e in [
        Missing,
        TooLong,
        NotAscii,
        Syntax,
        NoInstallLabel,
        LabelsDiffer,
        WrongType,
        BadComponent,
        DuplicateComponent,
        TooManyComponents,
        MissingComponent,
        AbsentComponent,
        BadParameter,
        Algorithm,
        NoCreated,
        TooOld,
        Future,
        Expired,
        NoKey,
        BadKey,
        SignatureLength,
        BadSignature,
        DigestMissing,
        DigestMismatch,
    ] {
        assert!(seen.contains(e.as_str()), "{e:?} not covered");
    }
}

#[test]
fn optional_signing_passes_unsigned_and_keyless_requests_only() {
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            required: false,
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let check = |r: &Req| signing.verify(&r.parts(), r.body.as_deref(), r.key.as_ref(), r.now);
    let unsigned = Req::base();
    assert_eq!(check(&unsigned), Ok(None));
    let mut keyless = Req::base();
    sign(&signer, &mut keyless, &std_member());
    keyless.key = None;
    assert_eq!(check(&keyless), Ok(None));
    // present: checked, and refused when wrong
    let mut altered = Req::base();
    sign(&signer, &mut altered, &std_member());
    assert!(matches!(check(&altered), Ok(Some(_))));
    altered.method = "PUT".into();
    assert_eq!(check(&altered), Err(BadSignature));
    let mut half = Req::base();
    half.set("signature", "install=:AAAA:");
    assert_eq!(check(&half), Err(Missing));
}

#[test]
fn a_digest_is_optional_when_the_policy_says_so_but_checked_when_sent() {
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            content_digest: attestgate::msgsig::ContentDigestRule::Optional,
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let member = format!(
        "(\"@method\" \"@target-uri\" \"approov-token\"){}",
        params(NOW)
    );
    let mut r = Req::base();
    r.headers.remove("content-digest");
    sign(&signer, &mut r, &member);
    let check = |r: &Req| signing.verify(&r.parts(), r.body.as_deref(), r.key.as_ref(), r.now);
    assert!(matches!(check(&r), Ok(Some(_))));
    // an uncovered digest that is sent must still match the body
    r.set(
        "content-digest",
        &content_digest("sha-256", b"other").unwrap(),
    );
    assert_eq!(check(&r), Err(DigestMismatch));
    r.set("content-digest", "md5=:AAAA:");
    assert_eq!(check(&r), Err(DigestSyntax));
    // a GET without a body needs no digest even when required-with-body
    let strict = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let mut get = Req::base();
    get.method = "GET".into();
    get.body = None;
    get.headers.remove("content-digest");
    sign(&signer, &mut get, &member);
    assert!(matches!(
        strict.verify(&get.parts(), None, get.key.as_ref(), get.now),
        Ok(Some(_))
    ));
}

#[test]
fn errors_and_debug_never_show_the_token_or_key() {
    let r = Req::base();
    let key = r.key.clone().unwrap().unwrap();
    assert!(!format!("{key:?}").contains(&ApproovVectors::ipk()[..20]));
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Redis,
            redis_url: Some("redis://:hunter2@127.0.0.1:1".into()),
            ..MessageSigningPolicy::default()
        },
        None,
    );
    let problems = signing.unwrap_err();
    assert!(problems.iter().all(|p| !p.to_string().contains("hunter2")));
    let parts = format!("{:?}", r.parts());
    assert!(
        parts.contains("approov-token") && !parts.contains("eyJ"),
        "{parts}"
    );
    for e in [BadSignature, Syntax, NoKey] {
        let text = format!("{e} {e:?}");
        assert!(!text.contains("eyJ"), "{text}");
    }
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Any printable `Signature-Input` / `Signature` pair: an error,
        /// never a panic, never a pass.
        #[test]
        fn random_signature_headers_are_refused(
            input in "install=\\(([\"@a-z;= ]|\"@method\"|\"approov-token\"){0,40}\\)[;a-z=\"0-9]{0,30}|[ -~]{0,80}",
            sig in "install=:[A-Za-z0-9+/=]{0,100}:|[ -~]{0,80}",
        ) {
            let signing = MessageSigning::new(
                MessageSigningPolicy { replay: ReplayMode::Off, ..MessageSigningPolicy::default() },
                None,
            )
            .unwrap();
            let mut r = Req::base();
            if let (Ok(i), Ok(s)) = (HeaderValue::from_str(&input), HeaderValue::from_str(&sig)) {
                r.headers.insert("signature-input", i);
                r.headers.insert("signature", s);
                let got = signing.verify(&r.parts(), r.body.as_deref(), r.key.as_ref(), r.now);
                prop_assert!(got.is_err(), "{:?}", got);
            }
        }
    }
}

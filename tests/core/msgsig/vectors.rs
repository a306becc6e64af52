//! Approov's published message-signing vectors (tests/fixtures/msgsig):
//! the four requests of `request_tests_approov_msg.sh`, signed with its
//! test key, verified with the `ipk` of its token — the token itself
//! verified by attestgate's real verifier with the script's dummy secret.
//!
//! Each case runs twice: with the script's own parameters
//! (created=1744292750, expires=1999999999) and an injected clock, where
//! the signature base must equal, byte for byte, the one the script
//! writes; and with created = now on the real clock.

use attestgate::Verifier;
use attestgate::msgsig::{
    self, InstallKey, IpkError, MessageSigning, MessageSigningPolicy, ReplayMode, RequestParts,
    SignatureError,
};
use attestgate_testkit::msgsig::{ApproovVectors, InstallSigner};
use base64::Engine;
use http::HeaderMap;

const URI_AUTHORITY: &str = "0.0.0.0:8111";
const URI_PATH: &str = "/token?param1=value1&param2=value2";
const TARGET_URI: &str = "http://0.0.0.0:8111/token?param1=value1&param2=value2";
const SCRIPT_CREATED: i64 = 1744292750;
const BODY: &str = "My test message body";

struct Case {
    name: &'static str,
    method: &'static str,
    components: &'static str,
    /// `Content-Digest` as the script sends it.
    digest: Option<String>,
    body: Option<&'static str>,
    /// The script's message, with `{token}` and `{params}` to fill in.
    script_message: String,
}

fn body_sha256_b64() -> String {
    base64::engine::general_purpose::STANDARD
        .encode(ring::digest::digest(&ring::digest::SHA256, BODY.as_bytes()))
}

fn cases() -> Vec<Case> {
    let d = body_sha256_b64();
    vec![
        Case {
            name: "test1: @method and approov-token",
            method: "GET",
            components: r#"("@method" "approov-token")"#,
            digest: None,
            body: None,
            script_message:
                "\"@method\": GET\n\"approov-token\": {token}\n\"@signature-params\": {params}"
                    .into(),
        },
        Case {
            name: "test2: with @target-uri",
            method: "GET",
            components: r#"("@method" "@target-uri" "approov-token")"#,
            digest: None,
            body: None,
            script_message: format!(
                "\"@method\": GET\n\"@target-uri\": {TARGET_URI}\n\"approov-token\": {{token}}\n\"@signature-params\": {{params}}"
            ),
        },
        Case {
            name: "test3: POST, content-digest in string form",
            method: "POST",
            components: r#"("@method" "@target-uri" "approov-token" "content-digest")"#,
            digest: Some(format!("sha-256=\"{d}\"")),
            body: Some(BODY),
            script_message: format!(
                "\"@method\": POST\n\"@target-uri\": {TARGET_URI}\n\"approov-token\": {{token}}\n\"content-digest\": sha-256=\"{d}\"\n\"@signature-params\": {{params}}"
            ),
        },
        Case {
            name: "test4: POST, content-digest as a byte sequence",
            method: "POST",
            components: r#"("@method" "@target-uri" "approov-token" "content-digest")"#,
            digest: Some(format!("sha-256=:{d}:")),
            body: Some(BODY),
            script_message: format!(
                "\"@method\": POST\n\"@target-uri\": {TARGET_URI}\n\"approov-token\": {{token}}\n\"content-digest\": sha-256=:{d}:\n\"@signature-params\": {{params}}"
            ),
        },
    ]
}

/// The token verified by the real verifier, and its `ipk` parsed.
fn verified_key() -> Result<InstallKey, IpkError> {
    let verifier = Verifier::builder()
        .secret_base64(&ApproovVectors::secret())
        .unwrap()
        .build()
        .unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("approov-token", ApproovVectors::token().parse().unwrap());
    let token = verifier.check(&headers).unwrap();
    assert_eq!(token.did(), Some("ExampleApproovTokenDID=="));
    InstallKey::from_claims(&token.claims()).unwrap()
}

fn headers_for(case: &Case) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("approov-token", ApproovVectors::token().parse().unwrap());
    if let Some(d) = &case.digest {
        h.insert("content-digest", d.parse().unwrap());
    }
    h
}

fn parts<'a>(method: &'a str, headers: &'a HeaderMap) -> RequestParts<'a> {
    RequestParts {
        method,
        scheme: "http",
        authority: URI_AUTHORITY,
        path_and_query: URI_PATH,
        headers,
    }
}

fn policy_for_script() -> MessageSigningPolicy {
    MessageSigningPolicy {
        // test1 covers neither @target-uri nor content-digest
        min_components: vec!["@method".into(), "approov-token".into()],
        replay: ReplayMode::Off,
        ..MessageSigningPolicy::default()
    }
}

#[test]
fn the_ipk_of_the_script_token_is_its_test_key() {
    let key = verified_key().unwrap();
    assert_eq!(key, InstallKey::from_ipk(&ApproovVectors::ipk()).unwrap());
    let signer = InstallSigner::approov_test_key();
    assert_eq!(signer.ipk(), ApproovVectors::ipk());
}

#[test]
fn the_script_requests_with_its_own_parameters_and_base() {
    let key = Ok(verified_key().unwrap());
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(policy_for_script(), None).unwrap();
    let params = format!(";alg=\"ecdsa-p256-sha256\";created={SCRIPT_CREATED};expires=1999999999");
    for case in cases() {
        let mut headers = headers_for(&case);
        let member = format!("{}{params}", case.components);
        let (input, sig) = signer.sign(&parts(case.method, &headers), &member);

        // The base we rebuild is the one the script writes.
        let want = case
            .script_message
            .replace("{token}", &ApproovVectors::token())
            .replace("{params}", &member);
        let base = msgsig::signature_base(&parts(case.method, &headers), &input).unwrap();
        assert_eq!(base, want, "{}", case.name);

        headers.insert("signature-input", input.parse().unwrap());
        headers.insert("signature", sig.parse().unwrap());
        let body = case.body.map(str::as_bytes);
        // The script's created, 10 s later on an injected clock.
        let now = (SCRIPT_CREATED + 10) as f64;
        let signed = signing
            .verify(&parts(case.method, &headers), body, Some(&key), now)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name))
            .unwrap();
        assert_eq!(signed.created, SCRIPT_CREATED);
        // max_age 60 s: the window ends at created + 60 + leeway 5
        assert_eq!(signed.window_end, (SCRIPT_CREATED + 65) as f64);
        // On today's clock the same request is long past max_age.
        let today = attestgate_testkit::now() as f64;
        assert_eq!(
            signing.verify(&parts(case.method, &headers), body, Some(&key), today),
            Err(SignatureError::TooOld),
            "{}",
            case.name
        );
    }
}

#[test]
fn the_script_requests_signed_now_pass_once_then_replay() {
    let key = Ok(verified_key().unwrap());
    let signer = InstallSigner::approov_test_key();
    let now = attestgate_testkit::now();
    let policy = MessageSigningPolicy {
        replay: ReplayMode::Memory,
        ..policy_for_script()
    };
    let signing = MessageSigning::new(policy, None).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for case in cases() {
        let mut headers = headers_for(&case);
        let member = format!(
            "{};alg=\"ecdsa-p256-sha256\";created={now}",
            case.components
        );
        let (input, sig) = signer.sign(&parts(case.method, &headers), &member);
        headers.insert("signature-input", input.parse().unwrap());
        headers.insert("signature", sig.parse().unwrap());
        let body = case.body.map(str::as_bytes);
        let t = attestgate_testkit::now() as f64;
        let first = rt.block_on(signing.check(&parts(case.method, &headers), body, Some(&key), t));
        assert_eq!(first, Ok(()), "{}", case.name);
        let again = rt.block_on(signing.check(&parts(case.method, &headers), body, Some(&key), t));
        assert_eq!(again, Err(attestgate::Reason::Replay), "{}", case.name);
    }
}

#[test]
fn the_default_policy_wants_target_uri_and_a_digest_for_a_body() {
    let key = Ok(verified_key().unwrap());
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let now = attestgate_testkit::now();
    let want = [
        Err(SignatureError::MissingComponent), // test1: no @target-uri
        Ok(()),
        Ok(()),
        Ok(()),
    ];
    for (case, want) in cases().iter().zip(want) {
        let mut headers = headers_for(case);
        let member = format!(
            "{};alg=\"ecdsa-p256-sha256\";created={now}",
            case.components
        );
        let (input, sig) = signer.sign(&parts(case.method, &headers), &member);
        headers.insert("signature-input", input.parse().unwrap());
        headers.insert("signature", sig.parse().unwrap());
        let got = signing
            .verify(
                &parts(case.method, &headers),
                case.body.map(str::as_bytes),
                Some(&key),
                now as f64,
            )
            .map(|_| ());
        assert_eq!(got, want, "{}", case.name);
    }
}

/// The shape Approov's Android SDK (`ApproovDefaultMessageSigning`) gives a
/// POST by default: `@method`, `@target-uri`, the token header, the
/// optional `authorization`/`content-length`/`content-type` when present,
/// `content-digest` (sha-256, byte sequence) for a body, `created` and
/// `expires = created + 15`; and next to `install` an `account` signature
/// (HMAC, which we do not check), each label in its own header line.
#[test]
fn the_android_sdk_default_shape_passes() {
    let key = Ok(verified_key().unwrap());
    let signer = InstallSigner::approov_test_key();
    let signing = MessageSigning::new(
        MessageSigningPolicy {
            replay: ReplayMode::Off,
            ..MessageSigningPolicy::default()
        },
        None,
    )
    .unwrap();
    let body = br#"{"item":"book","qty":1}"#;
    let mut h = HeaderMap::new();
    h.insert("approov-token", ApproovVectors::token().parse().unwrap());
    h.insert("authorization", "Bearer user-7".parse().unwrap());
    h.insert("content-length", body.len().to_string().parse().unwrap());
    h.insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    h.insert(
        "content-digest",
        msgsig::content_digest("sha-256", body)
            .unwrap()
            .parse()
            .unwrap(),
    );
    let now = attestgate_testkit::now() as i64;
    let member = format!(
        "(\"@method\" \"@target-uri\" \"approov-token\" \"authorization\" \"content-length\" \"content-type\" \"content-digest\");alg=\"ecdsa-p256-sha256\";created={now};expires={}",
        now + 15
    );
    let req = RequestParts {
        method: "POST",
        scheme: "https",
        authority: "shapes.approov.io",
        path_and_query: "/v1/orders?ref=a%7Cb",
        headers: &h,
    };
    let (input, sig) = signer.sign(&req, &member);
    let mut h2 = h.clone();
    h2.append("signature", sig.parse().unwrap());
    h2.append(
        "signature",
        "account=:c2lnbmF0dXJlLW9mLXRoZS1hY2NvdW50:"
            .parse()
            .unwrap(),
    );
    h2.append("signature-input", input.parse().unwrap());
    h2.append(
        "signature-input",
        format!("account=(\"@method\" \"@target-uri\");alg=\"hmac-sha256\";created={now}")
            .parse()
            .unwrap(),
    );
    let req = RequestParts {
        headers: &h2,
        ..req
    };
    let signed = signing
        .verify(&req, Some(body), Some(&key), now as f64 + 1.0)
        .unwrap()
        .unwrap();
    // the window closes at expires (+ leeway), before created + max_age
    assert_eq!(signed.window_end, (now + 15 + 5) as f64);
    // 16 s later the SDK's own expiry has passed
    assert_eq!(
        signing.verify(&req, Some(body), Some(&key), now as f64 + 21.0),
        Err(SignatureError::Expired)
    );
}

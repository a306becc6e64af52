use super::*;

#[test]
fn debug_of_request_parts_shows_no_header_value_or_query() {
    let mut h = HeaderMap::new();
    h.insert(
        "approov-token",
        HeaderValue::from_static("secret.token.value"),
    );
    let uri = Uri::from_static("/ws?approov-token=query.token.value");
    let parts = RequestParts {
        method: &Method::GET,
        uri: &uri,
        headers: &h,
        client: None,
        body: crate::canonical::BodyHint::FromHeaders,
    };
    let text = format!("{parts:?}");
    assert!(
        text.contains("approov-token") && text.contains("/ws"),
        "{text}"
    );
    assert!(
        !text.contains("secret.token") && !text.contains("query.token"),
        "{text}"
    );
}

/// Exempt methods are exempt from the token, not from the rules; an
/// optional route's upgrade needs a token.
#[test]
fn exemptions_hold_only_for_plain_requests() {
    use crate::canonical::BodyHint;
    use crate::policy::TokenRequirement;
    let secret = crate::token::mint::new_secret_base64().unwrap();
    let base = crate::Verifier::builder()
        .secret_base64(&secret)
        .unwrap()
        .build()
        .unwrap();
    let exempt = base.with_policy(crate::Policy {
        methods_without_token: vec![Method::OPTIONS, Method::HEAD, Method::GET],
        ..base.policy().clone()
    });
    let optional = base.with_policy(crate::Policy {
        token: TokenRequirement::Optional,
        ..base.policy().clone()
    });
    let key = crate::token::mint::SigningKey::hs256_base64(&secret).unwrap();
    let exp = crate::clock::now() as u64 + 300;
    let token = crate::token::mint::mint(&key, None, &serde_json::json!({ "exp": exp })).unwrap();
    // (verifier, method, target, headers, body, with token) → outcome
    let up = [("upgrade", "websocket"), ("connection", "upgrade")];
    let table: Vec<(
        &crate::Verifier,
        Method,
        &str,
        Vec<(&str, &str)>,
        BodyHint,
        bool,
        Outcome,
    )> = vec![
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![],
            BodyHint::FromHeaders,
            false,
            Outcome::Anonymous,
        ),
        (
            &exempt,
            Method::HEAD,
            "/p",
            vec![],
            BodyHint::Empty,
            false,
            Outcome::Anonymous,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            up.to_vec(),
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::GET,
            "/p",
            up.to_vec(),
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::GET,
            "/p",
            up.to_vec(),
            BodyHint::FromHeaders,
            true,
            Outcome::Allowed,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![("x-http-method-override", "POST")],
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![("x-http-method", "DELETE")],
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::HEAD,
            "/p",
            vec![("x-method-override", "PUT")],
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![("x_http_method_override", "PUT")],
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p?_method=DELETE",
            vec![],
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![("x-http-method-override", "POST")],
            BodyHint::FromHeaders,
            true,
            Outcome::Allowed,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![("content-length", "4")],
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![("transfer-encoding", "chunked")],
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![],
            BodyHint::Present,
            false,
            Outcome::Rejected,
        ),
        (
            &exempt,
            Method::OPTIONS,
            "/p",
            vec![("content-length", "0")],
            BodyHint::FromHeaders,
            false,
            Outcome::Anonymous,
        ),
        (
            &exempt,
            Method::POST,
            "/p",
            vec![],
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &optional,
            Method::GET,
            "/p",
            vec![],
            BodyHint::FromHeaders,
            false,
            Outcome::Anonymous,
        ),
        (
            &optional,
            Method::GET,
            "/p",
            up.to_vec(),
            BodyHint::FromHeaders,
            false,
            Outcome::Rejected,
        ),
        (
            &optional,
            Method::GET,
            "/p",
            up.to_vec(),
            BodyHint::FromHeaders,
            true,
            Outcome::Allowed,
        ),
    ];
    for (v, method, target, pairs, body, with_token, want) in table {
        let mut headers = HeaderMap::new();
        for (k, val) in &pairs {
            headers.append(*k, HeaderValue::from_str(val).unwrap());
        }
        if with_token {
            headers.insert("approov-token", HeaderValue::from_str(&token).unwrap());
        }
        let uri = Uri::try_from(target).unwrap();
        let d = v.decide(RequestParts {
            method: &method,
            uri: &uri,
            headers: &headers,
            client: None,
            body,
        });
        assert_eq!(
            d.outcome(),
            want,
            "{method} {target} {pairs:?} {body:?} token={with_token}"
        );
        assert!(!(want == Outcome::Anonymous && d.secrets_allowed()));
    }
}

//! Component values against the examples of RFC 9421 §2.1 and §2.2.

use super::*;
use crate::msgsig::structured::parse_list;

fn item(text: &str) -> Item {
    structured::parse_item(text).unwrap()
}

fn value(req: &RequestParts<'_>, id: &str) -> Result<Vec<String>, SignatureError> {
    values(req, &item(id))
}

fn one(req: &RequestParts<'_>, id: &str) -> String {
    let v = value(req, id).unwrap();
    assert_eq!(v.len(), 1, "{id}");
    v.into_iter().next().unwrap()
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn derived_components_rfc_2_2() {
    let h = HeaderMap::new();
    let req = RequestParts {
        method: "POST",
        scheme: "https",
        authority: "www.example.com",
        path_and_query: "/path?param=value",
        headers: &h,
    };
    assert_eq!(one(&req, "\"@method\""), "POST");
    assert_eq!(
        one(&req, "\"@target-uri\""),
        "https://www.example.com/path?param=value"
    );
    assert_eq!(one(&req, "\"@authority\""), "www.example.com");
    assert_eq!(one(&req, "\"@scheme\""), "https");
    assert_eq!(one(&req, "\"@request-target\""), "/path?param=value");
    assert_eq!(one(&req, "\"@path\""), "/path");
    assert_eq!(one(&req, "\"@query\""), "?param=value");

    let bare = RequestParts {
        scheme: "HTTP",
        authority: "WWW.Example.COM:80",
        path_and_query: "/",
        ..req
    };
    assert_eq!(one(&bare, "\"@query\""), "?");
    assert_eq!(one(&bare, "\"@authority\""), "www.example.com");
    assert_eq!(one(&bare, "\"@scheme\""), "http");
    assert_eq!(one(&bare, "\"@target-uri\""), "http://www.example.com/");
    // a non-default port stays
    let port = RequestParts {
        authority: "h:8443",
        ..req
    };
    assert_eq!(one(&port, "\"@authority\""), "h:8443");
    assert_eq!(
        one(
            &RequestParts {
                path_and_query: "?x",
                ..req
            },
            "\"@path\""
        ),
        "/"
    );
}

#[test]
fn query_params_rfc_2_2_8() {
    let h = HeaderMap::new();
    let req = RequestParts {
        method: "GET",
        scheme: "https",
        authority: "example.com",
        path_and_query: "/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something&param=value&foo=bar&baz=batman&qux=&rep=1&rep=2&flag",
        headers: &h,
    };
    let q = |name: &str| value(&req, &format!("\"@query-param\";name=\"{name}\""));
    assert_eq!(
        q("var").unwrap(),
        ["this%20is%20a%20big%0Amultiline%20value"]
    );
    assert_eq!(q("bar").unwrap(), ["with%20plus%20whitespace"]);
    assert_eq!(q("fa%C3%A7ade%22%3A%20").unwrap(), ["something"]);
    assert_eq!(q("baz").unwrap(), ["batman"]);
    assert_eq!(q("qux").unwrap(), [""]);
    assert_eq!(q("flag").unwrap(), [""]);
    // a repeated name must not be covered (RFC 9421 §2.2.8)
    assert_eq!(q("rep"), Err(SignatureError::BadComponent));
    assert_eq!(q("nope"), Err(SignatureError::AbsentComponent));
    // a malformed escape stays as written (and is re-encoded)
    let odd = RequestParts {
        path_and_query: "/?a=%zz%4&b=%",
        ..req
    };
    assert_eq!(
        value(&odd, "\"@query-param\";name=\"a\"").unwrap(),
        ["%25zz%254"]
    );
    assert_eq!(value(&odd, "\"@query-param\";name=\"b\"").unwrap(), ["%25"]);
}

#[test]
fn header_fields_rfc_2_1() {
    let h = headers(&[
        ("x-ows-header", "   Leading and trailing whitespace.   "),
        ("cache-control", "max-age=60"),
        ("cache-control", "   must-revalidate"),
        ("x-empty-header", ""),
        ("example-dict", " a=1,    b=2;x=1;y=2,   c=(a   b   c)"),
        ("example-dict-d", "a=1, b=2;x=1;y=2, c=(a b c), d"),
        ("example-header", "value, with, lots"),
        ("example-header", "of, commas"),
    ]);
    let req = RequestParts {
        method: "GET",
        scheme: "https",
        authority: "example.com",
        path_and_query: "/",
        headers: &h,
    };
    assert_eq!(
        one(&req, "\"x-ows-header\""),
        "Leading and trailing whitespace."
    );
    assert_eq!(
        one(&req, "\"cache-control\""),
        "max-age=60, must-revalidate"
    );
    assert_eq!(one(&req, "\"x-empty-header\""), "");
    assert_eq!(
        one(&req, "\"example-dict\""),
        "a=1,    b=2;x=1;y=2,   c=(a   b   c)"
    );
    assert_eq!(
        one(&req, "\"example-dict\";sf"),
        "a=1, b=2;x=1;y=2, c=(a b c)"
    );
    assert_eq!(one(&req, "\"example-dict\";key=\"a\""), "1");
    assert_eq!(one(&req, "\"example-dict-d\";key=\"d\""), "?1");
    assert_eq!(one(&req, "\"example-dict-d\";key=\"b\""), "2;x=1;y=2");
    assert_eq!(one(&req, "\"example-dict-d\";key=\"c\""), "(a b c)");
    assert_eq!(
        one(&req, "\"example-header\""),
        "value, with, lots, of, commas"
    );
    assert_eq!(
        one(&req, "\"example-header\";bs"),
        ":dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:"
    );
    assert_eq!(
        one(&req, "\"example-header\";sf"),
        "value, with, lots, of, commas"
    );
    assert_eq!(
        value(&req, "\"x-missing\""),
        Err(SignatureError::AbsentComponent)
    );
    assert_eq!(
        value(&req, "\"example-dict\";key=\"zz\""),
        Err(SignatureError::AbsentComponent)
    );
    for bad in [
        "\"X-Ows-Header\"",
        "\"bad name\"",
        "\"\"",
        "\"x-ows-header\";req",
        "\"x-ows-header\";tr",
        "\"x-ows-header\";name=\"a\"",
        "\"x-ows-header\";bs;sf",
        "\"example-dict\";bs;key=\"a\"",
        "\"@status\"",
        "\"@request-response\"",
        "\"@method\";req",
        "\"@query-param\"",
        "\"@query-param\";name=a",
        "x-ows-header",
        "1",
    ] {
        assert_eq!(value(&req, bad), Err(SignatureError::BadComponent), "{bad}");
    }
}

#[test]
fn identifiers_for_min_components() {
    for good in [
        "@method",
        "@target-uri",
        "@query",
        "approov-token",
        "content-digest",
    ] {
        assert_eq!(check_identifier(good), Ok(()), "{good}");
    }
    for bad in [
        "@status",
        "@query-param",
        "@x",
        "Approov-Token",
        "",
        "a b",
        "a:b",
    ] {
        assert!(check_identifier(bad).is_err(), "{bad}");
    }
    // the list form in a covered set is a list of strings
    assert_eq!(parse_list("\"@method\", \"x\"").unwrap().len(), 2);
}

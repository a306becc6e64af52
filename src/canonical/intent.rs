//! What a request asks the upstream to do beyond its method and target:
//! switch protocols (`Upgrade`), run another method (method-override
//! headers and the `_method` parameter), or read a body. An exempt method
//! (`methods_without_token`) is exempt from the token, not from these:
//! [`crate::Verifier::decide`] lets a token-free request through only
//! when it asks for none of them.

use http::{HeaderMap, Method, Version, header};

use super::headers::reads_as;

/// Method-override headers that frameworks honour (Rails/Rack, Laravel,
/// Symfony, ASP.NET, Express `method-override`, Google APIs), in their
/// folded spelling.
pub const METHOD_OVERRIDE_HEADERS: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The query parameter Rails, Laravel and Symfony read as the method.
pub const METHOD_OVERRIDE_PARAM: &str = "_method";

/// Whether the request carries a body, as the front end knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BodyHint {
    /// Judge from `Content-Length` (above 0) and `Transfer-Encoding`.
    #[default]
    FromHeaders,
    /// The front end knows there is none (an HTTP/2 stream that ended
    /// with its headers).
    Empty,
    /// The front end knows there is one (HTTP/2 DATA without
    /// `Content-Length`).
    Present,
}

impl BodyHint {
    /// Whether a body comes with these headers.
    pub fn has_body(self, headers: &HeaderMap) -> bool {
        match self {
            BodyHint::Empty => false,
            BodyHint::Present => true,
            BodyHint::FromHeaders => {
                headers.contains_key(header::TRANSFER_ENCODING)
                    || headers.get_all(header::CONTENT_LENGTH).iter().any(|v| {
                        v.to_str()
                            .ok()
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .is_none_or(|n| n > 0)
                    })
            }
        }
    }
}

/// Whether the request asks to switch protocols (has `Upgrade`).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
}

/// Whether an upgrade request may be tunnelled: only a WebSocket
/// handshake (RFC 6455: `GET`, HTTP/1.1, exactly one `Upgrade:
/// websocket`). Any other upgrade — `h2c` above all ("h2c smuggling":
/// one checked request turned into a raw HTTP/2 connection whose later
/// requests skip routing and the token check), an `OPTIONS` or `HEAD`
/// upgrade that an exempt method would carry past the token, a second
/// `Upgrade` — is refused. `true` for a request without `Upgrade`.
pub fn upgrade_allowed(version: Version, method: &Method, headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(header::UPGRADE).iter();
    match (values.next(), values.next()) {
        (None, _) => true,
        (Some(v), None) => {
            version == Version::HTTP_11
                && *method == Method::GET
                && v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket")
        }
        (Some(_), Some(_)) => false,
    }
}

/// Whether the request asks, through a header or the query, for another
/// method than its own: any header that reads as one of
/// [`METHOD_OVERRIDE_HEADERS`] (in any spelling an upstream folds to it),
/// or a `_method` query parameter (name percent-decoded, any case).
pub fn overrides_method(headers: &HeaderMap, query: Option<&str>) -> bool {
    let by_header = headers
        .keys()
        .any(|k| METHOD_OVERRIDE_HEADERS.iter().any(|o| reads_as(k, o)));
    by_header
        || query.is_some_and(|q| {
            q.split('&').any(|pair| {
                let name = pair.split_once('=').map_or(pair, |(k, _)| k);
                crate::canonical::query::form_decode(name)
                    .is_some_and(|n| n.eq_ignore_ascii_case(METHOD_OVERRIDE_PARAM.as_bytes()))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_websocket_get_upgrades() {
        use Version as V;
        let (get, options, head) = (Method::GET, Method::OPTIONS, Method::HEAD);
        for (version, method, values, allowed) in [
            (V::HTTP_11, &get, &[][..], true),
            (V::HTTP_11, &get, &["websocket"][..], true),
            (V::HTTP_11, &get, &["WebSocket"][..], true),
            (V::HTTP_11, &get, &[" websocket "][..], true),
            (V::HTTP_11, &options, &["websocket"][..], false),
            (V::HTTP_11, &head, &["websocket"][..], false),
            (V::HTTP_11, &Method::POST, &["websocket"][..], false),
            (V::HTTP_11, &get, &["h2c"][..], false),
            (V::HTTP_11, &get, &["websocket, h2c"][..], false),
            (V::HTTP_11, &get, &["websocket", "h2c"][..], false),
            (V::HTTP_11, &get, &["websocket", "websocket"][..], false),
            (V::HTTP_11, &get, &[""][..], false),
            (V::HTTP_11, &get, &["websocketx"][..], false),
            (V::HTTP_10, &get, &["websocket"][..], false),
            (V::HTTP_2, &get, &["websocket"][..], false),
            (V::HTTP_10, &options, &[][..], true),
        ] {
            let pairs: Vec<(&str, &str)> = values.iter().map(|v| ("upgrade", *v)).collect();
            assert_eq!(
                upgrade_allowed(version, method, &headers(&pairs)),
                allowed,
                "{version:?} {method} {values:?}"
            );
        }
    }

    #[test]
    fn method_overrides_in_any_spelling() {
        for (pairs, query, want) in [
            (&[][..], None, false),
            (&[("x-http-method-override", "POST")][..], None, true),
            (&[("X-HTTP-Method", "DELETE")][..], None, true),
            (&[("x-method-override", "PUT")][..], None, true),
            (&[("x_http_method_override", "PUT")][..], None, true),
            (&[("X_Method-Override", "PUT")][..], None, true),
            (&[("x-http-methods", "PUT")][..], None, false),
            (&[][..], Some("a=1&_method=DELETE"), true),
            (&[][..], Some("%5Fmethod=DELETE"), true),
            (&[][..], Some("_METHOD=put"), true),
            (&[][..], Some("_method"), true),
            (&[][..], Some("x_method=1&method=2"), false),
        ] {
            assert_eq!(
                overrides_method(&headers(pairs), query),
                want,
                "{pairs:?} {query:?}"
            );
        }
    }

    #[test]
    fn bodies() {
        let none = headers(&[]);
        assert!(!BodyHint::FromHeaders.has_body(&none));
        assert!(BodyHint::Present.has_body(&none));
        assert!(!BodyHint::FromHeaders.has_body(&headers(&[("content-length", "0")])));
        assert!(BodyHint::FromHeaders.has_body(&headers(&[("content-length", "3")])));
        assert!(BodyHint::FromHeaders.has_body(&headers(&[("content-length", "x")])));
        assert!(BodyHint::FromHeaders.has_body(&headers(&[("transfer-encoding", "chunked")])));
        assert!(!BodyHint::Empty.has_body(&headers(&[("content-length", "3")])));
    }
}

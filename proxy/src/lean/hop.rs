//! The request head as the lean path sends it upstream: what Pingora's
//! proxy does to a request for an HTTP/1 upstream under its default
//! request policy, for the requests the lean path takes (no upgrade):
//! fields named in `Connection` removed (a nomination of `Host`, an
//! `X-Forwarded-*` field, a pseudo-header or a malformed name refuses the
//! request), the standard hop-by-hop fields removed, HTTP/1.1 upstream.
//! The route's own rules (token header, claims, forwarded headers,
//! substitution) run after this, in the gateway, for both paths.

use attestgate::target::headers::is_tchar;
use http::{HeaderName, Version, header};
use pingora_error::{Error, ErrorType, Result};
use pingora_http::RequestHeader;

/// This many `Connection` options refuses the request (as Pingora).
const MAX_NOMINATIONS: usize = 10;

/// The standard hop-by-hop fields (RFC 9110 §7.6.1, and the ones proxies
/// treat alike).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "connection"
            | "upgrade"
            | "http2-settings"
    )
}

/// Fields a `Connection` option may never remove.
const PROTECTED: [&str; 4] = [
    "host",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
];

fn refuse(why: &'static str) -> Result<()> {
    Error::e_explain(ErrorType::InvalidHTTPHeader, why)
}

/// The fields the `Connection` header names, or why the request is refused.
fn nominated(req: &RequestHeader) -> Result<Vec<HeaderName>> {
    let mut names = Vec::new();
    let options = req
        .headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty());
    for (i, option) in options.enumerate() {
        if i + 1 >= MAX_NOMINATIONS {
            refuse("too many Connection header nominations")?;
        }
        if option.starts_with(b":") || !option.iter().all(|b| is_tchar(*b)) {
            refuse("invalid token nominated by the Connection header")?;
        }
        let Ok(name) = HeaderName::from_bytes(option) else {
            refuse("invalid token nominated by the Connection header")?;
            continue;
        };
        if PROTECTED.contains(&name.as_str()) {
            refuse("protected header cannot be nominated by the Connection header")?;
        }
        // `close` and `keep-alive` name no field; removing them is harmless.
        names.push(name);
    }
    Ok(names)
}

/// Room for the headers the gateway adds (claims, forwarded, `Host`).
const ADDED: usize = 8;

/// The head for an HTTP/1 upstream, from the client's: HTTP/1.1, its
/// target, its fields but the hop-by-hop and nominated ones. Field names
/// go upstream in lower case, as from an HTTP/2 client (docs/DECISIONS.md,
/// "The lean HTTP/1 path").
pub(super) fn for_upstream(client: &RequestHeader) -> Result<RequestHeader> {
    let nominated = if client.headers.contains_key(header::CONNECTION) {
        nominated(client)?
    } else {
        Vec::new()
    };
    let mut headers = http::HeaderMap::with_capacity(client.headers.len() + ADDED);
    for (name, value) in &client.headers {
        if !is_hop_by_hop(name) && !nominated.contains(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = client.method.clone();
    parts.uri = client.uri.clone();
    parts.version = Version::HTTP_11;
    parts.headers = headers;
    let mut req = RequestHeader::from(parts);
    // The target as the client's head holds it (an absolute form, bytes
    // that are not UTF-8), where the URI alone would say otherwise.
    if req.raw_path() != client.raw_path() {
        req.set_raw_path(client.raw_path())?;
    }
    Ok(req)
}

/// A request with a body whose framing the filters removed is sent chunked.
pub(super) fn frame_body(req: &mut RequestHeader, has_body: bool) -> Result<()> {
    if has_body
        && !req.headers.contains_key(header::CONTENT_LENGTH)
        && !req.headers.contains_key(header::TRANSFER_ENCODING)
    {
        req.insert_header(header::TRANSFER_ENCODING, "chunked")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn nominated_and_hop_by_hop_fields_go() {
        let r = req(&[
            ("connection", "keep-alive, X-Secret-Route"),
            ("x-secret-route", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic x"),
            ("X-Kept", "yes"),
            ("x-kept", "too"),
        ]);
        let up = for_upstream(&r).unwrap();
        let names: Vec<&str> = up.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-kept"]);
        let kept: Vec<&[u8]> = up
            .headers
            .get_all("x-kept")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        assert_eq!(kept, [&b"yes"[..], b"too"]);
        assert_eq!(up.version, Version::HTTP_11);
    }

    #[test]
    fn protected_or_malformed_nominations_refuse() {
        for bad in [
            "host",
            "X-Forwarded-For",
            "x-forwarded-host",
            "x-forwarded-proto",
            ":authority",
            "\"x-forwarded-for\"",
            "a b",
        ] {
            assert!(for_upstream(&req(&[("connection", bad)])).is_err(), "{bad}");
        }
        let many = ["x"; MAX_NOMINATIONS].join(",");
        assert!(for_upstream(&req(&[("connection", &many)])).is_err());
        let fine = ["x"; MAX_NOMINATIONS - 1].join(",");
        assert!(for_upstream(&req(&[("connection", &fine)])).is_ok());
    }
}

//! `[server] underscore_headers` and the JWKS URL's transport rules: keys
//! of the "what the upstream reads is what was checked" work, kept apart
//! from the rest of `[server]`.

use attestgate::target::UnderscoreHeaders;

use crate::checker::Checker;

/// `[server] underscore_headers = "drop" | "forward"` (default `"drop"`).
pub(crate) fn underscore_headers(c: &mut Checker<'_>, value: Option<&str>) -> UnderscoreHeaders {
    match value {
        None | Some("drop") => UnderscoreHeaders::Drop,
        Some("forward") => {
            c.warnings.push("server.underscore_headers = \"forward\": client headers whose name holds '_' reach the upstreams (look-alikes of claim, token, binding, substituted and X-Forwarded-* headers are still removed); an upstream that reads X_Custom as X-Custom may be fooled about other headers".to_owned());
            UnderscoreHeaders::Forward
        }
        Some(other) => {
            c.problem(
                "server.underscore_headers",
                format!("{other:?}: use \"drop\" (default, as nginx) or \"forward\""),
            );
            UnderscoreHeaders::Drop
        }
    }
}

/// `[server] http1_path = "lean" | "proxy"` (default `"lean"`): whether
/// HTTP/1 requests for HTTP/1 upstreams are served by the lean path or
/// all by Pingora's proxy (docs/DECISIONS.md, "The lean HTTP/1 path").
pub(crate) fn http1_path(c: &mut Checker<'_>, value: Option<&str>) -> bool {
    match value {
        None | Some("lean") => true,
        Some("proxy") => false,
        Some(other) => {
            c.problem(
                "server.http1_path",
                format!("{other:?}: use \"lean\" (default) or \"proxy\" (Pingora's proxy for every request)"),
            );
            true
        }
    }
}

/// `[token.jwks] url`: `http://` or `https://` with a host, no userinfo,
/// and plain `http://` only to a loopback host unless
/// `allow_insecure_http = true` (then with a warning). A message never
/// shows the URL's userinfo.
pub(crate) fn check_jwks_url(c: &mut Checker<'_>, url: &str, allow_insecure_http: bool) {
    let shown = attestgate::redact::url(url);
    let uri = match url.parse::<http::Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => u,
        _ => {
            c.problem(
                "token.jwks.url",
                format!("{shown:?} is not an http:// or https:// URL"),
            );
            return;
        }
    };
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        c.problem(
            "token.jwks.url",
            format!("{shown:?}: user info (user:password@) is not supported (it is not sent, and a password does not belong in the config); remove it"),
        );
        return;
    }
    let host = uri.host().unwrap_or_default();
    let loopback = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = loopback.eq_ignore_ascii_case("localhost")
        || loopback
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if uri.scheme_str() == Some("http") && !loopback {
        if allow_insecure_http {
            c.warnings.push(format!(
                "token.jwks.url: {shown:?} is fetched over plain http:// (allow_insecure_http = true): anyone on the path can replace the keys and mint accepted tokens"
            ));
        } else {
            c.problem(
                "token.jwks.url",
                format!("{shown:?} is plain http:// to a host that is not loopback: anyone on the path could replace the keys and mint accepted tokens; use https://, or set allow_insecure_http = true"),
            );
        }
    }
}

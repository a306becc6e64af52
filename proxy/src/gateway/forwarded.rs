//! What the upstream is told about who asked, without trusting what the
//! client said: `Host` is the route's, `X-Forwarded-Host` the authority of
//! the request view (`Host` or HTTP/2's `:authority`, canonical),
//! `X-Forwarded-Proto` the scheme the client connected with, and the
//! client's address appended to `X-Forwarded-For`.

use attestgate::target::RequestView;
use http::{HeaderValue, header};
use pingora_error::Result;
use pingora_http::RequestHeader;
use pingora_proxy::Session;

use super::is_tls;
use crate::routes::Route;

/// Sets the forwarded headers and `Host` on the upstream request.
pub(super) fn set(
    session: &Session,
    upstream: &mut RequestHeader,
    route: &Route,
    view: Option<&RequestView>,
) -> Result<()> {
    match view.and_then(|v| HeaderValue::from_str(v.authority()).ok()) {
        Some(host) => upstream.insert_header("x-forwarded-host", host)?,
        None => {
            upstream.remove_header("x-forwarded-host");
        }
    }
    upstream.insert_header(header::HOST, route.upstream_host.clone())?;
    let proto = if is_tls(session) { "https" } else { "http" };
    upstream.insert_header("x-forwarded-proto", proto)?;
    if let Some(ip) = session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip().to_string())
    {
        let xff = match upstream
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prev) => format!("{prev}, {ip}"),
            None => ip,
        };
        upstream.insert_header("x-forwarded-for", xff)?;
    }
    Ok(())
}

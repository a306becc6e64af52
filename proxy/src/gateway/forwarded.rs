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
        .map(|a| a.ip())
    {
        let prev = upstream
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let mut xff = String::with_capacity(prev.map_or(0, |p| p.len() + 2) + 39);
        if let Some(prev) = prev {
            xff.push_str(prev);
            xff.push_str(", ");
        }
        push_ip(&mut xff, ip);
        upstream.insert_header("x-forwarded-for", xff)?;
    }
    Ok(())
}

/// The address as `Display` writes it; IPv4 (the common case) without the
/// formatting machinery, which cost more than the rest of this file.
fn push_ip(out: &mut String, ip: std::net::IpAddr) {
    match ip {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        std::net::IpAddr::V6(_) => {
            use std::fmt::Write;
            let _ = write!(out, "{ip}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        let mut cases: Vec<std::net::IpAddr> = [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "1.10.100.199",
            "::1",
            "2001:db8::7",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        cases.extend((0..=255u8).map(|o| std::net::IpAddr::from([o, 0, 9, o])));
        for ip in cases {
            let mut s = String::new();
            push_ip(&mut s, ip);
            assert_eq!(s, ip.to_string());
        }
    }
}

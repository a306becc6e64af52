//! `attestgate health`: one `GET` to an admin endpoint, exit 0 on 200.
//!
//! For a container `HEALTHCHECK` on an image without a shell or curl
//! (distroless): the binary checks itself. Plain HTTP/1.1 over TCP with a
//! timeout on the whole exchange; no TLS (the admin listener has none).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why the check could not even be made (exit 2), as opposed to a failed
/// check (exit 1).
#[derive(Debug, thiserror::Error)]
pub(crate) enum HealthError {
    /// The URL is not `http://host:port/path`.
    #[error("{0:?} is not an http:// URL with a host, e.g. http://127.0.0.1:9091/healthz")]
    Url(String),
}

/// Where to connect and what to send.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    authority: String,
    path: String,
}

fn target(url: &str) -> Result<Target, HealthError> {
    let bad = || HealthError::Url(url.to_owned());
    let uri: http::Uri = url.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad());
    }
    let authority = uri.authority().ok_or_else(bad)?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return Err(bad());
    }
    let port = authority.port_u16().unwrap_or(80);
    let host = authority.host();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    Ok(Target {
        authority: format!("{host}:{port}"),
        path,
    })
}

/// GETs `url` within `timeout`; `Ok(status)` when an answer came.
pub(crate) fn check(url: &str, timeout: Duration) -> Result<Result<u16, String>, HealthError> {
    let t = target(url)?;
    Ok(get(&t, timeout))
}

fn get(t: &Target, timeout: Duration) -> Result<u16, String> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = t
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", t.authority))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("{} resolves to nothing", t.authority))?;
    let mut stream = TcpStream::connect_timeout(addr, timeout)
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream
        .set_write_timeout(Some(left()))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: attestgate-health\r\nConnection: close\r\n\r\n",
        t.path, t.authority
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        stream
            .set_read_timeout(Some(left()))
            .map_err(|e| e.to_string())?;
        let n = stream
            .read(&mut buf)
            .map_err(|e| format!("no answer: {e}"))?;
        if n == 0 || head.len() > 4096 {
            return Err("the connection closed without a status line".into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split(' ');
    match (
        parts.next(),
        parts.next().and_then(|s| s.parse::<u16>().ok()),
    ) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => Ok(code),
        _ => Err("not an HTTP/1 answer".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = target("http://127.0.0.1:9091/healthz").unwrap();
        assert_eq!(t.authority, "127.0.0.1:9091");
        assert_eq!(t.path, "/healthz");
        assert_eq!(
            target("http://localhost").unwrap().authority,
            "localhost:80"
        );
        assert_eq!(
            target("http://[::1]:9/readyz?x=1").unwrap().path,
            "/readyz?x=1"
        );
        for bad in [
            "",
            "https://127.0.0.1:9091/healthz",
            "127.0.0.1:9091",
            "http://",
            "http://u:p@127.0.0.1:1/",
            "ftp://x/",
            "http://a b/",
        ] {
            assert!(target(bad).is_err(), "{bad:?}");
        }
    }
}

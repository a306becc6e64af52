//! Fetching a JWKS over HTTP or HTTPS: one `GET`, bounded in time and size.
//!
//! hyper 1 with hyper-util's client and hyper-rustls (ring; Mozilla's webpki
//! roots or the system's, an extra CA, a client certificate, an HTTP
//! CONNECT proxy: [`crate::keys::egress`]; no OpenSSL). Redirects are not followed
//! (a 3xx is an error), the body is read up to a cap and no further, `ETag` and
//! `Cache-Control: max-age` are reported to the caller, which owns the
//! schedule and the last good keys ([`crate::keys::refresh`]).
//!
//! Errors are short reasons for a log line: a status code, `timeout`, `body
//! over 1 MiB`, a connection error. They never hold the body.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, ETAG, IF_NONE_MATCH, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::rt::TokioExecutor;

use crate::keys::egress::{self, EgressOptions};

/// What one fetch brought.
#[derive(Debug)]
pub(crate) enum Fetched {
    /// A 2xx answer with its body (not yet parsed).
    Body {
        /// The body, at most the cap.
        bytes: Bytes,
        /// The `ETag`, if the server sent a usable one.
        etag: Option<String>,
        /// `Cache-Control: max-age` (0 for `no-cache`/`no-store`).
        max_age: Option<Duration>,
    },
    /// 304 Not Modified: the document we hold is still current.
    NotModified {
        /// `Cache-Control: max-age` of the 304.
        max_age: Option<Duration>,
    },
}

/// Something that fetches the JWKS document. The refresher's schedule is
/// generic over it so its timing can be tested without sockets.
pub(crate) trait Fetcher: Send {
    /// One attempt, sending `If-None-Match: etag` when given. The error is a
    /// short reason for a log line, never the body.
    fn fetch(&mut self, etag: Option<&str>)
    -> impl Future<Output = Result<Fetched, String>> + Send;
}

type Direct = Client<HttpsConnector<HttpConnector>, Empty<Bytes>>;
type Tunnelled = Client<HttpsConnector<Tunnel<HttpConnector>>, Empty<Bytes>>;

/// A client for one fetch: straight to the issuer, or through a proxy.
enum HttpsClient {
    Direct(Direct),
    Tunnelled(Tunnelled),
}

impl HttpsClient {
    async fn request(
        &self,
        req: Request<Empty<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        match self {
            HttpsClient::Direct(c) => c.request(req).await,
            HttpsClient::Tunnelled(c) => c.request(req).await,
        }
    }
}

/// The real fetcher: HTTP/1.1 over TCP or TLS, perhaps through a proxy.
pub(crate) struct HttpFetcher {
    uri: Uri,
    timeout: Duration,
    max_bytes: usize,
    egress: EgressOptions,
}

/// Checks a JWKS URL: `http://` or `https://` with a host and no
/// userinfo; plain `http://` only to a loopback host unless
/// `allow_insecure_http`. No message shows the URL's userinfo.
pub(crate) fn parse_url(url: &str, allow_insecure_http: bool) -> Result<Uri, String> {
    let shown = crate::secrets::redact::url(url);
    let u = match url.parse::<Uri>() {
        Ok(u) if matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some() => u,
        _ => return Err(format!("{shown:?} is not an http:// or https:// URL")),
    };
    if u.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(format!(
            "{shown:?}: user info (user:password@) in the URL is not supported (it is not sent, and it would be a secret in the config); remove it"
        ));
    }
    if u.scheme_str() == Some("http")
        && !is_loopback(u.host().unwrap_or_default())
        && !allow_insecure_http
    {
        return Err(format!(
            "{shown:?} is plain http:// to a host that is not loopback: anyone on the path could replace the keys and mint accepted tokens; use https://, or set allow_insecure_http = true"
        ));
    }
    Ok(u)
}

/// Whether a URL host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `uri` with its port written out (a tunnel needs it: `CONNECT host:80`).
fn with_port(uri: &Uri) -> Result<Uri, String> {
    if uri.port().is_some() {
        return Ok(uri.clone());
    }
    let port = if uri.scheme_str() == Some("http") {
        80
    } else {
        443
    };
    let host = uri.host().unwrap_or_default();
    let authority = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(authority.parse().map_err(|_| {
        format!(
            "{} has no usable host",
            crate::secrets::redact::url(&uri.to_string())
        )
    })?);
    Uri::from_parts(parts).map_err(|_| {
        format!(
            "{} has no usable host",
            crate::secrets::redact::url(&uri.to_string())
        )
    })
}

impl HttpFetcher {
    /// A fetcher of `url`; the TLS settings and the proxy are applied at
    /// each fetch (so rotated files are picked up).
    pub(crate) fn new(
        url: &str,
        timeout: Duration,
        max_bytes: usize,
        egress: &EgressOptions,
    ) -> Result<HttpFetcher, String> {
        // The URL's rules were checked when the verifier was built.
        let uri = parse_url(url, true)?;
        match egress::proxy_for(egress, &uri) {
            Ok(Some(hop)) => {
                tracing::info!(source = "jwks.url", proxy = %hop.shown, "the JWKS URL is fetched through a proxy")
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(source = "jwks.url", "{e}"),
        }
        Ok(HttpFetcher {
            uri,
            timeout,
            max_bytes,
            egress: egress.clone(),
        })
    }

    /// The client and the request URI for one fetch.
    fn client(&self) -> Result<(HttpsClient, Uri), String> {
        let tls = egress::tls_config(&self.egress).map_err(|e| e.to_string())?;
        let https = || {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls.clone())
                .https_or_http()
                .enable_http1()
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let builder = || {
            let mut b = Client::builder(TokioExecutor::new());
            b.pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(1);
            b
        };
        match egress::proxy_for(&self.egress, &self.uri).map_err(|e| e.to_string())? {
            None => Ok((
                HttpsClient::Direct(builder().build(https().wrap_connector(tcp))),
                self.uri.clone(),
            )),
            Some(hop) => {
                let mut tunnel = Tunnel::new(hop.uri, tcp);
                if let Some(auth) = hop.auth {
                    tunnel = tunnel.with_auth(auth);
                }
                Ok((
                    HttpsClient::Tunnelled(builder().build(https().wrap_connector(tunnel))),
                    with_port(&self.uri)?,
                ))
            }
        }
    }

    async fn fetch_inner(&self, etag: Option<&str>) -> Result<Fetched, String> {
        let (client, uri) = self.client()?;
        let mut req = Request::get(uri)
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .header(
                USER_AGENT,
                concat!("attestgate/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(etag) = etag.and_then(|e| HeaderValue::from_str(e).ok()) {
            req = req.header(IF_NONE_MATCH, etag);
        }
        let req = req
            .body(Empty::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let resp = client.request(req).await.map_err(|e| error_chain(&e))?;
        let status = resp.status();
        let max_age = max_age(resp.headers());
        if status == StatusCode::NOT_MODIFIED {
            if etag.is_none() {
                return Err("status 304 without If-None-Match".into());
            }
            return Ok(Fetched::NotModified { max_age });
        }
        if status.is_redirection() {
            return Err(format!(
                "status {} (redirects are not followed)",
                status.as_u16()
            ));
        }
        if !status.is_success() {
            return Err(format!("status {}", status.as_u16()));
        }
        let declared = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_bytes as u64) {
            return Err(over_cap(self.max_bytes));
        }
        let etag = resp
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 256)
            .map(str::to_owned);
        let body = Limited::new(resp.into_body(), self.max_bytes);
        let bytes = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return Err(over_cap(self.max_bytes));
            }
            Err(e) => return Err(format!("reading the body failed: {}", error_chain(&*e))),
        };
        Ok(Fetched::Body {
            bytes,
            etag,
            max_age,
        })
    }
}

impl Fetcher for HttpFetcher {
    async fn fetch(&mut self, etag: Option<&str>) -> Result<Fetched, String> {
        match tokio::time::timeout(self.timeout, self.fetch_inner(etag)).await {
            Ok(r) => r,
            Err(_) => Err(format!("timeout after {:?}", self.timeout)),
        }
    }
}

/// "body over 1 MiB" (or over N bytes for other caps).
pub(crate) fn over_cap(max: usize) -> String {
    crate::watch::over_cap("body", max)
}

/// An error and its sources, joined: "client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

/// `max-age` from `Cache-Control`; `no-cache` and `no-store` count as 0.
pub(crate) fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Some(secs) = arg.and_then(|a| a.parse::<u64>().ok())
            {
                found = Some(Duration::from_secs(secs));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(values: &[&str]) -> Option<Duration> {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append(CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        }
        max_age(&h)
    }

    #[test]
    fn cache_control_max_age() {
        assert_eq!(cc(&[]), None);
        assert_eq!(cc(&["public, max-age=600"]), Some(Duration::from_secs(600)));
        assert_eq!(cc(&["Max-Age = \"30\""]), Some(Duration::from_secs(30)));
        assert_eq!(cc(&["public", "max-age=7"]), Some(Duration::from_secs(7)));
        assert_eq!(cc(&["max-age=600, no-cache"]), Some(Duration::ZERO));
        assert_eq!(cc(&["no-store"]), Some(Duration::ZERO));
        assert_eq!(cc(&["max-age=-1"]), None);
        assert_eq!(cc(&["max-age=lots"]), None);
    }

    /// A real loopback server streaming a chunked body without end: the
    /// fetch stops at the cap (not at the timeout) and says why.
    #[tokio::test]
    async fn an_endless_chunked_body_stops_at_the_cap() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await.unwrap();
            sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await
                .unwrap();
            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
            let mut sent = 0usize;
            while sock.write_all(chunk.as_bytes()).await.is_ok() {
                sent += 0x10000;
                if sent > 512 * 1024 * 1024 {
                    break;
                }
            }
            sent
        });
        let mut f = HttpFetcher::new(
            &format!("http://{addr}/jwks"),
            Duration::from_secs(30),
            1024 * 1024,
            &EgressOptions {
                proxy: crate::keys::egress::ProxySetting::Off,
                ..EgressOptions::default()
            },
        )
        .unwrap();
        let err = f.fetch(None).await.unwrap_err();
        assert_eq!(err, "body over 1 MiB");
        drop(f);
        // The client hung up: the server's writes failed long before 512 MiB.
        let sent = server.await.unwrap();
        assert!(sent < 512 * 1024 * 1024, "{sent}");
    }

    #[test]
    fn urls_and_caps() {
        for ok in [
            "https://issuer.example/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://127.1.2.3/jwks",
            "http://localhost:9/jwks",
            "http://LOCALHOST/jwks",
            "http://[::1]:9/jwks",
        ] {
            assert!(parse_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://x/y",
            "issuer.example/jwks",
            "",
            "https://",
            "http://issuer.example/jwks",
            "http://10.0.0.1/jwks",
            "http://localhost.evil.example/jwks",
            "http://[::2]/jwks",
            "https://user:hunter2@issuer.example/jwks",
            "http://user:hunter2@127.0.0.1/jwks",
        ] {
            let e = parse_url(bad, false).unwrap_err();
            assert!(!e.contains("hunter2"), "{e}");
        }
        assert!(parse_url("http://issuer.example/jwks", true).is_ok());
        let e = parse_url("ftp://u:hunter2@x/y", true).unwrap_err();
        assert!(!e.contains("hunter2") && e.contains("[redacted]"), "{e}");
        assert_eq!(over_cap(1024 * 1024), "body over 1 MiB");
        assert_eq!(over_cap(1000), "body over 1000 bytes");
    }
}

//! One bounded `GET` to a log: hyper with rustls (ring, Mozilla's roots),
//! HTTP/1.1, one timeout over the whole exchange, the body read up to a
//! cap and no further, gzip (declared, or recognised by its magic bytes:
//! Sunlight's data tiles) inflated up to the same cap. Redirects are not
//! followed. `http://` only to loopback hosts (tests, a local mirror).
//!
//! Errors are data: a [`FetchKind`] for the metric label, `Retry-After`
//! when the log sent one, a short message that never holds the body.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, RETRY_AFTER, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// What went wrong with a fetch, as the metric label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FetchKind {
    /// No answer in time.
    Timeout,
    /// Connection or TLS failure.
    Connect,
    /// 429 Too Many Requests.
    RateLimited,
    /// A 5xx status.
    Server,
    /// Another non-2xx status (404 included).
    Status,
    /// A body over its cap (compressed or not).
    TooLarge,
    /// The body could not be read or inflated.
    Body,
    /// The body was read but is not what the protocol says.
    Parse,
}

impl FetchKind {
    /// The `kind` label of `attestgate_ct_fetch_errors_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            FetchKind::Timeout => "timeout",
            FetchKind::Connect => "connect",
            FetchKind::RateLimited => "rate_limited",
            FetchKind::Server => "server_error",
            FetchKind::Status => "status",
            FetchKind::TooLarge => "too_large",
            FetchKind::Body => "body",
            FetchKind::Parse => "parse",
        }
    }
}

/// A failed fetch.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {message}")]
pub struct FetchError {
    /// The label.
    pub kind: FetchKind,
    /// What was fetched (a path, never a body).
    pub what: String,
    /// Why.
    pub message: String,
    /// The log's `Retry-After`, when it sent one (seconds form; capped).
    pub retry_after: Option<Duration>,
}

impl FetchError {
    /// A parse failure of `what`.
    pub fn parse(what: &str, message: impl Into<String>) -> FetchError {
        FetchError {
            kind: FetchKind::Parse,
            what: what.to_owned(),
            message: message.into(),
            retry_after: None,
        }
    }
}

/// The longest `Retry-After` honoured: a log cannot park the watch longer.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// A client shared by every log of a watch.
#[derive(Clone, Debug)]
pub struct Http {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl Http {
    /// A client whose every request ends within `timeout`.
    pub fn new(timeout: Duration) -> Result<Http, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let mut b = Client::builder(TokioExecutor::new());
        b.pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(4);
        Ok(Http {
            client: b.build(https),
            timeout,
        })
    }

    /// `GET url`, at most `max` bytes (after inflating).
    pub async fn get(&self, url: &str, max: usize) -> Result<Vec<u8>, FetchError> {
        let what = short(url);
        let err = |kind, message: String| FetchError {
            kind,
            what: what.clone(),
            message,
            retry_after: None,
        };
        let uri = check_url(url).map_err(|m| err(FetchKind::Connect, m))?;
        let req = Request::get(uri)
            .header(
                USER_AGENT,
                concat!("attestgate-ct-watch/", env!("CARGO_PKG_VERSION")),
            )
            .header(ACCEPT_ENCODING, "gzip, identity")
            .body(Empty::new())
            .map_err(|e| err(FetchKind::Connect, e.to_string()))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| err(FetchKind::Connect, chain(&e)))?;
            let status = resp.status();
            if !status.is_success() {
                let mut e = err(
                    match status {
                        StatusCode::TOO_MANY_REQUESTS => FetchKind::RateLimited,
                        s if s.is_server_error() => FetchKind::Server,
                        _ => FetchKind::Status,
                    },
                    format!("status {}", status.as_u16()),
                );
                e.retry_after = retry_after(resp.headers());
                return Err(e);
            }
            if resp
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .is_some_and(|n| n > max as u64)
            {
                return Err(err(FetchKind::TooLarge, format!("body over {max} bytes")));
            }
            let gzip = resp
                .headers()
                .get(CONTENT_ENCODING)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
            let body = match Limited::new(resp.into_body(), max).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                    return Err(err(FetchKind::TooLarge, format!("body over {max} bytes")));
                }
                Err(e) => return Err(err(FetchKind::Body, chain(&*e))),
            };
            Ok((body, gzip))
        };
        let (body, gzip) = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                err(
                    FetchKind::Timeout,
                    format!("no answer within {:?}", self.timeout),
                )
            })??;
        if gzip || body.starts_with(&[0x1f, 0x8b]) {
            inflate(&body, max).map_err(|(k, m)| err(k, m))
        } else {
            Ok(body.to_vec())
        }
    }
}

/// Inflates gzip `data`, refusing more than `max` bytes out.
pub fn inflate(data: &[u8], max: usize) -> Result<Vec<u8>, (FetchKind, String)> {
    let mut out = Vec::new();
    let mut r = flate2::read::MultiGzDecoder::new(data).take(max as u64 + 1);
    r.read_to_end(&mut out)
        .map_err(|e| (FetchKind::Body, format!("gzip: {e}")))?;
    if out.len() > max {
        return Err((FetchKind::TooLarge, format!("inflates to over {max} bytes")));
    }
    Ok(out)
}

/// `https://` anywhere, `http://` to loopback only.
pub fn check_url(url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| format!("not a URL: {}", short(url)))?;
    let host = uri.host().ok_or("a URL without a host")?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(host) => Ok(uri),
        Some("http") => Err(format!(
            "http:// is only allowed to a loopback host, not {host}: a log must be read over https"
        )),
        _ => Err("only https:// (or http:// to loopback)".into()),
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `Retry-After` in seconds (the HTTP-date form is read as 60 s).
fn retry_after(h: &http::HeaderMap) -> Option<Duration> {
    let v = h.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let d = match v.parse::<u64>() {
        Ok(s) => Duration::from_secs(s),
        Err(_) => Duration::from_secs(60),
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// A URL for messages: no query, at most 200 characters.
fn short(url: &str) -> String {
    let u = url.split('?').next().unwrap_or(url);
    u.chars().take(200).collect()
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        next = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_gzip_and_retry_after() {
        assert!(check_url("https://log.example/").is_ok());
        assert!(check_url("http://127.0.0.1:8080/").is_ok());
        assert!(check_url("http://[::1]:8080/").is_ok());
        assert!(check_url("http://log.example/").is_err());
        assert!(check_url("ftp://127.0.0.1/").is_err());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &[0u8; 10_000]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(inflate(&gz, 10_000).unwrap().len(), 10_000);
        assert_eq!(inflate(&gz, 9_999).unwrap_err().0, FetchKind::TooLarge);
        assert_eq!(inflate(&gz[..20], 10_000).unwrap_err().0, FetchKind::Body);
        let mut h = http::HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, "99999999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }
}

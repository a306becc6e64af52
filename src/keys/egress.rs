//! How the JWKS fetch reaches its issuer: which roots it trusts, which
//! client certificate it shows, and which proxy it goes through.
//!
//! | setting | default | effect |
//! |---|---|---|
//! | `system_roots` | `false` | trust the operating system's store (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured, as OpenSSL does) instead of the compiled-in Mozilla roots |
//! | `ca_file` | none | PEM certificates trusted in addition (a private CA, a TLS-inspecting egress) |
//! | `client_cert` + `client_key` | none | PEM chain and private key shown when the server asks (mTLS) |
//! | `proxy` | from the environment | `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` and `NO_PROXY` (curl's rules); a URL sends every fetch through that proxy; `"off"` ignores the environment |
//!
//! A proxy is an `http://host:port` (optional `user:password@`, sent as
//! `Proxy-Authorization: Basic`); the fetch opens an HTTP `CONNECT` tunnel
//! through it (also for an `http://` JWKS URL) and runs TLS to the issuer
//! inside, so the issuer's certificate is checked end to end. The files
//! are read at each fetch, so a rotated client certificate is used from
//! the next fetch, and a file that went bad fails that fetch (the last good
//! keys stay). Errors name the setting and the file, never a key, and a
//! proxy URL is shown without its credentials.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderValue, Uri};
use hyper_util::client::proxy::matcher::Matcher;
use rustls::{ClientConfig, RootCertStore};

/// Where the JWKS fetch finds its proxy.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum ProxySetting {
    /// `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (either
    /// case), read when the fetch starts. The default.
    #[default]
    FromEnv,
    /// No proxy, whatever the environment says.
    Off,
    /// Every fetch goes through this proxy (`http://host:port`).
    Url(String),
}

impl fmt::Debug for ProxySetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxySetting::FromEnv => f.write_str("FromEnv"),
            ProxySetting::Off => f.write_str("Off"),
            ProxySetting::Url(u) => f.debug_tuple("Url").field(&redacted(u)).finish(),
        }
    }
}

/// How the JWKS fetch reaches the issuer (see the [module](self) table).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressOptions {
    /// PEM certificates trusted in addition to the roots.
    pub ca_file: Option<PathBuf>,
    /// Trust the operating system's roots instead of Mozilla's.
    pub system_roots: bool,
    /// The proxy.
    pub proxy: ProxySetting,
    /// PEM certificate chain shown to a server that asks (mTLS).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert` (PKCS#8, PKCS#1 or SEC1).
    pub client_key: Option<PathBuf>,
}

/// A problem with one egress setting: which one, and why. Never holds key
/// material or proxy credentials.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {message}")]
pub struct EgressError {
    /// The setting, as in `[token.jwks]`: `ca_file`, `client_key`, `proxy`.
    pub setting: &'static str,
    /// What is wrong.
    pub message: String,
}

impl From<crate::keys::pem::FileError> for EgressError {
    fn from(e: crate::keys::pem::FileError) -> Self {
        err(e.setting, e.message)
    }
}

fn err(setting: &'static str, message: impl Into<String>) -> EgressError {
    EgressError {
        setting,
        message: message.into(),
    }
}

/// A proxy URL without its credentials, for logs and errors.
pub(crate) fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => url.rsplit_once('@').map_or(url, |(_, h)| h).to_owned(),
    }
}

/// The TLS client configuration of the fetch: roots, extra CA, client
/// certificate. No ALPN (the connector sets it).
pub(crate) fn tls_config(o: &EgressOptions) -> Result<ClientConfig, EgressError> {
    let mut roots = RootCertStore::empty();
    if o.system_roots {
        let found = rustls_native_certs::load_native_certs().map_err(|e| {
            err(
                "system_roots",
                format!("cannot load the system's certificates: {e}"),
            )
        })?;
        let (added, _) = roots.add_parsable_certificates(found);
        if added == 0 {
            return Err(err(
                "system_roots",
                "the system's certificate store holds no usable certificate",
            ));
        }
    } else {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(path) = &o.ca_file {
        for cert in crate::keys::pem::certs_in("ca_file", path)? {
            roots.add(cert).map_err(|e| {
                err(
                    "ca_file",
                    format!("{}: not a usable CA certificate: {e}", path.display()),
                )
            })?;
        }
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| err("tls", e.to_string()))?
            .with_root_certificates(roots);
    match (&o.client_cert, &o.client_key) {
        (None, None) => Ok(builder.with_no_client_auth()),
        (Some(cert), Some(key)) => {
            let chain = crate::keys::pem::certs_in("client_cert", cert)?;
            let key = crate::keys::pem::key_in("client_key", key)?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                err(
                    "client_key",
                    format!("does not fit client_cert {}: {e}", cert.display()),
                )
            })
        }
        (Some(_), None) => Err(err("client_key", "client_cert needs client_key")),
        (None, Some(_)) => Err(err("client_cert", "client_key needs client_cert")),
    }
}

/// A proxy to tunnel through.
#[derive(Clone)]
pub(crate) struct Hop {
    /// `http://host:port/`, without credentials.
    pub(crate) uri: Uri,
    /// `Proxy-Authorization` (marked sensitive).
    pub(crate) auth: Option<HeaderValue>,
    /// For logs: the proxy without credentials.
    pub(crate) shown: String,
}

impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hop").field("proxy", &self.shown).finish()
    }
}

/// Checks an explicit proxy URL: `http://host[:port]`, nothing else.
fn check_proxy_url(url: &str) -> Result<(), EgressError> {
    let shown = redacted(url);
    let uri: Uri = url
        .parse()
        .map_err(|_| err("proxy", format!("{shown:?} is not a URL")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(err(
                "proxy",
                format!("{shown:?}: a TLS connection to the proxy is not supported; use http://"),
            ));
        }
        _ => {
            return Err(err(
                "proxy",
                format!("{shown:?} must be http://host:port, or \"off\""),
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(err("proxy", format!("{shown:?} has no host")));
    }
    let host_port = uri.authority().map_or("", |a| {
        a.as_str().rsplit_once('@').map_or(a.as_str(), |(_, h)| h)
    });
    let has_port_text = host_port
        .rsplit_once(']')
        .map_or(host_port, |(_, after)| after)
        .contains(':');
    if has_port_text && uri.port_u16().is_none() {
        return Err(err(
            "proxy",
            format!("{shown:?}: the port is not a number in 1-65535"),
        ));
    }
    if uri.port_u16() == Some(0) {
        return Err(err(
            "proxy",
            format!("{shown:?}: the port is not a number in 1-65535"),
        ));
    }
    if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
        return Err(err(
            "proxy",
            format!("{shown:?}: a proxy URL has no path or query"),
        ));
    }
    Ok(())
}

impl EgressOptions {
    /// Checks what can be checked without the network: the files can be
    /// read and hold what they should (the key fits the certificate), and
    /// an explicit proxy is an `http://host:port`. The verifier's build
    /// runs it; `check-config` too.
    pub fn check(&self) -> Result<(), EgressError> {
        if let ProxySetting::Url(u) = &self.proxy {
            check_proxy_url(u)?;
        }
        tls_config(self).map(drop)
    }

    /// Whether anything differs from the defaults.
    pub fn is_default(&self) -> bool {
        *self == EgressOptions::default()
    }
}

/// Whether `NO_PROXY` (or `no_proxy`, the first set) holds a `*` entry.
fn no_proxy_is_everything() -> bool {
    ["NO_PROXY", "no_proxy"]
        .iter()
        .find_map(|k| std::env::var(k).ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim() == "*"))
}

/// The proxy a fetch of `target` goes through, if any.
pub(crate) fn proxy_for(o: &EgressOptions, target: &Uri) -> Result<Option<Hop>, EgressError> {
    let matcher = match &o.proxy {
        ProxySetting::Off => return Ok(None),
        // curl reads a `*` entry as "every host"; the matcher applies it to
        // names only, so an IP-literal URL is handled here.
        ProxySetting::FromEnv if no_proxy_is_everything() => return Ok(None),
        ProxySetting::FromEnv => Matcher::from_env(),
        ProxySetting::Url(u) => {
            check_proxy_url(u)?;
            Matcher::builder().all(u.clone()).build()
        }
    };
    let Some(intercept) = matcher.intercept(target) else {
        return Ok(None);
    };
    let uri = intercept.uri().clone();
    let shown = redacted(&uri.to_string());
    if uri.scheme_str() != Some("http") {
        return Err(err(
            "proxy",
            format!("{shown}: only http:// proxies (HTTP CONNECT) are supported"),
        ));
    }
    Ok(Some(Hop {
        auth: intercept.basic_auth().cloned(),
        uri,
        shown,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show() {
        assert_eq!(redacted("http://u:p@proxy:3128"), "http://proxy:3128");
        assert_eq!(redacted("http://u:p@w@proxy:3128"), "http://proxy:3128");
        assert_eq!(redacted("u:p@proxy:3128"), "proxy:3128");
        assert_eq!(redacted("http://proxy:3128"), "http://proxy:3128");
        let s = format!("{:?}", ProxySetting::Url("http://alice:hunter2@p:1".into()));
        assert!(!s.contains("hunter2") && !s.contains("alice"), "{s}");
    }

    #[test]
    fn explicit_proxies_are_checked() {
        let bad = [
            ("https://p:3128", "not supported"),
            ("socks5://p:1080", "must be http"),
            ("p:3128", "must be http"),
            ("http://", "not a URL"),
            ("http://p:3128/path", "no path"),
            ("http://p:3128/?q=1", "no path"),
            ("http://u:secretpw@p:99999", "1-65535"),
            ("http://p:0", "1-65535"),
            ("http://p:", "1-65535"),
            ("", "not a URL"),
            (" ", "not a URL"),
            ("http://p :1", "not a URL"),
        ];
        for (url, want) in bad {
            let e = check_proxy_url(url)
                .err()
                .unwrap_or_else(|| panic!("{url:?} accepted"));
            assert_eq!(e.setting, "proxy");
            assert!(e.message.contains(want), "{url:?}: {e}");
            assert!(!e.message.contains("secretpw"), "{e}");
        }
        for ok in [
            "http://p:3128",
            "http://u:p@p:3128",
            "http://127.0.0.1:1/",
            "http://[::1]:8",
        ] {
            assert!(check_proxy_url(ok).is_ok(), "{ok}");
        }
        let target: Uri = "https://issuer.example/jwks".parse().unwrap();
        let o = EgressOptions {
            proxy: ProxySetting::Url("http://bob:pw@127.0.0.1:3128".into()),
            ..EgressOptions::default()
        };
        let hop = proxy_for(&o, &target).unwrap().unwrap();
        assert_eq!(hop.shown, "http://127.0.0.1:3128/");
        assert!(hop.auth.as_ref().is_some_and(HeaderValue::is_sensitive));
        assert!(!format!("{hop:?}").contains("pw"));
        let off = EgressOptions {
            proxy: ProxySetting::Off,
            ..EgressOptions::default()
        };
        assert!(proxy_for(&off, &target).unwrap().is_none());
    }

    #[test]
    fn bad_files_name_the_setting_and_never_the_content() {
        let dir = std::env::temp_dir().join(format!("attestgate-egress-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(
            &junk,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n",
        )
        .unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = dir.join("missing.pem");
        let case = |o: EgressOptions| tls_config(&o).map(drop).unwrap_err();
        let e = case(EgressOptions {
            ca_file: Some(missing.clone()),
            ..EgressOptions::default()
        });
        assert_eq!(e.setting, "ca_file");
        assert!(e.message.contains("cannot read"), "{e}");
        for f in [&junk, &empty] {
            let e = case(EgressOptions {
                ca_file: Some(f.clone()),
                ..EgressOptions::default()
            });
            assert_eq!(e.setting, "ca_file", "{e}");
        }
        let fixture = |n: &str| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/tls")
                .join(n)
        };
        let e = case(EgressOptions {
            client_cert: Some(fixture("localhost.pem")),
            client_key: Some(junk.clone()),
            ..EgressOptions::default()
        });
        assert_eq!(e.setting, "client_key");
        assert!(!e.message.contains("c2VjcmV0"), "{e}");
        let e = case(EgressOptions {
            client_cert: Some(fixture("localhost.pem")),
            client_key: Some(fixture("other.key")),
            ..EgressOptions::default()
        });
        assert!(e.message.contains("does not fit"), "{e}");
        let e = case(EgressOptions {
            client_cert: Some(fixture("localhost.pem")),
            ..EgressOptions::default()
        });
        assert_eq!(e.setting, "client_key");
        let e = case(EgressOptions {
            client_key: Some(fixture("localhost.key")),
            ..EgressOptions::default()
        });
        assert_eq!(e.setting, "client_cert");
        assert!(
            tls_config(&EgressOptions {
                ca_file: Some(fixture("ca.pem")),
                client_cert: Some(fixture("localhost.pem")),
                client_key: Some(fixture("localhost.key")),
                ..EgressOptions::default()
            })
            .is_ok()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

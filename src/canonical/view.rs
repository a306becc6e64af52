//! The request view: scheme, authority, method and canonical target of one
//! request, fixed once, before routing, the same way for HTTP/1 and
//! HTTP/2. Routing, the message signature (`@authority`, `@target-uri`,
//! `@scheme`), `X-Forwarded-Host` and the request sent upstream all read
//! it; nothing reads the raw target or `Host` afterwards.
//!
//! The authority rule (one rule for both versions):
//!
//! - HTTP/1.x: exactly one `Host`. An absolute-form target's authority
//!   must name the same origin (a missing port being the scheme's
//!   default), else the request is refused.
//! - HTTP/2: `:authority` when the client sent it, else `Host`. When both
//!   are present they must name the same origin (RFC 9113 §8.3.1), else
//!   the request is refused. Neither: refused.
//! - The authority is then canonical ([`super::canonical_host`]): lower
//!   case, no trailing dot, a port only when one was given. An empty
//!   authority is never a view: a signature over `https:///path` can
//!   never verify.
//!
//! The scheme is the connection's (TLS or not), never a client-sent
//! `:scheme` or absolute-form scheme: that is what the client really used
//! to reach us.

use http::{HeaderMap, Method, Version, header};

use super::{CanonicalTarget, Host, TargetRefusal, TargetRules, canonical_host, canonical_target};

/// `http` or `https`: how the client reached the front end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain TCP (HTTP/1.x or h2c).
    Http,
    /// TLS.
    Https,
}

impl Scheme {
    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// 80 or 443.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }
}

/// What a front end knows of a request before it is canonical.
#[derive(Clone, Copy, Debug)]
pub struct RawRequest<'a> {
    /// The HTTP version the client spoke.
    pub version: Version,
    /// The method.
    pub method: &'a Method,
    /// How the client reached us.
    pub scheme: Scheme,
    /// The request target as sent (HTTP/1: origin-, absolute- or
    /// asterisk-form; HTTP/2: `:path`).
    pub target: &'a [u8],
    /// HTTP/2 `:authority`, if sent (`None` for HTTP/1).
    pub authority: Option<&'a [u8]>,
    /// The request headers (`Host` is read from them).
    pub headers: &'a HeaderMap,
}

/// One request as everything after canonicalisation reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestView {
    scheme: Scheme,
    host: Host,
    authority: String,
    method: Method,
    target: CanonicalTarget,
}

impl RequestView {
    /// Builds the view, or says why the request is refused (400).
    pub fn build(raw: RawRequest<'_>, rules: TargetRules) -> Result<RequestView, TargetRefusal> {
        let host = authority_of(&raw)?;
        let target = canonical_target(raw.method == Method::OPTIONS, raw.target, rules)?;
        if let Some(a) = target.authority() {
            // RFC 9112 §3.2.2 says the target's authority wins over Host; a
            // client that sends two different ones is confused or probing,
            // and either reading would be a guess.
            if !a.same_origin(&host, 80) && !a.same_origin(&host, 443) {
                return Err(TargetRefusal::HostMismatch);
            }
        }
        Ok(RequestView {
            scheme: raw.scheme,
            authority: host.to_authority(),
            host,
            method: raw.method.clone(),
            target,
        })
    }

    /// The view of an `http::Request` as a hyper server hands it over
    /// (the tower layer): HTTP/2 carries `:authority` and `:path` in the
    /// URI; HTTP/1 an origin-form target, or an absolute-form one as sent.
    /// `scheme`: how the client connected, when the server knows it; else
    /// the URI's scheme (HTTP/2 `:scheme`), else `http`.
    pub fn of_request<B>(
        req: &http::Request<B>,
        scheme: Option<Scheme>,
        rules: TargetRules,
    ) -> Result<RequestView, TargetRefusal> {
        let uri = req.uri();
        let scheme = scheme.unwrap_or(match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::Https,
            _ => Scheme::Http,
        });
        let h2 = req.version() == Version::HTTP_2;
        let whole;
        let target: &[u8] = match (h2, uri.authority()) {
            // HTTP/1 absolute-form: canonical_target checks and strips it.
            (false, Some(_)) => {
                whole = uri.to_string();
                whole.as_bytes()
            }
            _ => uri.path_and_query().map_or(b"/", |p| p.as_str().as_bytes()),
        };
        RequestView::build(
            RawRequest {
                version: req.version(),
                method: req.method(),
                scheme,
                target,
                authority: if h2 {
                    uri.authority().map(|a| a.as_str().as_bytes())
                } else {
                    None
                },
                headers: req.headers(),
            },
            rules,
        )
    }

    /// How the client reached us.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The canonical host (routing matches its name).
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The canonical authority, `host[:port]` (IPv6 in brackets): what
    /// `X-Forwarded-Host` carries and what `@authority` is made from.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The canonical target (origin-form, or `*`).
    pub fn target(&self) -> &CanonicalTarget {
        &self.target
    }

    /// The parts a message signature is checked against: this view and
    /// the request's `headers`.
    pub fn signing_parts<'a>(&'a self, headers: &'a HeaderMap) -> crate::msgsig::RequestParts<'a> {
        crate::msgsig::RequestParts {
            method: self.method.as_str(),
            scheme: self.scheme.as_str(),
            authority: &self.authority,
            path_and_query: self.target.as_str(),
            headers,
        }
    }
}

/// The one authority of the request, by the rule in the module docs.
fn authority_of(raw: &RawRequest<'_>) -> Result<Host, TargetRefusal> {
    let mut hosts = raw.headers.get_all(header::HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => Some(canonical_host(h.as_bytes())?),
        (None, _) => None,
        (Some(_), Some(_)) => return Err(TargetRefusal::HostCount),
    };
    if raw.version != Version::HTTP_2 {
        return host.ok_or(TargetRefusal::HostCount);
    }
    match (raw.authority.map(canonical_host).transpose()?, host) {
        (Some(a), Some(h)) if a.same_origin(&h, raw.scheme.default_port()) => Ok(a),
        (Some(_), Some(_)) => Err(TargetRefusal::HostMismatch),
        (Some(a), None) | (None, Some(a)) => Ok(a),
        (None, None) => Err(TargetRefusal::HostCount),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(
        version: Version,
        scheme: Scheme,
        target: &str,
        authority: Option<&str>,
        hosts: &[&str],
    ) -> Result<(String, String, String), TargetRefusal> {
        let mut headers = HeaderMap::new();
        for h in hosts {
            headers.append(header::HOST, h.parse().unwrap());
        }
        let v = RequestView::build(
            RawRequest {
                version,
                method: &Method::GET,
                scheme,
                target: target.as_bytes(),
                authority: authority.map(str::as_bytes),
                headers: &headers,
            },
            TargetRules::default(),
        )?;
        let parts = v.signing_parts(&headers);
        Ok((
            v.authority().to_owned(),
            parts.scheme.to_owned(),
            parts.path_and_query.to_owned(),
        ))
    }

    const H1: Version = Version::HTTP_11;
    const H2: Version = Version::HTTP_2;

    #[test]
    fn one_authority_rule_for_both_versions() {
        use Scheme::{Http, Https};
        let ok = |a: &str, s: &str, t: &str| Ok((a.to_owned(), s.to_owned(), t.to_owned()));
        // (version, scheme, target, :authority, Host values) → view or refusal
        let table: Vec<(Version, Scheme, &str, Option<&str>, &[&str], Result<_, _>)> = vec![
            (
                H1,
                Http,
                "/a?b",
                None,
                &["api.example"],
                ok("api.example", "http", "/a?b"),
            ),
            (
                H1,
                Http,
                "/a",
                None,
                &["API.Example.:8080"],
                ok("api.example:8080", "http", "/a"),
            ),
            (H1, Https, "/a", None, &[], Err(TargetRefusal::HostCount)),
            (
                H1,
                Http,
                "/a",
                None,
                &["a", "a"],
                Err(TargetRefusal::HostCount),
            ),
            (H1, Http, "/a", None, &[""], Err(TargetRefusal::Host)),
            // HTTP/1 ignores a URI authority that is not in the target.
            (H1, Http, "/a", Some("evil"), &["a"], ok("a", "http", "/a")),
            (H1, Http, "http://a/x", None, &["a"], ok("a", "http", "/x")),
            (
                H1,
                Http,
                "http://b/x",
                None,
                &["a"],
                Err(TargetRefusal::HostMismatch),
            ),
            (
                H2,
                Https,
                "/x",
                Some("localhost:8443"),
                &[],
                ok("localhost:8443", "https", "/x"),
            ),
            (
                H2,
                Http,
                "/x",
                Some("Localhost"),
                &[],
                ok("localhost", "http", "/x"),
            ),
            (H2, Https, "/x", None, &["h:1"], ok("h:1", "https", "/x")),
            (H2, Https, "/x", None, &[], Err(TargetRefusal::HostCount)),
            (H2, Https, "/x", Some(""), &[], Err(TargetRefusal::Host)),
            (
                H2,
                Https,
                "/x",
                Some("a:443"),
                &["a"],
                ok("a:443", "https", "/x"),
            ),
            (
                H2,
                Http,
                "/x",
                Some("a:443"),
                &["a"],
                Err(TargetRefusal::HostMismatch),
            ),
            (
                H2,
                Https,
                "/x",
                Some("a"),
                &["b"],
                Err(TargetRefusal::HostMismatch),
            ),
            (
                H2,
                Https,
                "/x",
                Some("a"),
                &["a", "a"],
                Err(TargetRefusal::HostCount),
            ),
            (H2, Https, "/x", Some("u@a"), &[], Err(TargetRefusal::Host)),
            (
                H2,
                Https,
                "/%61/../x",
                Some("a"),
                &[],
                Err(TargetRefusal::DotSegment),
            ),
            (
                H2,
                Https,
                "/%61/x",
                Some("a"),
                &[],
                ok("a", "https", "/a/x"),
            ),
            (
                H2,
                Https,
                "/x",
                Some("[::1]:8443"),
                &[],
                ok("[::1]:8443", "https", "/x"),
            ),
        ];
        for (version, scheme, target, authority, hosts, want) in table {
            assert_eq!(
                view(version, scheme, target, authority, hosts),
                want,
                "{version:?} {scheme:?} {target} {authority:?} {hosts:?}"
            );
        }
    }

    #[test]
    fn a_hyper_request_gives_the_same_view() {
        let h2 = http::Request::builder()
            .version(Version::HTTP_2)
            .uri("https://Api.Example:8443/%61?q=1")
            .body(())
            .unwrap();
        let v = RequestView::of_request(&h2, None, TargetRules::default()).unwrap();
        assert_eq!(
            (v.scheme(), v.authority(), v.target().as_str()),
            (Scheme::Https, "api.example:8443", "/a?q=1")
        );
        let h1 = http::Request::builder()
            .uri("/a")
            .header("host", "h")
            .body(())
            .unwrap();
        let v = RequestView::of_request(&h1, Some(Scheme::Https), TargetRules::default()).unwrap();
        assert_eq!((v.scheme(), v.authority()), (Scheme::Https, "h"));
        let absolute = http::Request::builder()
            .uri("http://other/a")
            .header("host", "h")
            .body(())
            .unwrap();
        assert_eq!(
            RequestView::of_request(&absolute, None, TargetRules::default()),
            Err(TargetRefusal::HostMismatch)
        );
        let no_authority = http::Request::builder()
            .version(Version::HTTP_2)
            .uri("/a")
            .body(())
            .unwrap();
        assert_eq!(
            RequestView::of_request(&no_authority, None, TargetRules::default()),
            Err(TargetRefusal::HostCount)
        );
    }
}

//! The canonical request, built once at the start of `request_filter`:
//! the core's rules ([`attestgate::target`]) applied to Pingora's request
//! header, in place. Everything after it — routing, the token check,
//! substitution, and the request Pingora writes upstream, which it copies
//! from this header — sees only the canonical form.

use attestgate::target::{Host, TargetRefusal, TargetRules, canonical_host, canonical_target};
use http::{HeaderName, Method, Version, header};
use pingora_http::RequestHeader;

/// What `[server]` says about reading requests.
pub(crate) struct Inbound {
    /// `allow_encoded_slash`, `allow_path_params`.
    pub(crate) rules: TargetRules,
    /// Headers removed from every request before anything else reads it.
    pub(crate) strip: Vec<HeaderName>,
}

impl Inbound {
    /// Rewrites `req` into its canonical form and returns its host, or why
    /// it is refused (400).
    pub(crate) fn canonicalize(&self, req: &mut RequestHeader) -> Result<Host, TargetRefusal> {
        let host = request_host(req)?;
        let target = canonical_target(req.method == Method::OPTIONS, req.raw_path(), self.rules)?;
        if let Some(authority) = target.authority() {
            // RFC 9112 §3.2.2 says the target's authority wins over Host;
            // a client that sends two different ones is confused or
            // probing, and either reading would be a guess.
            if !authority.same_origin(&host, 80) && !authority.same_origin(&host, 443) {
                return Err(TargetRefusal::HostMismatch);
            }
        }
        req.set_raw_path(target.as_str().as_bytes())
            .map_err(|_| TargetRefusal::Form)?;
        for h in &self.strip {
            req.remove_header(h);
        }
        Ok(host)
    }
}

/// The one `Host` of the request: the header, or for HTTP/2 without it,
/// `:authority` (which Pingora keeps in the URI).
fn request_host(req: &RequestHeader) -> Result<Host, TargetRefusal> {
    let mut hosts = req.headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(h), None) => {
            let host = canonical_host(h.as_bytes())?;
            if req.version == Version::HTTP_2
                && let Some(a) = req.uri.authority()
                && !canonical_host(a.as_str().as_bytes())?.same_origin(&host, 443)
            {
                return Err(TargetRefusal::HostMismatch);
            }
            Ok(host)
        }
        (None, _) if req.version == Version::HTTP_2 => req
            .uri
            .authority()
            .ok_or(TargetRefusal::HostCount)
            .and_then(|a| canonical_host(a.as_str().as_bytes())),
        _ => Err(TargetRefusal::HostCount),
    }
}

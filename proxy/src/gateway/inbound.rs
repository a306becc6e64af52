//! The canonical request, built once at the start of `request_filter`:
//! the core's rules ([`attestgate::target`]) applied to Pingora's request
//! header, in place. Everything after it — routing, the token check, the
//! message signature, substitution, `X-Forwarded-Host`, and the request
//! Pingora writes upstream, which it copies from this header — reads only
//! the canonical form and the [`RequestView`] returned here.

use attestgate::target::{
    HeaderRules, RawRequest, RequestView, Scheme, TargetRefusal, TargetRules,
};
use attestgate_config::{Config, SubstituteTarget};
use http::{HeaderName, Version};
use pingora_http::RequestHeader;
use prometheus::{IntCounter, Registry};

/// What `[server]` and the routes say about reading requests.
pub(crate) struct Inbound {
    /// `allow_encoded_slash`, `allow_path_params`.
    rules: TargetRules,
    /// Client headers that never reach an upstream, in any spelling.
    headers: HeaderRules,
    /// `attestgate_underscore_headers_dropped_total`.
    underscore_dropped: IntCounter,
    /// `attestgate_lookalike_headers_dropped_total`.
    lookalike_dropped: IntCounter,
}

impl Inbound {
    /// The rules of `config`, their counters registered in `registry`.
    pub(crate) fn new(config: &Config, registry: &Registry) -> prometheus::Result<Inbound> {
        let underscore_dropped = IntCounter::new(
            "attestgate_underscore_headers_dropped_total",
            "Client request headers dropped because their name holds '_' ([server] underscore_headers = \"drop\")",
        )?;
        let lookalike_dropped = IntCounter::new(
            "attestgate_lookalike_headers_dropped_total",
            "Client request headers dropped because their name reads as a protected one (claim, token, binding, substituted, X-Forwarded-*, stripped) once '_' is '-'",
        )?;
        registry.register(Box::new(underscore_dropped.clone()))?;
        registry.register(Box::new(lookalike_dropped.clone()))?;
        Ok(Inbound {
            rules: config.server.target_rules,
            headers: header_rules(config),
            underscore_dropped,
            lookalike_dropped,
        })
    }

    /// Rewrites `req` into its canonical form, removes the headers no
    /// upstream may see, and returns the request's view, or why it is
    /// refused (400). `tls`: the client connected over TLS.
    pub(crate) fn canonicalize(
        &self,
        req: &mut RequestHeader,
        tls: bool,
    ) -> Result<RequestView, TargetRefusal> {
        let h2 = req.version == Version::HTTP_2;
        let view = RequestView::build(
            RawRequest {
                version: req.version,
                method: &req.method,
                scheme: if tls { Scheme::Https } else { Scheme::Http },
                target: req.raw_path(),
                // Pingora keeps HTTP/2's `:authority` in the URI.
                authority: if h2 {
                    req.uri.authority().map(|a| a.as_str().as_bytes())
                } else {
                    None
                },
                headers: &req.headers,
            },
            self.rules,
        )?;
        req.set_raw_path(view.target().as_str().as_bytes())
            .map_err(|_| TargetRefusal::Form)?;
        let scan = self.headers.scan(&req.headers);
        for name in &scan.remove {
            req.remove_header(name);
        }
        if scan.underscore > 0 {
            self.underscore_dropped.inc_by(u64::from(scan.underscore));
        }
        if scan.lookalike > 0 {
            self.lookalike_dropped.inc_by(u64::from(scan.lookalike));
            tracing::debug!(
                target: "attestgate::reject",
                headers = scan.lookalike,
                "look-alikes of protected header names dropped"
            );
        }
        Ok(view)
    }
}

/// Stripped in every spelling: `[server] strip_request_headers` (with the
/// rewrite headers) and every route's `forward_claims` headers. Guarded
/// (the exact name is the client's, look-alikes are dropped): every
/// route's token, binding and substituted headers.
fn header_rules(config: &Config) -> HeaderRules {
    let stripped = config.server.strip_request_headers.iter().cloned().chain(
        config
            .routes
            .iter()
            .flat_map(|r| r.forward_claims.iter().map(|(h, _)| h.clone())),
    );
    let mut guarded: Vec<HeaderName> = Vec::new();
    let policies = config
        .token
        .iter()
        .map(|t| &t.policy)
        .chain(config.routes.iter().map(|r| &r.policy));
    for p in policies {
        guarded.push(p.header.clone());
        guarded.extend(p.binding_headers.iter().cloned());
    }
    for r in &config.routes {
        for s in &r.substitute {
            if let SubstituteTarget::Header(h) = &s.target {
                guarded.push(h.clone());
            }
        }
    }
    HeaderRules::new(config.server.underscore_headers, stripped, guarded)
}

//! Step 4, the decision, made once for both front ends (DESIGN §1, §9).
//!
//! [`crate::Verifier::decide`] looks at a request's method, target and
//! headers under the handle's [`crate::Policy`] and returns a [`Decision`]:
//! pass (with the [`VerifiedToken`]), anonymous, monitored or refused — and
//! for a refusal, the whole answer ([`Refusal`]: status, headers, body, for
//! HTTP and for gRPC). It also counts the outcome and the rejection, and
//! writes the one `attestgate::reject` log line. The proxy and the tower
//! layer only translate a `Decision` into their response types; neither
//! decides anything.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};

use crate::metrics::Outcome;
use crate::reason::Reason;
use crate::token::VerifiedToken;

/// What [`crate::Verifier::decide`] looks at. Its `Debug` shows the
/// method, the path and the header names, never a header value (one holds
/// the token) nor the query (which may).
#[derive(Clone, Copy)]
pub struct RequestParts<'a> {
    /// The method.
    pub method: &'a Method,
    /// The target (its query, for a `query_param` token).
    pub uri: &'a Uri,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The client's address, for the log line only.
    pub client: Option<IpAddr>,
    /// Whether a body comes with the request (an exempt method with one
    /// needs a token).
    pub body: crate::canonical::BodyHint,
}

impl std::fmt::Debug for RequestParts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestParts")
            .field("method", self.method)
            .field("path", &self.uri.path())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("client", &self.client)
            .field("body", &self.body)
            .finish()
    }
}

impl<'a> RequestParts<'a> {
    /// The parts of an `http` request head.
    pub fn of<B>(req: &'a http::Request<B>) -> RequestParts<'a> {
        RequestParts {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
            client: None,
            body: crate::canonical::BodyHint::FromHeaders,
        }
    }
}

/// The decision on one request.
#[derive(Debug)]
pub struct Decision {
    pub(crate) outcome: Outcome,
    pub(crate) reason: Option<Reason>,
    pub(crate) token: Option<VerifiedToken>,
    pub(crate) refusal: Option<Refusal>,
    /// The token passed on a route with message signing: the outcome is
    /// counted once the signature step ([`crate::Verifier::check_signature`],
    /// [`crate::Verifier::check_replay`]) has decided.
    pub(crate) pending_signature: bool,
}

impl Decision {
    /// The outcome, as counted in `attestgate_requests_total`.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Why the token failed (refused or monitored requests).
    pub fn reason(&self) -> Option<Reason> {
        self.reason
    }

    /// The verified token of a passing request.
    pub fn token(&self) -> Option<&VerifiedToken> {
        self.token.as_ref()
    }

    /// Takes the verified token out (to put it in request extensions).
    pub fn take_token(&mut self) -> Option<VerifiedToken> {
        self.token.take()
    }

    /// The answer to send instead of forwarding, if refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        self.refusal.as_ref()
    }

    /// Whether secrets may be substituted into this request: only when a
    /// token was checked and passed (never anonymous, monitored, exempt or
    /// token-off requests).
    pub fn secrets_allowed(&self) -> bool {
        self.outcome == Outcome::Allowed && self.token.is_some()
    }
}

/// The answer to a refused request. The reason is never in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    status: StatusCode,
    grpc: Option<GrpcAnswer>,
    /// Headers of its own (a rate limit's `Retry-After`, `RateLimit`).
    extra: Vec<(HeaderName, HeaderValue)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct GrpcAnswer {
    code: u16,
    content_type: HeaderValue,
}

/// `grpc-status` 16, UNAUTHENTICATED.
pub const GRPC_UNAUTHENTICATED: u16 = 16;
/// `grpc-status` 14, UNAVAILABLE (`no_keys`).
pub const GRPC_UNAVAILABLE: u16 = 14;
/// `grpc-status` 8, RESOURCE_EXHAUSTED (over a rate limit).
pub const GRPC_RESOURCE_EXHAUSTED: u16 = 8;

impl Refusal {
    /// The refusal for `reason` under a policy refusing with
    /// `reject_status`, for a request with these headers: HTTP
    /// `reject_status` (503 for `no_keys`) with `{}`; a gRPC request
    /// (`content-type: application/grpc*`, any case) a trailers-only
    /// HTTP 200 with `grpc-status` 16 (14 for `no_keys`), gRPC-Web keeping
    /// its own content type.
    pub fn new(reason: Reason, reject_status: StatusCode, headers: &HeaderMap) -> Refusal {
        match grpc_content_type(headers) {
            Some(ct) => Refusal::grpc_with(reason, ct),
            None => Refusal {
                status: if reason == Reason::NoKeys {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    reject_status
                },
                grpc: None,
                extra: Vec::new(),
            },
        }
    }

    /// The gRPC form of the refusal for `reason`, whatever the request's
    /// content type (gRPC-Web keeps its own).
    pub fn grpc(reason: Reason, headers: &HeaderMap) -> Refusal {
        let ct = grpc_content_type(headers)
            .unwrap_or_else(|| HeaderValue::from_static("application/grpc"));
        Refusal::grpc_with(reason, ct)
    }

    fn grpc_with(reason: Reason, content_type: HeaderValue) -> Refusal {
        let code = if reason == Reason::NoKeys {
            GRPC_UNAVAILABLE
        } else {
            GRPC_UNAUTHENTICATED
        };
        Refusal {
            status: StatusCode::OK,
            grpc: Some(GrpcAnswer { code, content_type }),
            extra: Vec::new(),
        }
    }

    /// A refusal other than a token's (a rate limit's): HTTP `status` with
    /// `{}`, or for a gRPC request a trailers-only `grpc-status`
    /// `grpc_code`; `extra` headers in both forms.
    pub(crate) fn other(
        status: StatusCode,
        grpc_code: u16,
        request: &HeaderMap,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Refusal {
        match grpc_content_type(request) {
            Some(content_type) => Refusal {
                status: StatusCode::OK,
                grpc: Some(GrpcAnswer {
                    code: grpc_code,
                    content_type,
                }),
                extra,
            },
            None => Refusal {
                status,
                grpc: None,
                extra,
            },
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `grpc-status` of a gRPC refusal.
    pub fn grpc_status(&self) -> Option<u16> {
        self.grpc.as_ref().map(|g| g.code)
    }

    /// The body: `{}` for HTTP, nothing for gRPC.
    pub fn body(&self) -> &'static str {
        if self.grpc.is_some() { "" } else { "{}" }
    }

    /// The response headers (besides framing: `content-length` is the
    /// front end's): `content-type`, `cache-control: no-store`, and for
    /// gRPC `grpc-status` and `grpc-message`.
    pub fn headers(&self) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = Vec::with_capacity(4);
        match &self.grpc {
            None => out.push((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )),
            Some(g) => {
                out.push((header::CONTENT_TYPE, g.content_type.clone()));
                out.push((
                    HeaderName::from_static("grpc-status"),
                    HeaderValue::from(g.code),
                ));
                let message = match g.code {
                    GRPC_UNAVAILABLE => "service unavailable",
                    GRPC_RESOURCE_EXHAUSTED => "resource exhausted",
                    _ => "unauthenticated",
                };
                out.push((
                    HeaderName::from_static("grpc-message"),
                    HeaderValue::from_static(message),
                ));
            }
        }
        out.push((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        out.extend(self.extra.iter().cloned());
        out
    }
}

/// Whether the request is gRPC (`content-type` starting with
/// `application/grpc`, ASCII case-insensitive).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    grpc_content_type(headers).is_some()
}

/// The content type a gRPC answer has: the request's own for gRPC-Web
/// (`application/grpc-web`, `-web+proto`, `-web-text`, …), else
/// `application/grpc`; `None` when the request is not gRPC.
pub fn grpc_content_type(headers: &HeaderMap) -> Option<HeaderValue> {
    let ct = headers.get(header::CONTENT_TYPE)?;
    let starts = |p: &[u8]| {
        ct.as_bytes()
            .get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
    };
    if starts(b"application/grpc-web") {
        Some(ct.clone())
    } else if starts(b"application/grpc") {
        Some(HeaderValue::from_static("application/grpc"))
    } else {
        None
    }
}

impl crate::Verifier {
    /// Decides on one request under this handle's policy, now.
    pub fn decide(&self, req: RequestParts<'_>) -> Decision {
        self.decide_at(req, crate::clock::now())
    }

    /// [`crate::Verifier::decide`] at a given time (seconds since the Unix
    /// epoch).
    pub fn decide_at(&self, req: RequestParts<'_>, now: f64) -> Decision {
        let p = &self.policy.policy;
        let metrics = self.policy.metrics(&self.shared);
        let mut decision = self.decide_inner(&req, now);
        if self.policy.signing.is_some()
            && decision.outcome == Outcome::Allowed
            && decision.token.is_some()
        {
            decision.pending_signature = true;
            return decision;
        }
        if let Some(m) = metrics {
            m.outcome(decision.outcome);
            if let Some(reason) = decision.reason {
                m.rejected(reason);
            }
        }
        if let Some(reason) = decision.reason
            && tracing::enabled!(target: "attestgate::reject", tracing::Level::DEBUG)
        {
            let token = req.headers.get(&p.header).map(HeaderValue::as_bytes);
            tracing::debug!(
                target: "attestgate::reject",
                route = %p.name,
                reason = reason.as_str(),
                client = %req.client.map_or_else(|| "-".to_owned(), |c| c.to_string()),
                token = %fingerprint(token),
                monitored = decision.outcome == Outcome::Monitored,
                "token check failed"
            );
        }
        decision
    }

    fn decide_inner(&self, req: &RequestParts<'_>, now: f64) -> Decision {
        use crate::policy::TokenRequirement as T;
        let p = &self.policy.policy;
        let pass = |outcome, token| Decision {
            outcome,
            reason: None,
            token,
            refusal: None,
            pending_signature: false,
        };
        if p.token == T::Off {
            return pass(Outcome::Allowed, None);
        }
        if p.methods_without_token.contains(req.method) {
            // Exempt from the token, not from the rules: a token-free
            // request may not open a tunnel, ask for another method or
            // carry a body (docs/DECISIONS.md, "Exempt methods").
            match exemption_lost(req) {
                None => return pass(Outcome::Anonymous, None),
                Some(why) => tracing::debug!(
                    target: "attestgate::reject",
                    route = %p.name,
                    why,
                    "exempt method needs a token here"
                ),
            }
        }
        let reason = match self.check_request(req.headers, req.uri, now) {
            Ok(token) => return pass(Outcome::Allowed, Some(token)),
            // An upgrade opens a tunnel past every later check: on a
            // token route it needs a token, optional or not.
            Err(crate::Reason::Missing)
                if p.token == T::Optional && !crate::canonical::intent::is_upgrade(req.headers) =>
            {
                return pass(Outcome::Anonymous, None);
            }
            Err(reason) => reason,
        };
        if p.mode == crate::Mode::Monitor {
            return Decision {
                outcome: Outcome::Monitored,
                reason: Some(reason),
                token: None,
                refusal: None,
                pending_signature: false,
            };
        }
        Decision {
            outcome: Outcome::Rejected,
            reason: Some(reason),
            token: None,
            refusal: Some(Refusal::new(reason, p.reject_status, req.headers)),
            pending_signature: false,
        }
    }
}

/// Why an exempt method's request still needs a token, if it does: it
/// asks for an upgrade, overrides its method, or carries a body.
fn exemption_lost(req: &RequestParts<'_>) -> Option<&'static str> {
    use crate::canonical::intent;
    if intent::is_upgrade(req.headers) {
        Some("exempt_upgrade")
    } else if intent::overrides_method(req.headers, req.uri.query()) {
        Some("exempt_method_override")
    } else if req.body.has_body(req.headers) {
        Some("exempt_body")
    } else {
        None
    }
}

/// First 8 hex digits of SHA-256 over the token: enough to correlate log
/// lines, useless to an attacker.
pub(crate) fn fingerprint(token: Option<&[u8]>) -> String {
    let Some(t) = token else {
        return "-".to_owned();
    };
    let d = ring::digest::digest(&ring::digest::SHA256, t);
    d.as_ref()[..4].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn refusals_for_http_and_grpc() {
        let http = Refusal::new(Reason::Expired, StatusCode::FORBIDDEN, &HeaderMap::new());
        assert_eq!(
            (http.status(), http.body(), http.grpc_status()),
            (StatusCode::FORBIDDEN, "{}", None)
        );
        let no_keys = Refusal::new(Reason::NoKeys, StatusCode::FORBIDDEN, &HeaderMap::new());
        assert_eq!(no_keys.status(), StatusCode::SERVICE_UNAVAILABLE);
        // reject_status 503 does not make a gRPC refusal UNAVAILABLE: the
        // reason does.
        for (ct, want_ct) in [
            ("application/grpc", "application/grpc"),
            ("Application/GRPC+proto", "application/grpc"),
            ("application/grpc-web+proto", "application/grpc-web+proto"),
            ("application/grpc-web-text", "application/grpc-web-text"),
        ] {
            let r = Refusal::new(
                Reason::Missing,
                StatusCode::SERVICE_UNAVAILABLE,
                &headers(ct),
            );
            assert_eq!(
                (r.status(), r.grpc_status(), r.body()),
                (StatusCode::OK, Some(16), "")
            );
            let h = r.headers();
            assert_eq!(h[0].1, want_ct, "{ct}");
            let r = Refusal::new(Reason::NoKeys, StatusCode::UNAUTHORIZED, &headers(ct));
            assert_eq!(r.grpc_status(), Some(14));
        }
        assert!(!is_grpc(&headers("application/json")));
        assert!(!is_grpc(&headers("application/gr")));
    }

    #[test]
    fn debug_of_request_parts_shows_no_header_value_or_query() {
        let mut h = HeaderMap::new();
        h.insert(
            "approov-token",
            HeaderValue::from_static("secret.token.value"),
        );
        let uri = Uri::from_static("/ws?approov-token=query.token.value");
        let parts = RequestParts {
            method: &Method::GET,
            uri: &uri,
            headers: &h,
            client: None,
            body: crate::canonical::BodyHint::FromHeaders,
        };
        let text = format!("{parts:?}");
        assert!(
            text.contains("approov-token") && text.contains("/ws"),
            "{text}"
        );
        assert!(
            !text.contains("secret.token") && !text.contains("query.token"),
            "{text}"
        );
    }

    #[test]
    fn no_refusal_names_its_reason() {
        for reason in Reason::ALL {
            for h in [HeaderMap::new(), headers("application/grpc")] {
                let r = Refusal::new(reason, StatusCode::UNAUTHORIZED, &h);
                for (_, v) in r.headers() {
                    assert!(!v.to_str().unwrap().contains(reason.as_str()), "{reason}");
                }
            }
        }
    }

    /// Exempt methods are exempt from the token, not from the rules; an
    /// optional route's upgrade needs a token.
    #[test]
    fn exemptions_hold_only_for_plain_requests() {
        use crate::canonical::BodyHint;
        use crate::policy::TokenRequirement;
        let secret = crate::token::mint::new_secret_base64().unwrap();
        let base = crate::Verifier::builder()
            .secret_base64(&secret)
            .unwrap()
            .build()
            .unwrap();
        let exempt = base.with_policy(crate::Policy {
            methods_without_token: vec![Method::OPTIONS, Method::HEAD, Method::GET],
            ..base.policy().clone()
        });
        let optional = base.with_policy(crate::Policy {
            token: TokenRequirement::Optional,
            ..base.policy().clone()
        });
        let key = crate::token::mint::SigningKey::hs256_base64(&secret).unwrap();
        let exp = crate::clock::now() as u64 + 300;
        let token =
            crate::token::mint::mint(&key, None, &serde_json::json!({ "exp": exp })).unwrap();
        // (verifier, method, target, headers, body, with token) → outcome
        let up = [("upgrade", "websocket"), ("connection", "upgrade")];
        let table: Vec<(
            &crate::Verifier,
            Method,
            &str,
            Vec<(&str, &str)>,
            BodyHint,
            bool,
            Outcome,
        )> = vec![
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![],
                BodyHint::FromHeaders,
                false,
                Outcome::Anonymous,
            ),
            (
                &exempt,
                Method::HEAD,
                "/p",
                vec![],
                BodyHint::Empty,
                false,
                Outcome::Anonymous,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                up.to_vec(),
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::GET,
                "/p",
                up.to_vec(),
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::GET,
                "/p",
                up.to_vec(),
                BodyHint::FromHeaders,
                true,
                Outcome::Allowed,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![("x-http-method-override", "POST")],
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![("x-http-method", "DELETE")],
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::HEAD,
                "/p",
                vec![("x-method-override", "PUT")],
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![("x_http_method_override", "PUT")],
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p?_method=DELETE",
                vec![],
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![("x-http-method-override", "POST")],
                BodyHint::FromHeaders,
                true,
                Outcome::Allowed,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![("content-length", "4")],
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![("transfer-encoding", "chunked")],
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![],
                BodyHint::Present,
                false,
                Outcome::Rejected,
            ),
            (
                &exempt,
                Method::OPTIONS,
                "/p",
                vec![("content-length", "0")],
                BodyHint::FromHeaders,
                false,
                Outcome::Anonymous,
            ),
            (
                &exempt,
                Method::POST,
                "/p",
                vec![],
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &optional,
                Method::GET,
                "/p",
                vec![],
                BodyHint::FromHeaders,
                false,
                Outcome::Anonymous,
            ),
            (
                &optional,
                Method::GET,
                "/p",
                up.to_vec(),
                BodyHint::FromHeaders,
                false,
                Outcome::Rejected,
            ),
            (
                &optional,
                Method::GET,
                "/p",
                up.to_vec(),
                BodyHint::FromHeaders,
                true,
                Outcome::Allowed,
            ),
        ];
        for (v, method, target, pairs, body, with_token, want) in table {
            let mut headers = HeaderMap::new();
            for (k, val) in &pairs {
                headers.append(*k, HeaderValue::from_str(val).unwrap());
            }
            if with_token {
                headers.insert("approov-token", HeaderValue::from_str(&token).unwrap());
            }
            let uri = Uri::try_from(target).unwrap();
            let d = v.decide(RequestParts {
                method: &method,
                uri: &uri,
                headers: &headers,
                client: None,
                body,
            });
            assert_eq!(
                d.outcome(),
                want,
                "{method} {target} {pairs:?} {body:?} token={with_token}"
            );
            assert!(!(want == Outcome::Anonymous && d.secrets_allowed()));
        }
    }
}

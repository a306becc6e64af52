//! Step 4, the decision, made once for both front ends, under each route's policy.
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

use http::header::{HeaderMap, HeaderValue};
use http::{Method, Uri};

use crate::metrics::Outcome;
use crate::reason::Reason;
use crate::request::refusal::Refusal;
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

/// What the decision keeps for its signature step.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The handle that decided: its route's signing policy, metrics, log.
    pub(crate) verifier: crate::Verifier,
    /// The client's address, for the log line.
    pub(crate) client: Option<IpAddr>,
    /// The request carries `Signature`/`Signature-Input`.
    pub(crate) signed: bool,
    /// A body comes with the request.
    pub(crate) has_body: bool,
}

/// The decision on one request.
#[derive(Debug)]
pub struct Decision {
    pub(crate) outcome: Outcome,
    pub(crate) reason: Option<Reason>,
    pub(crate) token: Option<VerifiedToken>,
    pub(crate) refusal: Option<Refusal>,
    /// The token passed on a route with message signing: the outcome is
    /// counted once the signature step ([`Decision::pending_signature`])
    /// has decided.
    pub(crate) signature: Option<Box<Pending>>,
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

impl crate::Verifier {
    /// Decides on one request under this handle's policy, now.
    pub fn decide(&self, req: RequestParts<'_>) -> Decision {
        self.decide_at(req, crate::clock::now())
    }

    /// [`crate::Verifier::decide`] at a given time (seconds since the Unix
    /// epoch).
    pub fn decide_at(&self, req: RequestParts<'_>, now: f64) -> Decision {
        let mut decision = self.decide_inner(&req, now);
        if self.policy.signing.is_some()
            && decision.outcome == Outcome::Allowed
            && decision.token.is_some()
        {
            decision.signature = Some(Box::new(Pending {
                verifier: self.clone(),
                client: req.client,
                signed: crate::msgsig::MessageSigning::is_signed(req.headers),
                has_body: req.body.has_body(req.headers),
            }));
            return decision;
        }
        self.record(&decision, req.headers, req.client, None);
        decision
    }

    /// The failure of a check for `reason`: in monitor mode the request is
    /// let through (monitored, no secrets), else refused in the policy's
    /// form. The one place monitor-or-refuse is decided.
    pub(crate) fn fail(&self, decision: &mut Decision, reason: Reason, headers: &HeaderMap) {
        let p = &self.policy.policy;
        decision.reason = Some(reason);
        decision.token = None;
        if p.mode == crate::Mode::Monitor {
            decision.outcome = Outcome::Monitored;
        } else {
            decision.outcome = Outcome::Rejected;
            decision.refusal = Some(Refusal::new(reason, p.reject_status, headers));
        }
    }

    /// Counts a decided request (its outcome, and its rejection reason)
    /// and writes its `attestgate::reject` line; `why` names the signature
    /// step's failure. The one place a decision is counted and logged.
    pub(crate) fn record(
        &self,
        decision: &Decision,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        why: Option<&'static str>,
    ) {
        let p = &self.policy.policy;
        if let Some(m) = self.policy.metrics(&self.shared) {
            m.outcome(decision.outcome);
            if let Some(reason) = decision.reason {
                m.rejected(reason);
            }
        }
        let Some(reason) = decision.reason else {
            return;
        };
        if !tracing::enabled!(target: "attestgate::reject", tracing::Level::DEBUG) {
            return;
        }
        let token = fingerprint(headers.get(&p.header).map(HeaderValue::as_bytes));
        let client = client.map_or_else(|| "-".to_owned(), |c| c.to_string());
        let monitored = decision.outcome == Outcome::Monitored;
        match why {
            None => tracing::debug!(
                target: "attestgate::reject",
                route = %p.name,
                reason = reason.as_str(),
                client = %client,
                token = %token,
                monitored,
                "token check failed"
            ),
            Some(why) => tracing::debug!(
                target: "attestgate::reject",
                route = %p.name,
                reason = reason.as_str(),
                why,
                client = %client,
                token = %token,
                monitored,
                "message signature check failed"
            ),
        }
    }

    fn decide_inner(&self, req: &RequestParts<'_>, now: f64) -> Decision {
        use crate::policy::TokenRequirement as T;
        let p = &self.policy.policy;
        let pass = |outcome, token| Decision {
            outcome,
            reason: None,
            token,
            refusal: None,
            signature: None,
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
        let mut decision = pass(Outcome::Rejected, None);
        self.fail(&mut decision, reason, req.headers);
        decision
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
#[path = "decide_tests.rs"]
mod tests;

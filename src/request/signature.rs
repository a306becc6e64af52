//! Step 5, the message signature (DESIGN §12), made once for both front
//! ends: after [`crate::Verifier::decide`] passed a token on a route whose
//! policy has `message_signing`, the front end buffers the body when
//! [`crate::Verifier::signature_body_limit`] asks for it, then calls
//! [`crate::Verifier::check_signature`] (sync) and
//! [`crate::Verifier::check_replay`] (async: the store may be Redis). Each
//! turns a failure into the decision's refusal (reason `signature` or
//! `replay`), counted in `attestgate_requests_total` and
//! `attestgate_rejections_total{route,reason}` and logged on the
//! `attestgate::reject` line, or, in monitor mode, into `monitored`
//! (let through without secrets). The front end then translates the
//! decision as before.
//!
//! A passing decision on such a route is counted only when the signature
//! step has decided (so a request is counted once).

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, StatusCode};

use crate::metrics::Outcome;
use crate::msgsig::replay::{ReplayKey, ReplayStore, StoreCheck, StoreError};
use crate::msgsig::{MessageSigning, MessageSigningPolicy, RequestParts, Signed};
use crate::reason::Reason;
use crate::request::decide::{Decision, Refusal, fingerprint};

/// Builds a route's message signing. The policy was validated by
/// [`crate::Policy::validate`] (config); a `"redis"` policy without its
/// store gets one that never answers, so `on_redis_error` decides (and a
/// warning says so) rather than a replay passing unchecked.
pub(crate) fn build(
    route: &str,
    policy: MessageSigningPolicy,
    store: Option<Arc<dyn ReplayStore>>,
) -> MessageSigning {
    let store = match (policy.replay, store) {
        (crate::msgsig::ReplayMode::Redis, None) => {
            tracing::warn!(
                route,
                "message_signing replay = \"redis\" without a Redis store: every replay check fails (on_redis_error decides)"
            );
            Some(Arc::new(NoStore) as Arc<dyn ReplayStore>)
        }
        (_, s) => s,
    };
    match MessageSigning::new(policy.clone(), store) {
        Ok(s) => s,
        Err(problems) => {
            tracing::warn!(
                route,
                problems = problems.len(),
                "message_signing policy has problems (check-config lists them); using it as given"
            );
            // Only reached with an unvalidated policy: keep its rules,
            // replay in memory.
            MessageSigning::new(
                MessageSigningPolicy {
                    replay: crate::msgsig::ReplayMode::Memory,
                    redis_url: None,
                    ..MessageSigningPolicy::default()
                },
                None,
            )
            .unwrap_or_else(|_| unreachable_default())
        }
    }
}

/// The default policy always validates; this is its store-less build.
fn unreachable_default() -> MessageSigning {
    // MessageSigningPolicy::default() validates (tested in msgsig::policy).
    match MessageSigning::new(MessageSigningPolicy::default(), None) {
        Ok(s) => s,
        Err(_) => panic!("the default message-signing policy is valid"),
    }
}

/// A store that is never reachable.
struct NoStore;

impl ReplayStore for NoStore {
    fn first_use(&self, _key: &ReplayKey, _end: f64, _now: f64) -> StoreCheck<'_> {
        StoreCheck::Ready(Some(Err(StoreError::Unavailable)))
    }
}

impl crate::Verifier {
    /// The route's message signing, if its policy has one.
    pub fn message_signing(&self) -> Option<&MessageSigning> {
        self.policy.signing.as_ref()
    }

    /// Whether `decision` waits for the signature step.
    pub fn signature_pending(&self, decision: &Decision) -> bool {
        decision.pending_signature
    }

    /// `Some(max_body_bytes)` when the signature step of this decision
    /// needs the request body: the decision waits for it and the request
    /// carries a signature (`Signature`/`Signature-Input`). The front end
    /// buffers at most that many bytes; beyond it, it calls
    /// [`crate::Verifier::refuse_body_too_large`] and forwards nothing.
    pub fn signature_body_limit(&self, decision: &Decision, headers: &HeaderMap) -> Option<u64> {
        let s = self.policy.signing.as_ref()?;
        (decision.pending_signature && MessageSigning::is_signed(headers))
            .then_some(s.policy().max_body_bytes)
    }

    /// Refuses a request whose body is over `max_body_bytes`: 413 `{}`
    /// (gRPC: status 16), reason `signature`, in monitor mode too (the
    /// body was not kept, so it cannot be forwarded).
    pub fn refuse_body_too_large(
        &self,
        decision: &mut Decision,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) {
        if !decision.pending_signature {
            return;
        }
        decision.pending_signature = false;
        decision.outcome = Outcome::Rejected;
        decision.reason = Some(Reason::Signature);
        decision.token = None;
        decision.refusal = Some(Refusal::new(
            Reason::Signature,
            StatusCode::PAYLOAD_TOO_LARGE,
            headers,
        ));
        self.count_and_log(decision, headers, client, "body_too_large");
    }

    /// Verifies the request's message signature under the route's policy,
    /// now. `req` is the canonical request (scheme and authority as the
    /// client addressed us); `body` the whole buffered body, `None` when
    /// the request has none or [`crate::Verifier::signature_body_limit`]
    /// did not ask for it.
    ///
    /// Returns the verified signature, to pass to
    /// [`crate::Verifier::check_replay`]. On a failure the decision becomes
    /// a refusal (or monitored); on an unsigned request the route accepts,
    /// the decision passes as it is. Does nothing to a decision that does
    /// not wait for the signature step.
    pub fn check_signature(
        &self,
        decision: &mut Decision,
        req: &RequestParts<'_>,
        body: Option<&[u8]>,
        client: Option<IpAddr>,
    ) -> Option<Signed> {
        self.check_signature_at(decision, req, body, client, crate::clock::now())
    }

    /// [`crate::Verifier::check_signature`] at a given time.
    pub fn check_signature_at(
        &self,
        decision: &mut Decision,
        req: &RequestParts<'_>,
        body: Option<&[u8]>,
        client: Option<IpAddr>,
        now: f64,
    ) -> Option<Signed> {
        let signing = self.policy.signing.as_ref()?;
        if !decision.pending_signature {
            return None;
        }
        let key = decision.token.as_ref().and_then(|t| t.install_key());
        match signing.verify(req, body, key, now) {
            Ok(Some(signed)) => Some(signed),
            Ok(None) => {
                self.pass(decision);
                None
            }
            Err(e) => {
                self.fail(decision, Reason::Signature, req.headers, client, e.as_str());
                None
            }
        }
    }

    /// Records a verified signature in the route's replay store; one seen
    /// before within its window (or a store that cannot answer, with
    /// `on_redis_error = "refuse"`) turns the decision into a refusal with
    /// reason `replay` (or monitored). Completes the decision either way.
    pub async fn check_replay(
        &self,
        decision: &mut Decision,
        signed: &Signed,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) {
        let Some(signing) = self.policy.signing.as_ref() else {
            return;
        };
        if !decision.pending_signature {
            return;
        }
        match signing.check_replay(signed, crate::clock::now()).await {
            Ok(()) => self.pass(decision),
            Err(crate::msgsig::ReplayError::Seen) => {
                self.fail(decision, Reason::Replay, headers, client, "seen")
            }
            Err(crate::msgsig::ReplayError::Store(e)) => {
                self.fail(decision, Reason::Replay, headers, client, e.as_str())
            }
        }
    }

    /// Refuses (`signature`; monitor mode: monitored) a signed request
    /// whose body this front end cannot buffer: its `Content-Digest`
    /// cannot be checked, and forwarding it unchecked would let any body
    /// through. The tower layer's answer to a request with a body.
    pub fn refuse_unbuffered_body(
        &self,
        decision: &mut Decision,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) {
        if decision.pending_signature {
            self.fail(
                decision,
                Reason::Signature,
                headers,
                client,
                "body_not_buffered",
            );
        }
    }

    /// Refuses (`signature`; monitor mode: monitored) a request on a
    /// signing route whose request view could not be built (no usable
    /// authority or target): there is nothing to check the signature
    /// against.
    pub fn refuse_request_view(
        &self,
        decision: &mut Decision,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) {
        if decision.pending_signature {
            self.fail(decision, Reason::Signature, headers, client, "request_view");
        }
    }

    /// [`crate::Verifier::check_replay`] without waiting: a store that
    /// answers at once (memory, or none) decides; one that would wait on
    /// I/O (Redis) is treated as unreachable, so `on_redis_error` decides.
    /// For front ends that cannot await (the tower layer's `call`).
    pub fn check_replay_now(
        &self,
        decision: &mut Decision,
        signed: &Signed,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) {
        let pending = {
            let fut = self.check_replay(decision, signed, headers, client);
            let mut fut = std::pin::pin!(fut);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            fut.as_mut().poll(&mut cx).is_pending()
        };
        if pending {
            let allow =
                self.policy.signing.as_ref().is_some_and(|s| {
                    s.policy().on_redis_error == crate::msgsig::OnStoreError::Allow
                });
            if allow {
                self.pass(decision);
            } else {
                self.fail(decision, Reason::Replay, headers, client, "store_not_ready");
            }
        }
    }

    /// Both steps, for a front end that has the body (or none) at hand.
    pub async fn check_message(
        &self,
        decision: &mut Decision,
        req: &RequestParts<'_>,
        body: Option<&[u8]>,
        client: Option<IpAddr>,
    ) {
        if let Some(signed) = self.check_signature(decision, req, body, client) {
            self.check_replay(decision, &signed, req.headers, client)
                .await;
        }
    }

    fn pass(&self, decision: &mut Decision) {
        decision.pending_signature = false;
        if let Some(m) = self.policy.metrics(&self.shared) {
            m.outcome(decision.outcome);
        }
    }

    fn fail(
        &self,
        decision: &mut Decision,
        reason: Reason,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        why: &'static str,
    ) {
        let p = &self.policy.policy;
        decision.pending_signature = false;
        decision.reason = Some(reason);
        decision.token = None;
        if p.mode == crate::Mode::Monitor {
            decision.outcome = Outcome::Monitored;
        } else {
            decision.outcome = Outcome::Rejected;
            decision.refusal = Some(Refusal::new(reason, p.reject_status, headers));
        }
        self.count_and_log(decision, headers, client, why);
    }

    fn count_and_log(
        &self,
        decision: &Decision,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        why: &'static str,
    ) {
        let p = &self.policy.policy;
        if let Some(m) = self.policy.metrics(&self.shared) {
            m.outcome(decision.outcome);
            if let Some(r) = decision.reason {
                m.rejected(r);
            }
        }
        if tracing::enabled!(target: "attestgate::reject", tracing::Level::DEBUG) {
            let token = headers.get(&p.header).map(HeaderValue::as_bytes);
            tracing::debug!(
                target: "attestgate::reject",
                route = %p.name,
                reason = decision.reason.map_or("-", Reason::as_str),
                why,
                client = %client.map_or_else(|| "-".to_owned(), |c| c.to_string()),
                token = %fingerprint(token),
                monitored = decision.outcome == Outcome::Monitored,
                "message signature check failed"
            );
        }
    }
}

//! Step 5, the message signature, made once for both front ends. On a
//! route whose policy has `message_signing`, [`crate::Verifier::decide`]
//! passes a token with the step still to take: the decision's
//! [`Decision::pending_signature`] is a [`SignatureStep`]. The front end
//! reads the body when [`SignatureStep::body_limit`] asks for it, then
//! calls [`SignatureStep::finish`] (async: the replay store may be Redis)
//! or [`SignatureStep::finish_now`] (a front end that cannot await).
//!
//! A failure turns the decision into a refusal (reason `signature` or
//! `replay`), counted in `attestgate_requests_total` and
//! `attestgate_rejections_total{route,reason}` and logged on the
//! `attestgate::reject` line, or, in monitor mode, into `monitored` (let
//! through without secrets). A passing decision on such a route is
//! counted only once the step has decided, so a request is counted once.
//! A step dropped unfinished leaves the decision refused: a front end
//! that forgets the step forwards nothing.

use std::future::Future;
use std::net::IpAddr;

use http::{HeaderMap, StatusCode};

use crate::canonical::RequestView;
use crate::metrics::Outcome;
use crate::msgsig::{MessageSigning, OnStoreError, ReplayError};
use crate::reason::Reason;
use crate::request::decide::{Decision, Pending};
use crate::request::refusal::Refusal;

/// The body as the front end has it for [`SignatureStep::finish`].
#[derive(Clone, Copy, Debug)]
pub enum SignedBody<'a> {
    /// No body, or [`SignatureStep::body_limit`] did not ask for it.
    None,
    /// The whole body, read within [`SignatureStep::body_limit`].
    Whole(&'a [u8]),
    /// The body is over [`SignatureStep::body_limit`]: 413 `{}` (gRPC:
    /// status 16), reason `signature`, in monitor mode too (the body was
    /// not kept, so it cannot be forwarded).
    TooLarge,
    /// The body was asked for but this front end cannot buffer it (the
    /// tower layer): its `Content-Digest` cannot be checked and forwarding
    /// it unchecked would let any body through, so the request fails
    /// (`signature`; monitor mode: monitored).
    Unbuffered,
}

/// The message-signature step a passing decision waits for. Borrowed from
/// the decision ([`Decision::pending_signature`]); finishing it completes
/// the decision.
#[derive(Debug)]
pub struct SignatureStep<'d> {
    decision: &'d mut Decision,
}

impl Decision {
    /// The signature step this decision waits for, if any.
    pub fn pending_signature(&mut self) -> Option<SignatureStep<'_>> {
        self.signature
            .is_some()
            .then_some(SignatureStep { decision: self })
    }
}

impl SignatureStep<'_> {
    fn pending(&self) -> &Pending {
        match &self.decision.signature {
            Some(p) => p,
            // `pending_signature` makes a step only for a pending decision,
            // and only `finish` (which consumes the step) takes it.
            None => unreachable!("a signature step without its pending state"),
        }
    }

    fn signing(&self) -> Option<&MessageSigning> {
        self.pending().verifier.policy.signing.as_ref()
    }

    /// `Some(max_body_bytes)` when the check needs the request body: the
    /// request carries a signature and a body. The front end reads at most
    /// that many bytes; beyond it, it finishes with
    /// [`SignedBody::TooLarge`] and forwards nothing.
    pub fn body_limit(&self) -> Option<u64> {
        let p = self.pending();
        (p.signed && p.has_body)
            .then(|| self.signing().map(|s| s.policy().max_body_bytes))
            .flatten()
    }

    /// Takes the step: verifies the signature of the request seen through
    /// `view` (scheme and authority as the client addressed us; `None`
    /// when none could be built, which fails the step) with `headers` and
    /// `body`, then records it in the replay store. Completes the decision.
    pub async fn finish(
        self,
        view: Option<&RequestView>,
        headers: &HeaderMap,
        body: SignedBody<'_>,
    ) {
        let mut step = self;
        let now = crate::clock::now();
        let Some((verifier, signed, client)) = step.verify(view, headers, body, now) else {
            return;
        };
        let Some(signing) = verifier.policy.signing.as_ref() else {
            return;
        };
        let result = signing.check_replay(&signed, now).await;
        verifier.replay_result(step.decision, result, headers, client);
    }

    /// [`SignatureStep::finish`] without waiting: a replay store that
    /// answers at once (memory, or none) decides; one that would wait on
    /// I/O (Redis) is treated as unreachable, so `on_redis_error` decides.
    /// For front ends that cannot await (the tower layer's `call`).
    pub fn finish_now(self, view: Option<&RequestView>, headers: &HeaderMap, body: SignedBody<'_>) {
        let mut step = self;
        let now = crate::clock::now();
        let Some((verifier, signed, client)) = step.verify(view, headers, body, now) else {
            return;
        };
        let Some(signing) = verifier.policy.signing.as_ref() else {
            return;
        };
        let ready = {
            let fut = signing.check_replay(&signed, now);
            let mut fut = std::pin::pin!(fut);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match fut.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(r) => Some(r),
                std::task::Poll::Pending => None,
            }
        };
        match ready {
            Some(result) => verifier.replay_result(step.decision, result, headers, client),
            None if signing.policy().on_redis_error == OnStoreError::Allow => {
                verifier.pass_signature(step.decision)
            }
            None => verifier.fail_signature(
                step.decision,
                Reason::Replay,
                headers,
                client,
                "store_not_ready",
            ),
        }
    }

    /// The signature half of the step. `None` when it decided already
    /// (failed, or an unsigned request the route accepts); else the
    /// verified signature for the replay check.
    fn verify(
        &mut self,
        view: Option<&RequestView>,
        headers: &HeaderMap,
        body: SignedBody<'_>,
        now: f64,
    ) -> Option<(crate::Verifier, crate::msgsig::Signed, Option<IpAddr>)> {
        let decision = &mut *self.decision;
        let Pending {
            verifier, client, ..
        } = *decision.signature.take()?;
        let body = match body {
            SignedBody::None => None,
            SignedBody::Whole(b) => Some(b),
            SignedBody::TooLarge => {
                verifier.refuse_body_too_large(decision, headers, client);
                return None;
            }
            SignedBody::Unbuffered => {
                let why = "body_not_buffered";
                verifier.fail_signature(decision, Reason::Signature, headers, client, why);
                return None;
            }
        };
        let Some(view) = view else {
            let why = "request_view";
            verifier.fail_signature(decision, Reason::Signature, headers, client, why);
            return None;
        };
        let signing = verifier.policy.signing.as_ref()?;
        let key = decision.token.as_ref().and_then(|t| t.install_key());
        let parts = view.signing_parts(headers);
        match signing.verify(&parts, body, key, now) {
            Ok(Some(signed)) => Some((verifier, signed, client)),
            Ok(None) => {
                verifier.pass_signature(decision);
                None
            }
            Err(e) => {
                let why = e.as_str();
                verifier.fail_signature(decision, Reason::Signature, headers, client, why);
                None
            }
        }
    }
}

impl Drop for SignatureStep<'_> {
    fn drop(&mut self) {
        // Not finished (the front end gave up, e.g. the client went away
        // mid-body): nothing may be forwarded on the token alone.
        if self.decision.signature.take().is_some() {
            self.decision.outcome = Outcome::Rejected;
            self.decision.reason = Some(Reason::Signature);
            self.decision.token = None;
            self.decision.refusal = Some(Refusal::new(
                Reason::Signature,
                StatusCode::UNAUTHORIZED,
                &HeaderMap::new(),
            ));
        }
    }
}

impl crate::Verifier {
    /// The route's message signing, if its policy has one.
    pub fn message_signing(&self) -> Option<&MessageSigning> {
        self.policy.signing.as_ref()
    }

    fn refuse_body_too_large(
        &self,
        decision: &mut Decision,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) {
        decision.outcome = Outcome::Rejected;
        decision.reason = Some(Reason::Signature);
        decision.token = None;
        decision.refusal = Some(Refusal::new(
            Reason::Signature,
            StatusCode::PAYLOAD_TOO_LARGE,
            headers,
        ));
        self.record(decision, headers, client, Some("body_too_large"));
    }

    fn replay_result(
        &self,
        decision: &mut Decision,
        result: Result<(), ReplayError>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) {
        match result {
            Ok(()) => self.pass_signature(decision),
            Err(ReplayError::Seen) => {
                self.fail_signature(decision, Reason::Replay, headers, client, "seen")
            }
            Err(ReplayError::Store(e)) => {
                self.fail_signature(decision, Reason::Replay, headers, client, e.as_str())
            }
        }
    }

    fn pass_signature(&self, decision: &mut Decision) {
        if let Some(m) = self.policy.metrics(&self.shared) {
            m.outcome(decision.outcome);
        }
    }

    fn fail_signature(
        &self,
        decision: &mut Decision,
        reason: Reason,
        headers: &HeaderMap,
        client: Option<IpAddr>,
        why: &'static str,
    ) {
        decision.token = None;
        self.fail(decision, reason, headers);
        self.record(decision, headers, client, Some(why));
    }
}

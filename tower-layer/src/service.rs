//! [`Attest`]: the service that checks the token, synchronously, in `call()`.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use attestgate::{RequestParts, VerifiedToken};
use http::{Request, Response};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::{AttestLayer, Shared};
use crate::reject::{Reject, RejectContext, Rejection};

/// Checks the Approov token of each request, then calls the inner service
/// (token passed, or monitor mode) or answers at once (refused).
///
/// Made by [`AttestLayer`]. The check runs in `call()` against the key set
/// already in memory; nothing waits on I/O and nothing is boxed.
pub struct Attest<S, R = crate::DefaultRejection> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared<R>>,
}

impl<S: Clone, R> Clone for Attest<S, R> {
    fn clone(&self) -> Self {
        Attest {
            inner: self.inner.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<S: fmt::Debug, R> fmt::Debug for Attest<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attest")
            .field("inner", &self.inner)
            .field("verifier", &self.shared.verifier)
            .finish_non_exhaustive()
    }
}

impl<S, R> Attest<S, R> {
    /// Wraps `inner` with the settings of `layer` (same as
    /// `layer.layer(inner)`).
    pub fn new(inner: S, layer: &AttestLayer<R>) -> Self {
        Attest {
            inner,
            shared: layer.shared.clone(),
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Attest<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: Reject<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let shared = &*self.shared;
        // The core decides, counts and logs; this only translates.
        let mut decision = shared.verifier.decide(RequestParts::of(&req));
        crate::signing::check(&mut decision, &req);
        let rejection = decision
            .reason()
            .map(|r| Rejection::new(r, shared.verifier.reject_status(r)));
        if let (Some(refusal), Some(rejection)) = (decision.refusal(), rejection) {
            let ctx = RejectContext {
                rejection,
                refusal,
                method: req.method(),
                uri: req.uri(),
                version: req.version(),
                headers: req.headers(),
            };
            let mut response = shared.reject.reject(&ctx);
            response.extensions_mut().insert(rejection);
            return ResponseFuture::reject(response);
        }
        let extensions = req.extensions_mut();
        match decision.take_token() {
            Some(token) => {
                extensions.insert(token);
            }
            // Whatever an earlier layer may have put there, a request whose
            // token did not pass here carries no verified token.
            None => {
                extensions.remove::<VerifiedToken>();
            }
        }
        if let Some(rejection) = rejection {
            // monitor mode: the handler can tell this request apart
            extensions.insert(rejection);
        }
        ResponseFuture::inner(self.inner.call(req))
    }
}

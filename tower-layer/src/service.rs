//! [`Attest`]: the service that checks the token, synchronously, in `call()`.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use attestgate::{Outcome, VerifiedToken};
use http::{Request, Response};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::{AttestLayer, Shared};
use crate::reject::{self, Reject, RejectContext, Rejection};

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
            .field("route", &self.shared.route_name)
            .field("monitor", &self.shared.monitor)
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
        let reason = match shared.verifier.check(req.headers()) {
            Ok(token) => {
                if let Some(route) = &shared.route {
                    route.outcome(Outcome::Allowed);
                }
                req.extensions_mut().insert(token);
                return ResponseFuture::inner(self.inner.call(req));
            }
            Err(reason) => reason,
        };
        let rejection = Rejection::new(reason, shared.verifier.reject_status(reason));
        if shared.monitor {
            if let Some(route) = &shared.route {
                route.outcome(Outcome::Monitored);
            }
            tracing::debug!(
                route = &*shared.route_name,
                reason = reason.as_str(),
                "token check failed; request let through (monitor mode)"
            );
            // Whatever an earlier layer may have put there, a request that
            // failed the check carries no verified token.
            let extensions = req.extensions_mut();
            extensions.remove::<VerifiedToken>();
            extensions.insert(rejection);
            return ResponseFuture::inner(self.inner.call(req));
        }
        if let Some(route) = &shared.route {
            route.outcome(Outcome::Rejected);
        }
        tracing::debug!(
            route = &*shared.route_name,
            reason = reason.as_str(),
            "token check failed; request refused"
        );
        let ctx = RejectContext {
            rejection,
            grpc: reject::is_grpc(req.headers()),
            method: req.method(),
            uri: req.uri(),
            version: req.version(),
            headers: req.headers(),
        };
        let mut response = shared.reject.reject(&ctx);
        response.extensions_mut().insert(rejection);
        ResponseFuture::reject(response)
    }
}

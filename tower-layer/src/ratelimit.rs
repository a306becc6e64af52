//! [`RateLimitLayer`]: a route's rate limits
//! ([`attestgate::ratelimit::RateLimits`], the core's rule and answer) in
//! a tower stack. It only translates: the core decides.
//!
//! Put it **inside** [`crate::AttestLayer`] (in axum, call `.layer()` with
//! it first), so it sees the token decision: a verified token's claims (a
//! `claim:` key), and a monitored failing token (the [`crate::Rejection`]
//! in the request extensions), which spends no budget. A refused request
//! never reaches it.
//!
//! Memory limits are checked in `call()` itself (no allocation, no I/O).
//! When a limit's store answers by I/O (Redis, built with the core's
//! `redis` feature and given to [`RateLimits::new`]), the service awaits
//! it in a boxed future, then calls the inner service (a clone taken in
//! `call()`, as tower's own layers do): the same budget as the proxies
//! sharing that Redis, for the same route and limit names.
//!
//! The client address (`key = "ip"`) is read from the request extensions:
//! a [`ClientAddr`], axum's `ConnectInfo<SocketAddr>` (feature `axum`;
//! serve with `into_make_service_with_connect_info`) or a plain
//! `SocketAddr` (a tonic server: copy its `TcpConnectInfo` into one of
//! these). Without one, an `ip` limit counts the request as `no_key`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use attestgate::Refusal;
use attestgate::VerifiedToken;
use attestgate::ratelimit::RateLimits;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::reject::{RejectBody, Rejection};

/// The client's address, for `key = "ip"`, put in the request extensions
/// by whatever serves the request (when neither axum's nor tonic's
/// connection info is there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Applies a route's rate limits. Cloning shares the limits (one budget).
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    limits: Arc<RateLimits>,
}

impl RateLimitLayer {
    /// A layer checking `limits`.
    pub fn new(limits: RateLimits) -> RateLimitLayer {
        RateLimitLayer {
            limits: Arc::new(limits),
        }
    }

    /// The limits.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            limits: self.limits.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] makes.
#[derive(Clone, Debug)]
pub struct RateLimited<S> {
    inner: S,
    limits: Arc<RateLimits>,
}

fn client_of<B>(req: &Request<B>) -> Option<IpAddr> {
    let ext = req.extensions();
    if let Some(ClientAddr(ip)) = ext.get::<ClientAddr>() {
        return Some(*ip);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    ext.get::<SocketAddr>().map(SocketAddr::ip)
}

/// The refusal as a response: its status, headers and body.
fn translate<B: RejectBody>(refusal: &Refusal) -> Response<B> {
    let body = if refusal.grpc_status().is_some() {
        B::default()
    } else {
        B::from_static(refusal.body())
    };
    let mut response = Response::new(body);
    *response.status_mut() = refusal.status();
    let headers = response.headers_mut();
    for (name, value) in refusal.headers() {
        headers.append(name, value);
    }
    response
}

type Boxed<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

pin_project! {
    /// The future of [`RateLimited`]: the inner service's future or the
    /// refusal (memory limits), or the store's answer then the inner
    /// service (a store that does I/O).
    pub struct RateLimitFuture<F, B, E> {
        #[pin]
        kind: Kind<F, B, E>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, B, E> {
        Now {
            #[pin]
            future: ResponseFuture<F, B>,
        },
        Store {
            future: Boxed<B, E>,
        },
    }
}

impl<F, B, E> Future for RateLimitFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Now { future } => future.poll(cx),
            KindProj::Store { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, B, E> std::fmt::Debug for RateLimitFuture<F, B, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimited<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: RejectBody + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RateLimitFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let now = |future| RateLimitFuture {
            kind: Kind::Now { future },
        };
        // A monitored failing token: let through as the token check said,
        // spending nothing.
        if req.extensions().get::<Rejection>().is_some() {
            return now(ResponseFuture::inner(self.inner.call(req)));
        }
        let client = client_of(&req);
        if self.limits.awaits_io() {
            // The clone that was made ready goes with the request; this
            // service keeps a fresh clone for the next one.
            let fresh = self.inner.clone();
            let mut inner = std::mem::replace(&mut self.inner, fresh);
            let limits = self.limits.clone();
            let token = req.extensions().get::<VerifiedToken>().cloned();
            let headers = req.headers().clone();
            return RateLimitFuture {
                kind: Kind::Store {
                    future: Box::pin(async move {
                        match limits.check(token.as_ref(), &headers, client).await {
                            Some(refusal) => Ok(translate(&refusal)),
                            None => inner.call(req).await,
                        }
                    }),
                },
            };
        }
        let token = req.extensions().get::<VerifiedToken>();
        match self.limits.check_now(token, req.headers(), client) {
            None => now(ResponseFuture::inner(self.inner.call(req))),
            Some(refusal) => now(ResponseFuture::reject(translate(&refusal))),
        }
    }
}

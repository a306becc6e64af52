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
//! `call()` is synchronous: memory stores only. A Redis limit's check
//! counts as a store error here (`on_store_error` decides); put the proxy
//! in front for a fleet-wide budget.
//!
//! The client address (`key = "ip"`) is read from the request extensions:
//! a [`ClientAddr`], axum's `ConnectInfo<SocketAddr>` (feature `axum`;
//! serve with `into_make_service_with_connect_info`) or tonic's
//! `TcpConnectInfo` (feature `tonic`). Without one, an `ip` limit counts
//! the request as `no_key`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use attestgate::VerifiedToken;
use attestgate::ratelimit::RateLimits;
use http::{Request, Response};
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
    #[cfg(feature = "tonic")]
    if let Some(info) = ext.get::<tonic::transport::server::TcpConnectInfo>() {
        return info.remote_addr().map(|a| a.ip());
    }
    ext.get::<SocketAddr>().map(SocketAddr::ip)
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimited<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: RejectBody,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // A monitored failing token: let through as the token check said,
        // spending nothing.
        if req.extensions().get::<Rejection>().is_some() {
            return ResponseFuture::inner(self.inner.call(req));
        }
        let token = req.extensions().get::<VerifiedToken>();
        let refusal = self.limits.check_now(token, req.headers(), client_of(&req));
        match refusal {
            None => ResponseFuture::inner(self.inner.call(req)),
            Some(refusal) => {
                let body = if refusal.grpc_status().is_some() {
                    ResBody::default()
                } else {
                    ResBody::from_static(refusal.body())
                };
                let mut response = Response::new(body);
                *response.status_mut() = refusal.status();
                let headers = response.headers_mut();
                for (name, value) in refusal.headers() {
                    headers.append(name, value);
                }
                ResponseFuture::reject(response)
            }
        }
    }
}

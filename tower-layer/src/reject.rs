//! What a refused request gets back: the [`Reject`] trait, the
//! [`DefaultRejection`] of the product contract, and the [`RejectBody`]
//! bound that lets it write `{}` into the service's own body type.

use std::fmt;

use attestgate::{Reason, Refusal};
use bytes::Bytes;
use http::header::HeaderMap;
use http::{Method, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};

/// Why the layer refused (or, in monitor mode, would have refused) a
/// request.
///
/// On a refusal it is put in the **response** extensions, so an outer layer
/// of the service can log or count it; it is never sent to the client. In
/// monitor mode it is put in the **request** extensions of the request that
/// is let through, so the handler can tell a monitored request from a
/// verified one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// The rejection reason (`missing`, `malformed`, ...).
    pub reason: Reason,
    /// The HTTP status an HTTP client is answered with for this reason: the
    /// verifier's `reject_status` (default 401), or 503 for `no_keys`.
    pub status: StatusCode,
}

impl Rejection {
    pub(crate) fn new(reason: Reason, status: StatusCode) -> Rejection {
        Rejection { reason, status }
    }
}

/// What a [`Reject`] implementation may look at to build its response.
///
/// It borrows the refused request's head. The headers still hold the token:
/// never copy them into the response.
pub struct RejectContext<'a> {
    pub(crate) rejection: Rejection,
    pub(crate) refusal: &'a Refusal,
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    pub(crate) version: Version,
    pub(crate) headers: &'a HeaderMap,
}

impl fmt::Debug for RejectContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No headers: they hold the token.
        f.debug_struct("RejectContext")
            .field("reason", &self.rejection.reason)
            .field("status", &self.rejection.status)
            .field("grpc", &self.is_grpc())
            .field("method", self.method)
            .field("path", &self.uri.path())
            .finish_non_exhaustive()
    }
}

impl<'a> RejectContext<'a> {
    /// The rejection reason. Log it, count it; do not send it to the client.
    pub fn reason(&self) -> Reason {
        self.rejection.reason
    }

    /// The HTTP status configured for this reason (default 401; 503 for
    /// `no_keys`).
    pub fn status(&self) -> StatusCode {
        self.rejection.status
    }

    /// Whether the request is a gRPC call (`content-type: application/grpc*`).
    pub fn is_grpc(&self) -> bool {
        self.refusal.grpc_status().is_some()
    }

    /// The answer the core decided on (what [`DefaultRejection`] sends):
    /// status, headers and body, the same the proxy sends.
    pub fn refusal(&self) -> &'a Refusal {
        self.refusal
    }

    /// The request method.
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The request URI.
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The request's HTTP version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The request headers (the token header included: do not echo them).
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }
}

/// Builds the response of a refused request.
///
/// The layer's type parameter, as in tower-http's `ValidateRequestHeader`:
/// [`DefaultRejection`] unless you pass your own to
/// [`AttestLayer::rejection`](crate::AttestLayer::rejection). Any
/// `Fn(&RejectContext<'_>) -> Response<B>` closure is a `Reject<B>`.
///
/// The layer adds [`Rejection`] to the response's extensions after this
/// returns, so a custom response carries it too.
pub trait Reject<B> {
    /// The response for a refused request.
    fn reject(&self, ctx: &RejectContext<'_>) -> Response<B>;
}

impl<B, F> Reject<B> for F
where
    F: Fn(&RejectContext<'_>) -> Response<B>,
{
    fn reject(&self, ctx: &RejectContext<'_>) -> Response<B> {
        self(ctx)
    }
}

/// The rejection of the product contract:
///
/// - HTTP: the configured status (default 401; 503 for `no_keys`), body
///   `{}`, `content-type: application/json`;
/// - gRPC (`content-type: application/grpc*`): HTTP 200, `content-type:
///   application/grpc` (gRPC-Web requests get their own content type back),
///   an empty body and `grpc-status: 16` (`UNAUTHENTICATED`), or `14`
///   (`UNAVAILABLE`) for `no_keys`, with a fixed `grpc-message`.
///
/// The reason itself is never in the response.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRejection;

impl DefaultRejection {
    /// The core's refusal as a response: its status, its headers, its body.
    fn translate<B>(refusal: &Refusal, body: B) -> Response<B> {
        let mut response = Response::new(body);
        *response.status_mut() = refusal.status();
        let headers = response.headers_mut();
        for (name, value) in refusal.headers() {
            headers.insert(name, value);
        }
        response
    }

    /// The HTTP half: configured status, `{}`, `application/json`.
    pub fn http<B: RejectBody>(ctx: &RejectContext<'_>) -> Response<B> {
        let refusal = Refusal::new(ctx.reason(), ctx.status(), &HeaderMap::new());
        Self::translate(&refusal, B::from_static(refusal.body()))
    }

    /// The gRPC half: a trailers-only response with `grpc-status` 16 (14 for
    /// `no_keys`). Needs only `B: Default`: the body is empty.
    pub fn grpc<B: Default>(ctx: &RejectContext<'_>) -> Response<B> {
        Self::translate(&Refusal::grpc(ctx.reason(), ctx.headers), B::default())
    }
}

impl<B: RejectBody> Reject<B> for DefaultRejection {
    fn reject(&self, ctx: &RejectContext<'_>) -> Response<B> {
        if ctx.is_grpc() {
            Self::translate(ctx.refusal, B::default())
        } else {
            Self::translate(ctx.refusal, B::from_static(ctx.refusal.body()))
        }
    }
}

/// A response body type [`DefaultRejection`] can answer with: it must hold
/// the two bytes `{}` (HTTP) or nothing (gRPC, via `Default`).
///
/// `Default` alone cannot carry `{}`, and no common conversion trait is
/// implemented by both axum's body (`From<&'static str>`, `From<Bytes>`) and
/// tonic's (`tonic::body::Body::new` only), so the bound is this small trait.
/// It is implemented for axum's body (feature `axum`), tonic's body (feature
/// `tonic`), `http_body_util::{Full<Bytes>, combinators::BoxBody,
/// combinators::UnsyncBoxBody}`, `String`, `Vec<u8>` and `Bytes`. For your
/// own body type it is two lines; or pass a custom [`Reject`] that needs
/// only what your type has.
pub trait RejectBody: Default {
    /// A body holding exactly `body`.
    fn from_static(body: &'static str) -> Self;
}

impl RejectBody for Full<Bytes> {
    fn from_static(body: &'static str) -> Self {
        Full::new(Bytes::from_static(body.as_bytes()))
    }
}

impl<E: 'static> RejectBody for http_body_util::combinators::BoxBody<Bytes, E> {
    fn from_static(body: &'static str) -> Self {
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed()
    }
}

impl<E: 'static> RejectBody for http_body_util::combinators::UnsyncBoxBody<Bytes, E> {
    fn from_static(body: &'static str) -> Self {
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync()
    }
}

impl RejectBody for Bytes {
    fn from_static(body: &'static str) -> Self {
        Bytes::from_static(body.as_bytes())
    }
}

impl RejectBody for String {
    fn from_static(body: &'static str) -> Self {
        body.to_owned()
    }
}

impl RejectBody for Vec<u8> {
    fn from_static(body: &'static str) -> Self {
        body.as_bytes().to_vec()
    }
}

#[cfg(feature = "axum")]
impl RejectBody for axum::body::Body {
    fn from_static(body: &'static str) -> Self {
        axum::body::Body::from(body)
    }
}

#[cfg(feature = "tonic")]
impl RejectBody for tonic::body::Body {
    fn from_static(body: &'static str) -> Self {
        tonic::body::Body::new(Full::new(Bytes::from_static(body.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{self, HeaderValue};

    /// What the default rejection answers for `reason` under a policy
    /// refusing with `status`, to a request with `headers`.
    fn reject(reason: Reason, status: u16, headers: &HeaderMap) -> Response<String> {
        let status = StatusCode::from_u16(status).unwrap();
        let refusal = Refusal::new(reason, status, headers);
        let (m, u) = (Method::POST, Uri::from_static("/pkg.Svc/M"));
        let ctx = RejectContext {
            rejection: Rejection::new(reason, status),
            refusal: &refusal,
            method: &m,
            uri: &u,
            version: Version::HTTP_11,
            headers,
        };
        DefaultRejection.reject(&ctx)
    }

    fn grpc_headers(ct: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        h
    }

    #[test]
    fn http_rejection_is_configured_status_and_empty_object() {
        let r = reject(Reason::Expired, 403, &HeaderMap::new());
        assert_eq!(r.status(), 403);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.body(), "{}");
    }

    #[test]
    fn grpc_rejection_codes_and_no_reason() {
        let h = grpc_headers("Application/GRPC+proto");
        for reason in Reason::ALL {
            // reject_status 503 must not turn UNAUTHENTICATED into
            // UNAVAILABLE: the reason decides.
            let r = reject(reason, 503, &h);
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "application/grpc");
            let want = if reason == Reason::NoKeys { "14" } else { "16" };
            assert_eq!(r.headers()["grpc-status"], want, "{reason}");
            assert!(r.body().is_empty());
            let msg = r.headers()["grpc-message"].to_str().unwrap();
            assert!(!msg.contains(reason.as_str()), "{msg}");
        }
    }

    #[test]
    fn grpc_web_keeps_its_content_type() {
        let r = reject(
            Reason::Missing,
            401,
            &grpc_headers("application/grpc-web+proto"),
        );
        assert_eq!(r.headers()["content-type"], "application/grpc-web+proto");
        assert_eq!(r.headers()["grpc-status"], "16");
    }

    #[test]
    fn debug_of_context_omits_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "approov-token",
            HeaderValue::from_static("secret.token.value"),
        );
        let refusal = Refusal::new(Reason::Missing, StatusCode::UNAUTHORIZED, &h);
        let (m, u) = (Method::GET, Uri::from_static("/x"));
        let ctx = RejectContext {
            rejection: Rejection::new(Reason::Missing, StatusCode::UNAUTHORIZED),
            refusal: &refusal,
            method: &m,
            uri: &u,
            version: Version::HTTP_11,
            headers: &h,
        };
        let text = format!("{ctx:?}");
        assert!(!text.contains("secret.token.value"), "{text}");
    }
}

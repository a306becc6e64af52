//! The axum extractor (feature `axum`): [`Verified`].
//!
//! `attestgate::VerifiedToken` lives in another crate, so this crate cannot
//! implement axum's `FromRequestParts` for it; [`Verified`] is the newtype
//! that can. (`axum::Extension<VerifiedToken>` works too, with axum's own
//! error when the token is absent.)

use std::ops::Deref;

use attestgate::VerifiedToken;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::reject::Rejection;

/// The verified token of the request, as a handler argument:
///
/// ```
/// use attestgate_tower::Verified;
///
/// async fn hello(Verified(token): Verified) -> String {
///     format!("hello, device {}", token.did().unwrap_or("?"))
/// }
/// ```
///
/// In monitor mode a request whose token failed reaches the handler without
/// one: take `Option<Verified>` there (`None` for such a request). Without
/// an [`AttestLayer`](crate::AttestLayer) in front of the handler, both
/// forms answer 500 "attestgate layer missing" and log an error: a
/// configuration mistake must not look like an authenticated request.
#[derive(Clone, Debug)]
pub struct Verified(pub VerifiedToken);

impl Deref for Verified {
    type Target = VerifiedToken;

    fn deref(&self) -> &VerifiedToken {
        &self.0
    }
}

impl From<Verified> for VerifiedToken {
    fn from(v: Verified) -> VerifiedToken {
        v.0
    }
}

/// Why [`Verified`] could not be extracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifiedRejection {
    /// No [`AttestLayer`](crate::AttestLayer) ran before the handler: 500,
    /// `attestgate layer missing`.
    LayerMissing,
    /// Monitor mode let through a request whose token failed, and the
    /// handler requires a verified token: answered like a refusal (the
    /// configured status, `{}`), without the reason.
    NotVerified(Rejection),
}

impl IntoResponse for VerifiedRejection {
    fn into_response(self) -> Response {
        match self {
            VerifiedRejection::LayerMissing => {
                tracing::error!(
                    "attestgate layer missing: a handler takes `Verified` but no AttestLayer runs before it"
                );
                let mut r = Response::new(axum::body::Body::from("attestgate layer missing"));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                r
            }
            VerifiedRejection::NotVerified(rejection) => {
                let mut r = Response::new(axum::body::Body::from("{}"));
                *r.status_mut() = rejection.status;
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r.extensions_mut().insert(rejection);
                r
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verified {
    type Rejection = VerifiedRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(token) = parts.extensions.get::<VerifiedToken>() {
            return Ok(Verified(token.clone()));
        }
        match parts.extensions.get::<Rejection>() {
            Some(rejection) => Err(VerifiedRejection::NotVerified(*rejection)),
            None => Err(VerifiedRejection::LayerMissing),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Verified {
    type Rejection = VerifiedRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if let Some(token) = parts.extensions.get::<VerifiedToken>() {
            return Ok(Some(Verified(token.clone())));
        }
        match parts.extensions.get::<Rejection>() {
            Some(_) => Ok(None),
            None => Err(VerifiedRejection::LayerMissing),
        }
    }
}

//! The upstream request's target and secrets: the token's query parameter
//! removed, placeholders replaced by their secrets (passing requests
//! only), the target rewritten when its query changed. The core applies
//! the plan (`attestgate::secrets::apply`); this writes the result into
//! Pingora's request header.

use attestgate::substitute::SubstituteError;
use pingora_error::{Error, ErrorType, Result};
use pingora_http::RequestHeader;

use super::Ctx;
use crate::routes::Route;

/// Everything `upstream_request_filter` does to the target and secrets.
pub(super) fn apply(upstream: &mut RequestHeader, route: &Route, ctx: &mut Ctx) -> Result<()> {
    // The token's query parameter never reaches the upstream (whether
    // or not it was the token's source).
    if let Some(param) = route
        .verifier
        .as_ref()
        .and_then(|v| v.policy().query_param.as_deref())
        && let Some(q) = upstream.uri.query()
        && let Some(rest) = attestgate::query::without(q, param)
    {
        ctx.query = Some(zeroize::Zeroizing::new(rest));
    }
    let substituted = if ctx.secrets_allowed {
        substitute(upstream, route, ctx)?
    } else {
        0
    };
    // The target is the canonical one request_filter wrote; only a
    // substituted or removed query parameter changes it.
    if let Some(q) = &ctx.query {
        set_query(upstream, q)?;
    }
    if substituted > 0 {
        route.metrics.substituted(substituted);
    }
    Ok(())
}

/// Applies the route's substitution plan (the core's
/// `attestgate::secrets::apply`) and writes its result into the upstream
/// request; how many substitutions were made.
fn substitute(upstream: &mut RequestHeader, route: &Route, ctx: &mut Ctx) -> Result<u64> {
    let query = ctx
        .query
        .as_deref()
        .map(String::as_str)
        .or(upstream.uri.query());
    let applied = attestgate::secrets::apply::apply(&route.substitutions, &upstream.headers, query)
        .map_err(|e| match e {
            SubstituteError::Repeated => {
                Error::explain(ErrorType::HTTPStatus(400), "substituted parameter repeated")
            }
            SubstituteError::NotAHeaderValue => Error::explain(
                ErrorType::InternalError,
                "substituted value is not a header value",
            ),
        })?;
    let count = applied.count() as u64;
    for (name, value) in applied.headers {
        upstream.insert_header(name, value)?;
    }
    if applied.query.is_some() {
        ctx.query = applied.query;
    }
    ctx.secrets = applied.secrets;
    Ok(count)
}

/// The path with the new query (none if it is empty).
fn set_query(upstream: &mut RequestHeader, q: &zeroize::Zeroizing<String>) -> Result<()> {
    let target = zeroize::Zeroizing::new(if q.is_empty() {
        upstream.uri.path().to_owned()
    } else {
        format!("{}?{}", upstream.uri.path(), q.as_str())
    });
    let uri = http::Uri::try_from(target.as_str())
        .map_err(|_| Error::explain(ErrorType::HTTPStatus(400), "request target"))?;
    upstream.set_uri(uri);
    Ok(())
}

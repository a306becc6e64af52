//! The upstream request's target and secrets: the token's query parameter
//! removed, placeholders replaced by their secrets (passing requests
//! only), the target rewritten when its query changed. The core does the
//! replacing (`attestgate::substitute`); this applies it to Pingora's
//! request header.

use attestgate::substitute::{Substitution, Target};
use http::{HeaderName, HeaderValue};
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

/// Applies each of the route's substitutions; how many replaced something.
fn substitute(upstream: &mut RequestHeader, route: &Route, ctx: &mut Ctx) -> Result<u64> {
    let mut substituted = 0u64;
    for s in &route.substitutions {
        let done = match s.target() {
            Target::Header(name) => in_header(upstream, s, name, ctx)?,
            Target::Query(_) => in_query(upstream, s, ctx)?,
        };
        substituted += u64::from(done);
    }
    Ok(substituted)
}

fn in_header(
    upstream: &mut RequestHeader,
    s: &Substitution,
    name: &HeaderName,
    ctx: &mut Ctx,
) -> Result<bool> {
    let Some(value) = upstream.headers.get(name) else {
        return Ok(false);
    };
    let Some((new, secret)) = s.replace_header_value(value.as_bytes()) else {
        return Ok(false);
    };
    let mut value = HeaderValue::from_bytes(&new).map_err(|_| {
        Error::explain(
            ErrorType::InternalError,
            "substituted value is not a header value",
        )
    })?;
    value.set_sensitive(true);
    upstream.insert_header(name.clone(), value)?;
    ctx.secrets.push(secret);
    Ok(true)
}

fn in_query(upstream: &RequestHeader, s: &Substitution, ctx: &mut Ctx) -> Result<bool> {
    let current = ctx
        .query
        .as_deref()
        .map(String::as_str)
        .or(upstream.uri.query());
    let Some(query) = current else {
        return Ok(false);
    };
    match s.replace_in_query(query) {
        Ok(Some((new, secret))) => {
            ctx.query = Some(new);
            ctx.secrets.push(secret);
            Ok(true)
        }
        Ok(None) => Ok(false),
        Err(_) => Error::e_explain(
            ErrorType::HTTPStatus(400),
            "substituted query parameter repeated",
        ),
    }
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

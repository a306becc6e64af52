//! Rate limits in the proxy's request phase: the core decides
//! ([`attestgate::ratelimit::RateLimits`], built with the route in
//! `routes/ratelimit.rs`); this writes the core's answer with the refusal
//! machinery every other refusal uses (HTTP/1, HTTP/2, gRPC). Called from
//! the token phase after the decision and the signature step.

use std::net::IpAddr;

use attestgate::Decision;
use pingora_error::Result;
use pingora_proxy::Session;

use crate::routes::Route;

/// After the token decision: answers a request over a limit (or with the
/// store down and `on_store_error = "refuse"`) and says so.
pub(crate) async fn refused(
    session: &mut Session,
    route: &Route,
    decision: &Decision,
    client: Option<IpAddr>,
) -> Result<bool> {
    let Some(limits) = &route.rate_limits else {
        return Ok(false);
    };
    let refusal = limits
        .check_decided(decision, &session.req_header().headers, client)
        .await;
    match refusal {
        Some(r) => {
            crate::respond::refusal(session, &r).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

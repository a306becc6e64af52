//! Applying a route's substitution plan to one passing request: which
//! headers get which value, what the query becomes, and which secrets the
//! request now holds (to scrub from the response). The front end only
//! writes the result into its own request type.

use std::borrow::Borrow;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use zeroize::Zeroizing;

use super::secret::Secret;
use super::substitute::{SubstituteError, Substitution, Target};

/// What a plan did to one request.
#[derive(Debug, Default)]
pub struct Applied {
    /// Headers to set (each value marked sensitive).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The new query string (without `?`), when a query parameter was
    /// replaced.
    pub query: Option<Zeroizing<String>>,
    /// The secrets the request now holds.
    pub secrets: Vec<Arc<Secret>>,
}

impl Applied {
    /// How many substitutions were made.
    pub fn count(&self) -> usize {
        self.secrets.len()
    }
}

/// Whether a header the plan substitutes appears more than once: such a
/// request is ambiguous (which copy would the upstream read?) and is
/// answered 400 before anything is substituted.
pub fn ambiguous<S: Borrow<Substitution>>(plan: &[S], headers: &HeaderMap) -> bool {
    plan.iter().any(|s| match s.borrow().target() {
        Target::Header(h) => headers.get_all(h).iter().nth(1).is_some(),
        Target::Query(_) => false,
    })
}

/// Applies `plan` to a request with `headers` and `query` (the query as
/// it will be forwarded, without `?`). A repeated substituted query
/// parameter is an error (the front end answers 400), as is a secret that
/// is not a header value (500).
pub fn apply<S: Borrow<Substitution>>(
    plan: &[S],
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Applied, SubstituteError> {
    let mut out = Applied::default();
    for s in plan {
        let s = s.borrow();
        match s.target() {
            Target::Header(name) => {
                let Some(value) = headers.get(name) else {
                    continue;
                };
                let Some((new, secret)) = s.replace_header_value(value.as_bytes()) else {
                    continue;
                };
                let mut value =
                    HeaderValue::from_bytes(&new).map_err(|_| SubstituteError::NotAHeaderValue)?;
                value.set_sensitive(true);
                out.headers.push((name.clone(), value));
                out.secrets.push(secret);
            }
            Target::Query(_) => {
                let current = out.query.as_deref().map(String::as_str).or(query);
                let Some(current) = current else { continue };
                if let Some((new, secret)) = s.replace_in_query(current)? {
                    out.query = Some(new);
                    out.secrets.push(secret);
                }
            }
        }
    }
    Ok(out)
}

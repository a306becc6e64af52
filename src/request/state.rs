//! What a verifier holds. Two parts, each behind its own `Arc`:
//!
//! - [`Shared`]: what every handle of one verifier shares — the key store
//!   the request path reads, the refresher's state, the algorithms the key
//!   sources call for, and the registry of verification rules (so that a
//!   cached verification is only reused under the rules it was made under).
//! - [`PolicyState`]: one handle's policy, made ready for the request path
//!   (extractor, binding, rules and their id, metric handles).
//!
//! Built by [`crate::verifier::builder`] and [`crate::Verifier::with_policy`], read by
//! [`crate::verifier`] and [`crate::request::decide`], written (the key set only) by
//! [`crate::keys::refresh`] through [`Owner`].

use std::sync::{Mutex, OnceLock};

use crate::jose::alg::AlgSet;
use crate::keys::refresh::{Keeper, Owner};
use crate::keys::store::KeyStore;
use crate::metrics::PolicyMetrics;
use crate::policy::Policy;
use crate::request::binding::Binding;
use crate::request::extract::Extractor;

/// The policy values that decide whether a token verifies (as opposed to
/// how the request is read or answered). A cache entry remembers the id of
/// the rules it was verified under.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rules {
    pub(crate) algorithms: AlgSet,
    pub(crate) leeway: f64,
    pub(crate) max_lifetime: Option<f64>,
    pub(crate) issuer: Option<Box<str>>,
    pub(crate) audience: Option<Box<str>>,
}

/// What every handle of one verifier shares.
pub(crate) struct Shared {
    /// The keys in service, the token cache and the key-set metrics.
    pub(crate) store: KeyStore,
    /// Every key source and the refresher's signal.
    pub(crate) keeper: Keeper,
    /// The algorithms a policy without its own list allows.
    pub(crate) default_algorithms: AlgSet,
    /// Every distinct [`Rules`] in use; a rule set's id is its index.
    rules: Mutex<Vec<Rules>>,
}

impl Shared {
    pub(crate) fn new(store: KeyStore, keeper: Keeper, default_algorithms: AlgSet) -> Shared {
        Shared {
            store,
            keeper,
            default_algorithms,
            rules: Mutex::new(Vec::new()),
        }
    }

    /// The id of `rules` (the same for equal rules).
    fn rules_id(&self, rules: &Rules) -> u16 {
        let mut all = match self.rules.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let i = all.iter().position(|r| r == rules).unwrap_or_else(|| {
            all.push(rules.clone());
            all.len() - 1
        });
        // Past 65,535 distinct rule sets ids repeat; the id is then only
        // coarser (a cache entry is reused under another route's rules),
        // which no configuration gets near.
        (i % usize::from(u16::MAX)) as u16
    }
}

impl Owner for Shared {
    fn store(&self) -> &KeyStore {
        &self.store
    }

    fn keeper(&self) -> &Keeper {
        &self.keeper
    }
}

/// One handle's policy, ready for the request path.
pub(crate) struct PolicyState {
    /// As given.
    pub(crate) policy: Policy,
    pub(crate) rules: Rules,
    pub(crate) rules_id: u16,
    pub(crate) extractor: Extractor,
    pub(crate) binding: Binding,
    /// Resolved on first use once metrics are attached to the verifier.
    pub(crate) metrics: OnceLock<PolicyMetrics>,
    /// `policy.message_signing` with its replay store, ready.
    pub(crate) signing: Option<crate::msgsig::MessageSigning>,
}

impl PolicyState {
    pub(crate) fn new(
        shared: &Shared,
        mut policy: Policy,
        store: Option<std::sync::Arc<dyn crate::msgsig::replay::ReplayStore>>,
    ) -> PolicyState {
        if !(policy.reject_status.is_client_error() || policy.reject_status.is_server_error()) {
            tracing::warn!(
                route = %policy.name,
                status = policy.reject_status.as_u16(),
                "reject_status is not an error status; 401 is used"
            );
            policy.reject_status = http::StatusCode::UNAUTHORIZED;
        }
        let rules = Rules {
            algorithms: policy.algorithms.unwrap_or(shared.default_algorithms),
            leeway: policy.leeway.as_secs_f64(),
            max_lifetime: policy.max_lifetime.map(|d| d.as_secs_f64()),
            issuer: policy.issuer.as_deref().map(Into::into),
            audience: policy.audience.as_deref().map(Into::into),
        };
        let rules_id = shared.rules_id(&rules);
        let signing = policy
            .message_signing
            .clone()
            .map(|ms| crate::msgsig::for_route(&policy.name, ms, store));
        PolicyState {
            signing,
            rules,
            rules_id,
            extractor: Extractor {
                header: policy.header.clone(),
                prefix: policy.prefix.as_str().into(),
                max_token_bytes: policy.max_token_bytes,
                query_param: policy
                    .query_param
                    .as_deref()
                    .filter(|q| !q.is_empty())
                    .map(Into::into),
            },
            binding: Binding {
                headers: policy.binding_headers.clone().into(),
                allow_missing_pay: policy.allow_missing_pay,
            },
            policy,
            metrics: OnceLock::new(),
        }
    }

    /// This policy's metric handles, if the verifier has metrics.
    pub(crate) fn metrics(&self, shared: &Shared) -> Option<&PolicyMetrics> {
        if let Some(m) = self.metrics.get() {
            return Some(m);
        }
        let registered = shared.store.registry.get()?;
        Some(
            self.metrics
                .get_or_init(|| registered.policy(&self.policy.name)),
        )
    }
}

//! A route's message signing made ready: its policy with its replay
//! store. Built once per policy handle by [`crate::request::state`].

use std::sync::Arc;

use super::replay::{ReplayKey, ReplayStore, StoreCheck, StoreError};
use super::{MessageSigning, MessageSigningPolicy};

/// Builds a route's message signing. The policy was validated by
/// [`crate::Policy::validate`] (config); a `"redis"` policy without its
/// store gets one that never answers, so `on_redis_error` decides (and a
/// warning says so) rather than a replay passing unchecked.
pub(crate) fn build(
    route: &str,
    policy: MessageSigningPolicy,
    store: Option<Arc<dyn ReplayStore>>,
) -> MessageSigning {
    let store = match (policy.replay, store) {
        (super::ReplayMode::Redis, None) => {
            tracing::warn!(
                route,
                "message_signing replay = \"redis\" without a Redis store: every replay check fails (on_redis_error decides)"
            );
            Some(Arc::new(NoStore) as Arc<dyn ReplayStore>)
        }
        (_, s) => s,
    };
    match MessageSigning::new(policy.clone(), store) {
        Ok(s) => s,
        Err(problems) => {
            tracing::warn!(
                route,
                problems = problems.len(),
                "message_signing policy has problems (check-config lists them); using it as given"
            );
            // Only reached with an unvalidated policy: keep its rules,
            // replay in memory.
            MessageSigning::new(
                MessageSigningPolicy {
                    replay: super::ReplayMode::Memory,
                    redis_url: None,
                    ..MessageSigningPolicy::default()
                },
                None,
            )
            .unwrap_or_else(|_| unreachable_default())
        }
    }
}

/// The default policy always validates; this is its store-less build.
fn unreachable_default() -> MessageSigning {
    // MessageSigningPolicy::default() validates (tested in msgsig::policy).
    match MessageSigning::new(MessageSigningPolicy::default(), None) {
        Ok(s) => s,
        Err(_) => panic!("the default message-signing policy is valid"),
    }
}

/// A store that is never reachable.
struct NoStore;

impl ReplayStore for NoStore {
    fn first_use(&self, _key: &ReplayKey, _end: f64, _now: f64) -> StoreCheck<'_> {
        StoreCheck::Ready(Some(Err(StoreError::Unavailable)))
    }
}

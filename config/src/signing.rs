//! `[route.policy.message_signing]` (and `[token.message_signing]`, the
//! routes' default): each key present replaces the base's value (the
//! core's defaults, or `[token]`'s table); the result is checked by the
//! core ([`attestgate::msgsig::MessageSigningPolicy::validate`]) with key
//! paths under `at`.

use attestgate::msgsig::{ContentDigestRule, MessageSigningPolicy, OnStoreError, ReplayMode};
use serde::Deserialize;

use crate::checker::Checker;

/// The table as written.
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMessageSigning {
    pub(crate) required: Option<bool>,
    pub(crate) min_components: Option<Vec<String>>,
    pub(crate) content_digest: Option<String>,
    pub(crate) max_age: Option<String>,
    pub(crate) leeway: Option<String>,
    pub(crate) max_body_bytes: Option<i64>,
    pub(crate) replay: Option<String>,
    pub(crate) redis_url: Option<String>,
    pub(crate) on_redis_error: Option<String>,
    pub(crate) redis_timeout: Option<String>,
    pub(crate) replay_capacity: Option<i64>,
}

/// `base` with the keys of `raw` applied; problems under `at`
/// (`route[1].policy.message_signing`). Validation is the caller's (the
/// core's `Policy::validate` checks the table with its paths).
pub(crate) fn apply(
    c: &mut Checker<'_>,
    at: &str,
    raw: RawMessageSigning,
    base: MessageSigningPolicy,
) -> MessageSigningPolicy {
    let key = |k: &str| format!("{at}.{k}");
    let mut p = base;
    if let Some(r) = raw.required {
        p.required = r;
    }
    if let Some(list) = raw.min_components {
        p.min_components = list;
    }
    if let Some(name) = raw.content_digest.as_deref() {
        match ContentDigestRule::from_name(name) {
            Some(r) => p.content_digest = r,
            None => c.problem(
                key("content_digest"),
                format!("{name:?}: use \"required-with-body\" or \"optional\""),
            ),
        }
    }
    p.max_age = c.duration(&key("max_age"), raw.max_age.as_ref(), p.max_age);
    p.leeway = c.duration(&key("leeway"), raw.leeway.as_ref(), p.leeway);
    p.max_body_bytes = c.int_in(
        &key("max_body_bytes"),
        raw.max_body_bytes,
        1,
        64 * 1024 * 1024,
        p.max_body_bytes as i64,
    ) as u64;
    if let Some(name) = raw.replay.as_deref() {
        match ReplayMode::from_name(name) {
            Some(r) => p.replay = r,
            None => c.problem(
                key("replay"),
                format!("{name:?}: use \"memory\", \"redis\" or \"off\""),
            ),
        }
    }
    if raw.redis_url.is_some() {
        p.redis_url = raw.redis_url;
    }
    if let Some(name) = raw.on_redis_error.as_deref() {
        match OnStoreError::from_name(name) {
            Some(r) => p.on_redis_error = r,
            None => c.problem(
                key("on_redis_error"),
                format!("{name:?}: use \"refuse\" or \"allow\""),
            ),
        }
    }
    p.redis_timeout = c.duration(
        &key("redis_timeout"),
        raw.redis_timeout.as_ref(),
        p.redis_timeout,
    );
    p.replay_capacity = c.int_in(
        &key("replay_capacity"),
        raw.replay_capacity,
        1,
        1 << 26,
        p.replay_capacity as i64,
    ) as u64;
    p
}

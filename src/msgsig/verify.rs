//! The check: [`MessageSigning::verify`] (sync: parse, time window,
//! coverage, signature base, ECDSA, digest) then
//! [`MessageSigning::check_replay`] (async: the store may be Redis).

use std::sync::Arc;

use http::HeaderMap;

use super::base::signature_base;
use super::components::RequestParts;
use super::digest;
use super::error::SignatureError;
use super::key::{InstallKey, IpkError};
use super::policy::{
    ContentDigestRule, MessageSigningPolicy, OnStoreError, PolicyProblem, ReplayMode,
};
use super::replay::{MemoryStore, ReplayKey, ReplayStore, StoreError};
use super::structured::{self, BareItem, InnerList, Member};
use crate::reason::Reason;

/// The signature label Approov's SDK uses.
pub const LABEL: &str = "install";
/// The only algorithm accepted.
pub const ALG: &str = "ecdsa-p256-sha256";
/// Longest `Signature` or `Signature-Input` (all lines joined) we parse.
pub const MAX_FIELD_BYTES: usize = 8 * 1024;
/// Most components one signature may cover.
pub const MAX_COMPONENTS: usize = 32;

/// A request whose signature verified: what the replay check needs.
#[derive(Clone, Copy, Debug, PartialEq)]
#[must_use = "a verified signature must still pass check_replay"]
pub struct Signed {
    /// The replay-cache key of the signature.
    pub replay_key: ReplayKey,
    /// Unix seconds at which the signature stops being acceptable: the
    /// earlier of `created + max_age` and `expires`, plus the leeway.
    pub window_end: f64,
    /// The `created` parameter.
    pub created: i64,
}

/// Why the replay check refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// Seen before within its window.
    #[error("signature seen before")]
    Seen,
    /// The store could not answer and `on_redis_error = "refuse"`.
    #[error("replay store unavailable: {0}")]
    Store(StoreError),
}

impl From<ReplayError> for Reason {
    fn from(_: ReplayError) -> Reason {
        Reason::Replay
    }
}

/// Message signing for one route: its checked policy and its replay store.
#[derive(Clone)]
pub struct MessageSigning {
    policy: Arc<MessageSigningPolicy>,
    store: Option<Arc<dyn ReplayStore>>,
}

impl std::fmt::Debug for MessageSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageSigning")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl MessageSigning {
    /// Checks `policy` and pairs it with its replay store: `replay =
    /// "memory"` builds a [`MemoryStore`] when `store` is `None` (pass one
    /// to share it between routes); `"redis"` needs the shared `RedisStore`
    /// for `redis_url`; `"off"` ignores `store`.
    pub fn new(
        policy: MessageSigningPolicy,
        store: Option<Arc<dyn ReplayStore>>,
    ) -> Result<MessageSigning, Vec<PolicyProblem>> {
        let mut problems = policy.validate();
        let store = match (policy.replay, store) {
            (ReplayMode::Off, _) => None,
            (ReplayMode::Memory, None) => {
                Some(Arc::new(MemoryStore::new(policy.replay_capacity)) as Arc<dyn ReplayStore>)
            }
            (ReplayMode::Redis, None) => {
                problems.push(PolicyProblem {
                    path: "replay".into(),
                    message: "no Redis store was supplied for replay = \"redis\"".into(),
                });
                None
            }
            (_, Some(s)) => Some(s),
        };
        if problems.is_empty() {
            Ok(MessageSigning {
                policy: Arc::new(policy),
                store,
            })
        } else {
            Err(problems)
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &MessageSigningPolicy {
        &self.policy
    }

    /// Whether the request carries signature headers (so the front end
    /// knows a `Content-Digest` check may need the body).
    pub fn is_signed(headers: &HeaderMap) -> bool {
        headers.contains_key("signature") || headers.contains_key("signature-input")
    }

    /// Verifies the `install` signature of a request, synchronously.
    ///
    /// - `body`: the whole buffered body, or `None` when the request has
    ///   none (no `Content-Length`/`Transfer-Encoding`). The front end
    ///   buffers up to `max_body_bytes` (413 beyond it) before calling.
    /// - `key`: the verified token's installation key, as parsed once into
    ///   the verified-token cache entry (`None`: no `ipk` claim).
    /// - `now`: Unix seconds.
    ///
    /// `Ok(None)`: no signature and none required (or none checkable: no
    /// `ipk` on a route where signing is optional). `Ok(Some(signed))`:
    /// verified; pass it to [`MessageSigning::check_replay`] before
    /// forwarding.
    pub fn verify(
        &self,
        req: &RequestParts<'_>,
        body: Option<&[u8]>,
        key: Option<&Result<InstallKey, IpkError>>,
        now: f64,
    ) -> Result<Option<Signed>, SignatureError> {
        let p = &*self.policy;
        let input = joined(req.headers, "signature-input")?;
        let signature = joined(req.headers, "signature")?;
        let (input, signature) = match (input, signature) {
            (None, None) if !p.required => return Ok(None),
            (Some(i), Some(s)) => (i, s),
            _ => return Err(SignatureError::Missing),
        };
        let key = match key {
            None if !p.required => return Ok(None),
            None => return Err(SignatureError::NoKey),
            Some(Err(_)) => return Err(SignatureError::BadKey),
            Some(Ok(k)) => k,
        };
        let inputs = structured::parse_dictionary(&input).map_err(|_| SignatureError::Syntax)?;
        let sigs = structured::parse_dictionary(&signature).map_err(|_| SignatureError::Syntax)?;
        let (inner, sig) = install_member(&inputs, &sigs)?;
        let params = Params::read(inner)?;
        check_times(p, &params, now)?;
        check_coverage(p, inner, req.headers, body)?;
        let base = signature_base(req, inner)?;
        let sig: &[u8; 64] = sig
            .as_slice()
            .try_into()
            .map_err(|_| SignatureError::SignatureLength)?;
        if !key.verify(base.as_bytes(), sig) {
            return Err(SignatureError::BadSignature);
        }
        if let Some(header) = joined(req.headers, "content-digest")? {
            digest::check(&header, body.unwrap_or_default())?;
        }
        Ok(Some(Signed {
            replay_key: ReplayKey::of_signature(sig),
            window_end: p.window_end(params.created, params.expires),
            created: params.created,
        }))
    }

    /// Records the signature in the replay store; refuses one seen before
    /// within its window. A store that cannot answer (counted by the store)
    /// refuses or passes per `on_redis_error`. Without a store (`replay =
    /// "off"`) it passes at once.
    pub async fn check_replay(&self, signed: &Signed, now: f64) -> Result<(), ReplayError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        match store
            .first_use(&signed.replay_key, signed.window_end, now)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(ReplayError::Seen),
            Err(_) if self.policy.on_redis_error == OnStoreError::Allow => Ok(()),
            Err(e) => Err(ReplayError::Store(e)),
        }
    }

    /// Both steps, for a front end that wants one call: the reason
    /// (`signature` or `replay`) on failure.
    pub async fn check(
        &self,
        req: &RequestParts<'_>,
        body: Option<&[u8]>,
        key: Option<&Result<InstallKey, IpkError>>,
        now: f64,
    ) -> Result<(), Reason> {
        match self.verify(req, body, key, now)? {
            None => Ok(()),
            Some(signed) => Ok(self.check_replay(&signed, now).await?),
        }
    }
}

/// A header's lines joined with `, ` (RFC 9110 §5.3), bounded, ASCII.
fn joined(headers: &HeaderMap, name: &str) -> Result<Option<String>, SignatureError> {
    let mut out: Option<String> = None;
    for v in headers.get_all(name) {
        let text = v.to_str().map_err(|_| SignatureError::NotAscii)?;
        let s = out.get_or_insert_with(String::new);
        if !s.is_empty() {
            s.push_str(", ");
        }
        s.push_str(text);
        if s.len() > MAX_FIELD_BYTES {
            return Err(SignatureError::TooLong);
        }
    }
    Ok(out)
}

/// The `install` members: an inner list in `Signature-Input`, a byte
/// sequence in `Signature`. Both headers must name the same labels.
fn install_member<'a>(
    inputs: &'a structured::Dictionary,
    sigs: &'a structured::Dictionary,
) -> Result<(&'a InnerList, &'a Vec<u8>), SignatureError> {
    let same_labels =
        inputs.len() == sigs.len() && inputs.iter().all(|(k, _)| sigs.iter().any(|(s, _)| s == k));
    let find = |d: &'a structured::Dictionary| d.iter().find(|(k, _)| k == LABEL).map(|(_, m)| m);
    let (input, sig) = match (find(inputs), find(sigs)) {
        (None, None) => return Err(SignatureError::NoInstallLabel),
        _ if !same_labels => return Err(SignatureError::LabelsDiffer),
        (Some(i), Some(s)) => (i, s),
        _ => return Err(SignatureError::LabelsDiffer),
    };
    let Member::Inner(inner) = input else {
        return Err(SignatureError::WrongType);
    };
    match sig {
        Member::Item(item) if item.params.is_empty() => match &item.bare {
            BareItem::Bytes(b) => Ok((inner, b)),
            _ => Err(SignatureError::WrongType),
        },
        _ => Err(SignatureError::WrongType),
    }
}

/// The signature parameters (RFC 9421 §2.3) we read.
struct Params {
    created: i64,
    expires: Option<i64>,
}

impl Params {
    fn read(inner: &InnerList) -> Result<Params, SignatureError> {
        let (mut alg, mut created, mut expires) = (None, None, None);
        for (k, v) in &inner.params {
            match (k.as_str(), v) {
                ("alg", BareItem::String(s)) => alg = Some(s.as_str()),
                ("created", BareItem::Integer(i)) => created = Some(*i),
                ("expires", BareItem::Integer(i)) => expires = Some(*i),
                ("keyid" | "nonce" | "tag", BareItem::String(_)) => {}
                _ => return Err(SignatureError::BadParameter),
            }
        }
        if alg != Some(ALG) {
            return Err(SignatureError::Algorithm);
        }
        let created = created.ok_or(SignatureError::NoCreated)?;
        Ok(Params { created, expires })
    }
}

fn check_times(p: &MessageSigningPolicy, params: &Params, now: f64) -> Result<(), SignatureError> {
    let leeway = p.leeway.as_secs_f64();
    let created = params.created as f64;
    if created > now + leeway {
        return Err(SignatureError::Future);
    }
    if created + p.max_age.as_secs_f64() + leeway <= now {
        return Err(SignatureError::TooOld);
    }
    if let Some(expires) = params.expires
        && (expires < params.created || expires as f64 + leeway <= now)
    {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

fn check_coverage(
    p: &MessageSigningPolicy,
    inner: &InnerList,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Result<(), SignatureError> {
    if inner.items.len() > MAX_COMPONENTS {
        return Err(SignatureError::TooManyComponents);
    }
    let covers = |name: &str| {
        inner
            .items
            .iter()
            .any(|i| matches!(&i.bare, BareItem::String(s) if s == name))
    };
    if !p.min_components.iter().all(|c| covers(c)) {
        return Err(SignatureError::MissingComponent);
    }
    // A signed method means nothing if an unsigned header can change it.
    if covers("@method") {
        for name in headers.keys() {
            let overrides = crate::canonical::intent::METHOD_OVERRIDE_HEADERS
                .iter()
                .any(|o| crate::canonical::headers::reads_as(name, o));
            if overrides && !covers(name.as_str()) {
                return Err(SignatureError::OverrideNotCovered);
            }
        }
    }
    let has_body = body.is_some_and(|b| !b.is_empty());
    if p.content_digest == ContentDigestRule::RequiredWithBody
        && has_body
        && !(headers.contains_key("content-digest") && covers("content-digest"))
    {
        return Err(SignatureError::DigestMissing);
    }
    Ok(())
}

//! The verifier: steps 1-3 of a request (extract, verify, bind), shared by
//! the proxy and the tower layer so both decide alike.

pub(crate) mod builder;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use http::StatusCode;
use http::header::{HeaderMap, HeaderName};

use crate::clock;
use crate::jose;
use crate::jose::alg::{Alg, AlgSet};
use crate::jose::b64;
use crate::keys::refresh::{self, RefreshError, RefresherHandle};
use crate::keys::{KeySet, Lookup};
use crate::metrics::{Metrics, VerifierMetrics};
use crate::policy::Mode;
use crate::reason::Reason;
use crate::request::binding;
use crate::request::state::{PolicyState, Shared};
use crate::token::cache::TokenCache;
use crate::token::{Inner, Pay, VerifiedToken};

/// How many keys one token may be tried against when it names none. An
/// asymmetric check costs up to ~75 µs: this bounds the work a forged token
/// can cause.
pub const MAX_KEYS_TRIED: usize = 4;

/// Checks tokens. Cheap to clone: clones share keys, cache and metrics.
///
/// Build one with [`Verifier::builder`]; check a request with
/// [`Verifier::check`].
#[derive(Clone)]
pub struct Verifier {
    pub(crate) shared: Arc<Shared>,
    pub(crate) policy: Arc<PolicyState>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.shared.store.keys.load();
        f.debug_struct("Verifier")
            .field("route", &self.policy.policy.name)
            .field("header", &self.policy.extractor.header)
            .field("algorithms", &self.policy.rules.algorithms)
            .field("mode", &self.policy.policy.mode)
            .field("keys", &keys.len())
            .field("generation", &keys.generation())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Steps 1-3 for one request: extract the token from `headers`, verify it
    /// (or find it in the cache) and check its binding.
    pub fn check(&self, headers: &HeaderMap) -> Result<VerifiedToken, Reason> {
        self.check_at(headers, clock::now())
    }

    /// [`Verifier::check`] at a given time (seconds since the Unix epoch).
    pub fn check_at(&self, headers: &HeaderMap, now: f64) -> Result<VerifiedToken, Reason> {
        let Some(m) = self.shared.store.metrics.get() else {
            return self.check_inner(headers, now, None);
        };
        let start = Instant::now();
        let result = self.check_inner(headers, now, Some(m));
        m.verify_seconds.observe(start.elapsed().as_secs_f64());
        if let Err(reason) = result
            && let Some(pm) = self.policy.metrics(&self.shared)
        {
            pm.rejected(reason);
        }
        result
    }

    /// Steps 1-3 for a request under this handle's policy (the token from
    /// the header or the query parameter), timed like [`Verifier::check`];
    /// the caller counts the rejection.
    pub(crate) fn check_request(
        &self,
        headers: &HeaderMap,
        uri: &http::Uri,
        now: f64,
    ) -> Result<VerifiedToken, Reason> {
        let m = self.shared.store.metrics.get();
        let start = m.map(|_| Instant::now());
        let result = self
            .policy
            .extractor
            .extract_request(headers, uri)
            .and_then(|token| self.verify_at_inner(&token, now, m))
            .and_then(|v| {
                self.policy.binding.check_headers(headers, v.inner())?;
                Ok(v)
            });
        if let (Some(m), Some(start)) = (m, start) {
            m.verify_seconds.observe(start.elapsed().as_secs_f64());
        }
        result
    }

    fn check_inner(
        &self,
        headers: &HeaderMap,
        now: f64,
        m: Option<&VerifierMetrics>,
    ) -> Result<VerifiedToken, Reason> {
        let token = self.policy.extractor.extract(headers)?;
        let verified = self.verify_at_inner(token, now, m)?;
        self.policy
            .binding
            .check_headers(headers, verified.inner())?;
        Ok(verified)
    }

    /// Verifies a token given directly (no header, no binding): signature,
    /// algorithm, claims, expiry. Uses and fills the cache.
    pub fn verify_token(&self, token: &str) -> Result<VerifiedToken, Reason> {
        self.verify_at_inner(
            token.as_bytes(),
            clock::now(),
            self.shared.store.metrics.get(),
        )
    }

    /// [`Verifier::verify_token`] at a given time.
    pub fn verify_token_at(&self, token: &str, now: f64) -> Result<VerifiedToken, Reason> {
        self.verify_at_inner(token.as_bytes(), now, self.shared.store.metrics.get())
    }

    /// Checks a verified token's binding against values given directly, in
    /// the configured order (the `token verify --bind` command).
    pub fn check_binding_values(
        &self,
        token: &VerifiedToken,
        values: &[&[u8]],
    ) -> Result<(), Reason> {
        self.policy.binding.check_values(values, token.inner())
    }

    /// `token` is bytes: the extractor has checked them (visible ASCII), and
    /// a cache hit needs no `str`; only a token verified here is read as
    /// one.
    fn verify_at_inner(
        &self,
        token: &[u8],
        now: f64,
        m: Option<&VerifierMetrics>,
    ) -> Result<VerifiedToken, Reason> {
        let store = &self.shared.store;
        let cache = store.cache.as_ref();
        let hash = cache.map_or(0, |c| c.hash(token));
        if let Some(cache) = cache {
            // An entry was verified under a non-empty set of its generation;
            // the same generation in service means that set still is (no
            // set has generation 0, the empty one).
            if let Some(hit) = cache.get(hash, token)
                && hit.generation == store.generation() as u32
                && hit.rules == self.policy.rules_id
            {
                if let Some(m) = m {
                    m.cache_hit.inc();
                }
                self.check_time(&hit, now)?;
                return Ok(VerifiedToken::new(hit));
            }
        }
        let keys = store.keys.load();
        if keys.is_empty() {
            // Nothing loaded yet (a URL that has not answered): ask for an
            // early fetch, as for an unknown `kid`.
            self.want_refetch();
            return Err(Reason::NoKeys);
        }
        if let (Some(_), Some(m)) = (cache, m) {
            m.cache_miss.inc();
        }
        let token = std::str::from_utf8(token).map_err(|_| Reason::Malformed)?;
        let inner = match self.verify_uncached(token, &keys, now) {
            Ok(inner) => Arc::new(inner),
            Err(Reason::UnknownKey) => {
                self.want_refetch();
                return Err(Reason::UnknownKey);
            }
            Err(reason) => return Err(reason),
        };
        self.check_time(&inner, now)?;
        if let Some(cache) = cache {
            cache.insert(inner.clone());
        }
        Ok(VerifiedToken::new(inner))
    }

    /// Everything about a token that does not change with time or request:
    /// structure, header, key, signature, claim types, `iss`, `aud`, lifetime.
    fn verify_uncached(&self, token: &str, keys: &KeySet, now: f64) -> Result<Inner, Reason> {
        if token.len() > self.policy.extractor.max_token_bytes {
            return Err(Reason::Malformed);
        }
        // Three segments: the two dots (memchr underneath), and no third.
        let Some(d1) = token.find('.') else {
            return Err(Reason::Malformed);
        };
        let Some(d2) = token[d1 + 1..].find('.').map(|i| i + d1 + 1) else {
            return Err(Reason::Malformed);
        };
        if token[d2 + 1..].contains('.') {
            return Err(Reason::Malformed);
        }
        let (h64, p64, s64) = (&token[..d1], &token[d1 + 1..d2], &token[d2 + 1..]);
        if h64.is_empty() || p64.is_empty() {
            return Err(Reason::Malformed);
        }
        // The header nearly every Approov token carries is recognised by its
        // encoded bytes; any other is decoded (on the stack: real headers
        // are short) and parsed.
        let mut hbuf = [0u8; 128];
        let header_vec;
        let header = match jose::common_header(h64) {
            Some(h) => h,
            None => {
                let header_bytes: &[u8] = match b64::decode_segment_into(h64, &mut hbuf) {
                    Some(n) => &hbuf[..n],
                    None => {
                        header_vec = b64::decode_segment(h64).ok_or(Reason::Malformed)?;
                        &header_vec
                    }
                };
                jose::parse_header(header_bytes)?
            }
        };
        let alg = Alg::from_name(&header.alg).ok_or(Reason::Algorithm)?;
        if !self.policy.rules.algorithms.contains(alg) {
            return Err(Reason::Algorithm);
        }
        // HMAC, ECDSA and Ed25519 signatures fit on the stack; RSA ones (up
        // to 1024 bytes for RSA-8192, the largest we verify) go to the heap.
        let mut sbuf = [0u8; 64];
        let sig_vec;
        let sig: &[u8] = match b64::decode_segment_into(s64, &mut sbuf) {
            Some(n) => &sbuf[..n],
            None => match b64::decode_segment(s64) {
                Some(v) if v.len() <= 1024 => {
                    sig_vec = v;
                    &sig_vec
                }
                // Valid base64url, but longer than any signature we verify.
                Some(_) => return Err(Reason::BadSignature),
                None => return Err(Reason::Malformed),
            },
        };
        let payload = b64::decode_segment(p64).ok_or(Reason::Malformed)?;
        let signing_input = &token.as_bytes()[..h64.len() + 1 + p64.len()];
        let kid = header.kid.as_deref();
        let (candidates, named) = match keys.lookup(kid) {
            Lookup::Named(c) => (c, true),
            Lookup::Pool(c) => (c, false),
        };
        let mut fitting = 0usize;
        let mut verified = false;
        for &i in candidates {
            let key = keys.key(i);
            if !key.algs().contains(alg) {
                continue;
            }
            fitting += 1;
            if key.verify(alg, signing_input, sig) {
                verified = true;
                break;
            }
            // An HMAC check costs ~0.3 µs; an asymmetric one up to ~75 µs,
            // so a token naming no key tries only a few of those.
            if fitting == MAX_KEYS_TRIED && alg.family() != crate::jose::alg::Family::Hmac {
                break;
            }
        }
        if !verified {
            return Err(match (fitting, named) {
                (0, true) => Reason::Algorithm,
                (0, false) => Reason::UnknownKey,
                _ => Reason::BadSignature,
            });
        }
        let claims = jose::parse_claims(&payload)?;
        self.check_static(&claims, now)?;
        let pay = match claims.pay.as_deref() {
            None => Pay::Absent,
            Some(p) => binding::decode_pay(p).map_or(Pay::Invalid, |h| Pay::Hash(Box::new(h))),
        };
        Ok(Inner::new(
            token,
            keys.generation(),
            self.policy.rules_id,
            &claims,
            alg,
            pay,
        ))
    }

    fn check_static(&self, claims: &jose::Claims<'_>, now: f64) -> Result<(), Reason> {
        let p = &self.policy.rules;
        if let Some(iss) = &p.issuer
            && claims.iss.as_deref() != Some(&**iss)
        {
            return Err(Reason::Claims);
        }
        if let Some(aud) = &p.audience
            && !claims.aud.iter().any(|a| a == &**aud)
        {
            return Err(Reason::Claims);
        }
        if let Some(max) = p.max_lifetime {
            if let Some(iat) = claims.iat
                && claims.exp - iat > max
            {
                return Err(Reason::Claims);
            }
            // Whatever `iat` says, a token may not stay valid longer than
            // `max_lifetime` from now.
            if claims.exp - now > max + p.leeway {
                return Err(Reason::Claims);
            }
        }
        Ok(())
    }

    /// Valid while `now < exp + leeway` and `now >= nbf - leeway`.
    fn check_time(&self, token: &Inner, now: f64) -> Result<(), Reason> {
        let leeway = self.policy.rules.leeway;
        if now >= token.exp + leeway {
            return Err(Reason::Expired);
        }
        if let Some(nbf) = token.nbf()
            && now + leeway < nbf
        {
            return Err(Reason::NotYetValid);
        }
        Ok(())
    }

    fn want_refetch(&self) {
        self.shared.keeper.want_refetch();
    }

    /// Enforce or monitor.
    pub fn mode(&self) -> Mode {
        self.policy.policy.mode
    }

    /// This handle's policy.
    pub fn policy(&self) -> &crate::Policy {
        &self.policy.policy
    }

    /// A handle sharing this verifier's keys, refresher and cache, with
    /// `policy` instead of this one's (cheap: one allocation, no key is
    /// copied). A `reject_status` that is not an error status is replaced
    /// by 401 with a warning: check with [`crate::Policy::validate`] first.
    pub fn with_policy(&self, policy: crate::Policy) -> Verifier {
        self.with_policy_and_replay_store(policy, None)
    }

    /// [`Verifier::with_policy`] with the replay store its message signing
    /// uses: the shared `RedisStore` of `replay = "redis"` (one per URL,
    /// built within a runtime that lives as long as it), or a
    /// [`crate::msgsig::replay::MemoryStore`] shared between routes.
    /// `None`: `"memory"` gets a store of its own; `"redis"` without a
    /// store behaves as an unreachable Redis (`on_redis_error` decides).
    pub fn with_policy_and_replay_store(
        &self,
        policy: crate::Policy,
        store: Option<Arc<dyn crate::msgsig::replay::ReplayStore>>,
    ) -> Verifier {
        let state = PolicyState::new(&self.shared, policy, store);
        // With metrics attached, the route's series exist (at zero) from
        // now on, not from its first request.
        let _ = state.metrics(&self.shared);
        Verifier {
            shared: self.shared.clone(),
            policy: Arc::new(state),
        }
    }

    /// The HTTP status for a rejection: 503 for `no_keys`, else the
    /// configured `reject_status` (default 401).
    pub fn reject_status(&self, reason: Reason) -> StatusCode {
        reason.status_under(self.policy.policy.reject_status)
    }

    /// The token header's name.
    pub fn header_name(&self) -> &HeaderName {
        &self.policy.extractor.header
    }

    /// The binding headers, in order.
    pub fn binding_headers(&self) -> &[HeaderName] {
        &self.policy.binding.headers
    }

    /// The algorithms allowed.
    pub fn algorithms(&self) -> AlgSet {
        self.policy.rules.algorithms
    }

    /// Whether a usable key set is loaded (`/readyz`).
    pub fn is_ready(&self) -> bool {
        !self.shared.store.keys.load().is_empty()
    }

    /// The key set in service now.
    pub fn keyset(&self) -> Arc<KeySet> {
        self.shared.store.keys.load_full()
    }

    /// Entries in the verified-token cache now.
    pub fn cached_tokens(&self) -> u64 {
        self.shared.store.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// Attaches the metric series (README, "Metrics") this verifier updates (rejections,
    /// verify time, cache, key set). The first call wins; later calls are
    /// ignored and return false.
    pub fn attach_metrics(&self, metrics: &Metrics) -> bool {
        let vm = metrics.verifier();
        let keys = self.shared.store.keys.load();
        if !keys.is_empty() {
            vm.keys_loaded(keys.len(), clock::now());
        }
        let _ = self.shared.store.registry.set(metrics.clone());
        let first = self.shared.store.metrics.set(vm).is_ok();
        let _ = self.policy.metrics(&self.shared);
        first
    }
}

impl Verifier {
    /// Keeps the keys current (policy: [the `refresh` module](crate::keys::refresh))
    /// until `shutdown` resolves: fetches the JWKS URL on its schedule and on
    /// unknown `kid`s, re-reads key files when they change, and swaps in a
    /// new key set whenever a source changes. Returns at once when there is
    /// nothing to refresh, or when another refresher already runs for this
    /// verifier.
    ///
    /// Holds only a weak reference to the verifier's state between passes;
    /// while this future borrows `self` the verifier stays alive, so it ends
    /// by `shutdown` (use [`Verifier::spawn_refresher`] to have it end with
    /// the last clone). Must run inside a tokio runtime (with the time
    /// driver).
    pub async fn run_refresher(&self, shutdown: impl Future<Output = ()>) {
        refresh::run_in_place(&self.shared, shutdown).await;
    }

    /// Runs the refresher in a tokio task. It stops when the handle is shut
    /// down or dropped, or when every clone of this verifier is dropped (the
    /// task holds no strong reference between passes).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (as `tokio::spawn` does).
    pub fn spawn_refresher(&self) -> RefresherHandle {
        refresh::spawn(&self.shared)
    }

    /// Checks every source once, now: re-reads changed files and fetches the
    /// JWKS URL (whatever its schedule), then swaps in a new key set if
    /// anything changed. For command-line use (`token verify`); a server runs
    /// the refresher instead. On failure the last good keys stay and the
    /// error lists each failed source.
    pub async fn refresh_once(&self) -> Result<(), RefreshError> {
        refresh::refresh_once(&self.shared.store, &self.shared.keeper).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Key, decode_secret_base64};
    use crate::mint::{self, SigningKey};

    /// A hit is served only under the key set its entry was verified
    /// under. A swap clears the cache too; this leaves an old entry in on
    /// purpose (as a request racing the swap could) and checks that the
    /// generation alone turns it away.
    #[test]
    fn an_entry_of_an_older_key_set_is_never_a_hit() {
        let old = mint::new_secret_base64().unwrap();
        let v = Verifier::builder()
            .secret_base64(&old)
            .unwrap()
            .build()
            .unwrap();
        let token = mint::mint(
            &SigningKey::hs256_base64(&old).unwrap(),
            None,
            &serde_json::json!({"exp": clock::now() + 300.0}),
        )
        .unwrap();
        assert!(v.verify_token(&token).is_ok());
        let store = &v.shared.store;
        let cache = store.cache.as_ref().unwrap();
        let entry = cache
            .get(cache.hash(token.as_bytes()), token.as_bytes())
            .unwrap();
        let generation = store.generation();
        assert_eq!(u64::from(entry.generation), generation);

        let new = mint::new_secret_base64().unwrap();
        let key = Key::hmac(&decode_secret_base64(new.as_bytes()).unwrap(), None, 0).unwrap();
        assert!(store.install(vec![key]));
        assert_eq!(store.generation(), generation + 1);
        assert_eq!(store.generation(), store.keys.load().generation());
        cache.insert(entry);
        assert_eq!(v.cached_tokens(), 1);
        assert_eq!(v.verify_token(&token).unwrap_err(), Reason::BadSignature);
    }

    #[test]
    fn no_key_set_yet_is_generation_zero() {
        let store = crate::keys::store::KeyStore::new(Vec::new(), None);
        assert_eq!(store.generation(), 0);
        assert_eq!(store.keys.load().generation(), 0);
    }
}

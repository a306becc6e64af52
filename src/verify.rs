//! The verifier: steps 1-3 of a request (extract, verify, bind), shared by
//! the proxy and the tower layer so both decide alike.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::StatusCode;
use http::header::{HeaderMap, HeaderName};

use crate::alg::{Alg, AlgSet};
use crate::b64;
use crate::binding::{self, Binding};
use crate::cache::TokenCache;
use crate::clock;
use crate::extract::Extractor;
use crate::jose;
use crate::keys::{self, Key, KeySet, Lookup, SecretError};
use crate::metrics::{Metrics, VerifierMetrics};
use crate::reason::Reason;
use crate::refresh::{Signal, Sources};
use crate::secret::{Secret, SecretSource};
use crate::token::{Inner, Pay, VerifiedToken};

/// Default cap on the token's size (after any prefix).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Default size of the verified-token cache.
pub const DEFAULT_CACHE_CAPACITY: u64 = 100_000;
/// Default name of the token header.
pub const DEFAULT_HEADER: &str = "approov-token";
/// How many keys one token may be tried against when it names none. An
/// asymmetric check costs up to ~75 µs: this bounds the work a forged token
/// can cause.
pub const MAX_KEYS_TRIED: usize = 4;

/// What a front end does with a failing request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Refuse it.
    #[default]
    Enforce,
    /// Let it through (counted as `monitored`, logged), without secrets.
    Monitor,
}

/// Where the asymmetric keys come from and how they are refreshed.
#[derive(Clone, Debug)]
pub struct JwksOptions {
    /// A JWKS file, re-read when it changes.
    pub file: Option<PathBuf>,
    /// A JWKS URL, fetched in the background.
    pub url: Option<String>,
    /// How often the URL is refetched.
    pub refresh: Duration,
    /// Earliest refetch after the previous one (unknown `kid`, `max-age`).
    pub min_refetch: Duration,
    /// Timeout of one fetch.
    pub timeout: Duration,
    /// Where the last good JWKS from the URL is kept, for cold starts while
    /// the endpoint is down.
    pub cache_file: Option<PathBuf>,
    /// How often watched files are checked for changes.
    pub watch_interval: Duration,
    /// Largest JWKS document read, from the URL or a file (default 1 MiB);
    /// reading stops beyond it.
    pub max_body_bytes: usize,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            file: None,
            url: None,
            refresh: Duration::from_secs(300),
            min_refetch: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            cache_file: None,
            watch_interval: Duration::from_secs(1),
            max_body_bytes: crate::refresh::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// One configured account secret.
#[derive(Clone, Debug)]
pub(crate) struct SecretSpec {
    pub(crate) source: SecretSource,
    pub(crate) kid: Option<String>,
}

/// Policy values fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) algorithms: AlgSet,
    pub(crate) leeway: f64,
    pub(crate) max_lifetime: Option<f64>,
    pub(crate) issuer: Option<Box<str>>,
    pub(crate) audience: Option<Box<str>>,
    pub(crate) mode: Mode,
    pub(crate) reject_status: StatusCode,
}

pub(crate) struct Shared {
    pub(crate) policy: Policy,
    pub(crate) extractor: Extractor,
    pub(crate) binding: Binding,
    pub(crate) keys: ArcSwap<KeySet>,
    pub(crate) cache: Option<TokenCache>,
    pub(crate) metrics: OnceLock<VerifierMetrics>,
    pub(crate) jwks: JwksOptions,
    /// Every key source with its last good keys; taken by the refresher
    /// (the one writer of `keys`) for each pass.
    pub(crate) sources: tokio::sync::Mutex<Sources>,
    /// Raised when a token named an unknown `kid` (or none is loaded); held
    /// apart so the refresher needs no strong reference to wait on it.
    pub(crate) refetch: Arc<Signal>,
    pub(crate) next_generation: AtomicU64,
}

/// Checks tokens. Cheap to clone: clones share keys, cache and metrics.
///
/// Build one with [`Verifier::builder`]; check a request with
/// [`Verifier::check`].
#[derive(Clone)]
pub struct Verifier {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.shared.keys.load();
        f.debug_struct("Verifier")
            .field("header", &self.shared.extractor.header)
            .field("algorithms", &self.shared.policy.algorithms)
            .field("mode", &self.shared.policy.mode)
            .field("keys", &keys.len())
            .field("generation", &keys.generation())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A builder with the defaults of DESIGN §4.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Steps 1-3 for one request: extract the token from `headers`, verify it
    /// (or find it in the cache) and check its binding.
    pub fn check(&self, headers: &HeaderMap) -> Result<VerifiedToken, Reason> {
        self.check_at(headers, clock::now())
    }

    /// [`Verifier::check`] at a given time (seconds since the Unix epoch).
    pub fn check_at(&self, headers: &HeaderMap, now: f64) -> Result<VerifiedToken, Reason> {
        let Some(m) = self.shared.metrics.get() else {
            return self.check_inner(headers, now, None);
        };
        let start = Instant::now();
        let result = self.check_inner(headers, now, Some(m));
        m.verify_seconds.observe(start.elapsed().as_secs_f64());
        if let Err(reason) = result {
            m.rejections[reason.index()].inc();
        }
        result
    }

    fn check_inner(
        &self,
        headers: &HeaderMap,
        now: f64,
        m: Option<&VerifierMetrics>,
    ) -> Result<VerifiedToken, Reason> {
        let token = self.shared.extractor.extract(headers)?;
        let verified = self.verify_at_inner(token, now, m)?;
        self.shared
            .binding
            .check_headers(headers, verified.inner())?;
        Ok(verified)
    }

    /// Verifies a token given directly (no header, no binding): signature,
    /// algorithm, claims, expiry. Uses and fills the cache.
    pub fn verify_token(&self, token: &str) -> Result<VerifiedToken, Reason> {
        self.verify_at_inner(token, clock::now(), self.shared.metrics.get())
    }

    /// [`Verifier::verify_token`] at a given time.
    pub fn verify_token_at(&self, token: &str, now: f64) -> Result<VerifiedToken, Reason> {
        self.verify_at_inner(token, now, self.shared.metrics.get())
    }

    /// Checks a verified token's binding against values given directly, in
    /// the configured order (the `token verify --bind` command).
    pub fn check_binding_values(
        &self,
        token: &VerifiedToken,
        values: &[&[u8]],
    ) -> Result<(), Reason> {
        self.shared.binding.check_values(values, token.inner())
    }

    fn verify_at_inner(
        &self,
        token: &str,
        now: f64,
        m: Option<&VerifierMetrics>,
    ) -> Result<VerifiedToken, Reason> {
        let keys = self.shared.keys.load();
        if keys.is_empty() {
            // Nothing loaded yet (a URL that has not answered): ask for an
            // early fetch, as for an unknown `kid`.
            self.want_refetch();
            return Err(Reason::NoKeys);
        }
        let cache = self.shared.cache.as_ref();
        let hash = cache.map_or(0, |c| c.hash(token));
        if let Some(cache) = cache {
            if let Some(hit) = cache.get(hash, token)
                && hit.generation == keys.generation() as u32
            {
                if let Some(m) = m {
                    m.cache_hit.inc();
                }
                self.check_time(&hit, now)?;
                return Ok(VerifiedToken::new(hit));
            }
            if let Some(m) = m {
                m.cache_miss.inc();
            }
        }
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
        if token.len() > self.shared.extractor.max_token_bytes {
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
        if !self.shared.policy.algorithms.contains(alg) {
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
            if fitting == MAX_KEYS_TRIED && alg.family() != crate::alg::Family::Hmac {
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
        Ok(Inner::new(token, keys.generation(), &claims, alg, pay))
    }

    fn check_static(&self, claims: &jose::Claims<'_>, now: f64) -> Result<(), Reason> {
        let p = &self.shared.policy;
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
        let leeway = self.shared.policy.leeway;
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
        if self.shared.jwks.url.is_some() {
            self.shared.refetch.want_refetch();
        }
    }

    /// Enforce or monitor.
    pub fn mode(&self) -> Mode {
        self.shared.policy.mode
    }

    /// The HTTP status for a rejection: 503 for `no_keys`, else the
    /// configured `reject_status` (default 401).
    pub fn reject_status(&self, reason: Reason) -> StatusCode {
        match reason {
            Reason::NoKeys => StatusCode::SERVICE_UNAVAILABLE,
            _ => self.shared.policy.reject_status,
        }
    }

    /// The token header's name.
    pub fn header_name(&self) -> &HeaderName {
        &self.shared.extractor.header
    }

    /// The binding headers, in order.
    pub fn binding_headers(&self) -> &[HeaderName] {
        &self.shared.binding.headers
    }

    /// The algorithms allowed.
    pub fn algorithms(&self) -> AlgSet {
        self.shared.policy.algorithms
    }

    /// Whether a usable key set is loaded (`/readyz`).
    pub fn is_ready(&self) -> bool {
        !self.shared.keys.load().is_empty()
    }

    /// The key set in service now.
    pub fn keyset(&self) -> Arc<KeySet> {
        self.shared.keys.load_full()
    }

    /// Entries in the verified-token cache now.
    pub fn cached_tokens(&self) -> u64 {
        self.shared.cache.as_ref().map_or(0, TokenCache::len)
    }

    /// Attaches the series of DESIGN §5 this verifier updates (rejections,
    /// verify time, cache, key set). The first call wins; later calls are
    /// ignored and return false.
    pub fn attach_metrics(&self, metrics: &Metrics) -> bool {
        let vm = metrics.verifier();
        let keys = self.shared.keys.load();
        if !keys.is_empty() {
            vm.keys_loaded(keys.len(), clock::now());
        }
        self.shared.metrics.set(vm).is_ok()
    }

    /// Swaps in a new key set built from `keys`, as one step: new generation,
    /// cache cleared. Refuses an empty list (the last good set stays).
    pub(crate) fn install(&self, keys: Vec<Key>) -> bool {
        if keys.is_empty() {
            return false;
        }
        let generation = self.shared.next_generation.fetch_add(1, Ordering::AcqRel);
        let count = keys.len();
        self.shared
            .keys
            .store(Arc::new(KeySet::new(generation, keys)));
        // Entries of older generations are already ignored; clearing frees
        // their memory.
        if let Some(cache) = &self.shared.cache {
            cache.clear();
        }
        if let Some(m) = self.shared.metrics.get() {
            m.keys_loaded(count, clock::now());
        }
        true
    }
}

/// One problem found while building a verifier, with the path of the setting
/// (as in the `[token]` section: `secret[0].base64`, `jwks.file`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildProblem {
    /// The setting, e.g. `secret[1].base64`.
    pub path: String,
    /// What is wrong and how to fix it. Never holds a secret value.
    pub message: String,
}

/// Every problem found while building a verifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("; "))]
pub struct BuildError(pub Vec<BuildProblem>);

/// Builds a [`Verifier`]. Defaults are those of DESIGN §4.
#[derive(Clone, Debug)]
pub struct VerifierBuilder {
    header: Result<HeaderName, String>,
    prefix: String,
    mode: Mode,
    algorithms: Option<Vec<Alg>>,
    leeway: Duration,
    max_lifetime: Option<Duration>,
    issuer: Option<String>,
    audience: Option<String>,
    binding_headers: Vec<Result<HeaderName, String>>,
    allow_missing_pay: bool,
    reject_status: u16,
    cache_capacity: u64,
    max_token_bytes: usize,
    secrets: Vec<SecretSpec>,
    jwks: JwksOptions,
    jwks_inline: Option<Vec<u8>>,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        VerifierBuilder {
            header: Ok(HeaderName::from_static(DEFAULT_HEADER)),
            prefix: String::new(),
            mode: Mode::Enforce,
            algorithms: None,
            leeway: Duration::ZERO,
            max_lifetime: None,
            issuer: None,
            audience: None,
            binding_headers: Vec::new(),
            allow_missing_pay: false,
            reject_status: 401,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            secrets: Vec::new(),
            jwks: JwksOptions::default(),
            jwks_inline: None,
        }
    }
}

impl VerifierBuilder {
    /// Adds an HS256 account secret given in base64 (either alphabet, padding
    /// optional), decoding it now.
    pub fn secret_base64(self, base64: &str) -> Result<Self, SecretError> {
        self.secret_base64_with_kid(base64, None)
    }

    /// Adds an HS256 account secret with a key id.
    pub fn secret_base64_with_kid(
        mut self,
        base64: &str,
        kid: Option<&str>,
    ) -> Result<Self, SecretError> {
        keys::decode_secret_base64(base64.as_bytes())?;
        self.secrets.push(SecretSpec {
            source: SecretSource::Value(Secret::new(base64.as_bytes().to_vec())),
            kid: kid.map(str::to_owned),
        });
        Ok(self)
    }

    /// Adds an HS256 account secret, base64, read from `source` (a file
    /// source is re-read when it changes).
    pub fn secret_source(mut self, source: SecretSource, kid: Option<&str>) -> Self {
        self.secrets.push(SecretSpec {
            source,
            kid: kid.map(str::to_owned),
        });
        self
    }

    /// Reads asymmetric keys from a JWKS file (re-read when it changes).
    pub fn jwks_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.jwks.file = Some(path.into());
        self
    }

    /// Fetches asymmetric keys from a JWKS URL (in the background, see
    /// [`Verifier::spawn_refresher`]).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks.url = Some(url.into());
        self
    }

    /// Uses a fixed JWKS document (tests, embedded keys).
    pub fn jwks_json(mut self, json: impl Into<Vec<u8>>) -> Self {
        self.jwks_inline = Some(json.into());
        self
    }

    /// Sets every JWKS option at once (file, URL, timings, cache file).
    pub fn jwks_options(mut self, options: JwksOptions) -> Self {
        self.jwks = options;
        self
    }

    /// The token header (default `Approov-Token`).
    pub fn header(mut self, name: &str) -> Self {
        self.header = HeaderName::try_from(name).map_err(|_| name.to_owned());
        self
    }

    /// A prefix before the token, e.g. `Bearer ` (matched ignoring case).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Enforce (default) or monitor.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The algorithm allow-list. Unset: HS256 when secrets are configured,
    /// plus ES256, RS256, PS256 and EdDSA when a JWKS is.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Alg>) -> Self {
        self.algorithms = Some(algs.into_iter().collect());
        self
    }

    /// Clock skew allowed on `exp` and `nbf`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Longest lifetime a token may have.
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = Some(max);
        self
    }

    /// Required `iss`.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuer = Some(iss.into());
        self
    }

    /// Required member of `aud`.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }

    /// Headers whose values the `pay` claim binds, in order.
    pub fn binding_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.binding_headers = names
            .into_iter()
            .map(|n| HeaderName::try_from(n.as_ref()).map_err(|_| n.as_ref().to_owned()))
            .collect();
        self
    }

    /// Accept a token without `pay` even when binding headers are set
    /// (Approov failover tokens carry none).
    pub fn allow_missing_pay(mut self, allow: bool) -> Self {
        self.allow_missing_pay = allow;
        self
    }

    /// HTTP status of a rejection (default 401; `no_keys` is always 503).
    pub fn reject_status(mut self, status: u16) -> Self {
        self.reject_status = status;
        self
    }

    /// Size of the verified-token cache; 0 turns it off.
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Largest token accepted, in bytes (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Checks every setting, loads the keys that can be loaded now (secrets,
    /// JWKS file, the URL's cache file) and returns the verifier, or every
    /// problem found.
    pub fn build(self) -> Result<Verifier, BuildError> {
        let mut problems = Vec::new();
        let mut problem =
            |path: String, message: String| problems.push(BuildProblem { path, message });

        let header = self.header.unwrap_or_else(|bad| {
            problem(
                "header".into(),
                format!("{bad:?} is not a valid header name"),
            );
            HeaderName::from_static(DEFAULT_HEADER)
        });
        let mut binding_headers = Vec::new();
        for (i, h) in self.binding_headers.into_iter().enumerate() {
            match h {
                Ok(h) => binding_headers.push(h),
                Err(bad) => problem(
                    format!("binding_headers[{i}]"),
                    format!("{bad:?} is not a valid header name"),
                ),
            }
        }
        let reject_status = match StatusCode::from_u16(self.reject_status) {
            Ok(s) if s.is_client_error() || s.is_server_error() => s,
            _ => {
                problem(
                    "reject_status".into(),
                    format!(
                        "{} is not an HTTP error status; use 4xx or 5xx (default 401)",
                        self.reject_status
                    ),
                );
                StatusCode::UNAUTHORIZED
            }
        };
        let has_jwks =
            self.jwks.file.is_some() || self.jwks.url.is_some() || self.jwks_inline.is_some();
        let algorithms: AlgSet = match &self.algorithms {
            Some(list) => list.iter().copied().collect(),
            None => {
                let mut set = AlgSet::EMPTY;
                if !self.secrets.is_empty() {
                    set = set.with(Alg::HS256);
                }
                if has_jwks {
                    set = set
                        .with(Alg::ES256)
                        .with(Alg::RS256)
                        .with(Alg::PS256)
                        .with(Alg::EdDSA);
                }
                set
            }
        };
        if algorithms.is_empty() {
            problem(
                "algorithms".into(),
                "no algorithm is allowed; list at least one, e.g. [\"HS256\"]".into(),
            );
        }
        if algorithms.contains(Alg::HS256) && self.secrets.is_empty() && self.algorithms.is_some() {
            // Allowed but unusable: say so rather than reject every token.
            tracing::warn!("HS256 is allowed but no [[token.secret]] is configured");
        }
        if !self.secrets.is_empty() && !algorithms.contains(Alg::HS256) {
            problem(
                "algorithms".into(),
                "secrets are configured but HS256 is not in the allow-list; add \"HS256\"".into(),
            );
        }
        if self.secrets.is_empty() && !has_jwks {
            problem(
                "secret".into(),
                "no key source: add a [[token.secret]] (HS256) or a [token.jwks] file or url"
                    .into(),
            );
        }
        if self.max_token_bytes < 16 {
            problem("max_token_bytes".into(), "must be at least 16".into());
        }

        // Load what can be loaded now; the refresher keeps it current.
        let sources = Sources::load(
            &self.secrets,
            self.jwks_inline.as_deref(),
            &self.jwks,
            &mut problem,
        );
        if !problems.is_empty() {
            return Err(BuildError(problems));
        }

        let leeway = self.leeway.as_secs_f64();
        let cache = (self.cache_capacity > 0).then(|| TokenCache::new(self.cache_capacity, leeway));
        let keys = sources.keys();
        let (initial, next) = if keys.is_empty() {
            (KeySet::empty(), 1)
        } else {
            (KeySet::new(1, keys), 2)
        };
        Ok(Verifier {
            shared: Arc::new(Shared {
                policy: Policy {
                    algorithms,
                    leeway,
                    max_lifetime: self.max_lifetime.map(|d| d.as_secs_f64()),
                    issuer: self.issuer.map(Into::into),
                    audience: self.audience.map(Into::into),
                    mode: self.mode,
                    reject_status,
                },
                extractor: Extractor {
                    header,
                    prefix: self.prefix.into(),
                    max_token_bytes: self.max_token_bytes,
                },
                binding: Binding {
                    headers: binding_headers.into(),
                    allow_missing_pay: self.allow_missing_pay,
                },
                keys: ArcSwap::from_pointee(initial),
                cache,
                metrics: OnceLock::new(),
                jwks: self.jwks,
                sources: tokio::sync::Mutex::new(sources),
                refetch: Signal::new(),
                next_generation: AtomicU64::new(next),
            }),
        })
    }
}

/// Reads, decodes and prepares one account secret.
pub(crate) fn load_secret(spec: &SecretSpec, index: usize) -> Result<Key, String> {
    let text = spec.source.read().map_err(|e| e.to_string())?;
    let secret = keys::decode_secret_base64(text.expose()).map_err(|e| e.to_string())?;
    Key::hmac(&secret, spec.kid.as_deref(), index).map_err(|e| e.to_string())
}

pub(crate) fn log_skipped(source: &str, skipped: &[keys::Skipped]) {
    for s in skipped {
        tracing::warn!(source, "skipping JWK {s}");
    }
}

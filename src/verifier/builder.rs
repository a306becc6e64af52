//! Building a [`Verifier`]: every setting checked (every problem collected,
//! with its path), the keys that can be loaded now loaded, and the state
//! assembled.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use http::header::HeaderName;

use crate::jose::alg::{Alg, AlgSet};
use crate::keys::refresh::{JwksOptions, Keeper, SecretSpec, Sources};
use crate::keys::store::KeyStore;
use crate::keys::{self, SecretError};
pub use crate::policy::{BuildProblem, DEFAULT_HEADER, DEFAULT_MAX_TOKEN_BYTES};
use crate::policy::{Mode, Policy};
use crate::request::state::{PolicyState, Shared};
use crate::secrets::secret::{Secret, SecretSource};
use crate::token::cache::TokenCache;
use crate::verifier::Verifier;

/// Default size of the verified-token cache.
pub const DEFAULT_CACHE_CAPACITY: u64 = 100_000;
/// Largest size of the verified-token cache (entries; 0 turns it off).
pub const MAX_CACHE_CAPACITY: u64 = 100_000_000;

impl Verifier {
    /// A builder with the configuration's defaults (README).
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }
}

/// Every problem found while building a verifier.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(|p| format!("{}: {}", p.path, p.message)).collect::<Vec<_>>().join("; "))]
pub struct BuildError(pub Vec<BuildProblem>);

/// Builds a [`Verifier`]. Defaults are the configuration's (README).
#[derive(Clone, Debug)]
pub struct VerifierBuilder {
    policy: Policy,
    /// Problems found by setters (a header name that is not one, …).
    bad: Vec<BuildProblem>,
    cache_capacity: u64,
    secrets: Vec<SecretSpec>,
    jwks: JwksOptions,
    jwks_inline: Option<Vec<u8>>,
}

impl Default for VerifierBuilder {
    fn default() -> Self {
        VerifierBuilder {
            policy: Policy::default(),
            bad: Vec::new(),
            cache_capacity: DEFAULT_CACHE_CAPACITY,
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
        match HeaderName::try_from(name) {
            Ok(h) => self.policy.header = h,
            Err(_) => self.bad.push(BuildProblem {
                path: "header".into(),
                message: format!("{name:?} is not a valid header name"),
            }),
        }
        self
    }

    /// A prefix before the token, e.g. `Bearer ` (matched ignoring case).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.policy.prefix = prefix.into();
        self
    }

    /// Enforce (default) or monitor.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.policy.mode = mode;
        self
    }

    /// The algorithm allow-list. Unset: HS256 when secrets are configured,
    /// plus ES256, RS256, PS256 and EdDSA when a JWKS is.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Alg>) -> Self {
        self.policy.algorithms = Some(algs.into_iter().collect());
        self
    }

    /// Clock skew allowed on `exp` and `nbf`.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.policy.leeway = leeway;
        self
    }

    /// Longest lifetime a token may have.
    pub fn max_lifetime(mut self, max: Duration) -> Self {
        self.policy.max_lifetime = Some(max);
        self
    }

    /// Required `iss`.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.policy.issuer = Some(iss.into());
        self
    }

    /// Required member of `aud`.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.policy.audience = Some(aud.into());
        self
    }

    /// Headers whose values the `pay` claim binds, in order.
    pub fn binding_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.policy.binding_headers.clear();
        for (i, n) in names.into_iter().enumerate() {
            match HeaderName::try_from(n.as_ref()) {
                Ok(h) => self.policy.binding_headers.push(h),
                Err(_) => self.bad.push(BuildProblem {
                    path: format!("binding_headers[{i}]"),
                    message: format!("{:?} is not a valid header name", n.as_ref()),
                }),
            }
        }
        self
    }

    /// Accept a token without `pay` even when binding headers are set
    /// (Approov failover tokens carry none).
    pub fn allow_missing_pay(mut self, allow: bool) -> Self {
        self.policy.allow_missing_pay = allow;
        self
    }

    /// HTTP status of a rejection (default 401; `no_keys` is always 503).
    pub fn reject_status(mut self, status: u16) -> Self {
        match StatusCode::from_u16(status) {
            Ok(s) => self.policy.reject_status = s,
            Err(_) => self.bad.push(BuildProblem {
                path: "reject_status".into(),
                message: format!(
                    "{status} is not an HTTP error status; use 4xx or 5xx (default 401)"
                ),
            }),
        }
        self
    }

    /// Size of the verified-token cache; 0 turns it off.
    pub fn cache_capacity(mut self, capacity: u64) -> Self {
        self.cache_capacity = capacity;
        self
    }

    /// Largest token accepted, in bytes (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.policy.max_token_bytes = max;
        self
    }

    /// Sets the whole policy at once (what the config file's `[token]`
    /// section becomes); the setters above change single fields of it.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// Checks every setting, loads the keys that can be loaded now (secrets,
    /// JWKS file, the URL's cache file) and returns the verifier, or every
    /// problem found.
    pub fn build(self) -> Result<Verifier, BuildError> {
        let mut problems = self.bad;
        problems.extend(self.policy.validate(""));
        let mut problem =
            |path: String, message: String| problems.push(BuildProblem { path, message });
        if self.cache_capacity > MAX_CACHE_CAPACITY {
            problem(
                "cache_capacity".into(),
                format!(
                    "{} is out of range; use 0 to {MAX_CACHE_CAPACITY} (default {DEFAULT_CACHE_CAPACITY})",
                    self.cache_capacity
                ),
            );
        }
        let has_jwks =
            self.jwks.file.is_some() || self.jwks.url.is_some() || self.jwks_inline.is_some();
        let algorithms: AlgSet = match self.policy.algorithms {
            Some(set) => set,
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
        if algorithms.is_empty() && self.policy.algorithms.is_none() {
            problem(
                "algorithms".into(),
                "no algorithm is allowed; list at least one, e.g. [\"HS256\"]".into(),
            );
        }
        if algorithms.contains(Alg::HS256)
            && self.secrets.is_empty()
            && self.policy.algorithms.is_some()
        {
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

        let leeway = self.policy.leeway.as_secs_f64();
        let cache = (self.cache_capacity > 0).then(|| TokenCache::new(self.cache_capacity, leeway));
        let store = KeyStore::new(sources.keys(), cache);
        let shared = Arc::new(Shared::new(
            store,
            Keeper::new(self.jwks, sources),
            algorithms,
        ));
        let policy = Arc::new(PolicyState::new(&shared, self.policy, None));
        Ok(Verifier { shared, policy })
    }
}

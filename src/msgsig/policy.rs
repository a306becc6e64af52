//! `[route.policy.message_signing]` as plain data: what the config crate
//! fills in (or a tower user writes), checked by [`MessageSigningPolicy::validate`]
//! with every problem and its key path, before [`super::MessageSigning::new`].

use std::fmt;
use std::time::Duration;

use super::components::check_identifier;

/// Whether a request with a body must carry a signed `Content-Digest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentDigestRule {
    /// A request with a non-empty body must send `Content-Digest` (sha-256
    /// or sha-512), cover it in the signature, and match it.
    #[default]
    RequiredWithBody,
    /// Checked against the body when sent; not required.
    Optional,
}

/// Where seen signatures are remembered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplayMode {
    /// In this process only (bounded, like the token cache).
    #[default]
    Memory,
    /// In Redis, shared by every instance (`SET key 1 NX PX ttl`).
    Redis,
    /// No replay check.
    Off,
}

/// What a replay check does when the shared store cannot answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnStoreError {
    /// Refuse the request (reason `replay`): a replay is never let through.
    #[default]
    Refuse,
    /// Let the request through (availability over replay protection).
    Allow,
}

macro_rules! names {
    ($t:ty { $($v:ident = $s:literal),* }) => {
        impl $t {
            /// The config spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
            /// Parses the config spelling.
            pub fn from_name(name: &str) -> Option<$t> {
                match name { $($s => Some(<$t>::$v),)* _ => None }
            }
        }
    };
}
names!(ContentDigestRule { RequiredWithBody = "required-with-body", Optional = "optional" });
names!(ReplayMode { Memory = "memory", Redis = "redis", Off = "off" });
names!(OnStoreError { Refuse = "refuse", Allow = "allow" });

/// The message-signing policy of a route (docs/MESSAGE_SIGNING.md). `Default` is the
/// documented default of every key.
#[derive(Clone, PartialEq)]
pub struct MessageSigningPolicy {
    /// `true`: a request without a signature is refused (`signature`).
    /// `false`: a signature is checked when present.
    pub required: bool,
    /// Components every signature must cover (lower-case field names or
    /// derived components).
    pub min_components: Vec<String>,
    /// See [`ContentDigestRule`].
    pub content_digest: ContentDigestRule,
    /// `created` must be at most this old (and is required).
    pub max_age: Duration,
    /// Clock skew allowed for `created` in the future and past `expires`.
    pub leeway: Duration,
    /// Largest body buffered for the digest check; beyond it the front end
    /// answers 413 without forwarding a byte.
    pub max_body_bytes: u64,
    /// See [`ReplayMode`].
    pub replay: ReplayMode,
    /// `redis://[user:password@]host:port[/db]`, for `replay = "redis"`.
    /// Never printed (it may hold a password).
    pub redis_url: Option<String>,
    /// See [`OnStoreError`].
    pub on_redis_error: OnStoreError,
    /// Time allowed for one Redis command (connecting included).
    pub redis_timeout: Duration,
    /// Most signatures the memory store remembers.
    pub replay_capacity: u64,
}

/// Default `min_components`.
pub const DEFAULT_MIN_COMPONENTS: [&str; 3] = ["@method", "@target-uri", "approov-token"];

impl Default for MessageSigningPolicy {
    fn default() -> Self {
        MessageSigningPolicy {
            required: true,
            min_components: DEFAULT_MIN_COMPONENTS.map(String::from).to_vec(),
            content_digest: ContentDigestRule::RequiredWithBody,
            max_age: Duration::from_secs(60),
            leeway: Duration::from_secs(5),
            max_body_bytes: 1024 * 1024,
            replay: ReplayMode::Memory,
            redis_url: None,
            on_redis_error: OnStoreError::Refuse,
            redis_timeout: Duration::from_millis(200),
            replay_capacity: 1 << 18,
        }
    }
}

impl fmt::Debug for MessageSigningPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageSigningPolicy")
            .field("required", &self.required)
            .field("min_components", &self.min_components)
            .field("content_digest", &self.content_digest)
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("replay", &self.replay)
            .field("redis_url", &self.redis_url.as_ref().map(|_| "<set>"))
            .field("on_redis_error", &self.on_redis_error)
            .field("redis_timeout", &self.redis_timeout)
            .field("replay_capacity", &self.replay_capacity)
            .finish()
    }
}

/// One thing wrong with a policy: the key path (relative to
/// `message_signing`, e.g. `min_components[1]`) and what is wrong. Never
/// holds a secret value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyProblem {
    /// The key, relative to the `message_signing` table.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for PolicyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Longest `max_age` (and so the longest a replay entry lives).
pub const MAX_MAX_AGE: Duration = Duration::from_secs(3600);

impl MessageSigningPolicy {
    /// Every problem, each with its key path; empty when usable.
    pub fn validate(&self) -> Vec<PolicyProblem> {
        let mut out = Vec::new();
        let mut bad = |path: String, message: &str| {
            out.push(PolicyProblem {
                path,
                message: message.to_owned(),
            })
        };
        for (i, c) in self.min_components.iter().enumerate() {
            if let Err(why) = check_identifier(c) {
                bad(format!("min_components[{i}]"), why);
            } else if self.min_components[..i].contains(c) {
                bad(format!("min_components[{i}]"), "listed twice");
            }
        }
        if self.max_age.is_zero() || self.max_age > MAX_MAX_AGE {
            bad("max_age".into(), "must be more than 0s and at most 1h");
        }
        if self.leeway > Duration::from_secs(300) {
            bad("leeway".into(), "must be at most 5m");
        }
        if self.max_body_bytes == 0 {
            bad("max_body_bytes".into(), "must be more than 0");
        }
        match (self.replay, &self.redis_url) {
            (ReplayMode::Redis, None) => {
                bad("redis_url".into(), "required when replay = \"redis\"")
            }
            (ReplayMode::Redis, Some(url)) => {
                if let Err(why) = check_redis_url(url) {
                    bad("redis_url".into(), why);
                }
            }
            (_, Some(_)) => bad("redis_url".into(), "only used with replay = \"redis\""),
            _ => {}
        }
        if self.redis_timeout.is_zero() || self.redis_timeout > Duration::from_secs(10) {
            bad(
                "redis_timeout".into(),
                "must be more than 0s and at most 10s",
            );
        }
        if self.replay == ReplayMode::Memory && self.replay_capacity == 0 {
            bad("replay_capacity".into(), "must be more than 0");
        }
        out
    }

    /// How long a signature created at `created` (Unix seconds) with
    /// optional `expires` stays acceptable: until the earlier of
    /// `created + max_age` and `expires`, plus the leeway.
    pub fn window_end(&self, created: i64, expires: Option<i64>) -> f64 {
        let by_age = created as f64 + self.max_age.as_secs_f64();
        let end = expires.map_or(by_age, |e| by_age.min(e as f64));
        end + self.leeway.as_secs_f64()
    }
}

/// A `redis://host[:port][/db]` URL, user and password allowed. Checked
/// without echoing it. (`rediss://` needs TLS support this build lacks.)
fn check_redis_url(url: &str) -> Result<(), &'static str> {
    let Some(rest) = url.strip_prefix("redis://") else {
        return Err("must start with redis://");
    };
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err("has no host");
    }
    if let Some((_, port)) = host.rsplit_once(':')
        && !host.ends_with(']')
        && port.parse::<u16>().is_err()
    {
        return Err("has a bad port");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_names_round_trip() {
        assert_eq!(MessageSigningPolicy::default().validate(), vec![]);
        for r in [
            ContentDigestRule::RequiredWithBody,
            ContentDigestRule::Optional,
        ] {
            assert_eq!(ContentDigestRule::from_name(r.as_str()), Some(r));
        }
        for r in [ReplayMode::Memory, ReplayMode::Redis, ReplayMode::Off] {
            assert_eq!(ReplayMode::from_name(r.as_str()), Some(r));
        }
        for r in [OnStoreError::Refuse, OnStoreError::Allow] {
            assert_eq!(OnStoreError::from_name(r.as_str()), Some(r));
        }
        assert_eq!(ReplayMode::from_name("Redis"), None);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let p = MessageSigningPolicy {
            min_components: vec![
                "@method".into(),
                "@Method".into(),
                "@status".into(),
                "Approov-Token".into(),
                "@method".into(),
                "".into(),
                "bad header".into(),
                "@query-param".into(),
            ],
            max_age: Duration::ZERO,
            leeway: Duration::from_secs(3600),
            max_body_bytes: 0,
            replay: ReplayMode::Redis,
            redis_url: Some("http://user:hunter2@host".into()),
            redis_timeout: Duration::ZERO,
            ..MessageSigningPolicy::default()
        };
        let problems = p.validate();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "min_components[1]",
                "min_components[2]",
                "min_components[3]",
                "min_components[4]",
                "min_components[5]",
                "min_components[6]",
                "min_components[7]",
                "max_age",
                "leeway",
                "max_body_bytes",
                "redis_url",
                "redis_timeout",
            ]
        );
        for problem in &problems {
            assert!(!problem.to_string().contains("hunter2"), "{problem}");
        }
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn redis_url_rules() {
        let with = |replay, url: Option<&str>| MessageSigningPolicy {
            replay,
            redis_url: url.map(String::from),
            ..MessageSigningPolicy::default()
        };
        for good in [
            "redis://127.0.0.1:6379",
            "redis://localhost",
            "redis://:pw@10.0.0.1:6380/2",
            "redis://[::1]:6379",
        ] {
            assert_eq!(
                with(ReplayMode::Redis, Some(good)).validate(),
                vec![],
                "{good}"
            );
        }
        for bad in [
            "",
            "redis://",
            "redis://h:notaport",
            "rediss://h:1",
            "h:6379",
        ] {
            assert_eq!(
                with(ReplayMode::Redis, Some(bad)).validate().len(),
                1,
                "{bad}"
            );
        }
        assert_eq!(with(ReplayMode::Redis, None).validate().len(), 1);
        assert_eq!(
            with(ReplayMode::Memory, Some("redis://h")).validate().len(),
            1
        );
    }

    #[test]
    fn window_ends_at_the_earlier_bound_plus_leeway() {
        let p = MessageSigningPolicy::default(); // 60s, leeway 5s
        assert_eq!(p.window_end(1000, None), 1065.0);
        assert_eq!(p.window_end(1000, Some(1010)), 1015.0);
        assert_eq!(p.window_end(1000, Some(5000)), 1065.0);
    }
}

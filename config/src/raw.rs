//! The file as written: serde structs that mirror the file format one to one.
//! Nothing here is checked beyond shape; `check` turns it into the typed
//! configuration and collects every problem with its key path.

use serde::Deserialize;

pub(crate) use crate::secret_ref::RawSecretRef;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub(crate) server: RawServer,
    pub(crate) admin: Option<RawAdmin>,
    pub(crate) token: Option<RawToken>,
    #[serde(default, rename = "route")]
    pub(crate) routes: Vec<RawRoute>,
    pub(crate) pins: Option<crate::pins::RawPins>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawServer {
    pub(crate) listen: Option<Vec<String>>,
    pub(crate) threads: Option<i64>,
    #[serde(default)]
    pub(crate) tls: Vec<RawTls>,
    pub(crate) grace_period: Option<String>,
    pub(crate) graceful_shutdown_timeout: Option<String>,
    pub(crate) max_header_bytes: Option<i64>,
    pub(crate) upstream_keepalive: Option<i64>,
    pub(crate) access_log: Option<bool>,
    pub(crate) drain_delay: Option<String>,
    pub(crate) runtime_dir: Option<String>,
    pub(crate) upgrade_sock: Option<String>,
    pub(crate) pid_file: Option<String>,
    pub(crate) upstream_ca_file: Option<String>,
    pub(crate) allow_encoded_slash: Option<bool>,
    pub(crate) allow_path_params: Option<bool>,
    pub(crate) path_case: Option<String>,
    pub(crate) strip_request_headers: Option<Vec<String>>,
    pub(crate) hosts_file: Option<String>,
    // Header names as upstreams read them (config/src/headers.rs).
    pub(crate) underscore_headers: Option<String>,
    // Which code serves HTTP/1 requests (config/src/headers.rs).
    pub(crate) http1_path: Option<String>,
    // Connection limits: checked in `limits.rs`.
    pub(crate) request_header_timeout: Option<String>,
    pub(crate) keepalive_timeout: Option<String>,
    pub(crate) h2_idle_timeout: Option<String>,
    pub(crate) send_timeout: Option<String>,
    pub(crate) max_connection_age: Option<String>,
    pub(crate) max_connections: Option<i64>,
    pub(crate) h2_max_concurrent_streams: Option<i64>,
    pub(crate) h2_max_send_buffer: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) listen: String,
    pub(crate) cert: String,
    pub(crate) key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAdmin {
    pub(crate) listen: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawToken {
    pub(crate) header: Option<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) mode: Option<String>,
    pub(crate) algorithms: Option<Vec<String>>,
    pub(crate) leeway: Option<String>,
    pub(crate) max_lifetime: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) binding_headers: Option<Vec<String>>,
    pub(crate) allow_missing_pay: Option<bool>,
    pub(crate) reject_status: Option<i64>,
    pub(crate) cache_capacity: Option<i64>,
    pub(crate) max_token_bytes: Option<i64>,
    pub(crate) query_param: Option<String>,
    pub(crate) message_signing: Option<crate::signing::RawMessageSigning>,
    #[serde(default, rename = "secret")]
    pub(crate) secrets: Vec<RawSecret>,
    pub(crate) jwks: Option<RawJwks>,
}

impl RawToken {
    /// The policy keys of `[token]`, moved out.
    pub(crate) fn take_policy(&mut self) -> crate::policy::RawPolicy {
        crate::policy::RawPolicy {
            header: self.header.take(),
            prefix: self.prefix.take(),
            mode: self.mode.take(),
            algorithms: self.algorithms.take(),
            leeway: self.leeway.take(),
            max_lifetime: self.max_lifetime.take(),
            issuer: self.issuer.take(),
            audience: self.audience.take(),
            binding_headers: self.binding_headers.take(),
            allow_missing_pay: self.allow_missing_pay.take(),
            reject_status: self.reject_status.take(),
            max_token_bytes: self.max_token_bytes.take(),
            query_param: self.query_param.take(),
            message_signing: self.message_signing.take(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecret {
    pub(crate) base64: RawSecretRef,
    pub(crate) kid: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJwks {
    pub(crate) file: Option<String>,
    pub(crate) url: Option<String>,
    pub(crate) refresh: Option<String>,
    pub(crate) min_refetch: Option<String>,
    pub(crate) timeout: Option<String>,
    pub(crate) cache_file: Option<String>,
    pub(crate) watch_interval: Option<String>,
    pub(crate) max_body_bytes: Option<i64>,
    pub(crate) ca_file: Option<String>,
    pub(crate) system_roots: Option<bool>,
    pub(crate) proxy: Option<String>,
    pub(crate) client_cert: Option<String>,
    pub(crate) client_key: Option<String>,
    pub(crate) allow_insecure_http: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub(crate) name: Option<String>,
    pub(crate) path_prefix: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) upstream: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) mode: Option<String>,
    pub(crate) forward_token: Option<bool>,
    pub(crate) protocol: Option<String>,
    pub(crate) connect_timeout: Option<String>,
    pub(crate) resolve_interval: Option<String>,
    pub(crate) read_timeout: Option<String>,
    #[serde(default)]
    pub(crate) substitute: Vec<RawSubstitute>,
    pub(crate) methods_without_token: Option<Vec<String>>,
    pub(crate) policy: Option<crate::policy::RawPolicy>,
    pub(crate) forward_claims: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default)]
    pub(crate) rate_limit: Vec<crate::ratelimit::RawRateLimit>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSubstitute {
    pub(crate) header: Option<String>,
    pub(crate) query: Option<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) placeholder: Option<String>,
    pub(crate) secret: RawSecretRef,
}

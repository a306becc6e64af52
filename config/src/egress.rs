//! `[token.jwks]` egress settings: `ca_file`, `system_roots`, `proxy`,
//! `client_cert`, `client_key`. Files are relative to the config file's
//! folder; each is checked now (readable, holding what it should), with
//! its key path. A proxy URL is never echoed with its credentials.

use attestgate::{EgressOptions, ProxySetting};

use crate::checker::Checker;
use crate::raw::RawJwks;

/// The egress options of `[token.jwks]`, every problem recorded in `c`.
pub(crate) fn check(c: &mut Checker<'_>, j: &RawJwks) -> EgressOptions {
    let proxy = match j.proxy.as_deref().map(str::trim) {
        None => ProxySetting::FromEnv,
        Some("off") => ProxySetting::Off,
        Some("") => {
            c.problem(
                "token.jwks.proxy",
                "empty; give http://host:port, \"off\", or remove it to use HTTPS_PROXY/NO_PROXY",
            );
            ProxySetting::FromEnv
        }
        Some(url) => ProxySetting::Url(url.to_owned()),
    };
    let o = EgressOptions {
        ca_file: j.ca_file.as_deref().map(|f| c.file(f)),
        system_roots: j.system_roots.unwrap_or(false),
        proxy,
        client_cert: j.client_cert.as_deref().map(|f| c.file(f)),
        client_key: j.client_key.as_deref().map(|f| c.file(f)),
    };
    if j.url.is_none() {
        let set = [
            ("ca_file", j.ca_file.is_some()),
            ("system_roots", j.system_roots.is_some()),
            ("proxy", j.proxy.is_some()),
            ("client_cert", j.client_cert.is_some()),
            ("client_key", j.client_key.is_some()),
        ];
        for (name, _) in set.iter().filter(|(_, is)| *is) {
            c.problem(
                format!("token.jwks.{name}"),
                "only used with url; remove it or add url",
            );
        }
        return o;
    }
    if let Err(e) = o.check() {
        c.problem(format!("token.jwks.{}", e.setting), e.message);
    }
    o
}

//! `[token]` and `[token.jwks]`.

use std::time::Duration;

use attestgate::{JwksOptions, Policy};

use crate::checker::Checker;
use crate::raw;
use crate::{SecretConfig, TokenConfig};

pub(super) fn check_token(c: &mut Checker<'_>, mut t: raw::RawToken) -> TokenConfig {
    let policy = crate::policy::apply(c, "token", t.take_policy(), &Policy::default());
    let cache_capacity = c.int_in(
        "token.cache_capacity",
        t.cache_capacity,
        0,
        attestgate::MAX_CACHE_CAPACITY as i64,
        attestgate::DEFAULT_CACHE_CAPACITY as i64,
    ) as u64;
    let mut secrets = Vec::new();
    for (i, s) in t.secrets.into_iter().enumerate() {
        let path = format!("token.secret[{i}].base64");
        let source = c.secret(&path, s.base64);
        // Decode now too, so check-config reports a short or garbled secret.
        if !(c.offline && crate::secret_shape::external(&source))
            && let Ok((written, _)) = source.read_as_written()
        {
            match attestgate::keys::decode_secret_base64(&written) {
                Err(e) => c.problem(path, e.to_string()),
                Ok(_) => {
                    for w in attestgate::keys::secret_warnings(&written) {
                        c.warnings.push(format!("{path}: {w}"));
                    }
                }
            }
        }
        if s.kid.as_deref() == Some("") {
            c.problem(
                format!("token.secret[{i}].kid"),
                "empty; remove it or give the key id",
            );
        }
        secrets.push(SecretConfig {
            base64: source,
            kid: s.kid,
        });
    }
    let jwks = t.jwks.map(|j| check_jwks(c, j));
    if secrets.is_empty()
        && jwks
            .as_ref()
            .is_none_or(|j| j.file.is_none() && j.url.is_none())
    {
        c.problem(
            "token",
            "no key source; add a [[token.secret]] with base64 = { env = \"APPROOV_SECRET\" }, or a [token.jwks] file or url",
        );
    }
    TokenConfig {
        policy,
        cache_capacity,
        secrets,
        jwks,
    }
}

pub(super) fn check_jwks(c: &mut Checker<'_>, j: raw::RawJwks) -> JwksOptions {
    let d = JwksOptions::default();
    let file = j.file.as_deref().map(|f| c.file(f));
    if let Some(f) = &file {
        match std::fs::read(f) {
            Err(e) => c.problem(
                "token.jwks.file",
                format!("cannot read {}: {e}", f.display()),
            ),
            Ok(bytes) => {
                if let Err(e) = attestgate::keys::parse_jwks(&bytes) {
                    c.problem("token.jwks.file", format!("{}: {e}", f.display()));
                }
            }
        }
    }
    let allow_insecure_http = j.allow_insecure_http.unwrap_or(false);
    if let Some(url) = &j.url {
        crate::headers::check_jwks_url(c, url, allow_insecure_http);
    }
    if j.cache_file.is_some() && j.url.is_none() {
        c.problem(
            "token.jwks.cache_file",
            "only used with url; remove it or add url",
        );
    }
    let refresh = c.duration("token.jwks.refresh", j.refresh.as_ref(), d.refresh);
    let min_refetch = c.duration(
        "token.jwks.min_refetch",
        j.min_refetch.as_ref(),
        d.min_refetch,
    );
    let timeout = c.duration("token.jwks.timeout", j.timeout.as_ref(), d.timeout);
    let watch_interval = c.duration(
        "token.jwks.watch_interval",
        j.watch_interval.as_ref(),
        d.watch_interval,
    );
    if refresh < Duration::from_secs(1) {
        c.problem(
            "token.jwks.refresh",
            "below 1s; refetching that often only loads the issuer",
        );
    }
    if min_refetch > refresh {
        c.problem(
            "token.jwks.min_refetch",
            "longer than refresh; it must not exceed it",
        );
    }
    if timeout.is_zero() {
        c.problem("token.jwks.timeout", "must be above zero");
    }
    if watch_interval < Duration::from_millis(10) {
        c.problem("token.jwks.watch_interval", "below 10ms");
    }
    let egress = crate::egress::check(c, &j);
    JwksOptions {
        egress,
        file,
        url: j.url,
        refresh,
        min_refetch,
        timeout,
        cache_file: j.cache_file.as_deref().map(|f| c.file(f)),
        max_body_bytes: c.int_in(
            "token.jwks.max_body_bytes",
            j.max_body_bytes,
            1024,
            64 * 1024 * 1024,
            attestgate::refresh::DEFAULT_MAX_BODY_BYTES as i64,
        ) as usize,
        watch_interval,
        allow_insecure_http,
    }
}

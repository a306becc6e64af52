//! `[[route]]`: upstream, policy, substitutions, forwarded claims.

use std::time::Duration;

use attestgate::Policy;
use http::HeaderName;

use crate::checker::Checker;
use crate::raw;
use crate::{
    RouteConfig, SubstituteConfig, SubstituteTarget, TokenRequirement, Upstream, UpstreamProtocol,
};

pub(super) fn check_upstream(c: &mut Checker<'_>, path: &str, text: &str) -> Upstream {
    if text == "demo" {
        return Upstream::Demo;
    }
    let fallback = Upstream::Demo;
    let Ok(uri) = text.parse::<http::Uri>() else {
        c.problem(
            path,
            format!("{text:?} is not a URL; write it like \"http://127.0.0.1:9000\""),
        );
        return fallback;
    };
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => {
            c.problem(
                path,
                format!("{text:?} must start with http:// or https:// (or be \"demo\")"),
            );
            return fallback;
        }
    };
    let Some(authority) = uri.authority() else {
        c.problem(path, format!("{text:?} has no host"));
        return fallback;
    };
    if authority.as_str().contains('@') {
        c.problem(path, "user info in the upstream URL is not supported");
        return fallback;
    }
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        c.problem(
            path,
            format!("{text:?} has a path or query; requests keep their own path, so give only scheme, host and port"),
        );
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Upstream::Http { tls, host, port }
}

pub(super) fn check_route(
    c: &mut Checker<'_>,
    i: usize,
    r: raw::RawRoute,
    base: Option<&Policy>,
    target_rules: attestgate::target::TargetRules,
) -> RouteConfig {
    let at = |k: &str| format!("route[{i}].{k}");
    let name = r.name.unwrap_or_else(|| {
        c.problem(
            at("name"),
            "missing; every route needs a name (it is the `route` metric label)",
        );
        format!("route-{i}")
    });
    if !name.is_empty()
        && !name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
    {
        c.problem(
            at("name"),
            format!("{name:?}: use letters, digits, '-', '_' and '.' only"),
        );
    }
    let path_prefix = r.path_prefix.unwrap_or_else(|| "/".to_owned());
    if !path_prefix.starts_with('/') {
        c.problem(
            at("path_prefix"),
            format!("{path_prefix:?} must start with '/'"),
        );
    } else if path_prefix.contains('?') {
        c.problem(
            at("path_prefix"),
            format!("{path_prefix:?}: a path prefix cannot hold a query"),
        );
    } else if let Err(why) = attestgate::target::check_prefix(&path_prefix, target_rules) {
        c.problem(at("path_prefix"), why);
    }
    // Matched against the canonical `Host` name (lower case, no trailing
    // dot, port ignored): the same rules make the configured name.
    let host = r
        .host
        .clone()
        .map(|h| match attestgate::target::canonical_host(h.as_bytes()) {
            Ok(canon) if canon.port().is_none() => canon.name().to_owned(),
            _ => {
                c.problem(
                    at("host"),
                    format!(
                        "{h:?} is not a host name (no port, no scheme), e.g. \"api.example.com\""
                    ),
                );
                h
            }
        });
    let upstream = match &r.upstream {
        Some(u) => check_upstream(c, &at("upstream"), u),
        None => {
            c.problem(
                at("upstream"),
                "missing; give \"http://host:port\", \"https://host\" or \"demo\"",
            );
            Upstream::Demo
        }
    };
    let token = match r.token.as_deref() {
        None | Some("required") => TokenRequirement::Required,
        Some("optional") => TokenRequirement::Optional,
        Some("off") => TokenRequirement::Off,
        Some(other) => {
            c.problem(
                at("token"),
                format!("{other:?}: use \"required\", \"optional\" or \"off\""),
            );
            TokenRequirement::Required
        }
    };
    let protocol = match r.protocol.as_deref() {
        None | Some("auto") => UpstreamProtocol::Auto,
        Some("http1") => UpstreamProtocol::Http1,
        Some("h2") => UpstreamProtocol::H2,
        Some(other) => {
            c.problem(
                at("protocol"),
                format!("{other:?}: use \"auto\", \"http1\" or \"h2\""),
            );
            UpstreamProtocol::Auto
        }
    };
    if protocol == UpstreamProtocol::H2 && upstream == Upstream::Demo {
        c.problem(
            at("protocol"),
            "the demo upstream speaks HTTP/1.1 only; remove protocol or set it to \"auto\"",
        );
    }
    let policy = route_policy(
        c,
        i,
        &name,
        token,
        (r.policy, r.mode, r.methods_without_token),
        base,
    );
    let token_header = base.map(|_| &policy.header);
    let connect_timeout = c.duration(
        &at("connect_timeout"),
        r.connect_timeout.as_ref(),
        Duration::from_secs(2),
    );
    let read_timeout = c.duration(
        &at("read_timeout"),
        r.read_timeout.as_ref(),
        Duration::from_secs(30),
    );
    let resolve_interval = r.resolve_interval.as_ref().map(|v| {
        let d = c.duration(&at("resolve_interval"), Some(v), Duration::from_secs(30));
        if d < Duration::from_millis(100) {
            c.problem(
                at("resolve_interval"),
                "below 100ms; resolving that often only loads the resolver",
            );
        }
        d
    });
    if resolve_interval.is_some()
        && match &upstream {
            Upstream::Demo => true,
            Upstream::Http { host, .. } => host.parse::<std::net::IpAddr>().is_ok(),
        }
    {
        c.problem(
            at("resolve_interval"),
            "the upstream is not a host name, so there is nothing to resolve; remove resolve_interval",
        );
    }
    for (k, d) in [
        ("connect_timeout", connect_timeout),
        ("read_timeout", read_timeout),
    ] {
        if d.is_zero() {
            c.problem(at(k), "must be above zero");
        }
    }
    let mut substitute = Vec::new();
    for (j, s) in r.substitute.into_iter().enumerate() {
        let sat = |k: &str| format!("route[{i}].substitute[{j}].{k}");
        let secret = c.secret(&sat("secret"), s.secret);
        let target = match (s.header, s.query) {
            (Some(h), None) => c.header(&sat("header"), &h).map(SubstituteTarget::Header),
            (None, Some(q)) if !q.is_empty() => {
                if s.prefix.is_some() {
                    c.problem(sat("prefix"), "only for header substitutions");
                }
                Some(SubstituteTarget::Query(q))
            }
            _ => {
                c.problem(
                    format!("route[{i}].substitute[{j}]"),
                    "give exactly one of header = \"...\" or query = \"...\"",
                );
                None
            }
        };
        if let (Some(SubstituteTarget::Header(h)), Some(th)) = (&target, token_header)
            && h == th
        {
            c.problem(
                sat("header"),
                "is the token header; substitute another header",
            );
        }
        let placeholder = s.placeholder.unwrap_or_default();
        if placeholder.is_empty() {
            c.problem(
                sat("placeholder"),
                "missing or empty; give the placeholder value the app ships",
            );
        }
        if let Some(target) = target {
            if substitute
                .iter()
                .any(|o: &SubstituteConfig| o.target == target)
            {
                c.problem(
                    sat("header"),
                    "this header or query parameter is already substituted in this route",
                );
            }
            substitute.push(SubstituteConfig {
                target,
                prefix: s.prefix.unwrap_or_default(),
                placeholder,
                secret,
            });
        }
    }
    if token == TokenRequirement::Off && !substitute.is_empty() {
        c.problem(
            at("substitute"),
            "this route has token = \"off\", and a route without a token check never gets secrets; remove the substitutions or set token = \"required\"",
        );
    }
    let forward_claims = check_forward_claims(c, i, r.forward_claims, &policy, &substitute);
    let rate_limits = crate::ratelimit::check(c, i, r.rate_limit, base.is_some());
    RouteConfig {
        name,
        path_prefix,
        host,
        upstream,
        token,
        policy,
        forward_claims,
        forward_token: r.forward_token.unwrap_or(false),
        protocol,
        connect_timeout,
        resolve_interval,
        read_timeout,
        substitute,
        rate_limits,
    }
}

/// The route's policy: `[token]`'s (or the defaults), `[route.policy]`
/// applied, then the route's own `token`, `mode` and
/// `methods_without_token`.
pub(super) fn route_policy(
    c: &mut Checker<'_>,
    i: usize,
    name: &str,
    token: TokenRequirement,
    (raw_policy, mode, methods): (
        Option<crate::policy::RawPolicy>,
        Option<String>,
        Option<Vec<String>>,
    ),
    base: Option<&Policy>,
) -> Policy {
    let at = |k: &str| format!("route[{i}].{k}");
    let base = base.cloned().unwrap_or_default();
    let mut policy = match raw_policy {
        Some(raw) => {
            if token == TokenRequirement::Off {
                c.warnings.push(format!(
                    "{}: the route has token = \"off\", so its policy is never used",
                    at("policy")
                ));
            }
            crate::policy::apply(c, &at("policy"), raw, &base)
        }
        None => base,
    };
    policy.name = name.to_owned();
    policy.token = token;
    policy.mode = c.mode(&at("mode"), mode.as_deref(), policy.mode);
    for (j, m) in methods.iter().flatten().enumerate() {
        match http::Method::from_bytes(m.as_bytes()) {
            Ok(method) if m.bytes().all(|b| b.is_ascii_uppercase()) => {
                policy.methods_without_token.push(method);
            }
            _ => c.problem(
                format!("route[{i}].methods_without_token[{j}]"),
                format!("{m:?} is not a method; write it in capitals, e.g. \"OPTIONS\""),
            ),
        }
    }
    policy
}

pub(super) fn check_forward_claims(
    c: &mut Checker<'_>,
    i: usize,
    raw: Option<std::collections::BTreeMap<String, String>>,
    policy: &Policy,
    substitute: &[SubstituteConfig],
) -> Vec<(HeaderName, String)> {
    let mut out = Vec::new();
    for (header, claim) in raw.unwrap_or_default() {
        let at = format!("route[{i}].forward_claims.{header:?}");
        let Some(h) = c.header(&at, &header) else {
            continue;
        };
        if claim.is_empty() {
            c.problem(
                &at,
                "empty claim name; give the claim to send, e.g. \"did\"",
            );
        }
        let clashes = h == policy.header
            || policy.binding_headers.contains(&h)
            || substitute
                .iter()
                .any(|s| s.target == SubstituteTarget::Header(h.clone()));
        if clashes {
            c.problem(
                &at,
                "is also the token, a binding or a substituted header; forward the claim in a header of its own",
            );
        }
        if matches!(
            h.as_str(),
            "host" | "content-length" | "transfer-encoding" | "connection"
        ) {
            c.problem(
                &at,
                "is a framing header; pick another name, e.g. \"X-Approov-Did\"",
            );
        }
        out.push((h, claim));
    }
    out
}

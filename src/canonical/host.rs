//! `Host` (and `:authority`, and an absolute-form target's authority).
//!
//! One value: a host name (letters, digits, `-`, `_`, dot-separated
//! non-empty labels, at most 253 bytes), an IPv4 address, or an IPv6
//! address in brackets; then optionally `:` and a port of 1 to 5 digits up
//! to 65535. One trailing dot is removed (`api.example.` is `api.example`),
//! letters are lower-cased. Anything else (an empty value, `%`, userinfo,
//! `host:abc`, `host:`, a second trailing dot, spaces) is refused.

use super::TargetRefusal;

/// A checked host, lower-case, without a trailing dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Host {
    name: String,
    port: Option<u16>,
}

impl Host {
    /// The name (IPv6 addresses without brackets).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The port, if one was given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// `name[:port]` as an authority (an IPv6 address in brackets).
    pub fn to_authority(&self) -> String {
        let name = if self.name.contains(':') {
            format!("[{}]", self.name)
        } else {
            self.name.clone()
        };
        match self.port {
            Some(p) => format!("{name}:{p}"),
            None => name,
        }
    }

    /// Whether two hosts name the same origin, a missing port standing for
    /// `default_port`.
    pub fn same_origin(&self, other: &Host, default_port: u16) -> bool {
        self.name == other.name
            && self.port.unwrap_or(default_port) == other.port.unwrap_or(default_port)
    }
}

/// Checks and normalises a `Host` value.
pub fn canonical_host(value: &[u8]) -> Result<Host, TargetRefusal> {
    let (name, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let close = rest
            .iter()
            .position(|&b| b == b']')
            .ok_or(TargetRefusal::Host)?;
        let inside = std::str::from_utf8(&rest[..close]).map_err(|_| TargetRefusal::Host)?;
        let ip: std::net::Ipv6Addr = inside.parse().map_err(|_| TargetRefusal::Host)?;
        let port = match &rest[close + 1..] {
            [] => None,
            [b':', digits @ ..] => Some(port(digits)?),
            _ => return Err(TargetRefusal::Host),
        };
        (ip.to_string(), port)
    } else {
        let (name, port) = match value.iter().rposition(|&b| b == b':') {
            Some(i) => (&value[..i], Some(port(&value[i + 1..])?)),
            None => (value, None),
        };
        (reg_name(name)?, port)
    };
    Ok(Host { name, port })
}

fn port(digits: &[u8]) -> Result<u16, TargetRefusal> {
    if digits.is_empty() || digits.len() > 5 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(TargetRefusal::Host);
    }
    let n = digits
        .iter()
        .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
    match u16::try_from(n) {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(TargetRefusal::Host),
    }
}

fn reg_name(name: &[u8]) -> Result<String, TargetRefusal> {
    let name = name.strip_suffix(b".").unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err(TargetRefusal::Host);
    }
    for label in name.split(|&b| b == b'.') {
        if label.is_empty()
            || label.len() > 63
            || !label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(TargetRefusal::Host);
        }
    }
    // Only ASCII got here.
    Ok(String::from_utf8_lossy(name).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> Result<(String, Option<u16>), TargetRefusal> {
        canonical_host(v.as_bytes()).map(|h| (h.name, h.port))
    }

    #[test]
    fn hosts() {
        for (v, name, port) in [
            ("api.example.com", "api.example.com", None),
            ("API.Example.COM", "api.example.com", None),
            ("secure.example.", "secure.example", None),
            ("secure.example.:8443", "secure.example", Some(8443)),
            ("127.0.0.1:8080", "127.0.0.1", Some(8080)),
            ("[::1]", "::1", None),
            ("[::FFFF:1.2.3.4]:443", "::ffff:1.2.3.4", Some(443)),
            ("a_b-c", "a_b-c", None),
            ("localhost:65535", "localhost", Some(65535)),
        ] {
            assert_eq!(h(v), Ok((name.to_owned(), port)), "{v}");
        }
        for bad in [
            "",
            ".",
            "a..b",
            ".a",
            "a..",
            "secure.example:abc",
            "secure.example:",
            "h:0",
            "h:65536",
            "h:123456",
            "h:+80",
            "u@h",
            "h h",
            "h%2ex",
            "h/x",
            "h\\x",
            "[::1",
            "[::1]x",
            "[::1]:",
            "[zz::1]",
            "::1",
            "h:80:80",
            "\u{e9}.example",
            "a,b",
        ] {
            assert_eq!(h(bad), Err(TargetRefusal::Host), "{bad:?}");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert_eq!(h(&long), Err(TargetRefusal::Host));
    }

    #[test]
    fn origins() {
        let a = canonical_host(b"h").unwrap();
        let b = canonical_host(b"H.:80").unwrap();
        assert!(a.same_origin(&b, 80));
        assert!(!a.same_origin(&b, 443));
    }
}

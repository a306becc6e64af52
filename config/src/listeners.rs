//! No two listeners may bind the same address and port.
//!
//! Proxy listeners open one `SO_REUSEPORT` socket per worker, so a second
//! listener on the same address would not fail to bind: the kernel would
//! split connections between the two, and serve one kind's traffic on the
//! other (the admin's `/metrics` on the public port, or API calls answered
//! by the admin). A wildcard address (`0.0.0.0`, and `[::]`, which on
//! Linux also takes IPv4 unless `net.ipv6.bindv6only = 1`) overlaps every
//! specific address of its family on the same port; an IPv4-mapped IPv6
//! address (`[::ffff:127.0.0.1]`) is the IPv4 address it maps.

use std::net::{IpAddr, SocketAddr};

use crate::AdminConfig;
use crate::ServerConfig;
use crate::checker::Checker;

/// The address the kernel binds: an IPv4-mapped IPv6 address is IPv4.
fn canonical(a: SocketAddr) -> (IpAddr, u16) {
    let ip = match a.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    (ip, a.port())
}

/// Whether two listen addresses would take the same connections.
pub(crate) fn overlap(a: SocketAddr, b: SocketAddr) -> bool {
    let (ia, pa) = canonical(a);
    let (ib, pb) = canonical(b);
    if pa != pb {
        return false;
    }
    let covers = |wide: IpAddr, other: IpAddr| match wide {
        // Dual-stack `[::]` takes every address, IPv4 included.
        IpAddr::V6(w) if w.is_unspecified() => true,
        IpAddr::V4(w) if w.is_unspecified() => other.is_ipv4(),
        _ => false,
    };
    ia == ib || covers(ia, ib) || covers(ib, ia)
}

/// Every listener with its key path, in file order: `server.listen[i]`,
/// `server.tls[i].listen`, `admin.listen`.
fn keyed(server: &ServerConfig, admin: Option<&AdminConfig>) -> Vec<(String, SocketAddr)> {
    let plain = server
        .listen
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("server.listen[{i}]"), *a));
    let tls = server
        .tls
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("server.tls[{i}].listen"), t.listen));
    let admin = admin.map(|a| ("admin.listen".to_owned(), a.listen));
    plain.chain(tls).chain(admin).collect()
}

/// Records a problem for each listener that overlaps an earlier one.
pub(crate) fn check(c: &mut Checker<'_>, server: &ServerConfig, admin: Option<&AdminConfig>) {
    let all = keyed(server, admin);
    for (j, (key, addr)) in all.iter().enumerate() {
        let Some((earlier, their)) = all[..j].iter().find(|(_, b)| overlap(*addr, *b)) else {
            continue;
        };
        let same = if addr == their {
            "the same address and port".to_owned()
        } else {
            format!("{their}, which overlaps it on the same port")
        };
        let fix = if key == "admin.listen" || earlier == "admin.listen" {
            "the kernel would split connections between the admin and the proxy (serving /metrics on the public port); give the admin a port of its own"
        } else {
            "both would take the same connections; listen on each address once"
        };
        c.problem(
            key.clone(),
            format!("{addr} is also {earlier} ({same}): {fix}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(a: &str, b: &str) -> bool {
        let a: SocketAddr = a.parse().unwrap_or_else(|_| panic!("{a}"));
        let b: SocketAddr = b.parse().unwrap_or_else(|_| panic!("{b}"));
        assert_eq!(overlap(a, b), overlap(b, a), "{a} {b} symmetric");
        overlap(a, b)
    }

    #[test]
    fn overlaps() {
        for (a, b, want) in [
            ("127.0.0.1:80", "127.0.0.1:80", true),
            ("127.0.0.1:80", "127.0.0.1:81", false),
            ("127.0.0.1:80", "127.0.0.2:80", false),
            ("0.0.0.0:80", "127.0.0.1:80", true),
            ("0.0.0.0:80", "0.0.0.0:80", true),
            ("0.0.0.0:80", "0.0.0.0:81", false),
            ("[::]:80", "127.0.0.1:80", true),
            ("[::]:80", "0.0.0.0:80", true),
            ("[::]:80", "[::1]:80", true),
            ("0.0.0.0:80", "[::1]:80", false),
            ("[::1]:80", "[::1]:80", true),
            ("[::1]:80", "[::2]:80", false),
            ("[::ffff:127.0.0.1]:80", "127.0.0.1:80", true),
            ("[::ffff:127.0.0.1]:80", "0.0.0.0:80", true),
            ("[::ffff:127.0.0.1]:80", "127.0.0.2:80", false),
            ("[::ffff:0.0.0.0]:80", "10.0.0.1:80", true),
        ] {
            assert_eq!(o(a, b), want, "{a} {b}");
        }
    }
}

//! The runtime layout: one single-threaded Pingora service per worker
//! thread, each with its own listening socket (`SO_REUSEPORT`) on every
//! configured address, its own accept loop and its own upstream
//! connection pool.
//!
//! Why not one service with `threads = N` (Pingora's default)? Measured
//! with `strace -c -f` and CPU time per request under `wrk -t1 -c64`
//! (docs/PERFORMANCE.md, "Where a request's time goes"), that layout wakes
//! another thread about twice per request: the one accept loop hands each
//! connection to a random thread while its socket stays registered with
//! the accepting thread's reactor, and the shared upstream pool parks each
//! released connection on a task spawned on a random thread, so the next
//! request that reuses it waits for that thread (and often gives up and
//! opens a new connection). One service per thread keeps a connection, its
//! reactor and its upstream connections on one thread: no cross-thread
//! wake-ups, no upstream reconnects, ~13 % less CPU per request.
//!
//! Pingora keys listening sockets by their address *string* (for graceful
//! upgrades, which hand the sockets to the new process by that key), and
//! would give every service the same socket under the same key. Worker `i`
//! therefore names its socket with the port written with `i` leading
//! zeros (`127.0.0.1:8080`, `127.0.0.1:08080`, ...): the same address to
//! the kernel, a distinct key to Pingora. Each socket is its own, so each
//! service closes only its own at shutdown (one socket shared by several
//! owners would be closed once per owner: the later closes could hit an
//! unrelated descriptor that reused the number).
//!
//! `SO_REUSEPORT` would also let a second, unrelated process bind the same
//! port and silently take a share of the traffic; [`ensure_free`] refuses
//! to start when the port is already taken (except for `serve --upgrade`,
//! which takes the running process's sockets over).

use std::net::SocketAddr;

use pingora_core::listeners::TcpSocketOptions;

/// The listener key of worker `index` for `addr`: the port with `index`
/// leading zeros.
pub(crate) fn listener_name(addr: SocketAddr, index: usize) -> String {
    let ip = match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
    };
    format!("{ip}:{}{}", "0".repeat(index), addr.port())
}

/// Socket options for every worker's listener.
pub(crate) fn socket_options() -> TcpSocketOptions {
    let mut options = TcpSocketOptions::default();
    options.so_reuseport = Some(true);
    options
}

/// Fails when another process listens on `addr`: with `SO_REUSEPORT` it
/// would otherwise share the port with us unnoticed. A plain bind (no
/// `SO_REUSEPORT`) fails on a port that has a listener.
pub(crate) fn ensure_free(addr: SocketAddr) -> Result<(), String> {
    if addr.port() == 0 {
        // Each worker would get a different port.
        return Err(format!(
            "{addr}: port 0 is not supported; name the port to listen on"
        ));
    }
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
            "{addr}: the port is in use; is another attestgate (or another server) running on it? \
             Stop it, or start this one with `serve --upgrade` to take its sockets over"
        )),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(format!(
            "{addr}: cannot listen ({e}); ports below 1024 need root or CAP_NET_BIND_SERVICE"
        )),
        Err(e) => Err(format!(
            "{addr}: cannot listen ({e}); is it an address of this host?"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_keys_differ_and_name_the_same_address() {
        for addr in ["127.0.0.1:8080", "[::1]:443", "0.0.0.0:1"] {
            let addr: SocketAddr = addr.parse().unwrap();
            let names: Vec<String> = (0..8).map(|i| listener_name(addr, i)).collect();
            assert_eq!(names[0], addr.to_string());
            for (i, n) in names.iter().enumerate() {
                assert_eq!(n.parse::<SocketAddr>().unwrap(), addr, "{n}");
                assert!(!names[..i].contains(n), "{n} repeated");
            }
        }
    }

    #[test]
    fn a_port_in_use_is_refused_with_what_to_do() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let e = ensure_free(addr).unwrap_err();
        assert!(
            e.contains(&addr.to_string()) && e.contains("--upgrade"),
            "{e}"
        );
        drop(held);
        assert!(ensure_free(addr).is_ok());
        assert!(ensure_free("127.0.0.1:0".parse().unwrap()).is_err());
    }

    #[test]
    fn an_address_of_another_host_is_refused_as_such() {
        // 192.0.2.0/24 is TEST-NET-1: never an address of this host.
        let e = ensure_free("192.0.2.1:8080".parse().unwrap()).unwrap_err();
        assert!(
            e.starts_with("192.0.2.1:8080") && e.contains("address of this host"),
            "{e}"
        );
    }
}

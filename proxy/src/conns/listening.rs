//! Is every configured listener listening? `/healthz` and `/readyz` ask
//! [`Listening::health`]; every worker's sweeper asks periodically, and a
//! listener lost while serving stops the process ([`fail`]): Pingora's
//! accept loop would spin on the dead socket, and a half-alive process must
//! not look healthy.
//!
//! The check: each worker's socket for each address is in Pingora's table
//! of listening descriptors (the one `--upgrade` hands over), its
//! `/proc/self/fd` link names its socket inode, and `/proc/self/net/tcp`
//! (or `tcp6`) lists that inode in state `0A` (LISTEN). The kernel lists
//! listening sockets first, so the read stops after a few lines.

use std::collections::HashSet;
use std::io::BufRead;
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};

use pingora_core::server::ListenFds;

use super::Pool;

/// Why the process stopped serving, once it has.
static FAILED: OnceLock<String> = OnceLock::new();

/// The reason the process is failing, if it is.
pub(crate) fn failure() -> Option<&'static str> {
    FAILED.get().map(String::as_str)
}

/// One configured listener.
pub(crate) struct Listener {
    /// Its key path, e.g. `server.tls[0].listen`.
    pub(crate) key: String,
    /// The address as configured.
    pub(crate) addr: String,
    /// What it is and serves, for the start-up line.
    pub(crate) what: String,
    /// Pingora's name of each worker's socket (worker index, name); empty
    /// for a listener that is not a TCP socket (the demo's Unix socket).
    pub(crate) sockets: Vec<(usize, String)>,
}

/// Every listener of the process.
pub(crate) struct Listening {
    pub(crate) listeners: Vec<Listener>,
    fds: OnceLock<ListenFds>,
    announced: AtomicBool,
    misses: AtomicU32,
    /// Raise SIGTERM at ourselves when a listener is lost (the binary: a
    /// drain, then exit 1); in-process servers only report it.
    stop_on_failure: bool,
    no_proc: AtomicBool,
}

impl Listening {
    pub(crate) fn new(listeners: Vec<Listener>, stop_on_failure: bool) -> Listening {
        Listening {
            listeners,
            fds: OnceLock::new(),
            announced: AtomicBool::new(false),
            misses: AtomicU32::new(0),
            stop_on_failure,
            no_proc: AtomicBool::new(false),
        }
    }

    /// Pingora's table of listening descriptors (the same for every service).
    pub(crate) fn set_fds(&self, fds: ListenFds) {
        let _ = self.fds.set(fds);
    }

    /// `Ok` when every worker's socket of every listener is listening.
    fn sockets(&self) -> Result<(), String> {
        let Some(fds) = self.fds.get() else {
            return Err("the listeners are not open yet".into());
        };
        let mut want: Vec<(u64, &Listener, usize)> = Vec::new();
        for l in &self.listeners {
            for (worker, name) in &l.sockets {
                let fd = fds.lock().get(name).copied();
                let Some(fd) = fd else {
                    return Err(format!(
                        "{} ({}): worker {worker} has not opened its socket",
                        l.key, l.addr
                    ));
                };
                match inode_of(fd) {
                    Some(inode) => want.push((inode, l, *worker)),
                    None if !std::path::Path::new("/proc/self/fd").is_dir() => {
                        if !self.no_proc.swap(true, Relaxed) {
                            tracing::warn!(
                                "/proc is not mounted: listener liveness is not checked"
                            );
                        }
                        return Ok(());
                    }
                    None => {
                        return Err(format!(
                            "{} ({}): worker {worker}'s socket is closed",
                            l.key, l.addr
                        ));
                    }
                }
            }
        }
        let inodes: HashSet<u64> = want.iter().map(|w| w.0).collect();
        let up = listening_among(&inodes);
        match want.iter().find(|w| !up.contains(&w.0)) {
            None => Ok(()),
            Some((_, l, worker)) => Err(format!(
                "{} ({}): worker {worker}'s socket is not listening",
                l.key, l.addr
            )),
        }
    }

    /// For `/healthz` and `/readyz`: `Err(why)` when the process is not
    /// serving on every listener (skipped while it drains or stops).
    pub(crate) fn health(&self, pool: &Pool, draining: bool) -> Result<(), String> {
        if let Some(why) = failure() {
            return Err(why.to_owned());
        }
        if draining || pool.is_stopping() {
            return Ok(());
        }
        self.sockets()?;
        let limit = (pool.deadlines.tick * 10).max(std::time::Duration::from_secs(5));
        for (worker, age) in pool.heartbeat_ages().into_iter().enumerate() {
            match age {
                None => return Err(format!("worker {worker} has not started")),
                Some(ms) if u128::from(ms) > limit.as_millis() => {
                    return Err(format!(
                        "worker {worker} has not run for {:.1}s",
                        ms as f64 / 1000.0
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Called by every worker's sweeper (any of them may be the one whose
    /// listener spins): logs one line per listener once all are up;
    /// afterwards, a listener found lost twice in a row stops the process.
    pub(crate) fn watch(&self, pool: &Pool) {
        if pool.is_stopping() || failure().is_some() {
            return;
        }
        match self.sockets() {
            Ok(()) => {
                self.misses.store(0, Relaxed);
                if !self.announced.swap(true, Relaxed) {
                    for l in &self.listeners {
                        tracing::info!("listening on {} ({}): {}", l.addr, l.key, l.what);
                    }
                }
            }
            Err(_) if !self.announced.load(Relaxed) => {}
            Err(why) => {
                if self.misses.fetch_add(1, Relaxed) >= 1 {
                    self.fail(why);
                }
            }
        }
    }

    fn fail(&self, why: String) {
        let why = format!("{why}; the process stops so that it can be restarted");
        if FAILED.set(why.clone()).is_ok() {
            tracing::error!("{why}");
            if self.stop_on_failure {
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM);
            }
        }
    }
}

/// The socket inode behind descriptor `fd`.
fn inode_of(fd: RawFd) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let link = link.to_str()?;
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Which of `inodes` are TCP sockets in state LISTEN.
fn listening_among(inodes: &HashSet<u64>) -> HashSet<u64> {
    let mut found = HashSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(file) = std::fs::File::open(table) else {
            continue;
        };
        for line in std::io::BufReader::new(file).lines().skip(1) {
            let Ok(line) = line else { break };
            if let Some((inode, true)) = parse_line(&line)
                && inodes.contains(&inode)
            {
                found.insert(inode);
                if found.len() == inodes.len() {
                    return found;
                }
            }
        }
    }
    found
}

/// A `/proc/net/tcp` line: the socket's inode, and whether it listens.
fn parse_line(line: &str) -> Option<(u64, bool)> {
    let f: Vec<&str> = line.split_whitespace().collect();
    Some((f.get(9)?.parse().ok()?, *f.get(3)? == "0A"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lines() {
        let listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0";
        let established = "   1: 0100007F:1F90 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 654321 1 0000000000000000 20 4 30 10 -1";
        assert_eq!(parse_line(listen), Some((123456, true)));
        assert_eq!(parse_line(established), Some((654321, false)));
        assert_eq!(parse_line("  sl  local_address rem_address   st"), None);
    }

    #[test]
    fn a_listening_socket_of_this_process_is_found_and_a_closed_one_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = inode_of(std::os::fd::AsRawFd::as_raw_fd(&l)).unwrap();
        let want: HashSet<u64> = [inode].into();
        assert_eq!(listening_among(&want), want);
        drop(l);
        assert!(listening_among(&want).is_empty());
    }
}

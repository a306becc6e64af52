//! The descriptor limit: raised to the hard limit at start, and the
//! default `max_connections` taken from it.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// `RLIMIT_NOFILE` at start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Descriptors {
    /// The soft limit the process was started with.
    pub(crate) before: u64,
    /// The soft limit now.
    pub(crate) soft: u64,
    /// The hard limit.
    pub(crate) hard: u64,
}

/// Raises the soft limit to the hard one (a no-op when they are equal),
/// and logs both. `None` if the limit cannot be read.
pub(crate) fn raise() -> Option<Descriptors> {
    let (before, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    let soft = if before < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        hard
    } else {
        before
    };
    let d = Descriptors { before, soft, hard };
    if soft > before {
        tracing::info!("descriptor limit: soft {before} raised to the hard limit {hard}");
    } else {
        tracing::info!("descriptor limit: soft {soft}, hard {hard}");
    }
    Some(d)
}

/// The default cap on client connections: half the descriptors, less 64
/// (each active client connection may hold an upstream connection; the 64
/// are for listeners, the admin, files and key fetches), and at least 16.
pub(crate) fn default_max_connections(soft: u64) -> usize {
    let n = (soft / 2).saturating_sub(64).clamp(16, 10_000_000);
    usize::try_from(n).unwrap_or(10_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_less_64_at_least_16() {
        assert_eq!(default_max_connections(1024), 448);
        assert_eq!(default_max_connections(256), 64);
        assert_eq!(default_max_connections(100), 16);
        assert_eq!(default_max_connections(1 << 20), 524_224);
        assert_eq!(default_max_connections(u64::MAX), 10_000_000);
    }
}

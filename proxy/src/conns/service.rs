//! Runs a Pingora listening service so that the process serves or is gone.
//!
//! Pingora builds a service's listeners when the service starts and
//! panics if it cannot (`Failed to build listeners`); the panic ends that
//! service's task only, and the process used to go on without the listener
//! while its health checks said healthy. [`Guard`] runs the service in a
//! task of its own: if it panics, the process exits with code 2 and one
//! line saying which listeners could not be opened. Pingora retries a
//! port in use for 30 seconds before it gives up; a worker whose sockets
//! are not open [`OPEN_WITHIN`] after it started ends the process the same
//! way, with the reason a bind gives. It also starts the worker's sweeper.

use std::sync::Arc;

use async_trait::async_trait;
use pingora_core::server::{ListenFds, ShutdownWatch};
use pingora_core::services::Service as ServiceTrait;

use super::Pool;
use super::listening::Listening;

/// The exit code when listeners cannot be opened (as for `serve`'s other
/// start-up refusals).
pub(crate) const EXIT_LISTEN: i32 = 2;

/// How long a worker may take to open its sockets (it takes microseconds).
const OPEN_WITHIN: std::time::Duration = std::time::Duration::from_millis(750);

/// One socket a worker must open.
pub(crate) struct Socket {
    /// Its key path.
    pub(crate) key: String,
    pub(crate) addr: std::net::SocketAddr,
    /// Pingora's name for it.
    pub(crate) name: String,
    /// Opened with `SO_REUSEPORT` (the proxy's, one per worker).
    pub(crate) reuseport: bool,
}

impl Socket {
    /// Why it cannot be opened, as a bind like Pingora's says.
    async fn why_not(&self) -> String {
        let try_bind = || -> std::io::Result<()> {
            let s = if self.addr.is_ipv4() {
                tokio::net::TcpSocket::new_v4()?
            } else {
                tokio::net::TcpSocket::new_v6()?
            };
            s.set_reuseaddr(true)?;
            s.set_reuseport(self.reuseport)?;
            s.bind(self.addr)
        };
        match try_bind() {
            Err(e) => format!("{} ({}): {e}", self.key, self.addr),
            Ok(()) => format!(
                "{} ({}): not open {}ms after the worker started",
                self.key,
                self.addr,
                OPEN_WITHIN.as_millis()
            ),
        }
    }
}

/// A listening service, guarded.
pub(crate) struct Guard<S> {
    inner: Option<S>,
    name: String,
    /// What the service listens on, for the exit line.
    what: String,
    /// The worker's pool, for its sweeper.
    pool: Option<(Arc<Pool>, usize)>,
    /// The sockets it must open.
    sockets: Vec<Socket>,
    listening: Arc<Listening>,
    /// This worker reports dropped Pingora log lines (worker 0 of the
    /// proxy).
    reports_floods: bool,
}

impl<S> Guard<S> {
    pub(crate) fn new(
        inner: S,
        name: &str,
        what: String,
        pool: Option<(Arc<Pool>, usize)>,
        sockets: Vec<Socket>,
        listening: Arc<Listening>,
        reports_floods: bool,
    ) -> Guard<S> {
        Guard {
            inner: Some(inner),
            name: name.to_owned(),
            what,
            pool,
            sockets,
            listening,
            reports_floods,
        }
    }
}

/// The text of a panic's payload, on one line.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Panics are logged as one error line (where, and the message), never as
/// the default multi-line text with a backtrace hint.
pub fn one_line_panics() {
    std::panic::set_hook(Box::new(|info| {
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            target: "attestgate::panic",
            thread = thread.name().unwrap_or("?"),
            at,
            "panic: {}",
            panic_text(info.payload())
        );
    }));
}

#[async_trait]
impl<S: ServiceTrait + Send + 'static> ServiceTrait for Guard<S> {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        shutdown: ShutdownWatch,
        listeners_per_fd: usize,
    ) {
        let Some(mut inner) = self.inner.take() else {
            return;
        };
        if let Some(fds) = &fds {
            self.listening.set_fds(fds.clone());
        }
        let sweeper = self.pool.clone().map(|(pool, worker)| {
            tokio::spawn(super::sweep::run(
                pool,
                worker,
                shutdown.clone(),
                self.listening.clone(),
                self.reports_floods,
            ))
        });
        let table = fds.clone();
        let mut service = tokio::spawn(async move {
            inner.start_service(fds, shutdown, listeners_per_fd).await;
        });
        let opened = async {
            let deadline = tokio::time::Instant::now() + OPEN_WITHIN;
            loop {
                let missing = match &table {
                    Some(t) => {
                        let t = t.lock();
                        self.sockets.iter().find(|s| t.get(&s.name).is_none())
                    }
                    None => None,
                };
                let Some(socket) = missing else {
                    return std::future::pending::<()>().await;
                };
                if tokio::time::Instant::now() >= deadline {
                    let why = socket.why_not().await;
                    tracing::error!("{}: cannot listen: {why}; exiting", self.what);
                    std::process::exit(EXIT_LISTEN);
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        };
        let ended = tokio::select! {
            ended = &mut service => ended,
            () = opened => return,
        };
        if let Err(e) = ended
            && e.is_panic()
        {
            let why = panic_text(&*e.into_panic());
            tracing::error!("{}: cannot listen: {why}; exiting", self.what);
            std::process::exit(EXIT_LISTEN);
        }
        if let Some(s) = sweeper {
            s.abort();
        }
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn threads(&self) -> Option<usize> {
        Some(1)
    }

    fn listen_addresses(&self) -> Option<Vec<String>> {
        self.inner.as_ref().and_then(ServiceTrait::listen_addresses)
    }
}

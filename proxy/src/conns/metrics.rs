//! The connection metrics. Label values come from the closed list of
//! [`Reason`]s only.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use super::verdict::Reason;

/// `attestgate_connections_*` and `attestgate_descriptors_limit`.
#[derive(Clone)]
pub(crate) struct ConnMetrics {
    /// `attestgate_connections_open`.
    pub(crate) open: IntGauge,
    /// `attestgate_connections_max`: `max_connections`.
    pub(crate) max: IntGauge,
    /// `attestgate_connections_closed_total{reason}`.
    pub(crate) closed: IntCounterVec,
    /// `attestgate_connections_refused_total`.
    pub(crate) refused: IntCounter,
    /// `attestgate_descriptors_limit`: the soft `RLIMIT_NOFILE`.
    pub(crate) descriptors: IntGauge,
    /// `attestgate_tasks`: tasks alive in the proxy's worker runtimes.
    pub(crate) tasks: IntGauge,
}

impl ConnMetrics {
    pub(crate) fn register(r: &Registry) -> Result<ConnMetrics, prometheus::Error> {
        let m = ConnMetrics {
            open: IntGauge::new(
                "attestgate_connections_open",
                "Client connections open now on the proxy listeners (TLS handshakes included)",
            )?,
            max: IntGauge::new(
                "attestgate_connections_max",
                "max_connections: beyond it an idle connection is closed to make room, or the new one is refused",
            )?,
            closed: IntCounterVec::new(
                Opts::new(
                    "attestgate_connections_closed_total",
                    "Client connections closed by a limit, by reason: header, keepalive, h2_idle, send, max_age, shed",
                ),
                &["reason"],
            )?,
            refused: IntCounter::new(
                "attestgate_connections_refused_total",
                "New client connections closed at once: max_connections were open and none was idle",
            )?,
            descriptors: IntGauge::new(
                "attestgate_descriptors_limit",
                "The process's descriptor limit (soft RLIMIT_NOFILE, after raising it to the hard limit)",
            )?,
            tasks: IntGauge::new(
                "attestgate_tasks",
                "Tasks alive in the proxy workers' runtimes (one per connection and per HTTP/2 stream, and a few per worker)",
            )?,
        };
        r.register(Box::new(m.tasks.clone()))?;
        r.register(Box::new(m.open.clone()))?;
        r.register(Box::new(m.max.clone()))?;
        r.register(Box::new(m.closed.clone()))?;
        r.register(Box::new(m.refused.clone()))?;
        r.register(Box::new(m.descriptors.clone()))?;
        for reason in Reason::ALL {
            m.closed.with_label_values(&[reason.as_str()]);
        }
        Ok(m)
    }

    pub(crate) fn closed(&self, reason: Reason) {
        self.closed.with_label_values(&[reason.as_str()]).inc();
    }
}

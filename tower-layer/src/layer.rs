//! [`AttestLayer`]: builds [`Attest`] services, holds the settings they
//! share.

use std::fmt;
use std::sync::Arc;

use attestgate::{Metrics, Mode, RouteMetrics, Verifier};
use prometheus::Registry;
use tower_layer::Layer;

use crate::reject::DefaultRejection;
use crate::service::Attest;

/// Route label used when none is given with [`AttestLayer::route_name`].
pub const DEFAULT_ROUTE: &str = "default";

/// A [`Layer`] that checks the Approov token of every request before the
/// inner service sees it. See the [crate docs](crate).
///
/// Cloning it, and every [`Layer::layer`] call, only bumps a reference count:
/// all services it makes share one verifier, one key set, one cache and one
/// set of metric handles.
///
/// `R` builds the response of a refused request ([`DefaultRejection`] unless
/// replaced with [`AttestLayer::rejection`]).
pub struct AttestLayer<R = DefaultRejection> {
    pub(crate) shared: Arc<Shared<R>>,
}

/// What every [`Attest`] made by one layer shares.
#[derive(Clone)]
pub(crate) struct Shared<R> {
    pub(crate) verifier: Verifier,
    pub(crate) monitor: bool,
    pub(crate) route_name: Arc<str>,
    /// Registered series, kept to re-resolve the route handles when the
    /// route name changes after [`AttestLayer::metrics`].
    pub(crate) metrics: Option<Metrics>,
    /// `attestgate_requests_total{route}` handles, resolved once.
    pub(crate) route: Option<RouteMetrics>,
    pub(crate) reject: R,
}

impl<R> Clone for AttestLayer<R> {
    fn clone(&self) -> Self {
        AttestLayer {
            shared: self.shared.clone(),
        }
    }
}

impl<R> fmt::Debug for AttestLayer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestLayer")
            .field("verifier", &self.shared.verifier)
            .field("monitor", &self.shared.monitor)
            .field("route", &self.shared.route_name)
            .field("metrics", &self.shared.metrics.is_some())
            .field("rejection", &std::any::type_name::<R>())
            .finish()
    }
}

impl AttestLayer {
    /// A layer checking tokens with `verifier`, in the verifier's mode
    /// (enforce unless built with `Mode::Monitor`), with the
    /// [`DefaultRejection`] and no metrics.
    ///
    /// The layer starts no task: to refresh keys from a JWKS URL or watch key
    /// files, keep the handle of `verifier.spawn_refresher()` (see the crate
    /// docs).
    pub fn new(verifier: Verifier) -> AttestLayer {
        let monitor = verifier.mode() == Mode::Monitor;
        AttestLayer {
            shared: Arc::new(Shared {
                verifier,
                monitor,
                route_name: Arc::from(DEFAULT_ROUTE),
                metrics: None,
                route: None,
                reject: DefaultRejection,
            }),
        }
    }
}

impl<R> AttestLayer<R> {
    /// The verifier the layer checks with.
    pub fn verifier(&self) -> &Verifier {
        &self.shared.verifier
    }

    /// Whether failing requests are let through (monitor mode).
    pub fn is_monitor(&self) -> bool {
        self.shared.monitor
    }

    /// The `route` label of this layer's `attestgate_requests_total` series.
    pub fn route(&self) -> &str {
        &self.shared.route_name
    }

    /// The rejection builder.
    pub fn rejection_builder(&self) -> &R {
        &self.shared.reject
    }
}

impl<R: Clone> AttestLayer<R> {
    fn update(self, f: impl FnOnce(&mut Shared<R>)) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.shared);
        f(&mut shared);
        AttestLayer {
            shared: Arc::new(shared),
        }
    }

    /// Names the route for the `route` label of `attestgate_requests_total`
    /// (default [`DEFAULT_ROUTE`]). Give a fixed name of your own, never a
    /// value taken from a request. May be called before or after
    /// [`AttestLayer::metrics`].
    pub fn route_name(self, name: impl AsRef<str>) -> Self {
        let name: Arc<str> = Arc::from(name.as_ref());
        self.update(|s| {
            s.route = s.metrics.as_ref().map(|m| m.route(&name));
            s.route_name = name;
        })
    }

    /// Registers the series of DESIGN §5 into `registry`, attaches them to
    /// the verifier (rejections by reason, verify time, cache, key set) and
    /// counts this layer's requests by outcome.
    ///
    /// Fails when the series are already registered there (a second layer on
    /// the same registry): register once with [`Metrics::register`] and give
    /// every layer [`AttestLayer::with_metrics`] instead.
    pub fn metrics(self, registry: &Registry) -> Result<Self, prometheus::Error> {
        let metrics = Metrics::register(registry)?;
        Ok(self.with_metrics(&metrics))
    }

    /// Uses series already registered (shared by several layers or routes).
    /// The first `Metrics` attached to a verifier stays attached to it.
    pub fn with_metrics(self, metrics: &Metrics) -> Self {
        self.update(|s| {
            s.verifier.attach_metrics(metrics);
            s.route = Some(metrics.route(&s.route_name));
            s.metrics = Some(metrics.clone());
        })
    }

    /// Monitor mode on (`true`: failing requests are let through, counted as
    /// `monitored` and logged at debug level, with no `VerifiedToken`) or off
    /// (`false`: they are refused). Overrides the verifier's mode.
    pub fn monitor(self, monitor: bool) -> Self {
        self.update(|s| s.monitor = monitor)
    }

    /// Replaces the rejection builder: a type implementing
    /// [`Reject`](crate::Reject), or a closure
    /// `Fn(&RejectContext<'_>) -> Response<B>`.
    pub fn rejection<R2>(self, reject: R2) -> AttestLayer<R2> {
        let s = Arc::unwrap_or_clone(self.shared);
        AttestLayer {
            shared: Arc::new(Shared {
                verifier: s.verifier,
                monitor: s.monitor,
                route_name: s.route_name,
                metrics: s.metrics,
                route: s.route,
                reject,
            }),
        }
    }
}

impl<S, R> Layer<S> for AttestLayer<R> {
    type Service = Attest<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Attest {
            inner,
            shared: self.shared.clone(),
        }
    }
}

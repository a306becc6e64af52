//! [`AttestLayer`]: builds [`Attest`] services, holds the settings they
//! share.

use std::fmt;
use std::sync::Arc;

use attestgate::{Metrics, Mode, Policy, Verifier};
use prometheus::Registry;
use tower_layer::Layer;

use crate::reject::DefaultRejection;
use crate::service::Attest;

/// Route label used when none is given with [`AttestLayer::route_name`].
pub const DEFAULT_ROUTE: &str = attestgate::DEFAULT_ROUTE_NAME;

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
    /// The verifier handle with this layer's policy (route name, mode,
    /// everything [`Policy`] holds).
    pub(crate) verifier: Verifier,
    /// Whether series are attached (for `Debug`).
    pub(crate) metrics: bool,
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
            .field("metrics", &self.shared.metrics)
            .field("rejection", &std::any::type_name::<R>())
            .finish()
    }
}

impl AttestLayer {
    /// A layer checking tokens with `verifier` under its policy (give a
    /// route its own with `verifier.with_policy(policy)`: handles share keys,
    /// refresher and cache), with the [`DefaultRejection`] and no metrics.
    ///
    /// The layer starts no task: to refresh keys from a JWKS URL or watch key
    /// files, keep the handle of `verifier.spawn_refresher()` (see the crate
    /// docs).
    pub fn new(verifier: Verifier) -> AttestLayer {
        AttestLayer {
            shared: Arc::new(Shared {
                verifier,
                metrics: false,
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
        self.shared.verifier.mode() == Mode::Monitor
    }

    /// The `route` label of this layer's `attestgate_requests_total` series.
    pub fn route(&self) -> &str {
        &self.shared.verifier.policy().name
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
        let name = name.as_ref().to_owned();
        self.update(|s| s.verifier = policy_with(&s.verifier, |p| p.name = name))
    }

    /// Registers the metric series (the core's `Metrics`) into `registry`, attaches them to
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
            s.metrics = true;
        })
    }

    /// Monitor mode on (`true`: failing requests are let through, counted as
    /// `monitored` and logged at debug level, with no `VerifiedToken`) or off
    /// (`false`: they are refused). Overrides the verifier's mode.
    pub fn monitor(self, monitor: bool) -> Self {
        let mode = if monitor {
            Mode::Monitor
        } else {
            Mode::Enforce
        };
        self.update(|s| s.verifier = policy_with(&s.verifier, |p| p.mode = mode))
    }

    /// Replaces the rejection builder: a type implementing
    /// [`Reject`](crate::Reject), or a closure
    /// `Fn(&RejectContext<'_>) -> Response<B>`.
    pub fn rejection<R2>(self, reject: R2) -> AttestLayer<R2> {
        let s = Arc::unwrap_or_clone(self.shared);
        AttestLayer {
            shared: Arc::new(Shared {
                verifier: s.verifier,
                metrics: s.metrics,
                reject,
            }),
        }
    }
}

/// A handle on the same verifier with one policy field changed.
fn policy_with(verifier: &Verifier, change: impl FnOnce(&mut Policy)) -> Verifier {
    let mut policy = verifier.policy().clone();
    change(&mut policy);
    verifier.with_policy(policy)
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

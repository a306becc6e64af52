//! Helpers shared by the integration tests: real servers on 127.0.0.1:0.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use attestgate::Reason;
use attestgate_tower::Rejection;
use axum::Router;
use axum::response::Response;
use prometheus::Registry;
use prometheus::proto::MetricType;

/// Serves `app` on an ephemeral loopback port until the test's runtime ends.
pub async fn serve_axum(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// Reasons the layer put in response extensions, recorded by an outer
/// middleware (as a service's own logging layer would), without changing
/// the response the client sees.
#[derive(Clone, Default)]
pub struct SeenRejections(Arc<Mutex<Vec<Reason>>>);

impl SeenRejections {
    /// Wraps `router` with a middleware recording each response's
    /// [`Rejection`].
    pub fn wrap(&self, router: Router) -> Router {
        let seen = self.clone();
        router.layer(axum::middleware::map_response(move |resp: Response| {
            let seen = seen.clone();
            async move {
                if let Some(r) = resp.extensions().get::<Rejection>() {
                    seen.0.lock().unwrap().push(r.reason);
                }
                resp
            }
        }))
    }

    /// Takes what was recorded so far.
    pub fn take(&self) -> Vec<Reason> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A call counter for handlers.
#[derive(Clone, Default)]
pub struct Calls(Arc<AtomicUsize>);

impl Calls {
    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The value of a counter or gauge series (0 when absent), by name and
/// label pairs; the sum over every series that has them (a reason's
/// rejections over all routes).
pub fn metric(registry: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for family in registry.gather() {
        if family.name() != name {
            continue;
        }
        for m in family.get_metric() {
            let all_match = labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            });
            if !all_match {
                continue;
            }
            sum += match family.get_field_type() {
                MetricType::COUNTER => m.get_counter().get_value(),
                MetricType::GAUGE => m.get_gauge().get_value(),
                MetricType::HISTOGRAM => m.get_histogram().get_sample_count() as f64,
                _ => panic!("{name}: unexpected metric type"),
            };
        }
    }
    sum
}

/// `attestgate_requests_total{route, outcome}`.
pub fn requests(registry: &Registry, route: &str, outcome: &str) -> f64 {
    metric(
        registry,
        "attestgate_requests_total",
        &[("route", route), ("outcome", outcome)],
    )
}

/// `attestgate_rejections_total{reason}`.
pub fn rejections(registry: &Registry, reason: Reason) -> f64 {
    metric(
        registry,
        "attestgate_rejections_total",
        &[("reason", reason.as_str())],
    )
}

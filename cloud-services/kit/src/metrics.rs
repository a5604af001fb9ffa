//! Prometheus metrics, one registry per service instance.
//!
//! A registry per service (not a process-global one) keeps `episante up`, where every service
//! lives in one process, and parallel test apps from mixing their numbers. Every series carries a
//! `service` label so dashboards can tell services apart after scraping.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Metric, Registry};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: u16,
}

/// Latency buckets from 0.5 ms to ~4 s: enough resolution for p99 of fast APIs and slow logins.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

/// A service's metrics registry plus the HTTP metrics every service has.
pub struct Metrics {
    registry: Mutex<Registry>,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram, fn() -> Histogram>,
}

impl Metrics {
    pub fn new(service: &str) -> Arc<Self> {
        let mut registry = Registry::with_labels(
            [(Cow::Borrowed("service"), Cow::Owned(service.to_string()))].into_iter(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration =
            Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "episante_http_requests",
            "HTTP requests served, by route and status",
            http_requests.clone(),
        );
        registry.register(
            "episante_http_request_duration_seconds",
            "HTTP request latency, by route and status",
            http_duration.clone(),
        );
        Arc::new(Metrics {
            registry: Mutex::new(registry),
            http_requests,
            http_duration,
        })
    }

    /// Registers a service-specific metric; keep a clone of `metric` to update it.
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        self.registry
            .lock()
            .expect("metrics registry poisoned")
            .register(name, help, metric);
    }

    /// The Prometheus text exposition of everything registered.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry poisoned");
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String cannot fail");
        out
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = HttpLabels {
            method: method.to_string(),
            route: route.to_string(),
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration.get_or_create(&labels).observe(seconds);
    }
}

/// Middleware counting and timing every routed request by its route *template* (never the raw
/// path, which would explode cardinality with ids).
pub async fn track_http(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(req).await;
    metrics.observe(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub async fn render(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

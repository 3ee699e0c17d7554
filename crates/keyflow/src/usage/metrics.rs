//! Prometheus metrics, rendered at `GET /metrics`.
//!
//! Each app owns its recorder (not the process-global one), so several
//! gateways in one process (tests) keep separate figures. Labels stay low
//! in cardinality: route, model, status, error class, key state — never a
//! key or a token.

use metrics::{Key, Label, Level, Metadata, Recorder as _};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::proxy::Outcome;

const META: Metadata<'static> = Metadata::new("keyflow", Level::INFO, Some("keyflow::usage::metrics"));

/// Seconds; from sub-millisecond gateway overhead to five-minute streams.
const BUCKETS: &[f64] = &[
    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    300.0,
];

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl Default for Metrics {
    fn default() -> Self {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_buckets(BUCKETS) {
            Ok(b) => b,
            Err(_) => PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        Metrics { recorder, handle }
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(name, labels.iter().map(|(k, v)| Label::new(*k, v.to_string())).collect::<Vec<_>>())
}

impl Metrics {
    fn count(&self, name: &'static str, labels: &[(&'static str, &str)], n: u64) {
        if n > 0 {
            self.recorder.register_counter(&key(name, labels), &META).increment(n);
        }
    }

    fn observe(&self, name: &'static str, labels: &[(&'static str, &str)], seconds: f64) {
        self.recorder.register_histogram(&key(name, labels), &META).record(seconds);
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.recorder.register_gauge(&key(name, labels), &META).set(value);
    }

    /// Everything one request contributes.
    pub fn record(&self, outcome: &Outcome, cost: f64) {
        let route = outcome.route.as_str();
        let model = outcome.model.as_deref().unwrap_or("");
        let status = outcome.status.to_string();
        self.count("keyflow_requests_total", &[("route", route), ("model", model), ("status", &status)], 1);
        let total = outcome.latency.as_secs_f64();
        self.observe("keyflow_request_duration_seconds", &[("route", route)], total);
        let overhead = outcome.latency.saturating_sub(outcome.upstream_time).as_secs_f64();
        self.observe("keyflow_gateway_overhead_seconds", &[("route", route)], overhead);
        if let Some(ttfb) = outcome.ttfb {
            self.observe("keyflow_time_to_first_byte_seconds", &[("route", route)], ttfb.as_secs_f64());
        }
        if let Some(usage) = outcome.usage {
            self.count("keyflow_tokens_total", &[("model", model), ("kind", "prompt")], usage.prompt_tokens);
            self.count("keyflow_tokens_total", &[("model", model), ("kind", "completion")], usage.completion_tokens);
        }
        self.count("keyflow_images_total", &[("model", model)], u64::from(outcome.images));
        self.count("keyflow_spend_microcny_total", &[("model", model)], (cost * 1e6).round() as u64);
        self.count("keyflow_retries_total", &[("route", route)], u64::from(outcome.retries));
        for (class, n) in outcome.upstream_errors.iter() {
            self.count("keyflow_upstream_errors_total", &[("class", class)], u64::from(n));
        }
        if outcome.aborted {
            self.count("keyflow_client_aborts_total", &[("route", route)], 1);
        }
    }

    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Folds recorded histogram samples into their buckets. Without it the
    /// samples pile up between scrapes (or forever, if nothing scrapes).
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

//! Prometheus metrics, rendered at `GET /metrics`.
//!
//! Each app owns its recorder (not the process-global one), so several
//! gateways in one process (tests) keep separate figures. Labels stay low
//! in cardinality: route, model, status, error class, key state — never a
//! key or a token.

use parking_lot::Mutex;
use std::collections::HashMap;

use metrics::{Counter, Histogram, Key, Label, Level, Metadata, Recorder as _};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use super::Outcome;

const META: Metadata<'static> = Metadata::new("keyflow", Level::INFO, Some("keyflow::usage::metrics"));

/// Seconds; from sub-millisecond gateway overhead to five-minute streams.
const BUCKETS: &[f64] = &[
    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    300.0,
];

pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    handles: Mutex<Handles>,
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
        Metrics { recorder, handle, handles: Mutex::new(Handles::default()) }
    }
}

fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    Key::from_parts(name, labels.iter().map(|(k, v)| Label::new(*k, v.to_string())).collect::<Vec<_>>())
}

/// Handles of the metrics labelled by route.
struct RouteHandles {
    duration: Histogram,
    overhead: Histogram,
    ttfb: Histogram,
    retries: Counter,
    aborts: Counter,
    /// `keyflow_requests_total` by model, then status.
    requests: HashMap<String, HashMap<u16, Counter>>,
}

/// Handles of the metrics labelled by model.
struct ModelHandles {
    prompt: Counter,
    completion: Counter,
    images: Counter,
    spend: Counter,
}

/// Registered handles, so recording an outcome is a few map lookups on
/// borrowed strings instead of building label sets and asking the
/// registry each time.
#[derive(Default)]
struct Handles {
    routes: HashMap<&'static str, RouteHandles>,
    models: HashMap<String, ModelHandles>,
}

/// Distinct model labels kept; past it (clients can send any model name)
/// further models count under `other`.
const MAX_MODELS: usize = 512;

/// The canonical routes; any other path counts under `other`, so clients
/// cannot mint label values.
const ROUTES: &[&str] = &[
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/messages",
    "/v1/embeddings",
    "/v1/rerank",
    "/v1/images/generations",
    "/v1/audio/speech",
    "/v1/audio/transcriptions",
    "/v1/uploads/audio/voice",
    "/v1/audio/voice/list",
    "/v1/audio/voice/deletions",
    "/v1/video/submit",
    "/v1/video/status",
    "/v1/files",
    "/v1/batches",
    "/v1/models",
    "/v1/user/info",
    "/v1/dashboard/billing/subscription",
    "/v1/dashboard/billing/usage",
];

fn route_label(route: &str) -> &'static str {
    ROUTES.iter().find(|r| **r == route).copied().unwrap_or(if route.starts_with("/v1/batches/") {
        "/v1/batches/{id}"
    } else {
        "other"
    })
}

impl Metrics {
    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Counter {
        self.recorder.register_counter(&key(name, labels), &META)
    }

    fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> Histogram {
        self.recorder.register_histogram(&key(name, labels), &META)
    }

    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)], value: f64) {
        self.recorder.register_gauge(&key(name, labels), &META).set(value);
    }

    /// Everything one request contributes.
    pub fn record(&self, outcome: &Outcome, cost: f64) {
        let mut handles = self.handles.lock();
        let route = route_label(&outcome.route);
        let mut model = outcome.model.as_deref().unwrap_or("");
        if !handles.models.contains_key(model) && handles.models.len() >= MAX_MODELS {
            model = "other";
        }
        if !handles.models.contains_key(model) {
            let h = ModelHandles {
                prompt: self.counter("keyflow_tokens_total", &[("model", model), ("kind", "prompt")]),
                completion: self.counter("keyflow_tokens_total", &[("model", model), ("kind", "completion")]),
                images: self.counter("keyflow_images_total", &[("model", model)]),
                spend: self.counter("keyflow_spend_microcny_total", &[("model", model)]),
            };
            handles.models.insert(model.to_string(), h);
        }
        if let Some(h) = handles.models.get(model) {
            if let Some(usage) = outcome.usage {
                h.prompt.increment(usage.prompt_tokens);
                h.completion.increment(usage.completion_tokens);
            }
            h.images.increment(u64::from(outcome.images));
            h.spend.increment((cost * 1e6).round() as u64);
        }
        let r = handles.routes.entry(route).or_insert_with(|| RouteHandles {
            duration: self.histogram("keyflow_request_duration_seconds", &[("route", route)]),
            overhead: self.histogram("keyflow_gateway_overhead_seconds", &[("route", route)]),
            ttfb: self.histogram("keyflow_time_to_first_byte_seconds", &[("route", route)]),
            retries: self.counter("keyflow_retries_total", &[("route", route)]),
            aborts: self.counter("keyflow_client_aborts_total", &[("route", route)]),
            requests: HashMap::new(),
        });
        r.duration.record(outcome.latency.as_secs_f64());
        r.overhead.record(outcome.latency.saturating_sub(outcome.upstream_time).as_secs_f64());
        if let Some(ttfb) = outcome.ttfb {
            r.ttfb.record(ttfb.as_secs_f64());
        }
        r.retries.increment(u64::from(outcome.retries));
        if outcome.aborted {
            r.aborts.increment(1);
        }
        let by_status = match r.requests.get_mut(model) {
            Some(m) => m,
            None => r.requests.entry(model.to_string()).or_default(),
        };
        by_status
            .entry(outcome.status)
            .or_insert_with(|| {
                let status = outcome.status.to_string();
                self.recorder.register_counter(
                    &key("keyflow_requests_total", &[("route", route), ("model", model), ("status", &status)]),
                    &META,
                )
            })
            .increment(1);
        drop(handles);
        for (class, n) in outcome.upstream_errors.iter() {
            self.counter("keyflow_upstream_errors_total", &[("class", class)]).increment(u64::from(n));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(route: &str, model: &str) -> Outcome {
        Outcome { route: route.into(), model: Some(model.into()), status: 200, ..Default::default() }
    }

    #[test]
    fn clients_cannot_mint_label_values() {
        let metrics = Metrics::default();
        metrics.record(&outcome("/v1/some/new/path-123", "m"), 0.0);
        for i in 0..(MAX_MODELS + 50) {
            metrics.record(&outcome("/v1/chat/completions", &format!("made-up-{i}")), 0.0);
        }
        let text = metrics.render();
        assert!(text.contains("route=\"other\""), "{text}");
        assert!(!text.contains("path-123"));
        assert!(text.contains("model=\"other\""));
        let models: std::collections::HashSet<&str> =
            text.lines().filter_map(|l| l.split("model=\"").nth(1)?.split('"').next()).collect();
        assert!(models.len() <= MAX_MODELS + 1, "{} model labels", models.len());
    }

    #[test]
    fn repeated_outcomes_add_up_on_cached_handles() {
        let metrics = Metrics::default();
        for _ in 0..3 {
            metrics.record(&outcome("/v1/chat/completions", "m"), 0.5);
        }
        let text = metrics.render();
        let line = text
            .lines()
            .find(|l| l.starts_with("keyflow_requests_total{") && l.contains("model=\"m\""))
            .expect("requests line");
        assert!(line.ends_with(" 3"), "{line}");
        assert!(text.contains("keyflow_spend_microcny_total{model=\"m\"} 1500000"), "{text}");
    }
}

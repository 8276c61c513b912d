//! Metrics: a process-wide recorder for the `metrics` facade, rendered as Mesos-style JSON
//! (`/metrics/snapshot`) and Prometheus text (`/metrics`).
//!
//! Components emit with the ordinary macros (`metrics::counter!("master/tasks_running")`).
//! libproc installs [`Registry`] as the global recorder the first time a node starts (unless
//! the program installed another recorder first, in which case our endpoints show only
//! what reaches this registry). The runtime's own counters live in atomics on the node and
//! its processes (no shared cache line on the message path) and are copied into the
//! registry, labelled `node=<ip:port>`, whenever a snapshot is rendered.
//!
//! In JSON a metric is named by its name followed by its label values other than `node`
//! (`libproc/mailbox_depth/master`); only metrics of the node serving the request (or with
//! no `node` label) are shown. Prometheus text has every node, with labels.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use dashmap::DashMap;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

/// Samples kept per histogram (a sliding window of the most recent).
const HISTOGRAM_WINDOW: usize = 1024;

#[derive(Default)]
struct Window {
    samples: Mutex<(Vec<f64>, usize, u64)>,
}

impl HistogramFn for Window {
    fn record(&self, value: f64) {
        let mut g = self.samples.lock().unwrap_or_else(|p| p.into_inner());
        let (v, next, count) = &mut *g;
        if v.len() < HISTOGRAM_WINDOW {
            v.push(value);
        } else {
            v[*next] = value;
        }
        *next = (*next + 1) % HISTOGRAM_WINDOW;
        *count += 1;
    }
}

/// The recorder: counters, gauges and histograms keyed by name and labels.
#[derive(Default)]
pub struct Registry {
    counters: DashMap<Key, Arc<AtomicU64>>,
    gauges: DashMap<Key, Arc<AtomicU64>>,
    histograms: DashMap<Key, Arc<Window>>,
}

impl Recorder for Registry {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.counters.entry(key.clone()).or_default().clone())
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.gauges.entry(key.clone()).or_default().clone())
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.histograms.entry(key.clone()).or_default().clone())
    }
}

static REGISTRY: OnceLock<&'static Registry> = OnceLock::new();

/// The process-wide registry, installed as the global recorder on first use.
pub fn registry() -> &'static Registry {
    REGISTRY.get_or_init(|| {
        let r: &'static Registry = Box::leak(Box::default());
        if metrics::set_global_recorder(r).is_err() {
            tracing::warn!(
                "another metrics recorder is installed; /metrics shows libproc's own registry only"
            );
        }
        r
    })
}

fn node_label(key: &Key) -> Option<&str> {
    key.labels().find(|l| l.key() == "node").map(|l| l.value())
}

fn json_name(key: &Key) -> String {
    let mut name = key.name().to_string();
    for l in key.labels().filter(|l| l.key() != "node") {
        name.push('/');
        name.push_str(l.value());
    }
    name
}

fn prom_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn prom_labels(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| {
            let v = l
                .value()
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{}=\"{}\"", prom_name(l.key()), v)
        })
        .collect();
    if labels.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", labels.join(","))
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

impl Registry {
    fn visible(key: &Key, node: Option<&str>) -> bool {
        match (node, node_label(key)) {
            (_, None) => true,
            (Some(n), Some(k)) => n == k,
            (None, Some(_)) => true,
        }
    }

    /// Mesos-style JSON: a flat object of metric name to number. Histograms appear as
    /// `name/count`, `name/min`, `name/max`, `name/p50`, `name/p90`, `name/p99`.
    pub fn snapshot_json(&self, node: Option<&str>) -> serde_json::Value {
        let mut out = BTreeMap::new();
        for e in self.counters.iter() {
            if Self::visible(e.key(), node) {
                out.insert(
                    json_name(e.key()),
                    serde_json::json!(e.value().load(Ordering::Relaxed)),
                );
            }
        }
        for e in self.gauges.iter() {
            if Self::visible(e.key(), node) {
                let v = f64::from_bits(e.value().load(Ordering::Relaxed));
                out.insert(json_name(e.key()), serde_json::json!(v));
            }
        }
        for e in self.histograms.iter() {
            if Self::visible(e.key(), node) {
                let base = json_name(e.key());
                let (mut v, count) = {
                    let g = e.value().samples.lock().unwrap_or_else(|p| p.into_inner());
                    (g.0.clone(), g.2)
                };
                v.sort_by(|a, b| a.total_cmp(b));
                out.insert(format!("{base}/count"), serde_json::json!(count));
                out.insert(
                    format!("{base}/min"),
                    serde_json::json!(v.first().copied().unwrap_or(0.0)),
                );
                out.insert(
                    format!("{base}/max"),
                    serde_json::json!(v.last().copied().unwrap_or(0.0)),
                );
                for (p, s) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
                    out.insert(format!("{base}/{s}"), serde_json::json!(percentile(&v, p)));
                }
            }
        }
        serde_json::Value::Object(out.into_iter().collect())
    }

    /// Prometheus text exposition format (version 0.0.4).
    pub fn render_prometheus(&self) -> String {
        let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in self.counters.iter() {
            let n = prom_name(e.key().name());
            lines
                .entry(format!("{n} counter"))
                .or_default()
                .push(format!(
                    "{n}{} {}",
                    prom_labels(e.key()),
                    e.value().load(Ordering::Relaxed)
                ));
        }
        for e in self.gauges.iter() {
            let n = prom_name(e.key().name());
            lines.entry(format!("{n} gauge")).or_default().push(format!(
                "{n}{} {}",
                prom_labels(e.key()),
                f64::from_bits(e.value().load(Ordering::Relaxed))
            ));
        }
        for e in self.histograms.iter() {
            let n = prom_name(e.key().name());
            let (mut v, count) = {
                let g = e.value().samples.lock().unwrap_or_else(|p| p.into_inner());
                (g.0.clone(), g.2)
            };
            v.sort_by(|a, b| a.total_cmp(b));
            let labels = prom_labels(e.key());
            let entry = lines.entry(format!("{n} summary")).or_default();
            for q in [0.5, 0.9, 0.99] {
                let l = if labels.is_empty() {
                    format!("{{quantile=\"{q}\"}}")
                } else {
                    format!("{},quantile=\"{q}\"}}", &labels[..labels.len() - 1])
                };
                entry.push(format!("{n}{l} {}", percentile(&v, q)));
            }
            entry.push(format!("{n}_sum{labels} {}", v.iter().sum::<f64>()));
            entry.push(format!("{n}_count{labels} {count}"));
        }
        let mut out = String::new();
        for (head, body) in lines {
            let (name, kind) = head.split_once(' ').unwrap_or((&head, "untyped"));
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            for l in body {
                out.push_str(&l);
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_json_and_prometheus() {
        let r = Registry::default();
        let key = Key::from_parts(
            "libproc/messages_sent",
            vec![metrics::Label::new("node", "1.2.3.4:5")],
        );
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        r.register_counter(&key, &meta).absolute(7);
        let other = Key::from_parts(
            "libproc/messages_sent",
            vec![metrics::Label::new("node", "9.9.9.9:9")],
        );
        r.register_counter(&other, &meta).absolute(1);
        let g = Key::from_parts(
            "libproc/mailbox_depth",
            vec![
                metrics::Label::new("node", "1.2.3.4:5"),
                metrics::Label::new("process", "master"),
            ],
        );
        r.register_gauge(&g, &meta).set(3.0);
        r.register_histogram(&Key::from_name("allocator/mesos/allocation_run_ms"), &meta)
            .record(2.0);
        let j = r.snapshot_json(Some("1.2.3.4:5"));
        assert_eq!(j["libproc/messages_sent"], 7);
        assert_eq!(j["libproc/mailbox_depth/master"], 3.0);
        assert_eq!(j["allocator/mesos/allocation_run_ms/count"], 1);
        let p = r.render_prometheus();
        assert!(p.contains("# TYPE libproc_messages_sent counter"), "{p}");
        assert!(
            p.contains("libproc_messages_sent{node=\"1.2.3.4:5\"} 7"),
            "{p}"
        );
        assert!(
            p.contains("libproc_mailbox_depth{node=\"1.2.3.4:5\",process=\"master\"} 3"),
            "{p}"
        );
        assert!(
            p.contains("allocator_mesos_allocation_run_ms_count 1"),
            "{p}"
        );
    }
}

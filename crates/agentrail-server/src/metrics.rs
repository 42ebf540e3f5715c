//! Prometheus metrics, in the text exposition format, from counters the handlers bump.
//! Hand-written: a dozen atomics and one histogram do not need a registry.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the commit-latency buckets, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The collector's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub events_accepted: AtomicU64,
    pub events_duplicate: AtomicU64,
    rejected: Mutex<BTreeMap<String, u64>>,
    pub spans_received: AtomicU64,
    pub spans_rejected: AtomicU64,
    pub redactions: AtomicU64,
    pub batches: AtomicU64,
    pub requests_refused_busy: AtomicU64,
    latency_buckets: [AtomicU64; 12],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts a rejected event (or span) by its error code.
    pub fn rejected(&self, code: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Ok(mut m) = self.rejected.lock() {
            *m.entry(code.to_string()).or_default() += n;
        }
    }

    /// Records the time from submitting a batch to its durable acknowledgement.
    pub fn commit_latency(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.latency_buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    /// The exposition text; `queue` and `tree_size` are read at scrape time.
    pub fn render(&self, queue: usize, tree_size: u64) -> String {
        let mut out = String::new();
        let c = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        let g = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        c(
            &mut out,
            "agentrail_events_accepted_total",
            "Events durably appended.",
            get(&self.events_accepted),
        );
        c(
            &mut out,
            "agentrail_events_duplicate_total",
            "Events already stored (same id, same content): nothing appended.",
            get(&self.events_duplicate),
        );
        let _ = writeln!(out, "# HELP agentrail_events_rejected_total Events rejected, by error code.\n# TYPE agentrail_events_rejected_total counter");
        if let Ok(m) = self.rejected.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "agentrail_events_rejected_total{{code=\"{code}\"}} {n}"
                );
            }
        }
        c(
            &mut out,
            "agentrail_otlp_spans_received_total",
            "OTLP spans received.",
            get(&self.spans_received),
        );
        c(
            &mut out,
            "agentrail_otlp_spans_rejected_total",
            "OTLP spans rejected (reported in partial_success).",
            get(&self.spans_rejected),
        );
        c(
            &mut out,
            "agentrail_redactions_total",
            "Values replaced by the redaction policy before storage.",
            get(&self.redactions),
        );
        c(
            &mut out,
            "agentrail_batches_total",
            "Batches committed (one per request that carried valid events).",
            get(&self.batches),
        );
        c(
            &mut out,
            "agentrail_requests_refused_busy_total",
            "Requests answered 503 because the write queue or the in-flight limit was full.",
            get(&self.requests_refused_busy),
        );
        let _ = writeln!(out, "# HELP agentrail_commit_latency_seconds From submitting a batch to its durable acknowledgement.\n# TYPE agentrail_commit_latency_seconds histogram");
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "agentrail_commit_latency_seconds_bucket{{le=\"{le}\"}} {}",
                get(&self.latency_buckets[i])
            );
        }
        let count = get(&self.latency_count);
        let _ = writeln!(
            out,
            "agentrail_commit_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "agentrail_commit_latency_seconds_sum {}",
            get(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "agentrail_commit_latency_seconds_count {count}");
        g(
            &mut out,
            "agentrail_write_queue_depth",
            "Batches waiting for the writer.",
            queue as u64,
        );
        g(
            &mut out,
            "agentrail_tree_size",
            "Leaves in the log.",
            tree_size,
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_labels_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.events_accepted.fetch_add(3, Ordering::Relaxed);
        m.rejected("missing_field", 2);
        m.commit_latency(Duration::from_millis(3));
        m.commit_latency(Duration::from_millis(30));
        let text = m.render(1, 42);
        assert!(text.contains("agentrail_events_accepted_total 3\n"));
        assert!(text.contains("agentrail_events_rejected_total{code=\"missing_field\"} 2\n"));
        assert!(text.contains("agentrail_commit_latency_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("agentrail_commit_latency_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("agentrail_commit_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("agentrail_write_queue_depth 1\n"));
        assert!(text.contains("agentrail_tree_size 42\n"));
    }
}

//! The controller's own Prometheus metrics (prometheus-client), served on `--metrics-addr`.
//! Label sets are bounded: controllers, reasons, routers, verbs and codes are fixed sets, and a
//! Rollout is one series per Rollout (its phase a label, its step a value), removed with it.
//! No pod-level labels.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ControllerLabel {
    pub controller: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ErrorLabels {
    pub controller: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RolloutLabels {
    pub namespace: String,
    pub name: String,
    pub strategy: &'static str,
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RolloutKey {
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct MeasurementLabels {
    pub metric: String,
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouterLabel {
    pub router: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub verb: &'static str,
    pub code: String,
}

fn seconds_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Every metric the controller exports.
pub(crate) struct Metrics {
    registry: Registry,
    reconcile_duration: Family<ControllerLabel, Histogram>,
    reconcile_errors: Family<ErrorLabels, Counter>,
    queue_depth: Family<ControllerLabel, Gauge>,
    rollout_info: Family<RolloutLabels, Gauge>,
    rollout_step: Family<RolloutKey, Gauge>,
    /// The labels each Rollout's info series carries now, to remove it when they change.
    rollout_labels: Mutex<HashMap<RolloutKey, RolloutLabels>>,
    measurements: Family<MeasurementLabels, Counter>,
    router_writes: Family<RouterLabel, Histogram>,
    api_requests: Family<RequestLabels, Counter>,
    leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rollout_rs");
        let reconcile_duration = Family::<ControllerLabel, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time a reconcile took, per controller (rollout, analysisrun, gitsync)",
            reconcile_duration.clone(),
        );
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciles that failed, per controller and reason",
            reconcile_errors.clone(),
        );
        let queue_depth = Family::<ControllerLabel, Gauge>::default();
        registry.register(
            "workqueue_depth",
            "Objects waiting for a reconcile: changed since their last one, not yet started",
            queue_depth.clone(),
        );
        let rollout_info = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_info",
            "One series per Rollout, value 1: its strategy and phase",
            rollout_info.clone(),
        );
        let rollout_step = Family::<RolloutKey, Gauge>::default();
        registry.register(
            "rollout_step",
            "A canary Rollout's current step index",
            rollout_step.clone(),
        );
        let measurements = Family::<MeasurementLabels, Counter>::default();
        registry.register(
            "analysis_measurements",
            "Analysis measurements taken, per metric name and result phase",
            measurements.clone(),
        );
        let router_writes = Family::<RouterLabel, Histogram>::new_with_constructor(
            seconds_histogram as fn() -> Histogram,
        );
        registry.register(
            "router_write_duration_seconds",
            "Time a traffic router's write took, per router",
            router_writes.clone(),
        );
        let api_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "kube_requests",
            "Kubernetes API requests, per verb and HTTP status code",
            api_requests.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease (or runs without leader election)",
            leader.clone(),
        );
        Metrics {
            registry,
            reconcile_duration,
            reconcile_errors,
            queue_depth,
            rollout_info,
            rollout_step,
            rollout_labels: Mutex::default(),
            measurements,
            router_writes,
            api_requests,
            leader,
        }
    }
}

impl Metrics {
    /// The OpenMetrics text of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    pub(crate) fn reconciled(
        &self,
        controller: &'static str,
        took: Duration,
        error: Option<&'static str>,
    ) {
        self.reconcile_duration
            .get_or_create(&ControllerLabel { controller })
            .observe(took.as_secs_f64());
        if let Some(reason) = error {
            self.reconcile_errors
                .get_or_create(&ErrorLabels { controller, reason })
                .inc();
        }
    }

    pub(crate) fn queue_depth(&self, controller: &'static str, depth: usize) {
        self.queue_depth
            .get_or_create(&ControllerLabel { controller })
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
    }

    /// A Rollout's phase and step as its status now says; `None` forgets it (deleted).
    pub(crate) fn rollout(
        &self,
        namespace: &str,
        name: &str,
        now: Option<(&'static str, &str, Option<i32>)>,
    ) {
        let key = RolloutKey {
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        let mut labels = self
            .rollout_labels
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let previous = labels.remove(&key);
        match now {
            Some((strategy, phase, step)) => {
                let current = RolloutLabels {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    strategy,
                    phase: phase.to_string(),
                };
                if let Some(old) = previous.filter(|old| *old != current) {
                    self.rollout_info.remove(&old);
                }
                self.rollout_info.get_or_create(&current).set(1);
                match step {
                    Some(step) => {
                        self.rollout_step.get_or_create(&key).set(i64::from(step));
                    }
                    None => {
                        self.rollout_step.remove(&key);
                    }
                }
                labels.insert(key, current);
            }
            None => {
                if let Some(old) = previous {
                    self.rollout_info.remove(&old);
                }
                self.rollout_step.remove(&key);
            }
        }
    }

    pub(crate) fn measurement(&self, metric: &str, phase: &str) {
        self.measurements
            .get_or_create(&MeasurementLabels {
                metric: metric.to_string(),
                phase: phase.to_string(),
            })
            .inc();
    }

    pub(crate) fn router_write(&self, router: &'static str, took: Duration) {
        self.router_writes
            .get_or_create(&RouterLabel { router })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn api_request(&self, verb: &'static str, code: u16) {
        self.api_requests
            .get_or_create(&RequestLabels {
                verb,
                code: code.to_string(),
            })
            .inc();
    }

    pub(crate) fn leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        let m = Metrics::default();
        m.reconciled("rollout", Duration::from_millis(3), None);
        m.reconciled("rollout", Duration::from_millis(3), Some("Api"));
        m.queue_depth("rollout", 2);
        m.rollout("shop", "checkout", Some(("canary", "Progressing", Some(1))));
        m.measurement("success-rate", "Successful");
        m.router_write("nginx", Duration::from_millis(5));
        m.api_request("patch", 200);
        m.leader(true);
        let text = m.encode();
        for line in [
            "rollout_rs_reconcile_duration_seconds_count{controller=\"rollout\"} 2",
            "rollout_rs_reconcile_errors_total{controller=\"rollout\",reason=\"Api\"} 1",
            "rollout_rs_workqueue_depth{controller=\"rollout\"} 2",
            "rollout_rs_rollout_info{namespace=\"shop\",name=\"checkout\",strategy=\"canary\",phase=\"Progressing\"} 1",
            "rollout_rs_rollout_step{namespace=\"shop\",name=\"checkout\"} 1",
            "rollout_rs_analysis_measurements_total{metric=\"success-rate\",phase=\"Successful\"} 1",
            "rollout_rs_router_write_duration_seconds_count{router=\"nginx\"} 1",
            "rollout_rs_kube_requests_total{verb=\"patch\",code=\"200\"} 1",
            "rollout_rs_leader 1",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
    }

    #[test]
    fn a_rollout_is_one_series_that_follows_its_phase_and_goes_with_it() {
        let m = Metrics::default();
        m.rollout("shop", "checkout", Some(("canary", "Progressing", Some(1))));
        m.rollout("shop", "checkout", Some(("canary", "Healthy", None)));
        let text = m.encode();
        assert_eq!(
            text.matches("rollout_rs_rollout_info{").count(),
            1,
            "{text}"
        );
        assert!(text.contains("phase=\"Healthy\""), "{text}");
        assert!(!text.contains("rollout_rs_rollout_step{"), "{text}");
        m.rollout("shop", "checkout", None);
        assert!(!m.encode().contains("rollout_rs_rollout_info{"));
    }
}

//! Fault injection and the request log, for reliability tests: per-verb error rates and
//! latency, watch streams cut after a time, and a record of every request (verb, resource,
//! namespace, name, user agent, status code) that tests can read, e.g. to check that the Helm
//! chart's RBAC covers every call the controller makes.
//!
//! Set at start ([`crate::Config::faults`]) or at run time through `PUT /sim/faults`; the log is
//! read with `GET /sim/requests` (`?after=N`: once more than N requests were recorded since
//! start, answering with that count as `recorded`, so tests wait without polling; start with
//! `?after=0`) and cleared
//! with `DELETE /sim/requests`. Random draws come from
//! a seeded generator, so a test sees the same faults on every run.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Faults of one verb.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerbFaults {
    /// Share of requests answered with an error, 0.0..=1.0.
    #[serde(default)]
    pub error_rate: f64,
    /// HTTP status of injected errors (default 503, which clients retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Delay added before the request is served.
    #[serde(default)]
    pub latency_ms: u64,
    /// Only requests for this resource (plural, e.g. "trafficsplits"); default: every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// At most this many injected errors, then none (a blip rather than an outage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
}

/// All faults. Verbs: get, list, watch, create, update, patch, delete, deletecollection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    #[serde(default)]
    pub verbs: BTreeMap<String, VerbFaults>,
    /// Watch streams end after this many seconds (clients must re-watch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_cut_seconds: Option<u64>,
    /// Seed of the error draws.
    #[serde(default)]
    pub seed: u64,
}

pub const VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

impl Faults {
    /// Checks verb names and rates.
    pub fn validate(&self) -> Result<(), String> {
        for (verb, f) in &self.verbs {
            if !VERBS.contains(&verb.as_str()) {
                return Err(format!(
                    "unknown verb {verb:?}: expected one of {}",
                    VERBS.join(", ")
                ));
            }
            if !(0.0..=1.0).contains(&f.error_rate) {
                return Err(format!(
                    "{verb}.errorRate must be within 0..=1, got {}",
                    f.error_rate
                ));
            }
            if f.code.is_some_and(|c| !(400..600).contains(&c)) {
                return Err(format!("{verb}.code must be an HTTP error status"));
            }
        }
        Ok(())
    }
}

/// One served request.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    pub verb: String,
    pub group: String,
    pub version: String,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub user_agent: String,
    pub code: u16,
}

/// Requests kept in the log; the oldest go first.
const LOG_CAPACITY: usize = 100_000;

/// Fault settings, the generator behind them, and the request log.
pub struct FaultState {
    faults: Faults,
    rng: u64,
    log: VecDeque<RequestRecord>,
    /// Requests recorded since start (never reset, unlike the log): what a reader of the log
    /// waits on to see new ones without polling.
    recorded: tokio::sync::watch::Sender<u64>,
}

impl FaultState {
    pub fn new(faults: Faults) -> Self {
        let rng = faults.seed ^ 0x9e37_79b9_7f4a_7c15;
        FaultState {
            faults,
            rng,
            log: VecDeque::new(),
            recorded: tokio::sync::watch::Sender::new(0),
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    pub fn set(&mut self, faults: Faults) {
        self.rng = faults.seed ^ 0x9e37_79b9_7f4a_7c15;
        self.faults = faults;
    }

    /// xorshift64*: small, seeded, good enough to spread injected errors.
    fn next_unit(&mut self) -> f64 {
        let mut x = self.rng.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The latency to add, and the error to answer with, for one request of `verb` on
    /// `resource`.
    pub fn draw(&mut self, verb: &str, resource: &str) -> (Duration, Option<u16>) {
        let Some(f) = self.faults.verbs.get(verb).cloned() else {
            return (Duration::ZERO, None);
        };
        if f.resource.as_deref().is_some_and(|r| r != resource) {
            return (Duration::ZERO, None);
        }
        let left = f.times.is_none_or(|n| n > 0);
        let error = (left && f.error_rate > 0.0 && self.next_unit() < f.error_rate)
            .then(|| f.code.unwrap_or(503));
        if error.is_some()
            && let Some(n) = self
                .faults
                .verbs
                .get_mut(verb)
                .and_then(|f| f.times.as_mut())
        {
            *n = n.saturating_sub(1);
        }
        (Duration::from_millis(f.latency_ms), error)
    }

    pub fn watch_cut(&self) -> Option<Duration> {
        self.faults.watch_cut_seconds.map(Duration::from_secs)
    }

    pub fn record(&mut self, r: RequestRecord) {
        if self.log.len() >= LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(r);
        self.recorded.send_modify(|n| *n += 1);
    }

    /// How many requests were recorded since start, and a receiver that sees the next ones.
    pub fn recorded(&self) -> (u64, tokio::sync::watch::Receiver<u64>) {
        (*self.recorded.borrow(), self.recorded.subscribe())
    }

    pub fn requests(&self) -> Vec<RequestRecord> {
        self.log.iter().cloned().collect()
    }

    pub fn clear_requests(&mut self) {
        self.log.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_rate_is_honoured_and_repeatable() {
        let faults = Faults {
            verbs: [(
                "patch".to_string(),
                VerbFaults {
                    error_rate: 0.3,
                    latency_ms: 5,
                    ..Default::default()
                },
            )]
            .into(),
            watch_cut_seconds: None,
            seed: 42,
        };
        let count = |faults: &Faults| {
            let mut s = FaultState::new(faults.clone());
            (0..10_000)
                .filter(|_| s.draw("patch", "pods").1 == Some(503))
                .count()
        };
        let n = count(&faults);
        assert!((2700..3300).contains(&n), "{n} errors of 10000 at rate 0.3");
        assert_eq!(n, count(&faults), "same seed, same faults");
        let mut s = FaultState::new(faults);
        assert_eq!(s.draw("get", "pods"), (Duration::ZERO, None));
        assert_eq!(s.draw("patch", "pods").0, Duration::from_millis(5));
    }

    #[test]
    fn a_blip_on_one_resource() {
        let faults: Faults = serde_json::from_str(
            r#"{"verbs": {"patch": {"errorRate": 1, "resource": "trafficsplits", "times": 2}}}"#,
        )
        .unwrap();
        let mut s = FaultState::new(faults);
        assert_eq!(s.draw("patch", "pods").1, None, "another resource");
        assert_eq!(s.draw("patch", "trafficsplits").1, Some(503));
        assert_eq!(s.draw("patch", "trafficsplits").1, Some(503));
        assert_eq!(
            s.draw("patch", "trafficsplits").1,
            None,
            "twice, then no more"
        );
    }

    #[test]
    fn validation() {
        let bad: Faults =
            serde_json::from_str(r#"{"verbs": {"frobnicate": {"errorRate": 0.1}}}"#).unwrap();
        assert!(bad.validate().is_err());
        let bad: Faults = serde_json::from_str(r#"{"verbs": {"get": {"errorRate": 2}}}"#).unwrap();
        assert!(bad.validate().is_err());
        assert!(serde_json::from_str::<Faults>(r#"{"verbz": {}}"#).is_err());
    }
}

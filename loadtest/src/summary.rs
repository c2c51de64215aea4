//! The machine-readable result of a run (`summary.json`): what thresholds,
//! baselines and the HTML report read. The schema is documented field by
//! field in `loadtest/summary-schema.md`; a change here is a change there,
//! and `SCHEMA` is bumped when a field changes meaning or goes away.
//!
//! All latencies are integer microseconds. "Response time" is measured from
//! the request's *scheduled* send time (what a clinic waiting in line would
//! see, coordinated omission corrected); "service time" from the moment the
//! request was actually written; "send lag" is the difference (the
//! harness's own lateness plus any wait for a free connection).

use crate::tls::HandshakeSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identifies the schema of `summary.json`.
pub const SCHEMA: &str = "shikaku-load/summary/1";

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub schema: String,
    /// Scenario name (file stem or `name` in the scenario file).
    pub scenario: String,
    pub description: String,
    /// Base URL of the API under test.
    pub target: String,
    /// Wall-clock start of the run, RFC 3339 (UTC).
    pub started_at: String,
    pub harness: HarnessInfo,
    pub profile: ProfileInfo,
    /// Seconds measured (the run after warm-up).
    pub measured_seconds: f64,
    /// Planned requests after the warm-up divided by the planned seconds
    /// after the warm-up (requests/s).
    pub target_rate: f64,
    /// Requests completed (scheduled after the warm-up) per second of the
    /// schedule after the warm-up, or of `measured_seconds` when answers
    /// kept coming after the schedule ended (a backlog draining).
    pub achieved_rate: f64,
    /// Checks answered per second, with a verdict or a per-line error (a
    /// bulk request answers many); over the same window as `achieved_rate`.
    pub check_rate: f64,
    pub requests: RequestCounts,
    pub checks: CheckCounts,
    pub errors: ErrorCounts,
    pub backlog: Backlog,
    pub latency_us: Latencies,
    /// Answers per snapshot id (shows a swap happening).
    pub snapshots: BTreeMap<String, u64>,
    /// One entry per report interval, warm-up included (flagged).
    pub intervals: Vec<Interval>,
    /// Admin actions taken during the run (snapshot activation…).
    pub actions: Vec<ActionResult>,
    /// Every threshold evaluated, passed or not.
    pub thresholds: Vec<ThresholdResult>,
    /// Comparison with a baseline summary, when one was given.
    pub baseline: Option<BaselineComparison>,
    /// Stopped by Ctrl-C before the schedule ended (such a run never passes).
    #[serde(default)]
    pub interrupted: bool,
    /// TLS handshakes towards the API, apart from the requests (https only).
    #[serde(default)]
    pub tls: Option<HandshakeSummary>,
    /// `true` when every threshold, every action and the baseline
    /// comparison passed, and the run was not interrupted.
    pub passed: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HarnessInfo {
    pub version: String,
    /// `keep-alive` (a fixed pool) or `new-connection` (one per request).
    pub connection_mode: String,
    /// Pool size (keep-alive) or most concurrent connections (new-connection).
    pub connections: usize,
    /// Most requests scheduled but not answered; beyond it they are dropped.
    pub max_outstanding: usize,
    pub timeout_ms: u64,
    /// Worker threads of the client runtime.
    pub threads: usize,
    /// Sends later than this after their scheduled time count as late.
    pub late_threshold_us: u64,
    /// Length of one report interval.
    pub interval_ms: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ProfileInfo {
    /// Human description, e.g. "clinic-morning 1000/s (x1.2 Monday) over 10m".
    pub description: String,
    /// `uniform` or `poisson`.
    pub arrivals: String,
    pub time_scale: f64,
    pub duration_seconds: f64,
    pub warmup_seconds: f64,
    /// Peak planned rate (requests/s).
    pub peak_rate: f64,
}

/// Requests scheduled after warm-up, by fate. `scheduled = sent + dropped +
/// unsent` where `unsent` were still waiting when the run ended.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RequestCounts {
    pub scheduled: u64,
    /// Sent; every sent request completes (answer, error or timeout), so
    /// this equals `completed`.
    pub sent: u64,
    /// Answered (any status) or failed in transport.
    pub completed: u64,
    /// Not sent: `max_outstanding` requests were already waiting or in
    /// flight.
    pub dropped: u64,
    /// Still waiting for a connection when the run ended.
    pub unsent: u64,
    /// Sent more than `late_threshold_us` after their scheduled time.
    pub late: u64,
    /// HTTP 200 with every answer well formed (`completed = ok + failed`).
    pub ok: u64,
    /// Failed: transport error, timeout, HTTP status other than 200 or an
    /// unreadable answer.
    pub failed: u64,
    pub timeouts: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct CheckCounts {
    /// Checks answered (one per single request, one per bulk line).
    pub answered: u64,
    /// Answered with a verdict other than the expected one.
    pub mismatches: u64,
    /// Answered verdicts.
    pub by_verdict: BTreeMap<String, u64>,
    /// Expected verdicts of the checks answered.
    pub expected_by_verdict: BTreeMap<String, u64>,
    /// Checks answered with a verdict, by kind: `card`, `online_number`,
    /// `card_face` (bulk lines counted under their own kind).
    pub by_kind: BTreeMap<String, u64>,
    /// Up to 20 mismatches, to start the investigation from.
    pub mismatch_examples: Vec<Mismatch>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Mismatch {
    pub request: String,
    pub expected: String,
    pub answered: String,
    pub snapshot: String,
}

/// Every failure, counted once. `total = requests.failed + checks.mismatches
/// + checks_failed`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ErrorCounts {
    pub total: u64,
    /// Bulk lines answered with `status: error` (single requests with an
    /// error status are counted in `requests.failed`).
    pub checks_failed: u64,
    /// Responses by HTTP status ("200", "503"…).
    pub by_status: BTreeMap<String, u64>,
    /// `error.code` of error answers ("busy", "bad_request"…).
    pub by_code: BTreeMap<String, u64>,
    /// Transport failures: "connect", "send", "timeout", "body", "parse".
    pub transport: BTreeMap<String, u64>,
    /// Up to 20 failure messages, to start the investigation from.
    pub examples: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Backlog {
    /// Most requests due but waiting for a free connection at once.
    pub max: u64,
    /// Most requests outstanding (waiting or in flight) at once.
    pub max_outstanding: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Latencies {
    /// From the scheduled send time to the last byte of the answer.
    pub response: Percentiles,
    /// From the actual send to the last byte of the answer.
    pub service: Percentiles,
    /// From the scheduled to the actual send.
    pub send_lag: Percentiles,
}

/// A latency distribution in microseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p75: u64,
    pub p90: u64,
    pub p99: u64,
    pub p99_9: u64,
    pub p99_99: u64,
    pub max: u64,
}

/// One report interval (by completion time).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Interval {
    /// Seconds from the start of the run to the start of this interval.
    pub start_seconds: f64,
    pub seconds: f64,
    /// Ends within the warm-up (its requests are not in the totals).
    pub warmup: bool,
    /// Planned rate over this interval (requests/s).
    pub target_rate: f64,
    /// Requests sent per second in this interval (by send time).
    pub sent_rate: f64,
    /// Requests completed per second in this interval.
    pub achieved_rate: f64,
    pub completed: u64,
    /// Failed requests plus bulk lines answered with an error.
    pub failed: u64,
    pub mismatches: u64,
    pub dropped: u64,
    pub late: u64,
    /// Most requests waiting for a connection during the interval.
    pub backlog_max: u64,
    pub response: Percentiles,
    pub service: Percentiles,
    pub by_verdict: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ActionResult {
    /// Seconds from the start of the run.
    pub at_seconds: f64,
    /// e.g. "activate snapshots/next" or "rollback".
    pub action: String,
    /// HTTP status of the admin API (0 when it could not be reached).
    pub status: u16,
    pub ok: bool,
    /// The admin API's answer, or why it could not be reached.
    pub detail: String,
    pub took_ms: u64,
    /// Requests answered while the action was in progress (by completion
    /// time): what an activation costs the checks running beside it.
    #[serde(default)]
    pub during: Latency,
    /// Requests answered in the [`AFTER_ACTION_SECONDS`] after its answer
    /// (a swapped-in snapshot's first seconds).
    #[serde(default)]
    pub after: Latency,
}

/// Seconds after an action whose requests [`ActionResult::after`] covers.
pub const AFTER_ACTION_SECONDS: u64 = 30;

/// Response and service time of a set of requests.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub response: Percentiles,
    pub service: Percentiles,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ThresholdResult {
    /// As written, e.g. "p99 < 5ms".
    pub expression: String,
    /// The measured value of the left-hand side (latencies in µs; `null`
    /// when it could not be read, and then the threshold failed).
    #[serde(deserialize_with = "null_as_nan")]
    pub actual: f64,
    /// The right-hand side, evaluated (latencies in µs; `null` as above).
    #[serde(deserialize_with = "null_as_nan")]
    pub limit: f64,
    pub passed: bool,
    /// The metric is a latency (µs).
    #[serde(default)]
    pub latency: bool,
}

/// JSON has no NaN: serde_json writes it as `null`; read it back as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BaselineComparison {
    /// The baseline's scenario and start time.
    pub baseline: String,
    /// Allowed relative worsening, e.g. 0.1 for 10%.
    pub tolerance: f64,
    pub metrics: Vec<BaselineMetric>,
    pub passed: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct BaselineMetric {
    /// Dotted path in the summary, e.g. "latency_us.response.p99".
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    /// The worst value that still passes.
    pub limit: f64,
    pub passed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_with_an_unreadable_threshold_value_reads_back() {
        let summary = Summary {
            thresholds: vec![ThresholdResult {
                expression: "p99 < 5ms".into(),
                actual: f64::NAN,
                limit: 5000.0,
                passed: false,
                latency: true,
            }],
            ..Summary::default()
        };
        let text = serde_json::to_string(&summary).unwrap();
        assert!(text.contains("\"actual\":null"), "{text}");
        let back: Summary = serde_json::from_str(&text).unwrap();
        assert!(back.thresholds[0].actual.is_nan());
        assert_eq!(back.thresholds[0].limit, 5000.0);
    }
}

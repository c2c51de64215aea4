//! What a run measured, in constant memory.
//!
//! Latencies go into HdrHistograms (1 µs to 1 hour, 3 significant digits):
//! one set for the current report interval, one for the whole measured run.
//! At each interval tick the interval's histograms are summarised into an
//! [`Interval`] (a few numbers) and cleared, so memory does not grow with
//! the run's length or rate. Samples are assigned to intervals by
//! completion time and to the totals by *scheduled* time: requests
//! scheduled during the warm-up are shown in the timeline but left out of
//! the totals.

use crate::answers::Read;
use crate::summary::{
    CheckCounts, ErrorCounts, Interval, Latency, Mismatch, Percentiles, RequestCounts,
    AFTER_ACTION_SECONDS,
};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Longest latency recorded exactly; longer ones are clamped to it.
const HIGHEST_US: u64 = 3_600_000_000;
/// Examples of failures and mismatches kept for the report.
const EXAMPLES: usize = 20;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("constant histogram bounds are valid")
}

fn micros(duration: Duration) -> u64 {
    (duration.as_micros() as u64).max(1)
}

/// The percentiles of a histogram (zeros when empty).
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    Percentiles {
        count: h.len(),
        min: h.min(),
        mean: h.mean(),
        p50: h.value_at_quantile(0.50),
        p75: h.value_at_quantile(0.75),
        p90: h.value_at_quantile(0.90),
        p99: h.value_at_quantile(0.99),
        p99_9: h.value_at_quantile(0.999),
        p99_99: h.value_at_quantile(0.9999),
        max: h.max(),
    }
}

/// When a request was due, sent and answered.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub scheduled: Instant,
    pub sent: Instant,
    pub done: Instant,
}

/// How a request failed.
pub struct Failure<'a> {
    /// "http", "connect", "send", "timeout", "body" or "parse".
    pub kind: &'static str,
    pub status: Option<u16>,
    pub code: Option<&'a str>,
    pub message: String,
}

/// What the runner measured of an interval outside the recorder.
#[derive(Clone, Copy, Debug, Default)]
pub struct IntervalGauges {
    /// Planned mean rate over the interval.
    pub target_rate: f64,
    /// Requests sent during it.
    pub sent: u64,
    /// Most requests waiting for a connection at once.
    pub backlog_max: u64,
}

#[derive(Default)]
struct Window {
    response: Option<Histogram<u64>>,
    service: Option<Histogram<u64>>,
    completed: u64,
    failed: u64,
    mismatches: u64,
    dropped: u64,
    late: u64,
    by_verdict: BTreeMap<String, u64>,
    by_status: BTreeMap<String, u64>,
}

impl Window {
    fn new() -> Window {
        Window {
            response: Some(new_histogram()),
            service: Some(new_histogram()),
            ..Window::default()
        }
    }
}

/// Response and service-time histograms of one set of requests.
struct Histograms {
    response: Histogram<u64>,
    service: Histogram<u64>,
}

impl Histograms {
    fn new() -> Histograms {
        Histograms {
            response: new_histogram(),
            service: new_histogram(),
        }
    }

    fn latency(&self) -> Latency {
        Latency {
            response: percentiles(&self.response),
            service: percentiles(&self.service),
        }
    }
}

/// The requests answered while an admin action was in progress, and in
/// the seconds after its answer.
struct ActionWindow {
    during: Histograms,
    after: Histograms,
    /// When the action was answered (`None` while in progress).
    answered: Option<Instant>,
}

/// Totals over the measured run (after warm-up).
pub struct Totals {
    pub response: Histogram<u64>,
    pub service: Histogram<u64>,
    pub send_lag: Histogram<u64>,
    pub requests: RequestCounts,
    pub checks: CheckCounts,
    pub errors: ErrorCounts,
    pub snapshots: BTreeMap<String, u64>,
}

pub struct Recorder {
    start: Instant,
    warmup_end: Instant,
    late_threshold: Duration,
    window: Window,
    pub totals: Totals,
    pub intervals: Vec<Interval>,
    actions: Vec<ActionWindow>,
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(count) => *count += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

fn keep_example<T>(list: &mut Vec<T>, make: impl FnOnce() -> T) {
    if list.len() < EXAMPLES {
        list.push(make());
    }
}

impl Recorder {
    pub fn new(start: Instant, warmup: Duration, late_threshold: Duration) -> Recorder {
        Recorder {
            start,
            warmup_end: start + warmup,
            late_threshold,
            window: Window::new(),
            totals: Totals {
                response: new_histogram(),
                service: new_histogram(),
                send_lag: new_histogram(),
                requests: RequestCounts::default(),
                checks: CheckCounts::default(),
                errors: ErrorCounts::default(),
                snapshots: BTreeMap::new(),
            },
            intervals: Vec::new(),
            actions: Vec::new(),
        }
    }

    /// An admin action was sent: the requests answered from now until
    /// [`Recorder::action_answered`] (and for a while after) are kept
    /// apart. Returns the action's number for the two calls below.
    pub fn action_started(&mut self) -> usize {
        self.actions.push(ActionWindow {
            during: Histograms::new(),
            after: Histograms::new(),
            answered: None,
        });
        self.actions.len() - 1
    }

    /// Action `number` was answered at `now`.
    pub fn action_answered(&mut self, number: usize, now: Instant) {
        if let Some(window) = self.actions.get_mut(number) {
            window.answered = Some(now);
        }
    }

    /// Latencies during action `number` and after it.
    pub fn action_latency(&self, number: usize) -> (Latency, Latency) {
        self.actions
            .get(number)
            .map_or_else(Default::default, |window| {
                (window.during.latency(), window.after.latency())
            })
    }

    fn record_in_actions(&mut self, done: Instant, response: u64, service: u64) {
        let after = Duration::from_secs(AFTER_ACTION_SECONDS);
        for window in &mut self.actions {
            let histograms = match window.answered {
                None => &mut window.during,
                Some(answered) if done <= answered + after => &mut window.after,
                Some(_) => continue,
            };
            histograms.response.saturating_record(response);
            histograms.service.saturating_record(service);
        }
    }

    fn measured(&self, scheduled: Instant) -> bool {
        scheduled >= self.warmup_end
    }

    /// A request came due while `max_outstanding` were already waiting.
    pub fn dropped(&mut self, scheduled: Instant) {
        self.window.dropped += 1;
        if self.measured(scheduled) {
            self.totals.requests.dropped += 1;
        }
    }

    /// Requests still waiting for a connection when the run ended.
    pub fn unsent(&mut self, scheduled: Instant) {
        if self.measured(scheduled) {
            self.totals.requests.unsent += 1;
        }
    }

    /// A request was sent and completed (answered or failed): its
    /// latencies and whether it was sent late.
    pub fn completed(&mut self, timing: &Timing) {
        let lag = timing.sent.saturating_duration_since(timing.scheduled);
        let late = lag > self.late_threshold;
        let response = micros(timing.done.saturating_duration_since(timing.scheduled));
        let service = micros(timing.done.saturating_duration_since(timing.sent));
        self.record_in_actions(timing.done, response, service);
        let window = &mut self.window;
        window.completed += 1;
        window.late += late as u64;
        if let (Some(r), Some(s)) = (&mut window.response, &mut window.service) {
            r.saturating_record(response);
            s.saturating_record(service);
        }
        if self.measured(timing.scheduled) {
            let totals = &mut self.totals;
            totals.requests.sent += 1;
            totals.requests.completed += 1;
            totals.requests.late += late as u64;
            totals.send_lag.saturating_record(micros(lag));
            totals.response.saturating_record(response);
            totals.service.saturating_record(service);
        }
    }

    /// The HTTP status of an answered request.
    pub fn status(&mut self, scheduled: Instant, status: u16) {
        let key = status.to_string();
        bump(&mut self.window.by_status, &key);
        if self.measured(scheduled) {
            bump(&mut self.totals.errors.by_status, &key);
        }
    }

    /// A request answered 200 with every answer well formed.
    pub fn ok(&mut self, scheduled: Instant) {
        if self.measured(scheduled) {
            self.totals.requests.ok += 1;
        }
    }

    pub fn failed(&mut self, scheduled: Instant, failure: Failure<'_>) {
        self.window.failed += 1;
        if !self.measured(scheduled) {
            return;
        }
        let totals = &mut self.totals;
        totals.requests.failed += 1;
        totals.errors.total += 1;
        if failure.kind == "timeout" {
            totals.requests.timeouts += 1;
        }
        if failure.kind != "http" {
            bump(&mut totals.errors.transport, failure.kind);
        }
        if let Some(code) = failure.code {
            bump(&mut totals.errors.by_code, code);
        }
        let status = failure.status;
        keep_example(&mut totals.errors.examples, || match status {
            Some(status) => format!("HTTP {status}: {}", failure.message),
            None => format!("{}: {}", failure.kind, failure.message),
        });
    }

    /// One check answered; `request` describes it for a mismatch report.
    pub fn check(
        &mut self,
        scheduled: Instant,
        kind: &str,
        expected: &str,
        answer: &Read<'_>,
        request: impl FnOnce() -> String,
    ) {
        let measured = self.measured(scheduled);
        match answer {
            Read::Verdict { verdict, snapshot } => {
                bump(&mut self.window.by_verdict, verdict);
                let mismatch = verdict != expected;
                self.window.mismatches += mismatch as u64;
                if !measured {
                    return;
                }
                let totals = &mut self.totals;
                totals.checks.answered += 1;
                bump(&mut totals.checks.by_kind, kind);
                bump(&mut totals.checks.by_verdict, verdict);
                bump(&mut totals.checks.expected_by_verdict, expected);
                bump(&mut totals.snapshots, snapshot);
                if mismatch {
                    totals.checks.mismatches += 1;
                    totals.errors.total += 1;
                    keep_example(&mut totals.checks.mismatch_examples, || Mismatch {
                        request: request(),
                        expected: expected.to_string(),
                        answered: verdict.to_string(),
                        snapshot: snapshot.to_string(),
                    });
                }
            }
            Read::Error { code } => {
                self.window.failed += 1;
                if measured {
                    let errors = &mut self.totals.errors;
                    errors.checks_failed += 1;
                    errors.total += 1;
                    bump(&mut errors.by_code, code);
                    keep_example(&mut errors.examples, || {
                        format!("bulk line error {code}: {}", request())
                    });
                }
            }
        }
    }

    /// Closes the current interval `[from, to)` (offsets from the start).
    pub fn close_interval(&mut self, from: Duration, to: Duration, gauges: IntervalGauges) {
        let window = std::mem::replace(&mut self.window, Window::new());
        let seconds = (to - from).as_secs_f64().max(1e-9);
        let histogram =
            |h: &Option<Histogram<u64>>| h.as_ref().map(percentiles).unwrap_or_default();
        self.intervals.push(Interval {
            start_seconds: from.as_secs_f64(),
            seconds,
            warmup: self.start + to <= self.warmup_end,
            target_rate: gauges.target_rate,
            sent_rate: gauges.sent as f64 / seconds,
            achieved_rate: window.completed as f64 / seconds,
            completed: window.completed,
            failed: window.failed,
            mismatches: window.mismatches,
            dropped: window.dropped,
            late: window.late,
            backlog_max: gauges.backlog_max,
            response: histogram(&window.response),
            service: histogram(&window.service),
            by_verdict: window.by_verdict,
            by_status: window.by_status,
        });
    }
}

/// Writes `h` in HdrHistogram's percentile distribution format (values in
/// microseconds), as `outputPercentileDistribution` does, so the usual
/// plotters read it.
pub fn write_percentile_distribution(
    h: &Histogram<u64>,
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if !h.is_empty() {
        let mut total = 0u64;
        for step in h.iter_quantiles(5) {
            total += step.count_since_last_iteration();
            let quantile = step.quantile_iterated_to();
            if quantile < 1.0 {
                writeln!(
                    out,
                    "{:12.3} {:2.12} {:10} {:14.2}",
                    step.value_iterated_to() as f64,
                    quantile,
                    total,
                    1.0 / (1.0 - quantile)
                )?;
            } else {
                writeln!(
                    out,
                    "{:12.3} {:2.12} {:10}",
                    step.value_iterated_to() as f64,
                    quantile,
                    total
                )?;
            }
        }
    }
    writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean(),
        h.stdev()
    )?;
    writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64,
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_histograms_merge_into_the_totals_exactly() {
        // Merging per-interval histograms gives the same distribution as
        // recording everything into one.
        let mut whole = new_histogram();
        let mut parts = vec![new_histogram(), new_histogram(), new_histogram()];
        for i in 0..30_000u64 {
            let value = 1 + (i * 7919) % 250_000;
            whole.record(value).unwrap();
            parts[(i % 3) as usize].record(value).unwrap();
        }
        let mut merged = new_histogram();
        for part in &parts {
            merged.add(part).unwrap();
        }
        assert_eq!(percentiles(&merged), percentiles(&whole));
        assert_eq!(merged.len(), 30_000);
    }

    #[test]
    fn warm_up_is_in_the_timeline_but_not_in_the_totals() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, Duration::from_secs(1), Duration::from_millis(1));
        for (second, offset) in [
            (0, Duration::from_millis(500)),
            (1, Duration::from_millis(1500)),
        ] {
            let scheduled = start + offset;
            recorder.completed(&Timing {
                scheduled,
                sent: scheduled + Duration::from_millis(2),
                done: scheduled + Duration::from_millis(3),
            });
            let from = Duration::from_secs(second);
            recorder.close_interval(
                from,
                from + Duration::from_secs(1),
                IntervalGauges::default(),
            );
        }
        assert_eq!(recorder.totals.requests.sent, 1);
        assert_eq!(recorder.totals.requests.late, 1);
        assert_eq!(recorder.totals.response.len(), 1);
        assert_eq!(
            recorder.totals.response.max() / 100,
            30,
            "3 ms from the schedule"
        );
        assert_eq!(
            recorder.totals.service.max() / 100,
            10,
            "1 ms from the send"
        );
        assert!(recorder.intervals[0].warmup && !recorder.intervals[1].warmup);
        assert_eq!(recorder.intervals[0].completed, 1);
    }

    #[test]
    fn requests_answered_during_and_after_an_action_are_kept_apart() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, Duration::ZERO, Duration::from_secs(1));
        let answer = |recorder: &mut Recorder, at_ms: u64, took_ms: u64| {
            let sent = start + Duration::from_millis(at_ms);
            recorder.completed(&Timing {
                scheduled: sent,
                sent,
                done: sent + Duration::from_millis(took_ms),
            });
        };
        answer(&mut recorder, 0, 1);
        let number = recorder.action_started();
        answer(&mut recorder, 10, 7);
        answer(&mut recorder, 20, 9);
        recorder.action_answered(number, start + Duration::from_millis(100));
        answer(&mut recorder, 200, 2);
        answer(&mut recorder, 1000 * AFTER_ACTION_SECONDS + 200, 1);
        let (during, after) = recorder.action_latency(number);
        assert_eq!(during.response.count, 2);
        assert_eq!(during.service.max / 1000, 9);
        assert_eq!(after.response.count, 1);
        assert_eq!(after.response.max / 1000, 2);
        assert_eq!(recorder.totals.response.len(), 5);
    }

    #[test]
    fn mismatches_and_bulk_errors_are_errors() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start, Duration::ZERO, Duration::from_millis(1));
        let verdict = |verdict: &'static str| Read::Verdict {
            verdict: verdict.into(),
            snapshot: "s1".into(),
        };
        recorder.check(start, "card", "valid", &verdict("valid"), String::new);
        recorder.check(start, "card", "valid", &verdict("invalid"), || {
            "serial 7".into()
        });
        recorder.check(
            start,
            "card",
            "valid",
            &Read::Error {
                code: "bad_request".into(),
            },
            String::new,
        );
        let totals = &recorder.totals;
        assert_eq!(totals.checks.answered, 2);
        assert_eq!(totals.checks.mismatches, 1);
        assert_eq!(totals.errors.checks_failed, 1);
        assert_eq!(totals.errors.total, 2);
        assert_eq!(totals.checks.mismatch_examples[0].request, "serial 7");
        assert_eq!(totals.snapshots["s1"], 2);
    }

    #[test]
    fn percentile_distribution_file_has_the_hdr_layout() {
        let mut h = new_histogram();
        for v in 1..=1000 {
            h.record(v).unwrap();
        }
        let mut out = Vec::new();
        write_percentile_distribution(&h, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)"));
        assert!(
            text.contains("#[Max     =     1000.000, Total count    =         1000]"),
            "{text}"
        );
        let last = text
            .lines()
            .rfind(|l| !l.starts_with('#') && !l.is_empty())
            .unwrap();
        assert!(last.contains("1.000000000000"), "{last}");
    }
}

//! Turning a finished run into its reports: the JSON summary, the
//! percentile distribution files, the HTML report and the terminal summary.

use crate::recorder::{percentiles, write_percentile_distribution};
use crate::runner::Outcome;
use crate::summary::{HarnessInfo, Latencies, ProfileInfo, Summary, SCHEMA};
use crate::thresholds::{compare_with_baseline, evaluate, Threshold};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

/// What the summary says about the run besides the measurements.
pub struct RunInfo {
    pub scenario: String,
    pub description: String,
    pub target: String,
    pub started_at: String,
    pub harness: HarnessInfo,
    pub profile: ProfileInfo,
    /// Planned requests after warm-up.
    pub planned: f64,
}

/// Assembles the summary and judges it against thresholds and a baseline.
pub fn summarize(
    info: RunInfo,
    outcome: &Outcome,
    thresholds: &[Threshold],
    baseline: Option<(&Summary, f64)>,
) -> Summary {
    let recorder = &outcome.recorder;
    let totals = &recorder.totals;
    let measured = (outcome.elapsed.as_secs_f64() - info.profile.warmup_seconds).max(1e-9);
    let schedule_seconds = (info.profile.duration_seconds - info.profile.warmup_seconds).max(1e-9);
    // Completions per second of the schedule, or of the measured time when
    // answers kept coming after it (a backlog draining); of an interrupted
    // run, over the time it ran.
    let window = if outcome.interrupted {
        measured
    } else {
        measured.max(schedule_seconds)
    };
    let mut summary = Summary {
        schema: SCHEMA.to_string(),
        scenario: info.scenario,
        description: info.description,
        target: info.target,
        started_at: info.started_at,
        harness: info.harness,
        profile: info.profile,
        measured_seconds: measured,
        target_rate: info.planned / schedule_seconds,
        achieved_rate: totals.requests.completed as f64 / window,
        check_rate: (totals.checks.answered + totals.errors.checks_failed) as f64 / window,
        requests: totals.requests.clone(),
        checks: totals.checks.clone(),
        errors: totals.errors.clone(),
        backlog: outcome.backlog.clone(),
        latency_us: Latencies {
            response: percentiles(&totals.response),
            service: percentiles(&totals.service),
            send_lag: percentiles(&totals.send_lag),
        },
        snapshots: totals.snapshots.clone(),
        tls: outcome.handshakes.clone(),
        intervals: recorder.intervals.clone(),
        actions: outcome.actions.clone(),
        interrupted: outcome.interrupted,
        ..Summary::default()
    };
    summary.thresholds = evaluate(thresholds, &summary);
    summary.baseline =
        baseline.map(|(base, tolerance)| compare_with_baseline(&summary, base, tolerance));
    let actions_ok = summary.actions.iter().all(|a| a.ok);
    summary.passed = !summary.interrupted
        && actions_ok
        && summary.thresholds.iter().all(|t| t.passed)
        && summary.baseline.as_ref().is_none_or(|b| b.passed);
    summary
}

/// Writes `summary.json`, `response.hgrm`, `service.hgrm` and
/// `report.html` into `dir`.
pub fn write_files(dir: &Path, summary: &Summary, outcome: &Outcome) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    write(
        "summary.json",
        serde_json::to_string_pretty(summary)?.as_bytes(),
    )?;
    let totals = &outcome.recorder.totals;
    for (name, histogram) in [
        ("response.hgrm", &totals.response),
        ("service.hgrm", &totals.service),
    ] {
        let mut text = Vec::new();
        write_percentile_distribution(histogram, &mut text)?;
        write(name, &text)?;
    }
    write("report.html", crate::html::render(summary).as_bytes())
}

/// The human summary printed at the end of a run.
pub fn print_summary(summary: &Summary, out: &mut impl Write) -> std::io::Result<()> {
    let r = &summary.requests;
    writeln!(
        out,
        "shikaku-load: {} against {}",
        summary.scenario, summary.target
    )?;
    writeln!(out, "  profile   {}", summary.profile.description)?;
    writeln!(
        out,
        "  rate      target {:.1}/s  achieved {:.1}/s  checks {:.1}/s  over {:.1} s measured",
        summary.target_rate, summary.achieved_rate, summary.check_rate, summary.measured_seconds
    )?;
    writeln!(
        out,
        "  requests  scheduled {}  sent {}  completed {}  ok {}  failed {}  timeouts {}  dropped {}  unsent {}  late {}",
        r.scheduled, r.sent, r.completed, r.ok, r.failed, r.timeouts, r.dropped, r.unsent, r.late
    )?;
    writeln!(
        out,
        "  checks    answered {}  mismatches {}  errors {}  backlog max {}",
        summary.checks.answered,
        summary.checks.mismatches,
        summary.errors.total,
        summary.backlog.max
    )?;
    writeln!(
        out,
        "  latency (µs)      p50      p90      p99    p99.9   p99.99      max"
    )?;
    let l = &summary.latency_us;
    for (name, p) in [
        ("response", &l.response),
        ("service", &l.service),
        ("send lag", &l.send_lag),
    ] {
        writeln!(
            out,
            "  {name:<12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
            p.p50, p.p90, p.p99, p.p99_9, p.p99_99, p.max
        )?;
    }
    if let Some(tls) = &summary.tls {
        writeln!(
            out,
            "  tls       handshakes full {}  resumed {}  failed {}  mean {:.2} ms  max {:.2} ms  ({} client identities)",
            tls.full, tls.resumed, tls.failed, tls.mean_ms, tls.max_ms, tls.identities
        )?;
    }
    for (id, count) in &summary.snapshots {
        writeln!(out, "  snapshot  {id}: {count} answers")?;
    }
    for action in &summary.actions {
        writeln!(
            out,
            "  action    at {:.1} s: {} → HTTP {} in {} ms{}",
            action.at_seconds,
            action.action,
            action.status,
            action.took_ms,
            if action.ok {
                String::new()
            } else {
                format!(" FAILED: {}", action.detail)
            }
        )?;
        for (when, latency) in [("during", &action.during), ("after", &action.after)] {
            let (r, s) = (&latency.response, &latency.service);
            writeln!(
                out,
                "            {when:<6} {} requests: response p50 {} p99 {} max {} µs; service p99 {} µs",
                r.count, r.p50, r.p99, r.max, s.p99
            )?;
        }
    }
    for example in summary.errors.examples.iter().take(5) {
        writeln!(out, "  error     {example}")?;
    }
    for m in summary.checks.mismatch_examples.iter().take(5) {
        writeln!(
            out,
            "  mismatch  expected {} answered {} (snapshot {}): {}",
            m.expected, m.answered, m.snapshot, m.request
        )?;
    }
    for t in &summary.thresholds {
        let verdict = if t.passed { "pass" } else { "FAIL" };
        writeln!(
            out,
            "  {verdict}      {} (actual {}, limit {})",
            t.expression, t.actual, t.limit
        )?;
    }
    if let Some(baseline) = &summary.baseline {
        for m in &baseline.metrics {
            let verdict = if m.passed { "pass" } else { "FAIL" };
            writeln!(
                out,
                "  {verdict}      baseline {}: {} vs {} (limit {:.1})",
                m.metric, m.current, m.baseline, m.limit
            )?;
        }
    }
    writeln!(
        out,
        "  result    {}",
        if summary.passed { "PASSED" } else { "FAILED" }
    )
}

/// Every reason the run failed, one per line (empty when it passed).
pub fn failures(summary: &Summary) -> Vec<String> {
    let mut reasons: Vec<String> = summary
        .interrupted
        .then(|| "interrupted before the schedule ended".to_string())
        .into_iter()
        .collect();
    reasons.extend(summary.thresholds.iter().filter(|t| !t.passed).map(|t| {
        format!(
            "threshold failed: {} (actual {}, limit {})",
            t.expression, t.actual, t.limit
        )
    }));
    if let Some(baseline) = &summary.baseline {
        reasons.extend(baseline.metrics.iter().filter(|m| !m.passed).map(|m| {
            format!(
                "worse than the baseline: {} = {} (baseline {}, limit {:.1})",
                m.metric, m.current, m.baseline, m.limit
            )
        }));
    }
    reasons.extend(summary.actions.iter().filter(|a| !a.ok).map(|a| {
        format!(
            "action failed: {} → HTTP {}: {}",
            a.action, a.status, a.detail
        )
    }));
    reasons
}

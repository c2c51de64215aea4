//! CI verdicts for a run: thresholds and the comparison with a baseline.
//!
//! A load test in CI is only useful if it can fail the build. Thresholds
//! such as `p99 < 5ms`, `errors == 0`, `achieved_rate >= 0.99 * target` or
//! `mismatches == 0` are checked against the run's [`Summary`]; every one is
//! reported in `summary.json` and the caller exits non-zero when one fails.
//! A baseline comparison catches slow regressions no fixed threshold would:
//! the run may be no worse than a stored earlier summary, within a tolerance.
//!
//! Expressions are `METRIC OP LIMIT` (whitespace is ignored). A metric is an
//! alias (`p99`, `errors`, `error_rate`…) or any dotted path into the
//! summary's JSON that leads to a number (`latency_us.service.p99_9`,
//! `requests.dropped`). Paths are checked when the expression is parsed, so
//! a typo fails the command line before a ten-minute run, not after it.
//! Inside maps (`errors.by_status`, `snapshots`…) a key that is absent means
//! 0: a run without a single 503 has no `503` entry, and
//! `errors.by_status.503 == 0` must hold for it.

use crate::summary::{BaselineComparison, BaselineMetric, Summary, ThresholdResult};
use serde_json::Value;
use std::str::FromStr;

/// Absolute slack, in µs, added to every baseline latency limit.
///
/// Percentiles of a fast service (tens of µs) move by tens of µs from one run
/// to the next through timer and scheduler jitter alone, on the harness as
/// much as on the server. A purely relative tolerance (10% of 60 µs is 6 µs)
/// would fail such runs on noise; 50 µs is negligible next to the
/// millisecond-scale regressions a baseline is meant to catch.
pub const BASELINE_LATENCY_SLACK_US: f64 = 50.0;

/// Latency statistics as written in expressions, and their field in
/// `summary::Percentiles`.
const LATENCY_STATS: [(&str, &str); 9] = [
    ("p50", "p50"),
    ("p75", "p75"),
    ("p90", "p90"),
    ("p99", "p99"),
    ("p99.9", "p99_9"),
    ("p99.99", "p99_99"),
    ("min", "min"),
    ("max", "max"),
    ("mean", "mean"),
];

/// The latency distributions under `latency_us`.
const DISTRIBUTIONS: [&str; 3] = ["response", "service", "send_lag"];

/// Short names for paths in the summary.
const SHORT_NAMES: [(&str, &str); 10] = [
    ("errors", "errors.total"),
    ("mismatches", "checks.mismatches"),
    ("dropped", "requests.dropped"),
    ("late", "requests.late"),
    ("timeouts", "requests.timeouts"),
    ("failed", "requests.failed"),
    ("unsent", "requests.unsent"),
    ("target", "target_rate"),
    ("rate", "achieved_rate"),
    ("backlog", "backlog.max"),
];

/// The derived metric `errors.total / max(requests.completed, 1)`.
const ERROR_RATE: &str = "error_rate";

/// Shown with every unknown metric.
const ALIAS_HELP: &str = "aliases: p50 p75 p90 p99 p99.9 p99.99 min max mean \
    (response time; also response.p99, service.p99, send_lag.p99…), errors, \
    mismatches, dropped, late, timeouts, failed, unsent, achieved_rate, \
    target_rate, check_rate, target, rate, error_rate, backlog";

/// Time units and their length in microseconds.
const TIME_UNITS: [(&str, f64); 4] = [
    ("µs", 1.0),
    ("us", 1.0),
    ("ms", 1_000.0),
    ("s", 1_000_000.0),
];

/// Comparison operators, two-character ones first so `<=` is not read as `<`.
const OPERATORS: [(&str, Op); 6] = [
    ("<=", Op::LessOrEqual),
    (">=", Op::GreaterOrEqual),
    ("==", Op::Equal),
    ("!=", Op::NotEqual),
    ("<", Op::Less),
    (">", Op::Greater),
];

const OPERATOR_CHARS: [char; 4] = ['<', '>', '=', '!'];

/// A parsed threshold expression, e.g. `p99 < 5ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    text: String,
    metric: Metric,
    op: Op,
    limit: Limit,
}

impl Threshold {
    /// Parses `METRIC OP LIMIT`; the error names what is wrong.
    pub fn parse(text: &str) -> Result<Threshold, String> {
        parse_parts(text).map_err(|why| format!("invalid threshold `{text}`: {why}"))
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    fn check(&self, summary: &Summary, json: &Value) -> ThresholdResult {
        let actual = self.metric.value(summary, json);
        let limit = self.limit.value(summary, json);
        ThresholdResult {
            expression: self.text.clone(),
            actual,
            limit,
            passed: self.op.holds(actual, limit),
            latency: self.metric.is_latency(),
        }
    }
}

impl FromStr for Threshold {
    type Err = String;

    fn from_str(text: &str) -> Result<Threshold, String> {
        Threshold::parse(text)
    }
}

/// Checks every threshold against `summary`, in order.
pub fn evaluate(thresholds: &[Threshold], summary: &Summary) -> Vec<ThresholdResult> {
    let json = to_json(summary);
    thresholds
        .iter()
        .map(|threshold| threshold.check(summary, &json))
        .collect()
}

/// Reads a baseline tolerance: `10%` or `0.1`, at least 0 and below 10.
pub fn parse_tolerance(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let tolerance = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    }
    .map_err(|_| format!("tolerance `{text}` is not a number (write 10% or 0.1)"))?;
    if (0.0..10.0).contains(&tolerance) {
        Ok(tolerance)
    } else {
        Err(format!(
            "tolerance `{text}` must be at least 0 and below 10 (1000%)"
        ))
    }
}

/// Compares `current` with `baseline`: latencies may be worse by the
/// tolerance plus [`BASELINE_LATENCY_SLACK_US`], the achieved rate lower by
/// the tolerance, and there may be no more errors or mismatches.
pub fn compare_with_baseline(
    current: &Summary,
    baseline: &Summary,
    tolerance: f64,
) -> BaselineComparison {
    let (current_json, baseline_json) = (to_json(current), to_json(baseline));
    let metrics: Vec<BaselineMetric> = BASELINE_METRICS
        .iter()
        .map(|&(path, rule)| {
            let baseline = path_value(&baseline_json, path);
            let current = path_value(&current_json, path);
            let limit = rule.limit(baseline, tolerance);
            BaselineMetric {
                metric: path.to_string(),
                baseline,
                current,
                limit,
                passed: rule.passes(current, limit),
            }
        })
        .collect();
    BaselineComparison {
        baseline: format!("{} started {}", baseline.scenario, baseline.started_at),
        tolerance,
        passed: metrics.iter().all(|metric| metric.passed),
        metrics,
    }
}

/// The metrics compared with a baseline, and how.
const BASELINE_METRICS: [(&str, BaselineRule); 9] = [
    ("latency_us.response.p50", BaselineRule::Latency),
    ("latency_us.response.p90", BaselineRule::Latency),
    ("latency_us.response.p99", BaselineRule::Latency),
    ("latency_us.response.p99_9", BaselineRule::Latency),
    ("latency_us.service.p50", BaselineRule::Latency),
    ("latency_us.service.p99", BaselineRule::Latency),
    ("achieved_rate", BaselineRule::Rate),
    ("errors.total", BaselineRule::Failures),
    ("checks.mismatches", BaselineRule::Failures),
];

#[derive(Clone, Copy)]
enum BaselineRule {
    /// Lower is better; worse by the tolerance plus the slack passes.
    Latency,
    /// Higher is better; lower by the tolerance passes.
    Rate,
    /// No more than the baseline.
    Failures,
}

impl BaselineRule {
    /// The worst value that still passes.
    fn limit(self, baseline: f64, tolerance: f64) -> f64 {
        match self {
            BaselineRule::Latency => baseline * (1.0 + tolerance) + BASELINE_LATENCY_SLACK_US,
            BaselineRule::Rate => baseline * (1.0 - tolerance),
            BaselineRule::Failures => baseline,
        }
    }

    fn passes(self, current: f64, limit: f64) -> bool {
        match self {
            BaselineRule::Rate => current >= limit,
            BaselineRule::Latency | BaselineRule::Failures => current <= limit,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Equal,
    NotEqual,
}

impl Op {
    /// False whenever a side is NaN (a value that could not be read).
    fn holds(self, actual: f64, limit: f64) -> bool {
        match self {
            Op::Less => actual < limit,
            Op::LessOrEqual => actual <= limit,
            Op::Greater => actual > limit,
            Op::GreaterOrEqual => actual >= limit,
            Op::Equal => actual == limit,
            Op::NotEqual => actual != limit,
        }
    }
}

/// A number in a summary.
#[derive(Clone, Debug, PartialEq)]
enum Metric {
    /// Object fields from the root of the summary's JSON, then, when the last
    /// field is a map, a key in it (absent means 0).
    Field {
        fields: Vec<String>,
        map_key: Option<String>,
    },
    /// `errors.total / max(requests.completed, 1)`.
    ErrorRate,
}

impl Metric {
    fn parse(name: &str) -> Result<Metric, String> {
        if name == ERROR_RATE {
            return Ok(Metric::ErrorRate);
        }
        let path = expand_alias(name).unwrap_or_else(|| name.to_string());
        resolve_path(&path, &to_json(&Summary::default())).ok_or_else(|| {
            format!("unknown metric `{name}` (not a number in the summary); {ALIAS_HELP}")
        })
    }

    fn is_latency(&self) -> bool {
        match self {
            Metric::Field { fields, .. } => fields.first().is_some_and(|root| root == "latency_us"),
            Metric::ErrorRate => false,
        }
    }

    /// NaN when the summary does not hold it, so that every comparison fails.
    fn value(&self, summary: &Summary, json: &Value) -> f64 {
        match self {
            Metric::ErrorRate => {
                summary.errors.total as f64 / summary.requests.completed.max(1) as f64
            }
            Metric::Field { fields, map_key } => {
                let node = lookup(json, fields.iter().map(String::as_str));
                let number = match map_key {
                    None => node.and_then(Value::as_f64),
                    Some(key) => node.map(|map| map.get(key).map_or(0.0, number_or_nan)),
                };
                number.unwrap_or(f64::NAN)
            }
        }
    }
}

/// The right-hand side of a threshold.
#[derive(Clone, Debug, PartialEq)]
enum Limit {
    Constant(f64),
    /// `factor * metric` (a metric alone has factor 1).
    Scaled {
        factor: f64,
        metric: Metric,
    },
}

impl Limit {
    fn value(&self, summary: &Summary, json: &Value) -> f64 {
        match self {
            Limit::Constant(value) => *value,
            Limit::Scaled { factor, metric } => factor * metric.value(summary, json),
        }
    }
}

fn parse_parts(text: &str) -> Result<Threshold, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let (left, op, right) = split_comparison(&compact)?;
    if looks_numeric(left) {
        return Err(format!("the left-hand side must be a metric, not `{left}`"));
    }
    let metric = Metric::parse(left)?;
    let limit = parse_limit(right, metric.is_latency())?;
    Ok(Threshold {
        text: text.to_string(),
        metric,
        op,
        limit,
    })
}

/// Splits `LEFT OP RIGHT` around its only operator.
fn split_comparison(text: &str) -> Result<(&str, Op, &str), String> {
    let start = text
        .find(OPERATOR_CHARS)
        .ok_or("missing comparison operator (one of < <= > >= == !=)")?;
    let (symbol, op) = OPERATORS
        .iter()
        .find(|(symbol, _)| text[start..].starts_with(symbol))
        .ok_or_else(|| {
            format!(
                "unknown operator at `{}` (use < <= > >= == !=)",
                &text[start..]
            )
        })?;
    let (left, right) = (&text[..start], &text[start + symbol.len()..]);
    if right.contains(OPERATOR_CHARS) {
        return Err("more than one comparison operator".to_string());
    }
    if left.is_empty() {
        return Err(format!("missing metric before `{symbol}`"));
    }
    if right.is_empty() {
        return Err(format!("missing limit after `{symbol}`"));
    }
    Ok((left, *op, right))
}

/// `NUMBER[UNIT]`, `METRIC`, `NUMBER * METRIC` or `METRIC * NUMBER`.
fn parse_limit(text: &str, latency: bool) -> Result<Limit, String> {
    match text.split_once('*') {
        Some((left, right)) => parse_product(left, right),
        None if looks_numeric(text) => parse_constant(text, latency).map(Limit::Constant),
        None => Ok(Limit::Scaled {
            factor: 1.0,
            metric: Metric::parse(text)?,
        }),
    }
}

fn parse_product(left: &str, right: &str) -> Result<Limit, String> {
    if right.contains('*') {
        return Err("at most one `*` is allowed".to_string());
    }
    let (number, metric) = if looks_numeric(left) {
        (left, right)
    } else {
        (right, left)
    };
    if !looks_numeric(number) {
        return Err("`*` needs a number on one side, e.g. `0.99 * target`".to_string());
    }
    Ok(Limit::Scaled {
        factor: parse_ratio(number)?,
        metric: Metric::parse(metric)?,
    })
}

/// A number with an optional unit; time units only on latencies (in µs).
fn parse_constant(text: &str, latency: bool) -> Result<f64, String> {
    let timed = TIME_UNITS
        .iter()
        .find_map(|&(unit, micros)| text.strip_suffix(unit).map(|number| (number, micros)));
    match timed {
        None => parse_ratio(text),
        Some((number, micros)) if latency => Ok(parse_number(number)? * micros),
        Some(_) => Err(
            "time units (us, µs, ms, s) only apply to latency metrics (under latency_us)"
                .to_string(),
        ),
    }
}

/// A plain number or a percentage (`0.5%` is 0.005).
fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.strip_suffix('%') {
        Some(percent) => Ok(parse_number(percent)? / 100.0),
        None => parse_number(text),
    }
}

fn parse_number(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .ok_or_else(|| format!("`{text}` is not a number (units: us, µs, ms, s, %)"))
}

/// Metric names never start like a number, so this tells the two apart.
fn looks_numeric(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'))
}

/// The dotted path an alias stands for.
fn expand_alias(name: &str) -> Option<String> {
    SHORT_NAMES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, path)| path.to_string())
        .or_else(|| latency_alias(name))
}

/// `p99` → `latency_us.response.p99`; `service.p99.9` (also written
/// `latency_us.service.p99.9`) → `latency_us.service.p99_9`.
fn latency_alias(name: &str) -> Option<String> {
    if let Some(field) = stat_field(name) {
        return Some(format!("latency_us.response.{field}"));
    }
    let within = name.strip_prefix("latency_us.").unwrap_or(name);
    let (distribution, stat) = within.split_once('.')?;
    if !DISTRIBUTIONS.contains(&distribution) {
        return None;
    }
    Some(format!("latency_us.{distribution}.{}", stat_field(stat)?))
}

/// The `Percentiles` field of a statistic, written `p99.9` or `p99_9`.
fn stat_field(stat: &str) -> Option<&'static str> {
    LATENCY_STATS
        .iter()
        .find(|(written, field)| stat == *written || stat == *field)
        .map(|(_, field)| *field)
}

/// Follows `path` in `schema` (a default summary, whose maps are empty): every
/// segment must be an object field and the end a number, except that
/// everything after a map field is a key in it (keys may contain dots).
fn resolve_path(path: &str, schema: &Value) -> Option<Metric> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|segment| segment.is_empty()) {
        return None;
    }
    let owned = |segments: &[&str]| segments.iter().map(|s| s.to_string()).collect();
    let mut node = schema;
    for (depth, segment) in segments.iter().enumerate() {
        if is_map(node) {
            return Some(Metric::Field {
                fields: owned(&segments[..depth]),
                map_key: Some(segments[depth..].join(".")),
            });
        }
        node = node.get(segment)?;
    }
    node.is_number().then(|| Metric::Field {
        fields: owned(&segments),
        map_key: None,
    })
}

/// In a default summary only maps serialize as empty objects.
fn is_map(node: &Value) -> bool {
    node.as_object().is_some_and(|object| object.is_empty())
}

fn lookup<'a, 'p>(root: &'a Value, fields: impl IntoIterator<Item = &'p str>) -> Option<&'a Value> {
    fields
        .into_iter()
        .try_fold(root, |node, field| node.get(field))
}

fn path_value(json: &Value, path: &str) -> f64 {
    lookup(json, path.split('.')).map_or(f64::NAN, number_or_nan)
}

fn number_or_nan(value: &Value) -> f64 {
    value.as_f64().unwrap_or(f64::NAN)
}

/// `Value::Null` cannot happen (summaries have string keys only) and would
/// make every metric NaN, failing every check.
fn to_json(summary: &Summary) -> Value {
    serde_json::to_value(summary).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::{Percentiles, RequestCounts};

    /// Every number distinct, so an alias pointing at the wrong field fails.
    fn sample() -> Summary {
        let mut summary = Summary {
            scenario: "clinic-morning".to_string(),
            started_at: "2025-04-01T09:00:00Z".to_string(),
            target_rate: 1000.0,
            achieved_rate: 990.0,
            check_rate: 1500.0,
            requests: RequestCounts {
                scheduled: 10_020,
                sent: 10_010,
                completed: 10_000,
                dropped: 3,
                unsent: 7,
                late: 11,
                ok: 9_990,
                failed: 10,
                timeouts: 2,
            },
            ..Summary::default()
        };
        summary.checks.mismatches = 4;
        summary.errors.total = 14;
        summary.errors.by_code.insert("bad_request".to_string(), 6);
        summary.errors.by_status.insert("200".to_string(), 9_990);
        summary.snapshots.insert("2025.04.01".to_string(), 8);
        summary.backlog.max = 21;
        summary.latency_us.response = percentiles(1_000);
        summary.latency_us.service = percentiles(2_000);
        summary.latency_us.send_lag = percentiles(3_000);
        summary
    }

    fn percentiles(base: u64) -> Percentiles {
        Percentiles {
            count: 10_000,
            min: base,
            mean: base as f64 + 0.5,
            p50: base + 1,
            p75: base + 2,
            p90: base + 3,
            p99: base + 4,
            p99_9: base + 5,
            p99_99: base + 6,
            max: base + 7,
        }
    }

    fn parse(text: &str) -> Threshold {
        Threshold::parse(text).unwrap_or_else(|why| panic!("{why}"))
    }

    fn parse_error(text: &str) -> String {
        match Threshold::parse(text) {
            Ok(threshold) => panic!("`{text}` parsed as {threshold:?}"),
            Err(why) => why,
        }
    }

    fn check(text: &str, summary: &Summary) -> ThresholdResult {
        evaluate(&[parse(text)], summary).remove(0)
    }

    #[test]
    fn results_say_whether_the_metric_is_a_latency() {
        let summary = sample();
        assert!(check("service.p99 < 5ms", &summary).latency);
        assert!(!check("errors == 0", &summary).latency);
        assert!(!check("error_rate < 1%", &summary).latency);
    }

    #[test]
    fn every_operator_compares_as_written() {
        let summary = sample(); // p99 = 1004
        for (text, passed) in [
            ("p99 < 1005", true),
            ("p99 < 1004", false),
            ("p99 <= 1004", true),
            ("p99 <= 1003", false),
            ("p99 > 1003", true),
            ("p99 > 1004", false),
            ("p99 >= 1004", true),
            ("p99 >= 1005", false),
            ("p99 == 1004", true),
            ("p99 == 1003", false),
            ("p99 != 1003", true),
            ("p99 != 1004", false),
        ] {
            let result = check(text, &summary);
            assert_eq!(result.passed, passed, "{text}");
            assert_eq!(result.actual, 1004.0, "{text}");
        }
    }

    #[test]
    fn whitespace_is_ignored_and_the_text_kept() {
        let parts = |threshold: Threshold| (threshold.metric, threshold.op, threshold.limit);
        let threshold = parse("p99<5 ms");
        assert_eq!(threshold.text(), "p99<5 ms");
        assert_eq!(parts(threshold), parts(parse("  p99  <  5ms ")));
        assert_eq!(check("p99<5 ms", &sample()).expression, "p99<5 ms");
        let from_str = "p99 < 5ms".parse::<Threshold>().map(parts);
        assert_eq!(from_str, Ok(parts(parse("p99<5000"))));
    }

    #[test]
    fn units_convert_to_microseconds_and_percent_divides_by_100() {
        let summary = sample();
        for (text, limit) in [
            ("p99 < 5ms", 5_000.0),
            ("p99 < 250us", 250.0),
            ("p99 < 250µs", 250.0),
            ("p99 < 1s", 1_000_000.0),
            ("p99 < 1.5ms", 1_500.0),
            ("p99 < 700", 700.0),
            ("error_rate < 0.5%", 0.005),
            ("achieved_rate >= 99%", 0.99),
        ] {
            assert_eq!(check(text, &summary).limit, limit, "{text}");
        }
    }

    #[test]
    fn a_number_times_a_metric_either_way_round() {
        let mut summary = sample();
        for text in [
            "achieved_rate >= 0.99 * target",
            "achieved_rate >= target * 0.99",
            "rate >= 99% * target_rate",
        ] {
            summary.achieved_rate = 990.0;
            let result = check(text, &summary);
            assert_eq!((result.actual, result.limit), (990.0, 990.0), "{text}");
            assert!(result.passed, "{text}");
            summary.achieved_rate = 989.0;
            assert!(!check(text, &summary).passed, "{text}");
        }
    }

    #[test]
    fn a_metric_alone_is_a_limit() {
        let result = check("p99 < service.p50", &sample());
        assert_eq!((result.actual, result.limit), (1004.0, 2001.0));
        assert!(result.passed);
    }

    #[test]
    fn aliases_read_their_field() {
        let summary = sample();
        for (alias, value) in [
            ("p50", 1001.0),
            ("p75", 1002.0),
            ("p90", 1003.0),
            ("p99", 1004.0),
            ("p99.9", 1005.0),
            ("p99.99", 1006.0),
            ("min", 1000.0),
            ("max", 1007.0),
            ("mean", 1000.5),
            ("response.p99", 1004.0),
            ("service.p99.9", 2005.0),
            ("service.p99_9", 2005.0),
            ("send_lag.max", 3007.0),
            ("latency_us.service.p99.99", 2006.0),
            ("errors", 14.0),
            ("mismatches", 4.0),
            ("dropped", 3.0),
            ("late", 11.0),
            ("timeouts", 2.0),
            ("failed", 10.0),
            ("unsent", 7.0),
            ("achieved_rate", 990.0),
            ("rate", 990.0),
            ("target_rate", 1000.0),
            ("target", 1000.0),
            ("check_rate", 1500.0),
            ("backlog", 21.0),
        ] {
            assert_eq!(
                check(&format!("{alias} >= 0"), &summary).actual,
                value,
                "{alias}"
            );
        }
    }

    #[test]
    fn dotted_paths_read_any_number() {
        let summary = sample();
        for (path, value) in [
            ("latency_us.service.p99_9", 2005.0),
            ("requests.dropped", 3.0),
            ("requests.scheduled", 10_020.0),
            ("backlog.max", 21.0),
            ("backlog.max_outstanding", 0.0),
            ("snapshots.p99", 0.0),
            ("errors.by_code.bad_request", 6.0),
            ("errors.by_status.200", 9_990.0),
            ("snapshots.2025.04.01", 8.0),
            ("harness.connections", 0.0),
        ] {
            assert_eq!(
                check(&format!("{path} >= 0"), &summary).actual,
                value,
                "{path}"
            );
        }
    }

    #[test]
    fn an_absent_map_key_is_zero() {
        let mut summary = sample();
        let result = check("errors.by_code.busy == 0", &summary);
        assert_eq!(result.actual, 0.0);
        assert!(result.passed);
        assert!(check("errors.by_status.503 == 0", &summary).passed);
        assert!(check("checks.expected_by_verdict.valid == 0", &summary).passed);
        summary.errors.by_code.insert("busy".to_string(), 3);
        let result = check("errors.by_code.busy == 0", &summary);
        assert_eq!(result.actual, 3.0);
        assert!(!result.passed);
    }

    #[test]
    fn latency_limits_are_exclusive_at_the_boundary() {
        let mut summary = sample();
        summary.latency_us.response.p99 = 4_999;
        assert!(check("p99 < 5ms", &summary).passed);
        summary.latency_us.response.p99 = 5_000;
        let result = check("p99 < 5ms", &summary);
        assert_eq!((result.actual, result.limit), (5_000.0, 5_000.0));
        assert!(!result.passed);
    }

    #[test]
    fn error_rate_is_errors_per_completed_request() {
        let mut summary = sample(); // 14 errors, 10 000 completed
        let result = check("error_rate < 0.2%", &summary);
        assert_eq!(result.actual, 0.0014);
        assert!(result.passed);
        assert!(!check("error_rate < 0.1%", &summary).passed);
        summary.requests.completed = 0;
        assert_eq!(check("error_rate < 0.1", &summary).actual, 14.0);
    }

    #[test]
    fn an_unknown_metric_is_named_with_the_aliases() {
        for (text, name) in [
            ("p98 < 5ms", "`p98`"),
            ("latency_us.response.p98 < 5ms", "`latency_us.response.p98`"),
            ("p99 < 0.5 * servce.p99", "`servce.p99`"),
            ("errors.by_code < 1", "`errors.by_code`"),
            ("intervals.completed < 1", "`intervals.completed`"),
            ("scenario == 0", "`scenario`"),
            ("requests..dropped == 0", "`requests..dropped`"),
            ("errors.by_code. == 0", "`errors.by_code.`"),
        ] {
            let why = parse_error(text);
            assert!(why.contains(name), "{text}: {why}");
            assert!(why.contains("error_rate"), "{text}: {why}");
        }
    }

    #[test]
    fn a_missing_or_malformed_operator_is_an_error() {
        for (text, expected) in [
            ("p99 5ms", "missing comparison operator"),
            ("p99 = 5ms", "unknown operator"),
            ("p99 ! 5ms", "unknown operator"),
            ("p99 < 5ms < 6ms", "more than one"),
            ("p99 =< 5ms", "unknown operator"),
            ("< 5ms", "missing metric"),
            ("p99 <", "missing limit"),
        ] {
            let why = parse_error(text);
            assert!(why.contains(expected), "{text}: {why}");
            assert!(why.contains(text), "{text}: {why}");
        }
    }

    #[test]
    fn a_time_unit_on_a_non_latency_metric_is_an_error() {
        for text in ["achieved_rate > 5ms", "errors < 1s", "error_rate < 10us"] {
            assert!(
                parse_error(text).contains("only apply to latency"),
                "{text}"
            );
        }
        assert!(parse_error("p99 < 2ms * service.p99").contains("`2ms` is not a number"));
    }

    #[test]
    fn garbage_is_an_error() {
        for (text, expected) in [
            ("p99 < 5x", "`5x` is not a number"),
            ("p99 < 1.2.3ms", "`1.2.3` is not a number"),
            ("p99 < 5hours", "is not a number"),
            ("error_rate < 1e999", "is not a number"),
            ("rate > 0.9x * target", "`0.9x` is not a number"),
            ("rate > target * service", "needs a number"),
            ("rate > 0.9 * target * 2", "at most one"),
            ("5 > p99", "must be a metric"),
        ] {
            let why = parse_error(text);
            assert!(why.contains(expected), "{text}: {why}");
        }
    }

    #[test]
    fn tolerance_is_a_fraction_or_a_percentage() {
        for (text, tolerance) in [
            ("10%", 0.1),
            (" 10 % ", 0.1),
            ("0.1", 0.1),
            ("0", 0.0),
            ("250%", 2.5),
            ("9.5", 9.5),
        ] {
            assert_eq!(parse_tolerance(text), Ok(tolerance), "{text}");
        }
        for text in ["", "ten", "%", "10%%", "-1%", "10", "1000%", "NaN", "inf"] {
            assert!(parse_tolerance(text).is_err(), "{text}");
        }
    }

    fn failing_metrics(comparison: &BaselineComparison) -> Vec<&str> {
        comparison
            .metrics
            .iter()
            .filter(|metric| !metric.passed)
            .map(|metric| metric.metric.as_str())
            .collect()
    }

    #[test]
    fn a_run_within_tolerance_of_its_baseline_passes() {
        let baseline = sample();
        let mut current = sample();
        current.latency_us.response.p99 = 1_004 + 100 + 50; // 10% + slack
        current.achieved_rate = 891.0; // 990 - 10%
        let comparison = compare_with_baseline(&current, &baseline, 0.1);
        assert_eq!(failing_metrics(&comparison), Vec::<&str>::new());
        assert!(comparison.passed);
        assert_eq!(
            comparison.baseline,
            "clinic-morning started 2025-04-01T09:00:00Z"
        );
        assert_eq!(comparison.tolerance, 0.1);
        assert_eq!(comparison.metrics.len(), BASELINE_METRICS.len());
    }

    #[test]
    fn a_worse_p99_fails_and_is_named() {
        let baseline = sample();
        let mut current = sample();
        current.latency_us.response.p99 = 1_004 + 100 + 51;
        let comparison = compare_with_baseline(&current, &baseline, 0.1);
        assert_eq!(failing_metrics(&comparison), ["latency_us.response.p99"]);
        assert!(!comparison.passed);
        let p99 = &comparison.metrics[2];
        assert_eq!((p99.baseline, p99.current), (1_004.0, 1_155.0));
        assert!((p99.limit - 1_154.4).abs() < 1e-9);
    }

    #[test]
    fn the_achieved_rate_may_rise_but_not_fall() {
        let baseline = sample();
        let mut current = sample();
        current.achieved_rate = 2_000.0;
        assert!(compare_with_baseline(&current, &baseline, 0.0).passed);
        current.achieved_rate = 989.0;
        let comparison = compare_with_baseline(&current, &baseline, 0.0);
        assert_eq!(failing_metrics(&comparison), ["achieved_rate"]);
    }

    #[test]
    fn more_failures_than_the_baseline_fail() {
        let baseline = sample();
        let mut current = sample();
        current.errors.total = 15;
        current.checks.mismatches = 5;
        let comparison = compare_with_baseline(&current, &baseline, 0.5);
        assert_eq!(
            failing_metrics(&comparison),
            ["errors.total", "checks.mismatches"]
        );
        current.errors.total = 0;
        current.checks.mismatches = 4;
        assert!(compare_with_baseline(&current, &baseline, 0.0).passed);
    }
}

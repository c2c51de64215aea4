//! The HTML report of a run (`report.html`): one self-contained file a team
//! can attach to a release ticket or a CI artifact and open later, offline,
//! in any browser. Styles are inline, charts are SVG drawn here (hovering a
//! point or bar shows its value through SVG `<title>`), and nothing refers
//! to a URL: no fonts, scripts, images or style sheets to fetch.
//!
//! Everything comes from the [`Summary`]; every text taken from it (scenario,
//! target, error messages, admin answers…) is HTML-escaped, and every number
//! placed in SVG geometry is finite whatever the summary holds.

use crate::summary::{Interval, Percentiles, Summary};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

/// `write!` into a `String`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {
        let _ = write!($out, $($arg)*);
    };
}

const CSS: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif;\
color:#222;max-width:1000px;margin:0 auto;padding:16px 24px}\
h1{font-size:1.6em;margin:.2em 0}\
h2{font-size:1.2em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}\
h3{font-size:1em;margin:1em 0 .3em}\
table{border-collapse:collapse;margin:.4em 0}\
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f5f5f5}\
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
tr.fail td{background:#fde2e1}\
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}\
.badge{display:inline-block;font-size:2em;font-weight:700;letter-spacing:.05em;\
color:#fff;padding:.1em .6em;border-radius:6px;margin:.2em 0}\
.badge.ok{background:#2e7d32}.badge.bad{background:#c62828}\
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:.4em 0}\
.card{border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:130px}\
.card b{display:block;font-size:1.3em}\
.tables{display:flex;flex-wrap:wrap;gap:8px 32px}\
figure{margin:.4em 0}figure>svg{display:block;max-width:100%;height:auto}\
figcaption{color:#555}.legend span{margin-right:16px;white-space:nowrap}\
.legend svg{vertical-align:middle;margin-right:4px}\
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}\
.wrap{overflow-wrap:anywhere}.muted{color:#666}";

/// Renders the whole report as one HTML5 document.
pub fn render(summary: &Summary) -> String {
    let s = summary;
    let mut out = String::with_capacity(64 * 1024);
    w!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n\
         <title>shikaku-load — {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        esc(&s.scenario)
    );
    header(&mut out, s);
    thresholds(&mut out, s);
    key_figures(&mut out, s);
    charts(&mut out, s);
    verdict_mix(&mut out, s);
    errors(&mut out, s);
    actions(&mut out, s);
    w!(
        out,
        "<p class=\"muted\">Summary schema <code>{}</code>.</p>\n</body>\n</html>\n",
        esc(&s.schema)
    );
    out
}

// ---------------------------------------------------------------------------
// Sections

fn header(out: &mut String, s: &Summary) {
    let (class, word) = if s.passed {
        ("ok", "PASSED")
    } else {
        ("bad", "FAILED")
    };
    w!(
        out,
        "<header>\n<h1>shikaku-load — {}</h1>\n<div class=\"badge {class}\">{word}</div>\n",
        esc(&s.scenario)
    );
    if s.interrupted {
        out.push_str("<p class=\"bad\">Interrupted before the schedule ended.</p>\n");
    }
    if !s.description.is_empty() {
        w!(out, "<p class=\"wrap\">{}</p>\n", esc(&s.description));
    }
    let p = &s.profile;
    let h = &s.harness;
    let rows = [
        ("Target", esc(&s.target)),
        ("Started at", esc(&s.started_at)),
        ("Profile", esc(&p.description)),
        (
            "Arrivals",
            format!(
                "{}, time scale ×{}, {} s with {} s warm-up, peak {}/s",
                esc(&p.arrivals),
                fmt_num(p.time_scale),
                fmt_num(p.duration_seconds),
                fmt_num(p.warmup_seconds),
                fmt_num(p.peak_rate)
            ),
        ),
        ("Measured", format!("{} s", fmt_num(s.measured_seconds))),
        ("Harness version", esc(&h.version)),
        ("Connection mode", esc(&h.connection_mode)),
        ("Connections", group(h.connections as u64)),
        ("Max outstanding", group(h.max_outstanding as u64)),
        ("Timeout", format_us(h.timeout_ms as f64 * 1e3)),
        ("Threads", group(h.threads as u64)),
        ("Interval", format_us(h.interval_ms as f64 * 1e3)),
        ("Late after", format_us(h.late_threshold_us as f64)),
    ];
    out.push_str("<table>\n");
    for (name, value) in rows {
        w!(
            out,
            "<tr><th>{name}</th><td class=\"wrap\">{value}</td></tr>\n"
        );
    }
    out.push_str("</table>\n</header>\n");
}

fn thresholds(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"thresholds\">\n<h2>Thresholds</h2>\n");
    if s.thresholds.is_empty() {
        out.push_str("<p class=\"muted\">No thresholds.</p>\n");
    } else {
        out.push_str(
            "<table>\n<tr><th>expression</th><th>actual</th><th>limit</th><th>result</th></tr>\n",
        );
        for t in &s.thresholds {
            let value = |v: f64| if t.latency { format_us(v) } else { fmt_num(v) };
            w!(
                out,
                "<tr{}><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td>{}</tr>\n",
                fail_class(t.passed),
                esc(&t.expression),
                value(t.actual),
                value(t.limit),
                pass_cell(t.passed)
            );
        }
        out.push_str("</table>\n");
    }
    if let Some(b) = &s.baseline {
        w!(
            out,
            "<h2>Baseline comparison</h2>\n<p>Against <span class=\"wrap\">{}</span>, \
             tolerance {} %: {}</p>\n",
            esc(&b.baseline),
            fmt_num(b.tolerance * 100.0),
            if b.passed {
                "<span class=\"ok\">pass</span>"
            } else {
                "<span class=\"bad\">FAIL</span>"
            }
        );
        out.push_str(
            "<table>\n<tr><th>metric</th><th>baseline</th><th>current</th><th>limit</th>\
             <th>result</th></tr>\n",
        );
        for m in &b.metrics {
            let latency = m.metric.starts_with("latency_us.");
            let value = |v: f64| if latency { format_us(v) } else { fmt_num(v) };
            w!(
                out,
                "<tr{}><td><code>{}</code></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td>{}</tr>\n",
                fail_class(m.passed),
                esc(&m.metric),
                value(m.baseline),
                value(m.current),
                value(m.limit),
                pass_cell(m.passed)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

fn key_figures(out: &mut String, s: &Summary) {
    let cards = [
        ("target rate", format!("{}/s", fmt_num(s.target_rate))),
        ("achieved rate", format!("{}/s", fmt_num(s.achieved_rate))),
        ("check rate", format!("{}/s", fmt_num(s.check_rate))),
        ("checks answered", group(s.checks.answered)),
        ("mismatches", group(s.checks.mismatches)),
        ("errors total", group(s.errors.total)),
        ("backlog max", group(s.backlog.max)),
        ("most outstanding", group(s.backlog.max_outstanding)),
    ];
    out.push_str("<section id=\"key-figures\">\n<h2>Key figures</h2>\n<div class=\"cards\">\n");
    for (name, value) in cards {
        w!(out, "<div class=\"card\">{name}<b>{value}</b></div>\n");
    }
    out.push_str("</div>\n<h3>Requests (after warm-up)</h3>\n<table>\n<tr>");
    let r = &s.requests;
    let counts = [
        ("scheduled", r.scheduled),
        ("sent", r.sent),
        ("completed", r.completed),
        ("ok", r.ok),
        ("failed", r.failed),
        ("dropped", r.dropped),
        ("unsent", r.unsent),
        ("late", r.late),
        ("timeouts", r.timeouts),
    ];
    for (name, _) in counts {
        w!(out, "<th>{name}</th>");
    }
    out.push_str("</tr>\n<tr>");
    for (_, n) in counts {
        w!(out, "<td class=\"n\">{}</td>", group(n));
    }
    out.push_str("</tr>\n</table>\n<h3>Latency</h3>\n<table>\n<tr><th></th>");
    for h in [
        "count", "min", "mean", "p50", "p75", "p90", "p99", "p99.9", "p99.99", "max",
    ] {
        w!(out, "<th class=\"n\">{h}</th>");
    }
    out.push_str("</tr>\n");
    let l = &s.latency_us;
    for (name, p) in [
        ("response", &l.response),
        ("service", &l.service),
        ("send lag", &l.send_lag),
    ] {
        w!(
            out,
            "<tr><th>{name}</th><td class=\"n\">{}</td>",
            group(p.count)
        );
        let values = [
            p.min as f64,
            p.mean,
            p.p50 as f64,
            p.p75 as f64,
            p.p90 as f64,
            p.p99 as f64,
            p.p99_9 as f64,
            p.p99_99 as f64,
            p.max as f64,
        ];
        for v in values {
            w!(out, "<td class=\"n\">{}</td>", format_us(v));
        }
        out.push_str("</tr>\n");
    }
    out.push_str(
        "</table>\n<p class=\"muted\">Response time runs from the scheduled send time, service \
         time from the actual send, send lag between the two.</p>\n</section>\n",
    );
}

fn charts(out: &mut String, s: &Summary) {
    let tl = Timeline::new(s);
    let iv = &s.intervals;
    let note = if iv.is_empty() {
        " No intervals recorded."
    } else {
        " One point per report interval, at its start; intervals by completion time."
    };

    let response = |name, color, f: fn(&Percentiles) -> u64| {
        Series::new(name, color, false, iv, |i| {
            (i.response.count > 0).then_some(f(&i.response) as f64)
        })
    };
    let latency = [
        response("p50", "#1f77b4", |p| p.p50),
        response("p90", "#2ca02c", |p| p.p90),
        response("p99", "#ff7f0e", |p| p.p99),
        response("p99.9", "#d62728", |p| p.p99_9),
        response("max", "#555555", |p| p.max),
        Series::new("service p99", "#9467bd", true, iv, |i| {
            (i.service.count > 0).then_some(i.service.p99 as f64)
        }),
    ];
    figure(
        out,
        "latency",
        "Latency over time",
        &line_chart(&tl, &latency, true, format_us),
        &legend(&tl, latency.iter().map(Series::swatch)),
        &format!("Response time per interval (log scale); service time p99 dashed.{note}"),
    );

    let rate = [
        Series::new("target", "#555555", true, iv, |i| Some(i.target_rate)),
        Series::new("achieved", "#1f77b4", false, iv, |i| Some(i.achieved_rate)),
        Series::new("sent", "#ff7f0e", false, iv, |i| Some(i.sent_rate)),
    ];
    figure(
        out,
        "rate",
        "Rate",
        &line_chart(&tl, &rate, false, |v| format!("{}/s", fmt_num(v))),
        &legend(&tl, rate.iter().map(Series::swatch)),
        &format!("Requests per second: planned, completed and sent.{note}"),
    );

    let layers = [
        ("failed", "#d62728"),
        ("mismatches", "#9467bd"),
        ("dropped", "#ff7f0e"),
        ("late", "#bcbd22"),
    ];
    let columns: Vec<Column> = iv
        .iter()
        .map(|i| Column {
            from: i.start_seconds,
            to: i.start_seconds + i.seconds,
            values: vec![i.failed, i.mismatches, i.dropped, i.late],
        })
        .collect();
    let totals: Vec<f64> = (0..layers.len())
        .map(|k| columns.iter().map(|c| c.values[k] as f64).sum())
        .collect();
    let caption = if totals.iter().all(|&t| t == 0.0) {
        "No errors: no request failed, mismatched, was dropped or sent late.".to_string()
    } else {
        let parts: Vec<String> = layers
            .iter()
            .zip(&totals)
            .map(|((name, _), t)| format!("{name} {}", fmt_num(*t)))
            .collect();
        format!(
            "Per interval, stacked, warm-up included ({}); failed counts failed requests \
             and bulk lines answered with an error.",
            parts.join(", ")
        )
    };
    figure(
        out,
        "errors-over-time",
        "Errors over time",
        &stacked_bar_chart(&tl, &layers, &columns),
        &legend(&tl, layers.iter().map(|&(n, c)| (n, c, Swatch::Box))),
        &caption,
    );
}

fn verdict_mix(out: &mut String, s: &Summary) {
    let c = &s.checks;
    let names: BTreeSet<&String> = c
        .by_verdict
        .keys()
        .chain(c.expected_by_verdict.keys())
        .collect();
    let rows: Vec<(&str, Vec<u64>)> = names
        .into_iter()
        .map(|v| {
            let get = |m: &BTreeMap<String, u64>| m.get(v).copied().unwrap_or(0);
            (
                v.as_str(),
                vec![get(&c.by_verdict), get(&c.expected_by_verdict)],
            )
        })
        .collect();
    out.push_str("<section id=\"verdict-mix\">\n<h2>Verdict mix</h2>\n");
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">No checks answered.</p>\n");
    } else {
        let layers = [("answered", "#1f77b4"), ("expected", "#bbbbbb")];
        w!(
            out,
            "<figure>\n{}<figcaption class=\"legend\">{}</figcaption>\n</figure>\n",
            hbar_chart(&rows, &layers),
            legend_items(layers.iter().map(|&(n, c)| (n, c, Swatch::Box)))
        );
    }
    out.push_str("<div class=\"tables\">\n");
    count_table(out, "Checks sent by kind", "kind", &c.by_kind);
    count_table(out, "Answers by snapshot", "snapshot", &s.snapshots);
    out.push_str("</div>\n</section>\n");
}

fn errors(out: &mut String, s: &Summary) {
    let e = &s.errors;
    w!(
        out,
        "<section id=\"errors\">\n<h2>Errors</h2>\n<p>{} in total: failed requests {}, \
         mismatches {}, failed bulk lines {}.</p>\n<div class=\"tables\">\n",
        group(e.total),
        group(s.requests.failed),
        group(s.checks.mismatches),
        group(e.checks_failed)
    );
    count_table(out, "By HTTP status", "status", &e.by_status);
    count_table(out, "By error code", "code", &e.by_code);
    count_table(out, "Transport failures", "failure", &e.transport);
    out.push_str("</div>\n<h3>Examples</h3>\n");
    if e.examples.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n");
    } else {
        out.push_str("<ol>\n");
        for x in &e.examples {
            w!(out, "<li class=\"wrap\"><code>{}</code></li>\n", esc(x));
        }
        out.push_str("</ol>\n");
    }
    out.push_str("<h3>Mismatch examples</h3>\n");
    if s.checks.mismatch_examples.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n");
    } else {
        out.push_str(
            "<table>\n<tr><th>request</th><th>expected</th><th>answered</th><th>snapshot</th></tr>\n",
        );
        for m in &s.checks.mismatch_examples {
            w!(
                out,
                "<tr><td class=\"wrap\"><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                esc(&m.request),
                esc(&m.expected),
                esc(&m.answered),
                esc(&m.snapshot)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

fn actions(out: &mut String, s: &Summary) {
    out.push_str("<section id=\"actions\">\n<h2>Actions</h2>\n");
    if s.actions.is_empty() {
        out.push_str("<p class=\"muted\">No actions.</p>\n");
    } else {
        w!(
            out,
            "<table>\n<tr><th>at</th><th>action</th><th>status</th><th>result</th><th>took</th>\
             <th>response p99 during</th><th>response p99 in the {} s after</th>\
             <th>detail</th></tr>\n",
            crate::summary::AFTER_ACTION_SECONDS
        );
        for a in &s.actions {
            w!(
                out,
                "<tr{}><td class=\"n\">{} s</td><td>{}</td><td class=\"n\">{}</td>{}\
                 <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"wrap\"><code>{}</code></td></tr>\n",
                fail_class(a.ok),
                fmt_num(a.at_seconds),
                esc(&a.action),
                a.status,
                pass_cell(a.ok),
                format_us(a.took_ms as f64 * 1e3),
                format_us(a.during.response.p99 as f64),
                format_us(a.after.response.p99 as f64),
                esc(&a.detail)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}

fn count_table(out: &mut String, title: &str, key: &str, counts: &BTreeMap<String, u64>) {
    w!(out, "<div>\n<h3>{title}</h3>\n");
    if counts.is_empty() {
        out.push_str("<p class=\"muted\">None.</p>\n</div>\n");
        return;
    }
    w!(
        out,
        "<table>\n<tr><th>{key}</th><th class=\"n\">count</th></tr>\n"
    );
    for (k, n) in counts {
        w!(
            out,
            "<tr><td class=\"wrap\">{}</td><td class=\"n\">{}</td></tr>\n",
            esc(k),
            group(*n)
        );
    }
    out.push_str("</table>\n</div>\n");
}

fn fail_class(passed: bool) -> &'static str {
    if passed {
        ""
    } else {
        " class=\"fail\""
    }
}

fn pass_cell(passed: bool) -> &'static str {
    if passed {
        "<td class=\"ok\">pass</td>"
    } else {
        "<td class=\"bad\">FAIL</td>"
    }
}

fn figure(out: &mut String, id: &str, title: &str, svg: &str, legend: &str, caption: &str) {
    w!(
        out,
        "<section id=\"{id}\">\n<h2>{title}</h2>\n<figure>\n{svg}<figcaption>\
         <div class=\"legend\">{legend}</div>{}</figcaption>\n</figure>\n</section>\n",
        esc(caption)
    );
}

// ---------------------------------------------------------------------------
// Charts

/// Size of a time chart and the margins around its plot area.
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 30.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_H: f64 = HEIGHT - TOP - BOTTOM;

/// A number for SVG geometry: one decimal, and 0 rather than NaN or inf.
struct N(f64);

impl fmt::Display for N {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = if self.0.is_finite() { self.0 } else { 0.0 };
        write!(f, "{:.1}", v)
    }
}

/// The x axis shared by the time charts: the run's seconds, the warm-up
/// spans to shade and the actions to mark.
struct Timeline {
    x0: f64,
    x1: f64,
    warmup: Vec<(f64, f64)>,
    /// Seconds, short label, full description.
    markers: Vec<(f64, String, String)>,
}

impl Timeline {
    fn new(s: &Summary) -> Timeline {
        let end = |i: &Interval| {
            let e = i.start_seconds + i.seconds;
            if e.is_finite() {
                e
            } else {
                i.start_seconds
            }
        };
        let xs = s
            .intervals
            .iter()
            .flat_map(|i| [i.start_seconds, end(i)])
            .chain(s.actions.iter().map(|a| a.at_seconds))
            .filter(|x| x.is_finite());
        let (mut x0, mut x1) = xs.fold((0.0f64, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if !(x1 - x0 > 0.0 && (x1 - x0).is_finite()) {
            (x0, x1) = (0.0, 1.0);
        }
        let mut warmup: Vec<(f64, f64)> = Vec::new();
        for i in s
            .intervals
            .iter()
            .filter(|i| i.warmup && i.start_seconds.is_finite())
        {
            match warmup.last_mut() {
                Some(last) if i.start_seconds <= last.1 + 1e-9 => last.1 = last.1.max(end(i)),
                _ => warmup.push((i.start_seconds, end(i))),
            }
        }
        let markers = s
            .actions
            .iter()
            .filter(|a| a.at_seconds.is_finite())
            .map(|a| {
                let short: String = a.action.chars().take(40).collect();
                let full = format!(
                    "{} at {} s: HTTP {}, {}, took {}. {}",
                    a.action,
                    fmt_num(a.at_seconds),
                    a.status,
                    if a.ok { "ok" } else { "failed" },
                    format_us(a.took_ms as f64 * 1e3),
                    a.detail
                );
                (a.at_seconds, short, full)
            })
            .collect();
        Timeline {
            x0,
            x1,
            warmup,
            markers,
        }
    }

    fn px(&self, x: f64) -> f64 {
        let t = ((x - self.x0) / (self.x1 - self.x0)).clamp(0.0, 1.0);
        LEFT + t * PLOT_W
    }
}

/// A value axis: linear from 0, or logarithmic over whole decades.
struct YAxis {
    lo: f64,
    hi: f64,
    log: bool,
    ticks: Vec<f64>,
    fmt: fn(f64) -> String,
}

impl YAxis {
    /// Decades around the positive values (1 µs to 1 ms when there are none).
    fn log(values: &[f64], fmt: fn(f64) -> String) -> YAxis {
        let pos = values.iter().copied().filter(|v| v.is_finite() && *v > 0.0);
        let (min, max) = pos.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        let (lo, mut hi) = if max > 0.0 {
            (min.log10().floor(), max.log10().ceil())
        } else {
            (0.0, 3.0)
        };
        if hi <= lo {
            hi = lo + 1.0;
        }
        let ticks = (0..=(hi - lo) as i32)
            .map(|e| 10f64.powf(lo + f64::from(e)))
            .collect();
        YAxis {
            lo,
            hi,
            log: true,
            ticks,
            fmt,
        }
    }

    /// From 0 to a round number at or above the largest value (at most
    /// 1e300, so that the axis stays finite); steps of at least `min_step`.
    fn linear(values: &[f64], min_step: f64, fmt: fn(f64) -> String) -> YAxis {
        let max = values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .min(1e300);
        let step = nice_step(max / 5.0).max(min_step);
        let steps = (max / step).ceil().clamp(1.0, 10.0) as i32;
        let ticks = (0..=steps).map(|k| f64::from(k) * step).collect();
        YAxis {
            lo: 0.0,
            hi: f64::from(steps) * step,
            log: false,
            ticks,
            fmt,
        }
    }

    fn plottable(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    fn py(&self, v: f64) -> f64 {
        let t = if self.log {
            (v.log10() - self.lo) / (self.hi - self.lo)
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        TOP + PLOT_H * (1.0 - t)
    }

    fn label(&self, v: f64) -> String {
        let s = (self.fmt)(v);
        if self.log {
            trim_zeros(&s)
        } else {
            s
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// "1.00 ms" → "1 ms", "2.50 s" → "2.5 s" (axis labels).
fn trim_zeros(s: &str) -> String {
    match s.split_once(' ') {
        Some((num, unit)) if num.contains('.') => {
            format!("{} {unit}", num.trim_end_matches('0').trim_end_matches('.'))
        }
        _ => s.to_string(),
    }
}

/// Opens a time chart: background, warm-up shading, gridlines and labels of
/// both axes, and the action markers.
fn time_frame(tl: &Timeline, y: &YAxis) -> String {
    let mut svg = String::new();
    w!(
        svg,
        "<svg viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-size=\"11\" font-family=\"system-ui,sans-serif\" role=\"img\">\n\
         <rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{PLOT_W}\" height=\"{PLOT_H}\" fill=\"#fff\" \
         stroke=\"#999\"/>\n"
    );
    for &(a, b) in &tl.warmup {
        let (xa, xb) = (tl.px(a), tl.px(b));
        w!(
            svg,
            "<rect x=\"{}\" y=\"{TOP}\" width=\"{}\" height=\"{PLOT_H}\" fill=\"#e4e4e4\">\
             <title>warm-up {}–{} s</title></rect>\n",
            N(xa),
            N((xb - xa).max(0.5)),
            fmt_num(a),
            fmt_num(b)
        );
    }
    // Every gridline, but at most about ten labels (many decades).
    let every = y.ticks.len().div_ceil(10).max(1);
    for (k, &v) in y.ticks.iter().enumerate() {
        let py = y.py(v);
        w!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\n",
            N(LEFT + PLOT_W),
            N(py),
            N(py)
        );
        if k % every == 0 {
            w!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#555\">{}</text>\n",
                N(LEFT - 6.0),
                N(py + 4.0),
                esc(&y.label(v))
            );
        }
    }
    let step = nice_step((tl.x1 - tl.x0) / 8.0);
    let first = (tl.x0 / step).ceil();
    for k in 0..=20 {
        let x = (first + f64::from(k)) * step;
        if x > tl.x1 + step * 1e-6 {
            break;
        }
        let px = tl.px(x);
        w!(
            svg,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#999\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{} s</text>\n",
            N(px),
            N(px),
            N(TOP + PLOT_H),
            N(TOP + PLOT_H + 4.0),
            N(px),
            N(TOP + PLOT_H + 16.0),
            fmt_num(x)
        );
    }
    for (k, (at, short, full)) in tl.markers.iter().enumerate() {
        let px = tl.px(*at);
        let (anchor, dx) = if px > LEFT + PLOT_W * 0.75 {
            ("end", -4.0)
        } else {
            ("start", 4.0)
        };
        w!(
            svg,
            "<g><title>{}</title><line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#000\" \
             stroke-dasharray=\"2 3\"/><text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text></g>\n",
            esc(full),
            N(px),
            N(px),
            N(TOP - 14.0 + if k % 2 == 1 { 12.0 } else { 0.0 }),
            N(TOP + PLOT_H),
            N(px + dx),
            N(if k % 2 == 1 { TOP - 4.0 } else { TOP - 16.0 }),
            esc(short)
        );
    }
    svg
}

/// One line of a line chart; a missing value is a gap in the line.
struct Series<'a> {
    name: &'a str,
    color: &'a str,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

impl<'a> Series<'a> {
    fn new(
        name: &'a str,
        color: &'a str,
        dashed: bool,
        intervals: &[Interval],
        value: impl Fn(&Interval) -> Option<f64>,
    ) -> Series<'a> {
        let points = intervals
            .iter()
            .map(|i| (i.start_seconds, value(i).unwrap_or(f64::NAN)))
            .collect();
        Series {
            name,
            color,
            dashed,
            points,
        }
    }

    fn swatch(&self) -> (&'a str, &'a str, Swatch) {
        let kind = if self.dashed {
            Swatch::Dashed
        } else {
            Swatch::Line
        };
        (self.name, self.color, kind)
    }
}

/// A line chart over the run's time; `fmt` writes values (axis, tooltips).
fn line_chart(tl: &Timeline, series: &[Series], log: bool, fmt: fn(f64) -> String) -> String {
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .collect();
    let y = if log {
        YAxis::log(&values, fmt)
    } else {
        YAxis::linear(&values, 0.0, fmt)
    };
    let mut svg = time_frame(tl, &y);
    for s in series {
        let mut d = String::new();
        let mut dots = String::new();
        let mut pen_down = false;
        // Smaller dots when there are many (an hour of one-second intervals).
        let r = if s.points.len() > 120 { 1.2 } else { 2.5 };
        for &(x, v) in &s.points {
            if !(x.is_finite() && y.plottable(v)) {
                pen_down = false;
                continue;
            }
            let (px, py) = (N(tl.px(x)), N(y.py(v)));
            w!(d, "{}{px} {py}", if pen_down { " L" } else { " M" });
            pen_down = true;
            w!(
                dots,
                "<circle cx=\"{px}\" cy=\"{py}\" r=\"{r}\"><title>{} s: {} {}</title></circle>",
                fmt_num(x),
                esc(s.name),
                esc(&fmt(v))
            );
        }
        let dash = if s.dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        w!(
            svg,
            "<g fill=\"{0}\"><path d=\"{d}\" fill=\"none\" stroke=\"{0}\" stroke-width=\"1.5\"{dash}/>\
             {dots}</g>\n",
            s.color
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// One bar of a stacked bar chart: a span of time and one count per layer.
struct Column {
    from: f64,
    to: f64,
    values: Vec<u64>,
}

/// Stacked bars over the run's time, one per column.
fn stacked_bar_chart(tl: &Timeline, layers: &[(&str, &str)], columns: &[Column]) -> String {
    let totals: Vec<f64> = columns
        .iter()
        .map(|c| c.values.iter().map(|&v| v as f64).sum())
        .collect();
    let y = YAxis::linear(&totals, 1.0, fmt_num);
    let mut svg = time_frame(tl, &y);
    for c in columns.iter().filter(|c| c.from.is_finite()) {
        let (xa, xb) = (
            tl.px(c.from),
            tl.px(if c.to.is_finite() { c.to } else { c.from }),
        );
        let gap = ((xb - xa) * 0.15).min(2.0);
        let (x, width) = (xa + gap / 2.0, (xb - xa - gap).max(1.0));
        let mut base = 0.0;
        for (v, (_, color)) in c.values.iter().zip(layers) {
            if *v == 0 {
                continue;
            }
            let top = base + *v as f64;
            let (y0, y1) = (y.py(base), y.py(top));
            w!(
                svg,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\"/>",
                N(x),
                N(y1),
                N(width),
                N(y0 - y1)
            );
            base = top;
        }
        let parts: Vec<String> = layers
            .iter()
            .zip(&c.values)
            .map(|((name, _), v)| format!("{name} {}", group(*v)))
            .collect();
        w!(
            svg,
            "<rect x=\"{}\" y=\"{TOP}\" width=\"{}\" height=\"{PLOT_H}\" fill=\"transparent\">\
             <title>{}–{} s: {}</title></rect>\n",
            N(x),
            N(width),
            fmt_num(c.from),
            fmt_num(c.to),
            parts.join(", ")
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Horizontal bars: one group per row, one bar per layer, value at its end.
fn hbar_chart(rows: &[(&str, Vec<u64>)], layers: &[(&str, &str)]) -> String {
    const LABEL: f64 = 180.0;
    const BARS: f64 = 620.0;
    const BAR: f64 = 11.0;
    let group_h = BAR * layers.len() as f64 + 10.0;
    let height = group_h * rows.len() as f64 + 10.0;
    let max = rows
        .iter()
        .flat_map(|r| r.1.iter())
        .copied()
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut svg = String::new();
    w!(
        svg,
        "<svg viewBox=\"0 0 {WIDTH} {0}\" width=\"{WIDTH}\" height=\"{0}\" font-size=\"11\" \
         font-family=\"system-ui,sans-serif\" role=\"img\">\n",
        N(height)
    );
    for (k, (name, values)) in rows.iter().enumerate() {
        let top = 5.0 + group_h * k as f64;
        let short: String = name.chars().take(28).collect();
        w!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\"><title>{}</title>{}</text>\n",
            N(LABEL - 8.0),
            N(top + BAR * layers.len() as f64 / 2.0 + 4.0),
            esc(name),
            esc(&short)
        );
        for (j, (v, (layer, color))) in values.iter().zip(layers).enumerate() {
            let width = *v as f64 / max * BARS;
            let by = top + BAR * j as f64;
            w!(
                svg,
                "<rect x=\"{LABEL}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\">\
                 <title>{} {layer}: {}</title></rect><text x=\"{}\" y=\"{}\" fill=\"#555\">{}</text>\n",
                N(by),
                N(width),
                N(BAR - 1.0),
                esc(name),
                group(*v),
                N(LABEL + width + 4.0),
                N(by + BAR - 2.0),
                group(*v)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[derive(Clone, Copy)]
enum Swatch {
    Line,
    Dashed,
    Box,
}

/// The legend of a time chart: its series, then warm-up and actions when
/// the chart shows them.
fn legend<'a>(tl: &Timeline, items: impl Iterator<Item = (&'a str, &'a str, Swatch)>) -> String {
    let mut out = legend_items(items);
    if !tl.warmup.is_empty() {
        out.push_str(&legend_items(
            [("warm-up", "#e4e4e4", Swatch::Box)].into_iter(),
        ));
    }
    if !tl.markers.is_empty() {
        out.push_str(&legend_items(
            [("action", "#000", Swatch::Dashed)].into_iter(),
        ));
    }
    out
}

fn legend_items<'a>(items: impl Iterator<Item = (&'a str, &'a str, Swatch)>) -> String {
    let mut out = String::new();
    for (name, color, kind) in items {
        let mark = match kind {
            Swatch::Line => format!("<line x1=\"0\" x2=\"24\" y1=\"5\" y2=\"5\" stroke=\"{color}\" stroke-width=\"2\"/>"),
            Swatch::Dashed => format!(
                "<line x1=\"0\" x2=\"24\" y1=\"5\" y2=\"5\" stroke=\"{color}\" stroke-width=\"2\" \
                 stroke-dasharray=\"6 4\"/>"
            ),
            Swatch::Box => format!("<rect x=\"6\" y=\"0\" width=\"12\" height=\"10\" fill=\"{color}\"/>"),
        };
        w!(
            out,
            "<span><svg width=\"24\" height=\"10\">{mark}</svg>{}</span>",
            esc(name)
        );
    }
    out
}

// ---------------------------------------------------------------------------
// Text

/// Escapes text for HTML content and attribute values; control characters
/// other than tab and newline become U+FFFD.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A duration in microseconds, to three significant digits in the largest
/// unit that keeps it at least 1: "812 µs", "4.31 ms", "1.20 s", "2.50 h".
fn format_us(us: f64) -> String {
    if !us.is_finite() {
        return "–".to_string();
    }
    if us < 0.0 {
        return format!("-{}", format_us(-us));
    }
    if us < 999.5 {
        return format!("{us:.0} µs");
    }
    let (v, unit) = if us < 999_500.0 {
        (us / 1e3, "ms")
    } else if us < 59.95e6 {
        (us / 1e6, "s")
    } else if us < 59.95 * 60e6 {
        (us / 60e6, "min")
    } else {
        (us / 3600e6, "h")
    };
    if v < 9.995 {
        format!("{v:.2} {unit}")
    } else if v < 99.95 {
        format!("{v:.1} {unit}")
    } else {
        format!("{v:.0} {unit}")
    }
}

/// A count, rate or ratio: thousands separated; fractions to three
/// significant digits.
fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v.abs() >= 1e15 {
        return format!("{v:.3e}");
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let a = v.abs();
    if a >= 1000.0 || a.fract() == 0.0 {
        format!("{sign}{}", group(a.round() as u64))
    } else if a >= 10.0 {
        format!("{sign}{a:.1}")
    } else if a >= 1.0 {
        format!("{sign}{a:.2}")
    } else {
        // Three significant digits of a small ratio: 0.0240 → "0.024".
        let decimals = (2.0 - a.log10().floor()).min(9.0) as usize;
        let text = format!("{a:.decimals$}");
        format!("{sign}{}", text.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// 1234567 → "1,234,567".
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::*;

    fn pct(base: u64) -> Percentiles {
        Percentiles {
            count: 1000,
            min: base / 4,
            mean: base as f64 * 1.1,
            p50: base,
            p75: base * 3 / 2,
            p90: base * 2,
            p99: base * 4,
            p99_9: base * 8,
            p99_99: base * 12,
            max: base * 20,
        }
    }

    fn realistic() -> Summary {
        let intervals = (0..60)
            .map(|k| Interval {
                start_seconds: k as f64,
                seconds: 1.0,
                warmup: k < 10,
                target_rate: 1000.0,
                sent_rate: 998.0,
                achieved_rate: if k == 30 { 700.0 } else { 995.0 },
                completed: 995,
                failed: u64::from(k == 30) * 12,
                mismatches: u64::from(k == 31),
                dropped: 0,
                late: u64::from(k % 7 == 0),
                backlog_max: 3,
                response: pct(800 + k * 10),
                service: pct(600),
                by_verdict: BTreeMap::from([("valid".into(), 900), ("invalid".into(), 95)]),
                by_status: BTreeMap::from([("200".into(), 995)]),
            })
            .collect();
        Summary {
            schema: SCHEMA.into(),
            scenario: "clinic-morning".into(),
            description: "Monday morning at the clinics".into(),
            target: "http://shikaku.test:8080".into(),
            started_at: "2026-11-21T08:30:00Z".into(),
            harness: HarnessInfo {
                version: "0.1.0".into(),
                connection_mode: "keep-alive".into(),
                connections: 16,
                max_outstanding: 10_000,
                timeout_ms: 5000,
                threads: 4,
                late_threshold_us: 1000,
                interval_ms: 1000,
            },
            profile: ProfileInfo {
                description: "clinic-morning 1000/s over 1m".into(),
                arrivals: "poisson".into(),
                time_scale: 1.0,
                duration_seconds: 60.0,
                warmup_seconds: 10.0,
                peak_rate: 1000.0,
            },
            measured_seconds: 50.0,
            target_rate: 1000.0,
            achieved_rate: 995.2,
            check_rate: 1210.5,
            requests: RequestCounts {
                scheduled: 50_000,
                sent: 50_000,
                completed: 50_000,
                ok: 49_988,
                failed: 12,
                timeouts: 2,
                late: 7,
                ..Default::default()
            },
            checks: CheckCounts {
                answered: 60_000,
                mismatches: 1,
                by_verdict: BTreeMap::from([("valid".into(), 54_000), ("invalid".into(), 6_000)]),
                expected_by_verdict: BTreeMap::from([
                    ("valid".into(), 54_001),
                    ("invalid".into(), 5_999),
                ]),
                by_kind: BTreeMap::from([
                    ("card".into(), 40_000),
                    ("online_number".into(), 20_000),
                ]),
                mismatch_examples: vec![Mismatch {
                    request: "{\"online_number\":\"0613\"}".into(),
                    expected: "valid".into(),
                    answered: "invalid".into(),
                    snapshot: "2026-11-22.1".into(),
                }],
            },
            errors: ErrorCounts {
                total: 13,
                by_status: BTreeMap::from([("200".into(), 49_988), ("503".into(), 12)]),
                by_code: BTreeMap::from([("busy".into(), 12)]),
                transport: BTreeMap::from([("timeout".into(), 2)]),
                examples: vec!["503 busy".into()],
                ..Default::default()
            },
            backlog: Backlog {
                max: 3,
                max_outstanding: 40,
            },
            latency_us: Latencies {
                response: pct(850),
                service: pct(600),
                send_lag: pct(20),
            },
            snapshots: BTreeMap::from([
                ("2026-11-21.1".into(), 30_000),
                ("2026-11-22.1".into(), 30_000),
            ]),
            intervals,
            actions: vec![ActionResult {
                at_seconds: 30.0,
                action: "activate snapshots/next".into(),
                status: 200,
                ok: true,
                detail: "{\"status\":\"ok\"}".into(),
                took_ms: 420,
                during: Latency {
                    response: Percentiles {
                        count: 420,
                        p99: 3_900,
                        ..Percentiles::default()
                    },
                    service: Percentiles::default(),
                },
                after: Latency::default(),
            }],
            thresholds: vec![
                ThresholdResult {
                    expression: "p99 < 5ms".into(),
                    actual: 3400.0,
                    limit: 5000.0,
                    passed: true,
                    latency: true,
                },
                ThresholdResult {
                    expression: "error_rate < 0.01%".into(),
                    actual: 0.00026,
                    limit: 0.0001,
                    passed: false,
                    latency: false,
                },
            ],
            baseline: Some(BaselineComparison {
                baseline: "clinic-morning 2026-11-20T08:30:00Z".into(),
                tolerance: 0.1,
                metrics: vec![BaselineMetric {
                    metric: "latency_us.response.p99".into(),
                    baseline: 3000.0,
                    current: 3400.0,
                    limit: 3300.0,
                    passed: false,
                }],
                passed: false,
            }),
            tls: None,
            interrupted: false,
            passed: false,
        }
    }

    /// SVG geometry attributes hold finite numbers only.
    fn assert_finite_geometry(html: &str) {
        for attr in [
            " x=\"",
            " y=\"",
            " x1=\"",
            " x2=\"",
            " y1=\"",
            " y2=\"",
            " cx=\"",
            " cy=\"",
            " width=\"",
            " height=\"",
            " d=\"",
            " viewBox=\"",
        ] {
            for part in html.split(attr).skip(1) {
                let value = &part[..part.find('"').unwrap()];
                assert!(
                    value
                        .chars()
                        .all(|c| c.is_ascii_digit() || " .-ML".contains(c)),
                    "{attr}{value}"
                );
            }
        }
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn renders_a_realistic_summary() {
        let s = realistic();
        let html = render(&s);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.ends_with("</html>\n"));
        for section in [
            "<h2>Latency over time</h2>",
            "<h2>Rate</h2>",
            "<h2>Errors over time</h2>",
            "<h2>Verdict mix</h2>",
            "<h2>Thresholds</h2>",
            "<h2>Baseline comparison</h2>",
            "<h2>Actions</h2>",
        ] {
            assert!(html.contains(section), "{section}");
        }
        assert_eq!(html.matches("<svg viewBox").count(), 4);
        assert!(html.contains("FAILED"));
        assert!(html.contains("<tr class=\"fail\"><td><code>error_rate"));
        // A latency threshold and a latency baseline metric in time units.
        assert!(html.contains("<td class=\"n\">3.40 ms</td><td class=\"n\">5.00 ms</td>"));
        assert!(html.contains("<td class=\"n\">3.30 ms</td>"));
        // Warm-up: the ten first intervals, shaded as one span.
        assert_eq!(html.matches("<title>warm-up 0–10 s</title>").count(), 3);
        // The action's latency while it ran, in its row.
        assert!(html.contains("<td class=\"n\">420 ms</td><td class=\"n\">3.90 ms</td>"));
        // The action marker, on every time chart.
        assert_eq!(html.matches(">activate snapshots/next</text>").count(), 3);
        // 60 points for each of the six latency and three rate series.
        assert_eq!(html.matches("<circle").count(), 60 * 9);
        assert!(html.contains(">1 ms</text>"));
        assert!(!html.contains("No errors") && html.contains("failed 12"));
        assert_finite_geometry(&html);

        assert!(!html.contains("Interrupted"));
        assert!(html.contains("<td class=\"n\">0.00026</td><td class=\"n\">0.0001</td>"));

        let mut ok = s;
        ok.passed = true;
        assert!(render(&ok).contains("<div class=\"badge ok\">PASSED</div>"));
        ok.interrupted = true;
        assert!(render(&ok).contains("Interrupted before the schedule ended."));
    }

    #[test]
    fn refers_to_no_url() {
        let s = realistic();
        let html = render(&s).replace(&esc(&s.target), "");
        for needle in [
            "://", "href=", "src=", "url(", "@import", "<script", "<link",
        ] {
            assert!(!html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn escapes_every_text() {
        let evil = "<script>alert(1)</script>";
        let mut s = realistic();
        s.scenario = evil.into();
        s.errors.examples = vec![evil.into()];
        s.errors.by_code.insert(evil.into(), 1);
        s.checks.by_verdict.insert(evil.into(), 1);
        s.checks.mismatch_examples[0].request = evil.into();
        s.actions[0].action = evil.into();
        s.actions[0].detail = "\"' onmouseover=x & \u{0}".into();
        let html = render(&s);
        assert!(!html.contains("<script"));
        assert!(!html.contains("' onmouseover") && !html.contains("\" onmouseover"));
        let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
        // Title, heading, example, code, verdict (label and tooltips), mismatch,
        // action (table, marker label and tooltip)…
        assert!(html.matches(escaped).count() >= 10);
        assert!(html.contains("<title>shikaku-load — &lt;script&gt;"));
        assert!(html.contains("&quot;&#39; onmouseover=x &amp; \u{FFFD}"));
    }

    #[test]
    fn renders_empty_and_degenerate_summaries() {
        let html = render(&Summary::default());
        assert!(html.contains("<h2>Latency over time</h2>"));
        assert!(html.contains("No intervals recorded."));
        assert!(html.contains("No errors"));
        assert!(html.contains("No checks answered."));
        assert_finite_geometry(&html);

        // One interval, NaN and infinite values, hours of latency.
        let mut s = realistic();
        s.intervals.truncate(1);
        let i = &mut s.intervals[0];
        i.start_seconds = 5.0;
        i.seconds = f64::NAN;
        i.target_rate = f64::INFINITY;
        i.sent_rate = f64::NAN;
        i.achieved_rate = f64::MAX;
        i.response = pct(3_600_000_000);
        i.response.max = u64::MAX;
        i.failed = u64::MAX;
        i.late = u64::MAX;
        s.achieved_rate = f64::NAN;
        s.latency_us.response.mean = f64::INFINITY;
        s.thresholds[0].actual = f64::NEG_INFINITY;
        s.actions[0].at_seconds = f64::NAN;
        s.actions.push(ActionResult {
            at_seconds: 1e300,
            ..Default::default()
        });
        let html = render(&s);
        assert_finite_geometry(&html);
        assert!(html.contains("1.00 h"));

        // Intervals all at the same instant and all zero.
        let mut s = realistic();
        for i in &mut s.intervals {
            *i = Interval::default();
        }
        s.actions.clear();
        let html = render(&s);
        assert_finite_geometry(&html);
        assert!(html.contains("No errors"));
    }

    #[test]
    fn formats_durations() {
        let cases = [
            (0.0, "0 µs"),
            (812.0, "812 µs"),
            (999.4, "999 µs"),
            (999.6, "1.00 ms"),
            (4_310.0, "4.31 ms"),
            (43_149.0, "43.1 ms"),
            (431_000.0, "431 ms"),
            (999_700.0, "1.00 s"),
            (1_200_000.0, "1.20 s"),
            (59_000_000.0, "59.0 s"),
            (90_000_000.0, "1.50 min"),
            (7_200_000_000.0, "2.00 h"),
            (-4_310.0, "-4.31 ms"),
            (f64::NAN, "–"),
            (f64::INFINITY, "–"),
        ];
        for (us, text) in cases {
            assert_eq!(format_us(us), text, "{us}");
        }
        assert_eq!(format_us(u64::MAX as f64), "5124095576 h");
        assert_eq!(trim_zeros(&format_us(1e3)), "1 ms");
    }

    #[test]
    fn formats_numbers_and_threshold_units() {
        assert_eq!(fmt_num(1_234_567.0), "1,234,567");
        assert_eq!(fmt_num(998.7), "998.7");
        assert_eq!(fmt_num(0.024), "0.024");
        assert_eq!(fmt_num(0.012345), "0.0123");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(2.5), "2.50");
        assert_eq!(fmt_num(1e-300), "0");
        assert_eq!(fmt_num(-12.0), "-12");
        assert_eq!(fmt_num(f64::NAN), "–");
    }
}

//! Counters and latency histograms for `GET /metrics` (Prometheus text
//! format), kept in fixed arrays of atomics: recording is a few relaxed
//! increments, with no lock and no allocation on the request path.

use crate::model::ErrorCode;
use crate::model::Verdict;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a public request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Card,
    Number,
    Bulk,
    /// `GET /v1/history`.
    History,
    /// `POST /v1/history/bulk`.
    HistoryBulk,
    Healthz,
    Readyz,
    Metrics,
    /// Anything else (answered 404 or 405).
    Other,
}

impl Endpoint {
    const ALL: [Endpoint; 9] = [
        Endpoint::Card,
        Endpoint::Number,
        Endpoint::Bulk,
        Endpoint::History,
        Endpoint::HistoryBulk,
        Endpoint::Healthz,
        Endpoint::Readyz,
        Endpoint::Metrics,
        Endpoint::Other,
    ];
    /// The endpoints that answer checks (and have verdicts and latencies).
    const CHECKS: [Endpoint; 3] = [Endpoint::Card, Endpoint::Number, Endpoint::Bulk];

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Endpoint::Card => "card",
            Endpoint::Number => "number",
            Endpoint::Bulk => "bulk",
            Endpoint::History => "history",
            Endpoint::HistoryBulk => "history_bulk",
            Endpoint::Healthz => "healthz",
            Endpoint::Readyz => "readyz",
            Endpoint::Metrics => "metrics",
            Endpoint::Other => "other",
        }
    }

    fn check_index(self) -> Option<usize> {
        Endpoint::CHECKS.iter().position(|&e| e == self)
    }
}

/// HTTP statuses the server answers with, in metric order.
const STATUSES: [u16; 11] = [200, 400, 401, 403, 404, 405, 408, 413, 429, 500, 503];

/// Upper bounds of the latency buckets, in microseconds.
const BUCKETS_MICROS: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS_MICROS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn record(&self, elapsed: Duration) {
        let micros = elapsed.as_micros().min(u128::from(u64::MAX)) as u64;
        if let Some(bucket) = BUCKETS_MICROS.iter().position(|&le| micros <= le) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

/// Everything `/metrics` reports about requests.
#[derive(Default)]
pub(super) struct Metrics {
    requests: [[AtomicU64; STATUSES.len()]; Endpoint::ALL.len()],
    verdicts: [[AtomicU64; Verdict::ALL.len()]; Endpoint::CHECKS.len()],
    errors: [[AtomicU64; ErrorCode::ALL.len()]; Endpoint::CHECKS.len()],
    latency: [Histogram; Endpoint::CHECKS.len()],
    connections: Arc<AtomicI64>,
    pub swaps: AtomicU64,
    pub rollbacks: AtomicU64,
    pub activation_failures: AtomicU64,
    pub crl_swaps: AtomicU64,
    pub crl_rollbacks: AtomicU64,
    pub crl_activation_failures: AtomicU64,
    /// Audit-log writes that failed (the action itself went ahead).
    pub audit_failures: AtomicU64,
    /// Checks refused over their institution's budget, by institution class.
    throttled: [AtomicU64; InstitutionClass::ALL.len()],
}

/// What kind of institution a code is (its third digit: 医科 1, 歯科 3,
/// 薬局 4), for counting without a label per institution.
#[derive(Clone, Copy)]
pub(super) enum InstitutionClass {
    Medical,
    Dental,
    Pharmacy,
    Other,
}

impl InstitutionClass {
    const ALL: [InstitutionClass; 4] = [
        InstitutionClass::Medical,
        InstitutionClass::Dental,
        InstitutionClass::Pharmacy,
        InstitutionClass::Other,
    ];

    pub(super) fn of(code: &crate::model::InstitutionCode) -> InstitutionClass {
        match code.as_str().as_bytes().get(2) {
            Some(b'1') => InstitutionClass::Medical,
            Some(b'3') => InstitutionClass::Dental,
            Some(b'4') => InstitutionClass::Pharmacy,
            _ => InstitutionClass::Other,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            InstitutionClass::Medical => "medical",
            InstitutionClass::Dental => "dental",
            InstitutionClass::Pharmacy => "pharmacy",
            InstitutionClass::Other => "other",
        }
    }
}

/// Facts about the live snapshot and CRL, for the gauges.
pub(super) struct SnapshotFacts<'a> {
    /// Checks in progress (from admission).
    pub in_flight: i64,
    pub id: Option<&'a str>,
    pub age_seconds: Option<f64>,
    pub loaded_unix_seconds: Option<f64>,
    pub crl: Option<CrlFacts<'a>>,
    pub updates: Option<UpdateFacts<'a>>,
    pub check_log: Option<CheckLogFacts<'a>>,
    /// Each listener that speaks TLS.
    pub tls: Vec<TlsFacts<'a>>,
}

/// One listener's TLS, for the counters and the alarm gauge.
pub(super) struct TlsFacts<'a> {
    pub listener: &'static str,
    pub counters: &'a crate::server::tls::TlsCounters,
    /// Alarms raised (no client CRL, a client CRL past its nextUpdate).
    pub alarms: usize,
}

/// The check log's writer and queue, for the counters and gauges.
pub(super) struct CheckLogFacts<'a> {
    pub stats: &'a crate::checklog::LogStats,
    pub queued: usize,
    pub capacity: usize,
}

/// The update journal and the live overlay, for the counters and gauges.
pub(super) struct UpdateFacts<'a> {
    pub stats: &'a crate::server::serving::ingest::IngestStats,
    pub overlay: Option<crate::updates::overlay::OverlayCounts>,
}

/// The live CRL, for the gauges.
pub(super) struct CrlFacts<'a> {
    pub id: &'a str,
    /// Seconds since its thisUpdate (none for a list from `revoked.csv`).
    pub age_seconds: Option<f64>,
    pub revoked: u64,
    pub suspended: u64,
    pub stale: bool,
}

impl Metrics {
    /// A check refused over the budget of an institution of `class`.
    pub(super) fn throttled(&self, class: InstitutionClass) {
        self.throttled[class as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn request(&self, endpoint: Endpoint, status: u16) {
        let column = STATUSES
            .iter()
            .position(|&s| s == status)
            .unwrap_or(STATUSES.len() - 2);
        self.requests[endpoint as usize][column].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn verdict(&self, endpoint: Endpoint, verdict: Verdict) {
        if let Some(e) = endpoint.check_index() {
            self.verdicts[e][verdict as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn error(&self, endpoint: Endpoint, code: ErrorCode) {
        if let Some(e) = endpoint.check_index() {
            self.errors[e][code as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn latency(&self, endpoint: Endpoint, elapsed: Duration) {
        if let Some(e) = endpoint.check_index() {
            self.latency[e].record(elapsed);
        }
    }

    pub(super) fn connections(&self) -> &AtomicI64 {
        &self.connections
    }

    /// The open-connection gauge, for the listener to keep up to date.
    pub(super) fn connections_counter(&self) -> Arc<AtomicI64> {
        self.connections.clone()
    }

    /// The Prometheus text exposition of every metric.
    pub(super) fn render(&self, snapshot: &SnapshotFacts) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        family(
            &mut out,
            "shikaku_http_requests_total",
            "counter",
            "Public HTTP requests by endpoint and status.",
        );
        for endpoint in Endpoint::ALL {
            for (column, status) in STATUSES.iter().enumerate() {
                let n = load(&self.requests[endpoint as usize][column]);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "shikaku_http_requests_total{{endpoint=\"{}\",status=\"{status}\"}} {n}",
                        endpoint.as_str()
                    );
                }
            }
        }
        family(
            &mut out,
            "shikaku_checks_total",
            "counter",
            "Checks answered, by endpoint and verdict (bulk counts lines).",
        );
        for (e, endpoint) in Endpoint::CHECKS.iter().enumerate() {
            for verdict in Verdict::ALL {
                let _ = writeln!(
                    out,
                    "shikaku_checks_total{{endpoint=\"{}\",verdict=\"{}\"}} {}",
                    endpoint.as_str(),
                    verdict.as_str(),
                    load(&self.verdicts[e][verdict as usize])
                );
            }
        }
        family(
            &mut out,
            "shikaku_check_errors_total",
            "counter",
            "Checks refused with an error, by endpoint and error code.",
        );
        for (e, endpoint) in Endpoint::CHECKS.iter().enumerate() {
            for code in ErrorCode::ALL {
                let n = load(&self.errors[e][code as usize]);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "shikaku_check_errors_total{{endpoint=\"{}\",code=\"{}\"}} {n}",
                        endpoint.as_str(),
                        code.as_str()
                    );
                }
            }
        }
        family(
            &mut out,
            "shikaku_request_duration_seconds",
            "histogram",
            "Time from request head to answer (bulk: to the last line).",
        );
        for (e, endpoint) in Endpoint::CHECKS.iter().enumerate() {
            let histogram = &self.latency[e];
            let mut cumulative = 0;
            for (bucket, le) in BUCKETS_MICROS.iter().enumerate() {
                cumulative += load(&histogram.buckets[bucket]);
                let _ = writeln!(out, "shikaku_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"{}\"}} {cumulative}", endpoint.as_str(), *le as f64 / 1e6);
            }
            let count = load(&histogram.count);
            let _ = writeln!(
                out,
                "shikaku_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"+Inf\"}} {count}",
                endpoint.as_str()
            );
            let _ = writeln!(
                out,
                "shikaku_request_duration_seconds_sum{{endpoint=\"{}\"}} {}",
                endpoint.as_str(),
                load(&histogram.sum_micros) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "shikaku_request_duration_seconds_count{{endpoint=\"{}\"}} {count}",
                endpoint.as_str()
            );
        }
        gauge(
            &mut out,
            "shikaku_in_flight_requests",
            "Public requests in progress.",
            snapshot.in_flight as f64,
        );
        gauge(
            &mut out,
            "shikaku_open_connections",
            "Public connections open.",
            self.connections.load(Ordering::Relaxed) as f64,
        );
        family(
            &mut out,
            "shikaku_snapshot_info",
            "gauge",
            "The live snapshot (1 while loaded).",
        );
        if let Some(id) = snapshot.id {
            let _ = writeln!(
                out,
                "shikaku_snapshot_info{{id=\"{}\"}} 1",
                id.replace(['"', '\\', '\n'], "_")
            );
        }
        if let Some(age) = snapshot.age_seconds {
            gauge(
                &mut out,
                "shikaku_snapshot_age_seconds",
                "Seconds since the live snapshot was built.",
                age,
            );
        }
        if let Some(loaded) = snapshot.loaded_unix_seconds {
            gauge(
                &mut out,
                "shikaku_snapshot_loaded_timestamp_seconds",
                "When the live snapshot was activated (Unix time).",
                loaded,
            );
        }
        counter(
            &mut out,
            "shikaku_snapshot_swaps_total",
            "Snapshot activations and rollbacks that took effect.",
            load(&self.swaps),
        );
        counter(
            &mut out,
            "shikaku_snapshot_rollbacks_total",
            "Rollbacks to the previous snapshot.",
            load(&self.rollbacks),
        );
        counter(
            &mut out,
            "shikaku_snapshot_activation_failures_total",
            "Activations refused (the live snapshot kept serving).",
            load(&self.activation_failures),
        );
        if let Some(crl) = &snapshot.crl {
            render_crl(&mut out, crl);
        }
        if let Some(updates) = &snapshot.updates {
            render_updates(&mut out, updates);
        }
        if let Some(log) = &snapshot.check_log {
            render_check_log(&mut out, log);
        }
        render_tls(&mut out, &snapshot.tls);
        let _ = writeln!(
            out,
            "# HELP shikaku_throttled_total Checks refused with 429 over their institution's budget, by institution class.\n# TYPE shikaku_throttled_total counter"
        );
        for class in InstitutionClass::ALL {
            let _ = writeln!(
                out,
                "shikaku_throttled_total{{class=\"{}\"}} {}",
                class.as_str(),
                load(&self.throttled[class as usize])
            );
        }
        counter(
            &mut out,
            "shikaku_audit_failures_total",
            "Audit-log entries that could not be written (alarm).",
            load(&self.audit_failures),
        );
        counter(
            &mut out,
            "shikaku_crl_swaps_total",
            "CRL activations and rollbacks that took effect (snapshot adoptions not counted).",
            load(&self.crl_swaps),
        );
        counter(
            &mut out,
            "shikaku_crl_rollbacks_total",
            "Rollbacks to the previous CRL.",
            load(&self.crl_rollbacks),
        );
        counter(
            &mut out,
            "shikaku_crl_activation_failures_total",
            "CRL activations refused (the live CRL kept serving).",
            load(&self.crl_activation_failures),
        );
        out
    }
}

fn render_tls(out: &mut String, listeners: &[TlsFacts]) {
    if listeners.is_empty() {
        return;
    }
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    family(
        out,
        "shikaku_tls_handshakes_total",
        "counter",
        "TLS handshakes completed, by listener and kind (full or resumed).",
    );
    for facts in listeners {
        for (kind, value) in [
            ("full", load(&facts.counters.full)),
            ("resumed", load(&facts.counters.resumed)),
        ] {
            let _ = writeln!(
                out,
                "shikaku_tls_handshakes_total{{listener=\"{}\",kind=\"{kind}\"}} {value}",
                facts.listener
            );
        }
    }
    type Value = fn(&TlsFacts) -> f64;
    let families: [(&str, &str, &str, Value); 3] = [
        (
            "shikaku_tls_handshake_failures_total",
            "counter",
            "TLS handshakes that failed or timed out (no, unknown, revoked or expired client certificate among them).",
            |f| f.counters.failed.load(Ordering::Relaxed) as f64,
        ),
        (
            "shikaku_tls_refused_requests_total",
            "counter",
            "Requests refused because their connection's client certificate was revoked or expired since its handshake.",
            |f| f.counters.refused_requests.load(Ordering::Relaxed) as f64,
        ),
        (
            "shikaku_tls_alarms",
            "gauge",
            "TLS alarms raised now: client certificates asked for with no CRL, or a CRL past its nextUpdate.",
            |f| f.alarms as f64,
        ),
    ];
    for (name, kind, help, value) in families {
        family(out, name, kind, help);
        for facts in listeners {
            let _ = writeln!(
                out,
                "{name}{{listener=\"{}\"}} {}",
                facts.listener,
                value(facts)
            );
        }
    }
}

fn render_crl(out: &mut String, crl: &CrlFacts) {
    family(
        out,
        "shikaku_crl_info",
        "gauge",
        "The live CRL (1 while loaded).",
    );
    let _ = writeln!(
        out,
        "shikaku_crl_info{{id=\"{}\"}} 1",
        crl.id.replace(['"', '\\', '\n'], "_")
    );
    if let Some(age) = crl.age_seconds {
        gauge(
            out,
            "shikaku_crl_age_seconds",
            "Seconds since the live CRL's thisUpdate.",
            age,
        );
    }
    family(
        out,
        "shikaku_crl_entries",
        "gauge",
        "Serials on the live CRL, by status.",
    );
    let _ = writeln!(
        out,
        "shikaku_crl_entries{{status=\"revoked\"}} {}",
        crl.revoked
    );
    let _ = writeln!(
        out,
        "shikaku_crl_entries{{status=\"suspended\"}} {}",
        crl.suspended
    );
    gauge(
        out,
        "shikaku_crl_stale",
        "1 when the live CRL is past its nextUpdate (alarm).",
        if crl.stale { 1.0 } else { 0.0 },
    );
}

fn render_check_log(out: &mut String, log: &CheckLogFacts) {
    let stats = log.stats;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    for (name, help, value) in [
        (
            "shikaku_check_log_records_total",
            "Check-log entries written (checks, and counts of shed checks).",
            &stats.entries,
        ),
        (
            "shikaku_check_log_batches_total",
            "Check-log batches written (one fdatasync each).",
            &stats.batches,
        ),
        (
            "shikaku_check_log_bytes_total",
            "Bytes written to check-log segments.",
            &stats.bytes,
        ),
        (
            "shikaku_check_log_blocked_total",
            "Checks that waited for a place in the full check-log queue (policy block).",
            &stats.blocked,
        ),
        (
            "shikaku_check_log_shed_total",
            "Checks refused with 503 because the check-log queue was full (policy shed).",
            &stats.shed,
        ),
        (
            "shikaku_check_log_write_failures_total",
            "Check-log writes that failed and were retried.",
            &stats.write_failures,
        ),
        (
            "shikaku_check_log_days_purged_total",
            "Day directories removed past retention.",
            &stats.days_purged,
        ),
    ] {
        counter(out, name, help, load(value));
    }
    gauge(
        out,
        "shikaku_check_log_queue",
        "Check-log records waiting to be written.",
        log.queued as f64,
    );
    gauge(
        out,
        "shikaku_check_log_queue_capacity",
        "Records the check-log queue holds before its policy applies.",
        log.capacity as f64,
    );
    gauge(
        out,
        "shikaku_check_log_failing",
        "1 while check-log writes fail and are being retried (alarm).",
        if stats.failing.load(Ordering::Relaxed) {
            1.0
        } else {
            0.0
        },
    );
}

fn render_updates(out: &mut String, updates: &UpdateFacts) {
    let stats = updates.stats;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    family(
        out,
        "shikaku_updates_total",
        "counter",
        "Update messages answered, by result.",
    );
    for (result, value) in [
        ("applied", load(&stats.applied)),
        ("duplicate", load(&stats.duplicates)),
        ("error", load(&stats.refused)),
    ] {
        let _ = writeln!(out, "shikaku_updates_total{{result=\"{result}\"}} {value}");
    }
    counter(
        out,
        "shikaku_journal_commits_total",
        "Group commits (one fsync each) of the update journal.",
        load(&stats.groups),
    );
    family(
        out,
        "shikaku_journal_fsync_seconds_total",
        "counter",
        "Seconds spent writing and syncing journal groups.",
    );
    let _ = writeln!(
        out,
        "shikaku_journal_fsync_seconds_total {}",
        load(&stats.fsync_micros) as f64 / 1e6
    );
    gauge(
        out,
        "shikaku_journal_next_lsn",
        "The number the next journal record gets.",
        load(&stats.next_lsn) as f64,
    );
    gauge(
        out,
        "shikaku_journal_failed",
        "1 when a journal write failed: updates are refused until restart (alarm).",
        if stats.failed.load(Ordering::Relaxed) {
            1.0
        } else {
            0.0
        },
    );
    if let Some(overlay) = updates.overlay {
        family(
            out,
            "shikaku_overlay_rows",
            "gauge",
            "Rows the live overlay changes over the snapshot, by state.",
        );
        let _ = writeln!(
            out,
            "shikaku_overlay_rows{{state=\"changed\"}} {}",
            overlay.rows_changed
        );
        let _ = writeln!(
            out,
            "shikaku_overlay_rows{{state=\"deleted\"}} {}",
            overlay.rows_deleted
        );
        gauge(
            out,
            "shikaku_overlay_serials",
            "Serials the live overlay links or retires.",
            overlay.serials as f64,
        );
        gauge(
            out,
            "shikaku_overlay_row_bytes",
            "Memory the live overlay's row records and their tables hold.",
            overlay.row_bytes as f64,
        );
        gauge(
            out,
            "shikaku_overlay_through_lsn",
            "The last journal record applied to the live overlay.",
            overlay.through_lsn as f64,
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, value: f64) {
    family(out, name, "gauge", help);
    let _ = writeln!(out, "{name} {value}");
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    family(out, name, "counter", help);
    let _ = writeln!(out, "{name} {value}");
}

//! Server settings: one struct read from the command line, the environment
//! (`SHIKAKU_<NAME>`) and a TOML file, merged with flags winning over the
//! environment, the environment over the file, and the file over the
//! defaults. Each setting has the same name everywhere: `--max-in-flight`,
//! `SHIKAKU_MAX_IN_FLIGHT`, `max_in_flight = …`.

use crate::checklog::{Backpressure, LogConfig};
use crate::crl::gate::{CrlPolicy, StaleCrl};
use crate::model::clock::{system_clock, SharedClock};
use crate::server::hours::ServiceHours;
use crate::server::tls::peer::IdentityAttribute;
use crate::server::tls::{ClientAuth, TlsFiles};
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Most records the check log's queue may be set to hold (≈ 200 MB).
const MAX_CHECK_LOG_QUEUE: usize = 1_000_000;

/// The audit log's name inside the check-log directory.
pub const AUDIT_LOG_NAME: &str = "audit.log";

/// Every setting, each optional until merged (see the module docs).
#[derive(Args, Deserialize, Debug, Default, Clone)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Snapshot directory to serve. Without one, a small demo dataset is
    /// generated and built under snapshots/demo on first run and served.
    #[arg(long, env = "SHIKAKU_SNAPSHOT")]
    pub snapshot: Option<PathBuf>,
    /// Start without a snapshot: checks answer 503 no_snapshot until one is
    /// activated through the admin API.
    #[arg(long, env = "SHIKAKU_WAIT_FOR_ACTIVATION", num_args = 0..=1, default_missing_value = "true")]
    pub wait_for_activation: Option<bool>,
    /// Public listener address [default: 127.0.0.1:8080].
    #[arg(long, env = "SHIKAKU_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Administrative listener address; keep it on loopback or a management
    /// network [default: 127.0.0.1:8081].
    #[arg(long, env = "SHIKAKU_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// Token the admin API requires as `Authorization: Bearer …` (none: the
    /// admin listener's network is the only protection).
    #[arg(long, env = "SHIKAKU_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Operator accounts of the admin API (operators.csv:
    /// name,role,token_sha256; roles viewer, operator, admin), instead of
    /// one shared admin_token.
    #[arg(long, env = "SHIKAKU_OPERATORS")]
    pub operators: Option<PathBuf>,
    /// Registry of institutions allowed to check (institutions.csv:
    /// institution_code,name,prefecture,token). Without one, any well-formed
    /// institution code is accepted and no token is asked for.
    #[arg(long, env = "SHIKAKU_INSTITUTIONS")]
    pub institutions: Option<PathBuf>,
    /// Service hours in Japan time, HH:MM-HH:MM or off [default:
    /// 08:00-21:00; off for the demo dataset].
    #[arg(long, env = "SHIKAKU_SERVICE_HOURS")]
    pub service_hours: Option<String>,
    /// Requests in progress beyond which new ones get 503 busy [default: 512].
    #[arg(long, env = "SHIKAKU_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<usize>,
    /// Checks per second each institution may send on average; beyond its
    /// budget a check gets 429 throttled [default: none, no limit].
    #[arg(long, env = "SHIKAKU_THROTTLE_RATE")]
    pub throttle_rate: Option<f64>,
    /// Checks an institution may send at once before `throttle_rate` applies
    /// [default: 10 seconds' worth of the rate, at least 1].
    #[arg(long, env = "SHIKAKU_THROTTLE_BURST")]
    pub throttle_burst: Option<f64>,
    /// Open client connections beyond which new ones wait in the kernel's
    /// accept queue [default: 8192].
    #[arg(long, env = "SHIKAKU_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Largest single-check request body, in bytes (413 beyond) [default: 65536].
    #[arg(long, env = "SHIKAKU_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Longest line of a bulk request, in bytes (an error for that line
    /// beyond) [default: 65536].
    #[arg(long, env = "SHIKAKU_MAX_BULK_LINE_BYTES")]
    pub max_bulk_line_bytes: Option<usize>,
    /// Time a client has to send a request's headers [default: 10s].
    #[arg(long, env = "SHIKAKU_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<String>,
    /// A keep-alive connection with no traffic for this long is closed [default: 60s].
    #[arg(long, env = "SHIKAKU_IDLE_TIMEOUT")]
    pub idle_timeout: Option<String>,
    /// On SIGTERM or Ctrl-C, time allowed for requests in progress to finish [default: 30s].
    #[arg(long, env = "SHIKAKU_SHUTDOWN_DEADLINE")]
    pub shutdown_deadline: Option<String>,
    /// How many days in the past a treatment date may be (後日精算) [default: 31].
    #[arg(long, env = "SHIKAKU_MAX_PAST_DAYS")]
    pub max_past_days: Option<u32>,
    /// Refuse card-face checks without birth_date (400) [default: false].
    #[arg(long, env = "SHIKAKU_REQUIRE_BIRTH_DATE", num_args = 0..=1, default_missing_value = "true")]
    pub require_birth_date: Option<bool>,
    /// Worker threads [default: the number of CPUs].
    #[arg(long, env = "SHIKAKU_WORKERS")]
    pub workers: Option<usize>,
    /// Canary checks run against a snapshot before it is activated: NDJSON,
    /// one check per line as for /v1/check/bulk plus `"expect": "VERDICT"`.
    #[arg(long, env = "SHIKAKU_CANARIES")]
    pub canaries: Option<PathBuf>,
    /// Activation refuses (unless forced) a snapshot whose row or person
    /// count differs from the live one by more than this percentage [default: 10].
    #[arg(long, env = "SHIKAKU_MAX_ROW_CHANGE_PERCENT")]
    pub max_row_change_percent: Option<f64>,
    /// Activation refuses (unless forced) a snapshot that answers more than
    /// this percentage of sampled keys with another verdict than the live
    /// one [default: 5].
    #[arg(long, env = "SHIKAKU_MAX_VERDICT_DRIFT_PERCENT")]
    pub max_verdict_drift_percent: Option<f64>,
    /// Seconds clients are told to wait in Retry-After on 503 [default: 1].
    #[arg(long, env = "SHIKAKU_RETRY_AFTER")]
    pub retry_after: Option<u32>,
    /// A CRL to serve at start instead of the snapshot's own: a
    /// `shikaku crl build` directory.
    #[arg(long, env = "SHIKAKU_CRL")]
    pub crl: Option<PathBuf>,
    /// PEM file of the user-certificate CA(s) trusted for certificates and
    /// CRLs; unset, the issuer of the live CRL is trusted.
    #[arg(long, env = "SHIKAKU_USER_CA")]
    pub user_ca: Option<PathBuf>,
    /// Verify the signature of certificates sent in card checks (default true).
    #[arg(long, env = "SHIKAKU_VERIFY_CERTIFICATE_SIGNATURES", num_args = 0..=1, default_missing_value = "true")]
    pub verify_certificate_signatures: Option<bool>,
    /// Largest change of a new CRL's entry count, in percent of the live one's (default 5).
    #[arg(long, env = "SHIKAKU_MAX_CRL_CHANGE_PERCENT")]
    pub max_crl_change_percent: Option<f64>,
    /// A CRL past its nextUpdate: `alarm` (serve it and raise the alarm, the
    /// default) or `refuse`.
    #[arg(long, env = "SHIKAKU_STALE_CRL")]
    pub stale_crl: Option<String>,
    /// Directory of the update journal: intraday updates (`POST
    /// /admin/updates`) are taken only with one, and replayed from it at
    /// start. The demo keeps its journal beside its snapshots.
    #[arg(long, env = "SHIKAKU_JOURNAL")]
    pub journal: Option<PathBuf>,
    /// While updates arrive, the longest time between two checkpoints of
    /// the overlay (one is also written every 250,000 journal records and
    /// after every activation), so that a restart replays only the journal
    /// after it [default: 5m].
    #[arg(long, env = "SHIKAKU_CHECKPOINT_INTERVAL")]
    pub checkpoint_interval: Option<String>,
    /// Directory of the serving state: which snapshot and CRL were last
    /// activated or rolled back to, served again after a restart instead of
    /// `snapshot` and `crl` [default: the journal directory; none without
    /// either].
    #[arg(long, env = "SHIKAKU_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Directory of the check log (処理履歴): every check answered or
    /// refused, searchable through /v1/history, read by `shikaku report`.
    /// Without one nothing is logged. The demo keeps it beside its snapshots.
    #[arg(long, env = "SHIKAKU_CHECK_LOG")]
    pub check_log: Option<PathBuf>,
    /// When the check log's queue is full: `block` (checks wait, the
    /// default) or `shed` (checks are refused with 503 busy and counted).
    #[arg(long, env = "SHIKAKU_CHECK_LOG_POLICY")]
    pub check_log_policy: Option<String>,
    /// Records the check log's queue holds [default: 65536].
    #[arg(long, env = "SHIKAKU_CHECK_LOG_QUEUE")]
    pub check_log_queue: Option<usize>,
    /// How long the check-log writer collects a batch before one write
    /// and fdatasync [default: 20ms].
    #[arg(long, env = "SHIKAKU_CHECK_LOG_LINGER")]
    pub check_log_linger: Option<String>,
    /// Months of check log kept; older days are removed [default: 6].
    #[arg(long, env = "SHIKAKU_CHECK_LOG_RETENTION_MONTHS")]
    pub check_log_retention_months: Option<u32>,
    /// Months a history search reaches back [default: 5].
    #[arg(long, env = "SHIKAKU_HISTORY_MONTHS")]
    pub history_months: Option<u32>,
    /// Audit log of administrative actions (JSON lines) [default:
    /// audit.log in the check-log directory; none without either].
    #[arg(long, env = "SHIKAKU_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// The public listener's certificate chain (PEM): with `tls_key`, the
    /// public listener speaks HTTPS only.
    #[arg(long, env = "SHIKAKU_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM).
    #[arg(long, env = "SHIKAKU_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The institution CA bundle (PEM) client certificates must chain to.
    #[arg(long, env = "SHIKAKU_CLIENT_CA")]
    pub client_ca: Option<PathBuf>,
    /// The institution CA's CRL (DER or PEM), enforced at the handshake and
    /// on every request; without one an alarm is raised.
    #[arg(long, env = "SHIKAKU_CLIENT_CRL")]
    pub client_crl: Option<PathBuf>,
    /// `required` (no certificate, no connection), `optional` (a client
    /// without one authenticates by token) or `off` [default: required with
    /// a client_ca, off without].
    #[arg(long, env = "SHIKAKU_CLIENT_AUTH")]
    pub client_auth: Option<String>,
    /// Where a client certificate carries the 10-digit institution code:
    /// `cn`, `serial_number`, or `fingerprint` (only fingerprints pinned
    /// in institutions.csv identify) [default: cn].
    #[arg(long, env = "SHIKAKU_CLIENT_IDENTITY")]
    pub client_identity: Option<String>,
    /// Ask for the institution's bearer token as well as its certificate
    /// (certificate plus account) [default: false].
    #[arg(long, env = "SHIKAKU_REQUIRE_TOKEN_WITH_CERTIFICATE", num_args = 0..=1, default_missing_value = "true")]
    pub require_token_with_certificate: Option<bool>,
    /// The admin listener's certificate chain (PEM): with
    /// `admin_tls_key`, the admin listener speaks HTTPS only.
    #[arg(long, env = "SHIKAKU_ADMIN_TLS_CERT")]
    pub admin_tls_cert: Option<PathBuf>,
    /// The private key of `admin_tls_cert` (PEM).
    #[arg(long, env = "SHIKAKU_ADMIN_TLS_KEY")]
    pub admin_tls_key: Option<PathBuf>,
    /// The operator CA bundle (PEM): operators may then authenticate with
    /// a client certificate whose fingerprint operators.csv pins.
    #[arg(long, env = "SHIKAKU_OPERATOR_CA")]
    pub operator_ca: Option<PathBuf>,
    /// The operator CA's CRL (DER or PEM).
    #[arg(long, env = "SHIKAKU_OPERATOR_CRL")]
    pub operator_crl: Option<PathBuf>,
}

/// Fills each setting of `$ours` that is `None` from `$theirs`.
macro_rules! fill_from {
    ($ours:ident, $theirs:ident; $($field:ident),* $(,)?) => {
        $( if $ours.$field.is_none() { $ours.$field = $theirs.$field; } )*
    };
}

impl Settings {
    /// Reads a TOML settings file; the error names the file and the problem.
    pub fn from_file(path: &Path) -> Result<Settings, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read ({e})", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// These settings, with any that are unset taken from `lower`.
    pub fn or(mut self, lower: Settings) -> Settings {
        fill_from!(self, lower;
            snapshot, wait_for_activation, listen, admin_listen, admin_token, operators, institutions,
            service_hours, max_in_flight, throttle_rate, throttle_burst, max_connections, max_body_bytes, max_bulk_line_bytes,
            header_read_timeout, idle_timeout, shutdown_deadline, max_past_days,
            require_birth_date, workers, canaries, max_row_change_percent,
            max_verdict_drift_percent, retry_after, crl, user_ca, verify_certificate_signatures,
            max_crl_change_percent, stale_crl, journal, checkpoint_interval, state_dir, check_log,
            check_log_policy,
            check_log_queue, check_log_linger, check_log_retention_months, history_months,
            audit_log, tls_cert, tls_key, client_ca, client_crl, client_auth, client_identity,
            require_token_with_certificate, admin_tls_cert, admin_tls_key, operator_ca,
            operator_crl);
        self
    }
}

/// The budget of checks of every institution (`throttle_rate`,
/// `throttle_burst`): `rate` per second on average, at most `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Checks per second, on average.
    pub rate: f64,
    /// Checks at once: what a bucket holds when full.
    pub burst: f64,
}

impl Budget {
    /// The budget `throttle_rate` and `throttle_burst` give (`None`: no
    /// limit), or what is wrong with them. The burst defaults to ten
    /// seconds' worth of the rate, at least 1.
    pub fn of(rate: Option<f64>, burst: Option<f64>) -> Result<Option<Budget>, String> {
        match (rate, burst) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err("throttle_burst: needs throttle_rate too".to_string()),
            (Some(rate), _) if !(rate > 0.0 && rate.is_finite()) => Err(format!(
                "throttle_rate: {rate} is not a positive number of checks per second"
            )),
            (Some(_), Some(burst)) if !(burst >= 1.0 && burst.is_finite()) => Err(format!(
                "throttle_burst: {burst} is not a number of checks of at least 1"
            )),
            (Some(rate), burst) => Ok(Some(Budget {
                rate,
                burst: burst.unwrap_or((rate * 10.0).max(1.0)),
            })),
        }
    }
}

/// The settings the server runs with, every default applied and checked.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// `None` only with `wait_for_activation`; the demo has been prepared by then.
    pub snapshot: Option<PathBuf>,
    /// The update journal directory (no updates without one).
    pub journal: Option<PathBuf>,
    /// Longest time between two overlay checkpoints while updates arrive (`checkpoint_interval`, default 5 min).
    pub checkpoint_interval: Duration,
    /// Where the serving state is kept (`state_dir`, default the journal directory).
    pub state_dir: Option<PathBuf>,
    /// Start from `snapshot` and `crl` even when a state was recorded
    /// (`--reset-state`, a flag of `serve` only; also for the demo unless
    /// it was given a `journal` or `state_dir`).
    pub reset_state: bool,
    /// The check log (none: checks are not logged).
    pub check_log: Option<LogConfig>,
    /// Audit log of admin actions (`audit_log`; default `audit.log` in the check-log directory, none without a check log).
    pub audit_log: Option<PathBuf>,
    /// Public listener address (`listen`, default `127.0.0.1:8080`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// Administrative listener address (`admin_listen`, default `127.0.0.1:8081`).
    pub admin_listen: SocketAddr,
    /// Bearer token the admin API requires (`admin_token`); `None`, also when set empty, asks for none.
    pub admin_token: Option<String>,
    /// Operator accounts of the admin API (`operators`); exclusive with `admin_token`.
    pub operators: Option<PathBuf>,
    /// Institution registry CSV (`institutions`); `None` is open mode: any well-formed code, no token.
    pub institutions: Option<PathBuf>,
    /// When checks are answered (`service_hours`, default 08:00-21:00 Japan time; always in demo mode).
    pub service_hours: ServiceHours,
    /// Checks in progress beyond which new ones get 503 `busy` (`max_in_flight`, default 512).
    pub max_in_flight: usize,
    /// Each institution's budget of checks (`throttle_rate`, `throttle_burst`); `None`: no limit.
    pub throttle: Option<Budget>,
    /// Open connections per listener beyond which new ones wait in the accept queue (`max_connections`, default 8192).
    pub max_connections: usize,
    /// Largest single-check body in bytes, 413 beyond (`max_body_bytes`, default 65536).
    pub max_body_bytes: usize,
    /// Longest bulk line in bytes, an error line beyond (`max_bulk_line_bytes`, default 65536).
    pub max_bulk_line_bytes: usize,
    /// Time to send a request's headers, and a single check's body (`header_read_timeout`, default 10 s).
    pub header_read_timeout: Duration,
    /// Silence after which a connection is closed; also the longest pause inside a bulk or update body (`idle_timeout`, default 60 s).
    pub idle_timeout: Duration,
    /// Time allowed for requests in progress after SIGTERM or Ctrl-C (`shutdown_deadline`, default 30 s).
    pub shutdown_deadline: Duration,
    /// Days back a treatment date may be, 0 meaning today only (`max_past_days`, default 31).
    pub max_past_days: u32,
    /// Refuse card-face checks without `birth_date` (`require_birth_date`, default false).
    pub require_birth_date: bool,
    /// Worker threads of the runtime (`workers`, default the number of CPUs).
    pub workers: usize,
    /// Canary file checked before every activation (`canaries`); `None` runs no canaries.
    pub canaries: Option<PathBuf>,
    /// Activation gate on the change of row and person counts, 0–100 (`max_row_change_percent`, default 10).
    pub max_row_change_percent: f64,
    /// Activation gate on sampled keys answered with another verdict, 0–100 (`max_verdict_drift_percent`, default 5).
    pub max_verdict_drift_percent: f64,
    /// Seconds sent in `Retry-After` on `busy` and `no_snapshot` (`retry_after`, default 1).
    pub retry_after: u32,
    /// A `shikaku crl build` directory served at start instead of the snapshot's own CRL (`crl`).
    pub crl: Option<PathBuf>,
    /// PEM file of the trusted user-certificate CAs (`user_ca`); `None` trusts the CA that signed the live CRL.
    pub user_ca: Option<PathBuf>,
    /// Verify the signature of certificates sent in card checks (`verify_certificate_signatures`, default true).
    pub verify_certificate_signatures: bool,
    /// CRL activation gate: `max_crl_change_percent` (default 5, held as a fraction) and `stale_crl` (default `alarm`).
    pub crl_policy: CrlPolicy,
    /// TLS of the public listener (`tls_cert`, `tls_key`, `client_ca`,
    /// `client_crl`, `client_auth`, `client_identity`); `None`: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Ask for the bearer token as well as the certificate (`require_token_with_certificate`).
    pub require_token_with_certificate: bool,
    /// TLS of the admin listener (`admin_tls_cert`, `admin_tls_key`,
    /// `operator_ca`, `operator_crl`); `None`: plain HTTP.
    pub admin_tls: Option<TlsFiles>,
    /// What "now" is: service hours, default dates, gates, the logs. The
    /// system clock unless a test sets another.
    pub clock: SharedClock,
}

impl ServeConfig {
    /// Applies defaults and checks every value; the error names the setting.
    /// `demo` changes one default: service hours are off for the demo data.
    pub fn from_settings(settings: Settings, demo: bool) -> Result<ServeConfig, String> {
        let duration = |name: &str, value: Option<String>, default: &str| {
            let text = value.unwrap_or_else(|| default.to_string());
            humantime::parse_duration(&text)
                .map_err(|e| format!("{name}: `{text}` is not a duration like 10s or 500ms ({e})"))
        };
        let positive = |name: &str, value: Option<usize>, default: usize| match value {
            Some(0) => Err(format!("{name}: must be at least 1")),
            other => Ok(other.unwrap_or(default)),
        };
        let percent = |name: &str, value: Option<f64>, default: f64| match value {
            Some(p) if !(0.0..=100.0).contains(&p) => {
                Err(format!("{name}: {p} is not a percentage from 0 to 100"))
            }
            other => Ok(other.unwrap_or(default)),
        };
        let stale = match settings.stale_crl.as_deref() {
            Some(text) => StaleCrl::parse(text).map_err(|e| format!("stale_crl: {e}"))?,
            None => StaleCrl::Alarm,
        };
        let tls = public_tls(&settings, stale)?;
        let admin_tls = admin_tls(&settings, stale)?;
        let require_token_with_certificate =
            settings.require_token_with_certificate.unwrap_or(false);
        if require_token_with_certificate
            && (settings.institutions.is_none()
                || tls
                    .as_ref()
                    .is_none_or(|t| t.client_auth == ClientAuth::Off))
        {
            return Err("require_token_with_certificate: needs institutions (the tokens) and a client_ca (the certificates)".into());
        }
        let service_hours = match settings.service_hours {
            Some(text) => ServiceHours::parse(&text).map_err(|e| format!("service_hours: {e}"))?,
            None if demo => ServiceHours::Always,
            None => ServiceHours::Window {
                start: 8 * 60,
                end: 21 * 60,
            },
        };
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let audit_log = settings.audit_log.clone().or_else(|| {
            settings
                .check_log
                .as_ref()
                .map(|dir| dir.join(AUDIT_LOG_NAME))
        });
        let check_log = match settings.check_log.clone() {
            None => None,
            Some(dir) => {
                let defaults = LogConfig::new(dir);
                Some(LogConfig {
                    backpressure: match settings.check_log_policy.as_deref() {
                        Some(text) => Backpressure::parse(text)
                            .map_err(|e| format!("check_log_policy: {e}"))?,
                        None => defaults.backpressure,
                    },
                    queue: match positive(
                        "check_log_queue",
                        settings.check_log_queue,
                        defaults.queue,
                    )? {
                        n if n > MAX_CHECK_LOG_QUEUE => {
                            return Err(format!(
                                "check_log_queue: {n} is more than {MAX_CHECK_LOG_QUEUE}"
                            ))
                        }
                        n => n,
                    },
                    linger: duration(
                        "check_log_linger",
                        settings.check_log_linger.clone(),
                        "20ms",
                    )?,
                    retention_months: settings
                        .check_log_retention_months
                        .unwrap_or(defaults.retention_months),
                    search_months: settings.history_months.unwrap_or(defaults.search_months),
                    ..defaults
                })
            }
        };
        if let Some(log) = &check_log {
            if log.search_months > log.retention_months {
                return Err(format!(
                    "history_months: {} is more than check_log_retention_months ({}); searches cannot reach days already removed",
                    log.search_months, log.retention_months
                ));
            }
        }
        Ok(ServeConfig {
            tls,
            admin_tls,
            require_token_with_certificate,
            snapshot: settings.snapshot,
            checkpoint_interval: duration(
                "checkpoint_interval",
                settings.checkpoint_interval,
                "5m",
            )?,
            state_dir: settings.state_dir.or_else(|| settings.journal.clone()),
            reset_state: false,
            journal: settings.journal,
            check_log,
            audit_log,
            listen: settings
                .listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            admin_listen: settings
                .admin_listen
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8081))),
            admin_token: settings.admin_token.clone().filter(|t| !t.is_empty()),
            operators: match (&settings.operators, settings.admin_token.as_deref()) {
                (Some(_), Some(token)) if !token.is_empty() => {
                    return Err("operators: give operators or admin_token, not both (operators replace the shared token)".into())
                }
                (operators, _) => operators.clone(),
            },
            institutions: settings.institutions,
            service_hours,
            max_in_flight: positive("max_in_flight", settings.max_in_flight, 512)?,
            throttle: Budget::of(settings.throttle_rate, settings.throttle_burst)?,
            max_connections: positive("max_connections", settings.max_connections, 8192)?,
            max_body_bytes: positive("max_body_bytes", settings.max_body_bytes, 64 * 1024)?,
            max_bulk_line_bytes: positive(
                "max_bulk_line_bytes",
                settings.max_bulk_line_bytes,
                64 * 1024,
            )?,
            header_read_timeout: duration(
                "header_read_timeout",
                settings.header_read_timeout,
                "10s",
            )?,
            idle_timeout: duration("idle_timeout", settings.idle_timeout, "60s")?,
            shutdown_deadline: duration("shutdown_deadline", settings.shutdown_deadline, "30s")?,
            max_past_days: settings.max_past_days.unwrap_or(31),
            require_birth_date: settings.require_birth_date.unwrap_or(false),
            workers: positive("workers", settings.workers, cpus)?,
            canaries: settings.canaries,
            max_row_change_percent: percent(
                "max_row_change_percent",
                settings.max_row_change_percent,
                10.0,
            )?,
            max_verdict_drift_percent: percent(
                "max_verdict_drift_percent",
                settings.max_verdict_drift_percent,
                5.0,
            )?,
            retry_after: settings.retry_after.unwrap_or(1),
            crl: settings.crl,
            user_ca: settings.user_ca,
            verify_certificate_signatures: settings.verify_certificate_signatures.unwrap_or(true),
            crl_policy: CrlPolicy {
                max_count_change: percent(
                    "max_crl_change_percent",
                    settings.max_crl_change_percent,
                    5.0,
                )? / 100.0,
                stale,
            },
            clock: system_clock(),
        })
    }
}

/// The public listener's TLS files, checked for what belongs together.
fn public_tls(settings: &Settings, stale: StaleCrl) -> Result<Option<TlsFiles>, String> {
    let client_auth = match (settings.client_auth.as_deref(), &settings.client_ca) {
        (Some(text), _) => ClientAuth::parse(text).map_err(|e| format!("client_auth: {e}"))?,
        (None, Some(_)) => ClientAuth::Required,
        (None, None) => ClientAuth::Off,
    };
    let identity = match settings.client_identity.as_deref() {
        Some(text) => {
            IdentityAttribute::parse(text).map_err(|e| format!("client_identity: {e}"))?
        }
        None => IdentityAttribute::CommonName,
    };
    tls_files(
        [
            ("tls_cert", &settings.tls_cert),
            ("tls_key", &settings.tls_key),
        ],
        [
            ("client_ca", &settings.client_ca),
            ("client_crl", &settings.client_crl),
        ],
        client_auth,
        identity,
        stale,
    )
}

/// The admin listener's TLS files: operators' certificates are optional
/// (an operator may present a token instead) and identified by fingerprint.
fn admin_tls(settings: &Settings, stale: StaleCrl) -> Result<Option<TlsFiles>, String> {
    let client_auth = match settings.operator_ca {
        Some(_) => ClientAuth::Optional,
        None => ClientAuth::Off,
    };
    if settings.operator_ca.is_some() && settings.operators.is_none() {
        return Err(
            "operator_ca: needs operators (operators.csv pins each operator's certificate)".into(),
        );
    }
    tls_files(
        [
            ("admin_tls_cert", &settings.admin_tls_cert),
            ("admin_tls_key", &settings.admin_tls_key),
        ],
        [
            ("operator_ca", &settings.operator_ca),
            ("operator_crl", &settings.operator_crl),
        ],
        client_auth,
        IdentityAttribute::Fingerprint,
        stale,
    )
}

/// One listener's TLS files: the certificate and key go together, a CA
/// needs them, a CRL needs the CA, and asking for client certificates
/// needs the CA.
fn tls_files(
    [(cert_name, cert), (key_name, key)]: [(&str, &Option<PathBuf>); 2],
    [(ca_name, ca), (crl_name, crl)]: [(&str, &Option<PathBuf>); 2],
    client_auth: ClientAuth,
    identity: IdentityAttribute,
    stale: StaleCrl,
) -> Result<Option<TlsFiles>, String> {
    let (cert, key) = match (cert, key) {
        (Some(cert), Some(key)) => (cert.clone(), key.clone()),
        (Some(_), None) => return Err(format!("{cert_name}: needs {key_name} too")),
        (None, Some(_)) => return Err(format!("{key_name}: needs {cert_name} too")),
        (None, None) if ca.is_some() => {
            return Err(format!(
                "{ca_name}: client certificates need TLS: give {cert_name} and {key_name}"
            ))
        }
        (None, None) => return Ok(None),
    };
    if crl.is_some() && ca.is_none() {
        return Err(format!(
            "{crl_name}: needs {ca_name}, the CA that signed it"
        ));
    }
    if client_auth != ClientAuth::Off && ca.is_none() {
        return Err(format!(
            "client_auth: asking for client certificates needs {ca_name}"
        ));
    }
    Ok(Some(TlsFiles {
        cert,
        key,
        client_ca: ca.clone(),
        client_crl: crl.clone(),
        client_auth,
        identity,
        stale,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: Settings = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nmax_in_flight = 64\nservice_hours = \"09:00-17:00\"",
        )
        .unwrap();
        let flags = Settings {
            max_in_flight: Some(8),
            ..Settings::default()
        };
        let config = ServeConfig::from_settings(flags.or(file), false).unwrap();
        assert_eq!(config.max_in_flight, 8);
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.service_hours.to_string(), "09:00-17:00");
        assert_eq!(config.idle_timeout, Duration::from_secs(60));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let unknown = toml::from_str::<Settings>("max_inflight = 3").unwrap_err();
        assert!(unknown.to_string().contains("max_inflight"), "{unknown}");
        for (settings, name) in [
            (
                Settings {
                    idle_timeout: Some("soon".into()),
                    ..Settings::default()
                },
                "idle_timeout",
            ),
            (
                Settings {
                    max_in_flight: Some(0),
                    ..Settings::default()
                },
                "max_in_flight",
            ),
            (
                Settings {
                    service_hours: Some("8-21".into()),
                    ..Settings::default()
                },
                "service_hours",
            ),
            (
                Settings {
                    max_verdict_drift_percent: Some(250.0),
                    ..Settings::default()
                },
                "max_verdict_drift_percent",
            ),
        ] {
            let error = ServeConfig::from_settings(settings, false).unwrap_err();
            assert!(error.starts_with(name), "{error}");
        }
    }

    #[test]
    fn tls_settings_that_do_not_belong_together_are_refused() {
        let path = |name: &str| Some(PathBuf::from(name));
        let cases = [
            (
                Settings {
                    tls_cert: path("server.pem"),
                    ..Settings::default()
                },
                "tls_cert: needs tls_key",
            ),
            (
                Settings {
                    client_ca: path("ca.pem"),
                    ..Settings::default()
                },
                "client_ca: client certificates need TLS",
            ),
            (
                Settings {
                    tls_cert: path("server.pem"),
                    tls_key: path("server-key.pem"),
                    client_auth: Some("required".into()),
                    ..Settings::default()
                },
                "client_auth: asking for client certificates needs client_ca",
            ),
            (
                Settings {
                    tls_cert: path("server.pem"),
                    tls_key: path("server-key.pem"),
                    client_ca: path("ca.pem"),
                    require_token_with_certificate: Some(true),
                    ..Settings::default()
                },
                "require_token_with_certificate: needs institutions",
            ),
            (
                Settings {
                    admin_tls_cert: path("admin.pem"),
                    admin_tls_key: path("admin-key.pem"),
                    operator_ca: path("ca.pem"),
                    ..Settings::default()
                },
                "operator_ca: needs operators",
            ),
            (
                Settings {
                    client_identity: Some("email".into()),
                    ..Settings::default()
                },
                "client_identity: `email`",
            ),
        ];
        for (settings, expected) in cases {
            let error = ServeConfig::from_settings(settings, false).unwrap_err();
            assert!(error.starts_with(expected), "{error}");
        }
        let tls = ServeConfig::from_settings(
            Settings {
                tls_cert: path("server.pem"),
                tls_key: path("server-key.pem"),
                client_ca: path("ca.pem"),
                ..Settings::default()
            },
            false,
        )
        .unwrap()
        .tls
        .unwrap();
        assert_eq!(
            tls.client_auth,
            ClientAuth::Required,
            "a CA asks for certificates"
        );
        assert_eq!(tls.identity, IdentityAttribute::CommonName);
    }

    #[test]
    fn demo_data_is_served_at_all_hours_unless_told_otherwise() {
        let demo = ServeConfig::from_settings(Settings::default(), true).unwrap();
        assert_eq!(demo.service_hours, ServiceHours::Always);
        let production = ServeConfig::from_settings(Settings::default(), false).unwrap();
        assert_eq!(production.service_hours.to_string(), "08:00-21:00");
    }
}

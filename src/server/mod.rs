//! The HTTP front end (`CONTRACT.md` §3), on hyper and tokio without a web
//! framework: a public listener answering checks, and an administrative
//! listener for status, activation and rollback.
//!
//! ```text
//! http::listener (accept, keep-alive, timeouts, graceful shutdown)
//!   └─ http::router ── endpoints::check / bulk / history / health
//!        admission (busy / hours / snapshot / credential) → body → request::parse_check
//!        → authorize → engine::answer → engine::json; bulk: the same per line, streamed
//! endpoints::admin ── serving::live / serving::crl (gated activation, rollback) / status
//! endpoints::admin_updates ── serving::ingest (the journal's single writer)
//! ```
//!
//! Layers inside: `serving` (what is live) and the shared settings,
//! registry and metrics at the bottom; `http` plumbing above them; the
//! endpoints on top. [`App`] ties them together; `startup` decides what it
//! serves first (the recorded serving state, or the settings).

pub mod config;
mod endpoints;
pub mod hours;
mod http;
mod institutions;
mod metrics;
mod operators;
mod request;
mod serving;
mod startup;
pub mod tls;

pub use config::{ServeConfig, Settings};
pub use request::check_request;

use crate::audit::AuditLog;
use crate::checklog::{CheckLog, LogConfig};
use crate::crl::trust::Trust;
use crate::model::clock::SharedClock;
use anyhow::Context;
use arc_swap::ArcSwap;
use http::listener::{ConnectionLimits, Shutdown};
use institutions::{Access, Registry};
use metrics::Metrics;
use serving::activation::ActivationPolicy;
use serving::crl::LiveCrl;
use serving::live::{Live, LiveTarget};
use serving::recheck::Recheck;
use serving::slot::ActivationError;
use serving::state::{RecordedCrl, RecordedSnapshot, ServingState, StateFile};
use startup::{load_at_start, StartPlan};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;

/// What every handler shares.
pub struct App {
    /// The settings the server was started with.
    pub config: ServeConfig,
    live: Live,
    /// The update journal and its writer (with a `journal` setting).
    ingest: Option<serving::ingest::Ingest>,
    /// The check log and its writer (with a `check_log` setting).
    check_log: Option<CheckLog>,
    audit_log: Option<AuditLog>,
    /// Which snapshot and CRL are live, kept across restarts (with a
    /// `state_dir` or a journal).
    state: Option<StateFile>,
    crl: LiveCrl,
    trust: Arc<Trust>,
    /// Who may check: swapped whole when `institutions.csv` is reloaded.
    access: ArcSwap<Access>,
    /// TLS of the public listener (with `tls_cert`).
    public_tls: Option<Arc<tls::TlsEndpoint>>,
    /// TLS of the admin listener (with `admin_tls_cert`).
    admin_tls: Option<Arc<tls::TlsEndpoint>>,
    /// True until what the start loads (the snapshot, then the CRL the
    /// settings or the serving state name) is all live: checks wait for
    /// it, so none is answered with the snapshot's own CRL in between.
    starting: AtomicBool,
    /// Operator accounts of the admin API (with an `operators` setting).
    /// Swapped whole when `operators.csv` is reloaded.
    operators: Option<ArcSwap<operators::Operators>>,
    metrics: Metrics,
    admission: http::admission::Admission,
    /// Each institution's budget of checks (`throttle_rate`, or the registry's).
    throttle: http::throttle::Throttle,
    policy: ActivationPolicy,
    started: Instant,
    shutdown: Shutdown,
}

impl App {
    /// Appends an administrative action to the audit log (if there is
    /// one); a failure to write is reported and counted, not hidden.
    fn audit(&self, actor: &str, action: &str, detail: serde_json::Value) {
        let Some(log) = &self.audit_log else { return };
        if let Err(error) = log.record(actor, action, detail) {
            eprintln!("shikaku: {error:#}");
            self.metrics.audit_failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reads `institutions.csv` again and, when every line is good, checks
    /// are authorized by it from the next request on (budgets included);
    /// otherwise the registry in service stays and the reason is returned.
    fn reload_institutions(&self) -> Result<serde_json::Value, String> {
        let Some(path) = &self.config.institutions else {
            return Err(
                "no institutions setting: the API is open to every institution code".into(),
            );
        };
        let registry = Registry::load(path, self.config.require_token_with_certificate)
            .map_err(|e| format!("institutions {}: {e:#}", path.display()))?;
        let access = Access::Registry(registry);
        self.throttle.set_own(access.budgets());
        let count = access.institution_count();
        self.access.store(Arc::new(access));
        Ok(serde_json::json!({ "institutions": count }))
    }

    /// Reads `operators.csv` again and, when every line is good, admin
    /// requests are authenticated by it from the next one on; otherwise
    /// the accounts in service stay and the reason is returned.
    fn reload_operators(&self) -> Result<serde_json::Value, String> {
        let (Some(path), Some(accounts)) = (&self.config.operators, &self.operators) else {
            return Err("no operators setting: there are no operator accounts to reload".into());
        };
        let loaded = operators::Operators::load(path)
            .map_err(|e| format!("operators {}: {e:#}", path.display()))?;
        let count = loaded.len();
        accounts.store(Arc::new(loaded));
        Ok(serde_json::json!({ "operators": count }))
    }

    /// Reads the TLS files of both listeners again (see
    /// [`tls::TlsEndpoint::reload`]); each listener changes only when all
    /// of its files are good.
    fn reload_tls(&self) -> Result<serde_json::Value, String> {
        let mut loaded = serde_json::Map::new();
        let mut problems = Vec::new();
        for (name, endpoint) in [("public", &self.public_tls), ("admin", &self.admin_tls)] {
            if let Some(endpoint) = endpoint {
                match endpoint.reload() {
                    Ok(description) => {
                        loaded.insert(name.into(), description);
                    }
                    Err(problem) => problems.push(format!("{name} listener: {problem}")),
                }
            }
        }
        if loaded.is_empty() && problems.is_empty() {
            return Err("no TLS is configured (tls_cert, admin_tls_cert)".into());
        }
        match problems.is_empty() {
            true => Ok(serde_json::Value::Object(loaded)),
            false => Err(format!(
                "{}; the configuration in service stays{}",
                problems.join("; "),
                match loaded.is_empty() {
                    true => String::new(),
                    false => format!(
                        " (reloaded: {})",
                        loaded.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                }
            )),
        }
    }

    /// Activates the snapshot at `path` (see [`Live::make_live`]), adopts
    /// its CRL when that is due (see [`serving::crl::adopt_from_snapshot`]), and
    /// counts the swap or the refusal. The CRL slot is held throughout, so
    /// no CRL activation or rollback comes between the two.
    async fn activate(
        &self,
        path: PathBuf,
        force: bool,
    ) -> Result<serving::activation::ActivationReport, ActivationError> {
        self.go_live(LiveTarget::Activate { path, force }).await
    }

    /// Makes `target` the live snapshot as [`App::activate`] describes.
    async fn go_live(
        &self,
        target: LiveTarget,
    ) -> Result<serving::activation::ActivationReport, ActivationError> {
        let mut crl = self.crl.change().await;
        let (policy, trust, clock) = (&self.policy, &self.trust, &self.config.clock);
        let ingest = self.ingest.as_ref();
        let mut result = self
            .live
            .make_live(target, policy, trust, clock, ingest)
            .await;
        let counter = match result {
            Ok(_) => &self.metrics.swaps,
            Err(_) => &self.metrics.activation_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let (Ok(report), Some(generation)) = (&mut result, self.live.current()) {
            report.crl_adopted = serving::crl::adopt_from_snapshot(
                &mut crl,
                &generation.snapshot,
                self.config.clock.system_time(),
            );
        }
        result
    }

    /// Activates the CRL at `path` (see [`LiveCrl::activate`]) and counts it.
    async fn activate_crl(
        &self,
        path: std::path::PathBuf,
        force: bool,
    ) -> Result<serving::crl::CrlActivation, ActivationError> {
        let result = self
            .crl
            .activate(
                path,
                force,
                &self.config.crl_policy,
                &self.trust,
                &self.config.clock,
            )
            .await;
        self.count_crl_activation(result)
    }

    /// Serves again the CRL recorded in the serving state (see
    /// [`LiveCrl::restore`]) and counts it.
    async fn restore_crl(
        &self,
        recorded: RecordedCrl,
    ) -> Result<serving::crl::CrlActivation, ActivationError> {
        let result = self
            .crl
            .restore(
                recorded,
                &self.config.crl_policy,
                &self.trust,
                &self.config.clock,
            )
            .await;
        self.count_crl_activation(result)
    }

    fn count_crl_activation<T>(
        &self,
        result: Result<T, ActivationError>,
    ) -> Result<T, ActivationError> {
        let counter = match result {
            Ok(_) => &self.metrics.crl_swaps,
            Err(_) => &self.metrics.crl_activation_failures,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        result
    }

    /// Records the live snapshot and CRL in the state file (if there is
    /// one) after `cause`. A failure does not undo the change; it is
    /// returned, printed and raised as an alarm, since a restart would then
    /// serve what the file still names.
    async fn record_state(self: &Arc<Self>, cause: &'static str) -> Option<String> {
        self.state.as_ref()?;
        let app = self.clone();
        let written = tokio::task::spawn_blocking(move || {
            let file = app.state.as_ref()?;
            file.write(|| app.serving_state(cause)).err()
        })
        .await;
        let failure = match written {
            Ok(failure) => failure?,
            Err(panicked) => format!("the state writer failed: {panicked}"),
        };
        eprintln!("shikaku: ALARM: cannot record the serving state ({failure}); a restart would serve what the state file names");
        Some(failure)
    }

    /// What is live now, as the state file records it.
    fn serving_state(&self, cause: &str) -> Option<ServingState> {
        let live = self.live.current()?;
        let failed = matches!(
            *live.recheck.lock().unwrap_or_else(|e| e.into_inner()),
            Recheck::Failed(_)
        );
        let snapshot = RecordedSnapshot {
            id: live.snapshot.id().to_string(),
            path: serving::state::absolute(live.snapshot.dir()),
            verified_manifest: (!failed).then(|| live.verified.manifest_digest.clone()),
        };
        let crl = self
            .crl
            .current()
            .map(|g| RecordedCrl::new(g.crl.id(), &g.source));
        let written_at = self
            .config
            .clock
            .utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Some(ServingState::new(cause, written_at, snapshot, crl))
    }
}

/// The addresses actually bound (a port of 0 in the settings picks a free one).
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// Bound address of the public listener.
    pub public: SocketAddr,
    /// Bound address of the administrative listener.
    pub admin: SocketAddr,
}

/// Runs the server until SIGTERM or Ctrl-C. `on_bound` is called once both
/// listeners are bound, before any snapshot is loaded. Fails if a listener
/// cannot be bound, the registry cannot be read, or the configured snapshot
/// cannot be loaded at start.
pub fn run(config: ServeConfig, on_bound: impl FnOnce(Bound)) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, on_bound))
}

async fn serve(config: ServeConfig, on_bound: impl FnOnce(Bound)) -> anyhow::Result<()> {
    if !crate::storage::guard::install() {
        eprintln!("shikaku: cannot install the SIGBUS handler: a snapshot file truncated under the server would end the process");
    }
    if !crate::storage::watch::install() {
        eprintln!("shikaku: cannot watch the snapshot files (inotify): a file overwritten in place under the server is noticed only by the next verification");
    }
    let access = match &config.institutions {
        Some(path) => Access::Registry(
            Registry::load(path, config.require_token_with_certificate)
                .with_context(|| format!("institutions {}", path.display()))?,
        ),
        None => Access::Open,
    };
    let load_tls = |files: &Option<tls::TlsFiles>| -> anyhow::Result<_> {
        let Some(files) = files else { return Ok(None) };
        let endpoint = tls::TlsEndpoint::load(files.clone(), config.clock.clone())
            .map_err(|e| anyhow::anyhow!(e))?;
        for alarm in endpoint.alarms() {
            eprintln!("shikaku: ALARM: {alarm}");
        }
        Ok(Some(Arc::new(endpoint)))
    };
    let public_tls = load_tls(&config.tls)?;
    let admin_tls = load_tls(&config.admin_tls)?;
    let operators = match &config.operators {
        Some(path) => Some(ArcSwap::from_pointee(
            operators::Operators::load(path)
                .with_context(|| format!("operators {}", path.display()))?,
        )),
        None => None,
    };
    let bind = |address: SocketAddr, what: &'static str| async move {
        TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} ({what})"))
    };
    let user_ca = match &config.user_ca {
        Some(path) => Some(
            crate::crl::trust::CaCertificate::read_bundle(path)
                .map_err(|e| anyhow::anyhow!("user_ca: {e}"))?,
        ),
        None => None,
    };
    let live = Live::default();
    let ingest = match &config.journal {
        Some(dir) => Some(
            serving::ingest::Ingest::start(dir, live.reader(), config.checkpoint_interval)
                .with_context(|| format!("journal {}", dir.display()))?,
        ),
        None => None,
    };
    let check_log = match &config.check_log {
        Some(log) => Some(start_check_log(log, &config.clock)?),
        None => None,
    };
    let audit_log = match &config.audit_log {
        Some(path) => Some(AuditLog::open(path, config.clock.clone())?),
        None => None,
    };
    let state = match &config.state_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("state_dir {}: cannot create it", dir.display()))?;
            Some(StateFile::in_dir(dir))
        }
        None => None,
    };
    let plan = StartPlan::decide(&config, state.as_ref())?;
    let public = bind(config.listen, "listen").await?;
    let admin = bind(config.admin_listen, "admin_listen").await?;
    on_bound(Bound {
        public: public.local_addr()?,
        admin: admin.local_addr()?,
    });
    let app = Arc::new(App {
        admission: http::admission::Admission::new(config.max_in_flight),
        throttle: http::throttle::Throttle::new(config.throttle, access.budgets()),
        public_tls: public_tls.clone(),
        admin_tls: admin_tls.clone(),
        operators,
        policy: ActivationPolicy {
            max_row_change_percent: config.max_row_change_percent,
            max_verdict_drift_percent: config.max_verdict_drift_percent,
            canaries: config.canaries.clone(),
        },
        trust: Arc::new(Trust {
            configured: user_ca,
            verify_signatures: config.verify_certificate_signatures,
        }),
        config,
        live,
        ingest,
        check_log,
        audit_log,
        state,
        crl: LiveCrl::default(),
        access: ArcSwap::from_pointee(access),
        metrics: Metrics::default(),
        started: Instant::now(),
        starting: AtomicBool::new(!matches!(plan, StartPlan::Nothing)),
        shutdown: Shutdown::default(),
    });
    let startup_failure = Arc::new(Mutex::new(None));
    if !matches!(plan, StartPlan::Nothing) {
        tokio::spawn(load_at_start(app.clone(), plan, startup_failure.clone()));
    }
    tokio::spawn(stop_on_signal(app.shutdown.clone()));
    tokio::spawn(reload_on_hangup(app.clone()));
    let limits = ConnectionLimits {
        max_connections: app.config.max_connections,
        header_read_timeout: app.config.header_read_timeout,
        idle_timeout: app.config.idle_timeout,
    };
    let deadline = app.config.shutdown_deadline;
    let public_app = app.clone();
    let admin_app = app.clone();
    let public_loop = http::listener::serve(
        public,
        public_tls,
        move |request| http::router::handle(public_app.clone(), request),
        limits.clone(),
        app.shutdown.clone(),
        app.metrics.connections_counter(),
        deadline,
    );
    let admin_loop = http::listener::serve(
        admin,
        admin_tls,
        move |request| endpoints::admin::handle(admin_app.clone(), request),
        limits,
        app.shutdown.clone(),
        Arc::new(AtomicI64::new(0)),
        deadline,
    );
    tokio::join!(public_loop, admin_loop);
    if let Some(log) = &app.check_log {
        if !log.close().await {
            eprintln!("shikaku: check log: the writer did not finish writing in time; the next start recovers what reached the disk");
        }
    }
    let failure = startup_failure.lock().map(|f| f.clone()).unwrap_or(None);
    match failure {
        Some(reason) => Err(anyhow::anyhow!(reason)),
        None => {
            println!("shikaku: stopped");
            Ok(())
        }
    }
}

/// Starts the check log, reporting what it recovered of an earlier run.
fn start_check_log(config: &LogConfig, clock: &SharedClock) -> anyhow::Result<CheckLog> {
    let (log, recovery) = CheckLog::start(config.clone(), clock.clone())
        .with_context(|| format!("check_log {}", config.dir.display()))?;
    if recovery.segments_indexed > 0 || recovery.days_purged > 0 {
        println!(
            "shikaku: check log: {} segment(s) left open by the last run indexed ({} torn bytes cut), {} day(s) past retention removed",
            recovery.segments_indexed, recovery.torn_bytes, recovery.days_purged
        );
    }
    for damage in &recovery.damaged {
        eprintln!("shikaku: check log: {damage}");
    }
    Ok(log)
}

/// On SIGHUP, reloads the institution registry, the operator accounts and
/// the TLS files, as `POST /admin/institutions/reload`,
/// `/admin/operators/reload` and `/admin/tls/reload` do; what cannot be
/// reloaded is reported and keeps serving as it was.
async fn reload_on_hangup(app: Arc<App>) {
    let Ok(mut hangup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        return;
    };
    while hangup.recv().await.is_some() {
        let reloading = app.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            let registry = reloading
                .config
                .institutions
                .is_some()
                .then(|| reloading.reload_institutions());
            let tls = (reloading.public_tls.is_some() || reloading.admin_tls.is_some())
                .then(|| reloading.reload_tls());
            (registry, tls)
        })
        .await;
        let Ok((registry, tls)) = outcome else {
            continue;
        };
        for (action, result) in [("institutions.reload", registry), ("tls.reload", tls)] {
            let Some(result) = result else { continue };
            match &result {
                Ok(_) => println!("shikaku: SIGHUP: {action}: done"),
                Err(problem) => eprintln!("shikaku: SIGHUP: {action}: refused: {problem}"),
            }
            let detail = match result {
                Ok(loaded) => serde_json::json!({ "outcome": "ok", "loaded": loaded }),
                Err(problem) => serde_json::json!({ "outcome": "refused", "error": problem }),
            };
            app.audit("SIGHUP", action, detail);
        }
    }
}

/// Begins a graceful shutdown on SIGTERM or Ctrl-C (SIGINT).
async fn stop_on_signal(shutdown: Shutdown) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    println!("shikaku: shutting down: no new connections; finishing requests in progress");
    shutdown.begin();
}

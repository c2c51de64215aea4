//! The open-loop engine of a run.
//!
//! A dispatcher thread walks the profile's deadlines (absolute offsets from
//! the start, computed from the planned rate, not from timer wake-ups) and
//! releases each request at its deadline: it sleeps until just before, then
//! spins the last few microseconds, so a send is late by microseconds, not
//! by a timer tick. Released requests queue for a connection; connection
//! tasks on a tokio runtime take them in order. Nothing waits for an answer
//! before releasing the next request, so a slow server cannot slow the
//! schedule down (no coordinated omission): a stall shows in full in the
//! response time, which runs from the scheduled time. The service time,
//! from the actual send, is kept beside it, and so is the send lag between
//! the two.
//!
//! Requests waiting for a connection are the backlog; when
//! `max_outstanding` requests are waiting or in flight, a new one is
//! dropped and counted, never silently skipped.

use crate::answers::{self, Read};
use crate::client::{exchange, Connection, Endpoint, ExchangeError};
use crate::corpus::Corpus;
use crate::mix::Prepared;
use crate::profile::Profile;
use crate::recorder::{Failure, IntervalGauges, Recorder, Timing};
use crate::summary::{ActionResult, Backlog};
use crate::tls::HandshakeSummary;
use anyhow::{anyhow, Result};
use bytes::Bytes;
use hyper::Method;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Keep connections open, or open one per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionMode {
    KeepAlive,
    NewConnection,
}

impl ConnectionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionMode::KeepAlive => "keep-alive",
            ConnectionMode::NewConnection => "new-connection",
        }
    }
}

/// How the live progress line is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Off,
    /// Rewritten in place every interval (a terminal).
    Line,
    /// One line every ten intervals (a log).
    Log,
}

#[derive(Clone, Debug)]
pub struct RunSettings {
    pub endpoint: Endpoint,
    pub admin: Option<Endpoint>,
    pub mode: ConnectionMode,
    pub connections: usize,
    pub max_outstanding: usize,
    pub timeout: Duration,
    pub threads: usize,
    pub interval: Duration,
    pub late_threshold: Duration,
    /// The dispatcher spins (instead of sleeping) this close to a deadline.
    pub spin: Duration,
    pub progress: Progress,
}

/// An admin call made during the run.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Activate { path: String, force: bool },
    Rollback,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimedAction {
    pub at: Duration,
    pub action: Action,
}

/// What a run leaves behind.
pub struct Outcome {
    pub recorder: Recorder,
    /// TLS handshakes towards the API (https only).
    pub handshakes: Option<HandshakeSummary>,
    /// The run was stopped by Ctrl-C before its schedule ended.
    pub interrupted: bool,
    pub actions: Vec<ActionResult>,
    pub backlog: Backlog,
    pub elapsed: Duration,
}

/// A request released by the dispatcher.
struct Ticket {
    sequence: u64,
    scheduled: Instant,
}

#[derive(Default)]
struct Gauges {
    /// Released and not yet completed.
    outstanding: AtomicU64,
    /// Released and not yet taken by a connection.
    waiting: AtomicU64,
    interval_backlog: AtomicU64,
    /// Sent since the last interval tick.
    interval_sent: AtomicU64,
    /// Deadlines after the warm-up (the dispatcher's count).
    scheduled: AtomicU64,
    max_backlog: AtomicU64,
    max_outstanding: AtomicU64,
}

struct Shared {
    settings: RunSettings,
    requests: Arc<Vec<Prepared>>,
    corpus: Arc<Corpus>,
    recorder: Mutex<Recorder>,
    gauges: Gauges,
    /// Set when the drain time is over: waiting requests are not sent.
    abandon: AtomicBool,
    /// Set by Ctrl-C: the schedule ends early, the reports are still written.
    interrupted: AtomicBool,
    warmup: Duration,
}

impl Shared {
    fn recorder(&self) -> MutexGuard<'_, Recorder> {
        // A panic while recording cannot leave the counters half-updated in
        // a way that matters more than losing the run; keep going.
        self.recorder.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Runs `profile` against the target and returns what was measured.
pub fn run(
    settings: RunSettings,
    profile: &Profile,
    requests: Arc<Vec<Prepared>>,
    corpus: Arc<Corpus>,
    actions: Vec<TimedAction>,
) -> Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(run_async(settings, profile, requests, corpus, actions))
}

async fn run_async(
    settings: RunSettings,
    profile: &Profile,
    requests: Arc<Vec<Prepared>>,
    corpus: Arc<Corpus>,
    actions: Vec<TimedAction>,
) -> Result<Outcome> {
    if requests.is_empty() {
        return Err(anyhow!("no requests to send"));
    }
    let connections = open_pool(&settings).await?;
    let start = Instant::now() + Duration::from_millis(50);
    let shared = Arc::new(Shared {
        recorder: Mutex::new(Recorder::new(
            start,
            profile.warmup(),
            settings.late_threshold,
        )),
        settings,
        requests,
        corpus,
        gauges: Gauges::default(),
        abandon: AtomicBool::new(false),
        interrupted: AtomicBool::new(false),
        warmup: profile.warmup(),
    });
    let (sender, receiver) = async_channel::unbounded::<Ticket>();
    let workers: Vec<_> = connections
        .into_iter()
        .map(|connection| tokio::spawn(work(shared.clone(), receiver.clone(), connection)))
        .collect();
    drop(receiver);
    let action_tasks = spawn_actions(&shared, start, actions);
    let interrupt = tokio::spawn(stop_on_ctrl_c(shared.clone()));
    let finished = Arc::new(tokio::sync::Notify::new());
    let ticker = tokio::spawn(tick(
        shared.clone(),
        start,
        profile.clone(),
        finished.clone(),
    ));
    let dispatcher = {
        let (shared, schedule) = (shared.clone(), profile.schedule());
        std::thread::Builder::new()
            .name("dispatcher".into())
            .spawn(move || dispatch(&shared, schedule, start, sender))?
    };
    tokio::task::spawn_blocking(move || dispatcher.join())
        .await?
        .map_err(|_| anyhow!("the dispatcher thread failed"))?;
    interrupt.abort();
    // An aborted task lets go of `shared` only once it has been dropped:
    // wait for that, or the hand-back of `shared` below can race it.
    let _ = interrupt.await;
    drain(&shared).await;
    for worker in workers {
        worker.await?;
    }
    let elapsed = start.elapsed();
    let mut results = Vec::new();
    for task in action_tasks {
        results.push(task.await?);
    }
    finished.notify_one();
    let closed_to = ticker.await?;
    let shared = Arc::into_inner(shared).ok_or_else(|| anyhow!("a run task outlived the run"))?;
    let mut recorder = shared
        .recorder
        .into_inner()
        .unwrap_or_else(|e| e.into_inner());
    recorder.totals.requests.scheduled = shared.gauges.scheduled.load(Relaxed);
    let mut results: Vec<ActionResult> = results
        .into_iter()
        .map(|(number, result)| {
            let (during, after) = recorder.action_latency(number);
            ActionResult {
                during,
                after,
                ..result
            }
        })
        .collect();
    if elapsed > closed_to {
        let gauges = interval_gauges(&shared.gauges, profile, closed_to, elapsed);
        recorder.close_interval(closed_to, elapsed, gauges);
    }
    results.sort_by(|a, b| a.at_seconds.total_cmp(&b.at_seconds));
    Ok(Outcome {
        recorder,
        interrupted: shared.interrupted.load(Relaxed),
        actions: results,
        backlog: Backlog {
            max: shared.gauges.max_backlog.load(Relaxed),
            max_outstanding: shared.gauges.max_outstanding.load(Relaxed),
        },
        elapsed,
        handshakes: shared.settings.endpoint.handshakes(),
    })
}

/// Opens the keep-alive pool before the clock starts (a target that cannot
/// be reached fails the run at once); new-connection mode opens none.
async fn open_pool(settings: &RunSettings) -> Result<Vec<Option<Connection>>> {
    let mut pool = Vec::with_capacity(settings.connections);
    for _ in 0..settings.connections.max(1) {
        pool.push(match settings.mode {
            ConnectionMode::KeepAlive => {
                Some(
                    settings.endpoint.connect().await.map_err(|e| {
                        anyhow!("cannot connect to {}: {e}", settings.endpoint.url())
                    })?,
                )
            }
            ConnectionMode::NewConnection => None,
        });
    }
    Ok(pool)
}

// ---------------------------------------------------------------------------
// Dispatching
// ---------------------------------------------------------------------------

fn dispatch(
    shared: &Shared,
    schedule: impl Iterator<Item = Duration>,
    start: Instant,
    sender: async_channel::Sender<Ticket>,
) {
    precise_sleep::enable();
    let gauges = &shared.gauges;
    let limit = shared.settings.max_outstanding as u64;
    let warmup_end = start + shared.warmup;
    for (sequence, offset) in schedule.enumerate() {
        let scheduled = start + offset;
        precise_sleep::until(scheduled, shared.settings.spin);
        if shared.interrupted.load(Relaxed) {
            break;
        }
        if scheduled >= warmup_end {
            gauges.scheduled.fetch_add(1, Relaxed);
        }
        if gauges.outstanding.load(Relaxed) >= limit {
            shared.recorder().dropped(scheduled);
            continue;
        }
        let outstanding = gauges.outstanding.fetch_add(1, Relaxed) + 1;
        let waiting = gauges.waiting.fetch_add(1, Relaxed) + 1;
        gauges.max_outstanding.fetch_max(outstanding, Relaxed);
        gauges.max_backlog.fetch_max(waiting, Relaxed);
        gauges.interval_backlog.fetch_max(waiting, Relaxed);
        let ticket = Ticket {
            sequence: sequence as u64,
            scheduled,
        };
        if sender.try_send(ticket).is_err() {
            break;
        }
    }
}

/// Waiting until a deadline within microseconds: sleep to just before it,
/// then spin.
mod precise_sleep {
    use std::time::{Duration, Instant};

    /// Linux rounds sleeps up by the thread's timer slack (50 µs by
    /// default); the dispatcher asks for the least.
    pub fn enable() {
        #[cfg(target_os = "linux")]
        // SAFETY: PR_SET_TIMERSLACK takes one integer and only affects this thread.
        unsafe {
            libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
        }
    }

    /// Shorter sleeps cost more in system calls than they save: with no
    /// spinning, the dispatcher sleeps at least this long and then releases
    /// every request that fell due meanwhile (each late by at most this).
    const MIN_SLEEP: Duration = Duration::from_micros(50);

    pub fn until(deadline: Instant, spin: Duration) {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let left = deadline - now;
            if left > spin + MIN_SLEEP {
                std::thread::sleep(left - spin);
            } else if spin.is_zero() {
                std::thread::sleep(MIN_SLEEP);
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

async fn stop_on_ctrl_c(shared: Arc<Shared>) {
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!(
            "\nshikaku-load: interrupted; finishing the requests in flight and writing the reports"
        );
        shared.interrupted.store(true, Relaxed);
    }
}

/// After the schedule ends: let the backlog drain for up to the request
/// timeout, then give up on what is still waiting (counted as unsent).
async fn drain(shared: &Shared) {
    let deadline = Instant::now() + shared.settings.timeout;
    while shared.gauges.waiting.load(Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shared.abandon.store(true, Relaxed);
}

// ---------------------------------------------------------------------------
// Connections
// ---------------------------------------------------------------------------

/// Why an attempt failed before an answer arrived.
enum AttemptError {
    Connect(std::io::Error),
    Exchange(ExchangeError),
    Timeout,
}

async fn work(
    shared: Arc<Shared>,
    tickets: async_channel::Receiver<Ticket>,
    mut connection: Option<Connection>,
) {
    let settings = &shared.settings;
    let close = settings.mode == ConnectionMode::NewConnection;
    while let Ok(ticket) = tickets.recv().await {
        shared.gauges.waiting.fetch_sub(1, Relaxed);
        if shared.abandon.load(Relaxed) {
            shared.recorder().unsent(ticket.scheduled);
            shared.gauges.outstanding.fetch_sub(1, Relaxed);
            continue;
        }
        let prepared = &shared.requests[(ticket.sequence % shared.requests.len() as u64) as usize];
        let sent = Instant::now();
        shared.gauges.interval_sent.fetch_add(1, Relaxed);
        let attempt = attempt(&settings.endpoint, &mut connection, prepared, close);
        let result = match tokio::time::timeout(settings.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(AttemptError::Timeout),
        };
        let timing = Timing {
            scheduled: ticket.scheduled,
            sent,
            done: Instant::now(),
        };
        if close || result.is_err() {
            connection = None;
        }
        record(&shared, prepared, &timing, result);
        shared.gauges.outstanding.fetch_sub(1, Relaxed);
    }
}

/// One request on the task's connection, (re)connecting when there is none
/// or the server closed it.
async fn attempt(
    endpoint: &Endpoint,
    connection: &mut Option<Connection>,
    prepared: &Prepared,
    close: bool,
) -> Result<(u16, Bytes), AttemptError> {
    if connection.as_ref().is_none_or(|c| c.is_closed()) {
        *connection = Some(endpoint.connect().await.map_err(AttemptError::Connect)?);
    }
    let Some(connection) = connection.as_mut() else {
        unreachable!("connected just above")
    };
    let request = endpoint.request(
        connection,
        Method::POST,
        prepared.path,
        &prepared.body,
        close,
    );
    exchange(connection, request)
        .await
        .map_err(AttemptError::Exchange)
}

/// The answers of a 200 response, one per expected check, or why they
/// cannot be read.
fn judge<'b>(status: u16, body: &'b [u8], prepared: &Prepared) -> Result<Vec<Read<'b>>, String> {
    if status != 200 {
        return Ok(Vec::new());
    }
    if prepared.path.ends_with("/bulk") {
        let answers = answers::lines(body)
            .map(answers::read)
            .collect::<Result<Vec<_>, _>>()?;
        if answers.len() != prepared.expected.len() {
            return Err(format!(
                "{} answer lines for {} bulk checks",
                answers.len(),
                prepared.expected.len()
            ));
        }
        Ok(answers)
    } else {
        Ok(vec![answers::read(body)?])
    }
}

fn record(
    shared: &Shared,
    prepared: &Prepared,
    timing: &Timing,
    result: Result<(u16, Bytes), AttemptError>,
) {
    let scheduled = timing.scheduled;
    let (status, body) = match result {
        Ok(reply) => reply,
        Err(error) => {
            let failure = attempt_failure(error, shared.settings.timeout);
            let mut recorder = shared.recorder();
            recorder.completed(timing);
            return recorder.failed(scheduled, failure);
        }
    };
    let answers = judge(status, &body, prepared);
    let mut recorder = shared.recorder();
    recorder.completed(timing);
    recorder.status(scheduled, status);
    if status != 200 {
        let code = answers::error_code(&body);
        let message = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        let failure = Failure {
            kind: "http",
            status: Some(status),
            code: code.as_deref(),
            message,
        };
        return recorder.failed(scheduled, failure);
    }
    let answers = match answers {
        Ok(answers) => answers,
        Err(message) => return recorder.failed(scheduled, failure("parse", message)),
    };
    recorder.ok(scheduled);
    for (answer, expected) in answers.iter().zip(&prepared.expected) {
        let describe = || describe_check(&shared.corpus, expected.check);
        recorder.check(
            scheduled,
            expected.kind.as_str(),
            &expected.verdict,
            answer,
            describe,
        );
    }
}

fn failure(kind: &'static str, message: String) -> Failure<'static> {
    Failure {
        kind,
        status: None,
        code: None,
        message,
    }
}

fn attempt_failure(error: AttemptError, timeout: Duration) -> Failure<'static> {
    match error {
        AttemptError::Timeout => failure("timeout", format!("no answer within {timeout:?}")),
        AttemptError::Connect(e) => failure("connect", e.to_string()),
        AttemptError::Exchange(e) => failure(e.kind(), e.message()),
    }
}

fn describe_check(corpus: &Corpus, index: u32) -> String {
    corpus
        .checks
        .get(index as usize)
        .map(|check| {
            format!(
                "{} {}",
                check.kind.as_str(),
                serde_json::Value::Object(check.request.clone())
            )
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Intervals, progress and admin actions
// ---------------------------------------------------------------------------

/// Closes an interval at every tick until the run is over; returns the end
/// of the last closed interval.
async fn tick(
    shared: Arc<Shared>,
    start: Instant,
    profile: Profile,
    finished: Arc<tokio::sync::Notify>,
) -> Duration {
    let interval = shared.settings.interval;
    let mut closed_to = Duration::ZERO;
    let mut count = 0u64;
    loop {
        let to = closed_to + interval;
        tokio::select! {
            _ = tokio::time::sleep_until((start + to).into()) => {}
            _ = finished.notified() => break,
        }
        let gauges = interval_gauges(&shared.gauges, &profile, closed_to, to);
        let mut recorder = shared.recorder();
        recorder.close_interval(closed_to, to, gauges);
        count += 1;
        show_progress(&shared.settings, &recorder, to, profile.duration(), count);
        closed_to = to;
    }
    if shared.settings.progress == Progress::Line {
        eprintln!();
    }
    closed_to
}

/// Takes the interval's counts from the gauges (resetting them).
fn interval_gauges(
    gauges: &Gauges,
    profile: &Profile,
    from: Duration,
    to: Duration,
) -> IntervalGauges {
    let waiting = gauges.waiting.load(Relaxed);
    IntervalGauges {
        target_rate: profile.expected_between(from, to) / (to - from).as_secs_f64().max(1e-9),
        sent: gauges.interval_sent.swap(0, Relaxed),
        backlog_max: gauges.interval_backlog.swap(waiting, Relaxed),
    }
}

fn show_progress(
    settings: &RunSettings,
    recorder: &Recorder,
    at: Duration,
    total: Duration,
    count: u64,
) {
    let Some(last) = recorder.intervals.last() else {
        return;
    };
    let totals = &recorder.totals;
    let line = format!(
        "[{:>5.0}s/{:.0}s] target {:>7.0}/s  sent {:>7.0}/s  done {:>7.0}/s  p99 {:>6} µs  max {:>7} µs  errors {}  mismatches {}  dropped {}  backlog {}{}",
        at.as_secs_f64(),
        total.as_secs_f64(),
        last.target_rate,
        last.sent_rate,
        last.achieved_rate,
        last.response.p99,
        last.response.max,
        totals.errors.total,
        totals.checks.mismatches,
        totals.requests.dropped,
        last.backlog_max,
        if last.warmup { "  (warm-up)" } else { "" },
    );
    match settings.progress {
        Progress::Off => {}
        Progress::Line => eprint!("\r{line}\x1b[K"),
        Progress::Log if count % 10 == 0 => eprintln!("{line}"),
        Progress::Log => {}
    }
}

/// Takes each action at its time; each task answers with the action's
/// number in the recorder (see [`crate::recorder::Recorder::action_started`]).
fn spawn_actions(
    shared: &Arc<Shared>,
    start: Instant,
    actions: Vec<TimedAction>,
) -> Vec<tokio::task::JoinHandle<(usize, ActionResult)>> {
    actions
        .into_iter()
        .map(|timed| {
            let shared = shared.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until((start + timed.at).into()).await;
                let recorder = || shared.recorder.lock().unwrap_or_else(|e| e.into_inner());
                let number = recorder().action_started();
                let result = take_action(shared.settings.admin.as_ref(), &timed, start).await;
                recorder().action_answered(number, Instant::now());
                (number, result)
            })
        })
        .collect()
}

async fn take_action(
    admin: Option<&Endpoint>,
    timed: &TimedAction,
    start: Instant,
) -> ActionResult {
    let began = Instant::now();
    let (name, path, body) = match &timed.action {
        Action::Activate { path, force } => (
            format!("activate {path}"),
            "/admin/snapshot/activate",
            serde_json::json!({"path": path, "force": force}).to_string(),
        ),
        Action::Rollback => (
            "rollback".to_string(),
            "/admin/snapshot/rollback",
            String::new(),
        ),
    };
    let reply = match admin {
        Some(admin) => crate::client::once(admin, Method::POST, path, Bytes::from(body)).await,
        None => Err(anyhow!("no admin URL given (--admin-url)")),
    };
    let (status, detail) = match reply {
        Ok((status, body)) => (status, String::from_utf8_lossy(&body).trim().to_string()),
        Err(e) => (0, e.to_string()),
    };
    ActionResult {
        at_seconds: began.saturating_duration_since(start).as_secs_f64(),
        action: name,
        status,
        ok: status == 200,
        detail,
        took_ms: began.elapsed().as_millis() as u64,
        ..ActionResult::default()
    }
}

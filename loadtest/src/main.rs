//! `shikaku-load`: run a load-test scenario against shikaku, build a request
//! corpus from a snapshot, or calibrate the harness. See loadtest/README.md.

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use shikaku::model::Date;
use shikaku::model::JapanTime;
use shikaku::snapshot::Snapshot;
use shikaku_load::calibrate::{self, CalibrateOptions};
use shikaku_load::client::{self, Endpoint};
use shikaku_load::corpus::{Corpus, Draw};
use shikaku_load::mix::{self, Caller};
use shikaku_load::null_server::{NullServer, Stall};
use shikaku_load::report::{self, RunInfo};
use shikaku_load::runner::{self, Progress};
use shikaku_load::scenario::{self, CorpusSpec, Overrides, Scenario};
use shikaku_load::summary::{HarnessInfo, Summary};
use shikaku_load::thresholds::{parse_tolerance, Threshold};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "shikaku-load",
    version,
    about = "Open-loop load tests for shikaku: profiles as data, latency from the scheduled time, every answer verified"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario (a shipped name such as peak-1000, or a TOML file).
    Run(Box<RunArgs>),
    /// Draw a corpus of checks with expected verdicts from a snapshot.
    Corpus(CorpusArgs),
    /// Measure the harness itself against its built-in null server.
    Calibrate(CalibrateArgs),
    /// Write the HTML report of a summary.json again (e.g. of a baseline).
    Report(ReportArgs),
    /// Serve the null server alone (to compare other load tools with this
    /// one on the same target, optionally stalling once).
    NullServer(NullServerArgs),
}

#[derive(Args)]
struct ReportArgs {
    /// A summary.json written by `run`.
    summary: PathBuf,
    /// Where to write the HTML [default: report.html beside the summary].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args)]
struct NullServerArgs {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// Pause every connection once, after this many requests.
    #[arg(long, requires = "stall")]
    stall_after: Option<u64>,
    /// How long the pause lasts, e.g. 1s.
    #[arg(long, requires = "stall_after")]
    stall: Option<String>,
    /// Stop after this long [default: run until killed].
    #[arg(long)]
    seconds: Option<f64>,
}

#[derive(Args)]
struct RunArgs {
    /// peak-1000, growth-1500, spike, swap-under-load, soak, national-swap, or a file.
    scenario: String,
    /// Base URL of the API [scenario: target.url].
    #[arg(long)]
    url: Option<String>,
    /// Base URL of the admin API, for actions [scenario: target.admin_url].
    #[arg(long)]
    admin_url: Option<String>,
    /// Institution code the checks are made for [scenario: target.institution].
    #[arg(long)]
    institution: Option<String>,
    /// Draw the checks from this snapshot (the one the server serves).
    #[arg(long, conflicts_with = "corpus")]
    snapshot: Option<PathBuf>,
    /// Or use a corpus file made by `shikaku-load corpus`.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Treatment date of the checks, YYYY-MM-DD [default: today in Japan].
    #[arg(long)]
    date: Option<String>,
    /// Snapshot directory the scenario's activate actions activate.
    #[arg(long)]
    activate_path: Option<String>,
    /// Play the profile in this wall time (e.g. 10m for the hour in ten minutes).
    #[arg(long, conflicts_with = "time_scale")]
    duration: Option<String>,
    /// Play the profile this many times faster.
    #[arg(long)]
    time_scale: Option<f64>,
    /// Warm-up before the profile (excluded from the results).
    #[arg(long)]
    warmup: Option<String>,
    /// Multiply every planned rate.
    #[arg(long)]
    rate_factor: Option<f64>,
    /// Connections in the pool (or most at once in new-connection mode).
    #[arg(long)]
    connections: Option<usize>,
    /// keep-alive or new-connection.
    #[arg(long)]
    mode: Option<String>,
    /// PEM bundle an https:// target's certificate chains to [scenario: target.ca_cert].
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for the checks' institution [scenario: target.client_cert].
    #[arg(long, requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// Its private key (PEM) [scenario: target.client_key].
    #[arg(long, requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// A pool of client certificates, one institution each, taken in turn
    /// by the connections: a clients.csv as `shikaku tls gen` writes it
    /// [scenario: target.client_certs].
    #[arg(long, conflicts_with = "client_cert")]
    client_certs: Option<PathBuf>,
    /// Client runtime threads.
    #[arg(long)]
    threads: Option<usize>,
    /// A threshold, e.g. "p99 < 5ms" (repeatable; added to the scenario's).
    #[arg(long = "threshold")]
    thresholds: Vec<String>,
    /// Ignore the scenario's own thresholds.
    #[arg(long)]
    no_scenario_thresholds: bool,
    /// A summary.json of an earlier run to compare with.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Allowed worsening against the baseline.
    #[arg(long, default_value = "10%")]
    tolerance: String,
    /// Directory for the reports [default: loadtest-results/SCENARIO-TIME].
    #[arg(long)]
    out: Option<PathBuf>,
    /// No live progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct CorpusArgs {
    #[arg(long)]
    snapshot: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Treatment date, YYYY-MM-DD [default: today in Japan].
    #[arg(long)]
    date: Option<String>,
    /// Rows and serials sampled from every shard.
    #[arg(long, default_value_t = CorpusSpec::default().per_shard)]
    per_shard: usize,
    /// Revoked, suspended, unlinked and altered keys, of each.
    #[arg(long, default_value_t = CorpusSpec::default().unhappy)]
    unhappy: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Args)]
struct CalibrateArgs {
    /// Seconds of each measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Rate of the latency measurement, on one connection.
    #[arg(long, default_value_t = 1000.0)]
    latency_rate: f64,
    /// Rate asked for in the throughput measurement.
    #[arg(long, default_value_t = 200_000.0)]
    max_rate: f64,
    /// Connections of the throughput measurement.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Client runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(*args),
        Command::Corpus(args) => corpus(args).map(|_| true),
        Command::Calibrate(args) => calibrate(args).map(|_| true),
        Command::Report(args) => html_report(args).map(|_| true),
        Command::NullServer(args) => null_server(args).map(|_| true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("shikaku-load: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: RunArgs) -> Result<bool> {
    let (name, text) = scenario::source(&args.scenario)?;
    let overrides = Overrides {
        url: args.url.clone(),
        admin_url: args.admin_url.clone(),
        institution: args.institution.clone(),
        snapshot: args.snapshot.clone(),
        corpus: args.corpus.clone(),
        date: args.date.clone(),
        activate_path: args.activate_path.clone(),
        duration: args.duration.clone(),
        warmup: args.warmup.clone(),
        time_scale: args.time_scale,
        connections: args.connections,
        threads: args.threads,
        mode: args.mode.clone(),
        ca_cert: args.ca_cert.clone(),
        client_cert: args.client_cert.clone(),
        client_key: args.client_key.clone(),
        client_certs: args.client_certs.clone(),
    };
    let scenario = scenario::parse(&name, &text, &overrides)?;
    let mut profile = scenario.profile()?;
    if let Some(factor) = args.rate_factor {
        profile = profile
            .scaled(factor)
            .map_err(|e| anyhow!("--rate-factor: {e}"))?;
    }
    let thresholds = thresholds(&scenario, &args)?;
    let baseline = baseline(&args)?;
    let progress = match (args.quiet, std::io::stderr().is_terminal()) {
        (true, _) => Progress::Off,
        (false, true) => Progress::Line,
        (false, false) => Progress::Log,
    };
    let settings = scenario.settings(progress)?;
    let actions = scenario.actions(profile.duration())?;
    let corpus = Arc::new(load_corpus(&scenario.corpus, settings.admin.as_ref())?);
    let caller = Caller {
        institution: scenario.target.institution.clone(),
    };
    let requests = Arc::new(
        mix::prepare(&corpus, &scenario.mix, &caller)
            .with_context(|| format!("scenario {name}"))?,
    );
    let harness = HarnessInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        connection_mode: settings.mode.as_str().to_string(),
        connections: settings.connections,
        max_outstanding: settings.max_outstanding,
        timeout_ms: settings.timeout.as_millis() as u64,
        threads: settings.threads,
        late_threshold_us: settings.late_threshold.as_micros() as u64,
        interval_ms: settings.interval.as_millis() as u64,
    };
    let target = settings.endpoint.url();
    let started = chrono::Utc::now();
    eprintln!(
        "shikaku-load: {name} against {target}: {} ({} checks in the corpus, {} prepared requests)",
        profile.info().description,
        corpus.checks.len(),
        requests.len()
    );
    let outcome = runner::run(settings, &profile, requests, corpus, actions)?;
    let info = RunInfo {
        scenario: scenario.name.clone(),
        description: scenario.description.clone(),
        target,
        started_at: started.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        harness,
        profile: profile.info(),
        planned: profile.expected_between(profile.warmup(), profile.duration()),
    };
    let summary = report::summarize(
        info,
        &outcome,
        &thresholds,
        baseline.as_ref().map(|(b, t)| (b, *t)),
    );
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from("loadtest-results")
            .join(format!("{name}-{}", started.format("%Y%m%d-%H%M%S")))
    });
    report::write_files(&out, &summary, &outcome)?;
    report::print_summary(&summary, &mut std::io::stdout())?;
    println!(
        "  reports   {}/{{summary.json,report.html,response.hgrm,service.hgrm}}",
        out.display()
    );
    let failures = report::failures(&summary);
    for failure in &failures {
        eprintln!("shikaku-load: {failure}");
    }
    Ok(failures.is_empty())
}

fn thresholds(scenario: &Scenario, args: &RunArgs) -> Result<Vec<Threshold>> {
    let own = if args.no_scenario_thresholds {
        &[][..]
    } else {
        &scenario.report.thresholds[..]
    };
    own.iter()
        .chain(&args.thresholds)
        .map(|text| Threshold::parse(text).map_err(|e| anyhow!(e)))
        .collect()
}

fn baseline(args: &RunArgs) -> Result<Option<(Summary, f64)>> {
    let Some(path) = &args.baseline else {
        return Ok(None);
    };
    let tolerance = parse_tolerance(&args.tolerance).map_err(|e| anyhow!("--tolerance: {e}"))?;
    Ok(Some((read_summary(path)?, tolerance)))
}

fn read_summary(path: &Path) -> Result<Summary> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not a shikaku-load summary.json", path.display()))
}

fn html_report(args: ReportArgs) -> Result<()> {
    let summary = read_summary(&args.summary)?;
    let out = args
        .out
        .unwrap_or_else(|| args.summary.with_file_name("report.html"));
    std::fs::write(&out, shikaku_load::html::render(&summary))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("{}", out.display());
    Ok(())
}

/// The directory of the snapshot the server serves, from its admin API.
fn live_snapshot(admin: Option<&Endpoint>) -> Result<PathBuf> {
    let admin = admin.ok_or_else(|| anyhow!("no admin URL to ask for the live snapshot"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let request = client::once(
        admin,
        hyper::Method::GET,
        "/admin/status",
        bytes::Bytes::new(),
    );
    let (status, body) = runtime.block_on(request)?;
    let status_json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match status_json["live"]["path"].as_str() {
        Some(path) if status == 200 => Ok(PathBuf::from(path)),
        _ => bail!(
            "the server at {} names no live snapshot (HTTP {status}); give the checks with --snapshot DIR or --corpus FILE",
            admin.url()
        ),
    }
}

fn treatment_date(text: Option<&str>) -> Result<Date> {
    match text {
        Some(text) => {
            Date::parse(text).map_err(|_| anyhow!("date: {text:?} is not a date (YYYY-MM-DD)"))
        }
        None => Ok(JapanTime::now().date),
    }
}

fn load_corpus(spec: &CorpusSpec, admin: Option<&Endpoint>) -> Result<Corpus> {
    if let Some(file) = &spec.file {
        return Corpus::load(file);
    }
    let dir = match &spec.snapshot {
        Some(dir) => dir.clone(),
        None => live_snapshot(admin)?,
    };
    let draw = Draw {
        per_shard: spec.per_shard,
        unhappy: spec.unhappy,
        seed: spec.seed,
    };
    draw_corpus(&dir, treatment_date(spec.date.as_deref())?, draw)
}

fn draw_corpus(dir: &Path, date: Date, draw: Draw) -> Result<Corpus> {
    let snapshot = Snapshot::open(dir).map_err(|e| {
        anyhow!(
            "cannot draw checks from the snapshot {}: {e} (give the served snapshot with --snapshot DIR, or a corpus with --corpus FILE)",
            dir.display()
        )
    })?;
    Ok(Corpus::from_snapshot(&snapshot, date, draw))
}

fn corpus(args: CorpusArgs) -> Result<()> {
    let draw = Draw {
        per_shard: args.per_shard,
        unhappy: args.unhappy,
        seed: args.seed,
    };
    let corpus = draw_corpus(&args.snapshot, treatment_date(args.date.as_deref())?, draw)?;
    corpus.write(&args.out)?;
    println!(
        "{} checks written to {}",
        corpus.checks.len(),
        args.out.display()
    );
    for ((kind, verdict), count) in corpus.counts() {
        println!("  {:<14} {:<22} {count}", kind.as_str(), verdict);
    }
    Ok(())
}

fn calibrate(args: CalibrateArgs) -> Result<()> {
    let calibration = calibrate::calibrate(&CalibrateOptions {
        seconds: args.seconds,
        latency_rate: args.latency_rate,
        max_rate: args.max_rate,
        connections: args.connections,
        threads: args.threads,
    })?;
    calibrate::print(&calibration, &mut std::io::stdout())?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&calibration)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn null_server(args: NullServerArgs) -> Result<()> {
    let stall = match (args.stall_after, &args.stall) {
        (Some(after_requests), Some(pause)) => Some(Stall {
            after_requests,
            pause: humantime::parse_duration(pause)
                .map_err(|e| anyhow!("--stall: {pause:?} is not a duration ({e})"))?,
        }),
        _ => None,
    };
    let server = NullServer::start_on(args.listen, stall)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    println!("shikaku-load: null server on {}", server.url());
    match args.seconds {
        Some(seconds) => std::thread::sleep(std::time::Duration::from_secs_f64(seconds)),
        None => loop {
            std::thread::park();
        },
    }
    Ok(())
}

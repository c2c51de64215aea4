//! `shikaku report …`: CSV reports from the check log (`SPEC.md` §5), for
//! the JPKI fee (quarterly validation log, monthly counts, daily counts
//! per bearer) and for statistics. Each export is written to the audit log.

use crate::audit::{local_operator, AuditLog};
use crate::checklog::report::{self, Dimension, Period, Report};
use crate::server::config::AUDIT_LOG_NAME;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub(super) enum ReportCommand {
    /// Every certificate validation (purpose, verifier type, verifier ID,
    /// serial, date-time): the quarterly export for the JPKI fee.
    Fees(ReportArgs),
    /// Validations per month (the payment).
    Validations(ReportArgs),
    /// Validations per day and bearer (the institution that validated, the
    /// insurer of the person validated), with the day's total (charging).
    Charges(ReportArgs),
    /// Checks counted by the chosen dimensions over the period.
    Stats(StatsArgs),
}

#[derive(Args, Debug)]
pub(super) struct ReportArgs {
    /// The check-log directory (the server's `check_log`).
    #[arg(long)]
    log: PathBuf,
    /// A day (2026-11-22), month (2026-11), quarter (2026-Q4) or year (2026).
    #[arg(long)]
    period: String,
    /// Write the CSV here instead of to standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Audit log to record the export in [default: audit.log in the log directory].
    #[arg(long)]
    audit: Option<PathBuf>,
    /// Who exports, for the audit log [default: the login name].
    #[arg(long)]
    operator: Option<String>,
}

#[derive(Args, Debug)]
pub(super) struct StatsArgs {
    #[command(flatten)]
    common: ReportArgs,
    /// Comma-separated: institution, prefecture, hour, path, result, outcome.
    #[arg(long, default_value = "prefecture,path,outcome")]
    by: String,
}

pub(super) fn run(command: ReportCommand) -> anyhow::Result<()> {
    let (report, args) = match command {
        ReportCommand::Fees(args) => (Report::Fees, args),
        ReportCommand::Validations(args) => (Report::Validations, args),
        ReportCommand::Charges(args) => (Report::Charges, args),
        ReportCommand::Stats(stats) => (
            Report::Stats(
                Dimension::parse_list(&stats.by).map_err(|e| anyhow::anyhow!("--by: {e}"))?,
            ),
            stats.common,
        ),
    };
    let period = Period::parse(&args.period).map_err(|e| anyhow::anyhow!("--period: {e}"))?;
    if !args.log.is_dir() {
        anyhow::bail!("--log {}: not a check-log directory", args.log.display());
    }
    let started = std::time::Instant::now();
    let summary = match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .with_context(|| format!("--out {}: cannot create", path.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            let summary = report::write(&args.log, &report, &period, &mut writer)?;
            writer
                .flush()
                .with_context(|| format!("--out {}", path.display()))?;
            summary
        }
        None => report::write(&args.log, &report, &period, std::io::stdout().lock())?,
    };
    let seconds = started.elapsed().as_secs_f64();
    for damage in &summary.unreadable {
        eprintln!("warning: {damage}");
    }
    eprintln!(
        "report {}: {} rows from {} entries in {} segment(s), {seconds:.2} s",
        report.name(),
        summary.rows,
        summary.entries,
        summary.segments
    );
    let audit = args
        .audit
        .clone()
        .unwrap_or_else(|| args.log.join(AUDIT_LOG_NAME));
    AuditLog::open(&audit, crate::model::clock::system_clock())?.record(
        &local_operator(args.operator.as_deref()),
        &format!("report.{}", report.name()),
        serde_json::json!({
            "period": args.period,
            "from": period.from.to_string(),
            "to": period.to.to_string(),
            "out": args.out.as_ref().map(|p| p.display().to_string()),
            "rows": summary.rows,
            "entries": summary.entries,
        }),
    )
}

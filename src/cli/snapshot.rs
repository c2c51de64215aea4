//! `shikaku snapshot build | verify | inspect`.

use crate::snapshot::manifest::BUILD_REPORT_FILE;
use crate::snapshot::verify::{verify_reporting, VerifyProgress, VerifyReport};
use crate::snapshot::write::{build, BuildOptions, BuildReport, Progress};
use crate::snapshot::{Snapshot, Verification};
use crate::source::Encoding;
use crate::updates::fold::fold;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

#[derive(Subcommand, Debug)]
pub(super) enum SnapshotCommand {
    /// Build a snapshot from source files (CONTRACT.md §1), or fold an update journal into a base snapshot (--base, --journal), into a new directory.
    Build(BuildArgs),
    /// Check every checksum, structure and count; exit non-zero naming the problem.
    Verify {
        /// Snapshot directory.
        dir: PathBuf,
    },
    /// Print the manifest, counts and file sizes of a snapshot.
    Inspect {
        /// Snapshot directory.
        dir: PathBuf,
        /// Print the manifest as JSON instead of a summary.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub(super) struct BuildArgs {
    /// Directory holding eligibility.csv, linkage.csv, insurers.csv, renewals.csv (optional), and crl.der or crl.pem with crl-issuer.pem (or revoked.csv).
    #[arg(long, required_unless_present = "base")]
    input: Option<PathBuf>,
    /// Fold instead of reading sources: the snapshot the journal's records apply over.
    #[arg(long, requires = "journal", conflicts_with = "input")]
    base: Option<PathBuf>,
    /// The update journal directory folded into --base (the records after the base's journal mark).
    #[arg(long, requires = "base")]
    journal: Option<PathBuf>,
    /// New snapshot directory (must not exist).
    #[arg(long)]
    out: PathBuf,
    /// Encoding of the source files.
    #[arg(long, value_enum, default_value = "utf8")]
    encoding: Encoding,
    /// Build without rows that cannot be read (each is listed in the build report) instead of failing.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Number of shards, at most 256 (default: one per 64 MiB of eligibility.csv, at least four per core).
    #[arg(long)]
    shards: Option<u32>,
    /// Snapshot id (default: the date in Japan and a digest of the sources).
    #[arg(long)]
    id: Option<String>,
    /// Never draw progress bars.
    #[arg(long)]
    no_progress: bool,
}

pub(super) fn run(command: SnapshotCommand) -> anyhow::Result<()> {
    match command {
        SnapshotCommand::Build(args) => {
            let options = BuildOptions {
                input: args.input.unwrap_or_default(),
                out: args.out,
                encoding: args.encoding,
                skip_bad_rows: args.skip_bad_rows,
                shards: args.shards,
                id: args.id,
                progress: !args.no_progress && std::io::stderr().is_terminal(),
            };
            let report = match (&args.base, &args.journal) {
                (Some(base), Some(journal)) => fold(&options, base, journal)?,
                _ => build(&options)?,
            };
            print_build_report(&report);
            Ok(())
        }
        SnapshotCommand::Verify { dir } => {
            let report = verify_with_bar(&dir)?;
            println!(
                "ok: snapshot {} verified: {} files, {} bytes, {} persons, {} rows, {} serials in {:.2} s",
                report.id, report.files, report.bytes, report.persons, report.rows, report.serials, report.seconds
            );
            Ok(())
        }
        SnapshotCommand::Inspect { dir, json } => inspect(&dir, json),
    }
}

/// `snapshot verify`, with progress bars over the checksums and the walk
/// on a terminal (at national size each takes minutes).
fn verify_with_bar(dir: &Path) -> anyhow::Result<VerifyReport> {
    let terminal = std::io::stderr().is_terminal();
    let checksums = Progress::new(terminal, None, "checksums", false);
    // Made when the walk starts, so that the two bars never share the line.
    let walk = OnceLock::new();
    let report = verify_reporting(
        dir,
        VerifyProgress {
            file_checked: &|files| checksums.step_of(files),
            shard_walked: &|steps| {
                walk.get_or_init(|| Progress::new(terminal, None, "walk", false))
                    .step_of(steps)
            },
        },
    );
    // A bar removes itself at its last step; these are for a failure midway.
    checksums.finish();
    if let Some(walk) = walk.get() {
        walk.finish();
    }
    report.map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))
}

/// Prints the summary of a finished build.
pub(super) fn print_build_report(report: &BuildReport) {
    let counts = &report.counts;
    println!("built snapshot {} in {}", report.id, report.snapshot);
    println!(
        "  {} persons, {} rows, {} serials ({} renewed), {} revoked, {} suspended, {} insurers, {} shard(s)",
        counts.persons,
        counts.rows,
        counts.serials,
        counts.renewals,
        counts.revoked,
        counts.suspended,
        counts.insurers,
        report.shard_count
    );
    let phases: Vec<String> = report
        .timings
        .iter()
        .map(|t| format!("{} {:.2} s", t.phase, t.seconds))
        .collect();
    println!(
        "  {:.2} s in all ({:.0} rows/s): {}",
        report.total_seconds,
        report.rows_per_second,
        phases.join(", ")
    );
    println!(
        "  key check: {} rows and {} serials found again",
        report.key_check.rows_checked, report.key_check.serials_checked
    );
    if !report.bad_rows.is_empty() {
        println!(
            "  skipped {} bad row(s), e.g. {}",
            report.bad_rows.len(),
            report.bad_rows[0]
        );
    }
    for warning in &report.warnings {
        println!("  warning: {warning}");
    }
    println!("  report: {}/{BUILD_REPORT_FILE}", report.snapshot);
}

fn inspect(dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let snapshot = Snapshot::open_with(dir, Verification::Structure)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let opened = started.elapsed();
    let manifest = snapshot.manifest();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(manifest).context("cannot encode the manifest")?
        );
        return Ok(());
    }
    println!(
        "snapshot {} (format {}), built {}",
        manifest.id, manifest.format_version, manifest.created_at
    );
    println!("  directory: {}", dir.display());
    println!(
        "  opened in {:.3} ms (structure only)",
        opened.as_secs_f64() * 1e3
    );
    println!(
        "  counts: {}",
        serde_json::to_string(&manifest.counts).unwrap_or_default()
    );
    println!("  sources ({}):", manifest.encoding);
    for source in &manifest.sources {
        println!(
            "    {:<18} {:>14} bytes  xxh3-128 {}",
            source.file, source.bytes, source.xxh3_128
        );
    }
    let total: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    println!(
        "  files: {} in {} shard(s), {} bytes",
        manifest.files.len(),
        manifest.shard_count,
        total
    );
    for file in &manifest.files {
        println!(
            "    {:<18} {:>14} bytes  xxh3-128 {}",
            file.name, file.bytes, file.xxh3_128
        );
    }
    Ok(())
}

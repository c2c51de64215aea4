//! `shikaku demo`: the one-command tour. Generates a small synthetic
//! dataset under `snapshots/demo/`, builds and verifies a snapshot from it
//! (once; later runs reuse it), then answers one example check per verdict
//! the data holds, found by scanning the snapshot itself.

use crate::engine::json::check_to_json;
use crate::engine::sample::sample_queries;
use crate::engine::{check, Query};
use crate::gen::{generate, GenOptions};
use crate::model::Revocation;
use crate::model::{Date, OnlineNumber, Serial, Verdict};
use crate::snapshot::verify::verify;
use crate::snapshot::write::{build, BuildOptions};
use crate::snapshot::Snapshot;
use crate::source::Encoding;
use anyhow::{anyhow, Context};
use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub(super) struct DemoArgs {
    /// Where the demo data and snapshot live.
    #[arg(long, default_value = "snapshots/demo")]
    dir: PathBuf,
    /// Persons in the demo dataset.
    #[arg(long, default_value_t = 20_000)]
    persons: u64,
    /// Reference date of the demo data and the checks.
    #[arg(long, default_value = "2026-11-21")]
    date: String,
}

pub(super) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let date = Date::parse(&args.date).map_err(|e| anyhow!("--date: {e}"))?;
    let snapshot_dir = prepare(&args.dir, args.persons, date)?;
    let snapshot =
        Snapshot::open(&snapshot_dir).map_err(|e| anyhow!("{}: {e}", snapshot_dir.display()))?;
    println!("\nexample checks on {date} (one per verdict found in the data):");
    for (verdict, (description, query)) in examples(&snapshot, date) {
        let text = check_to_json(&snapshot, &query, date, Some("demo"))
            .context("cannot encode an answer")?
            .to_string();
        let shown: String = text.chars().take(240).collect();
        println!("\n# {verdict}: {description}");
        println!(
            "$ shikaku check --snapshot {} {} --date {date}",
            snapshot_dir.display(),
            check_flags(&query)
        );
        println!(
            "{shown}{}",
            if text.len() > shown.len() { " …" } else { "" }
        );
    }
    Ok(())
}

/// What an example query asks, for the demo's headings.
fn describe(query: &Query) -> String {
    match query {
        Query::Card { serial } => format!("card check by serial {serial}"),
        Query::OnlineNumber { number, .. } => format!("online number {number} with birth date"),
        Query::CardFace { .. } => "card face without branch or birth date".into(),
    }
}

/// The `shikaku check` flags that ask `query`.
fn check_flags(query: &Query) -> String {
    let birth = |date: &Option<Date>| {
        date.map(|d| format!(" --birth-date {d}"))
            .unwrap_or_default()
    };
    match query {
        Query::Card { serial } => format!("--serial {serial}"),
        Query::OnlineNumber { number, birth_date } => {
            format!("--online-number {number}{}", birth(birth_date))
        }
        Query::CardFace { key, birth_date } => {
            let symbol = if key.symbol.is_empty() {
                String::new()
            } else {
                format!(" --symbol '{}'", key.symbol)
            };
            let branch = key
                .branch
                .map(|b| format!(" --branch {}", b.as_str()))
                .unwrap_or_default();
            format!(
                "--insurer-number {}{symbol} --number '{}'{branch}{}",
                key.insurer_number,
                key.number,
                birth(birth_date)
            )
        }
    }
}

/// Generates and builds the demo snapshot unless it is already there. The
/// name carries the snapshot format version, so that a demo directory left
/// by an earlier release gets a new snapshot rather than a refusal.
pub(super) fn prepare(dir: &Path, persons: u64, date: Date) -> anyhow::Result<PathBuf> {
    let source = dir.join("source");
    let version = crate::snapshot::format::FORMAT_VERSION;
    let snapshot_dir = dir.join(format!("snapshot-{persons}-{date}-v{version}"));
    if Snapshot::open(&snapshot_dir).is_ok() {
        println!("using the demo snapshot in {}", snapshot_dir.display());
        return Ok(snapshot_dir);
    }
    println!(
        "generating {persons} demo persons into {}",
        source.display()
    );
    generate(&GenOptions {
        persons,
        seed: 1,
        out: source.clone(),
        today: date,
        crl_entries: None,
        crl_random_serials: false,
        compression: crate::source::csv_input::Compression::None,
        progress: false,
    })?;
    println!("building the demo snapshot into {}", snapshot_dir.display());
    let report = build(&BuildOptions {
        input: source,
        out: snapshot_dir.clone(),
        encoding: Encoding::Utf8,
        skip_bad_rows: false,
        shards: Some(2),
        id: Some(format!("demo-{date}")),
        progress: false,
    })?;
    super::snapshot::print_build_report(&report);
    let verified = verify(&snapshot_dir).map_err(|e| anyhow!("{}: {e}", snapshot_dir.display()))?;
    println!(
        "verified {} files in {:.2} s",
        verified.files, verified.seconds
    );
    Ok(snapshot_dir)
}

/// One example query per verdict, found by scanning the snapshot.
pub(super) fn examples(snapshot: &Snapshot, date: Date) -> BTreeMap<&'static str, (String, Query)> {
    let mut found: BTreeMap<&'static str, (String, Query)> = BTreeMap::new();
    let keep = |found: &mut BTreeMap<_, _>, query: Query, description: String| {
        let verdict = check(snapshot, &query, date).verdict;
        found
            .entry(verdict.as_str())
            .or_insert((description, query));
    };
    keep(
        &mut found,
        Query::Card {
            serial: Serial::from_u64(u64::MAX - 7),
        },
        "a serial nobody linked".into(),
    );
    if let Ok(number) = OnlineNumber::parse("999999999999999") {
        keep(
            &mut found,
            Query::OnlineNumber {
                number,
                birth_date: None,
            },
            "an unknown online number".into(),
        );
    }
    for query in sample_queries(snapshot, 20_000) {
        let description = describe(&query);
        keep(&mut found, query, description);
        if found.len() == Verdict::ALL.len() - 1 {
            break;
        }
    }
    for status in [Revocation::Revoked, Revocation::Suspended] {
        {
            if let Some(serial) = snapshot.revocations().first(status) {
                keep(
                    &mut found,
                    Query::Card { serial },
                    format!("card check by serial {serial}"),
                );
            }
        }
    }
    found
}

//! `shikaku history …`: the check log from the command line: an
//! institution's history of one key without a server (`search`), and
//! synthetic logs for tests and measurements (`gen`).

use crate::checklog::generate::{generate, GenOptions};
use crate::checklog::history::{HistoryQuery, Store};
use crate::checklog::record::OwnedKey;
use crate::engine::Query;
use crate::model::{Date, InstitutionCode, OnlineNumber, Serial};
use anyhow::{anyhow, Context};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Subcommand, Debug)]
pub(super) enum HistoryCommand {
    /// An institution's past checks of one key, newest first, as JSON.
    Search(SearchArgs),
    /// Write days of synthetic checks into a check-log directory.
    Gen(GenArgs),
}

#[derive(Args, Debug)]
pub(super) struct SearchArgs {
    /// The check-log directory.
    #[arg(long)]
    log: PathBuf,
    #[arg(long)]
    institution: String,
    /// Certificate serial (decimal, or hex with 0x).
    #[arg(long, conflicts_with = "online_number")]
    serial: Option<String>,
    #[arg(long)]
    online_number: Option<String>,
    /// Only checks of this treatment date.
    #[arg(long)]
    date: Option<String>,
    /// Search back this many months from --today.
    #[arg(long, default_value_t = 5)]
    months: u32,
    /// The day the search counts back from [default: today in Japan].
    #[arg(long)]
    today: Option<String>,
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

#[derive(Args, Debug)]
pub(super) struct GenArgs {
    #[arg(long)]
    log: PathBuf,
    /// First day (YYYY-MM-DD).
    #[arg(long)]
    from: String,
    #[arg(long, default_value_t = 1)]
    days: u32,
    #[arg(long, default_value_t = 100_000)]
    per_day: u64,
    #[arg(long, default_value_t = 240_000)]
    institutions: u32,
    /// Distinct keys per kind.
    #[arg(long, default_value_t = 10_000_000)]
    keys: u64,
    /// Entries per batch.
    #[arg(long, default_value_t = 20)]
    batch: u32,
    #[arg(long, default_value_t = 2_000_000)]
    segment_entries: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub(super) fn run(command: HistoryCommand) -> anyhow::Result<()> {
    match command {
        HistoryCommand::Search(args) => search(&args),
        HistoryCommand::Gen(args) => gen(&args),
    }
}

fn day(flag: &str, text: &str) -> anyhow::Result<Date> {
    Date::parse(text).map_err(|e| anyhow!("{flag}: {e}"))
}

fn search(args: &SearchArgs) -> anyhow::Result<()> {
    let query = match (&args.serial, &args.online_number) {
        (Some(serial), None) => Query::Card {
            serial: Serial::parse(serial).map_err(|e| anyhow!("--serial: {e}"))?,
        },
        (None, Some(number)) => Query::OnlineNumber {
            number: OnlineNumber::parse(number).map_err(|e| anyhow!("--online-number: {e}"))?,
            birth_date: None,
        },
        _ => anyhow::bail!("give --serial or --online-number"),
    };
    let key = OwnedKey::of(&query);
    let today = match &args.today {
        Some(text) => day("--today", text)?,
        None => Date::today_in_japan(),
    };
    let history = HistoryQuery {
        institution: InstitutionCode::parse(&args.institution)
            .map_err(|e| anyhow!("--institution: {e}"))?,
        kind: key.kind,
        key: key.bytes,
        date: args.date.as_deref().map(|d| day("--date", d)).transpose()?,
        today,
        months: args.months,
        limit: args.limit,
    };
    let started = Instant::now();
    let found = Store::new(args.log.clone()).search(&history)?;
    let seconds = started.elapsed().as_secs_f64();
    println!("{}", serde_json::to_string_pretty(&found.records)?);
    eprintln!(
        "{} record(s){} from {} segment(s) in {:.1} ms",
        found.records.len(),
        if found.truncated { " (truncated)" } else { "" },
        found.segments_searched,
        seconds * 1e3
    );
    Ok(())
}

fn gen(args: &GenArgs) -> anyhow::Result<()> {
    let options = GenOptions {
        first_day: day("--from", &args.from)?,
        days: args.days,
        per_day: args.per_day,
        institutions: args.institutions,
        keys: args.keys,
        batch: args.batch,
        segment_entries: args.segment_entries,
        seed: args.seed,
    };
    std::fs::create_dir_all(&args.log)
        .with_context(|| format!("--log {}: cannot create", args.log.display()))?;
    let started = Instant::now();
    let written = generate(&args.log, &options, |_| {})?;
    eprintln!(
        "wrote {written} checks over {} day(s) into {} in {:.1} s",
        args.days,
        args.log.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

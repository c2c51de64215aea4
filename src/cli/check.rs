//! `shikaku check`: one query against a snapshot directory, answered as the
//! HTTP API would answer it (`CONTRACT.md` §3).

use crate::engine::json::check_to_json;
use crate::engine::Query;
use crate::model::{CardFaceKey, Date, OnlineNumber, Serial};
use crate::snapshot::Snapshot;
use anyhow::{anyhow, bail, Context};
use clap::{ArgGroup, Args};
use std::path::PathBuf;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("key").required(true).args(["serial", "online_number", "insurer_number"])))]
pub(super) struct CheckArgs {
    /// Snapshot directory to answer from.
    #[arg(long)]
    snapshot: PathBuf,
    /// Card check: certificate serial (decimal or 0x hex).
    #[arg(long)]
    serial: Option<String>,
    /// Insurance-card check by online-check number (24 or 15 digits).
    #[arg(long)]
    online_number: Option<String>,
    /// Insurance-card check by card face: insurer number (with --number, --symbol, --branch).
    #[arg(long, requires = "number")]
    insurer_number: Option<String>,
    /// Card symbol (記号); may be omitted when the card has none.
    #[arg(long, default_value = "")]
    symbol: String,
    /// Card number (番号).
    #[arg(long)]
    number: Option<String>,
    /// Card branch (枝番); omitted, the key may match a whole household.
    #[arg(long, default_value = "")]
    branch: String,
    /// Birth date from the card face (YYYY-MM-DD); a mismatch answers not_found.
    #[arg(long)]
    birth_date: Option<String>,
    /// Treatment date to check (default: today in Japan).
    #[arg(long)]
    date: Option<String>,
    /// Client identifier echoed in the answer.
    #[arg(long)]
    client_ref: Option<String>,
}

pub(super) fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let query = query(args)?;
    let date = match &args.date {
        Some(text) => Date::parse(text).map_err(|e| anyhow!("--date: {e}"))?,
        None => Date::today_in_japan(),
    };
    let snapshot =
        Snapshot::open(&args.snapshot).map_err(|e| anyhow!("{}: {e}", args.snapshot.display()))?;
    let answer = check_to_json(&snapshot, &query, date, args.client_ref.as_deref())
        .context("cannot encode the answer")?;
    println!("{answer:#}");
    Ok(())
}

fn query(args: &CheckArgs) -> anyhow::Result<Query> {
    let birth_date = args
        .birth_date
        .as_deref()
        .map(Date::parse)
        .transpose()
        .map_err(|e| anyhow!("--birth-date: {e}"))?;
    if let Some(serial) = &args.serial {
        if birth_date.is_some() {
            bail!("--birth-date: only for insurance-card checks");
        }
        let serial = Serial::parse(serial).map_err(|e| anyhow!("--serial: {e}"))?;
        return Ok(Query::Card { serial });
    }
    if let Some(number) = &args.online_number {
        let number = OnlineNumber::parse(number).map_err(|e| anyhow!("--online-number: {e}"))?;
        return Ok(Query::OnlineNumber { number, birth_date });
    }
    let insurer = args.insurer_number.as_deref().unwrap_or_default();
    let number = args.number.as_deref().unwrap_or_default();
    let key = CardFaceKey::parse(insurer, &args.symbol, number, &args.branch)
        .map_err(|(field, e)| anyhow!("--{}: {e}", field.replace('_', "-")))?;
    Ok(Query::CardFace { key, birth_date })
}

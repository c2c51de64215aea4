//! `shikaku gen`: synthetic national data (see [`crate::gen`]).

use crate::gen::{generate, generate_with, AddressBook, GenOptions};
use crate::model::Date;
use crate::source::csv_input::Compression;
use anyhow::anyhow;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub(super) struct GenArgs {
    /// Number of insured persons.
    #[arg(long)]
    persons: u64,
    /// Seed: the same seed, persons and date give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Reference "today" for dates in the data (default: today in Japan).
    #[arg(long)]
    today: Option<String>,
    /// Pad the CRL (crl.der) to this many entries, as the national list
    /// holds certificates of people outside the insured population (e.g.
    /// 1560000 at launch, 10000000 grown).
    #[arg(long)]
    crl_entries: Option<u64>,
    /// Draw the padding serials at random over 64 bits rather than in
    /// sequence (with --crl-entries).
    #[arg(long, requires = "crl_entries")]
    crl_random_serials: bool,
    /// Japan Post's KEN_ALL.CSV (Shift_JIS, as downloaded) to take
    /// municipalities, towns and postal codes from, instead of the built-in
    /// copy.
    #[arg(long, value_name = "FILE")]
    addresses: Option<PathBuf>,
    /// Compress eligibility.csv, linkage.csv, renewals.csv and revoked.csv
    /// (written as NAME.gz or NAME.zst; `snapshot build` reads them as
    /// they are).
    #[arg(long, value_enum, default_value_t = Compression::None)]
    compress: Compression,
}

pub(super) fn run(args: &GenArgs) -> anyhow::Result<()> {
    let today = match &args.today {
        Some(text) => Date::parse(text).map_err(|e| anyhow!("--today: {e}"))?,
        None => Date::today_in_japan(),
    };
    let started = Instant::now();
    let options = GenOptions {
        persons: args.persons,
        seed: args.seed,
        out: args.out.clone(),
        today,
        crl_entries: args.crl_entries,
        crl_random_serials: args.crl_random_serials,
        compression: args.compress,
        progress: std::io::stderr().is_terminal(),
    };
    let summary = match &args.addresses {
        Some(path) => generate_with(&options, &AddressBook::read_ken_all(path)?)?,
        None => generate(&options)?,
    };
    println!(
        "generated {} persons, {} rows, {} insurers, {} linked serials ({} renewals), {} revoked, {} suspended, a CRL of {} entries and {} test certificates into {} in {:.1} s",
        summary.persons,
        summary.rows,
        summary.insurers,
        summary.linked,
        summary.renewals,
        summary.revoked,
        summary.suspended,
        summary.crl_entries,
        summary.certificates,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

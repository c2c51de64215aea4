//! The operators' command line. Each subcommand parses its arguments, calls
//! the library, and prints a human summary (or JSON where a program reads
//! it); failures end with a one-line reason and a non-zero exit.

mod audit;
mod check;
mod crl;
mod demo;
mod gen;
mod history;
mod report;
mod serve;
mod snapshot;
mod tls;
mod updates;

use clap::{Parser, Subcommand};

/// The `shikaku` command line: one subcommand per operator task.
#[derive(Parser, Debug)]
#[command(
    name = "shikaku",
    version,
    about = "Online health-insurance eligibility check engine (オンライン資格確認)",
    long_about = "Builds, verifies and answers from daily eligibility snapshots.\n\nStart with `shikaku serve` to serve the built-in demo data, or `shikaku demo` for example checks on the command line."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a realistic, deterministic synthetic national dataset.
    Gen(gen::GenArgs),
    /// Build, verify and inspect snapshots.
    #[command(subcommand)]
    Snapshot(snapshot::SnapshotCommand),
    /// Build and inspect CRLs (the revocation list as its own generation).
    #[command(subcommand)]
    Crl(crl::CrlCommand),
    /// Answer one check against a snapshot and print the JSON answer.
    Check(check::CheckArgs),
    /// Generate demo data, build a snapshot from it and run example checks.
    Demo(demo::DemoArgs),
    /// Serve the HTTP API (with no snapshot given: the built-in demo data).
    Serve(Box<serve::ServeArgs>),
    /// Send intraday update messages to a running server.
    #[command(subcommand)]
    Updates(updates::UpdatesCommand),
    /// The check log offline: history searches and synthetic logs.
    #[command(subcommand)]
    History(history::HistoryCommand),
    /// CSV reports from the check log: fee exports and statistics.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// The audit log of admin actions: check its hash chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Test material for mutual TLS: CA, server and client certificates, CRL.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
}

/// Runs the command line; the error's first line is the one-line reason.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Gen(args) => gen::run(&args),
        Command::Snapshot(command) => snapshot::run(command),
        Command::Crl(command) => crl::run(command),
        Command::Check(args) => check::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Updates(command) => updates::run(command),
        Command::Report(command) => report::run(command),
        Command::History(command) => history::run(command),
        Command::Audit(command) => audit::run(command),
        Command::Tls(command) => tls::run(command),
    }
}

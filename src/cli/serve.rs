//! `shikaku serve`: the HTTP API. Settings come from flags, `SHIKAKU_*`
//! environment variables and an optional TOML file (in that order of
//! precedence). Without a snapshot it serves the demo dataset, generated and
//! built on first run, and prints example requests.

use super::demo;
use crate::engine::Query;
use crate::model::JapanTime;
use crate::server::check_request;
use crate::server::{self, Bound, ServeConfig, Settings};
use crate::snapshot::Snapshot;
use anyhow::anyhow;
use clap::Args;
use std::path::{Path, PathBuf};

/// Where the demo dataset lives, relative to the working directory.
const DEMO_DIR: &str = "snapshots/demo";
/// The demo's update journal, inside the demo directory.
const DEMO_JOURNAL: &str = "journal";
/// The demo's check log (and audit log), inside the demo directory.
const DEMO_CHECK_LOG: &str = "checks";
/// Persons in the demo dataset.
const DEMO_PERSONS: u64 = 20_000;
/// The institution code the printed examples use.
const EXAMPLE_INSTITUTION: &str = "1312345678";

#[derive(Args, Debug)]
pub(super) struct ServeArgs {
    /// TOML file with any of the settings below (same names, snake_case).
    #[arg(long, env = "SHIKAKU_CONFIG")]
    config: Option<PathBuf>,
    /// Serve `snapshot` and `crl` as the settings name them, not what the
    /// serving state recorded as last activated (which the next activation
    /// then overwrites).
    #[arg(long)]
    reset_state: bool,
    #[command(flatten)]
    settings: Settings,
}

pub(super) fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let file = match &args.config {
        Some(path) => Settings::from_file(path).map_err(|e| anyhow!("--config {e}"))?,
        None => Settings::default(),
    };
    let mut settings = args.settings.clone().or(file);
    let demo = settings.snapshot.is_none() && !settings.wait_for_activation.unwrap_or(false);
    // A state kept where the operator asked for it is honoured, demo or not.
    let state_asked_for = settings.journal.is_some() || settings.state_dir.is_some();
    let mut examples = Vec::new();
    if demo {
        let date = JapanTime::now().date;
        let dir = demo::prepare(Path::new(DEMO_DIR), DEMO_PERSONS, date)?;
        let snapshot = Snapshot::open(&dir).map_err(|e| anyhow!("{}: {e}", dir.display()))?;
        examples = demo::examples(&snapshot, date)
            .into_iter()
            .map(|(verdict, (_, query))| (verdict, query))
            .collect();
        settings.snapshot = Some(dir);
        if settings.journal.is_none() {
            settings.journal = Some(Path::new(DEMO_DIR).join(DEMO_JOURNAL));
        }
        if settings.check_log.is_none() {
            settings.check_log = Some(Path::new(DEMO_DIR).join(DEMO_CHECK_LOG));
        }
    }
    let mut config = ServeConfig::from_settings(settings, demo).map_err(|e| anyhow!(e))?;
    // The demo on its own serves the day's demo snapshot, whatever an
    // earlier day's demo activated.
    config.reset_state = args.reset_state || (demo && !state_asked_for);
    let registry = config.institutions.is_some();
    let service_hours = config.service_hours;
    let schemes = Schemes {
        public: scheme(config.tls.is_some()),
        admin: scheme(config.admin_tls.is_some()),
    };
    server::run(config, |bound: Bound| {
        println!(
            "shikaku: API on {}://{}  admin on {}://{}  service hours: {service_hours}",
            schemes.public, bound.public, schemes.admin, bound.admin
        );
        if schemes.public == "http" {
            print_examples(bound, &examples, registry);
        }
    })
}

/// The URL scheme of each listener.
struct Schemes {
    public: &'static str,
    admin: &'static str,
}

fn scheme(tls: bool) -> &'static str {
    if tls {
        "https"
    } else {
        "http"
    }
}

/// One `curl` per verdict the demo data holds (plain HTTP only: over TLS
/// each needs the client's certificate and key).
fn print_examples(bound: Bound, examples: &[(&'static str, Query)], registry: bool) {
    if examples.is_empty() {
        return;
    }
    let auth = if registry {
        " -H 'Authorization: Bearer <token>'"
    } else {
        ""
    };
    println!("\ntry (one example per verdict in the demo data):");
    for (verdict, query) in examples {
        let (path, body) = check_request(query, EXAMPLE_INSTITUTION);
        println!(
            "\n# {verdict}\ncurl -s{auth} http://{}{path} -d '{body}'",
            bound.public
        );
    }
    println!(
        "\n# status, metrics\ncurl -s http://{}/admin/status\ncurl -s http://{}/metrics",
        bound.admin, bound.public
    );
}

//! Scenario files: a whole load test as data (TOML). The shipped scenarios
//! are compiled in, so `shikaku-load run peak-1000` works from anywhere;
//! any other name is read as a file. Command-line flags override a file's
//! values (see `Overrides`), so one file serves the demo data on a laptop
//! and the national snapshot on the test rig.

use crate::client::Endpoint;
use crate::mix::MixSpec;
use crate::profile::{Profile, ProfileSpec};
use crate::runner::{Action, ConnectionMode, Progress, RunSettings, TimedAction};
use crate::tls::TlsSpec;
use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// The scenarios shipped in `loadtest/scenarios/`.
pub const SHIPPED: [(&str, &str); 6] = [
    ("peak-1000", include_str!("../scenarios/peak-1000.toml")),
    ("growth-1500", include_str!("../scenarios/growth-1500.toml")),
    ("spike", include_str!("../scenarios/spike.toml")),
    (
        "swap-under-load",
        include_str!("../scenarios/swap-under-load.toml"),
    ),
    ("soak", include_str!("../scenarios/soak.toml")),
    (
        "national-swap",
        include_str!("../scenarios/national-swap.toml"),
    ),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub target: TargetSpec,
    #[serde(default)]
    pub corpus: CorpusSpec,
    #[serde(default)]
    pub connections: ConnectionsSpec,
    pub profile: ProfileSpec,
    #[serde(default)]
    pub mix: MixSpec,
    #[serde(default)]
    pub actions: Vec<ActionSpec>,
    #[serde(default)]
    pub report: ReportSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TargetSpec {
    pub url: String,
    pub admin_url: String,
    /// Institution code every check is made for.
    pub institution: String,
    /// Environment variable holding the institution's bearer token (tokens
    /// are not written into scenario files).
    pub token_env: Option<String>,
    /// Environment variable holding the admin API's bearer token.
    pub admin_token_env: Option<String>,
    /// PEM bundle an https:// server's certificate chains to.
    pub ca_cert: Option<PathBuf>,
    /// One client certificate and key (PEM) for the checks' institution.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Or a pool of them, as `shikaku tls gen` lists them in clients.csv.
    pub client_certs: Option<PathBuf>,
}

impl TargetSpec {
    fn tls(&self) -> TlsSpec {
        TlsSpec {
            ca_cert: self.ca_cert.clone(),
            client_cert: self.client_cert.clone(),
            client_key: self.client_key.clone(),
            client_certs: self.client_certs.clone(),
        }
    }
}

impl Default for TargetSpec {
    fn default() -> Self {
        TargetSpec {
            url: "http://127.0.0.1:8080".into(),
            admin_url: "http://127.0.0.1:8081".into(),
            institution: "1312345678".into(),
            token_env: None,
            admin_token_env: None,
            ca_cert: None,
            client_cert: None,
            client_key: None,
            client_certs: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorpusSpec {
    /// A snapshot to draw the checks from (the demo's by default).
    pub snapshot: Option<PathBuf>,
    /// Or a corpus file made by `shikaku-load corpus`.
    pub file: Option<PathBuf>,
    /// Treatment date of the checks (default: today in Japan).
    pub date: Option<String>,
    pub per_shard: usize,
    pub unhappy: usize,
    pub seed: u64,
}

impl Default for CorpusSpec {
    fn default() -> Self {
        CorpusSpec {
            snapshot: None,
            file: None,
            date: None,
            per_shard: 256,
            unhappy: 300,
            seed: 1,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsSpec {
    /// `keep-alive` or `new-connection`.
    pub mode: String,
    pub count: usize,
    pub max_outstanding: usize,
    pub timeout: String,
    pub threads: usize,
}

impl Default for ConnectionsSpec {
    fn default() -> Self {
        ConnectionsSpec {
            mode: "keep-alive".into(),
            count: 32,
            max_outstanding: 10_000,
            timeout: "5s".into(),
            threads: 1,
        }
    }
}

/// An admin call during the run: `activate` a snapshot or `rollback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// When: a duration from the start ("90s") or a share of the run ("50%").
    pub at: String,
    /// Snapshot directory to activate; `--activate-path` overrides it.
    #[serde(default)]
    pub activate: Option<String>,
    #[serde(default)]
    pub force: bool,
    #[serde(default)]
    pub rollback: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReportSpec {
    pub interval: String,
    pub late_threshold: String,
    /// How close to a deadline the dispatcher stops sleeping and spins.
    pub spin: String,
    pub thresholds: Vec<String>,
}

impl Default for ReportSpec {
    fn default() -> Self {
        ReportSpec {
            interval: "1s".into(),
            late_threshold: "1ms".into(),
            spin: "50us".into(),
            thresholds: Vec::new(),
        }
    }
}

/// Command-line values that win over the file's.
#[derive(Debug, Default)]
pub struct Overrides {
    pub url: Option<String>,
    pub admin_url: Option<String>,
    pub institution: Option<String>,
    pub snapshot: Option<PathBuf>,
    pub corpus: Option<PathBuf>,
    pub date: Option<String>,
    pub activate_path: Option<String>,
    /// Play the profile in this wall time.
    pub duration: Option<String>,
    pub warmup: Option<String>,
    pub time_scale: Option<f64>,
    pub connections: Option<usize>,
    pub threads: Option<usize>,
    pub mode: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub client_certs: Option<PathBuf>,
}

/// What the TLS variant of a shipped scenario (its name + `-tls`) adds:
/// the API over mutual TLS with the PKI `shikaku tls gen --out tls` makes,
/// each connection presenting another institution's certificate.
const TLS_VARIANT: &str = "\n[target]\nurl = \"https://127.0.0.1:8080\"\nca_cert = \"tls/ca.pem\"\nclient_certs = \"tls/clients.csv\"\n";

/// The name and text of a shipped scenario (or of its TLS variant,
/// `NAME-tls`), or of the file `name`.
pub fn source(name: &str) -> Result<(String, String)> {
    if let Some((shipped, text)) = SHIPPED.iter().find(|(n, _)| *n == name) {
        return Ok((shipped.to_string(), text.to_string()));
    }
    let base = name.strip_suffix("-tls").unwrap_or("");
    if let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == base) {
        return Ok((name.to_string(), format!("{text}{TLS_VARIANT}")));
    }
    let path = PathBuf::from(name);
    let text = std::fs::read_to_string(&path).with_context(|| {
        let names: Vec<_> = SHIPPED.iter().map(|(n, _)| *n).collect();
        format!(
            "{name} is neither a scenario file nor a shipped scenario ({}, each also as NAME-tls)",
            names.join(", ")
        )
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((stem, text))
}

/// Parses a scenario's text with the overrides applied to its profile.
pub fn parse(name: &str, text: &str, overrides: &Overrides) -> Result<Scenario> {
    let mut table: toml::Table =
        toml::from_str(text).with_context(|| format!("scenario {name}"))?;
    if let Some(toml::Value::Table(profile)) = table.get_mut("profile") {
        if let Some(duration) = &overrides.duration {
            profile.remove("time_scale");
            profile.insert("duration".into(), duration.clone().into());
        }
        if let Some(scale) = overrides.time_scale {
            profile.remove("duration");
            profile.insert("time_scale".into(), scale.into());
        }
        if let Some(warmup) = &overrides.warmup {
            profile.insert("warmup".into(), warmup.clone().into());
        }
    }
    let mut scenario: Scenario = table
        .try_into()
        .with_context(|| format!("scenario {name}"))?;
    if scenario.name.is_empty() {
        scenario.name = name.to_string();
    }
    scenario.apply(overrides);
    Ok(scenario)
}

fn duration(text: &str, field: &str) -> Result<Duration> {
    humantime::parse_duration(text).map_err(|e| {
        anyhow!("{field}: {text:?} is not a duration ({e}); write e.g. \"500ms\", \"30s\", \"10m\"")
    })
}

fn token(variable: &Option<String>, field: &str) -> Result<Option<String>> {
    match variable {
        None => Ok(None),
        Some(name) => std::env::var(name)
            .map(Some)
            .map_err(|_| anyhow!("{field}: the environment variable {name} is not set")),
    }
}

impl Scenario {
    fn apply(&mut self, o: &Overrides) {
        let set = |field: &mut String, value: &Option<String>| {
            if let Some(value) = value {
                *field = value.clone();
            }
        };
        set(&mut self.target.url, &o.url);
        set(&mut self.target.admin_url, &o.admin_url);
        set(&mut self.target.institution, &o.institution);
        set(&mut self.connections.mode, &o.mode);
        let t = &mut self.target;
        for (field, value) in [
            (&mut t.ca_cert, &o.ca_cert),
            (&mut t.client_cert, &o.client_cert),
            (&mut t.client_key, &o.client_key),
            (&mut t.client_certs, &o.client_certs),
        ] {
            if value.is_some() {
                *field = value.clone();
            }
        }
        if o.snapshot.is_some() || o.corpus.is_some() {
            self.corpus.snapshot = o.snapshot.clone();
            self.corpus.file = o.corpus.clone();
        }
        if o.date.is_some() {
            self.corpus.date = o.date.clone();
        }
        if let Some(path) = &o.activate_path {
            for action in self.actions.iter_mut().filter(|a| !a.rollback) {
                action.activate = Some(path.clone());
            }
        }
        self.connections.count = o.connections.unwrap_or(self.connections.count);
        self.connections.threads = o.threads.unwrap_or(self.connections.threads);
    }

    pub fn profile(&self) -> Result<Profile> {
        Profile::from_spec(&self.profile).map_err(|e| anyhow!("scenario {}: {e}", self.name))
    }

    pub fn settings(&self, progress: Progress) -> Result<RunSettings> {
        let c = &self.connections;
        let mode = match c.mode.as_str() {
            "keep-alive" => ConnectionMode::KeepAlive,
            "new-connection" => ConnectionMode::NewConnection,
            other => bail!(
                "connections.mode: {other:?} is neither \"keep-alive\" nor \"new-connection\""
            ),
        };
        if c.count == 0 || c.max_outstanding == 0 || c.threads == 0 {
            bail!("connections.count, connections.max_outstanding and connections.threads must be at least 1");
        }
        let interval = duration(&self.report.interval, "report.interval")?;
        if interval < Duration::from_millis(10) {
            bail!("report.interval: at least 10ms");
        }
        let t = &self.target;
        let tls = t.tls();
        Ok(RunSettings {
            endpoint: Endpoint::parse(
                &t.url,
                token(&t.token_env, "target.token_env")?.as_deref(),
                "target.url",
                Some(&tls),
                &t.institution,
            )?,
            admin: Some(Endpoint::parse(
                &t.admin_url,
                token(&t.admin_token_env, "target.admin_token_env")?.as_deref(),
                "target.admin_url",
                Some(&tls),
                &t.institution,
            )?),
            mode,
            connections: c.count,
            max_outstanding: c.max_outstanding,
            timeout: duration(&c.timeout, "connections.timeout")?,
            threads: c.threads,
            interval,
            late_threshold: duration(&self.report.late_threshold, "report.late_threshold")?,
            spin: duration(&self.report.spin, "report.spin")?,
            progress,
        })
    }

    /// The actions with their times resolved against the run's length.
    pub fn actions(&self, run_length: Duration) -> Result<Vec<TimedAction>> {
        self.actions
            .iter()
            .enumerate()
            .map(|(index, spec)| {
                let field = format!("actions[{index}]");
                let at = match spec.at.strip_suffix('%') {
                    Some(share) => {
                        let share: f64 = share
                            .trim()
                            .parse()
                            .map_err(|_| anyhow!("{field}.at: {:?} is not a percentage", spec.at))?;
                        if !(0.0..=100.0).contains(&share) {
                            bail!("{field}.at: {share}% is not within the run");
                        }
                        run_length.mul_f64(share / 100.0)
                    }
                    None => duration(&spec.at, &format!("{field}.at"))?,
                };
                let action = match (&spec.activate, spec.rollback) {
                    (Some(path), false) => Action::Activate {
                        path: path.clone(),
                        force: spec.force,
                    },
                    (None, true) => Action::Rollback,
                    (None, false) => bail!("{field}: says neither activate = \"DIR\" nor rollback = true (give the snapshot with --activate-path DIR)"),
                    (Some(_), true) => bail!("{field}: activate and rollback both given; one action per entry"),
                };
                Ok(TimedAction { at, action })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_and_its_tls_variant_parses_and_compiles() {
        let pki = tempfile::tempdir().unwrap();
        let options = shikaku::gen::tls::TlsGenOptions {
            institutions: 2,
            revoked: 0,
            valid_days: 1,
        };
        shikaku::gen::tls::write(pki.path(), &options).unwrap();
        let variants = SHIPPED
            .iter()
            .flat_map(|(name, _)| [name.to_string(), format!("{name}-tls")]);
        for name in variants {
            let (name, text) = source(&name).unwrap();
            let overrides = Overrides {
                activate_path: Some("snapshots/next".into()),
                ca_cert: Some(pki.path().join("ca.pem")),
                client_certs: Some(pki.path().join("clients.csv")),
                ..Overrides::default()
            };
            let scenario = parse(&name, &text, &overrides).unwrap();
            assert_eq!(
                scenario
                    .settings(Progress::Off)
                    .unwrap()
                    .endpoint
                    .url()
                    .starts_with("https"),
                name.ends_with("-tls"),
                "{name}"
            );
            let profile = scenario.profile().unwrap();
            scenario.actions(profile.duration()).unwrap();
            for threshold in &scenario.report.thresholds {
                threshold.parse::<crate::thresholds::Threshold>().unwrap();
            }
            assert!(
                !scenario.description.is_empty(),
                "{name} has no description"
            );
        }
    }

    #[test]
    fn overrides_shorten_the_run_and_point_elsewhere() {
        let (_, text) = source("peak-1000").unwrap();
        let overrides = Overrides {
            duration: Some("10s".into()),
            warmup: Some("1s".into()),
            url: Some("http://127.0.0.1:9999".into()),
            ..Overrides::default()
        };
        let scenario = parse("peak-1000", &text, &overrides).unwrap();
        assert_eq!(
            scenario.profile().unwrap().duration(),
            Duration::from_secs(11)
        );
        assert_eq!(
            scenario.settings(Progress::Off).unwrap().endpoint.authority,
            "127.0.0.1:9999"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let text = "[profile]\nshape = \"constant\"\nrate = 10\nlength = \"1s\"\n[connections]\nmode = \"pipelined\"\n";
        let scenario = parse("x", text, &Overrides::default()).unwrap();
        let error = scenario.settings(Progress::Off).unwrap_err().to_string();
        assert!(error.contains("connections.mode"), "{error}");
        let text = "[profile]\nshape = \"constant\"\nrate = 10\nlength = \"1s\"\n[[actions]]\nat = \"half\"\nrollback = true\n";
        let scenario = parse("x", text, &Overrides::default()).unwrap();
        let error = scenario
            .actions(Duration::from_secs(1))
            .unwrap_err()
            .to_string();
        assert!(error.contains("actions[0].at"), "{error}");
        let error = parse(
            "x",
            "[profile]\nshape = \"constant\"\n[bogus]\n",
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(format!("{error:#}").contains("bogus"), "{error:#}");
    }
}

//! The harness against the real shikaku server on loopback: `shikaku gen`
//! data, two snapshots of it, the server started in this process on
//! ephemeral ports, and `shikaku-load run` as a user runs it. A short
//! scenario with every check kind and bulk, swapping snapshots halfway,
//! must pass with every answer verified; an impossible threshold must fail
//! the run, naming it.

use shikaku::gen::{generate, GenOptions};
use shikaku::model::JapanTime;
use shikaku::server::config::{ServeConfig, Settings};
use shikaku::server::{self, Bound};
use shikaku::snapshot::write::{build, BuildOptions};
use shikaku::source::Encoding;
use shikaku_load::summary::Summary;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

struct Target {
    _dir: tempfile::TempDir,
    first: PathBuf,
    second: PathBuf,
    bound: Bound,
}

fn snapshot(input: &Path, out: &Path, id: &str) {
    build(&BuildOptions {
        input: input.to_path_buf(),
        out: out.to_path_buf(),
        encoding: Encoding::Utf8,
        skip_bad_rows: false,
        shards: Some(2),
        id: Some(id.into()),
        progress: false,
    })
    .unwrap();
}

/// One server for the whole file (it runs until the test process ends).
fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        generate(&GenOptions {
            persons: 3000,
            seed: 11,
            out: data.clone(),
            today: JapanTime::now().date,
            crl_entries: None,
            crl_random_serials: false,
            compression: shikaku::source::csv_input::Compression::None,
            progress: false,
        })
        .unwrap();
        let (first, second) = (dir.path().join("first"), dir.path().join("second"));
        snapshot(&data, &first, "load.1");
        // The same data again, built later: a swap that changes no answer.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        snapshot(&data, &second, "load.2");
        let settings = Settings {
            snapshot: Some(first.clone()),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            service_hours: Some("off".into()),
            ..Settings::default()
        };
        let config = ServeConfig::from_settings(settings, false).unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || server::run(config, |bound| sender.send(bound).unwrap()));
        let bound = receiver.recv().unwrap();
        wait_until_ready(&bound);
        Target {
            _dir: dir,
            first,
            second,
            bound,
        }
    })
}

fn wait_until_ready(bound: &Bound) {
    wait_for(bound.public, "/readyz", "HTTP/1.1 200");
}

/// Polls `GET path` on `address` (plain HTTP) until the answer contains `expected`.
fn wait_for(address: std::net::SocketAddr, path: &str, expected: &str) {
    use std::io::{Read, Write};
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    for _ in 0..600 {
        if let Ok(mut stream) = std::net::TcpStream::connect(address) {
            let _ = stream.write_all(request.as_bytes());
            let mut reply = String::new();
            let _ = stream.read_to_string(&mut reply);
            if reply.contains(expected) {
                return;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{address}{path} never answered {expected:?}");
}

const SCENARIO: &str = r#"
name = "loopback"
description = "A short run over every check kind, bulk included, with a swap halfway."

[corpus]
per_shard = 100
unhappy = 40

[connections]
count = 8
timeout = "5s"

[profile]
shape = "ramp"
from = 100
to = 300
length = "3s"
warmup = "500ms"

[mix]
card = 0.5
online_number = 0.3
card_face = 0.1
bulk = 0.1
bulk_size = 10

[mix.verdicts]
valid = 50
invalid = 10
invalid_newer_exists = 10
not_found = 10
multiple = 5
not_linked = 10
cert_revoked = 10
cert_suspended = 10

[[actions]]
at = "50%"

[report]
interval = "500ms"
thresholds = ["errors == 0", "mismatches == 0", "dropped == 0", "achieved_rate >= 0.95 * target"]
"#;

fn run_harness(scenario_text: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    let bound = target().bound;
    let url = format!("http://{}", bound.public);
    run_harness_at(&url, bound.admin, scenario_text, out, extra)
}

/// `shikaku-load run` of `scenario_text` against `url` (and the admin API at `admin`).
fn run_harness_at(
    url: &str,
    admin: std::net::SocketAddr,
    scenario_text: &str,
    out: &Path,
    extra: &[&str],
) -> std::process::Output {
    let scenario = out.with_extension("toml");
    std::fs::write(&scenario, scenario_text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_shikaku-load"))
        .arg("run")
        .arg(&scenario)
        .args(["--url", url])
        .args(["--admin-url", &format!("http://{admin}")])
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap()
}

fn summary(out: &Path) -> Summary {
    serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap()
}

/// The summary of a run that passed, with no error and no mismatch.
fn clean_summary(output: &std::process::Output, out: &Path) -> Summary {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stderr}",
        output.status
    );
    let summary = summary(out);
    assert_eq!(summary.errors.total, 0, "{:?}", summary.errors);
    assert_eq!(summary.checks.mismatches, 0);
    summary
}

#[test]
fn a_short_scenario_passes_with_every_answer_verified_across_a_swap() {
    let target = target();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let second = target.second.to_str().unwrap();
    let first = target.first.to_str().unwrap();
    let output = run_harness(
        SCENARIO,
        &out,
        &["--snapshot", first, "--activate-path", second],
    );
    let summary = clean_summary(&output, &out);
    assert!(summary.requests.completed > 400, "{:?}", summary.requests);
    assert_eq!(summary.requests.scheduled, summary.requests.completed);
    assert!(summary.passed);
    // Every kind asked, bulk included, and the unhappy verdicts answered.
    for kind in ["card", "online_number", "card_face"] {
        assert!(
            summary.checks.by_kind.get(kind).copied().unwrap_or(0) > 0,
            "{kind}"
        );
    }
    assert!(
        summary.checks.answered > summary.requests.completed,
        "bulk lines count as checks"
    );
    for verdict in [
        "valid",
        "not_found",
        "not_linked",
        "cert_revoked",
        "cert_suspended",
    ] {
        assert!(
            summary.checks.by_verdict.contains_key(verdict),
            "{verdict}: {:?}",
            summary.checks.by_verdict
        );
    }
    // The swap happened mid-run and answers came from both snapshots.
    assert_eq!(summary.actions.len(), 1);
    assert!(summary.actions[0].ok, "{:?}", summary.actions[0]);
    assert!(
        summary.snapshots.contains_key("load.2"),
        "{:?}",
        summary.snapshots
    );
    for file in ["report.html", "response.hgrm", "service.hgrm"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    assert!(summary.intervals.len() >= 6);
    assert!(summary.intervals[0].warmup);
}

#[test]
fn a_failed_threshold_fails_the_run_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let without_swap = SCENARIO.replace("[[actions]]\nat = \"50%\"\n", "");
    assert_ne!(without_swap, SCENARIO);
    // No --snapshot: the harness asks the admin API which one is live.
    let extra = [
        "--no-scenario-thresholds",
        "--threshold",
        "p50 < 1us",
        "--duration",
        "1s",
    ];
    let output = run_harness(&without_swap, &out, &extra);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("threshold failed: p50 < 1us"), "{stderr}");
    let summary = summary(&out);
    assert!(!summary.passed);
    assert_eq!(summary.thresholds.len(), 1);
}

/// A second server, over mutual TLS, with the PKI `shikaku tls gen` makes
/// (8 institutions, the last revoked) and its registry.
struct TlsTarget {
    _dir: tempfile::TempDir,
    pki: PathBuf,
    public: std::net::SocketAddr,
    admin: std::net::SocketAddr,
}

fn tls_target() -> &'static TlsTarget {
    static TARGET: OnceLock<TlsTarget> = OnceLock::new();
    TARGET.get_or_init(|| {
        let first = target().first.clone();
        let dir = tempfile::tempdir().unwrap();
        let pki = dir.path().join("pki");
        let options = shikaku::gen::tls::TlsGenOptions {
            institutions: 8,
            revoked: 1,
            valid_days: 30,
        };
        shikaku::gen::tls::write(&pki, &options).unwrap();
        let settings = Settings {
            snapshot: Some(first),
            listen: Some("127.0.0.1:0".parse().unwrap()),
            admin_listen: Some("127.0.0.1:0".parse().unwrap()),
            service_hours: Some("off".into()),
            tls_cert: Some(pki.join("server.pem")),
            tls_key: Some(pki.join("server-key.pem")),
            client_ca: Some(pki.join("ca.pem")),
            client_crl: Some(pki.join("crl.der")),
            institutions: Some(pki.join("institutions.csv")),
            ..Settings::default()
        };
        let config = ServeConfig::from_settings(settings, false).unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || server::run(config, |bound| sender.send(bound).unwrap()));
        let bound = receiver.recv().unwrap();
        // The public listener asks for a certificate: readiness is read
        // from the (plain) admin listener.
        wait_for(bound.admin, "/admin/status", "\"live\": {");
        TlsTarget {
            _dir: dir,
            pki,
            public: bound.public,
            admin: bound.admin,
        }
    })
}

#[test]
fn a_pool_of_institution_certificates_checks_over_mutual_tls() {
    let first = target().first.to_str().unwrap().to_string();
    let target = tls_target();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let text = SCENARIO.replace("[[actions]]\nat = \"50%\"\n", "");
    let (ca, clients) = (target.pki.join("ca.pem"), target.pki.join("clients.csv"));
    let extra = [
        "--snapshot",
        &first,
        "--ca-cert",
        ca.to_str().unwrap(),
        "--client-certs",
        clients.to_str().unwrap(),
    ];
    let url = format!("https://{}", target.public);
    let output = run_harness_at(&url, target.admin, &text, &out, &extra);
    let summary = clean_summary(&output, &out);
    let tls = summary.tls.expect("handshakes reported");
    assert_eq!(tls.identities, 7, "the revoked institution is left out");
    assert_eq!(tls.failed, 0);
    assert!(tls.full >= 7 && tls.full + tls.resumed >= 8, "{tls:?}");
    assert!(summary.target.starts_with("https://"));
}

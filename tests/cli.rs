//! The `shikaku` binary end to end: gen → snapshot build → verify →
//! inspect → check, exit codes and one-line reasons on failure.

use std::path::Path;
use std::process::{Command, Output};

fn shikaku(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shikaku"))
        .args(args)
        .output()
        .expect("run shikaku")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn success(args: &[&str]) -> String {
    let output = shikaku(args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn first_data_row(file: &Path) -> csv::StringRecord {
    let mut reader = csv::Reader::from_path(file).unwrap();
    reader.records().next().unwrap().unwrap()
}

#[test]
fn gen_build_verify_inspect_check() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let snapshot = dir.path().join("snapshot");
    let (source_arg, snapshot_arg) = (source.to_str().unwrap(), snapshot.to_str().unwrap());
    let out = success(&[
        "gen",
        "--persons",
        "500",
        "--seed",
        "3",
        "--out",
        source_arg,
        "--today",
        "2026-11-21",
    ]);
    assert!(out.contains("generated 500 persons"), "{out}");
    let out = success(&[
        "snapshot",
        "build",
        "--input",
        source_arg,
        "--out",
        snapshot_arg,
        "--shards",
        "2",
        "--id",
        "cli.1",
    ]);
    assert!(
        out.contains("built snapshot cli.1") && out.contains("key check"),
        "{out}"
    );
    let out = success(&["snapshot", "verify", snapshot_arg]);
    assert!(out.starts_with("ok: snapshot cli.1 verified"), "{out}");
    let out = success(&["snapshot", "inspect", snapshot_arg]);
    assert!(
        out.contains("persons-0001.rkyv") && out.contains("\"persons\":500"),
        "{out}"
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&success(&["snapshot", "inspect", snapshot_arg, "--json"])).unwrap();
    assert_eq!(manifest["id"], "cli.1");

    // A linked serial answers a card check, as JSON in the contract's shape.
    let link = first_data_row(&source.join("linkage.csv"));
    let answer: serde_json::Value = serde_json::from_str(&success(&[
        "check",
        "--snapshot",
        snapshot_arg,
        "--serial",
        &link[0],
        "--date",
        "2026-11-21",
        "--client-ref",
        "P-1",
    ]))
    .unwrap();
    assert_eq!(answer["status"], "ok");
    assert_eq!(answer["snapshot"], "cli.1");
    assert_eq!(answer["client_ref"], "P-1");
    assert_eq!(answer["date"], "2026-11-21");
    assert!(answer["reception"].as_str().is_some_and(|r| !r.is_empty()));
    let verdict = answer["verdict"].as_str().unwrap().to_string();
    assert!(
        [
            "valid",
            "invalid",
            "cert_revoked",
            "cert_suspended",
            "not_found"
        ]
        .contains(&verdict.as_str()),
        "{verdict}"
    );

    // An unknown online number is not found.
    let answer: serde_json::Value = serde_json::from_str(&success(&[
        "check",
        "--snapshot",
        snapshot_arg,
        "--online-number",
        "999999999999999",
        "--date",
        "2026-11-21",
    ]))
    .unwrap();
    assert_eq!(answer["verdict"], "not_found");
}

#[test]
fn failures_exit_non_zero_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing");
    let output = shikaku(&["snapshot", "verify", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with("shikaku: ") && stderr.contains("manifest.json: cannot read"),
        "{stderr}"
    );
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");

    let output = shikaku(&[
        "check",
        "--snapshot",
        missing.to_str().unwrap(),
        "--online-number",
        "12",
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("--online-number: '12' must be 24 digits"),
        "{}",
        text(&output.stderr)
    );

    let output = shikaku(&[
        "snapshot",
        "build",
        "--input",
        missing.to_str().unwrap(),
        "--out",
        dir.path().join("s").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("no eligibility.csv"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["gen", "--help"],
        vec!["snapshot", "build", "--help"],
        vec!["snapshot", "verify", "--help"],
        vec!["snapshot", "inspect", "--help"],
        vec!["check", "--help"],
        vec!["demo", "--help"],
        vec!["audit", "verify", "--help"],
    ] {
        let out = success(&args);
        assert!(out.contains("Usage:"), "{args:?}: {out}");
    }
}

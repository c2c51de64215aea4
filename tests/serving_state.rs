//! The serving state across restarts (`CONTRACT.md` §5): the real server
//! serves, after SIGTERM or SIGKILL, the snapshot last activated or rolled
//! back to, not the one its settings name; `--reset-state` goes back to the
//! settings; a state naming a missing, replaced or damaged snapshot stops
//! the start with a message naming it.

mod common;

use common::http::{get, post, Server};
use common::{branch, qualification, Built, Dataset};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn dataset() -> Dataset {
    Dataset::new()
        .row(qualification("1", &branch(1), "2015-04-01"))
        .link("0x11", "1")
}

/// Snapshot `a` (the settings' one) and `b`, built after it.
fn two_snapshots() -> (Built, Built) {
    let a = dataset().build_as("a");
    let b = dataset().build_as("b");
    (a, b)
}

fn serve(settings_snapshot: &Built, state_dir: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--snapshot",
        settings_snapshot.out.to_str().unwrap(),
        "--state-dir",
        state_dir.to_str().unwrap(),
        "--service-hours",
        "off",
    ];
    args.extend_from_slice(extra);
    Server::ready(&args)
}

fn status(server: &Server) -> Value {
    get(server.admin, "/admin/status").json()
}

fn live_id(server: &Server) -> String {
    status(server)["live"]["id"].as_str().unwrap().to_string()
}

/// Activates `snapshot`, forced past the gates (a is older than b).
fn activate(server: &Server, snapshot: &Built) {
    let reply = post(
        server.admin,
        "/admin/snapshot/activate",
        &json!({"path": snapshot.out, "force": true}).to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.json().get("state_write_error").is_none(),
        "{}",
        reply.body
    );
}

fn stop(mut server: Server) {
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(30)).success());
}

fn kill(mut server: Server) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    server.wait_exit(Duration::from_secs(10));
}

#[test]
fn a_restart_serves_what_was_last_activated_or_rolled_back_to() {
    let (a, b) = two_snapshots();
    let state = tempfile::tempdir().unwrap();
    let server = serve(&a, state.path(), &[]);
    assert_eq!(live_id(&server), "a");
    let first = status(&server)["state"].clone();
    assert!(
        first["started_from"]
            .as_str()
            .unwrap()
            .contains("no state file yet"),
        "{first}"
    );
    activate(&server, &b);
    kill(server);

    // After SIGKILL: b, recorded before the activation was answered.
    let server = serve(&a, state.path(), &[]);
    assert_eq!(live_id(&server), "b");
    let recorded = status(&server)["state"].clone();
    assert!(
        recorded["started_from"]
            .as_str()
            .unwrap()
            .contains("the state file"),
        "{recorded}"
    );
    assert!(recorded["last_write_error"].is_null(), "{recorded}");
    // Only the live generation survives a restart, not the ones kept for
    // rollback: activate a again to roll back from it.
    activate(&server, &a);
    let reply = post(server.admin, "/admin/snapshot/rollback", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(live_id(&server), "b");
    let reply = post(server.admin, "/admin/snapshot/rollback", "");
    assert_eq!(reply.status, 409, "{}", reply.body);
    stop(server);

    let server = serve(&a, state.path(), &[]);
    assert_eq!(live_id(&server), "b");
    stop(server);

    // --reset-state: the settings' snapshot, recorded as the new state.
    let server = serve(&a, state.path(), &["--reset-state"]);
    assert_eq!(live_id(&server), "a");
    let reset = status(&server)["state"].clone();
    assert!(
        reset["started_from"]
            .as_str()
            .unwrap()
            .contains("--reset-state"),
        "{reset}"
    );
    stop(server);
    let server = serve(&b, state.path(), &[]);
    assert_eq!(live_id(&server), "a");
}

#[test]
fn without_a_snapshot_setting_the_recorded_one_is_served() {
    let (a, b) = two_snapshots();
    let state = tempfile::tempdir().unwrap();
    let server = serve(&a, state.path(), &[]);
    activate(&server, &b);
    stop(server);
    let server = Server::ready(&[
        "--wait-for-activation",
        "--state-dir",
        state.path().to_str().unwrap(),
        "--service-hours",
        "off",
    ]);
    assert_eq!(live_id(&server), "b");
}

#[test]
fn a_state_naming_a_missing_or_replaced_snapshot_stops_the_start() {
    let (a, b) = two_snapshots();
    let state = tempfile::tempdir().unwrap();
    let server = serve(&a, state.path(), &[]);
    activate(&server, &b);
    stop(server);
    let args = |snapshot: &Built| {
        vec![
            "--snapshot".to_string(),
            snapshot.out.to_str().unwrap().to_string(),
            "--state-dir".to_string(),
            state.path().to_str().unwrap().to_string(),
        ]
    };
    let start = |snapshot: &Built| {
        let args = args(snapshot);
        Server::fails_to_start(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // b's directory now holds another snapshot (a copied over it).
    let b_dir = b.out.clone();
    let moved = b_dir.with_extension("moved");
    std::fs::rename(&b_dir, &moved).unwrap();
    copy_dir(&a.out, &b_dir);
    let error = start(&a);
    assert!(
        error.contains("now holds snapshot a, not the recorded b"),
        "{error}"
    );
    assert!(error.contains("--reset-state"), "{error}");

    // b's directory is gone.
    std::fs::remove_dir_all(&b_dir).unwrap();
    let error = start(&a);
    assert!(error.contains(b_dir.to_str().unwrap()), "{error}");
    assert!(error.contains("serving-state.json"), "{error}");

    // A damaged state file is never guessed around.
    std::fs::write(
        state.path().join("serving-state.json"),
        "{\"version\": 1, \"sn",
    )
    .unwrap();
    let error = start(&a);
    assert!(error.contains("not a serving state file"), "{error}");
    let server = serve(&a, state.path(), &["--reset-state"]);
    assert_eq!(live_id(&server), "a");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// Waits until the live snapshot's verification says `what`.
fn wait_for_verification(server: &Server, what: &str) -> Value {
    let started = std::time::Instant::now();
    loop {
        let status = status(server);
        if status["live"]["verification"]
            .as_str()
            .unwrap()
            .contains(what)
        {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "verification never said `{what}`: {status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_restart_trusts_the_earlier_verification_and_rechecks_in_the_background() {
    let (a, b) = two_snapshots();
    let state = tempfile::tempdir().unwrap();
    let server = serve(&a, state.path(), &[]);
    assert!(status(&server)["live"]["verification"]
        .as_str()
        .unwrap()
        .starts_with("verified in full"));
    activate(&server, &b);
    kill(server);

    let server = serve(&a, state.path(), &[]);
    assert!(
        server
            .output()
            .iter()
            .any(|l| l.contains("verified before the restart")),
        "{:?}",
        server.output()
    );
    let status = wait_for_verification(&server, "then verified in full in the background");
    assert_eq!(status["live"]["id"], "b");
    assert_eq!(status["alarms"], json!([]));
    stop(server);

    // A data file damaged while the server was down (not its manifest):
    // served on trust, caught by the recheck, alarmed, and the state no
    // longer trusts it, so the next start verifies in full and refuses it.
    let data = std::fs::read_dir(&b.out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("persons-")
        })
        .unwrap();
    let mut bytes = std::fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&data, &bytes).unwrap();
    let server = serve(&a, state.path(), &[]);
    let status = wait_for_verification(&server, "FAILED");
    let alarms = status["alarms"].to_string();
    assert!(
        alarms.contains("failed its verification") || alarms.contains("FAILED"),
        "{alarms}"
    );
    assert!(alarms.contains("persons-"), "{alarms}");
    let recorded: Value =
        serde_json::from_slice(&std::fs::read(state.path().join("serving-state.json")).unwrap())
            .unwrap();
    assert!(
        recorded["snapshot"].get("verified_manifest").is_none(),
        "{recorded}"
    );
    stop(server);
    let error = Server::fails_to_start(&[
        "--snapshot",
        a.out.to_str().unwrap(),
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert!(error.contains("persons-"), "{error}");
}

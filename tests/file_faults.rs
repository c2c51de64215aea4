//! Files changed under the running server (SPEC: nothing lost, no crash):
//! a snapshot file truncated while checks run raises SIGBUS inside the
//! mapping; the server survives, refuses to answer from the damaged
//! snapshot (503 `snapshot_damaged`, an alarm, `/readyz` not ready), and an
//! activation of another snapshot recovers it without a restart. A file
//! deleted (unlinked) under the server changes nothing that is mapped.

mod common;

use common::http::{get, post, Server};
use common::{branch, online, qualification, Built, Dataset};
use serde_json::json;
use std::path::PathBuf;

const INSTITUTION: &str = "1312345678";

fn dataset() -> Dataset {
    let mut dataset = Dataset::new();
    for n in 1..=300 {
        dataset = dataset
            .row(qualification(&n.to_string(), &branch(n), "2015-04-01"))
            .link(&format!("0x{n:x}"), &n.to_string());
    }
    dataset
}

fn number(server: &Server, n: u64) -> common::http::Reply {
    post(
        server.public,
        "/v1/check/number",
        &json!({"institution": INSTITUTION, "online_number": online(n)}).to_string(),
    )
}

fn data_file(built: &Built, prefix: &str) -> PathBuf {
    std::fs::read_dir(&built.out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_str().unwrap().starts_with(prefix))
        .unwrap()
}

/// Snapshot `a` served, and `b` (the same data) to activate afterwards.
fn serving_a_with_b_at_hand() -> (Built, Built, Server) {
    let a = dataset().build_as("a");
    let b = dataset().build_as("b");
    let server = Server::ready(&[
        "--snapshot",
        a.out.to_str().unwrap(),
        "--service-hours",
        "off",
    ]);
    (a, b, server)
}

#[test]
fn a_truncated_snapshot_file_is_refused_not_fatal_and_an_activation_recovers() {
    let (a, b, server) = serving_a_with_b_at_hand();
    for n in 1..=300 {
        assert_eq!(number(&server, n).json()["verdict"], "valid");
    }

    // Unlinked: the mapping keeps the file's pages; nothing changes.
    let keys = data_file(&a, "keys-");
    let kept = std::fs::read(&keys).unwrap();
    std::fs::remove_file(&keys).unwrap();
    assert_eq!(number(&server, 7).json()["verdict"], "valid");
    std::fs::write(&keys, &kept).unwrap();

    // Truncated to its header: the next read past it faults.
    let persons = data_file(&a, "persons-");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&persons)
        .unwrap()
        .set_len(16)
        .unwrap();
    let answers: Vec<_> = (1..=300).map(|n| number(&server, n)).collect();
    let refused = answers.iter().filter(|r| r.status == 503).count();
    assert!(refused > 0, "no check noticed the truncation");
    for reply in &answers {
        match reply.status {
            503 => {
                assert_eq!(reply.code(), "snapshot_damaged", "{}", reply.body);
                assert!(reply.body.contains("persons-"), "{}", reply.body);
                assert!(reply.header("retry-after").is_some());
            }
            200 => panic!("an answer came from the damaged snapshot: {}", reply.body),
            other => panic!("unexpected {other}: {}", reply.body),
        }
    }
    assert_eq!(get(server.public, "/readyz").status, 503);
    let status = get(server.admin, "/admin/status").json();
    assert!(
        status["alarms"]
            .to_string()
            .contains("changed under the server"),
        "{status}"
    );
    assert!(
        server
            .output()
            .iter()
            .any(|l| l.contains("ALARM") && l.contains("persons-")),
        "{:?}",
        server.output()
    );

    // Another snapshot activated: served again, no restart.
    let reply = post(
        server.admin,
        "/admin/snapshot/activate",
        &json!({"path": b.out, "force": true}).to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(get(server.public, "/readyz").status, 200);
    for n in 1..=300 {
        assert_eq!(number(&server, n).json()["verdict"], "valid");
    }
    let status = get(server.admin, "/admin/status").json();
    assert_eq!(status["alarms"], json!([]), "{status}");
}

#[test]
fn a_snapshot_file_overwritten_in_place_is_noticed_and_refused() {
    let (a, b, server) = serving_a_with_b_at_hand();
    assert_eq!(number(&server, 5).json()["verdict"], "valid");
    // The same length, other bytes: no fault, the mapping just shows them.
    let persons = data_file(&a, "persons-");
    let len = std::fs::metadata(&persons).unwrap().len() as usize;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(&persons)
        .unwrap();
    std::io::Write::write_all(&mut file, &vec![0x5a; len]).unwrap();
    drop(file);
    let started = std::time::Instant::now();
    let refused = loop {
        let reply = number(&server, 5);
        if reply.status == 503 {
            break reply;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the write was not noticed: {}",
            reply.body
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert_eq!(refused.code(), "snapshot_damaged", "{}", refused.body);
    assert!(refused.body.contains("persons-"), "{}", refused.body);
    assert_eq!(get(server.public, "/readyz").status, 503);
    let reply = post(
        server.admin,
        "/admin/snapshot/activate",
        &json!({"path": b.out, "force": true}).to_string(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(number(&server, 5).json()["verdict"], "valid");
}

//! Intraday updates on the real server (`CONTRACT.md` §4, `SPEC.md` §4):
//! per-record results, visibility to the next check, idempotent replay,
//! sender order, restart after a torn write, and SIGKILL while updates
//! stream in (no acknowledged record lost).

mod common;

use common::http::{get, post, request, Server};
use common::{branch, online, qualification, Built, Dataset, HEALTH_SOCIETY};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

const INSTITUTION: &str = "1312345678";

/// Person 1 (one row, serial 0x11) and person 2 (one row, lost, serial 0x22).
fn dataset() -> Dataset {
    Dataset::new()
        .row(qualification("1", &branch(1), "2015-04-01"))
        .link("0x11", "1")
        .row(
            qualification("2", &branch(2), "2015-04-01")
                .set("lost", "2020-04-01")
                .set("card_branch", "02"),
        )
        .link("0x22", "2")
}

fn serve(built: &Built, journal: &Path) -> Server {
    serve_with(built, journal, &[])
}

fn serve_with(built: &Built, journal: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--snapshot",
        built.out.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--service-hours",
        "off",
    ];
    args.extend_from_slice(extra);
    Server::ready(&args)
}

/// A checkpoint after every group commit (when none is being written).
const CHECKPOINT_ALWAYS: [&str; 2] = ["--checkpoint-interval", "0s"];

/// Posts NDJSON lines to `/admin/updates`; the result lines.
fn send(server: &Server, lines: &[Value]) -> Vec<Value> {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let reply = post(server.admin, "/admin/updates", &body);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.lines()
}

fn upsert(process_id: &str, linkage: &str, branch_no: &str, acquired: &str) -> Value {
    let mut row = json!({"op": "upsert", "process_id": process_id});
    for (column, value) in qualification(linkage, branch_no, acquired).0 {
        row[column] = json!(value);
    }
    row
}

fn card(server: &Server, serial: &str) -> Value {
    post(
        server.public,
        "/v1/check/card",
        &json!({"institution": INSTITUTION, "serial": serial}).to_string(),
    )
    .json()
}

fn number(server: &Server, online_number: &str) -> Value {
    post(
        server.public,
        "/v1/check/number",
        &json!({"institution": INSTITUTION, "online_number": online_number}).to_string(),
    )
    .json()
}

fn results(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .map(|l| match l["result"].as_str() {
            Some("ok") if l["duplicate"] == json!(true) => "duplicate",
            Some("ok") => "ok",
            _ => l["code"].as_str().unwrap_or("?"),
        })
        .collect()
}

#[test]
fn every_op_is_answered_per_record_and_visible_to_the_next_check() {
    let built = dataset().build();
    let journal = tempfile::tempdir().unwrap();
    let server = serve(&built, journal.path());
    assert_eq!(number(&server, &online(3))["verdict"], "not_found");

    // Register a new person with a row and link a certificate to them.
    let answers = send(
        &server,
        &[
            upsert("P1", "3", &branch(3), "2020-04-01"),
            json!({"op": "link", "process_id": "P2", "serial": "0x33", "linkage_no": "3"}),
        ],
    );
    assert_eq!(results(&answers), ["ok", "ok"]);
    assert_eq!(answers[0]["process_id"], "P1");
    assert_eq!(answers[0]["lsn"], 1);
    let answer = number(&server, &online(3));
    assert_eq!(answer["verdict"], "valid", "{answer}");
    assert_eq!(answer["updates"], 2);
    assert_eq!(card(&server, "0x33")["verdict"], "valid");

    // Change: person 1 loses their row; then a renewal moves 0x11 to 0x12.
    let mut lost = upsert("P3", "1", &branch(1), "2015-04-01");
    lost["lost"] = json!("2021-04-01");
    let answers = send(
        &server,
        &[
            lost,
            json!({"op": "renew", "process_id": "P4", "new_serial": "0x12", "old_serial": "0x11"}),
        ],
    );
    assert_eq!(results(&answers), ["ok", "ok"]);
    assert_eq!(number(&server, &online(1))["verdict"], "invalid");
    assert_eq!(card(&server, "0x11")["verdict"], "not_linked");
    assert_eq!(card(&server, "0x12")["verdict"], "invalid");

    // Delete person 2's row; the insurer master gets a new name.
    let answers = send(
        &server,
        &[
            json!({"op": "delete", "process_id": "P5", "insurer_code": "10000001", "branch_no": branch(2), "qualification_seq": "1"}),
            json!({"op": "insurer", "process_id": "P6", "insurer_number": HEALTH_SOCIETY, "name": "新しい健康保険組合"}),
        ],
    );
    assert_eq!(results(&answers), ["ok", "ok"]);
    assert_eq!(number(&server, &online(2))["verdict"], "not_found");
    assert_eq!(card(&server, "0x22")["verdict"], "not_found");
    assert_eq!(
        number(&server, &online(3))["records"][0]["insurer_name"],
        "新しい健康保険組合"
    );

    // Bad messages: each refused with the field named, nothing changed.
    let mut nameless = upsert("P7", "4", &branch(4), "2020-04-01");
    nameless.as_object_mut().unwrap().remove("name");
    let answers = send(
        &server,
        &[
            nameless,
            json!({"op": "delete", "process_id": "P8", "insurer_code": "10000001", "branch_no": branch(9)}),
            json!({"op": "renew", "process_id": "P9", "new_serial": "0x13", "old_serial": "0x11"}),
            json!({"op": "merge", "process_id": "P10"}),
            json!({"op": "link", "serial": "0x1"}),
        ],
    );
    assert_eq!(
        results(&answers),
        [
            "bad_message",
            "not_found",
            "not_found",
            "bad_message",
            "bad_message"
        ]
    );
    assert_eq!(answers[0]["message"], "name: required");
    assert_eq!(answers[0]["line"], 1);
    assert_eq!(answers[3]["process_id"], "P10");
    assert!(answers[4]["process_id"].is_null());
    assert_eq!(number(&server, &online(4))["verdict"], "not_found");

    // Not JSON at all, and a blank line (skipped, but counted).
    let reply = post(server.admin, "/admin/updates", "\n{not json\n");
    let lines = reply.lines();
    assert_eq!(results(&lines), ["bad_message"]);
    assert_eq!(lines[0]["line"], 2);

    let status = get(server.admin, "/admin/status").json();
    assert_eq!(status["updates"]["applied"], 6, "{status}");
    assert_eq!(status["updates"]["overlay"]["rows_deleted"], 1);
    let metrics = get(server.public, "/metrics").body;
    assert!(metrics.contains("shikaku_updates_total{result=\"applied\"} 6"));
    assert!(metrics.contains("shikaku_journal_failed 0"));
}

#[test]
fn a_repeated_process_id_answers_the_first_result_and_changes_nothing() {
    let built = dataset().build();
    let journal = tempfile::tempdir().unwrap();
    let server = serve(&built, journal.path());
    let first = upsert("R1", "5", &branch(5), "2020-04-01");
    assert_eq!(
        results(&send(&server, std::slice::from_ref(&first))),
        ["ok"]
    );
    // The same id again, even with other content, and twice in one request.
    let mut changed = first.clone();
    changed["lost"] = json!("2020-05-01");
    let answers = send(&server, &[first, changed]);
    assert_eq!(results(&answers), ["duplicate", "duplicate"]);
    assert_eq!(number(&server, &online(5))["verdict"], "valid");
    let twice = json!({"op": "link", "process_id": "R2", "serial": "0x55", "linkage_no": "5"});
    assert_eq!(
        results(&send(&server, &[twice.clone(), twice])),
        ["ok", "duplicate"]
    );
    // Still a duplicate after a restart (the journal remembers it).
    drop(server);
    let server = serve(&built, journal.path());
    let again = json!({"op": "link", "process_id": "R2", "serial": "0x56", "linkage_no": "5"});
    assert_eq!(results(&send(&server, &[again])), ["duplicate"]);
    assert_eq!(card(&server, "0x56")["verdict"], "not_linked");
}

#[test]
fn a_senders_messages_apply_in_seq_order() {
    let built = dataset().build();
    let journal = tempfile::tempdir().unwrap();
    let server = serve(&built, journal.path());
    let link = |id: &str, seq: u64, serial: &str| json!({"op": "link", "process_id": id, "sender": "jlis", "seq": seq, "serial": serial, "linkage_no": "1"});
    let answers = send(
        &server,
        &[
            link("S1", 7, "0x71"),
            link("S2", 9, "0x72"),
            link("S3", 8, "0x73"),
            link("S4", 8, "0x74"),
            link("S2", 9, "0x72"),
            json!({"op": "link", "process_id": "S5", "seq": 10, "serial": "0x75", "linkage_no": "1"}),
        ],
    );
    assert_eq!(
        results(&answers),
        [
            "ok",
            "sequence_gap",
            "ok",
            "out_of_order",
            "ok",
            "bad_message"
        ]
    );
    assert!(answers[1]["message"]
        .as_str()
        .unwrap()
        .contains("seq 9 follows 7"));
    assert_eq!(card(&server, "0x74")["verdict"], "not_linked");
    assert_eq!(card(&server, "0x72")["verdict"], "valid");
    // The sequence survives a restart.
    drop(server);
    let server = serve(&built, journal.path());
    assert_eq!(
        results(&send(&server, &[link("S6", 11, "0x76")])),
        ["sequence_gap"]
    );
}

#[test]
fn updates_need_a_journal() {
    let built = dataset().build();
    let server = Server::ready(&[
        "--snapshot",
        built.out.to_str().unwrap(),
        "--service-hours",
        "off",
    ]);
    let reply = post(server.admin, "/admin/updates", "{}\n");
    assert_eq!(reply.status, 409);
    assert!(reply.body.contains("--journal"), "{}", reply.body);
}

#[test]
fn a_torn_last_record_is_cut_off_at_restart_and_a_damaged_one_stops_the_start() {
    let built = dataset().build();
    let journal = tempfile::tempdir().unwrap();
    let server = serve(&built, journal.path());
    let answers = send(
        &server,
        &[
            upsert("T1", "6", &branch(6), "2020-04-01"),
            upsert("T2", "7", &branch(7), "2020-04-01"),
        ],
    );
    assert_eq!(results(&answers), ["ok", "ok"]);
    drop(server);
    let segment = std::fs::read_dir(journal.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "journal"))
        .unwrap();
    let whole = std::fs::read(&segment).unwrap();
    // A half-written third record (a crash during its write).
    let mut torn = whole.clone();
    torn.extend_from_slice(&whole[16..60]);
    std::fs::write(&segment, &torn).unwrap();
    let server = serve(&built, journal.path());
    let six = number(&server, &online(6));
    // The server's output too: this once answered no_snapshot right after
    // /readyz said ready, under heavy load.
    assert_eq!(six["verdict"], "valid", "{six} {:?}", server.output());
    assert_eq!(number(&server, &online(7))["verdict"], "valid");
    let status = get(server.admin, "/admin/status").json();
    assert_eq!(status["updates"]["opened"]["torn_bytes"], 44, "{status}");
    assert_eq!(
        results(&send(
            &server,
            &[upsert("T3", "8", &branch(8), "2020-04-01")]
        )),
        ["ok"]
    );
    drop(server);
    // A flipped byte inside the first record: records after it were
    // acknowledged, so the server refuses to start rather than lose them.
    let mut damaged = std::fs::read(&segment).unwrap();
    damaged[16 + 40] ^= 0xFF;
    std::fs::write(&segment, &damaged).unwrap();
    let stderr = Server::fails_to_start(&[
        "--snapshot",
        built.out.to_str().unwrap(),
        "--journal",
        journal.path().to_str().unwrap(),
    ]);
    assert!(stderr.contains("damaged at byte 16"), "{stderr}");
}

/// Streams link messages (serial `base + i` → person 1) over one
/// connection and records every serial whose `ok` arrived, until the
/// connection dies.
fn stream_links(address: std::net::SocketAddr, base: u64, count: u64) -> Vec<u64> {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let head = "POST /admin/updates HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let mut writer = writer;
        for chunk in 0..count / 50 {
            let mut body = String::new();
            for i in chunk * 50..(chunk + 1) * 50 {
                let serial = base + i;
                body.push_str(&format!(
                    "{{\"op\":\"link\",\"process_id\":\"K{serial}\",\"serial\":\"{serial}\",\"linkage_no\":\"1\"}}\n"
                ));
            }
            let framed = format!("{:x}\r\n{body}\r\n", body.len());
            if writer.write_all(framed.as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = writer.write_all(b"0\r\n\r\n");
    });
    let mut acknowledged = Vec::new();
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { break };
        // Chunk-size lines and blank lines are framing, not results.
        let Ok(result) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        if result["result"] == "ok" {
            let id = result["process_id"].as_str().unwrap();
            acknowledged.push(id[1..].parse().unwrap());
        }
    }
    let _ = sender.join();
    acknowledged
}

#[test]
fn sigkill_while_updates_stream_in_loses_no_acknowledged_record() {
    let built = dataset().build();
    let journal = tempfile::tempdir().unwrap();
    let mut acknowledged = Vec::new();
    for (round, kill_after_ms) in [150u64, 420, 60, 300].into_iter().enumerate() {
        let mut server = serve_with(&built, journal.path(), &CHECKPOINT_ALWAYS);
        let admin = server.admin;
        let base = 1_000_000 * (round as u64 + 1);
        let streamer = std::thread::spawn(move || stream_links(admin, base, 20_000));
        std::thread::sleep(Duration::from_millis(kill_after_ms));
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        server.wait_exit(Duration::from_secs(10));
        acknowledged.extend(streamer.join().unwrap());
    }
    assert!(
        acknowledged.len() > 100,
        "too few records were acknowledged before the kills ({}) for the test to mean anything",
        acknowledged.len()
    );
    let server = serve_with(&built, journal.path(), &CHECKPOINT_ALWAYS);
    let install = get(server.admin, "/admin/status").json()["updates"]["last_install"].clone();
    assert!(
        install["resumed_from_checkpoint"].as_u64().is_some(),
        "the restart did not start from a checkpoint: {install}"
    );
    let started = Instant::now();
    let body: String = acknowledged
        .iter()
        .map(|serial| {
            format!(
                "{}\n",
                json!({"kind": "card", "institution": INSTITUTION, "serial": serial.to_string()})
            )
        })
        .collect();
    let reply = request(
        server.public,
        "POST",
        "/v1/check/bulk",
        &[("Content-Type", "application/x-ndjson")],
        body.as_bytes(),
    );
    let answers = reply.lines();
    assert_eq!(answers.len(), acknowledged.len());
    for (serial, answer) in acknowledged.iter().zip(&answers) {
        assert_eq!(
            answer["verdict"], "valid",
            "acknowledged serial {serial} lost after SIGKILL: {answer}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_restart_resumes_from_the_checkpoint_and_a_damaged_one_is_never_trusted() {
    let built = dataset().build();
    let journal = tempfile::tempdir().unwrap();
    let server = serve_with(&built, journal.path(), &CHECKPOINT_ALWAYS);
    let sent = send(
        &server,
        &[
            upsert("C1", "1", &branch(1), "2020-04-01"),
            json!({"op": "link", "process_id": "C2", "serial": "0x77", "linkage_no": "2"}),
            json!({"op": "renew", "process_id": "C3", "new_serial": "0x78", "old_serial": "0x11"}),
        ],
    );
    assert_eq!(results(&sent), ["ok", "ok", "ok"]);
    let last_lsn = sent[2]["lsn"].as_u64().unwrap();
    let written =
        || get(server.admin, "/admin/status").json()["updates"]["checkpoint"]["written"].clone();
    let started = Instant::now();
    while written()["through_lsn"].as_u64() != Some(last_lsn) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no checkpoint: {}",
            written()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let answers = |server: &Server| {
        [
            number(server, &online(1))["records"]
                .as_array()
                .map(Vec::len),
            Some(card(server, "0x77")["verdict"].as_str().unwrap().len()),
        ]
    };
    let before = (
        answers(&server),
        card(&server, "0x78")["verdict"].clone(),
        card(&server, "0x11")["verdict"].clone(),
    );
    drop(server); // SIGKILL

    let server = serve_with(&built, journal.path(), &CHECKPOINT_ALWAYS);
    let install = get(server.admin, "/admin/status").json()["updates"]["last_install"].clone();
    assert_eq!(install["resumed_from_checkpoint"], last_lsn, "{install}");
    assert_eq!(install["replayed"], 0, "{install}");
    let after = (
        answers(&server),
        card(&server, "0x78")["verdict"].clone(),
        card(&server, "0x11")["verdict"].clone(),
    );
    assert_eq!(after, before);
    assert_eq!(before.1, "valid");
    assert_eq!(before.2, "not_linked");
    // The process ids came from the checkpoint: a message sent again is
    // still a duplicate.
    let again = send(
        &server,
        &[json!({"op": "link", "process_id": "C2", "serial": "0x77", "linkage_no": "2"})],
    );
    assert_eq!(results(&again), ["duplicate"]);
    // One more record after the checkpoint: replayed from the journal's tail.
    let sent = send(
        &server,
        &[json!({"op": "link", "process_id": "C4", "serial": "0x79", "linkage_no": "1"})],
    );
    assert_eq!(results(&sent), ["ok"]);
    drop(server);

    // A flipped byte: ignored with a warning, every record replayed.
    let path = journal.path().join("overlay.checkpoint");
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&path, &bytes).unwrap();
    let server = serve_with(&built, journal.path(), &CHECKPOINT_ALWAYS);
    let install = get(server.admin, "/admin/status").json()["updates"]["last_install"].clone();
    assert!(install["resumed_from_checkpoint"].is_null(), "{install}");
    assert_eq!(install["replayed"], 4, "{install}");
    // Which check catches the flip depends on where it lands (an element
    // that no longer decodes, or the checksum at the end).
    let warning = install["warnings"][0].as_str().unwrap();
    assert!(
        warning.contains("overlay checkpoint was ignored")
            && warning.contains("overlay.checkpoint"),
        "{install}"
    );
    assert_eq!(answers(&server), before.0);
    assert_eq!(card(&server, "0x79")["verdict"], "valid");

    // A torn one (cut short) likewise.
    drop(server);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let server = serve_with(&built, journal.path(), &CHECKPOINT_ALWAYS);
    let install = get(server.admin, "/admin/status").json()["updates"]["last_install"].clone();
    assert!(install["resumed_from_checkpoint"].is_null(), "{install}");
    assert_eq!(card(&server, "0x79")["verdict"], "valid");
}

#[test]
fn a_rollback_resumes_from_the_overlay_its_generation_kept() {
    let built = dataset().build();
    let next = dataset().build_as("test.2");
    // Forced: the drift gate would count the updates as drift.
    let journal = tempfile::tempdir().unwrap();
    let server = serve(&built, journal.path());
    let sent = send(
        &server,
        &[
            json!({"op": "link", "process_id": "R1", "serial": "0x77", "linkage_no": "2"}),
            json!({"op": "renew", "process_id": "R2", "new_serial": "0x78", "old_serial": "0x11"}),
        ],
    );
    assert_eq!(results(&sent), ["ok", "ok"]);
    let swap_lsn = sent[1]["lsn"].as_u64().unwrap();
    let activated = post(
        server.admin,
        "/admin/snapshot/activate",
        &json!({"path": next.out, "force": true}).to_string(),
    );
    assert_eq!(activated.status, 200, "{}", activated.body);
    let install = |server: &Server| {
        get(server.admin, "/admin/status").json()["updates"]["last_install"].clone()
    };
    // The new generation had no overlay to keep: it replayed the journal.
    assert!(install(&server)["resumed_from_kept_overlay"].is_null());
    assert_eq!(install(&server)["replayed"], 2);
    let later = send(
        &server,
        &[json!({"op": "link", "process_id": "R3", "serial": "0x79", "linkage_no": "1"})],
    );
    assert_eq!(results(&later), ["ok"]);

    let rolled_back = post(server.admin, "/admin/snapshot/rollback", "");
    assert_eq!(rolled_back.status, 200, "{}", rolled_back.body);
    let install = install(&server);
    assert_eq!(install["resumed_from_kept_overlay"], swap_lsn, "{install}");
    assert_eq!(install["replayed"], 1, "{install}");
    assert_eq!(
        card(&server, "0x77")["verdict"],
        "invalid",
        "person 2 lost the row"
    );
    assert_eq!(card(&server, "0x78")["verdict"], "valid");
    assert_eq!(card(&server, "0x11")["verdict"], "not_linked");
    assert_eq!(card(&server, "0x79")["verdict"], "valid");
    assert_eq!(
        get(server.admin, "/admin/status").json()["live"]["id"],
        "test.1"
    );
}

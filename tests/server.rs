//! The real server (`shikaku serve` as a child process) on loopback:
//! every endpoint, every verdict, every error code, bulk, hot swap under
//! load, rollback, refused activation, timeouts and shutdown.

mod common;

use common::http::{get, post, read_reply, read_until_closed, request, Reply, Server};
use common::{branch, online, qualification, Built, Dataset};
use serde_json::{json, Value};
use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const INSTITUTION: &str = "1312345678";
const OTHER_INSTITUTION: &str = "2712345678";
const TOKEN: &str = "token-of-1312345678-0123456789";
const OTHER_TOKEN: &str = "token-of-2712345678-0123456789";

/// One person per verdict (dates well in the past, so verdicts do not
/// depend on the day the tests run).
fn dataset() -> Dataset {
    Dataset::new()
        // 1: valid; serial 0x11.
        .row(qualification("1", &branch(1), "2020-04-01").set("card_branch", "01"))
        .link("0x11", "1")
        // 2: lost; serial 0x22 → invalid.
        .row(
            qualification("2", &branch(2), "2015-04-01")
                .set("lost", "2025-04-01")
                .set("card_branch", "02")
                .set("birth_date", "1990-01-01"),
        )
        .link("0x22", "2")
        // 3: lost here, in force at another insurer → invalid_newer_exists.
        .row(
            qualification("3", &branch(3), "2015-04-01")
                .set("lost", "2025-04-01")
                .set("card_branch", "03")
                .set("birth_date", "1975-05-05"),
        )
        .row(
            qualification("3", &branch(3), "2025-04-01")
                .set("insurer_code", "10000002")
                .set("card_symbol", "99")
                .set("card_branch", "00"),
        )
        // Revoked and suspended certificates of person 1; 0x33 not linked.
        .link("0x44", "1")
        .link("0x55", "1")
        .revoke("0x44", "keyCompromise")
        .revoke("0x55", "certificateHold")
}

fn card(serial: &str) -> String {
    json!({"institution": INSTITUTION, "serial": serial}).to_string()
}

fn number(online_number: &str) -> String {
    json!({"institution": INSTITUTION, "online_number": online_number}).to_string()
}

fn serve(built: &Built, extra: &[&str]) -> Server {
    let mut args = vec![
        "--snapshot",
        built.out.to_str().unwrap(),
        "--service-hours",
        "off",
    ];
    args.extend_from_slice(extra);
    Server::ready(&args)
}

/// Asks the admin API to activate the snapshot at `path`.
fn activate(server: &Server, path: &std::path::Path, force: bool) -> Reply {
    post(
        server.admin,
        "/admin/snapshot/activate",
        &json!({"path": path, "force": force}).to_string(),
    )
}

fn verdict(reply: &Reply) -> String {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["verdict"].as_str().unwrap().to_string()
}

#[test]
fn every_verdict_over_http() {
    let built = dataset().build();
    let server = serve(&built, &[]);
    let cases = [
        ("/v1/check/card", card("0x11"), "valid"),
        ("/v1/check/card", card("0x22"), "invalid"),
        ("/v1/check/card", card("0x33"), "not_linked"),
        ("/v1/check/card", card("0x44"), "cert_revoked"),
        ("/v1/check/card", card("0x55"), "cert_suspended"),
        ("/v1/check/number", number(&online(1)), "valid"),
        ("/v1/check/number", number(&online(2)), "invalid"),
        ("/v1/check/number", number(&online(3)), "invalid_newer_exists"),
        ("/v1/check/number", number(&online(999)), "not_found"),
        (
            "/v1/check/number",
            json!({"institution": INSTITUTION, "insurer_number": "06139018", "symbol": "12", "number": "345"})
                .to_string(),
            "multiple",
        ),
        (
            "/v1/check/number",
            json!({"institution": INSTITUTION, "insurer_number": "06139018", "symbol": "12", "number": "345",
                   "branch": "01", "birth_date": "1980-04-01", "client_ref": "P-0002"})
            .to_string(),
            "valid",
        ),
        (
            "/v1/check/number",
            json!({"institution": INSTITUTION, "insurer_number": "06139018", "symbol": "12", "number": "345",
                   "branch": "01", "birth_date": "1980-04-02"})
            .to_string(),
            "not_found",
        ),
    ];
    for (path, body, expected) in cases {
        let reply = post(server.public, path, &body);
        assert_eq!(verdict(&reply), expected, "{path} {body}: {}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    let answer = post(
        server.public,
        "/v1/check/card",
        &json!({"institution": INSTITUTION, "serial": "17", "client_ref": "P-0001"}).to_string(),
    )
    .json();
    assert_eq!(answer["verdict"], "valid", "0x11 given in decimal");
    assert_eq!(answer["client_ref"], "P-0001");
    assert_eq!(answer["snapshot"], "test.1");
    assert!(answer["reception"].as_str().unwrap().len() > 20);
    let record = &answer["records"][0];
    assert_eq!(record["online_number"], online(1).as_str());
    assert_eq!(record["scheme"], "health_society");
    assert!(record.get("linkage_no").is_none());
}

#[test]
fn the_answer_is_the_engine_answer() {
    let built = dataset().build();
    let server = serve(&built, &[]);
    let today = shikaku::model::Date::today_in_japan();
    for serial in ["0x11", "0x22", "0x44"] {
        let query = shikaku::engine::Query::Card {
            serial: shikaku::model::Serial::parse(serial).unwrap(),
        };
        let mut expected =
            shikaku::engine::json::check_to_json(&built.snapshot, &query, today, None).unwrap();
        let mut got = post(server.public, "/v1/check/card", &card(serial)).json();
        for answer in [&mut expected, &mut got] {
            answer["reception"] = Value::Null;
        }
        assert_eq!(got, expected, "{serial}");
    }
}

#[test]
fn errors_have_the_contract_shape_and_status() {
    let built = dataset().build();
    let server = serve(&built, &["--max-body-bytes", "512"]);
    let bad = |path: &str, body: &str, status: u16, code: &str, field: Option<&str>| {
        let reply = post(server.public, path, body);
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
        let answer = reply.json();
        assert_eq!(answer["status"], "error");
        assert_eq!(answer["error"]["code"], code, "{body}");
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
        if let Some(field) = field {
            assert_eq!(answer["error"]["field"], field, "{body}");
            assert!(answer["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field));
        }
    };
    bad("/v1/check/card", "{", 400, "bad_request", None);
    bad("/v1/check/card", "[]", 400, "bad_request", None);
    bad(
        "/v1/check/card",
        r#"{"serial": "0x11"}"#,
        400,
        "bad_request",
        Some("institution"),
    );
    bad(
        "/v1/check/card",
        r#"{"institution": "1312345678", "serial": 17}"#,
        400,
        "bad_request",
        Some("serial"),
    );
    bad(
        "/v1/check/card",
        r#"{"institution": "1312345678", "serial": "0x11", "date": "2999-01-01"}"#,
        400,
        "bad_request",
        Some("date"),
    );
    bad(
        "/v1/check/card",
        r#"{"institution": "1312345678", "certificate": "MIIB"}"#,
        400,
        "bad_request",
        Some("certificate"),
    );
    bad(
        "/v1/check/number",
        r#"{"institution": "1312345678", "online_number": "1"}"#,
        400,
        "bad_request",
        Some("online_number"),
    );
    bad(
        "/v1/check/number",
        r#"{"institution": "1312345678", "insurer_number": "06139019", "number": "1"}"#,
        400,
        "bad_request",
        Some("insurer_number"),
    );
    bad(
        "/v1/check/card",
        &format!(
            r#"{{"institution": "1312345678", "serial": "0x11", "pad": "{}"}}"#,
            "x".repeat(600)
        ),
        413,
        "too_large",
        None,
    );
    bad("/v1/nothing", "{}", 404, "not_found", None);
    let wrong_method = get(server.public, "/v1/check/card");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
    // Garbage that is not HTTP at all: the connection is refused, the server lives on.
    let mut stream = TcpStream::connect(server.public).unwrap();
    stream.write_all(b"\x00\x01garbage\r\n\r\n").unwrap();
    read_until_closed(&mut stream);
    assert_eq!(get(server.public, "/healthz").status, 200);
}

fn registry(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("institutions.csv");
    std::fs::write(
        &path,
        format!(
            "institution_code,name,prefecture,token\n{INSTITUTION},山田医院,東京都,{TOKEN}\n{OTHER_INSTITUTION},大阪薬局,大阪府,{OTHER_TOKEN}\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn institutions_need_their_own_token() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let path = registry(dir.path());
    let server = serve(&built, &["--institutions", path.to_str().unwrap()]);
    let with = |token: Option<&str>, body: &str| {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        request(
            server.public,
            "POST",
            "/v1/check/card",
            &headers,
            body.as_bytes(),
        )
    };
    let missing = with(None, &card("0x11"));
    assert_eq!(missing.status, 401);
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        with(Some("not-a-registered-token-000"), &card("0x11")).status,
        401
    );
    assert_eq!(with(Some(OTHER_TOKEN), &card("0x11")).status, 403);
    let unknown = json!({"institution": "9999999999", "serial": "0x11"}).to_string();
    assert_eq!(with(Some(TOKEN), &unknown).status, 403);
    assert_eq!(verdict(&with(Some(TOKEN), &card("0x11"))), "valid");
    // Bulk: lines for another institution are refused one by one.
    let lines = format!(
        "{}\n{}\n",
        json!({"kind": "card", "institution": INSTITUTION, "serial": "0x11"}),
        json!({"kind": "card", "institution": OTHER_INSTITUTION, "serial": "0x11"})
    );
    let auth = format!("Bearer {TOKEN}");
    let bulk = request(
        server.public,
        "POST",
        "/v1/check/bulk",
        &[("Authorization", &auth)],
        lines.as_bytes(),
    );
    let answers = bulk.lines();
    assert_eq!(answers[0]["verdict"], "valid");
    assert_eq!(answers[1]["error"]["code"], "forbidden");
    assert_eq!(answers[1]["line"], 2);
}

#[test]
fn a_bad_registry_stops_the_start_with_the_line() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("institutions.csv");
    std::fs::write(
        &path,
        "institution_code,name,prefecture,token\n123,x,y,short\n",
    )
    .unwrap();
    let stderr = Server::fails_to_start(&[
        "--snapshot",
        built.out.to_str().unwrap(),
        "--institutions",
        path.to_str().unwrap(),
    ]);
    assert!(stderr.contains(":2: institution_code"), "{stderr}");
}

#[test]
fn bulk_streams_mixed_lines_in_order() {
    let built = dataset().build();
    let server = serve(&built, &["--max-bulk-line-bytes", "300"]);
    let mut body = String::new();
    let expected = ["valid", "invalid", "not_linked", "cert_revoked"];
    let lines = 2_000;
    for i in 0..lines {
        match i % 7 {
            5 => body.push_str("{not json\n"),
            6 => body.push_str(&format!("{{\"kind\":\"card\",\"institution\":\"{INSTITUTION}\",\"serial\":\"0x11\",\"client_ref\":\"{}\"}}\n", "x".repeat(300))),
            _ => {
                let serial = ["0x11", "0x22", "0x33", "0x44"][i % 4];
                body.push_str(&format!(
                    "{{\"kind\":\"card\",\"institution\":\"{INSTITUTION}\",\"serial\":\"{serial}\",\"client_ref\":\"{i}\"}}\r\n"
                ));
            }
        }
        if i == 10 {
            body.push_str("   \n");
        }
    }
    let reply = request(
        server.public,
        "POST",
        "/v1/check/bulk",
        &[],
        body.as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    let answers = reply.lines();
    assert_eq!(answers.len(), lines, "one answer per non-blank line");
    for (i, answer) in answers.iter().enumerate() {
        let line = if i > 10 { i + 2 } else { i + 1 };
        match i % 7 {
            5 => {
                assert_eq!(answer["error"]["code"], "bad_request", "{answer}");
                assert_eq!(answer["line"], line);
            }
            6 => assert_eq!(answer["error"]["code"], "too_large", "{answer}"),
            _ => {
                assert_eq!(answer["verdict"], expected[i % 4], "{answer}");
                assert_eq!(answer["client_ref"], i.to_string());
            }
        }
    }
    let metrics = get(server.public, "/metrics").body;
    assert!(
        metrics.contains("shikaku_checks_total{endpoint=\"bulk\",verdict=\"valid\"}"),
        "{metrics}"
    );
}

#[test]
fn no_snapshot_until_activation_then_swap_and_rollback() {
    let first = dataset().build_as("day.1");
    let second = dataset()
        .row(qualification("4", &branch(4), "2020-04-01"))
        .build_as("day.2");
    let server = Server::start(&["--wait-for-activation", "--service-hours", "off"]);
    let before = post(server.public, "/v1/check/card", &card("0x11"));
    assert_eq!(before.status, 503);
    assert_eq!(before.code(), "no_snapshot");
    assert_eq!(before.header("retry-after"), Some("1"));
    assert_eq!(get(server.public, "/readyz").status, 503);
    let report = activate(&server, &first.out, false);
    assert_eq!(report.status, 200);
    // Nothing was live: the checksum pass left it all in memory.
    assert_eq!(report.json()["warmed_bytes"], 0);
    assert_eq!(
        post(server.public, "/v1/check/card", &card("0x11")).json()["snapshot"],
        "day.1"
    );
    let report = activate(&server, &second.out, true);
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(report.json()["previous"], "day.1");
    assert!(report.json()["warmed_bytes"].is_u64(), "{}", report.body);
    assert_eq!(
        post(server.public, "/v1/check/card", &card("0x11")).json()["snapshot"],
        "day.2"
    );
    // The same snapshot again is refused unless forced.
    let again = activate(&server, &second.out, false);
    assert_eq!(again.status, 409);
    assert!(again.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("already live"));
    let rollback = post(server.admin, "/admin/snapshot/rollback", "");
    assert_eq!(rollback.status, 200, "{}", rollback.body);
    assert_eq!(rollback.json()["live"]["id"], "day.1");
    assert_eq!(
        post(server.public, "/v1/check/card", &card("0x11")).json()["snapshot"],
        "day.1"
    );
    assert_eq!(
        post(server.admin, "/admin/snapshot/rollback", "").status,
        409
    );
    let status = get(server.admin, "/admin/status").json();
    assert_eq!(status["live"]["id"], "day.1");
    assert_eq!(status["rollbacks"], 1);
    let metrics = get(server.public, "/metrics").body;
    assert!(
        metrics.contains("shikaku_snapshot_info{id=\"day.1\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("shikaku_snapshot_swaps_total 3"),
        "{metrics}"
    );
}

#[test]
fn damaged_or_drifting_snapshots_are_refused_and_the_old_one_serves() {
    let good = dataset().build_as("day.1");
    let server = serve(&good, &[]);
    // A damaged copy: one byte flipped in a data file.
    let dir = tempfile::tempdir().unwrap();
    let damaged = dir.path().join("damaged");
    std::fs::create_dir(&damaged).unwrap();
    for entry in std::fs::read_dir(&good.out).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), damaged.join(entry.file_name())).unwrap();
    }
    let victim = damaged.join("persons-0000.rkyv");
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5A;
    std::fs::write(&victim, bytes).unwrap();
    let refused = activate(&server, &damaged, true);
    assert_eq!(refused.status, 409, "{}", refused.body);
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("persons-0000.rkyv") && message.contains("day.1 keeps serving"),
        "{message}"
    );
    // A snapshot in which every person lost their qualification drifts.
    let mut lost = Dataset::new();
    for row in dataset().eligibility {
        lost = lost.row(row.set("lost", "2025-06-01"));
    }
    let drifting = lost.build_as("day.2");
    let refused = activate(&server, &drifting.out, false);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("another verdict"), "{}", refused.body);
    assert_eq!(
        post(server.public, "/v1/check/card", &card("0x11")).json()["snapshot"],
        "day.1"
    );
    let status = get(server.admin, "/admin/status").json();
    assert!(status["last_refusal"]
        .as_str()
        .unwrap()
        .contains("another verdict"));
    assert_eq!(status["activation_failures"], 2);
    // Not a snapshot at all.
    let nowhere = post(
        server.admin,
        "/admin/snapshot/activate",
        r#"{"path": "/nonexistent/snapshot"}"#,
    );
    assert_eq!(nowhere.status, 409);
    assert_eq!(
        post(server.admin, "/admin/snapshot/activate", r#"{"way": 1}"#).status,
        400
    );
    let huge = format!(r#"{{"path": "{}"}}"#, "x".repeat(70 * 1024));
    assert_eq!(
        post(server.admin, "/admin/snapshot/activate", &huge).status,
        413
    );
    let wrong_method = get(server.admin, "/admin/snapshot/rollback");
    assert_eq!(wrong_method.status, 405);
    assert_eq!(wrong_method.header("allow"), Some("POST"));
}

#[test]
fn canaries_gate_activation() {
    let good = dataset().build_as("day.1");
    let dir = tempfile::tempdir().unwrap();
    let canaries = dir.path().join("canaries.ndjson");
    std::fs::write(
        &canaries,
        format!(
            "{}\n{}\n",
            json!({"kind": "card", "institution": INSTITUTION, "serial": "0x11", "expect": "valid"}),
            json!({"kind": "number", "institution": INSTITUTION, "online_number": online(2), "expect": "invalid"})
        ),
    )
    .unwrap();
    let server = serve(&good, &["--canaries", canaries.to_str().unwrap()]);
    let unlinked = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .build_as("day.2");
    let refused = activate(&server, &unlinked.out, true);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("canaries.ndjson:1: expected valid, got not_linked"),
        "{}",
        refused.body
    );
}

#[test]
fn swaps_under_load_fail_no_request_and_mix_no_answers() {
    // Person 1 is valid in day.1 and lost in day.2: each answer's verdict
    // must match the snapshot id it names.
    let first = dataset().build_as("day.1");
    let mut lost = Dataset::new();
    for row in dataset().eligibility {
        lost = lost.row(row.set("lost", "2025-06-01"));
    }
    let second = lost.link("0x11", "1").build_as("day.2");
    let server = serve(&first, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, answered, address) = (stop.clone(), answered.clone(), server.public);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let reply = post(address, "/v1/check/card", &card("0x11"));
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    let answer = reply.json();
                    let expected = match answer["snapshot"].as_str().unwrap() {
                        "day.1" => "valid",
                        "day.2" => "invalid",
                        other => panic!("unknown snapshot {other}"),
                    };
                    assert_eq!(answer["verdict"], expected, "{answer}");
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for round in 0..10 {
        let target = if round % 2 == 0 {
            &second.out
        } else {
            &first.out
        };
        let reply = activate(&server, target, true);
        assert_eq!(reply.status, 200, "{}", reply.body);
        let rollback = post(server.admin, "/admin/snapshot/rollback", "");
        assert_eq!(rollback.status, 200, "{}", rollback.body);
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client
            .join()
            .expect("a client saw a failed or mixed answer");
    }
    assert!(answered.load(Ordering::Relaxed) > 100);
}

#[test]
fn busy_outside_hours_and_timeouts() {
    let built = dataset().build();
    // Service hours that exclude now.
    let now = shikaku::model::JapanTime::now().minute_of_day;
    let (start, end) = ((now + 120) % 1440, (now + 180) % 1440);
    let hours = format!(
        "{:02}:{:02}-{:02}:{:02}",
        start / 60,
        start % 60,
        end / 60,
        end % 60
    );
    let closed = Server::ready(&[
        "--snapshot",
        built.out.to_str().unwrap(),
        "--service-hours",
        &hours,
    ]);
    let reply = post(closed.public, "/v1/check/card", &card("0x11"));
    assert_eq!(reply.status, 503);
    assert_eq!(reply.code(), "outside_service_hours");
    let retry: u32 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (119 * 60..=120 * 60).contains(&retry),
        "until opening: {retry}"
    );
    drop(closed);

    let server = serve(
        &built,
        &[
            "--max-in-flight",
            "1",
            "--idle-timeout",
            "500ms",
            "--header-read-timeout",
            "500ms",
        ],
    );
    // A bulk request that holds the only slot while its body trickles in.
    let mut holder = TcpStream::connect(server.public).unwrap();
    holder
        .write_all(b"POST /v1/check/bulk HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let busy = post(server.public, "/v1/check/card", &card("0x11"));
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(busy.code(), "busy");
    assert_eq!(busy.header("retry-after"), Some("1"));
    holder.write_all(b"0\r\n\r\n").unwrap();
    drop(holder);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        verdict(&post(server.public, "/v1/check/card", &card("0x11"))),
        "valid"
    );
    // Headers never finished: the connection is closed.
    let mut slow = TcpStream::connect(server.public).unwrap();
    slow.write_all(b"POST /v1/check/card HTTP/1.1\r\nHost:")
        .unwrap();
    let (_, waited) = read_until_closed(&mut slow);
    assert!(waited < Duration::from_secs(4), "header timeout");
    // An idle keep-alive connection is closed after the idle timeout.
    let mut idle = TcpStream::connect(server.public).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (all, waited) = read_until_closed(&mut idle);
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    assert!(waited < Duration::from_secs(4), "idle timeout");
}

#[test]
fn sigterm_finishes_requests_in_progress_then_exits() {
    let built = dataset().build();
    let mut server = serve(&built, &["--shutdown-deadline", "10s"]);
    // A bulk request whose body is still arriving when SIGTERM comes.
    let mut stream = TcpStream::connect(server.public).unwrap();
    let line = format!(
        "{}\n",
        json!({"kind": "card", "institution": INSTITUTION, "serial": "0x11"})
    );
    let head = "POST /v1/check/bulk HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = format!("{:x}\r\n{line}\r\n", line.len());
    stream.write_all(chunk.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.terminate();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect(server.public).is_err(),
        "no new connections after SIGTERM"
    );
    stream.write_all(chunk.as_bytes()).unwrap();
    stream.write_all(b"0\r\n\r\n").unwrap();
    let reply = read_reply(&mut stream);
    let answers = reply.lines();
    assert_eq!(answers.len(), 2);
    assert!(
        answers.iter().all(|a| a["verdict"] == "valid"),
        "{answers:?}"
    );
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status}");
    assert!(server.output().iter().any(|l| l.contains("stopped")));
}

#[test]
fn a_snapshot_that_cannot_load_fails_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = Server::fails_to_start(&["--snapshot", dir.path().to_str().unwrap()]);
    assert!(stderr.contains("manifest.json"), "{stderr}");
}

#[test]
fn settings_come_from_a_file_and_flags_win() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("shikaku.toml");
    std::fs::write(
        &config,
        format!(
            "snapshot = {:?}\nservice_hours = \"off\"\nmax_body_bytes = 100\n",
            built.out
        ),
    )
    .unwrap();
    let server = Server::ready(&[
        "--config",
        config.to_str().unwrap(),
        "--max-body-bytes",
        "4096",
    ]);
    assert_eq!(
        verdict(&post(server.public, "/v1/check/card", &card("0x11"))),
        "valid"
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "max_inflight = 3\n").unwrap();
    let stderr = Server::fails_to_start(&["--config", bad.to_str().unwrap()]);
    assert!(stderr.contains("max_inflight"), "{stderr}");
}

#[test]
fn an_institution_over_its_budget_gets_429_and_others_are_unaffected() {
    let built = dataset().build();
    let server = serve(&built, &["--throttle-rate", "0.5", "--throttle-burst", "3"]);
    for _ in 0..3 {
        assert_eq!(
            post(server.public, "/v1/check/card", &card("0x11")).status,
            200
        );
    }
    let refused = post(server.public, "/v1/check/card", &card("0x11"));
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.code(), "throttled");
    assert_eq!(refused.header("retry-after"), Some("2"));
    // A bulk request's lines take from the budget too: refused line by line.
    let line = json!({"kind": "card", "institution": INSTITUTION, "serial": "0x11"});
    let bulk = post(server.public, "/v1/check/bulk", &format!("{line}\n"));
    assert!(bulk.body.contains("throttled"), "{}", bulk.body);
    // Another institution has a budget of its own.
    let other = json!({"institution": OTHER_INSTITUTION, "serial": "0x11"}).to_string();
    assert_eq!(post(server.public, "/v1/check/card", &other).status, 200);
    let metrics = get(server.public, "/metrics").body;
    assert!(
        metrics.contains("shikaku_throttled_total{class=\"medical\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("shikaku_check_errors_total{endpoint=\"card\",code=\"throttled\"} 1"));
    // Logged once for the minute, not once per refusal.
    let logged = server
        .output()
        .iter()
        .filter(|line| line.contains("over its budget"))
        .count();
    assert_eq!(logged, 1);
}

//! The check log on the real server (`SPEC.md` §5): every check lands in
//! the log exactly once (errors, bulk lines and sheds included), history
//! answers only the caller's own records, a torn segment tail is cut and
//! the rest kept, days past retention are removed, and admin actions are
//! audited.

mod common;

use common::http::{get, request, Reply, Server};
use common::{branch, online, qualification, Built, Dataset};
use serde_json::Value;
use shikaku::checklog::record::{Entry, QueryKind};
use shikaku::checklog::report::{for_each_entry, Period, Summary};
use shikaku::model::Date;
use std::path::Path;
use std::time::Duration;

const CLINIC: &str = "1312345678";
const CLINIC_TOKEN: &str = "token-of-1312345678-0123456789";
const PHARMACY: &str = "2712345678";
const PHARMACY_TOKEN: &str = "token-of-2712345678-0123456789";

/// Person 1 (serial 0x11, online number 1) and person 2 (serial 0x22).
fn dataset() -> Dataset {
    Dataset::new()
        .row(qualification("1", &branch(1), "2015-04-01"))
        .link("0x11", "1")
        .row(qualification("2", &branch(2), "2016-04-01").set("card_number", "999"))
        .link("0x22", "2")
}

fn registry(dir: &Path) -> String {
    let path = dir.join("institutions.csv");
    std::fs::write(
        &path,
        format!(
            "institution_code,name,prefecture,token\n{CLINIC},山田医院,東京都,{CLINIC_TOKEN}\n{PHARMACY},大阪薬局,大阪府,{PHARMACY_TOKEN}\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn serve(built: &Built, log: &Path, extra: &[&str]) -> Server {
    let mut args = vec![
        "--snapshot",
        built.out.to_str().unwrap(),
        "--check-log",
        log.to_str().unwrap(),
        "--service-hours",
        "off",
    ];
    args.extend_from_slice(extra);
    Server::ready(&args)
}

fn post_as(server: &Server, token: &str, path: &str, body: &str) -> Reply {
    let auth = format!("Bearer {token}");
    request(
        server.public,
        "POST",
        path,
        &[("Authorization", &auth)],
        body.as_bytes(),
    )
}

fn get_as(server: &Server, token: &str, path: &str) -> Reply {
    let auth = format!("Bearer {token}");
    request(server.public, "GET", path, &[("Authorization", &auth)], b"")
}

/// Every entry of the log for today, as (institution, kind, key, outcome,
/// reception), plus the count of shed checks.
/// (institution, kind, key, outcome, reception) of one logged check.
type Logged = (String, QueryKind, String, String, String);

fn logged(log: &Path) -> (Vec<Logged>, u64) {
    let today = Date::today_in_japan();
    let period = Period {
        from: today.add_days(-1),
        to: today.add_days(1),
    };
    let mut entries = Vec::new();
    let mut shed = 0;
    for_each_entry(log, &period, &mut Summary::default(), |entry| {
        match entry {
            Entry::Check(record) => entries.push((
                record
                    .institution
                    .map(|c| c.to_string())
                    .unwrap_or_default(),
                record.key.kind,
                record.key.display(),
                record.outcome.as_str().to_string(),
                record.reception.to_string(),
            )),
            Entry::Shed(s) => shed += u64::from(s.count),
        }
        Ok(())
    })
    .unwrap();
    (entries, shed)
}

fn stop(mut server: Server) {
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(20)).success());
}

#[test]
fn every_check_is_logged_once_and_history_shows_only_the_callers_own() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("checks");
    let institutions = registry(dir.path());
    let server = serve(&built, &log, &["--institutions", &institutions]);
    let card = |institution: &str, serial: &str| {
        format!(r#"{{"institution":"{institution}","serial":"{serial}"}}"#)
    };
    let mut receptions = Vec::new();
    let mut expected: Vec<(&str, QueryKind, &str)> = Vec::new();
    // Single checks of each kind, by both institutions.
    for (token, institution) in [(CLINIC_TOKEN, CLINIC), (PHARMACY_TOKEN, PHARMACY)] {
        let reply = post_as(&server, token, "/v1/check/card", &card(institution, "0x11"));
        assert_eq!(reply.status, 200, "{}", reply.body);
        receptions.push(reply.json()["reception"].as_str().unwrap().to_string());
        expected.push((institution, QueryKind::Card, "valid"));
    }
    let number = format!(
        r#"{{"institution":"{CLINIC}","online_number":"{}"}}"#,
        online(1)
    );
    let reply = post_as(&server, CLINIC_TOKEN, "/v1/check/number", &number);
    assert_eq!(reply.status, 200, "{}", reply.body);
    expected.push((CLINIC, QueryKind::OnlineNumber, "valid"));
    let face = format!(
        r#"{{"institution":"{CLINIC}","insurer_number":"{}","symbol":"12","number":"999","branch":"00"}}"#,
        common::HEALTH_SOCIETY
    );
    let reply = post_as(&server, CLINIC_TOKEN, "/v1/check/number", &face);
    assert_eq!(reply.status, 200, "{}", reply.body);
    expected.push((CLINIC, QueryKind::CardFace, "valid"));
    let reply = post_as(
        &server,
        CLINIC_TOKEN,
        "/v1/check/card",
        &card(CLINIC, "0x99"),
    );
    assert_eq!(reply.json()["verdict"], "not_linked");
    expected.push((CLINIC, QueryKind::Card, "not_linked"));
    // Errors: a bad body, a token of another institution, no token at all.
    let reply = post_as(
        &server,
        CLINIC_TOKEN,
        "/v1/check/card",
        r#"{"institution":"1312345678"}"#,
    );
    assert_eq!(reply.status, 400);
    expected.push((CLINIC, QueryKind::None, "bad_request"));
    let reply = post_as(
        &server,
        PHARMACY_TOKEN,
        "/v1/check/card",
        &card(CLINIC, "0x11"),
    );
    assert_eq!(reply.status, 403);
    expected.push((CLINIC, QueryKind::Card, "forbidden"));
    let reply = request(
        server.public,
        "POST",
        "/v1/check/card",
        &[],
        card(CLINIC, "0x11").as_bytes(),
    );
    assert_eq!(reply.status, 401);
    expected.push(("", QueryKind::None, "unauthorized"));
    // A bulk request: every line, the bad one too.
    let line =
        |serial: &str| format!(r#"{{"kind":"card","institution":"{CLINIC}","serial":"{serial}"}}"#);
    let bulk = format!(
        "{}\n{{\"kind\":\"card\"}}\n{}\n",
        line("0x22"),
        line("0x11")
    );
    let reply = post_as(&server, CLINIC_TOKEN, "/v1/check/bulk", &bulk);
    assert_eq!(reply.lines().len(), 3, "{}", reply.body);
    expected.push((CLINIC, QueryKind::Card, "valid"));
    expected.push(("", QueryKind::None, "bad_request"));
    expected.push((CLINIC, QueryKind::Card, "valid"));

    // History: the clinic sees its own checks of 0x11 only, newest first,
    // at once (before the writer's batch interval has passed).
    let history = get_as(
        &server,
        CLINIC_TOKEN,
        &format!("/v1/history?institution={CLINIC}&serial=0x11"),
    );
    assert_eq!(history.status, 200, "{}", history.body);
    let records = history.json()["records"].as_array().unwrap().clone();
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records
        .iter()
        .all(|r| r["verdict"] == "valid" && r["key"] == "0x11"));
    assert!(records[0]["time"].as_str() >= records[1]["time"].as_str());
    assert!(records[0]["via"] == "bulk" && records[1]["via"] == "single");
    assert!(records
        .iter()
        .all(|r| r["reception"] != receptions[1].as_str()));
    let pharmacy = get_as(
        &server,
        PHARMACY_TOKEN,
        &format!("/v1/history?institution={PHARMACY}&serial=0x11"),
    );
    let pharmacy = pharmacy.json()["records"].as_array().unwrap().clone();
    assert_eq!(pharmacy.len(), 1);
    assert_eq!(pharmacy[0]["reception"], receptions[1].as_str());
    // Another institution's history is refused outright.
    let other = get_as(
        &server,
        PHARMACY_TOKEN,
        &format!("/v1/history?institution={CLINIC}&serial=0x11"),
    );
    assert_eq!(other.status, 403);
    // By online number, by card face, by date, and as a bulk lookup.
    let by_number = get_as(
        &server,
        CLINIC_TOKEN,
        &format!(
            "/v1/history?institution={CLINIC}&online_number={}",
            online(1)
        ),
    );
    assert_eq!(by_number.json()["records"].as_array().unwrap().len(), 1);
    let by_face = get_as(
        &server,
        CLINIC_TOKEN,
        &format!(
            "/v1/history?institution={CLINIC}&insurer_number={}&symbol=12&number=999&branch=00",
            common::HEALTH_SOCIETY
        ),
    );
    assert_eq!(
        by_face.json()["records"].as_array().unwrap().len(),
        1,
        "{}",
        by_face.body
    );
    let yesterday = Date::today_in_japan().add_days(-1);
    let dated = get_as(
        &server,
        CLINIC_TOKEN,
        &format!("/v1/history?institution={CLINIC}&serial=0x11&date={yesterday}"),
    );
    assert_eq!(dated.json()["records"].as_array().unwrap().len(), 0);
    let missing_key = get_as(
        &server,
        CLINIC_TOKEN,
        &format!("/v1/history?institution={CLINIC}"),
    );
    assert_eq!(missing_key.status, 400);
    let lookups = format!(
        "{{\"institution\":\"{CLINIC}\",\"serial\":\"0x22\",\"client_ref\":\"claim-7\"}}\n{{\"institution\":\"{CLINIC}\"}}\n"
    );
    let bulk_history = post_as(&server, CLINIC_TOKEN, "/v1/history/bulk", &lookups).lines();
    assert_eq!(bulk_history.len(), 2);
    assert_eq!(bulk_history[0]["client_ref"], "claim-7");
    assert_eq!(bulk_history[0]["records"].as_array().unwrap().len(), 1);
    assert_eq!(bulk_history[1]["status"], "error");
    assert_eq!(bulk_history[1]["line"], 2);
    let metrics = get(server.public, "/metrics").body;
    stop(server);

    // Exactly once each: the log holds what the checks were, in order.
    let (entries, shed) = logged(&log);
    assert_eq!(shed, 0);
    let found: Vec<(&str, QueryKind, &str)> = entries
        .iter()
        .map(|(institution, kind, _, outcome, _)| (institution.as_str(), *kind, outcome.as_str()))
        .collect();
    assert_eq!(found, expected, "{metrics}");
    for reception in &receptions {
        assert_eq!(entries.iter().filter(|e| &e.4 == reception).count(), 1);
    }

    // After a restart the closed segment is searched through its index.
    let server = serve(&built, &log, &["--institutions", &institutions]);
    assert!(std::fs::read_dir(log.join(day_name())).unwrap().any(|e| e
        .unwrap()
        .path()
        .extension()
        .is_some_and(|x| x == "idx")));
    let history = get_as(
        &server,
        CLINIC_TOKEN,
        &format!("/v1/history?institution={CLINIC}&serial=0x11"),
    );
    assert_eq!(history.json()["records"].as_array().unwrap().len(), 2);
}

fn day_name() -> String {
    let (y, m, d) = Date::today_in_japan().ymd();
    format!("{y:04}{m:02}{d:02}")
}

/// Five quick checks against a writer that holds each batch for 1.5 s and
/// a queue of one place.
fn five_checks(built: &Built, log: &Path, policy: &str) -> (Vec<u16>, String) {
    let server = serve(
        built,
        log,
        &[
            "--check-log-queue",
            "1",
            "--check-log-linger",
            "1500ms",
            "--check-log-policy",
            policy,
        ],
    );
    let body = format!(r#"{{"institution":"{CLINIC}","serial":"0x11"}}"#);
    let statuses = (0..5)
        .map(|_| common::http::post(server.public, "/v1/check/card", &body).status)
        .collect();
    std::thread::sleep(Duration::from_millis(3500));
    let metrics = get(server.public, "/metrics").body;
    stop(server);
    (statuses, metrics)
}

fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {metrics}"))
}

#[test]
fn a_full_queue_sheds_visibly_or_blocks_and_nothing_goes_unrecorded() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let shed_log = dir.path().join("shed");
    let (statuses, metrics) = five_checks(&built, &shed_log, "shed");
    let refused = statuses.iter().filter(|s| **s == 503).count() as u64;
    assert!(refused >= 1, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count() as u64,
        5 - refused
    );
    assert_eq!(metric(&metrics, "shikaku_check_log_shed_total"), refused);
    let (entries, shed) = logged(&shed_log);
    assert_eq!(entries.len() as u64, 5 - refused);
    assert_eq!(shed, refused, "the shed checks are in the log as a count");

    let block_log = dir.path().join("block");
    let (statuses, metrics) = five_checks(&built, &block_log, "block");
    assert_eq!(statuses, vec![200; 5]);
    assert!(
        metric(&metrics, "shikaku_check_log_blocked_total") >= 1,
        "{metrics}"
    );
    let (entries, shed) = logged(&block_log);
    assert_eq!((entries.len(), shed), (5, 0));
}

#[test]
fn a_torn_tail_is_cut_the_rest_kept_and_old_days_purged() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("checks");
    let server = serve(&built, &log, &[]);
    let body = format!(r#"{{"institution":"{CLINIC}","serial":"0x11"}}"#);
    for _ in 0..3 {
        assert_eq!(
            common::http::post(server.public, "/v1/check/card", &body).status,
            200
        );
    }
    stop(server);
    // As a crash mid-write leaves it: no index, half a batch at the end.
    let today = log.join(day_name());
    let segment = today.join("000001.seg");
    std::fs::remove_file(today.join("000001.idx")).unwrap();
    let intact = std::fs::metadata(&segment).unwrap().len();
    let mut bytes = std::fs::read(&segment).unwrap();
    let torn: Vec<u8> = bytes[16..40].to_vec();
    bytes.extend_from_slice(&torn);
    std::fs::write(&segment, bytes).unwrap();
    // And two old days: one past six months, one inside.
    let old = Date::today_in_japan().add_days(-200);
    let recent = Date::today_in_japan().add_days(-100);
    for day in [old, recent] {
        let (y, m, d) = day.ymd();
        let day_dir = log.join(format!("{y:04}{m:02}{d:02}"));
        std::fs::create_dir_all(&day_dir).unwrap();
        std::fs::copy(&segment, day_dir.join("000001.seg")).unwrap();
    }

    let server = serve(&built, &log, &[]);
    let output = server.output().join("\n");
    assert!(output.contains("torn bytes cut"), "{output}");
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), intact);
    assert!(!log
        .join(format!(
            "{:04}{:02}{:02}",
            old.ymd().0,
            old.ymd().1,
            old.ymd().2
        ))
        .exists());
    let (y, m, d) = recent.ymd();
    assert!(log
        .join(format!("{y:04}{m:02}{d:02}"))
        .join("000001.idx")
        .exists());
    let history = get(
        server.public,
        &format!("/v1/history?institution={CLINIC}&serial=0x11"),
    );
    let records: Vec<Value> = history.json()["records"].as_array().unwrap().clone();
    // Today's three, plus the copy inside the window (its records carry
    // today's times: the search reaches its day, and finds them).
    assert_eq!(records.len(), 6, "{}", history.body);
    stop(server);
}

#[test]
fn admin_actions_are_audited_with_who() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("checks");
    let server = serve(&built, &log, &[]);
    let activate = format!(r#"{{"path":"{}","force":true}}"#, built.out.display());
    let reply = request(
        server.admin,
        "POST",
        "/admin/snapshot/activate",
        &[("X-Operator", "sato")],
        activate.as_bytes(),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let missing = br#"{"path":"no-such-snapshot"}"#;
    let refused = request(
        server.admin,
        "POST",
        "/admin/snapshot/activate",
        &[],
        missing,
    );
    assert_eq!(refused.status, 409, "{}", refused.body);
    let audit = std::fs::read_to_string(log.join("audit.log")).unwrap();
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["actor"].as_str().unwrap(), l["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        summary[summary.len() - 2..],
        [
            ("sato", "snapshot.activate"),
            ("unnamed", "snapshot.activate")
        ]
    );
    assert_eq!(lines.last().unwrap()["detail"]["status"], "refused");
    stop(server);
    // The chain holds, and editing one line breaks it at the next.
    let path = log.join("audit.log");
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_shikaku"))
            .args(["audit", "verify", path.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let intact = verify();
    assert!(intact.status.success(), "{intact:?}");
    let edited = audit.replacen("\"sato\"", "\"kato\"", 1);
    std::fs::write(&path, edited).unwrap();
    let broken = verify();
    assert!(!broken.status.success());
    let stderr = String::from_utf8_lossy(&broken.stderr);
    let sato_line = summary
        .iter()
        .position(|(actor, _)| *actor == "sato")
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!("the chain breaks at line {}", sato_line + 1)),
        "{stderr}"
    );
}

#[test]
fn after_sigkill_every_check_written_out_is_kept_and_searchable() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("checks");
    let server = serve(&built, &log, &[]);
    let body = format!(r#"{{"institution":"{CLINIC}","serial":"0x11"}}"#);
    for _ in 0..300 {
        assert_eq!(
            common::http::post(server.public, "/v1/check/card", &body).status,
            200
        );
    }
    // Ten batch intervals: every batch of those checks has been synced.
    std::thread::sleep(Duration::from_millis(200));
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    drop(server);
    assert!(
        !log.join(day_name()).join("000001.idx").exists(),
        "no clean close"
    );

    let server = serve(&built, &log, &[]);
    assert!(server
        .output()
        .join("\n")
        .contains("left open by the last run indexed"));
    let history = get(
        server.public,
        &format!("/v1/history?institution={CLINIC}&serial=0x11&limit=1000"),
    );
    assert_eq!(history.json()["records"].as_array().unwrap().len(), 300);
    stop(server);
    let (entries, _) = logged(&log);
    assert_eq!(entries.len(), 300);
}

#[test]
fn operators_act_within_their_role_and_the_audit_log_names_them() {
    let built = dataset().build();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("checks");
    let sha256 = |token: &str| -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    };
    let operators = dir.path().join("operators.csv");
    std::fs::write(
        &operators,
        format!(
            "name,role,token_sha256\nsuzuki,viewer,{}\ntanaka,operator,{}\n",
            sha256("viewer-token-0123456789"),
            sha256("operator-token-0123456789")
        ),
    )
    .unwrap();
    let server = serve(&built, &log, &["--operators", operators.to_str().unwrap()]);
    let bearer = |token: &str| format!("Bearer {token}");
    let viewer = bearer("viewer-token-0123456789");
    let operator = bearer("operator-token-0123456789");
    let status = |auth: &[(&str, &str)]| request(server.admin, "GET", "/admin/status", auth, b"");
    assert_eq!(status(&[]).status, 401);
    assert_eq!(
        status(&[("Authorization", "Bearer not-a-token")]).status,
        401
    );
    assert_eq!(status(&[("Authorization", &viewer)]).status, 200);
    let activate = format!(r#"{{"path":"{}","force":true}}"#, built.out.display());
    let as_viewer = request(
        server.admin,
        "POST",
        "/admin/snapshot/activate",
        &[("Authorization", &viewer)],
        activate.as_bytes(),
    );
    assert_eq!(as_viewer.status, 403, "{}", as_viewer.body);
    assert!(
        as_viewer.body.contains("suzuki has the viewer role"),
        "{}",
        as_viewer.body
    );
    let as_operator = request(
        server.admin,
        "POST",
        "/admin/snapshot/activate",
        &[("Authorization", &operator), ("X-Operator", "someone-else")],
        activate.as_bytes(),
    );
    assert_eq!(as_operator.status, 200, "{}", as_operator.body);
    stop(server);
    let audit = std::fs::read_to_string(log.join("audit.log")).unwrap();
    let last: Value = serde_json::from_str(audit.lines().last().unwrap()).unwrap();
    assert_eq!(last["actor"], "tanaka");
    assert_eq!(last["action"], "snapshot.activate");
    // A shared admin token and operator accounts do not go together.
    let both = Server::fails_to_start(&[
        "--snapshot",
        built.out.to_str().unwrap(),
        "--operators",
        operators.to_str().unwrap(),
        "--admin-token",
        "shared-token-0123456789",
    ]);
    assert!(both.contains("operators or admin_token"), "{both}");
}

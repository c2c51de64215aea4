//! X.509 CRLs and certificates: import (DER, PEM, 20-byte serials, damaged
//! files), the activation gates, and the real server taking CRL
//! activations, rollbacks and certificate checks, also under load.

mod common;

use common::http::{get, post, Reply, Server};
use common::{branch, qualification, Dataset};
use rcgen::RevocationReason;
use serde_json::json;
use shikaku::crl::gate::{judge, CrlPolicy, StaleCrl};
use shikaku::crl::trust::CaCertificate;
use shikaku::crl::{import, store, Crl};
use shikaku::gen::pki::{CrlEntry, TestCa};
use shikaku::model::Revocation;
use shikaku::model::{Date, Serial};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

const INSTITUTION: &str = "1312345678";
/// 20 bytes, top bit set: DER needs a 21st (zero) byte to keep it positive.
const WIDE: &str = "0xff0102030405060708090a0b0c0d0e0f10111213";
/// Padding serials, so that one changed entry is well inside the ±5% gate.
const PADDING: u64 = 200;

fn serial(text: &str) -> Serial {
    Serial::parse(text).unwrap()
}

fn today() -> Date {
    Date::today_in_japan()
}

/// The CRL entries: `listed` plus the padding.
fn entries(listed: &[(&str, RevocationReason)]) -> Vec<CrlEntry> {
    listed
        .iter()
        .map(|(s, reason)| CrlEntry {
            serial: serial(s),
            revoked_on: today().add_days(-3),
            reason: *reason,
        })
        .chain((0..PADDING).map(|i| CrlEntry {
            serial: Serial::from_u64(0x7000_0000 + i),
            revoked_on: today().add_days(-10),
            reason: RevocationReason::Superseded,
        }))
        .collect()
}

/// Yesterday's list of the fixture: 0x44 revoked, 0x55 and WIDE suspended.
fn base_entries() -> Vec<CrlEntry> {
    entries(&[
        ("0x44", RevocationReason::KeyCompromise),
        ("0x55", RevocationReason::CertificateHold),
        (WIDE, RevocationReason::CertificateHold),
    ])
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn cas(ca: &TestCa) -> Vec<CaCertificate> {
    vec![CaCertificate::parse(ca.certificate_der()).unwrap()]
}

fn to_crl(imported: shikaku::crl::Imported) -> Crl {
    Crl::new(
        imported.meta.default_id(),
        Some(imported.meta),
        imported.sets,
    )
    .unwrap()
}

#[test]
fn der_and_pem_import_alike_with_hold_as_suspended_and_20_byte_serials() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(1, 0).unwrap();
    let der = ca.sign_crl(&base_entries(), today(), 2, 10).unwrap();
    let der_path = write(dir.path(), "crl.der", &der);
    let pem = der::pem::encode_string("X509 CRL", der::pem::LineEnding::LF, &der).unwrap();
    let pem_path = write(dir.path(), "crl.pem", pem.as_bytes());
    let from_der = import(&der_path, &cas(&ca)).unwrap();
    let from_pem = import(&pem_path, &cas(&ca)).unwrap();
    assert_eq!(from_der.sets, from_pem.sets);
    assert_eq!(from_der.meta.entries, 3 + PADDING);
    assert_eq!(from_der.meta.number.as_deref(), Some("10"));
    let sets = &from_der.sets;
    assert_eq!(sets.status(&serial("0x44")), Some(Revocation::Revoked));
    assert_eq!(sets.status(&serial("0x55")), Some(Revocation::Suspended));
    assert_eq!(sets.status(&serial(WIDE)), Some(Revocation::Suspended));
    assert_eq!(sets.status(&serial("0x11")), None);
    assert_eq!(sets.revoked_count(), 1 + PADDING);
    assert_eq!(sets.suspended_count(), 2);
}

#[test]
fn serials_wider_than_20_bytes_are_refused_naming_the_entry() {
    let ca = TestCa::new(1, 0).unwrap();
    let list = base_entries();
    // Serial keeps at most 20 bytes, so write the 21-byte one by hand: the
    // CRL is signed over whatever the entries hold.
    let der = ca.sign_crl(&list, today(), 2, 10).unwrap();
    let wide = serial(WIDE);
    let mut needle = vec![0x02, 21, 0x00];
    needle.extend_from_slice(wide.as_bytes());
    let at = der
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .expect("the wide serial is encoded with a leading zero");
    let mut altered = der.clone();
    altered[at + 2] = 0x01; // now 21 significant bytes
                            // The signature no longer matches, so walk the entries directly.
    let document = shikaku::crl::reader::CrlDocument::parse(&altered).unwrap();
    let error = document.for_each_entry(|_, _| {}).unwrap_err().message;
    assert!(
        error.contains("revokedCertificates entry 3") && error.contains("at most 20"),
        "{error}"
    );
}

#[test]
fn truncated_and_damaged_crls_are_refused_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(1, 0).unwrap();
    let der = ca.sign_crl(&base_entries(), today(), 2, 10).unwrap();
    let path = dir.path().join("crl.der");
    for cut in (0..der.len()).step_by(7) {
        std::fs::write(&path, &der[..cut]).unwrap();
        let error = import(&path, &cas(&ca)).unwrap_err().message;
        assert!(error.starts_with(&path.display().to_string()), "{error}");
    }
    for position in (0..der.len()).step_by(13) {
        let mut damaged = der.clone();
        damaged[position] ^= 0x5a;
        std::fs::write(&path, &damaged).unwrap();
        assert!(
            import(&path, &cas(&ca)).is_err(),
            "a CRL altered at byte {position} was accepted"
        );
    }
}

#[test]
fn wrong_signatures_and_unknown_issuers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(1, 0).unwrap();
    let impostor = TestCa::new(1, 1).unwrap();
    let forged = impostor.sign_crl(&base_entries(), today(), 2, 10).unwrap();
    let path = write(dir.path(), "crl.der", &forged);
    let error = import(&path, &cas(&ca)).unwrap_err().message;
    assert!(
        error.contains("signature: the signature does not verify"),
        "{error}"
    );
    let other_name = CaCertificate::parse(
        rcgen::generate_simple_self_signed(vec!["other.example".into()])
            .unwrap()
            .cert
            .der(),
    )
    .unwrap();
    let error = import(&path, &[other_name]).unwrap_err().message;
    assert!(error.contains("which is not the configured CA"), "{error}");
}

#[test]
fn gates_refuse_older_and_implausible_lists_unless_forced_and_alarm_when_stale() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(1, 0).unwrap();
    let crl = |name: &str, entries: &[CrlEntry], published: Date, number: u64| {
        let der = ca.sign_crl(entries, published, 2, number).unwrap();
        to_crl(import(&write(dir.path(), name, &der), &cas(&ca)).unwrap())
    };
    let live = crl("live.der", &base_entries(), today(), 10);
    let policy = CrlPolicy::default();
    let now = chrono::Utc::now();
    let older = crl("older.der", &base_entries(), today().add_days(-1), 9);
    let reasons = judge(&older, Some(&live), now, &policy, false).unwrap_err();
    assert!(
        reasons.iter().any(|r| r.contains("thisUpdate")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("CRL number 9 is below 10")),
        "{reasons:?}"
    );
    let forced = judge(&older, Some(&live), now, &policy, true).unwrap();
    assert_eq!(forced.forced.len(), 2);

    let mut grown = base_entries();
    grown.extend((0..20).map(|i| CrlEntry {
        serial: Serial::from_u64(0x9000 + i),
        revoked_on: today(),
        reason: RevocationReason::KeyCompromise,
    }));
    let newer = crl("grown.der", &grown, today().add_days(1), 11);
    let reasons = judge(&newer, Some(&live), now, &policy, false).unwrap_err();
    assert!(
        reasons[0].contains("+9.9%") && reasons[0].contains("±5.0%"),
        "{reasons:?}"
    );
    let wider = CrlPolicy {
        max_count_change: 0.10,
        ..CrlPolicy::default()
    };
    assert!(judge(&newer, Some(&live), now, &wider, false).is_ok());

    let stale = crl("stale.der", &base_entries(), today().add_days(-5), 12);
    let passed = judge(&stale, None, now, &policy, false).unwrap();
    assert!(
        passed.alarms[0].contains("past its nextUpdate"),
        "{passed:?}"
    );
    let strict = CrlPolicy {
        stale: StaleCrl::Refuse,
        ..CrlPolicy::default()
    };
    assert!(judge(&stale, None, now, &strict, false).is_err());
}

/// A snapshot whose revocations come from a signed CRL, and the CA.
struct Fixture {
    dir: tempfile::TempDir,
    ca: TestCa,
    snapshot: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("source");
        Dataset::new()
            .row(qualification("1", &branch(1), "2020-04-01"))
            .link("0x11", "1")
            .link("0x44", "1")
            .link("0x55", "1")
            .link(WIDE, "1")
            .link("0x66", "1")
            .write(&input);
        std::fs::remove_file(input.join("revoked.csv")).unwrap();
        let ca = TestCa::new(1, 0).unwrap();
        let der = ca
            .sign_crl(&base_entries(), today().add_days(-1), 2, 99)
            .unwrap();
        write(&input, "crl.der", &der);
        write(&input, "crl-issuer.pem", ca.certificate_pem().as_bytes());
        let snapshot = dir.path().join("snapshot");
        shikaku::snapshot::write::build(&common::options(&input, &snapshot, 1)).unwrap();
        Fixture { dir, ca, snapshot }
    }

    /// Signs `entries` as the list published `days` from today, number
    /// `100 + days`, and builds it into a CRL directory.
    fn crl_dir(&self, name: &str, entries: &[CrlEntry], days: i32) -> PathBuf {
        let file = self.crl_file(&format!("{name}.der"), entries, days);
        let out = self.dir.path().join(name);
        let imported = import(&file, &cas(&self.ca)).unwrap();
        store::write(&imported, &out, None).unwrap();
        out
    }

    /// Today's list: 0x11 suspended, 0x55 lifted (the same count as the base).
    fn today_dir(&self) -> PathBuf {
        self.crl_dir(
            "today",
            &entries(&[
                ("0x44", RevocationReason::KeyCompromise),
                ("0x11", RevocationReason::CertificateHold),
                (WIDE, RevocationReason::CertificateHold),
            ]),
            0,
        )
    }

    fn crl_file(&self, name: &str, entries: &[CrlEntry], days: i32) -> PathBuf {
        let number = (100 + days) as u64;
        let der = self
            .ca
            .sign_crl(entries, today().add_days(days), 2, number)
            .unwrap();
        write(self.dir.path(), name, &der)
    }

    fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec![
            "--snapshot",
            self.snapshot.to_str().unwrap(),
            "--service-hours",
            "off",
        ];
        args.extend_from_slice(extra);
        Server::ready(&args)
    }
}

fn check(server: &Server, body: serde_json::Value) -> Reply {
    post(server.public, "/v1/check/card", &body.to_string())
}

fn verdict_of(server: &Server, serial: &str) -> String {
    let reply = check(
        server,
        json!({"institution": INSTITUTION, "serial": serial}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["verdict"].as_str().unwrap().to_string()
}

fn activate_crl(server: &Server, path: &Path, force: bool) -> Reply {
    post(
        server.admin,
        "/admin/crl/activate",
        &json!({"path": path, "force": force}).to_string(),
    )
}

#[test]
fn snapshots_built_from_a_crl_record_it_and_refuse_bad_ones() {
    let fixture = Fixture::new();
    let manifest = shikaku::snapshot::Manifest::read(&fixture.snapshot).unwrap();
    let meta = manifest.crl.expect("the CRL is recorded in the manifest");
    assert_eq!(meta.entries, 3 + PADDING);
    assert_eq!(meta.number.as_deref(), Some("99"));
    let input = fixture.dir.path().join("source");
    let impostor = TestCa::new(1, 1).unwrap();
    let forged = impostor.sign_crl(&base_entries(), today(), 2, 101).unwrap();
    write(&input, "crl.der", &forged);
    let out = fixture.dir.path().join("forged");
    let error = shikaku::snapshot::write::build(&common::options(&input, &out, 1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("crl.der: signature"), "{error}");
    write(&input, "revoked.csv", b"serial,revoked_at,reason\n");
    let error = shikaku::snapshot::write::build(&common::options(&input, &out, 1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("more than one revocation source"), "{error}");
}

#[test]
fn crl_activation_rollback_and_refusals_over_http() {
    let fixture = Fixture::new();
    let server = fixture.serve(&[]);
    assert_eq!(verdict_of(&server, "0x44"), "cert_revoked");
    assert_eq!(verdict_of(&server, "0x55"), "cert_suspended");
    assert_eq!(verdict_of(&server, WIDE), "cert_suspended");
    assert_eq!(verdict_of(&server, "0x11"), "valid");
    let embedded = get(server.admin, "/admin/status").json()["crl"]["id"].clone();
    assert!(embedded.as_str().unwrap().ends_with("-99"), "{embedded}");

    let today_dir = fixture.today_dir();
    let reply = activate_crl(&server, &today_dir, false);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = reply.json()["activated"].as_str().unwrap().to_string();
    assert!(id.ends_with("-100"), "{id}");
    assert_eq!(verdict_of(&server, "0x11"), "cert_suspended");
    assert_eq!(verdict_of(&server, "0x55"), "valid");
    let answer = check(
        &server,
        json!({"institution": INSTITUTION, "serial": "0x55"}),
    )
    .json();
    assert_eq!(answer["crl"], id.as_str());
    assert_eq!(answer["snapshot"], "test.1");
    let status = get(server.admin, "/admin/status").json();
    assert_eq!(status["crl"]["id"], id.as_str());
    assert_eq!(status["crl_previous"][0]["id"], embedded);
    assert_eq!(status["live"]["id"], "test.1");
    let metrics = get(server.public, "/metrics").body;
    assert!(
        metrics.contains(&format!("shikaku_crl_info{{id=\"{id}\"}} 1")),
        "{metrics}"
    );
    assert!(metrics.contains("shikaku_crl_age_seconds"), "{metrics}");
    assert!(metrics.contains("shikaku_crl_stale 0"), "{metrics}");

    // Refusals name the reason and leave the live list serving.
    let older = fixture.crl_dir("older", &base_entries(), -2);
    let reply = activate_crl(&server, &older, false);
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.body.contains("older than the live"), "{}", reply.body);
    let forged = TestCa::new(1, 1)
        .unwrap()
        .sign_crl(&base_entries(), today().add_days(1), 2, 102)
        .unwrap();
    let forged = write(fixture.dir.path(), "forged.der", &forged);
    let reply = activate_crl(&server, &forged, true);
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.body.contains("signature"), "{}", reply.body);
    let truncated = std::fs::read(fixture.crl_file("t.der", &base_entries(), 1)).unwrap();
    let truncated = write(
        fixture.dir.path(),
        "truncated.der",
        &truncated[..truncated.len() / 2],
    );
    let reply = activate_crl(&server, &truncated, true);
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(reply.body.contains("truncated"), "{}", reply.body);
    let shrunk = fixture.crl_dir("shrunk", &entries(&[])[..100], 1);
    let reply = activate_crl(&server, &shrunk, false);
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(
        reply.body.contains("beyond the ±5.0% bound"),
        "{}",
        reply.body
    );
    assert_eq!(verdict_of(&server, "0x11"), "cert_suspended");
    let status = get(server.admin, "/admin/status").json();
    assert_eq!(status["crl"]["id"], id.as_str());
    assert!(status["crl_last_refusal"]
        .as_str()
        .unwrap()
        .contains("±5.0%"));

    // Forced past the count gate; then rolled back.
    let reply = activate_crl(&server, &shrunk, true);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.json()["forced"][0]
        .as_str()
        .unwrap()
        .contains("±5.0%"));
    assert_eq!(verdict_of(&server, "0x44"), "valid");
    let reply = post(server.admin, "/admin/crl/rollback", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["live"]["id"], id.as_str());
    assert_eq!(verdict_of(&server, "0x44"), "cert_revoked");

    // A CRL file imported at activation, checked against the live issuer.
    let tomorrow = fixture.crl_file("tomorrow.der", &base_entries(), 1);
    let reply = activate_crl(&server, &tomorrow, false);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(verdict_of(&server, "0x55"), "cert_suspended");
    assert!(get(server.public, "/metrics")
        .body
        .contains("shikaku_crl_activation_failures_total 4"));
}

#[test]
fn certificates_are_judged_by_issuer_signature_and_validity() {
    let fixture = Fixture::new();
    let server = fixture.serve(&[]);
    let ca = &fixture.ca;
    let current = |s: &str| {
        ca.issue(&serial(s), today().add_days(-100), today().add_days(1000))
            .unwrap()
    };
    let ask = |certificate: &str| {
        check(
            &server,
            json!({"institution": INSTITUTION, "certificate": certificate}),
        )
    };
    let pem = current("0x11");
    let reply = ask(&pem);
    assert_eq!(reply.json()["verdict"], "valid", "{}", reply.body);
    let base64_der: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_eq!(ask(&base64_der).json()["verdict"], "valid");
    assert_eq!(ask(&current("0x44")).json()["verdict"], "cert_revoked");
    assert_eq!(ask(&current("0x55")).json()["verdict"], "cert_suspended");
    assert_eq!(ask(&current(WIDE)).json()["verdict"], "cert_suspended");
    assert_eq!(ask(&current("0x66")).json()["verdict"], "valid");
    assert_eq!(ask(&current("0x77")).json()["verdict"], "not_linked");
    let expired = ca
        .issue(
            &serial("0x44"),
            today().add_days(-2000),
            today().add_days(-2),
        )
        .unwrap();
    assert_eq!(
        ask(&expired).json()["verdict"],
        "cert_expired",
        "expiry first"
    );
    let last_day = ca
        .issue(&serial("0x11"), today().add_days(-2000), today())
        .unwrap();
    assert_eq!(
        ask(&last_day).json()["verdict"],
        "valid",
        "valid through its last day"
    );
    let past = check(
        &server,
        json!({"institution": INSTITUTION, "certificate": expired, "date": today().add_days(-3).to_string()}),
    );
    assert_eq!(
        past.json()["verdict"],
        "cert_revoked",
        "current on the date asked"
    );

    let impostor = TestCa::new(1, 1)
        .unwrap()
        .issue(&serial("0x11"), today().add_days(-1), today().add_days(10))
        .unwrap();
    let reply = ask(&impostor);
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.code(), "certificate_rejected");
    assert!(reply.body.contains("signature"), "{}", reply.body);
    let stranger = rcgen::generate_simple_self_signed(vec!["x.example".into()])
        .unwrap()
        .cert
        .pem();
    let reply = ask(&stranger);
    assert_eq!(reply.code(), "certificate_rejected");
    assert!(
        reply.body.contains("not a user-certificate CA"),
        "{}",
        reply.body
    );
    for bad in ["MIIB", &base64_der[..base64_der.len() / 2]] {
        let reply = ask(bad);
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.code(), "bad_request");
        assert!(reply.body.contains("certificate: "), "{}", reply.body);
    }
    let bulk = format!(
        "{}\n{}\n",
        json!({"kind": "card", "institution": INSTITUTION, "certificate": pem}),
        json!({"kind": "card", "institution": INSTITUTION, "certificate": impostor})
    );
    let lines = post(server.public, "/v1/check/bulk", &bulk).lines();
    assert_eq!(lines[0]["verdict"], "valid");
    assert_eq!(lines[1]["error"]["code"], "certificate_rejected");
    drop(server);

    let lenient = fixture.serve(&["--verify-certificate-signatures", "false"]);
    let reply = check(
        &lenient,
        json!({"institution": INSTITUTION, "certificate": impostor}),
    );
    assert_eq!(reply.json()["verdict"], "valid", "{}", reply.body);
}

#[test]
fn crl_swaps_under_load_fail_no_request() {
    let fixture = Fixture::new();
    let server = fixture.serve(&[]);
    let dirs: Vec<PathBuf> = (0..6)
        .map(|day| fixture.crl_dir(&format!("day{day}"), &base_entries(), day))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let address = server.public;
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let (stop, answered) = (stop.clone(), answered.clone());
            std::thread::spawn(move || {
                let cases = [
                    ("0x11", "valid"),
                    ("0x44", "cert_revoked"),
                    ("0x55", "cert_suspended"),
                ];
                let mut i = worker;
                while !stop.load(Ordering::Relaxed) {
                    let (serial, expected) = cases[i % cases.len()];
                    let body = json!({"institution": INSTITUTION, "serial": serial}).to_string();
                    let reply = post(address, "/v1/check/card", &body);
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    assert_eq!(reply.json()["verdict"], expected, "{serial}");
                    answered.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    for dir in &dirs {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let reply = activate_crl(&server, dir, false);
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("no request failed");
    }
    assert!(answered.load(Ordering::Relaxed) > 100);
    let status = get(server.admin, "/admin/status").json();
    assert!(status["crl"]["id"].as_str().unwrap().ends_with("-105"));
}

#[test]
fn the_crl_and_user_ca_settings_are_honoured_from_the_start() {
    let fixture = Fixture::new();
    let today_dir = fixture.today_dir();
    let server = fixture.serve(&["--crl", today_dir.to_str().unwrap()]);
    assert_eq!(verdict_of(&server, "0x11"), "cert_suspended");
    let status = get(server.admin, "/admin/status").json();
    assert!(status["crl"]["source"].as_str().unwrap().ends_with("today"));
    drop(server);

    // Another CA configured: the fixture's CRLs and certificates are refused.
    let other = TestCa::new(2, 0).unwrap();
    let other_pem = write(
        fixture.dir.path(),
        "other-ca.pem",
        other.certificate_pem().as_bytes(),
    );
    let server = fixture.serve(&["--user-ca", other_pem.to_str().unwrap()]);
    let reply = activate_crl(&server, &today_dir, true);
    assert_eq!(reply.status, 409, "{}", reply.body);
    assert!(
        reply.body.contains("not a configured user-certificate CA"),
        "{}",
        reply.body
    );
    let certificate = fixture
        .ca
        .issue(&serial("0x11"), today().add_days(-1), today().add_days(10))
        .unwrap();
    let reply = check(
        &server,
        json!({"institution": INSTITUTION, "certificate": certificate}),
    );
    assert_eq!(reply.code(), "certificate_rejected", "{}", reply.body);
    let error = Server::fails_to_start(&[
        "--snapshot",
        fixture.snapshot.to_str().unwrap(),
        "--user-ca",
        fixture.dir.path().join("missing.pem").to_str().unwrap(),
    ]);
    assert!(
        error.contains("user_ca:") && error.contains("missing.pem"),
        "{error}"
    );
}

#[test]
fn a_restart_serves_the_crl_last_activated_or_rolled_back_to() {
    let fixture = Fixture::new();
    let state = fixture.dir.path().join("state");
    let serve = || fixture.serve(&["--state-dir", state.to_str().unwrap()]);
    let crl_id = |server: &Server| {
        get(server.admin, "/admin/status").json()["crl"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let server = serve();
    let embedded = crl_id(&server);
    let today_dir = fixture.today_dir();
    let reply = activate_crl(&server, &today_dir, false);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let today = crl_id(&server);
    drop(server); // SIGKILL

    let server = serve();
    assert_eq!(crl_id(&server), today);
    assert_eq!(verdict_of(&server, "0x11"), "cert_suspended");
    // A file imported at activation is read again at restart.
    let file = fixture.crl_file("tomorrow.der", &base_entries(), 1);
    let reply = activate_crl(&server, &file, false);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let tomorrow = crl_id(&server);
    drop(server);
    let server = serve();
    assert_eq!(crl_id(&server), tomorrow);
    assert_eq!(verdict_of(&server, "0x11"), "valid");
    drop(server);

    // The file replaced by another list: the start stops, naming both.
    fixture.crl_file("tomorrow.der", &base_entries(), 2);
    let error = Server::fails_to_start(&[
        "--snapshot",
        fixture.snapshot.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert!(error.contains("tomorrow.der"), "{error}");
    assert!(
        error.contains(&format!("not the recorded {tomorrow}")),
        "{error}"
    );

    // Rolled back to the snapshot's own list: that one after a restart.
    let server = fixture.serve(&["--state-dir", state.to_str().unwrap(), "--reset-state"]);
    let reply = activate_crl(&server, &today_dir, false);
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = post(server.admin, "/admin/crl/rollback", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    drop(server);
    let server = serve();
    assert_eq!(crl_id(&server), embedded);
    assert_eq!(verdict_of(&server, "0x55"), "cert_suspended");
}

#[test]
fn a_crl_directory_changed_after_its_activation_changes_nothing_served() {
    let fixture = Fixture::new();
    let server = fixture.serve(&[]);
    let today_dir = fixture.today_dir();
    let reply = activate_crl(&server, &today_dir, false);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(verdict_of(&server, "0x11"), "cert_suspended");
    // The sets were read into memory at activation: truncating or removing
    // the directory's file afterwards is not seen by checks.
    let file = today_dir.join("revocations.rkyv");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(0)
        .unwrap();
    assert_eq!(verdict_of(&server, "0x11"), "cert_suspended");
    assert_eq!(verdict_of(&server, "0x44"), "cert_revoked");
    std::fs::remove_dir_all(&today_dir).unwrap();
    assert_eq!(verdict_of(&server, "0x55"), "valid");
    assert_eq!(get(server.public, "/readyz").status, 200);
}

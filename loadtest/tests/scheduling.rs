//! The open-loop engine against the null server: requests go out on their
//! schedule whatever the server does, a stall shows in the response time
//! (from the scheduled send) and not in the service time (from the actual
//! send), and a bounded backlog drops and counts instead of hiding.
//!
//! The margins are wide on purpose (these are correctness checks of what is
//! measured from what, not timing benchmarks).

use shikaku_load::calibrate;
use shikaku_load::client::Endpoint;
use shikaku_load::null_server::{NullServer, Stall};
use shikaku_load::profile::{Profile, ProfileSpec};
use shikaku_load::runner::{self, ConnectionMode, Outcome, Progress, RunSettings};
use std::time::Duration;

fn profile(toml_text: &str) -> Profile {
    let spec: ProfileSpec = toml::from_str(toml_text).unwrap();
    Profile::from_spec(&spec).unwrap()
}

fn run(
    server: &NullServer,
    profile: &Profile,
    connections: usize,
    max_outstanding: usize,
) -> Outcome {
    run_in(
        ConnectionMode::KeepAlive,
        server,
        profile,
        connections,
        max_outstanding,
    )
}

fn run_in(
    mode: ConnectionMode,
    server: &NullServer,
    profile: &Profile,
    connections: usize,
    max_outstanding: usize,
) -> Outcome {
    let (corpus, requests) = calibrate::null_requests().unwrap();
    let settings = RunSettings {
        endpoint: Endpoint::parse(&server.url(), None, "url", None, "").unwrap(),
        admin: None,
        mode,
        connections,
        max_outstanding,
        timeout: Duration::from_secs(5),
        threads: 1,
        interval: Duration::from_millis(250),
        late_threshold: Duration::from_millis(5),
        spin: Duration::from_micros(50),
        progress: Progress::Off,
    };
    runner::run(settings, profile, requests, corpus, Vec::new()).unwrap()
}

#[test]
fn every_deadline_is_sent_and_answered() {
    let server = NullServer::start(None).unwrap();
    let outcome = run(
        &server,
        &profile("shape = \"constant\"\nrate = 400\nlength = \"2s\"\n"),
        4,
        1000,
    );
    let totals = &outcome.recorder.totals;
    assert_eq!(totals.requests.scheduled, 800);
    assert_eq!(totals.requests.sent, 800);
    assert_eq!(totals.requests.completed, 800);
    assert_eq!(totals.requests.ok, 800);
    assert_eq!(totals.checks.answered, 800);
    assert_eq!(totals.checks.mismatches, 0);
    assert_eq!(totals.requests.dropped + totals.requests.unsent, 0);
    // Intervals of 250 ms each saw about a quarter second of the schedule.
    let intervals = &outcome.recorder.intervals;
    assert!(intervals.len() >= 8, "{} intervals", intervals.len());
    let counted: u64 = intervals.iter().map(|i| i.completed).sum();
    assert_eq!(counted, 800);
    assert!(intervals
        .iter()
        .take(8)
        .all(|i| (i.target_rate - 400.0).abs() < 1.0));
}

#[test]
fn a_stall_shows_in_response_time_but_not_in_service_time() {
    // One connection, 500 requests/s; the server stops for 400 ms after its
    // 200th request. A closed-loop client would simply send less during the
    // stall and report one slow request; here ~200 requests fall due during
    // the stall and each one's wait counts.
    let server = NullServer::start(Some(Stall {
        after_requests: 200,
        pause: Duration::from_millis(400),
    }))
    .unwrap();
    let outcome = run(
        &server,
        &profile("shape = \"constant\"\nrate = 500\nlength = \"2s\"\n"),
        1,
        10_000,
    );
    let totals = &outcome.recorder.totals;
    assert_eq!(totals.requests.completed, 1000, "nothing lost");
    let response = &totals.response;
    let service = &totals.service;
    assert!(
        response.max() >= 390_000,
        "response max {} µs",
        response.max()
    );
    assert!(
        response.value_at_quantile(0.90) >= 100_000,
        "response p90 {} µs: the backlog behind the stall must show",
        response.value_at_quantile(0.90)
    );
    assert!(
        service.max() >= 390_000,
        "the stalled request itself: {} µs",
        service.max()
    );
    assert!(
        service.value_at_quantile(0.99) < 100_000,
        "service p99 {} µs: only the one stalled request is slow once sent",
        service.value_at_quantile(0.99)
    );
    assert!(
        outcome.backlog.max >= 100,
        "backlog max {}",
        outcome.backlog.max
    );
    assert!(
        totals.requests.late >= 100,
        "late sends {}",
        totals.requests.late
    );
}

#[test]
fn beyond_max_outstanding_requests_are_dropped_and_counted() {
    let server = NullServer::start(Some(Stall {
        after_requests: 50,
        pause: Duration::from_millis(500),
    }))
    .unwrap();
    let outcome = run(
        &server,
        &profile("shape = \"constant\"\nrate = 500\nlength = \"1500ms\"\n"),
        2,
        20,
    );
    let requests = &outcome.recorder.totals.requests;
    assert_eq!(requests.scheduled, 750);
    assert!(requests.dropped >= 150, "dropped {}", requests.dropped);
    assert_eq!(
        requests.scheduled,
        requests.sent + requests.dropped + requests.unsent
    );
    assert_eq!(requests.completed, requests.sent);
    assert!(outcome.backlog.max_outstanding <= 20);
}

#[test]
fn new_connection_mode_opens_one_connection_per_request() {
    let server = NullServer::start(None).unwrap();
    let profile = profile("shape = \"constant\"\nrate = 200\nlength = \"1s\"\n");
    let outcome = run_in(ConnectionMode::NewConnection, &server, &profile, 4, 1000);
    let totals = &outcome.recorder.totals;
    assert_eq!(totals.requests.completed, 200);
    assert_eq!(totals.requests.ok, 200);
    assert_eq!(totals.checks.answered, 200);
    assert_eq!(server.connections(), 200, "one connection per request");
}

#[test]
fn an_unreachable_target_fails_the_run_at_once() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (corpus, requests) = calibrate::null_requests().unwrap();
    let settings = RunSettings {
        endpoint: Endpoint::parse(&format!("http://127.0.0.1:{port}"), None, "url", None, "")
            .unwrap(),
        admin: None,
        mode: ConnectionMode::KeepAlive,
        connections: 2,
        max_outstanding: 10,
        timeout: Duration::from_secs(1),
        threads: 1,
        interval: Duration::from_secs(1),
        late_threshold: Duration::from_millis(1),
        spin: Duration::ZERO,
        progress: Progress::Off,
    };
    let profile = profile("shape = \"constant\"\nrate = 10\nlength = \"1s\"\n");
    let error = runner::run(settings, &profile, requests, corpus, Vec::new())
        .err()
        .unwrap();
    assert!(error.to_string().contains("cannot connect"), "{error}");
}

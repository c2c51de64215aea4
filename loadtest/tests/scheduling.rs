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
    let (corpus, requests) = calibrate::null_requests().unwrap();
    let settings = RunSettings {
        endpoint: Endpoint::parse(&server.url(), None, "url").unwrap(),
        admin: None,
        mode: ConnectionMode::KeepAlive,
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

//! The server's "now" comes from its clock: service hours, the default
//! treatment date and reception numbers, checked on the real server
//! (in-process, on loopback) with a clock the test holds and moves.

mod common;

use common::http::{get, post};
use common::{branch, qualification, Dataset};
use serde_json::json;
use shikaku::model::clock::micros_of_japan_day;
use shikaku::model::{Clock, FixedClock};
use shikaku::server::config::{ServeConfig, Settings};
use std::sync::Arc;

#[test]
fn service_hours_default_date_and_reception_follow_the_servers_clock() {
    let built = Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .link("0x11", "1")
        .build();
    let day = common::date("2026-03-02");
    // 07:59:30 in Japan: half a minute before the service opens.
    let clock = Arc::new(FixedClock::at_micros(micros_of_japan_day(
        day,
        7 * 3600 + 59 * 60 + 30,
    )));
    let settings = Settings {
        snapshot: Some(built.out.clone()),
        listen: Some("127.0.0.1:0".parse().unwrap()),
        admin_listen: Some("127.0.0.1:0".parse().unwrap()),
        service_hours: Some("08:00-21:00".into()),
        ..Settings::default()
    };
    let mut config = ServeConfig::from_settings(settings, false).unwrap();
    config.clock = clock.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || shikaku::server::run(config, |bound| sender.send(bound).unwrap()));
    let bound = receiver.recv().unwrap();
    let body = json!({"institution": "1312345678", "serial": "0x11"}).to_string();
    let mut closed = None;
    for _ in 0..600 {
        let reply = post(bound.public, "/v1/check/card", &body);
        if reply.code() == "outside_service_hours" {
            closed = Some(reply);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let closed = closed.expect("the server never answered outside_service_hours");
    assert_eq!(closed.status, 503);
    assert_eq!(
        closed.header("retry-after"),
        Some("60"),
        "opens in one minute"
    );
    let status = get(bound.admin, "/admin/status").json();
    assert_eq!(status["open_now"], false);

    clock.advance_micros(30 * 1_000_000);
    let open = post(bound.public, "/v1/check/card", &body);
    assert_eq!(open.status, 200, "{}", open.body);
    let answer = open.json();
    assert_eq!(answer["verdict"], "valid");
    assert_eq!(
        answer["date"], "2026-03-02",
        "the default date is the clock's day"
    );
    let reception = answer["reception"].as_str().unwrap();
    assert!(
        reception.starts_with("20260302080000-"),
        "the reception number carries the clock's time: {reception}"
    );
    assert_eq!(get(bound.admin, "/admin/status").json()["open_now"], true);
    assert_eq!(clock.today(), day);
}

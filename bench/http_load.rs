//! A small open-loop HTTP load client for the measurements in
//! docs/performance.md (the full harness is the `loadtest` crate).
//!
//! Requests are sent on a fixed schedule (`--rate` per second, spread over
//! `--connections` keep-alive connections); latency is measured from the
//! *scheduled* send time, so a stall shows up in full instead of being hidden
//! by the client waiting (no coordinated omission), and also from the actual
//! send (service time). tokio's timers have millisecond granularity, so the
//! scheduled-time figures include up to ~1 ms of the client's own lateness;
//! the service-time figures do not. Bodies are check requests drawn from a
//! snapshot's own keys.
//!
//! ```text
//! cargo run --release --example http_load -- --url http://127.0.0.1:8080 \
//!     --snapshot SNAPSHOT_DIR --rate 1000 --connections 16 --seconds 30 [--bulk 100]
//! cargo run --release --example http_load -- --snapshot SNAPSHOT_DIR --write-bodies FILE
//! ```

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use shikaku::engine::sample::sample_queries;
use shikaku::server::check_request;
use shikaku::snapshot::Snapshot;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Options {
    url: String,
    snapshot: String,
    rate: f64,
    connections: usize,
    seconds: f64,
    bulk: usize,
    write_bodies: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        url: "http://127.0.0.1:8080".into(),
        snapshot: String::new(),
        rate: 1000.0,
        connections: 16,
        seconds: 30.0,
        bulk: 0,
        write_bodies: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).cloned().unwrap_or_default();
        match pair[0].as_str() {
            "--url" => o.url = value,
            "--snapshot" => o.snapshot = value,
            "--rate" => o.rate = value.parse().expect("--rate"),
            "--connections" => o.connections = value.parse().expect("--connections"),
            "--seconds" => o.seconds = value.parse().expect("--seconds"),
            "--bulk" => o.bulk = value.parse().expect("--bulk"),
            "--write-bodies" => o.write_bodies = Some(value),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

fn main() {
    let o = options();
    let snapshot = Snapshot::open(std::path::Path::new(&o.snapshot)).expect("open the snapshot");
    let bodies: Vec<(&'static str, String)> = sample_queries(&snapshot, 2_000)
        .iter()
        .map(|query| {
            let (path, body) = check_request(query, "1312345678");
            (path, body.to_string())
        })
        .collect();
    if let Some(path) = &o.write_bodies {
        // One line per request: path, a tab, the body (for the wrk script).
        let text: String = bodies.iter().map(|(p, b)| format!("{p}\t{b}\n")).collect();
        std::fs::write(path, text).expect("write bodies");
        println!("{} request bodies written to {path}", bodies.len());
        return;
    }
    let requests: Vec<(&'static str, Bytes)> = if o.bulk > 0 {
        bodies
            .chunks(o.bulk)
            .map(|chunk| {
                let lines: String = chunk
                    .iter()
                    .map(|(path, body)| {
                        let kind = if path.ends_with("card") {
                            "card"
                        } else {
                            "number"
                        };
                        format!("{{\"kind\":\"{kind}\",{}\n", &body[1..])
                    })
                    .collect();
                ("/v1/check/bulk", Bytes::from(lines))
            })
            .collect()
    } else {
        bodies
            .into_iter()
            .map(|(p, b)| (p, Bytes::from(b)))
            .collect()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(o, Arc::new(requests)));
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

async fn run(o: Options, requests: Arc<Vec<(&'static str, Bytes)>>) {
    let authority = o.url.trim_start_matches("http://").to_string();
    let total = (o.rate * o.seconds) as u64;
    let interval = Duration::from_secs_f64(o.connections as f64 / o.rate);
    let histogram = Arc::new(Mutex::new((new_histogram(), new_histogram())));
    let failures = Arc::new(Mutex::new(0u64));
    let start = Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::new();
    for c in 0..o.connections {
        let (authority, requests, histogram, failures) = (
            authority.clone(),
            requests.clone(),
            histogram.clone(),
            failures.clone(),
        );
        let per_connection = total / o.connections as u64;
        let offset = interval.mul_f64(c as f64 / o.connections as f64);
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&authority)
                .await
                .expect("connect");
            stream.set_nodelay(true).unwrap();
            let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .expect("handshake");
            tokio::spawn(connection);
            let mut response_time = new_histogram();
            let mut service_time = new_histogram();
            let mut bad = 0u64;
            for i in 0..per_connection {
                let scheduled = start + offset + interval.mul_f64(i as f64);
                tokio::time::sleep_until(scheduled.into()).await;
                let sent = Instant::now();
                let (path, body) = &requests[(i as usize * o.connections + c) % requests.len()];
                let request = Request::post(*path)
                    .header("host", authority.as_str())
                    .header("content-type", "application/json")
                    .body(Full::new(body.clone()))
                    .unwrap();
                let ok = match sender.send_request(request).await {
                    Ok(response) => {
                        let status = response.status();
                        response.into_body().collect().await.is_ok() && status == 200
                    }
                    Err(_) => false,
                };
                if !ok {
                    bad += 1;
                }
                response_time.saturating_record((scheduled.elapsed().as_micros() as u64).max(1));
                service_time.saturating_record((sent.elapsed().as_micros() as u64).max(1));
            }
            let mut both = histogram.lock().unwrap();
            both.0.add(&response_time).unwrap();
            both.1.add(&service_time).unwrap();
            *failures.lock().unwrap() += bad;
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let both = histogram.lock().unwrap();
    let h = &both.0;
    println!(
        "sent {} requests in {elapsed:.1} s = {:.0} req/s (target {}), failures {}{}",
        h.len(),
        h.len() as f64 / elapsed,
        o.rate,
        failures.lock().unwrap(),
        if o.bulk > 0 {
            format!(", {} checks per request", o.bulk)
        } else {
            String::new()
        }
    );
    for (what, h) in [("scheduled send", &both.0), ("actual send", &both.1)] {
        println!(
            "latency from {what} (µs): p50 {} p90 {} p99 {} p99.9 {} max {}",
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.90),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    }
}

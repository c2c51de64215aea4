//! `shikaku-load calibrate`: the harness measured against its own null
//! server, so a team knows which part of a reported latency is the
//! harness's and how fast it can generate load on this machine.
//!
//! Three measurements: the loopback floor (a plain blocking socket sending
//! the same request and waiting for the answer, the least any client can
//! pay), the harness at a modest rate on one connection (its added latency
//! over that floor), and the harness at a rate beyond what it can generate
//! (its maximum).

use crate::client::Endpoint;
use crate::corpus::{Check, Corpus, Kind};
use crate::mix::{self, Caller, MixSpec, Prepared};
use crate::null_server::NullServer;
use crate::profile::{Profile, ProfileSpec};
use crate::recorder::{new_histogram, percentiles};
use crate::runner::{self, ConnectionMode, Outcome, Progress, RunSettings};
use crate::summary::Percentiles;
use anyhow::{anyhow, Context, Result};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct CalibrateOptions {
    /// Seconds of each measurement.
    pub seconds: f64,
    /// Rate of the latency measurement (one connection).
    pub latency_rate: f64,
    /// Rate asked for in the throughput measurement.
    pub max_rate: f64,
    /// Connections of the throughput measurement.
    pub connections: usize,
    /// Client runtime threads.
    pub threads: usize,
}

/// What calibration found.
#[derive(Debug, serde::Serialize)]
pub struct Calibration {
    /// Plain blocking socket, request → answer, closed loop (µs).
    pub loopback_floor: Percentiles,
    /// The harness on one connection at `latency_rate` (µs).
    pub service: Percentiles,
    pub response: Percentiles,
    pub send_lag: Percentiles,
    /// Harness p50 service time minus the floor's p50 (µs).
    pub added_p50_us: i64,
    pub latency_rate: f64,
    /// Requests asked for and answered per second at full speed.
    pub max_target_rate: f64,
    pub max_achieved_rate: f64,
    pub max_run_p99_us: u64,
}

pub fn calibrate(options: &CalibrateOptions) -> Result<Calibration> {
    let server = NullServer::start(None).context("cannot start the null server")?;
    let endpoint = Endpoint::parse(&server.url(), None, "null server", None, "")?;
    let floor = loopback_floor(&server, options.seconds)?;
    let latency = run_constant(
        &endpoint,
        options.latency_rate,
        options.seconds,
        1,
        options.threads,
        Duration::from_micros(60),
    )?;
    let throughput = run_constant(
        &endpoint,
        options.max_rate,
        options.seconds,
        options.connections,
        options.threads,
        Duration::ZERO,
    )?;
    let totals = &latency.recorder.totals;
    let service = percentiles(&totals.service);
    let throughput_totals = &throughput.recorder.totals;
    if totals.requests.failed + throughput_totals.requests.failed > 0 {
        return Err(anyhow!(
            "requests to the null server failed: {:?}",
            throughput_totals.errors.examples
        ));
    }
    let answered = throughput_totals.requests.completed as f64;
    Ok(Calibration {
        added_p50_us: service.p50 as i64 - floor.p50 as i64,
        loopback_floor: floor,
        service,
        response: percentiles(&totals.response),
        send_lag: percentiles(&totals.send_lag),
        latency_rate: options.latency_rate,
        max_target_rate: options.max_rate,
        max_achieved_rate: answered / throughput.elapsed.as_secs_f64().max(options.seconds),
        max_run_p99_us: throughput_totals.service.value_at_quantile(0.99),
    })
}

/// The least a client can pay: one request, then spin on the socket until
/// the whole answer is in (no sleeping, so no wake-up cost on this side),
/// again and again.
fn loopback_floor(server: &NullServer, seconds: f64) -> Result<Percentiles> {
    let mut stream = std::net::TcpStream::connect(server.addr)?;
    stream.set_nodelay(true)?;
    stream.set_nonblocking(true)?;
    let body = br#"{"institution":"1312345678","serial":"1"}"#;
    let request = format!(
        "POST /v1/check/card HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        server.addr,
        body.len()
    );
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    let answer_length = crate::null_server::response_length(true);
    let mut answer = vec![0u8; answer_length];
    let mut histogram = new_histogram();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        let sent = Instant::now();
        stream.write_all(&request)?;
        read_spinning(&mut stream, &mut answer)?;
        histogram.saturating_record((sent.elapsed().as_micros() as u64).max(1));
    }
    Ok(percentiles(&histogram))
}

fn read_spinning(stream: &mut std::net::TcpStream, into: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < into.len() {
        match stream.read(&mut into[filled..]) {
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(read) => filled += read,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One card check the null server answers as expected (`valid`), and the
/// corpus it comes from.
pub fn null_requests() -> Result<(Arc<Corpus>, Arc<Vec<Prepared>>)> {
    let corpus = Corpus {
        checks: vec![Check {
            kind: Kind::Card,
            expected: "valid".into(),
            request: serde_json::Map::from_iter([("serial".to_string(), "1".into())]),
        }],
    };
    let mix = MixSpec {
        card: 1.0,
        online_number: 0.0,
        card_face: 0.0,
        cycle: 1,
        ..MixSpec::default()
    };
    let caller = Caller {
        institution: "1312345678".into(),
    };
    let requests = mix::prepare(&corpus, &mix, &caller)?;
    Ok((Arc::new(corpus), Arc::new(requests)))
}

fn run_constant(
    endpoint: &Endpoint,
    rate: f64,
    seconds: f64,
    connections: usize,
    threads: usize,
    spin: Duration,
) -> Result<Outcome> {
    let spec: ProfileSpec = toml::from_str(&format!(
        "shape = \"constant\"\nrate = {rate}\nlength = \"{seconds}s\"\n"
    ))?;
    let profile = Profile::from_spec(&spec).map_err(|e| anyhow!(e))?;
    let (corpus, requests) = null_requests()?;
    let settings = RunSettings {
        endpoint: endpoint.clone(),
        admin: None,
        mode: ConnectionMode::KeepAlive,
        connections,
        max_outstanding: (rate as usize).max(1000),
        timeout: Duration::from_secs(5),
        threads,
        interval: Duration::from_secs(1),
        late_threshold: Duration::from_millis(1),
        spin,
        progress: Progress::Off,
    };
    runner::run(settings, &profile, requests, corpus, Vec::new())
}

pub fn print(calibration: &Calibration, out: &mut impl Write) -> std::io::Result<()> {
    let c = calibration;
    writeln!(
        out,
        "shikaku-load calibrate: the harness against its null server on this machine"
    )?;
    writeln!(
        out,
        "                          p50      p90      p99    p99.9      max   (µs)"
    )?;
    for (name, p) in [
        ("loopback floor", &c.loopback_floor),
        ("harness service", &c.service),
        ("harness response", &c.response),
        ("harness send lag", &c.send_lag),
    ] {
        writeln!(
            out,
            "  {name:<18} {:>8} {:>8} {:>8} {:>8} {:>8}",
            p.p50, p.p90, p.p99, p.p99_9, p.max
        )?;
    }
    writeln!(
        out,
        "  added latency at 1 connection, {:.0} req/s: {} µs at p50 (harness service p50 minus the loopback floor)",
        c.latency_rate, c.added_p50_us
    )?;
    writeln!(
        out,
        "  maximum rate: {:.0} req/s answered when {:.0} req/s were asked (service p99 {} µs)",
        c.max_achieved_rate, c.max_target_rate, c.max_run_p99_us
    )
}

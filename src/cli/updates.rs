//! `shikaku updates apply FILE`: streams an NDJSON file of update messages
//! (`CONTRACT.md` §4) to a running server's `POST /admin/updates` and
//! prints the result lines as they come back.

use crate::model::Date;
use crate::snapshot::Snapshot;
use crate::updates::generate::{generate, GenerateOptions};
use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::channel::Channel;
use http_body_util::BodyExt;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Bytes of the file sent per chunk.
const CHUNK_BYTES: usize = 256 * 1024;

#[derive(Subcommand, Debug)]
pub(super) enum UpdatesCommand {
    /// Send update messages to a running server; print one result line per message.
    Apply(ApplyArgs),
    /// Write synthetic update messages drawn from a snapshot (for tests and load measurements).
    Gen(GenArgs),
}

#[derive(Args, Debug)]
pub(super) struct GenArgs {
    /// Snapshot the messages are drawn from (and valid over, applied in order).
    #[arg(long)]
    snapshot: PathBuf,
    /// Number of messages.
    #[arg(long)]
    count: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// NDJSON file to write.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
pub(super) struct ApplyArgs {
    /// NDJSON file of update messages.
    file: PathBuf,
    /// The server's administrative listener.
    #[arg(long, default_value = "127.0.0.1:8081", env = "SHIKAKU_ADMIN_ADDR")]
    admin: SocketAddr,
    /// Bearer token of the admin API, if it has one.
    #[arg(long, env = "SHIKAKU_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Print only the error lines (and the summary).
    #[arg(long)]
    errors_only: bool,
    /// Send at most this many messages per second (e.g. to work off a
    /// backlog during service hours without crowding out checks).
    #[arg(long)]
    rate: Option<u32>,
}

/// Counts of result lines.
#[derive(Default, Debug, PartialEq, Eq)]
pub(super) struct ApplyTally {
    pub applied: u64,
    pub duplicates: u64,
    pub errors: u64,
}

impl ApplyTally {
    /// Counts one result line; true when it is an error.
    fn count(&mut self, line: &[u8]) -> bool {
        let has = |needle: &[u8]| line.windows(needle.len()).any(|w| w == needle);
        if has(b"\"result\":\"ok\"") {
            if has(b"\"duplicate\":true") {
                self.duplicates += 1;
            } else {
                self.applied += 1;
            }
            false
        } else {
            self.errors += 1;
            true
        }
    }
}

pub(super) fn run(command: UpdatesCommand) -> anyhow::Result<()> {
    match command {
        UpdatesCommand::Apply(args) => run_apply(&args),
        UpdatesCommand::Gen(args) => run_gen(&args),
    }
}

fn run_gen(args: &GenArgs) -> anyhow::Result<()> {
    let snapshot = Snapshot::open(&args.snapshot)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.snapshot.display()))?;
    let file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let options = GenerateOptions {
        count: args.count,
        seed: args.seed,
        today: Date::today_in_japan(),
    };
    let made = generate(&snapshot, &options, |line| {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        Ok(())
    })?;
    out.flush()
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("wrote {made} update messages to {}", args.out.display());
    Ok(())
}

fn run_apply(args: &ApplyArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let tally = runtime.block_on(apply(args))?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{} applied, {} duplicates, {} errors in {seconds:.2} s ({:.0} messages/s)",
        tally.applied,
        tally.duplicates,
        tally.errors,
        (tally.applied + tally.duplicates + tally.errors) as f64 / seconds.max(1e-9)
    );
    if tally.errors > 0 {
        bail!(
            "{} message(s) were refused (see the error lines)",
            tally.errors
        );
    }
    Ok(())
}

async fn apply(args: &ApplyArgs) -> anyhow::Result<ApplyTally> {
    let file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let stream = tokio::net::TcpStream::connect(args.admin)
        .await
        .with_context(|| format!("cannot connect to the admin listener {}", args.admin))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake with the admin listener failed")?;
    tokio::spawn(connection);
    let (body_sender, body) = Channel::<Bytes, std::io::Error>::new(4);
    let path = args.file.clone();
    match args.rate {
        Some(rate) => tokio::spawn(send_paced(file, body_sender, path, rate.max(1))),
        None => tokio::spawn(send_file(file, body_sender, path)),
    };
    let mut request = Request::post("/admin/updates")
        .header(HOST, args.admin.to_string())
        .header(CONTENT_TYPE, "application/x-ndjson");
    if let Some(token) = &args.admin_token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = sender
        .send_request(request.body(body)?)
        .await
        .context("the admin listener did not answer")?;
    let status = response.status();
    let mut body = response.into_body();
    if !status.is_success() {
        let text = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        bail!(
            "POST /admin/updates: {status}: {}",
            String::from_utf8_lossy(&text).trim()
        );
    }
    let mut tally = ApplyTally::default();
    let mut pending = Vec::new();
    let stdout = std::io::stdout();
    while let Some(frame) = body.frame().await {
        let frame = frame.context("the result stream broke off")?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        let mut out = stdout.lock();
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            if tally.count(&line) || !args.errors_only {
                out.write_all(&line)?;
            }
        }
    }
    Ok(tally)
}

/// Streams the file into the request body at most `rate` lines a second,
/// in slices of 10 ms.
async fn send_paced(
    file: tokio::fs::File,
    mut body: http_body_util::channel::Sender<Bytes, std::io::Error>,
    path: PathBuf,
    rate: u32,
) {
    let mut lines = tokio::io::BufReader::with_capacity(CHUNK_BYTES, file).lines();
    let per_slice = (rate / 100).max(1);
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(10));
    loop {
        tick.tick().await;
        let mut chunk = Vec::new();
        for _ in 0..per_slice {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    chunk.extend_from_slice(line.as_bytes());
                    chunk.push(b'\n');
                }
                Ok(None) => break,
                Err(error) => {
                    eprintln!("{}: {error}", path.display());
                    body.abort(error);
                    return;
                }
            }
        }
        if chunk.is_empty() || body.send_data(Bytes::from(chunk)).await.is_err() {
            return;
        }
    }
}

/// Streams the file into the request body.
async fn send_file(
    mut file: tokio::fs::File,
    mut body: http_body_util::channel::Sender<Bytes, std::io::Error>,
    path: PathBuf,
) {
    let mut buffer = vec![0u8; CHUNK_BYTES];
    loop {
        match file.read(&mut buffer).await {
            Ok(0) => return,
            Ok(n) => {
                if body
                    .send_data(Bytes::copy_from_slice(&buffer[..n]))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => {
                eprintln!("{}: {error}", path.display());
                body.abort(error);
                return;
            }
        }
    }
}

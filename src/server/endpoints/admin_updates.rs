//! `POST /admin/updates` (`CONTRACT.md` §4): update messages as NDJSON in,
//! one result line per message out, in order, streamed both ways.
//!
//! Lines are cut here and handed to the ingest task in batches of what has
//! arrived (it parses them on its own, lower-priority thread); results are
//! written back as each batch is committed. A client that stops reading stops the server reading too.

use crate::engine::json::{write_opt_str, write_str};
use crate::model::ErrorCode;
use crate::server::http::ndjson::{is_blank, next_chunk, LineSplitter, Piece};
use crate::server::http::response::{with_type, ApiError, Body};
use crate::server::serving::ingest::{
    Ingest, Line, LineOutcome, LineResult, MAX_UPDATE_LINE_BYTES,
};
use crate::server::App;
use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;

/// Result chunks buffered towards a slow client before reading pauses.
const CHANNEL_CHUNKS: usize = 4;

pub(crate) fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    actor: String,
) -> Result<Response<Body>, ApiError> {
    if app.ingest.is_none() {
        return Err(ApiError::new(
            ErrorCode::Refused,
            "updates need a journal: start the server with --journal DIR (or `journal` in the settings file)",
        ));
    }
    let (sender, body) = Channel::new(CHANNEL_CHUNKS);
    tokio::spawn(stream(app, request.into_body(), sender, actor));
    let mut response = with_type(StatusCode::OK, Vec::new(), "application/x-ndjson");
    *response.body_mut() = Either::Right(body);
    Ok(response)
}

/// Streams one request's messages; the audit log gets what was applied
/// once the stream ends (however it ends).
async fn stream(app: Arc<App>, body: Incoming, sender: Sender<Bytes>, actor: String) {
    let mut batch = Batch::default();
    stream_lines(&app, body, sender, &mut batch).await;
    let tally = &batch.tally;
    app.audit(
        &actor,
        "updates.apply",
        serde_json::json!({
            "lines": batch.number,
            "applied": tally.applied,
            "duplicates": tally.duplicates,
            "refused": tally.refused,
            "first_lsn": tally.first_lsn,
            "last_lsn": tally.last_lsn,
        }),
    );
}

async fn stream_lines(app: &App, mut body: Incoming, mut sender: Sender<Bytes>, batch: &mut Batch) {
    let Some(ingest) = app.ingest.as_ref() else {
        return;
    };
    let mut lines = LineSplitter::new(MAX_UPDATE_LINE_BYTES);
    loop {
        let data = match next_chunk(&mut body, app.config.idle_timeout).await {
            Ok(Some(data)) => data,
            Ok(None) => break,
            Err(error) => {
                batch.out.extend_from_slice(&error_line(
                    None,
                    &error.message,
                    error.code.as_str(),
                    batch.number + 1,
                ));
                break;
            }
        };
        lines.feed(&data, &mut |piece| batch.piece(piece));
        // What has arrived goes to the writer at once: a message is never
        // held back waiting for more to fill a batch.
        if !batch.commit(ingest, &mut sender).await {
            return;
        }
    }
    lines.finish(&mut |piece| batch.piece(piece));
    batch.commit(ingest, &mut sender).await;
}

/// Lines read and not yet answered, and answers not yet sent.
#[derive(Default)]
struct Batch {
    lines: Vec<Line>,
    /// Number of the last line seen (1-based).
    number: u64,
    out: Vec<u8>,
    tally: StreamTally,
}

/// What a stream's messages came to, for the audit log.
#[derive(Default)]
struct StreamTally {
    applied: u64,
    duplicates: u64,
    refused: u64,
    first_lsn: Option<u64>,
    last_lsn: Option<u64>,
}

impl StreamTally {
    fn count(&mut self, outcome: &LineOutcome) {
        match outcome {
            LineOutcome::Applied { lsn } => {
                self.applied += 1;
                self.first_lsn.get_or_insert(*lsn);
                self.last_lsn = Some(*lsn);
            }
            LineOutcome::Duplicate => self.duplicates += 1,
            LineOutcome::Error { .. } => self.refused += 1,
        }
    }
}

impl Batch {
    fn piece(&mut self, piece: Piece<'_>) {
        self.number += 1;
        let raw = match piece {
            Piece::Line(line) if is_blank(line) => return,
            Piece::Line(line) => Some(line.to_vec()),
            Piece::TooLong => None,
        };
        self.lines.push(Line {
            number: self.number,
            raw,
        });
    }

    /// Sends the lines to the ingest task and their results to the client;
    /// false when the client has gone.
    async fn commit(&mut self, ingest: &Ingest, sender: &mut Sender<Bytes>) -> bool {
        if !self.lines.is_empty() {
            let lines = std::mem::take(&mut self.lines);
            let numbers: Vec<u64> = lines.iter().map(|l| l.number).collect();
            match ingest.apply(lines).await {
                Ok(results) => {
                    for result in &results {
                        self.tally.count(&result.outcome);
                        write_result(&mut self.out, result);
                    }
                }
                Err(reason) => {
                    self.tally.refused += numbers.len() as u64;
                    for number in numbers {
                        self.out
                            .extend_from_slice(&error_line(None, &reason, "internal", number));
                    }
                }
            }
        }
        if self.out.is_empty() {
            return true;
        }
        let chunk = Bytes::from(std::mem::take(&mut self.out));
        sender.send_data(chunk).await.is_ok()
    }
}

/// One result line (`CONTRACT.md` §4), with the line number on errors.
fn write_result(out: &mut Vec<u8>, result: &LineResult) {
    match &result.outcome {
        LineOutcome::Applied { lsn } => {
            out.extend_from_slice(b"{\"process_id\":");
            write_opt_str(out, result.process_id.as_deref());
            out.extend_from_slice(b",\"result\":\"ok\",\"lsn\":");
            out.extend_from_slice(itoa::Buffer::new().format(*lsn).as_bytes());
            out.extend_from_slice(b"}\n");
        }
        LineOutcome::Duplicate => {
            out.extend_from_slice(b"{\"process_id\":");
            write_opt_str(out, result.process_id.as_deref());
            out.extend_from_slice(b",\"result\":\"ok\",\"duplicate\":true}\n");
        }
        LineOutcome::Error { code, message } => out.extend_from_slice(&error_line(
            result.process_id.as_deref(),
            message,
            code,
            result.number,
        )),
    }
}

fn error_line(process_id: Option<&str>, message: &str, code: &str, line: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + message.len());
    out.extend_from_slice(b"{\"process_id\":");
    write_opt_str(&mut out, process_id);
    out.extend_from_slice(b",\"result\":\"error\",\"code\":");
    write_str(&mut out, code);
    out.extend_from_slice(b",\"message\":");
    write_str(&mut out, message);
    out.extend_from_slice(b",\"line\":");
    out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
    out.extend_from_slice(b"}\n");
    out
}

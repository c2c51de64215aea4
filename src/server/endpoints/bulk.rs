//! `POST /v1/check/bulk`: NDJSON in, NDJSON out, one answer per line in
//! order, streamed both ways.
//!
//! Memory is bounded whatever the number of lines: at most one partial line
//! (up to `max_bulk_line_bytes`) is buffered on the way in, and answers go
//! out through a small channel, so a client that stops reading stops the
//! server reading too. A bad line gets an error line (with its line number
//! and `client_ref`) and the rest carry on. Every line is answered from the
//! generation (snapshot and overlay) that was live when the request was
//! admitted.

use crate::checklog::record::Via;
use crate::engine::rules::Rules;
use crate::engine::View;
use crate::model::ErrorCode;
use crate::model::Outcome;
use crate::model::Verdict;
use crate::server::endpoints::check::answer_from;
use crate::server::endpoints::logging::{outcome, Facts};
use crate::server::http::admission::{admit, authorize, no_snapshot, rules, InFlight};
use crate::server::http::ndjson::{is_blank, next_chunk, LineSplitter, Piece};
use crate::server::http::response::{with_type, ApiError, Body};
use crate::server::institutions::Credential;
use crate::server::metrics::Endpoint;
use crate::server::request::{institution_of, parse_check};
use crate::server::serving::crl::CrlGeneration;
use crate::server::serving::generation::Generation;
use crate::server::App;
use crate::updates::overlay::Overlay;
use bytes::Bytes;
use http_body_util::channel::{Channel, Sender};
use http_body_util::Either;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Instant;

/// Answers are sent once this many bytes are waiting.
const FLUSH_BYTES: usize = 32 * 1024;
/// Answer chunks buffered towards a slow client before reading pauses.
const CHANNEL_CHUNKS: usize = 4;

pub(crate) async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
    started: Instant,
) -> Response<Body> {
    let admitted = admit(&app, &request);
    let admitted = admitted.and_then(|admitted| {
        let generation = app.live.current().ok_or_else(no_snapshot)?;
        let crl = app.crl.current().ok_or_else(no_snapshot)?;
        Ok((admitted, (generation, crl)))
    });
    let (admitted, (generation, crl)) = match admitted {
        Ok(admitted) => admitted,
        Err(error) => {
            app.metrics.error(Endpoint::Bulk, error.code);
            if let Some(log) = &app.check_log {
                let outcome = Outcome::Error(error.code);
                let record = Facts::default().encode(
                    outcome,
                    Via::Bulk,
                    started.elapsed(),
                    app.config.clock.now_micros(),
                );
                log.send_waiting(record).await;
            }
            return error.response(app.config.retry_after);
        }
    };
    let (sender, body) = Channel::new(CHANNEL_CHUNKS);
    let job = Job {
        rules: rules(&app, admitted.now),
        app,
        overlay: generation.overlay.load_full(),
        generation,
        crl,
        credential: admitted.credential,
        sender,
        out: Vec::with_capacity(FLUSH_BYTES * 2),
        records: Vec::new(),
        line: 0,
    };
    tokio::spawn(job.run(request.into_body(), admitted.slot, started));
    let mut response = with_type(StatusCode::OK, Vec::new(), "application/x-ndjson");
    *response.body_mut() = Either::Right(body);
    response
}

/// One bulk request in progress.
struct Job {
    app: Arc<App>,
    generation: Arc<Generation>,
    /// The generation's overlay as it was when the request was admitted.
    overlay: Arc<Overlay>,
    crl: Arc<CrlGeneration>,
    rules: Rules,
    credential: Credential,
    sender: Sender<Bytes>,
    out: Vec<u8>,
    /// Check-log records of the answers in `out`, queued before `out` is sent.
    records: Vec<Vec<u8>>,
    /// Number of the last line seen (1-based).
    line: u64,
}

impl Job {
    async fn run(mut self, mut body: Incoming, slot: InFlight, started: Instant) {
        let idle = self.app.config.idle_timeout;
        let mut lines = LineSplitter::new(self.app.config.max_bulk_line_bytes);
        loop {
            let data = match next_chunk(&mut body, idle).await {
                Ok(Some(data)) => data,
                Ok(None) => break,
                Err(error) => {
                    self.fail(error);
                    break;
                }
            };
            lines.feed(&data, &mut |piece| self.piece(piece));
            self.log().await;
            if self.out.len() >= FLUSH_BYTES && !self.flush().await {
                return;
            }
        }
        lines.finish(&mut |piece| self.piece(piece));
        self.log().await;
        self.flush().await;
        self.app.metrics.latency(Endpoint::Bulk, started.elapsed());
        drop(slot);
    }

    fn piece(&mut self, piece: Piece<'_>) {
        let started = Instant::now();
        self.line += 1;
        let mut facts = Facts::default();
        let (result, client_ref) = match piece {
            Piece::Line(text) if is_blank(text) => return,
            Piece::Line(text) => self.line_answer(text, &mut facts),
            Piece::TooLong => (
                Err(line_too_long(self.app.config.max_bulk_line_bytes)),
                None,
            ),
        };
        if self.app.check_log.is_some() {
            let outcome = outcome(&result, |verdict| *verdict);
            let record = facts.encode(
                outcome,
                Via::Bulk,
                started.elapsed(),
                self.app.config.clock.now_micros(),
            );
            self.records.push(record);
        }
        match result {
            Ok(verdict) => {
                self.out.push(b'\n');
                self.app.metrics.verdict(Endpoint::Bulk, verdict);
            }
            Err(error) => self.line_error(error, client_ref.as_deref()),
        }
    }

    /// Answers one line into `out`; on error, the error and the line's
    /// `client_ref` to echo (blank lines are counted but not answered).
    fn line_answer(
        &mut self,
        text: &[u8],
        facts: &mut Facts,
    ) -> (Result<Verdict, ApiError>, Option<String>) {
        let request = match parse_check(text, None, &self.rules) {
            Ok(request) => request,
            Err((error, client_ref)) => {
                facts.institution = institution_of(text);
                return (Err(error), client_ref);
            }
        };
        facts.request(&request);
        if let Err(error) = authorize(&self.app, &request.institution, self.credential) {
            return (Err(error), request.client_ref);
        }
        let view = View::new(&self.generation.snapshot, &self.overlay);
        let now = self.app.config.clock.now_micros();
        match answer_from(
            view,
            &self.crl,
            &self.app.trust,
            &request,
            now,
            &mut self.out,
        ) {
            Ok(answered) => {
                let verdict = answered.verdict;
                facts.answered = Some(answered);
                (Ok(verdict), None)
            }
            Err(error) => (Err(error), request.client_ref),
        }
    }

    fn line_error(&mut self, error: ApiError, client_ref: Option<&str>) {
        self.app.metrics.error(Endpoint::Bulk, error.code);
        error.write_json(&mut self.out, Some(self.line), client_ref);
        self.out.push(b'\n');
    }

    /// A last error line when the request itself breaks off.
    fn fail(&mut self, error: ApiError) {
        self.line += 1;
        self.line_error(error, None);
    }

    /// Queues the check-log records of the answers about to be sent.
    async fn log(&mut self) {
        if let Some(log) = &self.app.check_log {
            for record in self.records.drain(..) {
                log.send_waiting(record).await;
            }
        }
    }

    /// Sends the answers waiting; false when the client has gone.
    async fn flush(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.out,
            Vec::with_capacity(FLUSH_BYTES * 2),
        ));
        self.sender.send_data(chunk).await.is_ok()
    }
}

fn line_too_long(max_line: usize) -> ApiError {
    ApiError::new(
        ErrorCode::TooLarge,
        format!("line: longer than {max_line} bytes; the line is skipped"),
    )
}

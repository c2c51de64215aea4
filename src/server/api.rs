//! The public API: routing, admission (busy, service hours, no snapshot,
//! credentials), single checks, health and metrics. Bulk checks stream in
//! [`super::bulk`].
//!
//! Cheap refusals come first, before the body is read: under overload a
//! request costs a counter increment and a small 503.

use super::bulk;
use super::crl_slot::CrlGeneration;
use super::history;
use super::institutions::{Credential, Denied};
use super::live::Generation;
use super::logging::{outcome, reserve, Answered, Facts};
use super::metrics::{CheckLogFacts, CrlFacts, Endpoint, SnapshotFacts, UpdateFacts};
use super::request::{institution_of, parse_check, CheckKind, CheckRequest};
use super::response::{json, method_not_allowed, with_type, ApiError, Body};
use super::App;
use crate::checklog::record::Via;
use crate::crl::trust::Trust;
use crate::engine::json::{write_answer, write_str, Envelope};
use crate::engine::reception::next_reception;
use crate::engine::rules::Rules;
use crate::engine::{CertificateRejected, View};
use crate::model::ErrorCode;
use crate::model::JapanTime;
use crate::model::{InstitutionCode, InsurerNumber, TextField, Verdict};
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Entry point for every public request.
pub async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let (endpoint, allowed) = route(request.uri().path());
    let response = if endpoint != Endpoint::Other && request.method() != allowed {
        method_not_allowed(request.uri().path(), &allowed)
    } else {
        match endpoint {
            Endpoint::Card => single_check(&app, request, CheckKind::Card, started).await,
            Endpoint::Number => single_check(&app, request, CheckKind::Number, started).await,
            Endpoint::Bulk => bulk::handle(app.clone(), request, started).await,
            Endpoint::History => history::single(&app, request).await,
            Endpoint::HistoryBulk => history::bulk(&app, request).await,
            Endpoint::Healthz => json(StatusCode::OK, b"{\"status\":\"ok\"}\n".to_vec()),
            Endpoint::Readyz => readiness(&app),
            Endpoint::Metrics => metrics(&app),
            Endpoint::Other => ApiError::new(
                ErrorCode::NotFound,
                format!("no such endpoint: {}", request.uri().path()),
            )
            .response(app.config.retry_after),
        }
    };
    app.metrics.request(endpoint, response.status().as_u16());
    Ok(response)
}

/// The endpoint a path names and the method it takes.
fn route(path: &str) -> (Endpoint, Method) {
    match path {
        "/v1/check/card" => (Endpoint::Card, Method::POST),
        "/v1/check/number" => (Endpoint::Number, Method::POST),
        "/v1/check/bulk" => (Endpoint::Bulk, Method::POST),
        "/v1/history" => (Endpoint::History, Method::GET),
        "/v1/history/bulk" => (Endpoint::HistoryBulk, Method::POST),
        "/healthz" => (Endpoint::Healthz, Method::GET),
        "/readyz" => (Endpoint::Readyz, Method::GET),
        "/metrics" => (Endpoint::Metrics, Method::GET),
        _ => (Endpoint::Other, Method::GET),
    }
}

/// Holds one of the `max_in_flight` slots while a check is in progress.
pub struct InFlight {
    app: Arc<App>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.app.metrics.in_flight().fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request let in: its slot, the time of admission and its credential.
pub struct Admitted {
    pub slot: InFlight,
    pub now: JapanTime,
    pub credential: Credential,
}

/// Everything that must hold before a check body is read: a free slot,
/// service hours, a live snapshot, and (with a registry) a credential.
pub fn admit(app: &Arc<App>, request: &Request<Incoming>) -> Result<Admitted, ApiError> {
    let in_flight = app.metrics.in_flight().fetch_add(1, Ordering::Relaxed) + 1;
    let slot = InFlight { app: app.clone() };
    if in_flight > app.config.max_in_flight as i64 {
        return Err(ApiError::new(
            ErrorCode::Busy,
            "busy: too many checks in progress; retry after the time in Retry-After",
        ));
    }
    let now = JapanTime::now();
    let hours = app.config.service_hours;
    if !hours.is_open(now.minute_of_day) {
        let minutes = hours.minutes_until_open(now.minute_of_day);
        return Err(ApiError {
            retry_after: Some(minutes * 60),
            ..ApiError::new(
                ErrorCode::OutsideServiceHours,
                format!(
                    "outside service hours ({hours} Japan time); the service opens in {minutes} minutes"
                ),
            )
        });
    }
    if app.live.borrow().is_none() {
        return Err(no_snapshot());
    }
    let credential = credential(app, request)?;
    Ok(Admitted {
        slot,
        now,
        credential,
    })
}

/// The request's credential, refused (401, before the body is read) when
/// it could authorize nothing at all.
pub fn credential(app: &App, request: &Request<Incoming>) -> Result<Credential, ApiError> {
    let credential =
        Credential::from_authorization(request.headers().get(AUTHORIZATION).map(|v| v.as_bytes()));
    if app.access.may_present(credential) {
        Ok(credential)
    } else {
        Err(ApiError::new(
            ErrorCode::Unauthorized,
            "Authorization: send `Authorization: Bearer <token>` with your institution's registered token",
        ))
    }
}

pub fn no_snapshot() -> ApiError {
    ApiError::new(
        ErrorCode::NoSnapshot,
        "no snapshot is loaded yet; retry after the time in Retry-After",
    )
}

/// The validation rules for a check made at `now`.
pub fn rules(app: &App, now: JapanTime) -> Rules {
    Rules {
        today: now.date,
        max_past_days: app.config.max_past_days,
        require_birth_date: app.config.require_birth_date,
    }
}

/// Refuses a credential that may not check (or search the history) for
/// `institution`.
pub fn authorize(
    app: &App,
    institution: &InstitutionCode,
    credential: Credential,
) -> Result<(), ApiError> {
    app.access
        .authorize(institution, credential)
        .map_err(|denied| match denied {
            Denied::Unauthenticated => ApiError::new(
                ErrorCode::Unauthorized,
                "Authorization: the token is not one of the registry's; send your institution's token",
            ),
            Denied::Forbidden => ApiError::new(
                ErrorCode::Forbidden,
                format!("institution: the token presented may not check for {institution}"),
            ),
        })
}

/// Answers `request` from `generation` (its snapshot and the overlay
/// loaded once here) and the live `crl` into `out` (see
/// [`crate::engine::answer`]); returns what the check log keeps of the
/// answer.
pub fn answer(
    generation: &Generation,
    crl: &CrlGeneration,
    trust: &Trust,
    request: &CheckRequest,
    out: &mut Vec<u8>,
) -> Result<Answered, ApiError> {
    let overlay = generation.overlay.load();
    answer_from(
        View::new(&generation.snapshot, &overlay),
        crl,
        trust,
        request,
        out,
    )
}

/// Answers `request` from one view (a bulk request keeps one for all its lines).
pub fn answer_from(
    view: View<'_>,
    crl: &CrlGeneration,
    trust: &Trust,
    request: &CheckRequest,
    out: &mut Vec<u8>,
) -> Result<Answered, ApiError> {
    let crl = &crl.crl;
    let answer = crate::engine::answer(view, crl, trust, &request.check).map_err(
        |CertificateRejected(reason)| {
            ApiError::new(
                ErrorCode::CertificateRejected,
                format!("certificate: {reason}"),
            )
        },
    )?;
    let reception = next_reception();
    write_answer(
        out,
        &answer,
        view,
        &Envelope {
            date: request.check.date,
            snapshot_id: view.snapshot.id(),
            update_lsn: view.overlay.through_lsn(),
            crl_id: crl.id(),
            client_ref: request.client_ref.as_deref(),
            reception: &reception,
        },
    );
    Ok(Answered {
        verdict: answer.verdict,
        insurer: answer
            .records
            .first()
            .and_then(|record| InsurerNumber::parse(record.text(TextField::InsurerNumber)).ok()),
        reception,
        snapshot: view.snapshot.id().to_string(),
        update_lsn: view.overlay.through_lsn(),
        crl: crl.id().to_string(),
    })
}

async fn single_check(
    app: &Arc<App>,
    request: Request<Incoming>,
    kind: CheckKind,
    started: Instant,
) -> Response<Body> {
    let endpoint = match kind {
        CheckKind::Card => Endpoint::Card,
        CheckKind::Number => Endpoint::Number,
    };
    let slot = match reserve(app.check_log.as_ref()).await {
        Ok(slot) => slot,
        Err(error) => {
            app.metrics.error(endpoint, error.code);
            return error.response(app.config.retry_after);
        }
    };
    let mut facts = Facts::default();
    let result = single_check_inner(app, request, kind, &mut facts).await;
    if let Some(slot) = slot {
        let outcome = outcome(&result, |(verdict, _)| *verdict);
        slot.send(facts.encode(outcome, Via::Single, started.elapsed()));
    }
    let response = match result {
        Ok((verdict, body)) => {
            app.metrics.verdict(endpoint, verdict);
            json(StatusCode::OK, body)
        }
        Err(error) => {
            app.metrics.error(endpoint, error.code);
            error.response(app.config.retry_after)
        }
    };
    app.metrics.latency(endpoint, started.elapsed());
    response
}

async fn single_check_inner(
    app: &Arc<App>,
    request: Request<Incoming>,
    kind: CheckKind,
    facts: &mut Facts,
) -> Result<(Verdict, Vec<u8>), ApiError> {
    let admitted = admit(app, &request)?;
    let (parts, body) = request.into_parts();
    let body = read_body(
        &parts.headers,
        body,
        app.config.max_body_bytes,
        app.config.header_read_timeout,
        "; send one check per request or use /v1/check/bulk",
    )
    .await?;
    let check = parse_check(&body, Some(kind), &rules(app, admitted.now)).map_err(|(e, _)| {
        facts.institution = institution_of(&body);
        e
    })?;
    facts.request(&check);
    authorize(app, &check.institution, admitted.credential)?;
    // Taken after the body has arrived: the answer comes from the snapshot
    // live when it is computed, and from that one only.
    let generation = app.live.borrow();
    let generation = generation.as_ref().ok_or_else(no_snapshot)?;
    let crl = app.crl.borrow();
    let crl = crl.as_ref().ok_or_else(no_snapshot)?;
    let mut out = Vec::with_capacity(2048);
    let answered = answer(generation, crl, &app.trust, &check, &mut out)?;
    out.push(b'\n');
    let verdict = answered.verdict;
    facts.answered = Some(answered);
    Ok((verdict, out))
}

/// Reads a whole request body of at most `limit` bytes: 413 beyond (by
/// `Content-Length` before reading, or while reading; `hint` says what to do
/// instead), 408 when the client does not finish sending within `timeout`.
pub async fn read_body(
    headers: &hyper::HeaderMap,
    body: Incoming,
    limit: usize,
    timeout: Duration,
    hint: &str,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("body: larger than {limit} bytes{hint}"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read = Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(ApiError::new(
            ErrorCode::Timeout,
            "body: not received in time; send the whole request at once",
        )),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(error)) => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("body: could not be read ({error})"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn readiness(app: &App) -> Response<Body> {
    if app.shutdown.has_begun() {
        return ApiError::new(ErrorCode::Busy, "shutting down").response(app.config.retry_after);
    }
    match app.live.current() {
        Some(generation) => {
            let mut body = b"{\"status\":\"ready\",\"snapshot\":".to_vec();
            write_str(&mut body, generation.snapshot.id());
            body.extend_from_slice(b"}\n");
            json(StatusCode::OK, body)
        }
        None => no_snapshot().response(app.config.retry_after),
    }
}

fn metrics(app: &App) -> Response<Body> {
    let generation = app.live.current();
    let loaded = generation.as_ref().and_then(|g| {
        g.activated_at
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    });
    let crl = app.crl.current();
    let now = chrono::Utc::now();
    let facts = SnapshotFacts {
        id: generation.as_ref().map(|g| g.snapshot.id()),
        age_seconds: generation.as_ref().and_then(|g| g.age_seconds()),
        loaded_unix_seconds: loaded,
        crl: crl.as_ref().map(|g| CrlFacts {
            id: g.crl.id(),
            age_seconds: g.age_seconds(now),
            revoked: g.crl.sets().revoked_count(),
            suspended: g.crl.sets().suspended_count(),
            stale: g.crl.is_stale(now),
        }),
        updates: app.ingest.as_ref().map(|ingest| UpdateFacts {
            stats: &ingest.stats,
            overlay: generation.as_ref().map(|g| g.overlay.load().counts()),
        }),
        check_log: app.check_log.as_ref().map(|log| CheckLogFacts {
            stats: &log.stats,
            queued: log.queued(),
            capacity: log.config.queue,
        }),
    };
    with_type(
        StatusCode::OK,
        app.metrics.render(&facts).into_bytes(),
        "text/plain; version=0.0.4; charset=utf-8",
    )
}

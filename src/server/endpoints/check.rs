//! Single checks (`POST /v1/check/card`, `POST /v1/check/number`): admit,
//! read, parse, authorize, answer through [`crate::engine::answer`], log.

use crate::checklog::record::Via;
use crate::crl::trust::Trust;
use crate::engine::json::{write_answer, Envelope};
use crate::engine::reception::next_reception;
use crate::engine::{CertificateRejected, View};
use crate::model::{ErrorCode, InsurerNumber, TextField, Verdict};
use crate::server::endpoints::logging::{outcome, reserve, Answered, Facts};
use crate::server::http::admission::{admit, authorize, no_snapshot, rules};
use crate::server::http::body::read_body;
use crate::server::http::response::{json, ApiError, Body};
use crate::server::metrics::Endpoint;
use crate::server::request::{institution_of, parse_check, CheckKind, CheckRequest};
use crate::server::serving::crl::CrlGeneration;
use crate::server::App;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;
use std::time::Instant;

/// Answers `request` from one view (a single check loads one; a bulk
/// request keeps one for all its lines) and the live `crl` into `out` (see
/// [`crate::engine::answer`]); returns what the check log keeps of the
/// answer.
pub(crate) fn answer_from(
    view: View<'_>,
    crl: &CrlGeneration,
    trust: &Trust,
    request: &CheckRequest,
    now_micros: u64,
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
    if let Some(file) = view.snapshot.damaged_file() {
        return Err(snapshot_damaged(view.snapshot, file));
    }
    let reception = next_reception(now_micros);
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

/// The refusal of an answer read from a snapshot one of whose files
/// changed under the server (logged once per fault).
fn snapshot_damaged(snapshot: &crate::snapshot::Snapshot, file: &str) -> ApiError {
    let message = format!(
        "snapshot {}: {file} changed under the server (truncated or overwritten); nothing is answered from it until another snapshot is activated",
        snapshot.id()
    );
    if crate::storage::guard::newly_caught() {
        eprintln!("shikaku: ALARM: {message}");
    }
    ApiError::new(ErrorCode::SnapshotDamaged, message)
}

pub(crate) async fn single_check(
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
        slot.send(facts.encode(
            outcome,
            Via::Single,
            started.elapsed(),
            app.config.clock.now_micros(),
        ));
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
    let overlay = generation.overlay.load();
    let mut out = Vec::with_capacity(2048);
    let answered = answer_from(
        View::new(&generation.snapshot, &overlay),
        crl,
        &app.trust,
        &check,
        app.config.clock.now_micros(),
        &mut out,
    )?;
    out.push(b'\n');
    let verdict = answered.verdict;
    facts.answered = Some(answered);
    Ok((verdict, out))
}

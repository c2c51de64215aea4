//! History search (`GET /v1/history`, `POST /v1/history/bulk`): an
//! institution's own past checks of one key, newest first, from the check
//! log ([`crate::checklog::history`]).
//!
//! The caller names its institution and proves it as for a check; only that
//! institution's records are searched. The key is exactly one of `serial`,
//! `online_number` or the card face (`insurer_number`, `symbol`, `number`,
//! `branch`); `date` narrows to one treatment date. Before searching, every
//! check answered so far is written out, so a check is in the history as
//! soon as its answer has been sent.

use crate::checklog::history::{Found, HistoryQuery};
use crate::checklog::record::OwnedKey;
use crate::engine::Query;
use crate::model::ErrorCode;
use crate::model::{CardFaceKey, Date, InstitutionCode, OnlineNumber, Serial};
use crate::server::http::admission::{authorize, credential};
use crate::server::http::body::read_body;
use crate::server::http::response::{json, with_type, ApiError, Body};
use crate::server::institutions::Credential;
use crate::server::App;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Most records one lookup answers (`limit` may ask for fewer).
pub(crate) const MAX_HISTORY_RECORDS: usize = 1000;
const DEFAULT_HISTORY_RECORDS: usize = 100;
/// Largest bulk lookup body (about 40,000 lookups).
const MAX_HISTORY_BULK_BYTES: usize = 4 << 20;

/// One lookup, from a query string or a bulk line.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct Params {
    institution: Option<String>,
    serial: Option<String>,
    online_number: Option<String>,
    insurer_number: Option<String>,
    symbol: Option<String>,
    number: Option<String>,
    branch: Option<String>,
    date: Option<String>,
    limit: Option<usize>,
    client_ref: Option<String>,
}

pub(crate) async fn single(app: &Arc<App>, request: Request<Incoming>) -> Response<Body> {
    let result = async {
        let credential = credential(app, &request)?;
        let params: Params = serde_urlencoded::from_str(request.uri().query().unwrap_or(""))
            .map_err(|e| ApiError::new(ErrorCode::BadRequest, format!("query string: {e}")))?;
        let query = lookup(app, &params, credential)?;
        let log = check_log(app)?;
        flush(log).await?;
        let store = log.store.clone();
        let found = tokio::task::spawn_blocking(move || store.search(&query).map(|f| (query, f)))
            .await
            .map_err(|e| internal(e.to_string()))?
            .map_err(|e| internal(format!("{e:#}")))?;
        Ok::<_, ApiError>(answer(&found.0, &found.1, None))
    }
    .await;
    match result {
        Ok(value) => {
            let mut body = serde_json::to_vec(&value).unwrap_or_default();
            body.push(b'\n');
            json(StatusCode::OK, body)
        }
        Err(error) => error.response(app.config.retry_after),
    }
}

/// NDJSON lookups in, one answer line per lookup out (errors name the
/// line). For returned claims: a clinic checks a month's receipts at once.
pub(crate) async fn bulk(app: &Arc<App>, request: Request<Incoming>) -> Response<Body> {
    let result = async {
        let credential = credential(app, &request)?;
        let log = check_log(app)?;
        let (parts, body) = request.into_parts();
        let body = read_body(
            &parts.headers,
            body,
            MAX_HISTORY_BULK_BYTES,
            app.config.header_read_timeout,
            "; split the lookups over several requests",
        )
        .await?;
        let mut lookups = Vec::new();
        for (index, line) in body.split(|b| *b == b'\n').enumerate() {
            if crate::server::http::ndjson::is_blank(line) {
                continue;
            }
            let parsed = serde_json::from_slice::<Params>(line)
                .map_err(|e| {
                    ApiError::new(ErrorCode::BadRequest, format!("line {}: {e}", index + 1))
                })
                .and_then(|params| {
                    lookup(app, &params, credential).map(|query| (query, params.client_ref))
                });
            lookups.push((index as u64 + 1, parsed));
        }
        flush(log).await?;
        let store = log.store.clone();
        let (today, months) = (app.config.clock.today(), log.config.search_months);
        tokio::task::spawn_blocking(move || {
            let window = store.window(today, months);
            let mut out = Vec::new();
            for (line, lookup) in lookups {
                let value = lookup.and_then(|(query, client_ref)| {
                    let window = window.as_ref().map_err(|e| internal(format!("{e:#}")))?;
                    store
                        .search_in(window, &query)
                        .map(|found| answer(&query, &found, client_ref.as_deref()))
                        .map_err(|e| internal(format!("{e:#}")))
                });
                match value {
                    Ok(mut value) => {
                        value["line"] = json!(line);
                        out.extend_from_slice(&serde_json::to_vec(&value).unwrap_or_default());
                    }
                    Err(error) => error.write_json(&mut out, Some(line), None),
                }
                out.push(b'\n');
            }
            out
        })
        .await
        .map_err(|e| internal(e.to_string()))
    }
    .await;
    match result {
        Ok(body) => with_type(StatusCode::OK, body, "application/x-ndjson"),
        Err(error) => error.response(app.config.retry_after),
    }
}

fn check_log(app: &App) -> Result<&crate::checklog::CheckLog, ApiError> {
    app.check_log.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "history is not kept by this server (it runs without a check_log)",
        )
    })
}

/// Writes out every check answered so far, so that the history holds them.
async fn flush(log: &crate::checklog::CheckLog) -> Result<(), ApiError> {
    if log.flush().await {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Busy,
            "busy: the check log is behind, so the history would miss the latest checks; retry after the time in Retry-After",
        ))
    }
}

fn internal(message: String) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("history: {message}"))
}

/// Validates one lookup and checks that the caller may search for its
/// institution.
fn lookup(app: &App, params: &Params, credential: Credential) -> Result<HistoryQuery, ApiError> {
    let institution = InstitutionCode::parse(params.institution.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::field("institution", e))?;
    let query = key_query(params)?;
    authorize(app, &institution, credential)?;
    let date = match params.date.as_deref() {
        Some(text) => Some(Date::parse(text).map_err(|e| ApiError::field("date", e))?),
        None => None,
    };
    let log = check_log(app)?;
    let key = OwnedKey::of(&query);
    Ok(HistoryQuery {
        institution,
        kind: key.kind,
        key: key.bytes,
        date,
        today: app.config.clock.today(),
        months: log.config.search_months,
        limit: params
            .limit
            .unwrap_or(DEFAULT_HISTORY_RECORDS)
            .clamp(1, MAX_HISTORY_RECORDS),
    })
}

/// The key of a lookup: exactly one of serial, online number, card face.
fn key_query(params: &Params) -> Result<Query, ApiError> {
    let face = [
        &params.insurer_number,
        &params.symbol,
        &params.number,
        &params.branch,
    ];
    let face_given = face.iter().any(|f| f.is_some());
    match (&params.serial, &params.online_number, face_given) {
        (Some(serial), None, false) => Ok(Query::Card {
            serial: Serial::parse(serial).map_err(|e| ApiError::field("serial", e))?,
        }),
        (None, Some(number), false) => Ok(Query::OnlineNumber {
            number: OnlineNumber::parse(number).map_err(|e| ApiError::field("online_number", e))?,
            birth_date: None,
        }),
        (None, None, true) => {
            let text = |f: &Option<String>| f.clone().unwrap_or_default();
            let key = CardFaceKey::parse(
                &text(&params.insurer_number),
                &text(&params.symbol),
                &text(&params.number),
                &text(&params.branch),
            )
            .map_err(|(field, e)| ApiError::field(field, e))?;
            Ok(Query::CardFace {
                key,
                birth_date: None,
            })
        }
        _ => Err(ApiError::new(
            ErrorCode::BadRequest,
            "key: give exactly one of serial, online_number, or the card face (insurer_number, symbol, number, branch)",
        )),
    }
}

fn answer(query: &HistoryQuery, found: &Found, client_ref: Option<&str>) -> Value {
    let mut value = json!({
        "status": "ok",
        "institution": query.institution.as_str(),
        "query": query.kind.as_str(),
        "key": crate::checklog::record::LoggedKey { kind: query.kind, bytes: &query.key }.display(),
        "date": query.date.map(|d| d.to_string()),
        "since": crate::checklog::months_before(query.today, query.months).to_string(),
        "records": found.records,
        "truncated": found.truncated,
    });
    if let Some(client_ref) = client_ref {
        value["client_ref"] = json!(client_ref);
    }
    value
}

//! The administrative API, on its own listener (loopback by default):
//! status, snapshot activation and rollback. With `admin_token` set, every
//! request must present it as a bearer token.

use super::api::read_body;
use super::institutions::Credential;
use super::live::Generation;
use super::response::{json, method_not_allowed, ApiError, Body, ErrorCode};
use super::App;
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    path: PathBuf,
    #[serde(default)]
    force: bool,
}

pub async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let result = match authorize(&app, &request) {
        Err(error) => Err(error),
        Ok(()) => route(&app, request).await,
    };
    Ok(result.unwrap_or_else(|error| error.response(app.config.retry_after)))
}

fn authorize(app: &App, request: &Request<Incoming>) -> Result<(), ApiError> {
    let Some(expected) = &app.config.admin_token else {
        return Ok(());
    };
    let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if Credential::from_authorization(header).is_bearer(expected) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::Unauthorized,
        "Authorization: the admin API needs `Authorization: Bearer <admin token>`",
    ))
}

async fn route(app: &Arc<App>, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let expected = match path.as_str() {
        "/admin/status" => Method::GET,
        "/admin/snapshot/activate" | "/admin/snapshot/rollback" => Method::POST,
        _ => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no such admin endpoint: {path}"),
            ))
        }
    };
    if method != expected {
        return Ok(method_not_allowed(&path, &expected));
    }
    match path.as_str() {
        "/admin/status" => Ok(ok(status(app).await)),
        "/admin/snapshot/activate" => activate(app, request).await,
        _ => rollback(app).await,
    }
}

fn ok(value: serde_json::Value) -> Response<Body> {
    let mut body = serde_json::to_vec_pretty(&value).unwrap_or_default();
    body.push(b'\n');
    json(StatusCode::OK, body)
}

async fn activate(app: &Arc<App>, request: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, body) = request.into_parts();
    let timeout = app.config.header_read_timeout;
    let bytes = read_body(&parts.headers, body, MAX_ADMIN_BODY, timeout, "").await?;
    let body: ActivateBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!(
                "body: expected {{\"path\": \"<snapshot directory>\", \"force\": false}} ({e})"
            ),
        )
    })?;
    match app.live.activate(body.path, body.force, &app.policy).await {
        Ok(report) => {
            app.metrics.swaps.fetch_add(1, Ordering::Relaxed);
            Ok(ok(serde_json::to_value(report).unwrap_or_default()))
        }
        Err(refusal) => {
            app.metrics
                .activation_failures
                .fetch_add(1, Ordering::Relaxed);
            Err(refusal)
        }
    }
}

async fn rollback(app: &Arc<App>) -> Result<Response<Body>, ApiError> {
    let (live, left) = app.live.rollback().await?;
    app.metrics.swaps.fetch_add(1, Ordering::Relaxed);
    app.metrics.rollbacks.fetch_add(1, Ordering::Relaxed);
    Ok(ok(json!({
        "status": "ok",
        "live": describe(&live),
        "left": describe(&left),
    })))
}

fn describe(generation: &Generation) -> serde_json::Value {
    let manifest = generation.snapshot.manifest();
    json!({
        "id": manifest.id,
        "generation": generation.number,
        // Absolute, so that tools elsewhere (the load-test harness) can open it.
        "path": std::fs::canonicalize(generation.snapshot.dir())
            .unwrap_or_else(|_| generation.snapshot.dir().to_path_buf())
            .display()
            .to_string(),
        "built_at": manifest.created_at,
        "age_seconds": generation.age_seconds(),
        "activated_at_unix": generation.activated_at.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "persons": manifest.counts.persons,
        "rows": manifest.counts.rows,
        "serials": manifest.counts.serials,
        "revoked": manifest.counts.revoked,
        "suspended": manifest.counts.suspended,
        "verify_seconds": generation.verified.seconds,
    })
}

async fn status(app: &Arc<App>) -> serde_json::Value {
    let history = app.live.history().await;
    let config = &app.config;
    let now = super::clock::JapanTime::now();
    json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.started.elapsed().as_secs_f64(),
        "live": app.live.current().as_deref().map(describe),
        "previous": history.previous.iter().rev().map(|g| describe(g)).collect::<Vec<_>>(),
        "last_refusal": history.last_refusal,
        "swaps": app.metrics.swaps.load(Ordering::Relaxed),
        "rollbacks": app.metrics.rollbacks.load(Ordering::Relaxed),
        "activation_failures": app.metrics.activation_failures.load(Ordering::Relaxed),
        "service_hours": config.service_hours.to_string(),
        "open_now": config.service_hours.is_open(now.minute_of_day),
        "institutions": match app.access.institution_count() {
            Some(n) => json!(n),
            None => json!("open: any institution code is accepted"),
        },
        "in_flight": app.metrics.in_flight().load(Ordering::Relaxed),
        "max_in_flight": config.max_in_flight,
        "open_connections": app.metrics.connections().load(Ordering::Relaxed),
        "shutting_down": app.shutdown.has_begun(),
    })
}

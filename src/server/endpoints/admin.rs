//! The administrative API, on its own listener (loopback by default):
//! status, snapshot activation and rollback, CRL activation and rollback.
//! With operator accounts (`operators`), every request presents its
//! operator's token, the operator's role must allow the endpoint, and the
//! audit log names the operator; with `admin_token` instead, every request
//! presents that one token.

use crate::model::ErrorCode;
use crate::server::http::admission::peer_still_valid;
use crate::server::http::body::read_body;
use crate::server::http::response::{json, method_not_allowed, ApiError, Body};
use crate::server::institutions::Credential;
use crate::server::operators::{Operator, Role};
use crate::server::serving::crl::CrlGeneration;
use crate::server::serving::generation::Generation;
use crate::server::serving::recheck::Recheck;
use crate::server::serving::slot::ActivationError;
use crate::server::App;
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

/// Activation and rollback refusals are 409, failures 500.
impl From<ActivationError> for ApiError {
    fn from(error: ActivationError) -> ApiError {
        match error {
            ActivationError::Refused(message) => ApiError::new(ErrorCode::Refused, message),
            ActivationError::Failed(message) => ApiError::new(ErrorCode::Internal, message),
        }
    }
}

/// Largest admin request body.
const MAX_ADMIN_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActivateBody {
    path: PathBuf,
    #[serde(default)]
    force: bool,
}

pub(crate) async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let result = match authenticate(&app, &request) {
        Err(error) => Err(error),
        Ok(operator) => route(&app, request, operator).await,
    };
    Ok(result.unwrap_or_else(|error| error.response(app.config.retry_after)))
}

/// Who is asking: with operator accounts, the operator whose token was
/// presented (401 without one); with a shared admin token, nobody in
/// particular once it was presented; with neither, nobody.
fn authenticate(app: &App, request: &Request<Incoming>) -> Result<Option<Operator>, ApiError> {
    let header = request.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    let credential = Credential::from_authorization(header);
    let peer = peer_still_valid(app.admin_tls.as_deref(), request)?;
    if let Some(operators) = &app.operators {
        let operators = operators.load();
        let by_certificate = peer.and_then(|peer| operators.find_certificate(&peer.fingerprint));
        let found = by_certificate.or_else(|| {
            credential
                .token
                .and_then(|hash| operators.find(hash.digest()))
        });
        return match found {
            Some(operator) => Ok(Some(operator.clone())),
            None => Err(ApiError::new(
                ErrorCode::Unauthorized,
                "Authorization: the admin API needs `Authorization: Bearer <your operator token>`",
            )),
        };
    }
    let Some(expected) = &app.config.admin_token else {
        return Ok(None);
    };
    if credential.is_bearer(expected) {
        return Ok(None);
    }
    Err(ApiError::new(
        ErrorCode::Unauthorized,
        "Authorization: the admin API needs `Authorization: Bearer <admin token>`",
    ))
}

/// The role an admin endpoint needs: reading status is for viewers,
/// changing what is served for operators, reloading credentials and
/// certificates for admins.
fn required_role(path: &str) -> Role {
    match path {
        "/admin/status" => Role::Viewer,
        "/admin/tls/reload" | "/admin/institutions/reload" | "/admin/operators/reload" => {
            Role::Admin
        }
        _ => Role::Operator,
    }
}

async fn route(
    app: &Arc<App>,
    request: Request<Incoming>,
    operator: Option<Operator>,
) -> Result<Response<Body>, ApiError> {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    let expected = match path.as_str() {
        "/admin/status" => Method::GET,
        "/admin/snapshot/activate"
        | "/admin/snapshot/rollback"
        | "/admin/crl/activate"
        | "/admin/crl/rollback"
        | "/admin/updates"
        | "/admin/tls/reload"
        | "/admin/institutions/reload"
        | "/admin/operators/reload" => Method::POST,
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
    let needed = required_role(&path);
    let actor = match &operator {
        Some(operator) if operator.role < needed => {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "operator {} has the {} role; {method} {path} needs the {} role",
                    operator.name,
                    operator.role.as_str(),
                    needed.as_str()
                ),
            ))
        }
        Some(operator) => operator.name.clone(),
        None => named_in_header(request.headers()),
    };
    let (action, result) = match path.as_str() {
        "/admin/status" => return Ok(ok(status(app).await)),
        "/admin/updates" => {
            return crate::server::endpoints::admin_updates::handle(app.clone(), request, actor)
        }
        "/admin/snapshot/activate" => ("snapshot.activate", activate_snapshot(app, request).await),
        "/admin/crl/activate" => ("crl.activate", activate_crl(app, request).await),
        "/admin/crl/rollback" => ("crl.rollback", rollback_crl(app).await),
        "/admin/tls/reload" => ("tls.reload", reload(app, App::reload_tls).await),
        "/admin/institutions/reload" => (
            "institutions.reload",
            reload(app, App::reload_institutions).await,
        ),
        "/admin/operators/reload" => ("operators.reload", reload(app, App::reload_operators).await),
        _ => ("snapshot.rollback", rollback(app).await),
    };
    // What is served changed: record it for the next start (a reload
    // changes who may ask, not what is served).
    let changes_serving = !matches!(
        action,
        "tls.reload" | "institutions.reload" | "operators.reload"
    );
    let result = match result {
        Ok(mut report) if changes_serving => {
            if let Some(failure) = app.record_state(action).await {
                report["state_write_error"] = json!(failure);
            }
            Ok(report)
        }
        other => other,
    };
    let detail = match &result {
        Ok(value) => value.clone(),
        Err(error) => json!({
            "status": "refused",
            "code": error.code.as_str(),
            "message": error.message,
        }),
    };
    app.audit(&actor, action, detail);
    result.map(ok)
}

/// Runs a reload off the async threads (it reads files and checks
/// signatures): 409 `refused` with the reason when the files are bad and
/// what was in service stays.
async fn reload(
    app: &Arc<App>,
    reload: fn(&App) -> Result<serde_json::Value, String>,
) -> Result<serde_json::Value, ApiError> {
    let app = app.clone();
    let loaded = tokio::task::spawn_blocking(move || reload(&app))
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("the reload failed: {e}")))?;
    match loaded {
        Ok(loaded) => Ok(json!({ "status": "reloaded", "loaded": loaded })),
        Err(problem) => Err(ApiError::new(ErrorCode::Refused, problem)),
    }
}

/// Who asks, without operator accounts: the `X-Operator` header (free
/// text, e.g. a login name), or `unnamed` (the audit log then records only
/// that the admin API was used).
fn named_in_header(headers: &hyper::HeaderMap) -> String {
    headers
        .get("x-operator")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or("unnamed")
        .to_string()
}

async fn activate_snapshot(
    app: &Arc<App>,
    request: Request<Incoming>,
) -> Result<serde_json::Value, ApiError> {
    let body = activate_body(app, request, "snapshot directory").await?;
    let report = app.activate(body.path, body.force).await?;
    Ok(serde_json::to_value(report).unwrap_or_default())
}

async fn activate_crl(
    app: &Arc<App>,
    request: Request<Incoming>,
) -> Result<serde_json::Value, ApiError> {
    let body = activate_body(app, request, "CRL directory or file").await?;
    let report = app.activate_crl(body.path, body.force).await?;
    println!(
        "shikaku: CRL {} activated ({} entries, {:.2} s)",
        report.activated, report.entries, report.load_seconds
    );
    Ok(serde_json::to_value(report).unwrap_or_default())
}

fn ok(value: serde_json::Value) -> Response<Body> {
    let mut body = serde_json::to_vec_pretty(&value).unwrap_or_default();
    body.push(b'\n');
    json(StatusCode::OK, body)
}

async fn activate_body(
    app: &Arc<App>,
    request: Request<Incoming>,
    what: &str,
) -> Result<ActivateBody, ApiError> {
    let (parts, body) = request.into_parts();
    let timeout = app.config.header_read_timeout;
    let bytes = read_body(&parts.headers, body, MAX_ADMIN_BODY, timeout, "").await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::BadRequest,
            format!("body: expected {{\"path\": \"<{what}>\", \"force\": false}} ({e})"),
        )
    })
}

async fn rollback_crl(app: &Arc<App>) -> Result<serde_json::Value, ApiError> {
    let (live, left) = app.crl.rollback().await?;
    app.metrics.crl_swaps.fetch_add(1, Ordering::Relaxed);
    app.metrics.crl_rollbacks.fetch_add(1, Ordering::Relaxed);
    println!("shikaku: CRL rolled back to {}", live.crl.id());
    Ok(json!({
        "status": "ok",
        "live": describe_crl(&live, app.config.clock.utc()),
        "left": describe_crl(&left, app.config.clock.utc()),
    }))
}

fn describe_crl(
    generation: &CrlGeneration,
    now: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    let crl = &generation.crl;
    let meta = crl.meta();
    json!({
        "id": crl.id(),
        "generation": generation.number,
        "source": generation.source.describe(),
        "issuer": meta.map(|m| m.issuer.clone()),
        "this_update": meta.map(|m| m.this_update.clone()),
        "next_update": meta.and_then(|m| m.next_update.clone()),
        "number": meta.and_then(|m| m.number.clone()),
        "age_seconds": generation.age_seconds(now),
        "stale": crl.is_stale(now),
        "activated_at_unix": unix_seconds(generation.activated_at),
        "revoked": crl.sets().revoked_count(),
        "suspended": crl.sets().suspended_count(),
        "load_seconds": generation.load_seconds,
        "forced": generation.passed.forced,
    })
}

fn unix_seconds(at: std::time::SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn rollback(app: &Arc<App>) -> Result<serde_json::Value, ApiError> {
    let (live, left) = app.live.rollback(app.ingest.as_ref()).await?;
    app.metrics.swaps.fetch_add(1, Ordering::Relaxed);
    app.metrics.rollbacks.fetch_add(1, Ordering::Relaxed);
    Ok(json!({
        "status": "ok",
        "live": describe(&live, app.config.clock.utc()),
        "left": describe(&left, app.config.clock.utc()),
    }))
}

fn describe(generation: &Generation, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
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
        "age_seconds": generation.age_seconds(now),
        "activated_at_unix": unix_seconds(generation.activated_at),
        "persons": manifest.counts.persons,
        "rows": manifest.counts.rows,
        "serials": manifest.counts.serials,
        "revoked": manifest.counts.revoked,
        "suspended": manifest.counts.suspended,
        "verify_seconds": generation.verified.seconds,
        "verification": generation.recheck.lock().map(|r| r.describe()).unwrap_or_default(),
    })
}

async fn status(app: &Arc<App>) -> serde_json::Value {
    let history = app.live.history().await;
    let crl_history = app.crl.history().await;
    let crl = app.crl.current();
    let config = &app.config;
    let now = app.config.clock.japan();
    json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": app.started.elapsed().as_secs_f64(),
        "live": app.live.current().as_deref().map(|g| describe(g, app.config.clock.utc())),
        "previous": history.previous.iter().map(|g| describe(g, app.config.clock.utc())).collect::<Vec<_>>(),
        "last_refusal": history.last_refusal,
        "swaps": app.metrics.swaps.load(Ordering::Relaxed),
        "rollbacks": app.metrics.rollbacks.load(Ordering::Relaxed),
        "activation_failures": app.metrics.activation_failures.load(Ordering::Relaxed),
        "crl": crl.as_deref().map(|g| describe_crl(g, app.config.clock.utc())),
        "crl_previous": crl_history.previous.iter().map(|g| describe_crl(g, app.config.clock.utc())).collect::<Vec<_>>(),
        "crl_last_refusal": crl_history.last_refusal,
        "alarms": alarms(app, crl.as_deref()),
        "updates": updates_status(app),
        "state": app.state.as_ref().map_or_else(
            || json!({"file": null, "note": "no state directory: a restart serves the settings' snapshot (start with --journal or --state-dir)"}),
            |state| state.status(),
        ),
        "service_hours": config.service_hours.to_string(),
        "open_now": config.service_hours.is_open(now.minute_of_day),
        "institutions": match app.access.load().institution_count() {
            Some(n) => json!(n),
            None => json!("open: any institution code is accepted"),
        },
        "tls": tls_status(app),
        "in_flight": app.admission.in_flight(),
        "max_in_flight": config.max_in_flight,
        "open_connections": app.metrics.connections().load(Ordering::Relaxed),
        "shutting_down": app.shutdown.has_begun(),
    })
}

/// The journal and the live overlay.
fn updates_status(app: &App) -> serde_json::Value {
    let Some(ingest) = &app.ingest else {
        return json!({"journal": null, "note": "no journal: updates are not taken (start with --journal DIR)"});
    };
    let stats = &ingest.stats;
    let notes = stats.notes.lock().map(|n| n.clone()).unwrap_or_default();
    let overlay = app.live.current().map(|g| g.overlay.load().counts());
    json!({
        "journal": ingest.journal_dir.display().to_string(),
        "next_lsn": stats.next_lsn.load(Ordering::Relaxed),
        "applied": stats.applied.load(Ordering::Relaxed),
        "duplicates": stats.duplicates.load(Ordering::Relaxed),
        "refused": stats.refused.load(Ordering::Relaxed),
        "commits": stats.groups.load(Ordering::Relaxed),
        "failed": notes.failure,
        "opened": notes.opened,
        "last_install": notes.last_install,
        "checkpoint": stats.checkpoint.lock().map(|c| c.clone()).unwrap_or_default(),
        "overlay": overlay,
    })
}

/// Conditions an operator must see: a live CRL past its nextUpdate, a
/// journal that can no longer be written, a serving state not recorded.
fn alarms(app: &App, crl: Option<&CrlGeneration>) -> Vec<String> {
    let journal = app
        .ingest
        .as_ref()
        .and_then(|ingest| ingest.stats.notes.lock().ok()?.failure.clone())
        .map(|failure| {
            format!("the update journal failed ({failure}): updates are refused; fix the disk and restart the server")
        });
    let damaged = app.live.current().and_then(|live| {
        live.snapshot.damaged_file().map(|file| {
            format!(
                "{file} of the live snapshot {} changed under the server (truncated or overwritten): checks answer 503 snapshot_damaged; activate another snapshot",
                live.snapshot.id()
            )
        })
    });
    let recheck = app.live.current().and_then(|live| {
        let recheck = live.recheck.lock().ok()?.clone();
        matches!(recheck, Recheck::Failed(_)).then(|| {
            format!(
                "the live snapshot {} {}: activate a verified snapshot",
                live.snapshot.id(),
                recheck.describe()
            )
        })
    });
    let state = app
        .state
        .as_ref()
        .and_then(|state| state.failure())
        .map(|failure| {
            format!("the serving state could not be recorded ({failure}): a restart would serve what the state file names, not what is live; fix the disk, then activate or roll back again")
        });
    crl.filter(|g| g.crl.is_stale(app.config.clock.utc()))
        .map(|g| {
            format!(
                "the live CRL {} is past its nextUpdate ({}): fetch and activate the CA's new list",
                g.crl.id(),
                g.crl
                    .meta()
                    .and_then(|m| m.next_update.as_deref())
                    .unwrap_or("?")
            )
        })
        .into_iter()
        .chain(journal)
        .chain(state)
        .chain(recheck)
        .chain(damaged)
        .chain(tls_alarms(app))
        .collect()
}

/// The TLS alarms of both listeners, each named.
fn tls_alarms(app: &App) -> Vec<String> {
    [("public", &app.public_tls), ("admin", &app.admin_tls)]
        .into_iter()
        .filter_map(|(name, tls)| Some((name, tls.as_ref()?)))
        .flat_map(|(name, tls)| {
            tls.alarms()
                .into_iter()
                .map(move |alarm| format!("{name} listener TLS: {alarm}"))
        })
        .collect()
}

/// What each listener's TLS has loaded (`null` for plain HTTP).
fn tls_status(app: &App) -> serde_json::Value {
    json!({
        "public": app.public_tls.as_ref().map(|tls| tls.describe()),
        "admin": app.admin_tls.as_ref().map(|tls| tls.describe()),
    })
}

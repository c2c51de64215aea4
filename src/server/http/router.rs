//! The public listener's routing: each path to its endpoint and method,
//! and the per-endpoint request counts.

use crate::model::ErrorCode;
use crate::server::endpoints::{bulk, check, health, history};
use crate::server::http::response::{json, method_not_allowed, ApiError, Body};
use crate::server::metrics::Endpoint;
use crate::server::request::CheckKind;
use crate::server::App;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// Entry point for every public request.
pub(crate) async fn handle(
    app: Arc<App>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let (endpoint, allowed) = route(request.uri().path());
    let response = if endpoint != Endpoint::Other && request.method() != allowed {
        method_not_allowed(request.uri().path(), &allowed)
    } else {
        match endpoint {
            Endpoint::Card => check::single_check(&app, request, CheckKind::Card, started).await,
            Endpoint::Number => {
                check::single_check(&app, request, CheckKind::Number, started).await
            }
            Endpoint::Bulk => bulk::handle(app.clone(), request, started).await,
            Endpoint::History => history::single(&app, request).await,
            Endpoint::HistoryBulk => history::bulk(&app, request).await,
            Endpoint::Healthz => json(StatusCode::OK, b"{\"status\":\"ok\"}\n".to_vec()),
            Endpoint::Readyz => health::readiness(&app),
            Endpoint::Metrics => health::metrics(&app),
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

//! `GET /healthz`, `GET /readyz` and `GET /metrics`.

use crate::engine::json::write_str;
use crate::model::ErrorCode;
use crate::server::http::admission::no_snapshot;
use crate::server::http::response::{json, with_type, ApiError, Body};
use crate::server::metrics::{CheckLogFacts, CrlFacts, SnapshotFacts, TlsFacts, UpdateFacts};
use crate::server::App;
use hyper::{Response, StatusCode};
use std::time::UNIX_EPOCH;

pub(crate) fn readiness(app: &App) -> Response<Body> {
    if app.shutdown.has_begun() {
        return ApiError::new(ErrorCode::Busy, "shutting down").response(app.config.retry_after);
    }
    if app.starting.load(std::sync::atomic::Ordering::Acquire) {
        return no_snapshot().response(app.config.retry_after);
    }
    match app.live.current() {
        Some(generation) if generation.snapshot.damaged_file().is_some() => ApiError::new(
            ErrorCode::SnapshotDamaged,
            "a file of the live snapshot changed under the server; activate another snapshot",
        )
        .response(app.config.retry_after),
        Some(generation) => {
            let mut body = b"{\"status\":\"ready\",\"snapshot\":".to_vec();
            write_str(&mut body, generation.snapshot.id());
            body.extend_from_slice(b"}\n");
            json(StatusCode::OK, body)
        }
        None => no_snapshot().response(app.config.retry_after),
    }
}

pub(crate) fn metrics(app: &App) -> Response<Body> {
    let generation = app.live.current();
    let loaded = generation.as_ref().and_then(|g| {
        g.activated_at
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    });
    let crl = app.crl.current();
    let now = app.config.clock.utc();
    let facts = SnapshotFacts {
        in_flight: app.admission.in_flight(),
        id: generation.as_ref().map(|g| g.snapshot.id()),
        age_seconds: generation.as_ref().and_then(|g| g.age_seconds(now)),
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
        tls: [("public", &app.public_tls), ("admin", &app.admin_tls)]
            .into_iter()
            .filter_map(|(listener, tls)| {
                let tls = tls.as_ref()?;
                Some(TlsFacts {
                    listener,
                    counters: &tls.counters,
                    alarms: tls.alarms().len(),
                })
            })
            .collect(),
    };
    with_type(
        StatusCode::OK,
        app.metrics.render(&facts).into_bytes(),
        "text/plain; version=0.0.4; charset=utf-8",
    )
}

//! Admission: everything that must hold before a check's body is read (a
//! free in-flight place, service hours, a live snapshot, a credential that
//! could authorize something), and the authorization of an institution.
//! Cheap refusals come first: under overload a request costs a counter
//! increment and a small 503.

use crate::engine::rules::Rules;
use crate::model::{ErrorCode, InstitutionCode, JapanTime};
use crate::server::http::response::ApiError;
use crate::server::institutions::{CertificateId, Credential, Denied};
use crate::server::metrics::InstitutionClass;
use crate::server::tls::peer::PeerCertificate;
use crate::server::tls::TlsEndpoint;
use crate::server::App;
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::Request;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Bounds the checks in progress to `max_in_flight`; metrics only read it.
#[derive(Debug)]
pub(crate) struct Admission {
    in_flight: Arc<AtomicI64>,
    max_in_flight: i64,
}

impl Admission {
    /// Admission for at most `max_in_flight` checks at once.
    pub(crate) fn new(max_in_flight: usize) -> Admission {
        Admission {
            in_flight: Arc::new(AtomicI64::new(0)),
            max_in_flight: max_in_flight as i64,
        }
    }

    /// Checks in progress now.
    pub(crate) fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Takes a place, or refuses (503 `busy`) when all are taken.
    fn enter(&self) -> Result<InFlight, ApiError> {
        let place = InFlight {
            in_flight: self.in_flight.clone(),
        };
        if self.in_flight.fetch_add(1, Ordering::Relaxed) + 1 > self.max_in_flight {
            return Err(ApiError::new(
                ErrorCode::Busy,
                "busy: too many checks in progress; retry after the time in Retry-After",
            ));
        }
        Ok(place)
    }
}

/// Holds one of the `max_in_flight` places while a check is in progress.
pub(crate) struct InFlight {
    in_flight: Arc<AtomicI64>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request let in: its slot, the time of admission and its credential.
pub(crate) struct Admitted {
    pub slot: InFlight,
    pub now: JapanTime,
    pub credential: Credential,
}

/// Everything that must hold before a check body is read: a free slot,
/// service hours, a live snapshot, and (with a registry) a credential.
pub(crate) fn admit(app: &Arc<App>, request: &Request<Incoming>) -> Result<Admitted, ApiError> {
    let slot = app.admission.enter()?;
    let now = app.config.clock.japan();
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
    if app.live.borrow().is_none() || app.starting.load(Ordering::Acquire) {
        return Err(no_snapshot());
    }
    let credential = credential(app, request)?;
    Ok(Admitted {
        slot,
        now,
        credential,
    })
}

/// The request's credential (its token, and its connection's client
/// certificate judged again now), refused (401, before the body is read)
/// when it could authorize nothing at all.
pub(crate) fn credential(app: &App, request: &Request<Incoming>) -> Result<Credential, ApiError> {
    let mut credential =
        Credential::from_authorization(request.headers().get(AUTHORIZATION).map(|v| v.as_bytes()));
    if let Some(peer) = peer_still_valid(app.public_tls.as_deref(), request)? {
        credential.certificate = Some(CertificateId {
            fingerprint: peer.fingerprint,
            institution: peer.institution,
        });
    }
    if app.access.load().may_present(credential) {
        Ok(credential)
    } else {
        Err(ApiError::new(
            ErrorCode::Unauthorized,
            "Authorization: send `Authorization: Bearer <token>` with your institution's registered token",
        ))
    }
}

/// The client certificate of the request's connection (TLS listeners
/// only), refused (401, and the connection closed after the answer) when
/// it has been revoked or has expired since the handshake.
pub(crate) fn peer_still_valid<'r>(
    tls: Option<&TlsEndpoint>,
    request: &'r Request<Incoming>,
) -> Result<Option<&'r PeerCertificate>, ApiError> {
    let (Some(tls), Some(peer)) = (tls, request.extensions().get::<Arc<PeerCertificate>>()) else {
        return Ok(None);
    };
    tls.check_peer(peer).map_err(|refusal| ApiError {
        close_connection: true,
        ..ApiError::new(
            ErrorCode::Unauthorized,
            format!("client certificate: {refusal}"),
        )
    })?;
    Ok(Some(peer))
}

pub(crate) fn no_snapshot() -> ApiError {
    ApiError::new(
        ErrorCode::NoSnapshot,
        "no snapshot is loaded yet; retry after the time in Retry-After",
    )
}

/// The validation rules for a check made at `now`.
pub(crate) fn rules(app: &App, now: JapanTime) -> Rules {
    Rules {
        today: now.date,
        max_past_days: app.config.max_past_days,
        require_birth_date: app.config.require_birth_date,
    }
}

/// Refuses a credential that may not check (or search the history) for
/// `institution`, and a check over the institution's budget.
pub(crate) fn authorize(
    app: &App,
    institution: &InstitutionCode,
    credential: Credential,
) -> Result<(), ApiError> {
    app.access
        .load()
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
            Denied::CertificateOf(holder) => ApiError::new(
                ErrorCode::Forbidden,
                format!("institution: the client certificate is institution {holder}'s; it may not check for {institution}"),
            ),
            Denied::CertificateUnregistered => ApiError::new(
                ErrorCode::Forbidden,
                "client certificate: it identifies no registered institution (no institution code in its subject, or one whose registry line pins another certificate)",
            ),
            Denied::TokenRequired => ApiError::new(
                ErrorCode::Unauthorized,
                "Authorization: send your institution's token as well as its certificate (`Authorization: Bearer <token>`)",
            ),
            Denied::CertificateRequired => ApiError::new(
                ErrorCode::Unauthorized,
                "client certificate: this service asks for your institution's certificate as well as its token",
            ),
        })?;
    within_budget(app, institution)
}

/// Takes one check from `institution`'s budget (with a `throttle_rate`):
/// 429 `throttled` with the seconds until the next is allowed when it has
/// none left. The first refusal of a minute is logged.
fn within_budget(app: &App, institution: &InstitutionCode) -> Result<(), ApiError> {
    let over = match app.throttle.take(*institution) {
        Ok(()) => return Ok(()),
        Err(over) => over,
    };
    app.metrics.throttled(InstitutionClass::of(institution));
    if over.log {
        eprintln!(
            "shikaku: institution {institution} is over its budget of checks; refused with 429 (logged once a minute)"
        );
    }
    Err(ApiError {
        retry_after: Some(over.retry_after),
        ..ApiError::new(
            ErrorCode::Throttled,
            format!(
                "institution {institution} sent more checks than its budget allows; retry after {} s",
                over.retry_after
            ),
        )
    })
}

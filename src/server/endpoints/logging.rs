//! What the check log records of each check, gathered as the check is
//! handled: the request's institution, key and date once parsed, and the
//! answer's reception number, insurer and generation once answered.

use crate::checklog::record::{CheckRecord, OwnedKey, Via};
use crate::checklog::{CheckLog, NoPlace};
use crate::model::ErrorCode;
use crate::model::Outcome;
use crate::model::{Date, InstitutionCode, InsurerNumber, Verdict};
use crate::server::http::response::ApiError;
use crate::server::request::CheckRequest;
use std::time::Duration;

/// A check answered with a verdict: what the log keeps of the answer.
#[derive(Clone, Debug)]
pub(crate) struct Answered {
    pub verdict: Verdict,
    /// The insurer of the first record answered.
    pub insurer: Option<InsurerNumber>,
    pub reception: String,
    pub snapshot: String,
    pub update_lsn: u64,
    pub crl: String,
}

/// The facts of one check so far.
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    pub institution: Option<InstitutionCode>,
    pub key: Option<OwnedKey>,
    pub date: Option<Date>,
    pub answered: Option<Answered>,
}

impl Facts {
    /// Notes the institution, key and date of a parsed request.
    pub(crate) fn request(&mut self, request: &CheckRequest) {
        self.institution = Some(request.institution);
        self.key = Some(OwnedKey::of(&request.check.query));
        self.date = Some(request.check.date);
    }

    /// The encoded record of this check, ended with `outcome`.
    /// `micros` is when it was answered.
    pub(crate) fn encode(
        &self,
        outcome: Outcome,
        via: Via,
        latency: Duration,
        micros: u64,
    ) -> Vec<u8> {
        let answered = self.answered.as_ref();
        let record = CheckRecord {
            micros,
            latency_us: latency.as_micros().min(u128::from(u32::MAX)) as u32,
            via,
            institution: self.institution,
            key: self
                .key
                .as_ref()
                .map_or(crate::checklog::record::LoggedKey::NONE, OwnedKey::as_key),
            date: self.date,
            outcome,
            insurer: answered.and_then(|a| a.insurer),
            snapshot: answered.map_or("", |a| &a.snapshot),
            update_lsn: answered.map_or(0, |a| a.update_lsn),
            crl: answered.map_or("", |a| &a.crl),
            reception: answered.map_or("", |a| &a.reception),
        };
        let mut bytes = Vec::with_capacity(192);
        record.encode(&mut bytes);
        bytes
    }
}

/// The outcome of a handled check.
pub(crate) fn outcome<T>(result: &Result<T, ApiError>, verdict: impl Fn(&T) -> Verdict) -> Outcome {
    match result {
        Ok(answer) => Outcome::Verdict(verdict(answer)),
        Err(error) => Outcome::Error(error.code),
    }
}

/// Takes a place in the log's queue for a check about to be answered, or
/// the 503 to answer instead (the `shed` policy with the queue full).
pub(crate) async fn reserve(
    log: Option<&CheckLog>,
) -> Result<Option<crate::checklog::Slot<'_>>, ApiError> {
    let Some(log) = log else { return Ok(None) };
    log.reserve().await.map(Some).map_err(|NoPlace| {
        ApiError::new(
            ErrorCode::Busy,
            "busy: the check log is behind; retry after the time in Retry-After",
        )
    })
}

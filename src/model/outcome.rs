//! What a check ended in, as recorded on disk: a verdict, or an error code.
//!
//! Every outcome has a pinned one-byte code. The check log stores these
//! codes for six months (and the JPKI fee export is read back from them), so
//! a code once given is never reused or renumbered: a new variant takes the
//! next free number, and `outcome_codes_are_pinned` fails if any value
//! changes. The wire names (`as_str`) are part of the API contract in the
//! same way.

use super::Verdict;
use std::fmt;

/// Why a request was not answered with a verdict (the `error.code` of an
/// error answer). HTTP statuses are the front end's business.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A malformed body or field; the message names the field.
    BadRequest,
    /// A certificate that decodes but is not accepted: an issuer that is not
    /// a trusted user-certificate CA, or a signature that does not verify.
    CertificateRejected,
    /// No credential, or one that is not registered.
    Unauthorized,
    /// A credential that may not act for the institution named.
    Forbidden,
    /// No such endpoint.
    NotFound,
    /// The endpoint takes another method.
    MethodNotAllowed,
    /// The body did not arrive in time.
    Timeout,
    /// The body is larger than allowed.
    TooLarge,
    /// Too much in progress (or the check log is full under `shed`).
    Busy,
    /// No snapshot is loaded yet.
    NoSnapshot,
    /// Outside the service hours.
    OutsideServiceHours,
    /// An admin action refused (the live state is unchanged).
    Refused,
    /// A fault of the server.
    Internal,
    /// A file of the live snapshot changed under the server (truncated or
    /// overwritten); nothing is answered from it until another is activated.
    SnapshotDamaged,
    /// The institution sent more checks than its budget allows (429).
    Throttled,
}

impl ErrorCode {
    /// Every code, in the order of their pinned values.
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadRequest,
        ErrorCode::CertificateRejected,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Timeout,
        ErrorCode::TooLarge,
        ErrorCode::Busy,
        ErrorCode::NoSnapshot,
        ErrorCode::OutsideServiceHours,
        ErrorCode::Refused,
        ErrorCode::Internal,
        ErrorCode::SnapshotDamaged,
        ErrorCode::Throttled,
    ];

    /// The pinned on-disk value (never changes; see the module docs).
    pub const fn code(self) -> u8 {
        match self {
            ErrorCode::BadRequest => 0,
            ErrorCode::CertificateRejected => 1,
            ErrorCode::Unauthorized => 2,
            ErrorCode::Forbidden => 3,
            ErrorCode::NotFound => 4,
            ErrorCode::MethodNotAllowed => 5,
            ErrorCode::Timeout => 6,
            ErrorCode::TooLarge => 7,
            ErrorCode::Busy => 8,
            ErrorCode::NoSnapshot => 9,
            ErrorCode::OutsideServiceHours => 10,
            ErrorCode::Refused => 11,
            ErrorCode::Internal => 12,
            ErrorCode::SnapshotDamaged => 13,
            ErrorCode::Throttled => 14,
        }
    }

    /// The code with pinned value `code`, if there is one.
    pub fn from_code(code: u8) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The wire name used in error answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::CertificateRejected => "certificate_rejected",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Timeout => "timeout",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Busy => "busy",
            ErrorCode::NoSnapshot => "no_snapshot",
            ErrorCode::OutsideServiceHours => "outside_service_hours",
            ErrorCode::Refused => "refused",
            ErrorCode::Internal => "internal",
            ErrorCode::SnapshotDamaged => "snapshot_damaged",
            ErrorCode::Throttled => "throttled",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was answered: a verdict, or an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The check was answered with this verdict.
    Verdict(Verdict),
    /// The request was refused with this error.
    Error(ErrorCode),
}

/// The on-disk tag of [`Outcome::Verdict`].
pub const OUTCOME_VERDICT: u8 = 1;
/// The on-disk tag of [`Outcome::Error`].
pub const OUTCOME_ERROR: u8 = 2;

impl Outcome {
    /// The verdict or error code, as in the answer.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verdict(verdict) => verdict.as_str(),
            Outcome::Error(code) => code.as_str(),
        }
    }

    /// The on-disk form: a tag ([`OUTCOME_VERDICT`] or [`OUTCOME_ERROR`])
    /// and the pinned code.
    pub fn to_bytes(self) -> [u8; 2] {
        match self {
            Outcome::Verdict(verdict) => [OUTCOME_VERDICT, verdict.code()],
            Outcome::Error(error) => [OUTCOME_ERROR, error.code()],
        }
    }

    /// The outcome stored as `bytes`, if they name one.
    pub fn from_bytes([tag, code]: [u8; 2]) -> Option<Outcome> {
        match tag {
            OUTCOME_VERDICT => Verdict::from_code(code).map(Outcome::Verdict),
            OUTCOME_ERROR => ErrorCode::from_code(code).map(Outcome::Error),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes every outcome is stored as. Six months of check logs and
    /// the JPKI fee export depend on them: this list is only ever appended
    /// to.
    const PINNED: [(&str, [u8; 2]); 24] = [
        ("valid", [1, 0]),
        ("invalid", [1, 1]),
        ("invalid_newer_exists", [1, 2]),
        ("not_found", [1, 3]),
        ("multiple", [1, 4]),
        ("not_linked", [1, 5]),
        ("cert_revoked", [1, 6]),
        ("cert_suspended", [1, 7]),
        ("cert_expired", [1, 8]),
        ("bad_request", [2, 0]),
        ("certificate_rejected", [2, 1]),
        ("unauthorized", [2, 2]),
        ("forbidden", [2, 3]),
        ("not_found", [2, 4]),
        ("method_not_allowed", [2, 5]),
        ("timeout", [2, 6]),
        ("too_large", [2, 7]),
        ("busy", [2, 8]),
        ("no_snapshot", [2, 9]),
        ("outside_service_hours", [2, 10]),
        ("refused", [2, 11]),
        ("internal", [2, 12]),
        ("snapshot_damaged", [2, 13]),
        ("throttled", [2, 14]),
    ];

    fn every_outcome() -> Vec<Outcome> {
        let verdicts = Verdict::ALL.into_iter().map(Outcome::Verdict);
        verdicts
            .chain(ErrorCode::ALL.into_iter().map(Outcome::Error))
            .collect()
    }

    #[test]
    fn outcome_codes_are_pinned() {
        let stored: Vec<(&str, [u8; 2])> = every_outcome()
            .into_iter()
            .map(|o| (o.as_str(), o.to_bytes()))
            .collect();
        assert_eq!(stored, PINNED, "an on-disk outcome code changed");
    }

    #[test]
    fn every_stored_outcome_reads_back() {
        for outcome in every_outcome() {
            assert_eq!(Outcome::from_bytes(outcome.to_bytes()), Some(outcome));
        }
        assert_eq!(Outcome::from_bytes([0, 0]), None);
        assert_eq!(Outcome::from_bytes([1, 200]), None);
        assert_eq!(Outcome::from_bytes([2, 15]), None);
    }
}

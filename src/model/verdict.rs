//! Verdicts (資格有効性) of `CONTRACT.md` §3, kept apart from the processing
//! status as the production system does.

use std::fmt;

/// What a check concluded about the person and date asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Records in force on the date; all of them answered, newest first.
    Valid,
    /// Records exist, none in force; the most recent answered as before loss.
    Invalid,
    /// As `Invalid`, and the person holds an in-force record elsewhere
    /// (not revealed on the insurance-card path).
    InvalidNewerExists,
    /// Nothing known for the key (or the birth date did not match).
    NotFound,
    /// The key matched more than one person.
    Multiple,
    /// Card path: the serial is not linked to a person (紐付け未了).
    NotLinked,
    /// Card path: the certificate is on the CRL as revoked.
    CertRevoked,
    /// Card path: the certificate is on the CRL as suspended (certificateHold).
    CertSuspended,
    /// Card path: the certificate's validity period does not cover the date.
    CertExpired,
}

impl Verdict {
    pub const ALL: [Verdict; 9] = [
        Verdict::Valid,
        Verdict::Invalid,
        Verdict::InvalidNewerExists,
        Verdict::NotFound,
        Verdict::Multiple,
        Verdict::NotLinked,
        Verdict::CertRevoked,
        Verdict::CertSuspended,
        Verdict::CertExpired,
    ];

    /// The wire name used in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::InvalidNewerExists => "invalid_newer_exists",
            Verdict::NotFound => "not_found",
            Verdict::Multiple => "multiple",
            Verdict::NotLinked => "not_linked",
            Verdict::CertRevoked => "cert_revoked",
            Verdict::CertSuspended => "cert_suspended",
            Verdict::CertExpired => "cert_expired",
        }
    }

    pub fn parse(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == name)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

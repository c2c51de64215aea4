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
    /// Every verdict, in the order of their pinned values.
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

    /// The pinned on-disk value (see [`super::outcome`]: never changes).
    pub const fn code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::InvalidNewerExists => 2,
            Verdict::NotFound => 3,
            Verdict::Multiple => 4,
            Verdict::NotLinked => 5,
            Verdict::CertRevoked => 6,
            Verdict::CertSuspended => 7,
            Verdict::CertExpired => 8,
        }
    }

    /// The verdict with pinned value `code`, if there is one.
    pub fn from_code(code: u8) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.code() == code)
    }

    /// The verdict with wire name `name`.
    pub fn parse(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == name)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the CRL says about a serial that it lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// Revoked for good (any CRL reason but certificateHold).
    Revoked,
    /// Suspended (certificateHold, 一時停止); may be lifted.
    Suspended,
}

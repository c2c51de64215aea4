//! The answer rules (`SPEC.md` §3): given a loaded snapshot, a check and a
//! date, decide the verdict and which records to answer with.
//!
//! [`answer`] is the one function that decides: the certificate step
//! (issuer, signature, expiry → `cert_expired`), then the CRL, linkage and
//! eligibility rules. The JSON API, bulk checks, the canaries and the
//! verdict-drift gate of an activation, and the command line all call it,
//! so they cannot answer the same check differently; [`rules`] holds what a
//! check must meet before it is answered (the date window).
//!
//! Pure functions over borrowed data (a snapshot and the overlay of changes
//! over it, see [`crate::updates::view`]): no I/O, no locks, and no heap
//! allocation unless a key matches more than eight rows. The front ends
//! only translate requests into a [`Check`] and [`Answer`] into JSON
//! ([`json`]).

pub mod json;
pub mod reception;
pub mod rules;
pub mod sample;

use crate::crl::certificate::{Judged, UserCertificate};
use crate::crl::trust::Trust;
use crate::crl::Crl;
use crate::model::{CardFaceKey, Date, OnlineNumber, Revocation, Serial, TextField, Verdict};
use crate::snapshot::Snapshot;
pub use crate::updates::view::{Record, Records, View};

/// What is being checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// My Number card: the user certificate's serial (from the certificate
    /// of the [`Check`] when one was sent).
    Card {
        /// The user certificate's serial number.
        serial: Serial,
    },
    /// Insurance card by online-check number (e.g. from the QR code).
    OnlineNumber {
        /// The online-check number asked for (insurer code + branch number, or municipal ID).
        number: OnlineNumber,
        /// Birth date from the card face; a mismatch answers `not_found`, `None` skips the comparison.
        birth_date: Option<Date>,
    },
    /// Insurance card by the key printed on its face.
    CardFace {
        /// Insurer number, symbol, number and branch as printed on the card.
        key: CardFaceKey,
        /// Birth date from the card face; a mismatch answers `not_found`, `None` skips the comparison.
        birth_date: Option<Date>,
    },
}

/// The verdict and the records answered with, borrowed from the view.
#[derive(Debug)]
pub struct Answer<'s> {
    /// The eligibility verdict (資格有効性) answered.
    pub verdict: Verdict,
    /// Newest `acquired` first. Empty for `not_found`, `multiple` and the
    /// certificate verdicts.
    pub records: Records<'s>,
}

impl<'s> Answer<'s> {
    /// A verdict without records (`not_found`, `multiple`, certificate verdicts).
    pub fn bare(verdict: Verdict) -> Answer<'s> {
        Answer {
            verdict,
            records: Records::new(),
        }
    }
}

/// One check as the engine answers it, whichever front end parsed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What is being checked.
    pub query: Query,
    /// The treatment date (already within the [`rules::Rules`] window).
    pub date: Date,
    /// The user certificate of a card check that sent one (`query` then
    /// holds its serial).
    pub certificate: Option<Box<UserCertificate>>,
}

/// A sent certificate that is not accepted (an untrusted issuer, or a
/// signature that does not verify): the check is refused, not answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateRejected(pub String);

/// Answers `check` from `view`, with card serials looked up in `crl` and
/// a sent certificate judged against the CAs `trust` accepts while `crl`
/// is live: an untrusted one is refused, an expired one answers
/// `cert_expired`, a current one goes on with its serial.
pub fn answer<'s>(
    view: View<'s>,
    crl: &Crl,
    trust: &Trust,
    check: &Check,
) -> Result<Answer<'s>, CertificateRejected> {
    if let Some(certificate) = &check.certificate {
        let judged = certificate
            .judge(trust.cas(crl), trust.verify_signatures, check.date)
            .map_err(CertificateRejected)?;
        if judged == Judged::Expired {
            return Ok(Answer::bare(Verdict::CertExpired));
        }
    }
    Ok(check_view(view, crl, &check.query, check.date))
}

/// Answers `query` for treatment date `date` from `snapshot` as built (no
/// overlay) and the revocation list built into it.
pub fn check<'s>(snapshot: &'s Snapshot, query: &Query, date: Date) -> Answer<'s> {
    check_view(View::bare(snapshot), snapshot.crl(), query, date)
}

/// Answers `query` from a snapshot and its overlay, with card serials
/// looked up in `crl` (the server's CRL generation, which may be newer than
/// the snapshot's).
pub fn check_view<'s>(view: View<'s>, crl: &Crl, query: &Query, date: Date) -> Answer<'s> {
    match query {
        Query::Card { serial } => check_card(view, crl, serial, date),
        Query::OnlineNumber { number, birth_date } => {
            let rows = view.rows_by_online_number(number);
            answer_insurance_card(view, rows, *birth_date, date)
        }
        Query::CardFace { key, birth_date } => {
            let mut rows =
                view.rows_by_card_face(key.insurer_number.as_str(), &key.symbol, &key.number);
            if let Some(branch) = key.branch {
                // Cards issued before 枝番 existed carry none: such rows match any branch.
                rows.retain(|row| {
                    let row_branch = row.text(TextField::CardBranch);
                    row_branch.is_empty() || row_branch == branch.as_str()
                });
            }
            answer_insurance_card(view, rows, *birth_date, date)
        }
    }
}

/// Card path: CRL, then linkage, then every row of the person, across insurers.
fn check_card<'s>(view: View<'s>, crl: &Crl, serial: &Serial, date: Date) -> Answer<'s> {
    match crl.status(serial) {
        Some(Revocation::Revoked) => return Answer::bare(Verdict::CertRevoked),
        Some(Revocation::Suspended) => return Answer::bare(Verdict::CertSuspended),
        None => {}
    }
    let Some(linkage) = view.serial_link(serial) else {
        return Answer::bare(Verdict::NotLinked);
    };
    let rows = view.person_rows(linkage);
    if rows.is_empty() {
        return Answer::bare(Verdict::NotFound);
    }
    answer_for_person(rows, &[], date)
}

/// Insurance-card path: only the rows of the key (that insurer), one person.
fn answer_insurance_card<'s>(
    view: View<'s>,
    mut rows: Records<'s>,
    birth_date: Option<Date>,
    date: Date,
) -> Answer<'s> {
    if let Some(birth_date) = birth_date {
        rows.retain(|row| row.date(crate::model::DateField::BirthDate) == Some(birth_date));
    }
    let Some(first) = rows.first() else {
        return Answer::bare(Verdict::NotFound);
    };
    let person = first.linkage();
    if rows.iter().any(|row| row.linkage() != person) {
        return Answer::bare(Verdict::Multiple);
    }
    rows.sort_by(|a, b| crate::model::record::newest_first(a.order(), b.order()));
    let others: Records<'s> = view
        .person_rows(person)
        .into_iter()
        .filter(|r| !rows.iter().any(|m| m.is(r)))
        .collect();
    answer_for_person(rows, &others, date)
}
/// The rules for one person's matched rows (newest first): all in-force
/// rows → `valid`; otherwise the most recent row that was ever in force by
/// the date (or, failing that, the newest) → `invalid`, or
/// `invalid_newer_exists` when one of the person's `other_rows` is in force
/// and was acquired after that row (a new card not yet in force while the
/// old one still is stays plain `invalid`).
fn answer_for_person<'s>(
    matched: Records<'s>,
    other_rows: &[Record<'s>],
    date: Date,
) -> Answer<'s> {
    if matched.iter().any(|row| row.validity().in_force_on(date)) {
        let in_force: Records<'s> = matched
            .into_iter()
            .filter(|row| row.validity().in_force_on(date))
            .collect();
        return Answer {
            verdict: Verdict::Valid,
            records: in_force,
        };
    }
    let shown = matched
        .iter()
        .position(|row| row.validity().started_by(date))
        .or((!matched.is_empty()).then_some(0));
    let most_recent = shown.and_then(|index| matched.into_iter().nth(index));
    let shown_acquired = most_recent.as_ref().map(|row| row.validity().acquired);
    let newer_elsewhere = other_rows.iter().any(|row| {
        let validity = row.validity();
        validity.in_force_on(date) && shown_acquired.is_none_or(|shown| validity.acquired > shown)
    });
    Answer {
        verdict: if newer_elsewhere {
            Verdict::InvalidNewerExists
        } else {
            Verdict::Invalid
        },
        records: most_recent.into_iter().collect(),
    }
}

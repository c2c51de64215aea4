//! The gates a new CRL passes before it replaces the live one.
//!
//! The 07:00 list replaces yesterday's whole, so a wrong file would wrongly
//! revoke (or clear) millions of cards at once. Each gate names what it saw;
//! `force` lets an operator override the judgement ones (older, count) but
//! never the signature, which the import already checked.

use super::Crl;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// What to do with a CRL that is already past its nextUpdate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StaleCrl {
    /// Serve it, and raise the stale alarm (status, metrics, log).
    Alarm,
    /// Refuse it unless forced.
    Refuse,
}

impl StaleCrl {
    /// Parses the configured value: `alarm` or `refuse`.
    pub fn parse(text: &str) -> Result<StaleCrl, String> {
        match text {
            "alarm" => Ok(StaleCrl::Alarm),
            "refuse" => Ok(StaleCrl::Refuse),
            other => Err(format!("'{other}': expected alarm or refuse")),
        }
    }
}

/// The configured bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct CrlPolicy {
    /// Largest accepted change of the entry count, as a fraction of the
    /// live list's (0.05 = ±5%).
    pub max_count_change: f64,
    /// What to do with a list already past its nextUpdate.
    pub stale: StaleCrl,
}

impl Default for CrlPolicy {
    fn default() -> CrlPolicy {
        CrlPolicy {
            max_count_change: 0.05,
            stale: StaleCrl::Alarm,
        }
    }
}

/// The outcome of the gates for an accepted CRL.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Passed {
    /// Refusals overridden by `force`.
    pub forced: Vec<String>,
    /// Conditions that do not refuse but must be seen (a stale list).
    pub alarms: Vec<String>,
}

/// Judges `candidate` against the `live` list at `now`. `Err` carries every
/// reason it is refused.
pub fn judge(
    candidate: &Crl,
    live: Option<&Crl>,
    now: DateTime<Utc>,
    policy: &CrlPolicy,
    force: bool,
) -> Result<Passed, Vec<String>> {
    let mut refusals = Vec::new();
    let mut passed = Passed::default();
    if let Some(live) = live {
        refusals.extend(older(candidate, live));
        refusals.extend(count_change(candidate, live, policy.max_count_change));
    }
    if candidate.is_stale(now) {
        let next = candidate
            .meta()
            .and_then(|m| m.next_update.clone())
            .unwrap_or_default();
        let message = format!(
            "CRL {} is past its nextUpdate ({next}): the CA has not published a newer one, or this is an old file",
            candidate.id()
        );
        match policy.stale {
            StaleCrl::Alarm => passed.alarms.push(message),
            StaleCrl::Refuse => refusals.push(message),
        }
    }
    if refusals.is_empty() {
        Ok(passed)
    } else if force {
        passed.forced = refusals;
        Ok(passed)
    } else {
        Err(refusals)
    }
}

/// A candidate issued before the live list (by thisUpdate, or by CRL number).
fn older(candidate: &Crl, live: &Crl) -> Vec<String> {
    let (Some(new), Some(old)) = (candidate.meta(), live.meta()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let (Some(new_time), Some(old_time)) = (new.this_update_time(), old.this_update_time()) {
        if new_time < old_time {
            out.push(format!(
                "CRL {} is older than the live {}: thisUpdate {} is before {}",
                candidate.id(),
                live.id(),
                new.this_update,
                old.this_update
            ));
        }
    }
    if let (Some(new_number), Some(old_number)) = (new.number_value(), old.number_value()) {
        if new_number < old_number {
            out.push(format!(
                "CRL {} is older than the live {}: CRL number {} is below {}",
                candidate.id(),
                live.id(),
                new.number.as_deref().unwrap_or_default(),
                old.number.as_deref().unwrap_or_default()
            ));
        }
    }
    out
}

/// An entry count that moved more than the bound from the live list's. A
/// live list with no entries gives no base to compare with.
fn count_change(candidate: &Crl, live: &Crl, bound: f64) -> Option<String> {
    let (new, old) = (candidate.entries(), live.entries());
    if old == 0 {
        return None;
    }
    let change = (new as f64 - old as f64) / old as f64;
    (change.abs() > bound).then(|| {
        format!(
            "CRL {} lists {new} serials, the live {} lists {old}: a change of {:+.1}%, beyond the ±{:.1}% bound (a truncated or wrong file?)",
            candidate.id(),
            live.id(),
            change * 100.0,
            bound * 100.0
        )
    })
}

//! `revoked.csv`: revoked and suspended certificate serials.
//!
//! Reasons are RFC 5280 CRLReason names; `certificateHold` means the
//! certificate is suspended (一時停止), every other reason revoked.

use super::csv_input::{BadRow, CsvSource, Encoding, SourceDigest};
use crate::model::{Date, Revocation, Serial};
use std::path::Path;

/// RFC 5280 §5.3.1 reason names (removeFromCRL excluded: it only belongs in
/// delta CRLs, and a full list is replaced whole).
const REASONS: [&str; 9] = [
    "unspecified",
    "keyCompromise",
    "cACompromise",
    "affiliationChanged",
    "superseded",
    "cessationOfOperation",
    "certificateHold",
    "privilegeWithdrawn",
    "aACompromise",
];

/// Streams `revoked.csv`: each good row as (serial, status, line).
pub fn read_revocations(
    path: &Path,
    encoding: Encoding,
    good: impl FnMut((Serial, Revocation, u64)),
    bad: &mut dyn FnMut(BadRow),
) -> anyhow::Result<SourceDigest> {
    let mut source = CsvSource::open(path, encoding)?;
    source.require_columns(&["serial", "reason"])?;
    let (serial, reason, revoked_at) = (
        source.column("serial"),
        source.column("reason"),
        source.column("revoked_at"),
    );
    Ok(source.for_each_row(
        |row| {
            let parsed = Serial::parse(row.cell(serial))
                .map_err(|e| format!("serial: {e}"))
                .and_then(|value| {
                    check_revoked_at(row.cell(revoked_at))?;
                    match row.cell(reason).trim() {
                        "certificateHold" => Ok((value, Revocation::Suspended, row.line)),
                        "" => Ok((value, Revocation::Revoked, row.line)),
                        name if REASONS.contains(&name) => {
                            Ok((value, Revocation::Revoked, row.line))
                        }
                        name => Err(format!(
                            "reason: '{name}' is not an RFC 5280 CRLReason ({})",
                            REASONS.join(", ")
                        )),
                    }
                });
            parsed.map_err(|reason| row.bad(reason))
        },
        good,
        bad,
    ))
}

/// `revoked_at` is a date, or an RFC 3339 date-time whose date part is read.
fn check_revoked_at(cell: &str) -> Result<(), String> {
    let cell = cell.trim();
    let date_part = cell.split(['T', ' ']).next().unwrap_or("");
    Date::parse_optional(date_part)
        .map(|_| ())
        .map_err(|e| format!("revoked_at: {e}"))
}

//! `linkage.csv` (serial → person) and `renewals.csv` (new serial → old).

use super::csv_input::{BadRow, CsvSource, Encoding, SourceDigest};
use crate::model::{LinkageNo, Serial};
use std::path::Path;

/// One row of `linkage.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRow {
    /// Certificate serial (`serial`).
    pub serial: Serial,
    /// 紐付番号 of the person the serial belongs to (`linkage_no`).
    pub linkage: LinkageNo,
    /// Line of `linkage.csv` the row came from (header is line 1).
    pub line: u64,
}

/// One row of `renewals.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RenewalRow {
    /// Serial of the renewed certificate, which takes over the person (`new_serial`).
    pub new_serial: Serial,
    /// Serial it replaces, which no longer resolves (`old_serial`).
    pub old_serial: Serial,
    /// Line of `renewals.csv` the row came from (header is line 1).
    pub line: u64,
}

/// Reads a serial cell; the error names the column.
pub fn serial_cell(value: &str, column: &str) -> Result<Serial, String> {
    Serial::parse(value).map_err(|e| format!("{column}: {e}"))
}

/// Streams `linkage.csv`.
pub fn read_linkage(
    path: &Path,
    encoding: Encoding,
    good: impl FnMut(LinkRow),
    bad: &mut dyn FnMut(BadRow),
) -> anyhow::Result<SourceDigest> {
    let mut source = CsvSource::open(path, encoding)?;
    source.require_columns(&["serial", "linkage_no"])?;
    let (serial, linkage) = (source.column("serial"), source.column("linkage_no"));
    Ok(source.for_each_row(
        |row| {
            let parsed = serial_cell(row.cell(serial), "serial").and_then(|serial| {
                LinkageNo::parse(row.cell(linkage))
                    .map(|linkage| LinkRow {
                        serial,
                        linkage,
                        line: row.line,
                    })
                    .map_err(|e| format!("linkage_no: {e}"))
            });
            parsed.map_err(|reason| row.bad(reason))
        },
        good,
        bad,
    ))
}

/// Streams `renewals.csv`.
pub fn read_renewals(
    path: &Path,
    encoding: Encoding,
    good: impl FnMut(RenewalRow),
    bad: &mut dyn FnMut(BadRow),
) -> anyhow::Result<SourceDigest> {
    let mut source = CsvSource::open(path, encoding)?;
    source.require_columns(&["new_serial", "old_serial"])?;
    let (new, old) = (source.column("new_serial"), source.column("old_serial"));
    Ok(source.for_each_row(
        |row| {
            let parsed = serial_cell(row.cell(new), "new_serial").and_then(|new_serial| {
                let old_serial = serial_cell(row.cell(old), "old_serial")?;
                if new_serial == old_serial {
                    return Err("new_serial: equals old_serial".to_string());
                }
                Ok(RenewalRow {
                    new_serial,
                    old_serial,
                    line: row.line,
                })
            });
            parsed.map_err(|reason| row.bad(reason))
        },
        good,
        bad,
    ))
}

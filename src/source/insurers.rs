//! `insurers.csv`: the insurer master (保険者マスタ).

use super::csv_input::{BadRow, CsvSource, Encoding, Row, SourceDigest};
use crate::model::{Date, InsurerNumber};
use std::path::Path;

/// One insurer of the master.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InsurerRow {
    /// 保険者番号, the master's key (`insurer_number`).
    pub number: InsurerNumber,
    /// Insurer name (`name`, required, never empty).
    pub name: String,
    /// Insurer address (`address`); empty when not given.
    pub address: String,
    /// Insurer phone number (`phone`); empty when not given.
    pub phone: String,
    /// Postal code of the insurer (`postal_code`); empty when not given.
    pub postal_code: String,
    /// Date the insurer was abolished (`abolished`); `None` while it exists.
    pub abolished: Option<Date>,
}

/// Reads the whole master (a few thousand rows), each with its line.
pub fn read_insurers(
    path: &Path,
    encoding: Encoding,
    bad: &mut dyn FnMut(BadRow),
) -> anyhow::Result<(Vec<(InsurerRow, u64)>, SourceDigest)> {
    let mut source = CsvSource::open(path, encoding)?;
    source.require_columns(&["insurer_number", "name"])?;
    let mut rows = Vec::new();
    let digest = source.for_each_row(
        |row| {
            parse_insurer(row)
                .map(|insurer| (insurer, row.line))
                .map_err(|reason| row.bad(reason))
        },
        |row| rows.push(row),
        bad,
    );
    Ok((rows, digest))
}

/// Reads one insurer (columns by name); the error names the column.
pub fn parse_insurer(row: &Row<'_>) -> Result<InsurerRow, String> {
    let text = |column: &str| crate::model::ids::normalize_width(row.get(column)).into_owned();
    let number = InsurerNumber::parse(row.get("insurer_number"))
        .map_err(|e| format!("insurer_number: {e}"))?;
    let abolished =
        Date::parse_optional(row.get("abolished")).map_err(|e| format!("abolished: {e}"))?;
    let name = text("name");
    if name.is_empty() {
        return Err("name: required".to_string());
    }
    Ok(InsurerRow {
        number,
        name,
        address: text("address"),
        phone: text("phone"),
        postal_code: text("postal_code"),
        abolished,
    })
}

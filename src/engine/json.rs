//! The JSON shape of an answer (`CONTRACT.md` §3), written straight from the
//! snapshot's borrowed rows.
//!
//! Record fields carry the `eligibility.csv` column names; empty cells are
//! `null`. `linkage_no` is deliberately left out: it is the upstream
//! person key and institutions have no use for it (see docs/api.md).

use super::Answer;
use crate::model::{CodeField, Date, DateField, TextField};
use crate::snapshot::{RowRef, Snapshot};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

/// Answers `query` and returns the whole answer as JSON, with a new
/// reception number (the operator's `check` and the demo use this).
pub fn check_to_json(
    snapshot: &Snapshot,
    query: &super::Query,
    date: Date,
    client_ref: Option<&str>,
) -> serde_json::Result<serde_json::Value> {
    let answer = super::check(snapshot, query, date);
    let reception = super::reception::next_reception();
    serde_json::to_value(AnswerJson {
        answer: &answer,
        snapshot,
        date,
        client_ref,
        reception: &reception,
    })
}

/// An answer with its envelope, ready for `serde_json`.
pub struct AnswerJson<'a, 's> {
    pub answer: &'a Answer<'s>,
    pub snapshot: &'s Snapshot,
    pub date: Date,
    pub client_ref: Option<&'a str>,
    pub reception: &'a str,
}

impl Serialize for AnswerJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(7))?;
        map.serialize_entry("status", "ok")?;
        map.serialize_entry("verdict", self.answer.verdict.as_str())?;
        map.serialize_entry("date", &DateJson(Some(self.date)))?;
        map.serialize_entry("snapshot", self.snapshot.id())?;
        map.serialize_entry("client_ref", &self.client_ref)?;
        map.serialize_entry("reception", self.reception)?;
        map.serialize_entry(
            "records",
            &RecordsJson {
                rows: &self.answer.records,
                snapshot: self.snapshot,
            },
        )?;
        map.end()
    }
}

struct RecordsJson<'a, 's> {
    rows: &'a [RowRef<'s>],
    snapshot: &'s Snapshot,
}

impl Serialize for RecordsJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.rows.len()))?;
        for row in self.rows {
            seq.serialize_element(&RecordJson {
                row,
                snapshot: self.snapshot,
            })?;
        }
        seq.end()
    }
}

/// One record: the row's columns plus scheme and insurer master fields.
pub struct RecordJson<'a, 's> {
    pub row: &'a RowRef<'s>,
    pub snapshot: &'s Snapshot,
}

impl Serialize for RecordJson<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.row;
        let mut map = serializer.serialize_map(None)?;
        for field in TextField::ALL {
            let value = row.text(field);
            map.serialize_entry(field.name(), &(!value.is_empty()).then_some(value))?;
        }
        for field in DateField::ALL {
            map.serialize_entry(field.name(), &DateJson(row.date(field)))?;
        }
        for field in CodeField::ALL {
            map.serialize_entry(field.name(), &row.code(field))?;
        }
        map.serialize_entry("qualification_seq", &row.qualification_seq())?;
        let insurer_number = row.text(TextField::InsurerNumber);
        let scheme = crate::model::InsurerNumber::parse(insurer_number)
            .map(|n| n.scheme())
            .unwrap_or(crate::model::Scheme::Other);
        map.serialize_entry("scheme", scheme.code())?;
        map.serialize_entry("scheme_name", scheme.name_ja())?;
        let insurer = self.snapshot.insurer(insurer_number);
        map.serialize_entry("insurer_name", &insurer.map(|i| i.name))?;
        map.serialize_entry("insurer_address", &insurer.map(|i| i.address))?;
        map.serialize_entry("insurer_phone", &insurer.map(|i| i.phone))?;
        map.end()
    }
}

struct DateJson(Option<Date>);

impl Serialize for DateJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(date) => serializer.collect_str(&date),
            None => serializer.serialize_none(),
        }
    }
}

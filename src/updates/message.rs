//! Update messages (`CONTRACT.md` §4): one NDJSON line each, parsed and
//! validated into a [`Message`] by the same column-mapped readers the
//! snapshot build uses for the CSV files, so that a row is accepted by an
//! update exactly when it would be accepted in `eligibility.csv`.

use crate::model::EligibilityRow;
use crate::model::{LinkageNo, OnlineNumber, Serial};
use crate::source::csv_input::CsvHeader;
use crate::source::eligibility::{
    parse_qualification_seq, parse_subscription, EligibilityColumns, REQUIRED_COLUMNS,
};
use crate::source::insurers::{parse_insurer, InsurerRow};
use crate::source::linkage::serial_cell;
use csv::StringRecord;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Longest `process_id` accepted, in bytes.
pub const MAX_PROCESS_ID_BYTES: usize = 128;
/// Longest `sender` accepted, in bytes.
pub const MAX_SENDER_BYTES: usize = 64;

/// Fields every message may carry besides the op's own.
const ENVELOPE_FIELDS: [&str; 4] = ["op", "process_id", "sender", "seq"];

/// One update message, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// 処理ID: unique per sender; a repeat answers the first result.
    pub process_id: String,
    /// The stream `seq` counts in (an insurer, the linkage feed, …).
    pub sender: Option<String>,
    /// Position in the sender's stream: 1, 2, 3 … (optional).
    pub seq: Option<u64>,
    /// What the message changes.
    pub change: Change,
}

/// Identifies a qualification row: online-check number and 資格通番.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowKey {
    /// Online-check number: insurer code + branch number (24 digits), or the municipal ID (15).
    pub online: OnlineNumber,
    /// 資格通番 (`qualification_seq`, default 1).
    pub seq: u32,
}

impl RowKey {
    /// The key of an eligibility row.
    pub fn of(row: &EligibilityRow) -> Option<RowKey> {
        let online = OnlineNumber::parse(row.text(crate::model::TextField::OnlineNumber)).ok()?;
        Some(RowKey {
            online,
            seq: row.qualification_seq,
        })
    }
}

/// What a message changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Register or replace the row with this row's key.
    Upsert(Arc<EligibilityRow>),
    /// Remove the row with this key.
    Delete(RowKey),
    /// Link a certificate serial to a person.
    Link {
        /// The certificate serial (`serial`).
        serial: Serial,
        /// 紐付番号 of the person it now belongs to (`linkage_no`).
        linkage: LinkageNo,
    },
    /// The new serial takes over the old serial's person; the old one retires.
    Renew {
        /// Serial of the renewed certificate.
        new_serial: Serial,
        /// Serial it replaces, which no longer resolves.
        old_serial: Serial,
    },
    /// Register or replace an insurer of the master.
    Insurer(Arc<InsurerRow>),
}

impl Change {
    /// The `op` name.
    pub fn op(&self) -> &'static str {
        match self {
            Change::Upsert(_) => "upsert",
            Change::Delete(_) => "delete",
            Change::Link { .. } => "link",
            Change::Renew { .. } => "renew",
            Change::Insurer(_) => "insurer",
        }
    }
}

/// Why a line was refused before it reached the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadMessage {
    /// The line's `process_id`, when it could be read.
    pub process_id: Option<String>,
    /// Why the line was refused, sent back as the `bad_message` result's message.
    pub message: String,
}

/// Parses and validates one NDJSON line.
pub fn parse(line: &[u8]) -> Result<Message, BadMessage> {
    let refused = |process_id: Option<String>, message: String| BadMessage {
        process_id,
        message,
    };
    let object: Map<String, Value> = match serde_json::from_slice(line) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(refused(None, "the line is not a JSON object".into())),
        Err(e) => return Err(refused(None, format!("the line is not valid JSON ({e})"))),
    };
    let process_id = process_id(&object).map_err(|m| refused(None, m))?;
    let with_id = |message: String| refused(Some(process_id.clone()), message);
    let sender = match object.get("sender") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SENDER_BYTES => Some(s.clone()),
        Some(_) => {
            return Err(with_id(format!(
                "sender: must be a non-empty string of at most {MAX_SENDER_BYTES} bytes"
            )))
        }
    };
    let seq = match object.get("seq") {
        None | Some(Value::Null) => None,
        Some(value) => Some(
            scalar_text(value)
                .and_then(|t| t.parse::<u64>().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| with_id("seq: must be a positive integer".into()))?,
        ),
    };
    if seq.is_some() && sender.is_none() {
        return Err(with_id(
            "sender: required with seq (seq counts the messages of one sender)".into(),
        ));
    }
    let op = match object.get("op") {
        Some(Value::String(op)) => op.as_str(),
        _ => {
            return Err(with_id(
                "op: required, one of upsert, delete, link, renew, insurer".into(),
            ))
        }
    };
    let fields = Fields::new(&object).map_err(&with_id)?;
    let change = match op {
        "upsert" => upsert(&fields),
        "delete" => delete(&fields),
        "link" => link(&fields),
        "renew" => renew(&fields),
        "insurer" => insurer(&fields),
        other => Err(format!(
            "op: '{other}' is not one of upsert, delete, link, renew, insurer"
        )),
    }
    .map_err(&with_id)?;
    Ok(Message {
        process_id,
        sender,
        seq,
        change,
    })
}

fn process_id(object: &Map<String, Value>) -> Result<String, String> {
    let text = object
        .get("process_id")
        .and_then(scalar_text)
        .unwrap_or_default();
    if text.is_empty() {
        return Err("process_id: required (処理ID, unique per sender)".into());
    }
    if text.len() > MAX_PROCESS_ID_BYTES || text.chars().any(char::is_control) {
        return Err(format!(
            "process_id: at most {MAX_PROCESS_ID_BYTES} bytes, no control characters"
        ));
    }
    Ok(text)
}

/// A string or number as text; `null` as empty; anything else `None`.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// A message's own fields as a one-record table, so that the CSV readers
/// can read them by column name.
struct Fields {
    header: CsvHeader,
    record: StringRecord,
}

impl Fields {
    fn new(object: &Map<String, Value>) -> Result<Fields, String> {
        let mut columns = Vec::with_capacity(object.len());
        let mut record = StringRecord::new();
        for (name, value) in object {
            if ENVELOPE_FIELDS.contains(&name.as_str()) {
                continue;
            }
            let text = scalar_text(value)
                .ok_or_else(|| format!("{name}: must be a string, a number or null"))?;
            columns.push(name.clone());
            record.push_field(&text);
        }
        Ok(Fields {
            header: CsvHeader::new("update", columns),
            record,
        })
    }

    fn get(&self, name: &str) -> &str {
        self.header
            .column(name)
            .and_then(|i| self.record.get(i))
            .unwrap_or("")
    }

    fn require(&self, names: &[&str]) -> Result<(), String> {
        match names.iter().find(|name| self.header.column(name).is_none()) {
            Some(missing) => Err(format!("{missing}: required")),
            None => Ok(()),
        }
    }
}

fn upsert(fields: &Fields) -> Result<Change, String> {
    fields.require(&REQUIRED_COLUMNS)?;
    if fields.header.column("municipal_id").is_none() {
        fields
            .require(&["insurer_code", "branch_no"])
            .map_err(|_| "insurer_code: required (with branch_no), or municipal_id instead")?;
    }
    let columns = EligibilityColumns::resolve(&fields.header).map_err(|e| e.to_string())?;
    columns
        .parse(&fields.header.row_at(&fields.record, 1))
        .map(|row| Change::Upsert(Arc::new(row)))
        .map_err(|bad| bad.reason)
}

fn delete(fields: &Fields) -> Result<Change, String> {
    let subscription = parse_subscription(
        fields.get("municipal_id"),
        fields.get("insurer_code"),
        fields.get("branch_no"),
    )?;
    Ok(Change::Delete(RowKey {
        online: subscription.online_number(),
        seq: parse_qualification_seq(fields.get("qualification_seq"))?,
    }))
}

fn link(fields: &Fields) -> Result<Change, String> {
    fields.require(&["serial", "linkage_no"])?;
    Ok(Change::Link {
        serial: serial_cell(fields.get("serial"), "serial")?,
        linkage: LinkageNo::parse(fields.get("linkage_no"))
            .map_err(|e| format!("linkage_no: {e}"))?,
    })
}

fn renew(fields: &Fields) -> Result<Change, String> {
    fields.require(&["new_serial", "old_serial"])?;
    let new_serial = serial_cell(fields.get("new_serial"), "new_serial")?;
    let old_serial = serial_cell(fields.get("old_serial"), "old_serial")?;
    if new_serial == old_serial {
        return Err("new_serial: equals old_serial".into());
    }
    Ok(Change::Renew {
        new_serial,
        old_serial,
    })
}

fn insurer(fields: &Fields) -> Result<Change, String> {
    fields.require(&["insurer_number", "name"])?;
    parse_insurer(&fields.header.row_at(&fields.record, 1))
        .map(|row| Change::Insurer(Arc::new(row)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TextField;

    const ROW: &str = r#""insurer_code":"06139018","branch_no":"0000000000012345","linkage_no":"42","insurer_number":"06139018","card_symbol":"12","card_number":"345","name":"山田 太郎","sex":"1","birth_date":"1980-04-01","acquired":"2020-04-01""#;

    fn refusal(line: &str) -> BadMessage {
        parse(line.as_bytes()).expect_err(line)
    }

    #[test]
    fn upsert_reads_the_eligibility_columns() {
        let line = format!(r#"{{"op":"upsert","process_id":"P1",{ROW},"qualification_seq":2}}"#);
        let message = parse(line.as_bytes()).unwrap();
        assert_eq!(message.process_id, "P1");
        let Change::Upsert(row) = &message.change else {
            panic!("{message:?}")
        };
        assert_eq!(
            row.text(TextField::OnlineNumber),
            "061390180000000000012345"
        );
        assert_eq!(row.qualification_seq, 2);
        assert_eq!(row.linkage_no, 42);
    }

    #[test]
    fn errors_name_the_field() {
        let no_name = format!(r#"{{"op":"upsert","process_id":"P1",{ROW}}}"#)
            .replace(r#""name":"山田 太郎","#, "");
        assert_eq!(refusal(&no_name).message, "name: required");
        let bad_date = format!(r#"{{"op":"upsert","process_id":"P1",{ROW}}}"#)
            .replace("2020-04-01", "2020-13-01");
        let bad = refusal(&bad_date);
        assert!(bad.message.starts_with("acquired:"), "{}", bad.message);
        assert_eq!(bad.process_id.as_deref(), Some("P1"));
        assert!(refusal(r#"{"op":"upsert"}"#)
            .message
            .starts_with("process_id: required"));
        assert!(refusal("not json").message.contains("not valid JSON"));
        assert!(refusal(r#"{"op":"merge","process_id":"x"}"#)
            .message
            .starts_with("op: 'merge'"));
        assert!(
            refusal(r#"{"op":"link","process_id":"x","serial":"1","linkage_no":[1]}"#)
                .message
                .starts_with("linkage_no: must be")
        );
        assert!(
            refusal(r#"{"op":"link","process_id":"x","seq":3,"serial":"1","linkage_no":"1"}"#)
                .message
                .starts_with("sender: required with seq")
        );
        assert!(refusal(
            r#"{"op":"renew","process_id":"x","new_serial":"0x10","old_serial":"16"}"#
        )
        .message
        .starts_with("new_serial: equals"));
    }

    #[test]
    fn delete_link_renew_and_insurer() {
        let delete =
            parse(br#"{"op":"delete","process_id":"D","municipal_id":"123456789012345"}"#).unwrap();
        assert_eq!(
            delete.change,
            Change::Delete(RowKey {
                online: OnlineNumber::parse("123456789012345").unwrap(),
                seq: 1
            })
        );
        let link = parse(br#"{"op":"link","process_id":"L","sender":"jlis","seq":"7","serial":"0x1a","linkage_no":9}"#).unwrap();
        assert_eq!(link.seq, Some(7));
        assert_eq!(link.sender.as_deref(), Some("jlis"));
        assert_eq!(
            link.change,
            Change::Link {
                serial: Serial::from_u64(26),
                linkage: LinkageNo(9)
            }
        );
        let insurer = parse(
            br#"{"op":"insurer","process_id":"I","insurer_number":"06139018","name":"Kenpo"}"#,
        )
        .unwrap();
        assert_eq!(insurer.change.op(), "insurer");
    }
}

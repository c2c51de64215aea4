//! The JSON shape of an answer (`CONTRACT.md` §3), written straight from the
//! snapshot's borrowed rows into a byte buffer.
//!
//! Hand-written rather than derived: this is the hot path of every check
//! (the generic serializer spent more time on an answer than the lookup and
//! the rules together; see docs/performance.md). Keys are written in the
//! contract's order; record fields carry the `eligibility.csv` column names;
//! empty cells are `null`. `linkage_no` is deliberately left out: it is the
//! upstream person key and institutions have no use for it (docs/api.md).

use super::{Answer, Record, View};
use crate::model::{CodeField, Date, DateField, InsurerNumber, Scheme, TextField};
use crate::snapshot::Snapshot;

/// Answers `query` through [`super::answer`] (no certificate is sent: the
/// serial is given) and returns the whole answer as a JSON value, with a
/// new reception number (the operator's `check` and the demo use this).
pub fn check_to_json(
    snapshot: &Snapshot,
    query: &super::Query,
    date: Date,
    client_ref: Option<&str>,
) -> anyhow::Result<serde_json::Value> {
    let check = super::Check {
        query: query.clone(),
        date,
        certificate: None,
    };
    let answer = super::answer(
        View::bare(snapshot),
        snapshot.crl(),
        &crate::crl::trust::Trust::live_crl_issuer(),
        &check,
    )
    .map_err(|rejected| anyhow::anyhow!("certificate: {}", rejected.0))?;
    let reception = super::reception::next_reception(crate::model::clock::now_micros());
    let mut out = Vec::with_capacity(2048);
    write_answer(
        &mut out,
        &answer,
        View::bare(snapshot),
        &Envelope {
            date,
            snapshot_id: snapshot.id(),
            crl_id: snapshot.crl().id(),
            update_lsn: 0,
            client_ref,
            reception: &reception,
        },
    );
    Ok(serde_json::from_slice(&out)?)
}

/// What an answer carries besides the verdict and the records.
pub struct Envelope<'a> {
    /// The treatment date checked.
    pub date: Date,
    /// Snapshot id.
    pub snapshot_id: &'a str,
    /// The last intraday update applied over the snapshot (0: none).
    pub update_lsn: u64,
    /// The revocation list card serials were looked up in.
    pub crl_id: &'a str,
    /// The caller's `client_ref`, echoed unchanged; `None` answers `null`.
    pub client_ref: Option<&'a str>,
    /// Reception number of the answer, under which the check is kept in the history.
    pub reception: &'a str,
}

/// Appends the answer object (no trailing newline) to `out`.
pub fn write_answer(out: &mut Vec<u8>, answer: &Answer<'_>, view: View<'_>, env: &Envelope) {
    out.extend_from_slice(b"{\"status\":\"ok\",\"verdict\":\"");
    out.extend_from_slice(answer.verdict.as_str().as_bytes());
    out.extend_from_slice(b"\",\"date\":");
    write_date(out, Some(env.date));
    out.extend_from_slice(b",\"snapshot\":");
    write_str(out, env.snapshot_id);
    if env.update_lsn > 0 {
        out.extend_from_slice(b",\"updates\":");
        out.extend_from_slice(itoa::Buffer::new().format(env.update_lsn).as_bytes());
    }
    out.extend_from_slice(b",\"crl\":");
    write_str(out, env.crl_id);
    out.extend_from_slice(b",\"client_ref\":");
    write_opt_str(out, env.client_ref);
    out.extend_from_slice(b",\"reception\":");
    write_str(out, env.reception);
    out.extend_from_slice(b",\"records\":[");
    for (i, row) in answer.records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_record(out, row, view);
    }
    out.extend_from_slice(b"]}");
}

/// One record: the row's columns plus scheme and insurer master fields.
fn write_record(out: &mut Vec<u8>, row: &Record<'_>, view: View<'_>) {
    out.push(b'{');
    let texts = row.texts();
    let insurer_number = texts[TextField::InsurerNumber as usize];
    let parsed_insurer = InsurerNumber::parse(insurer_number).ok();
    for (field, value) in TextField::ALL.iter().zip(texts) {
        write_key(out, field.name());
        // The insurer number as printed on the card (6 digits for municipal
        // NHI), not the padded form rows are keyed by.
        let value = match (field, &parsed_insurer) {
            (TextField::InsurerNumber, Some(number)) => number.printed(),
            _ => value,
        };
        write_opt_str(out, (!value.is_empty()).then_some(value));
        out.push(b',');
    }
    for field in DateField::ALL {
        write_key(out, field.name());
        write_date(out, row.date(field));
        out.push(b',');
    }
    for field in CodeField::ALL {
        write_key(out, field.name());
        match row.code(field) {
            Some(code) => write_u32(out, u32::from(code)),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b',');
    }
    write_key(out, "qualification_seq");
    write_u32(out, row.qualification_seq());
    let scheme = parsed_insurer.map_or(Scheme::Other, |n| n.scheme());
    out.extend_from_slice(b",\"scheme\":");
    write_str(out, scheme.code());
    out.extend_from_slice(b",\"scheme_name\":");
    write_str(out, scheme.name_ja());
    let insurer = view.insurer(insurer_number);
    out.extend_from_slice(b",\"insurer_name\":");
    write_opt_str(out, insurer.map(|i| i.name));
    out.extend_from_slice(b",\"insurer_address\":");
    write_opt_str(out, insurer.map(|i| i.address));
    out.extend_from_slice(b",\"insurer_phone\":");
    write_opt_str(out, insurer.map(|i| i.phone));
    out.push(b'}');
}

/// `"name":` (names are ASCII identifiers and need no escaping).
fn write_key(out: &mut Vec<u8>, name: &str) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn write_date(out: &mut Vec<u8>, date: Option<Date>) {
    match date {
        Some(date) => {
            out.push(b'"');
            out.extend_from_slice(&date.iso_bytes());
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends a decimal number.
pub fn write_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` as a JSON string, or `null`.
pub fn write_opt_str(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        Some(text) => write_str(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `text` as a JSON string literal, escaping `"`, `\` and the
/// control characters U+0000–U+001F (everything else, kanji included, is
/// written as its UTF-8 bytes; U+2028 and U+2029 too, which JSON allows).
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut clean_from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[clean_from..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xF)]);
        } else {
            out.extend_from_slice(escape);
        }
        clean_from = i + 1;
    }
    out.extend_from_slice(&bytes[clean_from..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_exactly_what_json_requires() {
        for text in [
            "",
            "plain",
            "山田 太郎",
            "quote \" and \\ backslash",
            "tab\tnew\nline\r\u{1}\u{1f}",
            "\u{7f}é",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, text);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, text);
        }
    }

    #[test]
    fn non_ascii_text_is_written_as_utf8_not_escaped() {
        for text in [
            "山田 太郎",
            "ヤマダ タロウ",
            "ｶﾞ",
            "é",
            "\u{2028}\u{2029}",
            "😀",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, text);
            assert_eq!(out, format!("\"{text}\"").into_bytes(), "{text:?}");
        }
        let mut out = Vec::new();
        write_str(&mut out, "a\"b\\c\nd\re\tf\u{0}g\u{1f}h\u{7f}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\re\\tf\\u0000g\\u001fh\u{7f}\""
        );
    }

    #[test]
    fn numbers_are_decimal() {
        for value in [0, 7, 10, 99, 1234, u32::MAX] {
            let mut out = Vec::new();
            write_u32(&mut out, value);
            assert_eq!(String::from_utf8(out).unwrap(), value.to_string());
        }
    }
}

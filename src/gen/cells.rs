//! Appending CSV cells to a byte buffer without per-field allocation.
//!
//! Every writer appends the cell and a trailing comma; [`end_row`] turns the
//! last comma into the line break. Text is quoted (RFC 4180) only when it
//! holds a comma, a quote or a line break, which generated text never does.

use crate::model::Date;

/// Appends `value` in decimal.
pub(super) fn push_u64(buf: &mut Vec<u8>, value: u64) {
    buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` in decimal, left-padded with zeros to `width` digits.
pub(super) fn push_padded(buf: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value).as_bytes();
    buf.resize(buf.len() + width.saturating_sub(digits.len()), b'0');
    buf.extend_from_slice(digits);
}

/// Appends `YYYY-MM-DD`.
pub(super) fn push_date(buf: &mut Vec<u8>, date: Date) {
    let (year, month, day) = date.ymd();
    push_padded(buf, u64::try_from(year).unwrap_or(0), 4);
    buf.push(b'-');
    push_padded(buf, u64::from(month), 2);
    buf.push(b'-');
    push_padded(buf, u64::from(day), 2);
}

/// Ends the current cell.
pub(super) fn sep(buf: &mut Vec<u8>) {
    buf.push(b',');
}

/// An empty cell (none).
pub(super) fn empty(buf: &mut Vec<u8>) {
    buf.push(b',');
}

/// A text cell, quoted when needed.
pub(super) fn text(buf: &mut Vec<u8>, value: &str) {
    if value.contains([',', '"', '\r', '\n']) {
        buf.push(b'"');
        for byte in value.bytes() {
            if byte == b'"' {
                buf.push(b'"');
            }
            buf.push(byte);
        }
        buf.push(b'"');
    } else {
        buf.extend_from_slice(value.as_bytes());
    }
    sep(buf);
}

/// A decimal number cell.
pub(super) fn number(buf: &mut Vec<u8>, value: u64) {
    push_u64(buf, value);
    sep(buf);
}

/// A zero-padded fixed-width number cell.
pub(super) fn padded(buf: &mut Vec<u8>, value: u64, width: usize) {
    push_padded(buf, value, width);
    sep(buf);
}

/// A date cell; `None` writes an empty cell.
pub(super) fn date(buf: &mut Vec<u8>, value: Option<Date>) {
    if let Some(value) = value {
        push_date(buf, value);
    }
    sep(buf);
}

/// Turns the trailing comma of the last cell into a line break.
pub(super) fn end_row(buf: &mut Vec<u8>) {
    if buf.last() == Some(&b',') {
        buf.pop();
    }
    buf.push(b'\n');
}

/// Writes a header row from column names.
pub(super) fn header(buf: &mut Vec<u8>, columns: &[&str]) {
    for column in columns {
        text(buf, column);
    }
    end_row(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut buf = Vec::new();
        f(&mut buf);
        end_row(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn numbers_dates_and_quoting() {
        assert_eq!(cells(|b| number(b, 0)), "0\n");
        assert_eq!(cells(|b| number(b, u64::MAX)), "18446744073709551615\n");
        assert_eq!(cells(|b| padded(b, 42, 6)), "000042\n");
        assert_eq!(cells(|b| padded(b, 1_234_567, 3)), "1234567\n");
        assert_eq!(cells(|b| padded(b, 0, 2)), "00\n");
        let day = Date::from_ymd(2026, 3, 9);
        assert_eq!(cells(|b| date(b, day)), "2026-03-09\n");
        assert_eq!(
            cells(|b| {
                text(b, "a,b");
                text(b, "say \"hi\"");
                empty(b);
            }),
            "\"a,b\",\"say \"\"hi\"\"\",\n"
        );
    }
}

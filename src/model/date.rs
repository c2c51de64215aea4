//! Calendar dates as a plain day count.
//!
//! Every date in the system (birth, acquired, lost, treatment date, …) is a
//! `Date`: the number of days since 0001-01-01 (chrono's "days from CE"). A
//! day count is what the snapshot stores (4 bytes, every bit pattern valid)
//! and what the answer rules compare, so the rules never parse or allocate.

use chrono::{Datelike, NaiveDate, Utc};
use std::fmt;

/// A calendar date (proleptic Gregorian), stored as days from 0001-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(i32);

impl Date {
    /// Builds a date from year, month and day; `None` if it does not exist.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        NaiveDate::from_ymd_opt(year, month, day).map(Date::from_naive)
    }

    /// The date for a raw day count as stored in a snapshot.
    pub fn from_days(days: i32) -> Date {
        Date(days)
    }

    /// The raw day count, as stored in a snapshot.
    pub fn days(self) -> i32 {
        self.0
    }

    /// Today's date in Japan by the system clock (the default treatment
    /// date of a command-line check; the server asks its [`super::Clock`]).
    pub fn today_in_japan() -> Date {
        super::clock::JapanTime::now().date
    }

    /// The date in Japan at `instant`.
    pub fn in_japan(instant: chrono::DateTime<Utc>) -> Date {
        Date::from_naive(instant.with_timezone(&super::clock::jst()).date_naive())
    }

    /// Parses `YYYY-MM-DD` or `YYYYMMDD`.
    pub fn parse(text: &str) -> Result<Date, DateError> {
        let text = text.trim();
        let bytes = text.as_bytes();
        let (year, month, day) = match bytes.len() {
            10 if bytes[4] == b'-' && bytes[7] == b'-' => (&bytes[..4], &bytes[5..7], &bytes[8..]),
            8 => (&bytes[..4], &bytes[4..6], &bytes[6..]),
            _ => return Err(DateError(text.to_string())),
        };
        match (number(year), number(month), number(day)) {
            (Some(y), Some(m), Some(d)) => Date::from_ymd(y as i32, m, d),
            _ => None,
        }
        .ok_or_else(|| DateError(text.to_string()))
    }

    /// Parses an optional date: an empty cell means none.
    pub fn parse_optional(text: &str) -> Result<Option<Date>, DateError> {
        if text.trim().is_empty() {
            Ok(None)
        } else {
            Date::parse(text).map(Some)
        }
    }

    /// The date `days` later (earlier when negative).
    pub fn add_days(self, days: i32) -> Date {
        Date(self.0 + days)
    }

    /// Year, month and day of this date.
    pub fn ymd(self) -> (i32, u32, u32) {
        let naive = self.to_naive();
        (naive.year(), naive.month(), naive.day())
    }

    fn from_naive(date: NaiveDate) -> Date {
        Date(date.num_days_from_ce())
    }

    fn to_naive(self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.0).unwrap_or(NaiveDate::MIN)
    }
}

/// The value of a run of ASCII digits; `None` if any byte is not a digit.
fn number(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0'))
    })
}

impl Date {
    /// `YYYY-MM-DD` as ASCII bytes, without formatting machinery (the answer
    /// encoder writes several dates per record). Years outside 0–9999 are
    /// clamped to four digits.
    pub fn iso_bytes(self) -> [u8; 10] {
        let (y, m, d) = self.ymd();
        let y = y.clamp(0, 9999) as u32;
        let digit = |value: u32| b'0' + (value % 10) as u8;
        [
            digit(y / 1000),
            digit(y / 100),
            digit(y / 10),
            digit(y),
            b'-',
            digit(m / 10),
            digit(m),
            b'-',
            digit(d / 10),
            digit(d),
        ]
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.iso_bytes();
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| fmt::Error)?)
    }
}

/// A date cell that is neither `YYYY-MM-DD` nor `YYYYMMDD`, or names no real day.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a date: write YYYY-MM-DD or YYYYMMDD")]
pub struct DateError(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_round_trips() {
        let a = Date::parse("2026-11-21").unwrap();
        let b = Date::parse("20261121").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "2026-11-21");
        assert_eq!(Date::from_days(a.days()), a);
        assert_eq!(a.add_days(10).to_string(), "2026-12-01");
    }

    #[test]
    fn iso_bytes_round_trip_over_centuries() {
        let start = Date::parse("1899-12-25").unwrap();
        for offset in (0..60_000).step_by(7) {
            let date = start.add_days(offset);
            let text = date.to_string();
            assert_eq!(Date::parse(&text).unwrap(), date, "{text}");
        }
    }

    #[test]
    fn refuses_non_dates() {
        for bad in [
            "2026-02-30",
            "2026/11/21",
            "20261301",
            "tomorrow",
            "2026-1-1",
            "１９８０0101",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad} should be refused");
        }
        assert_eq!(Date::parse_optional("  ").unwrap(), None);
    }
}

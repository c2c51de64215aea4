//! Reports over the check log (`SPEC.md` §5), as CSV, streamed segment by
//! segment in time order:
//!
//! - [`Report::Fees`]: the per-validation log of the JPKI fee, exported
//!   quarterly (purpose, verifier type, verifier ID, serial, date-time);
//! - [`Report::Validations`]: validations per month (the payment);
//! - [`Report::Charges`]: validations per day and bearer: the institution
//!   that validated, and the insurer of the person validated (charging);
//! - [`Report::Stats`]: checks by any of institution, prefecture, hour,
//!   path (card or insurance card), result and outcome, per month or year.
//!
//! A validation is a card check answered with a verdict (the certificate
//! was looked up in the revocation list). Memory is one batch plus the
//! groups being counted: per day for charges, per period for statistics.

use super::record::{is_validation, CheckRecord, Entry, Shed};
use super::segment;
use crate::model::clock::{japan_day, japan_hour, japan_time_text};
use crate::model::{Date, ErrorCode, Outcome, Verdict};
use anyhow::Context;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// Which report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// One row per certificate validation, for the JPKI fee (`fees`).
    Fees,
    /// Validations counted per month, for the payment (`validations`).
    Validations,
    /// Validations per day and bearer, institution and insurer, for charging (`charges`).
    Charges,
    /// Checks counted by the given dimensions (`stats`).
    Stats(Vec<Dimension>),
}

impl Report {
    /// The report's name as `shikaku report` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Report::Fees => "fees",
            Report::Validations => "validations",
            Report::Charges => "charges",
            Report::Stats(_) => "stats",
        }
    }
}

/// A grouping of the statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    /// The institution code (医療機関コード) that asked.
    Institution,
    /// The first two digits of the institution code (都道府県番号).
    Prefecture,
    /// The hour of the day in Japan (time band).
    Hour,
    /// `card` or `insurance_card`.
    Path,
    /// The verdict or error code.
    Result,
    /// `answered` (a verdict) or `error`.
    Outcome,
}

impl Dimension {
    /// Every dimension, in the order `parse_list` names them in its error.
    pub const ALL: [Dimension; 6] = [
        Dimension::Institution,
        Dimension::Prefecture,
        Dimension::Hour,
        Dimension::Path,
        Dimension::Result,
        Dimension::Outcome,
    ];

    /// The dimension's name, as parsed and written in the CSV header.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Institution => "institution",
            Dimension::Prefecture => "prefecture",
            Dimension::Hour => "hour",
            Dimension::Path => "path",
            Dimension::Result => "result",
            Dimension::Outcome => "outcome",
        }
    }

    /// Parses a comma-separated list such as `prefecture,hour` (each
    /// dimension at most once).
    pub fn parse_list(text: &str) -> Result<Vec<Dimension>, String> {
        let mut dimensions = Vec::new();
        for name in text.split(',') {
            let dimension = Dimension::ALL
                .into_iter()
                .find(|d| d.as_str() == name.trim())
                .ok_or_else(|| {
                    format!("`{name}` is not one of institution, prefecture, hour, path, result, outcome")
                })?;
            if dimensions.contains(&dimension) {
                return Err(format!("`{name}` is given twice"));
            }
            dimensions.push(dimension);
        }
        Ok(dimensions)
    }

    /// The group a record falls in along this dimension, as a number
    /// (counting millions of checks must not allocate per check);
    /// [`Dimension::label`] turns it into the CSV value.
    fn code(self, record: &CheckRecord<'_>) -> u64 {
        let institution = record.institution.as_ref().map(|c| c.as_str());
        match self {
            Dimension::Institution => institution.and_then(|c| c.parse().ok()).unwrap_or(NONE),
            Dimension::Prefecture => institution
                .and_then(|c| c.get(..2)?.parse().ok())
                .unwrap_or(NONE),
            Dimension::Hour => japan_hour(record.micros),
            Dimension::Path => match record.key.kind.path() {
                "card" => 1,
                "insurance_card" => 2,
                _ => NONE,
            },
            Dimension::Result => match record.outcome {
                Outcome::Verdict(verdict) => u64::from(verdict.code()),
                Outcome::Error(code) => ERRORS + u64::from(code.code()),
            },
            Dimension::Outcome => u64::from(matches!(record.outcome, Outcome::Error(_))),
        }
    }

    /// The group of checks shed unlogged (only their count and time are known).
    fn shed_code(self, shed: &Shed) -> u64 {
        match self {
            Dimension::Hour => japan_hour(shed.micros),
            Dimension::Result => SHED,
            Dimension::Outcome => 1,
            _ => NONE,
        }
    }

    fn label(self, code: u64) -> String {
        match (self, code) {
            (_, NONE) => String::new(),
            (Dimension::Institution, code) => format!("{code:010}"),
            (Dimension::Prefecture | Dimension::Hour, code) => format!("{code:02}"),
            (Dimension::Path, 1) => "card".into(),
            (Dimension::Path, _) => "insurance_card".into(),
            (Dimension::Result, SHED) => "shed".into(),
            (Dimension::Result, code) if code >= ERRORS => u8::try_from(code - ERRORS)
                .ok()
                .and_then(ErrorCode::from_code)
                .map_or("", |e| e.as_str())
                .into(),
            (Dimension::Result, code) => u8::try_from(code)
                .ok()
                .and_then(Verdict::from_code)
                .map_or("", |v| v.as_str())
                .into(),
            (Dimension::Outcome, 0) => "answered".into(),
            (Dimension::Outcome, _) => "error".into(),
        }
    }
}

/// No value along a dimension (a refused request names no institution).
const NONE: u64 = u64::MAX;
/// Result codes: verdicts from 0, errors from here, shed checks.
const ERRORS: u64 = 100;
const SHED: u64 = 200;

/// Days from `from` to `to`, both included; named like `2026-Q4`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    /// First day of the period, included.
    pub from: Date,
    /// Last day of the period, included.
    pub to: Date,
}

impl Period {
    /// `2026-11-22` (a day), `2026-11` (a month), `2026-Q4` (a quarter) or
    /// `2026` (a year).
    pub fn parse(text: &str) -> Result<Period, String> {
        let problem = || {
            format!("`{text}` is not a day (2026-11-22), month (2026-11), quarter (2026-Q4) or year (2026)")
        };
        let parts: Vec<&str> = text.trim().split('-').collect();
        let year: i32 = parts[0].parse().map_err(|_| problem())?;
        let (first_month, months) = match parts.as_slice() {
            [_] => (1, 12),
            [_, q] if q.starts_with(['Q', 'q']) => {
                let quarter: u32 = q[1..].parse().map_err(|_| problem())?;
                if !(1..=4).contains(&quarter) {
                    return Err(problem());
                }
                (quarter * 3 - 2, 3)
            }
            [_, m] => (m.parse().map_err(|_| problem())?, 1),
            [_, _, _] => {
                let day = Date::parse(text).map_err(|_| problem())?;
                return Ok(Period { from: day, to: day });
            }
            _ => return Err(problem()),
        };
        let from = Date::from_ymd(year, first_month, 1).ok_or_else(problem)?;
        Ok(Period {
            from,
            to: super::add_months(from, months).add_days(-1),
        })
    }

    fn contains(&self, day: Date) -> bool {
        (self.from..=self.to).contains(&day)
    }
}

/// What a report run read.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    /// Segments read, those of the days just before and after the period included.
    pub segments: usize,
    /// Log entries read in the period (checks and shed counts).
    pub entries: u64,
    /// CSV rows written, the header not counted.
    pub rows: u64,
    /// Segments with damage before intact batches (read up to the damage).
    pub unreadable: Vec<String>,
}

/// Calls `visit` for every entry of the log made in `period`, in order.
pub fn for_each_entry(
    log: &Path,
    period: &Period,
    summary: &mut Summary,
    mut visit: impl FnMut(&Entry<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // A day's directory can hold a few entries of the day before or after
    // (a bulk line answered just before midnight, queued just after), so
    // the neighbouring days are read too; entries are kept by their time.
    let around = Period {
        from: period.from.add_days(-1),
        to: period.to.add_days(1),
    };
    for (day, dir) in segment::days(log)? {
        if !around.contains(day) {
            continue;
        }
        for file in segment::segments(&dir)? {
            summary.segments += 1;
            let scan = segment::read_segment(&file.path, |_, entries| {
                for entry in entries {
                    let entry = entry.map_err(anyhow::Error::msg)?;
                    if period.contains(japan_day(entry.micros())) {
                        summary.entries += 1;
                        visit(&entry)?;
                    }
                }
                Ok(())
            })?;
            if let Some(damage) = scan.damage {
                summary.unreadable.push(damage);
            }
        }
    }
    Ok(())
}

/// Writes `report` for `period` of the log in `log` as CSV to `out`.
pub fn write(
    log: &Path,
    report: &Report,
    period: &Period,
    out: impl Write,
) -> anyhow::Result<Summary> {
    let mut csv = csv::Writer::from_writer(out);
    let mut summary = Summary::default();
    match report {
        Report::Fees => fees(log, period, &mut csv, &mut summary)?,
        Report::Validations => validations(log, period, &mut csv, &mut summary)?,
        Report::Charges => charges(log, period, &mut csv, &mut summary)?,
        Report::Stats(dimensions) => stats(log, period, dimensions, &mut csv, &mut summary)?,
    }
    csv.flush().context("cannot write the report")?;
    Ok(summary)
}

fn validation<'a>(entry: &'a Entry<'a>) -> Option<&'a CheckRecord<'a>> {
    match entry {
        Entry::Check(record) if is_validation(record.outcome, record.key.kind) => Some(record),
        _ => None,
    }
}

type Csv<W> = csv::Writer<W>;

fn fees<W: Write>(
    log: &Path,
    period: &Period,
    csv: &mut Csv<W>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    csv.write_record([
        "purpose",
        "verifier_type",
        "verifier_id",
        "serial",
        "validated_at",
    ])?;
    let mut rows = 0;
    for_each_entry(log, period, summary, |entry| {
        if let Some(record) = validation(entry) {
            let verifier = record.institution.as_ref().map_or("", |c| c.as_str());
            let fields = [
                "eligibility_check",
                "institution",
                verifier,
                &record.key.display(),
                &japan_time_text(record.micros),
            ];
            csv.write_record(fields)
                .context("cannot write the report")?;
            rows += 1;
        }
        Ok(())
    })?;
    summary.rows += rows;
    Ok(())
}

fn validations<W: Write>(
    log: &Path,
    period: &Period,
    csv: &mut Csv<W>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let mut months: BTreeMap<(i32, u32), u64> = BTreeMap::new();
    for_each_entry(log, period, summary, |entry| {
        if let Some(record) = validation(entry) {
            let (year, month, _) = japan_day(record.micros).ymd();
            *months.entry((year, month)).or_default() += 1;
        }
        Ok(())
    })?;
    csv.write_record(["month", "validations"])?;
    for ((year, month), count) in months {
        summary.rows += 1;
        csv.write_record([format!("{year:04}-{month:02}"), count.to_string()])
            .context("cannot write the report")?;
    }
    Ok(())
}

/// Validations of one day per (bearer kind, bearer code).
#[derive(Default)]
struct Day {
    day: Option<Date>,
    bearers: BTreeMap<(&'static str, String), u64>,
    total: u64,
}

fn charges<W: Write>(
    log: &Path,
    period: &Period,
    csv: &mut Csv<W>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    csv.write_record([
        "date",
        "bearer_kind",
        "bearer_code",
        "validations",
        "day_total",
    ])?;
    let mut day = Day::default();
    let mut rows = 0;
    for_each_entry(log, period, summary, |entry| {
        let Some(record) = validation(entry) else {
            return Ok(());
        };
        let today = japan_day(record.micros);
        if day.day != Some(today) {
            rows += write_day(csv, &day)?;
            day = Day {
                day: Some(today),
                ..Day::default()
            };
        }
        let institution = record.institution.as_ref().map_or("", |c| c.as_str());
        let insurer = record.insurer.as_ref().map_or("", |n| n.as_str());
        *day.bearers
            .entry(("institution", institution.to_string()))
            .or_default() += 1;
        *day.bearers
            .entry(("insurer", insurer.to_string()))
            .or_default() += 1;
        day.total += 1;
        Ok(())
    })?;
    rows += write_day(csv, &day)?;
    summary.rows += rows;
    Ok(())
}

fn write_day<W: Write>(csv: &mut Csv<W>, day: &Day) -> anyhow::Result<u64> {
    let Some(date) = day.day else { return Ok(0) };
    let (date, total) = (date.to_string(), day.total.to_string());
    for ((kind, code), count) in &day.bearers {
        csv.write_record([date.as_str(), kind, code, &count.to_string(), &total])
            .context("cannot write the report")?;
    }
    Ok(day.bearers.len() as u64)
}

fn stats<W: Write>(
    log: &Path,
    period: &Period,
    dimensions: &[Dimension],
    csv: &mut Csv<W>,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let mut groups: HashMap<[u64; Dimension::ALL.len()], u64> = HashMap::new();
    for_each_entry(log, period, summary, |entry| {
        let mut key = [0; Dimension::ALL.len()];
        let count = match entry {
            Entry::Check(record) => {
                for (slot, dimension) in key.iter_mut().zip(dimensions) {
                    *slot = dimension.code(record);
                }
                1
            }
            Entry::Shed(shed) => {
                for (slot, dimension) in key.iter_mut().zip(dimensions) {
                    *slot = dimension.shed_code(shed);
                }
                u64::from(shed.count)
            }
        };
        *groups.entry(key).or_default() += count;
        Ok(())
    })?;
    let mut header = vec!["from", "to"];
    header.extend(dimensions.iter().map(|d| d.as_str()));
    header.push("checks");
    csv.write_record(&header)?;
    // In code order (institutions and hours ascending); labelled row by
    // row, so that memory is the groups' numbers, not their text.
    let mut rows: Vec<([u64; Dimension::ALL.len()], u64)> = groups.into_iter().collect();
    rows.sort_unstable();
    let (from, to) = (period.from.to_string(), period.to.to_string());
    for (key, count) in rows {
        let mut fields = vec![from.clone(), to.clone()];
        fields.extend(dimensions.iter().zip(key).map(|(d, code)| d.label(code)));
        fields.push(count.to_string());
        summary.rows += 1;
        csv.write_record(&fields)
            .context("cannot write the report")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let day = |y, m, d| Date::from_ymd(y, m, d).unwrap();
        let p = |t: &str| Period::parse(t).unwrap();
        assert_eq!(
            p("2026-Q4"),
            Period {
                from: day(2026, 10, 1),
                to: day(2026, 12, 31)
            }
        );
        assert_eq!(
            p("2026-02"),
            Period {
                from: day(2026, 2, 1),
                to: day(2026, 2, 28)
            }
        );
        assert_eq!(
            p("2026"),
            Period {
                from: day(2026, 1, 1),
                to: day(2026, 12, 31)
            }
        );
        assert_eq!(
            p("2026-11-22"),
            Period {
                from: day(2026, 11, 22),
                to: day(2026, 11, 22)
            }
        );
        for bad in ["2026-Q5", "2026-13", "x", "2026-1-1-1"] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }
}

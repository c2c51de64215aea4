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

use super::record::{CheckRecord, Entry, Outcome};
use super::segment;
use super::{japan_day, japan_time_text};
use crate::model::Date;
use anyhow::Context;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// Which report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    Fees,
    Validations,
    Charges,
    Stats(Vec<Dimension>),
}

impl Report {
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
    pub const ALL: [Dimension; 6] = [
        Dimension::Institution,
        Dimension::Prefecture,
        Dimension::Hour,
        Dimension::Path,
        Dimension::Result,
        Dimension::Outcome,
    ];

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

    /// Parses a comma-separated list such as `prefecture,hour`.
    pub fn parse_list(text: &str) -> Result<Vec<Dimension>, String> {
        text.split(',')
            .map(|name| {
                Dimension::ALL
                    .into_iter()
                    .find(|d| d.as_str() == name.trim())
                    .ok_or_else(|| {
                        format!(
                            "`{name}` is not one of institution, prefecture, hour, path, result, outcome"
                        )
                    })
            })
            .collect()
    }

    fn value(self, record: &CheckRecord<'_>) -> String {
        let institution = record.institution.as_ref().map_or("", |c| c.as_str());
        match self {
            Dimension::Institution => institution.to_string(),
            Dimension::Prefecture => institution.get(..2).unwrap_or("").to_string(),
            Dimension::Hour => format!("{:02}", hour_in_japan(record.micros)),
            Dimension::Path => record.key.kind.path().to_string(),
            Dimension::Result => record.outcome.as_str().to_string(),
            Dimension::Outcome => match record.outcome {
                Outcome::Verdict(_) => "answered".into(),
                Outcome::Error(_) => "error".into(),
            },
        }
    }

    /// The value for checks shed unlogged (only their count is known).
    fn shed_value(self) -> &'static str {
        match self {
            Dimension::Result => "shed",
            Dimension::Outcome => "error",
            _ => "",
        }
    }
}

fn hour_in_japan(micros: u64) -> u64 {
    (micros / 1_000_000 + 9 * 3600) % 86_400 / 3600
}

/// Days from `from` to `to`, both included; named like `2026-Q4`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: Date,
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
    pub segments: usize,
    pub entries: u64,
    pub rows: u64,
    /// Segments whose end could not be read (a torn tail or damage).
    pub unreadable: Vec<String>,
}

/// Calls `visit` for every entry of the log made in `period`, in order.
pub fn for_each_entry(
    log: &Path,
    period: &Period,
    summary: &mut Summary,
    mut visit: impl FnMut(&Entry<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for (day, dir) in segment::days(log)? {
        if !period.contains(day) {
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
        Entry::Check(record) if record.outcome.is_validation(record.key.kind) => Some(record),
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
    let mut groups: BTreeMap<Vec<String>, u64> = BTreeMap::new();
    for_each_entry(log, period, summary, |entry| {
        let (key, count) = match entry {
            Entry::Check(record) => (dimensions.iter().map(|d| d.value(record)).collect(), 1),
            Entry::Shed(shed) => (
                dimensions
                    .iter()
                    .map(|d| d.shed_value().to_string())
                    .collect(),
                u64::from(shed.count),
            ),
        };
        *groups.entry(key).or_default() += count;
        Ok(())
    })?;
    let mut header = vec!["from", "to"];
    header.extend(dimensions.iter().map(|d| d.as_str()));
    header.push("checks");
    csv.write_record(&header)?;
    let (from, to) = (period.from.to_string(), period.to.to_string());
    for (key, count) in groups {
        let mut fields = vec![from.clone(), to.clone()];
        fields.extend(key);
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

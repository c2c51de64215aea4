//! Reports over a generated month (`SPEC.md` §5) against counts computed
//! here, independently, from the records as they were written.

use shikaku::checklog::generate::{generate, GenOptions};
use shikaku::checklog::record::QueryKind;
use shikaku::checklog::report::{write, Dimension, Period, Report};
use shikaku::model::Date;
use shikaku::model::Outcome;
use std::collections::BTreeMap;
use std::path::Path;

/// What the test expects, counted while the month is generated.
#[derive(Default)]
struct Expected {
    /// (institution, serial text, time text) of every validation.
    fees: Vec<(String, String, String)>,
    per_month: BTreeMap<String, u64>,
    /// (date, bearer kind, bearer code) → validations.
    charges: BTreeMap<(String, String, String), u64>,
    /// (prefecture, hour, path, result) → checks.
    stats: BTreeMap<(String, String, String, String), u64>,
}

fn generated_month(dir: &Path) -> Expected {
    let options = GenOptions {
        first_day: Date::from_ymd(2026, 10, 1).unwrap(),
        days: 31,
        per_day: 1500,
        institutions: 60,
        keys: 400,
        batch: 7,
        segment_entries: 20_000,
        seed: 11,
    };
    let mut expected = Expected::default();
    generate(dir, &options, |record| {
        let institution = record.institution.unwrap().to_string();
        let jst = chrono::DateTime::from_timestamp_micros(record.micros as i64)
            .unwrap()
            .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap());
        let date = jst.format("%Y-%m-%d").to_string();
        let is_validation =
            record.key.kind == QueryKind::Card && matches!(record.outcome, Outcome::Verdict(_));
        if is_validation {
            expected.fees.push((
                institution.clone(),
                record.key.display(),
                jst.format("%Y-%m-%dT%H:%M:%S%.3f+09:00").to_string(),
            ));
            *expected
                .per_month
                .entry(jst.format("%Y-%m").to_string())
                .or_default() += 1;
            let insurer = record.insurer.map(|n| n.to_string()).unwrap_or_default();
            for (kind, code) in [("institution", institution.clone()), ("insurer", insurer)] {
                *expected
                    .charges
                    .entry((date.clone(), kind.to_string(), code))
                    .or_default() += 1;
            }
        }
        let path = if record.key.kind == QueryKind::Card {
            "card"
        } else {
            "insurance_card"
        };
        *expected
            .stats
            .entry((
                institution[..2].to_string(),
                jst.format("%H").to_string(),
                path.to_string(),
                record.outcome.as_str().to_string(),
            ))
            .or_default() += 1;
    })
    .unwrap();
    expected
}

fn csv_rows(log: &Path, report: Report, period: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    write(log, &report, &Period::parse(period).unwrap(), &mut out).unwrap();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn reports_on_a_generated_month_match_independent_counts() {
    let dir = tempfile::tempdir().unwrap();
    let expected = generated_month(dir.path());
    assert!(expected.fees.len() > 10_000);

    let mut fees: Vec<(String, String, String)> = csv_rows(dir.path(), Report::Fees, "2026-Q4")
        .into_iter()
        .map(|row| {
            assert_eq!(row[..2], ["eligibility_check", "institution"]);
            (row[2].clone(), row[3].clone(), row[4].clone())
        })
        .collect();
    let mut expected_fees = expected.fees.clone();
    fees.sort();
    expected_fees.sort();
    assert_eq!(fees, expected_fees);

    let months: BTreeMap<String, u64> = csv_rows(dir.path(), Report::Validations, "2026")
        .into_iter()
        .map(|row| (row[0].clone(), row[1].parse().unwrap()))
        .collect();
    assert_eq!(months, expected.per_month);

    let charges = csv_rows(dir.path(), Report::Charges, "2026-10");
    let mut day_totals: BTreeMap<String, u64> = BTreeMap::new();
    for ((date, kind, _), count) in &expected.charges {
        if kind == "institution" {
            *day_totals.entry(date.clone()).or_default() += count;
        }
    }
    let found: BTreeMap<(String, String, String), u64> = charges
        .iter()
        .map(|row| {
            assert_eq!(
                row[4].parse::<u64>().unwrap(),
                day_totals[&row[0]],
                "{row:?}"
            );
            (
                (row[0].clone(), row[1].clone(), row[2].clone()),
                row[3].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(found, expected.charges);

    let dimensions = vec![
        Dimension::Prefecture,
        Dimension::Hour,
        Dimension::Path,
        Dimension::Result,
    ];
    let stats: BTreeMap<(String, String, String, String), u64> =
        csv_rows(dir.path(), Report::Stats(dimensions), "2026-10")
            .into_iter()
            .map(|row| {
                assert_eq!(row[..2], ["2026-10-01", "2026-10-31"]);
                (
                    (
                        row[2].clone(),
                        row[3].clone(),
                        row[4].clone(),
                        row[5].clone(),
                    ),
                    row[6].parse().unwrap(),
                )
            })
            .collect();
    assert_eq!(stats, expected.stats);

    // A period outside the month reads nothing of it.
    assert!(csv_rows(dir.path(), Report::Fees, "2026-09").is_empty());
}

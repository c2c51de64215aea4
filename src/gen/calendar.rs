//! Date arithmetic the generator needs on top of [`Date`]: birthdays, ages,
//! month starts, the yearly card cycles, and uniform random days.

use crate::model::Date;
use rand::Rng;

/// `year-month-day`, falling back to the first of the next month when the
/// day does not exist that month (29 February in a common year).
pub(super) fn ymd(year: i32, month: u32, day: u32) -> Date {
    Date::from_ymd(year, month, day)
        .or_else(|| Date::from_ymd(year, month + 1, 1))
        .or_else(|| Date::from_ymd(year + 1, 1, 1))
        .unwrap_or(Date::from_days(0))
}

/// The same calendar day `years` later (a 29 February birthday falls on
/// 1 March in common years).
pub(super) fn anniversary(date: Date, years: i32) -> Date {
    let (y, m, d) = date.ymd();
    ymd(y + years, m, d)
}

/// Completed years from `birth` to `on`.
pub(super) fn age_on(birth: Date, on: Date) -> i32 {
    let (by, bm, bd) = birth.ymd();
    let (y, m, d) = on.ymd();
    y - by - i32::from((m, d) < (bm, bd))
}

/// The first day of the month after `date`.
pub(super) fn next_month_start(date: Date) -> Date {
    let (y, m, _) = date.ymd();
    if m == 12 {
        ymd(y + 1, 1, 1)
    } else {
        ymd(y, m + 1, 1)
    }
}

/// `months` calendar months after `date`, minus one day: the last day of a
/// period of that many months starting on `date`.
pub(super) fn months_later_eve(date: Date, months: u32) -> Date {
    let (y, m, d) = date.ymd();
    let total = m - 1 + months;
    let year = y + i32::try_from(total / 12).unwrap_or(0);
    ymd(year, total % 12 + 1, d).add_days(-1)
}

/// The yearly period containing `on` that starts on `month`/1 (cards of
/// municipal NHI run October–September, those of 後期高齢者医療 August–July).
pub(super) fn cycle(on: Date, month: u32) -> (Date, Date) {
    let (y, _, _) = on.ymd();
    let this_year = ymd(y, month, 1);
    let start = if this_year <= on {
        this_year
    } else {
        ymd(y - 1, month, 1)
    };
    (start, anniversary(start, 1).add_days(-1))
}

/// A day drawn uniformly from `low..=high` (`low` when the range is empty).
pub(super) fn between(rng: &mut impl Rng, low: Date, high: Date) -> Date {
    if high <= low {
        low
    } else {
        low.add_days(rng.gen_range(0..=high.days() - low.days()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn birthdays_ages_and_cycles() {
        assert_eq!(anniversary(d("2000-02-29"), 1), d("2001-03-01"));
        assert_eq!(anniversary(d("2000-02-29"), 4), d("2004-02-29"));
        assert_eq!(age_on(d("1950-11-21"), d("2026-11-20")), 75);
        assert_eq!(age_on(d("1950-11-21"), d("2026-11-21")), 76);
        assert_eq!(next_month_start(d("2026-12-15")), d("2027-01-01"));
        assert_eq!(months_later_eve(d("2026-09-01"), 6), d("2027-02-28"));
        assert_eq!(
            cycle(d("2026-09-30"), 10),
            (d("2025-10-01"), d("2026-09-30"))
        );
        assert_eq!(
            cycle(d("2026-10-01"), 10),
            (d("2026-10-01"), d("2027-09-30"))
        );
    }
}

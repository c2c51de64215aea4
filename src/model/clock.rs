//! Japan time and "now", read in one place.
//!
//! Japan Standard Time is UTC+9 all year (no daylight saving), so a moment
//! becomes a Japan date and minute with integer arithmetic. Everything that
//! asks "what time is it" (admission and service hours, the default
//! treatment date, reception numbers, the check log's day, the audit log)
//! asks a [`Clock`], so that a test can hold time still or move it.

use super::Date;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Japan Standard Time's offset from UTC.
pub const JST_OFFSET_SECONDS: u64 = 9 * 3600;

/// The [`Date`] day number of 1970-01-01 (0001-01-01 is day 1).
const UNIX_EPOCH_DAYS: i32 = 719_163;

/// A source of the current moment.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Microseconds since the Unix epoch.
    fn now_micros(&self) -> u64;

    /// The current moment in Japan.
    fn japan(&self) -> JapanTime {
        JapanTime::from_micros(self.now_micros())
    }

    /// Today's date in Japan.
    fn today(&self) -> Date {
        self.japan().date
    }

    /// The current moment as a `chrono` UTC time (CRL times are compared so).
    fn utc(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_micros(self.now_micros() as i64).unwrap_or_default()
    }

    /// The current moment as a `SystemTime`.
    fn system_time(&self) -> std::time::SystemTime {
        UNIX_EPOCH + std::time::Duration::from_micros(self.now_micros())
    }
}

/// The clock every long-lived part of the process shares.
pub type SharedClock = std::sync::Arc<dyn Clock>;

/// The operating system's clock, shared.
pub fn system_clock() -> SharedClock {
    std::sync::Arc::new(SystemClock)
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64)
    }
}

/// A clock that stands still until it is set or advanced (for tests).
#[derive(Debug, Default)]
pub struct FixedClock(AtomicU64);

impl FixedClock {
    /// A clock showing `micros` since the Unix epoch.
    pub fn at_micros(micros: u64) -> FixedClock {
        FixedClock(AtomicU64::new(micros))
    }

    /// Moves the clock to `micros` since the Unix epoch.
    pub fn set_micros(&self, micros: u64) {
        self.0.store(micros, Ordering::Relaxed);
    }

    /// Moves the clock forward by `micros`.
    pub fn advance_micros(&self, micros: u64) {
        self.0.fetch_add(micros, Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn now_micros(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Microseconds since the Unix epoch, from the system clock.
pub fn now_micros() -> u64 {
    SystemClock.now_micros()
}

/// A moment in Japan: its date and minute of the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JapanTime {
    /// The calendar date in Japan.
    pub date: Date,
    /// Minutes since local midnight (0..1440).
    pub minute_of_day: u32,
}

impl JapanTime {
    /// The current moment in Japan, from the system clock.
    pub fn now() -> JapanTime {
        SystemClock.japan()
    }

    /// The moment `unix` seconds after the Unix epoch.
    pub fn from_unix_seconds(unix: u64) -> JapanTime {
        let local = unix + JST_OFFSET_SECONDS;
        JapanTime {
            date: Date::from_days(UNIX_EPOCH_DAYS + (local / 86_400) as i32),
            minute_of_day: ((local % 86_400) / 60) as u32,
        }
    }

    /// The moment `micros` microseconds after the Unix epoch.
    pub fn from_micros(micros: u64) -> JapanTime {
        JapanTime::from_unix_seconds(micros / 1_000_000)
    }
}

/// The Japan date of a moment in microseconds since the Unix epoch.
pub fn japan_day(micros: u64) -> Date {
    JapanTime::from_micros(micros).date
}

/// The hour of the day in Japan (0..24) of a moment in microseconds.
pub fn japan_hour(micros: u64) -> u64 {
    (micros / 1_000_000 + JST_OFFSET_SECONDS) % 86_400 / 3600
}

/// Microseconds since the Unix epoch of `second_of_day` seconds after
/// midnight, Japan time, on `day`.
pub fn micros_of_japan_day(day: Date, second_of_day: u64) -> u64 {
    let unix_day = (day.days() - UNIX_EPOCH_DAYS) as i64;
    let unix = unix_day * 86_400 + second_of_day as i64 - JST_OFFSET_SECONDS as i64;
    unix.max(0) as u64 * 1_000_000
}

/// The `chrono` offset of Japan Standard Time.
pub fn jst() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(JST_OFFSET_SECONDS as i32).expect("UTC+9 is a valid offset")
}

/// A moment as Japan time to the millisecond, e.g.
/// `2026-11-22T08:30:15.123+09:00`.
pub fn japan_time_text(micros: u64) -> String {
    chrono::DateTime::from_timestamp_micros(micros as i64)
        .unwrap_or_default()
        .with_timezone(&jst())
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn japan_time_is_utc_plus_nine() {
        // 2026-11-20T23:30:00Z is 2026-11-21 08:30 in Japan.
        let t = JapanTime::from_unix_seconds(1_795_217_400);
        assert_eq!(t.date.to_string(), "2026-11-21");
        assert_eq!(t.minute_of_day, 8 * 60 + 30);
        assert_eq!(
            JapanTime::from_unix_seconds(0).date.to_string(),
            "1970-01-01"
        );
        assert_eq!(japan_hour(1_795_217_400_000_000), 8);
        assert_eq!(
            japan_time_text(1_795_217_400_123_000),
            "2026-11-21T08:30:00.123+09:00"
        );
    }

    #[test]
    fn a_day_and_second_round_trip() {
        let day = Date::from_ymd(2026, 11, 21).unwrap();
        let micros = micros_of_japan_day(day, 8 * 3600 + 30 * 60);
        assert_eq!(micros, 1_795_217_400_000_000);
        assert_eq!(japan_day(micros), day);
    }

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let clock = FixedClock::at_micros(1_795_217_400_000_000);
        assert_eq!(clock.japan().minute_of_day, 8 * 60 + 30);
        clock.advance_micros(16 * 3600 * 1_000_000);
        assert_eq!(clock.today().to_string(), "2026-11-22");
        clock.set_micros(0);
        assert_eq!(clock.today().to_string(), "1970-01-01");
    }
}

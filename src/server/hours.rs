//! Service hours (`SPEC.md` §3.3): when checks are answered, in Japan time.

use std::fmt;

/// When checks are answered (`SPEC.md` §3.3): a daily window in Japan time,
/// or always.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceHours {
    /// Always open (`off`).
    Always,
    /// Open from `start` (inclusive) to `end` (exclusive), minutes of the
    /// day; a window with `start > end` runs past midnight.
    Window {
        /// First minute open, 0–1439.
        start: u32,
        /// First minute closed again, 0–1440 (1440 is `24:00`).
        end: u32,
    },
}

impl ServiceHours {
    /// Parses `HH:MM-HH:MM` (end may be `24:00`) or `off` (always open).
    pub fn parse(text: &str) -> Result<ServiceHours, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") {
            return Ok(ServiceHours::Always);
        }
        let problem = || format!("`{text}` is neither HH:MM-HH:MM (e.g. 08:00-21:00) nor off");
        let (start, end) = text.split_once('-').ok_or_else(problem)?;
        let start = minutes(start).filter(|&m| m < 1440).ok_or_else(problem)?;
        let end = minutes(end).ok_or_else(problem)?;
        if start == end {
            return Err(format!(
                "`{text}` is an empty window; use off to answer at all hours"
            ));
        }
        Ok(ServiceHours::Window { start, end })
    }

    /// Minutes from `minute_of_day` until the window opens (0 when open).
    pub fn minutes_until_open(self, minute_of_day: u32) -> u32 {
        match self {
            _ if self.is_open(minute_of_day) => 0,
            ServiceHours::Always => 0,
            ServiceHours::Window { start, .. } => (start + 1440 - minute_of_day) % 1440,
        }
    }

    /// Whether checks are answered at `minute_of_day` (0–1439, Japan time).
    pub fn is_open(self, minute_of_day: u32) -> bool {
        match self {
            ServiceHours::Always => true,
            ServiceHours::Window { start, end } if start < end => {
                (start..end).contains(&minute_of_day)
            }
            ServiceHours::Window { start, end } => minute_of_day >= start || minute_of_day < end,
        }
    }
}

impl fmt::Display for ServiceHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceHours::Always => f.write_str("off"),
            ServiceHours::Window { start, end } => write!(
                f,
                "{:02}:{:02}-{:02}:{:02}",
                start / 60,
                start % 60,
                end / 60,
                end % 60
            ),
        }
    }
}

/// `HH:MM` as minutes of the day (up to 24:00).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && h * 60 + m <= 1440).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_hours_windows() {
        let day = ServiceHours::parse("08:00-21:00").unwrap();
        assert!(!day.is_open(7 * 60 + 59));
        assert!(day.is_open(8 * 60));
        assert!(day.is_open(20 * 60 + 59));
        assert!(!day.is_open(21 * 60));
        assert_eq!(day.to_string(), "08:00-21:00");
        let night = ServiceHours::parse("22:00-06:00").unwrap();
        assert!(night.is_open(23 * 60) && night.is_open(60) && !night.is_open(12 * 60));
        assert!(ServiceHours::parse("00:00-24:00").unwrap().is_open(1439));
        assert_eq!(day.minutes_until_open(7 * 60), 60);
        assert_eq!(day.minutes_until_open(22 * 60), 10 * 60);
        assert_eq!(day.minutes_until_open(9 * 60), 0);
        assert_eq!(ServiceHours::parse("OFF").unwrap(), ServiceHours::Always);
        for bad in [
            "8-21",
            "08:00",
            "25:00-26:00",
            "08:00-08:00",
            "08:60-09:00",
            "",
        ] {
            assert!(ServiceHours::parse(bad).is_err(), "{bad}");
        }
    }
}

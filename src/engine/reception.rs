//! Reception numbers (受付番号): every answer carries one so that a clinic can
//! refer to it later. Unique within a process: Japan time to the second, the
//! process id, and a counter.
//!
//! Made on every check, so the date-time prefix is formatted once per second
//! per thread and the rest is plain digit arithmetic.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// (unix second, "YYYYMMDDhhmmss-pppp-") for the last second formatted.
    static PREFIX: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// A new reception number for an answer given at `now_micros` (since the
/// Unix epoch), e.g. `20261121083015-04d2-000001`.
pub fn next_reception(now_micros: u64) -> String {
    let second = now_micros / 1_000_000;
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    PREFIX.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            *cached = (second, prefix_for(second));
        }
        let mut text = String::with_capacity(cached.1.len() + 10);
        text.push_str(&cached.1);
        push_padded(&mut text, sequence);
        text
    })
}

fn prefix_for(unix_second: u64) -> String {
    let now = chrono::DateTime::from_timestamp(unix_second as i64, 0)
        .unwrap_or_default()
        .with_timezone(&crate::model::clock::jst());
    format!(
        "{}-{:04x}-",
        now.format("%Y%m%d%H%M%S"),
        std::process::id() & 0xFFFF
    )
}

/// Appends `value` in decimal, zero-padded to at least six digits.
fn push_padded(text: &mut String, value: u64) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(value);
    for _ in digits.len()..6 {
        text.push('0');
    }
    text.push_str(digits);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_well_formed() {
        let now = crate::model::clock::now_micros();
        let (a, b) = (next_reception(now), next_reception(now));
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(parts.len(), 3, "{a}");
        assert_eq!(parts[0].len(), 14);
        assert!(parts[0].bytes().all(|c| c.is_ascii_digit()));
        assert_eq!(parts[1].len(), 4);
        assert!(parts[2].len() >= 6);
    }
}

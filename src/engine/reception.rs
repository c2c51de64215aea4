//! Reception numbers (受付番号): every answer carries one so that a clinic can
//! refer to it later. Unique within a process: Japan time to the second, the
//! process id, and a counter.

use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A new reception number, e.g. `20261121083015-04d2-000001`.
pub fn next_reception() -> String {
    let jst = chrono::FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset");
    let now = chrono::Utc::now().with_timezone(&jst);
    let sequence = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    format!(
        "{}-{:04x}-{sequence:06}",
        now.format("%Y%m%d%H%M%S"),
        std::process::id() & 0xFFFF
    )
}

//! The check log (処理履歴, `SPEC.md` §5): one compact record per check
//! answered or refused, the source of institutions' history searches, of
//! the JPKI fee exports and of the statistics.
//!
//! ```text
//! handler ── reserve a place (block or shed) ── answer ── encode ──▶ bounded queue
//!                                                                     │
//! writer thread: batch (linger) ─ LZ4 ─ frame ─ append + fdatasync ◀──┘
//!   └─ per Japan day: 20261122/000001.seg (+ .idx when closed), purge by age
//! ```
//!
//! The place in the queue is taken *before* the check is answered, so an
//! answer is never given without its record: under the `block` policy a
//! full queue makes the request wait (counted as blocked); under `shed` it
//! is refused with 503 `busy` and counted, and the count is written to the
//! log as a [`record::Shed`] entry once the writer catches up. Nothing is
//! dropped silently. The answer does not wait for the disk: a crash loses
//! the records queued and not yet written: normally the batch being
//! collected (`linger`, 20 ms by default), more while the writer is behind
//! (`shikaku_check_log_queue` says how many).

pub mod generate;
pub mod history;
pub mod index;
pub mod record;
pub mod report;
pub mod segment;
mod writer;

use crate::model::clock::SharedClock;
use crate::model::Date;
use record::Shed;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub use writer::Recovery;

/// Longest wait for the writer to write out what is queued (a history
/// search, shutdown).
pub const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// What a handler does when the log's queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait for a place (latency grows; nothing is refused).
    Block,
    /// Refuse the check with 503 `busy` (counted, and logged as a count).
    Shed,
}

impl Backpressure {
    /// Reads a `check_log_policy` value: `block` or `shed`.
    pub fn parse(text: &str) -> Result<Backpressure, String> {
        match text {
            "block" => Ok(Backpressure::Block),
            "shed" => Ok(Backpressure::Shed),
            other => Err(format!("`{other}` is neither block nor shed")),
        }
    }
}

/// How the check log is kept.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Directory of the check log (the `check_log` setting); holds one directory per Japan day.
    pub dir: PathBuf,
    /// What a full queue does to a check (`check_log_policy`, default `block`).
    pub backpressure: Backpressure,
    /// Records the queue holds before the policy applies.
    pub queue: usize,
    /// How long the writer collects a batch before writing it.
    pub linger: Duration,
    /// A segment is closed (and indexed) at this size or entry count.
    pub segment_bytes: u64,
    /// Entry count at which a segment is closed (default 2,000,000), whichever of the two limits comes first.
    pub segment_entries: u64,
    /// Days older than this many months are removed.
    pub retention_months: u32,
    /// History searches reach back this many months.
    pub search_months: u32,
}

impl LogConfig {
    /// The defaults for a log at `dir`: `block`, a 65,536-record queue, 20 ms linger,
    /// 256 MiB or 2,000,000-entry segments, 6 months kept, 5 months searched.
    pub fn new(dir: PathBuf) -> LogConfig {
        LogConfig {
            dir,
            backpressure: Backpressure::Block,
            queue: 65_536,
            linger: Duration::from_millis(20),
            segment_bytes: 256 << 20,
            segment_entries: 2_000_000,
            retention_months: 6,
            search_months: 5,
        }
    }
}

/// Counters of the log, for metrics and status.
#[derive(Default, Debug)]
pub struct LogStats {
    /// Entries written since start, checks and shed counts alike (`shikaku_check_log_records_total`).
    pub entries: AtomicU64,
    /// Batches written, one `fdatasync` each (`shikaku_check_log_batches_total`).
    pub batches: AtomicU64,
    /// Bytes written to segments, frames included (`shikaku_check_log_bytes_total`).
    pub bytes: AtomicU64,
    /// Reservations that had to wait for a place (`block`).
    pub blocked: AtomicU64,
    /// Checks refused because the queue was full (`shed`).
    pub shed: AtomicU64,
    /// Batch writes that failed and were retried (`shikaku_check_log_write_failures_total`).
    pub write_failures: AtomicU64,
    /// The last write failed; the writer is retrying.
    pub failing: AtomicBool,
    /// Day directories removed past retention since start, not counting those removed at start.
    pub days_purged: AtomicU64,
    /// Shed checks not yet written as a [`Shed`] entry, and when the first was.
    shed_unlogged: AtomicU64,
    shed_first_micros: AtomicU64,
}

impl LogStats {
    /// The shed checks to write now, if any.
    fn take_shed(&self, now_micros: u64) -> Option<Shed> {
        // The first time is taken before the count: a check shed in
        // between starts the next count with its own time.
        let first_micros = self.shed_first_micros.swap(0, Ordering::AcqRel);
        let count = self.shed_unlogged.swap(0, Ordering::AcqRel);
        (count > 0).then(|| Shed {
            first_micros: if first_micros == 0 {
                now_micros
            } else {
                first_micros
            },
            micros: now_micros,
            count: count.min(u64::from(u32::MAX)) as u32,
        })
    }
}

enum Item {
    Entry(Vec<u8>),
    /// Write everything queued before, then answer; with `close`, also
    /// close (and index) the segment being written.
    Flush {
        close: bool,
        done: oneshot::Sender<()>,
    },
}

/// The log as handlers see it.
pub struct CheckLog {
    queue: mpsc::Sender<Item>,
    capacity: usize,
    /// The settings the log was started with.
    pub config: LogConfig,
    /// Counters shared with the writer thread, read by metrics and status.
    pub stats: Arc<LogStats>,
    /// The segments and indexes that history searches read, kept current by the writer.
    pub store: Arc<history::Store>,
    clock: SharedClock,
}

/// A place in the queue, taken before the check is answered.
pub struct Slot<'a> {
    permit: mpsc::Permit<'a, Item>,
}

impl Slot<'_> {
    /// Queues one encoded record ([`record::CheckRecord::encode`]).
    pub fn send(self, record: Vec<u8>) {
        self.permit.send(Item::Entry(record));
    }
}

/// The queue was full under the `shed` policy (or the writer is gone).
#[derive(Debug)]
pub struct NoPlace;

impl CheckLog {
    /// Recovers what a crash left (torn tails cut, missing indexes built),
    /// removes days past retention, and starts the writer; `clock` says
    /// what "now" is (the writer's day, purges, shed counts).
    pub fn start(config: LogConfig, clock: SharedClock) -> anyhow::Result<(CheckLog, Recovery)> {
        let (queue, receiver) = mpsc::channel(config.queue);
        let stats = Arc::new(LogStats::default());
        let store = Arc::new(history::Store::new(config.dir.clone()));
        let recovery = writer::start(&config, &clock, receiver, stats.clone(), store.clone())?;
        Ok((
            CheckLog {
                queue,
                capacity: config.queue,
                config,
                stats,
                store,
                clock,
            },
            recovery,
        ))
    }

    /// Takes a place for one record, per the backpressure policy.
    pub async fn reserve(&self) -> Result<Slot<'_>, NoPlace> {
        match self.queue.try_reserve() {
            Ok(permit) => return Ok(Slot { permit }),
            Err(mpsc::error::TrySendError::Closed(())) => return Err(NoPlace),
            Err(mpsc::error::TrySendError::Full(())) => {}
        }
        if self.config.backpressure == Backpressure::Block {
            self.stats.blocked.fetch_add(1, Ordering::Relaxed);
            return self
                .queue
                .reserve()
                .await
                .map(|permit| Slot { permit })
                .map_err(|_| NoPlace);
        }
        self.stats.shed.fetch_add(1, Ordering::Relaxed);
        let now = self.clock.now_micros();
        let _ = self.stats.shed_first_micros.compare_exchange(
            0,
            now,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        self.stats.shed_unlogged.fetch_add(1, Ordering::AcqRel);
        Err(NoPlace)
    }

    /// Queues one encoded record of a check already answered (a bulk
    /// line), waiting for a place whatever the policy.
    pub async fn send_waiting(&self, record: Vec<u8>) {
        let record = match self.queue.try_send(Item::Entry(record)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Closed(_)) => return,
            Err(mpsc::error::TrySendError::Full(record)) => record,
        };
        self.stats.blocked.fetch_add(1, Ordering::Relaxed);
        let _ = self.queue.send(record).await;
    }

    /// Waits until every record queued before this call is on disk; false
    /// if that took longer than [`FLUSH_WAIT`].
    pub async fn flush(&self) -> bool {
        self.flush_and(false).await
    }

    /// Writes every record queued and closes the segment, indexing it (at
    /// shutdown: the next start has nothing to recover); false if that
    /// took longer than [`FLUSH_WAIT`].
    pub async fn close(&self) -> bool {
        self.flush_and(true).await
    }

    /// False when the writer did not get there within [`FLUSH_WAIT`]
    /// (it is behind, or retrying a failed write).
    async fn flush_and(&self, close: bool) -> bool {
        let (done, wait) = oneshot::channel();
        let flushed = async {
            self.queue.send(Item::Flush { close, done }).await.is_ok() && wait.await.is_ok()
        };
        tokio::time::timeout(FLUSH_WAIT, flushed)
            .await
            .unwrap_or(false)
    }

    /// Records waiting to be written.
    pub fn queued(&self) -> usize {
        self.capacity - self.queue.capacity()
    }
}

/// The same day `months` months before `day` (the month's last day when
/// that month is shorter).
pub fn months_before(day: Date, months: u32) -> Date {
    add_months(day, -(months as i32))
}

/// The same day `months` months after `day` (negative: before), or the
/// month's last day when that month is shorter.
pub fn add_months(day: Date, months: i32) -> Date {
    let (year, month, dom) = day.ymd();
    let index = year * 12 + month as i32 - 1 + months;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    (0..4)
        .find_map(|back| Date::from_ymd(year, month, dom.checked_sub(back)?))
        .unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_before_clamps_to_the_month_end() {
        let day = |y, m, d| Date::from_ymd(y, m, d).unwrap();
        assert_eq!(months_before(day(2026, 11, 22), 6), day(2026, 5, 22));
        assert_eq!(months_before(day(2026, 8, 31), 6), day(2026, 2, 28));
        assert_eq!(months_before(day(2026, 3, 1), 5), day(2025, 10, 1));
        assert_eq!(months_before(day(2026, 3, 1), 0), day(2026, 3, 1));
    }
}

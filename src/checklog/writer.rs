//! The writer thread: collects queued records into batches, writes each as
//! one compressed frame with one `fdatasync`, rotates segments by day and
//! size (indexing each as it closes), and purges days past retention.
//!
//! A failed write is retried every second in a new segment; meanwhile the
//! queue fills and the backpressure policy shows the trouble to callers
//! (and `shikaku_check_log_failing` to operators). Nothing is dropped.

use super::history::Store;
use super::index::{record_hash, OpenIndex};
use super::record::{Entries, Entry};
use super::segment::{self, SegmentWriter, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES};
use super::{months_before, Item, LogConfig, LogStats};
use crate::model::clock::{japan_day, SharedClock};
use crate::model::Date;
use anyhow::Context;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What start-up found of an earlier run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Recovery {
    /// Segments left unindexed by a crash, now indexed.
    pub segments_indexed: usize,
    /// Bytes of torn batches cut off their ends.
    pub torn_bytes: u64,
    /// Segments with damage before intact batches (kept up to the damage).
    pub damaged: Vec<String>,
    /// Day directories removed at start because they were past retention.
    pub days_purged: usize,
}

pub(super) fn start(
    config: &LogConfig,
    clock: &SharedClock,
    receiver: mpsc::Receiver<Item>,
    stats: Arc<LogStats>,
    store: Arc<Store>,
) -> anyhow::Result<Recovery> {
    std::fs::create_dir_all(&config.dir)
        .with_context(|| format!("cannot create {}", config.dir.display()))?;
    let mut recovery = recover(&config.dir)?;
    recovery.days_purged = purge(
        &config.dir,
        japan_day(clock.now_micros()),
        config.retention_months,
    )?;
    let mut writer = LogWriter {
        config: config.clone(),
        clock: clock.clone(),
        stats,
        store,
        segment: None,
        batch: Vec::with_capacity(1 << 20),
        count: 0,
        first_micros: 0,
        hashes: Vec::new(),
    };
    std::thread::Builder::new()
        .name("check-log".into())
        .spawn(move || writer.run(receiver))
        .context("cannot start the check-log writer")?;
    Ok(recovery)
}

/// Indexes every segment a crash left open, cutting torn tails.
fn recover(log: &Path) -> anyhow::Result<Recovery> {
    let mut recovery = Recovery::default();
    for (_, day) in segment::days(log)? {
        for file in segment::segments(&day)? {
            if file.is_indexed() {
                continue;
            }
            let mut index = OpenIndex::default();
            let scan = segment::read_segment(&file.path, |offset, entries| {
                for entry in entries {
                    if let Entry::Check(record) = entry.map_err(anyhow::Error::msg)? {
                        if let Some(hash) = record_hash(&record) {
                            index.add(hash, offset);
                        }
                    }
                }
                Ok(())
            })?;
            if scan.torn_bytes() > 0 {
                segment::truncate(&file.path, scan.valid_len)?;
                recovery.torn_bytes += scan.torn_bytes();
            }
            if let Some(damage) = scan.damage {
                recovery.damaged.push(damage);
            }
            index.write(&file.index_path())?;
            recovery.segments_indexed += 1;
        }
    }
    Ok(recovery)
}

/// Removes the day directories older than `months` before `today`.
pub(super) fn purge(log: &Path, today: Date, months: u32) -> anyhow::Result<usize> {
    let cutoff = months_before(today, months);
    let mut removed = 0;
    for (day, dir) in segment::days(log)? {
        if day < cutoff {
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

struct LogWriter {
    config: LogConfig,
    /// What "now" is for purges and shed counts.
    clock: SharedClock,
    stats: Arc<LogStats>,
    store: Arc<Store>,
    segment: Option<SegmentWriter>,
    /// The batch being collected: encoded entries, their count, the first
    /// one's time, and the index hashes of its checks.
    batch: Vec<u8>,
    count: u32,
    first_micros: u64,
    hashes: Vec<u64>,
}

impl LogWriter {
    fn run(&mut self, mut receiver: mpsc::Receiver<Item>) {
        let mut waiting = Vec::new();
        while let Some(first) = receiver.blocking_recv() {
            let mut items = vec![first];
            let mut close = false;
            if !matches!(items[0], Item::Flush { .. }) {
                std::thread::sleep(self.config.linger);
            }
            let mut bytes = 0;
            while items.len() < MAX_BATCH_ENTRIES as usize && bytes < MAX_BATCH_BYTES {
                match receiver.try_recv() {
                    Ok(item) => {
                        if let Item::Entry(entry) = &item {
                            bytes += entry.len();
                        }
                        items.push(item);
                    }
                    Err(_) => break,
                }
            }
            if let Some(shed) = self.stats.take_shed(self.clock.now_micros()) {
                let mut entry = Vec::new();
                shed.encode(&mut entry);
                self.add(&entry);
            }
            for item in items {
                match item {
                    Item::Entry(bytes) => self.add(&bytes),
                    Item::Flush {
                        close: and_close,
                        done,
                    } => {
                        close |= and_close;
                        waiting.push(done);
                    }
                }
            }
            self.commit();
            if close {
                self.close_segment();
            }
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
        }
        self.commit();
        self.close_segment();
    }

    /// Adds one encoded entry to the batch, writing the batch first when
    /// the entry belongs to another day than the batch or the segment (a
    /// bulk line answered just before midnight can be queued just after).
    fn add(&mut self, bytes: &[u8]) {
        let Some(Ok(entry)) = Entries::new(bytes).next() else {
            return;
        };
        let micros = entry.micros();
        let day = japan_day(micros);
        let current = match self.count {
            0 => self.segment.as_ref().map(|s| s.day),
            _ => Some(japan_day(self.first_micros)),
        };
        if current.is_some_and(|current| current != day) {
            self.commit();
            self.close_segment();
            if current.is_some_and(|current| current < day) {
                self.purge(day);
            }
        }
        if self.count == 0 {
            self.first_micros = micros;
        }
        self.batch.extend_from_slice(bytes);
        self.count += 1;
        if let Entry::Check(record) = entry {
            if let Some(hash) = record_hash(&record) {
                self.hashes.push(hash);
            }
        }
    }

    /// Writes the batch as one frame, retrying until it is on disk.
    fn commit(&mut self) {
        if self.count == 0 {
            return;
        }
        loop {
            match self.try_commit() {
                Ok(()) => break,
                Err(error) => {
                    eprintln!("shikaku: check log: {error:#}; retrying in a new segment in 1 s");
                    self.stats.write_failures.fetch_add(1, Ordering::Relaxed);
                    self.stats.failing.store(true, Ordering::Relaxed);
                    self.close_segment();
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
        self.stats.failing.store(false, Ordering::Relaxed);
        self.stats
            .entries
            .fetch_add(u64::from(self.count), Ordering::Relaxed);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.batch.clear();
        self.hashes.clear();
        self.count = 0;
    }

    fn try_commit(&mut self) -> anyhow::Result<()> {
        let day = japan_day(self.first_micros);
        let full = self.segment.as_ref().is_some_and(|s| {
            s.len >= self.config.segment_bytes || s.entries >= self.config.segment_entries
        });
        if full {
            self.close_segment();
        }
        let segment = match self.segment.take() {
            Some(open) => open,
            None => {
                let created = SegmentWriter::create(&self.config.dir, day)?;
                self.store.opened(created.segment.clone());
                created
            }
        };
        let segment = self.segment.insert(segment);
        let before = segment.len;
        let offset = segment.append(&self.batch, self.count, self.first_micros, true)?;
        self.stats
            .bytes
            .fetch_add(segment.len - before, Ordering::Relaxed);
        self.store.indexed(offset, &self.hashes);
        Ok(())
    }

    /// Closes the segment being written: its index is written and the
    /// store searches it through that from now on.
    fn close_segment(&mut self) {
        let Some(closed) = self.segment.take() else {
            return;
        };
        match self.store.close(&closed.segment) {
            Ok(()) => {}
            Err(error) => {
                eprintln!("shikaku: check log: {error:#}; the index is rebuilt at the next start")
            }
        }
    }

    fn purge(&mut self, today: Date) {
        match purge(&self.config.dir, today, self.config.retention_months) {
            Ok(removed) => {
                self.stats
                    .days_purged
                    .fetch_add(removed as u64, Ordering::Relaxed);
            }
            Err(error) => eprintln!("shikaku: check log: purge: {error:#}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checklog::record::Shed;

    /// Microseconds of `hh:mm:ss` Japan time on 2026-11-22 (+ `days`).
    fn at(days: u64, hh: u64, mm: u64, ss: u64) -> u64 {
        let midnight_jst_utc = 1_795_273_200; // 2026-11-22T00:00:00+09:00
        (midnight_jst_utc + days * 86_400 + hh * 3600 + mm * 60 + ss) * 1_000_000
    }

    #[test]
    fn entries_around_midnight_go_to_their_own_days() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = LogWriter {
            config: LogConfig::new(dir.path().to_path_buf()),
            clock: crate::model::clock::system_clock(),
            stats: Arc::default(),
            store: Arc::new(Store::new(dir.path().to_path_buf())),
            segment: None,
            batch: Vec::new(),
            count: 0,
            first_micros: 0,
            hashes: Vec::new(),
        };
        assert_eq!(japan_day(at(0, 0, 0, 0)).to_string(), "2026-11-22");
        // A late entry of the 22nd between entries of the 23rd, with and
        // without a commit in between.
        let times = [
            at(0, 23, 59, 59),
            at(1, 0, 0, 1),
            at(0, 23, 59, 58),
            at(1, 0, 0, 2),
        ];
        for (n, micros) in times.into_iter().enumerate() {
            let mut entry = Vec::new();
            Shed {
                first_micros: micros,
                micros,
                count: 1,
            }
            .encode(&mut entry);
            writer.add(&entry);
            if n == 1 {
                writer.commit();
            }
        }
        writer.commit();
        writer.close_segment();
        let mut seen = 0;
        for (day, day_dir) in segment::days(dir.path()).unwrap() {
            for file in segment::segments(&day_dir).unwrap() {
                segment::read_segment(&file.path, |_, entries| {
                    for entry in entries {
                        assert_eq!(japan_day(entry.unwrap().micros()), day);
                        seen += 1;
                    }
                    Ok(())
                })
                .unwrap();
            }
        }
        assert_eq!(seen, 4);
    }
}

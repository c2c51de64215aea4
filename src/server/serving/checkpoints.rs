//! When the update writer checkpoints the live overlay (see
//! [`crate::updates::checkpoint`]), and the thread that writes it.
//!
//! The overlay is persistent, so taking it is one pointer copy: the writer
//! hands the published overlay (every record in it acknowledged) to a
//! thread of its own at the lowest priority, and goes on taking updates
//! while it is written. One checkpoint is written at a time. A new one is
//! due once the journal has moved on by [`CHECKPOINT_RECORDS`] records,
//! when `interval` has passed with anything new, or when another snapshot
//! has been installed.

use crate::server::serving::generation::Generation;
use crate::server::serving::ingest::set_thread_niceness;
use crate::updates::acceptance::JournalState;
use crate::updates::checkpoint::{self, CheckpointMark, Written};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Journal records after which a checkpoint is due whatever the time: a
/// restart then replays at most about this many (≈ 4 s at 16 s a million).
pub(crate) const CHECKPOINT_RECORDS: u64 = 250_000;
/// Scheduling niceness of the checkpoint thread (the lowest).
const CHECKPOINT_NICE: libc::c_int = 19;

/// What the last checkpoint did, for status.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct CheckpointNotes {
    /// The last checkpoint written.
    pub written: Option<Written>,
    /// Why the last attempt failed (cleared by the next success).
    pub failure: Option<String>,
}

/// The writer's checkpoint schedule.
pub(crate) struct Checkpoints {
    dir: PathBuf,
    interval: Duration,
    /// The snapshot and LSN of the last checkpoint written or read.
    covered: Option<(String, u64)>,
    since: Instant,
    running: Option<JoinHandle<()>>,
    /// Shared with status; the checkpoint thread records its outcome here.
    notes: Arc<Mutex<CheckpointNotes>>,
}

impl Checkpoints {
    /// Checkpoints into the journal directory `dir`, at least every `interval`.
    pub(crate) fn new(
        dir: PathBuf,
        interval: Duration,
        notes: Arc<Mutex<CheckpointNotes>>,
    ) -> Checkpoints {
        Checkpoints {
            dir,
            interval,
            covered: None,
            since: Instant::now(),
            running: None,
            notes,
        }
    }

    /// Notes that the checkpoint on disk covers `mark` (one was just read).
    pub(crate) fn covered(&mut self, mark: &CheckpointMark) {
        self.covered = Some((mark.snapshot_id.clone(), mark.through_lsn));
        self.since = Instant::now();
    }

    /// Starts the next checkpoint for `generation` if it is due and none
    /// is being written.
    pub(crate) fn poll(&mut self, generation: &Generation, accepted: &JournalState) {
        if self.running.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        self.running = None;
        let overlay = generation.overlay.load_full();
        let through = overlay.through_lsn();
        let id = generation.snapshot.id();
        if overlay.counts().records_applied == 0 {
            return;
        }
        let due = match &self.covered {
            Some((covered_id, covered_lsn)) if covered_id == id => {
                through > *covered_lsn
                    && (through - covered_lsn >= CHECKPOINT_RECORDS
                        || self.since.elapsed() >= self.interval)
            }
            _ => true,
        };
        if !due {
            return;
        }
        let mark = generation.checkpoint_mark(through);
        let (dir, notes) = (self.dir.clone(), self.notes.clone());
        let (senders, mut ids) = (accepted.senders(), accepted.seen_ids());
        let spawned = std::thread::Builder::new()
            .name("shikaku-checkpoint".into())
            .spawn(move || {
                // Best effort: a checkpoint takes the CPU checks and updates leave.
                let _ = set_thread_niceness(CHECKPOINT_NICE);
                // Sorted, a restart keeps them as read instead of building a set.
                ids.sort_unstable();
                let written = checkpoint::write(&dir, &mark, &overlay, senders, &ids);
                let mut notes = notes.lock().unwrap_or_else(|e| e.into_inner());
                match written {
                    Ok(written) => {
                        notes.written = Some(written);
                        notes.failure = None;
                    }
                    Err(error) => {
                        eprintln!("shikaku: overlay checkpoint: {error:#}; a restart replays the journal from the last one");
                        notes.failure = Some(format!("{error:#}"));
                    }
                }
            });
        match spawned {
            Ok(handle) => {
                self.running = Some(handle);
                self.covered = Some((id.to_string(), through));
                self.since = Instant::now();
            }
            Err(error) => {
                if let Ok(mut notes) = self.notes.lock() {
                    notes.failure = Some(format!("cannot start the checkpoint thread: {error}"));
                }
            }
        }
    }
}

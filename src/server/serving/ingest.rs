//! The ingest task: the single writer of the journal and the overlay.
//!
//! Handlers parse message lines (in parallel, on the runtime) and send them
//! here in batches. One OS thread takes every batch waiting, checks each
//! message in order (repeat `process_id`, sender sequence, the row or serial
//! it needs), appends the accepted ones to the journal, fsyncs once for the
//! whole group, and only then publishes the new overlay and answers: `ok`
//! means durable and visible to the next check.
//!
//! Snapshot activations and rollbacks are installed here too, so that no
//! change is applied between rebuilding a generation's overlay from the
//! journal and making that generation live.

use crate::engine::View;
use crate::server::serving::checkpoints::{CheckpointNotes, Checkpoints};
use crate::server::serving::generation::Generation;
use crate::server::serving::slot::{SlotReader, Swapper};
use crate::updates::acceptance::{Decision, JournalState, Pending};
use crate::updates::checkpoint::{self, CheckpointMark, Restored};
use crate::updates::journal::{process_id_hash, Journal, Record, Scan};
use crate::updates::message::{self, BadMessage, Message};
use crate::updates::overlay::Overlay;
use crate::updates::replay::{replay, replay_over, Replayed};
use anyhow::Context;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Longest update message line accepted, in bytes.
pub(crate) const MAX_UPDATE_LINE_BYTES: usize = 64 * 1024;
/// Most records committed with one fsync.
const MAX_GROUP_RECORDS: usize = 65_536;
/// Scheduling niceness of the writer thread (0 is the workers').
const INGEST_NICE: libc::c_int = 10;
/// Batches queued towards the writer before senders wait.
const QUEUE_BATCHES: usize = 256;

/// One message line as received.
pub(crate) struct Line {
    /// 1-based line number in its request.
    pub number: u64,
    /// The line; `None` when it was longer than allowed (and skipped).
    pub raw: Option<Vec<u8>>,
}

impl Line {
    /// Parses the line (on the writer's thread, which runs at a lower
    /// priority than the workers answering checks).
    fn parse(&self) -> Result<Message, BadMessage> {
        match &self.raw {
            Some(raw) => message::parse(raw),
            None => Err(BadMessage {
                process_id: None,
                message: format!(
                    "line: longer than {} bytes; the line is skipped",
                    MAX_UPDATE_LINE_BYTES
                ),
            }),
        }
    }
}

/// The result of one line (`CONTRACT.md` §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LineOutcome {
    /// Durable and visible; `lsn` numbers it in the journal.
    Applied {
        lsn: u64,
    },
    /// The process id was accepted before; nothing changed.
    Duplicate,
    Error {
        code: &'static str,
        message: String,
    },
}

/// A line's process id and outcome.
pub(crate) struct LineResult {
    pub number: u64,
    pub process_id: Option<String>,
    pub outcome: LineOutcome,
}

/// Counters for status and metrics.
#[derive(Default)]
pub(crate) struct IngestStats {
    pub applied: AtomicU64,
    pub duplicates: AtomicU64,
    pub refused: AtomicU64,
    pub groups: AtomicU64,
    pub fsync_micros: AtomicU64,
    pub next_lsn: AtomicU64,
    pub failed: AtomicBool,
    /// Why the journal stopped taking writes, or what the last install found.
    pub notes: Mutex<IngestNotes>,
    /// The last overlay checkpoint.
    pub checkpoint: Arc<Mutex<CheckpointNotes>>,
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub(crate) struct IngestNotes {
    pub failure: Option<String>,
    pub opened: Option<Scan>,
    pub last_install: Option<InstallReport>,
}

/// What installing a generation did.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct InstallReport {
    /// The snapshot's journal mark: records up to it are folded in.
    pub folded_through: u64,
    /// The LSN covered by the overlay checkpoint the replay started from
    /// (`None`: it replayed every record after the snapshot's mark).
    pub resumed_from_checkpoint: Option<u64>,
    /// The LSN covered by the overlay the generation kept from when it was
    /// last live (a rollback), if the replay started from it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from_kept_overlay: Option<u64>,
    pub replayed: u64,
    pub replay_seconds: f64,
    pub segments_trimmed: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An install's report and the generation it replaced, or why it was refused.
pub(crate) type Installed = Result<(InstallReport, Option<Arc<Generation>>), String>;

enum Command {
    Apply {
        lines: Vec<Line>,
        reply: oneshot::Sender<Vec<LineResult>>,
    },
    Install {
        generation: Arc<Generation>,
        trim_through: u64,
        swapper: Swapper<Generation>,
        reply: oneshot::Sender<Installed>,
    },
}

/// The handle handlers and the activation path use.
pub(crate) struct Ingest {
    commands: mpsc::Sender<Command>,
    pub stats: Arc<IngestStats>,
    pub journal_dir: PathBuf,
}

impl Ingest {
    /// Opens the journal in `dir` (cutting off a torn tail) and starts the
    /// writer thread, which reads the live generation through `live`.
    pub(crate) fn start(
        dir: &Path,
        live: SlotReader<Generation>,
        checkpoint_interval: Duration,
    ) -> anyhow::Result<Ingest> {
        let (journal, scan, known, seen) = open_journal(dir)?;
        if scan.torn_bytes > 0 {
            println!(
                "shikaku: journal: cut off {} bytes of an unfinished last record (never acknowledged)",
                scan.torn_bytes
            );
        }
        let stats = Arc::new(IngestStats::default());
        stats.next_lsn.store(journal.next_lsn(), Ordering::Relaxed);
        if let Ok(mut notes) = stats.notes.lock() {
            notes.opened = Some(scan.clone());
        }
        let (commands, receiver) = mpsc::channel(QUEUE_BATCHES);
        let writer = UpdateWriter {
            journal,
            dir: dir.to_path_buf(),
            accepted: JournalState::new(known, seen),
            live,
            stats: stats.clone(),
            checkpoints: Checkpoints::new(
                dir.to_path_buf(),
                checkpoint_interval,
                stats.checkpoint.clone(),
            ),
        };
        std::thread::Builder::new()
            .name("shikaku-ingest".into())
            .spawn(move || {
                yield_to_checks();
                writer.run(receiver)
            })
            .context("cannot start the ingest thread")?;
        Ok(Ingest {
            commands,
            stats,
            journal_dir: dir.to_path_buf(),
        })
    }

    /// Applies a batch of lines in order; one result per line.
    pub(crate) async fn apply(&self, lines: Vec<Line>) -> Result<Vec<LineResult>, String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Apply { lines, reply })
            .await
            .map_err(|_| "the ingest task has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the ingest task has stopped".to_string())
    }

    /// Rebuilds `generation`'s overlay from the journal and makes it live
    /// with `swapper` (given by the slot's change in progress); returns the
    /// generation it replaced. Journal segments wholly at or below
    /// `trim_through` are removed afterwards.
    pub(crate) async fn install(
        &self,
        generation: Arc<Generation>,
        trim_through: u64,
        swapper: Swapper<Generation>,
    ) -> Installed {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Install {
                generation,
                trim_through,
                swapper,
                reply,
            })
            .await
            .map_err(|_| "the ingest task has stopped".to_string())?;
        answer
            .await
            .map_err(|_| "the ingest task has stopped".to_string())?
    }
}

/// Opens the journal in `dir` with the process id of every record in it:
/// those the overlay checkpoint covers from the checkpoint, the rest from
/// the segments after it (a July day's journal is gigabytes; reading it
/// whole took seconds of every restart). Without a checkpoint whose ids
/// can be trusted, or when the journal ends before what it covers, every
/// segment is read. Returns the checkpoint's ids (sorted) and the others.
fn open_journal(dir: &Path) -> anyhow::Result<(Journal, Scan, Vec<u128>, HashSet<u128>)> {
    let known = match checkpoint::read_ids(dir) {
        Ok(known) => known,
        Err(reason) => {
            eprintln!("shikaku: journal: the overlay checkpoint's process ids were not used ({reason}); every segment is read");
            None
        }
    };
    let (through, mut known) = known.unwrap_or_default();
    let mut seen = HashSet::new();
    let (journal, scan) = Journal::open_after(dir, 0, through, |record: &Record<'_>| {
        if record.lsn > through {
            seen.insert(record.id_hash);
        }
        Ok(())
    })?;
    if through > 0 && journal.next_lsn() <= through {
        eprintln!("shikaku: journal: it ends before the LSN {through} the overlay checkpoint covers; every segment is read for its process ids");
        (known, seen) = (Vec::new(), HashSet::new());
        crate::updates::journal::read_after(dir, 0, |record| {
            seen.insert(record.id_hash);
            Ok(())
        })?;
    }
    Ok((journal, scan, known, seen))
}

struct UpdateWriter {
    journal: Journal,
    dir: PathBuf,
    /// Every process id in the journal, and each sender's last `seq`.
    accepted: JournalState,
    live: SlotReader<Generation>,
    stats: Arc<IngestStats>,
    checkpoints: Checkpoints,
}

impl UpdateWriter {
    fn run(mut self, mut receiver: mpsc::Receiver<Command>) {
        while let Some(command) = receiver.blocking_recv() {
            let mut group = Vec::new();
            let mut records = 0;
            let mut deferred = None;
            let mut next = Some(command);
            while let Some(command) = next.take() {
                match command {
                    Command::Apply { lines, reply } => {
                        records += lines.len();
                        group.push((lines, reply));
                    }
                    install => {
                        deferred = Some(install);
                        break;
                    }
                }
                if records < MAX_GROUP_RECORDS {
                    next = receiver.try_recv().ok();
                }
            }
            if !group.is_empty() {
                self.apply_group(group);
            }
            if let Some(Command::Install {
                generation,
                trim_through,
                swapper,
                reply,
            }) = deferred
            {
                let _ = reply.send(self.install(generation, trim_through, &swapper));
            }
        }
    }

    fn apply_group(&mut self, group: Vec<(Vec<Line>, oneshot::Sender<Vec<LineResult>>)>) {
        let live = self.live.current();
        let mut results: Vec<Vec<LineResult>> = Vec::with_capacity(group.len());
        let mut overlay = live.as_ref().map(|g| Overlay::clone(&g.overlay.load()));
        let mut pending = Pending::default();
        for (lines, _) in &group {
            let mut batch = Vec::with_capacity(lines.len());
            for line in lines {
                let parsed = line.parse();
                let outcome = match (&live, overlay.as_mut()) {
                    (Some(generation), Some(overlay)) => self.accept(
                        line.raw.as_deref().unwrap_or_default(),
                        &parsed,
                        generation,
                        overlay,
                        &mut pending,
                    ),
                    _ => LineOutcome::Error {
                        code: "no_snapshot",
                        message: "no snapshot is loaded yet; send the message again once one is"
                            .into(),
                    },
                };
                batch.push(LineResult {
                    number: line.number,
                    process_id: match parsed {
                        Ok(message) => Some(message.process_id),
                        Err(refused) => refused.process_id,
                    },
                    outcome,
                });
            }
            results.push(batch);
        }
        if self.journal.pending_records() > 0 {
            let started = Instant::now();
            match self.journal.commit() {
                Ok(()) => {
                    let micros = started.elapsed().as_micros() as u64;
                    self.stats.fsync_micros.fetch_add(micros, Ordering::Relaxed);
                    self.stats.groups.fetch_add(1, Ordering::Relaxed);
                    self.accepted.commit(pending);
                    if let (Some(generation), Some(overlay)) = (&live, overlay) {
                        generation.overlay.store(Arc::new(overlay));
                        self.checkpoints.poll(generation, &self.accepted);
                    }
                }
                Err(error) => self.journal_failed(&error, &mut results),
            }
            self.stats
                .next_lsn
                .store(self.journal.next_lsn(), Ordering::Relaxed);
        }
        for ((_, reply), batch) in group.into_iter().zip(results) {
            for result in &batch {
                let counter = match result.outcome {
                    LineOutcome::Applied { .. } => &self.stats.applied,
                    LineOutcome::Duplicate => &self.stats.duplicates,
                    LineOutcome::Error { .. } => &self.stats.refused,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            let _ = reply.send(batch);
        }
    }

    /// After a failed write nothing of the group is acknowledged, and the
    /// journal takes no more writes until the server is restarted (the
    /// state of the file after a failed fsync is unknown).
    fn journal_failed(&mut self, error: &anyhow::Error, results: &mut [Vec<LineResult>]) {
        let reason = format!("{error:#}");
        eprintln!("shikaku: journal: {reason}; updates are refused until restart");
        self.stats.failed.store(true, Ordering::Relaxed);
        if let Ok(mut notes) = self.stats.notes.lock() {
            notes.failure = Some(reason.clone());
        }
        for result in results.iter_mut().flatten() {
            if matches!(result.outcome, LineOutcome::Applied { .. }) {
                result.outcome = journal_unavailable(&reason);
            }
        }
    }

    /// Checks one line against everything accepted so far
    /// ([`JournalState::judge`]) and, if it is accepted, appends it to the
    /// journal and applies it to `overlay`.
    fn accept(
        &mut self,
        raw: &[u8],
        parsed: &Result<Message, BadMessage>,
        generation: &Generation,
        overlay: &mut Overlay,
        pending: &mut Pending,
    ) -> LineOutcome {
        if self.stats.failed.load(Ordering::Relaxed) {
            let failure = self.stats.notes.lock().ok().and_then(|n| n.failure.clone());
            return journal_unavailable(failure.as_deref().unwrap_or("write failed"));
        }
        let message = match parsed {
            Ok(message) => message,
            Err(refused) => {
                return LineOutcome::Error {
                    code: "bad_message",
                    message: refused.message.clone(),
                }
            }
        };
        let view = View::new(&generation.snapshot, overlay);
        match self.accepted.judge(pending, message, view) {
            Decision::Accept => {}
            Decision::Duplicate => return LineOutcome::Duplicate,
            Decision::Refuse { code, message } => return LineOutcome::Error { code, message },
        }
        let lsn = self
            .journal
            .append(process_id_hash(&message.process_id), raw);
        overlay.apply(lsn, &message.change, &generation.snapshot);
        pending.accepted(message);
        LineOutcome::Applied { lsn }
    }

    /// Rebuilds the overlay of `generation` from the journal records it
    /// does not contain, and makes it live.
    fn install(
        &mut self,
        generation: Arc<Generation>,
        trim_through: u64,
        swapper: &Swapper<Generation>,
    ) -> Installed {
        let started = Instant::now();
        let folded = generation.folded_through();
        if self.journal.next_lsn() <= folded {
            self.journal
                .skip_to(folded + 1)
                .map_err(|e| format!("journal: {e:#}"))?;
        }
        let mut warnings = Vec::new();
        let (replayed, kept) = self.replay_for(&generation, &mut warnings)?;
        for warning in &warnings {
            eprintln!("shikaku: updates: {warning}");
        }
        let (resumed_from_checkpoint, resumed_from_kept_overlay) = match kept {
            true => (None, replayed.resumed_after),
            false => (replayed.resumed_after, None),
        };
        for (sender, seq) in replayed.senders {
            self.accepted.applied_through(sender, seq);
        }
        let (overlay, replayed) = (replayed.overlay, replayed.records);
        generation.overlay.store(Arc::new(overlay));
        // The generation swapped out keeps its overlay (compact: under 1 GB
        // at the end of a national peak day), so that a rollback to it
        // replays only the records that came after.
        let replaced = swapper.swap(generation.clone());
        let segments_trimmed = match self.journal.trim(trim_through) {
            Ok(removed) => removed,
            Err(error) => {
                warnings.push(format!("journal trim: {error:#}"));
                0
            }
        };
        self.checkpoints.poll(&generation, &self.accepted);
        let report = InstallReport {
            folded_through: folded,
            resumed_from_checkpoint,
            resumed_from_kept_overlay,
            replayed,
            replay_seconds: started.elapsed().as_secs_f64(),
            segments_trimmed,
            warnings,
        };
        if let Ok(mut notes) = self.stats.notes.lock() {
            notes.last_install = Some(report.clone());
        }
        Ok((report, replaced))
    }
}

impl UpdateWriter {
    /// The overlay of `generation` brought up to the journal's end: from
    /// the overlay it kept from when it was last live (a rollback), else
    /// from the overlay checkpoint when there is one of this snapshot that
    /// can be trusted, else from every record after the snapshot's mark.
    /// `true` with it when it started from the kept overlay.
    fn replay_for(
        &mut self,
        generation: &Generation,
        warnings: &mut Vec<String>,
    ) -> Result<(Replayed, bool), String> {
        if let Some(kept) = self.kept_overlay(generation) {
            match replay_over(&self.dir, &generation.snapshot, Some(kept))
                .map_err(|e| format!("{e:#}"))
                .and_then(|replayed| replayed.continuity().map(|warning| (replayed, warning)))
            {
                Ok((replayed, warning)) => {
                    warnings.extend(warning);
                    return Ok((replayed, true));
                }
                Err(reason) => warnings.push(format!(
                    "the overlay kept by the generation was not used ({reason}); it is rebuilt"
                )),
            }
        }
        self.rebuilt_for(generation, warnings)
            .map(|replayed| (replayed, false))
    }

    /// The overlay `generation` kept from when it was last live, as a
    /// starting point for the replay, if it holds any record the journal
    /// still has after it.
    fn kept_overlay(&self, generation: &Generation) -> Option<Restored> {
        let kept = generation.overlay.load_full();
        let through = kept.through_lsn();
        if through == 0 || through >= self.journal.next_lsn() {
            return None;
        }
        Some(Restored {
            mark: generation.checkpoint_mark(through),
            overlay: Overlay::clone(&kept),
            senders: Default::default(),
        })
    }

    /// The overlay of `generation` rebuilt: from the overlay checkpoint
    /// when there is one of this snapshot that can be trusted, else from
    /// every record after the snapshot's mark.
    fn rebuilt_for(
        &mut self,
        generation: &Generation,
        warnings: &mut Vec<String>,
    ) -> Result<Replayed, String> {
        if let Some(checkpoint) = self.usable_checkpoint(generation, warnings) {
            let mark = checkpoint.mark.clone();
            let resumed = replay_over(&self.dir, &generation.snapshot, Some(checkpoint))
                .map_err(|e| format!("{e:#}"))
                .and_then(|replayed| replayed.continuity().map(|warning| (replayed, warning)));
            match resumed {
                Ok((replayed, warning)) => {
                    warnings.extend(warning);
                    self.checkpoints.covered(&mark);
                    return Ok(replayed);
                }
                Err(reason) => warnings.push(format!(
                    "the overlay checkpoint was not used ({reason}); the whole journal is replayed"
                )),
            }
        }
        let replayed = replay(&self.dir, &generation.snapshot).map_err(|e| format!("{e:#}"))?;
        warnings.extend(replayed.continuity()?);
        Ok(replayed)
    }

    /// The checkpoint on disk if it is of `generation`'s snapshot, whole,
    /// and within the journal; a damaged one is reported in `warnings`.
    fn usable_checkpoint(
        &self,
        generation: &Generation,
        warnings: &mut Vec<String>,
    ) -> Option<Restored> {
        let of_this_snapshot =
            |mark: &CheckpointMark| *mark == generation.checkpoint_mark(mark.through_lsn);
        // The header alone first: after an activation the checkpoint on
        // disk is of the snapshot before, and reading it whole would be
        // wasted.
        match checkpoint::read_mark(&self.dir) {
            Ok(Some(mark)) if of_this_snapshot(&mark) => {}
            Ok(_) => return None,
            Err(reason) => {
                warnings.push(ignored(&reason));
                return None;
            }
        }
        match checkpoint::read(&self.dir, &generation.snapshot) {
            Ok(None) => None,
            Err(reason) => {
                warnings.push(ignored(&reason));
                None
            }
            Ok(Some(restored)) if restored.mark.through_lsn >= self.journal.next_lsn() => {
                warnings.push(ignored(&format!(
                    "it covers journal records up to {}, beyond the journal's last ({})",
                    restored.mark.through_lsn,
                    self.journal.next_lsn().saturating_sub(1)
                )));
                None
            }
            Ok(Some(restored)) => Some(restored),
        }
    }
}

fn ignored(reason: &str) -> String {
    format!("the overlay checkpoint was ignored ({reason}); the whole journal is replayed")
}

/// Lowers the calling thread's scheduling priority (nice 10), so that a
/// burst of updates takes the CPU the checks leave, not the other way
/// round. Best effort: where the call is refused the thread keeps the
/// default priority.
fn yield_to_checks() {
    if !set_thread_niceness(INGEST_NICE) {
        eprintln!("shikaku: ingest: could not lower the writer's priority; it competes with checks as an equal");
    }
}

/// Sets the calling thread's niceness; false when the kernel refused.
pub(crate) fn set_thread_niceness(nice: libc::c_int) -> bool {
    // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes only the
    // calling thread on Linux (threads are scheduled as processes); it
    // takes no pointers.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) == 0 }
}

fn journal_unavailable(reason: &str) -> LineOutcome {
    LineOutcome::Error {
        code: "journal_unavailable",
        message: format!(
            "the journal cannot be written ({reason}); nothing was applied: send the message again after the operator has restarted the server"
        ),
    }
}

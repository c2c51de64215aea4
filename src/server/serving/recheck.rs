//! Reading a live snapshot's checksums again after a restart that trusted
//! its earlier verification (see `activation::prepare_trusted`).
//!
//! It runs on a thread of its own at a low priority while the snapshot
//! serves, opening the directory a second time (the page cache is shared,
//! so this costs reading, not memory). A mismatch raises the alarm in
//! status and the log, and the next state written no longer trusts the
//! snapshot, so the next restart verifies it in full. The live generation
//! is only referred to weakly: a snapshot swapped out meanwhile is not kept
//! mapped for the recheck's sake.

use super::generation::Generation;
use super::ingest::set_thread_niceness;
use crate::snapshot::verify::verify_checksums;
use crate::snapshot::Verification;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Whether a live snapshot's checksums have been read since it was opened.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Recheck {
    /// Verified in full before it went live.
    Verified,
    /// Opened on the strength of an earlier verification (a restart); the
    /// checksums are being read again.
    Running,
    /// Read again in the background after a restart; all matched.
    Passed { seconds: f64 },
    /// Read again after a restart; this did not match.
    Failed(String),
}

impl Recheck {
    /// For status.
    pub(crate) fn describe(&self) -> String {
        match self {
            Recheck::Verified => "verified in full before it went live".into(),
            Recheck::Running => "trusted from its verification before the restart; its checksums are being read again in the background".into(),
            Recheck::Passed { seconds } => format!("trusted at the restart, then verified in full in the background ({seconds:.1} s)"),
            Recheck::Failed(problem) => format!("FAILED its verification in the background after the restart: {problem}"),
        }
    }
}

/// Scheduling niceness of the recheck (checks and updates first).
const RECHECK_NICE: libc::c_int = 15;

/// Starts reading `generation`'s checksums again in the background;
/// `failed` is called after a mismatch has been recorded (to write the
/// serving state again, which then no longer trusts the snapshot).
pub(crate) fn start(generation: &Arc<Generation>, failed: impl FnOnce() + Send + 'static) {
    let weak = Arc::downgrade(generation);
    let dir = generation.snapshot.dir().to_path_buf();
    let id = generation.snapshot.id().to_string();
    let expected = generation.verified.manifest_digest.clone();
    let spawned = std::thread::Builder::new()
        .name("shikaku-recheck".into())
        .spawn(move || {
            let _ = set_thread_niceness(RECHECK_NICE);
            let started = Instant::now();
            let outcome = match verify_checksums(&dir, Verification::Checksums) {
                Ok((_, report)) if report.manifest_digest == expected => Recheck::Passed {
                    seconds: started.elapsed().as_secs_f64(),
                },
                Ok((_, report)) => Recheck::Failed(format!(
                    "its manifest changed while it served (xxh3 {}, verified as {expected})",
                    report.manifest_digest
                )),
                Err(error) => Recheck::Failed(format!("{}: {error}", dir.display())),
            };
            match &outcome {
                Recheck::Failed(problem) => eprintln!(
                    "shikaku: ALARM: the live snapshot {id} failed its verification after the restart ({problem}): activate a verified snapshot"
                ),
                _ => println!(
                    "shikaku: snapshot {id} verified in full in the background ({:.1} s)",
                    started.elapsed().as_secs_f64()
                ),
            }
            let mismatch = matches!(outcome, Recheck::Failed(_));
            record(&weak, outcome);
            if mismatch {
                failed();
            }
        });
    if let Err(error) = spawned {
        record(
            &Arc::downgrade(generation),
            Recheck::Failed(format!("cannot start the verification thread: {error}")),
        );
    }
}

fn record(generation: &Weak<Generation>, outcome: Recheck) {
    if let Some(generation) = generation.upgrade() {
        *generation.recheck.lock().unwrap_or_else(|e| e.into_inner()) = outcome;
    }
}

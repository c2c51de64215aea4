//! The live snapshot: a [`Slot`] of [`Generation`]s, activated through the
//! gates of [`crate::server::serving::activation`] and, with a journal, installed by the
//! update writer so that no update is applied between the overlay's replay
//! and the swap. A request loads one generation and answers entirely from
//! it, so no answer mixes two snapshots.

use super::generation::Generation;
use crate::crl::trust::Trust;
use crate::model::clock::SharedClock;
use crate::server::serving::activation::{
    prepare, prepare_trusted, warm_beside, ActivationPolicy, ActivationReport,
};
use crate::server::serving::ingest::Ingest;
use crate::server::serving::recheck::Recheck;
use crate::server::serving::slot::{ActivationError, Slot};
use crate::snapshot::verify::VerifyReport;
use crate::snapshot::Snapshot;
use crate::updates::overlay::Overlay;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::Arc;

/// The live snapshot generation and the ones kept for rollback.
pub(crate) type Live = Slot<Generation>;

/// How a snapshot goes live.
pub(crate) enum LiveTarget {
    /// Verified and gated (an activation, a first start).
    Activate { path: PathBuf, force: bool },
    /// Trusted from its verification before a restart.
    Resume {
        path: PathBuf,
        verified_manifest: String,
    },
}

/// A snapshot opened and gated, ready to go live.
type Prepared = (Snapshot, VerifyReport, ActivationReport);

impl Slot<Generation> {
    /// Makes `target` live: verified and gated, or reopened on the strength
    /// of its verification before a restart (see [`prepare_trusted`]; its
    /// checksums are then to be read again, [`Recheck::Running`]). On any
    /// refusal the live generation is untouched and the error says why.
    pub(crate) async fn make_live(
        &self,
        target: LiveTarget,
        policy: &ActivationPolicy,
        trust: &Arc<Trust>,
        clock: &SharedClock,
        ingest: Option<&Ingest>,
    ) -> Result<ActivationReport, ActivationError> {
        let (policy, trust, today) = (policy.clone(), trust.clone(), clock.today());
        match target {
            LiveTarget::Activate { path, force } => {
                let prepare = move |live: Option<&Generation>| {
                    prepare(&path, live, force, &policy, &trust, today)
                };
                self.go_live(prepare, Recheck::Verified, clock, ingest)
                    .await
            }
            LiveTarget::Resume {
                path,
                verified_manifest,
            } => {
                let prepare = move |_: Option<&Generation>| {
                    prepare_trusted(&path, &verified_manifest, &policy, &trust, today)
                };
                self.go_live(prepare, Recheck::Running, clock, ingest).await
            }
        }
    }

    /// Prepares a generation with `prepare` (off the runtime's workers,
    /// given the live one) and makes it live.
    async fn go_live<P>(
        &self,
        prepare: P,
        recheck: Recheck,
        clock: &SharedClock,
        ingest: Option<&Ingest>,
    ) -> Result<ActivationReport, ActivationError>
    where
        P: FnOnce(Option<&Generation>) -> Result<Prepared, ActivationError> + Send + 'static,
    {
        let mut change = self.change().await;
        let live = change.live();
        let compared = live.clone();
        let prepared = tokio::task::spawn_blocking(move || prepare(compared.as_deref()))
            .await
            .map_err(|e| ActivationError::Failed(format!("activation task failed: {e}")));
        let (snapshot, verified, mut report) = match prepared.and_then(|r| r) {
            Ok(prepared) => prepared,
            Err(refusal) => return Err(change.refuse(refusal)),
        };
        let number = change.next_number();
        let generation = Arc::new(Generation {
            snapshot,
            number,
            activated_at: clock.system_time(),
            verified,
            recheck: std::sync::Mutex::new(recheck),
            overlay: ArcSwap::from_pointee(Overlay::default()),
        });
        report.generation = number;
        let generation_live = generation.clone();
        let replaced = match ingest {
            Some(ingest) => {
                // Keep the journal records every generation kept for rollback still needs.
                let trim_through = change
                    .kept()
                    .iter()
                    .chain(live.as_ref())
                    .chain(Some(&generation))
                    .map(|g| g.folded_through())
                    .min()
                    .unwrap_or(0);
                let installed = ingest
                    .install(generation, trim_through, change.swapper())
                    .await;
                let (updates, replaced) = installed.map_err(|reason| {
                    change.refuse(ActivationError::Refused(format!("updates: {reason}")))
                })?;
                report.updates = Some(updates);
                replaced
            }
            None => change.swap(generation),
        };
        if let Some(swapped_out) = &replaced {
            settle_in_background(swapped_out.clone(), generation_live, self);
        }
        change.installed(replaced);
        Ok(report)
    }

    /// Makes the previous generation live again, after reading its indexes
    /// back into memory (a second or a few at national size); the one left
    /// is unloaded.
    /// With a journal, the overlay is rebuilt: changes since it was live
    /// apply to it too. Returns (now live, left).
    pub(crate) async fn rollback(
        &self,
        ingest: Option<&Ingest>,
    ) -> Result<(Arc<Generation>, Arc<Generation>), ActivationError> {
        let mut change = self.change().await;
        if let (Some(live), Some(previous)) = (change.live(), change.kept().last().cloned()) {
            // Its pages were given back when it was swapped out: its
            // indexes first, so that checks after the swap do not each
            // wait on three or four pages from disk.
            let _ =
                tokio::task::spawn_blocking(move || warm_beside(&previous.snapshot, &live)).await;
        }
        let swapper = change.swapper();
        let (live, left) = change
            .roll_back("snapshot", |previous| async move {
                match ingest {
                    Some(ingest) => ingest
                        .install(previous, 0, swapper)
                        .await
                        .map(|(_, replaced)| replaced)
                        .map_err(|reason| format!("updates: {reason}")),
                    None => Ok(swapper.swap(previous)),
                }
            })
            .await?;
        settle_in_background(left.clone(), live.clone(), self);
        Ok((live, left))
    }
}

/// After a swap, on a thread of its own: gives the pages of the generation
/// swapped out back to the kernel (tens of thousands of system calls at
/// national size; requests still answering from it fault in what they
/// read), then reads the one now live into memory ([`Snapshot::warm`]),
/// so that the checks' page faults end within seconds instead of trickling
/// on for minutes, one 2 MiB page each. The warm-up stops if `live` is
/// swapped out meanwhile.
fn settle_in_background(swapped_out: Arc<Generation>, live: Arc<Generation>, slot: &Live) {
    let reader = slot.reader();
    let _ = std::thread::Builder::new()
        .name("shikaku-settle".into())
        .spawn(move || {
            let started = std::time::Instant::now();
            swapped_out.snapshot.release_pages();
            let released = started.elapsed().as_secs_f64();
            let (old, new) = (swapped_out.number, live.number);
            drop(swapped_out);
            let still_live = || {
                let current = reader.current();
                current.is_some_and(|current| Arc::ptr_eq(&current, &live))
            };
            let bytes = live.snapshot.warm(still_live);
            println!(
                "shikaku: generation {old}'s pages given back in {released:.1} s; generation {new} read into memory ({bytes} bytes) in {:.1} s",
                started.elapsed().as_secs_f64() - released
            );
        });
}

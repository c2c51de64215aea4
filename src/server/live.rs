//! The live snapshot: a [`Slot`] of [`Generation`]s, activated through the
//! gates of [`super::activation`] and, with a journal, installed by the
//! update writer so that no update is applied between the overlay's replay
//! and the swap. A request loads one generation and answers entirely from
//! it, so no answer mixes two snapshots.

use super::activation::{prepare, ActivationPolicy, ActivationReport};
use super::ingest::{folded_through, Ingest};
use super::slot::{ActivationError, Slot};
use crate::crl::trust::Trust;
use crate::snapshot::verify::VerifyReport;
use crate::snapshot::Snapshot;
use crate::updates::overlay::Overlay;
use arc_swap::ArcSwap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

/// One loaded, verified snapshot as served.
pub struct Generation {
    pub snapshot: Snapshot,
    /// Counts activations in this process (1 = the first snapshot served).
    pub number: u64,
    pub activated_at: SystemTime,
    pub verified: VerifyReport,
    /// The changes applied over the snapshot; replaced by the ingest task
    /// after every committed group (a request loads it once).
    pub overlay: ArcSwap<Overlay>,
}

impl Generation {
    /// Seconds since the snapshot was built (from its manifest), if known.
    pub fn age_seconds(&self) -> Option<f64> {
        let built =
            chrono::DateTime::parse_from_rfc3339(&self.snapshot.manifest().created_at).ok()?;
        let age = chrono::Utc::now().signed_duration_since(built);
        Some(age.num_milliseconds() as f64 / 1000.0)
    }
}

/// The live snapshot generation and the ones kept for rollback.
pub type Live = Slot<Generation>;

impl Slot<Generation> {
    /// Verifies, gates and activates the snapshot at `path`; on any refusal
    /// the live generation is untouched and the error says why.
    pub async fn activate(
        &self,
        path: PathBuf,
        force: bool,
        policy: &ActivationPolicy,
        trust: &Arc<Trust>,
        ingest: Option<&Ingest>,
    ) -> Result<ActivationReport, ActivationError> {
        let mut change = self.change().await;
        let live = change.live();
        let (policy, trust) = (policy.clone(), trust.clone());
        let compared = live.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            prepare(&path, compared.as_deref(), force, &policy, &trust)
        })
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
            activated_at: SystemTime::now(),
            verified,
            overlay: ArcSwap::from_pointee(Overlay::default()),
        });
        report.generation = number;
        let replaced = match ingest {
            Some(ingest) => {
                // Keep the journal records every generation kept for rollback still needs.
                let trim_through = change
                    .kept()
                    .iter()
                    .chain(live.as_ref())
                    .chain(Some(&generation))
                    .map(|g| folded_through(g))
                    .min()
                    .unwrap_or(0);
                let installed = ingest.install(generation, trim_through).await;
                let (updates, replaced) = installed.map_err(|reason| {
                    change.refuse(ActivationError::Refused(format!("updates: {reason}")))
                })?;
                report.updates = Some(updates);
                replaced
            }
            None => change.swap(generation),
        };
        change.installed(replaced);
        Ok(report)
    }

    /// Makes the previous generation live again; the one left is unloaded.
    /// With a journal, the overlay is rebuilt: changes since it was live
    /// apply to it too. Returns (now live, left).
    pub async fn rollback(
        &self,
        ingest: Option<&Ingest>,
    ) -> Result<(Arc<Generation>, Arc<Generation>), ActivationError> {
        let pointer = self.pointer();
        let mut change = self.change().await;
        change
            .roll_back("snapshot", |previous| async move {
                match ingest {
                    Some(ingest) => ingest
                        .install(previous, 0)
                        .await
                        .map(|(_, replaced)| replaced)
                        .map_err(|reason| format!("updates: {reason}")),
                    None => Ok(pointer.swap(Some(previous))),
                }
            })
            .await
    }
}

//! The live generation and its swaps.
//!
//! Requests load the current [`Generation`] once (one atomic load, no lock)
//! and answer entirely from it, so no answer mixes two snapshots; a swap
//! replaces the pointer and the old generation stays mapped until its last
//! reader drops it. Activations and rollbacks are serialised by an admin
//! lock that requests never touch.

use super::activation::{prepare, ActivationPolicy, ActivationReport};
use super::ingest::{folded_through, Ingest};
use super::response::ApiError;
use crate::crl::trust::Trust;
use crate::model::ErrorCode;
use crate::snapshot::verify::VerifyReport;
use crate::snapshot::Snapshot;
use crate::updates::overlay::Overlay;
use arc_swap::{ArcSwap, ArcSwapOption};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Generations kept for rollback besides the live one.
const KEPT_FOR_ROLLBACK: usize = 2;

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

/// What the admin lock guards.
#[derive(Default)]
struct History {
    /// Earlier generations, newest last.
    previous: Vec<Arc<Generation>>,
    last_refusal: Option<String>,
}

/// The generation requests are answered from, and the ones kept for rollback.
#[derive(Default)]
pub struct Live {
    current: Arc<ArcSwapOption<Generation>>,
    history: tokio::sync::Mutex<History>,
    activations: AtomicU64,
}

/// A summary of the admin-side state, for `/admin/status`.
pub struct HistoryView {
    pub previous: Vec<Arc<Generation>>,
    pub last_refusal: Option<String>,
}

impl Live {
    /// The generation to answer one request from (`None` before the first load).
    pub fn current(&self) -> Option<Arc<Generation>> {
        self.current.load_full()
    }

    /// The slot the ingest task swaps generations into.
    pub fn slot(&self) -> Arc<ArcSwapOption<Generation>> {
        self.current.clone()
    }

    /// The live generation for synchronous use: cheaper than [`Live::current`]
    /// (no shared reference count is touched), but not to be held across an
    /// `.await`.
    pub fn borrow(&self) -> arc_swap::Guard<Option<Arc<Generation>>> {
        self.current.load()
    }

    /// Verifies, gates and activates the snapshot at `path`; on any refusal
    /// the live generation is untouched and the error says why.
    pub async fn activate(
        &self,
        path: PathBuf,
        force: bool,
        policy: &ActivationPolicy,
        trust: &Arc<Trust>,
        ingest: Option<&Ingest>,
    ) -> Result<ActivationReport, ApiError> {
        let mut history = self.history.lock().await;
        let live = self.current();
        let (policy, trust) = (policy.clone(), trust.clone());
        let compared = live.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            prepare(&path, compared.as_deref(), force, &policy, &trust)
        })
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("activation task failed: {e}")));
        let (snapshot, verified, mut report) = match prepared.and_then(|r| r) {
            Ok(prepared) => prepared,
            Err(refusal) => {
                history.last_refusal = Some(refusal.message.clone());
                return Err(refusal);
            }
        };
        let number = self.activations.fetch_add(1, Ordering::Relaxed) + 1;
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
                let trim_through = history
                    .previous
                    .iter()
                    .chain(live.as_ref())
                    .chain(Some(&generation))
                    .map(|g| folded_through(g))
                    .min()
                    .unwrap_or(0);
                let installed = ingest.install(generation, trim_through).await;
                let (updates, replaced) = installed.map_err(|reason| {
                    let error = ApiError::new(ErrorCode::Refused, format!("updates: {reason}"));
                    history.last_refusal = Some(error.message.clone());
                    error
                })?;
                report.updates = Some(updates);
                replaced
            }
            None => self.current.swap(Some(generation)),
        };
        if let Some(old) = replaced {
            history.previous.push(old);
            let excess = history.previous.len().saturating_sub(KEPT_FOR_ROLLBACK);
            history.previous.drain(..excess);
        }
        history.last_refusal = None;
        Ok(report)
    }

    /// Makes the previous generation live again; the one left is unloaded.
    /// Returns (now live, left).
    pub async fn rollback(
        &self,
        ingest: Option<&Ingest>,
    ) -> Result<(Arc<Generation>, Arc<Generation>), ApiError> {
        let mut history = self.history.lock().await;
        let Some(previous) = history.previous.pop() else {
            return Err(ApiError::new(
                ErrorCode::Refused,
                "no previous snapshot to roll back to (only the live one is loaded)",
            ));
        };
        let replaced = match ingest {
            // The overlay is rebuilt: changes since it was live apply to it too.
            Some(ingest) => match ingest.install(previous.clone(), 0).await {
                Ok((_, replaced)) => replaced,
                Err(reason) => {
                    history.previous.push(previous);
                    return Err(ApiError::new(
                        ErrorCode::Refused,
                        format!("updates: {reason}"),
                    ));
                }
            },
            None => self.current.swap(Some(previous.clone())),
        };
        match replaced {
            Some(left) => Ok((previous, left)),
            None => Err(ApiError::new(ErrorCode::Internal, "no live snapshot")),
        }
    }

    pub async fn history(&self) -> HistoryView {
        let history = self.history.lock().await;
        HistoryView {
            previous: history.previous.clone(),
            last_refusal: history.last_refusal.clone(),
        }
    }
}

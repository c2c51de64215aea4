//! A live-generation slot: the one generation requests are answered from,
//! the ones kept for rollback, and the last refusal, for anything that is
//! swapped whole while serving (the snapshot, the CRL).
//!
//! Requests load the current generation with one atomic load (no lock) and
//! answer entirely from it; a swap replaces the pointer and the old
//! generation stays alive until its last reader drops it. Activations and
//! rollbacks take the admin lock ([`Slot::change`]), which requests never
//! touch, so they are serialised among themselves only.

use arc_swap::ArcSwapOption;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Generations kept for rollback besides the live one.
const KEPT_FOR_ROLLBACK: usize = 2;

/// Why an activation or a rollback did not happen; the live generation is
/// unchanged either way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ActivationError {
    /// Refused by a gate, or nothing to roll back to (the message says why
    /// and what keeps serving).
    Refused(String),
    /// The server failed while trying (a task died).
    Failed(String),
}

impl ActivationError {
    /// The message, whatever the kind.
    pub(crate) fn message(&self) -> &str {
        match self {
            ActivationError::Refused(message) | ActivationError::Failed(message) => message,
        }
    }
}

/// What the admin lock guards.
struct Kept<G> {
    /// Earlier generations, oldest first.
    previous: Vec<Arc<G>>,
    last_refusal: Option<String>,
}

/// The live generation of one kind, and the ones kept for rollback.
pub(crate) struct Slot<G> {
    current: Arc<ArcSwapOption<G>>,
    kept: tokio::sync::Mutex<Kept<G>>,
    activations: AtomicU64,
}

impl<G> Default for Slot<G> {
    fn default() -> Slot<G> {
        Slot {
            current: Arc::new(ArcSwapOption::empty()),
            kept: tokio::sync::Mutex::new(Kept {
                previous: Vec::new(),
                last_refusal: None,
            }),
            activations: AtomicU64::new(0),
        }
    }
}

/// The generations kept for rollback and the last refusal, for status.
pub(crate) struct SlotHistory<G> {
    /// Newest first.
    pub previous: Vec<Arc<G>>,
    pub last_refusal: Option<String>,
}

impl<G> Slot<G> {
    /// The generation to answer one request from (`None` before the first).
    pub(crate) fn current(&self) -> Option<Arc<G>> {
        self.current.load_full()
    }

    /// The live generation for synchronous use: cheaper than
    /// [`Slot::current`] (no shared reference count is touched), but not to
    /// be held across an `.await`.
    pub(crate) fn borrow(&self) -> arc_swap::Guard<Option<Arc<G>>> {
        self.current.load()
    }

    /// A read-only handle on the live generation, for a thread that must
    /// read it without holding the slot (the update writer).
    pub(crate) fn reader(&self) -> SlotReader<G> {
        SlotReader(self.current.clone())
    }

    /// Takes the admin lock for one activation or rollback.
    pub(crate) async fn change(&self) -> Change<'_, G> {
        Change {
            slot: self,
            kept: self.kept.lock().await,
        }
    }

    /// The generations kept for rollback (newest first) and the last refusal.
    pub(crate) async fn history(&self) -> SlotHistory<G> {
        let kept = self.kept.lock().await;
        SlotHistory {
            previous: kept.previous.iter().rev().cloned().collect(),
            last_refusal: kept.last_refusal.clone(),
        }
    }
}

/// Reads the live generation of a slot (and never writes it).
pub(crate) struct SlotReader<G>(Arc<ArcSwapOption<G>>);

impl<G> SlotReader<G> {
    /// The live generation.
    pub(crate) fn current(&self) -> Option<Arc<G>> {
        self.0.load_full()
    }
}

/// Swaps a slot's live generation on behalf of a [`Change`].
pub(crate) struct Swapper<G>(Arc<ArcSwapOption<G>>);

impl<G> Swapper<G> {
    /// Makes `generation` live; returns the one it replaced.
    pub(crate) fn swap(&self, generation: Arc<G>) -> Option<Arc<G>> {
        self.0.swap(Some(generation))
    }
}

/// One activation or rollback in progress (the admin lock held).
pub(crate) struct Change<'a, G> {
    slot: &'a Slot<G>,
    kept: tokio::sync::MutexGuard<'a, Kept<G>>,
}

impl<G> Change<'_, G> {
    /// The live generation.
    pub(crate) fn live(&self) -> Option<Arc<G>> {
        self.slot.current()
    }

    /// The generations kept for rollback, oldest first.
    pub(crate) fn kept(&self) -> &[Arc<G>] {
        &self.kept.previous
    }

    /// The number of the next generation made live (1 = the first).
    pub(crate) fn next_number(&self) -> u64 {
        self.slot.activations.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Records `error` as the last refusal and returns it.
    pub(crate) fn refuse(&mut self, error: ActivationError) -> ActivationError {
        self.kept.last_refusal = Some(error.message().to_string());
        error
    }

    /// Swaps `generation` in; returns the one it replaced. Follow with
    /// [`Change::installed`].
    pub(crate) fn swap(&self, generation: Arc<G>) -> Option<Arc<G>> {
        self.slot.current.swap(Some(generation))
    }

    /// The right to swap, handed to the one writer that must swap at a
    /// moment of its own choosing (the update writer, between two groups of
    /// updates) while this change is in progress. Only a change makes one.
    pub(crate) fn swapper(&self) -> Swapper<G> {
        Swapper(self.slot.current.clone())
    }

    /// Keeps `replaced` (the generation that was live) for rollback and
    /// clears the last refusal: the activation is done.
    pub(crate) fn installed(&mut self, replaced: Option<Arc<G>>) {
        if let Some(old) = replaced {
            self.kept.previous.push(old);
            let excess = self.kept.previous.len().saturating_sub(KEPT_FOR_ROLLBACK);
            self.kept.previous.drain(..excess);
        }
        self.kept.last_refusal = None;
    }

    /// Makes the newest kept generation live again by `swap` (which returns
    /// the generation it replaced, or why it could not swap); the one left
    /// is dropped. Returns (now live, left). When `swap` fails, the kept
    /// generation is put back and nothing changes.
    pub(crate) async fn roll_back<F>(
        &mut self,
        what: &str,
        swap: impl FnOnce(Arc<G>) -> F,
    ) -> Result<(Arc<G>, Arc<G>), ActivationError>
    where
        F: std::future::Future<Output = Result<Option<Arc<G>>, String>>,
    {
        let Some(previous) = self.kept.previous.pop() else {
            return Err(ActivationError::Refused(format!(
                "no previous {what} to roll back to (only the live one is loaded)"
            )));
        };
        match swap(previous.clone()).await {
            Ok(Some(left)) => Ok((previous, left)),
            Ok(None) => Err(ActivationError::Failed(format!("no live {what}"))),
            Err(reason) => {
                self.kept.previous.push(previous);
                Err(ActivationError::Refused(reason))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swap_in(change: &mut Change<'_, u32>, value: u32) {
        let replaced = change.swap(Arc::new(value));
        change.installed(replaced);
    }

    #[tokio::test]
    async fn keeps_two_for_rollback_newest_first() {
        let slot = Slot::<u32>::default();
        let mut change = slot.change().await;
        for value in 1..=4 {
            swap_in(&mut change, value);
        }
        drop(change);
        assert_eq!(slot.current().as_deref(), Some(&4));
        let history = slot.history().await;
        let previous: Vec<u32> = history.previous.iter().map(|g| **g).collect();
        assert_eq!(previous, [3, 2]);
    }

    #[tokio::test]
    async fn a_failed_rollback_changes_nothing() {
        let slot = Slot::<u32>::default();
        let mut change = slot.change().await;
        swap_in(&mut change, 1);
        swap_in(&mut change, 2);
        let failed = change
            .roll_back("test", |_| async { Err("replay failed".to_string()) })
            .await;
        assert_eq!(
            failed,
            Err(ActivationError::Refused("replay failed".into()))
        );
        assert_eq!(change.kept().len(), 1);
        let swapper = change.swapper();
        let (live, left) = change
            .roll_back("test", |g| async move { Ok(swapper.swap(g)) })
            .await
            .unwrap();
        assert_eq!((*live, *left), (1, 2));
        let empty = change.roll_back("test", |_| async { Ok(None) }).await;
        assert!(
            matches!(empty, Err(ActivationError::Refused(m)) if m.contains("no previous test"))
        );
    }

    #[tokio::test]
    async fn a_refusal_is_remembered_until_the_next_activation() {
        let slot = Slot::<u32>::default();
        let mut change = slot.change().await;
        change.refuse(ActivationError::Refused("gate".into()));
        drop(change);
        assert_eq!(slot.history().await.last_refusal.as_deref(), Some("gate"));
        let mut change = slot.change().await;
        swap_in(&mut change, 1);
        drop(change);
        assert_eq!(slot.history().await.last_refusal, None);
    }
}

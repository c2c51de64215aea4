//! Serving state: what is live and how it changes. A [`slot::Slot`] per
//! kind of generation (the snapshot with its overlay, the CRL), the gates
//! an activation passes, and the single writer of the update journal that
//! installs generations.

pub(super) mod activation;
pub(super) mod checkpoints;
pub(super) mod crl;
pub(super) mod generation;
pub(super) mod ingest;
pub(super) mod live;
pub(super) mod recheck;
pub(super) mod slot;
pub(super) mod state;

//! Serving state: what is live and how it changes. A [`slot::Slot`] per
//! kind of generation (the snapshot with its overlay, the CRL), the gates
//! an activation passes, and the single writer of the update journal that
//! installs generations.

pub mod activation;
pub mod crl;
pub mod generation;
pub mod ingest;
pub mod live;
pub mod slot;

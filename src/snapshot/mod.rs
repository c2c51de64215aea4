//! Snapshots: immutable, checksummed directories of mmap-able rkyv archives
//! holding a day's eligibility, linkage, revocations and insurer master.
//!
//! - [`write`](mod@write) turns the source files (or a base snapshot and a journal) into a snapshot with bounded memory;
//! - [`open`] maps one and checks it against its manifest;
//! - [`lookup`] finds rows, persons and serials by key;
//! - [`verify`] checks everything, for operators and activation.

pub mod codec;
pub mod format;
pub mod lookup;
pub mod manifest;
pub mod open;
pub mod verify;
pub mod view;
pub mod write;

pub use crate::storage::{FileError as SnapshotError, Verification};
pub use manifest::Manifest;
pub use open::Snapshot;
pub use view::{InsurerRef, PersonRef, RowRef};

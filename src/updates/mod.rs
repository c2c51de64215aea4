//! Intraday updates (`SPEC.md` §4, `CONTRACT.md` §4): eligibility, linkage,
//! renewal and insurer-master changes that arrive all day as per-record
//! messages.
//!
//! - [`message`] parses and validates one NDJSON line;
//! - [`journal`] makes an accepted message durable (append + group fsync)
//!   before its result says `ok`, and reads it back after a crash;
//! - [`overlay`] holds the applied changes in memory, consulted over the
//!   live snapshot by every check (`engine::view`);
//! - the server's ingest task ties them together, and the snapshot build
//!   folds a journal into the next snapshot (`snapshot build --base --journal`).

pub mod generate;
pub mod journal;
pub mod message;
pub mod overlay;
pub mod replay;

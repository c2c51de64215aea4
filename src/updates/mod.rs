//! Intraday updates (`SPEC.md` §4, `CONTRACT.md` §4): eligibility, linkage,
//! renewal and insurer-master changes that arrive all day as per-record
//! messages.
//!
//! - [`message`] parses and validates one NDJSON line;
//! - [`journal`] makes an accepted message durable (append + group fsync)
//!   before its result says `ok`, and reads it back after a crash;
//! - [`overlay`] holds the applied changes in memory, and [`view`] merges
//!   them over the live snapshot for every check;
//! - [`replay`] rebuilds an overlay from the journal (restart, activation),
//!   from a [`checkpoint`] of it when there is one;
//! - [`fold`] writes base snapshot + journal as the next snapshot
//!   (`snapshot build --base --journal`);
//! - the server's ingest task ties them together.

pub mod acceptance;
pub mod checkpoint;
pub mod fold;
pub mod generate;
pub mod journal;
pub mod message;
pub mod overlay;
pub mod replay;
#[cfg(test)]
pub(crate) mod testing;
pub mod view;

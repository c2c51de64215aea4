//! shikaku: the engine behind Japan's online health-insurance eligibility
//! check (オンライン資格確認).
//!
//! Layers, from the outside in:
//! - [`source`] reads the operators' CSV files into validated rows;
//! - [`snapshot`] builds immutable, checksummed, mmap-able snapshots from
//!   them and opens them without copying;
//! - [`engine`] applies the answer rules to a loaded snapshot (pure, no I/O);
//! - [`model`] holds the identifiers, dates, rows and verdicts all of them share;
//! - [`gen`] makes realistic synthetic national data for tests and benchmarks;
//! - [`cli`] is the operators' command line.

pub mod audit;
pub mod checklog;
pub mod cli;
pub mod crl;
pub mod engine;
pub mod gen;
pub mod model;
pub mod server;
pub mod snapshot;
pub mod source;
pub mod storage;
pub mod updates;

//! shikaku: the engine behind Japan's online health-insurance eligibility
//! check (オンライン資格確認).
//!
//! Layers, from the bottom up; each module uses only those below it
//! (`docs/architecture.md` draws them):
//! - [`model`] and [`storage`]: the shared vocabulary (identifiers, dates,
//!   Japan time and the [`model::Clock`], rows, verdicts, pinned outcome
//!   codes) and the storage primitives (frames, headed data files, atomic
//!   directory publish);
//! - [`source`] reads the operators' CSV files into validated rows;
//! - [`crl`] reads certificate revocation lists and keeps revocation sets;
//! - [`snapshot`] writes immutable, checksummed, mmap-able snapshots and
//!   opens them without copying;
//! - [`updates`] makes intraday changes durable, applies them over a
//!   snapshot, and folds them into the next one;
//! - [`engine`] decides every answer (certificate, CRL, linkage,
//!   eligibility rules; pure, no I/O);
//! - [`checklog`] and [`audit`] record what was answered and who did what;
//! - [`server`] is the HTTP front end; [`cli`] the operators' command line;
//! - [`gen`] makes realistic synthetic national data for tests and benchmarks.

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

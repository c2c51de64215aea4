//! Readers for the operators' source files (`CONTRACT.md` §1).
//!
//! Each reader streams its file (UTF-8 or Shift_JIS), maps columns by header
//! name, and turns every row into a validated value or a [`BadRow`] naming
//! the file, line and reason, so that the build report can say exactly what
//! to fix.

pub mod csv_input;
pub mod eligibility;
pub mod insurers;
pub mod linkage;
pub mod revocations;

pub use csv_input::{BadRow, CsvSource, Encoding, SourceDigest};

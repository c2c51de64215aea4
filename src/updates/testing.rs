//! Fixtures for the unit tests of the updates modules: a generated
//! snapshot to apply changes over.

use crate::gen::{generate, GenOptions};
use crate::model::Date;
use crate::snapshot::write::{build, BuildOptions};
use crate::snapshot::Snapshot;
use crate::source::csv_input::Compression;
use crate::source::Encoding;

/// A snapshot of `persons` generated persons, and the directory holding it.
pub(crate) fn generated_snapshot(persons: u64, seed: u64) -> (tempfile::TempDir, Snapshot) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (source, out) = (dir.path().join("source"), dir.path().join("snapshot"));
    generate(&GenOptions {
        persons,
        seed,
        out: source.clone(),
        today: Date::parse("2026-11-21").expect("a date"),
        crl_entries: None,
        crl_random_serials: false,
        compression: Compression::None,
        progress: false,
    })
    .expect("generated sources");
    build(&BuildOptions {
        input: source,
        out: out.clone(),
        encoding: Encoding::Utf8,
        skip_bad_rows: false,
        shards: Some(2),
        id: Some("test.1".into()),
        progress: false,
    })
    .expect("a built snapshot");
    let snapshot = Snapshot::open(&out).expect("the snapshot opens");
    (dir, snapshot)
}

//! `manifest.json`: what a snapshot holds and how to check it. Written last
//! by the build, so a directory without a manifest is an unfinished build.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name of the manifest file inside a snapshot directory.
pub const MANIFEST_FILE: &str = "manifest.json";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format_version: u32,
    /// Snapshot id, echoed in every answer.
    pub id: String,
    /// When the build finished (RFC 3339, UTC).
    pub created_at: String,
    pub shard_count: u32,
    /// Encoding the sources were read with.
    pub encoding: String,
    pub sources: Vec<SourceDigest>,
    pub counts: Counts,
    pub files: Vec<crate::storage::FileEntry>,
    /// The X.509 CRL the revocations came from (none for `revoked.csv`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl: Option<crate::crl::CrlMeta>,
    /// Set when intraday updates were folded in (`snapshot build --base
    /// --journal`): the journal records this snapshot already contains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalMark>,
}

/// How far a journal is folded into a snapshot.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct JournalMark {
    /// The last journal record (LSN) contained; later ones are replayed
    /// over the snapshot as an overlay.
    pub through_lsn: u64,
    /// Records folded by the build that wrote this snapshot.
    pub records_folded: u64,
    /// The last `seq` applied per sender, so that sequence checks go on
    /// across the fold.
    pub senders: std::collections::BTreeMap<String, u64>,
}

pub use crate::source::SourceDigest;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub persons: u64,
    pub rows: u64,
    pub online_numbers: u64,
    pub card_faces: u64,
    pub serials: u64,
    pub serials_without_rows: u64,
    pub renewals: u64,
    pub revoked: u64,
    pub suspended: u64,
    pub insurers: u64,
    pub bad_rows_skipped: u64,
}

impl Manifest {
    /// Reads `dir/manifest.json`; the error says what is wrong with it.
    pub fn read(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read ({e}); is this a finished snapshot directory?"))?;
        serde_json::from_str(&text).map_err(|e| format!("not a shikaku manifest ({e})"))
    }

    pub fn file(&self, name: &str) -> Option<&crate::storage::FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Names of the data files of a snapshot with `shards` shards.
pub fn person_file(shard: u32) -> String {
    format!("persons-{shard:04}.rkyv")
}

pub fn keys_file(shard: u32) -> String {
    format!("keys-{shard:04}.rkyv")
}

pub const INSURERS_FILE: &str = "insurers.rkyv";
pub const BUILD_REPORT_FILE: &str = "build-report.json";

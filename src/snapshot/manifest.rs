//! `manifest.json`: what a snapshot holds and how to check it. Written last
//! by the build, so a directory without a manifest is an unfinished build.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name of the manifest file inside a snapshot directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The content of `manifest.json`: the snapshot's id, format, sources, counts
/// and data files with their checksums.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Snapshot format version ([`FORMAT_VERSION`](super::format::FORMAT_VERSION));
    /// another version is refused on open.
    pub format_version: u32,
    /// Snapshot id, echoed in every answer.
    pub id: String,
    /// When the build finished (RFC 3339, UTC).
    pub created_at: String,
    /// Number of person shards, equal to the number of key shards (1–256).
    pub shard_count: u32,
    /// Encoding the sources were read with.
    pub encoding: String,
    /// Each source file read: name, size and xxh3-128 checksum.
    pub sources: Vec<SourceDigest>,
    /// What the snapshot holds (persons, rows, keys, revocations, …).
    pub counts: Counts,
    /// Every data file of the snapshot with its size and checksum.
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

/// How many of each thing a snapshot holds (`counts` in the manifest and the
/// build report).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    /// Distinct persons (linkage numbers) with at least one eligibility row.
    pub persons: u64,
    /// Qualification rows stored.
    pub rows: u64,
    /// Entries in the online-number index: one per row.
    pub online_numbers: u64,
    /// Entries in the card-face index: one per row.
    pub card_faces: u64,
    /// Certificate serials linked to a person, after renewals.
    pub serials: u64,
    /// Linked serials whose linkage number has no eligibility rows (their card
    /// checks answer `not_found`).
    pub serials_without_rows: u64,
    /// Renewals accepted from `renewals.csv` (0 when there is none).
    pub renewals: u64,
    /// Revoked certificate serials.
    pub revoked: u64,
    /// Suspended (certificateHold) certificate serials.
    pub suspended: u64,
    /// Insurers in the insurer master (`insurers.csv`).
    pub insurers: u64,
    /// Source rows skipped as unreadable under `--skip-bad-rows` (0 otherwise).
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

    /// xxh3-128 of the manifest file in `dir`, 32 hex digits: it names
    /// every data file's checksum, so an unchanged digest means a snapshot
    /// verified once is still the one verified (given files never change in
    /// place, see docs/operations.md).
    pub fn digest(dir: &Path) -> Result<String, String> {
        let bytes = std::fs::read(dir.join(MANIFEST_FILE))
            .map_err(|e| format!("{MANIFEST_FILE}: cannot read ({e})"))?;
        Ok(format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&bytes)))
    }

    /// xxh3-128 of the data files' names and checksums: two snapshots with
    /// the same digest hold the same bytes, whatever their ids say.
    pub fn content_digest(&self) -> String {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for file in &self.files {
            for part in [file.name.as_bytes(), b"\0", file.xxh3_128.as_bytes(), b"\n"] {
                hasher.update(part);
            }
        }
        format!("{:032x}", hasher.digest128())
    }

    /// The entry of the data file called `name`, if the snapshot has one.
    pub fn file(&self, name: &str) -> Option<&crate::storage::FileEntry> {
        self.files.iter().find(|f| f.name == name)
    }
}

/// Name of person shard `shard`'s file (`persons-0003.rkyv`).
pub fn person_file(shard: u32) -> String {
    format!("persons-{shard:04}.rkyv")
}

/// Name of key shard `shard`'s file (`keys-0003.rkyv`).
pub fn keys_file(shard: u32) -> String {
    format!("keys-{shard:04}.rkyv")
}

/// Name of the archived insurer master.
pub const INSURERS_FILE: &str = "insurers.rkyv";

/// Name of the text dictionary file.
pub const DICTIONARY_FILE: &str = "dictionary.rkyv";
/// Name of the build report written beside the manifest.
pub const BUILD_REPORT_FILE: &str = "build-report.json";

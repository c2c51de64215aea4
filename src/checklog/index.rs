//! The history index: for each segment, which batches hold the checks of
//! an institution for a key.
//!
//! Entries are `[key hash u64][batch offset u32]`, sorted, where the hash is
//! taken over the institution code, the query kind and the key. A lookup is
//! a binary search in each segment's memory-mapped index and one read of
//! each batch found (whose entries are then filtered exactly: a hash match
//! is only a candidate). The segment being written keeps its index in
//! memory ([`OpenIndex`]); a closed segment's is written beside it once
//! (`000001.idx`):
//!
//! ```text
//! [magic "SHKCHKIX"][version u32][entries u32][entries × 12 bytes][xxh3-64 of the entries]
//! ```

use super::record::{CheckRecord, LoggedKey};
use crate::model::InstitutionCode;
use crate::model::{ErrorCode, Outcome};
use crate::storage::frame::{u32_at, u64_at};
use crate::storage::replace_file;
use anyhow::Context;
use memmap2::Mmap;
use smallvec::SmallVec;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

const INDEX_MAGIC: [u8; 8] = *b"SHKCHKIX";
const INDEX_VERSION: u32 = 1;
const HEADER_LEN: usize = 16;
const ENTRY_LEN: usize = 12;

/// The hash an institution's checks of a key are indexed by.
pub fn key_hash(institution: &InstitutionCode, key: &LoggedKey<'_>) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(institution.as_str().as_bytes());
    hasher.update(&[key.kind as u8]);
    hasher.update(key.bytes);
    hasher.digest()
}

/// The hash of a logged check, if it is in its institution's history: it
/// names an institution and a key, and was made by that institution (not
/// refused as unauthenticated or as another institution's).
pub fn record_hash(record: &CheckRecord<'_>) -> Option<u64> {
    let institution = record.institution.as_ref()?;
    let by_someone_else = matches!(
        record.outcome,
        Outcome::Error(ErrorCode::Unauthorized | ErrorCode::Forbidden)
    );
    (record.key.kind != super::record::QueryKind::None && !by_someone_else)
        .then(|| key_hash(institution, &record.key))
}

/// The index of the segment being written.
#[derive(Default)]
pub struct OpenIndex {
    batches: HashMap<u64, SmallVec<[u32; 2]>>,
    entries: usize,
}

impl OpenIndex {
    /// Notes that the batch at `offset` holds a check with `hash`.
    pub fn add(&mut self, hash: u64, offset: u32) {
        let offsets = self.batches.entry(hash).or_default();
        if offsets.last() != Some(&offset) {
            offsets.push(offset);
            self.entries += 1;
        }
    }

    /// Offsets of the batches that may hold checks with `hash` (empty if none).
    pub fn lookup(&self, hash: u64) -> &[u32] {
        self.batches.get(&hash).map_or(&[], |offsets| offsets)
    }

    /// Writes the index file of the segment just closed (through a
    /// temporary name, so that a present index is always whole).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut entries: Vec<(u64, u32)> = self
            .batches
            .iter()
            .flat_map(|(hash, offsets)| offsets.iter().map(move |offset| (*hash, *offset)))
            .collect();
        entries.sort_unstable();
        let mut body = Vec::with_capacity(entries.len() * ENTRY_LEN);
        for (hash, offset) in &entries {
            body.extend_from_slice(&hash.to_le_bytes());
            body.extend_from_slice(&offset.to_le_bytes());
        }
        let mut bytes = Vec::with_capacity(HEADER_LEN + body.len() + 8);
        bytes.extend_from_slice(&INDEX_MAGIC);
        bytes.extend_from_slice(&INDEX_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&xxh3_64(&body).to_le_bytes());
        replace_file(path, &bytes)
    }

    /// Index entries (distinct hash and batch pairs) so far.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// No check has been indexed yet.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }
}

/// The index of a closed segment, memory-mapped. Opening checks its
/// header and length only: reading every entry to check the trailing
/// checksum would make the first search after a start read all five
/// months of indexes. A damaged index cannot give a wrong answer (every
/// batch it points to is checksummed and its records are matched
/// exactly); at worst a search misses records or fails naming the file.
pub struct SegmentIndex {
    map: Mmap,
    entries: usize,
}

impl SegmentIndex {
    /// Maps the index file at `path`, failing (naming the file) on a bad header or length.
    pub fn open(path: &Path) -> anyhow::Result<SegmentIndex> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        // SAFETY: index files are written whole under a temporary name and
        // never modified after the rename; the mapping is read-only.
        let map = unsafe { Mmap::map(&file) }
            .with_context(|| format!("cannot map {}", path.display()))?;
        let damaged = |what: &str| {
            anyhow::anyhow!(
                "{}: {what}; remove it and restart the server to rebuild it",
                path.display()
            )
        };
        if map.len() < HEADER_LEN + 8
            || map[..8] != INDEX_MAGIC
            || u32_at(&map, 8) != Some(INDEX_VERSION)
        {
            return Err(damaged("not a check-log index of this version"));
        }
        let entries = u32_at(&map, 12).unwrap_or(0) as usize;
        if map.len() != HEADER_LEN + entries * ENTRY_LEN + 8 {
            return Err(damaged("its length does not match its entry count"));
        }
        Ok(SegmentIndex { map, entries })
    }

    fn hash_at(&self, i: usize) -> u64 {
        u64_at(&self.map, HEADER_LEN + i * ENTRY_LEN).unwrap_or(0)
    }

    /// The offsets of the batches that may hold checks with `hash`.
    pub fn lookup(&self, hash: u64) -> Vec<u32> {
        let (mut low, mut high) = (0, self.entries);
        while low < high {
            let middle = (low + high) / 2;
            if self.hash_at(middle) < hash {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        (low..self.entries)
            .take_while(|i| self.hash_at(*i) == hash)
            .filter_map(|i| u32_at(&self.map, HEADER_LEN + i * ENTRY_LEN + 8))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_index_finds_what_was_added() {
        let dir = tempfile::tempdir().unwrap();
        let mut open = OpenIndex::default();
        for (hash, offset) in [(5, 16), (5, 16), (5, 900), (2, 16), (9, 4000)] {
            open.add(hash, offset);
        }
        assert_eq!(open.lookup(5), &[16, 900]);
        assert_eq!(open.len(), 4);
        let path = dir.path().join("000001.idx");
        open.write(&path).unwrap();
        let index = SegmentIndex::open(&path).unwrap();
        assert_eq!(index.lookup(5), vec![16, 900]);
        assert_eq!(index.lookup(9), vec![4000]);
        assert!(index.lookup(7).is_empty());
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 5);
        std::fs::write(&path, bytes).unwrap();
        assert!(SegmentIndex::open(&path).is_err());
    }
}

//! Temporary partition files of a build: what phase 1 and 2 write and the
//! next phase reads back, one file per shard, so that no phase holds more
//! than one shard's data (per worker) in memory.

use crate::model::{EligibilityRow, LinkageNo, Serial};
use anyhow::Context;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A set of append-only files, one per shard, safe to append from several
/// threads (each append takes the file's lock once for a whole batch).
pub(super) struct PartitionFiles {
    paths: Vec<PathBuf>,
    writers: Vec<Mutex<BufWriter<File>>>,
}

impl PartitionFiles {
    pub(super) fn create(dir: &Path, stem: &str, shards: u32) -> anyhow::Result<PartitionFiles> {
        let paths: Vec<PathBuf> = (0..shards)
            .map(|s| dir.join(format!("{stem}-{s:04}.tmp")))
            .collect();
        let writers = paths
            .iter()
            .map(|path| {
                File::create(path)
                    .map(|f| Mutex::new(BufWriter::with_capacity(128 << 10, f)))
                    .with_context(|| format!("cannot create {}", path.display()))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(PartitionFiles { paths, writers })
    }

    pub(super) fn append(&self, shard: u32, bytes: &[u8]) -> anyhow::Result<()> {
        let mut writer = self.writers[shard as usize]
            .lock()
            .map_err(|_| anyhow::anyhow!("a build worker panicked while writing"))?;
        writer
            .write_all(bytes)
            .with_context(|| format!("cannot write {}", self.paths[shard as usize].display()))
    }

    /// Flushes and closes every file, returning their paths.
    pub(super) fn finish(self) -> anyhow::Result<Vec<PathBuf>> {
        for (writer, path) in self.writers.into_iter().zip(&self.paths) {
            let mut writer = writer
                .into_inner()
                .map_err(|_| anyhow::anyhow!("a build worker panicked while writing"))?;
            writer
                .flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(self.paths)
    }
}

/// A parsed eligibility row and its source line, as partitioned by person.
pub(super) type LinedRow = (u64, EligibilityRow);

pub(super) fn encode_row(line: u64, row: &EligibilityRow, out: &mut Vec<u8>) -> anyhow::Result<()> {
    bincode::serialize_into(out, &(line, row)).context("cannot encode a row")
}

/// Reads back every row of a person partition (one shard: tens of MB).
pub(super) fn read_rows(path: &Path) -> anyhow::Result<Vec<LinedRow>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read back {}", path.display()))?;
    let mut rest: &[u8] = &bytes;
    let mut rows = Vec::with_capacity(bytes.len() / 300);
    while !rest.is_empty() {
        let row: LinedRow = bincode::deserialize_from(&mut rest)
            .with_context(|| format!("cannot read back {}", path.display()))?;
        rows.push(row);
    }
    Ok(rows)
}

/// Kind of a key entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Online = 1,
    Face = 2,
}

/// A key entry: which index, the key's hash, the packed row location and the
/// source line (for messages).
pub(super) const KEY_ENTRY_LEN: usize = 25;

pub(super) fn encode_key(kind: KeyKind, hash: u64, target: u64, line: u64, out: &mut Vec<u8>) {
    out.push(kind as u8);
    out.extend_from_slice(&hash.to_le_bytes());
    out.extend_from_slice(&target.to_le_bytes());
    out.extend_from_slice(&line.to_le_bytes());
}

pub(super) struct KeyEntry {
    pub kind: u8,
    pub hash: u64,
    pub target: u64,
}

pub(super) fn read_keys(path: &Path) -> anyhow::Result<Vec<KeyEntry>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read back {}", path.display()))?;
    Ok(bytes
        .chunks_exact(KEY_ENTRY_LEN)
        .map(|chunk| KeyEntry {
            kind: chunk[0],
            hash: u64_at(chunk, 1),
            target: u64_at(chunk, 9),
        })
        .collect())
}

/// A linkage row after renewals: final serial → linkage number.
pub(super) const LINK_ENTRY_LEN: usize = 1 + 20 + 16 + 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct LinkEntry {
    pub serial: Serial,
    pub linkage: LinkageNo,
    pub line: u64,
}

pub(super) fn encode_link(entry: &LinkEntry, out: &mut Vec<u8>) {
    let bytes = entry.serial.as_bytes();
    let mut padded = [0u8; 20];
    padded[..bytes.len()].copy_from_slice(bytes);
    out.push(bytes.len() as u8);
    out.extend_from_slice(&padded);
    out.extend_from_slice(&entry.linkage.0.to_le_bytes());
    out.extend_from_slice(&entry.line.to_le_bytes());
}

pub(super) fn read_links(path: &Path) -> anyhow::Result<Vec<LinkEntry>> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read back {}", path.display()))?;
    bytes
        .chunks_exact(LINK_ENTRY_LEN)
        .map(|chunk| {
            let len = usize::from(chunk[0]).min(20);
            let serial = Serial::from_be_bytes(&chunk[1..1 + len])
                .context("a temporary linkage file is damaged")?;
            let mut linkage = [0u8; 16];
            linkage.copy_from_slice(&chunk[21..37]);
            Ok(LinkEntry {
                serial,
                linkage: LinkageNo(u128::from_le_bytes(linkage)),
                line: u64_at(chunk, 37),
            })
        })
        .collect()
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

//! Temporary partition files of a build: what one phase writes and the
//! next reads back, one file per shard, so that no phase holds more than
//! one shard's data (per worker) in memory. Each file is removed as soon
//! as it has been read, so the build's disk use stays near one copy of
//! the data at any time.
//!
//! Records are in the snapshot's own compact form without a dictionary
//! ([`crate::snapshot::codec`]), and each file is one zstd stream at a
//! fast level: the row partitions, the build's largest temporary data,
//! would otherwise take about as much disk as the CSV sources (some
//! 220 bytes per row), and the build's peak disk use is set by them.
//! Compressing costs less CPU than the kernel spends copying the bytes it
//! saves.

use crate::model::{EligibilityRow, LinkageNo, Serial};
use crate::snapshot::codec::dictionary::NoDictionary;
use crate::snapshot::codec::row::encode_row;
use crate::snapshot::codec::varint;
use anyhow::{bail, Context};
use rayon::prelude::*;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// zstd level of the temporary files: the fastest that still shrinks a
/// row partition about fourfold.
const TEMP_ZSTD_LEVEL: i32 = 1;

/// A partition file being written: one zstd stream, buffered so that the
/// link partitions' small appends reach the compressor in large pieces.
type PartitionWriter = BufWriter<zstd::stream::write::Encoder<'static, File>>;

/// A set of append-only files, one per shard, safe to append from several
/// threads (each append takes the file's lock once for a whole batch).
pub(super) struct PartitionFiles {
    paths: Vec<PathBuf>,
    writers: Vec<Mutex<PartitionWriter>>,
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
                    .and_then(|file| zstd::stream::write::Encoder::new(file, TEMP_ZSTD_LEVEL))
                    .map(|encoder| Mutex::new(BufWriter::with_capacity(64 << 10, encoder)))
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

    /// Appends each non-empty buffer to its shard's file, shards in
    /// parallel (each compresses its own bytes).
    pub(super) fn append_all(&self, buffers: &[Vec<u8>]) -> anyhow::Result<()> {
        buffers
            .par_iter()
            .enumerate()
            .filter(|(_, bytes)| !bytes.is_empty())
            .try_for_each(|(shard, bytes)| self.append(shard as u32, bytes))
    }

    /// Flushes and closes every file, returning their paths.
    pub(super) fn finish(self) -> anyhow::Result<Vec<PathBuf>> {
        for (writer, path) in self.writers.into_iter().zip(&self.paths) {
            let writer = writer
                .into_inner()
                .map_err(|_| anyhow::anyhow!("a build worker panicked while writing"))?;
            writer
                .into_inner()
                .map_err(|error| error.into_error())
                .and_then(|encoder| encoder.finish())
                .and_then(|mut file| file.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(self.paths)
    }
}

/// Reads a whole partition file and removes it.
pub(super) fn take_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let bytes = read_file(path)?;
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(bytes)
}

/// Reads and decompresses a whole partition file.
fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    File::open(path)
        .and_then(zstd::stream::decode_all)
        .with_context(|| format!("cannot read back {}", path.display()))
}

fn damaged(path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: a temporary build file is damaged (was it changed during the build?)",
        path.display()
    )
}

/// Appends a row record: `[line varint][linkage varint][row len varint][row]`,
/// the row in stored form without a dictionary.
pub(super) fn encode_row_record(line: u64, row: &EligibilityRow, out: &mut Vec<u8>) {
    thread_local! {
        static STORED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    varint::put(out, line);
    varint::put_u128(out, row.linkage_no);
    STORED.with_borrow_mut(|stored| {
        stored.clear();
        encode_row(row, &NoDictionary, stored);
        varint::put(out, stored.len() as u64);
        out.extend_from_slice(stored);
    });
}

/// A row record read back: where its row is in the file's bytes.
pub(super) struct RowRecord {
    pub line: u64,
    pub linkage: LinkageNo,
    pub row: std::ops::Range<usize>,
}

/// Reads back and removes a file of row records; returns its bytes and
/// the records (rows are not decoded).
pub(super) fn take_rows(path: &Path) -> anyhow::Result<(Vec<u8>, Vec<RowRecord>)> {
    let bytes = take_file(path)?;
    let mut rest: &[u8] = &bytes;
    let mut records = Vec::with_capacity(bytes.len() / 120);
    while !rest.is_empty() {
        let record = (|| {
            let line = varint::get(&mut rest)?;
            let linkage = LinkageNo(varint::get_u128(&mut rest)?);
            let len = usize::try_from(varint::get(&mut rest)?).ok()?;
            let start = bytes.len() - rest.len();
            varint::take(&mut rest, len)?;
            Some(RowRecord {
                line,
                linkage,
                row: start..start + len,
            })
        })()
        .ok_or_else(|| damaged(path))?;
        records.push(record);
    }
    Ok((bytes, records))
}

/// A linkage row after renewals: final serial → linkage number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct LinkEntry {
    pub serial: Serial,
    pub linkage: LinkageNo,
    pub line: u64,
}

/// Appends a link record: `[serial len u8][serial][linkage varint][line varint]`.
pub(super) fn encode_link(entry: &LinkEntry, out: &mut Vec<u8>) {
    let bytes = entry.serial.as_bytes();
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
    varint::put_u128(out, entry.linkage.0);
    varint::put(out, entry.line);
}

/// Reads back and removes a file of link records.
pub(super) fn take_links(path: &Path) -> anyhow::Result<Vec<LinkEntry>> {
    let bytes = take_file(path)?;
    let mut rest: &[u8] = &bytes;
    let mut links = Vec::with_capacity(bytes.len() / 24);
    while !rest.is_empty() {
        let link = (|| {
            let len = usize::from(*varint::take(&mut rest, 1)?.first()?);
            let serial = Serial::from_be_bytes(varint::take(&mut rest, len)?)?;
            let linkage = LinkageNo(varint::get_u128(&mut rest)?);
            let line = varint::get(&mut rest)?;
            Some(LinkEntry {
                serial,
                linkage,
                line,
            })
        })()
        .ok_or_else(|| damaged(path))?;
        links.push(link);
    }
    Ok(links)
}

/// Appends a person record: `[block len varint][block]` (a person block
/// without a dictionary).
pub(super) fn encode_person_record(block: &[u8], out: &mut Vec<u8>) {
    varint::put(out, block.len() as u64);
    out.extend_from_slice(block);
}

/// Reads back and removes a file of person records; returns the file's
/// bytes and the range of each block in them.
pub(super) fn take_persons(path: &Path) -> anyhow::Result<(Vec<u8>, Vec<std::ops::Range<usize>>)> {
    let records = read_persons(path)?;
    std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(records)
}

/// Reads back a file of person records, leaving it in place.
pub(super) fn read_persons(path: &Path) -> anyhow::Result<(Vec<u8>, Vec<std::ops::Range<usize>>)> {
    let bytes = read_file(path)?;
    let mut ranges = Vec::with_capacity(bytes.len() / 150);
    let mut rest: &[u8] = &bytes;
    while !rest.is_empty() {
        let len = varint::get(&mut rest)
            .and_then(|len| usize::try_from(len).ok())
            .filter(|&len| len <= rest.len())
            .ok_or_else(|| damaged(path))?;
        let start = bytes.len() - rest.len();
        ranges.push(start..start + len);
        rest = &rest[len..];
    }
    Ok((bytes, ranges))
}

/// Kind of a key entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KeyKind {
    Online = 1,
    Face = 2,
    Linkage = 3,
    Serial = 4,
    /// A serial linked to a linkage number without rows: the entry carries
    /// the serial and the linkage number instead of a person.
    Unmatched = 5,
}

/// A key entry: which index, the home part of the key's hash, its
/// fingerprint and the person (person shard, place in it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct KeyEntry {
    pub kind: KeyKind,
    pub home: u32,
    pub fingerprint: u16,
    pub shard: u32,
    pub local: u32,
}

/// Appends a key entry: `[kind u8][home u32][fingerprint u16][shard u32][local u32]`.
pub(super) fn encode_key(entry: &KeyEntry, out: &mut Vec<u8>) {
    out.push(entry.kind as u8);
    out.extend_from_slice(&entry.home.to_le_bytes());
    out.extend_from_slice(&entry.fingerprint.to_le_bytes());
    out.extend_from_slice(&entry.shard.to_le_bytes());
    out.extend_from_slice(&entry.local.to_le_bytes());
}

/// Appends an unmatched-serial entry: `[5][home][fingerprint][serial len
/// u8][serial][linkage varint]`.
pub(super) fn encode_unmatched(
    home: u32,
    fingerprint: u16,
    serial: &Serial,
    linkage: LinkageNo,
    out: &mut Vec<u8>,
) {
    out.push(KeyKind::Unmatched as u8);
    out.extend_from_slice(&home.to_le_bytes());
    out.extend_from_slice(&fingerprint.to_le_bytes());
    let bytes = serial.as_bytes();
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
    varint::put_u128(out, linkage.0);
}

/// What a key partition holds.
#[derive(Default)]
pub(super) struct KeyEntries {
    pub keyed: Vec<KeyEntry>,
    /// Unmatched serials: (home, fingerprint, serial, linkage).
    pub unmatched: Vec<(u32, u16, Serial, LinkageNo)>,
}

/// Reads back and removes a key partition.
pub(super) fn take_keys(path: &Path) -> anyhow::Result<KeyEntries> {
    let bytes = take_file(path)?;
    let mut rest: &[u8] = &bytes;
    let mut entries = KeyEntries::default();
    let word = |rest: &mut &[u8]| -> Option<u32> {
        Some(u32::from_le_bytes(varint::take(rest, 4)?.try_into().ok()?))
    };
    while !rest.is_empty() {
        let kind = *varint::take(&mut rest, 1)
            .and_then(|k| k.first())
            .ok_or_else(|| damaged(path))?;
        let parsed = (|| {
            let home = word(&mut rest)?;
            let fingerprint = u16::from_le_bytes(varint::take(&mut rest, 2)?.try_into().ok()?);
            if kind == KeyKind::Unmatched as u8 {
                let len = usize::from(*varint::take(&mut rest, 1)?.first()?);
                let serial = Serial::from_be_bytes(varint::take(&mut rest, len)?)?;
                let linkage = LinkageNo(varint::get_u128(&mut rest)?);
                entries.unmatched.push((home, fingerprint, serial, linkage));
                return Some(());
            }
            let kind = match kind {
                1 => KeyKind::Online,
                2 => KeyKind::Face,
                3 => KeyKind::Linkage,
                4 => KeyKind::Serial,
                _ => return None,
            };
            let shard = word(&mut rest)?;
            let local = word(&mut rest)?;
            entries.keyed.push(KeyEntry {
                kind,
                home,
                fingerprint,
                shard,
                local,
            });
            Some(())
        })();
        if parsed.is_none() {
            bail!(damaged(path));
        }
    }
    Ok(entries)
}

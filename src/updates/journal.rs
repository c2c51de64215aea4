//! The update journal: every accepted message, appended and fsynced before
//! its result says `ok` (`SPEC.md` §4: an acknowledged change is never lost).
//!
//! A journal is a directory of segment files named by the log sequence
//! number (LSN) of their first record (`00000000000000000001.journal`).
//! Each segment is a 16-byte header followed by records:
//!
//! ```text
//! [payload length u32][xxh3-64 of the rest u64][lsn u64][process-id hash u128][payload]
//! ```
//!
//! all little-endian; the payload is the message line exactly as accepted.
//! LSNs rise by one from record to record, across segments too.
//!
//! Writers append to a buffer and [`Journal::commit`] writes the whole
//! buffer with one `fdatasync` (group commit). A crash can leave a partly
//! written record at the end of the last segment; it was never acknowledged
//! (its fsync had not returned), so opening the journal cuts it off. Damage
//! anywhere else is refused, naming the file and offset, because a record
//! after it may have been acknowledged.

use crate::storage::frame::{u32_at, u64_at, Framing};
use crate::storage::sync_dir;
use anyhow::{bail, Context};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_128;

/// First bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SHKJRNL\0";
/// Version of the record layout above.
pub const JOURNAL_VERSION: u32 = 1;
const SEGMENT_HEADER_LEN: usize = 16;
/// A new segment is started once the active one has reached this size.
pub const SEGMENT_BYTES: u64 = 256 << 20;
/// Longest payload accepted (a message line).
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// A record is a frame whose fixed part is its LSN and process-id hash.
const FRAMING: Framing = Framing {
    fixed: 8 + 16,
    max_payload: MAX_PAYLOAD_BYTES,
};
const SEGMENT_SUFFIX: &str = ".journal";

/// One stored record.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Log sequence number, one more than the record before.
    pub lsn: u64,
    /// [`process_id_hash`] of the message's `process_id`, for finding repeats.
    pub id_hash: u128,
    /// The message line exactly as accepted.
    pub payload: &'a [u8],
}

/// The hash a process id is remembered by (128 bits: no two ids of a
/// journal's lifetime collide in practice).
pub fn process_id_hash(process_id: &str) -> u128 {
    xxh3_128(process_id.as_bytes())
}

/// What reading a journal found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scan {
    /// Segment files in the journal, those [`read_after`] skipped included.
    pub segments: usize,
    /// Whole records read (none of the skipped segments).
    pub records: u64,
    /// LSN of the first record read; `None` when none was read.
    pub first_lsn: Option<u64>,
    /// LSN of the last whole record; `None` when none was read.
    pub last_lsn: Option<u64>,
    /// Bytes of an unfinished record at the end (cut off when opened for writing).
    pub torn_bytes: u64,
}

/// The journal open for appending.
pub struct Journal {
    dir: PathBuf,
    file: File,
    segment_len: u64,
    next_lsn: u64,
    pending: Vec<u8>,
    pending_records: u64,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, calling `visit` for every
    /// stored record in order and cutting off a torn last record. New
    /// records get LSNs from `min_next_lsn` on at least (a snapshot that
    /// folded LSNs up to n needs every later record to be numbered above n,
    /// even in a fresh directory).
    pub fn open(
        dir: &Path,
        min_next_lsn: u64,
        visit: impl FnMut(&Record<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<(Journal, Scan)> {
        Journal::open_after(dir, min_next_lsn, 0, visit)
    }

    /// Like [`Journal::open`], without reading the segments that hold only
    /// records up to `known_through` (what a checkpoint already covers;
    /// `visit` still sees records up to it in the first segment read, and
    /// a damaged segment that is skipped is found when it is next read, by
    /// a replay from an older mark or by the fold).
    pub fn open_after(
        dir: &Path,
        min_next_lsn: u64,
        known_through: u64,
        visit: impl FnMut(&Record<'_>) -> anyhow::Result<()>,
    ) -> anyhow::Result<(Journal, Scan)> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the journal directory {}", dir.display()))?;
        let (scan, tail) = scan(dir, known_through, visit)?;
        let next_from_disk = scan.last_lsn.map_or(0, |lsn| lsn + 1);
        let next_lsn = next_from_disk.max(min_next_lsn).max(1);
        let (file, segment_len) = match tail {
            Some(tail)
                if tail.next_lsn == next_lsn && tail.valid_len >= SEGMENT_HEADER_LEN as u64 =>
            {
                open_tail(&tail)?
            }
            Some(tail) => {
                discard_if_empty(&tail)?;
                create_segment(dir, next_lsn)?
            }
            None => create_segment(dir, next_lsn)?,
        };
        let journal = Journal {
            dir: dir.to_path_buf(),
            file,
            segment_len,
            next_lsn,
            pending: Vec::with_capacity(1 << 20),
            pending_records: 0,
        };
        Ok((journal, scan))
    }

    /// The LSN the next appended record gets.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// Adds a record to the pending group; durable after [`Journal::commit`].
    pub fn append(&mut self, id_hash: u128, payload: &[u8]) -> u64 {
        let lsn = self.next_lsn;
        self.next_lsn += 1;
        encode(lsn, id_hash, payload, &mut self.pending);
        self.pending_records += 1;
        lsn
    }

    /// Records appended and not yet committed.
    pub fn pending_records(&self) -> u64 {
        self.pending_records
    }

    /// Writes the pending group and waits for it to reach the disk. On an
    /// error nothing of the group may be acknowledged, and the journal must
    /// not be written again (the state of the file is unknown).
    pub fn commit(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.pending)
            .and_then(|()| self.file.sync_data())
            .context("cannot write the journal")?;
        self.segment_len += self.pending.len() as u64;
        self.pending.clear();
        self.pending_records = 0;
        if self.segment_len >= SEGMENT_BYTES {
            let (file, len) = create_segment(&self.dir, self.next_lsn)?;
            self.file = file;
            self.segment_len = len;
        }
        Ok(())
    }

    /// Numbers the next record `next_lsn` (if that is ahead), in a new
    /// segment: records after a snapshot's journal mark must be numbered
    /// above it, even when the journal directory is newer than the snapshot.
    pub fn skip_to(&mut self, next_lsn: u64) -> anyhow::Result<()> {
        if next_lsn <= self.next_lsn {
            return Ok(());
        }
        self.commit()?;
        let (file, len) = create_segment(&self.dir, next_lsn)?;
        self.file = file;
        self.segment_len = len;
        self.next_lsn = next_lsn;
        Ok(())
    }

    /// Removes the segments whose records all have LSNs of at most
    /// `through` (they are folded into every snapshot still needed); never
    /// the segment being written. Returns how many were removed.
    pub fn trim(&mut self, through: u64) -> anyhow::Result<usize> {
        let segments = segments(&self.dir)?;
        let mut removed = 0;
        for pair in segments.windows(2) {
            let last_lsn_in_segment = pair[1].0.saturating_sub(1);
            if last_lsn_in_segment > through {
                break;
            }
            std::fs::remove_file(&pair[0].1)
                .with_context(|| format!("cannot remove {}", pair[0].1.display()))?;
            removed += 1;
        }
        if removed > 0 {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }
}

/// Reads every complete record of the journal in `dir` without changing it
/// (a torn tail is reported in [`Scan::torn_bytes`] and left alone): what
/// the fold does while the server may still be writing.
pub fn read(
    dir: &Path,
    visit: impl FnMut(&Record<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Scan> {
    read_after(dir, 0, visit)
}

/// As [`read`], but segments whose records all have LSNs of at most
/// `after` are not read at all (replaying after a snapshot's journal mark
/// need not read what the snapshot already contains). Records of a segment
/// that is read are all visited.
pub fn read_after(
    dir: &Path,
    after: u64,
    visit: impl FnMut(&Record<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Scan> {
    if !dir.is_dir() {
        bail!("{}: not a journal directory", dir.display());
    }
    scan(dir, after, visit).map(|(scan, _)| scan)
}

/// The last segment as scanned: where its valid records end.
struct Tail {
    path: PathBuf,
    /// The LSN a record appended to this segment would need.
    next_lsn: u64,
    records: u64,
    valid_len: u64,
    file_len: u64,
}

fn scan(
    dir: &Path,
    after: u64,
    mut visit: impl FnMut(&Record<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<(Scan, Option<Tail>)> {
    let segments = segments(dir)?;
    let mut scan = Scan {
        segments: segments.len(),
        ..Scan::default()
    };
    let mut tail = None;
    for (index, (first_lsn, path)) in segments.iter().enumerate() {
        let is_last = index + 1 == segments.len();
        if segments
            .get(index + 1)
            .is_some_and(|(next_first, _)| *next_first <= after + 1)
        {
            continue;
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let records_before = scan.records;
        let valid_len = scan_segment(&bytes, path, *first_lsn, is_last, &mut scan, &mut visit)?;
        if is_last {
            scan.torn_bytes = (bytes.len() - valid_len) as u64;
            let records = scan.records - records_before;
            tail = Some(Tail {
                path: path.clone(),
                next_lsn: first_lsn + records,
                records,
                valid_len: valid_len as u64,
                file_len: bytes.len() as u64,
            });
        }
    }
    Ok((scan, tail))
}

/// Reads the records of one segment; returns the length of its valid part.
fn scan_segment(
    bytes: &[u8],
    path: &Path,
    first_lsn: u64,
    is_last: bool,
    scan: &mut Scan,
    visit: &mut impl FnMut(&Record<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    let damaged = |offset: usize, what: &str| {
        anyhow::anyhow!(
            "{}: damaged at byte {offset} ({what}); records after it may have been acknowledged, so the journal is not opened: restore the file or ask for the insurers' messages to be re-sent",
            path.display()
        )
    };
    if bytes.len() < SEGMENT_HEADER_LEN {
        return if is_last {
            Ok(0)
        } else {
            Err(damaged(0, "shorter than the segment header"))
        };
    }
    if bytes[..8] != SEGMENT_MAGIC || u32_at(bytes, 8) != Some(JOURNAL_VERSION) {
        return Err(damaged(0, "not a shikaku journal segment of this version"));
    }
    let mut offset = SEGMENT_HEADER_LEN;
    let mut expected_lsn = first_lsn;
    while offset < bytes.len() {
        match decode(&bytes[offset..]) {
            Some((record, len)) if record.lsn == expected_lsn => {
                visit(&record)?;
                scan.records += 1;
                scan.first_lsn.get_or_insert(record.lsn);
                scan.last_lsn = Some(record.lsn);
                expected_lsn += 1;
                offset += len;
            }
            Some((record, _)) => {
                return Err(damaged(
                    offset,
                    &format!(
                        "record numbered {} where {expected_lsn} was due",
                        record.lsn
                    ),
                ))
            }
            // A crash tears only the group being written, at the very end:
            // an intact record further on means damage, not a torn write.
            None if is_last && !intact_record_after(bytes, offset, expected_lsn) => {
                return Ok(offset)
            }
            None => {
                return Err(damaged(
                    offset,
                    "a record is incomplete or its checksum fails",
                ))
            }
        }
    }
    Ok(offset)
}

/// True when an intact record numbered `lsn` or later starts anywhere
/// after `offset`.
fn intact_record_after(bytes: &[u8], offset: usize, lsn: u64) -> bool {
    FRAMING.intact_after(bytes, offset, |fixed| {
        u64_at(fixed, 0).is_some_and(|candidate| candidate >= lsn && candidate - lsn < 1 << 32)
    })
}

fn encode(lsn: u64, id_hash: u128, payload: &[u8], out: &mut Vec<u8>) {
    let mut fixed = [0u8; 24];
    fixed[..8].copy_from_slice(&lsn.to_le_bytes());
    fixed[8..].copy_from_slice(&id_hash.to_le_bytes());
    FRAMING.encode(&fixed, payload, out);
}

/// One record at the start of `bytes` and its encoded length, if complete
/// and intact.
fn decode(bytes: &[u8]) -> Option<(Record<'_>, usize)> {
    let (frame, len) = FRAMING.decode(bytes)?;
    let record = Record {
        lsn: u64_at(frame.fixed, 0)?,
        id_hash: u128::from_le_bytes(frame.fixed[8..24].try_into().ok()?),
        payload: frame.payload,
    };
    Some((record, len))
}

/// The segments of `dir`, by first LSN.
fn segments(dir: &Path) -> anyhow::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(first_lsn) = name
            .strip_suffix(SEGMENT_SUFFIX)
            .and_then(|stem| stem.parse::<u64>().ok())
        {
            segments.push((first_lsn, path));
        }
    }
    segments.sort();
    Ok(segments)
}

fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}{SEGMENT_SUFFIX}"))
}

fn create_segment(dir: &Path, first_lsn: u64) -> anyhow::Result<(File, u64)> {
    let path = segment_path(dir, first_lsn);
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    header[..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&JOURNAL_VERSION.to_le_bytes());
    file.write_all(&header)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    sync_dir(dir)?;
    Ok((file, SEGMENT_HEADER_LEN as u64))
}

/// Removes a last segment that holds no record (a new one is started
/// with other numbering), or cuts off its torn tail.
fn discard_if_empty(tail: &Tail) -> anyhow::Result<()> {
    if tail.records == 0 {
        std::fs::remove_file(&tail.path)
            .with_context(|| format!("cannot remove {}", tail.path.display()))
    } else {
        open_tail(tail).map(drop)
    }
}

/// Reopens the last segment for appending after cutting off a torn tail.
fn open_tail(tail: &Tail) -> anyhow::Result<(File, u64)> {
    let file = OpenOptions::new()
        .append(true)
        .open(&tail.path)
        .with_context(|| format!("cannot open {}", tail.path.display()))?;
    if tail.valid_len < tail.file_len {
        file.set_len(tail.valid_len)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot cut the torn tail of {}", tail.path.display()))?;
    }
    Ok((file, tail.valid_len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::frame::FRAME_HEADER_LEN;

    const RECORD_HEADER_LEN: usize = FRAME_HEADER_LEN + 24;

    fn collect(dir: &Path) -> (Vec<(u64, Vec<u8>)>, Scan) {
        let mut records = Vec::new();
        let scan = read(dir, |r| {
            records.push((r.lsn, r.payload.to_vec()));
            Ok(())
        })
        .unwrap();
        (records, scan)
    }

    fn no_visit(_: &Record<'_>) -> anyhow::Result<()> {
        Ok(())
    }

    #[test]
    fn appended_and_committed_records_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, scan) = Journal::open(dir.path(), 0, no_visit).unwrap();
        assert_eq!(scan.records, 0);
        for i in 0..100u32 {
            let lsn = journal.append(u128::from(i), format!("message {i}").as_bytes());
            assert_eq!(lsn, u64::from(i) + 1);
        }
        journal.commit().unwrap();
        drop(journal);
        let (records, scan) = collect(dir.path());
        assert_eq!(records.len(), 100);
        assert_eq!(records[99], (100, b"message 99".to_vec()));
        assert_eq!((scan.first_lsn, scan.last_lsn), (Some(1), Some(100)));
        let (journal, _) = Journal::open(dir.path(), 0, no_visit).unwrap();
        assert_eq!(journal.next_lsn(), 101);
    }

    #[test]
    fn a_torn_tail_is_cut_off_and_damage_before_it_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 0, no_visit).unwrap();
        journal.append(1, b"first");
        journal.append(2, b"second");
        journal.commit().unwrap();
        drop(journal);
        let segment = segment_path(dir.path(), 1);
        let whole = std::fs::read(&segment).unwrap();
        // Every cut inside the second record loses only that record.
        let second_starts = SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 5;
        for cut in second_starts..whole.len() {
            std::fs::write(&segment, &whole[..cut]).unwrap();
            let (records, scan) = collect(dir.path());
            assert_eq!(records.len(), 1, "cut at {cut}");
            assert_eq!(scan.torn_bytes, (cut - second_starts) as u64);
        }
        let (mut journal, scan) = Journal::open(dir.path(), 0, no_visit).unwrap();
        assert_eq!(scan.records, 1);
        assert_eq!(
            journal.append(3, b"third"),
            2,
            "the torn record's LSN is reused"
        );
        journal.commit().unwrap();
        drop(journal);
        assert_eq!(collect(dir.path()).0[1], (2, b"third".to_vec()));
        // A flipped byte in a segment that is not the last is refused.
        let mut damaged = std::fs::read(&segment).unwrap();
        damaged[SEGMENT_HEADER_LEN + RECORD_HEADER_LEN] ^= 1;
        std::fs::write(&segment, &damaged).unwrap();
        let (next, _) = create_segment(dir.path(), 3).unwrap();
        drop(next);
        let error = read(dir.path(), no_visit).unwrap_err().to_string();
        assert!(error.contains("damaged at byte 16"), "{error}");
    }

    #[test]
    fn numbering_continues_past_a_folded_snapshot_and_trim_keeps_what_is_needed() {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = Journal::open(dir.path(), 500, no_visit).unwrap();
        assert_eq!(journal.append(1, b"a"), 500);
        journal.commit().unwrap();
        let (file, len) = create_segment(dir.path(), 501).unwrap();
        journal.file = file;
        journal.segment_len = len;
        journal.append(2, b"b");
        journal.commit().unwrap();
        assert_eq!(journal.trim(499).unwrap(), 0);
        assert_eq!(journal.trim(500).unwrap(), 1);
        assert_eq!(journal.trim(10_000).unwrap(), 0, "the active segment stays");
        let (records, _) = collect(dir.path());
        assert_eq!(records, vec![(501, b"b".to_vec())]);
    }
}

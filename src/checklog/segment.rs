//! Segment files: the log's batches on disk.
//!
//! A log directory holds one directory per Japan day (`20261122/`), each
//! with numbered segments (`000001.seg`) and, once a segment is closed, its
//! index (`000001.idx`, see [`super::index`]). A segment is a 16-byte header
//! and then frames ([`crate::storage::frame`]), one per batch the writer committed:
//!
//! ```text
//! fixed part: [first entry micros u64][entries u32]
//! payload:    LZ4 block (size prepended) of the batch's length-prefixed entries
//! ```
//!
//! A crash can tear the last frame of the segment being written; it is cut
//! off when the server starts again (it held checks answered at most one
//! batch interval earlier). Damage followed by an intact frame is not cut:
//! the segment is indexed up to the damage, and the damage is reported.

use super::record::Entries;
use crate::model::Date;
use crate::storage::frame::{u32_at, u64_at, Framing, FRAME_HEADER_LEN};
use crate::storage::sync_dir;
use anyhow::Context;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// First eight bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SHKCHKLG";
/// Segment format version, after the magic.
pub const SEGMENT_VERSION: u32 = 1;
/// Header bytes before the first frame: magic, version and four zero bytes.
pub const SEGMENT_HEADER_LEN: usize = 16;
/// File extension of segments (`000001.seg`).
pub const SEGMENT_SUFFIX: &str = "seg";
/// File extension of a closed segment's index (`000001.idx`).
pub const INDEX_SUFFIX: &str = "idx";
/// Largest compressed batch.
const MAX_FRAME_PAYLOAD: usize = 64 << 20;
/// Most entries in one batch.
pub const MAX_BATCH_ENTRIES: u32 = 1 << 20;
/// A batch is written once it holds this many bytes (well inside a frame
/// even if LZ4 cannot compress it).
pub const MAX_BATCH_BYTES: usize = 16 << 20;
/// Largest segment: frame offsets are `u32`.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;
/// Frame layout of segments: a 12-byte fixed part (first entry micros, entry count) and the LZ4 payload.
pub const FRAMING: Framing = Framing {
    fixed: 12,
    max_payload: MAX_FRAME_PAYLOAD,
};

/// The directory of one Japan day's segments.
pub fn day_dir(log: &Path, day: Date) -> PathBuf {
    let (y, m, d) = day.ymd();
    log.join(format!("{y:04}{m:02}{d:02}"))
}

/// The day directories of `log`, oldest first.
pub fn days(log: &Path) -> anyhow::Result<Vec<(Date, PathBuf)>> {
    let mut days = Vec::new();
    let listing =
        std::fs::read_dir(log).with_context(|| format!("cannot list {}", log.display()))?;
    for entry in listing {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(day) = parse_day(name) {
            if path.is_dir() {
                days.push((day, path));
            }
        }
    }
    days.sort();
    Ok(days)
}

fn parse_day(name: &str) -> Option<Date> {
    if name.len() != 8 || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Date::from_ymd(
        name[..4].parse().ok()?,
        name[4..6].parse().ok()?,
        name[6..].parse().ok()?,
    )
}

/// One segment of a day: its number, file, and whether its index exists.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SegmentFile {
    /// Position of the segment in its day, from 1.
    pub number: u32,
    /// Path of the `.seg` file.
    pub path: PathBuf,
}

impl SegmentFile {
    /// The segment numbered `number` in `day_dir` (`000042.seg`); nothing is created.
    pub fn new(day_dir: &Path, number: u32) -> SegmentFile {
        SegmentFile {
            number,
            path: day_dir.join(format!("{number:06}.{SEGMENT_SUFFIX}")),
        }
    }

    /// Path of the segment's index file, beside it with the `.idx` extension.
    pub fn index_path(&self) -> PathBuf {
        self.path.with_extension(INDEX_SUFFIX)
    }

    /// The index file exists (the segment was closed and indexed).
    pub fn is_indexed(&self) -> bool {
        self.index_path().is_file()
    }
}

/// The segments of one day directory, in order.
pub fn segments(day_dir: &Path) -> anyhow::Result<Vec<SegmentFile>> {
    let mut found = Vec::new();
    let listing =
        std::fs::read_dir(day_dir).with_context(|| format!("cannot list {}", day_dir.display()))?;
    for entry in listing {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_SUFFIX) {
            continue;
        }
        if let Some(number) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse().ok())
        {
            found.push(SegmentFile { number, path });
        }
    }
    found.sort();
    Ok(found)
}

/// A segment open for appending batches.
pub struct SegmentWriter {
    /// The segment being written.
    pub segment: SegmentFile,
    /// The Japan day the segment belongs to.
    pub day: Date,
    file: File,
    /// Bytes written so far, header included; the next frame's offset.
    pub len: u64,
    /// Entries written so far.
    pub entries: u64,
    frame: Vec<u8>,
}

impl SegmentWriter {
    /// Creates the next segment of `day` (never reopens an old one: a
    /// restarted server starts a new segment).
    pub fn create(log: &Path, day: Date) -> anyhow::Result<SegmentWriter> {
        let dir = day_dir(log, day);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let number = segments(&dir)?.last().map_or(1, |s| s.number + 1);
        let segment = SegmentFile::new(&dir, number);
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&segment.path)
            .with_context(|| format!("cannot create {}", segment.path.display()))?;
        let mut header = Vec::with_capacity(SEGMENT_HEADER_LEN);
        header.extend_from_slice(&SEGMENT_MAGIC);
        header.extend_from_slice(&SEGMENT_VERSION.to_le_bytes());
        header.extend_from_slice(&0u32.to_le_bytes());
        file.write_all(&header)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write {}", segment.path.display()))?;
        sync_dir(&dir)?;
        Ok(SegmentWriter {
            segment,
            day,
            file,
            len: SEGMENT_HEADER_LEN as u64,
            entries: 0,
            frame: Vec::new(),
        })
    }

    /// Waits for everything written to reach the disk.
    pub fn sync(&self) -> anyhow::Result<()> {
        self.file
            .sync_data()
            .with_context(|| format!("cannot sync {}", self.segment.path.display()))
    }

    /// Compresses `batch` (`count` encoded entries, the first made at
    /// `first_micros`) into one frame and writes it; with `durable`, waits
    /// for the disk (a generator syncs once at the end instead). Returns
    /// the frame's offset in the segment.
    pub fn append(
        &mut self,
        batch: &[u8],
        count: u32,
        first_micros: u64,
        durable: bool,
    ) -> anyhow::Result<u32> {
        let offset = self.len as u32;
        let mut fixed = [0u8; 12];
        fixed[..8].copy_from_slice(&first_micros.to_le_bytes());
        fixed[8..].copy_from_slice(&count.to_le_bytes());
        self.frame.clear();
        FRAMING.encode(
            &fixed,
            &lz4_flex::block::compress_prepend_size(batch),
            &mut self.frame,
        );
        let written = self.file.write_all(&self.frame).and_then(|()| {
            if durable {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(error) = written {
            // Take back whatever part reached the file: the batch is
            // retried elsewhere and must not be read twice.
            let _ = self.file.set_len(self.len);
            return Err(error)
                .with_context(|| format!("cannot write {}", self.segment.path.display()));
        }
        self.len += self.frame.len() as u64;
        self.entries += u64::from(count);
        Ok(offset)
    }
}

/// A frame's fixed part could be one the writer made (a cheap filter
/// before the checksum when telling damage from a torn tail).
fn plausible(fixed: &[u8]) -> bool {
    let micros = u64_at(fixed, 0).unwrap_or(0);
    let count = u32_at(fixed, 8).unwrap_or(0);
    (1..=MAX_BATCH_ENTRIES).contains(&count)
        && (1_500_000_000_000_000..4_000_000_000_000_000).contains(&micros)
}

/// What reading a segment found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentScan {
    /// Readable frames (batches).
    pub frames: u64,
    /// Entries in the readable frames.
    pub entries: u64,
    /// Where the readable frames end.
    pub valid_len: u64,
    /// Size of the file in bytes.
    pub file_len: u64,
    /// Unreadable bytes with an intact frame after them (not a torn tail).
    pub damage: Option<String>,
}

impl SegmentScan {
    /// Bytes after the last readable frame with nothing intact after them:
    /// a torn write.
    pub fn torn_bytes(&self) -> u64 {
        if self.damage.is_some() {
            0
        } else {
            self.file_len - self.valid_len
        }
    }
}

/// Reads every readable frame of a segment in order, calling `visit` with
/// the frame's offset and its entries. Memory: one frame at a time (the
/// rest of the file is read only to tell damage from a torn tail).
pub fn read_segment(
    path: &Path,
    mut visit: impl FnMut(u32, Entries<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<SegmentScan> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let file_len = file.metadata()?.len();
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut scan = SegmentScan {
        file_len,
        ..SegmentScan::default()
    };
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    if reader.read_exact(&mut header).is_err() {
        return Ok(scan);
    }
    if header[..8] != SEGMENT_MAGIC || u32_at(&header, 8) != Some(SEGMENT_VERSION) {
        scan.damage = Some(format!(
            "{}: not a shikaku check-log segment of this version; left as it is, and not read",
            path.display()
        ));
        return Ok(scan);
    }
    let mut offset = SEGMENT_HEADER_LEN as u64;
    let mut frame = Vec::new();
    while next_frame(&mut reader, &mut frame)?.is_some() {
        let Some(batch) = FRAMING
            .decode(&frame)
            .and_then(|(decoded, _)| decompress(decoded.payload).ok())
        else {
            break;
        };
        visit(offset as u32, Entries::new(&batch))?;
        scan.frames += 1;
        scan.entries += u64::from(u32_at(&frame, FRAME_HEADER_LEN + 8).unwrap_or(0));
        offset += frame.len() as u64;
    }
    scan.valid_len = offset;
    if offset < file_len {
        let mut rest = std::fs::read(path)?;
        rest.drain(..offset as usize);
        if FRAMING.intact_after(&rest, 0, plausible) {
            scan.damage = Some(format!(
                "{}: damaged at byte {offset} (a batch that cannot be read, with intact batches after it); the batches before it are kept",
                path.display()
            ));
        }
    }
    Ok(scan)
}

/// Reads the next whole frame into `frame`; `None` at the end of the file
/// or at a frame that does not fit in what is left.
fn next_frame(reader: &mut impl Read, frame: &mut Vec<u8>) -> anyhow::Result<Option<()>> {
    let head = FRAME_HEADER_LEN + FRAMING.fixed;
    frame.resize(head, 0);
    if read_fully(reader, &mut frame[..])? < head {
        return Ok(None);
    }
    let Some(len) = FRAMING.frame_len(frame) else {
        return Ok(None);
    };
    frame.resize(len, 0);
    Ok((read_fully(reader, &mut frame[head..])? == len - head).then_some(()))
}

fn read_fully(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn decompress(payload: &[u8]) -> Result<Vec<u8>, lz4_flex::block::DecompressError> {
    lz4_flex::block::decompress_size_prepended(payload)
}

/// Reads the batch of the frame at `offset` (a history lookup): the
/// decompressed entries, or an error naming the file.
pub fn read_batch_at(file: &File, path: &Path, offset: u32) -> anyhow::Result<Vec<u8>> {
    let damaged = || anyhow::anyhow!("{}: no intact batch at byte {offset}", path.display());
    let mut head = [0u8; FRAME_HEADER_LEN + 12];
    file.read_exact_at(&mut head, u64::from(offset))
        .with_context(damaged)?;
    let len = FRAMING.frame_len(&head).ok_or_else(damaged)?;
    let mut frame = vec![0u8; len];
    file.read_exact_at(&mut frame, u64::from(offset))
        .with_context(damaged)?;
    let (decoded, _) = FRAMING.decode(&frame).ok_or_else(damaged)?;
    decompress(decoded.payload).map_err(|e| damaged().context(e))
}

/// Cuts a torn tail off a closed segment so that a later reader sees a
/// clean end.
pub fn truncate(path: &Path, valid_len: u64) -> anyhow::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    file.set_len(valid_len)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot cut the torn tail of {}", path.display()))
}

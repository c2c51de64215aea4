//! Checkpoints of the overlay: the final states of every change applied
//! over one snapshot, written now and then by the server beside its
//! journal, so that a restart replays only the journal's tail instead of
//! the whole day (5.29 million records on a July peak day).
//!
//! ```text
//! file   := magic "SHKOVCP1"  version:u32le  header  ids  ids_sum
//!           entry*  End  trailer
//! header := bincode(Header): the snapshot it applies over, the LSN it
//!           covers, each sender's last seq
//! ids    := count:u64le  (process-id hash:u128le){count}: every record's
//!           up to that LSN, so that a restart need not read the journal
//!           for them (written sorted, kept sorted as read)
//! ids_sum:= xxh3-128 of everything before it (the ids can be trusted
//!           without reading the rest)
//! entry  := bincode(Entry): a row as the overlay keeps it (its difference
//!           from a row of the snapshot), a deleted row's key, a serial's
//!           link, an insurer
//! trailer:= xxh3-128 of everything before it, 16 bytes little-endian
//! ```
//!
//! It is written to a temporary file, synced and renamed over the last
//! one, so a crash leaves the old checkpoint or the new one. It is read
//! back only whole: every element is decoded under a size limit (a damaged
//! length cannot make it allocate), and the result is used only once the
//! trailer matches. A checkpoint that is torn, flipped, of another version,
//! of another snapshot or beyond the journal's end is never trusted: the
//! server replays the whole journal instead, with a warning.

use super::message::RowKey;
use super::overlay::{EncodedState, Overlay, RestoredRow};
use crate::model::{Date, InsurerNumber, LinkageNo, OnlineNumber, Serial};
use crate::snapshot::Snapshot;
use crate::source::insurers::InsurerRow;
use crate::storage::{partial_path, publish_file};
use anyhow::Context;
use bincode::Options;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

/// Name of the checkpoint inside the journal directory.
pub const CHECKPOINT_FILE: &str = "overlay.checkpoint";

const MAGIC: [u8; 8] = *b"SHKOVCP1";
/// 2: the process ids of the journal records it covers. 3: rows as the
/// overlay keeps them, relative to the snapshot named by its id and content.
const VERSION: u32 = 3;
/// Process ids read per step (a damaged count fails at the end of the
/// file, not in an allocation).
const IDS_PER_READ: usize = 1 << 16;
/// Largest encoded element (a row is a few hundred bytes; a header holds
/// every sender's name).
const MAX_ELEMENT_BYTES: u64 = 16 << 20;

/// What a checkpoint applies over and how far it reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMark {
    /// Id of the snapshot the overlay is over.
    pub snapshot_id: String,
    /// That snapshot's [`content digest`](crate::snapshot::manifest::Manifest::content_digest):
    /// rows are kept relative to its rows, so a snapshot rebuilt under the
    /// same id is another one.
    pub snapshot_content: String,
    /// That snapshot's journal mark (0: none).
    pub folded_through: u64,
    /// Every journal record up to this LSN is in the overlay.
    pub through_lsn: u64,
}

#[derive(Serialize, Deserialize)]
struct Header {
    mark: CheckpointMark,
    /// Journal records applied over the snapshot.
    applied: u64,
    /// Each sender's last `seq` applied.
    senders: BTreeMap<String, u64>,
}

/// One final state (byte strings borrowed from the file read whole).
#[derive(Serialize, Deserialize)]
enum Entry<'a> {
    Row {
        payload: &'a [u8],
    },
    Deleted {
        online: String,
        seq: u32,
    },
    Serial {
        serial: &'a [u8],
        linkage: Option<u128>,
    },
    Insurer {
        number: String,
        name: String,
        address: String,
        phone: String,
        postal_code: String,
        abolished: Option<i32>,
    },
    End,
}

/// A checkpoint read back.
pub struct Restored {
    /// What it applies over and how far it reaches.
    pub mark: CheckpointMark,
    /// The overlay as it was written.
    pub overlay: Overlay,
    /// Each sender's last `seq` applied.
    pub senders: BTreeMap<String, u64>,
}

/// What a write produced.
#[derive(Clone, Debug, Serialize)]
pub struct Written {
    /// The last journal record it covers.
    pub through_lsn: u64,
    /// Size of the file.
    pub bytes: u64,
    /// Time to write and sync it.
    pub seconds: f64,
}

fn element_options() -> impl Options + Copy {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_limit(MAX_ELEMENT_BYTES)
}

/// The checkpoint file of the journal in `dir`.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

/// Writes a checkpoint of `overlay` (over the snapshot of `mark`, with the
/// senders' positions) into `dir`, replacing the last one.
pub fn write(
    dir: &Path,
    mark: &CheckpointMark,
    overlay: &Overlay,
    senders: BTreeMap<String, u64>,
    ids: &[u128],
) -> anyhow::Result<Written> {
    let started = std::time::Instant::now();
    let path = path_in(dir);
    let temporary = partial_path(&path);
    let file = std::fs::File::create(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    let mut out = Hashing::new(BufWriter::with_capacity(1 << 20, file));
    let written = (|| -> anyhow::Result<u64> {
        out.write_all(&MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        let header = Header {
            mark: mark.clone(),
            applied: overlay.counts().records_applied,
            senders,
        };
        let options = element_options();
        options.serialize_into(&mut out, &header)?;
        out.write_all(&(ids.len() as u64).to_le_bytes())?;
        for id in ids {
            out.write_all(&id.to_le_bytes())?;
        }
        let ids_sum = out.hasher.digest128().to_le_bytes();
        out.write_all(&ids_sum)?;
        overlay.for_each_encoded_row(|state| {
            let entry = match state {
                EncodedState::Row(payload) => Entry::Row { payload },
                EncodedState::Deleted(key) => Entry::Deleted {
                    online: key.online.as_str().to_string(),
                    seq: key.seq,
                },
            };
            options.serialize_into(&mut out, &entry)
        })?;
        for (serial, linkage) in overlay.serial_states() {
            let entry = Entry::Serial {
                serial: serial.as_bytes(),
                linkage: linkage.map(|l| l.0),
            };
            options.serialize_into(&mut out, &entry)?;
        }
        for insurer in overlay.insurers() {
            options.serialize_into(&mut out, &insurer_entry(insurer))?;
        }
        options.serialize_into(&mut out, &Entry::End)?;
        let digest = out.hasher.digest128().to_le_bytes();
        out.inner.write_all(&digest)?;
        let file = out.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(file.metadata()?.len())
    })()
    .with_context(|| format!("cannot write {}", temporary.display()))?;
    publish_file(&temporary, &path)?;
    Ok(Written {
        through_lsn: mark.through_lsn,
        bytes: written,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn insurer_entry(insurer: &InsurerRow) -> Entry<'_> {
    Entry::Insurer {
        number: insurer.number.as_str().to_string(),
        name: insurer.name.clone(),
        address: insurer.address.clone(),
        phone: insurer.phone.clone(),
        postal_code: insurer.postal_code.clone(),
        abolished: insurer.abolished.map(Date::days),
    }
}

/// Reads the checkpoint in `dir` as an overlay over `base` (the snapshot
/// its mark names). `Ok(None)` when there is none; an error says why the
/// one there cannot be trusted.
pub fn read(dir: &Path, base: &Snapshot) -> Result<Option<Restored>, String> {
    let path = path_in(dir);
    // Read whole: its sum is checked before anything in it is decoded, and
    // the rows are restored from slices of it (a peak day's checkpoint is
    // a few hundred MB, read element by element it took seconds longer).
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot read ({e})", path.display())),
    };
    let (header, parts) = decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let overlay = Overlay::restore(
        base,
        &parts.rows,
        parts.serials,
        parts.insurers,
        header.mark.through_lsn,
        header.applied,
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(Restored {
        overlay,
        mark: header.mark,
        senders: header.senders,
    }))
}

/// Opens the checkpoint in `dir`; `Ok(None)` when there is none.
fn open(dir: &Path) -> Result<Option<(PathBuf, std::fs::File)>, String> {
    let path = path_in(dir);
    match std::fs::File::open(&path) {
        Ok(file) => Ok(Some((path, file))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: cannot open ({e})", path.display())),
    }
}

/// What the checkpoint in `dir` says it covers, read from its header only
/// (nothing of it is verified yet); `Ok(None)` when there is none.
pub fn read_mark(dir: &Path) -> Result<Option<CheckpointMark>, String> {
    let Some((path, file)) = open(dir)? else {
        return Ok(None);
    };
    decode_header(&mut BufReader::new(file))
        .map(|header| Some(header.mark))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The process ids of the journal records the checkpoint in `dir` covers,
/// with the LSN it covers, read and checked without its entries;
/// `Ok(None)` when there is none.
pub fn read_ids(dir: &Path) -> Result<Option<(u64, Vec<u128>)>, String> {
    let Some((path, file)) = open(dir)? else {
        return Ok(None);
    };
    let mut input = Hashing::new(BufReader::with_capacity(1 << 20, file));
    let (header, ids) =
        decode_prefix(&mut input).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some((header.mark.through_lsn, ids)))
}

/// The header and the process ids, checked against the sum after them.
fn decode_prefix<R: Read>(input: &mut Hashing<R>) -> Result<(Header, Vec<u128>), String> {
    let header = decode_header(&mut *input)?;
    let mut count = [0u8; 8];
    input
        .read_exact(&mut count)
        .map_err(|e| format!("process ids: {e}"))?;
    let count = u64::from_le_bytes(count);
    let mut ids = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(IDS_PER_READ));
    let mut chunk = vec![0u8; 16 * IDS_PER_READ];
    let mut left = count;
    while left > 0 {
        let take = left.min(IDS_PER_READ as u64) as usize;
        input
            .read_exact(&mut chunk[..16 * take])
            .map_err(|e| format!("process ids: {count} promised ({e})"))?;
        ids.extend(
            chunk[..16 * take]
                .chunks_exact(16)
                .map(|id| u128::from_le_bytes(id.try_into().unwrap_or_default())),
        );
        left -= take as u64;
    }
    let expected = input.hasher.digest128();
    let mut sum = [0u8; 16];
    input
        .read_exact(&mut sum)
        .map_err(|e| format!("process ids: no checksum ({e})"))?;
    if u128::from_le_bytes(sum) != expected {
        return Err("process ids: checksum mismatch (torn or damaged)".into());
    }
    Ok((header, ids))
}

fn decode_header(input: &mut impl Read) -> Result<Header, String> {
    let mut magic = [0u8; 12];
    input
        .read_exact(&mut magic)
        .map_err(|e| format!("no header ({e})"))?;
    if magic[..8] != MAGIC {
        return Err("not an overlay checkpoint".into());
    }
    let version = u32::from_le_bytes([magic[8], magic[9], magic[10], magic[11]]);
    if version != VERSION {
        return Err(format!("version {version}, this build reads {VERSION}"));
    }
    element_options()
        .deserialize_from(&mut *input)
        .map_err(|e| format!("header: {e}"))
}

/// The header and the entries of a whole checkpoint, once its trailer
/// matches.
fn decode(bytes: &[u8]) -> Result<(Header, Parts<'_>), String> {
    let body_len = bytes
        .len()
        .checked_sub(16)
        .ok_or_else(|| format!("{} bytes, too short", bytes.len()))?;
    let (body, trailer) = bytes.split_at(body_len);
    if trailer != xxhash_rust::xxh3::xxh3_128(body).to_le_bytes() {
        return Err(format!(
            "checksum mismatch over its {body_len} bytes (torn or damaged)"
        ));
    }
    let mut input = Hashing::new(body);
    let (header, _ids) = decode_prefix(&mut input)?;
    let mut rest = input.inner;
    let options = element_options().allow_trailing_bytes();
    let mut parts = Parts::default();
    loop {
        let entry: Entry<'_> = options
            .deserialize(rest)
            .map_err(|e| format!("entry {}: {e}", parts.count()))?;
        let used = options
            .serialized_size(&entry)
            .map_err(|e| format!("entry {}: {e}", parts.count()))?;
        rest = rest.get(used as usize..).unwrap_or_default();
        if !parts.take(entry)? {
            break;
        }
    }
    if !rest.is_empty() {
        return Err("bytes after the last entry".into());
    }
    Ok((header, parts))
}

/// The entries decoded so far.
#[derive(Default)]
struct Parts<'a> {
    rows: Vec<RestoredRow<'a>>,
    serials: Vec<(Serial, Option<LinkageNo>)>,
    insurers: Vec<InsurerRow>,
}

impl<'a> Parts<'a> {
    fn count(&self) -> usize {
        self.rows.len() + self.serials.len() + self.insurers.len()
    }

    /// Takes one entry; `false` at the end.
    fn take(&mut self, entry: Entry<'a>) -> Result<bool, String> {
        match entry {
            Entry::Row { payload } => self.rows.push(RestoredRow::Row(payload)),
            Entry::Deleted { online, seq } => {
                let online = OnlineNumber::parse(&online)
                    .map_err(|e| format!("entry {}: {e}", self.count()))?;
                self.rows.push(RestoredRow::Deleted(RowKey { online, seq }));
            }
            Entry::Serial { serial, linkage } => {
                let serial = Serial::from_be_bytes(serial)
                    .ok_or_else(|| format!("entry {}: not a serial", self.count()))?;
                self.serials.push((serial, linkage.map(LinkageNo)));
            }
            Entry::Insurer {
                number,
                name,
                address,
                phone,
                postal_code,
                abolished,
            } => {
                let number = InsurerNumber::parse(&number)
                    .map_err(|e| format!("entry {}: {e}", self.count()))?;
                self.insurers.push(InsurerRow {
                    number,
                    name,
                    address,
                    phone,
                    postal_code,
                    abolished: abolished.map(Date::from_days),
                });
            }
            Entry::End => return Ok(false),
        }
        Ok(true)
    }
}

/// A reader or writer that hashes what passes through it.
struct Hashing<T> {
    inner: T,
    hasher: Xxh3,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Hashing<T> {
        Hashing {
            inner,
            hasher: Xxh3::new(),
        }
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.hasher.update(&buffer[..read]);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EligibilityRow, TextField};
    use crate::updates::message::Change;
    use crate::updates::overlay::OverlayCounts;
    use crate::updates::testing::generated_snapshot;
    use std::sync::Arc;

    /// An overlay over `base` with a changed row, a deleted row, a linked
    /// and a retired serial, and an insurer.
    fn overlay(base: &Snapshot) -> Overlay {
        let mut overlay = Overlay::default();
        let stored = |number| base.person(number).unwrap().rows().next().unwrap().to_row();
        let row = stored(0);
        let mut texts = TextField::ALL.map(|field| row.text(field));
        texts[TextField::Name as usize] = "山田 太郎";
        let changed =
            EligibilityRow::new(7, texts, row.dates, row.codes, row.qualification_seq).unwrap();
        let deleted = RowKey::of(&stored(1)).unwrap();
        let insurer = InsurerRow {
            number: InsurerNumber::parse("06139018").unwrap(),
            name: "健保".into(),
            address: String::new(),
            phone: "03".into(),
            postal_code: String::new(),
            abolished: Some(Date::from_days(20_000)),
        };
        let changes = [
            Change::Upsert(Arc::new(changed)),
            Change::Delete(deleted),
            Change::Link {
                serial: Serial::from_be_bytes(&[0xFF; 20]).unwrap(),
                linkage: LinkageNo(u128::MAX),
            },
            Change::Renew {
                new_serial: Serial::from_be_bytes(&[2]).unwrap(),
                old_serial: Serial::from_be_bytes(&[1]).unwrap(),
            },
            Change::Insurer(Arc::new(insurer)),
        ];
        for (lsn, change) in changes.iter().enumerate() {
            overlay.apply(lsn as u64 + 1, change, base);
        }
        overlay
    }

    fn mark() -> CheckpointMark {
        CheckpointMark {
            snapshot_id: "s.1".into(),
            snapshot_content: "0123".into(),
            folded_through: 7,
            through_lsn: 5,
        }
    }

    fn ids() -> Vec<u128> {
        vec![1, u128::MAX, 42]
    }

    fn senders() -> BTreeMap<String, u64> {
        BTreeMap::from([("insurer-a".to_string(), 9)])
    }

    fn states(overlay: &Overlay, base: &Snapshot) -> String {
        // The hash maps iterate in an order of their own: compare sorted.
        let sorted = |mut items: Vec<String>| {
            items.sort();
            items
        };
        let rows = sorted(
            overlay
                .row_states(base)
                .map(|(k, r)| format!("{k:?}={r:?}"))
                .collect(),
        );
        let serials = sorted(overlay.serial_states().map(|s| format!("{s:?}")).collect());
        let insurers = sorted(overlay.insurers().map(|i| format!("{i:?}")).collect());
        let counts = OverlayCounts {
            row_bytes: 0,
            ..overlay.counts()
        };
        format!("{rows:?} {serials:?} {insurers:?} {counts:?}")
    }

    #[test]
    fn a_checkpoint_reads_back_as_the_overlay_written() {
        let (dir, base) = generated_snapshot(20, 2);
        assert!(read(dir.path(), &base).unwrap().is_none());
        let overlay = overlay(&base);
        let written = write(dir.path(), &mark(), &overlay, senders(), &ids()).unwrap();
        assert_eq!(written.through_lsn, 5);
        assert_eq!(read_mark(dir.path()), Ok(Some(mark())));
        assert_eq!(read_ids(dir.path()), Ok(Some((5, ids()))));
        let restored = read(dir.path(), &base).unwrap().unwrap();
        assert_eq!(restored.mark, mark());
        assert_eq!(restored.senders, senders());
        assert_eq!(states(&restored.overlay, &base), states(&overlay, &base));
        let row = base.person(0).unwrap().rows().next().unwrap().to_row();
        let face = crate::model::ids::face_index_key(
            row.text(TextField::InsurerNumber),
            row.text(TextField::CardSymbol),
            row.text(TextField::CardNumber),
        );
        assert_eq!(restored.overlay.rows_by_face(&face, &base).len(), 1);
        assert_eq!(
            restored.overlay.rows_of_person(LinkageNo(7), &base).len(),
            1
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|name| {
                name.to_str()
                    .is_some_and(|name| name.ends_with("checkpoint"))
            })
            .collect();
        assert_eq!(names, [CHECKPOINT_FILE]);
    }

    #[test]
    fn a_torn_or_flipped_checkpoint_is_refused_never_trusted() {
        let (dir, base) = generated_snapshot(20, 2);
        write(dir.path(), &mark(), &overlay(&base), senders(), &ids()).unwrap();
        let path = path_in(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        for cut in [
            0,
            5,
            12,
            40,
            bytes.len() / 2,
            bytes.len() - 17,
            bytes.len() - 1,
        ] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let error = read(dir.path(), &base)
                .err()
                .unwrap_or_else(|| panic!("cut at {cut} was trusted"));
            assert!(error.contains(CHECKPOINT_FILE), "{error}");
        }
        for at in (0..bytes.len()).step_by(7) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x10;
            std::fs::write(&path, &flipped).unwrap();
            assert!(
                read(dir.path(), &base).is_err(),
                "a flip at {at} was trusted"
            );
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 8]);
        std::fs::write(&path, &longer).unwrap();
        assert!(read(dir.path(), &base).is_err());
    }

    #[test]
    fn damaged_process_ids_are_refused_and_damaged_entries_do_not_spoil_them() {
        let (dir, base) = generated_snapshot(20, 2);
        write(dir.path(), &mark(), &overlay(&base), senders(), &ids()).unwrap();
        let path = path_in(dir.path());
        let bytes = std::fs::read(&path).unwrap();
        let header_len = 12 + bincode_len();
        let ids_end = header_len + 8 + 16 * ids().len() + 16;
        for at in (0..ids_end).step_by(3) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x04;
            std::fs::write(&path, &flipped).unwrap();
            assert!(read_ids(dir.path()).is_err(), "a flip at {at} was trusted");
        }
        let mut flipped = bytes.clone();
        flipped[ids_end + 2] ^= 0x04;
        std::fs::write(&path, &flipped).unwrap();
        assert_eq!(read_ids(dir.path()), Ok(Some((5, ids()))));
        assert!(read(dir.path(), &base).is_err());
        // A count of 2^60 ids ends at the end of the file, not in an allocation.
        let mut huge = bytes[..header_len].to_vec();
        huge.extend_from_slice(&(1u64 << 60).to_le_bytes());
        std::fs::write(&path, &huge).unwrap();
        assert!(read_ids(dir.path()).unwrap_err().contains("process ids"));
    }

    /// Length of the encoded header of [`mark`] and [`senders`].
    fn bincode_len() -> usize {
        let header = Header {
            mark: mark(),
            applied: 40,
            senders: senders(),
        };
        element_options().serialized_size(&header).unwrap() as usize
    }

    #[test]
    fn a_huge_length_fails_without_allocating_it() {
        let (dir, base) = generated_snapshot(20, 2);
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        // A header whose snapshot id claims 2^60 bytes.
        bytes.extend_from_slice(&(1u64 << 60).to_le_bytes());
        bytes.extend_from_slice(&[0; 64]);
        std::fs::write(path_in(dir.path()), &bytes).unwrap();
        for error in [
            read_mark(dir.path()).unwrap_err(),
            read_ids(dir.path()).unwrap_err(),
        ] {
            assert!(error.contains("header"), "{error}");
        }
        // The same with a matching sum: read whole, it still fails on the length.
        let sum = xxhash_rust::xxh3::xxh3_128(&bytes).to_le_bytes();
        bytes.extend_from_slice(&sum);
        std::fs::write(path_in(dir.path()), &bytes).unwrap();
        let error = read(dir.path(), &base).err().unwrap();
        assert!(error.contains("header"), "{error}");
    }
}

//! Phase 3: per person partition (rows and links grouped by linkage
//! number), gather each person's rows and serials into one block and send
//! it to the partition of the shard it is placed in: the shard of the card
//! face of the person's newest row, so that a household (one card face,
//! several persons) ends up together. Serials linked to a linkage number
//! without rows go straight to their key partition.

use super::temp::{
    encode_person_record, encode_unmatched, take_links, take_rows, PartitionFiles, RowRecord,
};
use crate::model::ids::{face_index_key, FaceIndexKey};
use crate::model::record::{newest_first, RowOrder};
use crate::model::{Date, DateField, LinkageNo, Serial, TextField};
use crate::snapshot::codec::block::{encode_block, MAX_ROWS_PER_PERSON};
use crate::snapshot::codec::dictionary::NoDictionary;
use crate::snapshot::codec::reader::{decode_row, RowReader};
use crate::snapshot::format::KeyHash;
use crate::snapshot::verify::ContentDigest;
use crate::source::BadRow;
use smallvec::SmallVec;
use std::path::Path;

/// What grouping one person partition produced besides its records.
#[derive(Default)]
pub(super) struct Grouped {
    pub bad_rows: Vec<BadRow>,
    /// Rows dropped as duplicates, to take out of the digest of accepted input.
    pub dropped: ContentDigest,
    /// Serials linked to a linkage number without rows.
    pub unmatched: u64,
}

/// What orders and identifies a stored row, read without decoding it.
struct RowKey {
    linkage: LinkageNo,
    online: SmallVec<[u8; 24]>,
    seq: u32,
    acquired: Option<Date>,
    line: u64,
    row: std::ops::Range<usize>,
}

impl RowKey {
    fn read(bytes: &[u8], record: RowRecord) -> Option<RowKey> {
        let stored = bytes.get(record.row.clone())?;
        let mut reader = RowReader::new(stored, NoDictionary)?;
        let head = *reader.head();
        let online = reader.online_number()?;
        Some(RowKey {
            linkage: record.linkage,
            online,
            seq: head.qualification_seq,
            acquired: head.dates[DateField::Acquired as usize].map(Date::from_days),
            line: record.line,
            row: record.row,
        })
    }

    fn online(&self) -> &str {
        std::str::from_utf8(&self.online).unwrap_or("")
    }

    fn order(&self) -> RowOrder<'_> {
        (self.acquired, self.seq, self.online())
    }
}

/// The card face of a stored row in index form (what places its person).
pub(super) fn stored_face(stored: &[u8]) -> Option<FaceIndexKey> {
    face_of(&mut RowReader::new(stored, NoDictionary)?)
}

/// The card face of the row being read, in index form.
pub(super) fn face_of(reader: &mut RowReader<'_, NoDictionary>) -> Option<FaceIndexKey> {
    reader.read_through(TextField::CardNumber)?;
    let text = |field| std::str::from_utf8(reader.field(field)).ok();
    Some(face_index_key(
        text(TextField::InsurerNumber)?,
        text(TextField::CardSymbol)?,
        text(TextField::CardNumber)?,
    ))
}

/// Groups one person partition into person records.
pub(super) fn group_persons(
    rows_partition: &Path,
    links_partition: &Path,
    placed: &PartitionFiles,
    keys: &PartitionFiles,
    shards: u32,
) -> anyhow::Result<Grouped> {
    let (bytes, records) = take_rows(rows_partition)?;
    let damaged = || {
        anyhow::anyhow!(
            "{}: a temporary build file is damaged (was it changed during the build?)",
            rows_partition.display()
        )
    };
    let mut rows = records
        .into_iter()
        .map(|record| RowKey::read(&bytes, record))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(damaged)?;
    let mut links = take_links(links_partition)?;
    links.sort_unstable_by_key(|link| (link.linkage, link.serial));
    let mut grouped = Grouped::default();
    drop_duplicates(&bytes, &mut rows, &mut grouped)?;
    let mut placed_buffers = vec![Vec::new(); shards as usize];
    let mut key_buffers = vec![Vec::new(); shards as usize];
    let mut block = Vec::with_capacity(512);
    let mut links = links.as_slice();
    for person_rows in rows.chunk_by_mut(|a, b| a.linkage == b.linkage) {
        let linkage = person_rows[0].linkage;
        while let Some((link, rest)) = links.split_first().filter(|(l, _)| l.linkage < linkage) {
            unmatched(&link.serial, link.linkage, &mut key_buffers, shards);
            grouped.unmatched += 1;
            links = rest;
        }
        let split = links.partition_point(|link| link.linkage == linkage);
        let serials: Vec<Serial> = links[..split].iter().map(|link| link.serial).collect();
        links = &links[split..];
        if person_rows.len() > MAX_ROWS_PER_PERSON {
            anyhow::bail!(
                "linkage_no {linkage}: {} rows, more than the {MAX_ROWS_PER_PERSON} one person may have",
                person_rows.len()
            );
        }
        person_rows.sort_by(|a, b| newest_first(a.order(), b.order()));
        let stored: Vec<&[u8]> = person_rows
            .iter()
            .map(|row| &bytes[row.row.clone()])
            .collect();
        block.clear();
        encode_block(linkage, &serials, &stored, &mut block);
        let face = stored_face(stored[0]).ok_or_else(damaged)?;
        let shard = KeyHash::of(&face).shard(shards);
        encode_person_record(&block, &mut placed_buffers[shard as usize]);
    }
    for link in links {
        unmatched(&link.serial, link.linkage, &mut key_buffers, shards);
        grouped.unmatched += 1;
    }
    placed.append_all(&placed_buffers)?;
    keys.append_all(&key_buffers)?;
    Ok(grouped)
}

fn unmatched(serial: &Serial, linkage: LinkageNo, buffers: &mut [Vec<u8>], shards: u32) {
    let hash = KeyHash::of(serial.as_bytes());
    encode_unmatched(
        hash.low as u32,
        hash.fingerprint,
        serial,
        linkage,
        &mut buffers[hash.shard(shards) as usize],
    );
}

/// Sorts by person and row identity and drops a row whose (online number,
/// qualification_seq) repeats one of the same person on an earlier line.
fn drop_duplicates(
    bytes: &[u8],
    rows: &mut Vec<RowKey>,
    grouped: &mut Grouped,
) -> anyhow::Result<()> {
    rows.sort_unstable_by(|a, b| {
        (a.linkage, &a.online, a.seq, a.line).cmp(&(b.linkage, &b.online, b.seq, b.line))
    });
    let mut dropped = Vec::new();
    rows.dedup_by(|later, earlier| {
        let same = later.linkage == earlier.linkage
            && later.seq == earlier.seq
            && later.online == earlier.online;
        if same {
            dropped.push((later.linkage, later.row.clone()));
            grouped.bad_rows.push(BadRow {
                file: super::Sources::ELIGIBILITY.into(),
                line: later.line,
                reason: format!(
                    "online number {} with qualification_seq {} is already given at line {}",
                    later.online(),
                    later.seq,
                    earlier.line
                ),
            });
        }
        same
    });
    for (linkage, range) in dropped {
        let row = decode_row(&bytes[range], linkage.0, &NoDictionary)
            .ok_or_else(|| anyhow::anyhow!("a temporary build file is damaged"))?;
        grouped.dropped.add_row(&row);
    }
    Ok(())
}

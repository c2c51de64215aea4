//! Phases 4 and 5: count the text pieces of every placement partition into
//! the snapshot's dictionary, then turn each partition into a person shard:
//! order its persons by household (card face of the newest row, then
//! linkage number), write every block again with the dictionary, and emit
//! the keys of every person (online numbers, card faces, linkage number,
//! serials) to the key partitions.

use super::group::{face_of, stored_face};
use super::temp::{encode_key, read_persons, take_persons, KeyEntry, KeyKind, PartitionFiles};
use crate::model::ids::FaceIndexKey;
use crate::model::{LinkageNo, Serial, TextField};
use crate::snapshot::codec::block::{encode_block, Block};
use crate::snapshot::codec::dictionary::{
    Dictionary, DictionaryBuilder, NoDictionary, PieceCounts,
};
use crate::snapshot::codec::reader::{transcode_row, RowReader};
use crate::snapshot::format::{KeyHash, PersonShard, TextDictionary};
use crate::snapshot::manifest::{person_file, DICTIONARY_FILE};
use crate::storage::archive::write_archive;
use crate::storage::{FileEntry, FileKind};
use anyhow::Context;
use smallvec::SmallVec;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

/// What building one person shard produced.
pub(super) struct PersonShardBuilt {
    pub file: FileEntry,
    pub persons: u64,
    pub tally: ShardTally,
}

/// What the persons of a shard hold.
#[derive(Default)]
pub(super) struct ShardTally {
    pub rows: u64,
    /// Online-number and card-face keys (one per person each key leads to).
    pub online_keys: u64,
    pub face_keys: u64,
    pub serials: u64,
    /// Insurer numbers the shard's rows use (to check against the master).
    pub insurer_numbers: HashSet<String>,
}

/// A person read back from a placement partition: its block, the rows in
/// it (stored without a dictionary) and where it goes in the shard.
struct Placed<'b> {
    block: Block<'b>,
    rows: Vec<&'b [u8]>,
    /// Households first (hash of the newest row's card face), then linkage.
    order: (u64, LinkageNo),
}

fn damaged(partition: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "{}: a temporary build file is damaged (was it changed during the build?)",
        partition.display()
    )
}

fn read_placed<'b>(
    partition: &Path,
    bytes: &'b [u8],
    ranges: Vec<std::ops::Range<usize>>,
) -> anyhow::Result<Vec<Placed<'b>>> {
    ranges
        .into_iter()
        .map(|range| placed(&bytes[range]))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| damaged(partition))
}

/// Counts the text pieces of one placement partition (leaving the file for
/// [`build_person_shard`]) and adds those that repeat to `dictionary`.
pub(super) fn count_pieces(
    partition: &Path,
    dictionary: &Mutex<DictionaryBuilder>,
) -> anyhow::Result<()> {
    let (bytes, ranges) = read_persons(partition)?;
    let mut counts = PieceCounts::new();
    for range in ranges {
        // Only the rows' text is needed here, not where the person goes.
        let block = Block::parse(&bytes[range]).ok_or_else(|| damaged(partition))?;
        for row in block.row_bytes() {
            counts.count(row);
        }
    }
    dictionary
        .lock()
        .map_err(|_| anyhow::anyhow!("a build worker panicked while counting"))?
        .add(&counts);
    Ok(())
}

/// Builds person shard `shard` from its placement partition, its rows
/// written with the snapshot's `dictionary`.
pub(super) fn build_person_shard(
    partition: &Path,
    dictionary: &Dictionary,
    out_dir: &Path,
    shard: u32,
    shards: u32,
    keys: &PartitionFiles,
) -> anyhow::Result<PersonShardBuilt> {
    let (bytes, ranges) = take_persons(partition)?;
    let mut persons = read_placed(partition, &bytes, ranges)?;
    persons.sort_unstable_by_key(|person| person.order);
    let damaged = || damaged(partition);
    let mut built = PersonShard {
        shard,
        ..PersonShard::default()
    };
    let mut key_buffers = vec![Vec::new(); shards as usize];
    let mut tally = ShardTally::default();
    let mut transcoded = Vec::with_capacity(1024);
    let mut row_ends = Vec::with_capacity(8);
    for (local, person) in persons.iter().enumerate() {
        transcoded.clear();
        row_ends.clear();
        for row in &person.rows {
            transcode_row(row, dictionary, &mut transcoded).ok_or_else(damaged)?;
            row_ends.push(transcoded.len());
        }
        let rows: Vec<&[u8]> = row_ends
            .iter()
            .scan(0, |start, &end| {
                let row = &transcoded[*start..end];
                *start = end;
                Some(row)
            })
            .collect();
        let serials: Vec<Serial> = person.block.serials().collect();
        encode_block(person.block.linkage(), &serials, &rows, &mut built.blocks);
        let end = u32::try_from(built.blocks.len()).ok().with_context(|| {
            format!(
                "{}: more than 4 GiB of persons in one shard; build with more --shards",
                person_file(shard)
            )
        })?;
        built.block_ends.push(end);
        let key = PersonKey {
            shard,
            local: local as u32,
        };
        emit_keys(person, &serials, key, shards, &mut key_buffers, &mut tally)
            .ok_or_else(damaged)?;
    }
    keys.append_all(&key_buffers)?;
    let size_hint = built.blocks.len() + built.block_ends.len() * 4 + 4096;
    let file = write_archive(
        out_dir,
        &person_file(shard),
        FileKind::Persons,
        &built,
        size_hint,
    )?;
    Ok(PersonShardBuilt {
        file,
        persons: persons.len() as u64,
        tally,
    })
}

/// Writes the snapshot's text dictionary.
pub(super) fn write_dictionary(
    out_dir: &Path,
    dictionary: &Dictionary,
) -> anyhow::Result<FileEntry> {
    let stored = TextDictionary {
        text: dictionary.text().to_vec(),
        ends: dictionary.ends().to_vec(),
    };
    let size_hint = stored.text.len() + stored.ends.len() * 4 + 4096;
    write_archive(
        out_dir,
        DICTIONARY_FILE,
        FileKind::Dictionary,
        &stored,
        size_hint,
    )
}

fn placed(bytes: &[u8]) -> Option<Placed<'_>> {
    let block = Block::parse(bytes)?;
    let rows: Vec<&[u8]> = block.row_bytes().collect();
    if rows.is_empty() || rows.len() != block.row_count() as usize {
        return None;
    }
    let face = stored_face(rows[0])?;
    Some(Placed {
        block,
        rows,
        order: (KeyHash::of(&face).low, block.linkage()),
    })
}

/// Where a person is in the build: person shard and place in it.
#[derive(Clone, Copy)]
struct PersonKey {
    shard: u32,
    local: u32,
}

fn emit_keys(
    person: &Placed<'_>,
    serials: &[Serial],
    at: PersonKey,
    shards: u32,
    buffers: &mut [Vec<u8>],
    stats: &mut ShardTally,
) -> Option<()> {
    let mut emit = |kind: KeyKind, key: &[u8]| {
        let hash = KeyHash::of(key);
        let entry = KeyEntry {
            kind,
            home: hash.low as u32,
            fingerprint: hash.fingerprint,
            shard: at.shard,
            local: at.local,
        };
        encode_key(&entry, &mut buffers[hash.shard(shards) as usize]);
    };
    emit(KeyKind::Linkage, &person.block.linkage().index_key());
    for serial in serials {
        emit(KeyKind::Serial, serial.as_bytes());
    }
    let mut online: SmallVec<[SmallVec<[u8; 24]>; 4]> = SmallVec::new();
    let mut faces: SmallVec<[FaceIndexKey; 4]> = SmallVec::new();
    for stored in &person.rows {
        stats.rows += 1;
        let mut reader = RowReader::new(stored, NoDictionary)?;
        let number = reader.online_number()?;
        if !online.contains(&number) {
            online.push(number);
        }
        let face = face_of(&mut reader)?;
        if !faces.contains(&face) {
            faces.push(face);
        }
        let insurer = std::str::from_utf8(reader.field(TextField::InsurerNumber)).ok()?;
        if !stats.insurer_numbers.contains(insurer) {
            stats.insurer_numbers.insert(insurer.to_string());
        }
    }
    for number in &online {
        emit(KeyKind::Online, number);
    }
    for face in &faces {
        emit(KeyKind::Face, face);
    }
    stats.online_keys += online.len() as u64;
    stats.face_keys += faces.len() as u64;
    stats.serials += serials.len() as u64;
    Some(())
}

//! Phase 4: turn one placement partition into a person shard: order its
//! persons by household (card face of the newest row, then linkage number),
//! count the text pieces into the shard's dictionary, write every block
//! again with it, and emit the keys of every person (online numbers, card
//! faces, linkage number, serials) to the key partitions.

use super::group::placement_key;
use super::temp::{encode_key, take_persons, KeyEntry, KeyKind, PartitionFiles};
use crate::model::{EligibilityRow, LinkageNo, Serial, TextField};
use crate::snapshot::codec::block::{encode_block, Block};
use crate::snapshot::codec::dictionary::{DictionaryBuilder, NoDictionary};
use crate::snapshot::format::{KeyHash, PersonShard};
use crate::snapshot::manifest::person_file;
use crate::storage::archive::write_archive;
use crate::storage::{FileEntry, FileKind};
use anyhow::{bail, Context};
use smallvec::SmallVec;
use std::collections::BTreeSet;
use std::path::Path;

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
    pub insurer_numbers: BTreeSet<String>,
}

struct Person {
    linkage: LinkageNo,
    serials: Vec<Serial>,
    rows: Vec<EligibilityRow>,
}

/// Builds person shard `shard` from its placement partition.
pub(super) fn build_person_shard(
    partition: &Path,
    out_dir: &Path,
    shard: u32,
    shards: u32,
    keys: &PartitionFiles,
) -> anyhow::Result<PersonShardBuilt> {
    let mut persons = read_persons(partition)?;
    persons.sort_by_cached_key(|person| (placement_key(&person.rows[0]), person.linkage));
    let mut counter = DictionaryBuilder::new();
    for row in persons.iter().flat_map(|person| &person.rows) {
        counter.count(row);
    }
    let dictionary = counter.finish();
    let mut built = PersonShard {
        shard,
        dictionary_text: dictionary.text().to_vec(),
        dictionary_ends: dictionary.ends().to_vec(),
        ..PersonShard::default()
    };
    let mut key_buffers = vec![Vec::new(); shards as usize];
    let mut tally = ShardTally::default();
    for (local, person) in persons.iter().enumerate() {
        let rows: Vec<&EligibilityRow> = person.rows.iter().collect();
        encode_block(
            person.linkage,
            &person.serials,
            &rows,
            &dictionary,
            &mut built.blocks,
        );
        let end = u32::try_from(built.blocks.len()).ok().with_context(|| {
            format!(
                "{}: more than 4 GiB of persons in one shard; build with more --shards",
                person_file(shard)
            )
        })?;
        built.block_ends.push(end);
        emit_keys(
            person,
            shard,
            local as u32,
            shards,
            &mut key_buffers,
            &mut tally,
        );
    }
    keys.append_all(&key_buffers)?;
    let size_hint = built.blocks.len()
        + built.block_ends.len() * 4
        + built.dictionary_text.len()
        + built.dictionary_ends.len() * 4
        + 4096;
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

fn read_persons(partition: &Path) -> anyhow::Result<Vec<Person>> {
    let (bytes, ranges) = take_persons(partition)?;
    ranges
        .into_iter()
        .map(|range| {
            let person = Block::parse(&bytes[range]).and_then(|block| {
                let rows = block
                    .row_bytes()
                    .map(|row| block.decode(row, &NoDictionary))
                    .collect::<Option<Vec<_>>>()?;
                (rows.len() == block.row_count() as usize && !rows.is_empty()).then(|| Person {
                    linkage: block.linkage(),
                    serials: block.serials().collect(),
                    rows,
                })
            });
            match person {
                Some(person) => Ok(person),
                None => bail!(
                    "{}: a temporary build file is damaged (was it changed during the build?)",
                    partition.display()
                ),
            }
        })
        .collect()
}

fn emit_keys(
    person: &Person,
    shard: u32,
    local: u32,
    shards: u32,
    buffers: &mut [Vec<u8>],
    stats: &mut ShardTally,
) {
    let mut emit = |kind: KeyKind, key: &[u8]| {
        let hash = KeyHash::of(key);
        let entry = KeyEntry {
            kind,
            home: hash.low as u32,
            fingerprint: hash.fingerprint,
            shard,
            local,
        };
        encode_key(&entry, &mut buffers[hash.shard(shards) as usize]);
    };
    emit(KeyKind::Linkage, &person.linkage.index_key());
    for serial in &person.serials {
        emit(KeyKind::Serial, serial.as_bytes());
    }
    let mut online: SmallVec<[&str; 4]> = SmallVec::new();
    let mut faces: SmallVec<[crate::model::ids::FaceIndexKey; 4]> = SmallVec::new();
    for row in &person.rows {
        stats.rows += 1;
        let number = row.text(TextField::OnlineNumber);
        if !online.contains(&number) {
            online.push(number);
        }
        let face = placement_key(row);
        if !faces.contains(&face) {
            faces.push(face);
        }
        let insurer = row.text(TextField::InsurerNumber);
        if !stats.insurer_numbers.contains(insurer) {
            stats.insurer_numbers.insert(insurer.to_string());
        }
    }
    for number in &online {
        emit(KeyKind::Online, number.as_bytes());
    }
    for face in &faces {
        emit(KeyKind::Face, face);
    }
    stats.online_keys += online.len() as u64;
    stats.face_keys += faces.len() as u64;
    stats.serials += person.serials.len() as u64;
}

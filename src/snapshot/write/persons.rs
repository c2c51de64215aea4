//! Phase 2: turn one person partition into a person shard (persons, rows,
//! text arena, linkage index) and emit the row locations of its online
//! numbers and card faces to the key partitions.

use super::temp::{encode_key, read_rows, KeyKind, LinedRow, PartitionFiles};
use crate::model::record::newest_first;
use crate::model::{EligibilityRow, LinkageNo, TextField};
use crate::snapshot::format::{
    build_index, key_hash, shard_of, Loc, PersonEntry, PersonShard, RowEntry, NO_DATE,
};
use crate::snapshot::manifest::person_file;
use crate::source::BadRow;
use crate::storage::archive::write_archive;
use crate::storage::{FileEntry, FileKind};
use std::collections::BTreeSet;
use std::path::Path;

/// What building one person shard produced.
pub(super) struct PersonShardBuilt {
    pub file: FileEntry,
    pub persons: u64,
    pub rows: u64,
    pub bad_rows: Vec<BadRow>,
    /// Insurer numbers the shard's rows use (to check against the master).
    pub insurer_numbers: BTreeSet<String>,
}

/// Builds person shard `shard` from its partition file.
pub(super) fn build_person_shard(
    partition: &Path,
    out_dir: &Path,
    shard: u32,
    shards: u32,
    keys: &PartitionFiles,
) -> anyhow::Result<PersonShardBuilt> {
    let mut rows = read_rows(partition)?;
    let bad_rows = drop_duplicates(&mut rows);
    let mut built = PersonShard {
        shard,
        ..PersonShard::default()
    };
    let mut linkage_entries = Vec::new();
    let mut key_buffers: Vec<Vec<u8>> = vec![Vec::new(); shards as usize];
    let mut insurer_numbers = BTreeSet::new();
    for person_rows in rows.chunk_by_mut(|a, b| a.1.linkage_no == b.1.linkage_no) {
        person_rows.sort_by(|a, b| newest_first(a.1.order(), b.1.order()));
        let person_index = built.persons.len() as u32;
        let linkage = LinkageNo(person_rows[0].1.linkage_no);
        linkage_entries.push((key_hash(&linkage.index_key()), u64::from(person_index)));
        built.persons.push(PersonEntry {
            linkage_lo: linkage.0 as u64,
            linkage_hi: (linkage.0 >> 64) as u64,
            first_row: built.rows.len() as u32,
            row_count: person_rows.len() as u32,
        });
        for (line, row) in person_rows.iter() {
            let loc = Loc {
                shard,
                index: built.rows.len() as u32,
            };
            emit_keys(row, loc, *line, shards, &mut key_buffers);
            if !insurer_numbers.contains(row.text(TextField::InsurerNumber)) {
                insurer_numbers.insert(row.text(TextField::InsurerNumber).to_string());
            }
            let entry = row_entry(row, person_index, &mut built.text);
            built.rows.push(entry);
        }
    }
    built.linkage_index = build_index(&mut linkage_entries);
    for (key_shard, buffer) in key_buffers.iter().enumerate() {
        if !buffer.is_empty() {
            keys.append(key_shard as u32, buffer)?;
        }
    }
    let size_hint = built.rows.len() * std::mem::size_of::<RowEntry>()
        + built.persons.len() * std::mem::size_of::<PersonEntry>()
        + built.linkage_index.len() * 16
        + built.text.len()
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
        persons: built.persons.len() as u64,
        rows: built.rows.len() as u64,
        bad_rows,
        insurer_numbers,
    })
}

/// Sorts by person and row identity and drops a row whose (online number,
/// qualification_seq) repeats one of the same person on an earlier line.
fn drop_duplicates(rows: &mut Vec<LinedRow>) -> Vec<BadRow> {
    rows.sort_by(|(line_a, a), (line_b, b)| {
        (
            a.linkage_no,
            a.text(TextField::OnlineNumber),
            a.qualification_seq,
            line_a,
        )
            .cmp(&(
                b.linkage_no,
                b.text(TextField::OnlineNumber),
                b.qualification_seq,
                line_b,
            ))
    });
    let mut bad = Vec::new();
    rows.dedup_by(|later, earlier| {
        let same = later.1.linkage_no == earlier.1.linkage_no
            && later.1.qualification_seq == earlier.1.qualification_seq
            && later.1.text(TextField::OnlineNumber) == earlier.1.text(TextField::OnlineNumber);
        if same {
            bad.push(BadRow {
                file: super::Sources::ELIGIBILITY.into(),
                line: later.0,
                reason: format!(
                    "online number {} with qualification_seq {} is already given at line {}",
                    later.1.text(TextField::OnlineNumber),
                    later.1.qualification_seq,
                    earlier.0
                ),
            });
        }
        same
    });
    bad
}

/// Row order within a person: newest acquisition first; ties by higher
/// qualification_seq, then online number, so the order is deterministic.
fn emit_keys(row: &EligibilityRow, loc: Loc, line: u64, shards: u32, buffers: &mut [Vec<u8>]) {
    let online = key_hash(row.text(TextField::OnlineNumber).as_bytes());
    encode_key(
        KeyKind::Online,
        online,
        loc.pack(),
        line,
        &mut buffers[shard_of(online, shards) as usize],
    );
    let face_key = crate::model::ids::face_index_key(
        row.text(TextField::InsurerNumber),
        row.text(TextField::CardSymbol),
        row.text(TextField::CardNumber),
    );
    let face = key_hash(&face_key);
    encode_key(
        KeyKind::Face,
        face,
        loc.pack(),
        line,
        &mut buffers[shard_of(face, shards) as usize],
    );
}

fn row_entry(row: &EligibilityRow, person: u32, text: &mut Vec<u8>) -> RowEntry {
    let text_start = text.len() as u64;
    let (row_text, text_ends) = row.text_parts();
    text.extend_from_slice(row_text.as_bytes());
    RowEntry {
        person,
        qualification_seq: row.qualification_seq,
        dates: row.dates.map(|date| date.unwrap_or(NO_DATE)),
        codes: row.codes,
        text_start,
        text_ends: *text_ends,
    }
}

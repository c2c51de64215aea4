//! Phase 3: build one key shard: the online-number and card-face indexes
//! from the entries phase 2 emitted, and the serial entries (resolved to
//! person locations through the finished person shards).

use super::temp::{read_keys, read_links, KeyKind, LinkEntry};
use crate::snapshot::format::{build_index, key_hash, KeyShard, SerialEntry, NO_PERSON};
use crate::snapshot::manifest::keys_file;
use crate::snapshot::open::PersonShards;
use crate::source::BadRow;
use crate::storage::archive::write_archive;
use crate::storage::{FileEntry, FileKind};
use std::path::Path;

/// What building one key shard produced.
pub(super) struct KeyShardBuilt {
    pub file: FileEntry,
    pub online_entries: u64,
    pub face_entries: u64,
    pub serials: u64,
    pub serials_without_rows: u64,
    pub bad_rows: Vec<BadRow>,
}

pub(super) fn build_key_shard(
    keys_partition: &Path,
    links_partition: &Path,
    out_dir: &Path,
    shard: u32,
    persons: &PersonShards,
) -> anyhow::Result<KeyShardBuilt> {
    let mut online = Vec::new();
    let mut face = Vec::new();
    for entry in read_keys(keys_partition)? {
        let list = if entry.kind == KeyKind::Online as u8 {
            &mut online
        } else {
            &mut face
        };
        list.push((entry.hash, entry.target));
    }
    let (links, bad_rows) = unique_links(read_links(links_partition)?);
    let mut built = KeyShard {
        shard,
        online_index: build_index(&mut online),
        face_index: build_index(&mut face),
        ..KeyShard::default()
    };
    let mut serial_entries = Vec::with_capacity(links.len());
    let mut serials_without_rows = 0;
    for link in &links {
        let person = persons
            .person_by_linkage(link.linkage)
            .map_or(NO_PERSON, |p| p.loc().pack());
        serials_without_rows += u64::from(person == NO_PERSON);
        serial_entries.push((key_hash(link.serial.as_bytes()), built.serials.len() as u64));
        built.serials.push(serial_entry(link, person));
    }
    built.serial_index = build_index(&mut serial_entries);
    let slots = built.online_index.len() + built.face_index.len() + built.serial_index.len();
    let size_hint = slots * 16 + built.serials.len() * std::mem::size_of::<SerialEntry>() + 4096;
    let file = write_archive(
        out_dir,
        &keys_file(shard),
        FileKind::Keys,
        &built,
        size_hint,
    )?;
    Ok(KeyShardBuilt {
        file,
        online_entries: online.len() as u64,
        face_entries: face.len() as u64,
        serials: built.serials.len() as u64,
        serials_without_rows,
        bad_rows,
    })
}

/// Sorts links by serial and keeps the first line of each serial. A repeat
/// for the same person is harmless and dropped; a serial linked to two
/// persons is a bad row (the later line).
pub(super) fn unique_links(mut links: Vec<LinkEntry>) -> (Vec<LinkEntry>, Vec<BadRow>) {
    links.sort_by_key(|link| (link.serial, link.line));
    let mut bad = Vec::new();
    links.dedup_by(|later, earlier| {
        if later.serial != earlier.serial {
            return false;
        }
        if later.linkage != earlier.linkage {
            bad.push(BadRow {
                file: super::Sources::LINKAGE.into(),
                line: later.line,
                reason: format!(
                    "serial: {} is already linked to linkage_no {} at line {} (after renewals)",
                    later.serial, earlier.linkage, earlier.line
                ),
            });
        }
        true
    });
    (links, bad)
}

fn serial_entry(link: &LinkEntry, person: u64) -> SerialEntry {
    let bytes = link.serial.as_bytes();
    let mut serial = [0u8; 20];
    serial[..bytes.len()].copy_from_slice(bytes);
    SerialEntry {
        serial,
        serial_len: bytes.len() as u32,
        linkage_lo: link.linkage.0 as u64,
        linkage_hi: (link.linkage.0 >> 64) as u64,
        person,
    }
}

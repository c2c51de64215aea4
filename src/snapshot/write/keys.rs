//! Phase 5: build one key shard: its four indexes from the entries phase 4
//! emitted (person shard and place → person number), and the table of
//! serials linked to a linkage number without rows.

use super::temp::{take_keys, KeyKind};
use crate::snapshot::format::{build_index, KeyShard, UNMATCHED};
use crate::snapshot::lookup::push_unmatched;
use crate::snapshot::manifest::keys_file;
use crate::storage::archive::write_archive;
use crate::storage::{FileEntry, FileKind};
use anyhow::bail;
use std::path::Path;

/// What building one key shard produced.
pub(super) struct KeyShardBuilt {
    pub file: FileEntry,
    pub unmatched: u64,
}

/// Builds key shard `shard`; `first_person[s]` is the number of person
/// shard `s`'s first person.
pub(super) fn build_key_shard(
    partition: &Path,
    out_dir: &Path,
    shard: u32,
    first_person: &[u32],
) -> anyhow::Result<KeyShardBuilt> {
    let entries = take_keys(partition)?;
    let mut lists: [Vec<(u32, u16, u32)>; 4] = Default::default();
    for entry in &entries.keyed {
        let Some(first) = first_person.get(entry.shard as usize) else {
            bail!(
                "{}: a key names person shard {}, which does not exist",
                partition.display(),
                entry.shard
            );
        };
        let list = match entry.kind {
            KeyKind::Online => 0,
            KeyKind::Face => 1,
            KeyKind::Linkage => 2,
            KeyKind::Serial | KeyKind::Unmatched => 3,
        };
        lists[list].push((entry.home, entry.fingerprint, first + entry.local));
    }
    let mut unmatched = Vec::new();
    for (home, fingerprint, serial, linkage) in &entries.unmatched {
        let offset = push_unmatched(&mut unmatched, serial.as_bytes(), *linkage);
        if offset >= UNMATCHED {
            bail!(
                "{}: too many serials without rows in one key shard; build with more --shards",
                keys_file(shard)
            );
        }
        lists[3].push((*home, *fingerprint, UNMATCHED | offset));
    }
    let [online, face, linkage, serial] = lists.each_mut().map(|list| build_index(list));
    let built = KeyShard {
        shard,
        online_index: online,
        face_index: face,
        linkage_index: linkage,
        serial_index: serial,
        unmatched,
    };
    let slots = built.online_index.len()
        + built.face_index.len()
        + built.linkage_index.len()
        + built.serial_index.len();
    let size_hint = slots * 6 + built.unmatched.len() + 4096;
    let file = write_archive(
        out_dir,
        &keys_file(shard),
        FileKind::Keys,
        &built,
        size_hint,
    )?;
    Ok(KeyShardBuilt {
        file,
        unmatched: entries.unmatched.len() as u64,
    })
}

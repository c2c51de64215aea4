//! Phase 2: per link partition (links grouped by serial), refuse a serial
//! linked to two persons and drop repeats, then send every link on to the
//! partition of its person, where phase 3 puts it in the person's block.

use super::temp::{encode_link, take_links, LinkEntry, PartitionFiles};
use crate::snapshot::format::KeyHash;
use crate::snapshot::verify::ContentDigest;
use crate::source::BadRow;
use std::path::Path;

/// What routing one link partition left out.
pub(super) struct LinksRouted {
    /// Links refused (a serial already linked to another person).
    pub bad_rows: Vec<BadRow>,
    /// Every link dropped (refused or repeated), to take out of the digest
    /// of accepted input.
    pub dropped: ContentDigest,
}

/// Routes the links of one serial partition to the person partitions.
pub(super) fn route_links(
    partition: &Path,
    by_person: &PartitionFiles,
    shards: u32,
) -> anyhow::Result<LinksRouted> {
    let (links, bad_rows, dropped) = unique_links(take_links(partition)?);
    let mut buffers = vec![Vec::new(); shards as usize];
    for link in &links {
        let shard = KeyHash::of(&link.linkage.index_key()).shard(shards);
        encode_link(link, &mut buffers[shard as usize]);
    }
    by_person.append_all(&buffers)?;
    Ok(LinksRouted { bad_rows, dropped })
}

/// Sorts links by serial and keeps the first line of each serial. A repeat
/// for the same person is harmless and dropped; a serial linked to two
/// persons is a bad row (the later line).
fn unique_links(mut links: Vec<LinkEntry>) -> (Vec<LinkEntry>, Vec<BadRow>, ContentDigest) {
    links.sort_by_key(|link| (link.serial, link.line));
    let mut bad = Vec::new();
    let mut dropped = ContentDigest::default();
    links.dedup_by(|later, earlier| {
        if later.serial != earlier.serial {
            return false;
        }
        dropped.add_link(&later.serial, later.linkage);
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
    (links, bad, dropped)
}

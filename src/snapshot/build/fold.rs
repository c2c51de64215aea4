//! Phase 1 of a fold (`snapshot build --base SNAPSHOT --journal DIR`): the
//! next snapshot's partitions from a base snapshot and the journal records
//! it does not contain yet.
//!
//! The journal is replayed into an [`Overlay`] exactly as the server does,
//! and the partitions receive what a check through that overlay would see:
//! every base row the overlay does not replace or delete, every row the
//! overlay holds, every base link the overlay does not change, and so on.
//! The folded snapshot therefore answers like base + journal (the
//! `fold_equivalence` test checks this on random data).

use super::partition::Partitioned;
use super::temp::{encode_link, encode_row, LinkEntry, PartitionFiles};
use crate::snapshot::format::{key_hash, shard_of};
use crate::snapshot::manifest::{JournalMark, SourceDigest};
use crate::snapshot::{Snapshot, Verification};
use crate::source::insurers::InsurerRow;
use crate::updates::overlay::Overlay;
use anyhow::Context;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// The base snapshot opened, and the journal replayed over it.
pub struct Replayed {
    pub base: Snapshot,
    pub overlay: Overlay,
    pub mark: JournalMark,
    pub journal_digest: SourceDigest,
    pub warnings: Vec<String>,
}

/// Opens `base` (checksums verified) and replays the records of `journal`
/// it does not contain.
pub fn replay(base: &Path, journal_dir: &Path) -> anyhow::Result<Replayed> {
    let base = Snapshot::open_with(base, Verification::Checksums)
        .with_context(|| format!("base snapshot {}", base.display()))?;
    let folded = base
        .manifest()
        .journal
        .as_ref()
        .map_or(0, |m| m.through_lsn);
    let replayed = crate::updates::replay::replay(journal_dir, &base)
        .with_context(|| format!("journal {}", journal_dir.display()))?;
    let mut warnings: Vec<String> = replayed
        .continuity()
        .map_err(|problem| anyhow::anyhow!("journal {}: {problem}", journal_dir.display()))?
        .into_iter()
        .collect();
    if replayed.scan.torn_bytes > 0 {
        warnings.push(format!(
            "the journal ends in {} bytes of an unfinished record (being written, or never acknowledged); it is not folded",
            replayed.scan.torn_bytes
        ));
    }
    let mark = JournalMark {
        through_lsn: replayed.scan.last_lsn.unwrap_or(0).max(folded),
        records_folded: replayed.records,
        senders: replayed.senders,
    };
    Ok(Replayed {
        journal_digest: SourceDigest {
            file: "journal".into(),
            bytes: replayed.bytes,
            xxh3_128: replayed.digest,
        },
        base,
        overlay: replayed.overlay,
        mark,
        warnings,
    })
}

/// Writes the person and link partitions of base + overlay; returns the
/// number of rows written.
pub fn partition(
    replayed: &Replayed,
    persons: &PartitionFiles,
    links: &PartitionFiles,
    shards: u32,
    out: &mut Partitioned,
) -> anyhow::Result<u64> {
    let (base, overlay) = (&replayed.base, &replayed.overlay);
    let view = crate::engine::View::new(base, overlay);
    // Base rows still served, shard by shard of the base, in parallel.
    let written: Vec<u64> = (0..base.shard_count())
        .into_par_iter()
        .map(|shard| -> anyhow::Result<u64> {
            let mut buffers = vec![Vec::new(); shards as usize];
            let mut count = 0;
            for row in base.rows_of_shard(shard) {
                if !view.serves(&row) {
                    continue;
                }
                let row = row
                    .to_row()
                    .context("a base snapshot row cannot be re-encoded")?;
                let target = shard_of(key_hash(&row.linkage().index_key()), shards);
                encode_row(0, &row, &mut buffers[target as usize])?;
                count += 1;
            }
            for (target, bytes) in buffers.iter().enumerate() {
                if !bytes.is_empty() {
                    persons.append(target as u32, bytes)?;
                }
            }
            Ok(count)
        })
        .collect::<anyhow::Result<_>>()?;
    let mut rows = written.iter().sum::<u64>();
    let mut buffer = Vec::new();
    for (_, row) in overlay.row_states() {
        if let Some(row) = row {
            buffer.clear();
            encode_row(0, row, &mut buffer)?;
            persons.append(
                shard_of(key_hash(&row.linkage().index_key()), shards),
                &buffer,
            )?;
            rows += 1;
        }
    }
    // Links: the base's unless the overlay says otherwise, then the overlay's.
    let mut link = |serial, linkage| -> anyhow::Result<()> {
        buffer.clear();
        encode_link(
            &LinkEntry {
                serial,
                linkage,
                line: 0,
            },
            &mut buffer,
        );
        out.links_read += 1;
        links.append(shard_of(key_hash(serial.as_bytes()), shards), &buffer)
    };
    for (serial, linkage) in base.serial_links() {
        if overlay.serial(&serial).is_none() {
            link(serial, linkage)?;
        }
    }
    for (serial, state) in overlay.serial_states() {
        if let Some(linkage) = state {
            link(*serial, *linkage)?;
        }
    }
    out.rows_read = rows;
    out.insurers = insurers(base, overlay);
    out.revocations = base.revocations().clone();
    out.crl = base.manifest().crl.clone();
    out.sources.push(SourceDigest {
        file: format!("base snapshot {}", base.id()),
        bytes: 0,
        xxh3_128: format!("{:032x}", xxhash_rust::xxh3::xxh3_128(base.id().as_bytes())),
    });
    out.sources.push(replayed.journal_digest.clone());
    out.warnings.extend(replayed.warnings.iter().cloned());
    Ok(rows)
}

/// The base's insurer master with the overlay's entries added or replaced,
/// by insurer number.
fn insurers(base: &Snapshot, overlay: &Overlay) -> Vec<InsurerRow> {
    let mut by_number: BTreeMap<String, InsurerRow> = base
        .insurer_numbers()
        .filter_map(|number| base.insurer(number))
        .filter_map(|insurer| {
            Some((
                insurer.number.to_string(),
                InsurerRow {
                    number: crate::model::InsurerNumber::parse(insurer.number).ok()?,
                    name: insurer.name.to_string(),
                    address: insurer.address.to_string(),
                    phone: insurer.phone.to_string(),
                    postal_code: insurer.postal_code.to_string(),
                    abolished: insurer.abolished,
                },
            ))
        })
        .collect();
    for insurer in overlay.insurers() {
        by_number.insert(insurer.number.as_str().to_string(), insurer.clone());
    }
    by_number.into_values().collect()
}

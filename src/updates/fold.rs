//! The nightly fold (`snapshot build --base SNAPSHOT --journal DIR`): the
//! next snapshot from a base snapshot and the journal records it does not
//! contain yet.
//!
//! The journal is replayed into an [`Overlay`] exactly as the server does,
//! and the partitions receive what a check through that overlay would see:
//! every base row the overlay does not replace or delete, every row the
//! overlay holds, every base link the overlay does not change, and so on.
//! The folded snapshot therefore answers like base + journal (the
//! `fold_equivalence` test checks this on random data).

use super::overlay::Overlay;
use super::view::View;
use crate::snapshot::manifest::{JournalMark, SourceDigest};
use crate::snapshot::write::{build_onto, BaseContent, BuildOptions, BuildReport, Partitions};
use crate::snapshot::{Snapshot, Verification};
use crate::source::insurers::InsurerRow;
use anyhow::Context;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// Builds into `options.out` the snapshot that answers like `base` with
/// the records of the update journal in `journal` it does not contain
/// (`options.input` is not read). The new manifest's journal mark says how
/// far the journal is folded in.
pub fn fold(options: &BuildOptions, base: &Path, journal: &Path) -> anyhow::Result<BuildReport> {
    build_onto(options, Box::new(replay(base, journal)?))
}

/// The base snapshot opened, and the journal replayed over it.
pub struct Replayed {
    /// The base snapshot, checksums verified.
    pub base: Snapshot,
    /// The journal records after the base's mark, applied.
    pub overlay: Overlay,
    /// How far the journal is folded in: the mark the new snapshot's manifest records.
    pub mark: JournalMark,
    /// Size and xxh3-128 of the payloads replayed, recorded as the `journal` source.
    pub journal_digest: SourceDigest,
    /// Problems that do not stop the fold (no mark on the base, a torn record at the end).
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
    let replayed = super::replay::replay(journal_dir, &base)
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

impl BaseContent for Replayed {
    fn shard_count(&self) -> u32 {
        self.base.shard_count()
    }

    /// Every base row, link and insurer that the overlay does not replace,
    /// then the overlay's.
    fn partition(&self, into: &mut Partitions<'_>) -> anyhow::Result<()> {
        let (base, overlay) = (&self.base, &self.overlay);
        let view = View::new(base, overlay);
        // Base rows still served, shard by shard of the base, in parallel.
        (0..base.shard_count())
            .into_par_iter()
            .try_for_each(|shard| -> anyhow::Result<()> {
                let mut rows = into.rows();
                for row in base
                    .persons_of_shard(shard)
                    .flat_map(|person| person.rows())
                {
                    if view.serves(&row) {
                        rows.push(row.row())?;
                    }
                }
                rows.finish().map(drop)
            })?;
        let mut rows = into.rows();
        for row in overlay.row_states(base).filter_map(|(_, row)| row) {
            rows.push(&row)?;
        }
        rows.finish()?;
        // Links: the base's unless the overlay says otherwise, then the overlay's.
        for (serial, linkage) in base.serial_links() {
            if overlay.serial(&serial).is_none() {
                into.link(serial, linkage)?;
            }
        }
        for (serial, state) in overlay.serial_states() {
            if let Some(linkage) = state {
                into.link(*serial, *linkage)?;
            }
        }
        into.set_insurers(insurers(base, overlay));
        into.set_revocations(base.revocations().clone(), base.manifest().crl.clone());
        into.add_source(SourceDigest {
            file: format!("base snapshot {}", base.id()),
            bytes: 0,
            xxh3_128: crate::storage::checksum(base.id().as_bytes()),
        });
        into.add_source(self.journal_digest.clone());
        for warning in &self.warnings {
            into.warn(warning.clone());
        }
        Ok(())
    }

    fn journal_mark(&self) -> Option<JournalMark> {
        Some(self.mark.clone())
    }
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

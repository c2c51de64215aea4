//! Phase 1 from a base instead of source files: whatever supplies the next
//! snapshot's rows, links, insurers and revocations (a fold of the day's
//! updates onto the live snapshot, `updates::fold`) writes them through
//! [`Partitions`], and the remaining phases run as for a build from sources.

use super::partition::Partitioned;
use super::temp::{encode_link, encode_row_record, LinkEntry, PartitionFiles};
use crate::crl::revocations::RevocationSets;
use crate::crl::CrlMeta;
use crate::model::{EligibilityRow, LinkageNo, Serial};
use crate::snapshot::format::KeyHash;
use crate::snapshot::manifest::{JournalMark, SourceDigest};
use crate::snapshot::verify::ContentDigest;
use crate::source::insurers::InsurerRow;
use std::sync::Mutex;

/// The content of a snapshot built from something other than source files.
pub trait BaseContent: Sync {
    /// Shards of the new snapshot, unless the build options say otherwise.
    fn shard_count(&self) -> u32;

    /// Writes every row, link, insurer and revocation of the new snapshot.
    fn partition(&self, into: &mut Partitions<'_>) -> anyhow::Result<()>;

    /// How far an update journal is folded into the new snapshot.
    fn journal_mark(&self) -> Option<JournalMark>;
}

/// Where phase 1 writes: the person and link partitions and the rest.
pub struct Partitions<'a> {
    persons: &'a PartitionFiles,
    links: &'a PartitionFiles,
    shards: u32,
    /// The rows written by every [`RowSink`], merged as each finishes.
    rows: Mutex<ContentDigest>,
    parts: &'a mut Partitioned,
    buffer: Vec<u8>,
}

impl<'a> Partitions<'a> {
    /// Runs `base`'s phase 1 into the build's partitions and `parts`.
    pub(super) fn fill(
        base: &dyn BaseContent,
        persons: &'a PartitionFiles,
        links: &'a PartitionFiles,
        shards: u32,
        parts: &'a mut Partitioned,
    ) -> anyhow::Result<()> {
        let mut into = Partitions {
            persons,
            links,
            shards,
            rows: Mutex::new(ContentDigest::default()),
            parts,
            buffer: Vec::new(),
        };
        base.partition(&mut into)?;
        let rows = into
            .rows
            .into_inner()
            .map_err(|_| anyhow::anyhow!("a build worker panicked while writing"))?;
        into.parts.rows_read = rows.rows;
        into.parts.accepted.merge(&rows);
        Ok(())
    }

    /// A writer of rows for one thread (any number may write at once).
    pub fn rows(&self) -> RowSink<'_> {
        RowSink {
            files: self.persons,
            rows: &self.rows,
            buffers: vec![Vec::new(); self.shards as usize],
            written: ContentDigest::default(),
        }
    }

    /// Links `serial` to `linkage` in the new snapshot.
    pub fn link(&mut self, serial: Serial, linkage: LinkageNo) -> anyhow::Result<()> {
        self.buffer.clear();
        encode_link(
            &LinkEntry {
                serial,
                linkage,
                line: 0,
            },
            &mut self.buffer,
        );
        self.parts.links_read += 1;
        self.parts.accepted.add_link(&serial, linkage);
        let shard = KeyHash::of(serial.as_bytes()).shard(self.shards);
        self.links.append(shard, &self.buffer)
    }

    /// The new snapshot's insurer master.
    pub fn set_insurers(&mut self, insurers: Vec<InsurerRow>) {
        self.parts.insurers = insurers;
    }

    /// The new snapshot's embedded revocation list, and the CRL it came from.
    pub fn set_revocations(&mut self, sets: RevocationSets, crl: Option<CrlMeta>) {
        self.parts.revocations = sets;
        self.parts.crl = crl;
    }

    /// Records what the snapshot was made from, for its manifest.
    pub fn add_source(&mut self, source: SourceDigest) {
        self.parts.sources.push(source);
    }

    /// A warning for the build report.
    pub fn warn(&mut self, warning: String) {
        self.parts.warnings.push(warning);
    }
}

/// Rows buffered per target shard and appended in batches.
pub struct RowSink<'a> {
    files: &'a PartitionFiles,
    rows: &'a Mutex<ContentDigest>,
    buffers: Vec<Vec<u8>>,
    written: ContentDigest,
}

impl RowSink<'_> {
    /// Adds `row` to the partition of its person's shard.
    pub fn push(&mut self, row: &EligibilityRow) -> anyhow::Result<()> {
        let shard = KeyHash::of(&row.linkage().index_key()).shard(self.buffers.len() as u32);
        encode_row_record(0, row, &mut self.buffers[shard as usize]);
        self.written.add_row(row);
        Ok(())
    }

    /// Appends what is buffered; returns the rows this sink wrote.
    pub fn finish(self) -> anyhow::Result<u64> {
        self.files.append_all(&self.buffers)?;
        self.rows
            .lock()
            .map_err(|_| anyhow::anyhow!("a build worker panicked while writing"))?
            .merge(&self.written);
        Ok(self.written.rows)
    }
}

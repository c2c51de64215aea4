//! Replaying a journal: the records after a snapshot's journal mark,
//! parsed (and their rows encoded against the snapshot, unless they are the
//! tail after a checkpoint) in parallel batches and applied in LSN order to
//! an overlay. The
//! server does this at start and at every activation or rollback, the fold
//! before it writes the next snapshot; both get the same overlay.

use super::checkpoint::Restored;
use super::journal::{self, Scan};
use super::message::{self, Message};
use super::overlay::{EncodedRow, Overlay};
use crate::snapshot::Snapshot;
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

/// Records parsed per parallel batch.
const BATCH_RECORDS: usize = 32_768;

/// What a replay rebuilt and read.
pub struct Replayed {
    /// The records after the base's mark, applied over it.
    pub overlay: Overlay,
    /// Each sender's last `seq`: the base's mark, then the records replayed.
    pub senders: BTreeMap<String, u64>,
    /// Records replayed (those after the mark).
    pub records: u64,
    /// The first LSN replayed, if any.
    pub first_lsn: Option<u64>,
    /// Bytes and xxh3-128 of the payloads replayed, in order.
    pub bytes: u64,
    /// xxh3-128 of the payloads replayed, 32 hex digits.
    pub digest: String,
    /// What reading the journal found; segments wholly within the base's mark are
    /// not read, so the record counts cover only the segments that were.
    pub scan: Scan,
    /// The base's journal mark (`None`: a snapshot built from sources).
    pub base_mark: Option<u64>,
    /// The LSN the checkpoint it started from covered (`None`: it started
    /// from the base).
    pub resumed_after: Option<u64>,
}

impl Replayed {
    /// Refuses a replay over a snapshot with a journal mark when the
    /// journal no longer holds the records right after it (they would be
    /// lost); over a snapshot without one, warns which records are applied
    /// when the journal does not start at the first.
    pub fn continuity(&self) -> Result<Option<String>, String> {
        let folded = self.resumed_after.or(self.base_mark).unwrap_or(0);
        let Some(first) = self.first_lsn.filter(|&first| first > folded + 1) else {
            return Ok(None);
        };
        if let Some(covered) = self.resumed_after {
            return Err(format!(
                "the overlay checkpoint covers journal records up to {covered}, but the journal's next record is {first}"
            ));
        }
        if self.base_mark.is_some() {
            return Err(format!(
                "the snapshot contains journal records up to {folded}, but the journal's next record is {first}: records {} to {} are missing and would be lost; use a snapshot folded from a later journal",
                folded + 1,
                first - 1
            ));
        }
        Ok(Some(format!(
            "the snapshot records no journal mark; journal records {first} to {} are applied over it (earlier ones were folded and trimmed)",
            self.scan.last_lsn.unwrap_or(first)
        )))
    }
}

/// Replays the records of the journal in `dir` that `base` does not
/// contain (those after its journal mark) into a new overlay over `base`.
pub fn replay(dir: &Path, base: &Snapshot) -> anyhow::Result<Replayed> {
    replay_over(dir, base, None)
}

/// Like [`replay`], starting from `checkpoint` (an overlay over `base`)
/// when given: only the records after the LSN it covers are read.
pub fn replay_over(
    dir: &Path,
    base: &Snapshot,
    checkpoint: Option<Restored>,
) -> anyhow::Result<Replayed> {
    let base_mark = base.manifest().journal.as_ref().map(|m| m.through_lsn);
    let mut mark = base.manifest().journal.clone().unwrap_or_default();
    let resumed_after = checkpoint.as_ref().map(|c| c.mark.through_lsn);
    // A tail after a checkpoint keeps its rows whole (see `Overlay::encode`).
    let whole_rows = checkpoint.is_some();
    let overlay = match checkpoint {
        Some(checkpoint) => {
            mark.through_lsn = checkpoint.mark.through_lsn;
            mark.senders = checkpoint.senders;
            checkpoint.overlay
        }
        None => Overlay::default(),
    };
    let mut state = State {
        base,
        overlay,
        senders: mark.senders.clone(),
        records: 0,
        first_lsn: None,
        bytes: 0,
        digest: Xxh3::new(),
        batch: Vec::with_capacity(BATCH_RECORDS),
        whole_rows,
    };
    let scan = journal::read_after(dir, mark.through_lsn, |record| {
        if record.lsn <= mark.through_lsn {
            return Ok(());
        }
        state.batch.push((record.lsn, record.payload.to_vec()));
        if state.batch.len() == BATCH_RECORDS {
            state.apply_batch()?;
        }
        Ok(())
    })?;
    state.apply_batch()?;
    Ok(Replayed {
        overlay: state.overlay,
        senders: state.senders,
        records: state.records,
        first_lsn: state.first_lsn,
        bytes: state.bytes,
        digest: format!("{:032x}", state.digest.digest128()),
        scan,
        base_mark,
        resumed_after,
    })
}

struct State<'b> {
    base: &'b Snapshot,
    overlay: Overlay,
    senders: BTreeMap<String, u64>,
    records: u64,
    first_lsn: Option<u64>,
    bytes: u64,
    digest: Xxh3,
    batch: Vec<(u64, Vec<u8>)>,
    /// Rows kept whole, not encoded against the base (a tail after a
    /// checkpoint: see [`Overlay::encode`]).
    whole_rows: bool,
}

impl State<'_> {
    fn apply_batch(&mut self) -> anyhow::Result<()> {
        let closest_in = (!self.whole_rows).then_some(self.base);
        let parsed: Vec<Result<(Message, Option<EncodedRow>), String>> = self
            .batch
            .par_iter()
            .map(|(lsn, payload)| {
                let message = message::parse(payload).map_err(|refused| {
                    format!(
                        "journal record {lsn} does not read as a message ({})",
                        refused.message
                    )
                })?;
                let encoded = Overlay::encode(&message.change, closest_in);
                Ok((message, encoded))
            })
            .collect();
        for ((lsn, payload), parsed) in self.batch.drain(..).zip(parsed) {
            let (message, encoded) = parsed.map_err(anyhow::Error::msg)?;
            self.overlay
                .apply_encoded(lsn, &message.change, encoded, self.base);
            if let (Some(sender), Some(seq)) = (message.sender, message.seq) {
                self.senders.insert(sender, seq);
            }
            self.first_lsn.get_or_insert(lsn);
            self.digest.update(&payload);
            self.bytes += payload.len() as u64;
            self.records += 1;
        }
        Ok(())
    }
}

//! The post-build key check: every key of every accepted input row must be
//! found in the finished snapshot, through the same lookups the engine uses.
//! Stores that lose keys silently at build time are a known failure; this
//! turns such a loss into a failed build instead of a wrong `not_found`.

use super::temp::{read_links, read_rows};
use crate::model::{OnlineNumber, TextField};
use crate::snapshot::open::Snapshot;
use anyhow::bail;
use rayon::prelude::*;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// What the key check looked at and noticed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct KeyCheck {
    /// Eligibility rows looked up again by online number, card face and
    /// linkage number.
    pub rows_checked: u64,
    /// Linked serials looked up again.
    pub serials_checked: u64,
    /// Online numbers whose rows belong to more than one person (checks by
    /// them answer `multiple`).
    pub shared_online_numbers: u64,
    /// Up to five of those shared numbers, each with its `eligibility.csv` line.
    pub shared_examples: Vec<String>,
}

#[derive(Default)]
struct KeyTally {
    check: KeyCheck,
    lost: Vec<String>,
    lost_count: u64,
}

impl KeyTally {
    fn lost(&mut self, what: String) {
        self.lost_count += 1;
        if self.lost.len() < 5 {
            self.lost.push(what);
        }
    }

    fn merge(mut self, other: KeyTally) -> KeyTally {
        self.check.rows_checked += other.check.rows_checked;
        self.check.serials_checked += other.check.serials_checked;
        self.check.shared_online_numbers += other.check.shared_online_numbers;
        self.check
            .shared_examples
            .extend(other.check.shared_examples);
        self.check.shared_examples.truncate(5);
        self.lost_count += other.lost_count;
        self.lost.extend(other.lost);
        self.lost.truncate(5);
        self
    }
}

pub(super) fn check_keys(
    snapshot: &Snapshot,
    person_partitions: &[PathBuf],
    link_partitions: &[PathBuf],
    refused_link_lines: &HashSet<u64>,
) -> anyhow::Result<KeyCheck> {
    let rows = person_partitions
        .par_iter()
        .map(|path| check_rows(snapshot, path))
        .try_reduce(KeyTally::default, |a, b| Ok(a.merge(b)))?;
    let links = link_partitions
        .par_iter()
        .map(|path| check_links(snapshot, path, refused_link_lines))
        .try_reduce(KeyTally::default, |a, b| Ok(a.merge(b)))?;
    let tally = rows.merge(links);
    if tally.lost_count > 0 {
        bail!(
            "key check failed: {} input key(s) not found in the built snapshot (first: {}); this is a bug in the build, please report it with the build report",
            tally.lost_count,
            tally.lost.join("; ")
        );
    }
    Ok(tally.check)
}

fn check_rows(snapshot: &Snapshot, path: &Path) -> anyhow::Result<KeyTally> {
    let mut tally = KeyTally::default();
    for (line, row) in read_rows(path)? {
        tally.check.rows_checked += 1;
        let online = row.text(TextField::OnlineNumber);
        let same_row = |found: &crate::snapshot::RowRef<'_>| {
            found.qualification_seq() == row.qualification_seq
                && found.text(TextField::OnlineNumber) == online
                && found.person().map(|p| p.linkage()) == Some(row.linkage())
        };
        let by_online = OnlineNumber::parse(online)
            .map(|number| snapshot.rows_by_online_number(&number))
            .unwrap_or_default();
        let found = by_online.iter().find(|r| same_row(r));
        if found.is_none() {
            tally.lost(format!(
                "online number {online} (eligibility.csv line {line})"
            ));
        }
        // A number shared by several persons is counted once: by the input
        // row that landed first in the snapshot, whichever partition holds it.
        let shared = by_online
            .iter()
            .any(|r| r.person_loc() != by_online[0].person_loc());
        let counts_it = found.map(|r| r.loc()) == by_online.iter().map(|r| r.loc()).min();
        if shared && counts_it {
            tally.check.shared_online_numbers += 1;
            if tally.check.shared_examples.len() < 5 {
                tally
                    .check
                    .shared_examples
                    .push(format!("{online} (eligibility.csv line {line})"));
            }
        }
        let by_face = snapshot.rows_by_card_face(
            row.text(TextField::InsurerNumber),
            row.text(TextField::CardSymbol),
            row.text(TextField::CardNumber),
        );
        if !by_face.iter().any(same_row) {
            tally.lost(format!("card face of eligibility.csv line {line}"));
        }
        if snapshot.person_by_linkage(row.linkage()).is_none() {
            tally.lost(format!(
                "linkage_no {} (eligibility.csv line {line})",
                row.linkage()
            ));
        }
    }
    Ok(tally)
}

fn check_links(
    snapshot: &Snapshot,
    path: &Path,
    refused_link_lines: &HashSet<u64>,
) -> anyhow::Result<KeyTally> {
    let mut tally = KeyTally::default();
    for link in read_links(path)? {
        if refused_link_lines.contains(&link.line) {
            continue;
        }
        tally.check.serials_checked += 1;
        let found = snapshot.serial_link(&link.serial).map(|l| l.linkage);
        if found != Some(link.linkage) {
            tally.lost(format!(
                "serial {} (linkage.csv line {})",
                link.serial, link.line
            ));
        }
    }
    Ok(tally)
}

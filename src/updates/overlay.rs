//! The overlay: every change applied since the live snapshot, held in
//! memory and consulted over it by every check.
//!
//! It holds final states, keyed like the snapshot: a row key maps to the
//! row as it now is, or to "deleted"; a serial to the person it now links
//! to, or to "retired". Applying a change is total (it never fails), so
//! replaying a journal always rebuilds the same overlay, and folding the
//! journal into a snapshot gives the same answers as serving it as an
//! overlay.
//!
//! The maps are persistent (`imbl`): cloning one is O(1) and shares
//! structure, so the single writer clones the live overlay, applies a
//! whole group of changes to the clone and publishes it with one pointer
//! swap. A check loads one overlay and sees either all of a group or none
//! of it; no lock is taken on the read path.

use super::message::{Change, RowKey};
use crate::model::ids::face_index_key;
use crate::model::{EligibilityRow, LinkageNo, OnlineNumber, Serial, TextField};
use crate::snapshot::Snapshot;
use crate::source::insurers::InsurerRow;
use imbl::{HashMap, OrdMap};
use smallvec::SmallVec;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// Changes applied over a snapshot.
#[derive(Clone, Default)]
pub struct Overlay {
    /// Row key → the row now, or `None` when deleted.
    rows: OrdMap<RowKey, Option<Arc<EligibilityRow>>>,
    /// Hash of a card face (see [`face_hash`]) → keys of the rows under it.
    by_face: HashMap<u64, Keys>,
    by_person: HashMap<LinkageNo, Keys>,
    /// Serial → the person it links to now, or `None` when retired.
    serials: HashMap<Serial, Option<LinkageNo>>,
    insurers: HashMap<String, Arc<InsurerRow>>,
    /// LSN of the last journal record applied (0: none).
    through_lsn: u64,
    /// Journal records applied.
    applied: u64,
    /// Keys in `rows` that are deletions.
    rows_deleted: u64,
}

/// The few row keys under one card face or person. Kept inline: the maps
/// copy the values of every node they change, and a one-element set of a
/// tree type would cost a whole node (kilobytes) per row.
type Keys = SmallVec<[RowKey; 1]>;

/// Sizes of an overlay, for status and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OverlayCounts {
    /// Journal records applied since the snapshot.
    pub records_applied: u64,
    /// LSN of the last record applied (0: none).
    pub through_lsn: u64,
    /// Qualification rows registered or replaced and still present.
    pub rows_changed: u64,
    /// Qualification rows deleted.
    pub rows_deleted: u64,
    /// Serials whose person the overlay changed: linked, taken over by a renewal, or retired.
    pub serials: u64,
    /// Insurers of the master registered or replaced.
    pub insurers: u64,
}

impl Overlay {
    /// Applies journal record `lsn`. `base` is the snapshot under the
    /// overlay (a renewal takes over the person the old serial resolves to).
    pub fn apply(&mut self, lsn: u64, change: &Change, base: &Snapshot) {
        match change {
            Change::Upsert(row) => {
                if let Some(key) = RowKey::of(row) {
                    self.unindex(&key);
                    self.index(key, row);
                    self.set_row(key, Some(Arc::clone(row)));
                }
            }
            Change::Delete(key) => {
                self.unindex(key);
                self.set_row(*key, None);
            }
            Change::Link { serial, linkage } => {
                self.serials.insert(*serial, Some(*linkage));
            }
            Change::Renew {
                new_serial,
                old_serial,
            } => {
                let person = self.serial_link(old_serial, base);
                self.serials.insert(*old_serial, None);
                if let Some(linkage) = person {
                    self.serials.insert(*new_serial, Some(linkage));
                }
            }
            Change::Insurer(insurer) => {
                self.insurers
                    .insert(insurer.number.as_str().to_string(), Arc::clone(insurer));
            }
        }
        self.through_lsn = self.through_lsn.max(lsn);
        self.applied += 1;
    }

    /// An overlay holding these final states (a checkpoint read back):
    /// the same as the overlay that was written, indexes included. `rows`
    /// has each key once. The three maps are built side by side; the
    /// indexes are grouped in plain hash maps first, so that each of their
    /// keys is inserted once (a restart after a peak day restores millions).
    pub fn restore(
        rows: Vec<(RowKey, Option<Arc<EligibilityRow>>)>,
        serials: Vec<(Serial, Option<LinkageNo>)>,
        insurers: Vec<InsurerRow>,
        through_lsn: u64,
        applied: u64,
    ) -> Overlay {
        let present = || {
            rows.iter()
                .filter_map(|(key, row)| row.as_ref().map(|row| (*key, row)))
        };
        let (rows_map, (by_face, by_person)) = rayon::join(
            || rows.iter().cloned().collect::<OrdMap<_, _>>(),
            || {
                rayon::join(
                    || grouped(present().map(|(key, row)| (face_hash(row), key))),
                    || grouped(present().map(|(key, row)| (row.linkage(), key))),
                )
            },
        );
        Overlay {
            rows_deleted: rows.iter().filter(|(_, row)| row.is_none()).count() as u64,
            rows: rows_map,
            by_face,
            by_person,
            serials: serials.into_iter().collect(),
            insurers: insurers
                .into_iter()
                .map(|insurer| (insurer.number.as_str().to_string(), Arc::new(insurer)))
                .collect(),
            through_lsn,
            applied,
        }
    }

    fn set_row(&mut self, key: RowKey, state: Option<Arc<EligibilityRow>>) {
        let was_deleted = matches!(self.rows.get(&key), Some(None));
        let now_deleted = state.is_none();
        self.rows_deleted = self.rows_deleted + u64::from(now_deleted) - u64::from(was_deleted);
        self.rows.insert(key, state);
    }

    fn index(&mut self, key: RowKey, row: &EligibilityRow) {
        add_key(self.by_face.entry(face_hash(row)).or_default(), key);
        add_key(self.by_person.entry(row.linkage()).or_default(), key);
    }

    /// Drops the secondary index entries of the row now at `key`.
    fn unindex(&mut self, key: &RowKey) {
        let Some(Some(old)) = self.rows.get(key).cloned() else {
            return;
        };
        unindex_from(&mut self.by_face, face_hash(&old), key);
        unindex_from(&mut self.by_person, old.linkage(), key);
    }

    /// What `serial` links to, overlay first, then `base`.
    pub fn serial_link(&self, serial: &Serial, base: &Snapshot) -> Option<LinkageNo> {
        match self.serials.get(serial) {
            Some(state) => *state,
            None => base.serial_link(serial).map(|link| link.linkage),
        }
    }

    /// The overlay's say on a serial: `Some(Some(person))` linked,
    /// `Some(None)` retired, `None` unchanged.
    pub fn serial(&self, serial: &Serial) -> Option<Option<LinkageNo>> {
        self.serials.get(serial).copied()
    }

    /// True when the overlay replaces or deletes the row at `key` (so the
    /// snapshot's row there is not served).
    pub fn masks(&self, key: &RowKey) -> bool {
        self.rows.contains_key(key)
    }

    /// True when no row was changed (the snapshot's rows need no masking).
    pub fn has_no_rows(&self) -> bool {
        self.rows.is_empty()
    }

    /// The state at `key`: `Some(Some(row))` changed, `Some(None)` deleted.
    pub fn row(&self, key: &RowKey) -> Option<Option<&EligibilityRow>> {
        self.rows.get(key).map(Option::as_deref)
    }

    /// Rows now under an online-check number.
    pub fn rows_by_online_number(
        &self,
        online: &OnlineNumber,
    ) -> impl Iterator<Item = &EligibilityRow> + '_ {
        let range = RowKey {
            online: *online,
            seq: 0,
        }..=RowKey {
            online: *online,
            seq: u32::MAX,
        };
        self.rows.range(range).filter_map(|(_, row)| row.as_deref())
    }

    /// Rows now under a card face (index form of insurer number, symbol,
    /// number); may include rows of another face with the same hash, which
    /// the caller filters out.
    pub fn rows_by_face(&self, face: &[u8]) -> impl Iterator<Item = &EligibilityRow> + '_ {
        self.keyed_rows(self.by_face.get(&xxh3_64(face)))
    }

    /// Rows a person now has from the overlay.
    pub fn rows_of_person(&self, linkage: LinkageNo) -> impl Iterator<Item = &EligibilityRow> + '_ {
        self.keyed_rows(self.by_person.get(&linkage))
    }

    fn keyed_rows<'o>(
        &'o self,
        keys: Option<&'o Keys>,
    ) -> impl Iterator<Item = &'o EligibilityRow> + 'o {
        keys.into_iter()
            .flatten()
            .filter_map(|key| self.rows.get(key).and_then(Option::as_deref))
    }

    /// The insurer master entry the overlay holds for `number`.
    pub fn insurer(&self, number: &str) -> Option<&InsurerRow> {
        self.insurers.get(number).map(Arc::as_ref)
    }

    /// Every row state, by key (for the fold).
    pub fn row_states(&self) -> impl Iterator<Item = (&RowKey, Option<&EligibilityRow>)> + '_ {
        self.rows.iter().map(|(key, row)| (key, row.as_deref()))
    }

    /// Every serial state (for the fold).
    pub fn serial_states(&self) -> impl Iterator<Item = (&Serial, &Option<LinkageNo>)> + '_ {
        self.serials.iter()
    }

    /// Every insurer the overlay holds (for the fold).
    pub fn insurers(&self) -> impl Iterator<Item = &InsurerRow> + '_ {
        self.insurers.values().map(Arc::as_ref)
    }

    /// An overlay with no changes (what a bare snapshot is served with).
    pub fn empty() -> &'static Overlay {
        static EMPTY: std::sync::OnceLock<Overlay> = std::sync::OnceLock::new();
        EMPTY.get_or_init(Overlay::default)
    }

    /// LSN of the last record applied (0: none).
    pub fn through_lsn(&self) -> u64 {
        self.through_lsn
    }

    /// Current sizes of the overlay.
    pub fn counts(&self) -> OverlayCounts {
        let deleted = self.rows_deleted;
        OverlayCounts {
            records_applied: self.applied,
            through_lsn: self.through_lsn,
            rows_changed: self.rows.len() as u64 - deleted,
            rows_deleted: deleted,
            serials: self.serials.len() as u64,
            insurers: self.insurers.len() as u64,
        }
    }
}

/// The card-face index key of a row, hashed.
fn face_hash(row: &EligibilityRow) -> u64 {
    xxh3_64(&face_index_key(
        row.text(TextField::InsurerNumber),
        row.text(TextField::CardSymbol),
        row.text(TextField::CardNumber),
    ))
}

/// An index from `(index key, row key)` pairs, each row key once.
fn grouped<K: std::hash::Hash + Eq + Clone>(
    pairs: impl Iterator<Item = (K, RowKey)>,
) -> HashMap<K, Keys> {
    let mut groups: std::collections::HashMap<K, Keys> = std::collections::HashMap::new();
    for (at, key) in pairs {
        groups.entry(at).or_default().push(key);
    }
    groups.into_iter().collect()
}

fn add_key(keys: &mut Keys, key: RowKey) {
    if !keys.contains(&key) {
        keys.push(key);
    }
}

fn unindex_from<K: std::hash::Hash + Eq + Clone>(
    index: &mut HashMap<K, Keys>,
    at: K,
    key: &RowKey,
) {
    if let Some(keys) = index.get_mut(&at) {
        keys.retain(|k| k != key);
        if keys.is_empty() {
            index.remove(&at);
        }
    }
}

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
//! Cloning an overlay is O(1), so the single writer clones the live
//! overlay, applies a whole group of changes to the clone and publishes it
//! with one pointer swap. A check loads one overlay and sees either all of
//! a group or none of it; no lock is taken on the read path. Rows, nearly
//! all of a day's changes, are kept compactly ([`rows`]): appended to an
//! arena all versions share, as their difference from a snapshot row
//! ([`encoding`]), so a version is an end position in it. Serials and
//! insurers, far fewer, are in persistent maps (`imbl`) that share
//! structure between versions.

mod arena;
mod encoding;
mod rows;

pub use rows::{EncodedState, OverlayRow, OverlayRows};

use super::message::{Change, RowKey};
use crate::model::ids::face_index_key;
use crate::model::{EligibilityRow, LinkageNo, OnlineNumber, Serial, TextField};
use crate::snapshot::Snapshot;
use crate::source::insurers::InsurerRow;
use imbl::HashMap;
use rows::RowLog;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// Changes applied over a snapshot.
#[derive(Clone, Default)]
pub struct Overlay {
    /// Row key → the row now, or "deleted"; found by key, card face and person.
    rows: RowLog,
    /// Serial → the person it links to now, or `None` when retired.
    serials: HashMap<Serial, Option<LinkageNo>>,
    insurers: HashMap<String, Arc<InsurerRow>>,
    /// LSN of the last journal record applied (0: none).
    through_lsn: u64,
    /// Journal records applied.
    applied: u64,
}

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
    /// Memory the row records and their tables hold (serials and insurers
    /// not counted).
    pub row_bytes: u64,
}

impl Overlay {
    /// Applies journal record `lsn`. `base` is the snapshot under the
    /// overlay (rows are kept as their difference from its rows, and a
    /// renewal takes over the person the old serial resolves to).
    pub fn apply(&mut self, lsn: u64, change: &Change, base: &Snapshot) {
        self.apply_encoded(lsn, change, Overlay::encode(change, Some(base)), base);
    }

    /// The part of applying `change` that reads only the snapshot: an
    /// upsert's row encoded against the rows of `closest_in`, the snapshot
    /// under the overlay. Replays do this for a batch in parallel (after a
    /// cold start each encoding waits on the snapshot's pages), then
    /// [`Overlay::apply_encoded`] in order.
    ///
    /// Without a snapshot the row is kept whole (a few hundred bytes
    /// instead of tens) and nothing is read: for the short tail a replay
    /// applies after a checkpoint, over a snapshot whose pages may not be in
    /// memory, where reading them would cost more time than the bytes are
    /// worth (one 2 MiB page from disk per row, seconds before a restart
    /// serves, and pages pushed out of a live snapshot's way).
    pub fn encode(change: &Change, closest_in: Option<&Snapshot>) -> Option<EncodedRow> {
        match change {
            Change::Upsert(row) => RowKey::of(row)
                .map(|key| EncodedRow(rows::encode(key, row, face_hash(row), closest_in))),
            _ => None,
        }
    }

    /// Applies journal record `lsn` with its row already encoded by
    /// [`Overlay::encode`] (encoded here when it is not).
    pub fn apply_encoded(
        &mut self,
        lsn: u64,
        change: &Change,
        encoded: Option<EncodedRow>,
        base: &Snapshot,
    ) {
        match change {
            Change::Upsert(_) => {
                if let Some(EncodedRow(encoded)) =
                    encoded.or_else(|| Overlay::encode(change, Some(base)))
                {
                    self.rows.upsert(&encoded);
                }
            }
            Change::Delete(key) => self.rows.delete(key),
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

    /// An overlay over `base` holding these final states (a checkpoint
    /// read back): the same as the overlay that was written. Each row key
    /// comes once; an error names the row state that does not read.
    pub fn restore(
        base: &Snapshot,
        rows: &[RestoredRow<'_>],
        serials: Vec<(Serial, Option<LinkageNo>)>,
        insurers: Vec<InsurerRow>,
        through_lsn: u64,
        applied: u64,
    ) -> Result<Overlay, String> {
        let mut log = RowLog::with_room(rows.len());
        for (index, state) in rows.iter().enumerate() {
            match state {
                RestoredRow::Row(payload) => log
                    .restore_row(payload, base.person_count())
                    .map_err(|reason| format!("row state {index}: {reason}"))?,
                RestoredRow::Deleted(key) => log.delete(key),
            }
        }
        Ok(Overlay {
            rows: log,
            serials: serials.into_iter().collect(),
            insurers: insurers
                .into_iter()
                .map(|insurer| (insurer.number.as_str().to_string(), Arc::new(insurer)))
                .collect(),
            through_lsn,
            applied,
        })
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
        self.rows.masks(key)
    }

    /// True when no row was changed (the snapshot's rows need no masking).
    pub fn has_no_rows(&self) -> bool {
        self.rows.is_empty()
    }

    /// The state at `key`: `Some(Some(row))` changed, `Some(None)` deleted.
    pub fn row(&self, key: &RowKey, base: &Snapshot) -> Option<Option<OverlayRow>> {
        self.rows.row(key, base)
    }

    /// Rows now under an online-check number.
    pub fn rows_by_online_number(&self, online: &OnlineNumber, base: &Snapshot) -> OverlayRows {
        self.rows.rows_by_online_number(online, base)
    }

    /// Rows now under a card face (index form of insurer number, symbol,
    /// number); may include rows of another face with the same hash, which
    /// the caller filters out.
    pub fn rows_by_face(&self, face: &[u8], base: &Snapshot) -> OverlayRows {
        self.rows.rows_by_face(xxh3_64(face), base)
    }

    /// Rows a person now has from the overlay.
    pub fn rows_of_person(&self, linkage: LinkageNo, base: &Snapshot) -> OverlayRows {
        self.rows.rows_of_person(linkage, base)
    }

    /// The insurer master entry the overlay holds for `number`.
    pub fn insurer(&self, number: &str) -> Option<&InsurerRow> {
        self.insurers.get(number).map(Arc::as_ref)
    }

    /// Every row state, decoded (for the fold), in the order applied.
    pub fn row_states<'a>(
        &'a self,
        base: &'a Snapshot,
    ) -> impl Iterator<Item = (RowKey, Option<EligibilityRow>)> + 'a {
        self.rows.states(base)
    }

    /// Every row state as kept (for a checkpoint), passed to `each`.
    pub fn for_each_encoded_row<E>(
        &self,
        each: impl FnMut(EncodedState<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.rows.for_each_encoded(each)
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
        let (present, deleted) = self.rows.counts();
        OverlayCounts {
            records_applied: self.applied,
            through_lsn: self.through_lsn,
            rows_changed: present,
            rows_deleted: deleted,
            serials: self.serials.len() as u64,
            insurers: self.insurers.len() as u64,
            row_bytes: self.rows.bytes(),
        }
    }
}

/// An upsert's row encoded against the snapshot ([`Overlay::encode`]).
pub struct EncodedRow(rows::Encoded);

/// A row state read back from a checkpoint.
pub enum RestoredRow<'a> {
    /// A row, as the overlay keeps it.
    Row(&'a [u8]),
    /// A deleted row.
    Deleted(RowKey),
}

/// The card-face index key of a row, hashed.
fn face_hash(row: &EligibilityRow) -> u64 {
    xxh3_64(&face_index_key(
        row.text(TextField::InsurerNumber),
        row.text(TextField::CardSymbol),
        row.text(TextField::CardNumber),
    ))
}

#[cfg(test)]
mod tests {
    //! The overlay against a naive model (a map from row key to state) on
    //! random changes over a generated snapshot: every lookup, every
    //! version kept along the way, a copy written to after its version was
    //! superseded, and the states read back as a checkpoint would.

    use super::*;
    use crate::model::{
        DateField, CODE_ABSENT, CODE_FIELD_COUNT, DATE_FIELD_COUNT, TEXT_FIELD_COUNT,
    };
    use crate::updates::testing::generated_snapshot;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeMap;

    type Model = BTreeMap<RowKey, Option<EligibilityRow>>;

    /// A row like `row` with some fields changed at random: text, dates,
    /// codes, the card face, the person or the 資格通番.
    fn varied(row: &EligibilityRow, rng: &mut ChaCha8Rng) -> EligibilityRow {
        let mut texts = TextField::ALL.map(|field| row.text(field).to_string());
        let (mut dates, mut codes) = (row.dates, row.codes);
        let (mut linkage, mut seq) = (row.linkage_no, row.qualification_seq);
        for _ in 0..rng.gen_range(1..4) {
            match rng.gen_range(0..7) {
                0 => texts[TextField::Name as usize] = format!("名{}", rng.gen_range(0..50)),
                1 => texts[TextField::CardNumber as usize] = format!("{}", rng.gen_range(0..20)),
                2 => dates[DateField::Lost as usize] = Some(rng.gen_range(19_000..21_000)),
                3 => dates[rng.gen_range(0..dates.len())] = None,
                4 => {
                    codes[rng.gen_range(0..codes.len())] = [1, 2, CODE_ABSENT][rng.gen_range(0..3)]
                }
                5 => linkage = rng.gen_range(1..40),
                _ => seq = rng.gen_range(1..5),
            }
        }
        let fields: [&str; TEXT_FIELD_COUNT] = std::array::from_fn(|i| texts[i].as_str());
        EligibilityRow::new(linkage, fields, dates, codes, seq).unwrap()
    }

    /// A row of no snapshot person: a new online number and new text.
    fn new_row(rng: &mut ChaCha8Rng) -> EligibilityRow {
        let online = format!("{:015}", rng.gen_range(0..30u64));
        let mut fields = [""; TEXT_FIELD_COUNT];
        let name = format!("新{}", rng.gen_range(0..1000));
        fields[TextField::OnlineNumber as usize] = &online;
        fields[TextField::MunicipalId as usize] = &online;
        fields[TextField::InsurerNumber as usize] = "01130012";
        fields[TextField::Name as usize] = &name;
        let mut dates = [None; DATE_FIELD_COUNT];
        dates[DateField::Acquired as usize] = Some(rng.gen_range(-5..20_000));
        let codes = [CODE_ABSENT; CODE_FIELD_COUNT];
        EligibilityRow::new(
            rng.gen_range(1..40),
            fields,
            dates,
            codes,
            rng.gen_range(1..3),
        )
        .unwrap()
    }

    /// A row of the snapshot, drawn at random.
    fn stored(base: &Snapshot, rng: &mut ChaCha8Rng) -> EligibilityRow {
        let person = base.person(rng.gen_range(0..base.person_count())).unwrap();
        let ordinal = rng.gen_range(0..person.row_count()) as usize;
        person.rows().nth(ordinal).unwrap().to_row()
    }

    fn random_change(base: &Snapshot, model: &Model, rng: &mut ChaCha8Rng) -> Change {
        match rng.gen_range(0..10) {
            0..=4 => {
                let row = stored(base, rng);
                Change::Upsert(Arc::new(varied(&row, rng)))
            }
            5 | 6 if !model.is_empty() => {
                let index = rng.gen_range(0..model.len());
                let (key, state) = model.iter().nth(index).unwrap();
                match state {
                    Some(row) if rng.gen_bool(0.5) => Change::Upsert(Arc::new(varied(row, rng))),
                    _ => Change::Delete(*key),
                }
            }
            7 => Change::Delete(RowKey::of(&stored(base, rng)).unwrap()),
            _ => Change::Upsert(Arc::new(new_row(rng))),
        }
    }

    fn apply_to_model(model: &mut Model, change: &Change) {
        match change {
            Change::Upsert(row) => {
                model.insert(RowKey::of(row).unwrap(), Some(EligibilityRow::clone(row)));
            }
            Change::Delete(key) => {
                model.insert(*key, None);
            }
            _ => unreachable!("only row changes are drawn"),
        }
    }

    /// Rows in key order (each key has one state, so one row).
    fn sorted(rows: impl IntoIterator<Item = EligibilityRow>) -> Vec<EligibilityRow> {
        let mut rows: Vec<EligibilityRow> = rows.into_iter().collect();
        rows.sort_by_key(|row| RowKey::of(row).unwrap());
        rows
    }

    fn found(rows: OverlayRows) -> Vec<EligibilityRow> {
        sorted(rows.into_iter().map(|found| found.row))
    }

    /// The model's present rows grouped by `group`, each group in key order.
    fn grouped<K: Ord>(
        model: &Model,
        group: impl Fn(&EligibilityRow) -> K,
    ) -> BTreeMap<K, Vec<EligibilityRow>> {
        let mut groups: BTreeMap<K, Vec<EligibilityRow>> = BTreeMap::new();
        for row in model.values().flatten() {
            groups.entry(group(row)).or_default().push(row.clone());
        }
        groups
            .into_iter()
            .map(|(key, rows)| (key, sorted(rows)))
            .collect()
    }

    fn assert_matches(overlay: &Overlay, model: &Model, base: &Snapshot) {
        let present = model.values().filter(|state| state.is_some()).count() as u64;
        let counts = overlay.counts();
        assert_eq!(
            (counts.rows_changed, counts.rows_deleted),
            (present, model.len() as u64 - present)
        );
        assert_eq!(overlay.has_no_rows(), model.is_empty());
        let by_online = grouped(model, |row| RowKey::of(row).unwrap().online);
        let by_face = grouped(model, face_hash);
        let by_person = grouped(model, |row| row.linkage_no);
        let none = Vec::new();
        for (key, state) in model {
            assert!(overlay.masks(key));
            let found_state = overlay.row(key, base).map(|row| row.map(|found| found.row));
            assert_eq!(found_state.as_ref(), Some(state), "{key:?}");
            assert_eq!(
                &found(overlay.rows_by_online_number(&key.online, base)),
                by_online.get(&key.online).unwrap_or(&none)
            );
            if let Some(row) = state {
                let face = face_index_key(
                    row.text(TextField::InsurerNumber),
                    row.text(TextField::CardSymbol),
                    row.text(TextField::CardNumber),
                );
                assert_eq!(
                    &found(overlay.rows_by_face(&face, base)),
                    &by_face[&face_hash(row)]
                );
                assert_eq!(
                    &found(overlay.rows_of_person(row.linkage(), base)),
                    &by_person[&row.linkage_no]
                );
            }
        }
        let states: Model = overlay.row_states(base).collect();
        assert_eq!(&states, model);
    }

    fn restored(overlay: &Overlay, base: &Snapshot) -> Overlay {
        let mut states: Vec<(Vec<u8>, Option<RowKey>)> = Vec::new();
        overlay
            .for_each_encoded_row(|state| -> Result<(), ()> {
                states.push(match state {
                    EncodedState::Row(payload) => (payload.to_vec(), None),
                    EncodedState::Deleted(key) => (Vec::new(), Some(key)),
                });
                Ok(())
            })
            .unwrap();
        let rows: Vec<RestoredRow<'_>> = states
            .iter()
            .map(|(payload, deleted)| match deleted {
                Some(key) => RestoredRow::Deleted(*key),
                None => RestoredRow::Row(payload),
            })
            .collect();
        Overlay::restore(base, &rows, Vec::new(), Vec::new(), 0, 0).unwrap()
    }

    #[test]
    fn the_overlay_answers_like_a_map_of_row_states() {
        let (_dir, base) = generated_snapshot(300, 5);
        for seed in 0..3u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (mut overlay, mut model) = (Overlay::default(), Model::new());
            let mut kept: Vec<(Overlay, Model)> = Vec::new();
            for lsn in 1..=900u64 {
                let change = random_change(&base, &model, &mut rng);
                // Every third row kept whole, as a replay's tail keeps it.
                let closest_in = (lsn % 3 != 0).then_some(&base);
                let encoded = Overlay::encode(&change, closest_in);
                overlay.apply_encoded(lsn, &change, encoded, &base);
                apply_to_model(&mut model, &change);
                if lsn % 225 == 0 {
                    assert_matches(&overlay, &model, &base);
                    kept.push((overlay.clone(), model.clone()));
                }
            }
            for (version, model) in &kept {
                assert_matches(version, model, &base);
            }
            assert_matches(&restored(&overlay, &base), &model, &base);
            assert!(overlay.counts().row_bytes > 0);
        }
    }

    #[test]
    fn a_version_written_to_after_a_dropped_copy_keeps_its_own_history() {
        let (_dir, base) = generated_snapshot(100, 9);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let (mut live, mut model) = (Overlay::default(), Model::new());
        for lsn in 1..=200 {
            let change = random_change(&base, &model, &mut rng);
            live.apply(lsn, &change, &base);
            apply_to_model(&mut model, &change);
        }
        // A group applied to a copy and dropped (its journal write failed).
        let mut dropped = live.clone();
        let mut dropped_model = model.clone();
        for lsn in 201..=300 {
            let change = random_change(&base, &dropped_model, &mut rng);
            dropped.apply(lsn, &change, &base);
            apply_to_model(&mut dropped_model, &change);
        }
        drop(dropped);
        assert_matches(&live, &model, &base);
        let before = live.clone();
        for lsn in 201..=300 {
            let change = random_change(&base, &model, &mut rng);
            live.apply(lsn, &change, &base);
            apply_to_model(&mut model, &change);
        }
        assert_matches(&live, &model, &base);
        assert_eq!(before.counts().records_applied, 200);
    }

    #[test]
    fn a_changed_row_is_kept_in_far_fewer_bytes_than_whole() {
        let (_dir, base) = generated_snapshot(2000, 3);
        let mut overlay = Overlay::default();
        let mut whole = 0;
        for number in 0..base.person_count() {
            let row = base.person(number).unwrap().rows().next().unwrap().to_row();
            let mut dates = row.dates;
            dates[DateField::Lost as usize] = Some(20_400);
            let texts = TextField::ALL.map(|field| row.text(field));
            let changed = EligibilityRow::new(
                row.linkage_no,
                texts,
                dates,
                row.codes,
                row.qualification_seq,
            )
            .unwrap();
            whole += changed.text_parts().0.len() + std::mem::size_of::<EligibilityRow>();
            overlay.apply(
                u64::from(number) + 1,
                &Change::Upsert(Arc::new(changed)),
                &base,
            );
        }
        let mut payload_bytes = 0;
        overlay
            .for_each_encoded_row(|state| -> Result<(), ()> {
                if let EncodedState::Row(payload) = state {
                    payload_bytes += payload.len();
                }
                Ok(())
            })
            .unwrap();
        let rows = base.person_count() as usize;
        assert!(
            payload_bytes * 4 < whole,
            "{payload_bytes} B kept for {whole} B of rows"
        );
        assert!(
            payload_bytes / rows < 64,
            "{} B per row",
            payload_bytes / rows
        );
    }
}

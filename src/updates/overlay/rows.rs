//! The overlay's rows: every row state written since the snapshot, as
//! compact records in an [`Arena`], found through three [`Table`]s (online
//! number, card face, person) whose slots point at the newest record of
//! each key.
//!
//! A row record is on three chains (the records before it with the same
//! online number, the same card face, the same person); a deletion only on
//! the first. A version of the rows is the arena's end when it was
//! published: a check walks a chain from the newest record down and takes,
//! for each key, the first record below its version's end. A record that
//! is no longer the latest state of its key at that end is skipped, so a
//! row that moved to another card face or person is found only there.
//!
//! About 70 bytes a record and 8 bytes a slot (tables at most 3/4 full),
//! against about 1 KB a record for rows kept whole in persistent maps.

use super::arena::{header, header_kind, header_rest, Arena, Pos, Table, MAX_RECORD_WORDS};
use super::encoding::{
    check_row, decode_head, decode_key, decode_row, encode_deleted, encode_row, has_online,
    pack_online, seq_of, PackedOnline, RowHead, PACKED_ONLINE,
};
use crate::model::{EligibilityRow, LinkageNo};
use crate::snapshot::Snapshot;
use crate::updates::message::RowKey;
use smallvec::SmallVec;
use std::sync::Arc;
use xxhash_rust::xxh3::xxh3_64;

/// A row as it now is.
const ROW: u8 = 1;
/// A row deleted.
const DELETED: u8 = 2;

/// The chains, by the index of their link in a record and their table.
const ONLINE: usize = 0;
const FACE: usize = 1;
const PERSON: usize = 2;

/// A row the overlay holds, decoded, with where its record is (two rows
/// are the same when their records are).
#[derive(Clone, Debug)]
pub struct OverlayRow {
    /// The record's position: identifies the row state within the overlay.
    pub at: u64,
    /// The row.
    pub row: EligibilityRow,
}

/// Rows found under one key; inline for the common case of a few.
pub type OverlayRows = SmallVec<[OverlayRow; 2]>;

/// One version of the rows (cloning it is a few reference counts).
#[derive(Clone)]
pub(super) struct RowLog {
    arena: Arc<Arena>,
    /// This version's records are those below.
    end: u64,
    tables: [Arc<Table>; 3],
    /// Keys in each table.
    keys: [usize; 3],
    /// Keys whose state is a row.
    present: u64,
    /// Keys whose state is a deletion.
    deleted: u64,
}

/// A record read back.
struct Stored {
    at: Pos,
    kind: u8,
    links: [Pos; 3],
    payload: SmallVec<[u8; 192]>,
}

impl Stored {
    fn is_row(&self) -> bool {
        self.kind == ROW
    }

    /// The online number its key leads with, packed.
    fn online(&self) -> Option<PackedOnline> {
        PackedOnline::try_from(self.payload.get(..PACKED_ONLINE)?).ok()
    }

    /// The head of a row record (`None` for a deletion).
    fn head(&self) -> Option<RowHead> {
        if !self.is_row() {
            return None;
        }
        decode_head(&self.payload).map(|(head, _)| head)
    }
}

/// A key of one of the three tables, and so of one chain of records.
#[derive(Clone, Copy)]
enum ChainKey {
    Online(PackedOnline),
    Face(u64),
    Person(LinkageNo),
}

impl ChainKey {
    /// The key `stored` is found by on `chain`.
    fn of(chain: usize, stored: &Stored) -> Option<ChainKey> {
        match chain {
            ONLINE => stored.online().map(ChainKey::Online),
            FACE => stored.head().map(|head| ChainKey::Face(head.face)),
            _ => stored.head().map(|head| ChainKey::Person(head.linkage)),
        }
    }

    /// Which table and which link of a record.
    fn chain(&self) -> usize {
        match self {
            ChainKey::Online(_) => ONLINE,
            ChainKey::Face(_) => FACE,
            ChainKey::Person(_) => PERSON,
        }
    }

    fn hash(&self) -> u64 {
        match self {
            ChainKey::Online(packed) => xxh3_64(packed),
            // Already a hash of the card face.
            ChainKey::Face(face) => *face,
            ChainKey::Person(linkage) => xxh3_64(&linkage.0.to_le_bytes()),
        }
    }

    /// True when `stored` is on this key's chain.
    fn holds(&self, stored: &Stored) -> bool {
        match self {
            ChainKey::Online(packed) => has_online(&stored.payload, packed),
            ChainKey::Face(face) => stored.head().is_some_and(|head| head.face == *face),
            ChainKey::Person(linkage) => stored.head().is_some_and(|head| head.linkage == *linkage),
        }
    }
}

/// A row encoded as the overlay keeps it, not yet appended.
pub(super) struct Encoded {
    head: RowHead,
    payload: Vec<u8>,
}

/// The row at `key` (whose card face hashes to `face`) as its difference
/// from the closest row of `closest_in`, if given. It reads only the
/// snapshot, so a replay encodes a whole batch in parallel before
/// appending in order.
pub(super) fn encode(
    key: RowKey,
    row: &EligibilityRow,
    face: u64,
    closest_in: Option<&Snapshot>,
) -> Encoded {
    let head = RowHead {
        key,
        face,
        linkage: row.linkage(),
    };
    let mut payload = Vec::new();
    encode_row(row, &head, closest_in, &mut payload);
    Encoded { head, payload }
}

/// A row state as a checkpoint holds it.
pub enum EncodedState<'a> {
    /// A row: its payload ([`super::encoding`]).
    Row(&'a [u8]),
    /// A deleted row.
    Deleted(RowKey),
}

impl Default for RowLog {
    fn default() -> RowLog {
        RowLog::with_room(0)
    }
}

impl RowLog {
    /// Empty rows with tables sized for `keys` keys.
    pub(super) fn with_room(keys: usize) -> RowLog {
        let arena = Arc::new(Arena::new());
        RowLog {
            end: arena.end(),
            arena,
            tables: [(); 3].map(|_| Arc::new(Table::with_room(keys))),
            keys: [0; 3],
            present: 0,
            deleted: 0,
        }
    }

    /// Keys whose state is a row, and keys whose state is a deletion.
    pub(super) fn counts(&self) -> (u64, u64) {
        (self.present, self.deleted)
    }

    /// True when no row state is held.
    pub(super) fn is_empty(&self) -> bool {
        self.present + self.deleted == 0
    }

    /// Bytes of memory the records and tables hold.
    pub(super) fn bytes(&self) -> u64 {
        self.arena.bytes() + self.tables.iter().map(|t| t.bytes()).sum::<u64>()
    }

    /// Registers or replaces a row encoded by [`encode`].
    pub(super) fn upsert(&mut self, encoded: &Encoded) {
        self.own();
        self.append_row(&encoded.head, &encoded.payload);
    }

    /// Deletes the row at `key`.
    pub(super) fn delete(&mut self, key: &RowKey) {
        self.own();
        let mut payload = Vec::new();
        encode_deleted(key, &mut payload);
        self.append(DELETED, key, None, &payload);
    }

    /// Appends a row payload read from a checkpoint; an error says what in
    /// it does not read.
    pub(super) fn restore_row(
        &mut self,
        payload: &[u8],
        person_count: u32,
    ) -> Result<(), &'static str> {
        let head = check_row(payload, person_count)?;
        self.append_row(&head, payload);
        Ok(())
    }

    fn append_row(&mut self, head: &RowHead, payload: &[u8]) {
        self.append(ROW, &head.key, Some((head.face, head.linkage)), payload);
    }

    /// Writes a record and makes it the newest of its keys.
    fn append(
        &mut self,
        kind: u8,
        key: &RowKey,
        row_keys: Option<(u64, LinkageNo)>,
        payload: &[u8],
    ) {
        let mut keys: SmallVec<[ChainKey; 3]> =
            SmallVec::from_elem(ChainKey::Online(pack_online(&key.online)), 1);
        if let Some((face, linkage)) = row_keys {
            keys.extend([ChainKey::Face(face), ChainKey::Person(linkage)]);
        }
        let mut probes = [(0, None); 3];
        for chain_key in &keys {
            let chain = chain_key.chain();
            self.make_room(chain);
            probes[chain] = self.find(chain_key);
        }
        let before = self
            .chain(ONLINE, probes[ONLINE].1)
            .find(|stored| seq_of(&stored.payload) == Some(key.seq))
            .map(|stored| stored.kind);
        let link_words = keys.len();
        let mut words = Vec::with_capacity(link_words + payload.len().div_ceil(8));
        words.push(header(
            link_words + payload.len().div_ceil(8),
            kind,
            probes[ONLINE].1.unwrap_or(0),
        ));
        words.extend(
            probes[1..link_words]
                .iter()
                .map(|(_, head)| head.unwrap_or(0)),
        );
        words.extend(payload.chunks(8).map(|chunk| {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            u64::from_le_bytes(word)
        }));
        debug_assert!(words.len() <= MAX_RECORD_WORDS);
        let at = self.arena.push(&words);
        for chain_key in &keys {
            let chain = chain_key.chain();
            let (slot, head) = probes[chain];
            self.tables[chain].store(slot, chain_key.hash(), at);
            self.keys[chain] += usize::from(head.is_none());
        }
        self.end = self.arena.end();
        match before {
            Some(ROW) => self.present -= 1,
            Some(_) => self.deleted -= 1,
            None => {}
        }
        match kind {
            ROW => self.present += 1,
            _ => self.deleted += 1,
        }
    }

    /// The slot of `key` in its table and the newest record it points at
    /// (see [`Table::find`]).
    fn find(&self, key: &ChainKey) -> (usize, Option<Pos>) {
        self.tables[key.chain()].find(key.hash(), |pos| {
            self.read(pos).is_some_and(|stored| key.holds(&stored))
        })
    }

    /// Grows a table before one more key would take it beyond its load
    /// limit.
    fn make_room(&mut self, chain: usize) {
        if !self.tables[chain].is_full_with(self.keys[chain] + 1) {
            return;
        }
        let grown = Table::with_room(self.keys[chain] * 2 + 1);
        for pos in self.tables[chain].heads() {
            if let Some(key) = self
                .read(pos)
                .and_then(|stored| ChainKey::of(chain, &stored))
            {
                let (slot, _) = grown.find(key.hash(), |_| false);
                grown.store(slot, key.hash(), pos);
            }
        }
        self.tables[chain] = Arc::new(grown);
    }

    /// Makes this version the end of its arena before writing to it. A
    /// version that is not (a group whose journal write failed was applied
    /// to a copy and dropped) moves its states to an arena of its own, so
    /// that no two versions ever write after the same end.
    fn own(&mut self) {
        if self.arena.end() == self.end {
            return;
        }
        let mut own = RowLog::with_room(self.keys[ONLINE]);
        for stored in self.current() {
            match stored.kind {
                ROW => {
                    if let Some((head, _)) = decode_head(&stored.payload) {
                        own.append_row(&head, &stored.payload);
                    }
                }
                _ => {
                    if let Some((key, _)) = decode_key(&stored.payload) {
                        own.append(DELETED, &key, None, &stored.payload);
                    }
                }
            }
        }
        *self = own;
    }

    fn read(&self, pos: Pos) -> Option<Stored> {
        let mut words: SmallVec<[u64; 32]> = SmallVec::new();
        self.arena.read_into(pos, &mut words);
        let (&first, rest) = words.split_first()?;
        let kind = header_kind(first);
        let link_words = if kind == ROW { 2 } else { 0 };
        let mut links = [header_rest(first), 0, 0];
        links[1..=link_words].copy_from_slice(rest.get(..link_words)?);
        let payload = rest[link_words..]
            .iter()
            .flat_map(|word| word.to_le_bytes())
            .collect();
        Some(Stored {
            at: pos,
            kind,
            links,
            payload,
        })
    }

    /// The records on `chain` from `head` down, those of this version only.
    fn chain(&self, chain: usize, head: Option<Pos>) -> impl Iterator<Item = Stored> + '_ {
        let mut next = head.unwrap_or(0);
        std::iter::from_fn(move || loop {
            if next == 0 {
                return None;
            }
            let stored = self.read(next)?;
            next = stored.links[chain];
            if stored.at < self.end {
                return Some(stored);
            }
        })
    }

    /// The records of `key`'s chain in this version, newest first.
    fn records_of(&self, key: &ChainKey) -> impl Iterator<Item = Stored> + '_ {
        self.chain(key.chain(), self.find(key).1)
    }

    /// The latest state of the row with this online number and 資格通番.
    fn latest(&self, online: PackedOnline, seq: u32) -> Option<Stored> {
        self.records_of(&ChainKey::Online(online))
            .find(|stored| seq_of(&stored.payload) == Some(seq))
    }

    /// The latest state of `key` in this version.
    fn state(&self, key: &RowKey) -> Option<Stored> {
        self.latest(pack_online(&key.online), key.seq)
    }

    /// True when `stored` is the latest state of its key in this version.
    fn is_latest(&self, stored: &Stored) -> bool {
        let (Some(online), Some(seq)) = (stored.online(), seq_of(&stored.payload)) else {
            return false;
        };
        self.latest(online, seq)
            .is_some_and(|latest| latest.at == stored.at)
    }

    /// True when the overlay holds a state for `key` (a row or a deletion).
    pub(super) fn masks(&self, key: &RowKey) -> bool {
        !self.is_empty() && self.state(key).is_some()
    }

    /// The state at `key`: `Some(Some(row))` changed, `Some(None)` deleted.
    pub(super) fn row(&self, key: &RowKey, base: &Snapshot) -> Option<Option<OverlayRow>> {
        let stored = self.state(key)?;
        Some(stored.is_row().then(|| decoded(&stored, base)).flatten())
    }

    /// Rows now under an online number.
    pub(super) fn rows_by_online_number(
        &self,
        online: &crate::model::OnlineNumber,
        base: &Snapshot,
    ) -> OverlayRows {
        let mut seen: SmallVec<[u32; 4]> = SmallVec::new();
        let mut rows = OverlayRows::new();
        if self.is_empty() {
            return rows;
        }
        for stored in self.records_of(&ChainKey::Online(pack_online(online))) {
            let Some(seq) = seq_of(&stored.payload) else {
                continue;
            };
            if seen.contains(&seq) {
                continue;
            }
            seen.push(seq);
            if stored.is_row() {
                rows.extend(decoded(&stored, base));
            }
        }
        rows
    }

    /// Rows now under the card face hashed to `face` (or another face with
    /// the same hash, which the caller filters out).
    pub(super) fn rows_by_face(&self, face: u64, base: &Snapshot) -> OverlayRows {
        self.latest_on(&ChainKey::Face(face), base)
    }

    /// Rows a person now has from the overlay.
    pub(super) fn rows_of_person(&self, linkage: LinkageNo, base: &Snapshot) -> OverlayRows {
        self.latest_on(&ChainKey::Person(linkage), base)
    }

    /// The rows on `key`'s chain that are their key's latest state.
    fn latest_on(&self, key: &ChainKey, base: &Snapshot) -> OverlayRows {
        if self.present == 0 {
            return OverlayRows::new();
        }
        self.records_of(key)
            .filter(|stored| self.is_latest(stored))
            .filter_map(|stored| decoded(&stored, base))
            .collect()
    }

    fn current(&self) -> impl Iterator<Item = Stored> + '_ {
        self.arena
            .positions(self.end)
            .filter_map(|pos| self.read(pos))
            .filter(|stored| self.is_latest(stored))
    }

    /// Every row state, decoded (for the fold).
    pub(super) fn states<'a>(
        &'a self,
        base: &'a Snapshot,
    ) -> impl Iterator<Item = (RowKey, Option<EligibilityRow>)> + 'a {
        self.current().filter_map(move |stored| {
            let (key, _) = decode_key(&stored.payload)?;
            match stored.is_row() {
                true => Some((key, Some(decode_row(&stored.payload, base)?))),
                false => Some((key, None)),
            }
        })
    }

    /// Every row state as kept (for a checkpoint), passed to `each`.
    pub(super) fn for_each_encoded<E>(
        &self,
        mut each: impl FnMut(EncodedState<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        for stored in self.current() {
            let state = match stored.is_row() {
                true => EncodedState::Row(&stored.payload),
                false => match decode_key(&stored.payload) {
                    Some((key, _)) => EncodedState::Deleted(key),
                    None => continue,
                },
            };
            each(state)?;
        }
        Ok(())
    }
}

fn decoded(stored: &Stored, base: &Snapshot) -> Option<OverlayRow> {
    Some(OverlayRow {
        at: stored.at,
        row: decode_row(&stored.payload, base)?,
    })
}

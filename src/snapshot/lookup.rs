//! Key lookups over an open snapshot: hash the key, pick the key shard,
//! probe its index, and verify the key against the person's block that the
//! slot points to (a fingerprint match alone never answers).
//!
//! These return what is stored; the answer rules (what it means on a date)
//! are the engine's.

use super::codec::dictionary::PieceTexts;
use super::codec::reader::RowReader;
use super::codec::varint;
use super::format::{probe, ArchivedKeyShard, ArchivedSlot, KeyHash, NO_DATE, UNMATCHED};
use super::open::Snapshot;
use super::view::{InsurerRef, PersonRef, RowLoc, RowRef};
use crate::model::{Date, LinkageNo, OnlineNumber, Serial, TextField};
use smallvec::SmallVec;

/// Rows matched by one key; inline for the common case of a few.
pub type Rows<'s> = SmallVec<[RowRef<'s>; 4]>;

/// Locations of the rows matched by one key.
pub type RowLocs = SmallVec<[RowLoc; 4]>;

/// True when the row being read has online number `key`.
fn online_is<D: PieceTexts>(reader: &mut RowReader<'_, D>, key: &[u8]) -> bool {
    reader
        .online_number()
        .is_some_and(|online| online.as_slice() == key)
}

/// True when the row being read has card face `face` (insurer number,
/// symbol, number).
fn face_is<D: PieceTexts>(reader: &mut RowReader<'_, D>, face: [&str; 3]) -> bool {
    reader.read_through(TextField::CardNumber).is_some()
        && reader.field(TextField::InsurerNumber) == face[0].as_bytes()
        && reader.field(TextField::CardSymbol) == face[1].as_bytes()
        && reader.field(TextField::CardNumber) == face[2].as_bytes()
}

/// What a serial is linked to.
#[derive(Clone, Copy, Debug)]
pub struct SerialLink<'s> {
    /// The 紐付番号 the serial is linked to in `linkage.csv` (after renewals).
    pub linkage: LinkageNo,
    /// `None` when the linkage number has no eligibility rows.
    pub person: Option<PersonRef<'s>>,
}

/// Which index of a key shard a key is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Index {
    /// Online-check numbers.
    Online,
    /// Card faces.
    Face,
    /// Linkage numbers.
    Linkage,
    /// Certificate serials.
    Serial,
}

impl Index {
    /// Every index, in order.
    pub const ALL: [Index; 4] = [Index::Online, Index::Face, Index::Linkage, Index::Serial];

    /// The slots of this index in `shard`.
    pub fn slots(self, shard: &ArchivedKeyShard) -> &[ArchivedSlot] {
        match self {
            Index::Online => &shard.online_index,
            Index::Face => &shard.face_index,
            Index::Linkage => &shard.linkage_index,
            Index::Serial => &shard.serial_index,
        }
    }
}

impl Snapshot {
    /// Targets of the slots of `index` whose fingerprint is `key`'s.
    fn targets(&self, index: Index, key: &[u8]) -> impl Iterator<Item = u32> + '_ {
        let hash = KeyHash::of(key);
        probe(
            self.index_slots(index, hash.shard(self.shard_count())),
            hash,
        )
    }

    /// Person number `number`.
    pub fn person(&self, number: u32) -> Option<PersonRef<'_>> {
        let (shard, local) = self.person_place(number)?;
        PersonRef::new(shard, self.dictionary(), local, number)
    }

    /// The persons whose slots in `index` match `key` (unverified).
    fn candidates(&self, index: Index, key: &[u8]) -> impl Iterator<Item = PersonRef<'_>> + '_ {
        self.targets(index, key)
            .filter_map(move |target| self.person(target))
    }

    /// Every row whose online-check number is `number`.
    pub fn rows_by_online_number(&self, number: &OnlineNumber) -> Rows<'_> {
        let key = number.as_str().as_bytes();
        self.candidates(Index::Online, key)
            .flat_map(|person| person.rows_passing(move |reader| online_is(reader, key)))
            .collect()
    }

    /// Where the rows whose online-check number is `number` are, without
    /// decoding them.
    pub fn online_number_locs(&self, number: &OnlineNumber) -> RowLocs {
        let key = number.as_str().as_bytes();
        self.candidates(Index::Online, key)
            .flat_map(|person| person.locs_passing(move |reader| online_is(reader, key)))
            .collect()
    }

    /// Every row whose card face is (insurer number, symbol, number), given
    /// the key in its index form (see `CardFaceKey::index_key`).
    pub fn rows_by_card_face(&self, insurer_number: &str, symbol: &str, number: &str) -> Rows<'_> {
        let face = [insurer_number, symbol, number];
        let key = crate::model::ids::face_index_key(insurer_number, symbol, number);
        self.candidates(Index::Face, &key)
            .flat_map(|person| person.rows_passing(move |reader| face_is(reader, face)))
            .collect()
    }

    /// Where the rows whose card face is (insurer number, symbol, number)
    /// are, without decoding them.
    pub fn card_face_locs(&self, insurer_number: &str, symbol: &str, number: &str) -> RowLocs {
        let face = [insurer_number, symbol, number];
        let key = crate::model::ids::face_index_key(insurer_number, symbol, number);
        self.candidates(Index::Face, &key)
            .flat_map(|person| person.locs_passing(move |reader| face_is(reader, face)))
            .collect()
    }

    /// The person with this linkage number.
    pub fn person_by_linkage(&self, linkage: LinkageNo) -> Option<PersonRef<'_>> {
        self.candidates(Index::Linkage, &linkage.index_key())
            .find(|person| person.linkage() == linkage)
    }

    /// What `serial` is linked to, if anything.
    pub fn serial_link(&self, serial: &Serial) -> Option<SerialLink<'_>> {
        let bytes = serial.as_bytes();
        let hash = KeyHash::of(bytes);
        let shard = hash.shard(self.shard_count());
        probe(self.index_slots(Index::Serial, shard), hash).find_map(|target| {
            if target & UNMATCHED != 0 {
                let unmatched = self.unmatched(shard)?;
                let (linked, linkage) = unmatched_at(unmatched, target & !UNMATCHED)?;
                return (linked == bytes).then_some(SerialLink {
                    linkage,
                    person: None,
                });
            }
            let person = self.person(target)?;
            person.links(bytes).then_some(SerialLink {
                linkage: person.linkage(),
                person: Some(person),
            })
        })
    }

    /// Every person, in number order.
    pub fn persons(&self) -> impl Iterator<Item = PersonRef<'_>> + '_ {
        (0..self.person_count()).filter_map(|number| self.person(number))
    }

    /// Every person of person shard `shard`, in number order (the fold and
    /// the checks read a whole snapshot this way, a shard per worker).
    pub fn persons_of_shard(&self, shard: u32) -> impl Iterator<Item = PersonRef<'_>> + '_ {
        let first = self.first_person_of(shard);
        let count = self.persons_in_shard(shard);
        (first..first.saturating_add(count)).filter_map(|number| self.person(number))
    }

    /// Every linked serial and the linkage number it links to: the persons'
    /// serials, then those linked to a linkage number without rows.
    pub fn serial_links(&self) -> impl Iterator<Item = (Serial, LinkageNo)> + '_ {
        let linked = self.persons().flat_map(|person| {
            let linkage = person.linkage();
            person.serials().map(move |serial| (serial, linkage))
        });
        let unmatched = (0..self.shard_count())
            .filter_map(|shard| self.unmatched(shard))
            .flat_map(unmatched_entries)
            .filter_map(|(_, bytes, linkage)| Some((Serial::from_be_bytes(bytes)?, linkage)));
        linked.chain(unmatched)
    }

    /// Every insurer number of the master, in order.
    pub fn insurer_numbers(&self) -> impl Iterator<Item = &str> + '_ {
        self.insurer_master()
            .numbers
            .iter()
            .filter_map(|number| std::str::from_utf8(number).ok())
    }

    /// The insurer master entry for an 8-digit insurer number.
    pub fn insurer(&self, number: &str) -> Option<InsurerRef<'_>> {
        let master = self.insurer_master();
        let wanted: [u8; 8] = number.as_bytes().try_into().ok()?;
        let index = master.numbers.binary_search(&wanted).ok()?;
        let ends = master.text_ends.get(index)?;
        let start = match index {
            0 => 0,
            _ => master.text_ends.get(index - 1)?[3].to_native() as usize,
        };
        let mut begin = start;
        let mut fields = [""; 4];
        for (field, end) in fields.iter_mut().zip(ends.iter()) {
            let end = end.to_native() as usize;
            *field = master
                .text
                .get(begin..end)
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
                .unwrap_or("");
            begin = end;
        }
        let abolished = master.abolished.get(index)?.to_native();
        Some(InsurerRef {
            number: std::str::from_utf8(&master.numbers[index]).unwrap_or(""),
            name: fields[0],
            address: fields[1],
            phone: fields[2],
            postal_code: fields[3],
            abolished: (abolished != NO_DATE).then(|| Date::from_days(abolished)),
        })
    }
}

/// Appends an entry of the table of serials linked to a linkage number
/// without rows; returns its offset.
pub fn push_unmatched(table: &mut Vec<u8>, serial: &[u8], linkage: LinkageNo) -> u32 {
    let offset = table.len() as u32;
    table.push(serial.len() as u8);
    table.extend_from_slice(serial);
    varint::put_u128(table, linkage.0);
    offset
}

/// The entry at `offset` of a table of serials without rows.
fn unmatched_at(table: &[u8], offset: u32) -> Option<(&[u8], LinkageNo)> {
    let mut rest = table.get(offset as usize..)?;
    read_unmatched(&mut rest)
}

fn read_unmatched<'t>(rest: &mut &'t [u8]) -> Option<(&'t [u8], LinkageNo)> {
    let len = usize::from(*varint::take(rest, 1)?.first()?);
    let serial = varint::take(rest, len)?;
    Some((serial, LinkageNo(varint::get_u128(rest)?)))
}

/// Every entry of a table of serials without rows, with its offset; stops
/// at a damaged entry.
pub fn unmatched_entries(table: &[u8]) -> impl Iterator<Item = (u32, &[u8], LinkageNo)> + '_ {
    let mut rest = table;
    std::iter::from_fn(move || {
        let offset = (table.len() - rest.len()) as u32;
        let (serial, linkage) = read_unmatched(&mut rest)?;
        Some((offset, serial, linkage))
    })
}

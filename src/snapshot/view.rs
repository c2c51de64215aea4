//! Views over an open snapshot's persons, rows and insurers.
//!
//! A person is a block of bytes in a person shard ([`crate::snapshot::codec`]);
//! a row is decoded from it into an owned [`EligibilityRow`] when it is
//! looked at. Every read is bounds-checked and a block or row that does not
//! decode (only possible in a damaged file) is left out, never trusted.

use super::codec::block::Block;
use super::codec::dictionary::{span, PieceTexts};
use super::codec::reader::RowReader;
use super::open::{HotDictionary, ShardBlocks};
use crate::model::{
    CodeField, Date, DateField, EligibilityRow, LinkageNo, Serial, TextField, Validity,
    TEXT_FIELD_COUNT,
};

/// The snapshot's text dictionary, as row decoding reads it.
#[derive(Clone, Copy)]
pub(crate) struct StoredDictionary<'s>(pub(crate) &'s HotDictionary);

impl PieceTexts for StoredDictionary<'_> {
    #[inline]
    fn text(&self, id: u32) -> Option<&[u8]> {
        let ends = &self.0.ends;
        let range = span(id as usize, |i| {
            ends.get(i).map(|end| end.to_native() as usize)
        })?;
        self.0.text.get(range)
    }
}

/// The block of person `local` of `shard`.
fn block_of(shard: ShardBlocks<'_>, local: u32) -> Option<&[u8]> {
    let range = span(local as usize, |i| {
        shard.ends.get(i).map(|end| end.to_native() as usize)
    })?;
    shard.blocks.get(range)
}

/// A person (linkage number) of an open snapshot, with their serials and rows.
#[derive(Clone, Copy)]
pub struct PersonRef<'s> {
    dictionary: StoredDictionary<'s>,
    number: u32,
    block: Block<'s>,
}

impl<'s> PersonRef<'s> {
    /// Person `local` of `shard`, numbered `number` in the snapshot.
    pub(crate) fn new(
        shard: ShardBlocks<'s>,
        dictionary: &'s HotDictionary,
        local: u32,
        number: u32,
    ) -> Option<PersonRef<'s>> {
        let block = Block::parse(block_of(shard, local)?)?;
        Some(PersonRef {
            dictionary: StoredDictionary(dictionary),
            number,
            block,
        })
    }

    /// The person's number in the snapshot (what index slots hold).
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The person's 紐付番号.
    pub fn linkage(&self) -> LinkageNo {
        self.block.linkage()
    }

    /// The certificate serials linked to the person (after renewals).
    pub fn serials(&self) -> impl Iterator<Item = Serial> + 's {
        self.block.serials()
    }

    /// True when the serial with these big-endian bytes is linked to the person.
    pub fn links(&self, serial: &[u8]) -> bool {
        self.block.links(serial)
    }

    /// Number of rows the person has.
    pub fn row_count(&self) -> u32 {
        self.block.row_count()
    }

    /// The person's rows, newest `acquired` first.
    pub fn rows(&self) -> impl Iterator<Item = RowRef<'s>> + 's {
        self.rows_passing(|_| true)
    }

    /// The person's rows that pass `first_look`, newest first. It sees each
    /// row read only as far as it reads it ([`RowReader::read_through`]),
    /// so that only the rows wanted are decoded.
    pub(crate) fn rows_passing<'a, F>(
        &self,
        first_look: F,
    ) -> impl Iterator<Item = RowRef<'s>> + use<'a, 's, F>
    where
        F: FnMut(&mut RowReader<'s, StoredDictionary<'s>>) -> bool + 'a,
        's: 'a,
    {
        let person = *self;
        self.readers_passing(first_look)
            .filter_map(move |(ordinal, reader)| {
                Some(RowRef {
                    person,
                    ordinal,
                    row: reader.finish(person.linkage().0)?,
                })
            })
    }

    /// Where the person's rows that pass `first_look` are (see
    /// [`PersonRef::rows_passing`]), without decoding them.
    pub(crate) fn locs_passing<'a, F>(
        &self,
        first_look: F,
    ) -> impl Iterator<Item = RowLoc> + use<'a, 's, F>
    where
        F: FnMut(&mut RowReader<'s, StoredDictionary<'s>>) -> bool + 'a,
        's: 'a,
    {
        let number = self.number;
        self.readers_passing(first_look)
            .map(move |(ordinal, _)| RowLoc {
                person: number,
                ordinal,
            })
    }

    /// Each row's place among the person's rows and its reader, for the
    /// rows that pass `first_look`.
    fn readers_passing<'a, F>(
        &self,
        mut first_look: F,
    ) -> impl Iterator<Item = (u32, RowReader<'s, StoredDictionary<'s>>)> + use<'a, 's, F>
    where
        F: FnMut(&mut RowReader<'s, StoredDictionary<'s>>) -> bool + 'a,
        's: 'a,
    {
        let dictionary = self.dictionary;
        self.block
            .row_bytes()
            .enumerate()
            .filter_map(move |(ordinal, bytes)| {
                let mut reader = RowReader::new(bytes, dictionary)?;
                first_look(&mut reader).then_some((ordinal as u32, reader))
            })
    }
}

impl std::fmt::Debug for PersonRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Person({} #{})", self.linkage(), self.number)
    }
}

/// Where a stored row is: its person's number and its place among the
/// person's rows. Identifies the row within a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RowLoc {
    /// The person's number in the snapshot.
    pub person: u32,
    /// The row's place among the person's rows (0 = newest).
    pub ordinal: u32,
}

/// One qualification row of an open snapshot, decoded.
#[derive(Clone)]
pub struct RowRef<'s> {
    person: PersonRef<'s>,
    ordinal: u32,
    row: EligibilityRow,
}

impl<'s> RowRef<'s> {
    /// Where the row is; identifies it within the snapshot.
    pub fn loc(&self) -> RowLoc {
        RowLoc {
            person: self.person.number,
            ordinal: self.ordinal,
        }
    }

    /// The decoded row.
    pub fn row(&self) -> &EligibilityRow {
        &self.row
    }

    /// One text field; empty when the cell was empty.
    pub fn text(&self, field: TextField) -> &str {
        self.row.text(field)
    }

    /// Every text field, in [`TextField`] order.
    pub fn texts(&self) -> [&str; TEXT_FIELD_COUNT] {
        TextField::ALL.map(|field| self.row.text(field))
    }

    /// One date field; `None` when the cell was empty.
    pub fn date(&self, field: DateField) -> Option<Date> {
        self.row.date(field)
    }

    /// One code field; `None` when the cell was empty.
    pub fn code(&self, field: CodeField) -> Option<u8> {
        self.row.code(field)
    }

    /// 資格通番 of the row.
    pub fn qualification_seq(&self) -> u32 {
        self.row.qualification_seq
    }

    /// The dates that decide whether this row is in force (see [`Validity`]).
    pub fn validity(&self) -> Validity {
        self.row.validity()
    }

    /// The row as an owned, build-ready row.
    pub fn to_row(&self) -> EligibilityRow {
        self.row.clone()
    }

    /// The person this row belongs to.
    pub fn person(&self) -> PersonRef<'s> {
        self.person
    }
}

impl std::fmt::Debug for RowRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Row({} seq {} at {:?})",
            self.text(TextField::OnlineNumber),
            self.qualification_seq(),
            self.loc()
        )
    }
}

/// An insurer of the master.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InsurerRef<'s> {
    /// `insurer_number`: 保険者番号, 8 digits (padded form).
    pub number: &'s str,
    /// `name`: the insurer's name (保険者名称).
    pub name: &'s str,
    /// `address`: the insurer's address; may be empty.
    pub address: &'s str,
    /// `phone`: the insurer's telephone number; may be empty.
    pub phone: &'s str,
    /// `postal_code`: the insurer's postal code; may be empty.
    pub postal_code: &'s str,
    /// `abolished`: date the insurer was abolished; `None` while it exists.
    pub abolished: Option<Date>,
}

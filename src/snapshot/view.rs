//! Borrowed views over archived rows, persons and insurers. Every access is
//! bounds-checked; text that is not valid UTF-8 (only possible in a damaged
//! file) reads as empty.

use super::format::{ArchivedPersonEntry, ArchivedPersonShard, ArchivedRowEntry, Loc, NO_DATE};
use crate::model::record::{validity_from, CODE_ABSENT};
use crate::model::{
    CodeField, Date, DateField, EligibilityRow, LinkageNo, TextField, Validity, TEXT_FIELD_COUNT,
};

/// One qualification row of an open snapshot.
#[derive(Clone, Copy)]
pub struct RowRef<'s> {
    shard: &'s ArchivedPersonShard,
    entry: &'s ArchivedRowEntry,
    loc: Loc,
}

impl<'s> RowRef<'s> {
    pub(crate) fn new(shard: &'s ArchivedPersonShard, loc: Loc) -> Option<RowRef<'s>> {
        let entry = shard.rows.get(loc.index as usize)?;
        Some(RowRef { shard, entry, loc })
    }

    /// Where the row lives (shard, row index); identifies it within a snapshot.
    pub fn loc(&self) -> Loc {
        self.loc
    }

    /// One text field; empty when the cell was empty (or the text is damaged).
    pub fn text(&self, field: TextField) -> &'s str {
        let index = field as usize;
        let end = usize::from(self.entry.text_ends[index].to_native());
        let begin = match index {
            0 => 0,
            _ => usize::from(self.entry.text_ends[index - 1].to_native()),
        };
        let start = self.entry.text_start.to_native() as usize;
        self.shard
            .text
            .get(start.saturating_add(begin)..start.saturating_add(end))
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .unwrap_or("")
    }

    /// Every text field, in [`TextField`] order, with the row's text
    /// validated as UTF-8 once (the answer encoder reads them all).
    pub fn texts(&self) -> [&'s str; TEXT_FIELD_COUNT] {
        let mut texts = [""; TEXT_FIELD_COUNT];
        let start = self.entry.text_start.to_native() as usize;
        let end = usize::from(self.entry.text_ends[TEXT_FIELD_COUNT - 1].to_native());
        let Some(all) = self
            .shard
            .text
            .get(start..start.saturating_add(end))
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
        else {
            return texts;
        };
        let mut begin = 0;
        for (text, end) in texts.iter_mut().zip(self.entry.text_ends.iter()) {
            let end = usize::from(end.to_native());
            *text = all.get(begin..end).unwrap_or("");
            begin = end;
        }
        texts
    }

    /// One date field; `None` when the cell was empty.
    pub fn date(&self, field: DateField) -> Option<Date> {
        let days = self.entry.dates[field as usize].to_native();
        (days != NO_DATE).then(|| Date::from_days(days))
    }

    /// One code field; `None` when the cell was empty.
    pub fn code(&self, field: CodeField) -> Option<u8> {
        Some(self.entry.codes[field as usize]).filter(|&c| c != CODE_ABSENT)
    }

    /// 資格通番 of the row.
    pub fn qualification_seq(&self) -> u32 {
        self.entry.qualification_seq.to_native()
    }

    /// The dates that decide whether this row is in force (see [`Validity`]).
    pub fn validity(&self) -> Validity {
        validity_from(|field| self.date(field))
    }

    /// The row as an owned, build-ready row (`None` only for a damaged file).
    pub fn to_row(&self) -> Option<EligibilityRow> {
        let dates = DateField::ALL.map(|field| self.date(field).map(Date::days));
        let codes = CodeField::ALL.map(|field| self.code(field).unwrap_or(CODE_ABSENT));
        EligibilityRow::new(
            self.person()?.linkage().0,
            self.texts(),
            dates,
            codes,
            self.qualification_seq(),
        )
    }

    /// The person this row belongs to.
    pub fn person(&self) -> Option<PersonRef<'s>> {
        PersonRef::new(
            self.shard,
            Loc {
                shard: self.loc.shard,
                index: self.entry.person.to_native(),
            },
        )
    }

    /// The person's location without reading the person entry.
    pub fn person_loc(&self) -> Loc {
        Loc {
            shard: self.loc.shard,
            index: self.entry.person.to_native(),
        }
    }
}

impl std::fmt::Debug for RowRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Row({} seq {} at {:?})",
            self.text(TextField::OnlineNumber),
            self.qualification_seq(),
            self.loc
        )
    }
}

/// A person (linkage number) and their rows.
#[derive(Clone, Copy)]
pub struct PersonRef<'s> {
    shard: &'s ArchivedPersonShard,
    entry: &'s ArchivedPersonEntry,
    loc: Loc,
}

impl<'s> PersonRef<'s> {
    pub(crate) fn new(shard: &'s ArchivedPersonShard, loc: Loc) -> Option<PersonRef<'s>> {
        let entry = shard.persons.get(loc.index as usize)?;
        Some(PersonRef { shard, entry, loc })
    }

    /// Where the person entry lives (shard, person index).
    pub fn loc(&self) -> Loc {
        self.loc
    }

    /// The person's 紐付番号.
    pub fn linkage(&self) -> LinkageNo {
        let lo = u128::from(self.entry.linkage_lo.to_native());
        let hi = u128::from(self.entry.linkage_hi.to_native());
        LinkageNo(hi << 64 | lo)
    }

    /// The person's rows, newest `acquired` first.
    pub fn rows(&self) -> impl Iterator<Item = RowRef<'s>> + 's {
        let first = self.entry.first_row.to_native();
        let count = self.entry.row_count.to_native();
        let (shard, shard_index) = (self.shard, self.loc.shard);
        (first..first.saturating_add(count)).filter_map(move |index| {
            RowRef::new(
                shard,
                Loc {
                    shard: shard_index,
                    index,
                },
            )
        })
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

//! Key lookups over an open snapshot: hash the key, pick the shard, probe its
//! index, and verify the key against what the slot points to.
//!
//! These return what is stored; the answer rules (what it means on a date)
//! are the engine's.

use super::format::{key_hash, probe, shard_of, Loc, NO_DATE, NO_PERSON};
use super::open::{PersonShards, Snapshot};
use super::view::{InsurerRef, PersonRef, RowRef};
use crate::model::{Date, LinkageNo, OnlineNumber, Serial, TextField};
use smallvec::SmallVec;

/// Rows matched by one key; inline for the common case of a few.
pub type Rows<'s> = SmallVec<[RowRef<'s>; 8]>;

/// What a serial is linked to.
#[derive(Clone, Copy, Debug)]
pub struct SerialLink<'s> {
    /// The 紐付番号 the serial is linked to in `linkage.csv` (after renewals).
    pub linkage: LinkageNo,
    /// `None` when the linkage number has no eligibility rows.
    pub person: Option<PersonRef<'s>>,
}

impl std::fmt::Debug for PersonRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Person({} at {:?})", self.linkage(), self.loc())
    }
}

impl PersonShards {
    /// The person with this linkage number.
    pub fn person_by_linkage(&self, linkage: LinkageNo) -> Option<PersonRef<'_>> {
        let hash = key_hash(&linkage.index_key());
        let shard_index = shard_of(hash, self.count());
        let shard = self.get(shard_index)?;
        probe(&shard.linkage_index, hash)
            .filter_map(|target| {
                let index = u32::try_from(target).ok()?;
                PersonRef::new(
                    shard,
                    Loc {
                        shard: shard_index,
                        index,
                    },
                )
            })
            .find(|person| person.linkage() == linkage)
    }
}

impl Snapshot {
    /// The row at a location.
    pub fn row(&self, loc: Loc) -> Option<RowRef<'_>> {
        RowRef::new(self.person_shard(loc.shard)?, loc)
    }

    /// Resolves a packed row location from an index slot.
    fn row_at(&self, packed: u64) -> Option<RowRef<'_>> {
        self.row(Loc::unpack(packed))
    }

    /// Every row whose online-check number is `number`.
    pub fn rows_by_online_number(&self, number: &OnlineNumber) -> Rows<'_> {
        let key = number.as_str();
        let hash = key_hash(key.as_bytes());
        let Some(shard) = self.key_shard(shard_of(hash, self.shard_count())) else {
            return Rows::new();
        };
        probe(&shard.online_index, hash)
            .filter_map(|target| self.row_at(target))
            .filter(|row| row.text(TextField::OnlineNumber) == key)
            .collect()
    }

    /// Every row whose card face is (insurer number, symbol, number), given
    /// the key in its index form (see `CardFaceKey::index_key`).
    pub fn rows_by_card_face(&self, insurer_number: &str, symbol: &str, number: &str) -> Rows<'_> {
        let key = crate::model::ids::face_index_key(insurer_number, symbol, number);
        let hash = key_hash(&key);
        let Some(shard) = self.key_shard(shard_of(hash, self.shard_count())) else {
            return Rows::new();
        };
        probe(&shard.face_index, hash)
            .filter_map(|target| self.row_at(target))
            .filter(|row| {
                row.text(TextField::InsurerNumber) == insurer_number
                    && row.text(TextField::CardSymbol) == symbol
                    && row.text(TextField::CardNumber) == number
            })
            .collect()
    }

    /// The person with this linkage number.
    pub fn person_by_linkage(&self, linkage: LinkageNo) -> Option<PersonRef<'_>> {
        self.persons().person_by_linkage(linkage)
    }

    /// The person at a location (as stored in a serial entry).
    pub fn person_at(&self, loc: Loc) -> Option<PersonRef<'_>> {
        PersonRef::new(self.person_shard(loc.shard)?, loc)
    }

    /// What `serial` is linked to, if anything.
    pub fn serial_link(&self, serial: &Serial) -> Option<SerialLink<'_>> {
        let bytes = serial.as_bytes();
        let hash = key_hash(bytes);
        let shard = self.key_shard(shard_of(hash, self.shard_count()))?;
        probe(&shard.serial_index, hash)
            .filter_map(|target| shard.serials.get(usize::try_from(target).ok()?))
            .find(|entry| {
                let len = (entry.serial_len.to_native() as usize).min(20);
                &entry.serial[..len] == bytes
            })
            .map(|entry| {
                let lo = u128::from(entry.linkage_lo.to_native());
                let hi = u128::from(entry.linkage_hi.to_native());
                let person = entry.person.to_native();
                SerialLink {
                    linkage: LinkageNo(hi << 64 | lo),
                    person: (person != NO_PERSON)
                        .then(|| self.person_at(Loc::unpack(person)))
                        .flatten(),
                }
            })
    }

    /// Every row of a person shard, in stored order (the fold reads a whole
    /// snapshot this way).
    pub fn rows_of_shard(&self, shard: u32) -> impl Iterator<Item = RowRef<'_>> + '_ {
        let count = self.person_shard(shard).map_or(0, |s| s.rows.len() as u32);
        (0..count).filter_map(move |index| self.row(Loc { shard, index }))
    }

    /// Every linked serial and the linkage number it links to.
    pub fn serial_links(&self) -> impl Iterator<Item = (Serial, LinkageNo)> + '_ {
        (0..self.shard_count())
            .filter_map(|shard| self.key_shard(shard))
            .flat_map(|shard| shard.serials.iter())
            .filter_map(|entry| {
                let len = (entry.serial_len.to_native() as usize).min(20);
                let serial = Serial::from_be_bytes(&entry.serial[..len])?;
                let lo = u128::from(entry.linkage_lo.to_native());
                let hi = u128::from(entry.linkage_hi.to_native());
                Some((serial, LinkageNo(hi << 64 | lo)))
            })
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

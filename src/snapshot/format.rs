//! The on-disk layout of a snapshot: file kinds, headers, archived shard
//! structures and the hash-index slots.
//!
//! Every data file is `[16-byte header][rkyv archive]`. The archived
//! structures hold only flat vectors of plain integers (no strings, enums or
//! options inside elements), for two reasons:
//! - rkyv's validation of such a vector checks its bounds once and never
//!   touches its elements, so opening a snapshot validates every file in
//!   time independent of its size and without reading it from disk;
//! - every access afterwards is a bounds-checked slice access, so a damaged
//!   file can make an answer wrong (the checksums catch that) but can never
//!   cause undefined behaviour.
//!
//! Text lives in one byte arena per shard; a row records where its fields
//! start and end.

use crate::model::{CODE_FIELD_COUNT, DATE_FIELD_COUNT, TEXT_FIELD_COUNT};
use rkyv::{Archive, Serialize};

/// Version of the snapshot format (its manifest and what its files hold);
/// a snapshot of another version is refused. The data files' own header
/// layout is versioned apart (`storage::archive::FILE_LAYOUT_VERSION`).
///
/// 2: card symbols and numbers are stored (and keyed) in the card-face
/// normal form, half-width katakana folded to full-width with the sound
/// marks composed; a version-1 snapshot kept them as written, so a card
/// stored in half-width katakana would no longer be found.
pub const FORMAT_VERSION: u32 = 2;

/// Stored value of an absent date.
pub const NO_DATE: i32 = i32::MIN;

/// Stored target of a serial whose linkage number has no eligibility rows.
pub const NO_PERSON: u64 = u64::MAX;

/// One slot of an open-addressing hash index: the key's 64-bit hash (0 =
/// empty) and what it points to. Keys are verified against the target after
/// a hash match, so a hash collision costs a comparison, never a wrong answer.
#[derive(Archive, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// 64-bit hash of the key; 0 marks an empty slot.
    pub hash: u64,
    /// What the key points to: a packed [`Loc`], or an index into a vector,
    /// depending on the index.
    pub target: u64,
}

/// A person: the linkage number and the range of their rows in the shard.
#[derive(Archive, Serialize, Clone, Copy, Debug)]
pub struct PersonEntry {
    /// Low 64 bits of the 紐付番号 (linkage number).
    pub linkage_lo: u64,
    /// High 64 bits of the 紐付番号 (linkage number).
    pub linkage_hi: u64,
    /// Index in the shard's `rows` of the person's first (newest) row.
    pub first_row: u32,
    /// Number of rows the person has (at least 1).
    pub row_count: u32,
}

/// A qualification row: fixed fields plus the location of its text.
#[derive(Archive, Serialize, Clone, Copy, Debug)]
pub struct RowEntry {
    /// Index of the person in the shard.
    pub person: u32,
    /// 資格通番 of the row (1 when the source left it empty).
    pub qualification_seq: u32,
    /// Dates indexed by `DateField` ([`NO_DATE`] = none).
    pub dates: [i32; DATE_FIELD_COUNT],
    /// Codes indexed by `CodeField` (`CODE_ABSENT` = none).
    pub codes: [u8; CODE_FIELD_COUNT],
    /// Offset of the first text field in the shard's arena.
    pub text_start: u64,
    /// End of each text field, relative to `text_start`, indexed by `TextField`.
    pub text_ends: [u16; TEXT_FIELD_COUNT],
}

/// Persons whose linkage number hashes to this shard, with all their rows.
#[derive(Archive, Serialize, Debug, Default)]
pub struct PersonShard {
    /// Number of this person shard (0-based; its file is `persons-NNNN.rkyv`).
    pub shard: u32,
    /// Sorted by linkage number.
    pub persons: Vec<PersonEntry>,
    /// Grouped by person, each person's rows newest `acquired` first.
    pub rows: Vec<RowEntry>,
    /// UTF-8 text arena of all the shard's rows; rows point into it.
    pub text: Vec<u8>,
    /// Linkage number → person index.
    pub linkage_index: Vec<Slot>,
}

/// A linkage entry: certificate serial → person.
#[derive(Archive, Serialize, Clone, Copy, Debug)]
pub struct SerialEntry {
    /// Big-endian serial, left-aligned, `serial_len` significant bytes.
    pub serial: [u8; 20],
    /// Significant bytes of `serial` (0–20; 0 is the serial zero).
    pub serial_len: u32,
    /// Low 64 bits of the linked 紐付番号.
    pub linkage_lo: u64,
    /// High 64 bits of the linked 紐付番号.
    pub linkage_hi: u64,
    /// Packed [`Loc`] of the linked person, or [`NO_PERSON`].
    pub person: u64,
}

/// Lookup keys whose hash falls in this shard: online numbers and card faces
/// (→ row locations in person shards) and certificate serials.
#[derive(Archive, Serialize, Debug, Default)]
pub struct KeyShard {
    /// Number of this key shard (0-based; its file is `keys-NNNN.rkyv`).
    pub shard: u32,
    /// Online-check number → packed row location.
    pub online_index: Vec<Slot>,
    /// Card face (insurer number, symbol, number) → packed row location.
    pub face_index: Vec<Slot>,
    /// Linked certificate serials whose hash falls in this shard.
    pub serials: Vec<SerialEntry>,
    /// Serial → index into `serials`.
    pub serial_index: Vec<Slot>,
}

/// The insurer master, sorted by insurer number; text in one arena.
#[derive(Archive, Serialize, Debug, Default)]
pub struct InsurerMaster {
    /// Insurer numbers as 8 ASCII digits.
    pub numbers: Vec<[u8; 8]>,
    /// Per insurer: end offsets of name, address, phone, postal code.
    pub text_ends: Vec<[u64; 4]>,
    /// Per insurer: abolition date ([`NO_DATE`] = none).
    pub abolished: Vec<i32>,
    /// UTF-8 text arena of name, address, phone and postal code per insurer.
    pub text: Vec<u8>,
}

/// Location of a row or person: shard in the high 32 bits, index in the low.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Loc {
    /// Shard number (the high 32 bits when packed).
    pub shard: u32,
    /// Index within the shard (the low 32 bits when packed).
    pub index: u32,
}

impl Loc {
    /// The location as one `u64`: shard in the high 32 bits, index in the low.
    pub fn pack(self) -> u64 {
        (u64::from(self.shard) << 32) | u64::from(self.index)
    }

    /// The location a [`Loc::pack`] value stands for.
    pub fn unpack(packed: u64) -> Loc {
        Loc {
            shard: (packed >> 32) as u32,
            index: packed as u32,
        }
    }
}

/// Hash of a lookup key; never 0 (0 marks an empty slot).
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key).max(1)
}

/// Shard of a key hash among `shards`: uses the high 32 bits, so that slot
/// positions (low bits) stay independent of the shard choice.
#[inline]
pub fn shard_of(hash: u64, shards: u32) -> u32 {
    (((hash >> 32) * u64::from(shards)) >> 32) as u32
}

/// Builds an open-addressing table (linear probing, power-of-two size, load
/// factor at most 0.7, always at least one empty slot) from `(hash, target)`
/// entries. Entries are inserted in sorted order so that the same input
/// always gives the same bytes.
pub fn build_index(entries: &mut [(u64, u64)]) -> Vec<Slot> {
    entries.sort_unstable();
    let size = (entries.len() * 10 / 7 + 2).next_power_of_two();
    let mask = size - 1;
    let mut slots = vec![Slot::default(); size];
    for &(hash, target) in entries.iter() {
        let mut position = hash as usize & mask;
        while slots[position].hash != 0 {
            position = (position + 1) & mask;
        }
        slots[position] = Slot { hash, target };
    }
    slots
}

/// Targets of every slot whose hash equals `hash`, in probe order. Bounded by
/// the table size, so even a damaged table cannot loop forever.
#[inline]
pub fn probe(slots: &[ArchivedSlot], hash: u64) -> impl Iterator<Item = u64> + '_ {
    let mask = slots.len().wrapping_sub(1);
    let start = hash as usize & mask;
    (0..slots.len())
        .map(move |step| &slots[(start + step) & mask])
        .take_while(|slot| slot.hash != 0)
        .filter(move |slot| slot.hash == hash)
        .map(|slot| slot.target.to_native())
}

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
//! A person is one block of bytes in its person shard (see
//! [`super::codec`]); the snapshot's text dictionary is a file of its own.

use rkyv::{Archive, Serialize};

/// Version of the snapshot format (its manifest and what its files hold);
/// a snapshot of another version is refused. The data files' own header
/// layout is versioned apart (`storage::archive::FILE_LAYOUT_VERSION`).
///
/// - 2: card symbols and numbers are stored (and keyed) in the card-face
///   normal form, half-width katakana folded to full-width with the sound
///   marks composed.
/// - 3: the compact form: a person is one block of packed rows (see
///   [`super::codec`]) with one text dictionary for the snapshot, persons
///   are placed by household, and index slots are 6 bytes (fingerprint +
///   person).
pub const FORMAT_VERSION: u32 = 3;

/// Stored value of an absent date in the insurer master.
pub const NO_DATE: i32 = i32::MIN;

/// Serial-index targets with this bit set are offsets into the key shard's
/// table of serials linked to a linkage number without rows.
pub const UNMATCHED: u32 = 1 << 31;

/// Most persons one snapshot may hold (person numbers stay below
/// [`UNMATCHED`]).
pub const MAX_PERSONS: u64 = UNMATCHED as u64 - 1;

/// Share of an index's slots in use at most: linear probing stays short
/// (about 3 slots read for a key found, within one or two cache lines)
/// while the indexes take 7.5 bytes a key. See docs/performance.md.
pub const INDEX_LOAD: f64 = 0.8;

/// One slot of an open-addressing hash index, 6 bytes: a 16-bit
/// fingerprint of the key (0 = empty) and the 32-bit person it leads to,
/// both little-endian. A fingerprint match is always verified against the
/// person's block, so a collision (one probe in 65,535) costs a comparison,
/// never a wrong answer.
#[derive(Archive, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Fingerprint (bytes 0–1) and target (bytes 2–5).
    pub bytes: [u8; 6],
}

impl Slot {
    /// A slot holding `target` under `fingerprint`.
    pub fn new(fingerprint: u16, target: u32) -> Slot {
        let mut bytes = [0u8; 6];
        bytes[..2].copy_from_slice(&fingerprint.to_le_bytes());
        bytes[2..].copy_from_slice(&target.to_le_bytes());
        Slot { bytes }
    }
}

impl ArchivedSlot {
    /// The key's fingerprint; 0 marks an empty slot.
    #[inline]
    pub fn fingerprint(&self) -> u16 {
        u16::from_le_bytes([self.bytes[0], self.bytes[1]])
    }

    /// Person number (see [`PersonShard`]), or for the serial index an
    /// [`UNMATCHED`] offset.
    #[inline]
    pub fn target(&self) -> u32 {
        u32::from_le_bytes([self.bytes[2], self.bytes[3], self.bytes[4], self.bytes[5]])
    }
}

/// The snapshot's text dictionary: the pieces of text that repeat across
/// its rows (names, towns, employers, addresses of issuers), most used
/// first; rows refer to them by id.
#[derive(Archive, Serialize, Debug, Default)]
pub struct TextDictionary {
    /// The entries, concatenated in id order.
    pub text: Vec<u8>,
    /// End of each entry in `text`.
    pub ends: Vec<u32>,
}

/// Persons placed in this shard (by the card face of their newest row, so
/// that a household's persons are adjacent) and their blocks.
///
/// Persons are numbered across the snapshot: shard 0's first, then shard
/// 1's, and so on; index slots hold these numbers.
#[derive(Archive, Serialize, Debug, Default)]
pub struct PersonShard {
    /// Number of this person shard (0-based; its file is `persons-NNNN.rkyv`).
    pub shard: u32,
    /// Every person's block ([`super::codec::block`]), one after another.
    pub blocks: Vec<u8>,
    /// End of each person's block in `blocks`, in person order.
    pub block_ends: Vec<u32>,
}

/// Lookup keys whose hash falls in this shard: online numbers, card faces,
/// linkage numbers and certificate serials, each to a person.
#[derive(Archive, Serialize, Debug, Default)]
pub struct KeyShard {
    /// Number of this key shard (0-based; its file is `keys-NNNN.rkyv`).
    pub shard: u32,
    /// Online-check number → person (one slot per person the number has rows of).
    pub online_index: Vec<Slot>,
    /// Card face (insurer number, symbol, number) → person (one slot per person).
    pub face_index: Vec<Slot>,
    /// Linkage number → person.
    pub linkage_index: Vec<Slot>,
    /// Serial → person, or an [`UNMATCHED`] offset into `unmatched`.
    pub serial_index: Vec<Slot>,
    /// Serials linked to a linkage number without rows, each
    /// `[len u8][serial][linkage varint]`.
    pub unmatched: Vec<u8>,
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

/// The 128-bit hash of a lookup key: the low half picks the shard and the
/// home slot, the high half gives the fingerprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyHash {
    /// Low 64 bits: shard (its high 32 bits) and home slot (its low 32).
    pub low: u64,
    /// Fingerprint stored in the slot (never 0).
    pub fingerprint: u16,
}

impl KeyHash {
    /// Hashes `key` (its index bytes, see docs/formats.md).
    #[inline]
    pub fn of(key: &[u8]) -> KeyHash {
        let hash = xxhash_rust::xxh3::xxh3_128(key);
        KeyHash {
            low: hash as u64,
            fingerprint: ((hash >> 64) as u16).max(1),
        }
    }

    /// The shard among `shards` the key belongs to: uses the high 32 bits of
    /// the low half, so that home slots (its low 32 bits) stay independent.
    #[inline]
    pub fn shard(self, shards: u32) -> u32 {
        (((self.low >> 32) * u64::from(shards)) >> 32) as u32
    }

    /// The home slot in a table of `len` slots.
    #[inline]
    pub fn home(self, len: usize) -> usize {
        ((u64::from(self.low as u32) * len as u64) >> 32) as usize
    }
}

/// Builds an open-addressing table (linear probing, at most [`INDEX_LOAD`]
/// full, always at least one empty slot) from `(home hash, fingerprint,
/// target)` entries. Entries are inserted in sorted order so that the same
/// input always gives the same bytes.
pub fn build_index(entries: &mut [(u32, u16, u32)]) -> Vec<Slot> {
    entries.sort_unstable();
    let len = ((entries.len() as f64 / INDEX_LOAD).ceil() as usize).max(entries.len() + 1);
    let mut slots = vec![Slot::default(); len];
    for &(low, fingerprint, target) in entries.iter() {
        let mut position = KeyHash {
            low: u64::from(low),
            fingerprint,
        }
        .home(len);
        // Fingerprints are never 0, so a slot is free while its first two
        // bytes are.
        while slots[position].bytes[..2] != [0, 0] {
            position = if position + 1 == len { 0 } else { position + 1 };
        }
        slots[position] = Slot::new(fingerprint, target);
    }
    slots
}

/// Targets of every slot whose fingerprint is the key's, in probe order.
/// Bounded by the table size, so even a damaged table cannot loop forever.
#[inline]
pub fn probe(slots: &[ArchivedSlot], hash: KeyHash) -> impl Iterator<Item = u32> + '_ {
    let len = slots.len();
    let start = if len == 0 { 0 } else { hash.home(len) };
    (0..len)
        .map(move |step| {
            let position = start + step;
            &slots[if position >= len {
                position - len
            } else {
                position
            }]
        })
        .take_while(|slot| slot.fingerprint() != 0)
        .filter(move |slot| slot.fingerprint() == hash.fingerprint)
        .map(|slot| slot.target())
}

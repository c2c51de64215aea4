//! Where the overlay's records live: an append-only arena of 64-bit words,
//! and open-addressing tables whose slots point at the newest record of
//! each key.
//!
//! One writer appends; any number of checks read at the same time, each
//! up to the end of the version it loaded. Records never move and are
//! never changed once written, so a check follows a key's chain of
//! records (each names the one before it) from the newest down to the
//! first that its version holds, and a version is nothing but an end
//! position: publishing a group of changes copies no record.
//!
//! Everything shared is an atomic word, so this needs no `unsafe`: the
//! writer fills a record's words, then stores the slot that points at it
//! with release ordering; a reader loads the slot with acquire ordering
//! and so sees the whole record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Where a record starts: its first word's offset in the arena (never 0).
pub(super) type Pos = u64;

/// Words in a chunk (2 MiB): a record never spans two.
const CHUNK_BITS: u32 = 18;
const CHUNK_WORDS: u64 = 1 << CHUNK_BITS;
/// Chunks an arena can hold: 16 GiB of records, beyond what fits beside a
/// national snapshot on the machines it runs on.
const MAX_CHUNKS: usize = 1 << 13;
/// A slot holds a position in its low bits and a key fingerprint above.
const POS_BITS: u32 = 40;
const POS_MASK: u64 = (1 << POS_BITS) - 1;
/// Largest record, in words (a row's text is at most 64 KiB).
pub(super) const MAX_RECORD_WORDS: usize = 1 << 14;

/// The words of every record, shared by all versions of one overlay.
pub(super) struct Arena {
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
    /// Where the next record goes.
    end: AtomicU64,
}

impl Arena {
    /// An empty arena (no memory for records until the first).
    pub(super) fn new() -> Arena {
        Arena {
            chunks: std::iter::repeat_with(OnceLock::new)
                .take(MAX_CHUNKS)
                .collect(),
            end: AtomicU64::new(1),
        }
    }

    /// Where the next record will go: every record is below it.
    pub(super) fn end(&self) -> u64 {
        self.end.load(Ordering::Acquire)
    }

    /// Appends a record (the writer only) and returns where it starts. Its
    /// first word must be non-zero and hold its length ([`header`]).
    pub(super) fn push(&self, words: &[u64]) -> Pos {
        let len = words.len() as u64;
        debug_assert!(len > 0 && len as usize <= MAX_RECORD_WORDS && words[0] != 0);
        let mut at = self.end.load(Ordering::Relaxed);
        if (at & (CHUNK_WORDS - 1)) + len > CHUNK_WORDS {
            at = (at | (CHUNK_WORDS - 1)) + 1;
        }
        let chunk = self.chunks[(at >> CHUNK_BITS) as usize].get_or_init(|| {
            std::iter::repeat_with(|| AtomicU64::new(0))
                .take(CHUNK_WORDS as usize)
                .collect()
        });
        let start = (at & (CHUNK_WORDS - 1)) as usize;
        for (slot, word) in chunk[start..].iter().zip(words) {
            slot.store(*word, Ordering::Relaxed);
        }
        self.end.store(at + len, Ordering::Release);
        at
    }

    /// The words of the record at `pos`, appended to `out`.
    pub(super) fn read_into(&self, pos: Pos, out: &mut impl Extend<u64>) {
        let Some(chunk) = self.chunk(pos) else {
            return;
        };
        let start = (pos & (CHUNK_WORDS - 1)) as usize;
        let len = header_len(chunk[start].load(Ordering::Relaxed));
        out.extend(
            chunk[start..(start + len).min(chunk.len())]
                .iter()
                .map(|word| word.load(Ordering::Relaxed)),
        );
    }

    fn chunk(&self, pos: Pos) -> Option<&[AtomicU64]> {
        self.chunks
            .get((pos >> CHUNK_BITS) as usize)?
            .get()
            .map(|chunk| &chunk[..])
    }

    /// Every record below `end`, in the order written.
    pub(super) fn positions(&self, end: u64) -> impl Iterator<Item = Pos> + '_ {
        let mut at = 1;
        std::iter::from_fn(move || loop {
            if at >= end {
                return None;
            }
            let len = self.chunk(at).map_or(0, |chunk| {
                header_len(chunk[(at & (CHUNK_WORDS - 1)) as usize].load(Ordering::Relaxed))
            });
            if len == 0 {
                // The rest of the chunk was left for a record that did not fit.
                at = (at | (CHUNK_WORDS - 1)) + 1;
                continue;
            }
            let pos = at;
            at += len as u64;
            return Some(pos);
        })
    }

    /// Bytes of memory the arena holds.
    pub(super) fn bytes(&self) -> u64 {
        let chunks = self.chunks.iter().filter(|c| c.get().is_some()).count() as u64;
        chunks * CHUNK_WORDS * 8
    }
}

/// A record's first word: its length in words and its kind; the rest of
/// the word is the caller's.
pub(super) fn header(len_words: usize, kind: u8, rest: u64) -> u64 {
    debug_assert!(len_words < 1 << 16 && rest < 1 << 40);
    len_words as u64 | u64::from(kind) << 16 | rest << 24
}

/// The length of a record from its first word.
fn header_len(word: u64) -> usize {
    (word & 0xFFFF) as usize
}

/// The kind of a record from its first word.
pub(super) fn header_kind(word: u64) -> u8 {
    (word >> 16) as u8
}

/// The caller's 40 bits of a record's first word.
pub(super) fn header_rest(word: u64) -> u64 {
    word >> 24
}

/// A hash table from keys to the newest record holding each: slots of one
/// word (key fingerprint and position), linear probing, never a removal.
/// The key itself is in the record, and a probe compares it there.
pub(super) struct Table {
    slots: Box<[AtomicU64]>,
    mask: u64,
}

impl Table {
    /// A table with room for `keys` keys before it should grow.
    pub(super) fn with_room(keys: usize) -> Table {
        let slots = (keys.max(16) * 4 / 3 + 1).next_power_of_two();
        Table {
            slots: std::iter::repeat_with(|| AtomicU64::new(0))
                .take(slots)
                .collect(),
            mask: slots as u64 - 1,
        }
    }

    /// True when `keys` keys fill it beyond its load limit (3/4).
    pub(super) fn is_full_with(&self, keys: usize) -> bool {
        keys * 4 > self.slots.len() * 3
    }

    /// The slot of the key hashed to `hash` (`is_key` tells whether a
    /// record holds the key) and the newest record it points at, or the
    /// free slot where the key would go and `None`. The table must be
    /// below its load limit ([`Table::is_full_with`]), so that a free slot
    /// exists.
    pub(super) fn find(
        &self,
        hash: u64,
        mut is_key: impl FnMut(Pos) -> bool,
    ) -> (usize, Option<Pos>) {
        let mut index = hash & self.mask;
        loop {
            let slot = self.slots[index as usize].load(Ordering::Acquire);
            if slot == 0 {
                return (index as usize, None);
            }
            let pos = slot & POS_MASK;
            if slot >> POS_BITS == hash >> POS_BITS && is_key(pos) {
                return (index as usize, Some(pos));
            }
            index = (index + 1) & self.mask;
        }
    }

    /// Points slot `index` (from [`Table::find`] for `hash`) at `pos`: the
    /// writer only, after the record at `pos` is written whole.
    pub(super) fn store(&self, index: usize, hash: u64, pos: Pos) {
        self.slots[index].store((hash >> POS_BITS) << POS_BITS | pos, Ordering::Release);
    }

    /// Every position the table points at.
    pub(super) fn heads(&self) -> impl Iterator<Item = Pos> + '_ {
        self.slots
            .iter()
            .map(|slot| slot.load(Ordering::Acquire) & POS_MASK)
            .filter(|&pos| pos != 0)
    }

    /// Bytes of memory the table holds.
    pub(super) fn bytes(&self) -> u64 {
        self.slots.len() as u64 * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_read_back_across_chunks() {
        let arena = Arena::new();
        let mut written = Vec::new();
        for i in 0..150_000u64 {
            let len = 1 + (i % 7) as usize;
            let mut words = vec![header(len, 1, i); 1];
            words.extend((1..len as u64).map(|w| w * i));
            written.push((arena.push(&words), words));
        }
        assert!(arena.bytes() > CHUNK_WORDS * 8);
        let positions: Vec<Pos> = arena.positions(arena.end()).collect();
        assert_eq!(
            positions,
            written.iter().map(|(pos, _)| *pos).collect::<Vec<_>>()
        );
        let mut out = Vec::new();
        for (pos, words) in &written {
            out.clear();
            arena.read_into(*pos, &mut out);
            assert_eq!(&out, words);
        }
    }

    #[test]
    fn a_table_keeps_the_newest_record_of_each_key() {
        let table = Table::with_room(100);
        // Keys whose hashes collide in the index and the fingerprint.
        let key_of = |pos: Pos| pos % 10;
        for pos in 1..=50u64 {
            let (slot, before) = table.find(7, |old| key_of(old) == key_of(pos));
            assert_eq!(before, (pos > 10).then(|| pos - 10));
            table.store(slot, 7, pos);
        }
        for key in 0..10 {
            let (_, newest) = table.find(7, |pos| key_of(pos) == key);
            assert_eq!(newest.map(key_of), Some(key));
            assert!(newest.unwrap() > 40);
        }
        assert_eq!(table.heads().count(), 10);
        assert!(!table.is_full_with(10));
        assert!(table.is_full_with(table.slots.len()));
    }
}

//! The snapshot's text dictionary: the pieces of text that repeat across
//! its rows (family and given names, towns, employers, issuers' addresses,
//! card symbols), stored once and referred to by id from every row that
//! uses them.
//!
//! Ids are given by frequency, most used first, so the commonest pieces
//! take one or two bytes in a row. A piece gets an entry only where that
//! saves bytes: its uses times what an id saves over writing it out must
//! be more than the entry costs. Digit strings never get one (they pack
//! into an integer, see [`super::row`]).
//!
//! The build counts pieces shard by shard ([`PieceCounts`], over rows
//! stored without a dictionary, where each piece is written out on its
//! own, so counting never decodes a row), keeps what repeats within a
//! shard, and adds those counts up ([`DictionaryBuilder`]): memory stays
//! bounded by the pieces that repeat, never by the unique ones (the lot and
//! building part of each address).

use super::reader::literal_pieces;
use super::row::{tag, KIND_ENTRY, KIND_LITERAL};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Passes on a `u64` that is already a hash.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxhash_rust::xxh3::xxh3_64(bytes);
    }
    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

/// Maps keyed by the xxh3-64 of a piece.
type ByHash<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

fn piece_hash(piece: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(piece)
}

/// Where a row encoder finds the id of a piece (none: write it out).
pub trait PieceIds {
    /// The id of `piece`, if the dictionary holds it.
    fn id(&self, piece: &[u8]) -> Option<u32>;
}

/// Where a row decoder finds the piece of an id.
pub trait PieceTexts {
    /// The bytes of entry `id`; `None` past the end (a damaged row).
    fn text(&self, id: u32) -> Option<&[u8]>;
}

impl<T: PieceTexts + ?Sized> PieceTexts for &T {
    fn text(&self, id: u32) -> Option<&[u8]> {
        (**self).text(id)
    }
}

/// No dictionary: every piece is written out (temporary build files).
#[derive(Clone, Copy)]
pub struct NoDictionary;

impl PieceIds for NoDictionary {
    fn id(&self, _piece: &[u8]) -> Option<u32> {
        None
    }
}

impl PieceTexts for NoDictionary {
    fn text(&self, _id: u32) -> Option<&[u8]> {
        None
    }
}

/// Shortest piece (bytes) counted: shorter ones cost no more written out.
const MIN_PIECE_BYTES: usize = 3;

/// The pieces of one shard's rows and how often each is used.
#[derive(Default)]
pub struct PieceCounts<'a> {
    uses: ByHash<(&'a [u8], u32)>,
}

impl<'a> PieceCounts<'a> {
    /// An empty count.
    pub fn new() -> PieceCounts<'a> {
        PieceCounts::default()
    }

    /// Counts the pieces written out in `row`, a row stored without a
    /// dictionary ([`super::row`]).
    pub fn count(&mut self, row: &'a [u8]) {
        for piece in literal_pieces(row) {
            if piece.len() >= MIN_PIECE_BYTES {
                let entry = self.uses.entry(piece_hash(piece)).or_insert((piece, 0));
                // Two pieces with one 64-bit hash: the first keeps the count.
                if entry.0 == piece {
                    entry.1 += 1;
                }
            }
        }
    }

    /// The pieces used more than once.
    pub fn repeated(&self) -> impl Iterator<Item = (&'a [u8], u32)> + '_ {
        self.uses
            .values()
            .filter(|(_, uses)| *uses > 1)
            .map(|&(piece, uses)| (piece, uses))
    }
}

/// Adds up the repeated pieces of every shard and chooses the entries.
#[derive(Default)]
pub struct DictionaryBuilder {
    uses: ByHash<(Box<[u8]>, u64)>,
}

impl DictionaryBuilder {
    /// No pieces yet.
    pub fn new() -> DictionaryBuilder {
        DictionaryBuilder::default()
    }

    /// Adds the repeated pieces of one shard.
    pub fn add(&mut self, counts: &PieceCounts<'_>) {
        for (piece, uses) in counts.repeated() {
            let entry = self
                .uses
                .entry(piece_hash(piece))
                .or_insert_with(|| (piece.into(), 0));
            if &*entry.0 == piece {
                entry.1 += u64::from(uses);
            }
        }
    }

    /// The dictionary: the pieces worth an entry, most used first (ties in
    /// byte order, so the same rows always give the same bytes).
    pub fn finish(self) -> Dictionary {
        let mut candidates: Vec<(Box<[u8]>, u64)> = self.uses.into_values().collect();
        candidates.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut text = Vec::new();
        let mut ends = Vec::new();
        for (piece, uses) in candidates {
            let id = ends.len() as u64;
            let written = varint_len(tag(KIND_LITERAL, piece.len() as u64, false)) + piece.len();
            let saved = written.saturating_sub(varint_len(tag(KIND_ENTRY, id, false))) as u64;
            // An entry costs its bytes and the end that marks it.
            if uses * saved > piece.len() as u64 + 4 {
                text.extend_from_slice(&piece);
                ends.push(text.len() as u32);
            }
        }
        Dictionary::from_entries(text, ends)
    }
}

fn varint_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// A finished dictionary: what the snapshot stores ([`Dictionary::text`]
/// and [`Dictionary::ends`]) and the id of each piece for the encoder.
#[derive(Default)]
pub struct Dictionary {
    slots: PieceTable,
    text: Vec<u8>,
    ends: Vec<u32>,
}

impl Dictionary {
    /// The dictionary of entries `text`, cut at `ends` (ids in that order).
    fn from_entries(text: Vec<u8>, ends: Vec<u32>) -> Dictionary {
        let mut slots = PieceTable::with_entries(ends.len());
        let mut start = 0u32;
        for (id, &end) in ends.iter().enumerate() {
            let piece = &text[start as usize..end as usize];
            slots.insert(piece, start, id as u32);
            start = end;
        }
        Dictionary { slots, text, ends }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no piece repeats.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The entries, concatenated in id order.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The end of each entry in [`Dictionary::text`], in id order.
    pub fn ends(&self) -> &[u32] {
        &self.ends
    }
}

impl PieceIds for Dictionary {
    fn id(&self, piece: &[u8]) -> Option<u32> {
        if piece.len() < MIN_PIECE_BYTES {
            return None;
        }
        self.slots.find(piece, &self.text)
    }
}

/// The encoder's index of a dictionary: an open-addressed table of 16-byte
/// slots, each holding what a lookup compares first (48 bits of the
/// piece's hash and its length) and where the entry's text starts, so that
/// finding an entry costs one slot read and one comparison of the text.
/// Transcoding every row of a national build looks up every piece of text
/// once, and a general map (bucket, then the entry's end, then its text)
/// cost twice the cache misses.
#[derive(Default)]
struct PieceTable {
    slots: Vec<PieceSlot>,
}

/// One slot: `key` is 0 when empty, else [`PieceSlot::key_of`] of the piece.
/// A piece is shorter than 65,536 bytes (a row's text is, in all), so the
/// key holds its length exactly; longer ones are never entries.
#[derive(Clone, Copy, Default)]
struct PieceSlot {
    key: u64,
    start: u32,
    id: u32,
}

impl PieceSlot {
    /// The high 47 bits of the piece's hash, a set bit (so that no key is
    /// 0) and the length; `None` for a piece too long to be an entry.
    fn key_of(piece: &[u8], hash: u64) -> Option<u64> {
        let len = u16::try_from(piece.len()).ok()?;
        Some((hash & !0x1_FFFF) | 1 << 16 | u64::from(len))
    }
}

impl PieceTable {
    /// A table for `entries` pieces, at most half full.
    fn with_entries(entries: usize) -> PieceTable {
        let size = (entries * 2).next_power_of_two().max(16);
        PieceTable {
            slots: vec![PieceSlot::default(); size],
        }
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn insert(&mut self, piece: &[u8], start: u32, id: u32) {
        let hash = piece_hash(piece);
        let Some(key) = PieceSlot::key_of(piece, hash) else {
            return;
        };
        let mut at = hash as usize & self.mask();
        while self.slots[at].key != 0 {
            at = (at + 1) & self.mask();
        }
        self.slots[at] = PieceSlot { key, start, id };
    }

    fn find(&self, piece: &[u8], text: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let hash = piece_hash(piece);
        let key = PieceSlot::key_of(piece, hash)?;
        let mut at = hash as usize & self.mask();
        loop {
            let slot = self.slots[at];
            if slot.key == 0 {
                return None;
            }
            // The same length and the same text: the same piece.
            if slot.key == key {
                let start = slot.start as usize;
                if text.get(start..start + piece.len()) == Some(piece) {
                    return Some(slot.id);
                }
            }
            at = (at + 1) & self.mask();
        }
    }
}

impl PieceTexts for Dictionary {
    fn text(&self, id: u32) -> Option<&[u8]> {
        let range = span(id as usize, |i| self.ends.get(i).map(|&end| end as usize))?;
        self.text.get(range)
    }
}

/// The byte range of item `index` of a list stored as the end of each item
/// (`end(i)`), the first starting at 0; `None` past the end or when the ends
/// fall (a damaged file).
#[inline]
pub fn span(index: usize, end: impl Fn(usize) -> Option<usize>) -> Option<std::ops::Range<usize>> {
    let stop = end(index)?;
    let start = match index {
        0 => 0,
        _ => end(index - 1)?,
    };
    (start <= stop).then_some(start..stop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TextField;
    use crate::snapshot::codec::row::encode_row;
    use crate::snapshot::codec::row::tests::row_with;

    #[test]
    fn every_entry_is_found_and_nothing_else() {
        let pieces: Vec<String> = (0..5_000).map(|i| format!("piece-{i}")).collect();
        let mut text = Vec::new();
        let mut ends = Vec::new();
        for piece in &pieces {
            text.extend_from_slice(piece.as_bytes());
            ends.push(text.len() as u32);
        }
        let dictionary = Dictionary::from_entries(text, ends);
        for (id, piece) in pieces.iter().enumerate() {
            assert_eq!(dictionary.id(piece.as_bytes()), Some(id as u32), "{piece}");
        }
        // A prefix of an entry starts where the entry does: its length
        // tells them apart.
        assert_eq!(dictionary.id(b"piece-1"), Some(1));
        assert_eq!(dictionary.id(b"piece-"), None);
        assert_eq!(dictionary.id(b"piece-5000"), None);
        assert_eq!(dictionary.id(b"pi"), None, "shorter than any entry");
        assert_eq!(dictionary.id(&[b'x'; 70_000]), None, "longer than a row");
        assert_eq!(Dictionary::default().id(b"piece-1"), None);
    }

    #[test]
    fn keeps_repeated_pieces_most_used_first() {
        let rows: Vec<Vec<u8>> = ["山田 太郎", "山田 花子", "佐藤 花子", "山田 一"]
            .iter()
            .map(|name| {
                let mut bytes = Vec::new();
                encode_row(&row_with(TextField::Name, name), &NoDictionary, &mut bytes);
                bytes
            })
            .collect();
        let mut counts = PieceCounts::new();
        for row in &rows {
            counts.count(row);
        }
        let mut builder = DictionaryBuilder::new();
        builder.add(&counts);
        builder.add(&counts);
        let dictionary = builder.finish();
        assert_eq!(dictionary.id("山田 ".as_bytes()), Some(0));
        assert_eq!(dictionary.id("花子".as_bytes()), Some(1));
        assert_eq!(
            dictionary.id("佐藤 ".as_bytes()),
            None,
            "used once in a shard"
        );
        assert_eq!(dictionary.id("一".as_bytes()), None, "used once in a shard");
        assert_eq!(PieceTexts::text(&dictionary, 0), Some("山田 ".as_bytes()));
        assert_eq!(PieceTexts::text(&dictionary, 1), Some("花子".as_bytes()));
        assert_eq!(PieceTexts::text(&dictionary, 2), None);
    }
}

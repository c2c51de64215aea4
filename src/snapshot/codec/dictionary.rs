//! A person shard's dictionary: the text pieces that repeat in it (family
//! and given names, towns, employers, issuers' addresses, card symbols),
//! stored once and referred to by id from every row that uses them.
//!
//! Ids are given by frequency, most used first, so the commonest pieces
//! take one or two bytes in a row. A piece is worth an entry only if it is
//! used at least twice and is longer than its id; digit strings never are
//! (they pack into an integer anyway, see [`super::row`]).

use super::reader::literal_pieces;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A piece as a map key, hashed in one call of xxh3 (the streaming hasher
/// that `Hash for [u8]` would drive costs more than the lookup itself).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Piece<'a>(&'a [u8]);

impl Hash for Piece<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(xxhash_rust::xxh3::xxh3_64(self.0));
    }
}

/// Passes on the one `u64` a [`Piece`] writes.
#[derive(Default)]
struct PieceHasher(u64);

impl Hasher for PieceHasher {
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

type PieceMap<'a, V> = HashMap<Piece<'a>, V, BuildHasherDefault<PieceHasher>>;

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

/// No dictionary: every piece is written out (temporary build files, and
/// rows with nothing to share).
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

/// Least uses of a piece for it to get an entry.
const MIN_USES: u32 = 2;
/// Shortest piece (bytes) worth an entry: shorter ones cost no more written out.
const MIN_PIECE_BYTES: usize = 3;

/// Counts the pieces of a shard's rows, then keeps those worth an entry.
#[derive(Default)]
pub struct DictionaryBuilder<'a> {
    uses: PieceMap<'a, u32>,
}

impl<'a> DictionaryBuilder<'a> {
    /// An empty count.
    pub fn new() -> DictionaryBuilder<'a> {
        DictionaryBuilder::default()
    }

    /// Counts the pieces written out in `row`, a row stored without a
    /// dictionary ([`super::row`]).
    pub fn count(&mut self, row: &'a [u8]) {
        for piece in literal_pieces(row) {
            if piece.len() >= MIN_PIECE_BYTES {
                *self.uses.entry(Piece(piece)).or_insert(0) += 1;
            }
        }
    }

    /// The dictionary: pieces used at least twice, most used first (ties in
    /// byte order, so the same rows always give the same bytes).
    pub fn finish(self) -> Dictionary<'a> {
        let mut kept: Vec<(&'a [u8], u32)> = self
            .uses
            .into_iter()
            .map(|(piece, uses)| (piece.0, uses))
            .filter(|&(_, uses)| uses >= MIN_USES)
            .collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut ids = PieceMap::with_capacity_and_hasher(kept.len(), Default::default());
        let mut text = Vec::new();
        let mut ends = Vec::with_capacity(kept.len());
        for (id, (piece, _)) in kept.into_iter().enumerate() {
            ids.insert(Piece(piece), id as u32);
            text.extend_from_slice(piece);
            ends.push(text.len() as u32);
        }
        Dictionary { ids, text, ends }
    }
}

/// A finished dictionary: what a person shard stores ([`Dictionary::text`]
/// and [`Dictionary::ends`]) and the id of each piece for the encoder.
pub struct Dictionary<'a> {
    ids: PieceMap<'a, u32>,
    text: Vec<u8>,
    ends: Vec<u32>,
}

impl Dictionary<'_> {
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

impl PieceIds for Dictionary<'_> {
    fn id(&self, piece: &[u8]) -> Option<u32> {
        self.ids.get(&Piece(piece)).copied()
    }
}

impl PieceTexts for Dictionary<'_> {
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
    fn keeps_repeated_pieces_most_used_first() {
        let rows: Vec<Vec<u8>> = ["山田 太郎", "山田 花子", "佐藤 花子", "山田 一"]
            .iter()
            .map(|name| {
                let mut bytes = Vec::new();
                encode_row(&row_with(TextField::Name, name), &NoDictionary, &mut bytes);
                bytes
            })
            .collect();
        let mut builder = DictionaryBuilder::new();
        for row in &rows {
            builder.count(row);
        }
        let dictionary = builder.finish();
        assert_eq!(dictionary.id("山田 ".as_bytes()), Some(0));
        assert_eq!(dictionary.id("花子".as_bytes()), Some(1));
        assert_eq!(dictionary.id("佐藤 ".as_bytes()), None, "used once");
        assert_eq!(dictionary.id("一".as_bytes()), None, "used once");
        assert_eq!(PieceTexts::text(&dictionary, 0), Some("山田 ".as_bytes()));
        assert_eq!(PieceTexts::text(&dictionary, 1), Some("花子".as_bytes()));
        assert_eq!(PieceTexts::text(&dictionary, 2), None);
    }
}

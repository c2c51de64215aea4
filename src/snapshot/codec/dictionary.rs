//! A person shard's dictionary: the text pieces that repeat in it (family
//! and given names, towns, employers, issuers' addresses, card symbols),
//! stored once and referred to by id from every row that uses them.
//!
//! Ids are given by frequency, most used first, so the commonest pieces
//! take one or two bytes in a row. A piece is worth an entry only if it is
//! used at least twice and is longer than its id; digit strings never are
//! (they pack into an integer anyway, see [`super::row`]).

use super::pieces::pieces;
use crate::model::{EligibilityRow, TextField};
use std::collections::HashMap;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

/// Where a row encoder finds the id of a piece (none: write it out).
pub trait PieceIds {
    /// The id of `piece`, if the dictionary holds it.
    fn id(&self, piece: &str) -> Option<u32>;
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
    fn id(&self, _piece: &str) -> Option<u32> {
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
    uses: HashMap<&'a str, u32, Xxh3DefaultBuilder>,
}

impl<'a> DictionaryBuilder<'a> {
    /// An empty count.
    pub fn new() -> DictionaryBuilder<'a> {
        DictionaryBuilder::default()
    }

    /// Counts every piece of every text field of `row`.
    pub fn count(&mut self, row: &'a EligibilityRow) {
        for field in TextField::ALL {
            for piece in pieces(field, row.text(field)) {
                if piece.len() >= MIN_PIECE_BYTES && !piece.bytes().all(|b| b.is_ascii_digit()) {
                    *self.uses.entry(piece).or_insert(0) += 1;
                }
            }
        }
    }

    /// The dictionary: pieces used at least twice, most used first (ties in
    /// byte order, so the same rows always give the same bytes).
    pub fn finish(self) -> Dictionary<'a> {
        let mut kept: Vec<(&'a str, u32)> = self
            .uses
            .into_iter()
            .filter(|&(_, uses)| uses >= MIN_USES)
            .collect();
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut ids = HashMap::with_capacity_and_hasher(kept.len(), Xxh3DefaultBuilder);
        let mut text = Vec::new();
        let mut ends = Vec::with_capacity(kept.len());
        for (id, (piece, _)) in kept.into_iter().enumerate() {
            ids.insert(piece, id as u32);
            text.extend_from_slice(piece.as_bytes());
            ends.push(text.len() as u32);
        }
        Dictionary { ids, text, ends }
    }
}

/// A finished dictionary: what a person shard stores ([`Dictionary::text`]
/// and [`Dictionary::ends`]) and the id of each piece for the encoder.
pub struct Dictionary<'a> {
    ids: HashMap<&'a str, u32, Xxh3DefaultBuilder>,
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
    fn id(&self, piece: &str) -> Option<u32> {
        self.ids.get(piece).copied()
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
    use crate::snapshot::codec::row::tests::row_with;

    #[test]
    fn keeps_repeated_pieces_most_used_first() {
        let rows = [
            row_with(TextField::Name, "山田 太郎"),
            row_with(TextField::Name, "山田 花子"),
            row_with(TextField::Name, "佐藤 花子"),
            row_with(TextField::Name, "山田 一"),
        ];
        let mut builder = DictionaryBuilder::new();
        for row in &rows {
            builder.count(row);
        }
        let dictionary = builder.finish();
        assert_eq!(dictionary.id("山田 "), Some(0));
        assert_eq!(dictionary.id("花子"), Some(1));
        assert_eq!(dictionary.id("佐藤 "), None, "used once");
        assert_eq!(dictionary.id("一"), None, "used once");
        assert_eq!(PieceTexts::text(&dictionary, 0), Some("山田 ".as_bytes()));
        assert_eq!(PieceTexts::text(&dictionary, 1), Some("花子".as_bytes()));
        assert_eq!(PieceTexts::text(&dictionary, 2), None);
    }
}

//! One person in stored form: a block of bytes holding the linkage number,
//! the certificate serials linked to it and the person's rows, newest
//! first.
//!
//! ```text
//! block := linkage:varint(u128)  rows:varint  serials:varint
//!          (serial_len:u8  serial:bytes)*  (row_len:varint  row)*
//! ```
//! A lookup by serial, linkage number, online number or card face lands on
//! the block and finds everything the answer needs in it.

use super::dictionary::PieceTexts;
use super::reader::decode_row;
use super::varint;
use crate::model::{EligibilityRow, LinkageNo, Serial};

/// Most rows one person may have (far above any real history).
pub const MAX_ROWS_PER_PERSON: usize = 65_535;

/// Appends the block of a person to `out`: `serials` as big-endian bytes,
/// `rows` already in stored form ([`super::row`]), newest first.
pub fn encode_block(linkage: LinkageNo, serials: &[Serial], rows: &[&[u8]], out: &mut Vec<u8>) {
    varint::put_u128(out, linkage.0);
    varint::put(out, rows.len() as u64);
    varint::put(out, serials.len() as u64);
    for serial in serials {
        let bytes = serial.as_bytes();
        out.push(bytes.len() as u8);
        out.extend_from_slice(bytes);
    }
    for row in rows {
        varint::put(out, row.len() as u64);
        out.extend_from_slice(row);
    }
}

/// A stored person block, read as far as its serials.
#[derive(Clone, Copy, Debug)]
pub struct Block<'s> {
    linkage: LinkageNo,
    row_count: u32,
    serial_count: u32,
    serials: &'s [u8],
    rows: &'s [u8],
}

impl<'s> Block<'s> {
    /// Reads the block in `bytes`; `None` when they are not one (damaged).
    pub fn parse(mut bytes: &'s [u8]) -> Option<Block<'s>> {
        let linkage = LinkageNo(varint::get_u128(&mut bytes)?);
        let row_count = u32::try_from(varint::get(&mut bytes)?).ok()?;
        let serial_count = u32::try_from(varint::get(&mut bytes)?).ok()?;
        let start = bytes;
        for _ in 0..serial_count {
            let len = usize::from(*varint::take(&mut bytes, 1)?.first()?);
            varint::take(&mut bytes, len)?;
        }
        let serials = &start[..start.len() - bytes.len()];
        Some(Block {
            linkage,
            row_count,
            serial_count,
            serials,
            rows: bytes,
        })
    }

    /// The person's 紐付番号.
    pub fn linkage(&self) -> LinkageNo {
        self.linkage
    }

    /// Number of rows.
    pub fn row_count(&self) -> u32 {
        self.row_count
    }

    /// Number of serials linked to the person.
    pub fn serial_count(&self) -> u32 {
        self.serial_count
    }

    /// The serials linked to the person, as big-endian bytes.
    pub fn serial_bytes(&self) -> impl Iterator<Item = &'s [u8]> + 's {
        let mut rest = self.serials;
        std::iter::from_fn(move || {
            let len = usize::from(*varint::take(&mut rest, 1)?.first()?);
            varint::take(&mut rest, len)
        })
    }

    /// The serials linked to the person.
    pub fn serials(&self) -> impl Iterator<Item = Serial> + 's {
        self.serial_bytes().filter_map(Serial::from_be_bytes)
    }

    /// True when `serial` (big-endian bytes) is linked to the person.
    pub fn links(&self, serial: &[u8]) -> bool {
        self.serial_bytes().any(|linked| linked == serial)
    }

    /// Each row's stored bytes, newest first; stops at damaged bytes.
    pub fn row_bytes(&self) -> impl Iterator<Item = &'s [u8]> + 's {
        let mut rest = self.rows;
        let mut left = self.row_count;
        std::iter::from_fn(move || {
            left = left.checked_sub(1)?;
            let len = usize::try_from(varint::get(&mut rest)?).ok()?;
            varint::take(&mut rest, len)
        })
    }

    /// Decodes the row of `bytes` (one of [`Block::row_bytes`]).
    pub fn decode(&self, bytes: &[u8], dictionary: &impl PieceTexts) -> Option<EligibilityRow> {
        decode_row(bytes, self.linkage.0, dictionary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TextField;
    use crate::snapshot::codec::dictionary::NoDictionary;
    use crate::snapshot::codec::row::encode_row;
    use crate::snapshot::codec::row::tests::row_with;

    fn stored(rows: &[EligibilityRow]) -> Vec<Vec<u8>> {
        rows.iter()
            .map(|row| {
                let mut bytes = Vec::new();
                encode_row(row, &NoDictionary, &mut bytes);
                bytes
            })
            .collect()
    }

    #[test]
    fn a_block_round_trips() {
        let rows = [
            row_with(TextField::Name, "山田 太郎"),
            row_with(TextField::Name, ""),
        ];
        let encoded = stored(&rows);
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let wide = Serial::from_be_bytes(&[0xFF; 20]).unwrap();
        let zero = Serial::from_be_bytes(&[]).unwrap();
        let serials = [wide, zero];
        let mut bytes = Vec::new();
        encode_block(LinkageNo(u128::MAX), &serials, &refs, &mut bytes);
        let block = Block::parse(&bytes).unwrap();
        assert_eq!(block.linkage(), LinkageNo(u128::MAX));
        assert_eq!(block.serials().collect::<Vec<_>>(), serials);
        assert!(block.links(&[0xFF; 20]) && block.links(&[]) && !block.links(&[1]));
        let decoded: Vec<EligibilityRow> = block
            .row_bytes()
            .map(|row| block.decode(row, &NoDictionary).unwrap())
            .collect();
        let expected: Vec<EligibilityRow> = rows
            .iter()
            .map(|row| {
                let mut row = row.clone();
                row.linkage_no = u128::MAX;
                row
            })
            .collect();
        assert_eq!(decoded, expected);
    }

    #[test]
    fn a_damaged_block_never_panics() {
        let encoded = stored(&[row_with(TextField::Name, "山田 太郎")]);
        let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
        let mut bytes = Vec::new();
        encode_block(
            LinkageNo(42),
            &[Serial::from_be_bytes(&[1, 2]).unwrap()],
            &refs,
            &mut bytes,
        );
        for cut in 0..bytes.len() {
            if let Some(block) = Block::parse(&bytes[..cut]) {
                let _ = block.serials().count();
                for row in block.row_bytes() {
                    let _ = block.decode(row, &NoDictionary);
                }
            }
        }
    }
}

//! Reading stored rows ([`super::row`] has the layout): as far as needed.
//!
//! A lookup has to compare a key with every candidate row, and the keys
//! (insurer code, branch number or municipal ID, insurer number, card
//! symbol and number) are the first text fields of a row. So a row is read
//! in two steps: [`RowReader::new`] reads the fixed part and
//! [`RowReader::read_through`] the text fields up to the one asked for;
//! only a row that matches is read to the end ([`RowReader::finish`]) into
//! an owned [`EligibilityRow`]. The build uses the same reader to sort and
//! place rows without decoding them.

use super::dictionary::{PieceIds, PieceTexts};
use super::row::{
    derived_online_number, CODES_AS_BYTES, DATE_BITS_FROM, DATE_EPOCH, KIND_DIGITS, KIND_ENTRY,
    KIND_LITERAL, MAX_PACKED_DIGITS, WIDE_DATE,
};
use super::varint;
use crate::model::record::CODE_FIELD_VALUES;
use crate::model::{
    EligibilityRow, TextField, CODE_ABSENT, CODE_FIELD_COUNT, DATE_FIELD_COUNT, TEXT_FIELD_COUNT,
};
use smallvec::SmallVec;

/// Text decoded so far; inline for a typical row.
type TextBuffer = SmallVec<[u8; 320]>;

/// The fixed part of a stored row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowHead {
    /// Which text fields and dates are stored (see [`super::row`]).
    pub presence: u32,
    /// 資格通番.
    pub qualification_seq: u32,
    /// Codes indexed by `CodeField`.
    pub codes: [u8; CODE_FIELD_COUNT],
    /// Dates indexed by `DateField`.
    pub dates: [Option<i32>; DATE_FIELD_COUNT],
}

impl RowHead {
    /// Reads the fixed part from the front of `bytes`, advancing it.
    pub fn read(bytes: &mut &[u8]) -> Option<RowHead> {
        let presence = u32::from_le_bytes(varint::take(bytes, 4)?.try_into().ok()?);
        let qualification_seq = u32::try_from(varint::get(bytes)?).ok()?;
        let codes = read_codes(bytes)?;
        let mut dates = [None; DATE_FIELD_COUNT];
        for (index, date) in dates.iter_mut().enumerate() {
            if presence & (1 << (DATE_BITS_FROM + index as u32)) != 0 {
                *date = Some(read_date(bytes)?);
            }
        }
        Some(RowHead {
            presence,
            qualification_seq,
            codes,
            dates,
        })
    }

    /// True when `field` is stored (for the online number: stored rather
    /// than derived).
    pub fn stores(&self, field: TextField) -> bool {
        self.presence & (1 << field as u32) != 0
    }
}

/// A stored row being read: its fixed part, and its text fields in order
/// as far as they have been read.
pub struct RowReader<'b, D> {
    head: RowHead,
    rest: &'b [u8],
    dictionary: D,
    /// The next field to read (fields 1.. in order; the online number last).
    next: usize,
    text: TextBuffer,
    /// End of each field read so far in `text` (fields 1..).
    ends: [usize; TEXT_FIELD_COUNT],
}

impl<'b, D: PieceTexts> RowReader<'b, D> {
    /// Reads the fixed part of the row in `bytes`.
    pub fn new(bytes: &'b [u8], dictionary: D) -> Option<RowReader<'b, D>> {
        let mut rest = bytes;
        let head = RowHead::read(&mut rest)?;
        Some(RowReader {
            head,
            rest,
            dictionary,
            next: 1,
            text: TextBuffer::new(),
            ends: [0; TEXT_FIELD_COUNT],
        })
    }

    /// The fixed part.
    pub fn head(&self) -> &RowHead {
        &self.head
    }

    /// Reads the text fields up to and including `last` (not the online
    /// number: see [`RowReader::online_number`]).
    pub fn read_through(&mut self, last: TextField) -> Option<()> {
        while self.next <= last as usize {
            if self.head.presence & (1 << self.next) != 0 {
                read_field(&mut self.rest, &self.dictionary, &self.ends, &mut self.text)?;
            }
            self.ends[self.next] = self.text.len();
            self.next += 1;
        }
        Some(())
    }

    /// A field already read; empty if it was not stored or not yet read.
    pub fn field(&self, field: TextField) -> &[u8] {
        let index = field as usize;
        match index {
            0 => &[],
            _ if index >= self.next => &[],
            _ => self
                .text
                .get(self.ends[index - 1]..self.ends[index])
                .unwrap_or_default(),
        }
    }

    /// The online number: made from the subscription fields (reading them
    /// if need be), or, when it is stored apart, read from the end of the
    /// row. `None` only for a damaged row.
    pub fn online_number(&mut self) -> Option<SmallVec<[u8; 24]>> {
        if self.head.stores(TextField::OnlineNumber) {
            self.read_through(TextField::CardType)?;
            let mut stored = SmallVec::new();
            let mut rest = self.rest;
            read_field(
                &mut rest,
                &self.dictionary,
                &[0; TEXT_FIELD_COUNT],
                &mut stored,
            )?;
            return Some(stored);
        }
        self.read_through(TextField::MunicipalId)?;
        Some(derived_online_number(|field| self.field(field)))
    }

    /// Reads the rest of the row into an owned row of person `linkage_no`;
    /// `None` when the bytes are not a row or do not end with it.
    pub fn finish(mut self, linkage_no: u128) -> Option<EligibilityRow> {
        let online = self.online_number()?;
        self.read_through(TextField::CardType)?;
        if self.head.stores(TextField::OnlineNumber) {
            read_field(
                &mut self.rest,
                &self.dictionary,
                &[0; TEXT_FIELD_COUNT],
                &mut SmallVec::<[u8; 24]>::new(),
            )?;
        }
        if !self.rest.is_empty() {
            return None;
        }
        let mut text = Vec::with_capacity(self.text.len() + online.len());
        text.extend_from_slice(&online);
        let online_len = text.len();
        text.extend_from_slice(&self.text);
        let mut text_ends = [0u16; TEXT_FIELD_COUNT];
        text_ends[0] = u16::try_from(online_len).ok()?;
        for (end, read) in text_ends.iter_mut().zip(&self.ends).skip(1) {
            *end = u16::try_from(online_len + read).ok()?;
        }
        let text = String::from_utf8(text).ok()?;
        let head = self.head;
        EligibilityRow::from_concatenated(
            linkage_no,
            text,
            text_ends,
            head.dates,
            head.codes,
            head.qualification_seq,
        )
    }
}

/// Reads the whole row in `bytes`, of person `linkage_no`.
pub fn decode_row(
    bytes: &[u8],
    linkage_no: u128,
    dictionary: &impl PieceTexts,
) -> Option<EligibilityRow> {
    RowReader::new(bytes, dictionary)?.finish(linkage_no)
}

fn read_codes(bytes: &mut &[u8]) -> Option<[u8; CODE_FIELD_COUNT]> {
    let mut packed = varint::get(bytes)?;
    if packed == CODES_AS_BYTES {
        return varint::take(bytes, CODE_FIELD_COUNT)?.try_into().ok();
    }
    if packed > CODES_AS_BYTES {
        return None;
    }
    let mut codes = [CODE_ABSENT; CODE_FIELD_COUNT];
    for (field, code) in codes.iter_mut().enumerate() {
        let values = CODE_FIELD_VALUES[field];
        let radix = values.len() as u64 + 1;
        let position = (packed % radix) as usize;
        packed /= radix;
        if position > 0 {
            *code = values[position - 1];
        }
    }
    Some(codes)
}

fn read_date(bytes: &mut &[u8]) -> Option<i32> {
    let short = u16::from_le_bytes(varint::take(bytes, 2)?.try_into().ok()?);
    if short == WIDE_DATE {
        return Some(i32::from_le_bytes(varint::take(bytes, 4)?.try_into().ok()?));
    }
    Some(DATE_EPOCH + i32::from(short))
}

/// Appends one field's value to `out`; `ends` are the ends (in `out`) of
/// the fields read so far, for copies.
fn read_field<B: AsRef<[u8]> + Buffer>(
    bytes: &mut &[u8],
    dictionary: &impl PieceTexts,
    ends: &[usize; TEXT_FIELD_COUNT],
    out: &mut B,
) -> Option<()> {
    loop {
        let tag = varint::get(bytes)?;
        let argument = usize::try_from(tag >> 3).ok()?;
        match (tag >> 1) & 3 {
            KIND_ENTRY => out.push_slice(dictionary.text(u32::try_from(argument).ok()?)?),
            KIND_LITERAL => out.push_slice(varint::take(bytes, argument)?),
            KIND_DIGITS => push_digits(varint::get(bytes)?, argument, out)?,
            _ => {
                let source = Some(argument).filter(|s| (1..TEXT_FIELD_COUNT).contains(s))?;
                let range = ends[source - 1]..ends[source];
                out.as_ref().get(range.clone())?;
                out.copy_within_end(range);
            }
        }
        if tag & 1 == 0 {
            return Some(());
        }
    }
}

/// What a decoded field is written into (the reader's inline buffer, or
/// the owned row's text).
trait Buffer {
    fn push_slice(&mut self, bytes: &[u8]);
    fn copy_within_end(&mut self, range: std::ops::Range<usize>);
}

impl Buffer for Vec<u8> {
    fn push_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn copy_within_end(&mut self, range: std::ops::Range<usize>) {
        self.extend_from_within(range);
    }
}

impl<const N: usize> Buffer for SmallVec<[u8; N]> {
    fn push_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn copy_within_end(&mut self, range: std::ops::Range<usize>) {
        let copied: SmallVec<[u8; 64]> = SmallVec::from_slice(&self[range]);
        self.extend_from_slice(&copied);
    }
}

/// "00" to "99": a packed digit string is written two digits per division.
const DIGIT_PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

/// Digits of the largest `u64`.
const U64_DIGITS: usize = 20;

/// Appends `value` as exactly `len` digits, zero-padded; `None` when it
/// does not fit (a damaged row). Every online number, insurer code and
/// card number of a row read goes through here.
fn push_digits(mut value: u64, len: usize, out: &mut impl Buffer) -> Option<()> {
    if len == 0 || len > MAX_PACKED_DIGITS {
        return None;
    }
    if value >= 10u64.pow(len as u32) {
        return None;
    }
    let mut digits = [b'0'; U64_DIGITS];
    let mut at = U64_DIGITS;
    while value > 0 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        digits[at - 2..at].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        at -= 2;
    }
    out.push_slice(&digits[U64_DIGITS - len..]);
    Some(())
}

/// Each tag of a row's text fields, with its argument and what follows
/// it; stops at damaged bytes.
fn tags(bytes: &[u8]) -> impl Iterator<Item = Tag<'_>> + '_ {
    let mut rest = bytes;
    let head = RowHead::read(&mut rest);
    let mut rest = head.map(|_| rest);
    std::iter::from_fn(move || {
        let bytes = rest.as_mut().filter(|r| !r.is_empty())?;
        let start = *bytes;
        let tag = varint::get(bytes)?;
        let argument = usize::try_from(tag >> 3).ok()?;
        let kind = (tag >> 1) & 3;
        let payload = match kind {
            KIND_LITERAL => varint::take(bytes, argument)?,
            KIND_DIGITS => {
                let value_start = *bytes;
                varint::get(bytes)?;
                &value_start[..value_start.len() - bytes.len()]
            }
            _ => &[],
        };
        let whole = &start[..start.len() - bytes.len()];
        Some(Tag {
            kind,
            more: tag & 1 != 0,
            payload,
            whole,
        })
    })
}

struct Tag<'b> {
    kind: u64,
    more: bool,
    /// A literal's bytes, a digit string's value.
    payload: &'b [u8],
    /// The tag and its payload as stored.
    whole: &'b [u8],
}

/// The pieces a row stored without a dictionary writes out in full (what
/// a build counts for its dictionary); stops at damaged bytes.
pub fn literal_pieces(bytes: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    tags(bytes)
        .filter(|tag| tag.kind == KIND_LITERAL)
        .map(|tag| tag.payload)
}

/// Writes the row in `bytes` again with `dictionary`: every piece written
/// out that the dictionary holds becomes its id; the rest is copied as it
/// is. `None` when the bytes are not a row.
pub fn transcode_row(bytes: &[u8], dictionary: &impl PieceIds, out: &mut Vec<u8>) -> Option<()> {
    let mut rest = bytes;
    RowHead::read(&mut rest)?;
    out.extend_from_slice(&bytes[..bytes.len() - rest.len()]);
    let mut copied = bytes.len() - rest.len();
    for tag in tags(bytes) {
        copied += tag.whole.len();
        let id = (tag.kind == KIND_LITERAL)
            .then(|| dictionary.id(tag.payload))
            .flatten();
        match id {
            Some(id) => varint::put(out, super::row::tag(KIND_ENTRY, u64::from(id), tag.more)),
            None => out.extend_from_slice(tag.whole),
        }
    }
    (copied == bytes.len()).then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits(value: u64, len: usize) -> Option<String> {
        let mut out = Vec::new();
        push_digits(value, len, &mut out)?;
        Some(String::from_utf8(out).unwrap())
    }

    #[test]
    fn digit_strings_keep_their_width_and_refuse_what_does_not_fit() {
        assert_eq!(digits(0, 1).as_deref(), Some("0"));
        assert_eq!(digits(0, 3).as_deref(), Some("000"));
        assert_eq!(digits(7, 4).as_deref(), Some("0007"));
        assert_eq!(digits(99, 2).as_deref(), Some("99"));
        assert_eq!(digits(123_456_789, 9).as_deref(), Some("123456789"));
        assert_eq!(
            digits(9_999_999_999_999_999_999, 19).as_deref(),
            Some("9999999999999999999")
        );
        assert_eq!(digits(100, 2), None);
        assert_eq!(digits(10, 1), None);
        assert_eq!(digits(u64::MAX, 19), None);
        assert_eq!(digits(1, 0), None);
        assert_eq!(digits(1, 20), None);
        for value in [1, 9, 10, 99, 100, 1_000_000_007, 10_u64.pow(18)] {
            let text = value.to_string();
            assert_eq!(digits(value, text.len()), Some(text));
        }
    }
}

//! One qualification row in its compact stored form.
//!
//! ```text
//! row    := presence:u32le  seq:varint  codes  date*  field*
//! ```
//! - `presence`: bit `f` (0–17) is set when text field `f` is stored, bit
//!   `18 + d` when date `d` is; the rest are zero. The online number (field
//!   0) is left out whenever it is what the insurer code and branch number,
//!   or the municipal ID, make (always, for rows the readers accept).
//! - `codes`: the five codes packed as one varint, each by its position in
//!   [`CODE_FIELD_VALUES`] (0 = absent); [`CODES_AS_BYTES`] instead says
//!   five raw bytes follow.
//! - a date: days since 1900-01-01 as `u16le`; `0xFFFF` instead says the
//!   day number follows as `i32le` (dates before 1900 or after 2079).
//! - a text field: its pieces ([`super::pieces`]), each a varint tag —
//!   bit 0 set when another piece of the field follows, bits 1–2 the kind,
//!   the rest its argument:
//!   - kind 0, a dictionary entry: the argument is its id;
//!   - kind 1, literal UTF-8: the argument is its length, the bytes follow;
//!   - kind 2, a digit string of up to 19 digits: the argument is the number
//!     of digits, the value follows as a varint (leading zeros kept by the
//!     count);
//!   - kind 3, a copy of an earlier field of the row (the whole value): the
//!     argument is that field's number.
//!
//! Fields are written in field order except the online number, which comes
//! last when it is stored, so that deriving it needs the fields before it.

use super::dictionary::PieceIds;
use super::pieces::pieces;
use super::varint;
use crate::model::record::CODE_FIELD_VALUES;
use crate::model::{EligibilityRow, TextField, CODE_ABSENT, CODE_FIELD_COUNT, TEXT_FIELD_COUNT};

/// Day number of 1900-01-01 (days since 0001-01-01, as [`crate::model::Date`]).
pub const DATE_EPOCH: i32 = 693_596;
/// A stored 16-bit date with this value says the day number follows in full.
pub(super) const WIDE_DATE: u16 = u16::MAX;
/// Packed codes with this value say five raw bytes follow.
pub const CODES_AS_BYTES: u64 = packed_code_radix();
/// Bit of the first date in the presence word.
pub(super) const DATE_BITS_FROM: u32 = TEXT_FIELD_COUNT as u32;
/// Longest digit string packed as a number (19 digits always fit 64 bits).
pub(super) const MAX_PACKED_DIGITS: usize = 19;

pub(super) const KIND_ENTRY: u64 = 0;
pub(super) const KIND_LITERAL: u64 = 1;
pub(super) const KIND_DIGITS: u64 = 2;
pub(super) const KIND_COPY: u64 = 3;

const fn packed_code_radix() -> u64 {
    let mut product = 1u64;
    let mut field = 0;
    while field < CODE_FIELD_COUNT {
        product *= CODE_FIELD_VALUES[field].len() as u64 + 1;
        field += 1;
    }
    product
}

/// Appends `row` (without its linkage number, which the person block
/// holds) to `out`, referring to `dictionary` for the pieces it holds.
pub fn encode_row(row: &EligibilityRow, dictionary: &impl PieceIds, out: &mut Vec<u8>) {
    let derived = derived_online_number(|field| row.text(field).as_bytes());
    let online_stored = row.text(TextField::OnlineNumber).as_bytes() != derived.as_slice();
    let mut presence = 0u32;
    for field in TextField::ALL {
        let stored = match field {
            TextField::OnlineNumber => online_stored,
            _ => !row.text(field).is_empty(),
        };
        presence |= u32::from(stored) << field as u32;
    }
    for (index, date) in row.dates.iter().enumerate() {
        presence |= u32::from(date.is_some()) << (DATE_BITS_FROM + index as u32);
    }
    out.extend_from_slice(&presence.to_le_bytes());
    varint::put(out, u64::from(row.qualification_seq));
    encode_codes(&row.codes, out);
    for days in row.dates.iter().flatten() {
        encode_date(*days, out);
    }
    for field in &TextField::ALL[1..] {
        encode_field(row, *field, dictionary, out);
    }
    if online_stored {
        match row.text(TextField::OnlineNumber) {
            "" => varint::put(out, tag(KIND_LITERAL, 0, false)),
            _ => encode_field(row, TextField::OnlineNumber, dictionary, out),
        }
    }
}

fn encode_codes(codes: &[u8; CODE_FIELD_COUNT], out: &mut Vec<u8>) {
    let mut packed = 0u64;
    for (field, &code) in codes.iter().enumerate().rev() {
        let values = CODE_FIELD_VALUES[field];
        let position = match code {
            CODE_ABSENT => Some(0),
            _ => values.iter().position(|&v| v == code).map(|p| p as u64 + 1),
        };
        let Some(position) = position else {
            varint::put(out, CODES_AS_BYTES);
            out.extend_from_slice(codes);
            return;
        };
        packed = packed * (values.len() as u64 + 1) + position;
    }
    varint::put(out, packed);
}

fn encode_date(days: i32, out: &mut Vec<u8>) {
    let short = days
        .checked_sub(DATE_EPOCH)
        .and_then(|offset| u16::try_from(offset).ok());
    match short {
        Some(short) if short != WIDE_DATE => out.extend_from_slice(&short.to_le_bytes()),
        _ => {
            out.extend_from_slice(&WIDE_DATE.to_le_bytes());
            out.extend_from_slice(&days.to_le_bytes());
        }
    }
}

fn encode_field(
    row: &EligibilityRow,
    field: TextField,
    dictionary: &impl PieceIds,
    out: &mut Vec<u8>,
) {
    let value = row.text(field);
    if value.is_empty() {
        return;
    }
    let earlier = TextField::ALL.get(1..field as usize).unwrap_or_default();
    if let Some(source) = earlier.iter().find(|&&other| row.text(other) == value) {
        varint::put(out, tag(KIND_COPY, *source as u64, false));
        return;
    }
    let cut = pieces(field, value);
    for (index, piece) in cut.iter().enumerate() {
        let more = index + 1 < cut.len();
        if let Some(id) = dictionary.id(piece.as_bytes()) {
            varint::put(out, tag(KIND_ENTRY, u64::from(id), more));
        } else if let Some(number) = packed_digits(piece) {
            varint::put(out, tag(KIND_DIGITS, piece.len() as u64, more));
            varint::put(out, number);
        } else {
            varint::put(out, tag(KIND_LITERAL, piece.len() as u64, more));
            out.extend_from_slice(piece.as_bytes());
        }
    }
}

pub(super) const fn tag(kind: u64, argument: u64, more: bool) -> u64 {
    (argument << 3) | (kind << 1) | more as u64
}

/// The value of a digit string short enough to pack.
fn packed_digits(piece: &str) -> Option<u64> {
    let digits = piece.as_bytes();
    if digits.is_empty() || digits.len() > MAX_PACKED_DIGITS {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &digit| {
        digit
            .is_ascii_digit()
            .then(|| value * 10 + u64::from(digit - b'0'))
    })
}

/// The online number the subscription fields make: the municipal ID when
/// there is one, else insurer code followed by branch number.
pub(super) fn derived_online_number<'a>(
    text: impl Fn(TextField) -> &'a [u8],
) -> smallvec::SmallVec<[u8; 24]> {
    let mut online = smallvec::SmallVec::new();
    let municipal = text(TextField::MunicipalId);
    if municipal.is_empty() {
        online.extend_from_slice(text(TextField::InsurerCode));
        online.extend_from_slice(text(TextField::BranchNo));
    } else {
        online.extend_from_slice(municipal);
    }
    online
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{CodeField, DateField, DATE_FIELD_COUNT};
    use crate::snapshot::codec::dictionary::{DictionaryBuilder, NoDictionary, PieceCounts};
    use crate::snapshot::codec::reader::decode_row;

    /// A row with only the required fields and `value` in `field`.
    pub(crate) fn row_with(field: TextField, value: &str) -> EligibilityRow {
        let mut fields = [""; TEXT_FIELD_COUNT];
        fields[field as usize] = value;
        let mut dates = [None; DATE_FIELD_COUNT];
        dates[DateField::BirthDate as usize] = Some(DATE_EPOCH + 30_000);
        dates[DateField::Acquired as usize] = Some(DATE_EPOCH + 40_000);
        let mut codes = [CODE_ABSENT; CODE_FIELD_COUNT];
        codes[CodeField::Sex as usize] = 1;
        EligibilityRow::new(7, fields, dates, codes, 1).unwrap()
    }

    fn round_trip(row: &EligibilityRow) -> usize {
        let mut literal = Vec::new();
        encode_row(row, &NoDictionary, &mut literal);
        let mut counts = PieceCounts::new();
        for _ in 0..10 {
            counts.count(&literal);
        }
        let mut builder = DictionaryBuilder::new();
        builder.add(&counts);
        let dictionary = builder.finish();
        let mut transcoded = Vec::new();
        crate::snapshot::codec::reader::transcode_row(&literal, &dictionary, &mut transcoded)
            .unwrap();
        for with_dictionary in [false, true] {
            let mut bytes = Vec::new();
            match with_dictionary {
                true => encode_row(row, &dictionary, &mut bytes),
                false => encode_row(row, &NoDictionary, &mut bytes),
            }
            let decoded = match with_dictionary {
                true => decode_row(&bytes, row.linkage_no, &dictionary),
                false => decode_row(&bytes, row.linkage_no, &NoDictionary),
            };
            assert_eq!(decoded.as_ref(), Some(row), "dictionary: {with_dictionary}");
            if with_dictionary {
                assert_eq!(bytes, transcoded, "transcoding gives what encoding gives");
                return bytes.len();
            }
        }
        unreachable!()
    }

    fn full_row() -> EligibilityRow {
        let fields = [
            "06139018000000000001234",
            "06139018",
            "000000000001234",
            "",
            "06139018",
            "ｶﾞｸ１２",
            "00345",
            "01",
            "山田 太郎",
            "ヤマダ タロウ",
            "東京都新宿区西新宿1-2-3 サンハイツ101",
            "160-0023",
            "山田 太郎",
            "山田 太郎",
            "新宿精機株式会社",
            "東京都新宿区西新宿一丁目1番1号",
            "03",
            "A1",
        ];
        let dates = std::array::from_fn(|i| Some(DATE_EPOCH + 20_000 + i as i32));
        EligibilityRow::new(u128::MAX, fields, dates, [3, 2, 1, 30, 10], u32::MAX).unwrap()
    }

    #[test]
    fn every_field_round_trips() {
        let row = full_row();
        round_trip(&row);
        for field in TextField::ALL {
            for value in [
                "",
                "0",
                "0000000000000000000",
                "99999999999999999999",
                "12 34",
                "東京都1 2",
            ] {
                round_trip(&row_with(field, value));
            }
        }
    }

    #[test]
    fn extremes_round_trip() {
        let longest = "長".repeat(1024 / 3);
        round_trip(&row_with(TextField::Address, &longest));
        round_trip(&row_with(TextField::EmployerName, &"x".repeat(1024)));
        // 19 digits pack, 20 are written out; both come back with their zeros.
        round_trip(&row_with(TextField::CardNumber, "0000000000000000001"));
        round_trip(&row_with(TextField::CardNumber, "18446744073709551615"));
        round_trip(&row_with(TextField::CardNumber, "9999999999999999999"));
        let mut row = row_with(TextField::Name, "x");
        for days in [
            i32::MIN,
            DATE_EPOCH - 1,
            DATE_EPOCH,
            DATE_EPOCH + 65_534,
            DATE_EPOCH + 65_535,
            i32::MAX,
        ] {
            row.dates = [Some(days); DATE_FIELD_COUNT];
            round_trip(&row);
        }
        row.dates = [None; DATE_FIELD_COUNT];
        round_trip(&row);
        for codes in [
            [CODE_ABSENT; CODE_FIELD_COUNT],
            [3, 2, 1, 30, 30],
            [0, 0, 0, 0, 0],
            [254; 5],
        ] {
            row.codes = codes;
            round_trip(&row);
        }
        row.qualification_seq = 0;
        round_trip(&row);
    }

    #[test]
    fn an_online_number_that_is_not_derived_is_stored() {
        let mut fields = [""; TEXT_FIELD_COUNT];
        fields[TextField::OnlineNumber as usize] = "123456789012345";
        fields[TextField::InsurerCode as usize] = "06139018";
        let row = EligibilityRow::new(
            1,
            fields,
            [None; DATE_FIELD_COUNT],
            [1, 255, 255, 255, 255],
            1,
        )
        .unwrap();
        round_trip(&row);
    }

    #[test]
    fn a_realistic_row_is_small() {
        let size = round_trip(&full_row());
        assert!(size < 80, "{size} bytes");
    }

    #[test]
    fn damaged_bytes_never_panic() {
        let row = full_row();
        let mut bytes = Vec::new();
        encode_row(&row, &NoDictionary, &mut bytes);
        for cut in 0..bytes.len() {
            assert!(
                decode_row(&bytes[..cut], 1, &NoDictionary).is_none(),
                "cut at {cut}"
            );
        }
        for at in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xFF] {
                let mut damaged = bytes.clone();
                damaged[at] ^= flip;
                let _ = decode_row(&damaged, 1, &NoDictionary);
            }
        }
    }
}

//! How the overlay keeps a row: as the fields that differ from a row of the
//! snapshot under it.
//!
//! Most of a day's updates change two or three fields of a row the
//! snapshot already holds (a new co-payment ratio and card period, a loss
//! date), and a new row of a person repeats the person's name, birth date
//! and address. So a row is kept as a reference to the snapshot row it is
//! closest to (same online number first, then the person's other rows)
//! and the fields where it differs: tens of bytes instead of the few
//! hundred of a whole row. The keys the overlay's tables need (online
//! number, 資格通番, card-face hash, person) lead the payload, so that a
//! probe never decodes a row.
//!
//! ```text
//! row     := key  face:u64le  linkage:varint  base  diff* END
//! deleted := key
//! key     := online-length:u8  online digits as 12 bytes BCD  seq:varint
//! base    := 0 (none) | person+1:varint ordinal:varint
//! diff    := text field t (0..18):   t     length:varint  UTF-8 bytes
//!          | date field d (0..10):   32+d  0 (empty) | zigzag(days)+1 : varint
//!          | code field c (0..5):    64+c  code:u8
//! ```

use crate::model::{
    EligibilityRow, LinkageNo, OnlineNumber, TextField, CODE_ABSENT, CODE_FIELD_COUNT,
    DATE_FIELD_COUNT, TEXT_FIELD_COUNT,
};
use crate::snapshot::{RowRef, Snapshot};
use crate::updates::message::RowKey;

const DATE_TAG: u8 = 32;
const CODE_TAG: u8 = 64;
const END: u8 = 0xFF;
/// Snapshot rows a new row is compared with to find the closest.
const MAX_CANDIDATES: usize = 8;
/// Bytes of a packed online number: its length and 24 digits in BCD.
pub(super) const PACKED_ONLINE: usize = 13;

/// An online number as it leads a payload (length, then BCD digits).
pub(super) type PackedOnline = [u8; PACKED_ONLINE];

/// Packs an online number for a payload or for comparing with one.
pub(super) fn pack_online(online: &OnlineNumber) -> PackedOnline {
    let digits = online.as_str().as_bytes();
    let mut packed = [0u8; PACKED_ONLINE];
    packed[0] = digits.len() as u8;
    for (i, digit) in digits.iter().enumerate() {
        packed[1 + i / 2] |= (digit - b'0') << (4 * (i % 2));
    }
    packed
}

fn unpack_online(packed: &[u8]) -> Option<OnlineNumber> {
    let (&len, bcd) = packed.split_first()?;
    let digits: String = (0..usize::from(len).min(24))
        .map(|i| char::from(b'0' + ((bcd.get(i / 2).copied().unwrap_or(0) >> (4 * (i % 2))) & 15)))
        .collect();
    OnlineNumber::parse(&digits).ok()
}

/// The part of a row payload every table probe reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct RowHead {
    /// Online number and 資格通番.
    pub key: RowKey,
    /// Hash of the card face (the card-face table's key).
    pub face: u64,
    /// The person (the person table's key).
    pub linkage: LinkageNo,
}

/// Appends the payload of a deleted row.
pub(super) fn encode_deleted(key: &RowKey, out: &mut Vec<u8>) {
    encode_key(key, out);
}

fn encode_key(key: &RowKey, out: &mut Vec<u8>) {
    out.extend_from_slice(&pack_online(&key.online));
    put_varint(out, u128::from(key.seq));
}

/// Appends the payload of `row` (whose head is `head`): the difference
/// from the closest row `closest_in` holds under its online number or its
/// person, or from an empty row when that is shorter (or no snapshot is
/// given: see [`super::Overlay::encode`]).
pub(super) fn encode_row(
    row: &EligibilityRow,
    head: &RowHead,
    closest_in: Option<&Snapshot>,
    out: &mut Vec<u8>,
) {
    encode_key(&head.key, out);
    out.extend_from_slice(&head.face.to_le_bytes());
    put_varint(out, head.linkage.0);
    let mut best = Vec::new();
    put_varint(&mut best, 0);
    diff(row, None, &mut best);
    let mut trial = Vec::new();
    let candidates = closest_in.map_or_else(Vec::new, |base| candidates(head, base));
    for candidate in candidates.iter().take(MAX_CANDIDATES) {
        trial.clear();
        let loc = candidate.loc();
        put_varint(&mut trial, u128::from(loc.person) + 1);
        put_varint(&mut trial, u128::from(loc.ordinal));
        diff(row, Some(candidate.row()), &mut trial);
        if trial.len() < best.len() {
            std::mem::swap(&mut best, &mut trial);
        }
    }
    out.extend_from_slice(&best);
}

/// Rows of `base` a row is likely close to: the rows under its online
/// number (its own former state, or its subscription's other rows), else,
/// for a new subscription, the person's rows. The person is looked up
/// only then: each lookup is a random read of the snapshot, and after a
/// cold start a replay waits on every one.
fn candidates<'s>(head: &RowHead, base: &'s Snapshot) -> Vec<RowRef<'s>> {
    let mut rows: Vec<RowRef<'s>> = base
        .rows_by_online_number(&head.key.online)
        .into_iter()
        .collect();
    if rows.is_empty() {
        rows.extend(
            base.person_by_linkage(head.linkage)
                .into_iter()
                .flat_map(|person| person.rows()),
        );
    }
    rows
}

fn diff(row: &EligibilityRow, from: Option<&EligibilityRow>, out: &mut Vec<u8>) {
    for field in TextField::ALL {
        let now = row.text(field);
        if now != from.map_or("", |from| from.text(field)) {
            out.push(field as u8);
            put_varint(out, now.len() as u128);
            out.extend_from_slice(now.as_bytes());
        }
    }
    for (index, date) in row.dates.iter().enumerate() {
        if *date != from.and_then(|from| from.dates[index]) {
            out.push(DATE_TAG + index as u8);
            put_varint(out, date.map_or(0, |days| u128::from(zigzag(days)) + 1));
        }
    }
    for (index, code) in row.codes.iter().enumerate() {
        if *code != from.map_or(CODE_ABSENT, |from| from.codes[index]) {
            out.extend_from_slice(&[CODE_TAG + index as u8, *code]);
        }
    }
    out.push(END);
}

/// The key at the start of any payload, and the bytes after it.
pub(super) fn decode_key(payload: &[u8]) -> Option<(RowKey, &[u8])> {
    let online = unpack_online(payload.get(..PACKED_ONLINE)?)?;
    let mut rest = Reader(&payload[PACKED_ONLINE..]);
    let seq = u32::try_from(rest.varint()?).ok()?;
    Some((RowKey { online, seq }, rest.0))
}

/// True when the payload's key has this packed online number.
pub(super) fn has_online(payload: &[u8], online: &PackedOnline) -> bool {
    payload.get(..PACKED_ONLINE) == Some(&online[..])
}

/// The 資格通番 of a payload's key, without unpacking its online number.
pub(super) fn seq_of(payload: &[u8]) -> Option<u32> {
    let mut rest = Reader(payload.get(PACKED_ONLINE..)?);
    u32::try_from(rest.varint()?).ok()
}

/// The head of a row payload, and the bytes after it.
pub(super) fn decode_head(payload: &[u8]) -> Option<(RowHead, &[u8])> {
    let (key, rest) = decode_key(payload)?;
    let mut rest = Reader(rest);
    let face = u64::from_le_bytes(rest.take(8)?.try_into().ok()?);
    let linkage = LinkageNo(rest.varint()?);
    Some((RowHead { key, face, linkage }, rest.0))
}

/// The row a payload describes, its base row read from `base` (the
/// snapshot it was encoded over); `None` if the payload does not read.
pub(super) fn decode_row(payload: &[u8], base: &Snapshot) -> Option<EligibilityRow> {
    let (head, rest) = decode_head(payload)?;
    let mut rest = Reader(rest);
    let from = match rest.varint()? {
        0 => None,
        person => {
            let person = base.person(u32::try_from(person - 1).ok()?)?;
            let ordinal = usize::try_from(rest.varint()?).ok()?;
            Some(person.rows().nth(ordinal)?)
        }
    };
    let from = from.as_ref().map(RowRef::row);
    let mut texts: [&str; TEXT_FIELD_COUNT] =
        TextField::ALL.map(|field| from.map_or("", |from| from.text(field)));
    let mut dates = from.map_or([None; DATE_FIELD_COUNT], |from| from.dates);
    let mut codes = from.map_or([CODE_ABSENT; CODE_FIELD_COUNT], |from| from.codes);
    apply_diff(&mut rest, &mut texts, &mut dates, &mut codes)?;
    EligibilityRow::new(head.linkage.0, texts, dates, codes, head.key.seq)
}

/// Checks that a row payload reads whole (the shape of every field, its
/// base within `person_count`) without reading the base row.
pub(super) fn check_row(payload: &[u8], person_count: u32) -> Result<RowHead, &'static str> {
    let (head, rest) = decode_head(payload).ok_or("no key, card face or person")?;
    let mut rest = Reader(rest);
    match rest.varint().ok_or("no base row")? {
        0 => {}
        person if person > u128::from(person_count) => {
            return Err("a base row beyond the snapshot's persons")
        }
        _ => {
            rest.varint().ok_or("no base row ordinal")?;
        }
    }
    let mut texts = [""; TEXT_FIELD_COUNT];
    let mut dates = [None; DATE_FIELD_COUNT];
    let mut codes = [CODE_ABSENT; CODE_FIELD_COUNT];
    apply_diff(&mut rest, &mut texts, &mut dates, &mut codes)
        .ok_or("a field that does not read")?;
    Ok(head)
}

fn apply_diff<'p>(
    input: &mut Reader<'p>,
    texts: &mut [&'p str; TEXT_FIELD_COUNT],
    dates: &mut [Option<i32>; DATE_FIELD_COUNT],
    codes: &mut [u8; CODE_FIELD_COUNT],
) -> Option<()> {
    loop {
        let tag = input.u8()?;
        match tag {
            END => return Some(()),
            t if usize::from(t) < TEXT_FIELD_COUNT => {
                let len = usize::try_from(input.varint()?).ok()?;
                texts[usize::from(t)] = std::str::from_utf8(input.take(len)?).ok()?;
            }
            t if t >= DATE_TAG && usize::from(t - DATE_TAG) < DATE_FIELD_COUNT => {
                dates[usize::from(t - DATE_TAG)] = match input.varint()? {
                    0 => None,
                    value => Some(unzigzag(u32::try_from(value - 1).ok()?)),
                };
            }
            t if t >= CODE_TAG && usize::from(t - CODE_TAG) < CODE_FIELD_COUNT => {
                codes[usize::from(t - CODE_TAG)] = input.u8()?;
            }
            _ => return None,
        }
    }
}

fn zigzag(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

fn unzigzag(value: u32) -> i32 {
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

fn put_varint(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a payload front to back; every read is `None` past its end.
struct Reader<'p>(&'p [u8]);

impl<'p> Reader<'p> {
    fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take(&mut self, len: usize) -> Option<&'p [u8]> {
        if len > self.0.len() {
            return None;
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Some(taken)
    }

    fn varint(&mut self) -> Option<u128> {
        let mut value = 0u128;
        for shift in (0..128).step_by(7) {
            let byte = self.u8()?;
            value |= u128::from(byte & 0x7F).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        for value in [0u128, 1, 127, 128, 300, u64::MAX as u128, u128::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(Reader(&out).varint(), Some(value));
        }
        for days in [0, 1, -1, 20_000, -20_000, i32::MAX, i32::MIN] {
            assert_eq!(unzigzag(zigzag(days)), days);
        }
        assert_eq!(Reader(&[0x80, 0x80]).varint(), None);
    }

    #[test]
    fn online_numbers_pack_and_unpack() {
        for digits in ["123456780000000000000001", "012345678901234"] {
            let online = OnlineNumber::parse(digits).unwrap();
            let packed = pack_online(&online);
            assert_eq!(unpack_online(&packed), Some(online));
        }
    }

    #[test]
    fn damaged_payloads_do_not_read() {
        let key = RowKey {
            online: OnlineNumber::parse("012345678901234").unwrap(),
            seq: 3,
        };
        let mut out = Vec::new();
        encode_deleted(&key, &mut out);
        assert_eq!(decode_key(&out).map(|(key, _)| key), Some(key));
        for cut in 0..out.len() - 1 {
            assert!(decode_key(&out[..cut]).is_none(), "cut at {cut}");
        }
        assert!(check_row(&out, 10).is_err());
        let mut row = out.clone();
        row.extend_from_slice(&7u64.to_le_bytes());
        put_varint(&mut row, 42);
        put_varint(&mut row, 0);
        row.extend_from_slice(&[DATE_TAG, 5, CODE_TAG + 1, 2, 3, 2, b'a', b'b', END]);
        assert!(check_row(&row, 10).is_ok());
        for bad in [
            vec![DATE_TAG + 10, 0, END],
            vec![3, 5, b'a', END],
            vec![3, 1, 0xFF, END],
        ] {
            let mut damaged = row[..row.len() - 9].to_vec();
            damaged.extend_from_slice(&bad);
            assert!(check_row(&damaged, 10).is_err(), "{bad:?}");
        }
        let mut far = out.clone();
        far.extend_from_slice(&7u64.to_le_bytes());
        put_varint(&mut far, 42);
        put_varint(&mut far, 11);
        put_varint(&mut far, 0);
        far.push(END);
        assert!(check_row(&far, 10).is_err());
    }
}

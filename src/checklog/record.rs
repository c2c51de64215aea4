//! One check-log entry and its binary form.
//!
//! A record says who asked what, when, and what was answered: enough to
//! show the institution its past checks, to bill certificate validations
//! and to count statistics, and to reproduce the full answer from the
//! snapshot and journal it names. It holds no name, address or birth date
//! (a birth date sent with a check is not kept), no `client_ref` (free text
//! from the clinic) and never the medical ID.
//!
//! Layout (little-endian), each entry prefixed in its batch by a `u16`
//! length:
//!
//! ```text
//! check: [1][micros u64][latency µs u32][via u8][kind u8][outcome u8][code u8]
//!        [date days i32][update lsn u64][institution 10][insurer 8]
//!        [key][snapshot id][CRL id][reception]      (each: [len u8][bytes])
//! shed:  [2][micros u64][first micros u64][count u32]
//! ```

use crate::engine::Query;
use crate::model::ids::KEY_SEPARATOR;
use crate::model::{Date, InstitutionCode, InsurerNumber, Outcome, Serial};
use std::fmt::Write as _;

const TAG_CHECK: u8 = 1;
const TAG_SHED: u8 = 2;
/// Longest variable field kept; longer values (never produced by a valid
/// request) are cut.
const MAX_FIELD_BYTES: usize = u8::MAX as usize;

/// How the check arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Via {
    /// `POST /v1/check/card` or `/v1/check/number`.
    Single,
    /// One line of `POST /v1/check/bulk`.
    Bulk,
}

/// What was asked: the key's kind (`None` when the request was refused
/// before a key could be read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueryKind {
    /// The request was refused before a key was read.
    None,
    /// A My Number card check by certificate serial.
    Card,
    /// An insurance-card check by online-check number.
    OnlineNumber,
    /// An insurance-card check by card face (insurer number, symbol, number, branch).
    CardFace,
}

impl QueryKind {
    /// The kind as written in history answers and reports (`card`, `online_number`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::None => "none",
            QueryKind::Card => "card",
            QueryKind::OnlineNumber => "online_number",
            QueryKind::CardFace => "card_face",
        }
    }

    /// Card (My Number card) or insurance card, for statistics.
    pub fn path(self) -> &'static str {
        match self {
            QueryKind::None => "none",
            QueryKind::Card => "card",
            QueryKind::OnlineNumber | QueryKind::CardFace => "insurance_card",
        }
    }
}

/// A My Number card certificate checked against the revocation list:
/// what the JPKI fee is charged for (`SPEC.md` §5). A card check with a
/// verdict counts; one refused before (bad request, busy, …) does not.
pub fn is_validation(outcome: Outcome, kind: QueryKind) -> bool {
    kind == QueryKind::Card && matches!(outcome, Outcome::Verdict(_))
}

/// The key a check asked for, in the log's form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoggedKey<'a> {
    /// Which kind of key `bytes` holds.
    pub kind: QueryKind,
    /// Card: the serial's big-endian bytes; online number: its digits; card
    /// face: insurer number, symbol, number and branch joined by
    /// [`KEY_SEPARATOR`].
    pub bytes: &'a [u8],
}

impl LoggedKey<'_> {
    /// The key of a check refused before a key was read.
    pub const NONE: LoggedKey<'static> = LoggedKey {
        kind: QueryKind::None,
        bytes: b"",
    };

    /// The key as a person reads it (the serial as `0x…` hex, the number, or the card
    /// face's parts joined by `/`).
    pub fn display(&self) -> String {
        match self.kind {
            QueryKind::None => String::new(),
            QueryKind::Card => Serial::from_be_bytes(self.bytes)
                .map(|serial| serial.to_string())
                .unwrap_or_default(),
            QueryKind::OnlineNumber => String::from_utf8_lossy(self.bytes).into_owned(),
            QueryKind::CardFace => self
                .bytes
                .split(|b| *b == KEY_SEPARATOR)
                .map(String::from_utf8_lossy)
                .fold(String::new(), |mut text, part| {
                    if !text.is_empty() {
                        text.push('/');
                    }
                    let _ = write!(text, "{part}");
                    text
                }),
        }
    }
}

/// A key owned: what a check asked, as logged and as history searches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedKey {
    /// Which kind of key `bytes` holds.
    pub kind: QueryKind,
    /// The key's bytes, as in [`LoggedKey::bytes`].
    pub bytes: Vec<u8>,
}

impl OwnedKey {
    /// The logged key of a parsed check query.
    pub fn of(query: &Query) -> OwnedKey {
        match query {
            Query::Card { serial } => OwnedKey {
                kind: QueryKind::Card,
                bytes: serial.as_bytes().to_vec(),
            },
            Query::OnlineNumber { number, .. } => OwnedKey {
                kind: QueryKind::OnlineNumber,
                bytes: number.as_str().as_bytes().to_vec(),
            },
            Query::CardFace { key, .. } => OwnedKey {
                kind: QueryKind::CardFace,
                bytes: card_face_bytes(
                    key.insurer_number.as_str(),
                    &key.symbol,
                    &key.number,
                    key.branch.as_ref().map_or("", |b| b.as_str()),
                ),
            },
        }
    }

    /// The key borrowed, as records hold it.
    pub fn as_key(&self) -> LoggedKey<'_> {
        LoggedKey {
            kind: self.kind,
            bytes: &self.bytes,
        }
    }
}

/// The card-face key bytes of the log (and of history lookups).
pub fn card_face_bytes(insurer: &str, symbol: &str, number: &str, branch: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(insurer.len() + symbol.len() + number.len() + 5);
    for (index, part) in [insurer, symbol, number, branch].iter().enumerate() {
        if index > 0 {
            out.push(KEY_SEPARATOR);
        }
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// One answered (or refused) check, borrowed from the request or from a
/// decoded batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckRecord<'a> {
    /// When the answer was made, in microseconds since the Unix epoch.
    pub micros: u64,
    /// Time from receiving the check to its answer, in microseconds (capped at `u32::MAX`).
    pub latency_us: u32,
    /// Whether the check came alone or as a bulk line.
    pub via: Via,
    /// The institution that asked; `None` when refused before it was known.
    pub institution: Option<InstitutionCode>,
    /// What was asked for ([`LoggedKey::NONE`] when no key was read).
    pub key: LoggedKey<'a>,
    /// The treatment date checked.
    pub date: Option<Date>,
    /// The verdict answered, or the error code of a refusal.
    pub outcome: Outcome,
    /// The insurer of the first record answered (the bearer of a
    /// validation's fee on the insurer side).
    pub insurer: Option<InsurerNumber>,
    /// Id of the snapshot answered from; empty when no verdict was given.
    pub snapshot: &'a str,
    /// Last journal LSN applied over the snapshot when answering (0: none, or no verdict).
    pub update_lsn: u64,
    /// Id of the CRL in service when answering; empty when no verdict was given.
    pub crl: &'a str,
    /// Reception number given in the answer; empty when no verdict was given.
    pub reception: &'a str,
}

/// Checks refused unlogged because the log's queue was full (the `shed`
/// policy): counted, and written as one entry once the writer catches up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shed {
    /// When the first of the counted checks was shed, in microseconds since the Unix epoch.
    pub first_micros: u64,
    /// When the count was taken for writing, in microseconds since the Unix epoch.
    pub micros: u64,
    /// Checks refused with 503 `busy` between the two times.
    pub count: u32,
}

/// One entry of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// One check answered or refused.
    Check(CheckRecord<'a>),
    /// A count of checks shed under the `shed` policy, not logged one by one.
    Shed(Shed),
}

impl Entry<'_> {
    /// When the entry was made, in microseconds since the Unix epoch.
    pub fn micros(&self) -> u64 {
        match self {
            Entry::Check(record) => record.micros,
            Entry::Shed(shed) => shed.micros,
        }
    }
}

impl CheckRecord<'_> {
    /// Appends the length-prefixed binary form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = begin(out);
        out.push(TAG_CHECK);
        out.extend_from_slice(&self.micros.to_le_bytes());
        out.extend_from_slice(&self.latency_us.to_le_bytes());
        out.push(self.via as u8);
        out.push(self.key.kind as u8);
        out.extend_from_slice(&self.outcome.to_bytes());
        out.extend_from_slice(&self.date.map_or(0, Date::days).to_le_bytes());
        out.extend_from_slice(&self.update_lsn.to_le_bytes());
        out.extend_from_slice(&padded::<10>(self.institution.as_ref().map(|c| c.as_str())));
        out.extend_from_slice(&padded::<8>(self.insurer.as_ref().map(|n| n.as_str())));
        for field in [
            cut(self.key.bytes, |_| true),
            cut_text(self.snapshot),
            cut_text(self.crl),
            cut_text(self.reception),
        ] {
            out.push(field.len() as u8);
            out.extend_from_slice(field);
        }
        finish(out, start);
    }
}

impl Shed {
    /// Appends the length-prefixed binary form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = begin(out);
        out.push(TAG_SHED);
        out.extend_from_slice(&self.micros.to_le_bytes());
        out.extend_from_slice(&self.first_micros.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        finish(out, start);
    }
}

/// The first [`MAX_FIELD_BYTES`] of a field, ending where `fits` allows.
fn cut(bytes: &[u8], fits: impl Fn(usize) -> bool) -> &[u8] {
    let end = (0..=bytes.len().min(MAX_FIELD_BYTES))
        .rev()
        .find(|end| fits(*end))
        .unwrap_or(0);
    &bytes[..end]
}

/// A text field cut to [`MAX_FIELD_BYTES`] at a character boundary.
fn cut_text(text: &str) -> &[u8] {
    cut(text.as_bytes(), |end| text.is_char_boundary(end))
}

/// A fixed-width code field: the code's digits, or zeros for none.
fn padded<const N: usize>(code: Option<&str>) -> [u8; N] {
    let mut field = [0u8; N];
    if let Some(code) = code {
        let len = code.len().min(N);
        field[..len].copy_from_slice(&code.as_bytes()[..len]);
    }
    field
}

fn begin(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0, 0]);
    out.len()
}

fn finish(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u16;
    out[start - 2..start].copy_from_slice(&len.to_le_bytes());
}

/// The entries of one decoded batch, in order; `None` at the first entry
/// that does not decode (the batch's checksum held, so that is a bug or a
/// newer writer, and the rest of the batch is not guessed at).
pub struct Entries<'a> {
    bytes: &'a [u8],
}

impl<'a> Entries<'a> {
    /// The entries of a decompressed batch's bytes.
    pub fn new(bytes: &'a [u8]) -> Entries<'a> {
        Entries { bytes }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.bytes.is_empty() {
            return None;
        }
        let entry = self
            .bytes
            .get(..2)
            .map(|len| u16::from_le_bytes([len[0], len[1]]) as usize)
            .and_then(|len| self.bytes.get(2..2 + len).map(|body| (body, len)))
            .and_then(|(body, len)| decode(body).map(|entry| (entry, len)));
        match entry {
            Some((entry, len)) => {
                self.bytes = &self.bytes[2 + len..];
                Some(Ok(entry))
            }
            None => {
                self.bytes = &[];
                Some(Err("an entry of the batch cannot be read".into()))
            }
        }
    }
}

/// Reads fields off the front of an entry.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn field(&mut self) -> Option<&'a [u8]> {
        let len = self.u8()? as usize;
        self.take(len)
    }
    fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.field()?).ok()
    }
}

fn decode(body: &[u8]) -> Option<Entry<'_>> {
    let mut r = Reader(body);
    match r.u8()? {
        TAG_CHECK => decode_check(&mut r).map(Entry::Check),
        TAG_SHED => Some(Entry::Shed(Shed {
            micros: r.u64()?,
            first_micros: r.u64()?,
            count: r.u32()?,
        })),
        _ => None,
    }
}

fn decode_check<'a>(r: &mut Reader<'a>) -> Option<CheckRecord<'a>> {
    let micros = r.u64()?;
    let latency_us = r.u32()?;
    let via = match r.u8()? {
        0 => Via::Single,
        1 => Via::Bulk,
        _ => return None,
    };
    let kind = [
        QueryKind::None,
        QueryKind::Card,
        QueryKind::OnlineNumber,
        QueryKind::CardFace,
    ]
    .get(r.u8()? as usize)
    .copied()?;
    let outcome = Outcome::from_bytes([r.u8()?, r.u8()?])?;
    let date = i32::from_le_bytes(r.take(4)?.try_into().ok()?);
    let update_lsn = r.u64()?;
    let institution = code_or_none(r.take(10)?).and_then(|t| InstitutionCode::parse(t).ok());
    let insurer = code_or_none(r.take(8)?).and_then(|t| InsurerNumber::parse(t).ok());
    Some(CheckRecord {
        micros,
        latency_us,
        via,
        institution,
        key: LoggedKey {
            kind,
            bytes: r.field()?,
        },
        date: (date != 0).then(|| Date::from_days(date)),
        outcome,
        insurer,
        snapshot: r.text()?,
        update_lsn,
        crl: r.text()?,
        reception: r.text()?,
    })
}

fn code_or_none(bytes: &[u8]) -> Option<&str> {
    (bytes[0] != 0).then(|| std::str::from_utf8(bytes).ok())?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorCode, Verdict};

    pub(super) fn sample<'a>(key: LoggedKey<'a>, outcome: Outcome) -> CheckRecord<'a> {
        CheckRecord {
            micros: 1_795_000_000_123_456,
            latency_us: 412,
            via: Via::Bulk,
            institution: InstitutionCode::parse("1312345678").ok(),
            key,
            date: Date::from_ymd(2026, 11, 22),
            outcome,
            insurer: InsurerNumber::parse("06139992").ok(),
            snapshot: "20261122-0001-ab12",
            update_lsn: 77,
            crl: "crl-20261122",
            reception: "20261122083015-04d2-000001",
        }
    }

    #[test]
    fn entries_round_trip() {
        let serial = Serial::from_u64(123_456_789);
        let face = card_face_bytes("06139992", "あ12", "345", "01");
        let records = [
            sample(
                LoggedKey {
                    kind: QueryKind::Card,
                    bytes: serial.as_bytes(),
                },
                Outcome::Verdict(Verdict::CertRevoked),
            ),
            sample(
                LoggedKey {
                    kind: QueryKind::CardFace,
                    bytes: &face,
                },
                Outcome::Verdict(Verdict::Valid),
            ),
            CheckRecord {
                institution: None,
                insurer: None,
                date: None,
                ..sample(LoggedKey::NONE, Outcome::Error(ErrorCode::Busy))
            },
        ];
        let shed = Shed {
            first_micros: 5,
            micros: 9,
            count: 3,
        };
        let mut out = Vec::new();
        for record in &records {
            record.encode(&mut out);
        }
        shed.encode(&mut out);
        let decoded: Vec<Entry<'_>> = Entries::new(&out).map(|e| e.unwrap()).collect();
        assert_eq!(decoded.len(), 4);
        for (record, entry) in records.iter().zip(&decoded) {
            assert_eq!(Entry::Check(*record), *entry);
        }
        assert_eq!(decoded[3], Entry::Shed(shed));
        assert_eq!(records[0].key.display(), "0x75bcd15");
        assert_eq!(records[1].key.display(), "06139992/あ12/345/01");
        // A text field past 255 bytes is cut at a character boundary.
        let long = "あ".repeat(100);
        let mut bytes = Vec::new();
        CheckRecord {
            snapshot: &long,
            ..records[0]
        }
        .encode(&mut bytes);
        let Some(Ok(Entry::Check(cut))) = Entries::new(&bytes).next() else {
            panic!("a record with a long snapshot id does not decode");
        };
        assert_eq!(cut.snapshot, "あ".repeat(85));
        let mut cut = out.clone();
        cut.truncate(out.len() - 3);
        assert!(Entries::new(&cut).any(|e| e.is_err()));
    }
}

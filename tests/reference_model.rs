//! Reference-model test: the engine against a naive, in-memory implementation
//! of the answer rules (SPEC.md §2–§3, CONTRACT.md §1 and §3), on random data.
//!
//! Each case generates a small dataset over deliberately tiny key spaces (so
//! that households, shared online numbers, `multiple`, insurer changes,
//! same-day acquire/lose and every date boundary turn up often), writes it as
//! the CSV sources, builds a real snapshot with 1–3 shards, and asks random
//! card, online-number and card-face checks. The model below is written from
//! the rules alone: a `Vec` of rows and linear scans, nothing shared with
//! `src/engine`. Verdicts and answered records (person, online number,
//! qualification_seq, acquired, in answer order) must agree exactly.
//!
//! Data and queries are also written in non-canonical but legal forms
//! (`YYYYMMDD` dates, linkage numbers with leading zeros, 6-digit municipal
//! insurer numbers, full-width digits, padded spaces, 1-digit card branches,
//! hex serials, blank `qualification_seq`) while the model works on the
//! canonical values.
//!
//! `PROPTEST_CASES` overrides the number of random cases (default 48).

mod common;

use common::{qualification, Dataset, Row};
use proptest::option::weighted;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{TestCaseError, TestRunner};
use shikaku::engine::{check, Answer, Query};
use shikaku::model::{
    CardFaceKey, Date, DateField, InsurerNumber, OnlineNumber, Serial, TextField, Verdict,
};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

// ---------------------------------------------------------------------------
// Key spaces
// ---------------------------------------------------------------------------

const INSURER_CODES: [&str; 2] = ["10000001", "20000002"];
const SYMBOLS: [&str; 3] = ["", "12", "東京"];
const CARD_BRANCHES: [&str; 3] = ["", "00", "01"];
const BIRTHS: [&str; 3] = ["1980-04-01", "1985-06-15", "2010-01-31"];
const UNKNOWN_BIRTH: &str = "1999-09-09";
const REASONS: [&str; 4] = [
    "certificateHold",
    "keyCompromise",
    "superseded",
    "unspecified",
];

/// The insurer numbers rows use (canonical 8 digits); the third is a
/// municipal NHI number (starts with `00`, may be written with 6 digits).
/// Index 3 is valid but never used by a row (queries only).
fn insurer_number(index: usize) -> String {
    match index {
        0 => common::HEALTH_SOCIETY.to_string(),
        1 => InsurerNumber::with_check_digit(113_001).to_string(),
        2 => InsurerNumber::with_check_digit(13_800).to_string(),
        _ => InsurerNumber::with_check_digit(3_123_456).to_string(),
    }
}
const ROW_INSURERS: usize = 3;

/// Card number `index`: "1", "2", …; rows use the first `Sizes::numbers`,
/// queries one more.
fn card_number(index: usize) -> String {
    (index + 1).to_string()
}

fn base() -> Date {
    Date::from_ymd(2026, 11, 1).unwrap()
}

fn day(offset: i32) -> Date {
    base().add_days(offset)
}

fn birth(index: usize) -> Date {
    Date::parse(BIRTHS.get(index).copied().unwrap_or(UNKNOWN_BIRTH)).unwrap()
}

// ---------------------------------------------------------------------------
// Generated data
// ---------------------------------------------------------------------------

/// How big a generated case is.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    persons: (usize, usize),
    linkage_max: u32,
    branch_max: u32,
    municipal_max: u32,
    /// Card numbers rows use.
    numbers: usize,
    links: (usize, usize),
    /// Serials in linkage.csv are 1..=link_serial_max; all others up to serial_max.
    link_serial_max: u64,
    serial_max: u64,
    renewals: (usize, usize),
    revoked: (usize, usize),
    queries: (usize, usize),
}

const SMALL: Sizes = Sizes {
    persons: (1, 12),
    linkage_max: 16,
    branch_max: 5,
    municipal_max: 2,
    numbers: 3,
    links: (0, 12),
    link_serial_max: 30,
    serial_max: 40,
    renewals: (0, 8),
    revoked: (0, 6),
    queries: (1, 100),
};

const LARGE: Sizes = Sizes {
    persons: (300, 300),
    linkage_max: 400,
    branch_max: 400,
    municipal_max: 40,
    numbers: 200,
    links: (250, 400),
    link_serial_max: 450,
    serial_max: 600,
    renewals: (80, 150),
    revoked: (40, 80),
    queries: (4000, 4000),
};

/// A subscription: insurer code + branch number, or a municipal insured ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sub {
    Branch { code: usize, branch: u32 },
    Municipal(u32),
}

impl Sub {
    fn online(self) -> String {
        match self {
            Sub::Branch { code, branch } => format!("{}{branch:016}", INSURER_CODES[code]),
            Sub::Municipal(id) => format!("13{id:013}"),
        }
    }
}

/// One generated qualification row (indices into the key spaces, day offsets
/// from the base date) and how to write it.
#[derive(Clone, Debug)]
struct GenRow {
    linkage: u32,
    sub: Sub,
    seq: u32,
    insurer: usize,
    symbol: usize,
    number: usize,
    card_branch: usize,
    birth: usize,
    acquired: i32,
    lost: Option<i32>,
    benefit_start: Option<i32>,
    benefit_end: Option<i32>,
    card_from: Option<i32>,
    card_to: Option<i32>,
    /// Presentation bits, see [`csv_row`].
    style: u8,
}

#[derive(Clone, Debug)]
struct GenData {
    rows: Vec<GenRow>,
    /// (serial, linkage_no, written as hex)
    links: Vec<(u64, u32, bool)>,
    /// (new_serial, old_serial)
    renewals: Vec<(u64, u64)>,
    /// (serial, index into REASONS)
    revoked: Vec<(u64, usize)>,
}

impl GenData {
    /// Every serial the sources mention (queries prefer these).
    fn serials(&self) -> Vec<u64> {
        let mut serials: Vec<u64> = self.links.iter().map(|l| l.0).collect();
        for &(new, old) in &self.renewals {
            serials.push(new);
            serials.push(old);
        }
        serials.extend(self.revoked.iter().map(|r| r.0));
        serials
    }
}

/// A generated link: the serial, and the person (a row's linkage_no when
/// `person` is given, else `linkage`, which may have no rows).
#[derive(Clone, Debug)]
struct RawLink {
    serial: u64,
    person: Option<Index>,
    linkage: u32,
    hex: bool,
}

/// A generated renewal: the old serial is a linked serial (`from` 0), the
/// new serial of an earlier renewal (1, a chain) or any serial (2).
#[derive(Clone, Debug)]
struct RawRenewal {
    from: u8,
    pick: Index,
    old: u64,
    new: u64,
}

/// Makes the raw generated data legal for the build: no repeated (person,
/// online number, seq); a serial linked once (plus one harmless repeat to
/// the same person); renewals acyclic, each old and each new serial used
/// once, and a new serial never linked directly; a serial revoked at most
/// once.
fn assemble(
    persons: Vec<Vec<GenRow>>,
    raw_links: Vec<RawLink>,
    raw_renewals: Vec<RawRenewal>,
    raw_revoked: Vec<(Option<Index>, u64, usize)>,
) -> GenData {
    let mut rows: Vec<GenRow> = Vec::new();
    for row in persons.into_iter().flatten() {
        if !rows.iter().any(|r| {
            r.linkage == row.linkage && r.sub.online() == row.sub.online() && r.seq == row.seq
        }) {
            rows.push(row);
        }
    }
    let mut links: Vec<(u64, u32, bool)> = Vec::new();
    for link in raw_links {
        let linkage = match &link.person {
            Some(index) if !rows.is_empty() => index.get(&rows).linkage,
            _ => link.linkage,
        };
        if !links.iter().any(|l| l.0 == link.serial) {
            links.push((link.serial, linkage, link.hex));
        }
    }
    if let Some(&(serial, linkage, hex)) = links.first() {
        if serial % 3 == 0 {
            links.push((serial, linkage, !hex));
        }
    }
    let mut renewals: Vec<(u64, u64)> = Vec::new();
    for raw in raw_renewals {
        let old = match raw.from {
            0 if !links.is_empty() => raw.pick.get(&links).0,
            1 if !renewals.is_empty() => raw.pick.get(&renewals).0,
            _ => raw.old,
        };
        let new = raw.new;
        // Following the chain from `new` must not come back to `old`.
        let mut current = new;
        let mut cycle = false;
        while let Some(&(next, _)) = renewals.iter().find(|r| r.1 == current) {
            if next == old {
                cycle = true;
                break;
            }
            current = next;
        }
        let fine = new != old
            && !cycle
            && !renewals.iter().any(|r| r.0 == new || r.1 == old)
            && !links.iter().any(|l| l.0 == new);
        if fine {
            renewals.push((new, old));
        }
    }
    let mut data = GenData {
        rows,
        links,
        renewals,
        revoked: Vec::new(),
    };
    let known = data.serials();
    for (pick, serial, reason) in raw_revoked {
        let serial = match pick {
            Some(index) if !known.is_empty() => *index.get(&known),
            _ => serial,
        };
        if !data.revoked.iter().any(|r| r.0 == serial) {
            data.revoked.push((serial, reason));
        }
    }
    data
}

fn sub_strategy(s: Sizes) -> impl Strategy<Value = Sub> {
    prop_oneof![
        5 => (0..INSURER_CODES.len(), 1..=s.branch_max)
            .prop_map(|(code, branch)| Sub::Branch { code, branch }),
        1 => (1..=s.municipal_max).prop_map(Sub::Municipal),
    ]
}

fn bound() -> impl Strategy<Value = Option<i32>> {
    weighted(0.15, -25i32..=25)
}

fn row_strategy(s: Sizes) -> impl Strategy<Value = GenRow> {
    let lost_after = prop_oneof![
        2 => Just(None),
        1 => Just(Some(0)),
        3 => (1i32..=20).prop_map(Some),
    ];
    (
        sub_strategy(s),
        1u32..=2,
        0..ROW_INSURERS,
        (0..SYMBOLS.len(), 0..s.numbers, 0..CARD_BRANCHES.len()),
        0..BIRTHS.len(),
        -20i32..=20,
        lost_after,
        (bound(), bound(), bound(), bound()),
        any::<u8>(),
    )
        .prop_map(
            |(
                sub,
                seq,
                insurer,
                (symbol, number, card_branch),
                birth,
                acquired,
                lost_after,
                b,
                style,
            )| {
                GenRow {
                    linkage: 0,
                    sub,
                    seq,
                    insurer,
                    symbol,
                    number,
                    card_branch,
                    birth,
                    acquired,
                    lost: lost_after.map(|after| acquired + after),
                    benefit_start: b.0,
                    benefit_end: b.1,
                    card_from: b.2,
                    card_to: b.3,
                    style,
                }
            },
        )
}

fn data_strategy(s: Sizes) -> impl Strategy<Value = GenData> {
    // Each row after a person's first may relate to the previous one, so
    // that a person's rows share keys and dates: 1 the same subscription
    // (the other qualification_seq), 2 an insurer change (acquired on the
    // day the previous row was lost), 3 acquired the same day.
    let relation = prop_oneof![3 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)];
    let person = (
        1..=s.linkage_max,
        proptest::collection::vec((row_strategy(s), relation), 1..=4),
    )
        .prop_map(|(linkage, rows)| {
            let mut out: Vec<GenRow> = Vec::new();
            for (row, relation) in rows {
                let mut row = GenRow { linkage, ..row };
                if let Some(previous) = out.last() {
                    let move_to = |row: &mut GenRow, acquired: i32| {
                        row.lost = row.lost.map(|lost| lost - row.acquired + acquired);
                        row.acquired = acquired;
                    };
                    match relation {
                        1 => {
                            row.sub = previous.sub;
                            row.seq = 3 - previous.seq;
                        }
                        2 => move_to(&mut row, previous.lost.unwrap_or(previous.acquired)),
                        3 => move_to(&mut row, previous.acquired),
                        _ => {}
                    }
                }
                out.push(row);
            }
            out
        });
    let persons = proptest::collection::vec(person, s.persons.0..=s.persons.1);
    let links = proptest::collection::vec(
        (
            1..=s.link_serial_max,
            weighted(0.8, any::<Index>()),
            1..=s.linkage_max + 4,
            any::<bool>(),
        )
            .prop_map(|(serial, person, linkage, hex)| RawLink {
                serial,
                person,
                linkage,
                hex,
            }),
        s.links.0..=s.links.1,
    );
    let renewals = proptest::collection::vec(
        (
            0u8..3,
            any::<Index>(),
            1..=s.serial_max,
            s.link_serial_max + 1..=s.serial_max,
        )
            .prop_map(|(from, pick, old, new)| RawRenewal {
                from,
                pick,
                old,
                new,
            }),
        s.renewals.0..=s.renewals.1,
    );
    let revoked = proptest::collection::vec(
        (
            weighted(0.6, any::<Index>()),
            1..=s.serial_max,
            0..REASONS.len(),
        ),
        s.revoked.0..=s.revoked.1,
    );
    (persons, links, renewals, revoked)
        .prop_map(|(persons, links, renewals, revoked)| assemble(persons, links, renewals, revoked))
}

// ---------------------------------------------------------------------------
// Generated queries
// ---------------------------------------------------------------------------

/// A query before it is tied to the data: `pick` chooses a row of the data
/// to take the key from (else the key is drawn from the whole key space).
#[derive(Clone, Debug)]
enum GenQuery {
    Card {
        pick: Option<Index>,
        serial: u64,
        hex: bool,
    },
    Online {
        pick: Option<Index>,
        sub: Sub,
        birth: u8,
        style: u8,
    },
    Face {
        pick: Option<Index>,
        insurer: usize,
        symbol: usize,
        number: usize,
        branch: u8,
        birth: u8,
        style: u8,
    },
}

/// The date of a query: near a row's acquired or lost date (to hit the
/// boundaries and in-force periods), else anywhere in the window.
#[derive(Clone, Debug)]
struct GenDate {
    near: Option<(Index, i32, bool)>,
    offset: i32,
}

impl GenDate {
    fn resolve(&self, rows: &[GenRow]) -> Date {
        match &self.near {
            Some((index, delta, from_lost)) if !rows.is_empty() => {
                let row = index.get(rows);
                let anchor = match row.lost {
                    Some(lost) if *from_lost => lost,
                    _ => row.acquired,
                };
                day(anchor + delta)
            }
            _ => day(self.offset),
        }
    }
}

fn query_strategy(s: Sizes) -> impl Strategy<Value = (GenQuery, GenDate)> {
    let kind = prop_oneof![
        (
            weighted(0.75, any::<Index>()),
            1..=s.serial_max + 5,
            any::<bool>()
        )
            .prop_map(|(pick, serial, hex)| GenQuery::Card { pick, serial, hex }),
        (
            weighted(0.75, any::<Index>()),
            sub_strategy(s),
            0u8..8,
            any::<u8>()
        )
            .prop_map(|(pick, sub, birth, style)| GenQuery::Online {
                pick,
                sub,
                birth,
                style
            }),
        (
            weighted(0.75, any::<Index>()),
            0..ROW_INSURERS + 1,
            0..SYMBOLS.len(),
            0..s.numbers + 1,
            0u8..6,
            0u8..8,
            any::<u8>(),
        )
            .prop_map(|(pick, insurer, symbol, number, branch, birth, style)| {
                GenQuery::Face {
                    pick,
                    insurer,
                    symbol,
                    number,
                    branch,
                    birth,
                    style,
                }
            }),
    ];
    let date = (
        weighted(0.5, (any::<Index>(), -2i32..=4, any::<bool>())),
        -25i32..=30,
    )
        .prop_map(|(near, offset)| GenDate { near, offset });
    (kind, date)
}

/// A concrete query: canonical values for the model, and the text the
/// engine's parsers are given.
#[derive(Clone)]
enum Ask {
    Card {
        serial: u64,
        text: String,
    },
    Online {
        number: String,
        text: String,
        birth: Option<Date>,
    },
    Face {
        insurer: String,
        symbol: String,
        number: String,
        branch: Option<String>,
        texts: [String; 4],
        birth: Option<Date>,
    },
}

impl Ask {
    fn query(&self) -> Query {
        match self {
            Ask::Card { text, .. } => Query::Card {
                serial: Serial::parse(text).unwrap(),
            },
            Ask::Online { text, birth, .. } => Query::OnlineNumber {
                number: OnlineNumber::parse(text).unwrap(),
                birth_date: *birth,
            },
            Ask::Face { texts, birth, .. } => Query::CardFace {
                key: CardFaceKey::parse(&texts[0], &texts[1], &texts[2], &texts[3]).unwrap(),
                birth_date: *birth,
            },
        }
    }
}

impl fmt::Display for Ask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let born = |b: &Option<Date>| b.map_or(String::new(), |d| format!(" born {d}"));
        match self {
            Ask::Card { serial, text } => write!(f, "card serial {serial} (sent as {text:?})"),
            Ask::Online {
                number,
                text,
                birth,
            } => write!(f, "online {number}{} (sent as {text:?})", born(birth)),
            Ask::Face {
                insurer,
                symbol,
                number,
                branch,
                texts,
                birth,
            } => write!(
                f,
                "face {insurer} [{symbol}|{number}|{}]{} (sent as {texts:?})",
                branch.as_deref().unwrap_or("no branch"),
                born(birth)
            ),
        }
    }
}

fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '!'..='~' => char::from_u32(c as u32 + 0xFEE0).unwrap_or(c),
            other => other,
        })
        .collect()
}

fn serial_text(serial: u64, hex: bool) -> String {
    if hex {
        format!("0x{serial:x}")
    } else {
        serial.to_string()
    }
}

/// An insurer number as written: the 6-digit municipal form when `short`
/// and possible, full-width digits when `wide`.
fn insurer_text(canonical: &str, short: bool, wide: bool) -> String {
    let text = match canonical.strip_prefix("00") {
        Some(rest) if short => rest.to_string(),
        _ => canonical.to_string(),
    };
    if wide {
        full_width(&text)
    } else {
        text
    }
}

fn birth_choice(choice: u8, row: Option<&GenRow>) -> Option<Date> {
    match choice {
        0..=2 => None,
        3 | 4 => Some(birth(row.map_or(0, |r| r.birth))),
        5 => Some(birth(1)),
        6 => Some(birth(2)),
        _ => Some(birth(usize::MAX)),
    }
}

fn resolve(query: &GenQuery, data: &GenData) -> Ask {
    let rows = &data.rows[..];
    let picked = |pick: &Option<Index>| match pick {
        Some(index) if !rows.is_empty() => Some(index.get(rows)),
        _ => None,
    };
    match query {
        GenQuery::Card { pick, serial, hex } => {
            let known = data.serials();
            let serial = match pick {
                Some(index) if !known.is_empty() => *index.get(&known),
                _ => *serial,
            };
            Ask::Card {
                serial,
                text: serial_text(serial, *hex),
            }
        }
        GenQuery::Online {
            pick,
            sub,
            birth,
            style,
        } => {
            let row = picked(pick);
            let number = row.map_or(*sub, |r| r.sub).online();
            let mut text = if style & 1 != 0 {
                full_width(&number)
            } else {
                number.clone()
            };
            if style & 2 != 0 {
                text = format!(" {text}\u{3000}");
            }
            Ask::Online {
                number,
                text,
                birth: birth_choice(*birth, row),
            }
        }
        GenQuery::Face {
            pick,
            insurer,
            symbol,
            number,
            branch,
            birth,
            style,
        } => {
            let row = picked(pick);
            let (insurer, symbol, number) = match row {
                Some(r) => (r.insurer, r.symbol, r.number),
                None => (*insurer, *symbol, *number),
            };
            let insurer = insurer_number(insurer);
            let symbol = SYMBOLS[symbol].to_string();
            let number = card_number(number);
            let branch = match branch {
                0 | 1 => None,
                2 => row
                    .map(|r| CARD_BRANCHES[r.card_branch])
                    .filter(|b| !b.is_empty())
                    .map(str::to_string),
                3 => Some("00".to_string()),
                4 => Some("01".to_string()),
                _ => Some("02".to_string()),
            };
            let wide = |t: &str| {
                if style & 2 != 0 {
                    full_width(t)
                } else {
                    t.to_string()
                }
            };
            let branch_text = match &branch {
                None => String::new(),
                Some(b) if style & 4 != 0 => b[1..].to_string(),
                Some(b) => wide(b),
            };
            let texts = [
                insurer_text(&insurer, style & 1 != 0, style & 8 != 0),
                if style & 16 != 0 {
                    format!(" {} ", wide(&symbol))
                } else {
                    wide(&symbol)
                },
                wide(&number),
                branch_text,
            ];
            Ask::Face {
                insurer,
                symbol,
                number,
                branch,
                texts,
                birth: birth_choice(*birth, row),
            }
        }
    }
}

/// One generated test case: the data, the shard count, the queries.
#[derive(Clone)]
struct Case {
    data: GenData,
    shards: u32,
    asks: Vec<(Ask, Date)>,
}

fn case_strategy(s: Sizes, shards: std::ops::RangeInclusive<u32>) -> impl Strategy<Value = Case> {
    (
        data_strategy(s),
        shards,
        proptest::collection::vec(query_strategy(s), s.queries.0..=s.queries.1),
    )
        .prop_map(|(data, shards, queries)| {
            let asks = queries
                .iter()
                .map(|(q, d)| (resolve(q, &data), d.resolve(&data.rows)))
                .collect();
            Case { data, shards, asks }
        })
}

// ---------------------------------------------------------------------------
// Writing the sources
// ---------------------------------------------------------------------------

/// Style bits: 1 dates as YYYYMMDD; 2 linkage_no with leading zeros; 4
/// insurer number in its 6-digit form when municipal; 8 symbol and number
/// full-width; 16 card branch with one digit; 32 blank qualification_seq
/// when it is 1; 64 spaces around symbol and number.
fn csv_row(r: &GenRow) -> Row {
    let date = |offset: i32| {
        let text = day(offset).to_string();
        if r.style & 1 != 0 {
            text.replace('-', "")
        } else {
            text
        }
    };
    let opt_date = |offset: Option<i32>| offset.map(date).unwrap_or_default();
    let linkage = if r.style & 2 != 0 {
        format!("{:05}", r.linkage)
    } else {
        r.linkage.to_string()
    };
    let card_text = |t: &str| {
        let t = if r.style & 8 != 0 {
            full_width(t)
        } else {
            t.to_string()
        };
        if r.style & 64 != 0 {
            format!("  {t} ")
        } else {
            t
        }
    };
    let card_branch = CARD_BRANCHES[r.card_branch];
    let card_branch = if r.style & 16 != 0 && !card_branch.is_empty() {
        &card_branch[1..]
    } else {
        card_branch
    };
    let seq = if r.seq == 1 && r.style & 32 != 0 {
        String::new()
    } else {
        r.seq.to_string()
    };
    let row = qualification(&linkage, "", &date(r.acquired));
    let row = match r.sub {
        Sub::Branch { code, branch } => row
            .set("insurer_code", INSURER_CODES[code])
            .set("branch_no", &format!("{branch:016}")),
        Sub::Municipal(_) => row
            .set("insurer_code", "")
            .set("branch_no", "")
            .set("municipal_id", &r.sub.online()),
    };
    row.set(
        "insurer_number",
        &insurer_text(&insurer_number(r.insurer), r.style & 4 != 0, false),
    )
    .set("card_symbol", &card_text(SYMBOLS[r.symbol]))
    .set("card_number", &card_text(&card_number(r.number)))
    .set("card_branch", card_branch)
    .set("birth_date", &date_of_birth(r))
    .set("lost", &opt_date(r.lost))
    .set("benefit_start", &opt_date(r.benefit_start))
    .set("benefit_end", &opt_date(r.benefit_end))
    .set("card_valid_from", &opt_date(r.card_from))
    .set("card_valid_to", &opt_date(r.card_to))
    .set("qualification_seq", &seq)
}

fn date_of_birth(r: &GenRow) -> String {
    let text = birth(r.birth).to_string();
    if r.style & 1 != 0 {
        text.replace('-', "")
    } else {
        text
    }
}

fn dataset(data: &GenData) -> Dataset {
    let mut set = Dataset::new();
    for i in 1..ROW_INSURERS + 1 {
        set = set.insurer(&insurer_number(i), &format!("テスト保険者{i}"));
    }
    for row in &data.rows {
        set = set.row(csv_row(row));
    }
    for &(serial, linkage, hex) in &data.links {
        set = set.link(&serial_text(serial, hex), &linkage.to_string());
    }
    for &(new, old) in &data.renewals {
        set = set.renew(
            &serial_text(new, new % 2 == 0),
            &serial_text(old, old % 3 == 0),
        );
    }
    for &(serial, reason) in &data.revoked {
        set = set.revoke(&serial_text(serial, serial % 2 == 1), REASONS[reason]);
    }
    set
}

// ---------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------

/// A row as the model sees it: canonical values only.
#[derive(Clone, Debug)]
struct MRow {
    linkage: u128,
    online: String,
    seq: u32,
    insurer: String,
    symbol: String,
    number: String,
    card_branch: String,
    birth: Date,
    acquired: Date,
    lost: Option<Date>,
    benefit_start: Option<Date>,
    benefit_end: Option<Date>,
    card_from: Option<Date>,
    card_to: Option<Date>,
}

impl MRow {
    fn from_gen(r: &GenRow) -> MRow {
        MRow {
            linkage: u128::from(r.linkage),
            online: r.sub.online(),
            seq: r.seq,
            insurer: insurer_number(r.insurer),
            symbol: SYMBOLS[r.symbol].to_string(),
            number: card_number(r.number),
            card_branch: CARD_BRANCHES[r.card_branch].to_string(),
            birth: birth(r.birth),
            acquired: day(r.acquired),
            lost: r.lost.map(day),
            benefit_start: r.benefit_start.map(day),
            benefit_end: r.benefit_end.map(day),
            card_from: r.card_from.map(day),
            card_to: r.card_to.map(day),
        }
    }

    fn in_force(&self, d: Date) -> bool {
        self.acquired <= d
            && self.lost.is_none_or(|lost| d < lost)
            && self.benefit_start.is_none_or(|start| start <= d)
            && self.benefit_end.is_none_or(|end| d <= end)
            && self.card_from.is_none_or(|from| from <= d)
            && self.card_to.is_none_or(|to| d <= to)
    }

    fn started_by(&self, d: Date) -> bool {
        self.acquired <= d && self.lost.is_none_or(|lost| self.acquired < lost)
    }

    fn rec(&self) -> Rec {
        Rec {
            linkage: Some(self.linkage),
            online: self.online.clone(),
            seq: self.seq,
            acquired: Some(self.acquired),
        }
    }
}

impl fmt::Display for MRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = |d: Option<Date>| d.map_or("-".to_string(), |d| d.to_string());
        write!(
            f,
            "L{} {} seq {} | ins {} face [{}|{}|{}] born {} | acquired {} lost {} benefit {}..{} card {}..{}",
            self.linkage,
            self.online,
            self.seq,
            self.insurer,
            self.symbol,
            self.number,
            self.card_branch,
            self.birth,
            self.acquired,
            o(self.lost),
            o(self.benefit_start),
            o(self.benefit_end),
            o(self.card_from),
            o(self.card_to),
        )
    }
}

/// Newest first: acquired descending, then qualification_seq descending,
/// then online number ascending.
fn newest_first(a: &&MRow, b: &&MRow) -> Ordering {
    b.acquired
        .cmp(&a.acquired)
        .then(b.seq.cmp(&a.seq))
        .then(a.online.cmp(&b.online))
}

/// An answered record, as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    linkage: Option<u128>,
    online: String,
    seq: u32,
    acquired: Option<Date>,
}

impl fmt::Display for Rec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let linkage = self.linkage.map_or("?".to_string(), |l| l.to_string());
        let acquired = self.acquired.map_or("?".to_string(), |d| d.to_string());
        write!(
            f,
            "L{linkage} {} seq {} (acq {acquired})",
            self.online, self.seq
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    verdict: Verdict,
    records: Vec<Rec>,
}

impl Outcome {
    fn bare(verdict: Verdict) -> Outcome {
        Outcome {
            verdict,
            records: Vec::new(),
        }
    }

    fn of(answer: &Answer<'_>) -> Outcome {
        Outcome {
            verdict: answer.verdict,
            records: answer
                .records
                .iter()
                .map(|r| Rec {
                    linkage: Some(r.linkage().0),
                    online: r.text(TextField::OnlineNumber).to_string(),
                    seq: r.qualification_seq(),
                    acquired: r.date(DateField::Acquired),
                })
                .collect(),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.verdict)?;
        if self.records.is_empty() {
            return f.write_str(" (no records)");
        }
        for rec in &self.records {
            write!(f, "\n      {rec}")?;
        }
        Ok(())
    }
}

struct Model {
    rows: Vec<MRow>,
    /// (serial in use after following renewals, linkage_no)
    links: Vec<(u64, u128)>,
    /// (serial, reason)
    revoked: Vec<(u64, &'static str)>,
}

impl Model {
    fn new(data: &GenData) -> Model {
        let mut links = Vec::new();
        for &(serial, linkage, _) in &data.links {
            let mut current = serial;
            while let Some(&(new, _)) = data.renewals.iter().find(|r| r.1 == current) {
                current = new;
            }
            links.push((current, u128::from(linkage)));
        }
        Model {
            rows: data.rows.iter().map(MRow::from_gen).collect(),
            links,
            revoked: data.revoked.iter().map(|&(s, r)| (s, REASONS[r])).collect(),
        }
    }

    fn person_rows(&self, linkage: u128) -> Vec<&MRow> {
        self.rows.iter().filter(|r| r.linkage == linkage).collect()
    }

    fn answer(&self, ask: &Ask, d: Date) -> Outcome {
        match ask {
            Ask::Card { serial, .. } => self.card(*serial, d),
            Ask::Online { number, birth, .. } => {
                let candidates = self.rows.iter().filter(|r| &r.online == number).collect();
                self.insurance_card(candidates, *birth, d)
            }
            Ask::Face {
                insurer,
                symbol,
                number,
                branch,
                birth,
                ..
            } => {
                let candidates = self
                    .rows
                    .iter()
                    .filter(|r| &r.insurer == insurer && &r.symbol == symbol && &r.number == number)
                    .filter(|r| match branch {
                        Some(b) => r.card_branch.is_empty() || &r.card_branch == b,
                        None => true,
                    })
                    .collect();
                self.insurance_card(candidates, *birth, d)
            }
        }
    }

    /// For failure reports: the rows matching the query's key (any birth
    /// date or branch) and every row of their persons.
    fn relevant(&self, ask: &Ask) -> Vec<&MRow> {
        let persons: Vec<u128> = match ask {
            Ask::Card { serial, .. } => self
                .links
                .iter()
                .filter(|l| l.0 == *serial)
                .map(|l| l.1)
                .collect(),
            Ask::Online { number, .. } => self
                .rows
                .iter()
                .filter(|r| &r.online == number)
                .map(|r| r.linkage)
                .collect(),
            Ask::Face {
                insurer,
                symbol,
                number,
                ..
            } => self
                .rows
                .iter()
                .filter(|r| &r.insurer == insurer && &r.symbol == symbol && &r.number == number)
                .map(|r| r.linkage)
                .collect(),
        };
        self.rows
            .iter()
            .filter(|r| persons.contains(&r.linkage))
            .collect()
    }

    fn card(&self, serial: u64, d: Date) -> Outcome {
        if let Some(&(_, reason)) = self.revoked.iter().find(|r| r.0 == serial) {
            return Outcome::bare(if reason == "certificateHold" {
                Verdict::CertSuspended
            } else {
                Verdict::CertRevoked
            });
        }
        let Some(&(_, linkage)) = self.links.iter().find(|l| l.0 == serial) else {
            return Outcome::bare(Verdict::NotLinked);
        };
        let rows = self.person_rows(linkage);
        if rows.is_empty() {
            return Outcome::bare(Verdict::NotFound);
        }
        final_step(rows, Vec::new(), d)
    }

    fn insurance_card(&self, candidates: Vec<&MRow>, birth: Option<Date>, d: Date) -> Outcome {
        let candidates: Vec<&MRow> = candidates
            .into_iter()
            .filter(|r| birth.is_none_or(|b| r.birth == b))
            .collect();
        let Some(first) = candidates.first() else {
            return Outcome::bare(Verdict::NotFound);
        };
        if candidates.iter().any(|r| r.linkage != first.linkage) {
            return Outcome::bare(Verdict::Multiple);
        }
        let others = self
            .person_rows(first.linkage)
            .into_iter()
            .filter(|r| {
                !candidates
                    .iter()
                    .any(|c| c.online == r.online && c.seq == r.seq)
            })
            .collect();
        final_step(candidates, others, d)
    }
}

/// The shared final step for one person's matched rows `m` and other rows.
fn final_step(mut m: Vec<&MRow>, others: Vec<&MRow>, d: Date) -> Outcome {
    m.sort_by(newest_first);
    let in_force: Vec<Rec> = m
        .iter()
        .filter(|r| r.in_force(d))
        .map(|r| r.rec())
        .collect();
    if !in_force.is_empty() {
        return Outcome {
            verdict: Verdict::Valid,
            records: in_force,
        };
    }
    let shown = m.iter().find(|r| r.started_by(d)).unwrap_or(&m[0]);
    let newer = others
        .iter()
        .any(|o| o.in_force(d) && o.acquired > shown.acquired);
    Outcome {
        verdict: if newer {
            Verdict::InvalidNewerExists
        } else {
            Verdict::Invalid
        },
        records: vec![shown.rec()],
    }
}

// ---------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Case (shards {}):", self.shards)?;
        writeln!(f, "  eligibility rows ({}):", self.data.rows.len())?;
        for row in &self.data.rows {
            writeln!(
                f,
                "    {}   [style {:#04x}]",
                MRow::from_gen(row),
                row.style
            )?;
        }
        let serials = |list: Vec<String>| {
            if list.is_empty() {
                "none".to_string()
            } else {
                list.join(", ")
            }
        };
        writeln!(
            f,
            "  linkage: {}",
            serials(
                self.data
                    .links
                    .iter()
                    .map(|(s, l, _)| format!("{s}→L{l}"))
                    .collect()
            )
        )?;
        writeln!(
            f,
            "  renewals (old⇒new): {}",
            serials(
                self.data
                    .renewals
                    .iter()
                    .map(|(new, old)| format!("{old}⇒{new}"))
                    .collect()
            )
        )?;
        writeln!(
            f,
            "  revoked: {}",
            serials(
                self.data
                    .revoked
                    .iter()
                    .map(|(s, r)| format!("{s} {}", REASONS[*r]))
                    .collect()
            )
        )?;
        writeln!(f, "  queries ({}):", self.asks.len())?;
        for (ask, d) in &self.asks {
            writeln!(f, "    {ask} on {d}")?;
        }
        Ok(())
    }
}

/// One disagreement between the engine and the model.
struct Mismatch {
    ask: Ask,
    date: Date,
    expected: Outcome,
    actual: Outcome,
    /// The rows the query could concern, for the report.
    rows: Vec<String>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "query: {} on {}\n    expected (model): {}\n    actual (engine):  {}\n    rows of the key and of its persons:",
            self.ask, self.date, self.expected, self.actual
        )?;
        for row in &self.rows {
            write!(f, "\n      {row}")?;
        }
        Ok(())
    }
}

/// Builds the case's snapshot and asks every query; returns the verdicts
/// seen and the disagreements.
fn run(case: &Case) -> Result<(BTreeMap<&'static str, usize>, Vec<Mismatch>), String> {
    let built = dataset(&case.data)
        .try_build(case.shards)
        .map_err(|e| format!("build failed: {e:#}"))?;
    let model = Model::new(&case.data);
    let mut seen = BTreeMap::new();
    let mut mismatches = Vec::new();
    for (ask, date) in &case.asks {
        let expected = model.answer(ask, *date);
        let actual = Outcome::of(&check(&built.snapshot, &ask.query(), *date));
        *seen.entry(actual.verdict.as_str()).or_insert(0) += 1;
        if expected != actual {
            mismatches.push(Mismatch {
                ask: ask.clone(),
                date: *date,
                expected,
                actual,
                rows: model
                    .relevant(ask)
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            });
        }
    }
    Ok((seen, mismatches))
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        max_shrink_iters: 4000,
        // Only this file is ours to write: no regression files next to it.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_agrees_with_reference_model(case in case_strategy(SMALL, 1..=3)) {
        let (_, mismatches) = run(&case).map_err(TestCaseError::fail)?;
        if let Some(first) = mismatches.first() {
            return Err(TestCaseError::fail(format!(
                "engine and model disagree ({} of {} queries)\n  {first}",
                mismatches.len(),
                case.asks.len()
            )));
        }
    }
}

/// One larger dataset from a fixed seed (~300 persons, 4 shards), built once
/// and asked a few thousand queries; also checks that the generator reaches
/// every verdict it should.
#[test]
fn engine_agrees_with_reference_model_on_a_large_fixed_dataset() {
    let mut runner = TestRunner::deterministic();
    let case = case_strategy(LARGE, 4..=4)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let (seen, mismatches) = run(&case).unwrap_or_else(|e| panic!("{e}"));
    if !mismatches.is_empty() {
        let shown: Vec<String> = mismatches
            .iter()
            .take(10)
            .map(|m| format!("  {m}"))
            .collect();
        panic!(
            "engine and model disagree on {} of {} queries; first ones:\n{}",
            mismatches.len(),
            case.asks.len(),
            shown.join("\n")
        );
    }
    // Every verdict but cert_expired, which needs a certificate, not a serial.
    for verdict in Verdict::ALL
        .into_iter()
        .filter(|v| *v != Verdict::CertExpired)
    {
        assert!(
            seen.get(verdict.as_str()).copied().unwrap_or(0) > 0,
            "the fixed dataset never produced {verdict}: {seen:?}"
        );
    }
}

//! One `eligibility.csv` row: the card face and qualification of a row,
//! the person it belongs to, and writing it in the contract's columns.

use super::cells;
use super::dwellings::{Building, Lot};
use super::insurers::{Kind, Registry};
use super::keys::{self, Slot};
use super::names::Name;
use super::people::World;
use super::tables::{FORCES, PREFECTURES};
use crate::model::Date;

/// Columns of `eligibility.csv`, in the order written.
pub(super) const ELIGIBILITY_COLUMNS: [&str; 34] = [
    "linkage_no",
    "insurer_code",
    "branch_no",
    "municipal_id",
    "insurer_number",
    "card_symbol",
    "card_number",
    "card_branch",
    "name",
    "name_kana",
    "sex",
    "birth_date",
    "address",
    "postal_code",
    "relationship",
    "insured_name",
    "household_head",
    "household_head_name",
    "employer_name",
    "issuer_address",
    "acquired",
    "lost",
    "loss_reason",
    "retiree_switch",
    "benefit_start",
    "benefit_end",
    "card_type",
    "card_valid_from",
    "card_valid_to",
    "copay_ratio",
    "elderly_valid_from",
    "elderly_valid_to",
    "elderly_copay_ratio",
    "qualification_seq",
];

/// A member of the household being generated.
#[derive(Clone, Copy)]
pub(super) struct Member {
    pub(super) index: u64,
    pub(super) family: &'static Name,
    pub(super) given: &'static Name,
    pub(super) sex: u8,
    pub(super) birth: Date,
}

/// Where a household lives: a town of the address book (hence prefecture,
/// municipality and postal code), the lot, perhaps a flat.
#[derive(Clone, Copy)]
pub(super) struct Address {
    /// Prefecture code, 1–47.
    pub(super) pref: u8,
    /// Index of the municipality in the address book.
    pub(super) municipality: u32,
    /// Index of the town in the address book.
    pub(super) town: u32,
    pub(super) lot: Lot,
    pub(super) building: Option<Building>,
}

impl Default for Address {
    fn default() -> Self {
        Address {
            pref: super::tables::TOKYO,
            municipality: 0,
            town: 0,
            lot: Lot::Banchi {
                number: 1,
                sub: 0,
                style: 0,
            },
            building: None,
        }
    }
}

/// A card symbol (記号); it may be absent.
#[derive(Clone, Copy)]
pub(super) enum Symbol {
    None,
    Digits(u32),
    Eight(u32),
    Pref(u8),
    City(u32),
}

/// The employer named on a row.
#[derive(Clone, Copy)]
pub(super) enum Employer {
    None,
    Insurer(u32),
    /// A company by number (see [`super::employers`]).
    Company(u32),
    /// A school corporation by number.
    School(u32),
    Force(u8),
}

/// The card number: the household's (plain decimal), or a personal 8-digit
/// number on 後期高齢者医療 cards.
#[derive(Clone, Copy)]
pub(super) enum CardNumber {
    Plain(u64),
    Eight(u64),
}

/// One qualification row (person-level cells come from the member).
#[derive(Clone, Copy)]
pub(super) struct Row {
    pub(super) insurer: u32,
    pub(super) slot: Slot,
    pub(super) seq: u8,
    pub(super) symbol: Symbol,
    pub(super) number: CardNumber,
    pub(super) branch: Option<u8>,
    pub(super) employer: Employer,
    pub(super) acquired: Date,
    pub(super) lost: Option<Date>,
    pub(super) reason: Option<&'static str>,
    pub(super) retiree_switch: Option<Date>,
    pub(super) benefit: (Option<Date>, Option<Date>),
    pub(super) card_type: &'static str,
    pub(super) card_valid: (Option<Date>, Option<Date>),
    pub(super) copay: u8,
    pub(super) elderly: Option<(Date, Date, u8)>,
}

impl Row {
    /// Sets the loss date unless the row was already lost earlier or had
    /// not started by then.
    pub(super) fn lose(&mut self, at: Date, reason: &'static str) -> bool {
        let applies = at > self.acquired && self.lost.is_none_or(|lost| at < lost);
        if applies {
            self.lost = Some(at);
            self.reason = Some(reason);
        }
        applies
    }
}

/// The person-level cells of a row (the same on all of a person's rows).
pub(super) struct Person<'a> {
    pub(super) member: &'a Member,
    pub(super) head: &'a Member,
    pub(super) address: &'a Address,
    /// 1 insured person (本人), 2 dependant (家族).
    pub(super) relationship: u8,
}

/// Writes one `eligibility.csv` row in [`ELIGIBILITY_COLUMNS`] order.
pub(super) fn write_row(buf: &mut Vec<u8>, world: &World<'_>, person: &Person, row: &Row) {
    let registry = &world.registry;
    let insurer = registry.get(row.insurer);
    cells::number(buf, keys::linkage_no(person.member.index));
    push_subscription(buf, registry, person.member.index, row);
    cells::text(buf, insurer.number_text());
    push_symbol(buf, registry, row.symbol);
    match row.number {
        CardNumber::Plain(number) => cells::number(buf, number),
        CardNumber::Eight(number) => cells::padded(buf, number, 8),
    }
    match row.branch {
        Some(branch) => cells::padded(buf, u64::from(branch), 2),
        None => cells::empty(buf),
    }
    push_person(buf, world, person);
    push_employer(buf, world, row.employer);
    cells::text(buf, &insurer.address);
    push_qualification(buf, row);
    cells::end_row(buf);
}

/// `insurer_code`, `branch_no`, `municipal_id`.
fn push_subscription(buf: &mut Vec<u8>, registry: &Registry, person: u64, row: &Row) {
    let insurer = registry.get(row.insurer);
    if insurer.kind == Kind::Municipal {
        cells::empty(buf);
        cells::empty(buf);
        cells::push_padded(buf, u64::from(insurer.pref), 2);
        cells::padded(buf, keys::municipal_serial(person, row.slot), 13);
    } else {
        cells::number(buf, u64::from(insurer.code));
        cells::padded(buf, keys::branch_no(person, row.slot), 16);
        cells::empty(buf);
    }
}

/// `name` … `household_head_name`.
fn push_person(buf: &mut Vec<u8>, world: &World<'_>, person: &Person) {
    let (member, head) = (person.member, person.head);
    push_name(buf, member.family.kanji, member.given.kanji);
    push_name(buf, member.family.kana, member.given.kana);
    cells::number(buf, u64::from(member.sex));
    cells::date(buf, Some(member.birth));
    let postal = push_address(buf, world, person.address);
    cells::push_padded(buf, u64::from(postal / 10_000), 3);
    buf.push(b'-');
    cells::padded(buf, u64::from(postal % 10_000), 4);
    cells::number(buf, u64::from(person.relationship));
    if person.relationship == 2 {
        push_name(buf, head.family.kanji, head.given.kanji);
    } else {
        cells::empty(buf);
    }
    cells::number(buf, u64::from(head.index == member.index));
    push_name(buf, head.family.kanji, head.given.kanji);
}

/// `acquired` … `qualification_seq`.
fn push_qualification(buf: &mut Vec<u8>, row: &Row) {
    cells::date(buf, Some(row.acquired));
    cells::date(buf, row.lost);
    cells::text(buf, row.reason.unwrap_or(""));
    cells::date(buf, row.retiree_switch);
    cells::date(buf, row.benefit.0);
    cells::date(buf, row.benefit.1);
    cells::text(buf, row.card_type);
    cells::date(buf, row.card_valid.0);
    cells::date(buf, row.card_valid.1);
    cells::number(buf, u64::from(row.copay));
    match row.elderly {
        Some((from, to, ratio)) => {
            cells::date(buf, Some(from));
            cells::date(buf, Some(to));
            cells::number(buf, u64::from(ratio));
        }
        None => {
            cells::empty(buf);
            cells::empty(buf);
            cells::empty(buf);
        }
    }
    cells::number(buf, u64::from(row.seq));
}

fn push_name(buf: &mut Vec<u8>, family: &str, given: &str) {
    buf.extend_from_slice(family.as_bytes());
    buf.push(b' ');
    buf.extend_from_slice(given.as_bytes());
    cells::sep(buf);
}

/// Writes the address cell; returns the town's postal code.
fn push_address(buf: &mut Vec<u8>, world: &World<'_>, address: &Address) -> u32 {
    let book = world.book;
    let (Some(m), Some(town)) = (
        book.municipalities.get(address.municipality as usize),
        book.towns.get(address.town as usize),
    ) else {
        cells::sep(buf);
        return 0;
    };
    let pref = &PREFECTURES[usize::from(m.prefecture.clamp(1, 47)) - 1];
    for part in [pref.name, m.name.as_str(), town.name.as_str()] {
        buf.extend_from_slice(part.as_bytes());
    }
    address.lot.write(buf);
    if let Some(building) = address.building {
        building.write(buf, world.names, &town.name, &m.name);
    }
    cells::sep(buf);
    town.postal
}

fn push_symbol(buf: &mut Vec<u8>, registry: &Registry, symbol: Symbol) {
    match symbol {
        Symbol::None => {}
        Symbol::Digits(value) => cells::push_u64(buf, u64::from(value)),
        Symbol::Eight(value) => cells::push_padded(buf, u64::from(value), 8),
        Symbol::Pref(pref) => {
            buf.extend_from_slice(PREFECTURES[usize::from(pref) - 1].short.as_bytes())
        }
        Symbol::City(insurer) => {
            // The municipality's name without its 市/区/町/村 suffix.
            let city = &registry.get(insurer).city;
            let stem = city
                .char_indices()
                .last()
                .map_or(city.as_str(), |(at, _)| &city[..at]);
            buf.extend_from_slice(stem.as_bytes());
        }
    }
    cells::sep(buf);
}

fn push_employer(buf: &mut Vec<u8>, world: &World<'_>, employer: Employer) {
    match employer {
        Employer::None => {}
        Employer::Insurer(insurer) => {
            buf.extend_from_slice(world.registry.get(insurer).employer.as_bytes())
        }
        Employer::Company(id) => world.vocabulary().company(buf, id),
        Employer::School(id) => world.vocabulary().school(buf, id),
        Employer::Force(force) => buf.extend_from_slice(FORCES[usize::from(force)].as_bytes()),
    }
    cells::sep(buf);
}

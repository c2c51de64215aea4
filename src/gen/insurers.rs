//! The national insurer table (about 3,500 insurers, the same count for any
//! number of persons) and the weighted choices households make among them.
//!
//! Numbers follow the real layout: digits 1–2 are the 法別番号, 3–4 the
//! prefecture, the last the check digit; municipal NHI and NHI societies have
//! 6-digit numbers (an NHI society's third digit is 3). Each insurer also has
//! a 保険者コード, the code of its partition in the intermediate server,
//! which is deliberately unlike its number.
//!
//! Municipal NHI insurers are the municipalities of the address book: one
//! per municipality, except that the wards of a designated city (札幌市中央区,
//! 札幌市北区…) share their city's (札幌市). Insurers have their offices at
//! real towns: municipal ones in their municipality, the others in the
//! prefectural capital.

use super::addresses::{AddressBook, Municipality};
use super::calendar;
use super::cells;
use super::dwellings::Lot;
use super::employers::Vocabulary;
use super::tables::{Prefecture, MINISTRIES, NHI_TRADES, PREFECTURES, TOKYO};
use crate::model::{Date, InsurerNumber};
use rand::seq::index;
use rand::Rng;
use std::collections::{BTreeMap, HashSet};

/// Health-insurance societies (健保組合), roughly the real count.
const HEALTH_SOCIETIES: usize = 1_380;
/// Societies that also run a special-retiree scheme (法別 63).
const SPECIAL_RETIREE_SOCIETIES: usize = 10;
/// Societies dissolved in the past (listed with an abolition date)…
const ABOLISHED_SOCIETIES: usize = 15;
/// …chosen among this many of the smallest.
const SMALL_SOCIETIES: usize = 300;
/// Prefectures with their own police mutual-aid branch (the most populous).
const POLICE_BRANCHES: usize = 16;
/// NHI societies beyond the three every prefecture has (医師, 歯科医師, 薬剤師).
const EXTRA_NHI_SOCIETIES: [(u8, usize); 4] = [(13, 8), (27, 5), (23, 3), (14, 3)];

/// What kind of insurer, which decides numbering, card layout and members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// 協会けんぽ (法別 01), one branch per prefecture.
    Kyokai,
    /// 健保組合 (法別 06).
    HealthSociety,
    /// 特例退職 (法別 63), run by a few large health societies.
    SpecialRetiree,
    /// 共済組合 (法別 31–34).
    MutualAid,
    /// 自衛官等 (法別 07).
    SelfDefence,
    /// 国保組合 (6 digits, third digit 3).
    NhiSociety,
    /// 市町村国保 (6 digits); its rows carry a 市町村被保険者ID.
    Municipal,
    /// 後期高齢者医療 (法別 39), one union per prefecture.
    LateElderly,
}

impl Kind {
    /// Employee schemes (被用者保険): members are insured persons and their
    /// dependants, and an employer is named.
    pub(super) fn is_employee(self) -> bool {
        matches!(
            self,
            Kind::Kyokai
                | Kind::HealthSociety
                | Kind::SpecialRetiree
                | Kind::MutualAid
                | Kind::SelfDefence
        )
    }

    /// National Health Insurance, whose insurer numbers have 6 digits.
    pub(super) fn is_nhi(self) -> bool {
        matches!(self, Kind::Municipal | Kind::NhiSociety)
    }
}

/// One row of the insurer master.
pub(super) struct Insurer {
    pub number: InsurerNumber,
    pub kind: Kind,
    /// Prefecture code, 1–47.
    pub pref: u8,
    /// 保険者コード (8 digits).
    pub code: u32,
    pub name: String,
    pub address: String,
    pub phone: String,
    pub postal: String,
    pub abolished: Option<Date>,
    /// The municipality's name for municipal NHI (card symbols use it);
    /// empty otherwise.
    pub city: String,
    /// Employer named on members' rows when the insurer implies one.
    pub employer: String,
}

impl Insurer {
    /// The insurer number as written in the files: 6 digits for NHI.
    pub(super) fn number_text(&self) -> &str {
        let digits = self.number.as_str();
        if self.kind.is_nhi() {
            &digits[2..]
        } else {
            digits
        }
    }
}

/// A weighted choice among insurer indices (or prefecture codes).
pub(super) struct Weighted<T = u32> {
    cumulative: Vec<u64>,
    items: Vec<T>,
}

impl<T> Default for Weighted<T> {
    fn default() -> Self {
        Weighted {
            cumulative: Vec::new(),
            items: Vec::new(),
        }
    }
}

impl<T: Copy> Weighted<T> {
    fn push(&mut self, item: T, weight: u64) {
        let total = self.cumulative.last().copied().unwrap_or(0);
        self.cumulative.push(total + weight.max(1));
        self.items.push(item);
    }

    /// Whether there is nothing to choose from.
    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Draws one item; `None` when there is nothing to choose from.
    pub(super) fn pick(&self, rng: &mut impl Rng) -> Option<T> {
        let total = *self.cumulative.last()?;
        let x = rng.gen_range(0..total);
        let at = self.cumulative.partition_point(|&c| c <= x);
        self.items.get(at).copied()
    }
}

/// The insurer table and, per scheme and prefecture, who a household joins.
pub(super) struct Registry {
    pub insurers: Vec<Insurer>,
    /// Prefecture codes weighted by population (those of the address book).
    pub prefectures: Weighted<u8>,
    /// Per prefecture: where households live, municipalities of the address
    /// book weighted by their towns.
    pub residences: Vec<Weighted>,
    /// Per municipality of the address book: its municipal NHI insurer.
    pub nhi_of: Vec<u32>,
    /// Per prefecture (index = code − 1):
    pub kyokai: Vec<u32>,
    pub late_elderly: Vec<u32>,
    pub teachers: Vec<u32>,
    pub police: Vec<Option<u32>>,
    pub health_local: Vec<Weighted>,
    pub nhi_societies: Vec<Weighted>,
    pub municipal: Vec<Weighted>,
    /// National choices:
    pub health_all: Weighted,
    pub special_retiree: Weighted,
    pub ministries: Weighted,
    pub private_schools: u32,
    pub self_defence: u32,
    /// Dissolved health societies (only ever on lost rows).
    pub abolished: Vec<u32>,
}

impl Registry {
    /// Builds the whole table from `rng` for the municipalities of
    /// `vocabulary.book`; `today` bounds abolition dates.
    pub(super) fn build(rng: &mut impl Rng, today: Date, vocabulary: Vocabulary<'_>) -> Registry {
        let mut b = Builder {
            rng,
            registry: Registry::empty(vocabulary.book),
            vocabulary,
        };
        b.kyokai();
        let societies = b.health_societies();
        b.special_retirees(&societies);
        b.abolish(&societies, today);
        b.mutual_aid();
        b.nhi_societies();
        b.municipalities();
        b.late_elderly();
        b.registry
    }

    fn empty(book: &AddressBook) -> Registry {
        let per_pref = || {
            (0..PREFECTURES.len())
                .map(|_| Weighted::default())
                .collect()
        };
        let mut residences: Vec<Weighted> = per_pref();
        for (i, m) in book.municipalities.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            residences[usize::from(m.prefecture) - 1].push(index, residence_weight(m));
        }
        let mut prefectures = Weighted::default();
        for (i, p) in PREFECTURES.iter().enumerate() {
            if !residences[i].is_empty() {
                prefectures.push(pref_code(i), u64::from(p.population));
            }
        }
        Registry {
            insurers: Vec::with_capacity(3_600),
            prefectures,
            residences,
            nhi_of: vec![0; book.municipalities.len()],
            kyokai: Vec::new(),
            late_elderly: Vec::new(),
            teachers: Vec::new(),
            police: vec![None; PREFECTURES.len()],
            health_local: per_pref(),
            nhi_societies: per_pref(),
            municipal: per_pref(),
            health_all: Weighted::default(),
            special_retiree: Weighted::default(),
            ministries: Weighted::default(),
            private_schools: 0,
            self_defence: 0,
            abolished: Vec::new(),
        }
    }

    pub(super) fn get(&self, index: u32) -> &Insurer {
        &self.insurers[index as usize]
    }
}

fn pref_code(index: usize) -> u8 {
    u8::try_from(index + 1).unwrap_or(0)
}

fn prefecture(code: u8) -> &'static Prefecture {
    &PREFECTURES[usize::from(code.max(1)) - 1]
}

/// How many households live in a municipality, relatively: its number of
/// towns (postal codes), three times over in cities and wards.
fn residence_weight(m: &Municipality) -> u64 {
    let towns = m.towns.len() as u64;
    if m.name.ends_with(['市', '区']) {
        towns * 3
    } else {
        towns
    }
}

/// The municipal NHI a municipality belongs to: a designated city's ward
/// (`札幌市中央区`, outside Tokyo) to its city (`札幌市`), any other to
/// itself; a county is not part of the name (`石狩郡当別町` → `当別町`).
fn nhi_name(m: &Municipality) -> &str {
    let name = m.name.as_str();
    if m.prefecture != TOKYO && name.ends_with('区') {
        if let Some((at, _)) = name.char_indices().skip(1).find(|&(_, c)| c == '市') {
            let city = &name[..at + '市'.len_utf8()];
            if city.len() < name.len() {
                return city;
            }
        }
    }
    match name.char_indices().find(|&(_, c)| c == '郡') {
        Some((at, _)) if at > 0 && !name.ends_with('市') && at + '郡'.len_utf8() < name.len() => {
            &name[at + '郡'.len_utf8()..]
        }
        _ => name,
    }
}

/// Formats a 7-digit postal code as `NNN-NNNN`.
pub(super) fn postal_text(code: u32) -> String {
    format!("{:03}-{:04}", code / 10_000, code % 10_000)
}

fn phone(rng: &mut impl Rng, pref: u8) -> String {
    let area = prefecture(pref).area;
    let exchange_digits = 10 - area.len() - 4;
    let low = 10u32.pow(u32::try_from(exchange_digits).unwrap_or(2) - 1);
    let exchange = rng.gen_range(low..low * 10);
    let line = rng.gen_range(0..10_000);
    format!("{area}-{exchange}-{line:04}")
}

/// An office at a real town of municipality `at` of `book`: the address
/// and its postal code.
fn office_address(rng: &mut impl Rng, book: &AddressBook, at: usize) -> (String, String) {
    let Some(m) = book.municipalities.get(at) else {
        return (String::new(), String::new());
    };
    let towns = &book.towns[m.towns.clone()];
    let mut at = rng.gen_range(0..towns.len().max(1)).min(towns.len() - 1);
    if towns[at].name.is_empty() && towns.len() > 1 {
        at = (at + 1) % towns.len(); // an office has a town
    }
    let town = &towns[at];
    let mut text = Vec::with_capacity(96);
    for part in [prefecture(m.prefecture).name, &m.name, &town.name] {
        text.extend_from_slice(part.as_bytes());
    }
    Lot::draw(rng, town.chome).write(&mut text);
    let address = String::from_utf8(text).unwrap_or_default();
    (address, postal_text(town.postal))
}

/// The first seven digits of an insurer number (法別, prefecture, three
/// more) as a number, e.g. `0113001`; the check digit is appended later.
fn body(law: u32, pref: u8, rest: u32) -> u32 {
    law * 100_000 + u32::from(pref) * 1_000 + rest
}

/// Heavy-tailed member weights: a few huge insurers, many small ones.
fn heavy_weight(rng: &mut impl Rng) -> u64 {
    let u: f64 = rng.gen();
    1 + (u * u * u * 5_000.0) as u64
}

struct Builder<'r, 'v, R: Rng> {
    rng: &'r mut R,
    registry: Registry,
    vocabulary: Vocabulary<'v>,
}

/// What [`Builder::add`] needs besides the kind, prefecture and number.
struct Details {
    name: String,
    city: String,
    employer: String,
    /// The municipality (of the address book) of the office; `None` for the
    /// prefectural capital.
    seat: Option<usize>,
}

impl<R: Rng> Builder<'_, '_, R> {
    /// The municipality of the prefecture's capital (or, when the address
    /// book lacks it, the prefecture's likeliest residence, or any).
    fn capital(&self, pref: u8) -> usize {
        let book = self.vocabulary.book;
        let capital = prefecture(pref).capital;
        let all = &book.municipalities;
        all.iter()
            .position(|m| m.prefecture == pref && m.name.starts_with(capital))
            .or_else(|| all.iter().position(|m| m.prefecture == pref))
            .unwrap_or(0)
    }

    fn add(&mut self, kind: Kind, pref: u8, first_seven: u32, details: Details) -> u32 {
        let index = u32::try_from(self.registry.insurers.len()).unwrap_or(u32::MAX);
        let seat = details.seat.unwrap_or_else(|| self.capital(pref));
        let (address, postal) = office_address(self.rng, self.vocabulary.book, seat);
        let insurer = Insurer {
            number: InsurerNumber::with_check_digit(first_seven),
            kind,
            pref,
            code: 80_000_000 + (index + 1) * 7_919 % 10_000_000,
            name: details.name,
            address,
            phone: phone(self.rng, pref),
            postal,
            abolished: None,
            city: details.city,
            employer: details.employer,
        };
        self.registry.insurers.push(insurer);
        index
    }

    fn named(name: String) -> Details {
        Details {
            name,
            city: String::new(),
            employer: String::new(),
            seat: None,
        }
    }

    fn kyokai(&mut self) {
        for (i, p) in PREFECTURES.iter().enumerate() {
            let pref = pref_code(i);
            let name = format!("全国健康保険協会 {}支部", p.short);
            let index = self.add(Kind::Kyokai, pref, body(1, pref, 1), Self::named(name));
            self.registry.kyokai.push(index);
        }
    }

    /// Health societies, concentrated where head offices are (Tokyo, Osaka,
    /// Aichi); returns each one's index and member weight.
    fn health_societies(&mut self) -> Vec<(u32, u64)> {
        let mut seats = Weighted::<u8>::default();
        for (i, p) in PREFECTURES.iter().enumerate() {
            let boost = match pref_code(i) {
                TOKYO => 6,
                23 | 27 => 3,
                _ => 2,
            };
            seats.push(pref_code(i), u64::from(p.population) * boost / 2);
        }
        let mut per_pref = vec![0usize; PREFECTURES.len()];
        for _ in 0..HEALTH_SOCIETIES {
            let pref = seats.pick(self.rng).unwrap_or(TOKYO);
            per_pref[usize::from(pref) - 1] += 1;
        }
        let mut taken = HashSet::new();
        let mut societies = Vec::with_capacity(HEALTH_SOCIETIES);
        for (i, &count) in per_pref.iter().enumerate() {
            let pref = pref_code(i);
            let mut numbers = index::sample(self.rng, 999, count).into_vec();
            numbers.sort_unstable();
            for number in numbers {
                let (mut company, mut employer) = self.vocabulary.large_company(self.rng);
                for _ in 0..16 {
                    if !taken.contains(&company) {
                        break;
                    }
                    (company, employer) = self.vocabulary.large_company(self.rng);
                }
                taken.insert(company.clone());
                let details = Details {
                    name: format!("{company}健康保険組合"),
                    city: String::new(),
                    employer,
                    seat: None,
                };
                let rest = u32::try_from(number + 1).unwrap_or(1);
                let index = self.add(Kind::HealthSociety, pref, body(6, pref, rest), details);
                societies.push((index, heavy_weight(self.rng)));
            }
        }
        societies
    }

    /// The largest societies also insure their special retirees (法別 63).
    fn special_retirees(&mut self, societies: &[(u32, u64)]) {
        let mut largest = societies.to_vec();
        largest.sort_by_key(|&(index, weight)| (std::cmp::Reverse(weight), index));
        for &(society, weight) in largest.iter().take(SPECIAL_RETIREE_SOCIETIES) {
            let society = self.registry.get(society);
            let pref = society.pref;
            let rest = society.number.as_str()[4..7].parse().unwrap_or(1);
            let name = format!("{}（特例退職）", society.name);
            let index = self.add(
                Kind::SpecialRetiree,
                pref,
                body(63, pref, rest),
                Self::named(name),
            );
            self.registry.special_retiree.push(index, weight);
        }
    }

    /// Dissolves a few of the smallest societies, then offers the others to
    /// households: a dissolved society only ever appears on lost rows.
    fn abolish(&mut self, societies: &[(u32, u64)], today: Date) {
        let latest = today.add_days(-60);
        let earliest = calendar::ymd(2012, 4, 1).min(latest.add_days(-365));
        let mut smallest = societies.to_vec();
        smallest.sort_by_key(|&(index, weight)| (weight, index));
        smallest.truncate(SMALL_SOCIETIES);
        let picks = index::sample(self.rng, smallest.len(), ABOLISHED_SOCIETIES);
        let mut abolished: Vec<u32> = picks.into_iter().map(|i| smallest[i].0).collect();
        abolished.sort_unstable();
        for &society in &abolished {
            let when = calendar::between(self.rng, earliest, latest);
            self.registry.insurers[society as usize].abolished = Some(when);
        }
        for &(society, weight) in societies {
            if abolished.binary_search(&society).is_ok() {
                continue;
            }
            let pref = usize::from(self.registry.get(society).pref) - 1;
            self.registry.health_local[pref].push(society, weight);
            self.registry.health_all.push(society, weight);
        }
        self.registry.abolished = abolished;
    }

    fn mutual_aid(&mut self) {
        for (k, (name, employer)) in MINISTRIES.iter().enumerate() {
            let details = Details {
                name: (*name).to_string(),
                city: String::new(),
                employer: (*employer).to_string(),
                seat: None,
            };
            let rest = u32::try_from(k + 1).unwrap_or(1);
            let index = self.add(Kind::MutualAid, TOKYO, body(31, TOKYO, rest), details);
            let weight = heavy_weight(self.rng);
            self.registry.ministries.push(index, weight);
        }
        for (i, p) in PREFECTURES.iter().enumerate() {
            let pref = pref_code(i);
            let details = Details {
                name: format!("公立学校共済組合 {}支部", p.short),
                city: String::new(),
                employer: format!("{}教育委員会", p.name),
                seat: None,
            };
            let index = self.add(Kind::MutualAid, pref, body(32, pref, 1), details);
            self.registry.teachers.push(index);
        }
        let mut by_population: Vec<usize> = (0..PREFECTURES.len()).collect();
        by_population.sort_by_key(|&i| std::cmp::Reverse(PREFECTURES[i].population));
        by_population.truncate(POLICE_BRANCHES);
        by_population.sort_unstable();
        for i in by_population {
            let pref = pref_code(i);
            let p = &PREFECTURES[i];
            let employer = if pref == TOKYO {
                "警視庁".to_string()
            } else {
                format!("{}警察本部", p.name)
            };
            let details = Details {
                name: format!("警察共済組合 {}支部", p.short),
                city: String::new(),
                employer,
                seat: None,
            };
            self.registry.police[i] =
                Some(self.add(Kind::MutualAid, pref, body(33, pref, 1), details));
        }
        let name = "日本私立学校振興・共済事業団".to_string();
        self.registry.private_schools = self.add(
            Kind::MutualAid,
            TOKYO,
            body(34, TOKYO, 1),
            Self::named(name),
        );
        let name = "防衛省（自衛官等）".to_string();
        self.registry.self_defence = self.add(
            Kind::SelfDefence,
            TOKYO,
            body(7, TOKYO, 1),
            Self::named(name),
        );
    }

    fn nhi_societies(&mut self) {
        for (i, p) in PREFECTURES.iter().enumerate() {
            let pref = pref_code(i);
            let extra = EXTRA_NHI_SOCIETIES
                .iter()
                .find(|(code, _)| *code == pref)
                .map_or(0, |(_, n)| *n);
            let count = 3 + extra;
            let mut numbers = index::sample(self.rng, 99, count).into_vec();
            numbers.sort_unstable();
            for (trade, number) in NHI_TRADES.iter().zip(numbers) {
                let name = format!("{}{}国民健康保険組合", p.name, trade);
                let rest = 300 + u32::try_from(number + 1).unwrap_or(1);
                let index = self.add(
                    Kind::NhiSociety,
                    pref,
                    body(0, pref, rest),
                    Self::named(name),
                );
                let weight = self.rng.gen_range(1..=10);
                self.registry.nhi_societies[i].push(index, weight);
            }
        }
    }

    /// One municipal NHI per municipality of the address book (a
    /// designated city's wards sharing one), numbered in JIS code order.
    fn municipalities(&mut self) {
        let book = self.vocabulary.book;
        // Per prefecture, in JIS order: NHI name -> its municipalities.
        let mut groups: Vec<BTreeMap<(u32, &str), Vec<usize>>> =
            vec![BTreeMap::new(); PREFECTURES.len()];
        let mut first_code: Vec<std::collections::HashMap<&str, u32>> =
            vec![Default::default(); PREFECTURES.len()];
        for (at, m) in book.municipalities.iter().enumerate() {
            let pref = usize::from(m.prefecture) - 1;
            let name = nhi_name(m);
            let code = *first_code[pref].entry(name).or_insert(m.jis);
            groups[pref].entry((code, name)).or_default().push(at);
        }
        for (i, groups) in groups.iter().enumerate() {
            let pref = pref_code(i);
            let count = groups.len().min(899);
            // Municipal numbers avoid 300–399, which mark NHI societies.
            let mut numbers: Vec<u32> = index::sample(self.rng, 899, count)
                .into_iter()
                .map(|n| {
                    let n = u32::try_from(n + 1).unwrap_or(1);
                    if n >= 300 {
                        n + 100
                    } else {
                        n
                    }
                })
                .collect();
            numbers.sort_unstable();
            for (((_, name), members), number) in groups.iter().zip(numbers) {
                let details = Details {
                    name: format!("{name}国民健康保険"),
                    city: (*name).to_string(),
                    employer: String::new(),
                    seat: members.first().copied(),
                };
                let index = self.add(Kind::Municipal, pref, body(0, pref, number), details);
                let weight = members
                    .iter()
                    .map(|&at| residence_weight(&book.municipalities[at]))
                    .sum();
                self.registry.municipal[i].push(index, weight);
                for &at in members {
                    self.registry.nhi_of[at] = index;
                }
            }
        }
    }

    fn late_elderly(&mut self) {
        for (i, p) in PREFECTURES.iter().enumerate() {
            let pref = pref_code(i);
            let name = format!("{}後期高齢者医療広域連合", p.name);
            let index = self.add(
                Kind::LateElderly,
                pref,
                body(39, pref, 1),
                Self::named(name),
            );
            self.registry.late_elderly.push(index);
        }
    }
}

/// Writes `insurers.csv` (header included) into `buf`.
pub(super) fn write_insurers(buf: &mut Vec<u8>, registry: &Registry) {
    cells::header(
        buf,
        &[
            "insurer_number",
            "name",
            "address",
            "phone",
            "postal_code",
            "abolished",
        ],
    );
    for insurer in &registry.insurers {
        cells::text(buf, insurer.number_text());
        cells::text(buf, &insurer.name);
        cells::text(buf, &insurer.address);
        cells::text(buf, &insurer.phone);
        cells::text(buf, &insurer.postal);
        cells::date(buf, insurer.abolished);
        cells::end_row(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Scheme;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn vocabulary() -> Vocabulary<'static> {
        Vocabulary {
            names: super::super::names::Names::builtin().unwrap(),
            book: AddressBook::builtin().unwrap(),
        }
    }

    fn registry() -> Registry {
        let today = Date::from_ymd(2026, 11, 21).unwrap();
        Registry::build(&mut ChaCha8Rng::seed_from_u64(7), today, vocabulary())
    }

    #[test]
    fn municipal_insurers_are_the_real_municipalities() {
        let registry = registry();
        let book = vocabulary().book;
        let municipal: Vec<&Insurer> = registry
            .insurers
            .iter()
            .filter(|i| i.kind == Kind::Municipal)
            .collect();
        assert!(
            (1_700..1_800).contains(&municipal.len()),
            "{}",
            municipal.len()
        );
        // Names repeat across prefectures (府中市), never within one.
        let unique: HashSet<(u8, &str)> = municipal
            .iter()
            .map(|i| (i.pref, i.name.as_str()))
            .collect();
        assert_eq!(unique.len(), municipal.len());
        let names: HashSet<&str> = municipal.iter().map(|i| i.name.as_str()).collect();
        for name in ["札幌市", "新宿区", "当別町", "那覇市", "浜松市"] {
            assert!(
                names.contains(format!("{name}国民健康保険").as_str()),
                "{name}"
            );
        }
        assert!(!names.contains("札幌市中央区国民健康保険"));
        for (at, m) in book.municipalities.iter().enumerate() {
            let insurer = registry.get(registry.nhi_of[at]);
            assert_eq!(insurer.kind, Kind::Municipal);
            assert_eq!(insurer.pref, m.prefecture);
            assert!(insurer.address.starts_with(prefecture(m.prefecture).name));
        }
        let kyokai = registry.get(registry.kyokai[0]);
        assert!(
            kyokai.address.starts_with("北海道札幌市"),
            "{}",
            kyokai.address
        );
        assert_eq!(kyokai.postal.len(), 8);
    }

    #[test]
    fn every_insurer_number_is_valid_unique_and_of_its_scheme() {
        let registry = registry();
        assert!((3_300..3_700).contains(&registry.insurers.len()));
        let mut numbers = HashSet::new();
        let mut codes = HashSet::new();
        for insurer in &registry.insurers {
            let text = insurer.number_text();
            let parsed = InsurerNumber::parse(text).unwrap();
            assert_eq!(parsed, insurer.number);
            assert!(numbers.insert(parsed), "{text} twice");
            assert!(codes.insert(insurer.code));
            assert_eq!(insurer.code.to_string().len(), 8);
            let pref: u8 = parsed.as_str()[2..4].parse().unwrap();
            assert_eq!(pref, insurer.pref);
            let expected = match insurer.kind {
                Kind::Kyokai => Scheme::KyokaiKenpo,
                Kind::HealthSociety => Scheme::HealthSociety,
                Kind::SpecialRetiree => Scheme::SpecialRetiree,
                Kind::MutualAid => Scheme::MutualAid,
                Kind::SelfDefence => Scheme::SelfDefenceForces,
                Kind::NhiSociety => Scheme::NhiSociety,
                Kind::Municipal => Scheme::MunicipalNhi,
                Kind::LateElderly => Scheme::LateElderly,
            };
            assert_eq!(parsed.scheme(), expected, "{text}");
        }
    }

    #[test]
    fn abolished_insurers_are_never_chosen() {
        let registry = registry();
        assert_eq!(registry.abolished.len(), ABOLISHED_SOCIETIES);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20_000 {
            let pick = registry.health_all.pick(&mut rng).unwrap();
            assert!(registry.get(pick).abolished.is_none());
        }
    }
}

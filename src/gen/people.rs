//! Households, persons and their qualification rows, generated one chunk of
//! persons at a time from the chunk's own random stream.
//!
//! A household is an insured head plus family sharing one insurer, card
//! symbol and number (each member with its own card branch), except that
//! everyone aged 75 or more has their own 後期高齢者医療 card. On top of the
//! in-force rows come the histories the answer rules must handle: insurer
//! changes (a lost row at the old insurer), losses (death, public
//! assistance, other), same-day acquire/lose rows, re-acquisitions at the
//! same subscription, rows starting next month, short-term cards, benefit
//! periods and retiree switches.
//!
//! The first households of the first chunk are fixed cases (see
//! [`super::forced`]) so that even a tiny dataset shows every kind of row
//! and certificate. Each person's own rows are built in [`super::person`].

use super::addresses::AddressBook;
use super::calendar::{age_on, anniversary, between, next_month_start, ymd};
use super::dwellings::{Building, Lot};
use super::employers::{self, Vocabulary, COMPANIES, SCHOOLS};
use super::forced::{Forced, ForcedChange, FORCED};
use super::insurers::{Kind, Registry};
use super::names::{Name, Names};
use super::rows::{Address, Employer, Member, Row, Symbol};
use super::tables::{AGE_BANDS, FORCES, TOKYO};
use crate::model::Date;
use crate::source::csv_input::Compression;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::ops::Range;

/// Share of households whose members changed insurer.
const CHANGE_RATE: f64 = 0.08;
/// Share of insurer changes that take effect on the first of next month.
const FUTURE_CHANGE_RATE: f64 = 0.03;
/// Share of 協会けんぽ joiners who came from a dissolved health society.
const FROM_ABOLISHED_RATE: f64 = 0.15;
/// Share of households that lost their qualification together (02, 99).
const HOUSEHOLD_LOSS_RATE: f64 = 0.008;
/// Share of NHI households holding short-term cards (premium arrears).
const SHORT_TERM_RATE: f64 = 0.03;
/// Share of NHI heads aged 60–64 insured as retirees (退職被保険者).
const RETIREE_RATE: f64 = 0.05;

/// Everything the chunks share: the vocabulary, the insurer table and
/// reference dates.
pub(super) struct World<'a> {
    pub names: &'static Names,
    pub book: &'a AddressBook,
    pub registry: Registry,
    pub today: Date,
    /// First day of next month: when future rows start.
    pub next_month: Date,
    /// 後期高齢者医療 began on 2008-04-01.
    pub late_elderly_start: Date,
    /// From 2024-12-02 no new insurance cards: 資格確認書 (card type 05).
    pub cards_abolished: Date,
}

impl<'a> World<'a> {
    pub(super) fn new(
        seed: u64,
        today: Date,
        names: &'static Names,
        book: &'a AddressBook,
    ) -> World<'a> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        World {
            names,
            book,
            registry: Registry::build(&mut rng, today, Vocabulary { names, book }),
            today,
            next_month: next_month_start(today),
            late_elderly_start: ymd(2008, 4, 1).min(today),
            cards_abolished: ymd(2024, 12, 2),
        }
    }

    /// What employer names are composed of.
    pub(super) fn vocabulary(&self) -> Vocabulary<'_> {
        Vocabulary {
            names: self.names,
            book: self.book,
        }
    }
}

/// Row and certificate counts of one chunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub rows: u64,
    pub linked: u64,
    pub renewals: u64,
    pub revoked: u64,
    pub suspended: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.rows += other.rows;
        self.linked += other.linked;
        self.renewals += other.renewals;
        self.revoked += other.revoked;
        self.suspended += other.suspended;
    }
}

/// The bytes of one chunk for each output file (no headers).
#[derive(Default)]
pub(super) struct ChunkOutput {
    pub eligibility: Vec<u8>,
    pub linkage: Vec<u8>,
    pub renewals: Vec<u8>,
    pub revoked: Vec<u8>,
    pub counts: Counts,
    pub persons: u64,
}

impl ChunkOutput {
    /// The chunk with the bytes of each file the build reads compressed on
    /// their own (`revoked` is the generator's own list, kept as it is).
    pub(super) fn compressed(self, compression: Compression) -> anyhow::Result<ChunkOutput> {
        if compression == Compression::None {
            return Ok(self);
        }
        let compress = |bytes: Vec<u8>| {
            compression
                .compress(&bytes)
                .map_err(|e| anyhow::anyhow!("cannot compress generated rows: {e}"))
        };
        Ok(ChunkOutput {
            eligibility: compress(self.eligibility)?,
            linkage: compress(self.linkage)?,
            renewals: compress(self.renewals)?,
            ..self
        })
    }
}

/// The insurer a household left (or is about to join), with its card face.
#[derive(Clone, Copy)]
pub(super) struct Change {
    pub(super) insurer: u32,
    pub(super) symbol: Symbol,
    pub(super) employer: Employer,
    pub(super) when: When,
}

/// When the household moved between its two insurers.
#[derive(Clone, Copy)]
pub(super) enum When {
    /// Left the other insurer on `at` (the main rows start then).
    Past { from: Date, at: Date },
    /// Moves to the other insurer on `at`, the first of next month.
    Future { at: Date },
    /// Each member left municipal NHI on reaching 後期高齢者医療.
    AtSeventyFive,
}

/// What the members of a household share.
pub(super) struct Household {
    pub(super) kind: Kind,
    pub(super) insurer: u32,
    pub(super) head: Member,
    pub(super) address: Address,
    pub(super) symbol: Symbol,
    pub(super) employer: Employer,
    /// When the head's main rows start (not used for 後期高齢者医療).
    pub(super) start: Date,
    pub(super) change: Option<Change>,
    pub(super) loss: Option<(Date, &'static str)>,
    pub(super) short_term: bool,
    pub(super) retiree: bool,
}

/// Generates the persons `range` (chunk number `chunk`) from stream
/// `chunk + 1` of `seed`.
pub(super) fn generate_chunk(
    world: &World<'_>,
    seed: u64,
    chunk: u64,
    range: Range<u64>,
) -> ChunkOutput {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(chunk + 1);
    let persons = range.end - range.start;
    let capacity = usize::try_from(persons).unwrap_or(0);
    let mut chunk_gen = ChunkGen {
        world,
        rng,
        out: ChunkOutput {
            eligibility: Vec::with_capacity(capacity * 480),
            linkage: Vec::with_capacity(capacity * 20),
            persons,
            ..ChunkOutput::default()
        },
        members: Vec::with_capacity(5),
        rows: Vec::with_capacity(6),
        head_death: None,
    };
    let mut next = range.start;
    let mut household = 0;
    while next < range.end {
        let fixed = if chunk == 0 {
            FORCED.get(household)
        } else {
            None
        };
        next += chunk_gen.household(next, range.end - next, fixed);
        household += 1;
    }
    chunk_gen.out
}

pub(super) struct ChunkGen<'w> {
    pub(super) world: &'w World<'w>,
    pub(super) rng: ChaCha8Rng,
    pub(super) out: ChunkOutput,
    pub(super) members: Vec<Member>,
    pub(super) rows: Vec<Row>,
    /// When the current household's insured head died (dependants of an
    /// employee scheme lose their qualification with the head).
    pub(super) head_death: Option<Date>,
}

impl ChunkGen<'_> {
    /// Generates one household starting at person `first` with at most
    /// `room` members; returns how many it has.
    fn household(&mut self, first: u64, room: u64, fixed: Option<&Forced>) -> u64 {
        let head_age = fixed.map_or_else(|| self.adult_age(), |f| f.age);
        let kind = fixed.map_or_else(|| self.kind_for(head_age), |f| f.kind);
        let size = fixed.map_or_else(|| self.size_for(kind, head_age), |f| f.size);
        let size = size.min(usize::try_from(room).unwrap_or(1));
        self.members(first, kind, head_age, size);
        let household = self.arrange(kind, fixed);
        self.head_death = None;
        for position in 0..self.members.len() {
            self.person(&household, position);
        }
        self.members.len() as u64
    }

    fn adult_age(&mut self) -> i32 {
        let bands = &AGE_BANDS[4..];
        let total: u32 = bands.iter().sum();
        let mut x = self.rng.gen_range(0..total);
        let mut band = 0;
        while x >= bands[band] {
            x -= bands[band];
            band += 1;
        }
        20 + 5 * i32::try_from(band).unwrap_or(0) + self.rng.gen_range(0..5)
    }

    fn kind_for(&mut self, age: i32) -> Kind {
        let nhi_share = match age {
            75.. => return Kind::LateElderly,
            65..=74 => 0.7,
            _ => 0.22,
        };
        if self.rng.gen_bool(nhi_share) {
            if self.rng.gen_bool(0.9) {
                Kind::Municipal
            } else {
                Kind::NhiSociety
            }
        } else if age >= 60 && self.rng.gen_bool(0.03) {
            Kind::SpecialRetiree
        } else {
            match self.rng.gen_range(0..1000) {
                0..=499 => Kind::Kyokai,
                500..=849 => Kind::HealthSociety,
                850..=996 => Kind::MutualAid,
                _ => Kind::SelfDefence,
            }
        }
    }

    fn size_for(&mut self, kind: Kind, age: i32) -> usize {
        let weights: &[u32] = match (kind, age) {
            (Kind::LateElderly, _) => &[55, 45],
            (_, ..=29) => &[60, 20, 12, 8],
            (_, 30..=49) => &[25, 15, 22, 28, 10],
            (_, 50..=64) => &[30, 35, 20, 15],
            _ => &[35, 60, 5],
        };
        let mut x = self.rng.gen_range(0..weights.iter().sum::<u32>());
        let mut size = 1;
        for &w in weights {
            if x < w {
                break;
            }
            x -= w;
            size += 1;
        }
        size
    }

    fn birth_for(&mut self, age: i32) -> Date {
        let today = self.world.today;
        let latest = anniversary(today, -age);
        let earliest = anniversary(today, -age - 1).add_days(1);
        between(&mut self.rng, earliest, latest)
    }

    fn given_name(&mut self, sex: u8, birth: Date) -> &'static Name {
        let names: &'static Names = self.world.names;
        let (year, _, _) = birth.ymd();
        names.given(sex, year).pick(&mut self.rng)
    }

    fn member(&mut self, index: u64, family: &'static Name, sex: u8, age: i32) -> Member {
        let birth = self.birth_for(age);
        Member {
            index,
            family,
            given: self.given_name(sex, birth),
            sex,
            birth,
        }
    }

    /// The head, a spouse and children (aged to fit the household's scheme).
    fn members(&mut self, first: u64, kind: Kind, head_age: i32, size: usize) {
        self.members.clear();
        let names: &'static Names = self.world.names;
        let family = names.family.pick(&mut self.rng);
        let male_share = match kind {
            Kind::LateElderly => 0.45,
            k if k.is_employee() => 0.7,
            _ => 0.55,
        };
        let head_sex = if self.rng.gen_bool(male_share) { 1 } else { 2 };
        let head = self.member(first, family, head_sex, head_age);
        self.members.push(head);
        for k in 1..size {
            let index = first + k as u64;
            let member = if k == 1 && (kind == Kind::LateElderly || self.rng.gen_bool(0.9)) {
                let age = head_age + self.rng.gen_range(-5..=5);
                let age = if kind == Kind::LateElderly {
                    age.clamp(75, 100)
                } else {
                    age.clamp(18, 74)
                };
                self.member(index, family, 3 - head_sex, age)
            } else {
                let low = (head_age - 45).max(0);
                let high = (head_age - 20).min(30).max(low);
                let age = self.rng.gen_range(low..=high);
                let sex = self.rng.gen_range(1..=2);
                self.member(index, family, sex, age)
            };
            self.members.push(member);
        }
    }

    /// Chooses the household's insurer, address, card face, dates and fate.
    fn arrange(&mut self, kind: Kind, fixed: Option<&Forced>) -> Household {
        let world = self.world;
        let registry = &world.registry;
        let pref = registry.prefectures.pick(&mut self.rng).unwrap_or(TOKYO);
        let residence = registry.residences[usize::from(pref) - 1]
            .pick(&mut self.rng)
            .unwrap_or(0);
        let city = registry
            .nhi_of
            .get(residence as usize)
            .copied()
            .unwrap_or(0);
        let insurer = if kind == Kind::Municipal {
            city
        } else {
            self.insurer_of(kind, pref)
        };
        let address = self.address_in(residence);
        let head = self.members[0];
        let mut start = self.start_for(kind, head.birth);
        let change = self.change(kind, insurer, city, head.birth, &mut start, fixed);
        let head_age = age_on(head.birth, world.today);
        let reason = match fixed {
            Some(f) => f.loss,
            None if self.rng.gen_bool(HOUSEHOLD_LOSS_RATE) => {
                Some(if self.rng.gen_bool(0.6) { "02" } else { "99" })
            }
            None => None,
        };
        let loss = reason.map(|reason| {
            let at = between(&mut self.rng, world.today.add_days(-730), world.today);
            (at, reason)
        });
        let short_term = kind.is_nhi()
            && fixed.map_or_else(|| self.rng.gen_bool(SHORT_TERM_RATE), |f| f.short_term);
        let retiree = kind.is_nhi()
            && (60..=64).contains(&head_age)
            && fixed.map_or_else(|| self.rng.gen_bool(RETIREE_RATE), |f| f.retiree);
        Household {
            kind,
            insurer,
            head,
            address,
            symbol: self.symbol_for(insurer),
            employer: self.employer_for(insurer),
            start,
            change,
            loss,
            short_term,
            retiree,
        }
    }

    /// A home in municipality `residence` of the address book: a town (not
    /// the catch-all entry when the municipality lists towns), a lot, and
    /// perhaps a flat.
    fn address_in(&mut self, residence: u32) -> Address {
        let book = self.world.book;
        let at = residence as usize;
        let Some(m) = book.municipalities.get(at) else {
            return Address::default();
        };
        let towns = m.towns.clone();
        let mut town = self.rng.gen_range(towns.clone());
        if book.towns[town].name.is_empty() && towns.len() > 1 {
            // The catch-all code stands for addresses no town covers: rare.
            if !self.rng.gen_bool(0.01) {
                town = towns.start + (town - towns.start + 1) % towns.len();
            }
        }
        Address {
            pref: m.prefecture,
            municipality: residence,
            town: u32::try_from(town).unwrap_or(0),
            lot: Lot::draw(&mut self.rng, book.towns[town].chome),
            building: Building::draw(&mut self.rng, &m.name),
        }
    }

    fn city_in(&mut self, pref: u8) -> u32 {
        let registry = &self.world.registry;
        let local = &registry.municipal[usize::from(pref) - 1];
        local.pick(&mut self.rng).unwrap_or(registry.kyokai[0])
    }

    /// The insurer a household of `kind` living in `pref` joins.
    fn insurer_of(&mut self, kind: Kind, pref: u8) -> u32 {
        let registry = &self.world.registry;
        let at = usize::from(pref) - 1;
        let rng = &mut self.rng;
        let fallback = registry.kyokai[at];
        match kind {
            Kind::Kyokai => fallback,
            Kind::HealthSociety => {
                let local = if rng.gen_bool(0.7) {
                    registry.health_local[at].pick(rng)
                } else {
                    None
                };
                local
                    .or_else(|| registry.health_all.pick(rng))
                    .unwrap_or(fallback)
            }
            Kind::SpecialRetiree => registry.special_retiree.pick(rng).unwrap_or(fallback),
            Kind::MutualAid => match rng.gen_range(0..100) {
                0..=24 => registry.ministries.pick(rng).unwrap_or(fallback),
                25..=74 => registry.teachers[at],
                75..=89 => registry.police[at].unwrap_or(registry.teachers[at]),
                _ => registry.private_schools,
            },
            Kind::SelfDefence => registry.self_defence,
            Kind::NhiSociety => registry.nhi_societies[at].pick(rng).unwrap_or(fallback),
            Kind::Municipal => registry.municipal[at].pick(rng).unwrap_or(fallback),
            Kind::LateElderly => registry.late_elderly[at],
        }
    }

    /// An employee insurer for someone who works in `pref`.
    pub(super) fn employee_insurer(&mut self, pref: u8) -> u32 {
        let kind = if self.rng.gen_bool(0.55) {
            Kind::Kyokai
        } else {
            Kind::HealthSociety
        };
        self.insurer_of(kind, pref)
    }

    pub(super) fn symbol_for(&mut self, insurer: u32) -> Symbol {
        let registry = &self.world.registry;
        let entry = registry.get(insurer);
        let rng = &mut self.rng;
        match entry.kind {
            Kind::Kyokai => Symbol::Eight(rng.gen_range(10_000_000..100_000_000)),
            Kind::LateElderly => Symbol::None,
            Kind::Municipal => match rng.gen_range(0..10) {
                0..=4 => Symbol::Digits(rng.gen_range(1..100)),
                5..=8 => Symbol::City(insurer),
                _ => Symbol::None,
            },
            Kind::NhiSociety | Kind::SelfDefence => Symbol::Digits(rng.gen_range(1..1000)),
            _ => match rng.gen_range(0..20) {
                0..=16 => Symbol::Digits(rng.gen_range(1..10_000)),
                17..=18 => Symbol::Pref(entry.pref),
                _ => Symbol::None,
            },
        }
    }

    pub(super) fn employer_for(&mut self, insurer: u32) -> Employer {
        let entry = self.world.registry.get(insurer);
        let rng = &mut self.rng;
        match entry.kind {
            Kind::Kyokai => Employer::Company(employers::draw(rng, COMPANIES)),
            Kind::SelfDefence => Employer::Force(rng.gen_range(0..FORCES.len() as u8)),
            Kind::MutualAid if entry.employer.is_empty() => {
                Employer::School(employers::draw(rng, SCHOOLS))
            }
            Kind::HealthSociety | Kind::MutualAid => Employer::Insurer(insurer),
            _ => Employer::None,
        }
    }

    /// When a head of this age joined a scheme of this kind.
    fn start_for(&mut self, kind: Kind, birth: Date) -> Date {
        let today = self.world.today;
        let floor = today.add_days(-40 * 365);
        let low = match kind {
            Kind::LateElderly => return self.late_elderly_from(birth),
            Kind::SpecialRetiree => anniversary(birth, 60),
            k if k.is_nhi() => anniversary(birth, 20).max(floor),
            _ => anniversary(birth, 18).max(floor),
        };
        between(&mut self.rng, low, today)
    }

    pub(super) fn late_elderly_from(&self, birth: Date) -> Date {
        anniversary(birth, 75).max(self.world.late_elderly_start)
    }

    /// Whether (and how) the household changed insurer; may move `start`.
    fn change(
        &mut self,
        kind: Kind,
        insurer: u32,
        city: u32,
        head_birth: Date,
        start: &mut Date,
        fixed: Option<&Forced>,
    ) -> Option<Change> {
        let how = match fixed {
            Some(f) => f.change?,
            None if self.rng.gen_bool(CHANGE_RATE) => {
                if self.rng.gen_bool(FUTURE_CHANGE_RATE) {
                    ForcedChange::Future
                } else if kind == Kind::Kyokai && self.rng.gen_bool(FROM_ABOLISHED_RATE) {
                    ForcedChange::FromAbolished
                } else {
                    ForcedChange::Past
                }
            }
            None => return None,
        };
        let floor = anniversary(head_birth, 18).max(self.world.today.add_days(-40 * 365));
        if kind == Kind::LateElderly {
            return Some(self.change_to(city, When::AtSeventyFive));
        }
        if let ForcedChange::FromAbolished = how {
            if let Some(change) = self.after_dissolution(floor, start) {
                return Some(change);
            }
        }
        let pref = self.world.registry.get(insurer).pref;
        let other = self.other_insurer(kind, pref, insurer, city, how)?;
        let when = match how {
            ForcedChange::Future => When::Future {
                at: self.world.next_month,
            },
            _ if *start > floor.add_days(1) => When::Past {
                from: between(&mut self.rng, floor, start.add_days(-1)),
                at: *start,
            },
            _ => return None,
        };
        Some(self.change_to(other, when))
    }

    fn change_to(&mut self, insurer: u32, when: When) -> Change {
        Change {
            insurer,
            symbol: self.symbol_for(insurer),
            employer: self.employer_for(insurer),
            when,
        }
    }

    /// The household came to 協会けんぽ when its health society dissolved.
    fn after_dissolution(&mut self, floor: Date, start: &mut Date) -> Option<Change> {
        let abolished = &self.world.registry.abolished;
        let society = *abolished.get(self.rng.gen_range(0..abolished.len().max(1)))?;
        let at = self.world.registry.get(society).abolished?;
        if at <= floor.add_days(1) {
            return None;
        }
        *start = at;
        let from = between(&mut self.rng, floor, at.add_days(-1));
        Some(self.change_to(society, When::Past { from, at }))
    }

    /// Where a household of `kind` came from (or is going to).
    fn other_insurer(
        &mut self,
        kind: Kind,
        pref: u8,
        current: u32,
        city: u32,
        how: ForcedChange,
    ) -> Option<u32> {
        for _ in 0..8 {
            let to_employee = match how {
                ForcedChange::Future => true,
                _ if kind.is_employee() => self.rng.gen_bool(0.6),
                _ => self.rng.gen_bool(0.8),
            };
            let other = if to_employee {
                self.employee_insurer(pref)
            } else if kind.is_employee() {
                city
            } else {
                self.city_in(pref)
            };
            if other != current {
                return Some(other);
            }
        }
        None
    }
}

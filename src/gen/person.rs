//! One person's rows: the current row at the household's insurer, the
//! history before it (the insurer left, a first qualification lost and
//! re-acquired), losses, benefit periods, same-day rows, the card and
//! co-payment in force, and the person's certificates.

use super::calendar::{age_on, anniversary, between, cycle, months_later_eve, next_month_start};
use super::cards::{self, Fate};
use super::forced::FORCED_FATES;
use super::insurers::Kind;
use super::keys::Slot;
use super::people::{Change, ChunkGen, Household, When};
use super::rows::{self, CardNumber, Member, Person, Row};
use crate::model::Date;
use rand::Rng;

/// Co-payment ratios a person would have at 70–74 and at 75 or more.
#[derive(Clone, Copy)]
struct Ratios {
    elderly: u8,
    late: u8,
}

impl ChunkGen<'_> {
    /// Builds and writes one member's rows and certificates.
    pub(super) fn person(&mut self, household: &Household, position: usize) {
        let member = self.members[position];
        let today = self.world.today;
        let age = age_on(member.birth, today);
        // Persons below FORCED_FATES.len() are in chunk 0, in FORCED households.
        let fate = match FORCED_FATES.get(usize::try_from(member.index).unwrap_or(usize::MAX)) {
            Some(fixed) => *fixed,
            None => cards::draw_fate(&mut self.rng, age),
        };
        let ratios = Ratios {
            elderly: if self.rng.gen_bool(0.85) { 20 } else { 30 },
            late: match self.rng.gen_range(0..100) {
                0..=69 => 10,
                70..=91 => 20,
                _ => 30,
            },
        };
        self.rows.clear();
        let main = self.main_row(household, &member, position, &fate);
        self.history(household, &member, position, &main, &fate, ratios);
        let death = self.finish_main(household, &member, position, main, &fate, ratios);
        if fate.same_day {
            self.same_day(household, &member, ratios);
        }
        self.rows.sort_by_key(|row| (row.acquired, row.seq));
        let relationship = if household.kind.is_employee() && position > 0 {
            2
        } else {
            1
        };
        let person = Person {
            member: &member,
            head: &household.head,
            address: &household.address,
            relationship,
        };
        for row in &self.rows {
            rows::write_row(&mut self.out.eligibility, self.world, &person, row);
        }
        self.out.counts.rows += self.rows.len() as u64;
        cards::write(
            &mut self.out,
            &mut self.rng,
            today,
            member.index,
            &fate,
            death,
        );
    }

    /// The member's current row at the household's insurer (before losses).
    fn main_row(
        &mut self,
        household: &Household,
        member: &Member,
        position: usize,
        fate: &Fate,
    ) -> Row {
        let late = household.kind == Kind::LateElderly;
        let acquired = if late {
            self.late_elderly_from(member.birth)
        } else {
            household.start.max(member.birth)
        };
        let card_type = self.card_type(household, position, acquired, fate);
        let is_head = position == 0;
        let retiree_switch =
            (household.retiree && is_head).then(|| acquired.max(anniversary(member.birth, 60)));
        // The card period, co-payment and elderly certificate depend on the
        // loss date, so `finish_main` fills them in.
        Row {
            insurer: household.insurer,
            slot: Slot::Main,
            seq: 1,
            symbol: household.symbol,
            number: if late {
                CardNumber::Eight(member.index + 1)
            } else {
                CardNumber::Plain(household.head.index + 1)
            },
            branch: (!late).then_some(u8::try_from(position).unwrap_or(0)),
            employer: household.employer,
            acquired,
            lost: None,
            reason: None,
            retiree_switch,
            benefit: (None, None),
            card_type,
            card_valid: (None, None),
            copay: 0,
            elderly: None,
        }
    }

    fn card_type(
        &mut self,
        household: &Household,
        position: usize,
        acquired: Date,
        fate: &Fate,
    ) -> &'static str {
        let kind = household.kind;
        match kind {
            Kind::SpecialRetiree => "06",
            Kind::SelfDefence => "07",
            _ if household.retiree && position == 0 => {
                if household.short_term {
                    "04"
                } else {
                    "02"
                }
            }
            _ if household.short_term => "03",
            _ if (!fate.card && acquired >= self.world.cards_abolished)
                || self.rng.gen_bool(0.01) =>
            {
                "05"
            }
            _ => "01",
        }
    }

    /// The printed validity period of the card in use on `on`.
    fn card_validity(
        &mut self,
        kind: Kind,
        card_type: &str,
        acquired: Date,
        on: Date,
    ) -> (Option<Date>, Option<Date>) {
        let yearly = |(start, end): (Date, Date)| {
            let from = acquired.max(start);
            let to = if end < from { anniversary(end, 1) } else { end };
            (Some(from), Some(to))
        };
        match (kind, card_type) {
            (_, "03" | "04") => {
                let from = acquired.max(between(&mut self.rng, on.add_days(-200), on));
                (Some(from), Some(months_later_eve(from, 6)))
            }
            (Kind::Municipal | Kind::NhiSociety, _) => yearly(cycle(on, 10)),
            (Kind::LateElderly, _) => yearly(cycle(on, 8)),
            (_, "05") => {
                let from = acquired.max(between(&mut self.rng, on.add_days(-300), on));
                (Some(from), Some(anniversary(from, 5).add_days(-1)))
            }
            _ => (Some(acquired), None),
        }
    }

    /// 高齢受給者証 for ages 70–74 on `on`: from the month after the 70th
    /// birthday (the birthday itself when it is the 1st), for the
    /// August–July period containing `on`, ending the day before
    /// 後期高齢者医療 starts.
    fn elderly_certificate(
        birth: Date,
        acquired: Date,
        on: Date,
        ratios: Ratios,
    ) -> Option<(Date, Date, u8)> {
        if !(70..=74).contains(&age_on(birth, on)) {
            return None;
        }
        let seventy = anniversary(birth, 70);
        let eligible = if seventy.ymd().2 == 1 {
            seventy
        } else {
            next_month_start(seventy)
        };
        let (cycle_start, cycle_end) = cycle(on, 8);
        let from = eligible.max(acquired).max(cycle_start);
        let to = cycle_end.min(anniversary(birth, 75).add_days(-1));
        (from <= to).then_some((from, to, ratios.elderly))
    }

    /// Rows before the main one: the insurer the household left (or will
    /// join), and a lost first qualification at the same subscription.
    fn history(
        &mut self,
        household: &Household,
        member: &Member,
        position: usize,
        main: &Row,
        fate: &Fate,
        ratios: Ratios,
    ) {
        let today = self.world.today;
        if let Some(change) = household.change {
            let window = match change.when {
                When::Past { from, at } => {
                    (member.birth < at).then(|| (from.max(member.birth), Some(at)))
                }
                When::Future { at } => Some((at, None)),
                When::AtSeventyFive => {
                    let low = anniversary(member.birth, 20).max(main.acquired.add_days(-40 * 365));
                    (main.acquired > low.add_days(1)).then(|| {
                        let from = between(&mut self.rng, low, main.acquired.add_days(-1));
                        (from, Some(main.acquired))
                    })
                }
            };
            if let Some((acquired, lost)) = window {
                let mut row = Row {
                    insurer: change.insurer,
                    slot: Slot::Other,
                    symbol: change.symbol,
                    number: CardNumber::Plain(household.head.index + 1),
                    branch: Some(u8::try_from(position).unwrap_or(0)),
                    employer: change.employer,
                    ..lost_row(main, member, acquired, lost.unwrap_or(acquired), ratios)
                };
                if lost.is_none() {
                    row.lost = None;
                    row.reason = None;
                    row.copay = copay(member.birth, acquired, ratios);
                }
                self.rows.push(row);
            }
        } else if fate.reacquire && household.kind != Kind::LateElderly {
            let low = member.birth.max(main.acquired.add_days(-20 * 365));
            if main.acquired > low.add_days(2) && main.acquired <= today {
                let first = between(&mut self.rng, low, main.acquired.add_days(-2));
                let lost = between(&mut self.rng, first.add_days(1), main.acquired.add_days(-1));
                let mut row = lost_row(main, member, first, lost, ratios);
                row.reason = Some("99");
                self.rows.push(row);
            }
        }
    }

    /// Applies losses (future move, death, the household's loss) and benefit
    /// periods to the main row, stores it, and returns the death date.
    fn finish_main(
        &mut self,
        household: &Household,
        member: &Member,
        position: usize,
        mut main: Row,
        fate: &Fate,
        ratios: Ratios,
    ) -> Option<Date> {
        let today = self.world.today;
        if self.rows.iter().any(|row| row.slot == Slot::Main) {
            main.seq = 2;
        }
        let mut death = None;
        if let Some(Change {
            when: When::Future { at },
            ..
        }) = household.change
        {
            main.lose(at, "03");
        } else {
            if fate.dies && main.acquired < today {
                let at = between(
                    &mut self.rng,
                    main.acquired.add_days(1).max(today.add_days(-3 * 365)),
                    today,
                );
                if main.lose(at, "01") {
                    death = Some(at);
                    if position == 0 {
                        self.head_death = Some(at);
                    }
                }
            }
            if position > 0 && household.kind.is_employee() {
                if let Some(at) = self.head_death {
                    main.lose(at, "99");
                }
            }
            if let Some((at, reason)) = household.loss {
                main.lose(at, reason);
            }
        }
        // The card, co-payment and certificate as of the last day in force
        // (today for rows still in force).
        let on = main
            .lost
            .map_or(today, |lost| lost.add_days(-1).min(today))
            .max(main.acquired);
        main.card_valid = self.card_validity(household.kind, main.card_type, main.acquired, on);
        main.copay = copay(member.birth, on, ratios);
        if household.kind != Kind::LateElderly {
            main.elderly = Self::elderly_certificate(member.birth, main.acquired, on, ratios);
        }
        if fate.benefit {
            main.benefit = if self.rng.gen_bool(0.5) {
                let end = between(&mut self.rng, today.add_days(-120), today.add_days(240));
                (Some(main.acquired), Some(end.max(main.acquired)))
            } else {
                (
                    Some(
                        between(&mut self.rng, today.add_days(1), today.add_days(60))
                            .max(main.acquired),
                    ),
                    None,
                )
            };
        }
        self.rows.push(main);
        death
    }

    /// A qualification acquired and lost on the same day at some other
    /// employer's insurer.
    fn same_day(&mut self, household: &Household, member: &Member, ratios: Ratios) {
        let today = self.world.today;
        let pref = household.address.pref;
        let taken = household.change.map(|c| c.insurer);
        let low = member.birth.max(today.add_days(-10 * 365));
        let Some(template) = self.rows.last().copied() else {
            return;
        };
        if low >= today {
            return;
        }
        for _ in 0..8 {
            let insurer = self.employee_insurer(pref);
            if insurer == household.insurer || Some(insurer) == taken {
                continue;
            }
            let day = between(&mut self.rng, low, today.add_days(-1));
            let row = Row {
                insurer,
                slot: Slot::Extra,
                symbol: self.symbol_for(insurer),
                number: CardNumber::Plain(member.index + 1),
                branch: Some(0),
                employer: self.employer_for(insurer),
                reason: Some("99"),
                ..lost_row(&template, member, day, day, ratios)
            };
            self.rows.push(row);
            return;
        }
    }
}

/// A lost row `acquired..lost` shaped like `main` (loss reason 03 by
/// default, ordinary card, no elderly certificate).
fn lost_row(main: &Row, member: &Member, acquired: Date, lost: Date, ratios: Ratios) -> Row {
    let copay_on = lost.add_days(-1).max(acquired);
    Row {
        seq: 1,
        lost: Some(lost),
        reason: Some("03"),
        acquired,
        retiree_switch: None,
        benefit: (None, None),
        card_type: "01",
        card_valid: (Some(acquired), None),
        copay: copay(member.birth, copay_on, ratios),
        elderly: None,
        ..*main
    }
}

/// 一部負担金割合 on a date: 20% before school age, 20/30% at 70–74,
/// 10/20/30% from 75.
fn copay(birth: Date, on: Date, ratios: Ratios) -> u8 {
    match age_on(birth, on) {
        ..=5 => 20,
        70..=74 => ratios.elderly,
        75.. => ratios.late,
        _ => 30,
    }
}

//! What a check must meet before it is answered (`SPEC.md` §3.1), whoever
//! asks (the JSON API, the canaries, the command line): the treatment-date
//! window, and the birth date a card-face check must carry when the
//! operator requires it.

use super::Query;
use crate::model::Date;

/// The validation rules in force for one check.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// Today in Japan: the default date, and the latest date allowed.
    pub today: Date,
    /// How far in the past a treatment date may be.
    pub max_past_days: u32,
    /// Whether a card-face check must give the birth date on the card.
    pub require_birth_date: bool,
}

/// A check that breaks a rule: the request field at fault, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleBroken {
    /// The request field (`date`, `birth_date`).
    pub field: &'static str,
    /// What is wrong, for counter staff or the integrator.
    pub problem: String,
}

impl Rules {
    /// Rules that accept any past date and need no birth date (canaries,
    /// the command line: an operator may ask about any day).
    pub fn any_past_date(today: Date) -> Rules {
        Rules {
            today,
            max_past_days: u32::MAX / 2,
            require_birth_date: false,
        }
    }

    /// The treatment date of a check that asked for `requested`: today by
    /// default, never in the future, at most `max_past_days` back.
    pub fn treatment_date(&self, requested: Option<Date>) -> Result<Date, RuleBroken> {
        let Some(date) = requested else {
            return Ok(self.today);
        };
        let broken = |problem| {
            Err(RuleBroken {
                field: "date",
                problem,
            })
        };
        if date > self.today {
            return broken(format!(
                "{date} is in the future (today in Japan is {})",
                self.today
            ));
        }
        let earliest = self.today.add_days(-(self.max_past_days as i32));
        if date < earliest {
            return broken(format!(
                "{date} is more than {} days in the past (earliest {earliest})",
                self.max_past_days
            ));
        }
        Ok(date)
    }

    /// Refuses a card-face query without a birth date when one is required.
    pub fn admit(&self, query: &Query) -> Result<(), RuleBroken> {
        match query {
            Query::CardFace {
                birth_date: None, ..
            } if self.require_birth_date => Err(RuleBroken {
                field: "birth_date",
                problem: "required with a card-face key (the birth date printed on the card)"
                    .into(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CardFaceKey;

    fn day(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn the_date_window() {
        let rules = Rules {
            today: day("2026-12-03"),
            max_past_days: 30,
            require_birth_date: false,
        };
        assert_eq!(rules.treatment_date(None), Ok(day("2026-12-03")));
        assert_eq!(
            rules.treatment_date(Some(day("2026-11-03"))),
            Ok(day("2026-11-03"))
        );
        let future = rules.treatment_date(Some(day("2026-12-04"))).unwrap_err();
        assert_eq!(future.field, "date");
        assert!(future.problem.contains("in the future"), "{future:?}");
        let old = rules.treatment_date(Some(day("2026-11-02"))).unwrap_err();
        assert!(old.problem.contains("earliest 2026-11-03"), "{old:?}");
    }

    #[test]
    fn a_required_birth_date() {
        let key = CardFaceKey::parse("06139018", "12", "34", "").unwrap();
        let query = Query::CardFace {
            key,
            birth_date: None,
        };
        let mut rules = Rules::any_past_date(day("2026-12-03"));
        assert!(rules.admit(&query).is_ok());
        rules.require_birth_date = true;
        assert_eq!(rules.admit(&query).unwrap_err().field, "birth_date");
    }
}

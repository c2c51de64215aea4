//! Per-institution request budgets: a token bucket per institution code,
//! so that one misbehaving front end (a retry loop, a script run by
//! mistake) cannot take the capacity 240,000 other institutions share.
//!
//! Each check takes one token; a bucket holds at most `burst` tokens and
//! refills at `rate` per second (the settings' `throttle_rate` and
//! `throttle_burst`, or the institution's own from its registry line). A check with no token left is refused
//! with 429 `throttled` and a `Retry-After` of the seconds until a token is
//! back. Buckets live in a sharded concurrent map (`dashmap`): checks of
//! different institutions almost never touch the same shard's lock, and
//! nothing is held across an await. A refusal is logged at most once a
//! minute per institution.

use crate::model::InstitutionCode;
use crate::server::config::Budget;
use arc_swap::ArcSwap;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// One institution's bucket.
struct Bucket {
    tokens: f64,
    /// Microseconds since the throttle started, when `tokens` was counted.
    counted_at: u64,
    /// The minute (since the throttle started) of the last logged refusal.
    logged_minute: Option<u64>,
}

/// The buckets of every institution that has checked.
pub(crate) struct Throttle {
    /// Every institution's budget, unless `own` gives one (`None`: no limit).
    budget: Option<Budget>,
    /// Budgets of their own (from the institution registry, replaced
    /// when it is reloaded).
    own: ArcSwap<HashMap<InstitutionCode, Budget>>,
    buckets: DashMap<InstitutionCode, Bucket>,
    started: Instant,
}

/// A check over budget: seconds until a token is back, and whether this
/// refusal is the first of its minute for the institution (to be logged).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct OverBudget {
    pub retry_after: u32,
    pub log: bool,
}

impl Throttle {
    /// Budgets for every institution (`budget`) and for some (`own`).
    pub(crate) fn new(budget: Option<Budget>, own: HashMap<InstitutionCode, Budget>) -> Throttle {
        Throttle {
            budget,
            own: ArcSwap::from_pointee(own),
            buckets: DashMap::new(),
            started: Instant::now(),
        }
    }

    /// Replaces the institutions' own budgets (a reloaded registry); a
    /// bucket keeps its tokens and refills at its new rate from now on.
    pub(crate) fn set_own(&self, own: HashMap<InstitutionCode, Budget>) {
        self.own.store(Arc::new(own));
    }

    /// Takes a token for one check of `institution` now.
    pub(crate) fn take(&self, institution: InstitutionCode) -> Result<(), OverBudget> {
        self.take_at(institution, self.started.elapsed().as_micros() as u64)
    }

    /// [`Throttle::take`] at `now`, microseconds since the throttle started.
    fn take_at(&self, institution: InstitutionCode, now: u64) -> Result<(), OverBudget> {
        let own = self.own.load();
        let Some(Budget { rate, burst }) = own.get(&institution).copied().or(self.budget) else {
            return Ok(());
        };
        let mut bucket = self.buckets.entry(institution).or_insert(Bucket {
            tokens: burst,
            counted_at: now,
            logged_minute: None,
        });
        let elapsed = now.saturating_sub(bucket.counted_at) as f64 / 1e6;
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.counted_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let minute = now / 60_000_000;
        let log = bucket.logged_minute != Some(minute);
        bucket.logged_minute = Some(minute);
        let wait = (1.0 - bucket.tokens) / rate;
        Err(OverBudget {
            retry_after: wait.ceil().clamp(1.0, f64::from(u32::MAX)) as u32,
            log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> InstitutionCode {
        InstitutionCode::parse(text).unwrap()
    }

    #[test]
    fn a_burst_then_the_rate_and_other_institutions_untouched() {
        let budget = Budget {
            rate: 2.0,
            burst: 3.0,
        };
        let throttle = Throttle::new(Some(budget), HashMap::new());
        let (a, b) = (code("1312345678"), code("1398765432"));
        for _ in 0..3 {
            assert_eq!(throttle.take_at(a, 0), Ok(()));
        }
        let refused = throttle.take_at(a, 0).unwrap_err();
        assert_eq!(
            refused,
            OverBudget {
                retry_after: 1,
                log: true
            }
        );
        // Refused again within the minute: not logged again.
        assert!(!throttle.take_at(a, 100_000).unwrap_err().log);
        // Another institution has its own bucket.
        assert_eq!(throttle.take_at(b, 100_000), Ok(()));
        // Half a second later one token is back (2 per second), not two.
        assert_eq!(throttle.take_at(a, 600_000), Ok(()));
        assert!(throttle.take_at(a, 600_000).is_err());
        // A minute on: the bucket is full again (at most the burst), and a
        // refusal is logged again.
        for _ in 0..3 {
            assert_eq!(throttle.take_at(a, 61_000_000), Ok(()));
        }
        assert!(throttle.take_at(a, 61_000_000).unwrap_err().log);
    }

    #[test]
    fn no_budget_at_all_refuses_nothing_until_the_registry_gives_one() {
        let throttle = Throttle::new(None, HashMap::new());
        let a = code("1312345678");
        for _ in 0..1000 {
            assert_eq!(throttle.take_at(a, 0), Ok(()));
        }
        let one = Budget {
            rate: 1.0,
            burst: 1.0,
        };
        throttle.set_own(HashMap::from([(a, one)]));
        assert_eq!(throttle.take_at(a, 0), Ok(()));
        assert!(throttle.take_at(a, 0).is_err());
    }

    #[test]
    fn a_slow_rate_asks_to_wait_long_enough() {
        let slow = Budget {
            rate: 0.1,
            burst: 1.0,
        };
        let a = code("1312345678");
        // A budget of its own, and no limit for the others.
        let throttle = Throttle::new(None, HashMap::from([(a, slow)]));
        for _ in 0..100 {
            assert_eq!(throttle.take_at(code("1398765432"), 0), Ok(()));
        }
        assert_eq!(throttle.take_at(a, 0), Ok(()));
        assert_eq!(throttle.take_at(a, 0).unwrap_err().retry_after, 10);
        assert_eq!(throttle.take_at(a, 5_000_000).unwrap_err().retry_after, 5);
        assert_eq!(throttle.take_at(a, 10_000_000), Ok(()));
    }
}

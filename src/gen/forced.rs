//! Fixed cases at the start of the first chunk: households of every scheme
//! and persons with every kind of history and certificate, so that even a
//! dataset of a handful of persons shows each case the answer rules handle.
//! (Persons below `FORCED_FATES.len()` are always in chunk 0, in these
//! households.)

use super::cards::{Fate, Revocation};
use super::insurers::Kind;

/// How a fixed case changes insurer.
#[derive(Clone, Copy)]
pub(super) enum ForcedChange {
    Past,
    Future,
    FromAbolished,
}

/// A fixed household at the start of the first chunk.
pub(super) struct Forced {
    pub(super) kind: Kind,
    pub(super) age: i32,
    pub(super) size: usize,
    pub(super) change: Option<ForcedChange>,
    pub(super) loss: Option<&'static str>,
    pub(super) short_term: bool,
    pub(super) retiree: bool,
}

/// A fixed household with no history of its own.
const fn forced(kind: Kind, age: i32, size: usize) -> Forced {
    Forced {
        kind,
        age,
        size,
        change: None,
        loss: None,
        short_term: false,
        retiree: false,
    }
}

/// A fixed household that changed (or will change) insurer.
const fn changing(kind: Kind, age: i32, size: usize, change: ForcedChange) -> Forced {
    Forced {
        change: Some(change),
        ..forced(kind, age, size)
    }
}

/// The fixed households: every scheme, every kind of history.
pub(super) const FORCED: [Forced; 12] = [
    changing(Kind::HealthSociety, 45, 3, ForcedChange::Past),
    Forced {
        short_term: true,
        ..forced(Kind::Municipal, 40, 1)
    },
    changing(Kind::LateElderly, 80, 1, ForcedChange::Past),
    changing(Kind::Kyokai, 30, 1, ForcedChange::Future),
    Forced {
        loss: Some("02"),
        ..forced(Kind::NhiSociety, 50, 1)
    },
    Forced {
        retiree: true,
        ..forced(Kind::Municipal, 62, 1)
    },
    forced(Kind::MutualAid, 72, 1),
    forced(Kind::SpecialRetiree, 66, 1),
    forced(Kind::SelfDefence, 35, 2),
    changing(Kind::Kyokai, 50, 1, ForcedChange::FromAbolished),
    forced(Kind::LateElderly, 90, 1),
    Forced {
        loss: Some("99"),
        ..forced(Kind::Municipal, 35, 1)
    },
];

/// A fixed person with a linked card and nothing else special.
const fn linked() -> Fate {
    Fate {
        card: true,
        renewed: false,
        hex: false,
        wide: false,
        revocation: None,
        unlinked: false,
        same_day: false,
        reacquire: false,
        benefit: false,
        dies: false,
    }
}

/// The fates of the persons of [`FORCED`], by person index.
pub(super) const FORCED_FATES: [Fate; 15] = [
    Fate {
        renewed: true,
        wide: true,
        same_day: true,
        ..linked()
    },
    Fate {
        hex: true,
        revocation: Some(Revocation::Hold),
        ..linked()
    },
    Fate {
        revocation: Some(Revocation::KeyCompromise),
        benefit: true,
        ..linked()
    },
    Fate {
        card: false,
        unlinked: true,
        ..linked()
    },
    Fate {
        renewed: true,
        ..linked()
    },
    linked(),
    Fate {
        hex: true,
        ..linked()
    },
    Fate {
        reacquire: true,
        ..linked()
    },
    linked(),
    Fate {
        card: false,
        ..linked()
    },
    Fate {
        revocation: Some(Revocation::AffiliationChanged),
        ..linked()
    },
    linked(),
    linked(),
    Fate {
        dies: true,
        ..linked()
    },
    Fate {
        card: false,
        ..linked()
    },
];

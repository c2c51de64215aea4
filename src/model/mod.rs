//! The domain model, the bottom layer every other module may use: identifiers,
//! dates, Japan time and the [`Clock`], qualification rows, verdicts, and the
//! pinned outcome codes of what was answered.
//!
//! Everything that comes from outside (CSV sources, HTTP requests, CLI
//! arguments) is turned into these types at the edge; the snapshot builder
//! and the engine work only with validated, canonical values.

pub mod clock;
pub mod date;
pub mod digest;
pub mod ids;
pub mod outcome;
pub mod record;
pub mod verdict;

pub use clock::{Clock, FixedClock, JapanTime, SystemClock};
pub use date::{Date, DateError};
pub use digest::Sha256;
pub use ids::{
    BranchNumber, CardBranch, CardFaceKey, IdError, InstitutionCode, InsurerCode, InsurerNumber,
    LinkageNo, MunicipalId, OnlineNumber, Scheme, Serial,
};
pub use outcome::{ErrorCode, Outcome};
pub use record::{
    CodeField, DateField, EligibilityRow, Subscription, TextField, Validity, CODE_ABSENT,
    CODE_FIELD_COUNT, CODE_FIELD_NAMES, DATE_FIELD_COUNT, DATE_FIELD_NAMES, TEXT_FIELD_COUNT,
    TEXT_FIELD_NAMES,
};
pub use verdict::{Revocation, Verdict};

//! The qualification row (資格情報) and the rules that say whether it is in
//! force on a date. These rules are the heart of every verdict, so they live
//! here once, as plain functions, and both the engine and the reference-model
//! tests call them.

use super::date::Date;
use super::ids::{CardBranch, InsurerNumber, LinkageNo, OnlineNumber};

/// Text fields of a row, in the order the snapshot stores them and answers
/// list them. Names are the `eligibility.csv` column names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum TextField {
    /// Online-check number (24 or 15 digits), derived from `insurer_code` +
    /// `branch_no` or `municipal_id`; not itself a CSV column.
    OnlineNumber,
    /// `insurer_code`: 保険者コード, 8 digits; empty for a municipal-ID row.
    InsurerCode,
    /// `branch_no`: 被保険者枝番, 16 digits; empty for a municipal-ID row.
    BranchNo,
    /// `municipal_id`: 市町村被保険者ID, 15 digits; empty unless municipal NHI.
    MunicipalId,
    /// `insurer_number`: 保険者番号 in its padded 8-digit form.
    InsurerNumber,
    /// `card_symbol`: 記号 on the card, card-face normalised; may be empty.
    CardSymbol,
    /// `card_number`: 番号 on the card, card-face normalised.
    CardNumber,
    /// `card_branch`: 枝番 on the card (two digits); may be empty.
    CardBranch,
    /// `name`: family and given name, separated by one space.
    Name,
    /// `name_kana`: the name in kana; may be empty.
    NameKana,
    /// `address`: the person's address; may be empty.
    Address,
    /// `postal_code`: the person's postal code; may be empty.
    PostalCode,
    /// `insured_name`: name of the insured person (被保険者), filled for dependants.
    InsuredName,
    /// `household_head_name`: name of the head of household (世帯主).
    HouseholdHeadName,
    /// `employer_name`: 事業所名称, the insured person's employer.
    EmployerName,
    /// `issuer_address`: address of the office that issued the card.
    IssuerAddress,
    /// `loss_reason`: 資格喪失事由 code (01 death, 02 public assistance, 03 other
    /// insurance, 99 other); empty while in force.
    LossReason,
    /// `card_type`: 証区分 code (01 general … 07 self-defence forces, A1 medical
    /// assistance).
    CardType,
}

/// Number of [`TextField`]s.
pub const TEXT_FIELD_COUNT: usize = 18;

/// Column names of the text fields, indexed by `TextField as usize`.
pub const TEXT_FIELD_NAMES: [&str; TEXT_FIELD_COUNT] = [
    "online_number",
    "insurer_code",
    "branch_no",
    "municipal_id",
    "insurer_number",
    "card_symbol",
    "card_number",
    "card_branch",
    "name",
    "name_kana",
    "address",
    "postal_code",
    "insured_name",
    "household_head_name",
    "employer_name",
    "issuer_address",
    "loss_reason",
    "card_type",
];

impl TextField {
    /// Every text field, in stored order.
    pub const ALL: [TextField; TEXT_FIELD_COUNT] = [
        TextField::OnlineNumber,
        TextField::InsurerCode,
        TextField::BranchNo,
        TextField::MunicipalId,
        TextField::InsurerNumber,
        TextField::CardSymbol,
        TextField::CardNumber,
        TextField::CardBranch,
        TextField::Name,
        TextField::NameKana,
        TextField::Address,
        TextField::PostalCode,
        TextField::InsuredName,
        TextField::HouseholdHeadName,
        TextField::EmployerName,
        TextField::IssuerAddress,
        TextField::LossReason,
        TextField::CardType,
    ];

    /// The `eligibility.csv` column name.
    pub fn name(self) -> &'static str {
        TEXT_FIELD_NAMES[self as usize]
    }
}

/// Date fields of a row, in stored order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum DateField {
    /// `birth_date`: 生年月日 (required).
    BirthDate,
    /// `acquired`: 資格取得年月日, the first day in force (required).
    Acquired,
    /// `lost`: 資格喪失年月日, the first day no longer in force; empty while in force.
    Lost,
    /// `retiree_switch`: 退職者切替 date, the switch to retiree medical care;
    /// empty for most rows.
    RetireeSwitch,
    /// `benefit_start`: 給付開始年月日, first day benefits are paid (inclusive).
    BenefitStart,
    /// `benefit_end`: 給付終了年月日, last day benefits are paid (inclusive).
    BenefitEnd,
    /// `card_valid_from`: first day the card is valid (inclusive).
    CardValidFrom,
    /// `card_valid_to`: last day the card is valid (inclusive).
    CardValidTo,
    /// `elderly_valid_from`: first day of the 高齢受給者証 (inclusive).
    ElderlyValidFrom,
    /// `elderly_valid_to`: last day of the 高齢受給者証 (inclusive).
    ElderlyValidTo,
}

/// Number of [`DateField`]s.
pub const DATE_FIELD_COUNT: usize = 10;

/// Column names of the date fields, indexed by `DateField as usize`.
pub const DATE_FIELD_NAMES: [&str; DATE_FIELD_COUNT] = [
    "birth_date",
    "acquired",
    "lost",
    "retiree_switch",
    "benefit_start",
    "benefit_end",
    "card_valid_from",
    "card_valid_to",
    "elderly_valid_from",
    "elderly_valid_to",
];

impl DateField {
    /// Every date field, in stored order.
    pub const ALL: [DateField; DATE_FIELD_COUNT] = [
        DateField::BirthDate,
        DateField::Acquired,
        DateField::Lost,
        DateField::RetireeSwitch,
        DateField::BenefitStart,
        DateField::BenefitEnd,
        DateField::CardValidFrom,
        DateField::CardValidTo,
        DateField::ElderlyValidFrom,
        DateField::ElderlyValidTo,
    ];

    /// The `eligibility.csv` column name.
    pub fn name(self) -> &'static str {
        DATE_FIELD_NAMES[self as usize]
    }
}

/// Small numeric codes of a row, in stored order ([`CODE_ABSENT`] = empty cell).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum CodeField {
    /// `sex`: 1 male, 2 female, 3 unset (required).
    Sex,
    /// `relationship`: 1 insured person (本人), 2 dependant (家族).
    Relationship,
    /// `household_head`: 1 head of household, 0 not.
    HouseholdHead,
    /// `copay_ratio`: co-payment percent, 10, 20 or 30.
    CopayRatio,
    /// `elderly_copay_ratio`: co-payment percent on the 高齢受給者証, 10, 20 or 30.
    ElderlyCopayRatio,
}

/// Stored value of a code field whose cell was empty.
pub const CODE_ABSENT: u8 = u8::MAX;

/// Number of [`CodeField`]s.
pub const CODE_FIELD_COUNT: usize = 5;

/// Column names of the code fields, indexed by `CodeField as usize`.
pub const CODE_FIELD_NAMES: [&str; CODE_FIELD_COUNT] = [
    "sex",
    "relationship",
    "household_head",
    "copay_ratio",
    "elderly_copay_ratio",
];

/// The values each code field may take, indexed by `CodeField as usize`
/// (the source readers refuse any other; the snapshot packs them by
/// position in these lists).
pub const CODE_FIELD_VALUES: [&[u8]; CODE_FIELD_COUNT] =
    [&[1, 2, 3], &[1, 2], &[0, 1], &[10, 20, 30], &[10, 20, 30]];

impl CodeField {
    /// Every code field, in stored order.
    pub const ALL: [CodeField; CODE_FIELD_COUNT] = [
        CodeField::Sex,
        CodeField::Relationship,
        CodeField::HouseholdHead,
        CodeField::CopayRatio,
        CodeField::ElderlyCopayRatio,
    ];

    /// The `eligibility.csv` column name.
    pub fn name(self) -> &'static str {
        CODE_FIELD_NAMES[self as usize]
    }
}

/// The dates that decide whether a row is in force (加入資格 refined by
/// 受給資格 and the card's validity period).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// 資格取得年月日: first day in force.
    pub acquired: Date,
    /// 資格喪失年月日: first day no longer in force.
    pub lost: Option<Date>,
    /// 給付開始年月日 (inclusive).
    pub benefit_start: Option<Date>,
    /// 給付終了年月日 (inclusive).
    pub benefit_end: Option<Date>,
    /// Card valid from (inclusive).
    pub card_valid_from: Option<Date>,
    /// Card valid to (inclusive).
    pub card_valid_to: Option<Date>,
}

impl Validity {
    /// In force on `date`: `acquired <= date < lost` (so a row acquired and
    /// lost on the same day is never in force), and the benefit period and
    /// the card's validity period, where given, include `date`.
    pub fn in_force_on(&self, date: Date) -> bool {
        self.acquired <= date
            && self.lost.is_none_or(|lost| date < lost)
            && self.benefit_start.is_none_or(|start| start <= date)
            && self.benefit_end.is_none_or(|end| date <= end)
            && self.card_valid_from.is_none_or(|from| from <= date)
            && self.card_valid_to.is_none_or(|to| date <= to)
    }

    /// The row had a qualification that started on or before `date` and was
    /// in force for at least one day: the kind of row an `invalid` answer
    /// shows "as it was before loss".
    pub fn started_by(&self, date: Date) -> bool {
        self.acquired <= date && self.lost.is_none_or(|lost| self.acquired < lost)
    }
}

/// How a subscription is identified: insurer code + branch number, or the
/// municipal insured ID (市町村国保).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subscription {
    /// Insurer code + branch number (24-digit online number).
    Branch {
        /// 保険者コード, 8 digits.
        insurer_code: super::ids::InsurerCode,
        /// 被保険者枝番, 16 digits.
        branch_no: super::ids::BranchNumber,
    },
    /// 市町村被保険者ID of a municipal NHI member (15-digit online number).
    Municipal(super::ids::MunicipalId),
}

impl Subscription {
    /// The online-check number of this subscription.
    pub fn online_number(&self) -> OnlineNumber {
        match self {
            Subscription::Branch {
                insurer_code,
                branch_no,
            } => OnlineNumber::from_parts(insurer_code, branch_no),
            Subscription::Municipal(id) => OnlineNumber::from_municipal_id(id),
        }
    }
}

/// One row of `eligibility.csv`, validated and normalised. The text fields
/// share one string (one allocation per row: the build handles ~150 million).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EligibilityRow {
    /// `linkage_no`: 紐付番号, the person key (see [`LinkageNo`]).
    pub linkage_no: u128,
    /// All text fields, concatenated in [`TextField`] order.
    text: String,
    /// End of each text field in `text`.
    text_ends: [u16; TEXT_FIELD_COUNT],
    /// Date fields indexed by [`DateField`] (`None` = empty cell).
    pub dates: [Option<i32>; DATE_FIELD_COUNT],
    /// Code fields indexed by [`CodeField`] ([`CODE_ABSENT`] = empty cell).
    pub codes: [u8; CODE_FIELD_COUNT],
    /// 資格通番 (default 1).
    pub qualification_seq: u32,
}

impl EligibilityRow {
    /// A row from its parts; `None` if the text fields together exceed
    /// 65,535 bytes (the readers bound each field far below that).
    pub fn new(
        linkage_no: u128,
        fields: [&str; TEXT_FIELD_COUNT],
        dates: [Option<i32>; DATE_FIELD_COUNT],
        codes: [u8; CODE_FIELD_COUNT],
        qualification_seq: u32,
    ) -> Option<EligibilityRow> {
        let mut text = String::with_capacity(fields.iter().map(|f| f.len()).sum());
        let mut text_ends = [0u16; TEXT_FIELD_COUNT];
        for (end, field) in text_ends.iter_mut().zip(fields) {
            text.push_str(field);
            *end = u16::try_from(text.len()).ok()?;
        }
        Some(EligibilityRow {
            linkage_no,
            text,
            text_ends,
            dates,
            codes,
            qualification_seq,
        })
    }

    /// A row from its text fields already concatenated (`text`, with the
    /// end of each field in `text_ends`); `None` unless the ends rise, stay
    /// within the text and fall on character boundaries.
    pub fn from_concatenated(
        linkage_no: u128,
        text: String,
        text_ends: [u16; TEXT_FIELD_COUNT],
        dates: [Option<i32>; DATE_FIELD_COUNT],
        codes: [u8; CODE_FIELD_COUNT],
        qualification_seq: u32,
    ) -> Option<EligibilityRow> {
        let mut start = 0;
        for &end in &text_ends {
            let end = usize::from(end);
            if end < start || !text.is_char_boundary(end) {
                return None;
            }
            start = end;
        }
        (start == text.len()).then_some(EligibilityRow {
            linkage_no,
            text,
            text_ends,
            dates,
            codes,
            qualification_seq,
        })
    }

    /// One text field; empty when the cell was empty.
    pub fn text(&self, field: TextField) -> &str {
        let index = field as usize;
        let start = match index {
            0 => 0,
            _ => usize::from(self.text_ends[index - 1]),
        };
        self.text
            .get(start..usize::from(self.text_ends[index]))
            .unwrap_or("")
    }

    /// All text fields concatenated, and the end of each.
    pub fn text_parts(&self) -> (&str, &[u16; TEXT_FIELD_COUNT]) {
        (&self.text, &self.text_ends)
    }

    /// One date field; `None` when the cell was empty.
    pub fn date(&self, field: DateField) -> Option<Date> {
        self.dates[field as usize].map(Date::from_days)
    }

    /// One code field; `None` when the cell was empty.
    pub fn code(&self, field: CodeField) -> Option<u8> {
        Some(self.codes[field as usize]).filter(|&c| c != CODE_ABSENT)
    }

    /// The person key (紐付番号) as a typed [`LinkageNo`].
    pub fn linkage(&self) -> LinkageNo {
        LinkageNo(self.linkage_no)
    }

    /// The dates that decide whether this row is in force (see [`Validity`]).
    pub fn validity(&self) -> Validity {
        validity_from(|field| self.date(field))
    }

    /// The row's place in its person's order ([`newest_first`]).
    pub fn order(&self) -> RowOrder<'_> {
        (
            self.date(DateField::Acquired),
            self.qualification_seq,
            self.text(TextField::OnlineNumber),
        )
    }

    /// The insurer number, re-read from its canonical text.
    pub fn insurer_number(&self) -> Option<InsurerNumber> {
        InsurerNumber::parse(self.text(TextField::InsurerNumber)).ok()
    }

    /// The card branch, if the card has one.
    pub fn card_branch(&self) -> Option<CardBranch> {
        CardBranch::parse_optional(self.text(TextField::CardBranch))
            .ok()
            .flatten()
    }
}

/// What orders a person's rows, in answers and in the snapshot: `acquired`,
/// 資格通番 and online-check number (see [`newest_first`]).
pub type RowOrder<'a> = (Option<Date>, u32, &'a str);

/// Newest `acquired` first, then the higher 資格通番, then by online-check
/// number: one total order, so that a person's rows read the same from a
/// snapshot, from an overlay or from both merged.
pub fn newest_first(a: RowOrder<'_>, b: RowOrder<'_>) -> std::cmp::Ordering {
    b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2))
}

/// Builds the [`Validity`] of a row from a date accessor; shared by the
/// owned row and the snapshot's row view so the rule reads the same fields.
pub fn validity_from(date: impl Fn(DateField) -> Option<Date>) -> Validity {
    Validity {
        acquired: date(DateField::Acquired).unwrap_or(Date::from_days(i32::MAX)),
        lost: date(DateField::Lost),
        benefit_start: date(DateField::BenefitStart),
        benefit_end: date(DateField::BenefitEnd),
        card_valid_from: date(DateField::CardValidFrom),
        card_valid_to: date(DateField::CardValidTo),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    fn validity(acquired: &str, lost: Option<&str>) -> Validity {
        Validity {
            acquired: d(acquired),
            lost: lost.map(d),
            benefit_start: None,
            benefit_end: None,
            card_valid_from: None,
            card_valid_to: None,
        }
    }

    #[test]
    fn acquired_inclusive_lost_exclusive() {
        let v = validity("2020-04-01", Some("2026-11-21"));
        assert!(!v.in_force_on(d("2020-03-31")));
        assert!(v.in_force_on(d("2020-04-01")));
        assert!(v.in_force_on(d("2026-11-20")));
        assert!(!v.in_force_on(d("2026-11-21")));
    }

    #[test]
    fn same_day_acquire_and_lose_is_never_in_force() {
        let v = validity("2026-11-21", Some("2026-11-21"));
        assert!(!v.in_force_on(d("2026-11-21")));
        assert!(!v.started_by(d("2026-12-01")));
    }

    #[test]
    fn benefit_and_card_periods_refine() {
        let mut v = validity("2020-04-01", None);
        v.benefit_end = Some(d("2026-03-31"));
        assert!(v.in_force_on(d("2026-03-31")));
        assert!(!v.in_force_on(d("2026-04-01")));
        let mut v = validity("2020-04-01", None);
        v.card_valid_from = Some(d("2026-08-01"));
        v.card_valid_to = Some(d("2027-07-31"));
        assert!(!v.in_force_on(d("2026-07-31")));
        assert!(v.in_force_on(d("2027-07-31")));
        assert!(!v.in_force_on(d("2027-08-01")));
    }
}

//! `eligibility.csv`: one qualification row per line.

use super::csv_input::{BadRow, CsvHeader, Row};
use crate::model::ids::{card_text, normalize_width, MAX_CARD_NUMBER_BYTES, MAX_SYMBOL_BYTES};
use crate::model::record::{CODE_ABSENT, CODE_FIELD_VALUES};
use crate::model::{
    BranchNumber, CardBranch, CodeField, Date, DateField, EligibilityRow, InsurerCode,
    InsurerNumber, LinkageNo, MunicipalId, Subscription, TextField, CODE_FIELD_COUNT,
    CODE_FIELD_NAMES, DATE_FIELD_COUNT, DATE_FIELD_NAMES, TEXT_FIELD_COUNT, TEXT_FIELD_NAMES,
};
use std::borrow::Cow;

/// Longest free-text cell (names, addresses) accepted, in bytes.
pub const MAX_TEXT_BYTES: usize = 1024;

/// Columns that must be present in the header.
pub const REQUIRED_COLUMNS: [&str; 7] = [
    "linkage_no",
    "insurer_number",
    "card_number",
    "name",
    "sex",
    "birth_date",
    "acquired",
];

/// Loss reasons (喪失事由): death, public assistance, other insurance, other.
const LOSS_REASONS: [&str; 4] = ["01", "02", "03", "99"];
/// Card types (証区分) of `CONTRACT.md` §1.
const CARD_TYPES: [&str; 8] = ["01", "02", "03", "04", "05", "06", "07", "A1"];

/// Column positions, resolved once per file so that each row is read by index.
pub struct EligibilityColumns {
    linkage_no: Option<usize>,
    insurer_code: Option<usize>,
    branch_no: Option<usize>,
    municipal_id: Option<usize>,
    qualification_seq: Option<usize>,
    text: [Option<usize>; TEXT_FIELD_COUNT],
    dates: [Option<usize>; DATE_FIELD_COUNT],
    codes: [Option<usize>; CODE_FIELD_COUNT],
}

impl EligibilityColumns {
    /// Checks the header and maps every known column.
    pub fn resolve(source: &CsvHeader) -> anyhow::Result<EligibilityColumns> {
        source.require_columns(&REQUIRED_COLUMNS)?;
        if source.column("municipal_id").is_none()
            && (source.column("insurer_code").is_none() || source.column("branch_no").is_none())
        {
            anyhow::bail!(
                "{}: the header needs 'insurer_code' and 'branch_no', or 'municipal_id'",
                source.name()
            );
        }
        Ok(EligibilityColumns {
            linkage_no: source.column("linkage_no"),
            insurer_code: source.column("insurer_code"),
            branch_no: source.column("branch_no"),
            municipal_id: source.column("municipal_id"),
            qualification_seq: source.column("qualification_seq"),
            text: crate::model::TEXT_FIELD_NAMES.map(|name| source.column(name)),
            dates: DATE_FIELD_NAMES.map(|name| source.column(name)),
            codes: CODE_FIELD_NAMES.map(|name| source.column(name)),
        })
    }

    /// Reads one row into a validated, normalised [`EligibilityRow`].
    pub fn parse(&self, row: &Row<'_>) -> Result<EligibilityRow, BadRow> {
        self.parse_fields(row).map_err(|reason| row.bad(reason))
    }

    fn parse_fields(&self, row: &Row<'_>) -> Result<EligibilityRow, String> {
        let field = |column: &str, error: &dyn std::fmt::Display| format!("{column}: {error}");
        let linkage =
            LinkageNo::parse(row.cell(self.linkage_no)).map_err(|e| field("linkage_no", &e))?;
        let subscription = self.subscription(row)?;
        let insurer_number =
            InsurerNumber::parse(row.cell(self.text[TextField::InsurerNumber as usize]))
                .map_err(|e| field("insurer_number", &e))?;
        let mut text: [Cow<'_, str>; TEXT_FIELD_COUNT] =
            std::array::from_fn(|i| normalize_width(row.cell(self.text[i])));
        for (value, name) in text.iter().zip(TEXT_FIELD_NAMES) {
            if value.len() > MAX_TEXT_BYTES {
                return Err(format!("{name}: longer than {MAX_TEXT_BYTES} bytes"));
            }
            if value.chars().any(char::is_control) {
                return Err(format!("{name}: contains control characters"));
            }
        }
        let online_number = subscription.online_number();
        text[TextField::OnlineNumber as usize] = Cow::Borrowed(online_number.as_str());
        let (insurer_code, branch_no, municipal_id) = match &subscription {
            Subscription::Branch {
                insurer_code,
                branch_no,
            } => (insurer_code.as_str(), branch_no.as_str(), ""),
            Subscription::Municipal(id) => ("", "", id.as_str()),
        };
        text[TextField::InsurerCode as usize] = Cow::Borrowed(insurer_code);
        text[TextField::BranchNo as usize] = Cow::Borrowed(branch_no);
        text[TextField::MunicipalId as usize] = Cow::Borrowed(municipal_id);
        text[TextField::InsurerNumber as usize] = Cow::Borrowed(insurer_number.as_str());
        // The card face is stored in the form queries are normalised to, so
        // that its index key and the key of a query agree.
        text[TextField::CardSymbol as usize] = card_text(
            row.cell(self.text[TextField::CardSymbol as usize]),
            MAX_SYMBOL_BYTES,
            false,
        )
        .map_err(|e| field("card_symbol", &e))?;
        text[TextField::CardNumber as usize] = card_text(
            row.cell(self.text[TextField::CardNumber as usize]),
            MAX_CARD_NUMBER_BYTES,
            true,
        )
        .map_err(|e| field("card_number", &e))?;
        let card_branch = CardBranch::parse_optional(&text[TextField::CardBranch as usize])
            .map_err(|e| field("card_branch", &e))?;
        text[TextField::CardBranch as usize] =
            Cow::Borrowed(card_branch.as_ref().map_or("", CardBranch::as_str));
        if text[TextField::Name as usize].is_empty() {
            return Err("name: required (family and given name separated by a space)".into());
        }
        check_code(
            &text[TextField::LossReason as usize],
            "loss_reason",
            &LOSS_REASONS,
        )?;
        check_code(
            &text[TextField::CardType as usize],
            "card_type",
            &CARD_TYPES,
        )?;

        let mut dates = [None; DATE_FIELD_COUNT];
        for (i, name) in DATE_FIELD_NAMES.iter().enumerate() {
            dates[i] = Date::parse_optional(row.cell(self.dates[i]))
                .map_err(|e| field(name, &e))?
                .map(Date::days);
        }
        require_date(&dates, DateField::BirthDate)?;
        let acquired = require_date(&dates, DateField::Acquired)?;
        if let Some(lost) = dates[DateField::Lost as usize] {
            if lost < acquired {
                return Err(
                    "lost: before acquired (lost is the first day no longer in force)".into(),
                );
            }
        }
        let codes = self.codes(row)?;
        let qualification_seq = parse_qualification_seq(row.cell(self.qualification_seq))?;
        let fields: [&str; TEXT_FIELD_COUNT] = std::array::from_fn(|i| text[i].as_ref());
        EligibilityRow::new(linkage.0, fields, dates, codes, qualification_seq)
            .ok_or_else(|| "the row's text is longer than 65,535 bytes in all".to_string())
    }

    fn subscription(&self, row: &Row<'_>) -> Result<Subscription, String> {
        parse_subscription(
            row.cell(self.municipal_id),
            row.cell(self.insurer_code),
            row.cell(self.branch_no),
        )
    }

    fn codes(&self, row: &Row<'_>) -> Result<[u8; CODE_FIELD_COUNT], String> {
        let allowed = CODE_FIELD_VALUES;
        let mut codes = [CODE_ABSENT; CODE_FIELD_COUNT];
        for (i, name) in CODE_FIELD_NAMES.iter().enumerate() {
            let cell = crate::model::ids::normalize_width(row.cell(self.codes[i]));
            if cell.is_empty() {
                continue;
            }
            codes[i] = cell
                .parse::<u8>()
                .ok()
                .filter(|v| allowed[i].contains(v))
                .ok_or_else(|| format!("{name}: '{cell}' must be one of {:?}", allowed[i]))?;
        }
        if codes[CodeField::Sex as usize] == CODE_ABSENT {
            return Err("sex: required (1 male, 2 female, 3 unset)".into());
        }
        Ok(codes)
    }
}

fn require_date(dates: &[Option<i32>; DATE_FIELD_COUNT], field: DateField) -> Result<i32, String> {
    dates[field as usize].ok_or_else(|| format!("{}: required", DATE_FIELD_NAMES[field as usize]))
}

fn check_code(value: &str, column: &str, allowed: &[&str]) -> Result<(), String> {
    if value.is_empty() || allowed.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{column}: '{value}' must be one of {}",
            allowed.join(", ")
        ))
    }
}

/// 資格通番: a positive integer, 1 when the cell is empty.
pub fn parse_qualification_seq(cell: &str) -> Result<u32, String> {
    match cell.trim() {
        "" => Ok(1),
        seq => seq
            .parse::<u32>()
            .ok()
            .filter(|&s| s > 0)
            .ok_or_else(|| format!("qualification_seq: '{seq}' must be a positive integer")),
    }
}

/// The subscription of a row: insurer code + branch number, or a municipal ID.
pub fn parse_subscription(
    municipal: &str,
    code: &str,
    branch: &str,
) -> Result<Subscription, String> {
    let (municipal, code, branch) = (municipal.trim(), code.trim(), branch.trim());
    match (municipal.is_empty(), code.is_empty() && branch.is_empty()) {
        (false, true) => MunicipalId::parse(municipal)
            .map(Subscription::Municipal)
            .map_err(|e| format!("municipal_id: {e}")),
        (true, false) => Ok(Subscription::Branch {
            insurer_code: InsurerCode::parse(code).map_err(|e| format!("insurer_code: {e}"))?,
            branch_no: BranchNumber::parse(branch).map_err(|e| format!("branch_no: {e}"))?,
        }),
        (false, false) => Err(
            "municipal_id: give either insurer_code + branch_no or municipal_id, not both".into(),
        ),
        (true, true) => {
            Err("insurer_code: required (with branch_no), or municipal_id instead".into())
        }
    }
}

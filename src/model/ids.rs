//! Typed identifiers: each one validates and normalises its input once, at the
//! edge (CSV reader, HTTP request, CLI), so that the snapshot and the answer
//! rules only ever see canonical forms.
//!
//! Normalisation follows what counter staff and card readers actually send:
//! full-width digits and letters (`０６１３…`), surrounding spaces (half- and
//! full-width), municipal insurer numbers with 6 digits, serials in decimal or
//! `0x` hex.

use std::borrow::Cow;
use std::fmt;

/// Why an identifier was refused. The caller adds the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Wrong form: not digits, wrong length, control characters, or a
    /// required value left empty.
    #[error("'{value}' must be {expected}")]
    Shape {
        /// The input as received, before normalisation.
        value: String,
        /// What the field accepts, in words (e.g. "8 digits").
        expected: &'static str,
    },
    /// An insurer number (保険者番号) whose last digit is not its 検証番号.
    #[error("'{value}' has a wrong check digit (検証番号): expected {expected}")]
    CheckDigit {
        /// The input as received, trimmed.
        value: String,
        /// The check digit the first seven digits call for (0–9).
        expected: u8,
    },
    /// A value over its length bound (card symbol, card number, or a serial
    /// wider than 20 bytes).
    #[error("'{value}' is longer than {max} bytes")]
    TooLong {
        /// The input as received.
        value: String,
        /// The bound, in bytes (UTF-8 bytes for text, octets for a serial).
        max: usize,
    },
}

fn shape(value: &str, expected: &'static str) -> IdError {
    IdError::Shape {
        value: value.to_string(),
        expected,
    }
}

/// Folds full-width ASCII (U+FF01–U+FF5E) to half-width, the ideographic space
/// to a plain space, and trims surrounding spaces. Anything else (kanji, kana)
/// is kept as it is. Borrows when nothing changes, which is the common case.
///
/// Used for every text cell and identifier; the card-face key (記号, 番号)
/// goes further, see [`normalize_card_face`].
pub fn normalize_width(text: &str) -> Cow<'_, str> {
    let trimmed = trim_blanks(text);
    let needs_folding = |c: char| matches!(c, '\u{FF01}'..='\u{FF5E}' | '\u{3000}');
    if trimmed.is_ascii() || !trimmed.chars().any(needs_folding) {
        return Cow::Borrowed(trimmed);
    }
    Cow::Owned(
        trimmed
            .chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => fold_full_width_ascii(c),
                '\u{3000}' => ' ',
                other => other,
            })
            .collect(),
    )
}

/// Trims the blanks a counter or a CSV export leaves around a value: spaces,
/// ideographic spaces (U+3000) and tabs.
fn trim_blanks(text: &str) -> &str {
    text.trim_matches(|c: char| c == ' ' || c == '\u{3000}' || c == '\t')
}

fn fold_full_width_ascii(c: char) -> char {
    char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
}

/// Normalises a card symbol (記号) or number (番号) so that it compares as a
/// person at a counter would type it. The result is the NFKC form of these
/// ranges, and every other character is kept as it is:
///
/// - full-width Latin letters, digits and punctuation (U+FF01–U+FF5E) become
///   ASCII;
/// - the ideographic space (U+3000) becomes a plain space, and surrounding
///   blanks are trimmed;
/// - half-width katakana and punctuation (U+FF61–U+FF9D) become their
///   full-width forms (`ｶ` → `カ`, `ｰ` → `ー`, `｢` → `「`);
/// - a voiced or semi-voiced sound mark, half-width (U+FF9E, U+FF9F) or
///   combining (U+3099, U+309A), is composed into the kana before it when
///   that kana has a composed form (`ｶﾞ` and `カ\u{3099}` → `ガ`, `ﾊﾟ` → `パ`);
///   otherwise it stays as the combining mark (U+3099, U+309A).
///
/// The spacing marks `゛` and `゜` (U+309B, U+309C) are kept as they are.
///
/// Both sides of a card-face comparison go through this function: the
/// snapshot build (the row's stored symbol and number, hence its index key)
/// and every query. Borrows when the text is already canonical.
pub fn normalize_card_face(text: &str) -> Cow<'_, str> {
    let trimmed = trim_blanks(text);
    if trimmed.is_ascii() || is_canonical_card_face(trimmed) {
        return Cow::Borrowed(trimmed);
    }
    let mut out = String::with_capacity(trimmed.len() + 8);
    for c in trimmed.chars() {
        match c {
            '\u{FF01}'..='\u{FF5E}' => out.push(fold_full_width_ascii(c)),
            '\u{3000}' => out.push(' '),
            '\u{FF61}'..='\u{FF9D}' => out.push(HALF_WIDTH_KANA[(c as usize) - 0xFF61]),
            '\u{FF9E}' | '\u{3099}' => push_sound_mark(&mut out, '\u{3099}', voiced),
            '\u{FF9F}' | '\u{309A}' => push_sound_mark(&mut out, '\u{309A}', semi_voiced),
            other => out.push(other),
        }
    }
    Cow::Owned(out)
}

/// Whether [`normalize_card_face`] would leave `text` (already trimmed) as it is.
fn is_canonical_card_face(text: &str) -> bool {
    let mut previous = None;
    for c in text.chars() {
        let composes = match c {
            '\u{FF01}'..='\u{FF5E}' | '\u{3000}' | '\u{FF61}'..='\u{FF9F}' => return false,
            '\u{3099}' => previous.and_then(voiced).is_some(),
            '\u{309A}' => previous.and_then(semi_voiced).is_some(),
            _ => false,
        };
        if composes {
            return false;
        }
        previous = Some(c);
    }
    true
}

/// Appends a (semi-)voiced sound mark: composed into the last character when
/// `compose` has a form for it, else as the combining `mark`.
fn push_sound_mark(out: &mut String, mark: char, compose: fn(char) -> Option<char>) {
    if let Some(composed) = out.chars().next_back().and_then(compose) {
        out.pop();
        out.push(composed);
    } else {
        out.push(mark);
    }
}

/// Full-width forms of U+FF61–U+FF9D (the NFKC mapping of half-width
/// katakana and punctuation); the sound marks U+FF9E and U+FF9F are handled
/// apart because they combine with the kana before them.
const HALF_WIDTH_KANA: [char; 61] = [
    '。', '「', '」', '、', '・', 'ヲ', 'ァ', 'ィ', 'ゥ', 'ェ', 'ォ', 'ャ', 'ュ', 'ョ',
    'ッ', // FF61–FF6F
    'ー', 'ア', 'イ', 'ウ', 'エ', 'オ', 'カ', 'キ', 'ク', 'ケ', 'コ', 'サ', 'シ', 'ス', 'セ',
    'ソ', // FF70–FF7F
    'タ', 'チ', 'ツ', 'テ', 'ト', 'ナ', 'ニ', 'ヌ', 'ネ', 'ノ', 'ハ', 'ヒ', 'フ', 'ヘ', 'ホ',
    'マ', // FF80–FF8F
    'ミ', 'ム', 'メ', 'モ', 'ヤ', 'ユ', 'ヨ', 'ラ', 'リ', 'ル', 'レ', 'ロ', 'ワ',
    'ン', // FF90–FF9D
];

/// The kana with a voiced sound mark (濁点) composed, as Unicode canonical
/// composition does: `カ` → `ガ`, `ウ` → `ヴ`, `ワ` → `ヷ`, `か` → `が`.
fn voiced(base: char) -> Option<char> {
    let code = base as u32;
    let composed = match code {
        // カ…チ (every other code point), ツ テ ト; likewise か…ち, つ て と.
        0x30AB..=0x30C1 | 0x304B..=0x3061 if code % 2 == 1 => code + 1,
        0x30C4 | 0x30C6 | 0x30C8 | 0x3064 | 0x3066 | 0x3068 => code + 1,
        // ハ ヒ フ ヘ ホ, は ひ ふ へ ほ (every third code point).
        0x30CF..=0x30DB if (code - 0x30CF) % 3 == 0 => code + 1,
        0x306F..=0x307B if (code - 0x306F) % 3 == 0 => code + 1,
        0x30A6 => 0x30F4,            // ウ → ヴ
        0x3046 => 0x3094,            // う → ゔ
        0x30EF..=0x30F2 => code + 8, // ワ ヰ ヱ ヲ → ヷ ヸ ヹ ヺ
        0x30FD | 0x309D => code + 1, // ヽ → ヾ, ゝ → ゞ
        _ => return None,
    };
    char::from_u32(composed)
}

/// The kana with a semi-voiced sound mark (半濁点) composed: ハ行 → パ行.
fn semi_voiced(base: char) -> Option<char> {
    let code = base as u32;
    match code {
        0x30CF..=0x30DB if (code - 0x30CF) % 3 == 0 => char::from_u32(code + 2),
        0x306F..=0x307B if (code - 0x306F) % 3 == 0 => char::from_u32(code + 2),
        _ => None,
    }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn digits_array<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(text.as_bytes());
    out
}

/// 保険者番号: 8 digits (municipal NHI numbers have 6 and are padded with
/// leading zeros), the last being a check digit (検証番号).
///
/// Held and keyed in the padded 8-digit form ([`InsurerNumber::as_str`]), so
/// that the 6 digits and the same 6 digits padded with `00` are one number;
/// answered as printed on the card ([`InsurerNumber::printed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InsurerNumber([u8; 8]);

impl InsurerNumber {
    /// Parses 8 digits, or 6 for a municipal NHI number (padded with `00`), after
    /// folding full-width digits; refuses a wrong check digit (検証番号).
    pub fn parse(text: &str) -> Result<InsurerNumber, IdError> {
        let normalized = normalize_width(text);
        let digits = normalized.as_ref();
        let padded = match digits.len() {
            8 if is_digits(digits) => digits.to_string(),
            6 if is_digits(digits) => format!("00{digits}"),
            _ => return Err(shape(text, "8 digits (or 6 for municipal NHI)")),
        };
        let number = InsurerNumber(digits_array(&padded));
        let expected = check_digit(&padded.as_bytes()[..7]);
        if padded.as_bytes()[7] - b'0' != expected {
            return Err(IdError::CheckDigit {
                value: text.trim().to_string(),
                expected,
            });
        }
        Ok(number)
    }

    /// Makes a valid insurer number from its first 7 digits by appending the
    /// check digit (used by the synthetic data generator).
    pub fn with_check_digit(first_seven: u32) -> InsurerNumber {
        let body = format!("{:07}", first_seven % 10_000_000);
        let check = check_digit(body.as_bytes());
        InsurerNumber(digits_array(&format!("{body}{check}")))
    }

    /// The canonical 8 digits (6-digit numbers padded with `00`): the form
    /// rows are stored and keyed by.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// As printed on the card: the 6 digits of a municipal NHI (or NHI
    /// society) number, whose padded form starts with `00`; otherwise the 8.
    /// No 8-digit number starts with `00` (法別番号 00 does not exist).
    pub fn printed(&self) -> &str {
        let digits = self.as_str();
        digits.strip_prefix("00").unwrap_or(digits)
    }

    /// 制度: derived from 法別番号 (digits 1–2) and, for NHI, digit 5.
    pub fn scheme(&self) -> Scheme {
        Scheme::from_insurer_digits(&self.0)
    }
}

impl fmt::Display for InsurerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The 検証番号 of an insurer number: a Luhn-style sum over the digits before
/// it, weighting them 2, 1, 2, … from the right and summing the digits of the
/// products; the check digit is what brings the sum to a multiple of ten.
pub fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &b)| {
            let d = u32::from(b - b'0');
            let product = if i % 2 == 0 { d * 2 } else { d };
            product / 10 + product % 10
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// 制度: the insurance scheme an insurer number belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// 市町村国保 (municipal National Health Insurance; 6-digit numbers).
    MunicipalNhi,
    /// 国保組合 (NHI society; 6-digit numbers whose third digit is 3).
    NhiSociety,
    /// 協会けんぽ (法別 01).
    KyokaiKenpo,
    /// 船員保険 (法別 02).
    Seamen,
    /// 日雇特例被保険者 (法別 03, 04).
    DayLabourer,
    /// 組合管掌健康保険, 健保組合 (法別 06).
    HealthSociety,
    /// 自衛官等 (法別 07).
    SelfDefenceForces,
    /// 共済組合 (法別 31–34).
    MutualAid,
    /// 後期高齢者医療 (法別 39).
    LateElderly,
    /// 特例退職被保険者 (法別 63, 72–75).
    SpecialRetiree,
    /// 退職者医療 (法別 67).
    NhiRetiree,
    /// Any other 法別番号.
    Other,
}

impl Scheme {
    fn from_insurer_digits(digits: &[u8; 8]) -> Scheme {
        match (&digits[..2], digits[4]) {
            (b"00", b'3') => Scheme::NhiSociety,
            (b"00", _) => Scheme::MunicipalNhi,
            (b"01", _) => Scheme::KyokaiKenpo,
            (b"02", _) => Scheme::Seamen,
            (b"03" | b"04", _) => Scheme::DayLabourer,
            (b"06", _) => Scheme::HealthSociety,
            (b"07", _) => Scheme::SelfDefenceForces,
            (b"31" | b"32" | b"33" | b"34", _) => Scheme::MutualAid,
            (b"39", _) => Scheme::LateElderly,
            (b"63" | b"72" | b"73" | b"74" | b"75", _) => Scheme::SpecialRetiree,
            (b"67", _) => Scheme::NhiRetiree,
            _ => Scheme::Other,
        }
    }

    /// The machine-readable name used in answers.
    pub fn code(self) -> &'static str {
        match self {
            Scheme::MunicipalNhi => "municipal_nhi",
            Scheme::NhiSociety => "nhi_society",
            Scheme::KyokaiKenpo => "kyokai_kenpo",
            Scheme::Seamen => "seamen",
            Scheme::DayLabourer => "day_labourer",
            Scheme::HealthSociety => "health_society",
            Scheme::SelfDefenceForces => "self_defence_forces",
            Scheme::MutualAid => "mutual_aid",
            Scheme::LateElderly => "late_elderly",
            Scheme::SpecialRetiree => "special_retiree",
            Scheme::NhiRetiree => "nhi_retiree",
            Scheme::Other => "other",
        }
    }

    /// The Japanese name (制度名).
    pub fn name_ja(self) -> &'static str {
        match self {
            Scheme::MunicipalNhi => "市町村国保",
            Scheme::NhiSociety => "国保組合",
            Scheme::KyokaiKenpo => "協会けんぽ",
            Scheme::Seamen => "船員保険",
            Scheme::DayLabourer => "日雇特例",
            Scheme::HealthSociety => "健保組合",
            Scheme::SelfDefenceForces => "自衛官等",
            Scheme::MutualAid => "共済組合",
            Scheme::LateElderly => "後期高齢者医療",
            Scheme::SpecialRetiree => "特例退職",
            Scheme::NhiRetiree => "退職者医療",
            Scheme::Other => "その他",
        }
    }
}

/// 被保険者番号（オンライン確認用）: insurer code (8) + branch number (16), or a
/// municipal insured ID (15).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OnlineNumber {
    digits: [u8; 24],
    len: u8,
}

impl OnlineNumber {
    /// Parses 24 digits (insurer code + branch number) or 15 (municipal insured
    /// ID), after folding full-width digits and trimming blanks.
    pub fn parse(text: &str) -> Result<OnlineNumber, IdError> {
        let normalized = normalize_width(text);
        let digits = normalized.as_ref();
        if !(is_digits(digits) && (digits.len() == 24 || digits.len() == 15)) {
            return Err(shape(
                text,
                "24 digits (insurer code + branch number) or 15 digits (municipal insured ID)",
            ));
        }
        let mut out = [0u8; 24];
        out[..digits.len()].copy_from_slice(digits.as_bytes());
        Ok(OnlineNumber {
            digits: out,
            len: digits.len() as u8,
        })
    }

    /// Builds the online number of a subscription from its parts.
    pub fn from_parts(insurer_code: &InsurerCode, branch: &BranchNumber) -> OnlineNumber {
        let mut digits = [0u8; 24];
        digits[..8].copy_from_slice(&insurer_code.0);
        digits[8..].copy_from_slice(&branch.0);
        OnlineNumber { digits, len: 24 }
    }

    /// The 15-digit online number of a municipal NHI subscription (市町村被保険者ID).
    pub fn from_municipal_id(id: &MunicipalId) -> OnlineNumber {
        let mut digits = [0u8; 24];
        digits[..15].copy_from_slice(&id.0);
        OnlineNumber { digits, len: 15 }
    }

    /// The digits: 24 for insurer code + branch number, 15 for a municipal ID.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Debug for OnlineNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OnlineNumber({})", self.as_str())
    }
}

impl fmt::Display for OnlineNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! fixed_digits {
    ($(#[$doc:meta])* $name:ident, $len:expr, $expected:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Parses exactly the fixed number of digits, after folding
            /// full-width digits and trimming surrounding blanks.
            pub fn parse(text: &str) -> Result<$name, IdError> {
                let normalized = normalize_width(text);
                let digits = normalized.as_ref();
                if digits.len() != $len || !is_digits(digits) {
                    return Err(shape(text, $expected));
                }
                Ok($name(digits_array(digits)))
            }

            /// The digits, in canonical half-width form.
            pub fn as_str(&self) -> &str {
                std::str::from_utf8(&self.0).unwrap_or("")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

fixed_digits!(
    /// 保険者コード: an insurer's partition code in the intermediate server.
    InsurerCode, 8, "8 digits"
);
fixed_digits!(
    /// 被保険者枝番: unique per person within an insurer partition.
    BranchNumber, 16, "16 digits"
);
fixed_digits!(
    /// 市町村被保険者ID: used by municipal NHI instead of the branch number.
    MunicipalId, 15, "15 digits"
);
fixed_digits!(
    /// 医療機関コード: the institution asking.
    InstitutionCode, 10, "10 digits"
);

/// Longest card symbol (記号) accepted, in bytes of UTF-8.
pub const MAX_SYMBOL_BYTES: usize = 38 * 3;
/// Longest card number (番号) accepted, in bytes of UTF-8.
pub const MAX_CARD_NUMBER_BYTES: usize = 64;

/// The card-face key: 保険者番号 + 記号 + 番号 (+ 枝番). The symbol may be
/// absent; the branch may be omitted by the asker, in which case the key can
/// match a whole household.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CardFaceKey {
    /// 保険者番号 printed on the card.
    pub insurer_number: InsurerNumber,
    /// 記号, normalised by [`normalize_card_face`]; empty when the card has none.
    pub symbol: String,
    /// 番号, normalised by [`normalize_card_face`]; never empty.
    pub number: String,
    /// 枝番; `None` when the asker left it out (the key then matches the household).
    pub branch: Option<CardBranch>,
}

/// Separates the parts of a card-face key in its index form; it cannot occur
/// in normalised input (control characters are refused).
pub const KEY_SEPARATOR: u8 = 0x1F;

impl CardFaceKey {
    /// Validates and normalises the four card-face parts; on error, names the
    /// part that failed (`insurer_number`, `symbol`, `number` or `branch`).
    pub fn parse(
        insurer_number: &str,
        symbol: &str,
        number: &str,
        branch: &str,
    ) -> Result<CardFaceKey, (&'static str, IdError)> {
        let insurer_number =
            InsurerNumber::parse(insurer_number).map_err(|e| ("insurer_number", e))?;
        let symbol = card_text(symbol, MAX_SYMBOL_BYTES, false)
            .map_err(|e| ("symbol", e))?
            .into_owned();
        let number = card_text(number, MAX_CARD_NUMBER_BYTES, true)
            .map_err(|e| ("number", e))?
            .into_owned();
        let branch = CardBranch::parse_optional(branch).map_err(|e| ("branch", e))?;
        Ok(CardFaceKey {
            insurer_number,
            symbol,
            number,
            branch,
        })
    }

    /// The bytes the card-face index is keyed by: insurer number, symbol and
    /// number (the branch is matched after the lookup, so that a key without
    /// branch finds the household).
    pub fn index_key(&self) -> FaceIndexKey {
        face_index_key(self.insurer_number.as_str(), &self.symbol, &self.number)
    }
}

/// A card face in index form; on the stack for every real card.
pub type FaceIndexKey = smallvec::SmallVec<[u8; 96]>;

/// Index form of a card face (see [`CardFaceKey::index_key`]).
pub fn face_index_key(insurer_number: &str, symbol: &str, number: &str) -> FaceIndexKey {
    let mut key = FaceIndexKey::new();
    key.extend_from_slice(insurer_number.as_bytes());
    key.push(KEY_SEPARATOR);
    key.extend_from_slice(symbol.as_bytes());
    key.push(KEY_SEPARATOR);
    key.extend_from_slice(number.as_bytes());
    key
}

/// Normalises a card symbol or number ([`normalize_card_face`]): no control
/// characters, bounded length; `required` refuses an empty value.
pub fn card_text(text: &str, max: usize, required: bool) -> Result<Cow<'_, str>, IdError> {
    let normalized = normalize_card_face(text);
    if normalized.len() > max {
        return Err(IdError::TooLong {
            value: text.to_string(),
            max,
        });
    }
    if normalized.chars().any(char::is_control) {
        return Err(shape(text, "printable text without control characters"));
    }
    if required && normalized.is_empty() {
        return Err(shape(text, "present (it is printed on the card)"));
    }
    Ok(normalized)
}

/// 枝番: two digits; a single digit is padded (`1` → `01`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CardBranch([u8; 2]);

impl CardBranch {
    /// Parses one or two digits (padded to two); `None` for an empty cell.
    pub fn parse_optional(text: &str) -> Result<Option<CardBranch>, IdError> {
        let normalized = normalize_width(text);
        let digits = normalized.as_ref();
        match digits.len() {
            0 => Ok(None),
            1 | 2 if is_digits(digits) => {
                let padded = format!("{digits:0>2}");
                Ok(Some(CardBranch(digits_array(&padded))))
            }
            _ => Err(shape(text, "2 digits")),
        }
    }

    /// The two digits, padded (`01`).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

/// Largest X.509 serial: 20 octets (RFC 5280 §4.1.2.2).
pub const MAX_SERIAL_BYTES: usize = 20;

/// A certificate serial number: a non-negative integer of up to 20 bytes,
/// held big-endian without leading zero bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial {
    len: u8,
    bytes: [u8; MAX_SERIAL_BYTES],
}

impl Serial {
    /// Parses a decimal integer, or hex with a `0x` prefix.
    pub fn parse(text: &str) -> Result<Serial, IdError> {
        let normalized = normalize_width(text);
        let text_ref = normalized.as_ref();
        let too_wide = || IdError::TooLong {
            value: text.to_string(),
            max: MAX_SERIAL_BYTES,
        };
        let mut acc = [0u8; MAX_SERIAL_BYTES];
        if let Some(hex) = text_ref
            .strip_prefix("0x")
            .or_else(|| text_ref.strip_prefix("0X"))
        {
            if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(shape(text, "a decimal integer or 0x-prefixed hex"));
            }
            for b in hex.bytes() {
                let digit = (b as char).to_digit(16).unwrap_or(0);
                mul_add(&mut acc, 16, digit).ok_or_else(too_wide)?;
            }
        } else {
            if !is_digits(text_ref) {
                return Err(shape(text, "a decimal integer or 0x-prefixed hex"));
            }
            for b in text_ref.bytes() {
                mul_add(&mut acc, 10, u32::from(b - b'0')).ok_or_else(too_wide)?;
            }
        }
        Ok(Serial::from_be_bytes(&acc).unwrap_or_else(unreachable_serial))
    }

    /// A serial from big-endian bytes (leading zeros ignored); `None` when
    /// more than 20 significant bytes remain.
    pub fn from_be_bytes(bytes: &[u8]) -> Option<Serial> {
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let significant = &bytes[first..];
        if significant.len() > MAX_SERIAL_BYTES {
            return None;
        }
        let mut out = [0u8; MAX_SERIAL_BYTES];
        out[..significant.len()].copy_from_slice(significant);
        Some(Serial {
            len: significant.len() as u8,
            bytes: out,
        })
    }

    /// A serial from a 64-bit value (the form roaring revocation sets hold).
    pub fn from_u64(value: u64) -> Serial {
        Serial::from_be_bytes(&value.to_be_bytes()).unwrap_or_else(unreachable_serial)
    }

    /// Minimal big-endian bytes (empty for zero).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The value when it fits 64 bits (the roaring revocation sets hold these).
    pub fn as_u64(&self) -> Option<u64> {
        let bytes = self.as_bytes();
        (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }
}

/// `from_be_bytes` on a 20-byte buffer cannot fail; this keeps that visible.
fn unreachable_serial() -> Serial {
    Serial {
        len: 0,
        bytes: [0; MAX_SERIAL_BYTES],
    }
}

/// `acc = acc * base + digit` over a big-endian byte array; `None` on overflow.
fn mul_add(acc: &mut [u8; MAX_SERIAL_BYTES], base: u32, digit: u32) -> Option<()> {
    let mut carry = digit;
    for byte in acc.iter_mut().rev() {
        let value = u32::from(*byte) * base + carry;
        *byte = (value & 0xFF) as u8;
        carry = value >> 8;
    }
    (carry == 0).then_some(())
}

impl fmt::Display for Serial {
    /// Canonical form: `0x` and lowercase hex without leading zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        let bytes = self.as_bytes();
        if bytes.is_empty() {
            return f.write_str("0");
        }
        write!(f, "{:x}", bytes[0])?;
        bytes[1..].iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

/// 紐付番号: the person key, an opaque number of up to 20 digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkageNo(pub u128);

impl LinkageNo {
    /// Parses up to 20 digits (leading zeros allowed), after folding full-width
    /// digits and trimming blanks.
    pub fn parse(text: &str) -> Result<LinkageNo, IdError> {
        let normalized = normalize_width(text);
        let digits = normalized.as_ref();
        if !is_digits(digits) || digits.len() > 20 {
            return Err(shape(text, "digits, at most 20"));
        }
        digits
            .parse::<u128>()
            .map(LinkageNo)
            .map_err(|_| shape(text, "digits, at most 20"))
    }

    /// The bytes the linkage index is keyed by.
    pub fn index_key(&self) -> [u8; 16] {
        self.0.to_le_bytes()
    }
}

impl fmt::Display for LinkageNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insurer_number_check_digit_and_padding() {
        let n = InsurerNumber::parse("06139018").unwrap();
        assert_eq!(n.scheme(), Scheme::HealthSociety);
        assert!(matches!(
            InsurerNumber::parse("06139017"),
            Err(IdError::CheckDigit { expected: 8, .. })
        ));
        let municipal = InsurerNumber::with_check_digit(13_801);
        let six = &municipal.as_str()[2..];
        assert_eq!(InsurerNumber::parse(six).unwrap(), municipal);
        assert_eq!(municipal.printed(), six);
        assert_eq!(municipal.printed().len(), 6);
        assert_eq!(InsurerNumber::parse(municipal.as_str()).unwrap(), municipal);
        assert_eq!(n.printed(), "06139018");
        assert_eq!(municipal.scheme(), Scheme::MunicipalNhi);
        assert_eq!(InsurerNumber::parse("０６１３９０１８").unwrap(), n);
        assert_eq!(InsurerNumber::parse("  06139018 ").unwrap(), n);
        assert!(InsurerNumber::parse("0613901").is_err());
        assert!(InsurerNumber::parse("0613901a").is_err());
    }

    #[test]
    fn scheme_from_digits() {
        let scheme = |first: u32| InsurerNumber::with_check_digit(first).scheme();
        assert_eq!(scheme(13_300), Scheme::NhiSociety);
        assert_eq!(scheme(113_001), Scheme::KyokaiKenpo);
        assert_eq!(scheme(3_913_001), Scheme::LateElderly);
        assert_eq!(scheme(3_213_001), Scheme::MutualAid);
        assert_eq!(scheme(9_913_001), Scheme::Other);
    }

    #[test]
    fn serials_decimal_hex_and_wide() {
        let a = Serial::parse("1715004").unwrap();
        let b = Serial::parse("0x1a2b3c").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_string(), "0x1a2b3c");
        assert_eq!(a.as_u64(), Some(0x1a2b3c));
        let wide = Serial::parse("0x0102030405060708090a0b0c0d0e0f1011121314").unwrap();
        assert_eq!(wide.as_bytes().len(), 20);
        assert_eq!(wide.as_u64(), None);
        let decimal_wide =
            Serial::parse("1461501637330902918203684832716283019655932542975").unwrap();
        assert_eq!(decimal_wide.as_bytes(), &[0xFF; 20]);
        assert!(Serial::parse("1461501637330902918203684832716283019655932542976").is_err());
        assert!(Serial::parse("0x010203040506070809000a0b0c0d0e0f1011121314").is_err());
        assert!(Serial::parse("0x").is_err());
        assert!(Serial::parse("-5").is_err());
        assert_eq!(Serial::parse("0").unwrap().to_string(), "0x0");
        assert_eq!(Serial::parse("0x00ff").unwrap(), Serial::from_u64(255));
    }

    #[test]
    fn card_face_normalisation() {
        let key = CardFaceKey::parse("06139018", "　１２ ", "３４５", "1").unwrap();
        assert_eq!(key.symbol, "12");
        assert_eq!(key.number, "345");
        assert_eq!(key.branch.unwrap().as_str(), "01");
        let no_symbol = CardFaceKey::parse("06139018", "", "345", "").unwrap();
        assert_eq!(no_symbol.symbol, "");
        assert_eq!(no_symbol.branch, None);
        assert_eq!(
            CardFaceKey::parse("06139018", "", "", "").unwrap_err().0,
            "number"
        );
        assert_eq!(
            CardFaceKey::parse("06139018", "a", "1", "123")
                .unwrap_err()
                .0,
            "branch"
        );
        let kanji = CardFaceKey::parse("06139018", "東京", "7", "00").unwrap();
        assert_eq!(kanji.symbol, "東京");
    }

    #[test]
    fn card_face_half_width_katakana_folds_to_full_width() {
        assert_eq!(
            normalize_card_face(
                "｡｢｣､･ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ"
            ),
            "。「」、・ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"
        );
        assert_eq!(normalize_card_face("ｶﾞ"), "ガ");
        assert_eq!(normalize_card_face("ﾊﾟ"), "パ");
        assert_eq!(normalize_card_face("ｳﾞｧｲｵﾘﾝ"), "ヴァイオリン");
        assert_eq!(normalize_card_face("ﾄﾞｺﾓ12"), "ドコモ12");
        // Decomposed input (a base kana and the combining mark) composes too.
        assert_eq!(normalize_card_face("カ\u{3099}は\u{309A}"), "ガぱ");
        // A mark with nothing to compose with is the combining mark (NFKC).
        assert_eq!(normalize_card_face("ｱﾞ"), "ア\u{3099}");
        assert_eq!(normalize_card_face("ﾞ1"), "\u{3099}1");
        assert_eq!(normalize_card_face("ｶﾞﾞ"), "ガ\u{3099}");
        assert_eq!(normalize_card_face("ｶﾟ"), "カ\u{309A}");
        // Full-width ASCII, the ideographic space and surrounding blanks.
        assert_eq!(normalize_card_face("\u{3000}ＡＢ\u{3000}ｶﾞ１ \t"), "AB ガ1");
        assert_eq!(normalize_card_face("～！"), "~!");
        // Kanji, hiragana and the spacing marks are kept.
        assert_eq!(normalize_card_face("東京ほけん゛"), "東京ほけん゛");
    }

    #[test]
    fn card_face_canonical_text_is_borrowed() {
        for text in ["", "12", "東京", "ガパ", "ア\u{3099}", "A B", "ガ\u{3099}"] {
            assert!(
                matches!(normalize_card_face(text), Cow::Borrowed(t) if t == text),
                "{text:?} was copied"
            );
            assert_eq!(normalize_card_face(&normalize_card_face(text)), text);
        }
        assert!(matches!(normalize_card_face(" 12 "), Cow::Borrowed("12")));
        for text in ["ｶ", "ＡＢ", "A\u{3000}B", "カ\u{3099}"] {
            assert!(
                matches!(normalize_card_face(text), Cow::Owned(_)),
                "{text:?}"
            );
        }
    }

    #[test]
    fn sound_marks_compose_exactly_as_unicode_does() {
        // The canonical compositions of U+3099 and U+309A in the kana blocks.
        let voiced_pairs = (
            "うかきくけこさしすせそたちつてとはひふへほゝウカキクケコサシスセソタチツテトハヒフヘホワヰヱヲヽ",
            "ゔがぎぐげござじずぜぞだぢづでどばびぶべぼゞヴガギグゲゴザジズゼゾダヂヅデドバビブベボヷヸヹヺヾ",
        );
        let semi_pairs = ("はひふへほハヒフヘホ", "ぱぴぷぺぽパピプペポ");
        for (compose, (bases, composed)) in [
            (voiced as fn(char) -> Option<char>, voiced_pairs),
            (semi_voiced, semi_pairs),
        ] {
            let expected: std::collections::HashMap<char, char> =
                bases.chars().zip(composed.chars()).collect();
            assert_eq!(expected.len(), bases.chars().count());
            for code in 0x3040..=0x30FF {
                let base = char::from_u32(code).unwrap();
                assert_eq!(compose(base), expected.get(&base).copied(), "{base}");
            }
        }
    }

    #[test]
    fn card_face_keys_match_across_widths() {
        let stored = CardFaceKey::parse("06139018", "ｶﾞｸｾｲ", "ﾊﾟ12", "01").unwrap();
        let typed = CardFaceKey::parse("０６１３９０１８", "　ガクセイ", "パ１２", "０１").unwrap();
        assert_eq!(stored, typed);
        assert_eq!(stored.index_key(), typed.index_key());
        assert_eq!(stored.symbol, "ガクセイ");
    }

    #[test]
    fn online_numbers_and_fixed_digits() {
        assert!(OnlineNumber::parse("061390180000000000012345").is_ok());
        assert!(OnlineNumber::parse("131001000012345").is_ok());
        assert!(OnlineNumber::parse("0613901800000000000123").is_err());
        assert!(InstitutionCode::parse("1312345678").is_ok());
        assert!(InstitutionCode::parse("131234567").is_err());
        assert_eq!(LinkageNo::parse("00042").unwrap(), LinkageNo(42));
        assert!(LinkageNo::parse("123456789012345678901").is_err());
    }
}

//! Reading Japan Post's `KEN_ALL.CSV` into an [`AddressBook`].
//!
//! Why a reader of our own: the operator's copy of KEN_ALL is newer than the
//! built-in book, and the file is awkward enough that each quirk needs a
//! rule. The format (Japan Post's readme, 住所の郵便番号 CSV): Shift_JIS
//! (CP932), CRLF, every text field quoted, 15 columns — JIS code, old
//! postal code, postal code, the readings of prefecture, municipality and
//! town in half-width katakana, their names, then six flags (the 12th,
//! "丁目を有する町域", is the one used here). And the quirks:
//!
//! - a town name too long for one line continues on the next lines (same
//!   postal code) while its parentheses are open; its reading continues
//!   likewise, or is repeated on each line;
//! - notes in parentheses (`大通西（１～１９丁目）`, `（その他）`,
//!   `（次のビルを除く）`) are not part of the name, and are dropped;
//! - `以下に掲載がない場合` (the municipality's catch-all code),
//!   `…の次に番地がくる場合` and `…一円` mean the address has no town name;
//! - the floors of a high-rise building (`（１階）`, `（地階・階層不明）`)
//!   have codes of their own, which nobody lives at: they are skipped.
//!
//! Readings become full-width katakana with the sound marks composed
//! ([`normalize_card_face`], as for card faces). A line that does not fit
//! is an error naming the file and the line.

use super::addresses::{AddressBook, BookBuilder, Town};
use crate::model::ids::normalize_card_face;
use anyhow::{anyhow, bail, Context, Result};
use encoding_rs::SHIFT_JIS;
use std::path::Path;

/// Columns of a KEN_ALL line.
const COLUMNS: usize = 15;

/// Reads `path` as KEN_ALL.
pub(super) fn read(path: &Path) -> Result<AddressBook> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse(&bytes).map_err(|e| anyhow!("{}: {e:#}", path.display()))
}

/// One line's fields once decoded.
struct Line {
    number: usize,
    jis: u32,
    postal: u32,
    prefecture_kana: String,
    city_kana: String,
    town_kana: String,
    prefecture: String,
    city: String,
    town: String,
    chome: bool,
}

/// Parses the bytes of a KEN_ALL file.
pub(super) fn parse(bytes: &[u8]) -> Result<AddressBook> {
    let mut builder = BookBuilder::deduplicating();
    let mut open: Option<Line> = None;
    let mut previous_kana = String::new();
    // Shift_JIS never uses 0x0A inside a character, so lines split on bytes.
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.is_empty() {
            continue;
        }
        let line = decode_line(raw, number).with_context(|| format!("line {number}"))?;
        let mut record = match open.take() {
            Some(mut record) => {
                if line.postal != record.postal || line.jis != record.jis {
                    bail!(
                        "line {}: the town of line {} is not closed before a new postal code",
                        number,
                        record.number
                    );
                }
                record.town.push_str(&line.town);
                if line.town_kana != previous_kana {
                    record.town_kana.push_str(&line.town_kana);
                }
                previous_kana = line.town_kana;
                record
            }
            None => {
                previous_kana.clone_from(&line.town_kana);
                line
            }
        };
        if unclosed(&record.town) {
            open = Some(record);
            continue;
        }
        let at = record.number;
        add(&mut builder, &mut record).with_context(|| format!("line {at}"))?;
    }
    if let Some(record) = open {
        bail!(
            "line {}: the town's parenthesis is never closed",
            record.number
        );
    }
    builder.finish()
}

/// Whether more `（` than `）` are open in a town name.
fn unclosed(town: &str) -> bool {
    let opened = town.matches('（').count();
    let closed = town.matches('）').count();
    opened > closed
}

/// Decodes one line into its fields.
fn decode_line(raw: &[u8], number: usize) -> Result<Line> {
    let text = SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(raw)
        .ok_or_else(|| anyhow!("not Shift_JIS text"))?;
    let fields = split_fields(&text)?;
    if fields.len() != COLUMNS {
        bail!("{} fields, expected {COLUMNS}", fields.len());
    }
    let digits = |at: usize, width: usize, what: &str| -> Result<u32> {
        let field = fields[at].trim_end();
        if field.len() != width || !field.bytes().all(|b| b.is_ascii_digit()) {
            bail!("{what} {field:?} is not {width} digits");
        }
        field.parse().map_err(|_| anyhow!("{what} {field:?}"))
    };
    let chome = match fields[11].as_str() {
        "0" => false,
        "1" => true,
        other => bail!("the 丁目 flag is {other:?}, not 0 or 1"),
    };
    Ok(Line {
        number,
        jis: digits(0, 5, "the JIS code")?,
        postal: digits(2, 7, "the postal code")?,
        prefecture_kana: fields[3].clone(),
        city_kana: fields[4].clone(),
        town_kana: fields[5].clone(),
        prefecture: fields[6].clone(),
        city: fields[7].clone(),
        town: fields[8].clone(),
        chome,
    })
}

/// Splits a CSV line: fields separated by commas, optionally in double
/// quotes (a doubled quote inside stands for one).
fn split_fields(line: &str) -> Result<Vec<String>> {
    let mut fields = Vec::with_capacity(COLUMNS);
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => bail!("a quoted field is not closed"),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => bail!("{c:?} after a quoted field"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => bail!("a quote inside an unquoted field"),
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// Cleans a whole record (notes, no-town cases) and adds it to the book.
fn add(builder: &mut BookBuilder, record: &mut Line) -> Result<()> {
    let note = notes(&record.town);
    if note.iter().any(|n| is_floor(n)) {
        return Ok(());
    }
    let mut town = strip_notes(&record.town, '（', '）');
    let mut kana = strip_notes(&record.town_kana, '(', ')');
    if no_town(&town) {
        town.clear();
        kana.clear();
    }
    let at = builder.municipality(
        record.jis,
        &record.prefecture,
        &reading(&record.prefecture_kana),
        &record.city,
        &reading(&record.city_kana),
    )?;
    builder.town(
        at,
        Town {
            postal: record.postal,
            name: town,
            kana: reading(&kana),
            chome: record.chome,
        },
    )
}

/// The texts in `（…）` of a town name.
fn notes(town: &str) -> Vec<&str> {
    let mut notes = Vec::new();
    let mut rest = town;
    while let Some(start) = rest.find('（') {
        let inner = &rest[start + '（'.len_utf8()..];
        let end = inner.find('）').unwrap_or(inner.len());
        notes.push(&inner[..end]);
        rest = inner.get(end + '）'.len_utf8()..).unwrap_or("");
    }
    notes
}

/// A note naming a floor of a building: `１階`, `地階・階層不明`.
fn is_floor(note: &str) -> bool {
    note == "地階・階層不明"
        || note.strip_suffix('階').is_some_and(|floor| {
            !floor.is_empty() && floor.chars().all(|c| ('０'..='９').contains(&c))
        })
}

/// `text` without its parenthesised parts (nested ones included).
fn strip_notes(text: &str, open: char, close: char) -> String {
    let mut depth = 0usize;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth = depth.saturating_sub(1);
        } else if depth == 0 {
            out.push(c);
        }
    }
    out.trim().to_string()
}

/// The town names that mean "no town name" in an address.
fn no_town(town: &str) -> bool {
    town == "以下に掲載がない場合"
        || (town.contains("の次に") && town.ends_with("がくる場合"))
        || (town != "一円" && town.ends_with("一円"))
}

/// A half-width reading in full-width katakana, sound marks composed.
fn reading(kana: &str) -> String {
    normalize_card_face(kana).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp932(text: &str) -> Vec<u8> {
        let (bytes, _, unmappable) = SHIFT_JIS.encode(text);
        assert!(!unmappable);
        bytes.into_owned()
    }

    fn line(postal: &str, kana: &str, town: &str, chome: u8) -> String {
        format!(
            "01101,\"060  \",\"{postal}\",\"ﾎｯｶｲﾄﾞｳ\",\"ｻｯﾎﾟﾛｼﾁｭｳｵｳｸ\",\"{kana}\",\"北海道\",\"札幌市中央区\",\"{town}\",0,0,{chome},0,0,0\r\n"
        )
    }

    #[test]
    fn the_first_lines_of_the_real_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ken_all-head-cp932.csv");
        let book = read(&path).unwrap();
        assert_eq!(book.municipalities.len(), 1);
        let m = &book.municipalities[0];
        assert_eq!(
            (m.jis, m.prefecture, m.name.as_str(), m.kana.as_str()),
            (1101, 1, "札幌市中央区", "サッポロシチュウオウク")
        );
        assert_eq!(m.prefecture_kana, "ホッカイドウ");
        let towns: Vec<(u32, &str, &str, bool)> = book
            .towns
            .iter()
            .map(|t| (t.postal, t.name.as_str(), t.kana.as_str(), t.chome))
            .collect();
        assert_eq!(
            towns,
            [
                (600000, "", "", false),
                (640941, "旭ケ丘", "アサヒガオカ", true),
                (600041, "大通東", "オオドオリヒガシ", true),
                (600042, "大通西", "オオドオリニシ", true),
            ]
        );
    }

    #[test]
    fn a_town_split_over_lines_is_joined_and_its_notes_dropped() {
        let text = [
            line(
                "0600001",
                "ｷﾀ1ｼﾞｮｳﾆｼ(1-19ﾁｮｳﾒ)",
                "北一条西（１～１９丁目）",
                1,
            ),
            line(
                "0213101",
                "ﾊｷﾞｿｳ(ｱｶｲﾉｺ､ｱｼﾉｸﾁ",
                "萩荘（赤猪子、芦ノ口、甘蕨、",
                0,
            ),
            line("0213101", "ｱﾏﾜﾗﾋﾞ)", "老流、大沢）", 0),
            line("0213102", "ﾏｴﾀﾞ(ｿﾉﾀ)", "前田（その他）", 0),
            line("0213102", "ﾏｴﾀﾞ(ｿﾉﾀ)", "前田（その他）", 0),
            line("0213103", "ｵｵﾉ(ﾂｷﾞﾉﾋﾞﾙｦﾉｿﾞｸ)", "大野（次のビルを除く）", 0),
            line("0213104", "ﾀﾞｲｲﾁﾋﾞﾙ(1ｶｲ)", "第一ビル（１階）", 0),
            line(
                "0213105",
                "ｺｽｹﾞﾑﾗﾉﾂｷﾞﾆﾊﾞﾝﾁｶﾞｸﾙﾊﾞｱｲ",
                "小菅村の次に番地がくる場合",
                0,
            ),
            line("0213106", "ｵｸﾀﾏﾁｮｳｲﾁｴﾝ", "奥多摩町一円", 0),
            line("0213107", "ｲﾁｴﾝ", "一円", 0),
            line("0213108", "ﾑﾛﾈﾁｮｳ(ｵﾘｶﾍﾞ)", "室根町（折壁", 0),
            line("0213108", "ﾑﾛﾈﾁｮｳ(ｵﾘｶﾍﾞ)", "、上折壁）", 0),
        ]
        .concat();
        let book = parse(&cp932(&text)).unwrap();
        let towns: Vec<(u32, &str, &str)> = book
            .towns
            .iter()
            .map(|t| (t.postal, t.name.as_str(), t.kana.as_str()))
            .collect();
        assert_eq!(
            towns,
            [
                (600001, "北一条西", "キタ1ジョウニシ"),
                (213101, "萩荘", "ハギソウ"),
                (213102, "前田", "マエダ"),
                (213103, "大野", "オオノ"),
                (213105, "", ""),
                (213106, "", ""),
                (213107, "一円", "イチエン"),
                (213108, "室根町", "ムロネチョウ"),
            ]
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        let cases = [
            (line("060001", "ｱ", "ア", 0), "line 2: the postal code"),
            (
                line("0600001", "ｱ", "ア（", 0),
                "line 2: the town's parenthesis",
            ),
            (line("0600001", "ｱ", "ア", 2), "line 2: the 丁目 flag"),
            ("01101,\"060\"\r\n".to_string(), "line 2: 2 fields"),
            ("01101,\"060\r\n".to_string(), "line 2: a quoted field"),
            (
                line("0600001", "ｱ", "ア", 0).replace("北海道", "東京都"),
                "line 2: JIS code 01101 is in 北海道, not 東京都",
            ),
            (
                line("0600001", "ｱ", "ア,イ", 0),
                "line 2: \"ア,イ\" holds a comma",
            ),
        ];
        for (bad, expected) in cases {
            let text = [line("0600000", "", "以下に掲載がない場合", 0), bad].concat();
            let message = format!("{:#}", parse(&cp932(&text)).unwrap_err());
            assert!(message.starts_with(expected), "{message}");
        }
        let mut bytes = cp932(&line("0600000", "", "", 0));
        bytes.extend_from_slice(b"\x81\r\n");
        let message = format!("{:#}", parse(&bytes).unwrap_err());
        assert!(message.starts_with("line 2: not Shift_JIS"), "{message}");
        assert!(parse(b"").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("KEN_ALL.CSV");
        std::fs::write(&path, cp932(&line("06000x1", "", "", 0))).unwrap();
        let message = format!("{:#}", read(&path).unwrap_err());
        assert!(
            message.contains("KEN_ALL.CSV: line 1: the postal code"),
            "{message}"
        );
    }
}

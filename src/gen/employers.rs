//! Employer names: companies (for 協会けんぽ members, and the companies that
//! run a health society) and school corporations (私学共済).
//!
//! Why: a national dataset names millions of employers, big and small; a
//! few thousand invented ones repeated over 130 million rows would make the
//! employer column compress like no real one. A company is a number drawn
//! log-uniformly below [`COMPANIES`] (a few employ thousands, most a
//! handful), and its name is composed from that number alone: a stem (a
//! family name, a town or municipality, a classic stem such as 東洋, or a
//! loanword), an industry and a legal form, before or after the name
//! (株式会社, 有限会社, 合同会社, 医療法人…). A national run names hundreds of
//! thousands of employers.

use super::addresses::AddressBook;
use super::dwellings::{mix, municipality_stem, Bits};
use super::names::Names;
use super::tables::{COMPANY_STEMS, INDUSTRIES, KATAKANA_WORDS};
use rand::Rng;

/// Distinct companies.
pub(super) const COMPANIES: u32 = 1_000_000;
/// Distinct school corporations.
pub(super) const SCHOOLS: u32 = 8_000;

/// A number below `count`, log-uniformly: number `k` about as often as
/// 1/(k+1).
pub(super) fn draw(rng: &mut impl Rng, count: u32) -> u32 {
    let u: f64 = rng.gen();
    let k = f64::from(count).powf(u) as u32;
    k.saturating_sub(1).min(count.saturating_sub(1))
}

/// What names are composed of.
#[derive(Clone, Copy)]
pub(super) struct Vocabulary<'a> {
    pub(super) names: &'a Names,
    pub(super) book: &'a AddressBook,
}

impl Vocabulary<'_> {
    /// Appends a stem chosen by `bits`.
    fn stem(&self, buf: &mut Vec<u8>, bits: &mut Bits) {
        let push = |buf: &mut Vec<u8>, text: &str| buf.extend_from_slice(text.as_bytes());
        match bits.below(100) {
            0..=34 => {
                let hash = mix(bits.below(1 << 30) as u64);
                push(buf, self.names.family.for_hash(hash).kanji);
            }
            35..=44 => {
                let towns = &self.book.towns;
                let town = towns.get(bits.below(towns.len())).map_or("", |t| &t.name);
                push(
                    buf,
                    if town.is_empty() {
                        COMPANY_STEMS[1]
                    } else {
                        town
                    },
                );
            }
            45..=54 => {
                let all = &self.book.municipalities;
                let m = all.get(bits.below(all.len()));
                push(
                    buf,
                    m.map_or(COMPANY_STEMS[2], |m| municipality_stem(&m.name)),
                );
            }
            55..=79 => push(buf, COMPANY_STEMS[bits.below(COMPANY_STEMS.len())]),
            _ => {
                push(buf, KATAKANA_WORDS[bits.below(KATAKANA_WORDS.len())]);
                if bits.below(3) == 0 {
                    push(buf, KATAKANA_WORDS[bits.below(KATAKANA_WORDS.len())]);
                }
            }
        }
    }

    /// Appends a stem and an industry (佐藤建設, サンシステム).
    fn trade_name(&self, buf: &mut Vec<u8>, bits: &mut Bits) {
        self.stem(buf, bits);
        buf.extend_from_slice(INDUSTRIES[bits.below(INDUSTRIES.len())].as_bytes());
    }

    /// Appends the name of company number `id`.
    pub(super) fn company(&self, buf: &mut Vec<u8>, id: u32) {
        let mut bits = Bits(mix(u64::from(id)) | 1 << 63);
        let push = |buf: &mut Vec<u8>, text: &str| buf.extend_from_slice(text.as_bytes());
        match bits.below(100) {
            0..=32 => {
                push(buf, "株式会社");
                self.trade_name(buf, &mut bits);
            }
            33..=62 => {
                self.trade_name(buf, &mut bits);
                push(buf, "株式会社");
            }
            63..=72 => {
                push(buf, "有限会社");
                self.trade_name(buf, &mut bits);
            }
            73..=77 => {
                self.trade_name(buf, &mut bits);
                push(buf, "有限会社");
            }
            78..=85 => {
                self.trade_name(buf, &mut bits);
                push(buf, "合同会社");
            }
            86..=87 => {
                push(buf, "合資会社");
                self.trade_name(buf, &mut bits);
            }
            88..=93 => {
                push(
                    buf,
                    if bits.below(2) == 0 {
                        "医療法人社団"
                    } else {
                        "医療法人"
                    },
                );
                self.stem(buf, &mut bits);
                push(buf, "会");
            }
            94..=97 => {
                push(buf, "社会福祉法人");
                self.stem(buf, &mut bits);
                push(
                    buf,
                    if bits.below(2) == 0 {
                        "会"
                    } else {
                        "福祉会"
                    },
                );
            }
            _ => {
                push(buf, "一般社団法人");
                self.stem(buf, &mut bits);
                push(buf, "協会");
            }
        }
    }

    /// Appends the name of school corporation number `id` (学校法人…学園).
    pub(super) fn school(&self, buf: &mut Vec<u8>, id: u32) {
        let mut bits = Bits(mix(u64::from(id) | 1 << 40) | 1 << 63);
        buf.extend_from_slice("学校法人".as_bytes());
        self.stem(buf, &mut bits);
        let tail = ["学園", "学院", "学園", "大学", "学舎"];
        buf.extend_from_slice(tail[bits.below(tail.len())].as_bytes());
    }

    /// A large company's trade name, drawn from `rng` (for a health society
    /// named after it), and its name with the legal form.
    pub(super) fn large_company(&self, rng: &mut impl Rng) -> (String, String) {
        let mut bits = Bits(rng.gen::<u64>() | 1 << 63);
        let mut name = Vec::new();
        self.trade_name(&mut name, &mut bits);
        let name = String::from_utf8(name).unwrap_or_default();
        let employer = if bits.below(2) == 0 {
            format!("株式会社{name}")
        } else {
            format!("{name}株式会社")
        };
        (name, employer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashSet;

    #[test]
    fn companies_are_many_and_plain() {
        let vocabulary = Vocabulary {
            names: Names::builtin().unwrap(),
            book: AddressBook::builtin().unwrap(),
        };
        let mut names = HashSet::new();
        for id in 0..100_000 {
            let mut buf = Vec::new();
            vocabulary.company(&mut buf, id);
            let text = String::from_utf8(buf).unwrap();
            assert!(!text.contains([',', '"', '\r', '\n', ' ']), "{text}");
            names.insert(text);
        }
        // Common stems (佐藤, 日本) meet common industries: some names repeat,
        // as real ones do.
        assert!(names.len() > 70_000, "{}", names.len());
        let mut school = Vec::new();
        vocabulary.school(&mut school, 7);
        assert!(String::from_utf8(school).unwrap().starts_with("学校法人"));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let draws: Vec<u32> = (0..10_000).map(|_| draw(&mut rng, COMPANIES)).collect();
        assert!(draws.iter().all(|&d| d < COMPANIES));
        let small = draws.iter().filter(|&&d| d < 1_000).count();
        assert!((4_000..6_000).contains(&small), "{small}");
    }
}

//! Family and given names with their readings, drawn as often as real ones.
//!
//! Why so many: with a hundred surnames a national dataset repeats each
//! name over a million times and compresses like no real one. The built-in
//! lists (`tools/gen-data/derive.py` writes them) come from the
//! japanese-personal-name-dataset package: its 1,999 most common surnames
//! with their estimated bearers, then a long tail of some 90,000 surnames
//! composed from the kanji and readings of the real ones, with Zipf-like
//! bearer counts that carry the curve down to Japan's population (real
//! Japan has about 100,000 surnames); and given names, every kanji spelling
//! of every reading, weighted towards popular ones.
//!
//! Given names are drawn per sex and generation, so that a 90-year-old is
//! rarely called 陽翔: readings of an older fashion (…子, …夫, …郎) are
//! likelier for those born earlier.
//!
//! The lists are embedded gzip-compressed and decoded once, on first use;
//! their text is kept for the life of the process and names borrow from it.

use anyhow::{anyhow, bail, Result};
use flate2::read::GzDecoder;
use rand::Rng;
use std::io::Read;
use std::sync::OnceLock;

const SURNAMES: &[u8] = include_bytes!("data/surnames.tsv.gz");
const GIVEN: &[u8] = include_bytes!("data/given.tsv.gz");

/// Given-name weight multipliers for older-fashioned and other readings, by
/// generation (born up to 1955, 1956–1985, later).
const OLD_STYLE: [u64; 3] = [24, 8, 1];
const OTHER_STYLE: [u64; 3] = [4, 4, 4];

/// A name in kanji with its reading in full-width katakana.
#[derive(Debug)]
pub(super) struct Name {
    pub(super) kanji: &'static str,
    pub(super) kana: &'static str,
}

/// What an empty list would give (the built-in lists never are).
static COMMONEST: Name = Name {
    kanji: "佐藤",
    kana: "サトウ",
};

/// Names drawn by weight in constant time (Walker's alias method: draw a
/// slot uniformly, then keep its name or take its alias).
#[derive(Default)]
pub(super) struct Drawn {
    names: Vec<Name>,
    weights: Vec<u64>,
    /// Per slot: keep the slot's own name when a 32-bit coin is below this.
    keep: Vec<u32>,
    /// Per slot: the name taken otherwise.
    alias: Vec<u32>,
}

impl Drawn {
    fn push(&mut self, name: Name, weight: u64) {
        self.names.push(name);
        self.weights.push(weight.max(1));
    }

    /// Builds the alias table once every name is pushed.
    fn seal(&mut self) {
        let n = self.names.len();
        let total: u128 = self.weights.iter().map(|&w| u128::from(w)).sum();
        if n == 0 || total == 0 {
            return;
        }
        // Each slot holds n * weight / total of one name, scaled to 2^32.
        let scale = |w: u64| (u128::from(w) * (n as u128)) << 32;
        let mut share: Vec<u128> = self.weights.iter().map(|&w| scale(w) / total).collect();
        let full = 1u128 << 32;
        self.keep = vec![u32::MAX; n];
        self.alias = (0..n).map(|i| u32::try_from(i).unwrap_or(0)).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| share[i] < full);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            self.keep[s] = u32::try_from(share[s]).unwrap_or(u32::MAX);
            self.alias[s] = u32::try_from(l).unwrap_or(0);
            share[l] = (share[l] + share[s]).saturating_sub(full);
            if share[l] < full {
                large.pop();
                small.push(l);
            }
        }
    }

    /// Draws one name by weight.
    pub(super) fn pick(&self, rng: &mut impl Rng) -> &Name {
        self.at_bits(rng.gen())
    }

    /// The name 64 random bits stand for.
    fn at_bits(&self, bits: u64) -> &Name {
        let n = self.names.len() as u64;
        let slot = usize::try_from(((bits >> 32) * n) >> 32).unwrap_or(0);
        let coin = bits as u32;
        let at = match (self.keep.get(slot), self.alias.get(slot)) {
            (Some(&keep), _) if coin < keep || keep == u32::MAX => slot,
            (Some(_), Some(&alias)) => alias as usize,
            _ => slot,
        };
        self.names.get(at).unwrap_or(&COMMONEST)
    }

    /// The number of names.
    pub(super) fn len(&self) -> usize {
        self.names.len()
    }

    /// Every name, most frequent first for surnames.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = &Name> {
        self.names.iter()
    }

    /// The name 64 hashed bits stand for, by weight (for names composed
    /// from a hash: an employer or a building named after a family).
    pub(super) fn for_hash(&self, bits: u64) -> &Name {
        self.at_bits(bits)
    }
}

/// The built-in names.
pub(super) struct Names {
    /// Family names by bearers.
    pub(super) family: Drawn,
    /// Given names by sex (0 male, 1 female) and generation.
    given: [[Drawn; 3]; 2],
}

impl Names {
    /// The built-in lists, decoded on first use.
    pub(super) fn builtin() -> Result<&'static Names> {
        static NAMES: OnceLock<Result<Names, String>> = OnceLock::new();
        NAMES
            .get_or_init(|| decode(SURNAMES, GIVEN).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow!("the built-in names are damaged: {e}"))
    }

    /// Given names for `sex` (1 male, 2 female) born in `year`.
    pub(super) fn given(&self, sex: u8, year: i32) -> &Drawn {
        let era = match year {
            ..=1955 => 0,
            1956..=1985 => 1,
            _ => 2,
        };
        &self.given[usize::from(sex == 2)][era]
    }
}

/// Decompresses into text kept for the life of the process.
fn text_of(gz: &[u8]) -> Result<&'static str> {
    let mut text = String::with_capacity(gz.len() * 4);
    GzDecoder::new(gz).read_to_string(&mut text)?;
    Ok(Box::leak(text.into_boxed_str()))
}

fn decode(surnames: &[u8], given: &[u8]) -> Result<Names> {
    let mut names = Names {
        family: Drawn::default(),
        given: Default::default(),
    };
    for (number, line) in text_of(surnames)?.lines().enumerate() {
        let mut fields = line.split('\t');
        let (Some(kanji), Some(kana), Some(bearers), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            bail!("surnames line {}: not 3 fields", number + 1);
        };
        let bearers = bearers
            .parse()
            .map_err(|_| anyhow!("surnames line {}: bad count", number + 1))?;
        names.family.push(Name { kanji, kana }, bearers);
    }
    for (number, line) in text_of(given)?.lines().enumerate() {
        let mut fields = line.split('\t');
        let (Some(sex), Some(kanji), Some(kana), Some(weight), Some(style), None) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            bail!("given names line {}: not 5 fields", number + 1);
        };
        let weight: u64 = weight
            .parse()
            .map_err(|_| anyhow!("given names line {}: bad weight", number + 1))?;
        let sex = match sex {
            "1" => 0,
            "2" => 1,
            _ => bail!("given names line {}: bad sex", number + 1),
        };
        let factors = if style == "o" { OLD_STYLE } else { OTHER_STYLE };
        for (era, factor) in factors.iter().enumerate() {
            names.given[sex][era].push(Name { kanji, kana }, weight * factor);
        }
    }
    if names.family.len() == 0 || names.given.iter().flatten().any(|d| d.len() == 0) {
        bail!("a list is empty");
    }
    names.family.seal();
    names.given.iter_mut().flatten().for_each(Drawn::seal);
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use std::collections::HashSet;

    fn plain(text: &str) -> bool {
        !text.is_empty() && !text.contains([',', '"', '\r', '\n', ' ', '\t'])
    }

    fn katakana(text: &str) -> bool {
        text.chars()
            .all(|c| matches!(c, '\u{30A1}'..='\u{30FA}' | 'ー' | 'ヽ' | 'ヾ'))
    }

    #[test]
    fn names_need_no_csv_quoting_and_read_in_katakana() {
        let started = std::time::Instant::now();
        decode(SURNAMES, GIVEN).unwrap();
        println!("decoded the names in {:?}", started.elapsed());
        let names = Names::builtin().unwrap();
        let given = names.given.iter().flatten().flat_map(Drawn::iter);
        for name in names.family.iter().chain(given) {
            assert!(plain(name.kanji) && plain(name.kana), "{name:?}");
            assert!(katakana(name.kana), "{name:?}");
        }
        assert!(names.family.len() > 50_000);
        assert_eq!(names.family.iter().next().unwrap().kanji, "佐藤");
    }

    #[test]
    fn a_million_persons_carry_tens_of_thousands_of_surnames() {
        let names = Names::builtin().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // About one surname per household of a million persons.
        let draws = 420_000;
        let mut seen = HashSet::new();
        let mut sato = 0;
        for _ in 0..draws {
            let name = names.family.pick(&mut rng);
            sato += usize::from(name.kanji == "佐藤");
            seen.insert(name.kanji);
        }
        assert!(seen.len() > 15_000, "{}", seen.len());
        // 佐藤 is about 1.5% of Japan.
        let share = sato as f64 / f64::from(draws);
        assert!((0.01..0.02).contains(&share), "{share}");
    }

    #[test]
    fn older_generations_have_older_names() {
        let names = Names::builtin().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let ko = |year: i32, rng: &mut ChaCha8Rng| {
            (0..20_000)
                .filter(|_| {
                    let name = names.given(2, year).pick(rng);
                    name.kana.ends_with('コ')
                })
                .count()
        };
        let (old, young) = (ko(1940, &mut rng), ko(2010, &mut rng));
        assert!(old > young * 4, "{old} {young}");
    }
}

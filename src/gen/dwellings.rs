//! The part of an address after the town: the lot (丁目・番地・号) and, for
//! the households in flats, the building's name and the room.
//!
//! Why: real addresses write their lots in several ways (`一丁目2番3号`,
//! `1-2-3`, `123番地4`), and four in ten households live in a block of
//! flats whose name (サンハイツ大通, コーポ田中) and room number follow the
//! lot; an address column without them would be more uniform, and compress
//! better, than the real one. A household draws a [`Lot`] and perhaps a
//! [`Building`] (a few bytes, drawn once); the text is composed when a row
//! is written.

use super::cells;
use super::names::Names;
use super::tables::{BUILDING_KINDS, BUILDING_PREFIXES, KATAKANA_WORDS};
use rand::Rng;

/// 丁目 as written in kanji.
const CHOME: [&str; 9] = ["一", "二", "三", "四", "五", "六", "七", "八", "九"];

/// The lot of an address.
#[derive(Clone, Copy, Debug)]
pub(super) enum Lot {
    /// In a town with 丁目: 丁目, 番 (or 街区), 号, and how it is written.
    Chome {
        chome: u8,
        ban: u8,
        go: u8,
        style: u8,
    },
    /// Elsewhere: 番地 and an optional sub-number (0 for none).
    Banchi { number: u16, sub: u8, style: u8 },
}

impl Lot {
    /// Draws a lot for a town with (`chome`) or without 丁目.
    pub(super) fn draw(rng: &mut impl Rng, chome: bool) -> Lot {
        if chome {
            let highest = rng.gen_range(1..=9u8);
            Lot::Chome {
                chome: rng.gen_range(1..=highest),
                ban: rng.gen_range(1..=40),
                go: rng.gen_range(1..=30),
                style: rng.gen_range(0..100),
            }
        } else {
            // Log-uniform 1–3000: small numbers are commoner.
            let u: f64 = rng.gen();
            let number = (3_000f64.powf(u) as u16).clamp(1, 3_000);
            Lot::Banchi {
                number,
                sub: if rng.gen_bool(0.55) {
                    rng.gen_range(1..=40)
                } else {
                    0
                },
                style: rng.gen_range(0..100),
            }
        }
    }

    /// Appends the lot: `一丁目2番3号`, `1丁目2番3号`, `1丁目2-3`, `1-2-3`;
    /// `123番地`, `123番地4`, `123-4`, `123番4号`.
    pub(super) fn write(self, buf: &mut Vec<u8>) {
        let push = |buf: &mut Vec<u8>, text: &str| buf.extend_from_slice(text.as_bytes());
        match self {
            Lot::Chome {
                chome,
                ban,
                go,
                style,
            } => {
                let (ban, go) = (u64::from(ban), u64::from(go));
                match style {
                    0..=44 => {
                        push(buf, CHOME[usize::from(chome.clamp(1, 9)) - 1]);
                        push(buf, "丁目");
                        cells::push_u64(buf, ban);
                        push(buf, "番");
                        cells::push_u64(buf, go);
                        push(buf, "号");
                    }
                    45..=64 => {
                        cells::push_u64(buf, u64::from(chome));
                        push(buf, "丁目");
                        cells::push_u64(buf, ban);
                        push(buf, "番");
                        cells::push_u64(buf, go);
                        push(buf, "号");
                    }
                    65..=79 => {
                        cells::push_u64(buf, u64::from(chome));
                        push(buf, "丁目");
                        cells::push_u64(buf, ban);
                        push(buf, "-");
                        cells::push_u64(buf, go);
                    }
                    _ => {
                        cells::push_u64(buf, u64::from(chome));
                        push(buf, "-");
                        cells::push_u64(buf, ban);
                        push(buf, "-");
                        cells::push_u64(buf, go);
                    }
                }
            }
            Lot::Banchi { number, sub, style } => {
                cells::push_u64(buf, u64::from(number));
                let sub = u64::from(sub);
                match (style, sub) {
                    (_, 0) => push(buf, "番地"),
                    (0..=44, _) => {
                        push(buf, "番地");
                        cells::push_u64(buf, sub);
                    }
                    (45..=89, _) => {
                        push(buf, "-");
                        cells::push_u64(buf, sub);
                    }
                    _ => {
                        push(buf, "番");
                        cells::push_u64(buf, sub);
                        push(buf, "号");
                    }
                }
            }
        }
    }
}

/// A household's block of flats and room: the name is composed from `seed`
/// when written.
#[derive(Clone, Copy, Debug)]
pub(super) struct Building {
    seed: u32,
    floor: u8,
    room: u8,
}

impl Building {
    /// Whether a household in a municipality named `municipality` lives in
    /// flats: most in wards, fewer in cities, few in towns and villages.
    pub(super) fn draw(rng: &mut impl Rng, municipality: &str) -> Option<Building> {
        let share = match municipality.chars().last() {
            Some('区') => 0.6,
            Some('市') => 0.4,
            _ => 0.12,
        };
        rng.gen_bool(share).then(|| Building {
            seed: rng.gen(),
            floor: rng.gen(),
            room: rng.gen_range(1..=12),
        })
    }

    /// Appends ` name room`: a space, the building's name, the room number
    /// (`203`, `1205号室`). `town` (or else `municipality`) may lend the
    /// building its name, as may a family name of `names`.
    pub(super) fn write(self, buf: &mut Vec<u8>, names: &Names, town: &str, municipality: &str) {
        let mut bits = Bits(mix(u64::from(self.seed) | 1 << 32) | 1 << 63);
        let push = |buf: &mut Vec<u8>, text: &str| buf.extend_from_slice(text.as_bytes());
        let place = if town.is_empty() {
            municipality_stem(municipality)
        } else {
            town
        };
        let kind = BUILDING_KINDS[bits.below(BUILDING_KINDS.len())];
        let word = KATAKANA_WORDS[bits.below(KATAKANA_WORDS.len())];
        buf.push(b' ');
        let large = match bits.below(100) {
            0..=29 => {
                push(buf, word);
                push(buf, kind);
                BUILDING_KINDS[..6].contains(&kind)
            }
            30..=39 => {
                push(buf, word);
                push(buf, KATAKANA_WORDS[bits.below(KATAKANA_WORDS.len())]);
                push(buf, kind);
                true
            }
            40..=59 => {
                push(buf, place);
                push(buf, kind);
                BUILDING_KINDS[..6].contains(&kind)
            }
            60..=74 => {
                push(buf, BUILDING_PREFIXES[bits.below(BUILDING_PREFIXES.len())]);
                push(buf, if bits.below(2) == 0 { place } else { word });
                true
            }
            _ => {
                // Named after the owner: 田中荘, コーポ佐藤, 佐藤ハイツ.
                let owner = names.family.for_hash(mix(u64::from(self.seed))).kanji;
                match bits.below(4) {
                    0 => {
                        push(buf, "コーポ");
                        push(buf, owner);
                    }
                    1 => {
                        push(buf, owner);
                        push(buf, "荘");
                    }
                    2 => {
                        push(buf, owner);
                        push(buf, "アパート");
                    }
                    _ => {
                        push(buf, owner);
                        push(buf, "ハイツ");
                    }
                }
                false
            }
        };
        match bits.below(20) {
            0..=1 => push(buf, "Ⅱ"),
            2 => push(buf, "Ⅲ"),
            3 => push(buf, "2"),
            4 => push(buf, "A棟"),
            5 => push(buf, "B棟"),
            6 => push(buf, "東館"),
            _ => {}
        }
        let floors = if large { 14 } else { 3 };
        let floor = 1 + u64::from(self.floor) % floors;
        cells::push_u64(buf, floor * 100 + u64::from(self.room));
        if bits.below(3) == 0 {
            push(buf, "号室");
        }
    }
}

/// A municipality's name without its county and its 市/区/町/村
/// (石狩郡当別町 → 当別).
pub(super) fn municipality_stem(name: &str) -> &str {
    let local = match name.char_indices().find(|&(_, c)| c == '郡') {
        Some((at, _)) if at > 0 && !name.ends_with('市') => &name[at + '郡'.len_utf8()..],
        _ => name,
    };
    match local.char_indices().last() {
        Some((at, c)) if at > 0 && matches!(c, '市' | '区' | '町' | '村') => &local[..at],
        _ => local,
    }
}

/// A bijective scramble of a number (splitmix64's finaliser).
pub(super) fn mix(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Successive small choices taken from one 64-bit value.
pub(super) struct Bits(pub(super) u64);

impl Bits {
    /// A value below `n` (n ≥ 1), consuming about log2(n) bits; the value
    /// is remixed when it runs low.
    pub(super) fn below(&mut self, n: usize) -> usize {
        let n = n.max(1) as u64;
        if self.0 < n * 1024 {
            self.0 = self
                .0
                .wrapping_add(0x9E37_79B9_7F4A_7C15)
                .wrapping_mul(0xBF58_476D_1CE4_E5B9)
                | (1 << 63);
        }
        let value = self.0 % n;
        self.0 /= n;
        usize::try_from(value).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn lots_and_buildings_read_like_addresses() {
        let names = Names::builtin().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut forms = std::collections::HashSet::new();
        for k in 0..2_000 {
            let mut buf = Vec::new();
            Lot::draw(&mut rng, k % 2 == 0).write(&mut buf);
            if let Some(building) = Building::draw(&mut rng, "札幌市中央区") {
                building.write(
                    &mut buf,
                    names,
                    if k % 3 == 0 { "" } else { "大通西" },
                    "札幌市中央区",
                );
            }
            let text = String::from_utf8(buf).unwrap();
            assert!(!text.contains([',', '"', '\r', '\n']), "{text}");
            assert!(text.matches(' ').count() <= 1, "{text}");
            let shape: String = text
                .split(' ')
                .next()
                .unwrap()
                .chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect();
            forms.insert(shape.replace("99", "9").replace("99", "9"));
        }
        for form in [
            "一丁目9番9号",
            "9丁目9番9号",
            "9丁目9-9",
            "9-9-9",
            "9番地",
            "9番地9",
            "9-9",
            "9番9号",
        ] {
            assert!(forms.contains(form), "{form} missing from {forms:?}");
        }
    }

    #[test]
    fn municipality_stems() {
        assert_eq!(municipality_stem("札幌市"), "札幌");
        assert_eq!(municipality_stem("石狩郡当別町"), "当別");
        assert_eq!(municipality_stem("大和郡山市"), "大和郡山");
        assert_eq!(municipality_stem("郡山市"), "郡山");
        assert_eq!(municipality_stem("新宿区"), "新宿");
        assert_eq!(municipality_stem("市"), "市");
    }
}

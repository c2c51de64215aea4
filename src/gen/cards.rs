//! My Number card certificates of the synthetic persons: `linkage.csv`
//! (serial → person), `renewals.csv` (new serial → old serial) and
//! `revoked.csv` (the CRL as CSV).
//!
//! About 70% of persons have a linked card. A renewed card's linkage row
//! still holds the old serial (the renewal pair moves the person to the new
//! one) and the old serial is revoked as `superseded`, as the JPKI CA does.
//! About 1% of current serials are revoked or suspended (`certificateHold`),
//! deceased persons' certificates end with `cessationOfOperation`, and a few
//! revoked serials were never linked at all. Serials are mostly decimal
//! below 2^63, about 1% are written as `0x` hex, and a handful are wider
//! than 64 bits (17–20 bytes).

use super::calendar::between;
use super::cells;
use super::keys::{self, Slot};
use super::people::ChunkOutput;
use crate::model::Date;
use rand::Rng;

/// Columns of `linkage.csv`, `renewals.csv` and `revoked.csv`.
pub(super) const LINKAGE_COLUMNS: [&str; 2] = ["serial", "linkage_no"];
pub(super) const RENEWAL_COLUMNS: [&str; 2] = ["new_serial", "old_serial"];
pub(super) const REVOKED_COLUMNS: [&str; 3] = ["serial", "revoked_at", "reason"];

/// Why a certificate is on the CRL (RFC 5280 CRLReason names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Revocation {
    KeyCompromise,
    AffiliationChanged,
    CessationOfOperation,
    Superseded,
    /// Suspended (一時停止), not revoked.
    Hold,
}

impl Revocation {
    fn name(self) -> &'static str {
        match self {
            Revocation::KeyCompromise => "keyCompromise",
            Revocation::AffiliationChanged => "affiliationChanged",
            Revocation::CessationOfOperation => "cessationOfOperation",
            Revocation::Superseded => "superseded",
            Revocation::Hold => "certificateHold",
        }
    }

    /// A reason for a revocation other than renewal or death: nearly half
    /// are suspensions, so that with the deceased's certificates about a
    /// fifth of the CRL (beyond superseded serials) is `certificateHold`.
    fn draw(rng: &mut impl Rng) -> Revocation {
        match rng.gen_range(0..20) {
            0..=8 => Revocation::Hold,
            9..=13 => Revocation::KeyCompromise,
            14..=17 => Revocation::AffiliationChanged,
            _ => Revocation::CessationOfOperation,
        }
    }
}

/// What happens to one person beyond their household's story: their card,
/// and the rarer events of their own rows.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fate {
    /// Has a linked My Number card.
    pub card: bool,
    /// The card was renewed (a renewal pair, the old serial superseded).
    pub renewed: bool,
    /// Serials written as `0x` hex.
    pub hex: bool,
    /// The linked serial is wider than 64 bits.
    pub wide: bool,
    /// The current certificate is on the CRL.
    pub revocation: Option<Revocation>,
    /// A revoked certificate that was never linked.
    pub unlinked: bool,
    /// An extra row acquired and lost on the same day.
    pub same_day: bool,
    /// Lost and later re-acquired at the same subscription (seq 2).
    pub reacquire: bool,
    /// A benefit period (給付開始/終了) on the current row.
    pub benefit: bool,
    /// Died (loss reason 01).
    pub dies: bool,
}

/// Share of persons whose latest row was lost by death, by age.
fn death_rate(age: i32) -> f64 {
    match age {
        ..=59 => 0.002,
        60..=74 => 0.01,
        75..=84 => 0.04,
        _ => 0.12,
    }
}

/// Draws a person's fate.
pub(super) fn draw_fate(rng: &mut impl Rng, age: i32) -> Fate {
    let card = rng.gen_bool(0.70);
    Fate {
        card,
        renewed: card && rng.gen_bool(0.03),
        hex: rng.gen_bool(0.01),
        wide: card && rng.gen_bool(0.000_01),
        revocation: (card && rng.gen_bool(0.01)).then(|| Revocation::draw(rng)),
        unlinked: rng.gen_bool(0.002),
        same_day: rng.gen_bool(0.001),
        reacquire: rng.gen_bool(0.005),
        benefit: rng.gen_bool(0.003),
        dies: rng.gen_bool(death_rate(age)),
    }
}

/// A serial as written: decimal, `0x` hex, or wide hex (up to 20 bytes).
struct SerialText {
    text: [u8; 42],
    len: usize,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl SerialText {
    fn new(value: u64, hex: bool) -> SerialText {
        let mut serial = SerialText {
            text: [0; 42],
            len: 0,
        };
        if hex {
            serial.push(b"0x");
            let digits = (64 - value.leading_zeros()).div_ceil(4).max(1);
            for nibble in (0..digits).rev() {
                serial.push(&[HEX[(value >> (nibble * 4) & 0xF) as usize]]);
            }
        } else {
            serial.push(itoa::Buffer::new().format(value).as_bytes());
        }
        serial
    }

    /// `value` below `extra` random high bytes (the first at least 0x10),
    /// so 17–20 bytes in all.
    fn wide(value: u64, rng: &mut impl Rng) -> SerialText {
        let mut serial = SerialText {
            text: [0; 42],
            len: 0,
        };
        serial.push(b"0x");
        let extra = rng.gen_range(9..=12);
        for i in 0..extra {
            let byte: u8 = if i == 0 {
                rng.gen_range(0x10..=0xFF)
            } else {
                rng.gen()
            };
            serial.push_byte(byte);
        }
        for byte in value.to_be_bytes() {
            serial.push_byte(byte);
        }
        serial
    }

    fn push(&mut self, bytes: &[u8]) {
        self.text[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn push_byte(&mut self, byte: u8) {
        self.push(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xF)]]);
    }

    fn cell(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(&self.text[..self.len]);
        cells::sep(buf);
    }
}

fn revoke(out: &mut ChunkOutput, serial: &SerialText, at: Date, reason: Revocation) {
    serial.cell(&mut out.revoked);
    cells::date(&mut out.revoked, Some(at));
    cells::text(&mut out.revoked, reason.name());
    cells::end_row(&mut out.revoked);
    if reason == Revocation::Hold {
        out.counts.suspended += 1;
    } else {
        out.counts.revoked += 1;
    }
}

/// Writes person `person`'s linkage, renewal and revocation rows; `death`
/// is the date they died, if they did.
pub(super) fn write(
    out: &mut ChunkOutput,
    rng: &mut impl Rng,
    today: Date,
    person: u64,
    fate: &Fate,
    death: Option<Date>,
) {
    if fate.card {
        let linked_value = keys::serial(person, Slot::Main);
        let linked = if fate.wide {
            SerialText::wide(linked_value, rng)
        } else {
            SerialText::new(linked_value, fate.hex)
        };
        linked.cell(&mut out.linkage);
        cells::number(&mut out.linkage, keys::linkage_no(person));
        cells::end_row(&mut out.linkage);
        out.counts.linked += 1;
        let mut current = linked;
        let mut since = today.add_days(-730);
        if fate.renewed {
            let renewed = SerialText::new(keys::serial(person, Slot::Other), fate.hex);
            let at = between(rng, today.add_days(-365), today);
            renewed.cell(&mut out.renewals);
            current.cell(&mut out.renewals);
            cells::end_row(&mut out.renewals);
            out.counts.renewals += 1;
            revoke(out, &current, at, Revocation::Superseded);
            current = renewed;
            since = at;
        }
        match (fate.revocation, death) {
            (Some(Revocation::Hold), _) => {
                let at = between(rng, since.max(today.add_days(-60)), today);
                revoke(out, &current, at, Revocation::Hold);
            }
            (Some(reason), _) => {
                let at = between(rng, since, today);
                revoke(out, &current, at, reason);
            }
            (None, Some(died)) => {
                let at = died.add_days(rng.gen_range(0..=30)).min(today);
                revoke(out, &current, at, Revocation::CessationOfOperation);
            }
            (None, None) => {}
        }
    }
    if fate.unlinked {
        let serial = SerialText::new(keys::serial(person, Slot::Extra), fate.hex);
        let at = between(rng, today.add_days(-730), today);
        revoke(out, &serial, at, Revocation::draw(rng));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Serial;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn text(serial: &SerialText) -> &str {
        std::str::from_utf8(&serial.text[..serial.len]).unwrap()
    }

    #[test]
    fn serial_forms_parse_to_the_same_value() {
        let value = 0x1a2b_3c4d_5e6f_7081;
        let decimal = SerialText::new(value, false);
        let hex = SerialText::new(value, true);
        assert_eq!(text(&hex), "0x1a2b3c4d5e6f7081");
        assert_eq!(Serial::parse(text(&decimal)), Serial::parse(text(&hex)));
        assert_eq!(text(&SerialText::new(0, true)), "0x0");
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..100 {
            let wide = SerialText::wide(value, &mut rng);
            let parsed = Serial::parse(text(&wide)).unwrap();
            assert!((17..=20).contains(&parsed.as_bytes().len()));
            assert!(parsed.as_u64().is_none());
            assert_eq!(
                parsed.as_bytes()[parsed.as_bytes().len() - 8..],
                value.to_be_bytes()
            );
        }
    }
}

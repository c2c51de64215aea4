//! Identifiers derived from a person's global index: linkage numbers, branch
//! numbers, municipal IDs and certificate serials.
//!
//! Each is a bijective scramble of `index * 4 + slot` (multiplication by an
//! odd constant and xor-shifts, both invertible modulo 2^bits), so values
//! look random yet are unique by construction, never reused, and the same
//! whatever the chunking or thread count.

/// Which of a person's keys: the current subscription or certificate, the
/// one at another insurer (or the renewed certificate), and a third one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Slot {
    Main = 0,
    Other = 1,
    Extra = 2,
}

/// Largest number of persons the key space allows (`4 * persons` must fit
/// the 43 bits of a municipal ID).
pub(super) const MAX_PERSONS: u64 = 1 << 40;

fn scramble(value: u64, bits: u32) -> u64 {
    let mask = (1u64 << bits) - 1;
    let mut v = value & mask;
    v = v.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask;
    v ^= v >> (bits / 2);
    v = v.wrapping_mul(0xBF58_476D_1CE4_E5B9) & mask;
    v ^= v >> (bits / 3);
    v
}

fn slot_key(person: u64, slot: Slot) -> u64 {
    person * 4 + slot as u64 + 1
}

/// 紐付番号: at most 16 digits (below 2^53), never zero.
pub(super) fn linkage_no(person: u64) -> u64 {
    scramble(person + 1, 53)
}

/// 被保険者枝番 (16 digits when zero-padded).
pub(super) fn branch_no(person: u64, slot: Slot) -> u64 {
    scramble(slot_key(person, slot), 53)
}

/// The 13 digits of a 市町村被保険者ID after the prefecture code.
pub(super) fn municipal_serial(person: u64, slot: Slot) -> u64 {
    scramble(slot_key(person, slot), 43)
}

/// A certificate serial below 2^62 (so below 2^63 as JPKI's are), never zero.
pub(super) fn serial(person: u64, slot: Slot) -> u64 {
    scramble(slot_key(person, slot), 62)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_are_unique_and_in_range() {
        let mut linkage = HashSet::new();
        let mut branches = HashSet::new();
        let mut municipal = HashSet::new();
        let mut serials = HashSet::new();
        for person in 0..50_000 {
            let l = linkage_no(person);
            assert!(l > 0 && l < 10u64.pow(16));
            assert!(linkage.insert(l));
            for slot in [Slot::Main, Slot::Other, Slot::Extra] {
                assert!(branches.insert(branch_no(person, slot)));
                assert!(municipal_serial(person, slot) < 10u64.pow(13));
                assert!(municipal.insert(municipal_serial(person, slot)));
                let s = serial(person, slot);
                assert!(s > 0 && s < 1 << 62);
                assert!(serials.insert(s));
            }
        }
        assert!(slot_key(MAX_PERSONS - 1, Slot::Extra) < 1 << 43);
    }
}

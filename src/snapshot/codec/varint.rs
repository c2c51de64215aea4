//! LEB128 variable-length integers: seven bits a byte, low bits first, the
//! high bit set on every byte but the last. Small values (dictionary ids,
//! lengths, counts) take one or two bytes.
//!
//! Reading is bounds-checked and refuses an encoding longer than the type
//! allows, so damaged bytes give `None`, never a panic or a wrong-width value.

/// Appends `value` to `out`.
pub fn put(out: &mut Vec<u8>, value: u64) {
    put_u128(out, u128::from(value));
}

/// Appends a 128-bit `value` to `out` (linkage numbers).
pub fn put_u128(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a value of at most 64 bits from the front of `bytes`, advancing it.
#[inline]
pub fn get(bytes: &mut &[u8]) -> Option<u64> {
    u64::try_from(get_bits(bytes, 64)?).ok()
}

/// Reads a value of at most 128 bits from the front of `bytes`, advancing it.
pub fn get_u128(bytes: &mut &[u8]) -> Option<u128> {
    get_bits(bytes, 128)
}

#[inline]
fn get_bits(bytes: &mut &[u8], bits: u32) -> Option<u128> {
    let mut value = 0u128;
    let mut shift = 0u32;
    for (index, &byte) in bytes.iter().enumerate() {
        let part = u128::from(byte & 0x7F);
        let room = bits.checked_sub(shift).filter(|&room| room > 0)?;
        if room < 7 && part >> room != 0 {
            return None;
        }
        value |= part << shift;
        if byte & 0x80 == 0 {
            *bytes = &bytes[index + 1..];
            return Some(value);
        }
        shift += 7;
    }
    None
}

/// Reads `len` bytes from the front of `bytes`, advancing it.
#[inline]
pub fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    if bytes.len() < len {
        return None;
    }
    let (head, rest) = bytes.split_at(len);
    *bytes = rest;
    Some(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_at_the_extremes() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put(&mut out, value);
            let mut rest = out.as_slice();
            assert_eq!(get(&mut rest), Some(value));
            assert!(rest.is_empty());
        }
        for value in [0, u128::from(u64::MAX) + 1, u128::MAX] {
            let mut out = Vec::new();
            put_u128(&mut out, value);
            let mut rest = out.as_slice();
            assert_eq!(get_u128(&mut rest), Some(value));
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn refuses_truncated_and_overlong_encodings() {
        let mut out = Vec::new();
        put(&mut out, u64::MAX);
        let mut truncated = &out[..out.len() - 1];
        assert_eq!(get(&mut truncated), None);
        // 2^64 does not fit 64 bits.
        let mut wide = Vec::new();
        put_u128(&mut wide, u128::from(u64::MAX) + 1);
        assert_eq!(get(&mut wide.as_slice()), None);
        // Eleven continuation bytes never end.
        assert_eq!(get(&mut [0x80u8; 11].as_slice()), None);
        assert_eq!(get(&mut [].as_slice()), None);
    }
}

//! SHA-256 digests as shikaku names things by them: a token as kept
//! (only its hash), a certificate's fingerprint (pinned in the registries),
//! the audit log's chain. One type, one hex form (lower case), one reader
//! (upper or lower case, with or without the colons `openssl x509
//! -fingerprint` prints).

use std::fmt;

/// A SHA-256 digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sha256([u8; 32]);

impl Sha256 {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Sha256 {
        let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Sha256(out)
    }

    /// Reads 64 hex digits, colons between bytes allowed; `None` otherwise.
    pub fn parse(text: &str) -> Option<Sha256> {
        let digits: String = text.chars().filter(|&c| c != ':').collect();
        if digits.len() != 64 || !digits.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(Sha256(out))
    }

    /// The digest's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Lower-case hex, 64 digits.
impl fmt::Display for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn digests_print_and_read_back_with_or_without_colons() {
        let hash = Sha256::of(b"abc");
        assert_eq!(hash.to_string(), ABC);
        assert_eq!(Sha256::parse(ABC), Some(hash));
        let colons: Vec<String> = hash.bytes().iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(Sha256::parse(&colons.join(":")), Some(hash));
        assert_eq!(Sha256::parse("abc"), None);
        assert_eq!(Sha256::parse(&"zz".repeat(32)), None);
        assert_eq!(Sha256::parse(&"é".repeat(32)), None);
    }
}

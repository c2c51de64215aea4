//! The revocation sets: which certificate serials are revoked and which are
//! suspended (certificateHold).
//!
//! Serials that fit 64 bits (all of JPKI's in practice) live in roaring
//! treemaps: about 2–3 bytes per serial for dense ranges and a lookup in tens
//! of nanoseconds. X.509 allows 20-byte serials, so wider ones are kept in a
//! sorted list beside them rather than being truncated or refused.

use crate::model::Revocation;
use crate::model::Serial;
use crate::storage::{FileEntry, FileError, FileKind, Mapped, Verification};
use rkyv::{Archive, Serialize};
use roaring::RoaringTreemap;
use std::path::Path;

/// Name of the revocation-sets file in a snapshot or a CRL directory.
pub const REVOCATIONS_FILE: &str = "revocations.rkyv";

/// Revocation sets: portable roaring serialisations for serials that fit
/// 64 bits, sorted lists for the (rare) wider ones.
#[derive(Archive, Serialize, Debug, Default)]
pub struct RevocationFile {
    /// Revoked serials that fit 64 bits, as a portable roaring treemap.
    pub revoked: Vec<u8>,
    /// Suspended (certificateHold) serials that fit 64 bits, as a portable
    /// roaring treemap.
    pub suspended: Vec<u8>,
    /// Wide serials, big-endian, right-aligned in 20 bytes, sorted.
    pub wide_revoked: Vec<[u8; 20]>,
    /// Wide suspended serials, big-endian, right-aligned in 20 bytes, sorted.
    pub wide_suspended: Vec<[u8; 20]>,
}

/// The revoked and suspended serials in memory, ready for lookups; a serial
/// is in at most one of the two.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RevocationSets {
    revoked: RoaringTreemap,
    suspended: RoaringTreemap,
    wide_revoked: Vec<[u8; 20]>,
    wide_suspended: Vec<[u8; 20]>,
}

fn wide_key(serial: &Serial) -> [u8; 20] {
    let bytes = serial.as_bytes();
    let mut out = [0u8; 20];
    out[20 - bytes.len()..].copy_from_slice(bytes);
    out
}

impl RevocationSets {
    /// What the CRL says about `serial`; revoked wins if listed as both.
    #[inline]
    pub fn status(&self, serial: &Serial) -> Option<Revocation> {
        let (in_revoked, in_suspended) = match serial.as_u64() {
            Some(value) => (self.revoked.contains(value), self.suspended.contains(value)),
            None => {
                let key = wide_key(serial);
                (
                    self.wide_revoked.binary_search(&key).is_ok(),
                    self.wide_suspended.binary_search(&key).is_ok(),
                )
            }
        };
        if in_revoked {
            Some(Revocation::Revoked)
        } else if in_suspended {
            Some(Revocation::Suspended)
        } else {
            None
        }
    }

    /// Adds a serial; `false` if it was already listed (either way).
    pub fn insert(&mut self, serial: &Serial, status: Revocation) -> bool {
        match (serial.as_u64(), status) {
            // The set's own insert reports a repeat; only the other set needs a look.
            (Some(value), Revocation::Revoked) => {
                !self.suspended.contains(value) && self.revoked.insert(value)
            }
            (Some(value), Revocation::Suspended) => {
                !self.revoked.contains(value) && self.suspended.insert(value)
            }
            _ if self.status(serial).is_some() => false,
            (None, Revocation::Revoked) => insert_sorted(&mut self.wide_revoked, wide_key(serial)),
            (None, Revocation::Suspended) => {
                insert_sorted(&mut self.wide_suspended, wide_key(serial))
            }
        }
    }

    /// The smallest serial with this status, if any (examples, canaries).
    pub fn first(&self, status: Revocation) -> Option<Serial> {
        self.serials(status, 1).pop()
    }

    /// Up to `limit` serials with this status, smallest first (load-test
    /// corpora, examples).
    pub fn serials(&self, status: Revocation, limit: usize) -> Vec<Serial> {
        let (narrow, wide) = match status {
            Revocation::Revoked => (&self.revoked, &self.wide_revoked),
            Revocation::Suspended => (&self.suspended, &self.wide_suspended),
        };
        narrow
            .iter()
            .map(Serial::from_u64)
            .chain(wide.iter().filter_map(|bytes| Serial::from_be_bytes(bytes)))
            .take(limit)
            .collect()
    }

    /// Number of revoked serials, narrow and wide.
    pub fn revoked_count(&self) -> u64 {
        self.revoked.len() + self.wide_revoked.len() as u64
    }

    /// Number of suspended serials, narrow and wide.
    pub fn suspended_count(&self) -> u64 {
        self.suspended.len() + self.wide_suspended.len() as u64
    }

    /// The archivable form.
    pub fn to_file(&self) -> std::io::Result<RevocationFile> {
        let mut revoked = Vec::with_capacity(self.revoked.serialized_size());
        self.revoked.serialize_into(&mut revoked)?;
        let mut suspended = Vec::with_capacity(self.suspended.serialized_size());
        self.suspended.serialize_into(&mut suspended)?;
        Ok(RevocationFile {
            revoked,
            suspended,
            wide_revoked: self.wide_revoked.clone(),
            wide_suspended: self.wide_suspended.clone(),
        })
    }

    /// Decodes the archived sets (validating the roaring encoding).
    pub fn from_archived(file: &ArchivedRevocationFile) -> Result<RevocationSets, String> {
        let decode = |bytes: &[u8], what: &str| {
            RoaringTreemap::deserialize_from(bytes)
                .map_err(|e| format!("the {what} set is not a valid roaring bitmap ({e})"))
        };
        let sorted = |list: &[[u8; 20]], what: &str| {
            if list.windows(2).all(|w| w[0] < w[1]) {
                Ok(list.to_vec())
            } else {
                Err(format!("the wide {what} list is not sorted"))
            }
        };
        Ok(RevocationSets {
            revoked: decode(file.revoked.as_slice(), "revoked")?,
            suspended: decode(file.suspended.as_slice(), "suspended")?,
            wide_revoked: sorted(file.wide_revoked.as_slice(), "revoked")?,
            wide_suspended: sorted(file.wide_suspended.as_slice(), "suspended")?,
        })
    }
}

fn insert_sorted(list: &mut Vec<[u8; 20]>, key: [u8; 20]) -> bool {
    match list.binary_search(&key) {
        Ok(_) => false,
        Err(position) => {
            list.insert(position, key);
            true
        }
    }
}

/// Maps and decodes a revocation-sets file (a snapshot's or a CRL directory's).
pub fn open_revocations(
    dir: &Path,
    entry: &FileEntry,
    verification: Verification,
) -> Result<RevocationSets, FileError> {
    let file: Mapped<RevocationFile> =
        Mapped::open(dir, entry, FileKind::Revocations, verification)?;
    RevocationSets::from_archived(file.get())
        .map_err(|problem| FileError::new(entry.name.as_str(), problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_and_wide_serials() {
        let mut sets = RevocationSets::default();
        let narrow = Serial::parse("12345").unwrap();
        let wide = Serial::parse("0x0102030405060708090a0b0c0d0e0f1011121314").unwrap();
        let wide_other = Serial::parse("0x0102030405060708090a0b0c0d0e0f1011121315").unwrap();
        assert!(sets.insert(&narrow, Revocation::Suspended));
        assert!(sets.insert(&wide, Revocation::Revoked));
        assert!(!sets.insert(&wide, Revocation::Suspended));
        assert_eq!(sets.status(&narrow), Some(Revocation::Suspended));
        assert_eq!(sets.status(&wide), Some(Revocation::Revoked));
        assert_eq!(sets.status(&wide_other), None);
        assert_eq!(sets.revoked_count(), 1);
        assert_eq!(sets.suspended_count(), 1);
    }
}

//! The revocation sets: which certificate serials are revoked and which are
//! suspended (certificateHold).
//!
//! How JPKI numbers its serials is not public, so the sets are good at both
//! extremes. Serials that fit 64 bits are grouped by their high 32 bits: a
//! group of [`DENSE_GROUP`] serials or more (a CA numbering in sequence) goes
//! into a roaring treemap, about 2 bytes a serial; the serials of sparser
//! groups (random 64-bit serials, one or two per group) go into a sorted
//! list, 8 bytes a serial, where a roaring treemap would spend a hundred on
//! each group. A lookup tries both: a binary search and a bitmap probe.
//! X.509 allows 20-byte serials, so wider ones are kept in a sorted list
//! beside them rather than being truncated or refused.

use crate::model::Revocation;
use crate::model::Serial;
use crate::storage::{FileEntry, FileError, FileKind, Mapped, Verification};
use rkyv::{Archive, Serialize};
use roaring::RoaringTreemap;
use std::collections::HashMap;
use std::path::Path;

/// Name of the revocation-sets file in a snapshot or a CRL directory.
pub const REVOCATIONS_FILE: &str = "revocations.rkyv";

/// Serials sharing their high 32 bits from which on they are kept in the
/// roaring treemap rather than the sorted list.
pub const DENSE_GROUP: usize = 16;

/// Revocation sets as stored: for each status, a portable roaring
/// serialisation of the dense groups, the sorted list of the sparse ones,
/// and the sorted list of the wide serials.
#[derive(Archive, Serialize, Debug, Default)]
pub struct RevocationFile {
    /// Revoked serials of dense groups, as a portable roaring treemap.
    pub revoked: Vec<u8>,
    /// Suspended (certificateHold) serials of dense groups, as a portable
    /// roaring treemap.
    pub suspended: Vec<u8>,
    /// Revoked serials of sparse groups, sorted.
    pub sparse_revoked: Vec<u64>,
    /// Suspended serials of sparse groups, sorted.
    pub sparse_suspended: Vec<u64>,
    /// Wide serials, big-endian, right-aligned in 20 bytes, sorted.
    pub wide_revoked: Vec<[u8; 20]>,
    /// Wide suspended serials, big-endian, right-aligned in 20 bytes, sorted.
    pub wide_suspended: Vec<[u8; 20]>,
}

/// The serials of one status.
#[derive(Clone, Debug, Default, PartialEq)]
struct SerialSet {
    dense: RoaringTreemap,
    sparse: Vec<u64>,
    wide: Vec<[u8; 20]>,
}

impl SerialSet {
    #[inline]
    fn contains(&self, serial: &Serial) -> bool {
        match serial.as_u64() {
            Some(value) => self.sparse.binary_search(&value).is_ok() || self.dense.contains(value),
            None => self.wide.binary_search(&wide_key(serial)).is_ok(),
        }
    }

    fn len(&self) -> u64 {
        self.dense.len() + self.sparse.len() as u64 + self.wide.len() as u64
    }

    /// Splits `narrow` (sorted, distinct) into dense groups and sparse ones.
    fn from_sorted(narrow: Vec<u64>, mut wide: Vec<[u8; 20]>) -> SerialSet {
        let mut set = SerialSet::default();
        for group in narrow.chunk_by(|a, b| a >> 32 == b >> 32) {
            if group.len() >= DENSE_GROUP {
                set.dense.extend(group.iter().copied());
            } else {
                set.sparse.extend_from_slice(group);
            }
        }
        wide.sort_unstable();
        set.wide = wide;
        set
    }

    /// Up to `limit` serials, the 64-bit ones smallest first, then the wide.
    fn serials(&self, limit: usize) -> Vec<Serial> {
        let mut narrow: Vec<u64> = self.dense.iter().take(limit).collect();
        narrow.extend(self.sparse.iter().take(limit));
        narrow.sort_unstable();
        narrow
            .into_iter()
            .map(Serial::from_u64)
            .chain(
                self.wide
                    .iter()
                    .filter_map(|bytes| Serial::from_be_bytes(bytes)),
            )
            .take(limit)
            .collect()
    }
}

/// The revoked and suspended serials in memory, ready for lookups; a serial
/// is in at most one of the two.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RevocationSets {
    revoked: SerialSet,
    suspended: SerialSet,
}

fn wide_key(serial: &Serial) -> [u8; 20] {
    let bytes = serial.as_bytes();
    let mut out = [0u8; 20];
    out[20 - bytes.len()..].copy_from_slice(bytes);
    out
}

/// Collects the serials of a CRL (or `revoked.csv`) as they are read.
#[derive(Default)]
pub struct RevocationSetsBuilder {
    narrow: HashMap<u64, Revocation>,
    wide: HashMap<[u8; 20], Revocation>,
}

impl RevocationSetsBuilder {
    /// An empty collection.
    pub fn new() -> RevocationSetsBuilder {
        RevocationSetsBuilder::default()
    }

    /// Adds a serial; `false` if it was already listed (either way: the
    /// first listing counts).
    pub fn insert(&mut self, serial: &Serial, status: Revocation) -> bool {
        match serial.as_u64() {
            Some(value) => match self.narrow.entry(value) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(status);
                    true
                }
            },
            None => match self.wide.entry(wide_key(serial)) {
                std::collections::hash_map::Entry::Occupied(_) => false,
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(status);
                    true
                }
            },
        }
    }

    /// The sets, ready for lookups.
    pub fn finish(self) -> RevocationSets {
        let split = |status: Revocation| {
            let mut narrow: Vec<u64> = self
                .narrow
                .iter()
                .filter(|(_, s)| **s == status)
                .map(|(value, _)| *value)
                .collect();
            narrow.sort_unstable();
            let wide = self
                .wide
                .iter()
                .filter(|(_, s)| **s == status)
                .map(|(key, _)| *key)
                .collect();
            SerialSet::from_sorted(narrow, wide)
        };
        RevocationSets {
            revoked: split(Revocation::Revoked),
            suspended: split(Revocation::Suspended),
        }
    }
}

impl RevocationSets {
    /// What the CRL says about `serial`; revoked wins if listed as both.
    #[inline]
    pub fn status(&self, serial: &Serial) -> Option<Revocation> {
        if self.revoked.contains(serial) {
            Some(Revocation::Revoked)
        } else if self.suspended.contains(serial) {
            Some(Revocation::Suspended)
        } else {
            None
        }
    }

    /// The smallest serial with this status, if any (examples, canaries).
    pub fn first(&self, status: Revocation) -> Option<Serial> {
        self.serials(status, 1).pop()
    }

    /// Up to `limit` serials with this status, smallest first (load-test
    /// corpora, examples).
    pub fn serials(&self, status: Revocation, limit: usize) -> Vec<Serial> {
        self.set(status).serials(limit)
    }

    fn set(&self, status: Revocation) -> &SerialSet {
        match status {
            Revocation::Revoked => &self.revoked,
            Revocation::Suspended => &self.suspended,
        }
    }

    /// Number of revoked serials, narrow and wide.
    pub fn revoked_count(&self) -> u64 {
        self.revoked.len()
    }

    /// Number of suspended serials, narrow and wide.
    pub fn suspended_count(&self) -> u64 {
        self.suspended.len()
    }

    /// The archivable form.
    pub fn to_file(&self) -> std::io::Result<RevocationFile> {
        let roaring = |set: &SerialSet| -> std::io::Result<Vec<u8>> {
            let mut bytes = Vec::with_capacity(set.dense.serialized_size());
            set.dense.serialize_into(&mut bytes)?;
            Ok(bytes)
        };
        Ok(RevocationFile {
            revoked: roaring(&self.revoked)?,
            suspended: roaring(&self.suspended)?,
            sparse_revoked: self.revoked.sparse.clone(),
            sparse_suspended: self.suspended.sparse.clone(),
            wide_revoked: self.revoked.wide.clone(),
            wide_suspended: self.suspended.wide.clone(),
        })
    }

    /// Decodes the archived sets (validating the roaring encoding and the
    /// order of the lists).
    pub fn from_archived(file: &ArchivedRevocationFile) -> Result<RevocationSets, String> {
        let decode = |bytes: &[u8], what: &str| {
            RoaringTreemap::deserialize_from(bytes)
                .map_err(|e| format!("the {what} set is not a valid roaring bitmap ({e})"))
        };
        let sorted = |list: &[rkyv::Archived<u64>], what: &str| {
            let list: Vec<u64> = list.iter().map(|v| v.to_native()).collect();
            if list.windows(2).all(|w| w[0] < w[1]) {
                Ok(list)
            } else {
                Err(format!("the sparse {what} list is not sorted"))
            }
        };
        let sorted_wide = |list: &[[u8; 20]], what: &str| {
            if list.windows(2).all(|w| w[0] < w[1]) {
                Ok(list.to_vec())
            } else {
                Err(format!("the wide {what} list is not sorted"))
            }
        };
        Ok(RevocationSets {
            revoked: SerialSet {
                dense: decode(file.revoked.as_slice(), "revoked")?,
                sparse: sorted(file.sparse_revoked.as_slice(), "revoked")?,
                wide: sorted_wide(file.wide_revoked.as_slice(), "revoked")?,
            },
            suspended: SerialSet {
                dense: decode(file.suspended.as_slice(), "suspended")?,
                sparse: sorted(file.sparse_suspended.as_slice(), "suspended")?,
                wide: sorted_wide(file.wide_suspended.as_slice(), "suspended")?,
            },
        })
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

    fn round_trip(sets: &RevocationSets) -> RevocationSets {
        let file = sets.to_file().unwrap();
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&file).unwrap();
        let archived = rkyv::access::<ArchivedRevocationFile, rkyv::rancor::Error>(&bytes).unwrap();
        RevocationSets::from_archived(archived).unwrap()
    }

    #[test]
    fn narrow_and_wide_serials() {
        let mut builder = RevocationSetsBuilder::new();
        let narrow = Serial::parse("12345").unwrap();
        let wide = Serial::parse("0x0102030405060708090a0b0c0d0e0f1011121314").unwrap();
        let wide_other = Serial::parse("0x0102030405060708090a0b0c0d0e0f1011121315").unwrap();
        assert!(builder.insert(&narrow, Revocation::Suspended));
        assert!(builder.insert(&wide, Revocation::Revoked));
        assert!(!builder.insert(&wide, Revocation::Suspended));
        let sets = builder.finish();
        for sets in [sets.clone(), round_trip(&sets)] {
            assert_eq!(sets.status(&narrow), Some(Revocation::Suspended));
            assert_eq!(sets.status(&wide), Some(Revocation::Revoked));
            assert_eq!(sets.status(&wide_other), None);
            assert_eq!(sets.revoked_count(), 1);
            assert_eq!(sets.suspended_count(), 1);
        }
    }

    #[test]
    fn random_64_bit_serials_go_to_the_sorted_list_and_sequences_to_roaring() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut builder = RevocationSetsBuilder::new();
        let random: Vec<u64> = (0..10_000).map(|_| rng.gen()).collect();
        for value in &random {
            builder.insert(&Serial::from_u64(*value), Revocation::Revoked);
        }
        let sequence: Vec<u64> = (0..5_000).map(|i| 0x0000_0007_0000_0000 + i).collect();
        for value in &sequence {
            builder.insert(&Serial::from_u64(*value), Revocation::Suspended);
        }
        let sets = builder.finish();
        assert_eq!(sets.revoked.sparse.len(), 10_000);
        assert_eq!(sets.suspended.dense.len(), 5_000);
        assert!(sets.suspended.sparse.is_empty());
        let sets = round_trip(&sets);
        for value in random.iter().take(1_000) {
            assert_eq!(
                sets.status(&Serial::from_u64(*value)),
                Some(Revocation::Revoked)
            );
            assert_eq!(sets.status(&Serial::from_u64(value ^ 1)), None);
        }
        for value in sequence.iter().step_by(97) {
            assert_eq!(
                sets.status(&Serial::from_u64(*value)),
                Some(Revocation::Suspended)
            );
        }
        assert_eq!(sets.revoked_count(), 10_000);
        assert_eq!(sets.serials(Revocation::Revoked, 3).len(), 3);
    }
}

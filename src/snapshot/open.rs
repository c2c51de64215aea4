//! Opening a snapshot: map every file read-only, check it against the
//! manifest, validate the archive roots, and hand out views.
//!
//! Opening does not read the data: sizes, headers and rkyv roots are checked
//! in constant time per file (see [`super::format`] for why that is enough to
//! rule out undefined behaviour). [`Verification::Checksums`] additionally
//! reads every byte and compares the manifest's checksums; the server does
//! that once at activation, `snapshot verify` does it and more.

use super::format::{
    ArchivedInsurerMaster, ArchivedKeyShard, ArchivedPersonShard, FileKind, FORMAT_VERSION,
    HEADER_LEN, MAGIC,
};
use super::manifest::{
    checksum, keys_file, person_file, FileEntry, Manifest, INSURERS_FILE, MANIFEST_FILE,
    REVOCATIONS_FILE,
};
use super::revocations::RevocationSets;
use crate::crl::Crl;
use memmap2::Mmap;
use rkyv::rancor;
use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A snapshot that cannot be opened: which file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct SnapshotError {
    pub file: String,
    pub problem: String,
}

impl SnapshotError {
    pub fn new(file: impl Into<String>, problem: impl Into<String>) -> SnapshotError {
        SnapshotError {
            file: file.into(),
            problem: problem.into(),
        }
    }
}

/// How much to check when opening.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Manifest, sizes, headers and archive roots: constant time per file.
    Structure,
    /// Also every file's checksum: reads every byte once.
    Checksums,
}

/// A read-only mapped archive whose root was validated when it was opened.
pub struct Mapped<T: rkyv::Archive> {
    map: Mmap,
    _archived: PhantomData<T>,
}

impl<T> Mapped<T>
where
    T: rkyv::Archive,
    T::Archived:
        for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rancor::Error>>,
{
    /// Maps `dir/entry.name` and checks it against its manifest entry.
    pub fn open(
        dir: &Path,
        entry: &FileEntry,
        kind: FileKind,
        verification: Verification,
    ) -> Result<Mapped<T>, SnapshotError> {
        let name = entry.name.as_str();
        let error = |problem: String| SnapshotError::new(name, problem);
        let file = File::open(dir.join(name)).map_err(|e| error(format!("cannot open ({e})")))?;
        let size = file
            .metadata()
            .map_err(|e| error(format!("cannot read metadata ({e})")))?
            .len();
        if size != entry.bytes {
            return Err(error(format!(
                "{size} bytes but the manifest says {}: the file is truncated or was replaced",
                entry.bytes
            )));
        }
        if size < HEADER_LEN as u64 {
            return Err(error("too short to be a snapshot file".into()));
        }
        // SAFETY: snapshot files are immutable once their manifest is written
        // (builds write new directories; nothing rewrites a finished one), so
        // the mapping does not change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| error(format!("cannot map ({e})")))?;
        check_header(&map, kind).map_err(error)?;
        if verification == Verification::Checksums {
            let actual = checksum(&map);
            if actual != entry.xxh3_128 {
                return Err(error(format!(
                    "checksum {actual} does not match the manifest's {}: the file is damaged",
                    entry.xxh3_128
                )));
            }
        }
        rkyv::access::<T::Archived, rancor::Error>(&map[HEADER_LEN..])
            .map_err(|e| error(format!("archive structure is invalid ({e})")))?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Mapped {
            map,
            _archived: PhantomData,
        })
    }

    /// The archived root.
    #[inline]
    pub fn get(&self) -> &T::Archived {
        // SAFETY: the same immutable bytes passed `rkyv::access` (full
        // validation of the root) in `open`.
        unsafe { rkyv::access_unchecked::<T::Archived>(&self.map[HEADER_LEN..]) }
    }

    /// Size of the mapped file in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn check_header(bytes: &[u8], kind: FileKind) -> Result<(), String> {
    if bytes[..8] != MAGIC {
        return Err("not a shikaku snapshot file (bad magic)".into());
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this build reads version {FORMAT_VERSION}: rebuild the snapshot"
        ));
    }
    let found = u32::from_le_bytes(bytes[12..16].try_into().unwrap_or_default());
    if found != kind as u32 {
        return Err(format!(
            "holds file kind {found}, expected a {}",
            kind.name()
        ));
    }
    Ok(())
}

/// The person shards of a snapshot (also opened on their own by the build,
/// to resolve linkage numbers before the key shards exist).
pub struct PersonShards {
    shards: Vec<Mapped<super::format::PersonShard>>,
}

impl PersonShards {
    /// Opens the person shards listed in `files` (in shard order).
    pub fn open(
        dir: &Path,
        files: &[&FileEntry],
        verification: Verification,
    ) -> Result<PersonShards, SnapshotError> {
        let shards = files
            .iter()
            .map(|entry| Mapped::open(dir, entry, FileKind::Persons, verification))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PersonShards { shards })
    }

    pub fn count(&self) -> u32 {
        self.shards.len() as u32
    }

    pub fn get(&self, shard: u32) -> Option<&ArchivedPersonShard> {
        self.shards.get(shard as usize).map(Mapped::get)
    }
}

/// An open snapshot.
pub struct Snapshot {
    dir: PathBuf,
    manifest: Manifest,
    persons: PersonShards,
    keys: Vec<Mapped<super::format::KeyShard>>,
    insurers: Mapped<super::format::InsurerMaster>,
    /// The revocation list embedded in the snapshot.
    crl: Arc<Crl>,
}

/// Maps and decodes a revocation-sets file (a snapshot's or a CRL directory's).
pub fn open_revocations(
    dir: &Path,
    entry: &FileEntry,
    verification: Verification,
) -> Result<RevocationSets, SnapshotError> {
    let file: Mapped<super::format::RevocationFile> =
        Mapped::open(dir, entry, FileKind::Revocations, verification)?;
    RevocationSets::from_archived(file.get())
        .map_err(|problem| SnapshotError::new(entry.name.as_str(), problem))
}

fn listed<'m>(manifest: &'m Manifest, name: &str) -> Result<&'m FileEntry, SnapshotError> {
    manifest
        .file(name)
        .ok_or_else(|| SnapshotError::new(name, "not listed in the manifest"))
}

impl Snapshot {
    /// Opens `dir`, checking its structure (constant time per file).
    pub fn open(dir: &Path) -> Result<Snapshot, SnapshotError> {
        Snapshot::open_with(dir, Verification::Structure)
    }

    /// Opens `dir` with the given level of checking.
    pub fn open_with(dir: &Path, verification: Verification) -> Result<Snapshot, SnapshotError> {
        let manifest =
            Manifest::read(dir).map_err(|problem| SnapshotError::new(MANIFEST_FILE, problem))?;
        Snapshot::open_with_manifest(dir, manifest, verification)
    }

    /// Opens `dir` described by `manifest` (the build checks its output this
    /// way before it writes the manifest file).
    pub fn open_with_manifest(
        dir: &Path,
        manifest: Manifest,
        verification: Verification,
    ) -> Result<Snapshot, SnapshotError> {
        if manifest.format_version != FORMAT_VERSION {
            return Err(SnapshotError::new(
                MANIFEST_FILE,
                format!(
                    "format version {}, this build reads version {FORMAT_VERSION}: rebuild the snapshot",
                    manifest.format_version
                ),
            ));
        }
        if manifest.shard_count == 0 {
            return Err(SnapshotError::new(MANIFEST_FILE, "shard_count is 0"));
        }
        let person_entries = (0..manifest.shard_count)
            .map(|s| listed(&manifest, &person_file(s)))
            .collect::<Result<Vec<_>, _>>()?;
        let persons = PersonShards::open(dir, &person_entries, verification)?;
        let keys = (0..manifest.shard_count)
            .map(|s| {
                Mapped::open(
                    dir,
                    listed(&manifest, &keys_file(s))?,
                    FileKind::Keys,
                    verification,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let insurers = Mapped::open(
            dir,
            listed(&manifest, INSURERS_FILE)?,
            FileKind::Insurers,
            verification,
        )?;
        let revocations =
            open_revocations(dir, listed(&manifest, REVOCATIONS_FILE)?, verification)?;
        let crl_id = match &manifest.crl {
            Some(meta) => meta.default_id(),
            None => format!("{}/revoked.csv", manifest.id),
        };
        let crl = Crl::new(crl_id, manifest.crl.clone(), revocations)
            .map_err(|e| SnapshotError::new(MANIFEST_FILE, format!("crl: {e}")))?;
        Ok(Snapshot {
            dir: dir.to_path_buf(),
            manifest,
            persons,
            keys,
            insurers,
            crl: Arc::new(crl),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The snapshot id answers carry.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    pub fn shard_count(&self) -> u32 {
        self.manifest.shard_count
    }

    pub fn persons(&self) -> &PersonShards {
        &self.persons
    }

    pub fn person_shard(&self, shard: u32) -> Option<&ArchivedPersonShard> {
        self.persons.get(shard)
    }

    pub fn key_shard(&self, shard: u32) -> Option<&ArchivedKeyShard> {
        self.keys.get(shard as usize).map(Mapped::get)
    }

    pub fn insurer_master(&self) -> &ArchivedInsurerMaster {
        self.insurers.get()
    }

    pub fn revocations(&self) -> &RevocationSets {
        self.crl.sets()
    }

    /// The revocation list built into the snapshot.
    pub fn crl(&self) -> &Arc<Crl> {
        &self.crl
    }
}

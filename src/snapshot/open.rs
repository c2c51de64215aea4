//! Opening a snapshot: map every file read-only, check it against the
//! manifest, validate the archive roots, and hand out views.
//!
//! Opening does not read the data: sizes, headers and rkyv roots are checked
//! in constant time per file (see [`super::format`] for why that is enough to
//! rule out undefined behaviour). [`Verification::Checksums`] additionally
//! reads every byte and compares the manifest's checksums; the server does
//! that once at activation, `snapshot verify` does it and more.

use super::format::FORMAT_VERSION;
use super::format::{ArchivedInsurerMaster, ArchivedKeyShard, ArchivedPersonShard};
use super::manifest::{keys_file, person_file, Manifest, INSURERS_FILE, MANIFEST_FILE};
use crate::crl::revocations::{open_revocations, RevocationSets, REVOCATIONS_FILE};
use crate::crl::Crl;
use crate::storage::{FileEntry, FileError as SnapshotError, FileKind, Mapped, Verification};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

    /// Number of person shards.
    pub fn count(&self) -> u32 {
        self.shards.len() as u32
    }

    /// Person shard `shard`; `None` past the last one.
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

    /// The snapshot directory it was opened from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The snapshot's `manifest.json`.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The snapshot id answers carry.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// Number of shards (person shards and key shards alike).
    pub fn shard_count(&self) -> u32 {
        self.manifest.shard_count
    }

    /// All the person shards.
    pub fn persons(&self) -> &PersonShards {
        &self.persons
    }

    /// Person shard `shard`; `None` past the last one.
    pub fn person_shard(&self, shard: u32) -> Option<&ArchivedPersonShard> {
        self.persons.get(shard)
    }

    /// Key shard `shard`; `None` past the last one.
    pub fn key_shard(&self, shard: u32) -> Option<&ArchivedKeyShard> {
        self.keys.get(shard as usize).map(Mapped::get)
    }

    /// The archived insurer master.
    pub fn insurer_master(&self) -> &ArchivedInsurerMaster {
        self.insurers.get()
    }

    /// The revoked and suspended serials of the embedded revocation list.
    pub fn revocations(&self) -> &RevocationSets {
        self.crl.sets()
    }

    /// The revocation list built into the snapshot.
    pub fn crl(&self) -> &Arc<Crl> {
        &self.crl
    }
}

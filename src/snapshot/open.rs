//! Opening a snapshot: map every file read-only, check it against the
//! manifest, validate the archive roots, and hand out views.
//!
//! Opening does not read the data: sizes, headers and rkyv roots are checked
//! in constant time per file (see [`super::format`] for why that is enough to
//! rule out undefined behaviour). [`Verification::Checksums`] additionally
//! reads every byte and compares the manifest's checksums; the server does
//! that once at activation, `snapshot verify` does it and more.

use super::format::{
    ArchivedInsurerMaster, ArchivedKeyShard, ArchivedPersonShard, ArchivedSlot,
    ArchivedTextDictionary,
};
use super::format::{FORMAT_VERSION, MAX_PERSONS};
use super::lookup::Index;
use super::manifest::{
    keys_file, person_file, Manifest, DICTIONARY_FILE, INSURERS_FILE, MANIFEST_FILE,
};
use crate::crl::revocations::{open_revocations, RevocationSets, REVOCATIONS_FILE};
use crate::crl::Crl;
use crate::storage::{
    FileEntry, FileError as SnapshotError, FileKind, Mapped, MappedSlice, Verification,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The vectors of a shard that every lookup reads, kept by address when
/// the snapshot is opened so that a lookup does not read the two files'
/// archive roots first (see [`MappedSlice`]: at national size, 512 root
/// pages that each cost a TLB miss).
struct HotShard {
    blocks: MappedSlice<u8>,
    block_ends: MappedSlice<rkyv::Archived<u32>>,
    /// The key shard's indexes, in [`Index`] order.
    indexes: [MappedSlice<ArchivedSlot>; 4],
    /// The key shard's serials linked to a linkage number without rows.
    unmatched: MappedSlice<u8>,
}

impl HotShard {
    fn new(
        persons: &Mapped<super::format::PersonShard>,
        keys: &Mapped<super::format::KeyShard>,
    ) -> HotShard {
        HotShard {
            blocks: persons.slice(|shard| &shard.blocks),
            block_ends: persons.slice(|shard| &shard.block_ends),
            indexes: Index::ALL.map(|index| keys.slice(|shard| index.slots(shard))),
            unmatched: keys.slice(|shard| &shard.unmatched),
        }
    }
}

/// The text dictionary's vectors, kept at open like [`HotShard`]'s.
pub(crate) struct HotDictionary {
    /// The entries, concatenated in id order.
    pub text: MappedSlice<u8>,
    /// End of each entry in `text`.
    pub ends: MappedSlice<rkyv::Archived<u32>>,
}

/// The insurer master's vectors, kept at open like [`HotShard`]'s.
pub(crate) struct HotInsurers {
    /// Insurer numbers, sorted (see `InsurerMaster`).
    pub numbers: MappedSlice<[u8; 8]>,
    /// Per insurer: end offsets of name, address, phone, postal code.
    pub text_ends: MappedSlice<[rkyv::Archived<u64>; 4]>,
    /// Per insurer: abolition date (`NO_DATE` = none).
    pub abolished: MappedSlice<rkyv::Archived<i32>>,
    /// The text of every insurer, one after another.
    pub text: MappedSlice<u8>,
}

/// The blocks of a person shard and where each ends.
#[derive(Clone, Copy)]
pub(crate) struct ShardBlocks<'s> {
    /// Every person's block, one after another.
    pub blocks: &'s [u8],
    /// End of each person's block in `blocks`.
    pub ends: &'s [rkyv::Archived<u32>],
}

/// An open snapshot.
///
/// Everything the serving path reads is reached through slices kept when
/// it was opened (`hot`, `hot_dictionary`, `hot_insurers`), never through
/// an archive root read again: a file overwritten in place under the
/// server (which `storage::watch` notices only after the fact) can then
/// give wrong bytes, which the bounds-checked readers and the damage check
/// refuse, but never a pointer outside its mapping.
pub struct Snapshot {
    dir: PathBuf,
    manifest: Manifest,
    persons: Vec<Mapped<super::format::PersonShard>>,
    /// Number of the first person of each person shard, and the total last.
    first_person: Vec<u32>,
    keys: Vec<Mapped<super::format::KeyShard>>,
    /// What lookups read of each shard, kept at open.
    hot: Vec<HotShard>,
    hot_dictionary: HotDictionary,
    hot_insurers: HotInsurers,
    dictionary: Mapped<super::format::TextDictionary>,
    insurers: Mapped<super::format::InsurerMaster>,
    /// The revocation list embedded in the snapshot.
    crl: Arc<Crl>,
}

/// The revocation list of the snapshot at `dir`, as described by `manifest`.
fn embedded_crl(
    dir: &Path,
    manifest: &Manifest,
    verification: Verification,
) -> Result<Crl, SnapshotError> {
    let revocations = open_revocations(dir, listed(manifest, REVOCATIONS_FILE)?, verification)?;
    let id = match &manifest.crl {
        Some(meta) => meta.default_id(),
        None => format!("{}/revoked.csv", manifest.id),
    };
    Crl::new(id, manifest.crl.clone(), revocations)
        .map_err(|e| SnapshotError::new(MANIFEST_FILE, format!("crl: {e}")))
}

fn listed<'m>(manifest: &'m Manifest, name: &str) -> Result<&'m FileEntry, SnapshotError> {
    manifest
        .file(name)
        .ok_or_else(|| SnapshotError::new(name, "not listed in the manifest"))
}

/// Opens a snapshot's data files one by one and reports each.
struct FileOpener<'a> {
    dir: &'a Path,
    manifest: &'a Manifest,
    verification: Verification,
    /// Data files in all.
    files: u64,
    file_opened: &'a dyn Fn(u64),
}

impl FileOpener<'_> {
    fn open<T>(&self, name: &str, kind: FileKind) -> Result<Mapped<T>, SnapshotError>
    where
        T: rkyv::Archive,
        T::Archived: for<'b> rkyv::bytecheck::CheckBytes<
            rkyv::api::high::HighValidator<'b, rkyv::rancor::Error>,
        >,
    {
        let mapped = Mapped::open(
            self.dir,
            listed(self.manifest, name)?,
            kind,
            self.verification,
        );
        (self.file_opened)(self.files);
        mapped
    }
}

impl Snapshot {
    /// Opens `dir`, checking its structure (constant time per file).
    pub fn open(dir: &Path) -> Result<Snapshot, SnapshotError> {
        Snapshot::open_with(dir, Verification::Structure)
    }

    /// Opens `dir` with the given level of checking.
    pub fn open_with(dir: &Path, verification: Verification) -> Result<Snapshot, SnapshotError> {
        Snapshot::open_reporting(dir, verification, &|_| {})
    }

    /// Opens `dir`, calling `file_opened` after each data file with the
    /// number of files in all (with checksums, minutes at national size).
    pub fn open_reporting(
        dir: &Path,
        verification: Verification,
        file_opened: &dyn Fn(u64),
    ) -> Result<Snapshot, SnapshotError> {
        let manifest =
            Manifest::read(dir).map_err(|problem| SnapshotError::new(MANIFEST_FILE, problem))?;
        Snapshot::open_with_manifest(dir, manifest, verification, file_opened)
    }

    /// Opens `dir` described by `manifest` (the build checks its output this
    /// way before it writes the manifest file), reporting each file as
    /// [`Snapshot::open_reporting`] does.
    pub fn open_with_manifest(
        dir: &Path,
        manifest: Manifest,
        verification: Verification,
        file_opened: &dyn Fn(u64),
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
        let opener = FileOpener {
            dir,
            manifest: &manifest,
            verification,
            // Person and key shards, then the insurers, the dictionary and
            // the revocation sets.
            files: 2 * u64::from(manifest.shard_count) + 3,
            file_opened,
        };
        let persons = (0..manifest.shard_count)
            .map(|s| opener.open(&person_file(s), FileKind::Persons))
            .collect::<Result<Vec<_>, _>>()?;
        let first_person = first_persons(&persons)?;
        let keys = (0..manifest.shard_count)
            .map(|s| opener.open(&keys_file(s), FileKind::Keys))
            .collect::<Result<Vec<_>, _>>()?;
        let insurers = opener.open(INSURERS_FILE, FileKind::Insurers)?;
        let dictionary = opener.open(DICTIONARY_FILE, FileKind::Dictionary)?;
        let crl = embedded_crl(dir, &manifest, verification)?;
        file_opened(opener.files);
        let hot = persons
            .iter()
            .zip(&keys)
            .map(|(persons, keys)| HotShard::new(persons, keys))
            .collect();
        let hot_dictionary = HotDictionary {
            text: dictionary.slice(|d: &ArchivedTextDictionary| &d.text),
            ends: dictionary.slice(|d: &ArchivedTextDictionary| &d.ends),
        };
        let hot_insurers = HotInsurers {
            numbers: insurers.slice(|m: &ArchivedInsurerMaster| &m.numbers),
            text_ends: insurers.slice(|m: &ArchivedInsurerMaster| &m.text_ends),
            abolished: insurers.slice(|m: &ArchivedInsurerMaster| &m.abolished),
            text: insurers.slice(|m: &ArchivedInsurerMaster| &m.text),
        };
        Ok(Snapshot {
            dir: dir.to_path_buf(),
            manifest,
            persons,
            first_person,
            keys,
            hot,
            hot_dictionary,
            hot_insurers,
            dictionary,
            insurers,
            crl: Arc::new(crl),
        })
    }

    /// The revocation list embedded in the snapshot at `dir`, read with
    /// its checksum and without opening the rest (a restart that serves a
    /// list another snapshot brought).
    pub fn open_crl(dir: &Path) -> Result<Crl, SnapshotError> {
        let manifest =
            Manifest::read(dir).map_err(|problem| SnapshotError::new(MANIFEST_FILE, problem))?;
        embedded_crl(dir, &manifest, Verification::Checksums)
    }

    /// The name of a file of the snapshot that shrank under its mapping
    /// since it was opened (see `storage::guard`), if one did: nothing read
    /// from the snapshot can be trusted any more. One atomic load while no
    /// fault was ever caught.
    pub fn damaged_file(&self) -> Option<&str> {
        if crate::storage::guard::caught() == 0 {
            return None;
        }
        self.persons
            .iter()
            .map(Mapped::damaged)
            .chain(self.keys.iter().map(Mapped::damaged))
            .chain([self.dictionary.damaged(), self.insurers.damaged()])
            .flatten()
            .next()
    }

    /// Gives the pages of every file back to the kernel (see
    /// [`Mapped::release_pages`]): for a generation swapped out.
    pub fn release_pages(&self) {
        for persons in &self.persons {
            persons.release_pages();
        }
        for keys in &self.keys {
            keys.release_pages();
        }
        self.dictionary.release_pages();
        self.insurers.release_pages();
    }

    /// Reads what nearly every lookup touches into memory, in 2 MiB pages:
    /// the key indexes, then the dictionary and the insurer master, then
    /// where each person's block ends; the persons' blocks themselves are
    /// left to [`Snapshot::warm`]. Stops before a file that would take it
    /// past `budget` bytes. Returns the bytes read.
    ///
    /// For a snapshot about to replace a live one: beside a national
    /// snapshot only about this much fits, and with it resident a check
    /// right after the swap waits for at most one page of blocks from disk
    /// instead of three or four.
    pub fn warm_indexes(&self, budget: u64) -> u64 {
        // (bytes, how to read them), in the order they are read.
        type Part<'s> = (usize, Box<dyn Fn() -> u64 + 's>);
        let keys =
            (self.keys.iter()).map(|keys| -> Part<'_> { (keys.len(), Box::new(|| keys.warm())) });
        let small: [Part<'_>; 2] = [
            (self.dictionary.len(), Box::new(|| self.dictionary.warm())),
            (self.insurers.len(), Box::new(|| self.insurers.warm())),
        ];
        let block_ends = self.hot.iter().map(|hot| -> Part<'_> {
            let ends = &hot.block_ends;
            (std::mem::size_of_val::<[_]>(ends), Box::new(|| ends.warm()))
        });
        let mut left = budget;
        let mut read = 0;
        for (bytes, warm) in keys.chain(small).chain(block_ends) {
            let bytes = bytes as u64;
            if bytes > left {
                break;
            }
            left -= bytes;
            read += warm();
        }
        read
    }

    /// Reads the whole snapshot into memory in 2 MiB pages, the indexes
    /// first (see [`Snapshot::warm_indexes`]): after it replaced another,
    /// so that the faults of the checks end within seconds. Asks `go_on`
    /// before each file of blocks and stops when it says no (the snapshot
    /// was swapped out meanwhile). Returns the bytes read.
    pub fn warm(&self, go_on: impl Fn() -> bool) -> u64 {
        let indexes = self.warm_indexes(u64::MAX);
        let blocks = self
            .persons
            .iter()
            .take_while(|_| go_on())
            .map(Mapped::warm);
        indexes + blocks.sum::<u64>()
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

    /// Person shard `shard`; `None` past the last one.
    pub fn person_shard(&self, shard: u32) -> Option<&ArchivedPersonShard> {
        self.persons.get(shard as usize).map(Mapped::get)
    }

    /// Number of persons in the snapshot.
    pub fn person_count(&self) -> u32 {
        self.first_person.last().copied().unwrap_or(0)
    }

    /// Blocks of the person shard holding person `number`, and the
    /// person's place in it.
    pub(crate) fn person_place(&self, number: u32) -> Option<(ShardBlocks<'_>, u32)> {
        if number >= self.person_count() {
            return None;
        }
        let shard = self.first_person.partition_point(|&first| first <= number) - 1;
        let hot = self.hot.get(shard)?;
        let blocks = ShardBlocks {
            blocks: &hot.blocks,
            ends: &hot.block_ends,
        };
        Some((blocks, number - self.first_person[shard]))
    }

    /// The slots of `index` in key shard `shard` (none past the last shard).
    pub(crate) fn index_slots(&self, index: Index, shard: u32) -> &[ArchivedSlot] {
        self.hot
            .get(shard as usize)
            .map_or(&[], |hot| &hot.indexes[index as usize])
    }

    /// Number of the first person of person shard `shard`.
    pub(crate) fn first_person_of(&self, shard: u32) -> u32 {
        self.first_person.get(shard as usize).copied().unwrap_or(0)
    }

    /// Key shard `shard`; `None` past the last one.
    pub fn key_shard(&self, shard: u32) -> Option<&ArchivedKeyShard> {
        self.keys.get(shard as usize).map(Mapped::get)
    }

    /// The text dictionary, as rows are decoded with it.
    pub(crate) fn dictionary(&self) -> &HotDictionary {
        &self.hot_dictionary
    }

    /// The insurer master's vectors.
    pub(crate) fn insurer_master(&self) -> &HotInsurers {
        &self.hot_insurers
    }

    /// Serials of key shard `shard` linked to a linkage number without
    /// rows (see `KeyShard::unmatched`).
    pub(crate) fn unmatched(&self, shard: u32) -> Option<&[u8]> {
        self.hot.get(shard as usize).map(|hot| &*hot.unmatched)
    }

    /// Persons in person shard `shard`.
    pub(crate) fn persons_in_shard(&self, shard: u32) -> u32 {
        self.hot
            .get(shard as usize)
            .map_or(0, |hot| hot.block_ends.len() as u32)
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

/// The number of each shard's first person (shards numbered in order), and
/// the total at the end.
fn first_persons(shards: &[Mapped<super::format::PersonShard>]) -> Result<Vec<u32>, SnapshotError> {
    let mut firsts = Vec::with_capacity(shards.len() + 1);
    let mut total = 0u64;
    for (index, shard) in shards.iter().enumerate() {
        firsts.push(total as u32);
        total += shard.get().block_ends.len() as u64;
        if total > MAX_PERSONS {
            return Err(SnapshotError::new(
                person_file(index as u32),
                format!("more than {MAX_PERSONS} persons in the snapshot"),
            ));
        }
    }
    firsts.push(total as u32);
    Ok(firsts)
}

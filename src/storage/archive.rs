//! Data files: `[16-byte header][rkyv archive]`, written whole and synced,
//! checksummed in their directory's manifest, and mapped read-only.
//!
//! The header (magic, layout version, file kind) lets a file be refused
//! with a clear message before its archive is touched; the checksum (xxh3,
//! not cryptographic: it detects damage, not tampering) is compared when a
//! directory is verified.

use super::guard::Registration;
use anyhow::Context;
use memmap2::Mmap;
use rkyv::rancor;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use xxhash_rust::xxh3::Xxh3;

/// Version of the data-file layouts; a file of another version is refused.
///
/// 2: the revocation sets keep sparse 64-bit serials in sorted lists beside
/// the roaring treemaps (and snapshots are format 3).
pub const FILE_LAYOUT_VERSION: u32 = 2;

/// First bytes of every data file.
pub const MAGIC: [u8; 8] = *b"SHIKAKU\0";

/// Header size; keeps the archive 16-byte aligned inside a page-aligned map.
pub const HEADER_LEN: usize = 16;

/// What a data file holds, recorded in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum FileKind {
    /// A snapshot's person shard.
    Persons = 1,
    /// A snapshot's key-index shard.
    Keys = 2,
    /// A snapshot's insurer master.
    Insurers = 3,
    /// Revocation sets (a snapshot's or a CRL directory's).
    Revocations = 4,
    /// A snapshot's text dictionary.
    Dictionary = 5,
}

impl FileKind {
    /// What the kind is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Persons => "persons shard",
            FileKind::Keys => "keys shard",
            FileKind::Insurers => "insurer master",
            FileKind::Revocations => "revocation sets",
            FileKind::Dictionary => "text dictionary",
        }
    }
}

/// The 16-byte header: magic, format version, file kind, zero padding.
pub fn header(kind: FileKind) -> [u8; HEADER_LEN] {
    let mut out = [0u8; HEADER_LEN];
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FILE_LAYOUT_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&(kind as u32).to_le_bytes());
    out
}

/// A data file of a published directory, with the checksum that
/// verification compares.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// The file's name inside its directory.
    pub name: String,
    /// Its size, header included.
    pub bytes: u64,
    /// [`checksum`] of the whole file.
    pub xxh3_128: String,
}

/// xxh3-128 of `bytes` as 32 lowercase hex digits.
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}

/// A data file that cannot be opened: which file, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {problem}")]
pub struct FileError {
    /// The file's name (or path).
    pub file: String,
    /// What is wrong with it, and what to do.
    pub problem: String,
}

impl FileError {
    /// An error about `file`.
    pub fn new(file: impl Into<String>, problem: impl Into<String>) -> FileError {
        FileError {
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
    /// Also every file's checksum, read through the mapping so that the
    /// pages stay cached in 2 MiB folios (see `drop_cached_pages`): for a
    /// snapshot about to serve alone (a first start, `snapshot verify`).
    Checksums,
    /// Also every file's checksum, read past the page cache (each chunk's
    /// pages dropped behind the read), the mapping left to fault 4 KiB at a
    /// time until [`Mapped::warm`]: for a snapshot verified beside a live
    /// one that fills the memory (an activation), so that verifying it does
    /// not push the live snapshot's pages out.
    ChecksumsUncached,
}

/// Bytes read at a time by the uncached checksum pass and by a warm-up.
const CHUNK: usize = 8 << 20;

/// A read-only mapped archive whose root was validated when it was opened.
pub struct Mapped<T: rkyv::Archive> {
    map: Arc<GuardedMap>,
    _archived: PhantomData<T>,
}

/// A mapping registered with the SIGBUS guard ([`super::guard`]). The
/// registration is dropped first (fields drop in order), then the mapping
/// is unmapped.
struct GuardedMap {
    guard: Registration,
    /// The file's name, for messages.
    name: String,
    /// The file, to give its cached pages back ([`Mapped::release_pages`]).
    path: std::path::PathBuf,
    map: Mmap,
}

/// A slice of a [`Mapped`] archive, found once through its root and kept by
/// address. Reaching a vector through the root reads the root first, and
/// the root sits at the end of the file: on a lookup hot path that is one
/// more page (and TLB miss) per file touched, which a kept slice saves. The
/// slice holds the mapping alive, so it can never dangle.
pub struct MappedSlice<E> {
    map: Arc<GuardedMap>,
    start: *const E,
    len: usize,
}

// SAFETY: the slice only reads immutable mapped bytes (the map itself is
// `Send + Sync`), so sharing it is sharing `&[E]`.
unsafe impl<E: Sync> Send for MappedSlice<E> {}
// SAFETY: as above.
unsafe impl<E: Sync> Sync for MappedSlice<E> {}

impl<E> std::ops::Deref for MappedSlice<E> {
    type Target = [E];

    #[inline]
    fn deref(&self) -> &[E] {
        // SAFETY: `start..start + len` was a slice of the map when it was
        // taken, and `map` keeps that read-only map alive and unmoved.
        unsafe { std::slice::from_raw_parts(self.start, self.len) }
    }
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
    ) -> Result<Mapped<T>, FileError> {
        let name = entry.name.as_str();
        let error = |problem: String| FileError::new(name, problem);
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
            return Err(error("too short to be a shikaku snapshot file".into()));
        }
        match verification {
            Verification::Checksums => drop_cached_pages(&file),
            Verification::ChecksumsUncached => {
                check_checksum(uncached_checksum(&file, size), entry).map_err(error)?
            }
            Verification::Structure => {}
        }
        // SAFETY: data files are immutable once their manifest is written
        // (builds write new directories, published whole; nothing rewrites a
        // finished one), so the mapping does not change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| error(format!("cannot map ({e})")))?;
        // Registered before anything reads it, so that a file truncated
        // even during the checks below is caught (see `guard`).
        let guard = Registration::new(map.as_ptr(), map.len(), &dir.join(name));
        // 2 MiB pages for what is read from disk from now on (see
        // `drop_cached_pages`); an uncached mapping gets them when warmed.
        #[cfg(target_os = "linux")]
        if verification != Verification::ChecksumsUncached {
            let _ = map.advise(memmap2::Advice::HugePage);
        }
        check_header(&map, kind).map_err(error)?;
        if verification == Verification::Checksums {
            let actual = checksum(&map);
            let actual = match guard.damaged() {
                true => Err(SHRANK.to_string()),
                false => Ok(actual),
            };
            check_checksum(actual, entry).map_err(error)?;
        }
        rkyv::access::<T::Archived, rancor::Error>(&map[HEADER_LEN..])
            .map_err(|e| error(format!("archive structure is invalid ({e})")))?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Mapped {
            map: Arc::new(GuardedMap {
                guard,
                name: name.to_string(),
                path: dir.join(name),
                map,
            }),
            _archived: PhantomData,
        })
    }

    /// Keeps the slice `pick` finds in the archive (see [`MappedSlice`]).
    pub fn slice<E>(&self, pick: impl FnOnce(&T::Archived) -> &[E]) -> MappedSlice<E> {
        let slice = pick(self.get());
        MappedSlice {
            map: Arc::clone(&self.map),
            start: slice.as_ptr(),
            len: slice.len(),
        }
    }

    /// The archived root.
    #[inline]
    pub fn get(&self) -> &T::Archived {
        // SAFETY: the same immutable bytes passed `rkyv::access` (full
        // validation of the root) in `open`.
        unsafe { rkyv::access_unchecked::<T::Archived>(&self.map.map[HEADER_LEN..]) }
    }

    /// Size of the mapped file in bytes.
    pub fn len(&self) -> usize {
        self.map.map.len()
    }

    /// Whether the mapped file is empty (never, once opened).
    pub fn is_empty(&self) -> bool {
        self.map.map.is_empty()
    }

    /// Gives the file's pages back: unmaps them from this process (a later
    /// read faults them in again from the file) and asks the kernel to drop
    /// them from its cache unless another mapping holds them. For a
    /// generation swapped out and kept only for rollback: the machine then
    /// needs no room for two resident national snapshots, and a rollback
    /// reads the pages it needs from disk again.
    pub fn release_pages(&self) {
        // SAFETY: MADV_DONTNEED on a read-only file mapping drops
        // page-table entries only; every later read finds the file's bytes
        // again (or, past a truncation, the SIGBUS guard's zero pages), so
        // no reference into the mapping ever sees memory change under it
        // other than as the file changes.
        let _ = unsafe {
            self.map
                .map
                .unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
        };
        if let Ok(file) = File::open(&self.map.path) {
            drop_cached_pages(&file);
        }
    }

    /// Reads the whole file into memory in 2 MiB pages (advising the
    /// mapping `MADV_HUGEPAGE` first), so that lookups find it resident.
    /// Returns the bytes read.
    pub fn warm(&self) -> u64 {
        self.map.warm(0, self.map.map.len())
    }

    /// The file's name if it shrank under the mapping since it was opened
    /// (see [`super::guard`]): what is read from it can no longer be trusted.
    #[inline]
    pub fn damaged(&self) -> Option<&str> {
        self.map.guard.damaged().then_some(self.map.name.as_str())
    }
}

impl GuardedMap {
    /// Populates `len` bytes from `offset` in 2 MiB folios, a chunk at a
    /// time; stops early if the file shrank (the kernel refuses to
    /// populate past its end). Returns the bytes populated.
    fn warm(&self, offset: usize, len: usize) -> u64 {
        #[cfg(target_os = "linux")]
        {
            let end = (offset + len).min(self.map.len());
            let _ = self.map.advise(memmap2::Advice::HugePage);
            let mut done = 0;
            for start in (offset..end).step_by(CHUNK) {
                let n = CHUNK.min(end - start);
                if self
                    .map
                    .advise_range(memmap2::Advice::PopulateRead, start, n)
                    .is_err()
                {
                    break;
                }
                done += n as u64;
            }
            done
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (offset, len);
            0
        }
    }
}

impl<E> MappedSlice<E> {
    /// Reads the slice's pages into memory as [`Mapped::warm`] does the
    /// whole file. Returns the bytes read.
    pub fn warm(&self) -> u64 {
        let offset = self.start as usize - self.map.map.as_ptr() as usize;
        self.map.warm(offset, std::mem::size_of_val::<[E]>(self))
    }
}

const SHRANK: &str = "the file shrank while it was read (truncated or being overwritten)";

/// `actual` (a checksum, or why it could not be read) against the
/// manifest's, as the message an open refuses with.
fn check_checksum(actual: Result<String, String>, entry: &FileEntry) -> Result<(), String> {
    let actual = actual?;
    if actual != entry.xxh3_128 {
        return Err(format!(
            "checksum {actual} does not match the manifest's {}: the file is damaged",
            entry.xxh3_128
        ));
    }
    Ok(())
}

/// [`checksum`] of the whole file read with `read`, each chunk's cached
/// pages dropped behind the read (see [`Verification::ChecksumsUncached`]).
/// Expects `size` bytes; fewer means the file shrank while it was read.
fn uncached_checksum(file: &File, size: u64) -> Result<String, String> {
    use std::io::Read;
    let mut hasher = Xxh3::new();
    let mut buffer = vec![0u8; CHUNK];
    let mut reader = file;
    let mut read = 0u64;
    loop {
        let n = reader
            .read(&mut buffer)
            .map_err(|e| format!("cannot read ({e})"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
        drop_cached_range(file, read, n as u64);
        read += n as u64;
    }
    match read == size {
        true => Ok(format!("{:032x}", hasher.digest128())),
        false => Err(SHRANK.to_string()),
    }
}

/// Asks the kernel to forget the file's clean, unmapped cached pages, so
/// that the checksum pass reads them again through a mapping advised
/// `MADV_HUGEPAGE`: the kernel then reads the file in 2 MiB folios and maps
/// them with 2 MiB entries, where pages cached earlier (written by the
/// build, read by a copy) stay 4 KiB folios for as long as they are cached.
/// At national size (17 GB mapped) that is the difference between a TLB
/// miss that walks page tables from memory and one that finds them in
/// cache (docs/performance.md, "Lookups"). It costs reading the files from
/// disk once, which a pass over every byte of a snapshot larger than the
/// free memory does anyway. Pages another mapping holds are kept.
fn drop_cached_pages(file: &File) {
    drop_cached_range(file, 0, 0);
}

/// [`drop_cached_pages`] for `len` bytes from `offset` (0: to the end).
fn drop_cached_range(file: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let (offset, len) = (offset as libc::off_t, len as libc::off_t);
        // SAFETY: plain advice on an open descriptor; no memory is passed.
        // A failure only leaves the pages cached as they were.
        unsafe { libc::posix_fadvise(file.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

fn check_header(bytes: &[u8], kind: FileKind) -> Result<(), String> {
    if bytes[..8] != MAGIC {
        return Err("not a shikaku snapshot file (bad magic)".into());
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap_or_default());
    if version != FILE_LAYOUT_VERSION {
        return Err(format!(
            "format version {version}, this build reads version {FILE_LAYOUT_VERSION}: rebuild it (shikaku snapshot build, or crl build for a CRL directory)"
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

/// Archives `value` into `dir/name` and returns its manifest entry.
/// `size_hint` (bytes) sizes the buffer up front, saving its regrowth.
pub fn write_archive<T>(
    dir: &Path,
    name: &str,
    kind: FileKind,
    value: &T,
    size_hint: usize,
) -> anyhow::Result<FileEntry>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rkyv::rancor::Error,
        >,
    >,
{
    let buffer = rkyv::util::AlignedVec::<16>::with_capacity(size_hint);
    let bytes = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(value, buffer)
        .with_context(|| format!("cannot archive {name}"))?;
    let header = header(kind);
    let path = dir.join(name);
    let mut file =
        File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(&header)
        .and_then(|()| file.write_all(&bytes))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut hasher = Xxh3::new();
    hasher.update(&header);
    hasher.update(&bytes);
    Ok(FileEntry {
        name: name.to_string(),
        bytes: (header.len() + bytes.len()) as u64,
        xxh3_128: format!("{:032x}", hasher.digest128()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::format::TextDictionary;

    #[test]
    fn a_kept_slice_reads_the_vector_and_outlives_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let value = TextDictionary {
            text: b"shikaku".to_vec(),
            ends: vec![3, 7],
        };
        let entry = write_archive(dir.path(), "d.rkyv", FileKind::Dictionary, &value, 64).unwrap();
        for verification in [
            Verification::Structure,
            Verification::Checksums,
            Verification::ChecksumsUncached,
        ] {
            let mapped = Mapped::<TextDictionary>::open(
                dir.path(),
                &entry,
                FileKind::Dictionary,
                verification,
            )
            .unwrap();
            let text = mapped.slice(|dictionary| &dictionary.text);
            let ends = mapped.slice(|dictionary| &dictionary.ends);
            assert_eq!(mapped.warm(), entry.bytes);
            assert_eq!(text.warm(), 7);
            drop(mapped);
            assert_eq!(&*text, b"shikaku");
            let ends: Vec<u32> = ends.iter().map(|end| end.to_native()).collect();
            assert_eq!(ends, [3, 7]);
        }
    }

    #[test]
    fn released_pages_read_back_the_same_and_a_truncated_file_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let value = TextDictionary {
            text: vec![b'x'; 3 * 4096],
            ends: vec![3 * 4096],
        };
        let entry =
            write_archive(dir.path(), "d.rkyv", FileKind::Dictionary, &value, 1 << 16).unwrap();
        let mapped = Mapped::<TextDictionary>::open(
            dir.path(),
            &entry,
            FileKind::Dictionary,
            Verification::Checksums,
        )
        .unwrap();
        let text = mapped.slice(|dictionary| &dictionary.text);
        mapped.release_pages();
        assert!(text.iter().all(|&b| b == b'x'));
        assert_eq!(mapped.damaged(), None);

        super::super::guard::install();
        std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("d.rkyv"))
            .unwrap()
            .set_len(HEADER_LEN as u64)
            .unwrap();
        // Past the new end: SIGBUS, caught; zeros are read instead.
        assert!(text.iter().all(|&b| b == 0 || b == b'x'));
        assert_eq!(mapped.damaged(), Some("d.rkyv"));
    }
}

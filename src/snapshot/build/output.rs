//! Writing a finished data file: header, archive, fsync, checksum.

use crate::snapshot::format::{header, FileKind};
use crate::snapshot::manifest::FileEntry;
use anyhow::Context;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use xxhash_rust::xxh3::Xxh3;

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

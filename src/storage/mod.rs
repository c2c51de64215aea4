//! Storage primitives every on-disk format of shikaku is written with, and
//! nothing above: checksummed frames for the append-only logs ([`frame`]:
//! the update journal, the check log), headed and checksummed data files
//! mapped read-only ([`archive`]: snapshots, CRL directories), and
//! directories published whole with synced renames ([`publish`]).

pub mod archive;
pub mod frame;
pub mod guard;
pub mod publish;
pub mod watch;

pub use archive::{checksum, FileEntry, FileError, FileKind, Mapped, MappedSlice, Verification};
pub use publish::{partial_path, publish_file, replace_file, sync_dir, write_json, PartialDir};

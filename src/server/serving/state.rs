//! What the server serves, kept across restarts.
//!
//! Every activation and rollback (of the snapshot or of the CRL) rewrites
//! one small file, `serving-state.json`, in the state directory (by default
//! the journal's): written under a temporary name, synced, renamed over the
//! old one and the directory synced, so that a crash leaves the old file or
//! the new one, never a torn one.
//!
//! At start the server serves what the file names, each checked by id, and
//! refuses to start when one of them is missing or is no longer what was
//! recorded: it never falls back silently to what its settings name, which
//! may be yesterday's data. The settings' snapshot and CRL are only the
//! first ones, when there is no file yet; `--reset-state` goes back to them.

use super::crl::CrlSource;
use crate::storage::replace_file;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Name of the state file inside the state directory.
pub(crate) const STATE_FILE: &str = "serving-state.json";

/// Layout version of the state file.
const STATE_VERSION: u32 = 1;

/// The contents of the state file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServingState {
    pub version: u32,
    /// When it was written (RFC 3339, UTC).
    pub written_at: String,
    /// The admin action (or `start`) that wrote it.
    pub cause: String,
    pub snapshot: RecordedSnapshot,
    /// `None` when no CRL was live.
    pub crl: Option<RecordedCrl>,
}

/// The live snapshot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordedSnapshot {
    pub id: String,
    /// Its directory, absolute.
    pub path: PathBuf,
    /// The digest of the manifest it was verified in full against (see
    /// `Manifest::digest`); `None` when its last verification failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified_manifest: Option<String>,
}

/// The live CRL and where it was read from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordedCrl {
    pub id: String,
    pub from: CrlFrom,
    /// The snapshot directory, `crl build` directory or CRL file, absolute.
    pub path: PathBuf,
}

/// The kinds of [`CrlSource`], as the state file names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CrlFrom {
    Snapshot,
    Directory,
    File,
}

impl RecordedCrl {
    /// The record of a list with id `id` read from `source`.
    pub(crate) fn new(id: &str, source: &CrlSource) -> RecordedCrl {
        let (from, path) = match source {
            CrlSource::Snapshot { dir, .. } => (CrlFrom::Snapshot, dir),
            CrlSource::Directory(path) => (CrlFrom::Directory, path),
            CrlSource::File(path) => (CrlFrom::File, path),
        };
        RecordedCrl {
            id: id.to_string(),
            from,
            path: absolute(path),
        }
    }
}

/// `path` made absolute (as it is when the file is written), so that a
/// server started from another directory finds the same files.
pub(crate) fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Where what is served at start came from, for status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The state file, written at this time.
    Recorded { written_at: String },
    /// The settings: there was no state file yet.
    FirstStart,
    /// The settings, because the server was started with `--reset-state`.
    Reset,
}

impl Origin {
    fn describe(&self) -> String {
        match self {
            Origin::Recorded { written_at } => {
                format!("the state file (written at {written_at})")
            }
            Origin::FirstStart => "the settings (there was no state file yet)".into(),
            Origin::Reset => "the settings (started with --reset-state)".into(),
        }
    }
}

/// The outcome of the last write, for status and alarms.
#[derive(Clone, Debug, Default)]
struct LastWrite {
    written_at: Option<String>,
    error: Option<String>,
}

/// The state file of a server.
pub(crate) struct StateFile {
    path: PathBuf,
    origin: Mutex<Option<Origin>>,
    /// Held while a state is written, so that writes never interleave.
    last: Mutex<LastWrite>,
}

impl StateFile {
    /// The state file in `dir` (created on first write; the directory must
    /// exist by then).
    pub(crate) fn in_dir(dir: &Path) -> StateFile {
        StateFile {
            path: dir.join(STATE_FILE),
            origin: Mutex::new(None),
            last: Mutex::new(LastWrite::default()),
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded state; `None` when there is no file. A file that cannot
    /// be read or is not a state file is an error naming it (the server
    /// then does not start).
    pub(crate) fn read(&self) -> Result<Option<ServingState>, String> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: cannot read ({e})", self.path.display())),
        };
        let state: ServingState = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{}: not a serving state file ({e}); restore it, or start with --reset-state to serve the settings' snapshot",
                self.path.display()
            )
        })?;
        if state.version != STATE_VERSION {
            return Err(format!(
                "{}: state file version {}, this build reads version {STATE_VERSION}",
                self.path.display(),
                state.version
            ));
        }
        Ok(Some(state))
    }

    /// Remembers where what is served at start came from.
    pub(crate) fn set_origin(&self, origin: Origin) {
        if let Ok(mut slot) = self.origin.lock() {
            *slot = Some(origin);
        }
    }

    /// Writes the state that `current` makes (called with the write lock
    /// held, so that the last write is of the latest state), replacing the
    /// file atomically. The error is also kept for status.
    pub(crate) fn write(
        &self,
        current: impl FnOnce() -> Option<ServingState>,
    ) -> Result<(), String> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = current() else {
            return Ok(());
        };
        let result = replace_state(&self.path, &state).map_err(|e| format!("{e:#}"));
        match &result {
            Ok(()) => {
                *last = LastWrite {
                    written_at: Some(state.written_at),
                    error: None,
                }
            }
            Err(error) => last.error = Some(error.clone()),
        }
        result
    }

    /// Why the last write failed, if it did.
    pub(crate) fn failure(&self) -> Option<String> {
        self.last.lock().ok()?.error.clone()
    }

    /// For `/admin/status`.
    pub(crate) fn status(&self) -> serde_json::Value {
        let origin = self.origin.lock().ok().and_then(|o| o.clone());
        let last = self.last.lock().map(|l| l.clone()).unwrap_or_default();
        serde_json::json!({
            "file": self.path.display().to_string(),
            "started_from": origin.map(|o| o.describe()),
            "last_written_at": last.written_at,
            "last_write_error": last.error,
        })
    }
}

impl ServingState {
    /// A state of the current layout version.
    pub(crate) fn new(
        cause: &str,
        written_at: String,
        snapshot: RecordedSnapshot,
        crl: Option<RecordedCrl>,
    ) -> ServingState {
        ServingState {
            version: STATE_VERSION,
            written_at,
            cause: cause.to_string(),
            snapshot,
            crl,
        }
    }
}

/// Writes `state` to `path` through a temporary file and a rename.
fn replace_state(path: &Path, state: &ServingState) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec_pretty(state).context("cannot encode the state")?;
    text.push(b'\n');
    replace_file(path, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str) -> ServingState {
        ServingState::new(
            "snapshot.activate",
            "2026-12-07T00:00:00Z".into(),
            RecordedSnapshot {
                id: id.into(),
                path: "/snapshots/a".into(),
                verified_manifest: Some("00".repeat(16)),
            },
            Some(RecordedCrl::new(
                "crl-1",
                &CrlSource::Directory("/crl/1".into()),
            )),
        )
    }

    #[test]
    fn a_written_state_reads_back_and_replaces_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        assert_eq!(file.read(), Ok(None));
        file.write(|| Some(state("a"))).unwrap();
        file.write(|| Some(state("b"))).unwrap();
        assert_eq!(file.read(), Ok(Some(state("b"))));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [STATE_FILE]);
        assert_eq!(file.status()["last_written_at"], "2026-12-07T00:00:00Z");
    }

    #[test]
    fn a_damaged_or_foreign_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(dir.path());
        for text in ["{\"version\": 1", "[]", "{\"version\": 9}"] {
            std::fs::write(file.path(), text).unwrap();
            let error = file.read().unwrap_err();
            assert!(error.contains(STATE_FILE), "{error}");
        }
        let mut future = state("a");
        future.version = 2;
        std::fs::write(file.path(), serde_json::to_vec(&future).unwrap()).unwrap();
        assert!(file.read().unwrap_err().contains("version 2"));
    }

    #[test]
    fn a_failed_write_is_reported_and_kept_for_status() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::in_dir(&dir.path().join("missing"));
        let error = file.write(|| Some(state("a"))).unwrap_err();
        assert!(error.contains("missing"), "{error}");
        assert_eq!(file.failure(), Some(error));
    }
}

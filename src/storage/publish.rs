//! Publishing a directory atomically: everything is written under
//! `<out>.partial/`, synced, and renamed into place, so a directory under
//! its final name is always complete. Snapshots and CRL directories are
//! both written this way.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// A directory being written; removed when dropped unless published.
pub struct PartialDir {
    path: PathBuf,
    out: PathBuf,
    published: bool,
}

impl PartialDir {
    /// Starts writing the directory that will be `out`. Refuses when `out`
    /// exists (`what` names it in the message: published directories are
    /// never overwritten); a partial directory left by a crash is cleared.
    pub fn create(out: &Path, what: &str) -> anyhow::Result<PartialDir> {
        if out.exists() {
            anyhow::bail!(
                "{}: already exists; {what} are never overwritten, write into a new directory",
                out.display()
            );
        }
        let partial = PartialDir {
            path: partial_path(out),
            out: out.to_path_buf(),
            published: false,
        };
        if partial.path.exists() {
            std::fs::remove_dir_all(&partial.path)
                .with_context(|| format!("cannot clear {}", partial.path.display()))?;
        }
        std::fs::create_dir_all(&partial.path)
            .with_context(|| format!("cannot create {}", partial.path.display()))?;
        Ok(partial)
    }

    /// Where the files go until the directory is published.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Syncs the directory, renames it to its final name and syncs the
    /// parent, so that after a crash it is either complete or absent.
    pub fn publish(mut self) -> anyhow::Result<()> {
        sync_dir(&self.path)?;
        std::fs::rename(&self.path, &self.out).with_context(|| {
            format!(
                "cannot move {} to {}",
                self.path.display(),
                self.out.display()
            )
        })?;
        self.published = true;
        let parent = self.out.parent().filter(|p| !p.as_os_str().is_empty());
        sync_dir(parent.unwrap_or(Path::new(".")))
    }
}

impl Drop for PartialDir {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Where a directory is written before it is renamed to `out` when complete.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Writes `value` as pretty JSON to `path` and syncs it.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value).context("cannot encode JSON")?;
    let mut file =
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Replaces the file at `path` with `bytes` so that a crash leaves the old
/// file or the new one, never a torn one: written to its partial path,
/// synced, then [`publish_file`].
pub fn replace_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = partial_path(path);
    let mut file = std::fs::File::create(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    std::io::Write::write_all(&mut file, bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    publish_file(&temporary, path)
}

/// Renames `temporary` (written and synced) over `path` and makes the
/// rename durable.
pub fn publish_file(temporary: &Path, path: &Path) -> anyhow::Result<()> {
    std::fs::rename(temporary, path).with_context(|| {
        format!(
            "cannot rename {} to {}",
            temporary.display(),
            path.display()
        )
    })?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes the entries of `dir` (files created, renamed or removed in it)
/// durable.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_directory_is_published_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("snap");
        let partial = PartialDir::create(&out, "snapshots").unwrap();
        write_json(&partial.path().join("a.json"), &[1, 2]).unwrap();
        drop(partial);
        assert!(!out.exists() && !partial_path(&out).exists());
        let partial = PartialDir::create(&out, "snapshots").unwrap();
        write_json(&partial.path().join("a.json"), &[1, 2]).unwrap();
        partial.publish().unwrap();
        assert!(out.join("a.json").is_file() && !partial_path(&out).exists());
        let again = PartialDir::create(&out, "snapshots").err().unwrap();
        assert!(again.to_string().contains("already exists"), "{again}");
    }
}

//! A built CRL on disk: a directory with `crl.json` (id, metadata, counts,
//! checksums) and `revocations.rkyv` (the sets, in the snapshot's format).
//!
//! Importing a national CRL takes seconds; opening a built one takes
//! milliseconds and re-checks its checksum, so the server activates built
//! directories and `shikaku crl build` does the import (and the signature
//! check) beforehand. Written as `DIR.partial` and renamed when complete, so
//! a directory with a `crl.json` is always a finished one.

use super::revocations::{open_revocations, REVOCATIONS_FILE};
use super::{Crl, CrlError, CrlMeta, Imported};
use crate::storage::archive::{write_archive, FILE_LAYOUT_VERSION};
use crate::storage::{write_json, FileEntry, FileKind, PartialDir, Verification};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Name of the description file inside a CRL directory.
pub const CRL_MANIFEST_FILE: &str = "crl.json";

/// `crl.json`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CrlManifest {
    /// Layout version of the directory's files (the storage `FILE_LAYOUT_VERSION`).
    pub format_version: u32,
    /// The CRL generation id, by default derived from thisUpdate and cRLNumber.
    pub id: String,
    /// When the build finished (RFC 3339, UTC).
    pub created_at: String,
    /// Number of revoked serials.
    pub revoked: u64,
    /// Number of suspended (certificateHold) serials.
    pub suspended: u64,
    /// What the imported X.509 CRL says about itself.
    pub crl: CrlMeta,
    /// The data files of the directory (`revocations.rkyv`) with sizes and checksums.
    pub files: Vec<FileEntry>,
    /// Seconds the import took (parse and signature check, in parallel) and
    /// the whole build.
    pub import_seconds: f64,
    /// Seconds the whole build took, import and writing included.
    pub build_seconds: f64,
}

/// Writes `imported` as a CRL directory at `out` (which must not exist).
pub fn write(imported: &Imported, out: &Path, id: Option<String>) -> anyhow::Result<CrlManifest> {
    let started = std::time::Instant::now();
    let partial = PartialDir::create(out, "CRL directories")?;
    let file = imported
        .sets
        .to_file()
        .context("cannot encode the revocation sets")?;
    let entry = write_archive(
        partial.path(),
        REVOCATIONS_FILE,
        FileKind::Revocations,
        &file,
        file.revoked.len() + file.suspended.len() + 4096,
    )?;
    let manifest = CrlManifest {
        format_version: FILE_LAYOUT_VERSION,
        id: id.unwrap_or_else(|| imported.meta.default_id()),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        revoked: imported.sets.revoked_count(),
        suspended: imported.sets.suspended_count(),
        crl: imported.meta.clone(),
        files: vec![entry],
        import_seconds: imported.total_seconds,
        build_seconds: imported.total_seconds + started.elapsed().as_secs_f64(),
    };
    write_json(&partial.path().join(CRL_MANIFEST_FILE), &manifest)?;
    partial.publish()?;
    Ok(manifest)
}

/// Reads `dir/crl.json`.
pub fn read_manifest(dir: &Path) -> Result<CrlManifest, CrlError> {
    let path = dir.join(CRL_MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        CrlError::new(format!(
            "{}: cannot read ({e}); is this a finished `shikaku crl build` directory?",
            path.display()
        ))
    })?;
    let manifest: CrlManifest = serde_json::from_str(&text)
        .map_err(|e| CrlError::new(format!("{}: not a CRL manifest ({e})", path.display())))?;
    if manifest.format_version != FILE_LAYOUT_VERSION {
        return Err(CrlError::new(format!(
            "{}: format version {}, this build reads version {FILE_LAYOUT_VERSION}: rebuild the CRL",
            path.display(),
            manifest.format_version
        )));
    }
    Ok(manifest)
}

/// Opens a CRL directory, checking every checksum.
pub fn open(dir: &Path) -> Result<(Crl, CrlManifest), CrlError> {
    let manifest = read_manifest(dir)?;
    let entry = manifest
        .files
        .iter()
        .find(|f| f.name == REVOCATIONS_FILE)
        .ok_or_else(|| {
            CrlError::new(format!(
                "{}: {REVOCATIONS_FILE} is not listed",
                dir.join(CRL_MANIFEST_FILE).display()
            ))
        })?;
    let sets = open_revocations(dir, entry, Verification::Checksums)
        .map_err(|e| CrlError::new(format!("{}: {e}", dir.display())))?;
    let listed = (manifest.revoked, manifest.suspended);
    let found = (sets.revoked_count(), sets.suspended_count());
    if listed != found {
        return Err(CrlError::new(format!(
            "{}: holds {} revoked and {} suspended serials, crl.json says {} and {}",
            dir.display(),
            found.0,
            found.1,
            listed.0,
            listed.1
        )));
    }
    let crl = Crl::new(manifest.id.clone(), Some(manifest.crl.clone()), sets)?;
    Ok((crl, manifest))
}

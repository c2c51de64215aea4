//! The certificate revocation list: importing the JPKI CA's X.509 CRL,
//! keeping it as its own generation beside the eligibility snapshot, and
//! checking user certificates against it.
//!
//! The CA publishes the whole list at 07:00 and it must be serving before
//! 08:00 (`SPEC.md` §2.3), independently of the nightly snapshot. So a
//! [`Crl`] is a unit of its own: imported from DER or PEM ([`import`]),
//! written as a small checksummed directory ([`store`]), activated and
//! rolled back by the server under gates that refuse an older, unsigned or
//! implausibly different list ([`gate`]). A snapshot built from a CRL embeds
//! the same thing, so a server started from a snapshot alone has one.

pub mod certificate;
pub mod gate;
pub mod reader;
pub mod revocations;
pub mod store;
pub mod trust;

use crate::model::Revocation;
use crate::model::Serial;
use crate::source::SourceDigest;
use chrono::{DateTime, Utc};
use reader::CrlDocument;
use revocations::{RevocationSets, RevocationSetsBuilder};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use trust::CaCertificate;

/// Why a CRL cannot be used; the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct CrlError {
    /// What was wrong, naming the file or entry where it applies.
    pub message: String,
}

impl CrlError {
    /// An error with this message.
    pub fn new(message: String) -> CrlError {
        CrlError { message }
    }
}

/// What is known about an imported X.509 CRL (recorded in a snapshot's
/// manifest or a CRL directory's `crl.json`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CrlMeta {
    /// Issuer name, RFC 4514.
    pub issuer: String,
    /// The CA certificate the signature was verified with, base64 DER.
    pub issuer_certificate: String,
    /// RFC 3339, UTC.
    pub this_update: String,
    /// nextUpdate, RFC 3339 UTC; `None` when the CRL has no nextUpdate field.
    pub next_update: Option<String>,
    /// The cRLNumber extension: decimal, or `0x` hex beyond 64 bits.
    pub number: Option<String>,
    /// Signature algorithm of the CRL by its RFC name (e.g.
    /// `sha256WithRSAEncryption`), or the dotted OID when unknown.
    pub signature_algorithm: String,
    /// Entries in `revokedCertificates`, duplicates included.
    pub entries: u64,
    /// Serials listed more than once (kept once; the first status wins).
    pub duplicate_entries: u64,
    /// The imported file: name, size and xxh3-128 checksum.
    pub source: SourceDigest,
}

impl CrlMeta {
    /// thisUpdate as a time; `None` if the recorded text is not RFC 3339.
    pub fn this_update_time(&self) -> Option<DateTime<Utc>> {
        parse_time(&self.this_update)
    }

    /// nextUpdate as a time; `None` if absent or not RFC 3339.
    pub fn next_update_time(&self) -> Option<DateTime<Utc>> {
        self.next_update.as_deref().and_then(parse_time)
    }

    /// The cRLNumber as an integer (held as a [`Serial`]), for comparing lists;
    /// `None` if absent.
    pub fn number_value(&self) -> Option<Serial> {
        self.number.as_deref().and_then(|n| Serial::parse(n).ok())
    }

    /// The id a CRL gets unless one is given: its thisUpdate, and its number.
    pub fn default_id(&self) -> String {
        let stamp = self
            .this_update_time()
            .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_else(|| self.this_update.clone());
        match &self.number {
            Some(number) => format!("crl-{stamp}-{number}"),
            None => format!("crl-{stamp}"),
        }
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn rfc3339(time: x509_cert::time::Time) -> String {
    DateTime::<Utc>::from(time.to_system_time()).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A revocation list ready to answer from: the sets, and where they came from.
#[derive(Debug)]
pub struct Crl {
    id: String,
    /// `None` for a list read from `revoked.csv` (no X.509 metadata).
    meta: Option<CrlMeta>,
    sets: RevocationSets,
    issuer: Option<CaCertificate>,
}

impl Crl {
    /// A list from its id, metadata and sets; fails if the recorded issuer
    /// certificate in `meta` cannot be decoded.
    pub fn new(id: String, meta: Option<CrlMeta>, sets: RevocationSets) -> Result<Crl, CrlError> {
        let issuer = match &meta {
            Some(meta) => {
                Some(CaCertificate::from_base64(&meta.issuer_certificate).map_err(CrlError::new)?)
            }
            None => None,
        };
        Ok(Crl {
            id,
            meta,
            sets,
            issuer,
        })
    }

    /// The CRL generation id (e.g. `crl-20261121T070000Z-4711`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// X.509 metadata; `None` for a list read from `revoked.csv`.
    pub fn meta(&self) -> Option<&CrlMeta> {
        self.meta.as_ref()
    }

    /// The revoked and suspended serials.
    pub fn sets(&self) -> &RevocationSets {
        &self.sets
    }

    /// The CA that signed the list (and so the certificates it covers).
    pub fn issuer(&self) -> Option<&CaCertificate> {
        self.issuer.as_ref()
    }

    /// Whether `serial` is revoked or suspended; `None` when not listed.
    #[inline]
    pub fn status(&self, serial: &Serial) -> Option<Revocation> {
        self.sets.status(serial)
    }

    /// Distinct serials listed: revoked plus suspended.
    pub fn entries(&self) -> u64 {
        self.sets.revoked_count() + self.sets.suspended_count()
    }

    /// Whether the list is past its nextUpdate at `now`.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        self.meta
            .as_ref()
            .and_then(CrlMeta::next_update_time)
            .is_some_and(|next| next < now)
    }
}

/// An imported CRL: its metadata and sets, and how long each step took.
#[derive(Debug)]
pub struct Imported {
    /// What the CRL says about itself, and the file it came from.
    pub meta: CrlMeta,
    /// The revoked and suspended serials.
    pub sets: RevocationSets,
    /// Seconds spent walking the entries and checking the signature (in parallel).
    pub parse_seconds: f64,
    /// Seconds for the whole import, mapping and decoding included.
    pub total_seconds: f64,
}

/// Reads the CRL at `path` (DER, or PEM `X509 CRL`), checks that one of
/// `cas` issued it and that its signature verifies, and builds the sets.
/// DER is mapped, not read; the signature is checked on one core while the
/// entries are walked on the other.
pub fn import(path: &Path, cas: &[CaCertificate]) -> Result<Imported, CrlError> {
    let started = Instant::now();
    let name = path.display().to_string();
    let in_file = |problem: String| CrlError::new(format!("{name}: {problem}"));
    let file = std::fs::File::open(path).map_err(|e| in_file(format!("cannot open ({e})")))?;
    // SAFETY: the file is only read; the operator's CRL file is not rewritten
    // while it is imported (the runbook fetches to a new name).
    let map =
        unsafe { memmap2::Mmap::map(&file) }.map_err(|e| in_file(format!("cannot map ({e})")))?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    let source = SourceDigest {
        file: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes: map.len() as u64,
        xxh3_128: crate::storage::checksum(&map),
    };
    let decoded;
    let der: &[u8] = if trust::looks_like_pem(&map) {
        decoded = trust::pem_block(&map, "X509 CRL").map_err(in_file)?;
        &decoded
    } else {
        &map
    };
    let document = CrlDocument::parse(der).map_err(|e| in_file(e.message))?;
    let ca = cas
        .iter()
        .find(|ca| ca.is_issuer_of(document.issuer_der))
        .ok_or_else(|| {
            in_file(format!(
                "issued by `{}`, which is not the configured CA ({}); give the CA certificate that signed it",
                document.issuer,
                cas.iter().map(|c| format!("`{}`", c.subject())).collect::<Vec<_>>().join(", ")
            ))
        })?;
    let parse_started = Instant::now();
    let (verified, walked) = rayon::join(
        || {
            ca.verify(
                document.signature_algorithm.oid,
                document.tbs,
                document.signature,
            )
        },
        || collect_sets(&document),
    );
    verified.map_err(|e| in_file(format!("signature: {e}")))?;
    let (sets, entries, duplicate_entries) = walked.map_err(|e| in_file(e.message))?;
    let meta = CrlMeta {
        issuer: document.issuer.to_string(),
        issuer_certificate: ca.to_base64(),
        this_update: rfc3339(document.this_update),
        next_update: document.next_update.map(rfc3339),
        number: document.number.map(|n| match n.as_u64() {
            Some(small) => small.to_string(),
            None => n.to_string(),
        }),
        signature_algorithm: trust::algorithm_name(document.signature_algorithm.oid),
        entries,
        duplicate_entries,
        source,
    };
    Ok(Imported {
        meta,
        sets,
        parse_seconds: parse_started.elapsed().as_secs_f64(),
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

fn collect_sets(document: &CrlDocument<'_>) -> Result<(RevocationSets, u64, u64), CrlError> {
    let mut sets = RevocationSetsBuilder::new();
    let mut duplicates = 0u64;
    let entries = document.for_each_entry(|serial, status| {
        if !sets.insert(&serial, status) {
            duplicates += 1;
        }
    })?;
    Ok((sets.finish(), entries, duplicates))
}

//! The post-build key check: the finished snapshot is walked as `snapshot
//! verify` walks it (every key of every person found again through the
//! engine's own lookups, every index slot accounted for), and the digest of
//! what it holds must equal the digest of every input row and link the
//! build accepted. Stores that lose or alter keys silently at build time
//! are a known failure; this turns such a loss into a failed build instead
//! of a wrong `not_found`.

use crate::snapshot::open::Snapshot;
use crate::snapshot::verify::{walk_reporting, ContentDigest};
use anyhow::bail;

/// What the key check looked at and noticed.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct KeyCheck {
    /// Eligibility rows found again by online number, card face and
    /// linkage number.
    pub rows_checked: u64,
    /// Linked serials found again.
    pub serials_checked: u64,
    /// Online numbers whose rows belong to more than one person (checks by
    /// them answer `multiple`).
    pub shared_online_numbers: u64,
    /// Up to five of those shared numbers, each with a linkage number.
    pub shared_examples: Vec<String>,
}

/// Checks the finished `snapshot` against the digest of what the build
/// `accepted`; `shard_walked` is called as each shard has been walked (see
/// `walk_reporting`).
pub(super) fn check_keys(
    snapshot: &Snapshot,
    accepted: &ContentDigest,
    shard_walked: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<KeyCheck> {
    let walked = match walk_reporting(snapshot, shard_walked) {
        Ok(walked) => walked,
        Err(error) => bail!(
            "key check failed: {error}; this is a bug in the build, please report it with the build report"
        ),
    };
    let held = walked.content;
    if held != *accepted {
        bail!(
            "key check failed: the snapshot holds {} rows and {} links, but not the {} rows and {} links the build accepted (or not as they were read); this is a bug in the build, please report it with the build report",
            held.rows,
            held.links,
            accepted.rows,
            accepted.links
        );
    }
    Ok(KeyCheck {
        rows_checked: held.rows,
        serials_checked: held.links,
        shared_online_numbers: walked.shared_online_numbers,
        shared_examples: walked.shared_examples,
    })
}

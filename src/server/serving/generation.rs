//! One snapshot as served: the snapshot, the overlay of the day's updates
//! over it, and when and how it was activated.

use crate::server::serving::recheck::Recheck;
use crate::snapshot::verify::VerifyReport;
use crate::snapshot::Snapshot;
use crate::updates::checkpoint::CheckpointMark;
use crate::updates::overlay::Overlay;
use arc_swap::ArcSwap;
use std::time::SystemTime;

/// One loaded, verified snapshot as served.
pub(crate) struct Generation {
    pub snapshot: Snapshot,
    /// Counts activations in this process (1 = the first snapshot served).
    pub number: u64,
    pub activated_at: SystemTime,
    pub verified: VerifyReport,
    /// Whether its checksums were read before it went live, or are being
    /// read again after a restart trusted an earlier verification.
    pub recheck: std::sync::Mutex<Recheck>,
    /// The changes applied over the snapshot; replaced by the ingest task
    /// after every committed group (a request loads it once).
    pub overlay: ArcSwap<Overlay>,
}

impl Generation {
    /// The last journal record (LSN) folded into its snapshot (0: none).
    pub(crate) fn folded_through(&self) -> u64 {
        self.snapshot
            .manifest()
            .journal
            .as_ref()
            .map_or(0, |mark| mark.through_lsn)
    }

    /// What a checkpoint of its overlay up to `through_lsn` says it covers.
    pub(crate) fn checkpoint_mark(&self, through_lsn: u64) -> CheckpointMark {
        CheckpointMark {
            snapshot_id: self.snapshot.id().to_string(),
            snapshot_content: self.snapshot.manifest().content_digest(),
            folded_through: self.folded_through(),
            through_lsn,
        }
    }

    /// Seconds since the snapshot was built (from its manifest), if known.
    pub(crate) fn age_seconds(&self, now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
        let built =
            chrono::DateTime::parse_from_rfc3339(&self.snapshot.manifest().created_at).ok()?;
        let age = now.signed_duration_since(built);
        Some(age.num_milliseconds() as f64 / 1000.0)
    }
}

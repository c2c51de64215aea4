//! Activation gates: what a snapshot must pass before it goes live
//! (`ARCHITECTURE.md`, "Activation is gated"). Runs off the serving path.
//!
//! 1. Verification: every file's checksum, structure and the counts that
//!    need no walk (`verify_checksums`; the walk of every key was the
//!    build's key check, and `snapshot verify` repeats it on demand).
//! 2. Against the live snapshot, unless forced: not the same or an older
//!    build; row and person counts within `max_row_change_percent`; the same
//!    verdict for sampled keys (taken from both snapshots) within
//!    `max_verdict_drift_percent`.
//! 3. Canaries, never skipped: the operator's known keys with known verdicts.
//!
//! Beside a live snapshot the new one is read past the page cache and its
//! gates fault in 4 KiB at a time, so that a snapshot as large as the
//! memory can be checked without pushing the live one's pages out (checks
//! would wait on the disk for them); once it passed, the parts every lookup
//! reads are warmed into the memory the live one leaves (see
//! [`Snapshot::warm_indexes`]), the rest after the swap.

use crate::crl::trust::Trust;
use crate::engine::rules::Rules;
use crate::engine::sample::sample_queries;
use crate::engine::{answer, Check, View};
use crate::model::Date;
use crate::model::Verdict;
use crate::server::request::parse_check;
use crate::server::serving::generation::Generation;
use crate::server::serving::slot::ActivationError;
use crate::snapshot::verify::{verify_checksums, VerifyReport};
use crate::snapshot::{Manifest, Snapshot, Verification};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Rows sampled from each of the two snapshots for the drift check.
const DRIFT_SAMPLE_ROWS: usize = 1_000;

/// Memory left free when a new snapshot's indexes are warmed beside the
/// live one (besides what an overlay rebuilt over it may take).
const WARM_RESERVE: u64 = 1 << 30;

/// The configured limits.
#[derive(Clone, Debug)]
pub(crate) struct ActivationPolicy {
    pub max_row_change_percent: f64,
    pub max_verdict_drift_percent: f64,
    pub canaries: Option<PathBuf>,
}

/// What an activation checked, answered by the admin API.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ActivationReport {
    pub status: &'static str,
    pub activated: String,
    pub path: String,
    pub generation: u64,
    pub previous: Option<String>,
    pub forced: bool,
    pub verify: VerifyReport,
    /// True when the verification before a restart was trusted (see
    /// [`prepare_trusted`]); `verify` then comes from the manifest.
    pub trusted: bool,
    pub rows_change_percent: Option<f64>,
    pub persons_change_percent: Option<f64>,
    pub drift: Option<Drift>,
    pub canaries_passed: usize,
    pub seconds: f64,
    /// The id of the snapshot's embedded CRL when it became the live CRL too
    /// (it does not replace a newer CRL activated on its own).
    pub crl_adopted: Option<String>,
    /// Bytes of the new snapshot read into memory before the swap (see
    /// [`Snapshot::warm_indexes`]; 0 for a first start, which reads it all).
    pub warmed_bytes: u64,
    /// Seconds that took.
    pub warm_seconds: f64,
    /// The journal records replayed over the new snapshot (with a journal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updates: Option<crate::server::serving::ingest::InstallReport>,
}

/// Sampled keys answered differently by the live and the new snapshot.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Drift {
    pub sampled: usize,
    pub changed: usize,
    pub percent: f64,
}

fn refused(problem: impl std::fmt::Display, live: Option<&Generation>) -> ActivationError {
    let keeps = match live {
        Some(live) => format!("the live snapshot {} keeps serving", live.snapshot.id()),
        None => "nothing is being served yet".to_string(),
    };
    ActivationError::Refused(format!("refused: {problem}; {keeps}"))
}

/// Opens, verifies and gates the snapshot at `path`.
pub(crate) fn prepare(
    path: &Path,
    live: Option<&Generation>,
    force: bool,
    policy: &ActivationPolicy,
    trust: &Trust,
    today: Date,
) -> Result<(Snapshot, VerifyReport, ActivationReport), ActivationError> {
    let started = Instant::now();
    let verification = match live {
        Some(_) => Verification::ChecksumsUncached,
        None => Verification::Checksums,
    };
    let (snapshot, verified) = verify_checksums(path, verification)
        .map_err(|e| refused(format!("{}: {e}", path.display()), live))?;
    let mut report = ActivationReport::new(&snapshot, path, live, force, &verified);
    if let Some(live) = live {
        compare_with_live(&snapshot, live, force, policy, trust, today, &mut report)
            .map_err(|problem| refused(problem, Some(live)))?;
    }
    report.canaries_passed = canaries(&snapshot, policy, trust, today, live)?;
    if let Some(live) = live {
        // The gates' 4 KiB pages go first: a 2 MiB page cannot be read
        // where one of them is cached.
        snapshot.release_pages();
        let warming = Instant::now();
        report.warmed_bytes = warm_beside(&snapshot, live);
        report.warm_seconds = warming.elapsed().as_secs_f64();
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok((snapshot, verified, report))
}

/// Opens the snapshot at `path` that was verified in full when it was
/// activated before a restart, trusting that verification while its
/// manifest (which holds every file's checksum) is unchanged: the
/// structure is checked (constant time per file) and the canaries run;
/// the checksums are read again in the background once it serves (see
/// [`super::recheck::Recheck`]). For a national snapshot that is seconds instead of
/// minutes of 503s after a crash.
pub(crate) fn prepare_trusted(
    path: &Path,
    verified_manifest: &str,
    policy: &ActivationPolicy,
    trust: &Trust,
    today: Date,
) -> Result<(Snapshot, VerifyReport, ActivationReport), ActivationError> {
    let started = Instant::now();
    let refuse = |problem: String| refused(format!("{}: {problem}", path.display()), None);
    let digest = Manifest::digest(path).map_err(refuse)?;
    if digest != verified_manifest {
        return Err(refuse(format!(
            "its manifest changed since it was verified (xxh3 {digest}, not {verified_manifest})"
        )));
    }
    let snapshot = Snapshot::open(path).map_err(|e| refuse(e.to_string()))?;
    let verified = VerifyReport::of_manifest(snapshot.manifest(), started, digest);
    let mut report = ActivationReport::new(&snapshot, path, None, false, &verified);
    report.trusted = true;
    report.canaries_passed = canaries(&snapshot, policy, trust, today, None)?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok((snapshot, verified, report))
}

/// Runs the canary file, if there is one, against `snapshot`: how many
/// passed, or the refusal.
fn canaries(
    snapshot: &Snapshot,
    policy: &ActivationPolicy,
    trust: &Trust,
    today: Date,
    live: Option<&Generation>,
) -> Result<usize, ActivationError> {
    match &policy.canaries {
        Some(canaries) => {
            run_canaries(snapshot, canaries, trust, today).map_err(|p| refused(p, live))
        }
        None => Ok(0),
    }
}

impl ActivationReport {
    fn new(
        snapshot: &Snapshot,
        path: &Path,
        live: Option<&Generation>,
        force: bool,
        verified: &VerifyReport,
    ) -> ActivationReport {
        ActivationReport {
            status: "ok",
            activated: snapshot.id().to_string(),
            path: path.display().to_string(),
            generation: 0,
            previous: live.map(|g| g.snapshot.id().to_string()),
            forced: force,
            verify: verified.clone(),
            trusted: false,
            rows_change_percent: None,
            persons_change_percent: None,
            drift: None,
            canaries_passed: 0,
            seconds: 0.0,
            crl_adopted: None,
            warmed_bytes: 0,
            warm_seconds: 0.0,
            updates: None,
        }
    }
}

fn compare_with_live(
    new: &Snapshot,
    live: &Generation,
    force: bool,
    policy: &ActivationPolicy,
    trust: &Trust,
    today: Date,
    report: &mut ActivationReport,
) -> Result<(), String> {
    let (old_manifest, new_manifest) = (live.snapshot.manifest(), new.manifest());
    let change = |old: u64, new: u64| (new as f64 - old as f64).abs() * 100.0 / old.max(1) as f64;
    let rows = change(old_manifest.counts.rows, new_manifest.counts.rows);
    let persons = change(old_manifest.counts.persons, new_manifest.counts.persons);
    report.rows_change_percent = Some(rows);
    report.persons_change_percent = Some(persons);
    let live_overlay = live.overlay.load();
    let drift = verdict_drift(View::new(&live.snapshot, &live_overlay), new, trust, today);
    report.drift = Some(drift.clone());
    if force {
        return Ok(());
    }
    let (old_built, new_built) = (&old_manifest.created_at, &new_manifest.created_at);
    if new_manifest.id == old_manifest.id && new_built == old_built {
        return Err(format!(
            "{} is already live (force to reload it)",
            new_manifest.id
        ));
    }
    if built_at(new_built) < built_at(old_built) {
        return Err(format!(
            "{} was built at {new_built}, before the live {} ({old_built}); force to go back",
            new_manifest.id, old_manifest.id
        ));
    }
    let limit = policy.max_row_change_percent;
    if rows > limit || persons > limit {
        return Err(format!(
            "rows change by {rows:.2}% and persons by {persons:.2}%, beyond the {limit}% allowed ({} → {} rows); force if this is expected",
            old_manifest.counts.rows, new_manifest.counts.rows
        ));
    }
    if drift.percent > policy.max_verdict_drift_percent {
        return Err(format!(
            "{} of {} sampled keys ({:.2}%) get another verdict than from the live snapshot, beyond the {}% allowed; force if this is expected",
            drift.changed, drift.sampled, drift.percent, policy.max_verdict_drift_percent
        ));
    }
    Ok(())
}

/// Reads `snapshot`'s indexes into the memory `live` leaves (see
/// [`Snapshot::warm_indexes`]) before it replaces `live`: an activation,
/// or a rollback to a generation that gave its pages back. The budget is
/// what the kernel could make available (free memory and caches it can
/// drop) less the live snapshot, a reserve and what rebuilding the overlay
/// may take: pages of other files (a journal, an update file just sent)
/// may be pushed out, the live snapshot's should not. Returns the bytes
/// read.
pub(crate) fn warm_beside(snapshot: &Snapshot, live: &Generation) -> u64 {
    let live_files: u64 = live.snapshot.manifest().files.iter().map(|f| f.bytes).sum();
    let reserve = WARM_RESERVE + live.overlay.load().counts().row_bytes;
    snapshot.warm_indexes(available_memory().saturating_sub(live_files + reserve))
}

/// Memory the kernel could make available without swapping
/// (`MemAvailable`: free memory and the caches it can drop), 0 if unknown.
fn available_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemAvailable:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

fn built_at(rfc3339: &str) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    chrono::DateTime::parse_from_rfc3339(rfc3339).ok()
}

/// Asks keys drawn from both snapshots of both, today, and counts the
/// verdicts that differ. The live side answers with its overlay: a fold of
/// the day's updates answers like the live snapshot with them, so only
/// unexplained change counts as drift.
fn verdict_drift(live: View<'_>, new: &Snapshot, trust: &Trust, today: Date) -> Drift {
    let per_shard = |s: &Snapshot| DRIFT_SAMPLE_ROWS.div_ceil(s.shard_count().max(1) as usize);
    let mut queries = sample_queries(live.snapshot, per_shard(live.snapshot));
    queries.extend(sample_queries(new, per_shard(new)));
    let verdict = |view: View<'_>, check: &Check| {
        answer(view, view.snapshot.crl(), trust, check).map(|a| a.verdict)
    };
    let sampled = queries.len();
    let changed = queries
        .into_iter()
        .map(|query| Check {
            query,
            date: today,
            certificate: None,
        })
        .filter(|check| verdict(live, check) != verdict(View::bare(new), check))
        .count();
    Drift {
        sampled,
        changed,
        percent: changed as f64 * 100.0 / sampled.max(1) as f64,
    }
}

/// Runs the canary file against `snapshot`: NDJSON lines as for bulk checks
/// with `"expect": "<verdict>"`. Returns how many passed; any failure (or a
/// bad line) refuses, naming the line.
fn run_canaries(
    snapshot: &Snapshot,
    path: &Path,
    trust: &Trust,
    today: Date,
) -> Result<usize, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("canaries {}: cannot read ({e})", path.display()))?;
    let rules = Rules::any_past_date(today);
    let mut failures = Vec::new();
    let mut passed = 0;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let place = format!("canaries {}:{}", path.display(), index + 1);
        let expect = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("expect")?.as_str().and_then(Verdict::parse))
            .ok_or_else(|| format!("{place}: expect: required, one of the verdicts"))?;
        let request = parse_check(line.as_bytes(), None, &rules)
            .map_err(|(e, _)| format!("{place}: {}", e.message))?;
        let got = answer(View::bare(snapshot), snapshot.crl(), trust, &request.check)
            .map(|answer| answer.verdict);
        match got {
            Ok(got) if got == expect => passed += 1,
            Ok(got) => failures.push(format!(
                "{place}: expected {}, got {}",
                expect.as_str(),
                got.as_str()
            )),
            Err(rejected) => failures.push(format!(
                "{place}: expected {}, but the certificate is refused ({})",
                expect.as_str(),
                rejected.0
            )),
        }
    }
    match failures.len() {
        0 => Ok(passed),
        n => Err(format!(
            "{n} canary checks failed: {}",
            failures
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

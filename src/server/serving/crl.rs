//! The live CRL: a generation of its own beside the snapshot's.
//!
//! The CA's list is replaced every morning between 07:00 and 08:00, while
//! the eligibility snapshot changes at night, so the two swap independently:
//! requests load the live CRL with one atomic load (as they load the
//! snapshot), an activation prepares the new list off the request path and
//! swaps the pointer, and the previous lists are kept for rollback.
//!
//! A snapshot brings its own embedded list. When a snapshot is activated its
//! list is adopted if the live one also came from a snapshot, or is older;
//! a list activated on its own is never replaced by an older embedded one.

use crate::crl::gate::{judge, CrlPolicy, Passed};
use crate::crl::trust::{CaCertificate, Trust};
use crate::crl::{store, Crl};
use crate::model::clock::SharedClock;
use crate::server::serving::slot::{ActivationError, Change, Slot};
use crate::server::serving::state::{CrlFrom, RecordedCrl};
use crate::snapshot::Snapshot;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// Where a CRL generation came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CrlSource {
    /// Embedded in the snapshot with this id, opened from `dir`.
    Snapshot { id: String, dir: PathBuf },
    /// A directory written by `shikaku crl build`.
    Directory(PathBuf),
    /// A DER or PEM CRL file imported at activation.
    File(PathBuf),
}

impl CrlSource {
    pub(crate) fn describe(&self) -> String {
        match self {
            CrlSource::Snapshot { id, .. } => format!("snapshot {id}"),
            CrlSource::Directory(path) | CrlSource::File(path) => path.display().to_string(),
        }
    }
}

/// One CRL as served.
pub(crate) struct CrlGeneration {
    pub crl: Arc<Crl>,
    /// Counts CRL activations in this process (1 = the first list served).
    pub number: u64,
    pub activated_at: SystemTime,
    pub source: CrlSource,
    /// Refusals forced past, and alarms raised, when it was activated.
    pub passed: Passed,
    /// Seconds to open (or import) and judge it.
    pub load_seconds: f64,
}

impl CrlGeneration {
    /// Seconds since the list's thisUpdate (none for a `revoked.csv` list).
    pub(crate) fn age_seconds(&self, now: chrono::DateTime<chrono::Utc>) -> Option<f64> {
        let issued = self.crl.meta()?.this_update_time()?;
        Some(now.signed_duration_since(issued).num_milliseconds() as f64 / 1000.0)
    }
}

/// What an activation reports.
#[derive(Serialize)]
pub(crate) struct CrlActivation {
    pub status: &'static str,
    pub activated: String,
    pub previous: Option<String>,
    pub generation: u64,
    pub entries: u64,
    pub revoked: u64,
    pub suspended: u64,
    pub this_update: Option<String>,
    pub next_update: Option<String>,
    pub number: Option<String>,
    pub forced: Vec<String>,
    pub alarms: Vec<String>,
    pub load_seconds: f64,
}

/// The live CRL and the lists kept for rollback.
pub(crate) type LiveCrl = Slot<CrlGeneration>;

/// What a CRL about to go live is judged against.
#[derive(Clone, Copy)]
enum Gate {
    /// The live list (not older, not too different), unless forced; and its age.
    AgainstLive { force: bool },
    /// Its age only.
    OnItsOwn,
}

fn refused(message: String) -> ActivationError {
    ActivationError::Refused(message)
}

impl Slot<CrlGeneration> {
    /// Opens (a `crl build` directory) or imports (a DER/PEM file) the CRL
    /// at `path`, judges it against the live one, and swaps it in. On any
    /// refusal the live CRL is untouched and the error says why.
    pub(crate) async fn activate(
        &self,
        path: PathBuf,
        force: bool,
        policy: &CrlPolicy,
        trust: &Trust,
        clock: &SharedClock,
    ) -> Result<CrlActivation, ActivationError> {
        let gate = Gate::AgainstLive { force };
        self.change_to(move |cas| load(&path, cas), gate, policy, trust, clock)
            .await
    }

    /// Serves again the list recorded as live before a restart: read from
    /// where it came from, refused unless it is still the recorded list
    /// (by id). Judged on its own (its age), not against the list live now,
    /// which is only the snapshot's, adopted a moment ago.
    pub(crate) async fn restore(
        &self,
        recorded: RecordedCrl,
        policy: &CrlPolicy,
        trust: &Trust,
        clock: &SharedClock,
    ) -> Result<CrlActivation, ActivationError> {
        let reload = move |cas: &[CaCertificate]| {
            let path = recorded.path;
            let (crl, source) = match recorded.from {
                CrlFrom::Snapshot => {
                    let crl = Snapshot::open_crl(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let id = crate::snapshot::Manifest::read(&path)
                        .map_err(|problem| format!("{}: {problem}", path.display()))?
                        .id;
                    (Arc::new(crl), CrlSource::Snapshot { id, dir: path })
                }
                CrlFrom::Directory | CrlFrom::File => load(&path, cas)?,
            };
            if crl.id() != recorded.id {
                return Err(format!(
                    "{} now holds CRL {}, not the recorded {}",
                    source.describe(),
                    crl.id(),
                    recorded.id
                ));
            }
            Ok((crl, source))
        };
        self.change_to(reload, Gate::OnItsOwn, policy, trust, clock)
            .await
    }

    /// Loads a CRL with `load` (given the CAs it must be signed by), judges
    /// it as `gate` says, and swaps it in.
    async fn change_to<L>(
        &self,
        load: L,
        gate: Gate,
        policy: &CrlPolicy,
        trust: &Trust,
        clock: &SharedClock,
    ) -> Result<CrlActivation, ActivationError>
    where
        L: FnOnce(&[CaCertificate]) -> Result<(Arc<Crl>, CrlSource), String> + Send + 'static,
    {
        let mut change = self.change().await;
        let started = Instant::now();
        let live = change.live();
        let cas = match &trust.configured {
            Some(configured) => configured.clone(),
            None => live
                .as_ref()
                .and_then(|g| g.crl.issuer().cloned())
                .into_iter()
                .collect(),
        };
        let (policy, now) = (policy.clone(), clock.utc());
        let live_for_task = live.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            let candidate = load(&cas)?;
            let (compared, force) = match gate {
                Gate::AgainstLive { force } => {
                    (live_for_task.as_ref().map(|g| g.crl.as_ref()), force)
                }
                Gate::OnItsOwn => (None, false),
            };
            let passed = judge(&candidate.0, compared, now, &policy, force)
                .map_err(|reasons| reasons.join("; "))?;
            Ok::<_, String>((candidate, passed))
        })
        .await
        .map_err(|e| ActivationError::Failed(format!("CRL activation failed: {e}")))?;
        let ((crl, source), passed) = match prepared {
            Ok(prepared) => prepared,
            Err(reason) => {
                let keeps = match &live {
                    Some(g) => format!("the live CRL {} keeps serving", g.crl.id()),
                    None => "no CRL is live".to_string(),
                };
                return Err(change.refuse(refused(format!("CRL refused: {reason}; {keeps}"))));
            }
        };
        let generation = install(
            &mut change,
            crl,
            source,
            passed,
            started.elapsed().as_secs_f64(),
            clock.system_time(),
        );
        Ok(report(&generation, live.as_deref()))
    }

    /// Makes the previous CRL live again. Returns (now live, left).
    pub(crate) async fn rollback(
        &self,
    ) -> Result<(Arc<CrlGeneration>, Arc<CrlGeneration>), ActivationError> {
        let mut change = self.change().await;
        let swapper = change.swapper();
        change
            .roll_back("CRL", |previous| async move { Ok(swapper.swap(previous)) })
            .await
    }
}

/// Takes the embedded list of a newly activated snapshot when the live
/// one also came from a snapshot, or is older. Returns the id adopted.
pub(crate) fn adopt_from_snapshot(
    change: &mut Change<'_, CrlGeneration>,
    snapshot: &Snapshot,
    now: SystemTime,
) -> Option<String> {
    let candidate = snapshot.crl();
    if let Some(live) = change.live() {
        let newer = match (candidate.meta(), live.crl.meta()) {
            (Some(new), Some(old)) => new.this_update_time() > old.this_update_time(),
            _ => false,
        };
        if !matches!(live.source, CrlSource::Snapshot { .. }) && !newer {
            return None;
        }
    }
    let generation = install(
        change,
        candidate.clone(),
        CrlSource::Snapshot {
            id: snapshot.id().to_string(),
            dir: snapshot.dir().to_path_buf(),
        },
        Passed::default(),
        0.0,
        now,
    );
    Some(generation.crl.id().to_string())
}

/// Makes `crl` the live list (alarms it passed with are raised) and keeps
/// the replaced one for rollback.
fn install(
    change: &mut Change<'_, CrlGeneration>,
    crl: Arc<Crl>,
    source: CrlSource,
    passed: Passed,
    load_seconds: f64,
    activated_at: SystemTime,
) -> Arc<CrlGeneration> {
    let generation = Arc::new(CrlGeneration {
        crl,
        number: change.next_number(),
        activated_at,
        source,
        passed,
        load_seconds,
    });
    for alarm in &generation.passed.alarms {
        eprintln!("shikaku: ALARM: {alarm}");
    }
    let replaced = change.swap(generation.clone());
    change.installed(replaced);
    generation
}

/// A built directory, or a CRL file imported against `cas`.
fn load(path: &Path, cas: &[CaCertificate]) -> Result<(Arc<Crl>, CrlSource), String> {
    if path.is_dir() {
        let (crl, _) = store::open(path).map_err(|e| e.message)?;
        if !cas.is_empty() && !crl.issuer().is_some_and(|issuer| cas.contains(issuer)) {
            return Err(format!(
                "{}: signed by `{}`, which is not a configured user-certificate CA",
                path.display(),
                crl.meta().map(|m| m.issuer.as_str()).unwrap_or("?")
            ));
        }
        return Ok((Arc::new(crl), CrlSource::Directory(path.to_path_buf())));
    }
    if cas.is_empty() {
        return Err(format!(
            "{}: no CA to verify it against: set user_ca, or build it with `shikaku crl build --ca`",
            path.display()
        ));
    }
    let imported = crate::crl::import(path, cas).map_err(|e| e.message)?;
    let crl = Crl::new(
        imported.meta.default_id(),
        Some(imported.meta),
        imported.sets,
    )
    .map_err(|e| e.message)?;
    Ok((Arc::new(crl), CrlSource::File(path.to_path_buf())))
}

fn report(generation: &CrlGeneration, previous: Option<&CrlGeneration>) -> CrlActivation {
    let crl = &generation.crl;
    let meta = crl.meta();
    CrlActivation {
        status: "ok",
        activated: crl.id().to_string(),
        previous: previous.map(|g| g.crl.id().to_string()),
        generation: generation.number,
        entries: crl.entries(),
        revoked: crl.sets().revoked_count(),
        suspended: crl.sets().suspended_count(),
        this_update: meta.map(|m| m.this_update.clone()),
        next_update: meta.and_then(|m| m.next_update.clone()),
        number: meta.and_then(|m| m.number.clone()),
        forced: generation.passed.forced.clone(),
        alarms: generation.passed.alarms.clone(),
        load_seconds: generation.load_seconds,
    }
}

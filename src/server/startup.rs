//! What the server serves at start: the serving state's snapshot and CRL
//! when one was recorded (checked by id, the snapshot reopened on the
//! strength of its earlier verification), else the settings'; and the
//! state written once it serves (see `serving::state`).

use super::serving;
use super::serving::live::LiveTarget;
use super::serving::state::{Origin, ServingState, StateFile};
use super::{App, ServeConfig};
use crate::snapshot::Manifest;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What the server loads at start.
pub(super) enum StartPlan {
    /// Nothing: it waits for an activation (`wait_for_activation`).
    Nothing,
    /// The snapshot (and CRL) the settings name.
    Settings {
        snapshot: PathBuf,
        crl: Option<PathBuf>,
    },
    /// What the state file recorded as live.
    Recorded(ServingState),
}

impl StartPlan {
    /// Reads the state file unless told to reset; notes in it where what is
    /// served comes from.
    pub(super) fn decide(
        config: &ServeConfig,
        state: Option<&StateFile>,
    ) -> anyhow::Result<StartPlan> {
        if let Some(file) = state {
            if !config.reset_state {
                if let Some(recorded) = file.read().map_err(anyhow::Error::msg)? {
                    file.set_origin(Origin::Recorded {
                        written_at: recorded.written_at.clone(),
                    });
                    return Ok(StartPlan::Recorded(recorded));
                }
            }
            file.set_origin(match config.reset_state {
                true => Origin::Reset,
                false => Origin::FirstStart,
            });
        }
        Ok(match &config.snapshot {
            Some(snapshot) => StartPlan::Settings {
                snapshot: snapshot.clone(),
                crl: config.crl.clone(),
            },
            None => StartPlan::Nothing,
        })
    }
}

/// Loads what `plan` names; if it cannot be, records why and stops the
/// server (there would be nothing to serve, or not what was recorded).
pub(super) async fn load_at_start(
    app: Arc<App>,
    plan: StartPlan,
    failure: Arc<Mutex<Option<String>>>,
) {
    let loaded = match plan {
        StartPlan::Nothing => return,
        StartPlan::Settings { snapshot, crl } => load_from_settings(&app, snapshot, crl).await,
        StartPlan::Recorded(recorded) => load_recorded(&app, recorded).await,
    };
    match loaded {
        Ok(()) => {
            app.starting
                .store(false, std::sync::atomic::Ordering::Release);
            app.record_state("start").await;
        }
        Err(reason) => {
            eprintln!("shikaku: {reason}");
            if let Ok(mut slot) = failure.lock() {
                *slot = Some(reason);
            }
            app.shutdown.begin();
        }
    }
}

/// Loads the settings' snapshot, then their CRL if they name one.
async fn load_from_settings(
    app: &App,
    snapshot: PathBuf,
    crl: Option<PathBuf>,
) -> Result<(), String> {
    load_snapshot(app, snapshot).await?;
    if let Some(crl) = crl {
        let report = app
            .activate_crl(crl, false)
            .await
            .map_err(|e| format!("cannot load the CRL: {}", e.message()))?;
        println!("shikaku: serving CRL {}", report.activated);
    }
    Ok(())
}

/// Verifies and activates the snapshot at `path`.
async fn load_snapshot(app: &App, path: PathBuf) -> Result<(), String> {
    println!("shikaku: verifying and loading {}", path.display());
    let report = app
        .activate(path, false)
        .await
        .map_err(|e| format!("cannot load the snapshot: {}", e.message()))?;
    println!(
        "shikaku: serving snapshot {} ({} persons, verified in {:.2} s)",
        report.activated, report.verify.persons, report.verify.seconds
    );
    Ok(())
}

/// Serves the snapshot at `path` again on the strength of its verification
/// before the restart, then reads its checksums again in the background;
/// when its manifest has changed since, verifies it in full first instead.
async fn resume_snapshot(
    app: &Arc<App>,
    path: &Path,
    verified_manifest: &str,
) -> Result<(), String> {
    let target = LiveTarget::Resume {
        path: path.to_path_buf(),
        verified_manifest: verified_manifest.to_string(),
    };
    match app.go_live(target).await {
        Ok(report) => {
            println!(
                "shikaku: serving snapshot {} again ({} persons; verified before the restart, opened in {:.2} s; its checksums are read again in the background)",
                report.activated, report.verify.persons, report.seconds
            );
            if let Some(generation) = app.live.current() {
                let app = app.clone();
                serving::recheck::start(&generation, move || {
                    if let Some(file) = &app.state {
                        let _ = file.write(|| app.serving_state("recheck.failed"));
                    }
                });
            }
            Ok(())
        }
        Err(error) => {
            println!(
                "shikaku: {}; verifying it in full",
                error.message().trim_start_matches("refused: ")
            );
            load_snapshot(app, path.to_path_buf()).await
        }
    }
}

/// Loads the snapshot and the CRL the state file recorded, each checked by
/// id; anything missing or changed stops the start, never a fallback.
async fn load_recorded(app: &Arc<App>, recorded: ServingState) -> Result<(), String> {
    let file = app
        .state
        .as_ref()
        .map_or_else(String::new, |f| f.path().display().to_string());
    let refuse = |reason: String| {
        format!(
            "serving state {file} (written at {}): {reason}; the server does not fall back to its settings: restore what the state names, or start with --reset-state",
            recorded.written_at
        )
    };
    let snapshot = &recorded.snapshot;
    println!(
        "shikaku: serving state {file}: snapshot {} and CRL {} were live",
        snapshot.id,
        recorded.crl.as_ref().map_or("(none)", |c| c.id.as_str())
    );
    let found = Manifest::read(&snapshot.path)
        .map_err(|problem| refuse(format!("snapshot {}: {problem}", snapshot.path.display())))?;
    if found.id != snapshot.id {
        return Err(refuse(format!(
            "{} now holds snapshot {}, not the recorded {}",
            snapshot.path.display(),
            found.id,
            snapshot.id
        )));
    }
    match &snapshot.verified_manifest {
        Some(digest) => resume_snapshot(app, &snapshot.path, digest)
            .await
            .map_err(refuse)?,
        None => load_snapshot(app, snapshot.path.clone())
            .await
            .map_err(refuse)?,
    }
    let Some(crl) = recorded.crl.clone() else {
        return Ok(());
    };
    let adopted = app
        .crl
        .current()
        .is_some_and(|live| live.crl.id() == crl.id);
    if !adopted {
        let report = app
            .restore_crl(crl)
            .await
            .map_err(|e| refuse(e.message().to_string()))?;
        println!("shikaku: serving CRL {}", report.activated);
    }
    Ok(())
}

//! The audit log: every administrative action (snapshot and CRL
//! activations and rollbacks, update streams applied, report exports) as
//! one JSON line with who and when, appended and synced when the action
//! ends (an update stream when its last result has gone out). A failed
//! write does not undo the action: it is reported on stderr and counted in
//! `shikaku_audit_failures_total`. The file is only ever appended to
//! (`O_APPEND`); the check log's retention never removes it, even when it
//! sits in the check-log directory (the default).
//!
//! ```json
//! {"time":"2026-11-22T07:58:02.114+09:00","actor":"sato","action":"snapshot.activate","detail":{...}}
//! ```

use crate::model::clock::{japan_time_text, SharedClock};
use anyhow::Context;
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Longest actor name kept (longer ones are cut).
const MAX_ACTOR_CHARS: usize = 64;

/// The audit log, open for appending.
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
    clock: SharedClock,
}

impl AuditLog {
    /// Opens (or creates) the audit log at `path` for appending; lines
    /// are stamped with `clock`'s time.
    pub fn open(path: &Path, clock: SharedClock) -> anyhow::Result<AuditLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            clock,
        })
    }

    /// Appends one action and waits for it to reach the disk.
    pub fn record(&self, actor: &str, action: &str, detail: Value) -> anyhow::Result<()> {
        let actor: String = actor
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_ACTOR_CHARS)
            .collect();
        let mut line = serde_json::to_vec(&json!({
            "time": japan_time_text(self.clock.now_micros()),
            "actor": actor,
            "action": action,
            "detail": detail,
        }))?;
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .map_err(|_| anyhow::anyhow!("the audit log is poisoned"))?;
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write the audit log {}", self.path.display()))
    }
}

/// The operator running a command-line action: `--operator`, else the login name.
pub fn local_operator(given: Option<&str>) -> String {
    given
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_with_actor_and_action() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path, crate::model::clock::system_clock()).unwrap();
        log.record("sato\n", "snapshot.activate", json!({"id": "s1"}))
            .unwrap();
        drop(log);
        AuditLog::open(&path, crate::model::clock::system_clock())
            .unwrap()
            .record("suzuki", "report.fees", json!({}))
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["actor"], "sato");
        assert_eq!(lines[0]["detail"]["id"], "s1");
        assert_eq!(lines[1]["action"], "report.fees");
    }
}

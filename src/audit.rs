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
//! {"action":"snapshot.activate","actor":"sato","detail":{...},"prev":"9f86d0…","time":"2026-11-22T07:58:02.114+09:00"}
//! ```
//!
//! The log is tamper-evident: each line carries in `prev` the SHA-256 of
//! the line before it (64 zeros for the first), so editing, removing or
//! inserting a line breaks the chain at the next one, and `shikaku audit
//! verify` names it. Several processes may append (the server and report
//! exports): each record takes an exclusive lock on the file, reads its
//! last line and appends under the lock, so the chain holds across them.

use crate::model::clock::{japan_time_text, SharedClock};
use crate::model::Sha256;
use anyhow::Context;
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// `prev` of the first line of a log.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Bytes read at a time from the end of the log to find its last line.
const TAIL_CHUNK: u64 = 4096;

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
            .read(true)
            .open(path)
            .with_context(|| format!("cannot open the audit log {}", path.display()))?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            clock,
        })
    }

    /// Appends one action, chained to the line before it, and waits for
    /// it to reach the disk.
    pub fn record(&self, actor: &str, action: &str, detail: Value) -> anyhow::Result<()> {
        let actor: String = actor
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_ACTOR_CHARS)
            .collect();
        let guard = self
            .file
            .lock()
            .map_err(|_| anyhow::anyhow!("the audit log is poisoned"))?;
        let mut file: &File = &guard;
        let _locked = FileLock::exclusive(file)?;
        let written = (|| {
            let (last, complete) = last_line(file)?;
            let mut out = Vec::new();
            if !complete {
                // A line a crash cut short: it stays, on a line of its own,
                // and the chain goes on from it (`verify` reports it).
                out.push(b'\n');
            }
            let prev = match last {
                Some(last) => line_hash(&last),
                None => GENESIS.to_string(),
            };
            serde_json::to_writer(
                &mut out,
                &json!({
                    "time": japan_time_text(self.clock.now_micros()),
                    "actor": actor,
                    "action": action,
                    "detail": detail,
                    "prev": prev,
                }),
            )?;
            out.push(b'\n');
            file.write_all(&out)?;
            file.sync_data()?;
            Ok::<_, anyhow::Error>(())
        })();
        written.with_context(|| format!("cannot write the audit log {}", self.path.display()))
    }
}

/// An exclusive `flock` on a file, released when dropped.
struct FileLock<'f>(&'f File);

impl<'f> FileLock<'f> {
    fn exclusive(file: &'f File) -> anyhow::Result<FileLock<'f>> {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on an open descriptor; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            anyhow::bail!("cannot lock ({})", std::io::Error::last_os_error());
        }
        Ok(FileLock(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The SHA-256 of a line (without its newline), as `prev` holds it.
fn line_hash(line: &[u8]) -> String {
    Sha256::of(line).to_string()
}

/// The file's last line without its newline (`None` when it is empty),
/// and whether the file ends with a newline. Reads backwards from the end
/// a chunk at a time until the line's start is found.
fn last_line(mut file: &File) -> std::io::Result<(Option<Vec<u8>>, bool)> {
    let size = file.seek(SeekFrom::End(0))?;
    if size == 0 {
        return Ok((None, true));
    }
    let mut tail = Vec::new();
    let mut start = size;
    loop {
        let from = start.saturating_sub(TAIL_CHUNK);
        let mut chunk = vec![0u8; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start = from;
        let complete = tail.last() == Some(&b'\n');
        let body = if complete {
            &tail[..tail.len() - 1]
        } else {
            &tail[..]
        };
        if let Some(newline) = body.iter().rposition(|&b| b == b'\n') {
            return Ok((Some(body[newline + 1..].to_vec()), complete));
        }
        if start == 0 {
            return Ok((Some(body.to_vec()), complete));
        }
    }
}

/// What `shikaku audit verify` found.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    /// Lines in the file.
    pub lines: usize,
    /// Lines before the first chained one (written before the chain).
    pub unchained: usize,
    /// Lines that are not a whole record (a write a crash cut short).
    pub torn: Vec<usize>,
}

/// Checks the chain of the audit log at `path`: every line from the
/// first with a `prev` carries the hash of the line before it. The error
/// names the first line (1-based) where it breaks.
pub fn verify(path: &Path) -> anyhow::Result<Verified> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let lines: Vec<&[u8]> = text
        .strip_suffix(b"\n")
        .unwrap_or(&text)
        .split(|&b| b == b'\n')
        .filter(|_| !text.is_empty())
        .collect();
    let mut verified = Verified {
        lines: lines.len(),
        unchained: 0,
        torn: Vec::new(),
    };
    let mut chained = false;
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        let Ok(record) = serde_json::from_slice::<Value>(line) else {
            verified.torn.push(number);
            continue;
        };
        let Some(prev) = record.get("prev").and_then(Value::as_str) else {
            if chained {
                anyhow::bail!(
                    "{}: line {number} carries no prev although the lines before it are chained: it was inserted or edited",
                    path.display()
                );
            }
            verified.unchained += 1;
            continue;
        };
        let expected = match index {
            0 => GENESIS.to_string(),
            _ => line_hash(lines[index - 1]),
        };
        if prev != expected {
            anyhow::bail!(
                "{}: the chain breaks at line {number}: its prev is {prev}, but the line before it hashes to {expected}: line {} was edited or lines were removed or inserted there",
                path.display(),
                number.saturating_sub(1).max(1)
            );
        }
        chained = true;
    }
    Ok(verified)
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

    fn log_with(path: &Path, actors: &[&str]) {
        // A handle per record, as separate processes would have.
        for actor in actors {
            AuditLog::open(path, crate::model::clock::system_clock())
                .unwrap()
                .record(actor, "snapshot.activate", json!({"actor": actor}))
                .unwrap();
        }
    }

    #[test]
    fn the_chain_holds_across_handles_and_names_the_first_broken_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        log_with(&path, &["a", "b", "c", "d"]);
        let verified = verify(&path).unwrap();
        assert_eq!((verified.lines, verified.unchained), (4, 0));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        // An edited line breaks the chain at the next one.
        std::fs::write(&path, text.replacen("\"b\"", "\"x\"", 1)).unwrap();
        let error = verify(&path).unwrap_err().to_string();
        assert!(error.contains("breaks at line 3"), "{error}");
        // A removed line, at the line after the gap.
        std::fs::write(&path, format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3])).unwrap();
        let error = verify(&path).unwrap_err().to_string();
        assert!(error.contains("breaks at line 2"), "{error}");
        // A removed first line: the new first line does not start the chain.
        std::fs::write(&path, format!("{}\n{}\n", lines[1], lines[2])).unwrap();
        let error = verify(&path).unwrap_err().to_string();
        assert!(error.contains("breaks at line 1"), "{error}");
        // An unchained line inserted after the chain began.
        let inserted = format!("{}\n{{\"actor\":\"x\"}}\n{}\n", lines[0], lines[1]);
        std::fs::write(&path, inserted).unwrap();
        let error = verify(&path).unwrap_err().to_string();
        assert!(error.contains("line 2 carries no prev"), "{error}");
    }

    #[test]
    fn a_torn_line_and_lines_from_before_the_chain_are_reported_not_failed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let old = "{\"actor\":\"old\",\"action\":\"snapshot.activate\"}\n";
        std::fs::write(&path, format!("{old}{old}")).unwrap();
        log_with(&path, &["a"]);
        // A record a crash cut short, then more records.
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"actor\":\"cut").unwrap();
        drop(file);
        log_with(&path, &["b", "c"]);
        let verified = verify(&path).unwrap();
        assert_eq!(
            verified,
            Verified {
                lines: 6,
                unchained: 2,
                torn: vec![4],
            }
        );
        // A long last line is found whole.
        log_with(&path, &[&"z".repeat(10_000)]);
        assert_eq!(verify(&path).unwrap().lines, 7);
    }
}

//! History search: an institution's own past checks of one key, newest
//! first, over the last months of the log.
//!
//! Time is bounded by the number of segments in the window, not by the
//! records in them: each closed segment costs one binary search in its
//! memory-mapped index, each hit one read of a batch. The segment being
//! written is searched through its in-memory index. Only records of the
//! asking institution match (the institution is part of the indexed key and
//! checked again on every record).

use super::index::{key_hash, record_hash, OpenIndex, SegmentIndex};
use super::months_before;
use super::record::{CheckRecord, Entries, Entry, LoggedKey};
use super::segment::{self, SegmentFile};
use crate::model::clock::japan_time_text;
use crate::model::Outcome;
use crate::model::{Date, InstitutionCode};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// The log directory as searched: closed segments through their index
/// files, the open one through its index in memory.
pub struct Store {
    dir: PathBuf,
    open: RwLock<OpenSegment>,
    indexes: Mutex<HashMap<PathBuf, Arc<SegmentIndex>>>,
}

#[derive(Default)]
struct OpenSegment {
    segment: Option<SegmentFile>,
    index: OpenIndex,
}

/// The closed segments a search reaches, by day, with their indexes.
pub struct Window {
    /// The segment being written when the window was listed.
    open: Option<PathBuf>,
    segments: Vec<(Date, PathBuf, Arc<SegmentIndex>)>,
}

/// One history search.
#[derive(Clone, Debug)]
pub struct HistoryQuery {
    /// The asking institution; only its own checks match.
    pub institution: InstitutionCode,
    /// Which kind of key is searched (card serial, online-check number or card face).
    pub kind: super::record::QueryKind,
    /// The key's bytes in the log's form (see [`super::record::LoggedKey::bytes`]).
    pub key: Vec<u8>,
    /// Only checks of this treatment date.
    pub date: Option<Date>,
    /// Today in Japan, and how many months back the search reaches.
    pub today: Date,
    /// Months back from `today` the search reaches (`history_months`, default 5).
    pub months: u32,
    /// Most records returned; more matches set [`Found::truncated`].
    pub limit: usize,
}

impl HistoryQuery {
    fn key(&self) -> LoggedKey<'_> {
        LoggedKey {
            kind: self.kind,
            bytes: &self.key,
        }
    }

    fn matches(&self, record: &CheckRecord<'_>) -> bool {
        record_hash(record).is_some()
            && record.institution.as_ref() == Some(&self.institution)
            && record.key == self.key()
            && self.date.is_none_or(|date| record.date == Some(date))
    }
}

/// What a search found: the records (newest first) and whether more
/// matched than the limit.
#[derive(Debug, Default)]
pub struct Found {
    /// The matching checks as JSON objects, newest first, at most the query's limit.
    pub records: Vec<Value>,
    /// More records matched than the limit returned.
    pub truncated: bool,
    /// Closed segments whose index was consulted (the open segment is not counted).
    pub segments_searched: usize,
}

impl Store {
    /// A store over the log directory `dir`, with no open segment yet.
    pub fn new(dir: PathBuf) -> Store {
        Store {
            dir,
            open: RwLock::default(),
            indexes: Mutex::default(),
        }
    }

    /// The writer started a new segment.
    pub(super) fn opened(&self, segment: SegmentFile) {
        if let Ok(mut open) = self.open.write() {
            *open = OpenSegment {
                segment: Some(segment),
                index: OpenIndex::default(),
            };
        }
    }

    /// The writer wrote the batch at `offset` holding checks with `hashes`.
    pub(super) fn indexed(&self, offset: u32, hashes: &[u64]) {
        if let Ok(mut open) = self.open.write() {
            for hash in hashes {
                open.index.add(*hash, offset);
            }
        }
    }

    /// The writer closes `segment`: its index file is written, then
    /// searches use that.
    pub(super) fn close(&self, segment: &SegmentFile) -> anyhow::Result<()> {
        let mut open = self
            .open
            .write()
            .map_err(|_| anyhow::anyhow!("the open-segment index is poisoned"))?;
        let written = open.index.write(&segment.index_path());
        *open = OpenSegment::default();
        written
    }

    /// The institution's checks of the key, newest first.
    pub fn search(&self, query: &HistoryQuery) -> anyhow::Result<Found> {
        let window = self.window(query.today, query.months)?;
        self.search_in(&window, query)
    }

    /// The closed segments of the days a search from `today` reaches back
    /// to, with their indexes: listed once for many searches (a bulk lookup).
    pub fn window(&self, today: Date, months: u32) -> anyhow::Result<Window> {
        let earliest = months_before(today, months);
        // Noted before listing: if this segment is still the one being
        // written when a search runs, the listing cannot have missed it.
        let mut window = Window {
            open: self.open_segment(),
            segments: Vec::new(),
        };
        for (day, dir) in segment::days(&self.dir)? {
            if day < earliest {
                continue;
            }
            for file in segment::segments(&dir)? {
                if file.is_indexed() {
                    let index = self.index(&file.index_path())?;
                    window.segments.push((day, file.path, index));
                }
            }
        }
        self.forget_unlisted(&window);
        Ok(window)
    }

    /// As [`Store::search`], over the closed segments of `window` (made for
    /// the query's `today` and `months`) and the segment being written. A
    /// window older than the last segment closed is listed again.
    pub fn search_in(&self, window: &Window, query: &HistoryQuery) -> anyhow::Result<Found> {
        let hash = key_hash(&query.institution, &query.key());
        let earliest = query.date.unwrap_or(Date::from_days(0));
        let mut candidates: BTreeSet<(PathBuf, u32)> = BTreeSet::new();
        let mut open_path = None;
        if let Ok(open) = self.open.read() {
            if let Some(segment) = &open.segment {
                open_path = Some(segment.path.clone());
                for offset in open.index.lookup(hash) {
                    candidates.insert((segment.path.clone(), *offset));
                }
            }
        }
        let relisted;
        let window = if open_path == window.open {
            window
        } else {
            relisted = self.window(query.today, query.months)?;
            &relisted
        };
        let mut found = Found::default();
        for (day, path, index) in &window.segments {
            if *day < earliest {
                continue;
            }
            found.segments_searched += 1;
            for offset in index.lookup(hash) {
                candidates.insert((path.clone(), offset));
            }
        }
        let mut matches: Vec<(u64, Value)> = Vec::new();
        let mut current: Option<(PathBuf, std::fs::File)> = None;
        for (path, offset) in candidates {
            if current.as_ref().is_none_or(|(open, _)| *open != path) {
                let file = std::fs::File::open(&path)
                    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
                current = Some((path.clone(), file));
            }
            let Some((_, file)) = &current else { continue };
            let batch = segment::read_batch_at(file, &path, offset)?;
            for entry in Entries::new(&batch) {
                if let Ok(Entry::Check(record)) = entry {
                    if query.matches(&record) {
                        matches.push((record.micros, record_json(&record)));
                    }
                }
            }
        }
        matches.sort_by_key(|(micros, _)| std::cmp::Reverse(*micros));
        found.truncated = matches.len() > query.limit;
        found.records = matches
            .into_iter()
            .take(query.limit)
            .map(|(_, v)| v)
            .collect();
        Ok(found)
    }

    fn open_segment(&self) -> Option<PathBuf> {
        let open = self.open.read().ok()?;
        open.segment.as_ref().map(|s| s.path.clone())
    }

    fn index(&self, path: &Path) -> anyhow::Result<Arc<SegmentIndex>> {
        let mut cache = self
            .indexes
            .lock()
            .map_err(|_| anyhow::anyhow!("the index cache is poisoned"))?;
        if let Some(index) = cache.get(path) {
            return Ok(index.clone());
        }
        let index = Arc::new(SegmentIndex::open(path)?);
        cache.insert(path.to_path_buf(), index.clone());
        Ok(index)
    }

    /// Drops cached indexes of segments no longer searched (purged days).
    fn forget_unlisted(&self, window: &Window) {
        if let Ok(mut cache) = self.indexes.lock() {
            if cache.len() > window.segments.len() + 64 {
                let keep: BTreeSet<PathBuf> = window
                    .segments
                    .iter()
                    .map(|(_, path, _)| path.with_extension(super::segment::INDEX_SUFFIX))
                    .collect();
                cache.retain(|path, _| keep.contains(path));
            }
        }
    }
}

/// A record as history answers it.
pub fn record_json(record: &CheckRecord<'_>) -> Value {
    let (status, verdict, error) = match record.outcome {
        Outcome::Verdict(verdict) => ("ok", Some(verdict.as_str()), None),
        Outcome::Error(code) => ("error", None, Some(code.as_str())),
    };
    json!({
        "time": japan_time_text(record.micros),
        "reception": (!record.reception.is_empty()).then_some(record.reception),
        "query": record.key.kind.as_str(),
        "key": record.key.display(),
        "date": record.date.map(|d| d.to_string()),
        "status": status,
        "verdict": verdict,
        "error": error,
        "insurer_number": record.insurer.map(|n| n.printed().to_string()),
        "snapshot": record.snapshot,
        "updates": record.update_lsn,
        "crl": (!record.crl.is_empty()).then_some(record.crl),
        "via": match record.via {
            super::record::Via::Single => "single",
            super::record::Via::Bulk => "bulk",
        },
        "latency_us": record.latency_us,
    })
}

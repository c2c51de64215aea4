//! The checks a run sends and the verdict expected for each.
//!
//! A corpus is drawn from a snapshot built from `shikaku gen` data: linked
//! serials, revoked and suspended serials from the revocation sets, online
//! numbers and card faces of sampled rows, and keys made not to exist
//! (unlinked serials, altered online numbers, wrong birth dates). The
//! expected verdict of each is computed once, offline, by the engine library
//! on the snapshot files — so a run checks that the *served* answers, under
//! load and across swaps, are the engine's answers on the same data. (That
//! the engine's answers follow the rules is the reference-model test's job.)
//!
//! On disk a corpus is NDJSON, one check per line:
//! `{"kind": "card", "expected": "valid", "request": {…the check body without institution…}}`.

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use shikaku::engine::{check, sample::sample_queries, Query};
use shikaku::model::Revocation;
use shikaku::model::{Date, OnlineNumber, Serial, Verdict};
use shikaku::server::check_request;
use shikaku::snapshot::Snapshot;
use std::collections::BTreeMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::Path;

/// What a check asks by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// `POST /v1/check/card` by certificate serial.
    Card,
    /// `POST /v1/check/number` by online-check number.
    OnlineNumber,
    /// `POST /v1/check/number` by the key printed on the card.
    CardFace,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Card, Kind::OnlineNumber, Kind::CardFace];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Card => "card",
            Kind::OnlineNumber => "online_number",
            Kind::CardFace => "card_face",
        }
    }

    /// The endpoint of a single check.
    pub fn path(self) -> &'static str {
        match self {
            Kind::Card => "/v1/check/card",
            Kind::OnlineNumber | Kind::CardFace => "/v1/check/number",
        }
    }

    /// The `kind` of a bulk line.
    pub fn bulk_kind(self) -> &'static str {
        match self {
            Kind::Card => "card",
            Kind::OnlineNumber | Kind::CardFace => "number",
        }
    }

    fn of(query: &Query) -> Kind {
        match query {
            Query::Card { .. } => Kind::Card,
            Query::OnlineNumber { .. } => Kind::OnlineNumber,
            Query::CardFace { .. } => Kind::CardFace,
        }
    }
}

/// One check and its expected verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub kind: Kind,
    pub expected: String,
    /// The check body without `institution` (added per run).
    pub request: serde_json::Map<String, serde_json::Value>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Corpus {
    pub checks: Vec<Check>,
}

/// How much to draw from a snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Draw {
    /// Rows and serials sampled from every shard.
    pub per_shard: usize,
    /// Revoked, suspended and unlinked serials, and altered keys, of each.
    pub unhappy: usize,
    pub seed: u64,
}

impl Corpus {
    /// Draws checks from `snapshot` and answers them for treatment `date`.
    pub fn from_snapshot(snapshot: &Snapshot, date: Date, draw: Draw) -> Corpus {
        let mut queries = sample_queries(snapshot, draw.per_shard);
        queries.extend(unhappy_queries(snapshot, &queries, draw));
        let checks = queries
            .iter()
            .map(|query| Check {
                kind: Kind::of(query),
                expected: check(snapshot, query, date).verdict.as_str().to_string(),
                request: request_body(query, date),
            })
            .collect();
        Corpus { checks }
    }

    /// Reads a corpus file; a bad line is named with its number.
    pub fn load(path: &Path) -> Result<Corpus> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot open the corpus {}", path.display()))?;
        let mut checks = Vec::new();
        for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("cannot read {}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let check: Check = serde_json::from_str(&line).with_context(|| {
                format!(
                    "{}:{}: not a corpus line ({{\"kind\", \"expected\", \"request\"}})",
                    path.display(),
                    index + 1
                )
            })?;
            if Verdict::parse(&check.expected).is_none() {
                bail!(
                    "{}:{}: expected: unknown verdict {:?}",
                    path.display(),
                    index + 1,
                    check.expected
                );
            }
            checks.push(check);
        }
        if checks.is_empty() {
            bail!("the corpus {} holds no checks", path.display());
        }
        Ok(Corpus { checks })
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = BufWriter::new(file);
        for check in &self.checks {
            serde_json::to_writer(&mut out, check)?;
            out.write_all(b"\n")?;
        }
        out.flush()
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Checks per kind and expected verdict.
    pub fn counts(&self) -> BTreeMap<(Kind, String), usize> {
        let mut counts = BTreeMap::new();
        for check in &self.checks {
            *counts
                .entry((check.kind, check.expected.clone()))
                .or_insert(0) += 1;
        }
        counts
    }
}

/// The check body of `query` for `date`, without the institution.
fn request_body(query: &Query, date: Date) -> serde_json::Map<String, serde_json::Value> {
    let (_, body) = check_request(query, "");
    let mut map = match body {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    map.remove("institution");
    map.retain(|_, value| !value.is_null());
    map.insert("date".into(), date.to_string().into());
    map
}

/// Keys that answer something other than `valid`: revoked and suspended
/// serials, serials linked to nobody, online numbers that do not exist and
/// existing ones with the wrong birth date.
fn unhappy_queries(snapshot: &Snapshot, sampled: &[Query], draw: Draw) -> Vec<Query> {
    let revocations = snapshot.revocations();
    let mut queries: Vec<Query> = [Revocation::Revoked, Revocation::Suspended]
        .into_iter()
        .flat_map(|status| revocations.serials(status, draw.unhappy))
        .map(|serial| Query::Card { serial })
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(draw.seed);
    queries.extend((0..draw.unhappy).map(|_| Query::Card {
        // Far above the serials `shikaku gen` hands out.
        serial: Serial::from_u64(rng.gen_range(1u64 << 62..u64::MAX)),
    }));
    let numbers = sampled.iter().filter_map(|query| match query {
        Query::OnlineNumber { number, birth_date } => Some((number, *birth_date)),
        _ => None,
    });
    for (number, birth_date) in numbers.take(draw.unhappy) {
        if let Some(birth) = birth_date {
            queries.push(Query::OnlineNumber {
                number: *number,
                birth_date: Some(birth.add_days(1)),
            });
        }
        if let Some(altered) = altered_number(number, &mut rng) {
            queries.push(Query::OnlineNumber {
                number: altered,
                birth_date: None,
            });
        }
    }
    queries
}

/// The same insurer, another subscriber: the last six digits redrawn.
fn altered_number(number: &OnlineNumber, rng: &mut ChaCha8Rng) -> Option<OnlineNumber> {
    let text = number.as_str();
    let keep = text.len().checked_sub(6)?;
    let altered = format!("{}{:06}", &text[..keep], rng.gen_range(0..1_000_000));
    OnlineNumber::parse(&altered).ok()
}

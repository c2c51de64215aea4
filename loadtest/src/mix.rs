//! The traffic mix: which requests a run sends, prepared before it starts.
//!
//! A scenario weighs request kinds (card, online number, card face, bulk)
//! and optionally expected verdicts. A fixed cycle of requests is drawn with
//! those weights from the corpus (seeded, so runs are repeatable) and
//! encoded once; the run sends them in turn, so the hot path never formats
//! JSON and memory does not grow with the run's length.

use crate::corpus::{Check, Corpus, Kind};
use anyhow::{bail, Result};
use bytes::Bytes;
use rand::distributions::{Distribution, WeightedIndex};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The `[mix]` table of a scenario: relative weights.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MixSpec {
    #[serde(default = "defaults::card")]
    pub card: f64,
    #[serde(default = "defaults::online_number")]
    pub online_number: f64,
    #[serde(default = "defaults::card_face")]
    pub card_face: f64,
    /// Bulk requests (each of `bulk_size` checks of the kinds above).
    #[serde(default)]
    pub bulk: f64,
    #[serde(default = "defaults::bulk_size")]
    pub bulk_size: usize,
    /// Weights of expected verdicts within a kind; absent: as drawn.
    #[serde(default)]
    pub verdicts: Option<BTreeMap<String, f64>>,
    /// Distinct requests prepared (the cycle sent in turn).
    #[serde(default = "defaults::cycle")]
    pub cycle: usize,
    #[serde(default = "defaults::seed")]
    pub seed: u64,
}

mod defaults {
    pub fn card() -> f64 {
        0.6
    }
    pub fn online_number() -> f64 {
        0.3
    }
    pub fn card_face() -> f64 {
        0.1
    }
    pub fn bulk_size() -> usize {
        50
    }
    pub fn cycle() -> usize {
        8192
    }
    pub fn seed() -> u64 {
        1
    }
}

impl Default for MixSpec {
    fn default() -> Self {
        MixSpec {
            card: defaults::card(),
            online_number: defaults::online_number(),
            card_face: defaults::card_face(),
            bulk: 0.0,
            bulk_size: defaults::bulk_size(),
            verdicts: None,
            cycle: defaults::cycle(),
            seed: defaults::seed(),
        }
    }
}

/// One check inside a prepared request: what it asks and what it expects.
#[derive(Clone, Debug)]
pub struct Expected {
    pub kind: Kind,
    pub verdict: String,
    /// Index into the corpus (for mismatch reports).
    pub check: u32,
}

/// A request ready to send.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub path: &'static str,
    pub body: Bytes,
    /// One per check; several for bulk.
    pub expected: Vec<Expected>,
}

/// Who is asking (added to every check).
#[derive(Clone, Debug)]
pub struct Caller {
    pub institution: String,
}

/// Draws `spec.cycle` requests from `corpus` with the spec's weights.
pub fn prepare(corpus: &Corpus, spec: &MixSpec, caller: &Caller) -> Result<Vec<Prepared>> {
    let picker = Picker::new(corpus, spec)?;
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let single = WeightedIndex::new([spec.card, spec.online_number, spec.card_face])?;
    let bulk_or_not =
        WeightedIndex::new([spec.card + spec.online_number + spec.card_face, spec.bulk])?;
    let mut cursor = BTreeMap::new();
    let mut next = |rng: &mut ChaCha8Rng| {
        let kind = Kind::ALL[single.sample(rng)];
        picker.pick(kind, rng, &mut cursor)
    };
    let mut requests = Vec::with_capacity(spec.cycle);
    for _ in 0..spec.cycle.max(1) {
        let request = if bulk_or_not.sample(&mut rng) == 1 {
            let checks: Vec<u32> = (0..spec.bulk_size.max(1)).map(|_| next(&mut rng)).collect();
            bulk_request(corpus, &checks, caller)
        } else {
            single_request(corpus, next(&mut rng), caller)
        };
        requests.push(request);
    }
    Ok(requests)
}

fn single_request(corpus: &Corpus, index: u32, caller: &Caller) -> Prepared {
    let check = &corpus.checks[index as usize];
    Prepared {
        path: check.kind.path(),
        body: Bytes::from(encode(check, caller, None)),
        expected: vec![expected(check, index)],
    }
}

fn bulk_request(corpus: &Corpus, indexes: &[u32], caller: &Caller) -> Prepared {
    let mut body = String::new();
    let mut expect = Vec::with_capacity(indexes.len());
    for &index in indexes {
        let check = &corpus.checks[index as usize];
        body.push_str(&encode(check, caller, Some(check.kind.bulk_kind())));
        body.push('\n');
        expect.push(expected(check, index));
    }
    Prepared {
        path: "/v1/check/bulk",
        body: Bytes::from(body),
        expected: expect,
    }
}

fn expected(check: &Check, index: u32) -> Expected {
    Expected {
        kind: check.kind,
        verdict: check.expected.clone(),
        check: index,
    }
}

/// The JSON of one check for `caller`, with a bulk `kind` when given.
pub fn encode(check: &Check, caller: &Caller, bulk_kind: Option<&str>) -> String {
    let mut map = serde_json::Map::new();
    if let Some(kind) = bulk_kind {
        map.insert("kind".into(), kind.into());
    }
    map.insert("institution".into(), caller.institution.clone().into());
    map.extend(check.request.clone());
    serde_json::Value::Object(map).to_string()
}

/// Picks corpus entries of a kind, verdict by weight, entries in turn.
struct Picker {
    /// Per kind: the verdicts present, their weights, and their entries.
    buckets: BTreeMap<Kind, (Vec<Vec<u32>>, WeightedIndex<f64>)>,
}

impl Picker {
    fn new(corpus: &Corpus, spec: &MixSpec) -> Result<Picker> {
        let mut grouped: BTreeMap<Kind, BTreeMap<&str, Vec<u32>>> = BTreeMap::new();
        for (index, check) in corpus.checks.iter().enumerate() {
            grouped
                .entry(check.kind)
                .or_default()
                .entry(check.expected.as_str())
                .or_default()
                .push(index as u32);
        }
        let weights = [spec.card, spec.online_number, spec.card_face];
        let mut buckets = BTreeMap::new();
        for (kind, weight) in Kind::ALL.into_iter().zip(weights) {
            if weight <= 0.0 {
                continue;
            }
            let Some(by_verdict) = grouped.remove(&kind) else {
                bail!(
                    "mix.{}: the corpus holds no {} checks; set its weight to 0 or use another corpus",
                    kind.as_str(),
                    kind.as_str()
                );
            };
            buckets.insert(kind, verdict_buckets(kind, by_verdict, spec)?);
        }
        Ok(Picker { buckets })
    }

    fn pick(
        &self,
        kind: Kind,
        rng: &mut ChaCha8Rng,
        cursor: &mut BTreeMap<(Kind, usize), usize>,
    ) -> u32 {
        let (entries, weights) = &self.buckets[&kind];
        let verdict = weights.sample(rng);
        let turn = cursor.entry((kind, verdict)).or_insert(0);
        let list = &entries[verdict];
        let index = list[*turn % list.len()];
        *turn += 1;
        index
    }
}

/// The verdict buckets of one kind and their weights: the spec's verdict
/// weights over the verdicts present, or proportional to the corpus.
fn verdict_buckets(
    kind: Kind,
    by_verdict: BTreeMap<&str, Vec<u32>>,
    spec: &MixSpec,
) -> Result<(Vec<Vec<u32>>, WeightedIndex<f64>)> {
    let mut entries = Vec::new();
    let mut weights = Vec::new();
    for (verdict, list) in by_verdict {
        let weight = match &spec.verdicts {
            Some(wanted) => wanted.get(verdict).copied().unwrap_or(0.0),
            None => list.len() as f64,
        };
        if weight > 0.0 {
            entries.push(list);
            weights.push(weight);
        }
    }
    if entries.is_empty() {
        bail!(
            "mix.verdicts: none of the weighted verdicts occurs among the corpus's {} checks",
            kind.as_str()
        );
    }
    Ok((entries, WeightedIndex::new(weights)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Corpus {
        let check = |kind: Kind, expected: &str, n: u64| Check {
            kind,
            expected: expected.into(),
            request: serde_json::json!({"serial": n.to_string(), "date": "2026-11-21"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let mut checks = Vec::new();
        for n in 0..90 {
            checks.push(check(Kind::Card, "valid", n));
        }
        for n in 90..100 {
            checks.push(check(Kind::Card, "cert_revoked", n));
        }
        for n in 100..110 {
            checks.push(check(Kind::OnlineNumber, "not_found", n));
        }
        Corpus { checks }
    }

    fn caller() -> Caller {
        Caller {
            institution: "1312345678".into(),
        }
    }

    #[test]
    fn verdict_weights_shape_the_cycle() {
        let spec = MixSpec {
            card: 1.0,
            online_number: 0.0,
            card_face: 0.0,
            verdicts: Some([("valid".into(), 1.0), ("cert_revoked".into(), 1.0)].into()),
            cycle: 2000,
            ..MixSpec::default()
        };
        let prepared = prepare(&corpus(), &spec, &caller()).unwrap();
        let revoked = prepared
            .iter()
            .filter(|p| p.expected[0].verdict == "cert_revoked")
            .count();
        // Half by weight although the corpus holds 10% revoked.
        assert!((850..1150).contains(&revoked), "{revoked}");
        assert!(prepared.iter().all(|p| p.path == "/v1/check/card"));
    }

    #[test]
    fn bulk_requests_carry_kinds_and_expectations() {
        let spec = MixSpec {
            card: 1.0,
            online_number: 1.0,
            card_face: 0.0,
            bulk: 1.0,
            bulk_size: 7,
            cycle: 200,
            ..MixSpec::default()
        };
        let prepared = prepare(&corpus(), &spec, &caller()).unwrap();
        let bulk: Vec<_> = prepared
            .iter()
            .filter(|p| p.path == "/v1/check/bulk")
            .collect();
        assert!(!bulk.is_empty());
        for request in bulk {
            let text = std::str::from_utf8(&request.body).unwrap();
            let lines: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), 7);
            assert_eq!(request.expected.len(), 7);
            for (line, expected) in lines.iter().zip(&request.expected) {
                assert_eq!(line["kind"], expected.kind.bulk_kind());
                assert_eq!(line["institution"], "1312345678");
            }
        }
    }

    #[test]
    fn a_kind_missing_from_the_corpus_is_named() {
        let spec = MixSpec {
            card_face: 1.0,
            ..MixSpec::default()
        };
        let error = prepare(&corpus(), &spec, &caller())
            .unwrap_err()
            .to_string();
        assert!(error.contains("mix.card_face"), "{error}");
    }
}

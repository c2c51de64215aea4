//! Queries drawn from a snapshot's own keys, spread evenly over its shards:
//! the demo's examples, the activation drift check (the same keys asked of
//! the live and the new snapshot) and load tests all need real keys.

use super::Query;
use crate::model::{CardFaceKey, DateField, OnlineNumber, TextField};
use crate::snapshot::Snapshot;

/// Up to `per_shard` persons from every person shard, evenly spread: the
/// first serial of each and its newest row. Each row gives two queries: its
/// online number with the birth date, and its card face without branch or
/// birth date. Only the persons sampled are read (an activation samples a
/// national snapshot that is not in memory yet: reading every person of it
/// to pick a few would read the whole snapshot from disk).
pub fn sample_queries(snapshot: &Snapshot, per_shard: usize) -> Vec<Query> {
    let mut queries = Vec::new();
    for shard in 0..snapshot.shard_count() {
        let first = snapshot.first_person_of(shard);
        let count = snapshot.persons_in_shard(shard) as usize;
        let sampled = spread(count, per_shard).map(|i| first.saturating_add(i as u32));
        for person in sampled.filter_map(|number| snapshot.person(number)) {
            if let Some(serial) = person.serials().next() {
                queries.push(Query::Card { serial });
            }
            let Some(row) = person.rows().next() else {
                continue;
            };
            if let Ok(number) = OnlineNumber::parse(row.text(TextField::OnlineNumber)) {
                queries.push(Query::OnlineNumber {
                    number,
                    birth_date: row.date(DateField::BirthDate),
                });
            }
            if let Ok(key) = CardFaceKey::parse(
                row.text(TextField::InsurerNumber),
                row.text(TextField::CardSymbol),
                row.text(TextField::CardNumber),
                "",
            ) {
                queries.push(Query::CardFace {
                    key,
                    birth_date: None,
                });
            }
        }
    }
    queries
}

/// At most `wanted` indexes out of `0..len`, evenly spaced.
fn spread(len: usize, wanted: usize) -> impl Iterator<Item = usize> {
    let step = len.div_ceil(wanted.max(1)).max(1);
    (0..len).step_by(step)
}

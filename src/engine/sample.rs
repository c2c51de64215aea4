//! Queries drawn from a snapshot's own keys, spread evenly over its shards:
//! the demo's examples, the activation drift check (the same keys asked of
//! the live and the new snapshot) and load tests all need real keys.

use super::Query;
use crate::model::{CardFaceKey, DateField, OnlineNumber, TextField};
use crate::snapshot::Snapshot;

/// Up to `per_shard` persons from every person shard, evenly spread: the
/// first serial of each and its newest row. Each row gives two queries: its
/// online number with the birth date, and its card face without branch or
/// birth date.
pub fn sample_queries(snapshot: &Snapshot, per_shard: usize) -> Vec<Query> {
    let mut queries = Vec::new();
    for shard in 0..snapshot.shard_count() {
        let persons: Vec<_> = snapshot.persons_of_shard(shard).collect();
        for person in spread(persons.len(), per_shard).map(|i| persons[i]) {
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

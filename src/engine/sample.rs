//! Queries drawn from a snapshot's own keys, spread evenly over its shards:
//! the demo's examples, the activation drift check (the same keys asked of
//! the live and the new snapshot) and load tests all need real keys.

use super::Query;
use crate::model::{CardFaceKey, DateField, OnlineNumber, Serial, TextField};
use crate::snapshot::format::Loc;
use crate::snapshot::Snapshot;

/// Up to `per_shard` serials and `per_shard` rows from every shard. Each row
/// gives two queries: its online number with the birth date, and its card
/// face without branch or birth date.
pub fn sample_queries(snapshot: &Snapshot, per_shard: usize) -> Vec<Query> {
    let mut queries = Vec::new();
    for shard in 0..snapshot.shard_count() {
        if let Some(keys) = snapshot.key_shard(shard) {
            for entry in spread(keys.serials.len(), per_shard).map(|i| &keys.serials[i]) {
                let len = (entry.serial_len.to_native() as usize).min(20);
                if let Some(serial) = Serial::from_be_bytes(&entry.serial[..len]) {
                    queries.push(Query::Card { serial });
                }
            }
        }
        let Some(persons) = snapshot.person_shard(shard) else {
            continue;
        };
        for index in spread(persons.rows.len(), per_shard) {
            let Some(row) = snapshot.row(Loc {
                shard,
                index: index as u32,
            }) else {
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

//! Intraday updates in the serving path: parsing a message line, applying
//! it to the overlay, what the overlay costs a check, and writing and
//! reading back a checkpoint of it (what a restart costs per record).
//!
//! Data: `shikaku gen` of `SHIKAKU_BENCH_PERSONS` persons (default 200,000)
//! built once under `target/bench-data/updates/`, and synthetic messages
//! drawn from it (`shikaku updates gen`'s generator) changing about a
//! quarter of its rows — more than a July mass-renewal day changes of a
//! national snapshot.
//!
//! Run: `cargo bench --bench updates` (ingest with fsync, replay, fold and
//! restart are measured end to end: see docs/performance.md).
// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shikaku::engine::sample::sample_queries;
use shikaku::engine::{check_view, View};
use shikaku::gen::{generate as generate_dataset, GenOptions};
use shikaku::model::Date;
use shikaku::snapshot::write::{build, BuildOptions};
use shikaku::snapshot::Snapshot;
use shikaku::source::Encoding;
use shikaku::updates::checkpoint::{self, CheckpointMark};
use shikaku::updates::generate::{generate, GenerateOptions};
use shikaku::updates::journal::process_id_hash;
use shikaku::updates::message;
use shikaku::updates::overlay::Overlay;
use std::collections::BTreeMap;
use std::path::Path;

fn persons() -> u64 {
    std::env::var("SHIKAKU_BENCH_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}

fn today() -> Date {
    Date::parse("2026-11-21").expect("a valid date")
}

/// Builds the snapshot once; returns it opened.
fn snapshot(persons: u64) -> Snapshot {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/updates");
    let out = root.join(format!("snapshot-{persons}"));
    if !out.exists() {
        let source = root.join(format!("source-{persons}"));
        generate_dataset(&GenOptions {
            persons,
            seed: 1,
            out: source.clone(),
            today: today(),
            crl_entries: None,
            crl_random_serials: false,
            compression: shikaku::source::csv_input::Compression::None,
            progress: false,
        })
        .expect("generate the dataset");
        build(&BuildOptions {
            input: source,
            out: out.clone(),
            encoding: Encoding::Utf8,
            skip_bad_rows: false,
            shards: None,
            id: Some("bench.1".into()),
            progress: false,
        })
        .expect("build the snapshot");
    }
    Snapshot::open(&out).expect("open the snapshot")
}

fn bench(c: &mut Criterion) {
    let persons = persons();
    let snapshot = snapshot(persons);
    let mut lines = Vec::new();
    let options = GenerateOptions {
        count: persons / 4,
        seed: 7,
        today: today(),
    };
    generate(&snapshot, &options, |line| {
        lines.push(line.to_string());
        Ok(())
    })
    .expect("draw messages");
    let messages: Vec<_> = lines
        .iter()
        .map(|l| message::parse(l.as_bytes()).expect("a valid message"))
        .collect();

    let mut group = c.benchmark_group("updates");
    let mut next = 0usize;
    group.bench_function("parse_message", |b| {
        b.iter(|| {
            next = (next + 1) % lines.len();
            black_box(message::parse(lines[next].as_bytes()).is_ok())
        })
    });
    let mut overlay = Overlay::default();
    for (lsn, message) in messages.iter().enumerate() {
        overlay.apply(lsn as u64 + 1, &message.change, &snapshot);
    }
    group.bench_function(format!("apply_one/overlay_of_{}", messages.len()), |b| {
        let mut working = overlay.clone();
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % messages.len();
            working.apply(i as u64, &messages[i].change, &snapshot);
        })
    });
    group.bench_function("clone_overlay", |b| b.iter(|| black_box(overlay.clone())));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mark = CheckpointMark {
        snapshot_id: snapshot.id().to_string(),
        snapshot_content: snapshot.manifest().content_digest(),
        folded_through: 0,
        through_lsn: messages.len() as u64,
    };
    let ids: Vec<u128> = messages
        .iter()
        .map(|m| process_id_hash(&m.process_id))
        .collect();
    let write = || {
        checkpoint::write(dir.path(), &mark, &overlay, BTreeMap::new(), &ids)
            .expect("write the checkpoint")
    };
    let records = messages.len();
    group.bench_function(format!("checkpoint_write/overlay_of_{records}"), |b| {
        b.iter(|| black_box(write().bytes))
    });
    group.bench_function(format!("checkpoint_read/overlay_of_{records}"), |b| {
        b.iter(|| {
            black_box(
                checkpoint::read(dir.path(), &snapshot)
                    .expect("read it")
                    .is_some(),
            )
        })
    });
    let queries = sample_queries(&snapshot, 2048);
    for (name, over) in [("bare", Overlay::default()), ("overlay", overlay.clone())] {
        let view = View::new(&snapshot, &over);
        let mut q = 0usize;
        group.bench_function(format!("check/{name}"), |b| {
            b.iter(|| {
                q = (q + 1) % queries.len();
                black_box(check_view(view, snapshot.crl(), &queries[q], today()).verdict)
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);

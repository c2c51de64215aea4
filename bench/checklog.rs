//! The check log in the serving path and in history searches: encoding a
//! record (on the request thread), writing a batch (compress + frame, on
//! the writer thread, without the fdatasync), and a history search over
//! generated days (index probes + batch reads).
//!
//! Data: `shikaku history gen` days (20 checks per batch, as the writer's
//! 20 ms batch at 1,000 checks/s) under `target/bench-data/checklog/`.
//!
//! Run: `cargo bench --bench checklog` (server throughput with logging on
//! and off, bytes per check and searches over 5 months are measured end to
//! end: see docs/performance.md).
// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shikaku::checklog::generate::{generate, GenOptions};
use shikaku::checklog::history::{HistoryQuery, Store};
use shikaku::checklog::record::{CheckRecord, LoggedKey, QueryKind, Via};
use shikaku::checklog::segment::SegmentWriter;
use shikaku::model::Outcome;
use shikaku::model::{Date, InstitutionCode, InsurerNumber, Serial, Verdict};
use std::path::Path;

fn day() -> Date {
    Date::parse("2026-10-01").expect("a valid date")
}

fn sample<'a>(serial: &'a Serial) -> CheckRecord<'a> {
    CheckRecord {
        micros: 1_790_000_000_000_000,
        latency_us: 412,
        via: Via::Single,
        institution: InstitutionCode::parse("1312345678").ok(),
        key: LoggedKey {
            kind: QueryKind::Card,
            bytes: serial.as_bytes(),
        },
        date: Some(day()),
        outcome: Outcome::Verdict(Verdict::Valid),
        insurer: InsurerNumber::parse("06139018").ok(),
        snapshot: "national-2026-10-01",
        update_lsn: 123_456,
        crl: "crl-20260930T220000Z-1",
        reception: "20261001083015-04d2-000001",
    }
}

fn encode_and_write(c: &mut Criterion) {
    let serial = Serial::from_u64(0x1234_5678_9abc);
    let record = sample(&serial);
    c.bench_function("checklog/encode_record", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            out.clear();
            black_box(&record).encode(&mut out);
            black_box(out.len())
        })
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut writer = SegmentWriter::create(dir.path(), day()).expect("a segment");
    let mut batch = Vec::new();
    for _ in 0..20 {
        record.encode(&mut batch);
    }
    c.bench_function("checklog/write_batch_of_20_unsynced", |b| {
        b.iter(|| {
            if writer.len > 1 << 30 {
                writer = SegmentWriter::create(dir.path(), day()).expect("a segment");
            }
            writer
                .append(black_box(&batch), 20, 1, false)
                .expect("written")
        })
    });
}

fn history_search(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/checklog");
    let days = 10;
    if !root.join("complete").exists() {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("bench data directory");
        let options = GenOptions {
            first_day: day(),
            days,
            per_day: 200_000,
            institutions: 240_000,
            keys: 1_000_000,
            batch: 20,
            segment_entries: 2_000_000,
            seed: 3,
        };
        generate(&root, &options, |_| {}).expect("generated");
        std::fs::write(root.join("complete"), b"").expect("marker");
    }
    let store = Store::new(root);
    let query = |n: u64| HistoryQuery {
        institution: InstitutionCode::parse("1300000001").expect("code"),
        kind: QueryKind::Card,
        key: Serial::from_u64(0x1000_0000 + n).as_bytes().to_vec(),
        date: None,
        today: day().add_days(days as i32),
        months: 5,
        limit: 100,
    };
    let mut n = 0;
    c.bench_function("checklog/history_search_10_days", |b| {
        b.iter(|| {
            n = (n + 7919) % 1_000_000;
            store.search(&query(n)).expect("searched").records.len()
        })
    });
}

criterion_group!(benches, encode_and_write, history_search);
criterion_main!(benches);

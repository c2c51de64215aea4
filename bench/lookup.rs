//! Lookup latency per key kind against a `HashMap` baseline holding the same
//! rows in RAM, plus full checks, answer encoding and snapshot open. Each
//! key kind is measured twice on the snapshot: `snapshot_locate` finds the
//! matching rows (index probe, key verified against each candidate row),
//! `snapshot` also decodes them into owned rows, as an answer needs.
//!
//! Data: `shikaku gen` output for `SHIKAKU_BENCH_PERSONS` persons (default
//! 1,000,000), generated and built once under `target/bench-data/` and
//! reused by later runs. Each iteration looks up one key drawn from 4,096
//! keys sampled across the whole dataset, so caches are not flattered.
//!
//! Run: `cargo bench --bench lookup` (or with `SHIKAKU_BENCH_PERSONS=10000000`).
//!
//! At national scale: `SHIKAKU_BENCH_DATA=DIR` takes the dataset from
//! `DIR/source` (compressed sources too) and `DIR/snapshot` (built there if
//! it does not open), and `SHIKAKU_BENCH_BASELINE_ROWS=N` fills the
//! baseline from the first N rows only: 130 million rows as `String`s in
//! hash maps need several times this machine's memory, which is the point
//! of the snapshot. The sampled keys come from those rows, so both stores
//! answer the same keys; the snapshot places those persons by the hash of
//! their card face, i.e. all over its files.
// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shikaku::engine::json::{write_answer, Envelope};
use shikaku::engine::{check, Query, View};
use shikaku::gen::{generate, GenOptions};
use shikaku::model::{CardFaceKey, Date, OnlineNumber, Serial};
use shikaku::snapshot::write::{build, BuildOptions, Sources};
use shikaku::snapshot::Snapshot;
use shikaku::source::csv_input::open_decompressed;
use shikaku::source::Encoding;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const SAMPLE: usize = 4096;
const TODAY: &str = "2026-11-21";

fn persons() -> u64 {
    std::env::var("SHIKAKU_BENCH_PERSONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Rows the baseline holds (`SHIKAKU_BENCH_BASELINE_ROWS`; all by default).
fn baseline_rows() -> usize {
    std::env::var("SHIKAKU_BENCH_BASELINE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Generates and builds the dataset once; returns (source dir, snapshot dir).
fn dataset(persons: u64) -> (PathBuf, PathBuf) {
    let root = match std::env::var_os("SHIKAKU_BENCH_DATA") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/bench-data/{persons}")),
    };
    let source = root.join("source");
    let snapshot = root.join("snapshot");
    if Snapshot::open(&snapshot).is_err() {
        // A snapshot that does not open (absent, damaged, of an older
        // format) is built again, the source generated only when there is
        // none: a dataset named by SHIKAKU_BENCH_DATA is never deleted.
        let _ = std::fs::remove_dir_all(&snapshot);
        if !source.is_dir() {
            generate(&GenOptions {
                persons,
                seed: 7,
                out: source.clone(),
                today: Date::parse(TODAY).expect("a valid date"),
                crl_entries: None,
                crl_random_serials: false,
                compression: shikaku::source::csv_input::Compression::None,
                progress: true,
            })
            .expect("generate the bench dataset");
        }
        build(&BuildOptions {
            input: source.clone(),
            out: snapshot.clone(),
            encoding: Encoding::Utf8,
            skip_bad_rows: false,
            shards: None,
            id: Some(format!("bench-{persons}")),
            progress: true,
        })
        .expect("build the bench snapshot");
    }
    (source, snapshot)
}

/// The baseline: the same rows in RAM, and hash maps from online number,
/// card face and serial to them.
struct Baseline {
    rows: Vec<csv::StringRecord>,
    by_online: HashMap<String, Vec<u32>>,
    by_face: HashMap<(String, String, String), Vec<u32>>,
    by_serial: HashMap<String, String>,
}

impl Baseline {
    /// Reads every matched row, as the snapshot's lookups do.
    fn rows_len(&self, indexes: Option<&Vec<u32>>) -> usize {
        indexes.map_or(0, |list| {
            list.iter()
                .map(|&i| self.rows[i as usize].as_slice().len())
                .sum()
        })
    }
}

struct Keys {
    online: Vec<(String, OnlineNumber)>,
    faces: Vec<((String, String, String), CardFaceKey)>,
    serials: Vec<(String, Serial)>,
}

fn csv_reader(source: &Path, name: &str) -> csv::Reader<Box<dyn std::io::Read + Send>> {
    let path = Sources::require(source, name).expect(name);
    csv::Reader::from_reader(open_decompressed(&path).expect(name))
}

fn load(source: &Path) -> (Baseline, Keys) {
    let limit = baseline_rows();
    let mut reader = csv_reader(source, Sources::ELIGIBILITY);
    let headers = reader.headers().expect("a header").clone();
    let column = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let (code, branch, municipal) = (
        column("insurer_code"),
        column("branch_no"),
        column("municipal_id"),
    );
    let (insurer, symbol, number) = (
        column("insurer_number"),
        column("card_symbol"),
        column("card_number"),
    );
    let mut baseline = Baseline {
        rows: Vec::new(),
        by_online: HashMap::new(),
        by_face: HashMap::new(),
        by_serial: HashMap::new(),
    };
    for record in reader.records().take(limit) {
        let record = record.expect("a record");
        let online = if record[municipal].is_empty() {
            format!("{}{}", &record[code], &record[branch])
        } else {
            record[municipal].to_string()
        };
        let insurer_number = format!("{:0>8}", &record[insurer]);
        let face = (
            insurer_number,
            record[symbol].to_string(),
            record[number].to_string(),
        );
        let index = baseline.rows.len() as u32;
        baseline.by_face.entry(face).or_default().push(index);
        baseline.by_online.entry(online).or_default().push(index);
        baseline.rows.push(record);
    }
    let mut reader = csv_reader(source, Sources::LINKAGE);
    for record in reader.records().take(limit) {
        let record = record.expect("a record");
        baseline
            .by_serial
            .insert(record[0].to_string(), record[1].to_string());
    }
    let step = |len: usize| (len / SAMPLE).max(1);
    let online = baseline
        .by_online
        .keys()
        .step_by(step(baseline.by_online.len()))
        .take(SAMPLE)
        .map(|k| (k.clone(), OnlineNumber::parse(k).expect("an online number")))
        .collect();
    let faces = baseline
        .by_face
        .keys()
        .step_by(step(baseline.by_face.len()))
        .take(SAMPLE)
        .map(|k| {
            (
                k.clone(),
                CardFaceKey::parse(&k.0, &k.1, &k.2, "").expect("a card face"),
            )
        })
        .collect();
    let serials = baseline
        .by_serial
        .keys()
        .step_by(step(baseline.by_serial.len()))
        .take(SAMPLE)
        .map(|k| (k.clone(), Serial::parse(k).expect("a serial")))
        .collect();
    (
        baseline,
        Keys {
            online,
            faces,
            serials,
        },
    )
}

/// Touches every sampled key once through both stores, so that no
/// benchmark pays for first page faults that another one already took.
fn warm_up(snapshot: &Snapshot, baseline: &Baseline, keys: &Keys) {
    for _ in 0..2 {
        for (text, number) in &keys.online {
            black_box((
                baseline.rows_len(baseline.by_online.get(text)),
                snapshot.rows_by_online_number(number).len(),
            ));
        }
        for (tuple, key) in &keys.faces {
            let rows =
                snapshot.rows_by_card_face(key.insurer_number.as_str(), &key.symbol, &key.number);
            black_box((baseline.rows_len(baseline.by_face.get(tuple)), rows.len()));
        }
        for (text, serial) in &keys.serials {
            let person = snapshot.serial_link(serial).and_then(|link| link.person);
            let rows = person.map(|p| p.rows().count());
            black_box((baseline.by_serial.get(text), rows));
        }
    }
}

fn lookups(c: &mut Criterion) {
    let persons = persons();
    let (source, snapshot_dir) = dataset(persons);
    let snapshot = Snapshot::open(&snapshot_dir).expect("open the bench snapshot");
    // Named by what the snapshot holds (`SHIKAKU_BENCH_DATA` may hold any size).
    let persons = snapshot.person_count();
    let (baseline, keys) = load(&source);
    let today = Date::parse(TODAY).expect("a valid date");
    warm_up(&snapshot, &baseline, &keys);
    let mut group = c.benchmark_group(format!("lookup/{persons}"));
    let mut i = 0usize;
    let mut next = move |len: usize| {
        i = (i + 1) % len;
        i
    };
    group.bench_function("online_number/hashmap", |b| {
        b.iter(|| {
            let key = &keys.online[next(keys.online.len())].0;
            black_box(baseline.rows_len(baseline.by_online.get(key)))
        })
    });
    group.bench_function("online_number/snapshot", |b| {
        b.iter(|| {
            black_box(
                snapshot
                    .rows_by_online_number(&keys.online[next(keys.online.len())].1)
                    .len(),
            )
        })
    });
    group.bench_function("online_number/snapshot_locate", |b| {
        b.iter(|| {
            black_box(
                snapshot
                    .online_number_locs(&keys.online[next(keys.online.len())].1)
                    .len(),
            )
        })
    });
    group.bench_function("card_face/hashmap", |b| {
        b.iter(|| {
            let key = &keys.faces[next(keys.faces.len())].0;
            black_box(baseline.rows_len(baseline.by_face.get(key)))
        })
    });
    group.bench_function("card_face/snapshot", |b| {
        b.iter(|| {
            let key = &keys.faces[next(keys.faces.len())].1;
            black_box(
                snapshot
                    .rows_by_card_face(key.insurer_number.as_str(), &key.symbol, &key.number)
                    .len(),
            )
        })
    });
    group.bench_function("card_face/snapshot_locate", |b| {
        b.iter(|| {
            let key = &keys.faces[next(keys.faces.len())].1;
            black_box(
                snapshot
                    .card_face_locs(key.insurer_number.as_str(), &key.symbol, &key.number)
                    .len(),
            )
        })
    });
    group.bench_function("serial/hashmap", |b| {
        b.iter(|| {
            black_box(
                baseline
                    .by_serial
                    .get(&keys.serials[next(keys.serials.len())].0)
                    .map(|l| l.len()),
            )
        })
    });
    group.bench_function("serial/snapshot", |b| {
        b.iter(|| {
            black_box(
                snapshot
                    .serial_link(&keys.serials[next(keys.serials.len())].1)
                    .map(|l| l.linkage),
            )
        })
    });
    group.bench_function("check_card/snapshot", |b| {
        b.iter(|| {
            let query = Query::Card {
                serial: keys.serials[next(keys.serials.len())].1,
            };
            black_box(check(&snapshot, &query, today).verdict)
        })
    });
    group.bench_function("check_online_number/snapshot", |b| {
        b.iter(|| {
            let query = Query::OnlineNumber {
                number: keys.online[next(keys.online.len())].1,
                birth_date: None,
            };
            black_box(check(&snapshot, &query, today).verdict)
        })
    });
    group.bench_function("check_and_encode_json/snapshot", |b| {
        let mut buffer = Vec::with_capacity(4096);
        b.iter(|| {
            let query = Query::Card {
                serial: keys.serials[next(keys.serials.len())].1,
            };
            let answer = check(&snapshot, &query, today);
            buffer.clear();
            let envelope = Envelope {
                date: today,
                snapshot_id: snapshot.id(),
                crl_id: snapshot.crl().id(),
                update_lsn: 0,
                client_ref: None,
                reception: "R",
            };
            write_answer(&mut buffer, &answer, View::bare(&snapshot), &envelope);
            black_box(buffer.len())
        })
    });
    group.finish();
    c.bench_function(&format!("open/{persons}"), |b| {
        b.iter(|| black_box(Snapshot::open(&snapshot_dir).expect("open").shard_count()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3));
    targets = lookups
}
criterion_main!(benches);

//! Fold equivalence, reference-model style: on random data, the snapshot a
//! fold writes (`snapshot build --base --journal`) answers every query
//! exactly as the base snapshot with the journal replayed as an overlay
//! (what the server serves before the fold). Two folds in a row, so the
//! journal mark is exercised too; and a fold refuses a journal that no
//! longer holds the records after its base's mark.

mod common;

use shikaku::engine::json::{write_answer, Envelope};
use shikaku::engine::sample::sample_queries;
use shikaku::engine::{check_view, Query, View};
use shikaku::gen::{generate as generate_dataset, GenOptions};
use shikaku::model::{Date, OnlineNumber};
use shikaku::snapshot::write::build;
use shikaku::snapshot::Snapshot;
use shikaku::updates::fold::fold;
use shikaku::updates::generate::{generate, GenerateOptions};
use shikaku::updates::journal::{process_id_hash, Journal};
use shikaku::updates::message::{self, Change};
use shikaku::updates::overlay::Overlay;
use std::path::Path;

/// The answer as JSON bytes, with the envelope fields that name the
/// snapshot fixed (they differ by design).
fn answer_bytes(view: View<'_>, crl: &shikaku::crl::Crl, query: &Query, date: Date) -> Vec<u8> {
    let answer = check_view(view, crl, query, date);
    let mut out = Vec::new();
    let envelope = Envelope {
        date,
        snapshot_id: "s",
        update_lsn: 0,
        crl_id: "c",
        client_ref: None,
        reception: "r",
    };
    write_answer(&mut out, &answer, view, &envelope);
    out
}

/// Appends `lines` to the journal in `dir` (as the ingest task would after
/// accepting them) and applies them to `overlay` over `base`.
fn journal_and_apply(dir: &Path, lines: &[String], base: &Snapshot, overlay: &mut Overlay) {
    let (mut journal, _) = Journal::open(dir, 0, |_| Ok(())).unwrap();
    for line in lines {
        let parsed = message::parse(line.as_bytes()).unwrap_or_else(|e| panic!("{e:?}: {line}"));
        let lsn = journal.append(process_id_hash(&parsed.process_id), line.as_bytes());
        overlay.apply(lsn, &parsed.change, base);
    }
    journal.commit().unwrap();
}

/// Queries drawn from both snapshots, plus every key the messages touch.
fn queries(base: &Snapshot, folded: &Snapshot, lines: &[String]) -> Vec<Query> {
    let mut queries = sample_queries(base, 400);
    queries.extend(sample_queries(folded, 400));
    for line in lines {
        let change = message::parse(line.as_bytes()).unwrap().change;
        match change {
            Change::Upsert(row) => queries.push(Query::OnlineNumber {
                number: OnlineNumber::parse(row.text(shikaku::model::TextField::OnlineNumber))
                    .unwrap(),
                birth_date: None,
            }),
            Change::Delete(key) => queries.push(Query::OnlineNumber {
                number: key.online,
                birth_date: None,
            }),
            Change::Link { serial, .. } => queries.push(Query::Card { serial }),
            Change::Renew {
                new_serial,
                old_serial,
            } => {
                queries.push(Query::Card { serial: new_serial });
                queries.push(Query::Card { serial: old_serial });
            }
            Change::Insurer(_) => {}
        }
    }
    queries
}

fn messages(snapshot: &Snapshot, count: u64, seed: u64, today: Date) -> Vec<String> {
    let mut lines = Vec::new();
    let options = GenerateOptions { count, seed, today };
    generate(snapshot, &options, |line| {
        lines.push(line.to_string());
        Ok(())
    })
    .unwrap();
    // An insurer master change too (the generator draws rows and serials).
    lines.push(format!(
        r#"{{"op":"insurer","process_id":"ins-{seed}","insurer_number":"06139018","name":"改称後 {seed}"}}"#
    ));
    lines
}

/// A generated dataset built into a snapshot: the directory holding it,
/// the snapshot's path, and the snapshot opened.
fn generated_base(
    persons: u64,
    seed: u64,
    shards: u32,
    today: Date,
) -> (tempfile::TempDir, std::path::PathBuf, Snapshot) {
    let dir = tempfile::tempdir().unwrap();
    generate_dataset(&GenOptions {
        persons,
        seed,
        out: dir.path().join("source"),
        today,
        crl_entries: None,
        crl_random_serials: false,
        compression: shikaku::source::csv_input::Compression::None,
        progress: false,
    })
    .unwrap();
    let base_dir = dir.path().join("base");
    build(&common::options(
        &dir.path().join("source"),
        &base_dir,
        shards,
    ))
    .unwrap();
    let base = Snapshot::open(&base_dir).unwrap();
    (dir, base_dir, base)
}

fn assert_equivalent(served: View<'_>, folded: &Snapshot, queries: &[Query], today: Date) {
    let mut differing = Vec::new();
    for query in queries {
        let live = answer_bytes(served, served.snapshot.crl(), query, today);
        let after = answer_bytes(View::bare(folded), folded.crl(), query, today);
        if live != after {
            differing.push(format!(
                "{query:?}\n  served: {}\n  folded: {}",
                String::from_utf8_lossy(&live),
                String::from_utf8_lossy(&after)
            ));
        }
    }
    assert!(
        differing.is_empty(),
        "{} of {} answers differ, e.g. {}",
        differing.len(),
        queries.len(),
        differing[0]
    );
}

#[test]
fn a_folded_snapshot_answers_like_base_plus_journal() {
    let today = Date::today_in_japan();
    for seed in [11u64, 29, 47] {
        let (dir, base_dir, base) = generated_base(1500, seed, 3, today);
        let journal_dir = dir.path().join("journal");

        // Day 1: the journal over the base, folded.
        let day1 = messages(&base, 700, seed, today);
        let mut overlay = Overlay::default();
        journal_and_apply(&journal_dir, &day1, &base, &mut overlay);
        let fold1_dir = dir.path().join("fold1");
        fold(
            &common::options(Path::new(""), &fold1_dir, 3),
            &base_dir,
            &journal_dir,
        )
        .unwrap();
        let fold1 = Snapshot::open(&fold1_dir).unwrap();
        let mark = fold1.manifest().journal.clone().unwrap();
        assert_eq!(mark.through_lsn, day1.len() as u64);
        assert_eq!(mark.records_folded, day1.len() as u64);
        let served = View::new(&base, &overlay);
        assert_equivalent(served, &fold1, &queries(&base, &fold1, &day1), today);

        // Day 2: more records in the same journal; only those after the
        // mark are folded onto the first fold, and the result answers like
        // the original base with both days replayed.
        let day2 = messages(&fold1, 300, seed + 1000, today);
        journal_and_apply(&journal_dir, &day2, &base, &mut overlay);
        let fold2_dir = dir.path().join("fold2");
        let report = fold(
            &common::options(Path::new(""), &fold2_dir, 2),
            &fold1_dir,
            &journal_dir,
        )
        .unwrap();
        let fold2 = Snapshot::open(&fold2_dir).unwrap();
        let mark2 = fold2.manifest().journal.clone().unwrap();
        assert_eq!(mark2.records_folded, day2.len() as u64);
        assert_eq!(mark2.through_lsn, (day1.len() + day2.len()) as u64);
        assert_eq!(report.shard_count, 2, "a fold may reshard");
        let mut all = day1.clone();
        all.extend(day2);
        assert_equivalent(
            View::new(&base, &overlay),
            &fold2,
            &queries(&base, &fold2, &all),
            today,
        );
    }
}

#[test]
fn a_fold_refuses_a_journal_missing_records_after_its_base() {
    let today = Date::today_in_japan();
    let (dir, base_dir, base) = generated_base(300, 5, 1, today);
    let journal_dir = dir.path().join("journal");
    let mut overlay = Overlay::default();
    journal_and_apply(
        &journal_dir,
        &messages(&base, 50, 1, today),
        &base,
        &mut overlay,
    );
    let fold1_dir = dir.path().join("fold1");
    fold(
        &common::options(Path::new(""), &fold1_dir, 1),
        &base_dir,
        &journal_dir,
    )
    .unwrap();
    // A journal that starts later than the fold's mark + 1 (records lost).
    let other = dir.path().join("other");
    let (mut journal, _) = Journal::open(&other, 1000, |_| Ok(())).unwrap();
    let line = r#"{"op":"link","process_id":"x","serial":"0x5","linkage_no":"1"}"#;
    journal.append(process_id_hash("x"), line.as_bytes());
    journal.commit().unwrap();
    let error = fold(
        &common::options(Path::new(""), &dir.path().join("fold2"), 1),
        &fold1_dir,
        &other,
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("records 52 to 999 are missing"), "{error}");
}

//! Snapshot files: round trip, determinism, damaged and foreign files
//! refused cleanly, Shift_JIS sources, bad rows reported by file and line.

mod common;

use common::{branch, date, online, options, qualification, Dataset};
use shikaku::engine::{check, Query};
use shikaku::model::{OnlineNumber, Serial, Verdict};
use shikaku::snapshot::format::FORMAT_VERSION;
use shikaku::snapshot::verify::verify;
use shikaku::snapshot::write::build;
use shikaku::snapshot::{Manifest, Snapshot, Verification};
use shikaku::source::Encoding;
use shikaku::storage::archive::FILE_LAYOUT_VERSION;
use std::path::Path;

fn sample() -> Dataset {
    let mut data = Dataset::new();
    for person in 1..=40u64 {
        let linkage = person.to_string();
        data = data.row(
            qualification(&linkage, &branch(person), "2020-04-01")
                .set("card_number", &person.to_string()),
        );
        if person % 3 == 0 {
            data = data.row(
                qualification(&linkage, &branch(person + 1000), "2010-04-01")
                    .set("lost", "2020-04-01")
                    .set("card_number", &(person + 1000).to_string()),
            );
        }
        data = data.link(&(person * 10).to_string(), &linkage);
    }
    data.revoke("20", "keyCompromise")
        .revoke("30", "certificateHold")
}

fn ask(snapshot: &Snapshot, query: &Query) -> Verdict {
    check(snapshot, query, date("2026-11-21")).verdict
}

fn online_query(n: u64) -> Query {
    Query::OnlineNumber {
        number: OnlineNumber::parse(&online(n)).unwrap(),
        birth_date: None,
    }
}

fn serial_query(n: u64) -> Query {
    Query::Card {
        serial: Serial::from_u64(n),
    }
}

#[test]
fn round_trip_counts_and_verify() {
    let built = sample().try_build(3).unwrap();
    let counts = &built.report.counts;
    assert_eq!((counts.persons, counts.rows, counts.serials), (40, 53, 40));
    assert_eq!(
        (counts.revoked, counts.suspended, counts.insurers),
        (1, 1, 1)
    );
    assert_eq!(built.report.key_check.rows_checked, 53);
    assert_eq!(built.report.key_check.serials_checked, 40);
    let report = verify(&built.out).unwrap();
    assert_eq!((report.persons, report.rows, report.serials), (40, 53, 40));
    let manifest = Manifest::read(&built.out).unwrap();
    assert_eq!(manifest.id, "test.1");
    assert_eq!(manifest.shard_count, 3);
    // Person and key shards, then insurers, dictionary and revocations.
    assert_eq!(manifest.files.len(), 3 * 2 + 3);
    assert!(manifest
        .sources
        .iter()
        .any(|s| s.file == "eligibility.csv" && s.bytes > 0));
    let reopened = Snapshot::open_with(&built.out, Verification::Checksums).unwrap();
    assert_eq!(ask(&reopened, &online_query(7)), Verdict::Valid);
    assert_eq!(
        ask(&reopened, &online_query(1003)),
        Verdict::InvalidNewerExists
    );
    assert_eq!(ask(&reopened, &serial_query(70)), Verdict::Valid);
    assert_eq!(ask(&reopened, &serial_query(20)), Verdict::CertRevoked);
    assert_eq!(ask(&reopened, &serial_query(30)), Verdict::CertSuspended);
    assert!(built.out.join("build-report.json").is_file());
    assert!(
        !built.out.with_file_name("snapshot.partial").exists(),
        "no partial directory is left behind"
    );
}

#[test]
fn the_same_sources_build_the_same_bytes() {
    let a = sample().try_build(2).unwrap();
    let b = sample().try_build(2).unwrap();
    let files = |m: &Manifest| m.files.clone();
    assert_eq!(files(a.snapshot.manifest()), files(b.snapshot.manifest()));
}

#[test]
fn an_existing_output_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    sample().write(&dir.path().join("source"));
    std::fs::create_dir_all(dir.path().join("snapshot")).unwrap();
    let error = build(&options(
        &dir.path().join("source"),
        &dir.path().join("snapshot"),
        1,
    ))
    .unwrap_err();
    assert!(error.to_string().contains("already exists"), "{error}");
}

fn built_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    sample().write(&dir.path().join("source"));
    let out = dir.path().join("snapshot");
    build(&options(&dir.path().join("source"), &out, 2)).unwrap();
    (dir, out)
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let position = at % bytes.len();
    bytes[position] ^= 0x5A;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_flipped_byte_fails_verify_naming_the_file() {
    let (_dir, out) = built_copy();
    flip_byte(&out.join("persons-0001.rkyv"), 100);
    let error = verify(&out).unwrap_err().to_string();
    assert!(error.starts_with("persons-0001.rkyv: checksum"), "{error}");
    for verification in [Verification::Checksums, Verification::ChecksumsUncached] {
        let error = Snapshot::open_with(&out, verification).err().unwrap();
        assert!(
            error.to_string().starts_with("persons-0001.rkyv: checksum"),
            "{error}"
        );
    }
}

#[test]
fn an_uncached_open_answers_the_same_and_warms_within_its_budget() {
    let (_dir, out) = built_copy();
    let cached = Snapshot::open_with(&out, Verification::Checksums).unwrap();
    let uncached = Snapshot::open_with(&out, Verification::ChecksumsUncached).unwrap();
    for n in [1, 7, 9, 1003, 40] {
        assert_eq!(
            ask(&cached, &online_query(n)),
            ask(&uncached, &online_query(n))
        );
    }
    let size = |name: &str| std::fs::metadata(out.join(name)).unwrap().len();
    let keys = size("keys-0000.rkyv") + size("keys-0001.rkyv");
    assert_eq!(uncached.warm_indexes(0), 0);
    assert_eq!(uncached.warm_indexes(keys), keys);
    let indexes = uncached.warm_indexes(u64::MAX);
    let small_files = size("dictionary.rkyv") + size("insurers.rkyv");
    assert!(indexes > keys + small_files, "{indexes}");
    let all: u64 = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rkyv"))
        .filter(|path| !path.ends_with("revocations.rkyv"))
        .map(|path| std::fs::metadata(path).unwrap().len())
        .sum();
    assert_eq!(uncached.warm(|| true), indexes + all - keys - small_files);
    assert_eq!(uncached.warm(|| false), indexes);
}

#[test]
fn damaged_files_never_panic_when_opened_without_checksums() {
    let (_dir, out) = built_copy();
    let target = out.join("persons-0000.rkyv");
    let keys = out.join("keys-0001.rkyv");
    let pristine = (
        std::fs::read(&target).unwrap(),
        std::fs::read(&keys).unwrap(),
    );
    for step in 0..200usize {
        std::fs::write(&target, &pristine.0).unwrap();
        std::fs::write(&keys, &pristine.1).unwrap();
        flip_byte(&target, step * 7919 + 16);
        flip_byte(&keys, step * 104_729 + 16);
        // Opening may refuse the file; if it opens, every lookup must still
        // answer (perhaps wrongly: the checksums are what catch that).
        if let Ok(snapshot) = Snapshot::open(&out) {
            for n in [1, 7, 9, 1003, 40] {
                let _ = ask(&snapshot, &online_query(n));
                let _ = ask(&snapshot, &serial_query(n * 10));
            }
        }
        assert!(
            verify(&out).is_err(),
            "step {step}: a damaged file passed verify"
        );
    }
}

#[test]
fn a_truncated_file_is_refused() {
    let (_dir, out) = built_copy();
    let path = out.join("keys-0000.rkyv");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let error = Snapshot::open(&out)
        .err()
        .expect("truncated file opened")
        .to_string();
    assert!(
        error.contains("keys-0000.rkyv") && error.contains("truncated"),
        "{error}"
    );
}

#[test]
fn a_foreign_file_of_the_right_size_is_refused() {
    let (_dir, out) = built_copy();
    let path = out.join("insurers.rkyv");
    let size = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, vec![b'x'; size]).unwrap();
    let error = Snapshot::open(&out)
        .err()
        .expect("foreign file opened")
        .to_string();
    assert!(
        error.contains("insurers.rkyv") && error.contains("not a shikaku snapshot file"),
        "{error}"
    );
}

#[test]
fn a_wrong_format_version_is_refused() {
    let (_dir, out) = built_copy();
    let manifest_path = out.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path).unwrap();
    // An older snapshot (format 2 and before) and one from the future.
    for version in [1, 2, 99] {
        std::fs::write(
            &manifest_path,
            text.replace(
                &format!("\"format_version\": {FORMAT_VERSION}"),
                &format!("\"format_version\": {version}"),
            ),
        )
        .unwrap();
        let error = Snapshot::open(&out).err().expect("opened").to_string();
        assert!(
            error.contains(&format!("format version {version}"))
                && error.contains("rebuild the snapshot"),
            "{error}"
        );
    }
    std::fs::write(&manifest_path, &text).unwrap();
    // A data file written by another format version is refused by its header.
    let path = out.join("persons-0000.rkyv");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8] = (FILE_LAYOUT_VERSION + 1) as u8;
    std::fs::write(&path, bytes).unwrap();
    let error = Snapshot::open(&out).err().expect("opened").to_string();
    assert!(
        error.contains(&format!(
            "persons-0000.rkyv: format version {}",
            FILE_LAYOUT_VERSION + 1
        )),
        "{error}"
    );
}

/// Replaces a file of a snapshot and puts its checksum in the manifest, as
/// a bug in the build (not a damaged disk) would leave it.
fn replace_checked(out: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(out.join(name), bytes).unwrap();
    let path = out.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for file in manifest["files"].as_array_mut().unwrap() {
        if file["name"] == name {
            file["xxh3_128"] = shikaku::storage::checksum(bytes).into();
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
}

#[test]
fn verify_checks_every_index_slot_and_block_not_only_checksums() {
    let (_dir, out) = built_copy();
    let mut caught = 0;
    for name in ["keys-0000.rkyv", "persons-0001.rkyv"] {
        let pristine = std::fs::read(out.join(name)).unwrap();
        let tail = pristine.len() - 64;
        for at in (64..tail).step_by(pristine.len() / 40) {
            let mut bytes = pristine.clone();
            bytes[at] ^= 0x5A;
            replace_checked(&out, name, &bytes);
            if verify(&out).is_err() {
                caught += 1;
            }
            if let Ok(snapshot) = Snapshot::open(&out) {
                let _ = ask(&snapshot, &online_query(7));
            }
        }
        replace_checked(&out, name, &pristine);
        verify(&out).unwrap();
    }
    // Damage in an index, a block or a dictionary is found by the walk
    // (a flip in padding or in an unused empty-slot target may not be).
    assert!(
        caught >= 40,
        "only {caught} of about 80 damaged files failed verify"
    );
}

#[test]
fn damaged_revocation_sets_are_refused_when_opened() {
    let (_dir, out) = built_copy();
    let path = out.join("revocations.rkyv");
    let pristine = std::fs::read(&path).unwrap();
    let mut refused = 0;
    for at in (16..pristine.len()).step_by(3) {
        let mut bytes = pristine.clone();
        bytes[at] ^= 0x5A;
        std::fs::write(&path, &bytes).unwrap();
        match Snapshot::open(&out) {
            Ok(snapshot) => {
                let _ = ask(&snapshot, &serial_query(20));
            }
            Err(_) => refused += 1,
        }
        assert!(
            verify(&out).is_err(),
            "byte {at}: a damaged file passed verify"
        );
    }
    assert!(refused > 0, "no damage was caught at open");
}

#[test]
fn compressed_sources_build_the_same_snapshot() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    sample().write(&plain);
    let packed = dir.path().join("packed");
    sample().write(&packed);
    let eligibility = std::fs::read(packed.join("eligibility.csv")).unwrap();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&eligibility).unwrap();
    std::fs::write(packed.join("eligibility.csv.gz"), gzip.finish().unwrap()).unwrap();
    std::fs::remove_file(packed.join("eligibility.csv")).unwrap();
    let linkage = std::fs::read(packed.join("linkage.csv")).unwrap();
    std::fs::write(
        packed.join("linkage.csv.zst"),
        zstd::encode_all(linkage.as_slice(), 3).unwrap(),
    )
    .unwrap();
    std::fs::remove_file(packed.join("linkage.csv")).unwrap();
    let from_plain = build(&options(&plain, &dir.path().join("a"), 2)).unwrap();
    let from_packed = build(&options(&packed, &dir.path().join("b"), 2)).unwrap();
    assert_eq!(from_plain.counts.rows, from_packed.counts.rows);
    let data_files = |report: &shikaku::snapshot::write::BuildReport| {
        report
            .files
            .iter()
            .map(|f| (f.name.clone(), f.xxh3_128.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(data_files(&from_plain), data_files(&from_packed));
    let names: Vec<&str> = from_packed
        .sources
        .iter()
        .map(|s| s.file.as_str())
        .collect();
    assert!(
        names.contains(&"eligibility.csv.gz") && names.contains(&"linkage.csv.zst"),
        "{names:?}"
    );
    // Two forms of one source: which one counts is never a guess.
    std::fs::write(packed.join("eligibility.csv"), &eligibility).unwrap();
    let error = build(&options(&packed, &dir.path().join("c"), 2))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("eligibility.csv given more than once"),
        "{error}"
    );
    // A cut compressed file names itself.
    std::fs::remove_file(packed.join("eligibility.csv")).unwrap();
    let gz = std::fs::read(packed.join("eligibility.csv.gz")).unwrap();
    std::fs::write(packed.join("eligibility.csv.gz"), &gz[..gz.len() / 2]).unwrap();
    let error = format!(
        "{:#}",
        build(&options(&packed, &dir.path().join("d"), 2)).unwrap_err()
    );
    assert!(error.contains("eligibility.csv.gz"), "{error}");
}

#[test]
fn a_directory_without_manifest_is_refused() {
    let (_dir, out) = built_copy();
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    let error = Snapshot::open(&out).err().expect("opened").to_string();
    assert!(error.starts_with("manifest.json: cannot read"), "{error}");
    assert!(verify(&out).is_err());
}

#[test]
fn shift_jis_sources_build_with_the_sjis_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("source");
    Dataset::new()
        .row(
            qualification("1", &branch(1), "2020-04-01")
                .set("name", "髙橋 一郎")
                .set("card_symbol", "東京"),
        )
        .write(&input);
    for file in ["eligibility.csv", "insurers.csv"] {
        let text = std::fs::read_to_string(input.join(file)).unwrap();
        let (encoded, _, unmappable) = encoding_rs::SHIFT_JIS.encode(&text);
        assert!(!unmappable);
        std::fs::write(input.join(file), encoded).unwrap();
    }
    let utf8 = build(&options(&input, &dir.path().join("as-utf8"), 1))
        .unwrap_err()
        .to_string();
    assert!(
        utf8.contains("eligibility.csv:2:") && utf8.contains("--encoding sjis"),
        "{utf8}"
    );
    let mut sjis = options(&input, &dir.path().join("snapshot"), 1);
    sjis.encoding = Encoding::Sjis;
    build(&sjis).unwrap();
    let snapshot = Snapshot::open(&dir.path().join("snapshot")).unwrap();
    let answer = check(&snapshot, &online_query(1), date("2026-11-21"));
    assert_eq!(answer.verdict, Verdict::Valid);
    assert_eq!(
        answer.records[0].text(shikaku::model::TextField::Name),
        "髙橋 一郎"
    );
    assert_eq!(
        snapshot.insurer(common::HEALTH_SOCIETY).unwrap().name,
        "テスト健康保険組合"
    );
}

fn with_bad_rows() -> Dataset {
    Dataset::new()
        .row(qualification("1", &branch(1), "2020-04-01"))
        .row(qualification("2", &branch(2), "2020-02-30"))
        .row(qualification("3", &branch(3), "2020-04-01").set("insurer_number", "06139017"))
        .row(qualification("4", &branch(4), "2020-04-01").set("lost", "2019-01-01"))
        .row(qualification("5", &branch(5), "2020-04-01").set("sex", "4"))
        .row(qualification("1", &branch(1), "2021-04-01"))
        .link("100", "1")
        .link("not-a-serial", "1")
        .link("100", "2")
        .revoke("100", "noSuchReason")
}

#[test]
fn bad_rows_fail_the_build_naming_file_line_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    with_bad_rows().write(&dir.path().join("source"));
    let error = build(&options(
        &dir.path().join("source"),
        &dir.path().join("snapshot"),
        1,
    ))
    .unwrap_err()
    .to_string();
    for expected in [
        "eligibility.csv:3: acquired: '2020-02-30' is not a date",
        "eligibility.csv:4: insurer_number: '06139017' has a wrong check digit",
        "eligibility.csv:5: lost: before acquired",
        "eligibility.csv:6: sex: '4' must be one of",
        "linkage.csv:3: serial: 'not-a-serial'",
        "revoked.csv:2: reason: 'noSuchReason'",
        "--skip-bad-rows",
    ] {
        assert!(
            error.contains(expected),
            "missing {expected:?} in:\n{error}"
        );
    }
    assert!(!dir.path().join("snapshot").exists());
    assert!(!dir.path().join("snapshot.partial").exists());
}

#[test]
fn skipped_bad_rows_are_listed_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    with_bad_rows().write(&dir.path().join("source"));
    let mut skip = options(&dir.path().join("source"), &dir.path().join("snapshot"), 1);
    skip.skip_bad_rows = true;
    let report = build(&skip).unwrap();
    let listed: Vec<String> = report
        .bad_rows
        .iter()
        .map(|b| format!("{}:{}", b.file, b.line))
        .collect();
    for expected in [
        "eligibility.csv:3",
        "eligibility.csv:4",
        "eligibility.csv:5",
        "eligibility.csv:6",
        "eligibility.csv:7",
        "linkage.csv:3",
        "linkage.csv:4",
        "revoked.csv:2",
    ] {
        assert!(
            listed.contains(&expected.to_string()),
            "missing {expected} in {listed:?}"
        );
    }
    assert_eq!(report.counts.bad_rows_skipped, 8);
    assert_eq!(report.counts.rows, 1);
    let written: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("snapshot/build-report.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(written["bad_rows"].as_array().unwrap().len(), 8);
    let snapshot = Snapshot::open(&dir.path().join("snapshot")).unwrap();
    assert_eq!(
        ask(&snapshot, &serial_query(100)),
        Verdict::Valid,
        "the first link of serial 100 is kept"
    );
}

#[test]
fn a_missing_source_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("source");
    sample().write(&input);
    std::fs::remove_file(input.join("revoked.csv")).unwrap();
    let error = build(&options(&input, &dir.path().join("snapshot"), 1))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "no revocations: give crl.der (or crl.pem) with crl-issuer.pem, or revoked.csv"
        ),
        "{error}"
    );
    std::fs::write(input.join("crl.der"), b"").unwrap();
    let error = build(&options(&input, &dir.path().join("snapshot"), 1))
        .unwrap_err()
        .to_string();
    assert!(
        error
            .contains("needs the certificate of the CA that signed it beside it as crl-issuer.pem"),
        "{error}"
    );
    std::fs::remove_file(input.join("eligibility.csv")).unwrap();
    let error = build(&options(&input, &dir.path().join("snapshot"), 1))
        .unwrap_err()
        .to_string();
    assert!(error.contains("no eligibility.csv"), "{error}");
}

#[test]
fn a_missing_required_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("source");
    sample().write(&input);
    let text = std::fs::read_to_string(input.join("eligibility.csv")).unwrap();
    std::fs::write(
        input.join("eligibility.csv"),
        text.replacen("birth_date", "birthday", 1),
    )
    .unwrap();
    let error = build(&options(&input, &dir.path().join("snapshot"), 1))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("eligibility.csv: the header has no 'birth_date' column"),
        "{error}"
    );
}

//! Whole-dataset tests: every value passes the model's validation, keys are
//! unique, files are deterministic, proportions are as documented.

use super::*;
use crate::model::ids::card_text;
use crate::model::{
    BranchNumber, CardBranch, InsurerCode, InsurerNumber, LinkageNo, MunicipalId, OnlineNumber,
    Scheme, Serial, Validity,
};
use std::collections::{BTreeSet, HashMap, HashSet};

fn today() -> Date {
    Date::from_ymd(2026, 11, 21).unwrap()
}

fn generate_on(dir: &Path, persons: u64, seed: u64, today: Date) -> GenSummary {
    let options = GenOptions {
        persons,
        seed,
        out: dir.to_path_buf(),
        today,
        crl_entries: None,
        crl_random_serials: false,
        compression: crate::source::csv_input::Compression::None,
        progress: false,
    };
    generate(&options).unwrap()
}

#[test]
fn compressed_files_hold_the_same_bytes_and_replace_the_plain_ones() {
    use crate::source::csv_input::{open_decompressed, Compression};
    use std::io::Read;
    let persons = CHUNK_PERSONS + 1_000; // several chunks: several members or frames
    let plain = tempfile::tempdir().unwrap();
    generate_into(plain.path(), persons, 5);
    for compression in [Compression::Gzip, Compression::Zstd] {
        let dir = tempfile::tempdir().unwrap();
        generate_into(dir.path(), 10, 5); // plain files the next run must remove
        generate(&GenOptions {
            persons,
            seed: 5,
            out: dir.path().to_path_buf(),
            today: today(),
            crl_entries: None,
            crl_random_serials: false,
            compression,
            progress: false,
        })
        .unwrap();
        for name in ["eligibility.csv", "linkage.csv", "renewals.csv"] {
            assert!(
                !dir.path().join(name).exists(),
                "{name} left beside its {compression:?} form"
            );
            let mut bytes = Vec::new();
            open_decompressed(&dir.path().join(compression.file_name(name)))
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            let expected = std::fs::read(plain.path().join(name)).unwrap();
            assert!(bytes == expected, "{name} as {compression:?} differs");
        }
        for name in ["crl.der", "pki/revoked.csv", "pki/certificates.csv"] {
            let a = std::fs::read(plain.path().join(name)).unwrap();
            let b = std::fs::read(dir.path().join(name)).unwrap();
            assert!(a == b, "{name} differs with {compression:?}");
        }
    }
}

fn generate_into(dir: &Path, persons: u64, seed: u64) -> GenSummary {
    generate_on(dir, persons, seed, today())
}

/// A CSV file read whole, cells looked up by column name.
struct Table {
    header: Vec<String>,
    columns: HashMap<String, usize>,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    fn read(dir: &Path, name: &str) -> Table {
        let mut reader = csv::Reader::from_path(dir.join(name)).unwrap();
        let header: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let columns = header
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        let rows = reader.records().map(Result::unwrap).collect();
        Table {
            header,
            columns,
            rows,
        }
    }

    fn get<'a>(&self, row: &'a csv::StringRecord, column: &str) -> &'a str {
        &row[self.columns[column]]
    }
}

/// What a dataset holds, gathered while checking it.
#[derive(Default)]
struct Stats {
    persons: usize,
    rows: usize,
    changed: usize,
    lost_latest: usize,
    aged_75: usize,
    card_types: BTreeSet<String>,
    loss_reasons: BTreeSet<String>,
    reasons_revoked: BTreeSet<String>,
    second_seq: usize,
    same_day: usize,
    future: usize,
    elderly: usize,
    retiree_switch: usize,
    benefit: usize,
    municipal: usize,
    abolished_rows: usize,
    hex_serials: usize,
    wide_serials: usize,
    unlinked_revoked: usize,
}

fn date(text: &str) -> Option<Date> {
    Date::parse_optional(text).unwrap()
}

/// Checks every file of a dataset against the model and the contract.
fn check_dataset(dir: &Path, summary: &GenSummary) -> Stats {
    let mut stats = Stats::default();
    let insurers = check_insurers(dir, summary);
    let persons = check_eligibility(dir, summary, &insurers, &mut stats);
    check_cards(dir, summary, &persons, &mut stats);
    stats
}

fn check_insurers(dir: &Path, summary: &GenSummary) -> HashMap<String, Option<Date>> {
    let table = Table::read(dir, "insurers.csv");
    assert_eq!(table.rows.len() as u64, summary.insurers);
    let mut insurers = HashMap::new();
    for row in &table.rows {
        let number = table.get(row, "insurer_number");
        let parsed = InsurerNumber::parse(number).unwrap();
        let six = matches!(parsed.scheme(), Scheme::MunicipalNhi | Scheme::NhiSociety);
        assert_eq!(number.len(), if six { 6 } else { 8 }, "{number}");
        assert!(!table.get(row, "name").is_empty());
        let abolished = date(table.get(row, "abolished"));
        assert!(insurers.insert(number.to_string(), abolished).is_none());
    }
    assert!(insurers.values().any(Option::is_some));
    insurers
}

/// Per person: (birth, [(insurer number, acquired, lost)]).
type Persons = HashMap<u128, (Date, Vec<(String, Date, Option<Date>)>)>;

fn check_eligibility(
    dir: &Path,
    summary: &GenSummary,
    insurers: &HashMap<String, Option<Date>>,
    stats: &mut Stats,
) -> Persons {
    let table = Table::read(dir, "eligibility.csv");
    assert_eq!(table.header, rows::ELIGIBILITY_COLUMNS);
    assert_eq!(table.rows.len() as u64, summary.rows);
    let mut subscriptions = HashSet::new();
    let mut faces: HashMap<(String, String, String, String), u128> = HashMap::new();
    let mut persons: Persons = HashMap::new();
    for row in &table.rows {
        let cell = |column: &str| table.get(row, column);
        let linkage = LinkageNo::parse(cell("linkage_no")).unwrap().0;
        let number_text = cell("insurer_number");
        let number = InsurerNumber::parse(number_text).unwrap();
        let abolished = insurers[number_text];
        let online = if cell("municipal_id").is_empty() {
            let code = InsurerCode::parse(cell("insurer_code")).unwrap();
            let branch = BranchNumber::parse(cell("branch_no")).unwrap();
            assert_ne!(number.scheme(), Scheme::MunicipalNhi);
            format!("{code}{branch}")
        } else {
            let id = MunicipalId::parse(cell("municipal_id")).unwrap();
            assert!(cell("insurer_code").is_empty() && cell("branch_no").is_empty());
            assert_eq!(number.scheme(), Scheme::MunicipalNhi);
            assert_eq!(
                &id.as_str()[..2],
                &number.as_str()[2..4],
                "prefecture of the ID"
            );
            stats.municipal += 1;
            id.to_string()
        };
        OnlineNumber::parse(&online).unwrap();
        let seq: u32 = cell("qualification_seq").parse().unwrap();
        assert!(
            subscriptions.insert((online, seq)),
            "subscription row twice"
        );
        let symbol = card_text(cell("card_symbol"), 114, false)
            .unwrap()
            .into_owned();
        let card_number = card_text(cell("card_number"), 64, true)
            .unwrap()
            .into_owned();
        let branch = CardBranch::parse_optional(cell("card_branch")).unwrap();
        let face = (
            number_text.to_string(),
            symbol,
            card_number,
            branch.map(|b| b.as_str().to_string()).unwrap_or_default(),
        );
        assert_eq!(
            *faces.entry(face).or_insert(linkage),
            linkage,
            "card face shared"
        );
        for column in ["name", "name_kana", "household_head_name"] {
            assert_eq!(
                cell(column).matches(' ').count(),
                1,
                "{column}: {}",
                cell(column)
            );
        }
        assert!(matches!(cell("sex"), "1" | "2"));
        assert!(matches!(cell("relationship"), "1" | "2"));
        assert!(matches!(cell("household_head"), "0" | "1"));
        assert_eq!(
            cell("relationship") == "2",
            !cell("insured_name").is_empty()
        );
        assert!(matches!(cell("copay_ratio"), "10" | "20" | "30"));
        let birth = date(cell("birth_date")).unwrap();
        let acquired = date(cell("acquired")).unwrap();
        let lost = date(cell("lost"));
        assert!(birth <= acquired, "acquired before birth");
        assert!(lost.is_none_or(|lost| acquired <= lost));
        assert_eq!(lost.is_some(), !cell("loss_reason").is_empty());
        assert!(matches!(
            cell("loss_reason"),
            "" | "01" | "02" | "03" | "99"
        ));
        let card_from = date(cell("card_valid_from"));
        let card_to = date(cell("card_valid_to"));
        assert!(card_from.is_some() && card_to.is_none_or(|to| card_from <= Some(to)));
        let validity = Validity {
            acquired,
            lost,
            benefit_start: date(cell("benefit_start")),
            benefit_end: date(cell("benefit_end")),
            card_valid_from: card_from,
            card_valid_to: card_to,
        };
        if let Some(abolished) = abolished {
            assert!(
                lost.is_some_and(|lost| lost <= abolished),
                "in force at an abolished insurer"
            );
            assert!(!validity.in_force_on(today()));
            stats.abolished_rows += 1;
        }
        let elderly = (
            date(cell("elderly_valid_from")),
            date(cell("elderly_valid_to")),
        );
        if let (Some(from), Some(to)) = elderly {
            assert!(from <= to && matches!(cell("elderly_copay_ratio"), "20" | "30"));
            stats.elderly += 1;
        }
        if number.scheme() == Scheme::LateElderly {
            assert!(
                calendar::age_on(birth, acquired) >= 75 || acquired == calendar::ymd(2008, 4, 1)
            );
        }
        stats.rows += 1;
        stats.card_types.insert(cell("card_type").to_string());
        stats.loss_reasons.insert(cell("loss_reason").to_string());
        stats.second_seq += usize::from(seq == 2);
        stats.same_day += usize::from(lost == Some(acquired));
        stats.future += usize::from(acquired > today());
        stats.retiree_switch += usize::from(!cell("retiree_switch").is_empty());
        stats.benefit += usize::from(validity.benefit_start.is_some());
        let person = persons.entry(linkage).or_insert((birth, Vec::new()));
        assert_eq!(person.0, birth, "one birth date per person");
        person.1.push((number_text.to_string(), acquired, lost));
    }
    stats.persons = persons.len();
    assert_eq!(persons.len() as u64, summary.persons);
    for (birth, rows) in persons.values() {
        let insurers: HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        stats.changed += usize::from(insurers.len() > 1);
        let latest = rows.iter().max_by_key(|r| r.1).unwrap();
        stats.lost_latest += usize::from(latest.2.is_some_and(|lost| lost <= today()));
        stats.aged_75 += usize::from(calendar::age_on(*birth, today()) >= 75);
    }
    persons
}

fn check_cards(dir: &Path, summary: &GenSummary, persons: &Persons, stats: &mut Stats) {
    let mut serials = HashSet::new();
    let serial_of = |text: &str, stats: &mut Stats| {
        let serial = Serial::parse(text).unwrap();
        stats.hex_serials += usize::from(text.starts_with("0x"));
        stats.wide_serials += usize::from(serial.as_u64().is_none());
        serial
    };
    let linkage = Table::read(dir, "linkage.csv");
    assert_eq!(linkage.rows.len() as u64, summary.linked);
    for row in &linkage.rows {
        let serial = serial_of(linkage.get(row, "serial"), stats);
        assert!(serials.insert(serial), "serial linked twice");
        let person = LinkageNo::parse(linkage.get(row, "linkage_no")).unwrap();
        assert!(persons.contains_key(&person.0));
    }
    let renewals = Table::read(dir, "renewals.csv");
    assert_eq!(renewals.rows.len() as u64, summary.renewals);
    let mut superseded = HashSet::new();
    for row in &renewals.rows {
        let new = serial_of(renewals.get(row, "new_serial"), stats);
        let old = Serial::parse(renewals.get(row, "old_serial")).unwrap();
        assert!(serials.contains(&old) && !serials.contains(&new));
        superseded.insert(old);
    }
    let revoked = Table::read(dir, "pki/revoked.csv");
    assert_eq!(
        revoked.rows.len() as u64,
        summary.revoked + summary.suspended
    );
    let mut listed = HashSet::new();
    for row in &revoked.rows {
        let serial = serial_of(revoked.get(row, "serial"), stats);
        assert!(listed.insert(serial), "serial revoked twice");
        let reason = revoked.get(row, "reason");
        assert!(date(revoked.get(row, "revoked_at")).unwrap() <= today());
        if reason == "superseded" {
            assert!(superseded.remove(&serial));
        }
        stats.unlinked_revoked += usize::from(!serials.contains(&serial) && reason != "superseded");
        stats.reasons_revoked.insert(reason.to_string());
    }
    assert!(superseded.is_empty(), "a renewed serial is not revoked");
    check_crl(dir, &revoked);
}

/// `crl.der` verifies against `crl-issuer.pem` and lists exactly what
/// `pki/revoked.csv` does; the refusal-path files fail as they should.
fn check_crl(dir: &Path, revoked: &Table) {
    use crate::crl::trust::CaCertificate;
    use crate::model::Revocation;
    let cas = CaCertificate::read_bundle(&dir.join("crl-issuer.pem")).unwrap();
    let imported = crate::crl::import(&dir.join("crl.der"), &cas).unwrap();
    assert_eq!(imported.meta.entries, revoked.rows.len() as u64);
    for row in &revoked.rows {
        let serial = Serial::parse(revoked.get(row, "serial")).unwrap();
        let expected = match revoked.get(row, "reason") {
            "certificateHold" => Revocation::Suspended,
            _ => Revocation::Revoked,
        };
        assert_eq!(imported.sets.status(&serial), Some(expected), "{serial}");
    }
    let older = crate::crl::import(&dir.join("pki/crl-older.der"), &cas).unwrap();
    assert!(older.meta.this_update_time() < imported.meta.this_update_time());
    assert!(older.meta.number_value() < imported.meta.number_value());
    let wrong = crate::crl::import(&dir.join("pki/crl-wrong-signature.der"), &cas);
    assert!(wrong.unwrap_err().message.contains("signature"));
}

#[test]
fn identical_bytes_whatever_the_thread_count() {
    let persons = CHUNK_PERSONS + 1_000;
    let runs: Vec<tempfile::TempDir> = [1, 3]
        .into_iter()
        .map(|threads| {
            let dir = tempfile::tempdir().unwrap();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| generate_into(dir.path(), persons, 42));
            dir
        })
        .collect();
    for name in [
        "eligibility.csv",
        "insurers.csv",
        "linkage.csv",
        "renewals.csv",
        "crl.der",
        "crl-issuer.pem",
        "pki/revoked.csv",
        "pki/crl-older.der",
        "pki/crl-wrong-signature.der",
        "pki/certificates.csv",
    ] {
        let a = std::fs::read(runs[0].path().join(name)).unwrap();
        let b = std::fs::read(runs[1].path().join(name)).unwrap();
        assert!(a == b, "{name} differs between runs");
    }
    let other = tempfile::tempdir().unwrap();
    generate_into(other.path(), 1_000, 43);
    let a = std::fs::read(runs[0].path().join("linkage.csv")).unwrap();
    let b = std::fs::read(other.path().join("linkage.csv")).unwrap();
    assert_ne!(a[..1_000], b[..1_000], "another seed gives other data");
}

#[test]
fn tiny_datasets_are_valid_and_show_every_case() {
    for persons in [1, 2, 10, 15] {
        let dir = tempfile::tempdir().unwrap();
        let summary = generate_into(dir.path(), persons, 7);
        check_dataset(dir.path(), &summary);
    }
    let dir = tempfile::tempdir().unwrap();
    let summary = generate_into(dir.path(), 100, 7);
    let stats = check_dataset(dir.path(), &summary);
    for card_type in ["01", "02", "03", "06", "07"] {
        assert!(
            stats.card_types.contains(card_type),
            "no card type {card_type}"
        );
    }
    for reason in ["01", "02", "03", "99"] {
        assert!(
            stats.loss_reasons.contains(reason),
            "no loss reason {reason}"
        );
    }
    for reason in [
        "superseded",
        "certificateHold",
        "keyCompromise",
        "affiliationChanged",
    ] {
        assert!(
            stats.reasons_revoked.contains(reason),
            "no revocation {reason}"
        );
    }
    assert!(stats.second_seq > 0 && stats.same_day > 0 && stats.future > 0);
    assert!(stats.elderly > 0 && stats.retiree_switch > 0 && stats.benefit > 0);
    assert!(stats.municipal > 0 && stats.abolished_rows > 0);
    assert!(stats.hex_serials > 0 && stats.wide_serials > 0 && stats.unlinked_revoked > 0);
    assert!(summary.renewals > 0 && summary.suspended > 0 && summary.revoked > 0);
}

#[test]
fn a_leap_day_reference_date_gives_valid_data() {
    let dir = tempfile::tempdir().unwrap();
    let leap_day = Date::from_ymd(2024, 2, 29).unwrap();
    let summary = generate_on(dir.path(), 3_000, 5, leap_day);
    check_dataset(dir.path(), &summary);
}

#[test]
fn proportions_on_twenty_thousand_persons() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let summary = generate_into(dir.path(), 20_000, 2026);
    let elapsed = started.elapsed();
    let bytes = std::fs::metadata(dir.path().join("eligibility.csv"))
        .unwrap()
        .len();
    println!("generated {summary:?} in {elapsed:?}; eligibility.csv {bytes} bytes");
    let stats = check_dataset(dir.path(), &summary);
    let share = |count: usize| count as f64 / stats.persons as f64;
    println!(
        "changed {:.3}, latest lost {:.3}, aged 75+ {:.3}, rows/person {:.3}",
        share(stats.changed),
        share(stats.lost_latest),
        share(stats.aged_75),
        stats.rows as f64 / stats.persons as f64
    );
    let within = |what: &str, value: f64, low: f64, high: f64| {
        assert!(
            (low..=high).contains(&value),
            "{what} = {value:.4}, expected {low}–{high}"
        );
    };
    within("linked", summary.linked as f64 / 20_000.0, 0.67, 0.73);
    within(
        "renewed",
        summary.renewals as f64 / summary.linked as f64,
        0.02,
        0.04,
    );
    within("changed insurer", share(stats.changed), 0.05, 0.11);
    within("latest row lost", share(stats.lost_latest), 0.01, 0.04);
    within("aged 75+", share(stats.aged_75), 0.08, 0.25);
    within(
        "rows per person",
        stats.rows as f64 / stats.persons as f64,
        1.0,
        1.3,
    );
    let listed = (summary.revoked + summary.suspended - summary.renewals) as f64;
    within(
        "revoked or suspended",
        listed / summary.linked as f64,
        0.005,
        0.03,
    );
    within(
        "suspended among them",
        summary.suspended as f64 / listed,
        0.08,
        0.4,
    );
    assert!((3_300..3_700).contains(&summary.insurers));
}

#[test]
fn households_live_in_the_address_book_given() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ken_all-head-cp932.csv");
    let book = AddressBook::read_ken_all(&path).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = GenOptions {
        persons: 2_000,
        seed: 9,
        out: dir.path().to_path_buf(),
        today: today(),
        crl_entries: None,
        crl_random_serials: false,
        compression: crate::source::csv_input::Compression::None,
        progress: false,
    };
    let summary = generate_with(&options, &book).unwrap();
    check_dataset(dir.path(), &summary);
    let table = Table::read(dir.path(), "eligibility.csv");
    let postal: HashSet<&str> = ["060-0000", "064-0941", "060-0041", "060-0042"].into();
    for row in &table.rows {
        let address = table.get(row, "address");
        assert!(address.starts_with("北海道札幌市中央区"), "{address}");
        assert!(postal.contains(table.get(row, "postal_code")));
    }
}

#[test]
fn the_built_in_vocabulary_is_varied() {
    let dir = tempfile::tempdir().unwrap();
    generate_into(dir.path(), 20_000, 11);
    let table = Table::read(dir.path(), "eligibility.csv");
    let distinct = |column: &str, part: fn(&str) -> &str| -> usize {
        let values: HashSet<&str> = table
            .rows
            .iter()
            .map(|r| part(table.get(r, column)))
            .collect();
        values.len()
    };
    fn family(name: &str) -> &str {
        name.split(' ').next().unwrap_or("")
    }
    fn given(name: &str) -> &str {
        name.split(' ').nth(1).unwrap_or("")
    }
    fn whole(text: &str) -> &str {
        text
    }
    // About 8,500 households.
    assert!(distinct("name", family) > 2_500);
    assert!(distinct("name", given) > 5_000);
    assert!(distinct("postal_code", whole) > 5_000);
    assert!(distinct("employer_name", whole) > 1_000);
    let flats = table
        .rows
        .iter()
        .filter(|r| table.get(r, "address").contains(' '))
        .count();
    let share = flats as f64 / table.rows.len() as f64;
    assert!((0.25..0.6).contains(&share), "{share}");
}

//! Synthetic check logs for tests and measurements: days of plausible
//! checks (morning peak, card and insurance-card paths, verdicts and errors
//! in realistic shares, institutions spread over the prefectures), written
//! through the same segments and indexes as the server writes.

use super::index::{record_hash, OpenIndex};
use super::record::{CheckRecord, LoggedKey, QueryKind, Via};
use super::segment::SegmentWriter;
use crate::model::clock::micros_of_japan_day;
use crate::model::ErrorCode;
use crate::model::{Date, InstitutionCode, InsurerNumber, Outcome, Serial, Verdict};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// The first Japan day written.
    pub first_day: Date,
    /// Consecutive days written from `first_day`.
    pub days: u32,
    /// Checks written per day.
    pub per_day: u64,
    /// Distinct institutions checking.
    pub institutions: u32,
    /// Distinct keys per kind.
    pub keys: u64,
    /// Entries per batch (the server's batch at 1,000 checks/s and 20 ms is about 20).
    pub batch: u32,
    /// A segment is closed at this many entries.
    pub segment_entries: u64,
    /// Seed of the random generator: the same options write the same log.
    pub seed: u64,
}

/// The records of one generated check, owned (the key bytes vary).
struct Generated {
    micros: u64,
    institution: InstitutionCode,
    kind: QueryKind,
    key: Vec<u8>,
    outcome: Outcome,
    insurer: Option<InsurerNumber>,
}

/// Writes the days into the log at `log`, calling `each` with every record
/// written; returns how many.
pub fn generate(
    log: &Path,
    options: &GenOptions,
    mut each: impl FnMut(&CheckRecord<'_>),
) -> anyhow::Result<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let institutions: Vec<InstitutionCode> = (0..options.institutions)
        .map(|i| {
            let prefecture = 1 + i % 47;
            InstitutionCode::parse(&format!("{prefecture:02}{:08}", i / 47))
        })
        .collect::<Result<_, _>>()?;
    let insurers: Vec<InsurerNumber> = (0..500)
        .map(|i| InsurerNumber::with_check_digit(1_300_000 + i))
        .collect();
    let mut written = 0;
    for day_index in 0..options.days {
        let day = options.first_day.add_days(day_index as i32);
        let mut checks: Vec<Generated> = (0..options.per_day)
            .map(|_| one_check(&mut rng, day, &institutions, &insurers, options.keys))
            .collect();
        checks.sort_by_key(|c| c.micros);
        written += write_day(log, day, &checks, options, &mut each)?;
    }
    Ok(written)
}

fn write_day(
    log: &Path,
    day: Date,
    checks: &[Generated],
    options: &GenOptions,
    each: &mut impl FnMut(&CheckRecord<'_>),
) -> anyhow::Result<u64> {
    let snapshot = format!("gen-{day}");
    let mut segment: Option<(SegmentWriter, OpenIndex)> = None;
    let mut batch = Vec::new();
    for chunk in checks.chunks(options.batch.max(1) as usize) {
        let (writer, index) = match &mut segment {
            Some(open)
                if open.0.entries < options.segment_entries
                    && open.0.len < super::segment::MAX_SEGMENT_BYTES =>
            {
                open
            }
            open => {
                if let Some((writer, index)) = open.take() {
                    close(&writer, &index)?;
                }
                open.insert((SegmentWriter::create(log, day)?, OpenIndex::default()))
            }
        };
        batch.clear();
        let mut hashes = Vec::with_capacity(chunk.len());
        for (n, check) in chunk.iter().enumerate() {
            let reception = format!("{}-gen-{n:06}", check.micros / 1_000_000);
            let record = CheckRecord {
                micros: check.micros,
                latency_us: 300,
                via: Via::Single,
                institution: Some(check.institution),
                key: LoggedKey {
                    kind: check.kind,
                    bytes: &check.key,
                },
                date: Some(day),
                outcome: check.outcome,
                insurer: check.insurer,
                snapshot: &snapshot,
                update_lsn: 0,
                crl: "gen-crl",
                reception: &reception,
            };
            record.encode(&mut batch);
            hashes.extend(record_hash(&record));
            each(&record);
        }
        let offset = writer.append(&batch, chunk.len() as u32, chunk[0].micros, false)?;
        for hash in hashes {
            index.add(hash, offset);
        }
    }
    if let Some((writer, index)) = segment {
        close(&writer, &index)?;
    }
    Ok(checks.len() as u64)
}

fn close(writer: &SegmentWriter, index: &OpenIndex) -> anyhow::Result<()> {
    writer.sync()?;
    index.write(&writer.segment.index_path())
}

fn one_check(
    rng: &mut ChaCha8Rng,
    day: Date,
    institutions: &[InstitutionCode],
    insurers: &[InsurerNumber],
    keys: u64,
) -> Generated {
    // Japan 08:00–21:00, over half of the day's checks in the first hour.
    let second_of_day = if rng.gen_bool(0.54) {
        8 * 3600 + rng.gen_range(0..3600)
    } else {
        9 * 3600 + rng.gen_range(0..12 * 3600)
    };
    let micros = micros_of_japan_day(day, second_of_day) + rng.gen_range(0..1_000_000);
    let key_number = rng.gen_range(0..keys.max(1));
    let (kind, key) = match rng.gen_range(0..10) {
        0..=5 => (
            QueryKind::Card,
            Serial::from_u64(0x1000_0000 + key_number)
                .as_bytes()
                .to_vec(),
        ),
        6..=8 => (
            QueryKind::OnlineNumber,
            format!("10000001{key_number:016}").into_bytes(),
        ),
        _ => (
            QueryKind::CardFace,
            super::record::card_face_bytes("06139018", "12", &key_number.to_string(), "00"),
        ),
    };
    let outcome = match rng.gen_range(0..1000) {
        0..=939 => Outcome::Verdict(Verdict::Valid),
        940..=969 => Outcome::Verdict(Verdict::Invalid),
        970..=984 => Outcome::Verdict(Verdict::NotFound),
        985..=989 if kind == QueryKind::Card => Outcome::Verdict(Verdict::CertRevoked),
        985..=994 => Outcome::Verdict(Verdict::NotFound),
        995..=997 => Outcome::Error(ErrorCode::BadRequest),
        _ => Outcome::Error(ErrorCode::Busy),
    };
    let insurer = matches!(outcome, Outcome::Verdict(Verdict::Valid | Verdict::Invalid))
        .then(|| insurers[rng.gen_range(0..insurers.len())]);
    Generated {
        micros,
        institution: institutions[rng.gen_range(0..institutions.len())],
        kind,
        key,
        outcome,
        insurer,
    }
}

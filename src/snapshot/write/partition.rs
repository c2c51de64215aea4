//! Phase 1: read every source once, validate each row, and append it to the
//! temporary partition of the shard its key hashes to. Eligibility rows are
//! parsed in parallel batches; everything else is small or cheap.

use super::temp::{encode_link, encode_row_record, LinkEntry, PartitionFiles};
use super::{BuildOptions, Progress, RevocationSource, Sources};
use crate::crl::revocations::{RevocationSets, RevocationSetsBuilder};
use crate::crl::trust::CaCertificate;
use crate::crl::CrlMeta;
use crate::model::{LinkageNo, Serial};
use crate::snapshot::format::KeyHash;
use crate::snapshot::manifest::SourceDigest;
use crate::snapshot::verify::ContentDigest;
use crate::source::csv_input::CsvHeader;
use crate::source::eligibility::EligibilityColumns;
use crate::source::insurers::{read_insurers, InsurerRow};
use crate::source::linkage::{read_linkage, read_renewals, RenewalRow};
use crate::source::revocations::read_revocations;
use crate::source::{BadRow, CsvSource};
use csv::ByteRecord;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

/// Rows parsed per parallel batch.
const BATCH_ROWS: usize = 16_384;

/// What phase 1 produced besides the partition files.
#[derive(Default)]
pub(super) struct Partitioned {
    pub rows_read: u64,
    pub links_read: u64,
    pub renewals: u64,
    pub insurers: Vec<InsurerRow>,
    pub revocations: RevocationSets,
    /// Set when the revocations came from an X.509 CRL.
    pub crl: Option<CrlMeta>,
    pub sources: Vec<SourceDigest>,
    pub bad_rows: Vec<BadRow>,
    pub warnings: Vec<String>,
    /// Digest of every row and link accepted so far (the key check compares
    /// the finished snapshot with it).
    pub accepted: ContentDigest,
}

/// Streams `eligibility.csv` into the person partitions.
pub(super) fn partition_eligibility(
    path: &Path,
    options: &BuildOptions,
    persons: &PartitionFiles,
    shards: u32,
    progress: &Progress,
    bad_rows: &mut Vec<BadRow>,
    accepted: &mut ContentDigest,
) -> anyhow::Result<(u64, SourceDigest)> {
    let mut source = CsvSource::open(path, options.encoding)?;
    let columns = EligibilityColumns::resolve(source.header())?;
    let header = source.header().clone();
    let mut rows_read = 0u64;
    let mut batch = source.next_batch(BATCH_ROWS);
    // Reading the next batch (sequential) overlaps parsing this one
    // (parallel) and writing it to the partitions.
    while !batch.is_empty() {
        rows_read += batch.len() as u64;
        let (next, parsed) = rayon::join(
            || source.next_batch(BATCH_ROWS),
            || {
                let parsed = parse_batch(batch, &header, &columns, shards);
                persons.append_all(&parsed.per_shard).map(|()| parsed)
            },
        );
        let parsed = parsed?;
        bad_rows.extend(parsed.bad_rows);
        accepted.merge(&parsed.accepted);
        progress.set_position(source.bytes_read());
        batch = next;
    }
    Ok((rows_read, source.digest()))
}

/// Renewals by old serial: old → (new serial, line in renewals.csv).
type RenewalMap = HashMap<Serial, (Serial, u64)>;

/// A parsed batch: encoded rows grouped by shard, and the rows refused.
struct ParsedBatch {
    per_shard: Vec<Vec<u8>>,
    bad_rows: Vec<BadRow>,
    accepted: ContentDigest,
}

impl ParsedBatch {
    fn new(shards: u32) -> ParsedBatch {
        ParsedBatch {
            per_shard: vec![Vec::new(); shards as usize],
            bad_rows: Vec::new(),
            accepted: ContentDigest::default(),
        }
    }

    /// Appends `later` (what was parsed after this).
    fn append(mut self, later: ParsedBatch) -> ParsedBatch {
        for (mine, theirs) in self.per_shard.iter_mut().zip(later.per_shard) {
            mine.extend_from_slice(&theirs);
        }
        self.bad_rows.extend(later.bad_rows);
        self.accepted.merge(&later.accepted);
        self
    }
}

fn parse_batch(
    batch: Vec<Result<ByteRecord, BadRow>>,
    header: &CsvHeader,
    columns: &EligibilityColumns,
    shards: u32,
) -> ParsedBatch {
    batch
        .into_par_iter()
        .fold(
            || ParsedBatch::new(shards),
            |mut out, record| {
                let parsed = record.and_then(|record| {
                    let record = header.text_record(record)?;
                    let row = header.row(&record);
                    Ok((row.line, columns.parse(&row)?))
                });
                match parsed {
                    Ok((line, row)) => {
                        let shard = KeyHash::of(&row.linkage().index_key()).shard(shards);
                        encode_row_record(line, &row, &mut out.per_shard[shard as usize]);
                        out.accepted.add_row(&row);
                    }
                    Err(bad) => out.bad_rows.push(bad),
                }
                out
            },
        )
        .reduce(|| ParsedBatch::new(shards), ParsedBatch::append)
}

/// Reads renewals (new → old) into a map old → (new, line), refusing an old
/// serial renewed twice or a new serial given twice.
fn read_renewal_map(
    path: &Path,
    options: &BuildOptions,
    bad_rows: &mut Vec<BadRow>,
) -> anyhow::Result<(RenewalMap, SourceDigest)> {
    let mut rows: Vec<RenewalRow> = Vec::new();
    let digest = read_renewals(path, options.encoding, |row| rows.push(row), &mut |bad| {
        bad_rows.push(bad)
    })?;
    let mut by_old = HashMap::with_capacity(rows.len());
    let mut seen_new = HashMap::with_capacity(rows.len());
    for row in rows {
        let file = "renewals.csv".to_string();
        if let Some(first) = seen_new.insert(row.new_serial, row.line) {
            bad_rows.push(BadRow {
                file,
                line: row.line,
                reason: format!(
                    "new_serial: {} is already the new serial of line {first}",
                    row.new_serial
                ),
            });
        } else if let Some((_, first)) = by_old.get(&row.old_serial) {
            bad_rows.push(BadRow {
                file,
                line: row.line,
                reason: format!(
                    "old_serial: {} was already renewed at line {first}",
                    row.old_serial
                ),
            });
        } else {
            by_old.insert(row.old_serial, (row.new_serial, row.line));
        }
    }
    Ok((by_old, digest))
}

/// Follows renewals from `serial` to the serial in use now. A cycle (which
/// the duplicate checks above make the only way to loop) stops the walk.
fn current_serial(serial: Serial, renewals: &RenewalMap) -> Serial {
    let mut current = serial;
    for _ in 0..=renewals.len() {
        match renewals.get(&current) {
            Some((next, _)) => current = *next,
            None => break,
        }
    }
    current
}

/// Streams `linkage.csv` (after renewals) into the key partitions.
pub(super) fn partition_linkage(
    dir: &Path,
    options: &BuildOptions,
    links: &PartitionFiles,
    shards: u32,
    out: &mut Partitioned,
) -> anyhow::Result<()> {
    let (renewals, renewal_digest) = match Sources::find(dir, Sources::RENEWALS)? {
        Some(path) => {
            let (map, digest) = read_renewal_map(&path, options, &mut out.bad_rows)?;
            (map, Some(digest))
        }
        None => (HashMap::new(), None),
    };
    out.renewals = renewals.len() as u64;
    let mut used_renewals = 0u64;
    let mut write_error = None;
    let mut buffer = Vec::with_capacity(64);
    let bad_rows = &mut out.bad_rows;
    let accepted = &mut out.accepted;
    let mut links_read = 0u64;
    let digest = read_linkage(
        &Sources::require(dir, Sources::LINKAGE)?,
        options.encoding,
        |row| {
            links_read += 1;
            let serial = current_serial(row.serial, &renewals);
            used_renewals += u64::from(serial != row.serial);
            let entry = LinkEntry {
                serial,
                linkage: LinkageNo(row.linkage.0),
                line: row.line,
            };
            buffer.clear();
            encode_link(&entry, &mut buffer);
            accepted.add_link(&entry.serial, entry.linkage);
            let shard = KeyHash::of(serial.as_bytes()).shard(shards);
            if let Err(error) = links.append(shard, &buffer) {
                write_error.get_or_insert(error);
            }
        },
        &mut |bad| bad_rows.push(bad),
    )?;
    if let Some(error) = write_error {
        return Err(error);
    }
    out.links_read = links_read;
    out.sources.push(digest);
    out.sources.extend(renewal_digest);
    let unused = out.renewals.saturating_sub(used_renewals);
    if unused > 0 {
        out.warnings.push(format!(
            "renewals.csv: {unused} renewal(s) name an old serial that is not in linkage.csv; they link nothing"
        ));
    }
    Ok(())
}

/// Reads the revocations: an X.509 CRL (signature checked against its
/// issuer's certificate), or `revoked.csv`.
pub(super) fn read_revocation_source(
    source: &RevocationSource,
    options: &BuildOptions,
    out: &mut Partitioned,
) -> anyhow::Result<()> {
    match source {
        RevocationSource::Csv(path) => read_revocation_sets(path, options, out),
        RevocationSource::Crl { crl, issuer } => {
            let cas = CaCertificate::read_bundle(issuer).map_err(anyhow::Error::msg)?;
            let imported = crate::crl::import(crl, &cas)?;
            out.sources.push(imported.meta.source.clone());
            if imported.meta.duplicate_entries > 0 {
                out.warnings.push(format!(
                    "{}: {} serial(s) listed more than once; the first listing counts",
                    imported.meta.source.file, imported.meta.duplicate_entries
                ));
            }
            out.revocations = imported.sets;
            out.crl = Some(imported.meta);
            Ok(())
        }
    }
}

/// Reads `revoked.csv` into the revocation sets.
fn read_revocation_sets(
    path: &Path,
    options: &BuildOptions,
    out: &mut Partitioned,
) -> anyhow::Result<()> {
    let mut sets = RevocationSetsBuilder::new();
    let mut duplicates = Vec::new();
    let bad_rows = &mut out.bad_rows;
    let digest = read_revocations(
        path,
        options.encoding,
        |(serial, status, line)| {
            if !sets.insert(&serial, status) {
                duplicates.push(BadRow {
                    file: Sources::REVOKED.into(),
                    line,
                    reason: format!("serial: {serial} is listed twice"),
                });
            }
        },
        &mut |bad| bad_rows.push(bad),
    )?;
    out.bad_rows.extend(duplicates);
    out.revocations = sets.finish();
    out.sources.push(digest);
    Ok(())
}

/// Reads `insurers.csv`, refusing an insurer number listed twice.
pub(super) fn read_insurer_master(
    path: &Path,
    options: &BuildOptions,
    out: &mut Partitioned,
) -> anyhow::Result<()> {
    let bad_rows = &mut out.bad_rows;
    let (mut rows, digest) = read_insurers(path, options.encoding, &mut |bad| bad_rows.push(bad))?;
    rows.sort_by(|a, b| a.0.number.cmp(&b.0.number).then(a.1.cmp(&b.1)));
    let mut kept: Vec<InsurerRow> = Vec::with_capacity(rows.len());
    for (row, line) in rows {
        if kept.last().is_some_and(|last| last.number == row.number) {
            out.bad_rows.push(BadRow {
                file: Sources::INSURERS.into(),
                line,
                reason: format!("insurer_number: {} is listed twice", row.number),
            });
        } else {
            kept.push(row);
        }
    }
    out.insurers = kept;
    out.sources.push(digest);
    Ok(())
}

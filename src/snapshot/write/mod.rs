//! `shikaku snapshot build`: source files → a new snapshot directory.
//!
//! Bounded memory at national scale comes from partitioning: each phase
//! works a shard per worker, reads the previous phase's temporary files
//! (`temp`) and removes them as it goes.
//! 1. **partition** — stream each source once, validate every row (in
//!    parallel batches) and append it to a temporary file per shard, chosen
//!    by the hash of its key (linkage number for eligibility rows, serial for
//!    linkage rows);
//! 2. **links** — refuse a serial linked to two persons, send each link to
//!    its person's partition;
//! 3. **persons** — gather each person's rows and serials into one block and
//!    place it by household (the shard of its newest card face);
//! 4. **dictionary** — count the text pieces of every placed shard;
//! 5. **person shards** — order each shard's persons, write their blocks
//!    again with the dictionary, and emit (key hash → person) entries for
//!    every index to the key partitions;
//! 6. **key shards** — build the indexes;
//! 7. **key check** — reopen the result with checksums and look up every
//!    key through the engine's own lookups, comparing a digest of what the
//!    snapshot holds with one of what was read; a lost or altered row fails
//!    the build.
//!
//! Phase 1 reads either the source files or a [`BaseContent`] (an earlier
//! snapshot with the day's updates folded in, see `updates::fold`).
//!
//! Everything is written under `<out>.partial/`; the manifest is written
//! last and the directory is published whole (`storage::publish`), so a
//! snapshot directory either is complete or does not exist.

mod base;
mod check;
mod group;
mod keys;
mod links;
mod partition;
mod persons;
mod temp;

pub use base::{BaseContent, Partitions, RowSink};
pub use check::KeyCheck;

use crate::crl::revocations::REVOCATIONS_FILE;
use crate::snapshot::codec::dictionary::DictionaryBuilder;
use crate::snapshot::format::{InsurerMaster, FORMAT_VERSION, MAX_PERSONS, NO_DATE};
use crate::snapshot::manifest::{
    Counts, Manifest, SourceDigest, BUILD_REPORT_FILE, INSURERS_FILE, MANIFEST_FILE,
};
use crate::snapshot::open::Snapshot;
use crate::source::csv_input::Compression;
use crate::source::insurers::InsurerRow;
use crate::source::{BadRow, Encoding};
use crate::storage::archive::write_archive;
use crate::storage::{write_json, FileEntry, FileKind, PartialDir, Verification};
use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use partition::Partitioned;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// Source file names inside the input directory (`CONTRACT.md` §1).
pub struct Sources;

impl Sources {
    /// Qualification rows (required).
    pub const ELIGIBILITY: &'static str = "eligibility.csv";
    /// Certificate serial → linkage number (required).
    pub const LINKAGE: &'static str = "linkage.csv";
    /// Certificate renewals, new serial → old serial (optional).
    pub const RENEWALS: &'static str = "renewals.csv";
    /// The insurer master (required).
    pub const INSURERS: &'static str = "insurers.csv";
    /// Revoked and suspended serials as CSV, instead of a CRL.
    pub const REVOKED: &'static str = "revoked.csv";
    /// The CA's X.509 CRL in DER.
    pub const CRL_DER: &'static str = "crl.der";
    /// The CA's X.509 CRL in PEM.
    pub const CRL_PEM: &'static str = "crl.pem";
    /// Certificate of the CA that signed the CRL, PEM; required beside a CRL.
    pub const CRL_ISSUER: &'static str = "crl-issuer.pem";

    /// The file of CSV source `name` in `input`: as named, or compressed
    /// (`NAME.gz`, `NAME.zst`); `None` when there is none, an error when
    /// there are several (so that it is never a guess which one counts).
    pub fn find(input: &Path, name: &str) -> anyhow::Result<Option<PathBuf>> {
        let candidates = std::iter::once(input.join(name)).chain(
            Compression::EXTENSIONS
                .iter()
                .map(|(extension, _)| input.join(format!("{name}.{extension}"))),
        );
        let present: Vec<PathBuf> = candidates.filter(|path| path.is_file()).collect();
        match present.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            several => bail!(
                "{}: {} given more than once ({}); keep exactly one",
                input.display(),
                name,
                several
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Like [`Sources::find`], for a source the build cannot do without.
    pub fn require(input: &Path, name: &str) -> anyhow::Result<PathBuf> {
        Sources::find(input, name)?.ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no {name} (or {name}.gz, {name}.zst) in the input directory (see CONTRACT.md §1 for the source files)",
                input.display()
            )
        })
    }
}

/// Where the revocations of a build come from (CONTRACT.md §1).
pub enum RevocationSource {
    /// An X.509 CRL and the CA certificate that must have signed it.
    Crl {
        /// `crl.der` or `crl.pem`.
        crl: PathBuf,
        /// `crl-issuer.pem`.
        issuer: PathBuf,
    },
    /// A `revoked.csv` file (no signature, no X.509 metadata).
    Csv(PathBuf),
}

impl RevocationSource {
    /// Finds the one revocation source in `input`.
    pub fn find(input: &Path) -> anyhow::Result<RevocationSource> {
        let present = |name: &str| input.join(name).is_file().then(|| input.join(name));
        let crls: Vec<PathBuf> = [Sources::CRL_DER, Sources::CRL_PEM]
            .iter()
            .filter_map(|name| present(name))
            .collect();
        match (crls.as_slice(), Sources::find(input, Sources::REVOKED)?) {
            ([crl], None) => {
                let issuer = present(Sources::CRL_ISSUER).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: {} needs the certificate of the CA that signed it beside it as {}",
                        input.display(),
                        crl.file_name().unwrap_or_default().to_string_lossy(),
                        Sources::CRL_ISSUER
                    )
                })?;
                Ok(RevocationSource::Crl {
                    crl: crl.clone(),
                    issuer,
                })
            }
            ([], Some(csv)) => Ok(RevocationSource::Csv(csv)),
            ([], None) => bail!(
                "{}: no revocations: give crl.der (or crl.pem) with crl-issuer.pem, or revoked.csv (see CONTRACT.md §1)",
                input.display()
            ),
            _ => bail!(
                "{}: more than one revocation source (crl.der, crl.pem, revoked.csv); keep exactly one",
                input.display()
            ),
        }
    }
}

/// Source bytes per shard when the shard count is not given: keeps one
/// shard's rows (as parsed in phase 2) to about 200 MB per worker.
const SOURCE_BYTES_PER_SHARD: u64 = 64 << 20;
/// What a compressed `eligibility.csv` is assumed to expand to, times its
/// size, when the shard count is derived from it (gzip and zstd both take
/// synthetic and real extracts to about a fifth).
const COMPRESSION_RATIO: u64 = 5;
/// Shards per worker thread once there is more than one shard, so that the
/// parallel phases stay balanced.
const SHARDS_PER_WORKER: u32 = 4;
/// At most this many shards: each phase keeps one temporary file per shard
/// open, and the default limit of open files is 1,024. At national scale
/// (≈ 45 GB of eligibility.csv) this gives ≈ 180 MB of source per shard.
const MAX_SHARDS: u32 = 256;

/// What `shikaku snapshot build` was asked to do.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Directory holding the source files ([`Sources`]).
    pub input: PathBuf,
    /// Snapshot directory to create; it must not exist yet.
    pub out: PathBuf,
    /// Encoding of the CSV sources (`--encoding`: UTF-8 or Shift_JIS).
    pub encoding: Encoding,
    /// `--skip-bad-rows`: leave unreadable rows out (listed in the report)
    /// instead of failing the build.
    pub skip_bad_rows: bool,
    /// Shard count; derived from the size of `eligibility.csv` when `None`.
    pub shards: Option<u32>,
    /// Snapshot id; `<date in Japan>.<source digest prefix>` when `None`.
    pub id: Option<String>,
    /// Draw progress bars (only ever on a terminal).
    pub progress: bool,
}

/// Time spent in one phase.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PhaseTiming {
    /// Phase name: `partition`, `person shards`, `key shards` or `key check`.
    pub phase: &'static str,
    /// Wall-clock seconds the phase took.
    pub seconds: f64,
}

/// Everything a build did, written to `build-report.json`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BuildReport {
    /// Snapshot id, as in the manifest.
    pub id: String,
    /// Path of the snapshot directory written.
    pub snapshot: String,
    /// Number of shards the snapshot was built with.
    pub shard_count: u32,
    /// Encoding the sources were read with (`utf-8` or `shift_jis`).
    pub encoding: &'static str,
    /// What the snapshot holds, as in the manifest.
    pub counts: Counts,
    /// Each source file read, with size and checksum.
    pub sources: Vec<SourceDigest>,
    /// Every data file written, with size and checksum.
    pub files: Vec<FileEntry>,
    /// Time per build phase, in order.
    pub timings: Vec<PhaseTiming>,
    /// Wall-clock seconds for the whole build.
    pub total_seconds: f64,
    /// Eligibility rows read per second of the whole build.
    pub rows_per_second: f64,
    /// Result of the post-build key check.
    pub key_check: KeyCheck,
    /// Things worth an operator's look that did not fail the build (unknown
    /// insurers, shared online numbers, serials without rows, …).
    pub warnings: Vec<String>,
    /// Every source row skipped, with file, line and reason (empty unless
    /// `--skip-bad-rows`).
    pub bad_rows: Vec<BadRow>,
}

/// A progress bar that draws only on a terminal and only when asked.
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar of `length` steps (bytes when `bytes`; `None` until
    /// [`Progress::step_of`] says), drawn on standard error only when
    /// `enabled`.
    pub fn new(enabled: bool, length: Option<u64>, message: &'static str, bytes: bool) -> Progress {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let template = if bytes {
            "{msg:>14} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg:>14} [{bar:40}] {pos}/{len} eta {eta}"
        };
        let bar = ProgressBar::with_draw_target(length, target);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(message);
        Progress(bar)
    }

    fn set_position(&self, position: u64) {
        self.0.set_position(position);
    }

    fn inc(&self) {
        self.0.inc(1);
    }

    /// One step done of `steps` in all (for work that learns its length
    /// only once it has started); the last one removes the bar.
    pub fn step_of(&self, steps: u64) {
        self.0.set_length(steps);
        self.0.inc(1);
        if self.0.position() >= steps {
            self.finish();
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Builds a snapshot from the source files in `options.input` into
/// `options.out`.
pub fn build(options: &BuildOptions) -> anyhow::Result<BuildReport> {
    let input = &options.input;
    for required in [Sources::ELIGIBILITY, Sources::LINKAGE, Sources::INSURERS] {
        Sources::require(input, required)?;
    }
    build_from(options, None)
}

/// Builds a snapshot of `content` (not of source files: `options.input`
/// is not read) into `options.out`.
pub fn build_onto(
    options: &BuildOptions,
    content: Box<dyn BaseContent>,
) -> anyhow::Result<BuildReport> {
    build_from(options, Some(content))
}

fn build_from(
    options: &BuildOptions,
    base: Option<Box<dyn BaseContent>>,
) -> anyhow::Result<BuildReport> {
    let started = Instant::now();
    let partial = PartialDir::create(&options.out, "snapshots")?;
    let temp_dir = partial.path().join("tmp");
    std::fs::create_dir_all(&temp_dir)
        .with_context(|| format!("cannot create {}", temp_dir.display()))?;
    let shards = match (&base, options.shards) {
        (Some(base), None) => base.shard_count(),
        _ => shard_count(options)?,
    };
    let mut timings = Vec::new();
    let mut lap = Instant::now();
    let mut phase_done = |phase: &'static str, timings: &mut Vec<PhaseTiming>| {
        timings.push(PhaseTiming {
            phase,
            seconds: lap.elapsed().as_secs_f64(),
        });
        lap = Instant::now();
    };

    // Phase 1: partition rows by person, links by serial.
    let row_parts = temp::PartitionFiles::create(&temp_dir, "rows", shards)?;
    let link_parts = temp::PartitionFiles::create(&temp_dir, "links", shards)?;
    let mut parts = Partitioned::default();
    match &base {
        Some(base) => Partitions::fill(base.as_ref(), &row_parts, &link_parts, shards, &mut parts)?,
        None => partition_sources(options, &row_parts, &link_parts, shards, &mut parts)?,
    }
    let row_paths = row_parts.finish()?;
    let link_paths = link_parts.finish()?;
    refuse_bad_rows(options, &parts.bad_rows)?;
    phase_done("partition", &mut timings);
    let mut accepted = parts.accepted;
    let mut bad_rows = parts.bad_rows.clone();

    // Phase 2: links, checked by serial, to their person's partition.
    let person_links = temp::PartitionFiles::create(&temp_dir, "person-links", shards)?;
    let routed = run_phase(options, "links", &link_paths, |_, path| {
        links::route_links(path, &person_links, shards)
    })?;
    let person_link_paths = person_links.finish()?;
    for part in &routed {
        accepted.remove(&part.dropped);
        bad_rows.extend(part.bad_rows.iter().cloned());
    }
    refuse_bad_rows(options, &bad_rows)?;
    phase_done("links", &mut timings);

    // Phase 3: persons, gathered and placed by household.
    let placed = temp::PartitionFiles::create(&temp_dir, "placed", shards)?;
    let key_parts = temp::PartitionFiles::create(&temp_dir, "keys", shards)?;
    let paired: Vec<(&PathBuf, &PathBuf)> = row_paths.iter().zip(&person_link_paths).collect();
    let grouped = run_phase(options, "persons", &paired, |_, (rows, links)| {
        group::group_persons(rows, links, &placed, &key_parts, shards)
    })?;
    let placed_paths = placed.finish()?;
    for part in &grouped {
        accepted.remove(&part.dropped);
        bad_rows.extend(part.bad_rows.iter().cloned());
    }
    refuse_bad_rows(options, &bad_rows)?;
    phase_done("persons", &mut timings);

    // Phase 4: the text dictionary.
    let out_dir = partial.path();
    let counting = Mutex::new(DictionaryBuilder::new());
    run_phase(options, "dictionary", &placed_paths, |_, path| {
        persons::count_pieces(path, &counting)
    })?;
    let dictionary = counting
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a build worker panicked while counting"))?
        .finish();
    let dictionary_file = persons::write_dictionary(out_dir, &dictionary)?;
    phase_done("dictionary", &mut timings);

    // Phase 5: person shards.
    let person_built = run_phase(options, "person shards", &placed_paths, |shard, path| {
        persons::build_person_shard(path, &dictionary, out_dir, shard, shards, &key_parts)
    })?;
    drop(dictionary);
    let key_paths = key_parts.finish()?;
    phase_done("person shards", &mut timings);

    // Phase 6: key shards.
    let mut first_person = Vec::with_capacity(person_built.len());
    let mut total_persons = 0u64;
    for built in &person_built {
        first_person.push(total_persons as u32);
        total_persons += built.persons;
    }
    if total_persons > MAX_PERSONS {
        bail!("{total_persons} persons: a snapshot holds at most {MAX_PERSONS}");
    }
    let key_built = run_phase(options, "key shards", &key_paths, |shard, path| {
        keys::build_key_shard(path, out_dir, shard, &first_person)
    })?;
    let mut files: Vec<FileEntry> = person_built.iter().map(|b| b.file.clone()).collect();
    files.extend(key_built.iter().map(|b| b.file.clone()));
    files.push(dictionary_file);
    files.push(write_archive(
        out_dir,
        INSURERS_FILE,
        FileKind::Insurers,
        &insurer_master(&parts.insurers),
        1 << 20,
    )?);
    let revocation_file = parts
        .revocations
        .to_file()
        .context("cannot encode the revocation sets")?;
    files.push(write_archive(
        out_dir,
        REVOCATIONS_FILE,
        FileKind::Revocations,
        &revocation_file,
        revocation_file.revoked.len() + revocation_file.suspended.len() + 4096,
    )?);
    phase_done("key shards", &mut timings);

    // The manifest as it will be written, then the check through it.
    let tally =
        |f: fn(&persons::ShardTally) -> u64| person_built.iter().map(|b| f(&b.tally)).sum::<u64>();
    let serials_without_rows: u64 = key_built.iter().map(|b| b.unmatched).sum();
    let counts = Counts {
        persons: total_persons,
        rows: tally(|t| t.rows),
        online_numbers: tally(|t| t.online_keys),
        card_faces: tally(|t| t.face_keys),
        serials: tally(|t| t.serials) + serials_without_rows,
        serials_without_rows,
        renewals: parts.renewals,
        revoked: parts.revocations.revoked_count(),
        suspended: parts.revocations.suspended_count(),
        insurers: parts.insurers.len() as u64,
        bad_rows_skipped: bad_rows.len() as u64,
    };
    let id = options
        .id
        .clone()
        .unwrap_or_else(|| default_id(&parts.sources));
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        id: id.clone(),
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        shard_count: shards,
        encoding: options.encoding.name().into(),
        sources: parts.sources.clone(),
        counts: counts.clone(),
        files: files.clone(),
        crl: parts.crl.clone(),
        journal: base.as_ref().and_then(|base| base.journal_mark()),
    };
    drop(base);
    let checksums = Progress::new(options.progress, None, "checksums", false);
    let snapshot = Snapshot::open_with_manifest(
        out_dir,
        manifest.clone(),
        Verification::Checksums,
        &|files| checksums.step_of(files),
    )
    .context("the build's own output does not open")?;
    checksums.finish();
    let bar = Progress::new(options.progress, None, "key check", false);
    let key_check = check::check_keys(&snapshot, &accepted, &|steps| bar.step_of(steps))?;
    bar.finish();
    drop(snapshot);
    phase_done("key check", &mut timings);

    let mut warnings = parts.warnings.clone();
    let used_insurers: BTreeSet<String> = person_built
        .iter()
        .flat_map(|b| b.tally.insurer_numbers.iter().cloned())
        .collect();
    warnings.extend(unknown_insurers(&used_insurers, &parts.insurers));
    if key_check.shared_online_numbers > 0 {
        warnings.push(format!(
            "{} online number(s) belong to more than one person; checks by them answer `multiple` (e.g. {})",
            key_check.shared_online_numbers,
            key_check.shared_examples.join(", ")
        ));
    }
    if counts.serials_without_rows > 0 {
        warnings.push(format!(
            "{} linked serial(s) point to a linkage_no with no eligibility rows; card checks for them answer `not_found`",
            counts.serials_without_rows
        ));
    }
    std::fs::remove_dir_all(&temp_dir)
        .with_context(|| format!("cannot remove {}", temp_dir.display()))?;
    let total_seconds = started.elapsed().as_secs_f64();
    let report = BuildReport {
        id,
        snapshot: options.out.display().to_string(),
        shard_count: shards,
        encoding: options.encoding.name(),
        counts,
        sources: parts.sources,
        files,
        timings,
        total_seconds,
        rows_per_second: parts.rows_read as f64 / total_seconds.max(1e-9),
        key_check,
        warnings,
        bad_rows,
    };
    write_json(&out_dir.join(BUILD_REPORT_FILE), &report)?;
    write_json(&out_dir.join(MANIFEST_FILE), &manifest)?;
    partial.publish()?;
    Ok(report)
}

/// Runs `work` on every partition of a phase in parallel (a shard per
/// worker), with a progress bar; results in shard order.
fn run_phase<P: Sync, T: Send>(
    options: &BuildOptions,
    name: &'static str,
    partitions: &[P],
    work: impl Fn(u32, &P) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let bar = Progress::new(options.progress, Some(partitions.len() as u64), name, false);
    let results = partitions
        .par_iter()
        .enumerate()
        .map(|(shard, partition)| {
            let result = work(shard as u32, partition);
            bar.inc();
            result
        })
        .collect::<anyhow::Result<Vec<_>>>();
    bar.finish();
    results
}

/// Phase 1 of a build from source files.
fn partition_sources(
    options: &BuildOptions,
    person_parts: &temp::PartitionFiles,
    link_parts: &temp::PartitionFiles,
    shards: u32,
    parts: &mut Partitioned,
) -> anyhow::Result<()> {
    let input = &options.input;
    let revocation_source = RevocationSource::find(input)?;
    let eligibility_path = Sources::require(input, Sources::ELIGIBILITY)?;
    let eligibility_size = std::fs::metadata(&eligibility_path)
        .map(|m| m.len())
        .unwrap_or(0);
    let bar = Progress::new(options.progress, Some(eligibility_size), "reading", true);
    let (rows_read, digest) = partition::partition_eligibility(
        &eligibility_path,
        options,
        person_parts,
        shards,
        &bar,
        &mut parts.bad_rows,
        &mut parts.accepted,
    )?;
    bar.finish();
    parts.rows_read = rows_read;
    parts.sources.push(digest);
    partition::partition_linkage(input, options, link_parts, shards, parts)?;
    partition::read_revocation_source(&revocation_source, options, parts)?;
    partition::read_insurer_master(&Sources::require(input, Sources::INSURERS)?, options, parts)
}

fn shard_count(options: &BuildOptions) -> anyhow::Result<u32> {
    match options.shards {
        Some(0) => bail!("--shards: must be at least 1"),
        Some(n) if n > MAX_SHARDS => bail!("--shards: at most {MAX_SHARDS}"),
        Some(n) => Ok(n),
        None => {
            let path = Sources::require(&options.input, Sources::ELIGIBILITY)?;
            let stored = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            let size = match Compression::of(&path) {
                Compression::None => stored,
                _ => stored.saturating_mul(COMPRESSION_RATIO),
            };
            let by_size = size.div_ceil(SOURCE_BYTES_PER_SHARD) as u32;
            let balanced = match by_size {
                0 | 1 => 1,
                n => n.max(SHARDS_PER_WORKER * rayon::current_num_threads() as u32),
            };
            Ok(balanced.min(MAX_SHARDS))
        }
    }
}

fn refuse_bad_rows(options: &BuildOptions, bad_rows: &[BadRow]) -> anyhow::Result<()> {
    if bad_rows.is_empty() || options.skip_bad_rows {
        return Ok(());
    }
    let shown: Vec<String> = bad_rows.iter().take(20).map(ToString::to_string).collect();
    bail!(
        "{} bad row(s); fix them, or pass --skip-bad-rows to build without them (each is then listed in the build report):\n  {}{}",
        bad_rows.len(),
        shown.join("\n  "),
        if bad_rows.len() > shown.len() { "\n  …" } else { "" }
    )
}

fn default_id(sources: &[SourceDigest]) -> String {
    let joined: String = sources.iter().map(|s| s.xxh3_128.as_str()).collect();
    let digest = xxhash_rust::xxh3::xxh3_64(joined.as_bytes());
    format!(
        "{}.{:08x}",
        crate::model::Date::today_in_japan(),
        digest >> 32
    )
}

fn insurer_master(rows: &[InsurerRow]) -> InsurerMaster {
    let mut master = InsurerMaster::default();
    for row in rows {
        master.numbers.push(
            row.number
                .as_str()
                .as_bytes()
                .try_into()
                .unwrap_or([b'0'; 8]),
        );
        let mut ends = [0u64; 4];
        for (end, field) in
            ends.iter_mut()
                .zip([&row.name, &row.address, &row.phone, &row.postal_code])
        {
            master.text.extend_from_slice(field.as_bytes());
            *end = master.text.len() as u64;
        }
        master.text_ends.push(ends);
        master
            .abolished
            .push(row.abolished.map_or(NO_DATE, |d| d.days()));
    }
    master
}

/// Insurer numbers used by eligibility rows but missing from the master.
fn unknown_insurers(used: &BTreeSet<String>, insurers: &[InsurerRow]) -> Option<String> {
    let known: HashSet<&str> = insurers.iter().map(|i| i.number.as_str()).collect();
    let missing: Vec<&str> = used
        .iter()
        .map(String::as_str)
        .filter(|n| !known.contains(n))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} insurer number(s) in eligibility.csv are not in insurers.csv; answers for them carry no insurer name (e.g. {})",
            missing.len(),
            missing[..missing.len().min(5)].join(", ")
        )
    })
}

//! Deterministic, realistic synthetic national data (`shikaku gen`).
//!
//! Load tests, acceptance tests and the built-in demo need data shaped like
//! the national dataset, at any size up to the real ~130 million persons,
//! without a single real person in it. This module writes the source files
//! of CONTRACT.md §1 — `eligibility.csv`, `insurers.csv`, `linkage.csv`,
//! `renewals.csv`, and the CRL (`crl.der`, with its test PKI, see [`pki`]) — with realistic names, ages, households,
//! insurers of every scheme (valid check digits), and the awkward cases the
//! answer rules must handle (insurer changes, losses, same-day rows, future
//! rows, short-term cards, renewed, revoked and suspended certificates,
//! serials wider than 64 bits).
//!
//! Determinism: persons are generated in fixed chunks of `CHUNK_PERSONS`,
//! each from its own ChaCha8 stream of the seed, in parallel, and written in
//! chunk order; so the same persons, seed and reference date give
//! byte-identical files whatever the thread count. Memory stays bounded: one
//! batch of chunks is generated while the previous one is written.
//!
//! Compression (`--compress`): each chunk of each per-person file is
//! compressed on its own, in the worker that generated it, as one gzip
//! member or zstd frame; the build reads such a file as one stream. The
//! national sources (≈ 45 GB as CSV) then take about a fifth of the disk,
//! at no cost in generation time on a machine whose cores are all busy
//! generating anyway.
//!
//! Vocabulary: names, addresses and employers are as varied as the real
//! ones, so that the sizes and compression of a snapshot built from the data
//! mean something. Family and given names with their readings come from a
//! names dataset, with a long tail of composed surnames ([`names`]);
//! addresses from Japan Post's postal-code list, KEN_ALL, built in or read
//! from the operator's own copy ([`addresses`], [`ken_all`]); the lot,
//! building and room of an address, and employers, are composed
//! ([`dwellings`], [`employers`]). README.md ("Where the synthetic data
//! comes from") gives sources and licences; `tools/gen-data/derive.py`
//! re-derives the embedded files.
//!
//! Layout: `tables` (the fixed vocabulary: prefectures, word lists),
//! `names`, `addresses`, `ken_all`, `dwellings`, `employers` (the above),
//! `insurers` (the insurer master), `people`
//! (households), `person` (one person's rows), `forced` (the fixed cases at
//! the start of the data), `rows` (writing an eligibility row), `cards`
//! (certificate serials), `pki` (CA, CRL and certificates), `keys` (identifiers derived from a person's
//! index), `calendar` and `cells` (date arithmetic and CSV formatting).

pub mod addresses;
mod calendar;
mod cards;
mod cells;
mod dwellings;
mod employers;
mod forced;
mod insurers;
mod ken_all;
mod keys;
mod names;
mod people;
mod person;
pub mod pki;
mod rows;
mod tables;
pub mod tls;

pub use addresses::AddressBook;

use crate::model::Date;
use crate::source::csv_input::Compression;
use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use people::{ChunkOutput, Counts, World};
use rayon::prelude::*;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

/// Persons per chunk: the unit of randomness and of parallel work. Changing
/// it changes the generated data.
const CHUNK_PERSONS: u64 = 32_768;
/// Most chunks generated at once (bounds memory on many-core machines).
const MAX_BATCH: usize = 16;

/// What to generate and where.
pub struct GenOptions {
    /// Number of persons (linkage numbers).
    pub persons: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// Reference date: ages, card periods and loss dates are relative to it
    /// (the CLI passes today in Japan).
    pub today: Date,
    /// Pad the CRL to this many entries (certificates of people outside the
    /// insured population), for national-scale CRL measurements.
    pub crl_entries: Option<u64>,
    /// Draw the padding serials at random over 64 bits instead of in
    /// sequence (how JPKI numbers its certificates is not public: the
    /// revocation sets must hold either shape).
    pub crl_random_serials: bool,
    /// How to compress `eligibility.csv`, `linkage.csv` and `renewals.csv`
    /// (named `.gz` or `.zst` then; `revoked.csv` goes under `pki/` as it
    /// is).
    pub compression: Compression,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

/// What was generated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenSummary {
    /// Persons (linkage numbers) generated.
    pub persons: u64,
    /// Rows of `eligibility.csv`.
    pub rows: u64,
    /// Rows of `insurers.csv`.
    pub insurers: u64,
    /// Rows of `linkage.csv`.
    pub linked: u64,
    /// Rows of `renewals.csv`.
    pub renewals: u64,
    /// Rows of `revoked.csv` with a reason other than `certificateHold`
    /// (the `superseded` serials of renewed cards included).
    pub revoked: u64,
    /// Rows of `revoked.csv` with `certificateHold`.
    pub suspended: u64,
    /// Entries of `crl.der` (revoked and suspended, plus any padding).
    pub crl_entries: u64,
    /// Sample user certificates under `pki/certificates/`.
    pub certificates: u64,
}

/// Writes the dataset into `options.out`, households living at the
/// addresses of the built-in address book.
pub fn generate(options: &GenOptions) -> Result<GenSummary> {
    // Decode the two built-in vocabularies at once.
    let (names, book) = rayon::join(names::Names::builtin, AddressBook::builtin);
    names?;
    generate_with(options, book?)
}

/// Writes the dataset into `options.out`, households living at the
/// addresses of `book` (e.g. read from an operator's KEN_ALL).
pub fn generate_with(options: &GenOptions, book: &AddressBook) -> Result<GenSummary> {
    if options.persons > keys::MAX_PERSONS {
        bail!(
            "--persons {} is more than the generator supports ({})",
            options.persons,
            keys::MAX_PERSONS
        );
    }
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("cannot create {}", options.out.display()))?;
    let world = World::new(options.seed, options.today, names::Names::builtin()?, book);
    let mut insurers = Vec::with_capacity(1 << 20);
    insurers::write_insurers(&mut insurers, &world.registry);
    let path = options.out.join("insurers.csv");
    std::fs::write(&path, &insurers).with_context(|| format!("cannot write {}", path.display()))?;
    let outputs = Outputs::create(&options.out, options.compression)?;
    let progress = progress_bar(options);
    let counts = generate_persons(&world, options, outputs, progress.clone())?;
    progress.finish_and_clear();
    let pki = pki::write(
        &options.out,
        options.seed,
        options.today,
        options.crl_entries.map(|entries| pki::Padding {
            entries,
            random: options.crl_random_serials,
        }),
    )?;
    Ok(GenSummary {
        persons: options.persons,
        rows: counts.rows,
        insurers: world.registry.insurers.len() as u64,
        linked: counts.linked,
        renewals: counts.renewals,
        revoked: counts.revoked,
        suspended: counts.suspended,
        crl_entries: pki.crl_entries,
        certificates: pki.certificates,
    })
}

fn progress_bar(options: &GenOptions) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(options.persons);
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} persons ({per_sec}, eta {eta})",
    );
    if let Ok(style) = style {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Generates batches of chunks in parallel and hands them to a writer
/// thread, so writing overlaps generation and at most three batches exist.
fn generate_persons(
    world: &World<'_>,
    options: &GenOptions,
    outputs: Outputs,
    progress: ProgressBar,
) -> Result<Counts> {
    let chunks = options.persons.div_ceil(CHUNK_PERSONS);
    let batch = (rayon::current_num_threads() * 2).clamp(2, MAX_BATCH) as u64;
    std::thread::scope(|scope| {
        let (sender, receiver) = sync_channel::<Vec<ChunkOutput>>(1);
        let writer = scope.spawn(move || outputs.write_all(&receiver, &progress));
        let mut first = 0;
        while first < chunks {
            let last = (first + batch).min(chunks);
            let batch: Vec<ChunkOutput> = (first..last)
                .into_par_iter()
                .map(|chunk| {
                    let start = chunk * CHUNK_PERSONS;
                    let end = (start + CHUNK_PERSONS).min(options.persons);
                    people::generate_chunk(world, options.seed, chunk, start..end)
                        .compressed(options.compression)
                })
                .collect::<Result<_>>()?;
            if sender.send(batch).is_err() {
                break; // the writer failed; its error is returned below
            }
            first = last;
        }
        drop(sender);
        writer
            .join()
            .map_err(|_| anyhow!("the writer thread panicked"))?
    })
}

/// The per-person output files, open for writing.
struct Outputs {
    files: [(PathBuf, BufWriter<File>); 4],
}

impl Outputs {
    /// Creates the files (removing any other form of them, which the build
    /// would refuse as the same source given twice) and writes their
    /// header rows.
    fn create(dir: &Path, compression: Compression) -> Result<Outputs> {
        let open = |name: &str,
                    columns: &[&str],
                    compression: Compression|
         -> Result<(PathBuf, BufWriter<File>)> {
            remove_other_forms(dir, name, compression)?;
            let path = dir.join(compression.file_name(name));
            let file =
                File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
            let mut writer = BufWriter::with_capacity(1 << 20, file);
            let mut header = Vec::new();
            cells::header(&mut header, columns);
            let cannot_write = || format!("cannot write {}", path.display());
            writer
                .write_all(&compression.compress(&header).with_context(cannot_write)?)
                .with_context(cannot_write)?;
            Ok((path, writer))
        };
        Ok(Outputs {
            files: [
                open("eligibility.csv", &rows::ELIGIBILITY_COLUMNS, compression)?,
                open("linkage.csv", &cards::LINKAGE_COLUMNS, compression)?,
                open("renewals.csv", &cards::RENEWAL_COLUMNS, compression)?,
                open("revoked.csv", &cards::REVOKED_COLUMNS, Compression::None)?,
            ],
        })
    }

    /// Writes every batch received, in order, then flushes.
    fn write_all(
        mut self,
        receiver: &Receiver<Vec<ChunkOutput>>,
        progress: &ProgressBar,
    ) -> Result<Counts> {
        let mut counts = Counts::default();
        for batch in receiver {
            for chunk in batch {
                let parts = [
                    &chunk.eligibility,
                    &chunk.linkage,
                    &chunk.renewals,
                    &chunk.revoked,
                ];
                for ((path, writer), bytes) in self.files.iter_mut().zip(parts) {
                    writer
                        .write_all(bytes)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                }
                counts += chunk.counts;
                progress.inc(chunk.persons);
            }
        }
        for (path, writer) in &mut self.files {
            writer
                .flush()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(counts)
    }
}

/// Removes `name` in every compression but `kept`.
fn remove_other_forms(dir: &Path, name: &str, kept: Compression) -> Result<()> {
    let others = [Compression::None]
        .into_iter()
        .chain(Compression::EXTENSIONS.map(|(_, compression)| compression))
        .filter(|&compression| compression != kept);
    for other in others {
        let path = dir.join(other.file_name(name));
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(error).with_context(|| format!("cannot remove {}", path.display()));
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

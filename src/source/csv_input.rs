//! CSV plumbing shared by the source readers: decoding, header mapping,
//! line numbers and the bad-row type.

use anyhow::{bail, Context};
use csv::{ByteRecord, ReaderBuilder, StringRecord};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{Arc, Mutex};
use xxhash_rust::xxh3::Xxh3;

/// Character encoding of the source files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
pub enum Encoding {
    /// UTF-8 (a leading byte-order mark is ignored).
    #[default]
    Utf8,
    /// Shift_JIS / CP932, as many Japanese systems export.
    Sjis,
}

impl Encoding {
    /// The encoding's name as build reports and manifests write it (`utf-8` or `shift_jis`).
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Sjis => "shift_jis",
        }
    }
}

/// A source file as read: name, size and xxh3-128 of its raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceDigest {
    /// The file's name, without its directory.
    pub file: String,
    /// Size of the raw file in bytes (as read, before decoding).
    pub bytes: u64,
    /// xxh3-128 of the file's bytes, 32 hex digits.
    pub xxh3_128: String,
}

/// A source row that could not be read: where it is and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BadRow {
    /// The file's name, without its directory.
    pub file: String,
    /// Line of the file the row starts on, counting the header as line 1 (0 if unknown).
    pub line: u64,
    /// Why the row was refused, naming the column where one is at fault.
    pub reason: String,
}

impl std::fmt::Display for BadRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.reason)
    }
}

/// Why a row that is not valid text is refused.
const NOT_TEXT: &str = "the row is not valid text in the given encoding (try --encoding sjis)";

/// An open CSV source: header mapped, records decoded to UTF-8, the raw
/// bytes hashed as they are read (for the manifest's source digests).
pub struct CsvSource {
    header: CsvHeader,
    reader: csv::Reader<Box<dyn Read + Send>>,
    record: StringRecord,
    digest: Arc<Mutex<RawDigest>>,
}

/// A file's name and header: all a row needs to be read by column (shared
/// by the threads that parse batches).
#[derive(Clone, Debug)]
pub struct CsvHeader {
    name: String,
    columns: Vec<String>,
}

/// A record's fields by column, with the line it came from.
pub struct Row<'a> {
    header: &'a CsvHeader,
    record: &'a StringRecord,
    /// Line of the file the record starts on, counting the header as line 1 (0 if unknown).
    pub line: u64,
}

/// Size and running xxh3-128 of the raw bytes read so far.
#[derive(Default)]
struct RawDigest {
    bytes: u64,
    hasher: Xxh3,
}

/// Passes bytes through while counting and hashing them.
struct HashingReader<R> {
    inner: R,
    digest: Arc<Mutex<RawDigest>>,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut digest) = self.digest.lock() {
            digest.bytes += n as u64;
            digest.hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

/// How a source file is compressed, by its name: `.gz` (gzip) or `.zst`
/// (Zstandard); anything else is read as it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    /// Not compressed.
    #[default]
    None,
    /// gzip (RFC 1952), one member or several.
    Gzip,
    /// Zstandard, one frame or several.
    Zstd,
}

impl Compression {
    /// The extensions a compressed source may carry, with their compression.
    pub const EXTENSIONS: [(&'static str, Compression); 2] =
        [("gz", Compression::Gzip), ("zst", Compression::Zstd)];

    /// The compression `path`'s name says.
    pub fn of(path: &Path) -> Compression {
        let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        Compression::EXTENSIONS
            .iter()
            .find(|(name, _)| *name == extension)
            .map_or(Compression::None, |(_, compression)| *compression)
    }

    /// The file name of source `name` in this compression.
    pub fn file_name(self, name: &str) -> String {
        match Compression::EXTENSIONS.iter().find(|(_, c)| *c == self) {
            Some((extension, _)) => format!("{name}.{extension}"),
            None => name.to_string(),
        }
    }

    /// `bytes` compressed as one complete gzip member or zstd frame. A file
    /// made of such pieces one after another reads back as the
    /// concatenation of their bytes, so that they can be compressed in
    /// parallel.
    pub fn compress(self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Compression::None => Ok(bytes.to_vec()),
            Compression::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(bytes.len() / 4),
                    flate2::Compression::default(),
                );
                std::io::Write::write_all(&mut encoder, bytes)?;
                encoder.finish()
            }
            Compression::Zstd => zstd::bulk::compress(bytes, ZSTD_LEVEL),
        }
    }

    /// `raw` decompressed.
    fn reader(
        self,
        raw: impl BufRead + Send + 'static,
        path: &Path,
    ) -> anyhow::Result<Box<dyn Read + Send>> {
        Ok(match self {
            Compression::None => Box::new(raw),
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
            Compression::Zstd => Box::new(
                zstd::stream::read::Decoder::with_buffer(raw).with_context(|| {
                    format!("{}: cannot start reading it as zstd", path.display())
                })?,
            ),
        })
    }
}

/// zstd's default level: about a fifth of the CSV's size at several
/// hundred MB/s per core.
const ZSTD_LEVEL: i32 = 3;

/// The bytes of `path`, decompressed as its name says.
pub fn open_decompressed(path: &Path) -> anyhow::Result<Box<dyn Read + Send>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Compression::of(path).reader(BufReader::with_capacity(1 << 20, file), path)
}

/// Turns a decompressor's error into one that names the file.
struct NamedErrors<R> {
    inner: R,
    name: String,
}

impl<R: Read> Read for NamedErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|error| {
            std::io::Error::new(
                error.kind(),
                format!(
                    "{}: cannot be read ({error}); is the file complete?",
                    self.name
                ),
            )
        })
    }
}

/// For a file loaded whole or not at all (a registry): `Ok` when
/// `problems` (line, message) is empty, else an error with the first by
/// line and how many more there are.
pub fn refuse_bad_lines(mut problems: Vec<(u64, String)>) -> anyhow::Result<()> {
    problems.sort();
    match problems.as_slice() {
        [] => Ok(()),
        [(_, first)] => anyhow::bail!("{first}"),
        [(_, first), rest @ ..] => anyhow::bail!("{first} (and {} more bad lines)", rest.len()),
    }
}

impl CsvSource {
    /// Opens `path` (decompressed if its name ends in `.gz` or `.zst`),
    /// decodes it with `encoding` and reads the header row.
    pub fn open(path: &Path, encoding: Encoding) -> anyhow::Result<CsvSource> {
        let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let digest = Arc::new(Mutex::new(RawDigest::default()));
        let raw = BufReader::with_capacity(
            1 << 20,
            HashingReader {
                inner: file,
                digest: Arc::clone(&digest),
            },
        );
        let text = NamedErrors {
            inner: Compression::of(path).reader(raw, path)?,
            name: path.display().to_string(),
        };
        // UTF-8 is read as it is, so that invalid bytes reach the per-row
        // check and are reported (a decoder would replace them silently).
        let decoded: Box<dyn Read + Send> = match encoding {
            Encoding::Utf8 => Box::new(text),
            Encoding::Sjis => Box::new(
                encoding_rs_io::DecodeReaderBytesBuilder::new()
                    .encoding(Some(encoding_rs::SHIFT_JIS))
                    .build(text),
            ),
        };
        let mut reader = ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(decoded);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let columns = reader
            .byte_headers()
            .with_context(|| format!("{name}: cannot read the header row"))?
            .iter()
            .map(|h| {
                String::from_utf8_lossy(h)
                    .trim_matches(['\u{feff}', ' '])
                    .to_string()
            })
            .collect();
        Ok(CsvSource {
            header: CsvHeader { name, columns },
            reader,
            record: StringRecord::new(),
            digest,
        })
    }

    /// Size and checksum of the raw bytes read so far (the whole file once
    /// every row has been read).
    pub fn digest(&self) -> SourceDigest {
        let (bytes, xxh3_128) = match self.digest.lock() {
            Ok(digest) => (digest.bytes, format!("{:032x}", digest.hasher.digest128())),
            Err(_) => (0, String::new()),
        };
        SourceDigest {
            file: self.header.name.clone(),
            bytes,
            xxh3_128,
        }
    }

    /// Raw bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.digest.lock().map_or(0, |digest| digest.bytes)
    }

    /// Reads up to `max` records for parsing elsewhere (e.g. in parallel);
    /// records that are not valid CSV come back as bad rows. Their text is
    /// not checked here: [`CsvHeader::text_record`] does that where they
    /// are parsed, so that the reading thread only splits the file.
    pub fn next_batch(&mut self, max: usize) -> Vec<Result<ByteRecord, BadRow>> {
        let mut batch = Vec::with_capacity(max);
        while batch.len() < max {
            // Sized for a typical eligibility row, so that reading does
            // not grow the record's buffers field by field.
            let mut record = ByteRecord::with_capacity(512, 48);
            match self.reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => batch.push(Ok(record)),
                Err(error) => batch.push(Err(self.csv_error(&error))),
            }
        }
        batch
    }

    /// The file's name and header.
    pub fn header(&self) -> &CsvHeader {
        &self.header
    }

    fn csv_error(&self, error: &csv::Error) -> BadRow {
        let line = error.position().map_or(0, |p| p.line());
        match error.kind() {
            csv::ErrorKind::Utf8 { .. } => self.header.bad(line, NOT_TEXT),
            _ => self
                .header
                .bad(line, &format!("not a valid CSV row: {error}")),
        }
    }

    /// File name used in messages.
    pub fn name(&self) -> &str {
        &self.header.name
    }

    /// Checks that every named column is present; fails naming the first missing one.
    pub fn require_columns(&self, names: &[&str]) -> anyhow::Result<()> {
        self.header.require_columns(names)
    }

    /// Index of a column by name, if present.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.column(name)
    }

    /// Advances to the next record. `None` at the end; a record that is
    /// not valid CSV or not valid text is returned as a bad row.
    pub fn next_row(&mut self) -> Option<Result<Row<'_>, BadRow>> {
        match self.reader.read_record(&mut self.record) {
            Ok(false) => None,
            Ok(true) => Some(Ok(self.header.row(&self.record))),
            Err(error) => Some(Err(self.csv_error(&error))),
        }
    }
}

impl CsvHeader {
    /// A header for records that do not come from a file (an update
    /// message's fields, read by the same column-mapped parsers).
    pub fn new(name: impl Into<String>, columns: Vec<String>) -> CsvHeader {
        CsvHeader {
            name: name.into(),
            columns,
        }
    }

    /// The record of [`CsvSource::next_batch`] as text; a bad row when it
    /// is not valid text in the file's encoding.
    pub fn text_record(&self, record: ByteRecord) -> Result<StringRecord, BadRow> {
        let line = record.position().map_or(0, |p| p.line());
        StringRecord::from_byte_record(record).map_err(|_| self.bad(line, NOT_TEXT))
    }

    /// A view of a record read by [`CsvSource::next_batch`].
    pub fn row<'a>(&'a self, record: &'a StringRecord) -> Row<'a> {
        self.row_at(record, record.position().map_or(0, |p| p.line()))
    }

    /// A view of a record, reported as coming from `line`.
    pub fn row_at<'a>(&'a self, record: &'a StringRecord, line: u64) -> Row<'a> {
        Row {
            header: self,
            record,
            line,
        }
    }

    /// File name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Checks that every named column is present; fails naming the first missing one.
    pub fn require_columns(&self, names: &[&str]) -> anyhow::Result<()> {
        for name in names {
            if !self.columns.iter().any(|c| c == name) {
                bail!(
                    "{}: the header has no '{}' column (columns found: {})",
                    self.name,
                    name,
                    self.columns.join(",")
                );
            }
        }
        Ok(())
    }

    /// Index of a column by name, if present.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// A bad row of this file.
    pub fn bad(&self, line: u64, reason: &str) -> BadRow {
        BadRow {
            file: self.name.clone(),
            line,
            reason: reason.to_string(),
        }
    }
}

impl Row<'_> {
    /// The cell of a column by index (empty when the row is short).
    pub fn cell(&self, index: Option<usize>) -> &str {
        index.and_then(|i| self.record.get(i)).unwrap_or("")
    }

    /// The cell of a named column (empty when absent).
    pub fn get(&self, column: &str) -> &str {
        self.cell(self.header.column(column))
    }

    /// A bad row at this line.
    pub fn bad(&self, reason: String) -> BadRow {
        self.header.bad(self.line, &reason)
    }
}

impl CsvSource {
    /// Calls `parse` for every record; a record that cannot be read or that
    /// `parse` refuses goes to `bad`, and reading goes on. Returns the
    /// digest of the whole file.
    pub fn for_each_row<T>(
        &mut self,
        mut parse: impl FnMut(&Row<'_>) -> Result<T, BadRow>,
        mut good: impl FnMut(T),
        bad: &mut dyn FnMut(BadRow),
    ) -> SourceDigest {
        while let Some(next) = self.next_row() {
            match next.and_then(|row| parse(&row)) {
                Ok(value) => good(value),
                Err(bad_row) => bad(bad_row),
            }
        }
        self.digest()
    }
}

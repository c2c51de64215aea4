//! Test fixtures: hand-written source datasets, written as the CSV files of
//! `CONTRACT.md` §1 and built into a snapshot in a temporary directory.
#![allow(dead_code)]

pub(crate) mod http;
pub(crate) mod openssl;

use shikaku::model::Date;
use shikaku::snapshot::write::{build, BuildOptions, BuildReport};
use shikaku::snapshot::Snapshot;
use shikaku::source::Encoding;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An insurer number with a valid check digit (健保組合, 法別 06).
pub(crate) const HEALTH_SOCIETY: &str = "06139018";

/// One CSV row as column → value.
#[derive(Clone, Debug, Default)]
pub(crate) struct Row(pub BTreeMap<String, String>);

impl Row {
    pub(crate) fn set(mut self, column: &str, value: &str) -> Row {
        self.0.insert(column.to_string(), value.to_string());
        self
    }

    pub(crate) fn get(&self, column: &str) -> &str {
        self.0.get(column).map_or("", String::as_str)
    }
}

/// A qualification row with plausible defaults: insurer code `10000001`,
/// insurer number `06139018`, card `12`/`345`/`00`, born 1980-04-01.
pub(crate) fn qualification(linkage: &str, branch_no: &str, acquired: &str) -> Row {
    Row::default()
        .set("linkage_no", linkage)
        .set("insurer_code", "10000001")
        .set("branch_no", branch_no)
        .set("insurer_number", HEALTH_SOCIETY)
        .set("card_symbol", "12")
        .set("card_number", "345")
        .set("card_branch", "00")
        .set("name", "山田 太郎")
        .set("name_kana", "ヤマダ タロウ")
        .set("sex", "1")
        .set("birth_date", "1980-04-01")
        .set("acquired", acquired)
}

/// 16-digit branch number from a small integer.
pub(crate) fn branch(n: u64) -> String {
    format!("{n:016}")
}

/// The 24-digit online number of insurer code `10000001` and a branch.
pub(crate) fn online(n: u64) -> String {
    format!("10000001{}", branch(n))
}

/// Source files to build from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Dataset {
    pub eligibility: Vec<Row>,
    /// (serial, linkage_no)
    pub linkage: Vec<(String, String)>,
    /// (new_serial, old_serial)
    pub renewals: Vec<(String, String)>,
    /// (insurer_number, name)
    pub insurers: Vec<(String, String)>,
    /// (serial, reason)
    pub revoked: Vec<(String, String)>,
}

impl Dataset {
    pub(crate) fn new() -> Dataset {
        Dataset {
            insurers: vec![(HEALTH_SOCIETY.into(), "テスト健康保険組合".into())],
            ..Dataset::default()
        }
    }

    pub(crate) fn row(mut self, row: Row) -> Dataset {
        self.eligibility.push(row);
        self
    }

    pub(crate) fn link(mut self, serial: &str, linkage: &str) -> Dataset {
        self.linkage.push((serial.into(), linkage.into()));
        self
    }

    pub(crate) fn renew(mut self, new_serial: &str, old_serial: &str) -> Dataset {
        self.renewals.push((new_serial.into(), old_serial.into()));
        self
    }

    pub(crate) fn revoke(mut self, serial: &str, reason: &str) -> Dataset {
        self.revoked.push((serial.into(), reason.into()));
        self
    }

    pub(crate) fn insurer(mut self, number: &str, name: &str) -> Dataset {
        self.insurers.push((number.into(), name.into()));
        self
    }

    /// Writes the CSV files into `dir` (UTF-8).
    pub(crate) fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        let mut columns: Vec<String> = Vec::new();
        for row in &self.eligibility {
            for column in row.0.keys() {
                if !columns.contains(column) {
                    columns.push(column.clone());
                }
            }
        }
        if columns.is_empty() {
            let required = shikaku::source::eligibility::REQUIRED_COLUMNS;
            columns = ["insurer_code", "branch_no"]
                .iter()
                .chain(required.iter())
                .map(|c| c.to_string())
                .collect();
        }
        let rows: Vec<Vec<String>> = self
            .eligibility
            .iter()
            .map(|row| columns.iter().map(|c| row.get(c).to_string()).collect())
            .collect();
        write_csv(&dir.join("eligibility.csv"), &columns, &rows);
        let pairs = |list: &[(String, String)]| -> Vec<Vec<String>> {
            list.iter()
                .map(|(a, b)| vec![a.clone(), b.clone()])
                .collect()
        };
        write_csv(
            &dir.join("linkage.csv"),
            &["serial".into(), "linkage_no".into()],
            &pairs(&self.linkage),
        );
        write_csv(
            &dir.join("renewals.csv"),
            &["new_serial".into(), "old_serial".into()],
            &pairs(&self.renewals),
        );
        write_csv(
            &dir.join("insurers.csv"),
            &[
                "insurer_number".into(),
                "name".into(),
                "address".into(),
                "phone".into(),
            ],
            &self
                .insurers
                .iter()
                .map(|(n, name)| {
                    vec![
                        n.clone(),
                        name.clone(),
                        "東京都千代田区1-1".into(),
                        "03-0000-0000".into(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        write_csv(
            &dir.join("revoked.csv"),
            &["serial".into(), "revoked_at".into(), "reason".into()],
            &self
                .revoked
                .iter()
                .map(|(s, r)| vec![s.clone(), "2026-11-01".into(), r.clone()])
                .collect::<Vec<_>>(),
        );
    }

    /// Writes the sources and builds a snapshot; panics on failure.
    pub(crate) fn build(&self) -> Built {
        self.try_build(1)
            .unwrap_or_else(|e| panic!("build failed: {e:#}"))
    }

    /// Writes the sources and builds a snapshot with `shards` shards.
    pub(crate) fn try_build(&self, shards: u32) -> anyhow::Result<Built> {
        self.try_build_as(shards, "test.1")
    }

    /// Builds with snapshot id `id`; panics on failure.
    pub(crate) fn build_as(&self, id: &str) -> Built {
        self.try_build_as(1, id)
            .unwrap_or_else(|e| panic!("build failed: {e:#}"))
    }

    fn try_build_as(&self, shards: u32, id: &str) -> anyhow::Result<Built> {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("source");
        self.write(&input);
        let out = dir.path().join("snapshot");
        let report = build(&BuildOptions {
            id: Some(id.into()),
            ..options(&input, &out, shards)
        })?;
        let snapshot = Snapshot::open(&out)?;
        Ok(Built {
            _dir: dir,
            out,
            report,
            snapshot,
        })
    }
}

/// Build options for tests: no progress bar, fixed id.
pub(crate) fn options(input: &Path, out: &Path, shards: u32) -> BuildOptions {
    BuildOptions {
        input: input.to_path_buf(),
        out: out.to_path_buf(),
        encoding: Encoding::Utf8,
        skip_bad_rows: false,
        shards: Some(shards),
        id: Some("test.1".into()),
        progress: false,
    }
}

/// A built snapshot and the temporary directory that holds it.
pub(crate) struct Built {
    _dir: tempfile::TempDir,
    pub out: PathBuf,
    pub report: BuildReport,
    pub snapshot: Snapshot,
}

pub(crate) fn write_csv(path: &Path, header: &[String], rows: &[Vec<String>]) {
    let mut writer = csv::Writer::from_path(path).unwrap();
    writer.write_record(header).unwrap();
    for row in rows {
        writer.write_record(row).unwrap();
    }
    writer.flush().unwrap();
}

pub(crate) fn date(text: &str) -> Date {
    Date::parse(text).unwrap()
}

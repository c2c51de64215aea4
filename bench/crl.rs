//! The CRL in the serving path and at import: a serial's status on a
//! national-size list, a certificate's decoding and judgement, and the
//! import of a signed CRL.
//!
//! Data: a CRL of `SHIKAKU_BENCH_CRL_ENTRIES` entries (default 1,560,000,
//! the size at launch) signed by the test CA of `shikaku gen`, written once
//! under `target/bench-data/` and reused. Serials are issued in sequence as
//! a CA does; lookups draw from 4,096 listed and 4,096 unlisted serials.
//!
//! Run: `cargo bench --bench crl` (import of a 10M list: `shikaku crl build`,
//! see docs/performance.md).
// criterion_group! defines a public function that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use rcgen::RevocationReason;
use shikaku::crl::certificate::UserCertificate;
use shikaku::crl::trust::CaCertificate;
use shikaku::crl::{import, Imported};
use shikaku::gen::pki::{CrlEntry, TestCa};
use shikaku::model::{Date, Serial};
use std::path::{Path, PathBuf};

const SAMPLE: u64 = 4096;
const FIRST_SERIAL: u64 = 1 << 40;

fn entries() -> u64 {
    std::env::var("SHIKAKU_BENCH_CRL_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_560_000)
}

fn today() -> Date {
    Date::parse("2026-11-21").expect("a valid date")
}

/// Writes the signed CRL once; returns its path.
fn crl_file(ca: &TestCa, count: u64) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data/crl");
    let path = root.join(format!("crl-{count}.der"));
    if !path.exists() {
        std::fs::create_dir_all(&root).expect("bench data directory");
        let list: Vec<CrlEntry> = (0..count)
            .map(|i| CrlEntry {
                serial: Serial::from_u64(FIRST_SERIAL + i * 2),
                revoked_on: today().add_days(-((i % 1800) as i32)),
                reason: if i % 10 == 0 {
                    RevocationReason::CertificateHold
                } else {
                    RevocationReason::KeyCompromise
                },
            })
            .collect();
        let der = ca.sign_crl(&list, today(), 2, 1).expect("sign the CRL");
        std::fs::write(&path, der).expect("write the CRL");
    }
    path
}

fn bench(c: &mut Criterion) {
    let ca = TestCa::new(1, 0).expect("test CA");
    let cas = vec![CaCertificate::parse(ca.certificate_der()).expect("CA")];
    let count = entries();
    let path = crl_file(&ca, count);
    let Imported { sets, .. } = import(&path, &cas).expect("import");
    // Listed serials are even offsets from FIRST_SERIAL, unlisted ones odd.
    let step = (count / SAMPLE).max(1);
    let listed: Vec<Serial> = (0..SAMPLE)
        .map(|i| Serial::from_u64(FIRST_SERIAL + (i * step % count) * 2))
        .collect();
    let unlisted: Vec<Serial> = listed
        .iter()
        .map(|s| Serial::from_u64(s.as_u64().unwrap_or(0) + 1))
        .collect();
    let mut group = c.benchmark_group(format!("crl/{count}"));
    for (name, serials) in [("status/listed", &listed), ("status/unlisted", &unlisted)] {
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % serials.len();
                black_box(sets.status(&serials[i]))
            })
        });
    }
    let pem = ca
        .issue(&listed[0], today().add_days(-10), today().add_days(1000))
        .expect("certificate");
    group.bench_function("certificate/parse", |b| {
        b.iter(|| black_box(UserCertificate::parse(pem.as_bytes()).expect("parse")))
    });
    let certificate = UserCertificate::parse(pem.as_bytes()).expect("parse");
    group.bench_function("certificate/judge_with_signature", |b| {
        b.iter(|| black_box(certificate.judge(&cas, true, today())))
    });
    group.bench_function("certificate/judge_without_signature", |b| {
        b.iter(|| black_box(certificate.judge(&cas, false, today())))
    });
    group.sample_size(10);
    group.bench_function("import", |b| {
        b.iter(|| black_box(import(&path, &cas).expect("import").meta.entries))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

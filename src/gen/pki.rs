//! The test PKI: a user-certificate CA, the CRL it signs (from the
//! generated revocations), sample user certificates, and the CRLs the
//! refusal paths need (an older one, one signed by another key).
//!
//! Made with rcgen. Keys are Ed25519 derived from the seed, and Ed25519
//! signatures are deterministic, so the same seed and date still give
//! byte-identical files. The production CA signs with RSA; the OpenSSL
//! cross-check test covers that path with RSA keys made by `openssl`.
//!
//! Layout written into the dataset directory:
//! - `crl.der`, `crl-issuer.pem`: the day's CRL and its CA (snapshot inputs);
//! - `pki/revoked.csv`: what the CRL lists, as CSV (for people and tests);
//! - `pki/crl-older.der`: yesterday's list (the "older" gate refuses it);
//! - `pki/crl-wrong-signature.der`: today's list signed by another key;
//! - `pki/ca-key.pem`: the test CA's private key (test data only);
//! - `pki/certificates/*.pem` and `pki/certificates.csv` (`file,serial,kind`):
//!   sample user certificates, `kind` one of current, expired, revoked,
//!   suspended, unlinked.

use crate::model::{Date, Serial};
use crate::source::csv_input::open_decompressed;
use anyhow::{anyhow, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use std::io::Write;
use std::path::Path;
use time::OffsetDateTime;

/// Subject of the test CA (the production one is the JPKI user-certificate CA).
const CA_NAME: [(DnType, &str); 4] = [
    (DnType::CountryName, "JP"),
    (DnType::OrganizationName, "JPKI (shikaku test)"),
    (
        DnType::OrganizationalUnitName,
        "JPKI for user authentication",
    ),
    (DnType::CommonName, "shikaku test user-certificate CA"),
];

/// Sample certificates of each kind.
const SAMPLES_PER_KIND: usize = 10;

/// One CRL entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlEntry {
    /// Serial of the revoked certificate.
    pub serial: Serial,
    /// Day of the revocation.
    pub revoked_on: Date,
    /// RFC 5280 reason; `certificateHold` means suspended.
    pub reason: RevocationReason,
}

/// The test CA: its key and certificate.
pub struct TestCa {
    key: KeyPair,
    params: CertificateParams,
    certificate_pem: String,
    certificate_der: Vec<u8>,
}

/// An Ed25519 key from 32 seed bytes (PKCS#8 v1 around the seed).
fn ed25519_key(seed: [u8; 32]) -> Result<KeyPair> {
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend_from_slice(&seed);
    KeyPair::try_from(pkcs8.as_slice()).map_err(|e| anyhow!("cannot make a test key: {e}"))
}

/// 32 bytes derived from the dataset seed and a purpose label.
fn derive(seed: u64, label: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let digest = xxhash_rust::xxh3::xxh3_128_with_seed(label.as_bytes(), seed ^ (i as u64 + 1));
        chunk.copy_from_slice(&digest.to_be_bytes());
    }
    out
}

/// Midnight UTC of `date`, shifted by `hours`.
fn at(date: Date, hours: i64) -> OffsetDateTime {
    let (year, month, day) = date.ymd();
    rcgen::date_time_ymd(year, month as u8, day as u8) + time::Duration::hours(hours)
}

/// 07:00 in Japan on `date` (when the JPKI CA publishes), in UTC.
fn publication(date: Date) -> OffsetDateTime {
    at(date, 7 - 9)
}

fn serial_number(serial: &Serial) -> SerialNumber {
    // A leading zero keeps a serial whose top bit is set positive in DER.
    let bytes = serial.as_bytes();
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        let mut padded = vec![0u8];
        padded.extend_from_slice(bytes);
        SerialNumber::from_slice(&padded)
    } else {
        SerialNumber::from_slice(bytes)
    }
}

impl TestCa {
    /// The CA of dataset `seed` (`variant` 0); another variant gives a CA
    /// with the same name and another key (for wrongly signed files).
    pub fn new(seed: u64, variant: u32) -> Result<TestCa> {
        let key = ed25519_key(derive(seed, &format!("ca-{variant}")))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        for (kind, value) in CA_NAME {
            name.push(kind, value);
        }
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2014, 1, 1);
        params.not_after = rcgen::date_time_ymd(2044, 1, 1);
        params.serial_number = Some(SerialNumber::from_slice(&[1]));
        params.key_identifier_method = KeyIdMethod::Sha256;
        let certificate = params
            .self_signed(&key)
            .map_err(|e| anyhow!("cannot sign the test CA: {e}"))?;
        Ok(TestCa {
            certificate_pem: certificate.pem(),
            certificate_der: certificate.der().to_vec(),
            key,
            params,
        })
    }

    /// The CA's self-signed certificate, PEM (written as `crl-issuer.pem`).
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// The CA's self-signed certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The CA's private key, PEM (test material only).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A DER CRL listing `entries`, published at 07:00 JST on `published`,
    /// valid for `valid_days`, with CRL number `number`.
    pub fn sign_crl(
        &self,
        entries: &[CrlEntry],
        published: Date,
        valid_days: i32,
        number: u64,
    ) -> Result<Vec<u8>> {
        let params = CertificateRevocationListParams {
            this_update: publication(published),
            next_update: publication(published.add_days(valid_days)),
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: entries
                .iter()
                .map(|entry| RevokedCertParams {
                    serial_number: serial_number(&entry.serial),
                    revocation_time: at(entry.revoked_on, 0),
                    reason_code: Some(entry.reason),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer = Issuer::from_params(&self.params, &self.key);
        let crl = params
            .signed_by(&issuer)
            .map_err(|e| anyhow!("cannot sign the CRL: {e}"))?;
        Ok(crl.der().to_vec())
    }

    /// A user certificate for `serial`, valid from `not_before` to the end
    /// of `not_after` (UTC), as PEM.
    pub fn issue(&self, serial: &Serial, not_before: Date, not_after: Date) -> Result<String> {
        let key = ed25519_key(derive(u64::from_be_bytes(pad8(serial)), "user"))?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CountryName, "JP");
        name.push(DnType::CommonName, format!("test card {serial}"));
        params.distinguished_name = name;
        params.serial_number = Some(serial_number(serial));
        params.not_before = at(not_before, 0);
        params.not_after = at(not_after, 24) - time::Duration::seconds(1);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let issuer = Issuer::from_params(&self.params, &self.key);
        let certificate = params
            .signed_by(&key, &issuer)
            .map_err(|e| anyhow!("cannot issue a test certificate for {serial}: {e}"))?;
        Ok(certificate.pem())
    }
}

/// The low 8 bytes of a serial (a key-derivation seed).
fn pad8(serial: &Serial) -> [u8; 8] {
    let bytes = serial.as_bytes();
    let tail = &bytes[bytes.len().saturating_sub(8)..];
    let mut out = [0u8; 8];
    out[8 - tail.len()..].copy_from_slice(tail);
    out
}

/// What [`write()`] produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PkiSummary {
    /// Entries of the CRL written, padding included.
    pub crl_entries: u64,
    /// Sample user certificates written under `pki/certificates/`.
    pub certificates: u64,
}

/// RFC 5280 reason of a `revoked.csv` reason name.
fn reason(name: &str) -> Result<RevocationReason> {
    Ok(match name {
        "unspecified" => RevocationReason::Unspecified,
        "keyCompromise" => RevocationReason::KeyCompromise,
        "cACompromise" => RevocationReason::CaCompromise,
        "affiliationChanged" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessationOfOperation" => RevocationReason::CessationOfOperation,
        "certificateHold" => RevocationReason::CertificateHold,
        "privilegeWithdrawn" => RevocationReason::PrivilegeWithdrawn,
        "aACompromise" => RevocationReason::AaCompromise,
        other => return Err(anyhow!("unknown reason {other}")),
    })
}

/// Reads a `revoked.csv` the generator wrote.
fn read_entries(path: &Path) -> Result<Vec<CrlEntry>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    reader
        .records()
        .map(|record| {
            let record = record?;
            let serial = Serial::parse(&record[0]).map_err(|e| anyhow!("{e}"))?;
            let revoked_on = Date::parse(&record[1]).map_err(|e| anyhow!("{e}"))?;
            Ok(CrlEntry {
                serial,
                revoked_on,
                reason: reason(&record[2])?,
            })
        })
        .collect()
}

/// How the CRL is padded beyond the dataset's own revocations.
#[derive(Clone, Copy, Debug)]
pub struct Padding {
    /// Entries of the CRL in all.
    pub entries: u64,
    /// Serials drawn over 64 bits (from 2^63 up, all distinct) rather than
    /// issued in sequence from 2^62.
    pub random: bool,
}

/// A bijection of the 63-bit numbers (xorshift-multiply rounds modulo
/// 2^63), so that padding serials drawn "at random" never repeat.
fn scatter(index: u64) -> u64 {
    const MASK: u64 = (1 << 63) - 1;
    let mut x = index & MASK;
    x ^= x >> 31;
    x = x.wrapping_mul(0x7FB5_D329_728E_A185) & MASK;
    x ^= x >> 27;
    x = x.wrapping_mul(0x81DA_DEF4_BC2D_D44D) & MASK;
    x ^ (x >> 33)
}

/// Padding entries up to `padding.entries`, for certificates of people
/// outside the insured population: serials from 2^62 up in sequence as a
/// CA issues them, or scattered over 2^63.. (the generator's own are below
/// 2^62).
fn pad(listed: usize, padding: Padding, today: Date) -> Vec<CrlEntry> {
    (listed as u64..padding.entries)
        .map(|i| CrlEntry {
            serial: Serial::from_u64(match padding.random {
                true => (1 << 63) | scatter(i),
                false => (1 << 62) + i,
            }),
            revoked_on: today.add_days(-((i % 1800) as i32) - 1),
            reason: match i % 10 {
                0 => RevocationReason::CertificateHold,
                1..=3 => RevocationReason::KeyCompromise,
                4..=6 => RevocationReason::Superseded,
                _ => RevocationReason::CessationOfOperation,
            },
        })
        .collect()
}

/// Writes the test PKI for the dataset in `dir` (whose `revoked.csv` and
/// `linkage.csv` are already written); `revoked.csv` moves under `pki/`.
/// `padding` pads the CRL beyond the dataset's own revocations.
pub fn write(dir: &Path, seed: u64, today: Date, padding: Option<Padding>) -> Result<PkiSummary> {
    let pki = dir.join("pki");
    let certificates = pki.join("certificates");
    std::fs::create_dir_all(&certificates)
        .with_context(|| format!("cannot create {}", certificates.display()))?;
    let listed_path = pki.join("revoked.csv");
    std::fs::rename(dir.join("revoked.csv"), &listed_path)
        .with_context(|| format!("cannot move revoked.csv to {}", listed_path.display()))?;
    let mut entries = read_entries(&listed_path)?;
    let listed = entries.len();
    if let Some(padding) = padding {
        entries.extend(pad(listed, padding, today));
    }

    let ca = TestCa::new(seed, 0)?;
    let number = today.days() as u64;
    write_file(&dir.join("crl-issuer.pem"), ca.certificate_pem().as_bytes())?;
    write_file(&pki.join("ca-key.pem"), ca.key_pem().as_bytes())?;
    write_file(
        &dir.join("crl.der"),
        &ca.sign_crl(&entries, today, 2, number)?,
    )?;
    let older = ca.sign_crl(&entries[..listed], today.add_days(-1), 2, number - 1)?;
    write_file(&pki.join("crl-older.der"), &older)?;
    let impostor = TestCa::new(seed, 1)?;
    let wrong = impostor.sign_crl(&entries[..listed], today, 2, number)?;
    write_file(&pki.join("crl-wrong-signature.der"), &wrong)?;

    let samples = sample_certificates(dir, &entries[..listed], today)?;
    let mut index = b"file,serial,kind\n".to_vec();
    for (kind, serial, not_before, not_after) in &samples {
        let file = format!("{}.pem", serial.to_string().trim_start_matches("0x"));
        let pem = ca.issue(serial, *not_before, *not_after)?;
        write_file(&certificates.join(&file), pem.as_bytes())?;
        writeln!(index, "certificates/{file},{serial},{kind}")?;
    }
    write_file(&pki.join("certificates.csv"), &index)?;
    Ok(PkiSummary {
        crl_entries: entries.len() as u64,
        certificates: samples.len() as u64,
    })
}

type Sample = (&'static str, Serial, Date, Date);

/// Which certificates to issue: linked and current, linked but expired,
/// revoked, suspended, and never linked.
fn sample_certificates(dir: &Path, listed: &[CrlEntry], today: Date) -> Result<Vec<Sample>> {
    let current = (today.add_days(-400), today.add_days(4 * 365));
    let expired = (today.add_days(-5 * 365 - 30), today.add_days(-30));
    let on_crl: std::collections::HashSet<Serial> = listed.iter().map(|e| e.serial).collect();
    let path = crate::snapshot::write::Sources::require(dir, "linkage.csv")?;
    let mut reader = csv::Reader::from_reader(open_decompressed(&path)?);
    let mut linked = Vec::new();
    for record in reader.records() {
        let record = record?;
        let serial = Serial::parse(&record[0]).map_err(|e| anyhow!("{e}"))?;
        if !on_crl.contains(&serial) {
            linked.push(serial);
        }
        if linked.len() == 2 * SAMPLES_PER_KIND {
            break;
        }
    }
    let mut out = Vec::new();
    let (first, second) = linked.split_at(linked.len() / 2);
    out.extend(first.iter().map(|s| ("current", *s, current.0, current.1)));
    out.extend(second.iter().map(|s| ("expired", *s, expired.0, expired.1)));
    for (kind, hold) in [("revoked", false), ("suspended", true)] {
        out.extend(
            listed
                .iter()
                .filter(|e| (e.reason == RevocationReason::CertificateHold) == hold)
                .take(SAMPLES_PER_KIND)
                .map(|e| (kind, e.serial, current.0, current.1)),
        );
    }
    out.extend((0..SAMPLES_PER_KIND as u64).map(|i| {
        (
            "unlinked",
            Serial::from_u64((3 << 61) + i),
            current.0,
            current.1,
        )
    }));
    Ok(out)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

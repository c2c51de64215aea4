//! A test PKI for mutual TLS: an institution CA, a server certificate for
//! the loopback addresses, one client certificate per institution (the
//! 10-digit institution code as its common name), the CA's CRL revoking
//! the last few, and an `institutions.csv` that registers every
//! institution with a token and its certificate's fingerprint.
//!
//! Keys are ECDSA P-256 drawn at random (rcgen on ring), so two runs give
//! different files. For an RSA-2048 server key, use `openssl` (the README
//! shows how). Layout written into `out`:
//! - `ca.pem`, `ca-key.pem`: the institution CA (test material only);
//! - `server.pem`, `server-key.pem`: for `tls_cert` and `tls_key`
//!   (names `localhost`, `127.0.0.1`, `::1`);
//! - `clients/CODE.pem`, `clients/CODE-key.pem`: each institution's;
//! - `clients.csv`: `institution_code,certificate,key,token,sha256,status`
//!   (status `current` or `revoked`), for load tests and scripts;
//! - `crl.der`: the CA's CRL (valid seven days) listing the revoked ones;
//! - `institutions.csv`: the registry, tokens and pinned fingerprints.

use crate::model::{InstitutionCode, Sha256};
use anyhow::{anyhow, Context, Result};
use rand::RngCore;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use std::io::Write;
use std::path::Path;
use time::{Duration, OffsetDateTime};

/// What to make.
#[derive(Clone, Debug)]
pub struct TlsGenOptions {
    /// Institutions to issue a client certificate for.
    pub institutions: u32,
    /// How many of them (the last ones) the CRL revokes.
    pub revoked: u32,
    /// Days the client and server certificates are valid from now.
    pub valid_days: i64,
}

/// One institution's credentials, as `clients.csv` lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The institution code, also the certificate's common name.
    pub code: InstitutionCode,
    /// The bearer token registered for it.
    pub token: String,
    /// SHA-256 of the certificate's DER, lower-case hex.
    pub sha256: String,
    /// Whether the CRL lists it.
    pub revoked: bool,
}

/// The CA: its key and what it signs as.
struct Ca {
    key: KeyPair,
    params: CertificateParams,
}

impl Ca {
    fn new() -> Result<(Ca, String)> {
        let key = KeyPair::generate().map_err(|e| anyhow!("cannot make the CA key: {e}"))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&[
            (DnType::CountryName, "JP"),
            (DnType::OrganizationName, "shikaku test"),
            (DnType::CommonName, "shikaku test institution CA"),
        ]);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = OffsetDateTime::now_utc() - Duration::days(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(3650);
        params.serial_number = Some(SerialNumber::from_slice(&[1]));
        params.key_identifier_method = KeyIdMethod::Sha256;
        let pem = params
            .self_signed(&key)
            .map_err(|e| anyhow!("cannot sign the CA: {e}"))?
            .pem();
        Ok((Ca { key, params }, pem))
    }

    /// Issues a leaf certificate: (certificate PEM, key PEM, SHA-256 of the DER).
    fn issue(
        &self,
        mut params: CertificateParams,
        serial: u64,
        valid_days: i64,
    ) -> Result<(String, String, String)> {
        let key = KeyPair::generate().map_err(|e| anyhow!("cannot make a key: {e}"))?;
        params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
        params.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
        params.not_after = OffsetDateTime::now_utc() + Duration::days(valid_days);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        let certificate = params
            .signed_by(&key, &Issuer::from_params(&self.params, &self.key))
            .map_err(|e| anyhow!("cannot issue certificate {serial}: {e}"))?;
        let sha256 = Sha256::of(certificate.der()).to_string();
        Ok((certificate.pem(), key.serialize_pem(), sha256))
    }

    /// The CRL listing `serials`, valid seven days from now.
    fn sign_crl(&self, serials: &[u64]) -> Result<Vec<u8>> {
        let now = OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now - Duration::minutes(5),
            next_update: now + Duration::days(7),
            crl_number: SerialNumber::from_slice(&now.unix_timestamp().to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|serial| RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&serial.to_be_bytes()),
                    revocation_time: now - Duration::minutes(10),
                    reason_code: Some(RevocationReason::CessationOfOperation),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&Issuer::from_params(&self.params, &self.key))
            .map_err(|e| anyhow!("cannot sign the CRL: {e}"))?;
        Ok(crl.der().to_vec())
    }
}

fn name(parts: &[(DnType, &str)]) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    for (kind, value) in parts {
        name.push(kind.clone(), *value);
    }
    name
}

/// The `n`th test institution's code: prefecture 13 (Tokyo), medical
/// class 1, then a six-digit number.
fn institution_code(n: u32) -> Result<InstitutionCode> {
    InstitutionCode::parse(&format!("131{:06}0", n % 1_000_000))
        .map_err(|e| anyhow!("institution code {n}: {e}"))
}

/// Writes the PKI into `out` (see the module docs); returns the clients.
pub fn write(out: &Path, options: &TlsGenOptions) -> Result<Vec<ClientCredentials>> {
    if options.revoked > options.institutions {
        return Err(anyhow!(
            "--revoked: {} is more than the {} institutions",
            options.revoked,
            options.institutions
        ));
    }
    let clients_dir = out.join("clients");
    std::fs::create_dir_all(&clients_dir)
        .with_context(|| format!("cannot create {}", clients_dir.display()))?;
    let (ca, ca_pem) = Ca::new()?;
    put(out, "ca.pem", ca_pem.as_bytes())?;
    put(out, "ca-key.pem", ca.key.serialize_pem().as_bytes())?;
    let mut server = CertificateParams::new(vec!["localhost".to_string()])
        .map_err(|e| anyhow!("server name: {e}"))?;
    server.distinguished_name = name(&[(DnType::CommonName, "shikaku test server")]);
    server.subject_alt_names.extend([
        SanType::IpAddress([127, 0, 0, 1].into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ]);
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let (cert, key, _) = ca.issue(server, 2, options.valid_days)?;
    put(out, "server.pem", cert.as_bytes())?;
    put(out, "server-key.pem", key.as_bytes())?;
    let mut clients = Vec::new();
    let mut revoked_serials = Vec::new();
    for n in 0..options.institutions {
        let code = institution_code(n + 1)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&[
            (DnType::CountryName, "JP"),
            (DnType::OrganizationName, "shikaku test institution"),
            (DnType::CommonName, &code.to_string()),
        ]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let serial = 1000 + u64::from(n);
        let (cert, key, sha256) = ca.issue(params, serial, options.valid_days)?;
        put(&clients_dir, &format!("{code}.pem"), cert.as_bytes())?;
        put(&clients_dir, &format!("{code}-key.pem"), key.as_bytes())?;
        let revoked = n >= options.institutions - options.revoked;
        if revoked {
            revoked_serials.push(serial);
        }
        clients.push(ClientCredentials {
            code,
            token: random_token(),
            sha256,
            revoked,
        });
    }
    put(out, "crl.der", &ca.sign_crl(&revoked_serials)?)?;
    write_tables(out, &clients)?;
    Ok(clients)
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_tables(out: &Path, clients: &[ClientCredentials]) -> Result<()> {
    let mut registry = String::from("institution_code,name,prefecture,token,certificate_sha256\n");
    let mut listing = String::from("institution_code,certificate,key,token,sha256,status\n");
    for client in clients {
        let code = client.code;
        registry.push_str(&format!(
            "{code},テスト医院{code},東京都,{},{}\n",
            client.token, client.sha256
        ));
        listing.push_str(&format!(
            "{code},clients/{code}.pem,clients/{code}-key.pem,{},{},{}\n",
            client.token,
            client.sha256,
            if client.revoked { "revoked" } else { "current" }
        ));
    }
    put(out, "institutions.csv", registry.as_bytes())?;
    put(out, "clients.csv", listing.as_bytes())
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

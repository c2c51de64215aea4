//! TLS towards the API, as the national front end or a hospital system
//! would speak it: the CA the server's certificate chains to, and client
//! certificates presented in turn, one per connection, so that a pool of
//! connections looks like a pool of institutions. A connection presenting
//! an institution's certificate makes its checks for that institution.
//!
//! Handshakes are timed apart from requests (a keep-alive pool pays them
//! once, a new-connection run on every request), and counted full or
//! resumed: rustls keeps session tickets, so a reconnect resumes.

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Where the TLS material comes from (`[target]` in a scenario, or flags).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSpec {
    /// PEM bundle the server's certificate must chain to.
    pub ca_cert: Option<PathBuf>,
    /// One client certificate (PEM), for the checks' institution.
    pub client_cert: Option<PathBuf>,
    /// Its private key (PEM).
    pub client_key: Option<PathBuf>,
    /// A pool of client certificates: a CSV with `institution_code`,
    /// `certificate`, `key` (paths relative to the file) and optionally
    /// `status` (lines `revoked` are skipped), as `shikaku tls gen` writes
    /// `clients.csv`. Connections take them in turn.
    pub client_certs: Option<PathBuf>,
}

/// Handshakes made, for the summary.
#[derive(Debug, Default)]
pub struct HandshakeStats {
    full: AtomicU64,
    resumed: AtomicU64,
    failed: AtomicU64,
    micros_total: AtomicU64,
    micros_max: AtomicU64,
}

/// Handshakes as the summary reports them.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HandshakeSummary {
    pub full: u64,
    pub resumed: u64,
    pub failed: u64,
    /// Mean and longest time from TCP connect to an established session.
    pub mean_ms: f64,
    pub max_ms: f64,
    /// Client identities (certificates) the connections took in turn.
    pub identities: usize,
}

/// One client identity: a connector presenting its certificate.
struct Identity {
    connector: TlsConnector,
    /// The institution its certificate is for (`None`: the scenario's).
    institution: Option<Arc<str>>,
}

/// The client side of TLS: identities taken in turn, and the handshakes.
pub struct TlsClients {
    identities: Vec<Identity>,
    next: AtomicUsize,
    server_name: ServerName<'static>,
    stats: HandshakeStats,
}

impl std::fmt::Debug for TlsClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClients")
            .field("identities", &self.identities.len())
            .finish_non_exhaustive()
    }
}

impl TlsClients {
    /// Reads `spec` for connections to `host`; the error names the field.
    pub fn load(spec: &TlsSpec, host: &str) -> Result<TlsClients> {
        let ca = spec.ca_cert.as_ref().ok_or_else(|| {
            anyhow!("target.ca_cert: an https:// target needs the CA its certificate chains to")
        })?;
        let mut roots = rustls::RootCertStore::empty();
        for certificate in CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("target.ca_cert {}", ca.display()))?
        {
            roots
                .add(certificate.with_context(|| format!("target.ca_cert {}", ca.display()))?)
                .with_context(|| format!("target.ca_cert {}", ca.display()))?;
        }
        let roots = Arc::new(roots);
        let identities = match (&spec.client_certs, &spec.client_cert, &spec.client_key) {
            (Some(listing), None, None) => pool(listing, &roots)?,
            (None, Some(cert), Some(key)) => vec![identity(&roots, Some((cert, key)), None)?],
            (None, None, None) => vec![identity(&roots, None, None)?],
            (Some(_), _, _) => {
                bail!("target.client_certs: give a pool or one client_cert, not both")
            }
            _ => bail!("target.client_cert: needs client_key too (and the other way round)"),
        };
        let server_name = ServerName::try_from(host.to_string())
            .map_err(|e| anyhow!("target.url: {host:?} is not a TLS server name ({e})"))?;
        Ok(TlsClients {
            identities,
            next: AtomicUsize::new(0),
            server_name,
            stats: HandshakeStats::default(),
        })
    }

    /// Connects over TLS with the next identity: the stream and the
    /// institution its certificate is for.
    pub async fn connect(
        &self,
        stream: TcpStream,
        started: Instant,
    ) -> std::io::Result<(TlsStream<TcpStream>, Option<Arc<str>>)> {
        let identity = &self.identities[self.next.fetch_add(1, Relaxed) % self.identities.len()];
        let result = identity
            .connector
            .connect(self.server_name.clone(), stream)
            .await;
        let stream = match result {
            Ok(stream) => stream,
            Err(error) => {
                self.stats.failed.fetch_add(1, Relaxed);
                return Err(error);
            }
        };
        let micros = started.elapsed().as_micros() as u64;
        self.stats.micros_total.fetch_add(micros, Relaxed);
        self.stats.micros_max.fetch_max(micros, Relaxed);
        let resumed = stream.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        let counter = if resumed {
            &self.stats.resumed
        } else {
            &self.stats.full
        };
        counter.fetch_add(1, Relaxed);
        Ok((stream, identity.institution.clone()))
    }

    pub fn summary(&self) -> HandshakeSummary {
        let full = self.stats.full.load(Relaxed);
        let resumed = self.stats.resumed.load(Relaxed);
        let done = (full + resumed).max(1) as f64;
        HandshakeSummary {
            full,
            resumed,
            failed: self.stats.failed.load(Relaxed),
            mean_ms: self.stats.micros_total.load(Relaxed) as f64 / done / 1000.0,
            max_ms: self.stats.micros_max.load(Relaxed) as f64 / 1000.0,
            identities: self.identities.len(),
        }
    }
}

fn identity(
    roots: &Arc<rustls::RootCertStore>,
    certificate: Option<(&PathBuf, &PathBuf)>,
    institution: Option<Arc<str>>,
) -> Result<Identity> {
    #[allow(deprecated)] // ring: rustls deprecates it only for lacking post-quantum key exchange
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("TLS: {e}"))?
        .with_root_certificates(roots.clone());
    let mut config = match certificate {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .with_context(|| format!("client certificate {}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("client key {}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .with_context(|| format!("client certificate {}", cert.display()))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Identity {
        connector: TlsConnector::from(Arc::new(config)),
        institution,
    })
}

/// The identities a `clients.csv` lists, revoked ones left out.
fn pool(listing: &Path, roots: &Arc<rustls::RootCertStore>) -> Result<Vec<Identity>> {
    let field = || format!("target.client_certs {}", listing.display());
    let base = listing.parent().unwrap_or(Path::new("."));
    let mut reader = csv::Reader::from_path(listing).with_context(field)?;
    let headers = reader.headers().with_context(field)?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| anyhow!("{}: no {name} column", field()))
    };
    let (code, cert, key) = (
        column("institution_code")?,
        column("certificate")?,
        column("key")?,
    );
    let status = headers.iter().position(|h| h == "status");
    let mut identities = Vec::new();
    for record in reader.records() {
        let record = record.with_context(field)?;
        if status.and_then(|s| record.get(s)) == Some("revoked") {
            continue;
        }
        let paths = (base.join(&record[cert]), base.join(&record[key]));
        identities.push(identity(
            roots,
            Some((&paths.0, &paths.1)),
            Some(record[code].into()),
        )?);
    }
    if identities.is_empty() {
        bail!("{}: no current client certificate listed", field());
    }
    Ok(identities)
}

/// `body` with every occurrence of institution code `from` replaced by
/// `to` (codes have the same length, so JSON and NDJSON stay valid).
pub fn for_institution(body: &Bytes, from: &str, to: &str) -> Bytes {
    if from == to || from.len() != to.len() || from.is_empty() {
        return body.clone();
    }
    let (from, to) = (from.as_bytes(), to.as_bytes());
    let mut out = body.to_vec();
    let mut at = 0;
    while let Some(found) = out[at..].windows(from.len()).position(|w| w == from) {
        let start = at + found;
        out[start..start + to.len()].copy_from_slice(to);
        at = start + to.len();
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_are_rewritten_for_the_connection_institution() {
        let body = Bytes::from_static(
            b"{\"institution\":\"1312345678\",\"serial\":\"0x11\"}\n{\"institution\":\"1312345678\"}\n",
        );
        let rewritten = for_institution(&body, "1312345678", "1310000010");
        assert_eq!(
            &rewritten[..],
            b"{\"institution\":\"1310000010\",\"serial\":\"0x11\"}\n{\"institution\":\"1310000010\"}\n"
        );
        assert_eq!(for_institution(&body, "1312345678", "1312345678"), body);
    }
}

//! TLS on a listener (rustls through tokio-rustls, under the same hyper
//! connection code): the server's certificate, client certificates checked
//! against a CA bundle and its CRL, and a reload that swaps all of it for
//! new connections without a restart.
//!
//! A client certificate is judged twice. At the handshake, rustls' webpki
//! verifier checks the chain and the validity period, then [`verifier`]
//! searches the serial in the CA's CRL (the same revocation sets the user
//! CRL is held in). On every request, [`TlsEndpoint::check_peer`] judges the
//! connection's certificate again against the CRL live *now* and the clock:
//! a kept-alive connection can outlive a revocation or an expiry, and a
//! resumed session skips the verifier altogether.
//!
//! Everything a reload reads is read and checked before anything is
//! swapped: a damaged file is refused with its reason and the configuration
//! in service stays.

pub mod peer;
mod verifier;

use crate::crl::gate::StaleCrl;
use crate::crl::trust::CaCertificate;
use crate::crl::Crl;
use crate::model::clock::SharedClock;
use arc_swap::{ArcSwap, ArcSwapOption};
use peer::{IdentityAttribute, PeerCertificate};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ServerSessionMemoryCache;
use rustls::{HandshakeKind, ServerConfig};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// TLS sessions kept for resumption by session id (TLS 1.2); TLS 1.3
/// resumes from tickets and needs no server-side memory.
const SESSION_CACHE: usize = 16_384;

/// Whether a listener asks its clients for a certificate (`client_auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present one from the CA: no certificate, no handshake.
    Required,
    /// A certificate is asked for and checked when sent; a client without
    /// one is let through to authenticate otherwise (a token).
    Optional,
    /// None is asked for.
    Off,
}

impl ClientAuth {
    /// The setting's value.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuth::Required => "required",
            ClientAuth::Optional => "optional",
            ClientAuth::Off => "off",
        }
    }

    /// Parses the setting: `required`, `optional` or `off`.
    pub fn parse(text: &str) -> Result<ClientAuth, String> {
        match text {
            "required" => Ok(ClientAuth::Required),
            "optional" => Ok(ClientAuth::Optional),
            "off" => Ok(ClientAuth::Off),
            other => Err(format!("`{other}`: expected required, optional or off")),
        }
    }
}

/// The files of one listener's TLS, and how its clients are identified.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    /// The server's certificate chain (PEM, leaf first).
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// The CA bundle client certificates must chain to (PEM).
    pub client_ca: Option<PathBuf>,
    /// That CA's revocation list (DER or PEM).
    pub client_crl: Option<PathBuf>,
    /// Whether clients are asked for a certificate.
    pub client_auth: ClientAuth,
    /// Which subject attribute holds the institution code.
    pub identity: IdentityAttribute,
    /// A CRL past its nextUpdate: alarm, or refuse every client certificate.
    pub stale: StaleCrl,
}

/// Why a connection's certificate is no longer accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PeerRefusal {
    Revoked,
    Expired,
    /// The CRL is past its nextUpdate and `stale_crl = refuse`.
    StaleList(String),
}

impl std::fmt::Display for PeerRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerRefusal::Revoked => write!(f, "revoked by the CA's CRL; connect again with a current certificate"),
            PeerRefusal::Expired => write!(f, "expired; connect again with a current certificate"),
            PeerRefusal::StaleList(next) => write!(
                f,
                "the client CA's CRL is past its nextUpdate ({next}) and stale_crl = refuse; the operator must load a current one"
            ),
        }
    }
}

/// The client CA's CRL in service, shared by the handshake verifier and
/// the per-request check.
pub(crate) struct ClientRevocations {
    live: ArcSwapOption<Crl>,
    stale: StaleCrl,
    clock: SharedClock,
    /// Whether the stale alarm was logged for the CRL in service.
    stale_logged: AtomicBool,
}

impl std::fmt::Debug for ClientRevocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRevocations")
            .field("stale", &self.stale)
            .finish_non_exhaustive()
    }
}

impl ClientRevocations {
    /// Whether `serial` may still be used: not listed, and the list usable.
    pub(crate) fn judge(&self, serial: &crate::model::Serial) -> Result<(), PeerRefusal> {
        let Some(crl) = self.live.load_full() else {
            return Ok(());
        };
        if crl.is_stale(self.clock.utc()) {
            let next = next_update(&crl);
            if !self.stale_logged.swap(true, Ordering::Relaxed) {
                eprintln!("shikaku: ALARM: the client CA's CRL {} is past its nextUpdate ({next}); load a current one (POST /admin/tls/reload)", crl.id());
            }
            if self.stale == StaleCrl::Refuse {
                return Err(PeerRefusal::StaleList(next));
            }
        }
        match crl.status(serial) {
            Some(_) => Err(PeerRefusal::Revoked),
            None => Ok(()),
        }
    }

    fn replace(&self, crl: Option<Arc<Crl>>) {
        self.live.store(crl);
        self.stale_logged.store(false, Ordering::Relaxed);
    }

    /// The CRL in service, for the status report.
    fn describe(&self) -> Value {
        match self.live.load_full() {
            None => Value::Null,
            Some(crl) => json!({
                "id": crl.id(),
                "issuer": crl.meta().map(|m| m.issuer.clone()),
                "entries": crl.entries(),
                "next_update": crl.meta().and_then(|m| m.next_update.clone()),
                "stale": crl.is_stale(self.clock.utc()),
            }),
        }
    }
}

fn next_update(crl: &Crl) -> String {
    crl.meta()
        .and_then(|m| m.next_update.clone())
        .unwrap_or_default()
}

/// Handshakes and refusals of one listener, for metrics.
#[derive(Debug, Default)]
pub(crate) struct TlsCounters {
    pub full: AtomicU64,
    pub resumed: AtomicU64,
    pub failed: AtomicU64,
    /// Requests refused because their connection's certificate no longer holds.
    pub refused_requests: AtomicU64,
}

/// One listener's TLS: what new connections get, swapped whole on reload.
pub(crate) struct TlsEndpoint {
    files: TlsFiles,
    config: ArcSwap<ServerConfig>,
    revocations: Arc<ClientRevocations>,
    /// What was loaded, for the status report.
    loaded: ArcSwap<Value>,
    pub counters: TlsCounters,
}

/// Everything read from the files, checked, before it goes into service.
struct Loaded {
    config: Arc<ServerConfig>,
    crl: Option<Arc<Crl>>,
    description: Value,
}

impl TlsEndpoint {
    /// Reads `files`; the error names the setting, the file and the problem.
    pub(crate) fn load(files: TlsFiles, clock: SharedClock) -> Result<TlsEndpoint, String> {
        let revocations = Arc::new(ClientRevocations {
            live: ArcSwapOption::empty(),
            stale: files.stale,
            clock,
            stale_logged: AtomicBool::new(false),
        });
        let loaded = Loaded::read(&files, &revocations)?;
        revocations.replace(loaded.crl);
        Ok(TlsEndpoint {
            files,
            config: ArcSwap::new(loaded.config),
            revocations,
            loaded: ArcSwap::from_pointee(loaded.description),
            counters: TlsCounters::default(),
        })
    }

    /// Reads the files again and, when all of them are good, serves new
    /// connections with them (connections already open keep theirs, but
    /// each of their requests is judged against the new CRL). Returns what
    /// is now loaded, or why nothing changed.
    pub(crate) fn reload(&self) -> Result<Value, String> {
        let loaded = Loaded::read(&self.files, &self.revocations)?;
        self.config.store(loaded.config);
        self.revocations.replace(loaded.crl);
        self.loaded.store(Arc::new(loaded.description));
        Ok(self.describe())
    }

    /// What is loaded now, and the alarms an operator must see.
    pub(crate) fn describe(&self) -> Value {
        let mut description = (**self.loaded.load()).clone();
        description["client_crl"] = self.revocations.describe();
        description
    }

    /// Alarms of this listener's TLS: client certificates asked for with
    /// no CRL to revoke them, or a CRL past its nextUpdate.
    pub(crate) fn alarms(&self) -> Vec<String> {
        let mut alarms = Vec::new();
        if self.files.client_auth != ClientAuth::Off && self.files.client_crl.is_none() {
            alarms.push(
                "no client_crl: a revoked client certificate is accepted until it expires"
                    .to_string(),
            );
        }
        if let Some(crl) = self.revocations.live.load_full() {
            if crl.is_stale(self.revocations.clock.utc()) {
                alarms.push(format!(
                    "the client CA's CRL {} is past its nextUpdate ({})",
                    crl.id(),
                    next_update(&crl)
                ));
            }
        }
        alarms
    }

    /// Whether the certificate of a connection may still be used now.
    pub(crate) fn check_peer(&self, peer: &PeerCertificate) -> Result<(), PeerRefusal> {
        let verdict = if peer.not_after < self.revocations.clock.utc() {
            Err(PeerRefusal::Expired)
        } else {
            self.revocations.judge(&peer.serial)
        };
        if verdict.is_err() {
            self.counters
                .refused_requests
                .fetch_add(1, Ordering::Relaxed);
        }
        verdict
    }

    /// Runs the handshake on `stream` within `timeout`: the TLS stream and
    /// the client's certificate, or `None` (counted) when it fails.
    pub(crate) async fn accept<S>(
        &self,
        stream: S,
        timeout: Duration,
    ) -> Option<(TlsStream<S>, Option<Arc<PeerCertificate>>)>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(self.config.load_full());
        let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(_)) | Err(_) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        let connection = stream.get_ref().1;
        let counter = match connection.handshake_kind() {
            Some(HandshakeKind::Resumed) => &self.counters.resumed,
            _ => &self.counters.full,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let peer = match connection
            .peer_certificates()
            .and_then(|chain| chain.first())
        {
            None => None,
            Some(der) => match PeerCertificate::parse(der, self.files.identity) {
                Ok(peer) => Some(Arc::new(peer)),
                Err(_) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
            },
        };
        Some((stream, peer))
    }
}

impl Loaded {
    fn read(files: &TlsFiles, revocations: &Arc<ClientRevocations>) -> Result<Loaded, String> {
        let chain = read_chain(&files.cert)?;
        let key = PrivateKeyDer::from_pem_file(&files.key)
            .map_err(|e| format!("tls_key {}: no private key read ({e})", files.key.display()))?;
        let server = describe_certificate(&chain[0]);
        // ring, the crypto the rest of shikaku verifies signatures with;
        // rustls marks it deprecated only for lacking post-quantum key
        // exchange (X25519MLKEM768), which aws-lc-rs would bring.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS: {e}"))?;
        let (builder, cas, crl) = match (&files.client_ca, files.client_auth) {
            (Some(path), auth) if auth != ClientAuth::Off => {
                let cas = CaCertificate::read_bundle(path)
                    .map_err(|e| format!("client_ca {}: {e}", path.display()))?;
                let crl = match &files.client_crl {
                    Some(path) => Some(Arc::new(read_crl(path, &cas)?)),
                    None => None,
                };
                let verifier = verifier::verifier(&cas, auth, provider, revocations.clone())
                    .map_err(|e| format!("client_ca {}: {e}", path.display()))?;
                let subjects: Vec<String> = cas.iter().map(|ca| ca.subject().to_string()).collect();
                (builder.with_client_cert_verifier(verifier), subjects, crl)
            }
            _ => (builder.with_no_client_auth(), Vec::new(), None),
        };
        let mut config = builder.with_single_cert(chain, key).map_err(|e| {
            format!(
                "tls_key {}: cannot serve with tls_cert {} ({e})",
                files.key.display(),
                files.cert.display()
            )
        })?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
        config.ticketer =
            rustls::crypto::ring::Ticketer::new().map_err(|e| format!("TLS tickets: {e}"))?;
        let description = json!({
            "server_certificate": server,
            "client_auth": files.client_auth.as_str(),
            "client_cas": cas,
        });
        Ok(Loaded {
            config: Arc::new(config),
            crl,
            description,
        })
    }
}

/// The server's certificate chain, leaf first.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let in_file = |problem: String| format!("tls_cert {}: {problem}", path.display());
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| in_file(format!("cannot read ({e})")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| in_file(format!("not PEM certificates ({e})")))?;
    if chain.is_empty() {
        return Err(in_file("holds no CERTIFICATE block".into()));
    }
    Ok(chain)
}

/// The client CA's CRL, its signature checked against one of `cas`.
fn read_crl(path: &Path, cas: &[CaCertificate]) -> Result<Crl, String> {
    let imported =
        crate::crl::import(path, cas).map_err(|e| format!("client_crl: {}", e.message))?;
    Crl::new(
        imported.meta.default_id(),
        Some(imported.meta),
        imported.sets,
    )
    .map_err(|e| format!("client_crl {}: {}", path.display(), e.message))
}

fn describe_certificate(der: &CertificateDer<'_>) -> Value {
    match PeerCertificate::parse(der, IdentityAttribute::Fingerprint) {
        Ok(certificate) => json!({
            "subject": certificate.subject,
            "not_after": certificate.not_after.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "sha256": certificate.fingerprint.to_string(),
        }),
        Err(problem) => json!({ "problem": problem }),
    }
}

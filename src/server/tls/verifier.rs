//! The handshake's client-certificate check: rustls' webpki verifier for
//! the chain, the signature and the validity period, then the serial
//! searched in the CA's CRL as shikaku holds it ([`ClientRevocations`]),
//! so that the handshake and every later request judge revocation by the
//! same list and the same code.

use super::peer::serial_of;
use super::{ClientAuth, ClientRevocations, PeerRefusal};
use crate::crl::trust::CaCertificate;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore,
    SignatureScheme,
};
use std::sync::Arc;

/// The verifier for clients of `cas`, asking for a certificate as `auth` says.
pub(super) fn verifier(
    cas: &[CaCertificate],
    auth: ClientAuth,
    provider: Arc<CryptoProvider>,
    revocations: Arc<ClientRevocations>,
) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        roots
            .add(CertificateDer::from(ca.der().to_vec()))
            .map_err(|e| format!("`{}` is not a usable trust anchor ({e})", ca.subject()))?;
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    if auth == ClientAuth::Optional {
        builder = builder.allow_unauthenticated();
    }
    let chain = builder.build().map_err(|e| e.to_string())?;
    Ok(Arc::new(RevocationChecking { chain, revocations }))
}

/// webpki's verifier, then the CRL.
#[derive(Debug)]
struct RevocationChecking {
    chain: Arc<dyn ClientCertVerifier>,
    revocations: Arc<ClientRevocations>,
}

impl ClientCertVerifier for RevocationChecking {
    fn offer_client_auth(&self) -> bool {
        self.chain.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.chain.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .chain
            .verify_client_cert(end_entity, intermediates, now)?;
        let serial = serial_of(end_entity)
            .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        match self.revocations.judge(&serial) {
            Ok(()) => Ok(verified),
            Err(PeerRefusal::Revoked) => Err(Error::InvalidCertificate(CertificateError::Revoked)),
            Err(PeerRefusal::Expired) => Err(Error::InvalidCertificate(CertificateError::Expired)),
            Err(PeerRefusal::StaleList(_)) => Err(Error::InvalidCertificate(
                CertificateError::ExpiredRevocationList,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}

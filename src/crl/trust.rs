//! Certificate authorities and signature checks.
//!
//! A [`CaCertificate`] is what a CRL and a user certificate are checked
//! against: its subject must be their issuer and its key must verify their
//! signature. Certificates are decoded with `x509-cert`; signatures are
//! verified with `ring`, for the algorithms a JPKI-style CA uses
//! (RSA PKCS#1 v1.5 with SHA-256/384/512) and the common modern ones (ECDSA
//! P-256/P-384, Ed25519). SHA-1 and RSA-PSS are refused by name.

use base64::Engine as _;
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use x509_cert::Certificate;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA1_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const RSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// A CA certificate trusted to sign CRLs and user certificates.
#[derive(Clone)]
pub struct CaCertificate {
    der: Vec<u8>,
    subject_der: Vec<u8>,
    subject: String,
    key: PublicKey,
}

/// Which CAs user certificates (and CRL files imported at activation) are
/// checked against, and whether certificate signatures are verified.
pub struct Trust {
    /// The `user_ca` setting; when unset, the live CRL's issuer is trusted.
    pub configured: Option<Vec<CaCertificate>>,
    /// Whether user-certificate signatures are verified (on unless the
    /// operator switched it off).
    pub verify_signatures: bool,
}

impl Trust {
    /// Trust in the live CRL's issuer alone, signatures verified (no
    /// `user_ca` setting).
    pub fn live_crl_issuer() -> Trust {
        Trust {
            configured: None,
            verify_signatures: true,
        }
    }

    /// The CAs to check against while `crl` is live.
    pub fn cas<'a>(&'a self, crl: &'a super::Crl) -> &'a [CaCertificate] {
        match (&self.configured, crl.issuer()) {
            (Some(configured), _) => configured,
            (None, Some(issuer)) => std::slice::from_ref(issuer),
            (None, None) => &[],
        }
    }
}

#[derive(Clone)]
struct PublicKey {
    algorithm: ObjectIdentifier,
    curve: Option<ObjectIdentifier>,
    bytes: Vec<u8>,
}

impl std::fmt::Debug for CaCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CaCertificate({})", self.subject)
    }
}

impl PartialEq for CaCertificate {
    fn eq(&self, other: &CaCertificate) -> bool {
        self.der == other.der
    }
}

impl CaCertificate {
    /// Decodes one certificate, DER or PEM.
    pub fn parse(bytes: &[u8]) -> Result<CaCertificate, String> {
        let (certificate, _) = certificate_der(bytes)?;
        CaCertificate::from_certificate(&certificate)
    }

    /// Every certificate of a PEM bundle (or one DER certificate).
    pub fn parse_bundle(bytes: &[u8]) -> Result<Vec<CaCertificate>, String> {
        if !looks_like_pem(bytes) {
            return Ok(vec![CaCertificate::parse(bytes)?]);
        }
        let certificates = Certificate::load_pem_chain(bytes)
            .map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
        if certificates.is_empty() {
            return Err("no CERTIFICATE block found".into());
        }
        certificates
            .iter()
            .map(CaCertificate::from_certificate)
            .collect()
    }

    /// Reads a CA certificate file (PEM bundle or DER); the error names it.
    pub fn read_bundle(path: &std::path::Path) -> Result<Vec<CaCertificate>, String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("{}: cannot read ({e})", path.display()))?;
        CaCertificate::parse_bundle(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn from_certificate(certificate: &Certificate) -> Result<CaCertificate, String> {
        let tbs = &certificate.tbs_certificate;
        let der = certificate
            .to_der()
            .map_err(|e| format!("cannot re-encode the certificate ({e})"))?;
        let subject_der = tbs
            .subject
            .to_der()
            .map_err(|e| format!("cannot encode the subject ({e})"))?;
        let spki = &tbs.subject_public_key_info;
        let curve = match &spki.algorithm.parameters {
            Some(any) if spki.algorithm.oid == EC_PUBLIC_KEY => Some(
                any.decode_as::<ObjectIdentifier>()
                    .map_err(|e| format!("EC key without a named curve ({e})"))?,
            ),
            _ => None,
        };
        let bytes = spki
            .subject_public_key
            .as_bytes()
            .ok_or("subject public key is not a whole number of bytes")?
            .to_vec();
        Ok(CaCertificate {
            der,
            subject_der,
            subject: tbs.subject.to_string(),
            key: PublicKey {
                algorithm: spki.algorithm.oid,
                curve,
                bytes,
            },
        })
    }

    /// The subject, RFC 4514 text.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Whether `issuer_der` (an encoded Name) is this CA's subject.
    pub fn is_issuer_of(&self, issuer_der: &[u8]) -> bool {
        self.subject_der == issuer_der
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as base64 DER (how CRL metadata records it).
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }

    /// Decodes a certificate recorded as base64 DER (the inverse of
    /// [`CaCertificate::to_base64`]).
    pub fn from_base64(text: &str) -> Result<CaCertificate, String> {
        let der = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| format!("issuer certificate: not base64 ({e})"))?;
        CaCertificate::parse(&der)
    }

    /// Checks `signature` over `message` made with `algorithm` by this CA's key.
    pub fn verify(
        &self,
        algorithm: ObjectIdentifier,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), String> {
        let ring_algorithm = self.ring_algorithm(algorithm)?;
        UnparsedPublicKey::new(ring_algorithm, &self.key.bytes)
            .verify(message, signature)
            .map_err(|_| {
                format!(
                    "the signature does not verify with the key of {} (signed by another key, or altered)",
                    self.subject
                )
            })
    }

    fn ring_algorithm(
        &self,
        signature_oid: ObjectIdentifier,
    ) -> Result<&'static dyn VerificationAlgorithm, String> {
        let key = &self.key;
        let chosen: Option<&'static dyn VerificationAlgorithm> =
            match (signature_oid, key.algorithm, key.curve) {
                (SHA256_WITH_RSA, RSA_ENCRYPTION, _) => {
                    Some(&signature::RSA_PKCS1_2048_8192_SHA256)
                }
                (SHA384_WITH_RSA, RSA_ENCRYPTION, _) => {
                    Some(&signature::RSA_PKCS1_2048_8192_SHA384)
                }
                (SHA512_WITH_RSA, RSA_ENCRYPTION, _) => {
                    Some(&signature::RSA_PKCS1_2048_8192_SHA512)
                }
                (ECDSA_WITH_SHA256, EC_PUBLIC_KEY, Some(P256)) => {
                    Some(&signature::ECDSA_P256_SHA256_ASN1)
                }
                (ECDSA_WITH_SHA384, EC_PUBLIC_KEY, Some(P256)) => {
                    Some(&signature::ECDSA_P256_SHA384_ASN1)
                }
                (ECDSA_WITH_SHA256, EC_PUBLIC_KEY, Some(P384)) => {
                    Some(&signature::ECDSA_P384_SHA256_ASN1)
                }
                (ECDSA_WITH_SHA384, EC_PUBLIC_KEY, Some(P384)) => {
                    Some(&signature::ECDSA_P384_SHA384_ASN1)
                }
                (ED25519, ED25519, _) => Some(&signature::ED25519),
                _ => None,
            };
        chosen.ok_or_else(|| match signature_oid {
            SHA1_WITH_RSA => "SHA-1 signatures (sha1WithRSAEncryption) are not accepted".into(),
            RSA_PSS => "RSA-PSS signatures are not supported".into(),
            other => format!(
                "signature algorithm {} does not match the key of {} ({}{})",
                algorithm_name(other),
                self.subject,
                algorithm_name(key.algorithm),
                key.curve
                    .map(|c| format!(", curve {}", algorithm_name(c)))
                    .unwrap_or_default()
            ),
        })
    }
}

/// A readable name for the signature and key algorithms this module knows.
pub fn algorithm_name(oid: ObjectIdentifier) -> String {
    let name = match oid {
        RSA_ENCRYPTION => "rsaEncryption",
        SHA1_WITH_RSA => "sha1WithRSAEncryption",
        RSA_PSS => "rsassaPss",
        SHA256_WITH_RSA => "sha256WithRSAEncryption",
        SHA384_WITH_RSA => "sha384WithRSAEncryption",
        SHA512_WITH_RSA => "sha512WithRSAEncryption",
        EC_PUBLIC_KEY => "ecPublicKey",
        P256 => "P-256",
        P384 => "P-384",
        ECDSA_WITH_SHA256 => "ecdsa-with-SHA256",
        ECDSA_WITH_SHA384 => "ecdsa-with-SHA384",
        ED25519 => "Ed25519",
        other => return other.to_string(),
    };
    name.to_string()
}

/// The DER inside a PEM block, which must be labelled `label`.
pub fn pem_block(bytes: &[u8], label: &str) -> Result<Vec<u8>, String> {
    let (found, der) =
        der::pem::decode_vec(bytes).map_err(|e| format!("not a PEM {label} ({e})"))?;
    if found != label {
        return Err(format!("PEM block is `{found}`, expected `{label}`"));
    }
    Ok(der)
}

/// Whether `bytes` start (after whitespace) like a PEM block.
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    bytes[start..].starts_with(b"-----BEGIN ")
}

/// The DER bytes of a certificate given as DER, PEM, or base64 DER (as a
/// JSON field carries it), checked to decode as a certificate.
pub fn certificate_der(bytes: &[u8]) -> Result<(Certificate, Vec<u8>), String> {
    let der = if looks_like_pem(bytes) {
        pem_block(bytes, "CERTIFICATE")?
    } else if bytes.first() == Some(&0x30) {
        bytes.to_vec()
    } else {
        let compact: Vec<u8> = bytes
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        base64::engine::general_purpose::STANDARD
            .decode(&compact)
            .map_err(|e| format!("neither PEM nor base64 DER ({e})"))?
    };
    let certificate =
        Certificate::from_der(&der).map_err(|e| format!("not a DER certificate ({e})"))?;
    Ok((certificate, der))
}

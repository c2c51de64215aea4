//! The user certificate a card reader sends: decoded when the request is
//! read (a malformed one is a 400 naming the problem), judged when it is
//! answered, against the CA of the live CRL.
//!
//! Order of the checks (CONTRACT.md §3): the issuer must be a trusted
//! user-certificate CA, the signature must verify (unless switched off),
//! then the validity period decides `cert_expired`; only a current
//! certificate goes on to serial → CRL → linkage. Expiry is judged on the
//! check date in Japan: a certificate is current on every day of which some
//! part lies inside its validity. `notBefore` refuses nothing: a card
//! renewed after a past treatment date is rightly presented for it.

use super::reader::serial_from_integer;
use super::trust::{certificate_der, CaCertificate};
use crate::model::{Date, Serial};
use chrono::{DateTime, Utc};
use der::asn1::BitStringRef;
use der::{Decode, Encode, Reader, SliceReader};
use x509_cert::spki::AlgorithmIdentifierOwned;

/// A decoded user certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCertificate {
    /// The signed part, exactly as sent.
    tbs: Vec<u8>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    issuer_der: Vec<u8>,
    issuer: String,
    serial: Serial,
    not_after: DateTime<Utc>,
}

/// What the certificate checks decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judged {
    /// Trusted and current: go on with its serial.
    Current,
    /// Trusted, but its validity ended before the check date.
    Expired,
}

impl UserCertificate {
    /// Decodes base64 DER, PEM, or DER bytes.
    pub fn parse(bytes: &[u8]) -> Result<UserCertificate, String> {
        let (certificate, der) = certificate_der(bytes)?;
        let (tbs, signature_algorithm, signature) = split_signed(&der)?;
        let decoded = certificate.tbs_certificate;
        let serial = serial_from_integer(decoded.serial_number.as_bytes())?;
        let issuer_der = decoded
            .issuer
            .to_der()
            .map_err(|e| format!("issuer: {e}"))?;
        Ok(UserCertificate {
            tbs,
            signature_algorithm,
            signature,
            issuer_der,
            issuer: decoded.issuer.to_string(),
            serial,
            not_after: DateTime::<Utc>::from(decoded.validity.not_after.to_system_time()),
        })
    }

    /// The certificate's serial number, the key of the linkage and revocation look-ups.
    pub fn serial(&self) -> Serial {
        self.serial
    }

    /// The issuer name, RFC 4514 text.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Runs the checks for a check on `date`.
    pub fn judge(
        &self,
        cas: &[CaCertificate],
        verify_signature: bool,
        date: Date,
    ) -> Result<Judged, String> {
        let ca = cas
            .iter()
            .find(|ca| ca.is_issuer_of(&self.issuer_der))
            .ok_or_else(|| {
                format!(
                    "issued by `{}`, which is not a user-certificate CA this service trusts",
                    self.issuer
                )
            })?;
        if verify_signature {
            ca.verify(self.signature_algorithm.oid, &self.tbs, &self.signature)?;
        }
        if Date::in_japan(self.not_after) < date {
            return Ok(Judged::Expired);
        }
        Ok(Judged::Current)
    }
}

/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
/// signatureValue }`, with the signed bytes kept as they are.
fn split_signed(der: &[u8]) -> Result<(Vec<u8>, AlgorithmIdentifierOwned, Vec<u8>), String> {
    let mut reader = SliceReader::new(der).map_err(|e| e.to_string())?;
    reader
        .sequence(|r| {
            let tbs = r.tlv_bytes()?.to_vec();
            let algorithm = AlgorithmIdentifierOwned::decode(r)?;
            let signature = BitStringRef::decode(r)?;
            Ok((tbs, algorithm, signature.raw_bytes().to_vec()))
        })
        .map_err(|e| format!("certificate: {e}"))
}

//! What a verified client certificate says about its holder: the serial
//! the institution CRL is searched for, the validity end a long-lived
//! connection is held to, the SHA-256 fingerprint a registry line may pin,
//! and the institution code in its subject.

use crate::crl::reader::serial_from_integer;
use crate::model::{InstitutionCode, Serial, Sha256};
use chrono::{DateTime, Utc};
use der::asn1::{ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use der::Decode;
use x509_cert::Certificate;

const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");

/// Which subject attribute carries the 10-digit institution code
/// (`client_identity`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IdentityAttribute {
    /// The common name (CN), the default.
    #[default]
    CommonName,
    /// The serialNumber attribute (2.5.4.5).
    SerialNumber,
    /// No attribute: only a fingerprint pinned in the registry identifies.
    Fingerprint,
}

impl IdentityAttribute {
    /// Parses the setting: `cn`, `serial_number` or `fingerprint`.
    pub fn parse(text: &str) -> Result<IdentityAttribute, String> {
        match text {
            "cn" => Ok(IdentityAttribute::CommonName),
            "serial_number" => Ok(IdentityAttribute::SerialNumber),
            "fingerprint" => Ok(IdentityAttribute::Fingerprint),
            other => Err(format!(
                "`{other}`: expected cn, serial_number or fingerprint"
            )),
        }
    }

    fn oid(self) -> Option<ObjectIdentifier> {
        match self {
            IdentityAttribute::CommonName => Some(COMMON_NAME),
            IdentityAttribute::SerialNumber => Some(SERIAL_NUMBER),
            IdentityAttribute::Fingerprint => None,
        }
    }
}

/// The client certificate of a connection, read once after its handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The serial number, searched in the institution CRL.
    pub serial: Serial,
    /// SHA-256 of the certificate's DER (what `certificate_sha256` pins).
    pub fingerprint: Sha256,
    /// The institution code its subject carries, if the attribute holds one.
    pub institution: Option<InstitutionCode>,
    /// End of validity.
    pub not_after: DateTime<Utc>,
    /// The subject, RFC 4514 text (for messages).
    pub subject: String,
}

impl PeerCertificate {
    /// Reads a DER certificate, taking the institution code from `identity`.
    pub fn parse(der: &[u8], identity: IdentityAttribute) -> Result<PeerCertificate, String> {
        let certificate =
            Certificate::from_der(der).map_err(|e| format!("client certificate: {e}"))?;
        let tbs = certificate.tbs_certificate;
        let serial = serial_from_integer(tbs.serial_number.as_bytes())?;
        let institution = identity
            .oid()
            .and_then(|oid| attribute(&tbs.subject, oid))
            .and_then(|text| InstitutionCode::parse(text.trim()).ok());
        Ok(PeerCertificate {
            serial,
            fingerprint: Sha256::of(der),
            institution,
            not_after: DateTime::<Utc>::from(tbs.validity.not_after.to_system_time()),
            subject: tbs.subject.to_string(),
        })
    }
}

/// The serial number of a DER certificate, and nothing else (what the
/// handshake searches the CRL for).
pub fn serial_of(der: &[u8]) -> Result<Serial, String> {
    let certificate = Certificate::from_der(der).map_err(|e| format!("client certificate: {e}"))?;
    serial_from_integer(certificate.tbs_certificate.serial_number.as_bytes())
}

/// The first value of attribute `oid` in `name`, as text.
fn attribute(name: &x509_cert::name::Name, oid: ObjectIdentifier) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == oid)
        .find_map(|atv| {
            Utf8StringRef::try_from(&atv.value)
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    PrintableStringRef::try_from(&atv.value).map(|s| s.as_str().to_string())
                })
                .ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(subject: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::default();
        let mut name = rcgen::DistinguishedName::new();
        for (kind, value) in subject {
            name.push(kind.clone(), *value);
        }
        params.distinguished_name = name;
        params.serial_number = Some(rcgen::SerialNumber::from(vec![0x01, 0x23]));
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_institution_code_comes_from_the_configured_attribute() {
        let der = certificate(&[
            (rcgen::DnType::CommonName, "1312345678"),
            (rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), "2712345678"),
        ]);
        let by_cn = PeerCertificate::parse(&der, IdentityAttribute::CommonName).unwrap();
        assert_eq!(by_cn.institution.unwrap().to_string(), "1312345678");
        assert_eq!(by_cn.serial, Serial::from_u64(0x0123));
        assert_eq!(serial_of(&der), Ok(Serial::from_u64(0x0123)));
        let by_serial = PeerCertificate::parse(&der, IdentityAttribute::SerialNumber).unwrap();
        assert_eq!(by_serial.institution.unwrap().to_string(), "2712345678");
        let pinned_only = PeerCertificate::parse(&der, IdentityAttribute::Fingerprint).unwrap();
        assert_eq!(pinned_only.institution, None);
        assert_eq!(pinned_only.fingerprint, Sha256::of(&der));
        let not_a_code = certificate(&[(rcgen::DnType::CommonName, "clinic.example")]);
        let parsed = PeerCertificate::parse(&not_a_code, IdentityAttribute::CommonName).unwrap();
        assert_eq!(parsed.institution, None);
        assert!(PeerCertificate::parse(b"\x30\x03junk", IdentityAttribute::CommonName).is_err());
    }
}

//! What a verified client certificate says about its holder: the serial
//! the institution CRL is searched for, the validity end a long-lived
//! connection is held to, the SHA-256 fingerprint a registry line may pin,
//! and the institution code in its subject.

use crate::crl::reader::serial_from_integer;
use crate::model::{InstitutionCode, Serial};
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
    pub fingerprint: [u8; 32],
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
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut fingerprint = [0u8; 32];
        fingerprint.copy_from_slice(digest.as_ref());
        let institution = identity
            .oid()
            .and_then(|oid| attribute(&tbs.subject, oid))
            .and_then(|text| InstitutionCode::parse(text.trim()).ok());
        Ok(PeerCertificate {
            serial,
            fingerprint,
            institution,
            not_after: DateTime::<Utc>::from(tbs.validity.not_after.to_system_time()),
            subject: tbs.subject.to_string(),
        })
    }
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

/// Lower-case hex of a fingerprint.
pub fn hex(fingerprint: &[u8; 32]) -> String {
    fingerprint.iter().map(|b| format!("{b:02x}")).collect()
}

/// A SHA-256 given as 64 hex digits, upper or lower case, optionally with
/// colons between bytes (as `openssl x509 -fingerprint -sha256` prints it).
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let digits: String = text.chars().filter(|&c| c != ':').collect();
    if digits.len() != 64 || !digits.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
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
        let by_serial = PeerCertificate::parse(&der, IdentityAttribute::SerialNumber).unwrap();
        assert_eq!(by_serial.institution.unwrap().to_string(), "2712345678");
        let pinned_only = PeerCertificate::parse(&der, IdentityAttribute::Fingerprint).unwrap();
        assert_eq!(pinned_only.institution, None);
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        assert_eq!(pinned_only.fingerprint.as_slice(), digest.as_ref());
        let not_a_code = certificate(&[(rcgen::DnType::CommonName, "clinic.example")]);
        let parsed = PeerCertificate::parse(&not_a_code, IdentityAttribute::CommonName).unwrap();
        assert_eq!(parsed.institution, None);
        assert!(PeerCertificate::parse(b"\x30\x03junk", IdentityAttribute::CommonName).is_err());
    }

    #[test]
    fn fingerprints_are_read_with_or_without_colons() {
        let plain = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hash = parse_sha256(plain).unwrap();
        assert_eq!(hex(&hash), plain);
        let colons: Vec<String> = hash.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(parse_sha256(&colons.join(":")), Some(hash));
        assert_eq!(parse_sha256("abc"), None);
        assert_eq!(parse_sha256(&"zz".repeat(32)), None);
        assert_eq!(parse_sha256(&"é".repeat(32)), None);
    }
}

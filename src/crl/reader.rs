//! Reading an X.509 CRL (RFC 5280 §5) without materialising its entries.
//!
//! A national CRL holds up to ten million entries (hundreds of MB). The
//! whole-document decoders of the X.509 crates build a vector of every entry
//! with its extensions, several times the file's size in memory. Here the
//! `der` crate's reader walks the structure over the mapped bytes instead:
//! the header fields are decoded with the `x509-cert` types, and the entries
//! are visited one at a time as borrowed values, so memory stays bounded by
//! what the caller keeps (the revocation sets).

use super::CrlError;
use crate::model::Serial;
use crate::source::revocations::Revocation;
use der::asn1::{BitStringRef, IntRef, ObjectIdentifier, OctetStringRef};
use der::oid::AssociatedOid;
use der::{Decode, Reader, SliceReader, Tag, TagNumber};
use x509_cert::ext::pkix::{CrlNumber, CrlReason};
use x509_cert::name::Name;
use x509_cert::spki::AlgorithmIdentifierRef;
use x509_cert::time::Time;

/// RFC 5280 §5.2.4: a delta CRL only lists changes; a full list is required.
const DELTA_CRL_INDICATOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.27");
/// RFC 5280 §5.3.3: entries of an indirect CRL belong to another issuer.
const CERTIFICATE_ISSUER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.29");
/// CRL extensions understood well enough to accept even when critical.
const ISSUING_DISTRIBUTION_POINT: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.28");

/// A parsed CRL: its header decoded, its entries still bytes to walk.
pub struct CrlDocument<'a> {
    /// The signed part (`tbsCertList`), exactly as in the file.
    pub tbs: &'a [u8],
    pub signature_algorithm: AlgorithmIdentifierRef<'a>,
    pub signature: &'a [u8],
    /// The issuer name, DER, exactly as in the file.
    pub issuer_der: &'a [u8],
    pub issuer: Name,
    pub this_update: Time,
    pub next_update: Option<Time>,
    pub number: Option<Serial>,
    /// Body of `revokedCertificates` (empty when the list has none).
    entries: &'a [u8],
}

/// Turns a `der` error into a [`CrlError`] saying what was being read.
fn at(what: &'static str) -> impl Fn(der::Error) -> CrlError {
    move |e| CrlError::new(format!("{what}: {e}"))
}

impl<'a> CrlDocument<'a> {
    /// Decodes the outer structure and the header of `der`.
    pub fn parse(der: &'a [u8]) -> Result<CrlDocument<'a>, CrlError> {
        let mut outer = SliceReader::new(der).map_err(at("CRL"))?;
        let (tbs, signature_algorithm, signature) = outer
            .sequence(|list| {
                let tbs = list.tlv_bytes()?;
                let algorithm = AlgorithmIdentifierRef::decode(list)?;
                let signature = BitStringRef::decode(list)?;
                Ok((tbs, algorithm, signature))
            })
            .map_err(at("CertificateList"))?;
        if !outer.is_finished() {
            return Err(CrlError::new(format!(
                "{} bytes after the end of the CRL: not a single DER CRL",
                outer.remaining_len()
            )));
        }
        let signature = signature.as_bytes().ok_or_else(|| {
            CrlError::new("signatureValue: not a whole number of bytes".to_string())
        })?;
        let mut document = CrlDocument::parse_tbs(tbs)?;
        document.signature_algorithm = signature_algorithm;
        document.signature = signature;
        Ok(document)
    }

    fn parse_tbs(tbs: &'a [u8]) -> Result<CrlDocument<'a>, CrlError> {
        let mut reader = SliceReader::new(tbs).map_err(at("tbsCertList"))?;
        let mut inner_algorithm = None;
        let document = reader
            .sequence(|r| {
                if r.peek_tag()? == Tag::Integer {
                    let version = u8::decode(r)?;
                    if version != 1 {
                        return Err(Tag::Integer.value_error());
                    }
                }
                inner_algorithm = Some(AlgorithmIdentifierRef::decode(r)?);
                let issuer_der = r.tlv_bytes()?;
                let issuer = Name::from_der(issuer_der)?;
                let this_update = Time::decode(r)?;
                let next_update = match r.peek_tag() {
                    Ok(Tag::UtcTime | Tag::GeneralizedTime) => Some(Time::decode(r)?),
                    _ => None,
                };
                let entries = match r.peek_tag() {
                    Ok(Tag::Sequence) => {
                        let header = der::Header::decode(r)?;
                        r.read_slice(header.length)?
                    }
                    _ => &[][..],
                };
                let extensions = if r.is_finished() {
                    CrlExtensions::default()
                } else {
                    crl_extensions(r)?
                };
                Ok(CrlDocument {
                    tbs,
                    signature_algorithm: inner_algorithm.expect("set above"),
                    signature: &[],
                    issuer_der,
                    issuer,
                    this_update,
                    next_update,
                    number: extensions.number,
                    entries,
                })
                .map(|document| (document, extensions.delta, extensions.unknown_critical))
            })
            .map_err(|e| match e.kind() {
                der::ErrorKind::Value { tag: Tag::Integer } => {
                    CrlError::new("version: only v2 CRLs (version 1) are read".to_string())
                }
                _ => CrlError::new(format!("tbsCertList: {e}")),
            })?;
        let (document, delta, unknown_critical) = document;
        if delta {
            return Err(CrlError::new(
                "this is a delta CRL (deltaCRLIndicator); the full CRL is needed".to_string(),
            ));
        }
        if let Some(oid) = unknown_critical {
            return Err(CrlError::new(format!(
                "crlExtensions: critical extension {oid} is not one this reader knows"
            )));
        }
        Ok(document)
    }

    /// Visits every entry in file order; the error names the entry (1-based)
    /// and its byte offset in the list. Returns the number of entries.
    pub fn for_each_entry(
        &self,
        mut visit: impl FnMut(Serial, Revocation),
    ) -> Result<u64, CrlError> {
        let mut reader = SliceReader::new(self.entries).map_err(at("revokedCertificates"))?;
        let mut count = 0u64;
        while !reader.is_finished() {
            let offset = u32::from(reader.position());
            count += 1;
            let entry_error = |problem: String| {
                CrlError::new(format!(
                    "revokedCertificates entry {count} (byte {offset} of the list): {problem}"
                ))
            };
            let entry = reader
                .sequence(read_entry)
                .map_err(|e| entry_error(e.to_string()))?;
            if let Some(oid) = entry.refused_extension {
                return Err(entry_error(format!(
                    "extension {oid} is critical or names another issuer (an indirect CRL); \
                     this reader accepts only the CA's own full CRL"
                )));
            }
            let serial = serial_from_integer(entry.serial.as_bytes()).map_err(entry_error)?;
            let status = match entry.reason {
                Some(CrlReason::CertificateHold) => Revocation::Suspended,
                Some(CrlReason::RemoveFromCRL) => {
                    return Err(entry_error(
                        "reason removeFromCRL belongs only in delta CRLs; a full CRL is needed"
                            .into(),
                    ))
                }
                _ => Revocation::Revoked,
            };
            visit(serial, status);
        }
        Ok(count)
    }
}

/// What one entry says, before it is judged.
struct Entry<'a> {
    serial: IntRef<'a>,
    reason: Option<CrlReason>,
    /// An extension that makes the entry unusable (RFC 5280 §5.3: indirect
    /// CRLs, or a critical extension not known).
    refused_extension: Option<ObjectIdentifier>,
}

/// One `revokedCertificates` entry: serial, date, and the reason if given.
fn read_entry<'a, R: Reader<'a>>(r: &mut R) -> der::Result<Entry<'a>> {
    let serial = IntRef::decode(r)?;
    Time::decode(r)?;
    let mut entry = Entry {
        serial,
        reason: None,
        refused_extension: None,
    };
    if !r.is_finished() {
        for_each_extension(r, |oid, critical, value| {
            if oid == CrlReason::OID {
                entry.reason = Some(CrlReason::from_der(value)?);
            } else if oid == CERTIFICATE_ISSUER || critical {
                entry.refused_extension = Some(oid);
            }
            Ok(())
        })?;
    }
    Ok(entry)
}

/// Visits each `Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT
/// FALSE, extnValue }` of an `Extensions` sequence.
fn for_each_extension<'a, R: Reader<'a>>(
    r: &mut R,
    mut visit: impl FnMut(ObjectIdentifier, bool, &'a [u8]) -> der::Result<()>,
) -> der::Result<()> {
    r.sequence(|extensions| {
        while !extensions.is_finished() {
            extensions.sequence(|extension| {
                let oid = ObjectIdentifier::decode(extension)?;
                let critical = match extension.peek_tag()? {
                    Tag::Boolean => bool::decode(extension)?,
                    _ => false,
                };
                let value = OctetStringRef::decode(extension)?;
                visit(oid, critical, value.as_bytes())
            })?;
        }
        Ok(())
    })
}

/// What `crlExtensions` say.
#[derive(Default)]
struct CrlExtensions {
    number: Option<Serial>,
    delta: bool,
    unknown_critical: Option<ObjectIdentifier>,
}

/// `crlExtensions [0] EXPLICIT Extensions`.
fn crl_extensions<'a, R: Reader<'a>>(r: &mut R) -> der::Result<CrlExtensions> {
    let header = der::Header::decode(r)?;
    let expected = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber::N0,
    };
    if header.tag != expected {
        return Err(header.tag.unexpected_error(Some(expected)));
    }
    let mut found = CrlExtensions::default();
    r.read_nested(header.length, |r| {
        for_each_extension(r, |oid, critical, value| {
            if oid == CrlNumber::OID {
                let decoded = IntRef::from_der(value)?;
                found.number = Some(
                    serial_from_integer(decoded.as_bytes())
                        .map_err(|_| Tag::Integer.value_error())?,
                );
            } else if oid == DELTA_CRL_INDICATOR {
                found.delta = true;
            } else if critical && oid != ISSUING_DISTRIBUTION_POINT {
                found.unknown_critical = Some(oid);
            }
            Ok(())
        })
    })?;
    Ok(found)
}

/// The serial of a DER INTEGER's content bytes (two's complement). Serials
/// are positive (RFC 5280 §4.1.2.2); a negative one from a non-conforming CA
/// is refused rather than reinterpreted, here and in certificates alike, so
/// that the CRL and the certificate always agree on what a serial is.
pub fn serial_from_integer(bytes: &[u8]) -> Result<Serial, String> {
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return Err("negative serial number (RFC 5280 requires a positive one)".into());
    }
    Serial::from_be_bytes(bytes).ok_or_else(|| {
        format!(
            "serial number of {} bytes; at most 20 are allowed",
            bytes.len()
        )
    })
}

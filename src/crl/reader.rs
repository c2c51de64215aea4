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
use crate::model::Revocation;
use crate::model::Serial;
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
    /// The outer `signatureAlgorithm` the CA signed `tbs` with.
    pub signature_algorithm: AlgorithmIdentifierRef<'a>,
    /// The signature bits over `tbs`.
    pub signature: &'a [u8],
    /// The issuer name, DER, exactly as in the file.
    pub issuer_der: &'a [u8],
    /// The issuer name, decoded.
    pub issuer: Name,
    /// thisUpdate: when the list was issued.
    pub this_update: Time,
    /// nextUpdate: when the next list is due; `None` if the CRL omits it.
    pub next_update: Option<Time>,
    /// The cRLNumber extension (a monotonically increasing sequence number);
    /// `None` if absent.
    pub number: Option<Serial>,
    /// Body of `revokedCertificates` (empty when the list has none).
    entries: &'a [u8],
}

/// One DER element: its tag, the whole encoding, and its content.
struct Element<'a> {
    tag: u8,
    whole: &'a [u8],
    content: &'a [u8],
}

/// Splits the element at the start of `bytes` from what follows. The outer
/// layers of a national CRL are larger than the `der` crate's 256 MiB
/// length limit, so they are walked here (definite lengths, as DER
/// requires) and only the small elements inside are handed to `der`.
fn element<'a>(bytes: &'a [u8], what: &str) -> Result<(Element<'a>, &'a [u8]), CrlError> {
    let truncated = || CrlError::new(format!("{what}: truncated (the file ends inside it)"));
    let (&tag, rest) = bytes.split_first().ok_or_else(truncated)?;
    let (&first, rest) = rest.split_first().ok_or_else(truncated)?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 8 {
            return Err(CrlError::new(format!(
                "{what}: not DER (indefinite or oversized length)"
            )));
        }
        if rest.len() < octets {
            return Err(truncated());
        }
        let (digits, rest) = rest.split_at(octets);
        let value = digits
            .iter()
            .fold(0u64, |acc, &d| (acc << 8) | u64::from(d));
        (usize::try_from(value).unwrap_or(usize::MAX), rest)
    };
    if rest.len() < length {
        return Err(truncated());
    }
    let header = bytes.len() - rest.len();
    let (content, after) = rest.split_at(length);
    Ok((
        Element {
            tag,
            whole: &bytes[..header + length],
            content,
        },
        after,
    ))
}

/// The next element of a structure, which must have tag `tag`.
fn expect<'a>(bytes: &'a [u8], tag: Tag, what: &str) -> Result<(Element<'a>, &'a [u8]), CrlError> {
    let (found, rest) = element(bytes, what)?;
    if found.tag != u8::from(tag) {
        return Err(CrlError::new(format!(
            "{what}: expected {tag}, found tag 0x{:02x}",
            found.tag
        )));
    }
    Ok((found, rest))
}

/// Decodes a small element with `der`, naming it in the error.
fn decode<'a, T: Decode<'a>>(bytes: &'a [u8], what: &str) -> Result<T, CrlError> {
    T::from_der(bytes).map_err(|e| CrlError::new(format!("{what}: {e}")))
}

/// Whether the next element of `bytes` has tag `tag`.
fn next_is(bytes: &[u8], tags: &[Tag]) -> bool {
    bytes
        .first()
        .is_some_and(|&b| tags.iter().any(|&t| u8::from(t) == b))
}

const EXTENSIONS_TAG: Tag = Tag::ContextSpecific {
    constructed: true,
    number: TagNumber::N0,
};

impl<'a> CrlDocument<'a> {
    /// Decodes the outer structure and the header of `der`.
    pub fn parse(der: &'a [u8]) -> Result<CrlDocument<'a>, CrlError> {
        let (list, after) = expect(der, Tag::Sequence, "CertificateList")?;
        if !after.is_empty() {
            return Err(CrlError::new(format!(
                "{} bytes after the end of the CRL: not a single DER CRL",
                after.len()
            )));
        }
        let (tbs, rest) = expect(list.content, Tag::Sequence, "tbsCertList")?;
        let (algorithm, rest) = expect(rest, Tag::Sequence, "signatureAlgorithm")?;
        let (signature, rest) = expect(rest, Tag::BitString, "signatureValue")?;
        if !rest.is_empty() {
            return Err(CrlError::new(
                "CertificateList: unexpected data after the signature".into(),
            ));
        }
        let signature: BitStringRef<'a> = decode(signature.whole, "signatureValue")?;
        let signature = signature.as_bytes().ok_or_else(|| {
            CrlError::new("signatureValue: not a whole number of bytes".to_string())
        })?;
        let (mut document, inner_algorithm) = CrlDocument::parse_tbs(tbs)?;
        if inner_algorithm != algorithm.whole {
            return Err(CrlError::new(
                "signatureAlgorithm differs from the one inside tbsCertList (RFC 5280 §5.1.1.2)"
                    .into(),
            ));
        }
        document.signature_algorithm = decode(algorithm.whole, "signatureAlgorithm")?;
        document.signature = signature;
        Ok(document)
    }

    /// The header fields, and the signature algorithm as encoded inside.
    fn parse_tbs(tbs: Element<'a>) -> Result<(CrlDocument<'a>, &'a [u8]), CrlError> {
        let mut rest = tbs.content;
        if next_is(rest, &[Tag::Integer]) {
            let (version, after) = element(rest, "version")?;
            if decode::<u8>(version.whole, "version")? != 1 {
                return Err(CrlError::new(
                    "version: only v2 CRLs (version 1) are read".into(),
                ));
            }
            rest = after;
        }
        let (algorithm, rest) = expect(rest, Tag::Sequence, "signature")?;
        let (issuer, rest) = expect(rest, Tag::Sequence, "issuer")?;
        let times = [Tag::UtcTime, Tag::GeneralizedTime];
        if !next_is(rest, &times) {
            return Err(CrlError::new("thisUpdate: missing".into()));
        }
        let (this_update, mut rest) = element(rest, "thisUpdate")?;
        let mut next_update = None;
        if next_is(rest, &times) {
            let (time, after) = element(rest, "nextUpdate")?;
            next_update = Some(decode::<Time>(time.whole, "nextUpdate")?);
            rest = after;
        }
        let mut entries: &[u8] = &[];
        if next_is(rest, &[Tag::Sequence]) {
            let (list, after) = element(rest, "revokedCertificates")?;
            entries = list.content;
            rest = after;
        }
        let mut extensions = CrlExtensions::default();
        if next_is(rest, &[EXTENSIONS_TAG]) {
            let (found, after) = element(rest, "crlExtensions")?;
            extensions = crl_extensions(found.whole)
                .map_err(|e| CrlError::new(format!("crlExtensions: {e}")))?;
            rest = after;
        }
        if !rest.is_empty() {
            return Err(CrlError::new(
                "tbsCertList: unexpected data after crlExtensions".into(),
            ));
        }
        if extensions.delta {
            return Err(CrlError::new(
                "this is a delta CRL (deltaCRLIndicator); the full CRL is needed".to_string(),
            ));
        }
        if let Some(oid) = extensions.unknown_critical {
            return Err(CrlError::new(format!(
                "crlExtensions: critical extension {oid} is not one this reader knows"
            )));
        }
        let document = CrlDocument {
            tbs: tbs.whole,
            signature_algorithm: decode(algorithm.whole, "signature")?,
            signature: &[],
            issuer_der: issuer.whole,
            issuer: decode(issuer.whole, "issuer")?,
            this_update: decode(this_update.whole, "thisUpdate")?,
            next_update,
            number: extensions.number,
            entries,
        };
        Ok((document, algorithm.whole))
    }

    /// Visits every entry in file order; the error names the entry (1-based)
    /// and its byte offset in the list. Returns the number of entries.
    pub fn for_each_entry(
        &self,
        mut visit: impl FnMut(Serial, Revocation),
    ) -> Result<u64, CrlError> {
        let mut rest = self.entries;
        let mut count = 0u64;
        while !rest.is_empty() {
            let offset = self.entries.len() - rest.len();
            count += 1;
            let entry_error = |problem: String| {
                CrlError::new(format!(
                    "revokedCertificates entry {count} (byte {offset} of the list): {problem}"
                ))
            };
            let (found, after) =
                expect(rest, Tag::Sequence, "entry").map_err(|e| entry_error(e.message))?;
            rest = after;
            let entry = SliceReader::new(found.whole)
                .and_then(|mut reader| reader.sequence(read_entry))
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

/// `crlExtensions [0] EXPLICIT Extensions`, given as its whole encoding.
fn crl_extensions(whole: &[u8]) -> der::Result<CrlExtensions> {
    let mut reader = SliceReader::new(whole)?;
    let header = der::Header::decode(&mut reader)?;
    let mut found = CrlExtensions::default();
    reader.read_nested(header.length, |r| {
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

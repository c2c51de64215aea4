//! Who may check: the institution registry (`institutions.csv`) and the
//! authentication of each request against it.
//!
//! A check names its institution in the body; the request proves it with a
//! credential: a bearer token from the registry, the verified client
//! certificate of its TLS connection (identified by a fingerprint the
//! registry pins, or by the institution code in its subject), or both when
//! `require_token_with_certificate` asks for both. [`Access::authorize`] is
//! the one place that decides. Tokens are kept only as SHA-256 hashes and
//! compared in constant time.

use crate::model::{InstitutionCode, Sha256};
use crate::server::config::Budget;
use crate::source::csv_input::{refuse_bad_lines, CsvSource, Encoding};
use std::collections::HashMap;
use std::path::Path;
use subtle::ConstantTimeEq;

/// Shortest token the registry accepts.
pub(super) const MIN_TOKEN_BYTES: usize = 16;

/// A token as kept and compared: its SHA-256, hashed once per request, so
/// that the registry in memory holds no token and a lookup by hash reveals
/// nothing an attacker could steer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct TokenHash(Sha256);

impl TokenHash {
    pub(super) fn of(token: &str) -> TokenHash {
        TokenHash(Sha256::of(token.as_bytes()))
    }

    /// The hash (to find an operator by, see `server::operators`).
    pub(super) fn digest(&self) -> &Sha256 {
        &self.0
    }

    /// Equality in time that does not depend on where the hashes differ.
    fn same_as(&self, other: &TokenHash) -> bool {
        self.0.bytes().ct_eq(other.0.bytes()).into()
    }
}

/// What a request presented to prove who it is: a bearer token, the
/// verified client certificate of its connection, or both.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Credential {
    pub token: Option<TokenHash>,
    pub certificate: Option<CertificateId>,
}

/// A verified client certificate, as the registry identifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct CertificateId {
    /// SHA-256 of the certificate (what `certificate_sha256` pins).
    pub fingerprint: Sha256,
    /// The institution code the configured subject attribute carries.
    pub institution: Option<InstitutionCode>,
}

impl Credential {
    /// Reads the `Authorization` header value; anything but `Bearer <token>`
    /// presents no token.
    pub(super) fn from_authorization(header: Option<&[u8]>) -> Credential {
        let Some(value) = header.and_then(|v| std::str::from_utf8(v).ok()) else {
            return Credential::default();
        };
        let token = match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                Some(TokenHash::of(token.trim()))
            }
            _ => None,
        };
        Credential {
            token,
            certificate: None,
        }
    }

    /// Whether the token is `secret` (the admin token).
    pub(super) fn is_bearer(&self, secret: &str) -> bool {
        matches!(&self.token, Some(hash) if hash.same_as(&TokenHash::of(secret)))
    }
}

/// Why a request may not check for the institution it names.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Denied {
    /// No usable credential: 401.
    Unauthenticated,
    /// A token, but not one for that institution: 403.
    Forbidden,
    /// A certificate of another institution than the one named: 403.
    CertificateOf(InstitutionCode),
    /// A certificate that identifies no registered institution: 403.
    CertificateUnregistered,
    /// A certificate without the institution's token, which is required: 401.
    TokenRequired,
    /// A token without a certificate, which is required with it: 401.
    CertificateRequired,
}

/// The access policy of the public API.
#[derive(Debug)]
pub(super) enum Access {
    /// No registry configured: any well-formed institution code may check
    /// (a client certificate still binds its connection to its own code).
    Open,
    Registry(Registry),
}

impl Access {
    /// Whether `credential` may check on behalf of `institution`. A
    /// certificate decides who is asking; a token alone is the other way.
    pub(super) fn authorize(
        &self,
        institution: &InstitutionCode,
        credential: Credential,
    ) -> Result<(), Denied> {
        if let Some(certificate) = credential.certificate {
            return self.authorize_certificate(institution, &certificate, credential.token);
        }
        let Access::Registry(registry) = self else {
            return Ok(());
        };
        let Some(presented) = credential.token else {
            return Err(Denied::Unauthenticated);
        };
        if registry.require_token_with_certificate {
            return Err(Denied::CertificateRequired);
        }
        match registry.by_code.get(institution) {
            Some(entry) if entry.token.is_some_and(|t| t.same_as(&presented)) => Ok(()),
            // A token of another institution, or an unknown institution.
            _ if registry.by_token.contains_key(&presented) => Err(Denied::Forbidden),
            _ => Err(Denied::Unauthenticated),
        }
    }

    fn authorize_certificate(
        &self,
        institution: &InstitutionCode,
        certificate: &CertificateId,
        token: Option<TokenHash>,
    ) -> Result<(), Denied> {
        let holder = match self {
            Access::Open => certificate.institution,
            Access::Registry(registry) => registry.holder_of(certificate),
        }
        .ok_or(Denied::CertificateUnregistered)?;
        if holder != *institution {
            return Err(Denied::CertificateOf(holder));
        }
        match self {
            Access::Registry(registry) if registry.require_token_with_certificate => {
                let expected = registry.by_code.get(&holder).and_then(|e| e.token);
                match (expected, token) {
                    (Some(expected), Some(presented)) if expected.same_as(&presented) => Ok(()),
                    _ => Err(Denied::TokenRequired),
                }
            }
            _ => Ok(()),
        }
    }

    /// Whether `credential` could authorize anything at all: false (401
    /// before the body is read) for no credential or an unregistered token.
    pub(super) fn may_present(&self, credential: Credential) -> bool {
        if credential.certificate.is_some() {
            return true;
        }
        match (self, credential.token) {
            (Access::Open, _) => true,
            (Access::Registry(_), None) => false,
            (Access::Registry(registry), Some(hash)) => registry.by_token.contains_key(&hash),
        }
    }

    /// The institutions whose registry line gives a budget of their own.
    pub(super) fn budgets(&self) -> HashMap<InstitutionCode, Budget> {
        match self {
            Access::Open => HashMap::new(),
            Access::Registry(registry) => registry.budgets.clone(),
        }
    }

    pub(super) fn institution_count(&self) -> Option<usize> {
        match self {
            Access::Open => None,
            Access::Registry(registry) => Some(registry.by_code.len()),
        }
    }
}

/// One institution's registry line, as kept.
#[derive(Debug, Default)]
struct Entry {
    /// The token's hash; `None` when the institution authenticates by
    /// certificate only.
    token: Option<TokenHash>,
    /// The one certificate that may act for it, when pinned.
    pinned: Option<Sha256>,
}

/// The registered institutions, by code, by token hash and by pinned
/// certificate.
#[derive(Debug, Default)]
pub(super) struct Registry {
    /// Each institution's token and pinned certificate (the file's `name`
    /// and `prefecture` columns are required but not kept).
    by_code: HashMap<InstitutionCode, Entry>,
    by_token: HashMap<TokenHash, InstitutionCode>,
    by_certificate: HashMap<Sha256, InstitutionCode>,
    /// Budgets of checks given on an institution's line (optional columns
    /// `throttle_rate`, `throttle_burst`), instead of the settings'.
    budgets: HashMap<InstitutionCode, Budget>,
    /// A certificate must come with its institution's token, and a token
    /// with a certificate (`require_token_with_certificate`).
    require_token_with_certificate: bool,
}

/// One registry line, read.
struct Line {
    code: InstitutionCode,
    entry: Entry,
    budget: Option<Budget>,
    line: u64,
}

impl Registry {
    /// Reads `institutions.csv` (`institution_code,name,prefecture,token`,
    /// optionally `throttle_rate,throttle_burst` and `certificate_sha256`;
    /// UTF-8). An empty token means the institution authenticates by
    /// certificate only. Any bad line fails the whole load, naming file,
    /// line and field: a half-loaded registry would lock institutions out.
    pub(super) fn load(
        path: &Path,
        require_token_with_certificate: bool,
    ) -> anyhow::Result<Registry> {
        let mut source = CsvSource::open(path, Encoding::Utf8)?;
        source.require_columns(&["institution_code", "name", "prefecture", "token"])?;
        let mut registry = Registry {
            require_token_with_certificate,
            ..Registry::default()
        };
        let mut problems = Vec::new();
        let mut bad_rows = Vec::new();
        source.for_each_row(
            |row| {
                let code = InstitutionCode::parse(row.get("institution_code"))
                    .map_err(|e| row.bad(format!("institution_code: {e}")))?;
                let token = match row.get("token").trim() {
                    "" => None,
                    short if short.len() < MIN_TOKEN_BYTES => {
                        return Err(row.bad(format!(
                            "token: shorter than {MIN_TOKEN_BYTES} bytes; issue a longer random token (or leave it empty to authenticate by certificate only)"
                        )))
                    }
                    token => Some(TokenHash::of(token)),
                };
                let pinned = match row.get("certificate_sha256").trim() {
                    "" => None,
                    text => Some(Sha256::parse(text).ok_or_else(|| {
                        row.bad("certificate_sha256: 64 hex digits (colons allowed), the SHA-256 of the institution's certificate".into())
                    })?),
                };
                let number = |column: &str| match row.get(column).trim() {
                    "" => Ok(None),
                    text => text
                        .parse::<f64>()
                        .map(Some)
                        .map_err(|_| row.bad(format!("{column}: `{text}` is not a number"))),
                };
                let budget = Budget::of(number("throttle_rate")?, number("throttle_burst")?)
                    .map_err(|problem| row.bad(problem))?;
                Ok(Line {
                    code,
                    entry: Entry { token, pinned },
                    budget,
                    line: row.line,
                })
            },
            |line| {
                let (code, number) = (line.code, line.line);
                if let Some(budget) = line.budget {
                    registry.budgets.insert(code, budget);
                }
                if let Err(problem) = registry.insert(code, line.entry) {
                    problems.push((number, format!("{}:{number}: {problem}", path.display())));
                }
            },
            &mut |bad| bad_rows.push((bad.line, bad.to_string())),
        );
        problems.extend(bad_rows);
        refuse_bad_lines(problems)?;
        Ok(registry)
    }

    fn insert(&mut self, code: InstitutionCode, entry: Entry) -> Result<(), String> {
        if self.by_code.contains_key(&code) {
            return Err(format!("institution_code: {code} is listed twice"));
        }
        if let Some(token) = entry.token {
            if self.by_token.insert(token, code).is_some() {
                return Err("token: the same token is given to two institutions".into());
            }
        }
        if let Some(pinned) = entry.pinned {
            if self.by_certificate.insert(pinned, code).is_some() {
                return Err(
                    "certificate_sha256: the same certificate is pinned for two institutions"
                        .into(),
                );
            }
        }
        self.by_code.insert(code, entry);
        Ok(())
    }

    /// The institution a certificate acts for: the one that pins it, else
    /// the registered one its subject names, unless that one pins another.
    fn holder_of(&self, certificate: &CertificateId) -> Option<InstitutionCode> {
        if let Some(code) = self.by_certificate.get(&certificate.fingerprint) {
            return Some(*code);
        }
        let code = certificate.institution?;
        match self.by_code.get(&code) {
            Some(entry) if entry.pinned.is_none() => Some(code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn tokens_are_compared_by_sha256() {
        let hash = TokenHash::of("s3cret-token-0001");
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            TokenHash::of("abc").0.bytes()[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "the token hash is SHA-256"
        );
        assert!(hash.same_as(&TokenHash::of("s3cret-token-0001")));
        assert!(
            !hash.same_as(&TokenHash::of("s3cret-token-0002")),
            "last byte differs"
        );
        assert!(
            !hash.same_as(&TokenHash::of("t3cret-token-0001")),
            "first byte differs"
        );
        assert!(!hash.same_as(&TokenHash::of("")));
    }

    fn registry(text: &str) -> anyhow::Result<Registry> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        Registry::load(file.path(), false)
    }

    const HEADER: &str = "institution_code,name,prefecture,token\n";

    #[test]
    fn tokens_authorize_only_their_institution() {
        let access = Access::Registry(
            registry(&format!(
                "{HEADER}1312345678,A医院,東京都,aaaaaaaaaaaaaaaaaaaa\n2712345678,B薬局,大阪府,bbbbbbbbbbbbbbbbbbbb\n"
            ))
            .unwrap(),
        );
        let a = InstitutionCode::parse("1312345678").unwrap();
        let unknown = InstitutionCode::parse("9999999999").unwrap();
        let bearer = |t| Credential::from_authorization(Some(t));
        assert_eq!(
            access.authorize(&a, bearer(b"Bearer aaaaaaaaaaaaaaaaaaaa")),
            Ok(())
        );
        assert_eq!(
            access.authorize(&a, bearer(b"bearer  aaaaaaaaaaaaaaaaaaaa")),
            Ok(())
        );
        assert_eq!(
            access.authorize(&a, bearer(b"Bearer bbbbbbbbbbbbbbbbbbbb")),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            access.authorize(&unknown, bearer(b"Bearer bbbbbbbbbbbbbbbbbbbb")),
            Err(Denied::Forbidden)
        );
        assert_eq!(
            access.authorize(&a, bearer(b"Bearer wrong-token-xxxxxxxx")),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            access.authorize(&a, bearer(b"Basic aaaaaaaaaaaaaaaaaaaa")),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            access.authorize(&a, Credential::default()),
            Err(Denied::Unauthenticated)
        );
        assert_eq!(
            Access::Open.authorize(&unknown, Credential::default()),
            Ok(())
        );
    }

    #[test]
    fn bad_registries_name_the_line_and_field() {
        let cases = [
            ("1312345678,A,東京都,short\n", ":2: token"),
            ("131234567,A,東京都,aaaaaaaaaaaaaaaaaaaa\n", ":2: institution_code"),
            (
                "1312345678,A,東京都,aaaaaaaaaaaaaaaaaaaa\n1312345678,B,東京都,bbbbbbbbbbbbbbbbbbbb\n",
                ":3: institution_code",
            ),
            (
                "1312345678,A,東京都,aaaaaaaaaaaaaaaaaaaa\n2712345678,B,大阪府,aaaaaaaaaaaaaaaaaaaa\n",
                ":3: token",
            ),
        ];
        for (body, expected) in cases {
            let error = registry(&format!("{HEADER}{body}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
        let missing = registry("institution_code,name\n").unwrap_err().to_string();
        assert!(missing.contains("prefecture"), "{missing}");
    }

    const THROTTLED: &str = "institution_code,name,prefecture,token,throttle_rate,throttle_burst\n";

    #[test]
    fn a_registry_line_may_give_its_institution_a_budget() {
        let body = "1312345678,A,東京都,aaaaaaaaaaaaaaaaaaaa,5,50\n2712345678,B,大阪府,bbbbbbbbbbbbbbbbbbbb,,\n4112345678,C,京都府,cccccccccccccccccccc,0.5,\n";
        let access = Access::Registry(registry(&format!("{THROTTLED}{body}")).unwrap());
        let budgets = access.budgets();
        let code = |text| InstitutionCode::parse(text).unwrap();
        assert_eq!(budgets.len(), 2);
        assert_eq!(
            budgets[&code("1312345678")],
            Budget {
                rate: 5.0,
                burst: 50.0
            }
        );
        assert_eq!(
            budgets[&code("4112345678")],
            Budget {
                rate: 0.5,
                burst: 5.0
            }
        );
        let cases = [
            (
                "1312345678,A,東京都,aaaaaaaaaaaaaaaaaaaa,fast,\n",
                ":2: throttle_rate: `fast`",
            ),
            (
                "1312345678,A,東京都,aaaaaaaaaaaaaaaaaaaa,-1,\n",
                ":2: throttle_rate: -1",
            ),
            (
                "1312345678,A,東京都,aaaaaaaaaaaaaaaaaaaa,,10\n",
                ":2: throttle_burst: needs",
            ),
        ];
        for (body, expected) in cases {
            let error = registry(&format!("{THROTTLED}{body}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
    }
}

//! Who may operate: the operators file (`operators.csv`) and the role each
//! admin endpoint needs.
//!
//! Operators have accounts instead of sharing one admin token: each line
//! names an operator, a role and the SHA-256 of the operator's token (the
//! file never holds a token). A request presents its token as a bearer
//! token; the server hashes it and finds the operator, whose name the
//! audit log then records. Roles are ordered, each including the ones
//! before it: `viewer` (status), `operator` (activations, rollbacks, CRLs,
//! updates), `admin` (everything, including what later reloads settings).

use crate::model::Sha256;
use crate::source::csv_input::{refuse_bad_lines, CsvSource, Encoding};
use std::collections::HashMap;
use std::path::Path;

/// What an operator may do; each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// An operator who presented a registered token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Operator {
    pub name: String,
    pub role: Role,
}

/// The operators, by the SHA-256 of their token and of their certificate.
#[derive(Debug, Default)]
pub(crate) struct Operators {
    by_token: HashMap<Sha256, Operator>,
    by_certificate: HashMap<Sha256, Operator>,
}

/// One operator's line, read: the account and its credentials.
struct Line {
    operator: Operator,
    token: Option<Sha256>,
    certificate: Option<Sha256>,
    line: u64,
}

impl Operators {
    /// Reads `operators.csv` (`name,role,token_sha256`, optionally
    /// `certificate_sha256`; UTF-8): the role one of `viewer`, `operator`,
    /// `admin`; the token's SHA-256 (e.g. `printf %s "$TOKEN" | sha256sum`)
    /// and/or the SHA-256 of the operator's client certificate from the
    /// operator CA (`openssl x509 -noout -fingerprint -sha256`), each 64
    /// hex digits. Any bad line fails the load, naming file, line and field.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Operators> {
        let mut source = CsvSource::open(path, Encoding::Utf8)?;
        source.require_columns(&["name", "role", "token_sha256"])?;
        let mut operators = Operators::default();
        let mut problems = Vec::new();
        let mut bad_rows = Vec::new();
        source.for_each_row(
            |row| {
                let name = row.get("name").trim();
                if name.is_empty() || name.chars().any(char::is_control) {
                    return Err(row.bad("name: required, without control characters".into()));
                }
                let role = Role::parse(row.get("role").trim())
                    .ok_or_else(|| row.bad("role: one of viewer, operator, admin".into()))?;
                let hash = |column: &str, of: &str| match row.get(column).trim() {
                    "" => Ok(None),
                    text => Sha256::parse(text).map(Some).ok_or_else(|| {
                        row.bad(format!("{column}: 64 hex digits, the SHA-256 of the operator's {of}"))
                    }),
                };
                let token = hash("token_sha256", "token")?;
                let certificate = hash("certificate_sha256", "client certificate")?;
                if token.is_none() && certificate.is_none() {
                    return Err(row.bad(
                        "token_sha256: give the operator a token or a certificate (certificate_sha256)".into(),
                    ));
                }
                let operator = Operator {
                    name: name.to_string(),
                    role,
                };
                Ok(Line {
                    operator,
                    token,
                    certificate,
                    line: row.line,
                })
            },
            |line| {
                if let Err(problem) = operators.insert(line.operator, line.token, line.certificate) {
                    let number = line.line;
                    problems.push((number, format!("{}:{number}: {problem}", path.display())));
                }
            },
            &mut |bad| bad_rows.push((bad.line, bad.to_string())),
        );
        problems.extend(bad_rows);
        refuse_bad_lines(problems)?;
        Ok(operators)
    }

    fn insert(
        &mut self,
        operator: Operator,
        token: Option<Sha256>,
        certificate: Option<Sha256>,
    ) -> Result<(), String> {
        if token.is_some_and(|t| self.by_token.contains_key(&t)) {
            return Err("token_sha256: the same token is given to two operators".into());
        }
        if certificate.is_some_and(|c| self.by_certificate.contains_key(&c)) {
            return Err(
                "certificate_sha256: the same certificate is given to two operators".into(),
            );
        }
        if let Some(token) = token {
            self.by_token.insert(token, operator.clone());
        }
        if let Some(certificate) = certificate {
            self.by_certificate.insert(certificate, operator);
        }
        Ok(())
    }

    /// Operators with an account.
    pub(crate) fn len(&self) -> usize {
        let mut names: Vec<&str> = self
            .by_token
            .values()
            .chain(self.by_certificate.values())
            .map(|o| o.name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        names.len()
    }

    /// The operator whose token hashes to `token_sha256`, if any.
    pub(crate) fn find(&self, token_sha256: &Sha256) -> Option<&Operator> {
        self.by_token.get(token_sha256)
    }

    /// The operator whose client certificate has SHA-256 `fingerprint`.
    pub(crate) fn find_certificate(&self, fingerprint: &Sha256) -> Option<&Operator> {
        self.by_certificate.get(fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn operators(text: &str) -> anyhow::Result<Operators> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        Operators::load(file.path())
    }

    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn a_token_finds_its_operator_and_role() {
        let loaded = operators(&format!("name,role,token_sha256\nsato,viewer,{ABC}\n")).unwrap();
        let hash = |token: &str| Sha256::of(token.as_bytes());
        assert_eq!(
            loaded.find(&hash("abc")),
            Some(&Operator {
                name: "sato".into(),
                role: Role::Viewer
            })
        );
        assert_eq!(loaded.find(&hash("abd")), None);
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
    }

    #[test]
    fn bad_lines_name_the_line_and_field() {
        let cases = [
            (format!("sato,root,{ABC}\n"), ":2: role"),
            ("sato,viewer,abc\n".to_string(), ":2: token_sha256"),
            (format!(",viewer,{ABC}\n"), ":2: name"),
            (
                format!("sato,viewer,{ABC}\nsuzuki,admin,{ABC}\n"),
                ":3: token_sha256",
            ),
        ];
        for (body, expected) in cases {
            let error = operators(&format!("name,role,token_sha256\n{body}"))
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
    }
}

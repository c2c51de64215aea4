//! Reading shikaku's answers just far enough to verify them: `status`,
//! `verdict`, `snapshot` and `error.code` of each answer, borrowed from the
//! response body (the records are skipped, not built).

use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
struct Answer<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    verdict: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    snapshot: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    error: Option<ErrorPart<'a>>,
}

#[derive(Deserialize)]
struct ErrorPart<'a> {
    #[serde(borrow)]
    code: Cow<'a, str>,
}

/// One answer, as far as the harness cares.
#[derive(Debug, PartialEq)]
pub enum Read<'a> {
    Verdict {
        verdict: Cow<'a, str>,
        snapshot: Cow<'a, str>,
    },
    Error {
        code: Cow<'a, str>,
    },
}

/// Reads one answer object; `Err` says why it is not one.
pub fn read(text: &[u8]) -> Result<Read<'_>, String> {
    let answer: Answer<'_> =
        serde_json::from_slice(text).map_err(|e| format!("not an answer ({e})"))?;
    match (answer.status.as_ref(), answer.verdict, answer.error) {
        ("ok", Some(verdict), _) => Ok(Read::Verdict {
            verdict,
            snapshot: answer.snapshot.unwrap_or(Cow::Borrowed("")),
        }),
        ("error", _, Some(error)) => Ok(Read::Error { code: error.code }),
        (status, _, _) => Err(format!(
            "an answer with status {status:?} and no verdict or error code"
        )),
    }
}

/// The error code of an error answer, if the body is one.
pub fn error_code(body: &[u8]) -> Option<String> {
    match read(body) {
        Ok(Read::Error { code }) => Some(code.into_owned()),
        _ => None,
    }
}

/// The non-blank lines of an NDJSON body.
pub fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .filter(|line| line.iter().any(|b| !b.is_ascii_whitespace()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_errors_and_garbage() {
        let ok = br#"{"status":"ok","verdict":"valid","date":"2026-11-21","snapshot":"s\"1","records":[{"verdict":"x"}]}"#;
        assert_eq!(
            read(ok).unwrap(),
            Read::Verdict {
                verdict: "valid".into(),
                snapshot: "s\"1".into()
            }
        );
        let error = br#"{"status":"error","error":{"code":"busy","message":"try later"}}"#;
        assert_eq!(
            read(error).unwrap(),
            Read::Error {
                code: "busy".into()
            }
        );
        assert_eq!(error_code(error).as_deref(), Some("busy"));
        assert!(read(b"<html>").is_err());
        assert!(read(br#"{"status":"processing"}"#).is_err());
        let body = b"{\"a\":1}\n\n  \n{\"b\":2}\n";
        assert_eq!(lines(body).count(), 2);
    }
}

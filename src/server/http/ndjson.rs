//! Streaming NDJSON request bodies (bulk checks, updates): read the body
//! frame by frame with an idle limit, and cut it into lines while holding
//! at most one partial line.

use crate::model::ErrorCode;
use crate::server::http::response::ApiError;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::time::Duration;

/// A piece of the body: a complete line (without its `\n` or `\r\n`), or
/// the notice that a line was longer than allowed (it is skipped).
pub(crate) enum Piece<'a> {
    Line(&'a [u8]),
    TooLong,
}

/// Cuts a byte stream into lines.
pub(crate) struct LineSplitter {
    pending: Vec<u8>,
    /// Set while skipping the rest of a line that was too long.
    discarding: bool,
    max_line: usize,
}

impl LineSplitter {
    pub(crate) fn new(max_line: usize) -> LineSplitter {
        LineSplitter {
            pending: Vec::new(),
            discarding: false,
            max_line,
        }
    }

    /// Passes every line completed by `data` to `each`.
    pub(crate) fn feed(&mut self, data: &[u8], each: &mut impl FnMut(Piece<'_>)) {
        let mut rest = data;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (head, tail) = (&rest[..end], &rest[end + 1..]);
            if self.discarding {
                self.discarding = false;
            } else if self.pending.len() + trim_cr(head).len() > self.max_line {
                self.pending.clear();
                each(Piece::TooLong);
            } else if self.pending.is_empty() {
                each(Piece::Line(trim_cr(head)));
            } else {
                self.pending.extend_from_slice(head);
                let line = std::mem::take(&mut self.pending);
                each(Piece::Line(trim_cr(&line)));
            }
            rest = tail;
        }
        if self.discarding {
            return;
        }
        if self.pending.len() + rest.len() > self.max_line {
            each(Piece::TooLong);
            self.pending.clear();
            self.discarding = true;
        } else {
            self.pending.extend_from_slice(rest);
        }
    }

    /// Passes a last line without `\n`, if any.
    pub(crate) fn finish(&mut self, each: &mut impl FnMut(Piece<'_>)) {
        if !self.discarding && !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            each(Piece::Line(trim_cr(&line)));
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// True for a line of only whitespace (counted, not answered).
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// The next data chunk of `body`; `None` at its end. Fails when the body
/// breaks off or no data comes for `idle`.
pub(crate) async fn next_chunk(
    body: &mut Incoming,
    idle: Duration,
) -> Result<Option<Bytes>, ApiError> {
    loop {
        match tokio::time::timeout(idle, body.frame()).await {
            Ok(None) => return Ok(None),
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
            Ok(Some(Err(error))) => {
                return Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!("body: the request body broke off ({error})"),
                ))
            }
            Err(_) => {
                return Err(ApiError::new(
                    ErrorCode::Timeout,
                    "body: no data for too long; the rest of the request is not answered",
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&str], max: usize) -> Vec<String> {
        let mut splitter = LineSplitter::new(max);
        let mut out = Vec::new();
        let mut each = |piece: Piece<'_>| {
            out.push(match piece {
                Piece::Line(line) => String::from_utf8_lossy(line).into_owned(),
                Piece::TooLong => "<too long>".into(),
            })
        };
        for chunk in chunks {
            splitter.feed(chunk.as_bytes(), &mut each);
        }
        splitter.finish(&mut each);
        out
    }

    #[test]
    fn lines_cross_chunks_and_long_ones_are_skipped_once() {
        assert_eq!(split(&["a\r\nb", "c\n", "d"], 10), ["a", "bc", "d"]);
        assert_eq!(
            split(&["12345", "678901234", "5\nok\n"], 8),
            ["<too long>", "ok"]
        );
        assert_eq!(split(&["", "\n\n"], 8), ["", ""]);
        assert_eq!(
            split(&["123456789\nok\n12345678\n"], 8),
            ["<too long>", "ok", "12345678"]
        );
    }
}

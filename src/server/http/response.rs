//! Responses: the error answer of `CONTRACT.md` §3 (`{"status": "error",
//! "error": {"code", "message"}}` with a fitting HTTP status), and the body
//! type every handler returns.

use crate::engine::json::{write_opt_str, write_str, write_u32};
use crate::model::ErrorCode;
use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::{Either, Full};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, Response, StatusCode};

/// A whole body, or a stream (bulk answers).
pub(crate) type Body = Either<Full<Bytes>, Channel<Bytes>>;

/// The HTTP status of an error answer with `code`.
pub(crate) fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::BadRequest | ErrorCode::CertificateRejected => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::Busy
        | ErrorCode::NoSnapshot
        | ErrorCode::OutsideServiceHours
        | ErrorCode::SnapshotDamaged => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Refused => StatusCode::CONFLICT,
        ErrorCode::Throttled => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error answer: code, a message for counter staff or the integrator,
/// and the request field at fault when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<&'static str>,
    /// Seconds for `Retry-After` when the server knows better than the
    /// configured default (e.g. until service hours begin).
    pub retry_after: Option<u32>,
    /// Close the connection after this answer (`Connection: close`): its
    /// client certificate no longer holds, so nothing more is taken on it.
    pub close_connection: bool,
}

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            field: None,
            retry_after: None,
            close_connection: false,
        }
    }

    /// A 400 about one field; the message starts with the field's name.
    pub(crate) fn field(field: &'static str, problem: impl std::fmt::Display) -> ApiError {
        ApiError {
            code: ErrorCode::BadRequest,
            message: format!("{field}: {problem}"),
            field: Some(field),
            retry_after: None,
            close_connection: false,
        }
    }

    /// Appends `{"status":"error",…}`; `line` and `client_ref` are given for
    /// the lines of a bulk answer.
    pub(crate) fn write_json(
        &self,
        out: &mut Vec<u8>,
        line: Option<u64>,
        client_ref: Option<&str>,
    ) {
        out.extend_from_slice(b"{\"status\":\"error\",");
        if let Some(line) = line {
            out.extend_from_slice(b"\"line\":");
            out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
            out.extend_from_slice(b",\"client_ref\":");
            write_opt_str(out, client_ref);
            out.push(b',');
        }
        out.extend_from_slice(b"\"error\":{\"code\":\"");
        out.extend_from_slice(self.code.as_str().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        write_str(out, &self.message);
        if let Some(field) = self.field {
            out.extend_from_slice(b",\"field\":");
            write_str(out, field);
        }
        out.extend_from_slice(b"}}");
    }

    /// The whole HTTP response, with `Retry-After` on 503 and 429 and
    /// `WWW-Authenticate` on 401.
    pub(crate) fn response(&self, retry_after: u32) -> Response<Body> {
        let mut body = Vec::with_capacity(128 + self.message.len());
        self.write_json(&mut body, None, None);
        body.push(b'\n');
        let mut response = json(status_of(self.code), body);
        let headers = response.headers_mut();
        match status_of(self.code) {
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => {
                let mut seconds = Vec::new();
                write_u32(&mut seconds, self.retry_after.unwrap_or(retry_after));
                if let Ok(value) = HeaderValue::from_bytes(&seconds) {
                    headers.insert(RETRY_AFTER, value);
                }
            }
            StatusCode::UNAUTHORIZED => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        if self.close_connection {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// 405 for `path`, with the `Allow` header naming the method it takes.
pub(crate) fn method_not_allowed(path: &str, allowed: &Method) -> Response<Body> {
    let error = ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{path} takes {allowed}"),
    );
    let mut response = error.response(0);
    if let Ok(value) = HeaderValue::from_str(allowed.as_str()) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

/// A JSON response with `status` and `body`.
pub(crate) fn json(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    with_type(status, body, "application/json")
}

/// A response with `status`, `body` and content type `content_type`.
pub(crate) fn with_type(
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
) -> Response<Body> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_json_has_the_contract_shape() {
        let mut out = Vec::new();
        ApiError::field("serial", "not a \"number\"").write_json(&mut out, None, None);
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["status"], "error");
        assert_eq!(value["error"]["code"], "bad_request");
        assert_eq!(value["error"]["message"], "serial: not a \"number\"");
        assert_eq!(value["error"]["field"], "serial");
        let mut line = Vec::new();
        ApiError::new(ErrorCode::Forbidden, "no").write_json(&mut line, Some(7), Some("P-1"));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["line"], 7);
        assert_eq!(value["client_ref"], "P-1");
    }

    #[test]
    fn busy_answers_carry_retry_after() {
        let response = ApiError::new(ErrorCode::Busy, "busy").response(3);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
        let response = ApiError::new(ErrorCode::Unauthorized, "who?").response(3);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    }
}

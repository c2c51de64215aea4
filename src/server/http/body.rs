//! Reading a whole request body within its size and time limits.

use crate::model::ErrorCode;
use crate::server::http::response::ApiError;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use std::time::Duration;

/// Reads a whole request body of at most `limit` bytes: 413 beyond (by
/// `Content-Length` before reading, or while reading; `hint` says what to do
/// instead), 408 when the client does not finish sending within `timeout`.
pub(crate) async fn read_body(
    headers: &hyper::HeaderMap,
    body: Incoming,
    limit: usize,
    timeout: Duration,
    hint: &str,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("body: larger than {limit} bytes{hint}"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let read = Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(ApiError::new(
            ErrorCode::Timeout,
            "body: not received in time; send the whole request at once",
        )),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(error)) => Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("body: could not be read ({error})"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

//! The HTTP/1.1 client side: one hyper connection per TCP stream, driven by
//! the task that owns it (no pool library, so the harness decides exactly
//! when a connection is opened, reused or dropped).

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::Request;
use hyper_util::rt::TokioIo;

/// Where requests go: `http://host:port` (TLS is terminated in front of
/// shikaku, so the harness speaks plain HTTP to it).
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `host:port`, for connecting and the `Host` header.
    pub authority: String,
    /// `Authorization` header value, if any.
    pub authorization: Option<String>,
}

impl Endpoint {
    /// Parses `http://host:port[/]`; `what` names the setting in errors.
    pub fn parse(url: &str, token: Option<&str>, what: &str) -> Result<Endpoint> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| anyhow!("{what}: {url:?} is not a URL ({e})"))?;
        if uri.scheme_str() != Some("http") {
            bail!("{what}: {url:?} must start with http:// (put TLS in front of the server, not in the harness)");
        }
        if !matches!(uri.path(), "" | "/") {
            bail!("{what}: {url:?} must be a base URL without a path");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("{what}: {url:?} names no host"))?;
        let authority = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:80"),
        };
        Ok(Endpoint {
            authority,
            authorization: token.map(|t| format!("Bearer {t}")),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// A POST of `body` to `path`; `close` asks the server to close the
    /// connection after answering.
    pub fn post(&self, path: &str, body: Bytes, close: bool) -> Request<Full<Bytes>> {
        let mut builder = Request::post(path)
            .header(hyper::header::HOST, self.authority.as_str())
            .header(hyper::header::CONTENT_TYPE, content_type(path));
        if let Some(authorization) = &self.authorization {
            builder = builder.header(hyper::header::AUTHORIZATION, authorization.as_str());
        }
        if close {
            builder = builder.header(hyper::header::CONNECTION, "close");
        }
        builder
            .body(Full::new(body))
            .expect("a POST with a valid path and headers")
    }

    /// Opens a connection; its driver runs as its own task and ends when
    /// the returned sender is dropped.
    pub async fn connect(&self) -> std::io::Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

fn content_type(path: &str) -> &'static str {
    if path.ends_with("/bulk") {
        "application/x-ndjson"
    } else {
        "application/json"
    }
}

/// Why an exchange failed, as the summary names it.
#[derive(Debug)]
pub enum ExchangeError {
    Send(hyper::Error),
    Body(hyper::Error),
}

impl ExchangeError {
    pub fn kind(&self) -> &'static str {
        match self {
            ExchangeError::Send(_) => "send",
            ExchangeError::Body(_) => "body",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ExchangeError::Send(e) | ExchangeError::Body(e) => e.to_string(),
        }
    }
}

/// Sends `request` and reads the whole answer.
pub async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    request: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), ExchangeError> {
    let response = sender
        .send_request(request)
        .await
        .map_err(ExchangeError::Send)?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(ExchangeError::Body)?
        .to_bytes();
    Ok((status, body))
}

/// One GET on a fresh connection (admin status).
pub async fn get_once(endpoint: &Endpoint, path: &str) -> Result<(u16, Bytes)> {
    let mut sender = endpoint
        .connect()
        .await
        .map_err(|e| anyhow!("cannot connect to {}: {e}", endpoint.url()))?;
    let request = Request::get(path)
        .header(hyper::header::HOST, endpoint.authority.as_str())
        .header(hyper::header::CONNECTION, "close");
    let request = match &endpoint.authorization {
        Some(authorization) => request.header(hyper::header::AUTHORIZATION, authorization.as_str()),
        None => request,
    };
    let request = request
        .body(Full::new(Bytes::new()))
        .map_err(|e| anyhow!("GET {path}: {e}"))?;
    exchange(&mut sender, request)
        .await
        .map_err(|e| anyhow!("{} {path}: {}", endpoint.url(), e.message()))
}

/// One POST on a fresh connection (admin actions).
pub async fn post_once(endpoint: &Endpoint, path: &str, body: Bytes) -> Result<(u16, Bytes)> {
    let mut sender = endpoint
        .connect()
        .await
        .map_err(|e| anyhow!("cannot connect to {}: {e}", endpoint.url()))?;
    exchange(&mut sender, endpoint.post(path, body, true))
        .await
        .map_err(|e| anyhow!("{} {path}: {}", endpoint.url(), e.message()))
}

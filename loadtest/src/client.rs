//! The HTTP/1.1 client side: one hyper connection per TCP stream, driven by
//! the task that owns it (no pool library, so the harness decides exactly
//! when a connection is opened, reused or dropped).

use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

/// Where requests go: `http://host:port` (TLS is terminated in front of
/// shikaku, so the harness speaks plain HTTP to it).
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `host:port`, for connecting.
    pub authority: String,
    /// The `Host` and `Authorization` headers, validated once.
    host: HeaderValue,
    authorization: Option<HeaderValue>,
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
        let host = HeaderValue::from_str(&authority)
            .map_err(|_| anyhow!("{what}: {url:?} is not a valid host"))?;
        let authorization = token
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
            .transpose()
            .map_err(|_| anyhow!("{what}: the token holds characters a header cannot carry"))?;
        Ok(Endpoint {
            authority,
            host,
            authorization,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.authority)
    }

    /// A request for `path` (one of the harness's own constant paths);
    /// `close` asks the server to close the connection after answering.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Bytes,
        close: bool,
    ) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = hyper::Uri::try_from(path).expect("the harness's paths are valid");
        let headers = request.headers_mut();
        headers.insert(HOST, self.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
        if let Some(authorization) = &self.authorization {
            headers.insert(AUTHORIZATION, authorization.clone());
        }
        if close {
            headers.insert(CONNECTION, HeaderValue::from_static("close"));
        }
        request
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

/// One request on a fresh connection (the admin API).
pub async fn once(
    endpoint: &Endpoint,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<(u16, Bytes)> {
    let mut sender = endpoint
        .connect()
        .await
        .map_err(|e| anyhow!("cannot connect to {}: {e}", endpoint.url()))?;
    exchange(&mut sender, endpoint.request(method, path, body, true))
        .await
        .map_err(|e| anyhow!("{} {path}: {}", endpoint.url(), e.message()))
}

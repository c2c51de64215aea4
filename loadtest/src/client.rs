//! The HTTP/1.1 client side: one hyper connection per TCP (or TLS) stream,
//! driven by the task that owns it (no pool library, so the harness decides
//! exactly when a connection is opened, reused or dropped).

use crate::tls::{for_institution, HandshakeSummary, TlsClients, TlsSpec};
use anyhow::{anyhow, bail, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, AUTHORIZATION, CONNECTION, CONTENT_TYPE, HOST};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Instant;

/// Where requests go: `http://host:port`, or `https://host:port` with the
/// TLS material of [`TlsSpec`].
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// `host:port`, for connecting.
    pub authority: String,
    /// The `Host` and `Authorization` headers, validated once.
    host: HeaderValue,
    authorization: Option<HeaderValue>,
    /// TLS clients (https only).
    tls: Option<Arc<TlsClients>>,
    /// The institution the prepared checks name, rewritten on a connection
    /// whose certificate is another institution's.
    institution: Arc<str>,
}

/// One open connection, and the institution its certificate is for.
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    institution: Option<Arc<str>>,
}

impl Connection {
    /// Whether the server closed it.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }
}

impl Endpoint {
    /// Parses `http://host:port[/]` or `https://…` (then with `tls`, the
    /// checks made for `institution`); `what` names the setting in errors.
    pub fn parse(
        url: &str,
        token: Option<&str>,
        what: &str,
        tls: Option<&TlsSpec>,
        institution: &str,
    ) -> Result<Endpoint> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| anyhow!("{what}: {url:?} is not a URL ({e})"))?;
        let (secure, default_port) = match uri.scheme_str() {
            Some("http") => (false, 80),
            Some("https") => (true, 443),
            _ => bail!("{what}: {url:?} must start with http:// or https://"),
        };
        if !matches!(uri.path(), "" | "/") {
            bail!("{what}: {url:?} must be a base URL without a path");
        }
        let authority = uri
            .authority()
            .ok_or_else(|| anyhow!("{what}: {url:?} names no host"))?;
        let host_name = authority.host().trim_matches(['[', ']']).to_string();
        let authority = match authority.port() {
            Some(_) => authority.to_string(),
            None => format!("{authority}:{default_port}"),
        };
        let tls = match secure {
            false => None,
            true => Some(Arc::new(TlsClients::load(
                tls.unwrap_or(&TlsSpec::default()),
                &host_name,
            )?)),
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
            tls,
            institution: institution.into(),
        })
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }

    /// The handshakes made so far (https only).
    pub fn handshakes(&self) -> Option<HandshakeSummary> {
        self.tls.as_ref().map(|tls| tls.summary())
    }

    /// A request for `path` (one of the harness's own constant paths) on
    /// `connection`, its checks made for the institution of the
    /// connection's certificate; `close` asks the server to close the
    /// connection after answering.
    pub fn request(
        &self,
        connection: &Connection,
        method: Method,
        path: &str,
        body: &Bytes,
        close: bool,
    ) -> Request<Full<Bytes>> {
        let body = match &connection.institution {
            Some(code) => for_institution(body, &self.institution, code),
            None => body.clone(),
        };
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

    /// Opens a connection (with its TLS handshake on https); its driver
    /// runs as its own task and ends when the connection is dropped.
    pub async fn connect(&self) -> std::io::Result<Connection> {
        let started = Instant::now();
        let stream = tokio::net::TcpStream::connect(&self.authority).await?;
        stream.set_nodelay(true)?;
        let Some(tls) = &self.tls else {
            let sender = drive(TokioIo::new(stream)).await?;
            return Ok(Connection {
                sender,
                institution: None,
            });
        };
        let (stream, institution) = tls.connect(stream, started).await?;
        let sender = drive(TokioIo::new(stream)).await?;
        Ok(Connection {
            sender,
            institution,
        })
    }
}

/// The HTTP/1.1 handshake on `io`, its connection driven by its own task.
async fn drive<I>(io: I) -> std::io::Result<SendRequest<Full<Bytes>>>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(io).await.map_err(std::io::Error::other)?;
    tokio::spawn(connection);
    Ok(sender)
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

/// Sends `request` on `connection` and reads the whole answer.
pub async fn exchange(
    connection: &mut Connection,
    request: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), ExchangeError> {
    let response = connection
        .sender
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
    let mut connection = endpoint
        .connect()
        .await
        .map_err(|e| anyhow!("cannot connect to {}: {e}", endpoint.url()))?;
    let request = endpoint.request(&connection, method, path, &body, true);
    exchange(&mut connection, request)
        .await
        .map_err(|e| anyhow!("{} {path}: {}", endpoint.url(), e.message()))
}

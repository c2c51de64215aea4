//! Accepting and driving connections: HTTP/1.1 with keep-alive, a bound on
//! open connections, a header read timeout, an idle timeout, and graceful
//! shutdown (stop accepting, let requests in progress finish, close idle
//! connections, give up at the deadline).
//!
//! With TLS, the handshake comes first, bounded by the header read
//! timeout, and the client certificate it verified rides on each request.
//!
//! hyper's own header timeout does not cover the wait between requests on a
//! keep-alive connection, so each connection's socket records when it last
//! moved a byte and the connection task closes it gracefully once it has
//! been quiet for the idle timeout.

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::server::http::response::Body;
use crate::server::tls::peer::PeerCertificate;
use crate::server::tls::TlsEndpoint;

/// How connections are treated.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

/// Signals shutdown to every accept loop and connection.
#[derive(Clone)]
pub(crate) struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown {
            sender: Arc::new(watch::channel(false).0),
        }
    }
}

impl Shutdown {
    pub(crate) fn begin(&self) {
        self.sender.send_replace(true);
    }

    pub(crate) fn has_begun(&self) -> bool {
        *self.sender.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.sender.subscribe()
    }
}

/// Accepts connections on `listener` until shutdown, serving each with
/// `handler` (over TLS with `tls`, each request then carrying its
/// connection's client certificate, if any, as an
/// `Arc<PeerCertificate>` extension); returns once every connection has
/// closed or `deadline` has passed since shutdown began. `open` counts the
/// connections open.
pub(crate) async fn serve<H, F>(
    listener: TcpListener,
    tls: Option<Arc<TlsEndpoint>>,
    handler: H,
    limits: ConnectionLimits,
    shutdown: Shutdown,
    open: Arc<AtomicI64>,
    deadline: Duration,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut stop = shutdown.subscribe();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit,
            _ = stop.wait_for(|&s| s) => break,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|&s| s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: back off, keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let limits = limits.clone();
        let stop = shutdown.subscribe();
        let open = open.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            open.fetch_add(1, Ordering::Relaxed);
            let activity = Arc::new(Activity::new());
            let tracked = Tracked {
                inner: stream,
                activity: activity.clone(),
            };
            match tls {
                None => serve_connection(tracked, None, activity, handler, &limits, stop).await,
                Some(tls) => {
                    if let Some((stream, peer)) =
                        tls.accept(tracked, limits.header_read_timeout).await
                    {
                        serve_connection(stream, peer, activity, handler, &limits, stop).await;
                    }
                }
            }
            open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    // Wait for connections to finish (each closes once idle after shutdown).
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(deadline, slots.acquire_many(all)).await;
}

async fn serve_connection<S, H, F>(
    stream: S,
    peer: Option<Arc<PeerCertificate>>,
    activity: Arc<Activity>,
    handler: H,
    limits: &ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Response<Body>, Infallible>> + Send + 'static,
{
    let service = service_fn(move |mut request: Request<Incoming>| {
        if let Some(peer) = &peer {
            request.extensions_mut().insert(peer.clone());
        }
        handler(request)
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut closing = false;
    let idle = limits.idle_timeout;
    loop {
        let quiet_for = activity.quiet_for();
        let next_check = idle
            .saturating_sub(quiet_for)
            .max(Duration::from_millis(10));
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = stop.wait_for(|&s| s), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = tokio::time::sleep(next_check), if !closing => {
                if activity.quiet_for() >= idle {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// When a connection last moved a byte, as milliseconds since it opened.
struct Activity {
    opened: Instant,
    last_millis: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            opened: Instant::now(),
            last_millis: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let now = self.opened.elapsed().as_millis() as u64;
        self.last_millis.store(now, Ordering::Relaxed);
    }

    fn quiet_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
        self.opened.elapsed().saturating_sub(last)
    }
}

/// A socket that records its activity.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

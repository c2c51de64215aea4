//! A server that answers every request at once with the same small answer:
//! what `calibrate` measures the harness against, so the harness's own cost
//! is known, and what the scheduling tests stall on purpose.
//!
//! It speaks just enough HTTP/1.1 (request head, `Content-Length` body,
//! keep-alive, `Connection: close`) to be far cheaper than any real server,
//! and runs on its own thread and runtime so it does not share the
//! harness's.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The answer to every request: a valid check answer.
pub const ANSWER: &[u8] =
    br#"{"status":"ok","verdict":"valid","date":"2026-11-21","snapshot":"null","records":[]}"#;

/// A pause of the whole server, once, after a number of requests.
#[derive(Clone, Copy, Debug)]
pub struct Stall {
    pub after_requests: u64,
    pub pause: Duration,
}

pub struct NullServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct State {
    requests: AtomicU64,
    connections: AtomicU64,
    stall: Option<Stall>,
    /// When the stall ends, once it has begun.
    stalled_until: Mutex<Option<Instant>>,
}

impl NullServer {
    /// Starts on an ephemeral loopback port.
    pub fn start(stall: Option<Stall>) -> std::io::Result<NullServer> {
        NullServer::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), stall)
    }

    pub fn start_on(addr: SocketAddr, stall: Option<Stall>) -> std::io::Result<NullServer> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(State {
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            stall,
            stalled_until: Mutex::new(None),
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = {
            let (stop, state) = (stop.clone(), state.clone());
            std::thread::Builder::new()
                .name("null-server".into())
                .spawn(move || runtime.block_on(serve(listener, state, stop)))?
        };
        Ok(NullServer {
            addr,
            state,
            stop,
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Relaxed)
    }
}

impl Drop for NullServer {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        // Wake the accept loop.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: std::net::TcpListener, state: Arc<State>, stop: Arc<AtomicBool>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    while let Ok((stream, _)) = listener.accept().await {
        if stop.load(Relaxed) {
            break;
        }
        let _ = stream.set_nodelay(true);
        state.connections.fetch_add(1, Relaxed);
        tokio::spawn(connection(stream, state.clone()));
    }
}

async fn connection(mut stream: TcpStream, state: Arc<State>) {
    let mut buffer = Vec::with_capacity(8192);
    let (open, closing) = (response(true), response(false));
    loop {
        let Some((consumed, keep_alive)) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        buffer.drain(..consumed);
        wait_out_stall(&state).await;
        let answer = if keep_alive { &open } else { &closing };
        if stream.write_all(answer).await.is_err() || !keep_alive {
            return;
        }
    }
}

/// Bytes of the whole response (head and answer).
pub fn response_length(keep_alive: bool) -> usize {
    response(keep_alive).len()
}

fn response(keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{}\r\n",
        ANSWER.len(),
        if keep_alive {
            ""
        } else {
            "connection: close\r\n"
        }
    )
    .into_bytes();
    out.extend_from_slice(ANSWER);
    out
}

/// Reads one whole request; its length and whether the connection stays.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<(usize, bool)> {
    let mut scanned = 0;
    loop {
        if let Some(head_end) = find_head_end(buffer, scanned) {
            let head = &buffer[..head_end];
            let length = match header(head, b"content-length") {
                Some(value) => std::str::from_utf8(value).ok()?.trim().parse().ok()?,
                None => 0,
            };
            let keep_alive = !header(head, b"connection")
                .is_some_and(|v| v.trim_ascii().eq_ignore_ascii_case(b"close"));
            let total = head_end + 4 + length;
            if buffer.len() >= total {
                return Some((total, keep_alive));
            }
        } else {
            scanned = buffer.len().saturating_sub(3);
        }
        let mut chunk = [0u8; 16 * 1024];
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

/// Where the request head ends (the blank line), searching from `from`.
fn find_head_end(buffer: &[u8], from: usize) -> Option<usize> {
    buffer[from..]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| from + at)
}

/// The value of header `name` (lower case) in a request head.
fn header<'h>(head: &'h [u8], name: &[u8]) -> Option<&'h [u8]> {
    head.split(|&b| b == b'\n').find_map(|line| {
        let colon = line.iter().position(|&b| b == b':')?;
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        key.trim_ascii()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim_ascii())
    })
}

/// Counts the request and, if the stall is due or running, waits it out.
async fn wait_out_stall(state: &State) {
    let count = state.requests.fetch_add(1, Relaxed) + 1;
    let Some(stall) = state.stall else {
        return;
    };
    let until = {
        let mut stalled = state
            .stalled_until
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if count == stall.after_requests {
            *stalled = Some(Instant::now() + stall.pause);
        }
        *stalled
    };
    if let Some(until) = until {
        tokio::time::sleep_until(until.into()).await;
    }
}

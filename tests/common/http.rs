//! The real server as a child process on loopback ephemeral ports, and a
//! minimal HTTP/1.1 client over std sockets (so tests can also send what a
//! well-behaved client never would).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `shikaku serve`.
pub(crate) struct Server {
    child: Child,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    output: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `shikaku serve` with `args` plus ephemeral loopback listeners
    /// and waits until both listeners are bound.
    pub(crate) fn start(args: &[&str]) -> Server {
        let mut child = serve_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start shikaku serve");
        let output = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        let started = Instant::now();
        loop {
            let banner = output.lock().unwrap().iter().find_map(|l| parse_banner(l));
            if let Some(addresses) = banner {
                return Server {
                    child,
                    public: addresses.0,
                    admin: addresses.1,
                    output,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("server exited with {status}: {:?}", output.lock().unwrap());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `shikaku serve` with `args`, expecting it to fail at start;
    /// returns what it printed on stderr.
    pub(crate) fn fails_to_start(args: &[&str]) -> String {
        let output = serve_command(args).output().expect("run shikaku serve");
        assert!(!output.status.success(), "the server started");
        String::from_utf8_lossy(&output.stderr).to_string()
    }

    /// Starts the server and waits until a snapshot is live.
    pub(crate) fn ready(args: &[&str]) -> Server {
        let server = Server::start(args);
        server.wait_ready();
        server
    }

    pub(crate) fn wait_ready(&self) {
        let started = Instant::now();
        while get(self.public, "/readyz").status != 200 {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "not ready: {:?}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn output(&self) -> Vec<String> {
        self.output.lock().unwrap().clone()
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (at most `limit`).
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < limit, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `shikaku serve` with ephemeral loopback listeners and `args`.
fn serve_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_shikaku"));
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .args(args);
    command
}

/// Reads from `stream` until the server closes it (or 5 s pass); returns
/// what was read and how long it took.
pub(crate) fn read_until_closed(stream: &mut TcpStream) -> (Vec<u8>, Duration) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let _ = stream.read_to_end(&mut all);
    (all, started.elapsed())
}

/// `API on http://A  admin on http://B` (or https) → (A, B).
fn parse_banner(line: &str) -> Option<(SocketAddr, SocketAddr)> {
    let address = |text: &str| {
        let rest = text
            .strip_prefix("s://")
            .or_else(|| text.strip_prefix("://"))?;
        rest.split_whitespace().next()?.parse().ok()
    };
    let public = address(line.split("API on http").nth(1)?)?;
    let admin = address(line.split("admin on http").nth(1)?)?;
    Some((public, admin))
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The body as NDJSON values, one per line.
    pub(crate) fn lines(&self) -> Vec<serde_json::Value> {
        self.body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The error code of an error answer.
    pub(crate) fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub(crate) fn get(address: SocketAddr, path: &str) -> Reply {
    request(address, "GET", path, &[], b"")
}

pub(crate) fn post(address: SocketAddr, path: &str, body: &str) -> Reply {
    request(address, "POST", path, &[], body.as_bytes())
}

/// One request on a new connection (`Connection: close`).
pub(crate) fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_reply(&mut stream)
}

/// Reads a whole `Connection: close` answer from `stream`.
pub(crate) fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    parse_reply(&raw)
}

pub(crate) fn parse_reply(raw: &[u8]) -> Reply {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(body).expect("UTF-8 body"),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16)
            .expect("hex chunk size");
        data = &data[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

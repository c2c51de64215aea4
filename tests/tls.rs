//! Mutual TLS against the real server on loopback, with certificates made
//! by the `openssl` command line (an `openssl ca` with its own database,
//! so certificates can be revoked and CRLs issued as a CA does) and by
//! `shikaku tls gen`; clients are `curl`, `openssl s_client` and a rustls
//! client that keeps its connection open across a reload. Needs `openssl`
//! and `curl` on the PATH (CI installs them when absent).

mod common;

use common::http::{parse_reply, Reply, Server};
use common::openssl::openssl;
use common::{qualification, Built, Dataset};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const A: &str = "1312345678";
const B: &str = "2712345678";
const TOKEN_A: &str = "token-of-1312345678-0123456789";
const TOKEN_B: &str = "token-of-2712345678-0123456789";

const CA_CONFIG: &str = "[ ca ]\ndefault_ca = test\n[ test ]\ndatabase = index.txt\n\
new_certs_dir = issued\nserial = serial\ncrlnumber = crlnumber\ncertificate = ca.pem\n\
private_key = ca.key\ndefault_md = sha256\ndefault_days = 30\ndefault_crl_days = 2\n\
policy = any\nunique_subject = no\n[ any ]\ncommonName = supplied\n\
[ client ]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = clientAuth\n\
[ server ]\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature, keyEncipherment\n\
extendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n";

/// An institution CA run with `openssl ca` in a temporary directory.
struct OpensslCa {
    dir: tempfile::TempDir,
}

impl OpensslCa {
    /// A P-256 CA, its database, and an RSA-2048 server certificate.
    fn new() -> OpensslCa {
        let ca = OpensslCa {
            dir: tempfile::tempdir().unwrap(),
        };
        let dir = ca.dir.path();
        std::fs::create_dir(dir.join("issued")).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        std::fs::write(dir.join("crlnumber"), "01\n").unwrap();
        std::fs::write(dir.join("ca.cnf"), CA_CONFIG).unwrap();
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3650",
                "-subj",
                "/C=JP/O=openssl test/CN=openssl test institution CA",
            ],
        );
        ca.issue(
            "server",
            "/CN=localhost",
            &["-newkey", "rsa:2048"],
            "server",
            &[],
        );
        ca.crl();
        ca
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn arg(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_string()
    }

    /// Issues `name.pem` / `name.key` for `subject` with extensions
    /// section `section`; `dates` may set `-startdate`/`-enddate`.
    fn issue(&self, name: &str, subject: &str, key: &[&str], section: &str, dates: &[&str]) {
        let dir = self.dir.path();
        let (key_file, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        let mut req = vec![
            "req", "-new", "-nodes", "-keyout", &key_file, "-subj", subject, "-out", &csr,
        ];
        req.extend_from_slice(key);
        openssl(dir, &req);
        let mut sign = vec![
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-extensions",
            section,
            "-in",
            &csr,
            "-out",
            &pem,
        ];
        sign.extend_from_slice(dates);
        openssl(dir, &sign);
    }

    /// A P-256 client certificate with common name `cn`.
    fn client(&self, name: &str, cn: &str) {
        self.issue(
            name,
            &format!("/C=JP/O=test clinic/CN={cn}"),
            &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "client",
            &[],
        );
    }

    fn revoke(&self, name: &str) {
        openssl(
            self.dir.path(),
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-revoke",
                &format!("{name}.pem"),
                "-crl_reason",
                "cessationOfOperation",
            ],
        );
    }

    /// Writes the CA's current CRL to `crl.der` (a new name first, then
    /// renamed, as an operator's fetch would).
    fn crl(&self) {
        let dir = self.dir.path();
        openssl(
            dir,
            &["ca", "-config", "ca.cnf", "-gencrl", "-out", "crl.pem"],
        );
        openssl(
            dir,
            &[
                "crl",
                "-in",
                "crl.pem",
                "-outform",
                "DER",
                "-out",
                "crl.der.new",
            ],
        );
        std::fs::rename(dir.join("crl.der.new"), dir.join("crl.der")).unwrap();
    }

    /// Writes a CRL to `crl.der` that was due for renewal on 2026-01-02.
    fn stale_crl(&self) {
        let dir = self.dir.path();
        openssl(
            dir,
            &[
                "ca",
                "-config",
                "ca.cnf",
                "-gencrl",
                "-crl_lastupdate",
                "20260101000000Z",
                "-crl_nextupdate",
                "20260102000000Z",
                "-out",
                "crl.pem",
            ],
        );
        openssl(
            dir,
            &[
                "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der",
            ],
        );
    }

    /// SHA-256 fingerprint of `name.pem`, as openssl prints it (colons).
    fn fingerprint(&self, name: &str) -> String {
        let text = openssl(
            self.dir.path(),
            &[
                "x509",
                "-in",
                &format!("{name}.pem"),
                "-noout",
                "-fingerprint",
                "-sha256",
            ],
        );
        text.trim().rsplit('=').next().unwrap().to_string()
    }

    /// Writes institutions.csv: A and B with tokens, plus `extra` lines.
    fn registry(&self, extra: &str) -> String {
        let text = format!(
            "institution_code,name,prefecture,token,certificate_sha256\n{A},A医院,東京都,{TOKEN_A},\n{B},B薬局,大阪府,{TOKEN_B},\n{extra}"
        );
        std::fs::write(self.path("institutions.csv"), text).unwrap();
        self.arg("institutions.csv")
    }
}

fn built() -> Built {
    Dataset::new()
        .row(qualification("1", &common::branch(1), "2020-04-01").set("card_branch", "01"))
        .link("0x11", "1")
        .build()
}

/// `serve` arguments for `built` with TLS from `ca` (its RSA server key,
/// its CA and CRL), then `extra`.
fn tls_args(built: &Built, ca: &OpensslCa, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--snapshot",
        built.out.to_str().unwrap(),
        "--service-hours",
        "off",
    ]
    .map(String::from)
    .to_vec();
    for (flag, file) in [
        ("--tls-cert", "server.pem"),
        ("--tls-key", "server.key"),
        ("--client-ca", "ca.pem"),
        ("--client-crl", "crl.der"),
    ] {
        args.extend([flag.to_string(), ca.arg(file)]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// The server with TLS from `ca`, and `extra` settings, once it answers.
fn serve(built: &Built, ca: &OpensslCa, extra: &[&str]) -> Server {
    let args = tls_args(built, ca, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&args);
    if !ca.path("ready.pem").exists() {
        ca.client("ready", A);
    }
    let client = Client::new(ca, Some("ready"));
    let started = Instant::now();
    while !client
        .get(server.public, "/readyz")
        .is_ok_and(|r| r.status == 200)
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not ready: {:?}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// A rustls client trusting `ca`, presenting `name.pem` when given.
struct Client {
    config: Arc<rustls::ClientConfig>,
}

type Stream = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

impl Client {
    fn new(ca: &OpensslCa, certificate: Option<&str>) -> Client {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca.path("ca.pem")).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match certificate {
            Some(name) => {
                let chain = CertificateDer::pem_file_iter(ca.path(&format!("{name}.pem")))
                    .unwrap()
                    .map(Result::unwrap)
                    .collect();
                let key = PrivateKeyDer::from_pem_file(ca.path(&format!("{name}.key"))).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
            None => builder.with_no_client_auth(),
        };
        Client {
            config: Arc::new(config),
        }
    }

    fn connect(&self, address: SocketAddr) -> Stream {
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let connection = rustls::ClientConnection::new(self.config.clone(), name).unwrap();
        let socket = TcpStream::connect(address).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        rustls::StreamOwned::new(connection, socket)
    }

    /// One GET on a new connection; `Err` when TLS refused it.
    fn get(&self, address: SocketAddr, path: &str) -> std::io::Result<Reply> {
        send(&mut self.connect(address), "GET", path, &[], "")
    }
}

/// One keep-alive request on `stream`, its answer read by Content-Length.
fn send(
    stream: &mut Stream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Reply> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    stream.write_all(format!("{head}\r\n{body}").as_bytes())?;
    let mut raw = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if raw.len() >= end + 4 + length {
                return Ok(parse_reply(&raw));
            }
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Err(std::io::Error::other("closed before a whole answer"));
        }
        raw.extend_from_slice(&buffer[..n]);
    }
}

fn check_body(institution: &str) -> String {
    format!(r#"{{"institution":"{institution}","serial":"0x11"}}"#)
}

/// `curl` with `args`: (exit code, stdout + stderr).
fn curl(args: &[&str]) -> (i32, String) {
    let output = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is needed for this test (CI installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// curl presenting `name` of `ca` (or no certificate) on `path`.
fn curl_as(
    ca: &OpensslCa,
    name: Option<&str>,
    server: &Server,
    path: &str,
    extra: &[&str],
) -> (i32, String) {
    let url = format!("https://127.0.0.1:{}{path}", server.public.port());
    let (cacert, cert, key) = match name {
        Some(name) => (
            ca.arg("ca.pem"),
            ca.arg(&format!("{name}.pem")),
            ca.arg(&format!("{name}.key")),
        ),
        None => (ca.arg("ca.pem"), String::new(), String::new()),
    };
    let mut args = vec!["--cacert", &cacert];
    if name.is_some() {
        args.extend_from_slice(&["--cert", &cert, "--key", &key]);
    }
    args.extend_from_slice(extra);
    args.push(&url);
    curl(&args)
}

/// `openssl s_client` presenting `name`, sending one GET; its whole output.
fn s_client(ca: &OpensslCa, name: &str, server: &Server, extra: &[&str]) -> String {
    let connect = format!("127.0.0.1:{}", server.public.port());
    let (cert, key, cafile) = (
        ca.arg(&format!("{name}.pem")),
        ca.arg(&format!("{name}.key")),
        ca.arg("ca.pem"),
    );
    let mut child = Command::new("openssl")
        .args([
            "s_client", "-connect", &connect, "-cert", &cert, "-key", &key, "-CAfile", &cafile,
            "-ign_eof",
        ])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl s_client");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn admin_post(server: &Server, path: &str, token: Option<&str>) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    common::http::request(server.admin, "POST", path, &headers, b"")
}

#[test]
fn only_current_certificates_of_the_institution_ca_get_a_connection() {
    let ca = OpensslCa::new();
    ca.client("a", A);
    ca.client("gone", B);
    ca.revoke("gone");
    ca.crl();
    ca.issue(
        "expired",
        &format!("/CN={A}"),
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "client",
        &[
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20210101000000Z",
        ],
    );
    let stranger = OpensslCa::new();
    stranger.client("a", A);
    let built = built();
    let server = serve(&built, &ca, &[]);

    let (code, text) = curl_as(&ca, Some("a"), &server, "/readyz", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("\"ready\""), "{text}");
    let (code, text) = curl_as(&ca, None, &server, "/readyz", &[]);
    assert_ne!(code, 0, "no client certificate: {text}");
    assert!(text.contains("certificate required"), "{text}");
    let (code, text) = curl_as(&ca, Some("expired"), &server, "/readyz", &[]);
    assert_ne!(code, 0, "expired: {text}");
    assert!(text.contains("certificate expired"), "{text}");
    let revoked = s_client(&ca, "gone", &server, &[]);
    assert!(revoked.contains("certificate revoked"), "{revoked}");
    assert!(!revoked.contains("HTTP/1.1 200"), "{revoked}");
    let other_ca = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", &ca.arg("ca.pem")])
        .args([
            "--cert",
            &stranger.arg("a.pem"),
            "--key",
            &stranger.arg("a.key"),
        ])
        .arg(format!("https://127.0.0.1:{}/readyz", server.public.port()))
        .output()
        .unwrap();
    // The stranger's CA has the same name as ours: the chain is refused on
    // its signature.
    let other_text = String::from_utf8_lossy(&other_ca.stderr);
    assert!(
        !other_ca.status.success() && other_text.contains("decrypt error"),
        "{other_text}"
    );

    // TLS 1.2 and 1.3 both; nothing older.
    for version in ["--tlsv1.2", "--tlsv1.3"] {
        let max = if version == "--tlsv1.2" { "1.2" } else { "1.3" };
        let (code, text) = curl_as(
            &ca,
            Some("a"),
            &server,
            "/readyz",
            &[version, "--tls-max", max],
        );
        assert_eq!(code, 0, "{version}: {text}");
    }
    let old = s_client(&ca, "a", &server, &["-tls1_1"]);
    assert!(!old.contains("HTTP/1.1 200"), "TLS 1.1 was accepted: {old}");

    let metrics = Client::new(&ca, Some("a"))
        .get(server.public, "/metrics")
        .unwrap()
        .body;
    assert!(
        metrics.contains("shikaku_tls_handshake_failures_total{listener=\"public\"}"),
        "{metrics}"
    );
    let failures: u64 = metrics
        .lines()
        .find(|l| l.starts_with("shikaku_tls_handshake_failures_total{listener=\"public\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap();
    assert!(failures >= 5, "{metrics}");
}

#[test]
fn a_certificate_checks_only_for_its_own_institution() {
    let ca = OpensslCa::new();
    ca.client("a", A);
    ca.client("nobody", "clinic.example");
    let built = built();
    let registry = ca.registry("");
    let server = serve(&built, &ca, &["--institutions", &registry]);
    let check = |name: &str, institution: &str| {
        let (code, text) = curl_as(
            &ca,
            Some(name),
            &server,
            "/v1/check/card",
            &["-d", &check_body(institution)],
        );
        assert_eq!(code, 0, "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    assert_eq!(check("a", A)["status"], "ok");
    let as_b = check("a", B);
    assert_eq!(as_b["error"]["code"], "forbidden", "{as_b}");
    assert!(
        as_b["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("institution {A}'s")),
        "{as_b}"
    );
    let nobody = check("nobody", A);
    assert_eq!(nobody["error"]["code"], "forbidden", "{nobody}");
    // The history of another institution is refused the same way.
    let (_, history) = curl_as(
        &ca,
        Some("a"),
        &server,
        &format!("/v1/history?institution={B}&serial=0x11"),
        &[],
    );
    assert!(history.contains("forbidden"), "{history}");
}

#[test]
fn a_pinned_fingerprint_decides_and_a_token_can_be_required_too() {
    let ca = OpensslCa::new();
    ca.client("a", A);
    ca.client("a2", A);
    ca.client("pinned", "not a code");
    let built = built();
    // B's line pins `pinned` (whose subject names nothing); A's pins `a`.
    let pins = format!("{},{}", ca.fingerprint("a"), ca.fingerprint("pinned"));
    let (pin_a, pin_pinned) = pins.split_once(',').unwrap();
    let text = format!(
        "institution_code,name,prefecture,token,certificate_sha256\n{A},A,東京都,{TOKEN_A},{pin_a}\n{B},B,大阪府,,{pin_pinned}\n"
    );
    std::fs::write(ca.path("institutions.csv"), text).unwrap();
    let registry = ca.arg("institutions.csv");
    let server = serve(
        &built,
        &ca,
        &[
            "--institutions",
            &registry,
            "--require-token-with-certificate",
        ],
    );
    let check = |name: &str, institution: &str, token: Option<&str>| {
        let auth = token.map(|t| format!("Authorization: Bearer {t}"));
        let mut extra = vec!["-d".to_string(), check_body(institution)];
        if let Some(auth) = auth {
            extra.extend(["-H".to_string(), auth]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (_, text) = curl_as(&ca, Some(name), &server, "/v1/check/card", &extra);
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    assert_eq!(check("a", A, Some(TOKEN_A))["status"], "ok");
    assert_eq!(
        check("a", A, None)["error"]["code"],
        "unauthorized",
        "the token is required too"
    );
    assert_eq!(
        check("a", A, Some(TOKEN_B))["error"]["code"],
        "unauthorized"
    );
    // Same subject, not the pinned certificate.
    assert_eq!(check("a2", A, Some(TOKEN_A))["error"]["code"], "forbidden");
    // B has no token: with tokens required it cannot check at all.
    assert_eq!(check("pinned", B, None)["error"]["code"], "unauthorized");
}

#[test]
fn a_kept_alive_connection_is_refused_once_a_reloaded_crl_revokes_it() {
    let ca = OpensslCa::new();
    ca.client("a", A);
    let built = built();
    let server = serve(&built, &ca, &[]);
    let client = Client::new(&ca, Some("a"));
    let mut connection = client.connect(server.public);
    let first = send(
        &mut connection,
        "POST",
        "/v1/check/card",
        &[],
        &check_body(A),
    )
    .unwrap();
    assert_eq!(first.json()["status"], "ok", "{}", first.body);

    // A damaged CRL is refused, and the one in service stays.
    std::fs::write(ca.path("crl.der"), b"\x30\x82\x01\x00 not a CRL").unwrap();
    let refused = admin_post(&server, "/admin/tls/reload", None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains("client_crl"), "{}", refused.body);
    let still = send(
        &mut connection,
        "POST",
        "/v1/check/card",
        &[],
        &check_body(A),
    )
    .unwrap();
    assert_eq!(still.json()["status"], "ok", "{}", still.body);
    assert!(
        client.get(server.public, "/readyz").is_ok(),
        "new connections still served"
    );

    ca.revoke("a");
    ca.crl();
    let reloaded = admin_post(&server, "/admin/tls/reload", None);
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert_eq!(
        reloaded.json()["loaded"]["public"]["client_crl"]["entries"],
        1
    );
    let after = send(
        &mut connection,
        "POST",
        "/v1/check/card",
        &[],
        &check_body(A),
    )
    .unwrap();
    assert_eq!(after.status, 401, "{}", after.body);
    assert!(after.body.contains("revoked"), "{}", after.body);
    assert_eq!(
        after.header("connection"),
        Some("close"),
        "nothing more on it"
    );
    assert!(
        send(&mut connection, "GET", "/readyz", &[], "").is_err(),
        "the server closed the connection"
    );
    assert!(
        client.get(server.public, "/readyz").is_err(),
        "a new handshake is refused too"
    );
    let metrics = Client::new(&ca, Some("ready"))
        .get(server.public, "/metrics")
        .unwrap()
        .body;
    assert!(
        metrics.contains("shikaku_tls_refused_requests_total{listener=\"public\"} 1"),
        "{metrics}"
    );
}

#[test]
fn the_registry_and_the_certificates_reload_on_request_and_on_sighup() {
    let ca = OpensslCa::new();
    let third = "4112345678";
    ca.client("c", third);
    let built = built();
    let registry = ca.registry("");
    let server = serve(&built, &ca, &["--institutions", &registry]);
    let check = || {
        let (_, text) = curl_as(
            &ca,
            Some("c"),
            &server,
            "/v1/check/card",
            &["-d", &check_body(third)],
        );
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    assert_eq!(check()["error"]["code"], "forbidden", "not registered yet");
    ca.registry(&format!("{third},C診療所,京都府,,\n"));
    let reloaded = admin_post(&server, "/admin/institutions/reload", None);
    assert_eq!(reloaded.status, 200, "{}", reloaded.body);
    assert_eq!(reloaded.json()["loaded"]["institutions"], 3);
    assert_eq!(check()["status"], "ok");

    // A bad registry is refused naming its line; the one in service stays.
    std::fs::write(
        ca.path("institutions.csv"),
        "institution_code,name,prefecture,token\n12,x,y,short\n",
    )
    .unwrap();
    let refused = admin_post(&server, "/admin/institutions/reload", None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(refused.body.contains(":2:"), "{}", refused.body);
    assert_eq!(check()["status"], "ok");

    // SIGHUP: the certificate revoked meanwhile is refused from then on.
    ca.registry(&format!("{third},C診療所,京都府,,\n"));
    ca.revoke("c");
    ca.crl();
    let status = Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    while curl_as(&ca, Some("c"), &server, "/readyz", &[]).0 == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server
            .output()
            .iter()
            .any(|l| l.contains("SIGHUP: tls.reload: done")),
        "{:?}",
        server.output()
    );
}

#[test]
fn sessions_resume_and_both_key_types_serve() {
    let ca = OpensslCa::new();
    ca.client("a", A);
    let built = built();
    // RSA-2048 server key (made by openssl).
    let server = serve(&built, &ca, &[]);
    let session = ca.path("session.pem");
    let session = session.to_str().unwrap();
    let first = s_client(&ca, "a", &server, &["-sess_out", session]);
    assert!(first.contains("HTTP/1.1 200"), "{first}");
    let second = s_client(&ca, "a", &server, &["-sess_in", session]);
    assert!(second.contains("Reused, TLSv1.3"), "{second}");
    assert!(second.contains("HTTP/1.1 200"), "{second}");
    drop(server);

    // ECDSA P-256 server key (made by `shikaku tls gen`).
    let made = tempfile::tempdir().unwrap();
    let made_pki = Command::new(env!("CARGO_BIN_EXE_shikaku"))
        .args([
            "tls",
            "gen",
            "--out",
            made.path().to_str().unwrap(),
            "--institutions",
            "2",
            "--revoked",
            "1",
        ])
        .output()
        .unwrap();
    assert!(made_pki.status.success(), "{made_pki:?}");
    let file = |name: &str| made.path().join(name).to_str().unwrap().to_string();
    let server = Server::start(&[
        "--snapshot",
        built.out.to_str().unwrap(),
        "--service-hours",
        "off",
        "--tls-cert",
        &file("server.pem"),
        "--tls-key",
        &file("server-key.pem"),
        "--client-ca",
        &file("ca.pem"),
        "--client-crl",
        &file("crl.der"),
        "--institutions",
        &file("institutions.csv"),
    ]);
    let listing = std::fs::read_to_string(made.path().join("clients.csv")).unwrap();
    let rows: Vec<Vec<&str>> = listing
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let url = format!("https://127.0.0.1:{}/v1/check/card", server.public.port());
    let started = Instant::now();
    loop {
        let (code, text) = curl(&[
            "--cacert",
            &file("ca.pem"),
            "--cert",
            &file(rows[0][1]),
            "--key",
            &file(rows[0][2]),
            "-d",
            &check_body(rows[0][0]),
            &url,
        ]);
        if code == 0 && text.contains("\"ok\"") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{text} {:?}",
            server.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(rows[1][5], "revoked");
    let (code, text) = curl(&[
        "--cacert",
        &file("ca.pem"),
        "--cert",
        &file(rows[1][1]),
        "--key",
        &file(rows[1][2]),
        &url,
    ]);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("certificate revoked"), "{text}");
}

#[test]
fn operators_authenticate_by_certificate_or_token_on_an_admin_listener_over_tls() {
    let ca = OpensslCa::new();
    ca.client("viewer", "sato");
    ca.client("intruder", "suzuki");
    let admin_token = "admin-token-0123456789abcdef";
    let digest = |text: &str| -> String {
        let hash = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
        hash.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    };
    let operators = format!(
        "name,role,token_sha256,certificate_sha256\nsato,viewer,,{}\ntanaka,admin,{},\n",
        ca.fingerprint("viewer"),
        digest(admin_token)
    );
    std::fs::write(ca.path("operators.csv"), operators).unwrap();
    let built = built();
    let (cert, key, operator_ca, operators) = (
        ca.arg("server.pem"),
        ca.arg("server.key"),
        ca.arg("ca.pem"),
        ca.arg("operators.csv"),
    );
    let server = serve(
        &built,
        &ca,
        &[
            "--admin-tls-cert",
            &cert,
            "--admin-tls-key",
            &key,
            "--operator-ca",
            &operator_ca,
            "--operators",
            &operators,
        ],
    );
    let admin = |name: Option<&str>, method: &str, path: &str, token: Option<&str>| {
        let url = format!("https://127.0.0.1:{}{path}", server.admin.port());
        let (cacert, cert, key) = match name {
            Some(name) => (
                ca.arg("ca.pem"),
                ca.arg(&format!("{name}.pem")),
                ca.arg(&format!("{name}.key")),
            ),
            None => (ca.arg("ca.pem"), String::new(), String::new()),
        };
        let mut args = vec!["--cacert", &cacert, "-X", method, "-w", "\n%{http_code}"];
        if name.is_some() {
            args.extend_from_slice(&["--cert", &cert, "--key", &key]);
        }
        let auth = token.map(|t| format!("Authorization: Bearer {t}"));
        if let Some(auth) = &auth {
            args.extend_from_slice(&["-H", auth]);
        }
        args.push(&url);
        let (code, text) = curl(&args);
        assert_eq!(code, 0, "{text}");
        text.rsplit('\n').next().unwrap().to_string()
    };
    assert_eq!(admin(Some("viewer"), "GET", "/admin/status", None), "200");
    assert_eq!(
        admin(Some("viewer"), "POST", "/admin/snapshot/rollback", None),
        "403"
    );
    assert_eq!(
        admin(Some("viewer"), "POST", "/admin/tls/reload", None),
        "403"
    );
    assert_eq!(admin(Some("intruder"), "GET", "/admin/status", None), "401");
    assert_eq!(admin(None, "GET", "/admin/status", None), "401");
    assert_eq!(
        admin(None, "POST", "/admin/tls/reload", Some(admin_token)),
        "200"
    );
    // Plain HTTP is not spoken on a TLS listener.
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5"])
        .arg(format!(
            "http://127.0.0.1:{}/admin/status",
            server.admin.port()
        ))
        .output()
        .unwrap();
    assert!(!plain.status.success() || plain.stdout.is_empty());
}

#[test]
fn with_optional_client_auth_a_token_alone_still_authenticates() {
    let ca = OpensslCa::new();
    ca.client("a", A);
    let built = built();
    let registry = ca.registry("");
    let server = serve(
        &built,
        &ca,
        &["--institutions", &registry, "--client-auth", "optional"],
    );
    let check = |name: Option<&str>, token: Option<&str>| {
        let auth = token.map(|t| format!("Authorization: Bearer {t}"));
        let body = check_body(A);
        let mut extra = vec!["-d", &body];
        if let Some(auth) = &auth {
            extra.extend_from_slice(&["-H", auth]);
        }
        let (code, text) = curl_as(&ca, name, &server, "/v1/check/card", &extra);
        assert_eq!(code, 0, "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    assert_eq!(check(None, Some(TOKEN_A))["status"], "ok");
    assert_eq!(check(None, Some(TOKEN_B))["error"]["code"], "forbidden");
    assert_eq!(check(None, None)["error"]["code"], "unauthorized");
    assert_eq!(check(Some("a"), None)["status"], "ok");
}

#[test]
fn a_client_crl_past_its_next_update_raises_the_alarm_or_refuses() {
    let ca = OpensslCa::new();
    ca.client("a", A);
    ca.client("ready", A);
    ca.stale_crl();
    let built = built();
    let server = serve(&built, &ca, &[]);
    let status = common::http::get(server.admin, "/admin/status").json();
    let alarms = status["alarms"].to_string();
    assert!(
        alarms.contains("public listener TLS") && alarms.contains("past its nextUpdate"),
        "{alarms}"
    );
    assert_eq!(status["tls"]["public"]["client_crl"]["stale"], true);
    let (code, text) = curl_as(&ca, Some("a"), &server, "/metrics", &[]);
    assert_eq!(code, 0, "alarm only: still served ({text})");
    assert!(
        text.contains("shikaku_tls_alarms{listener=\"public\"} 1"),
        "{text}"
    );
    drop(server);

    let args = tls_args(&built, &ca, &["--stale-crl", "refuse"]);
    let refusing = Server::start(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let started = Instant::now();
    loop {
        let status = common::http::get(refusing.admin, "/admin/status").json();
        if !status["live"].is_null() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            refusing.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, text) = curl_as(&ca, Some("a"), &refusing, "/readyz", &[]);
    assert_ne!(code, 0, "a stale CRL refuses every certificate: {text}");
    assert!(
        refusing
            .output()
            .iter()
            .any(|l| l.contains("past its nextUpdate")),
        "{:?}",
        refusing.output()
    );
}

//! `netlab tls inspect` against real `openssl s_server`s on loopback, with a private CA made
//! by `openssl` for the test: a valid TLS 1.3 chain, TLS 1.2 only, a wrong name, a self-signed
//! certificate, a server that is not TLS; `openssl s_client`'s verdict beside ours; bad input.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::contract::parse;
use crate::util::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    schema_version: u32,
    command: String,
    target: String,
    address: String,
    outcome: String,
    error: Option<String>,
    alert: Option<String>,
    connections_used: u32,
    timing_us: Timing,
    negotiated: Negotiated,
    timeline: Vec<Event>,
    session_tickets: u32,
    certificates: Certificates,
    verification: Verification,
    warnings: Vec<Warning>,
    resumption: Option<Resumption>,
    server_offers: Option<ServerOffers>,
    capture: Option<Capture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Capture {
    interface: String,
    packets: u64,
    kernel_drops: u64,
    pcap_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Resumption {
    offered: bool,
    resumed: bool,
    handshake_kind: Option<String>,
    tcp_connect_us: Option<u64>,
    handshake_total_us: Option<u64>,
    full_handshake_total_us: Option<u64>,
    time_saved_us: Option<i64>,
    bytes: Option<usize>,
    full_bytes: usize,
    bytes_saved: Option<i64>,
    certificate_sent: Option<bool>,
    timeline: Vec<Event>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerOffers {
    probes: Vec<Probe>,
    versions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Probe {
    offered: String,
    result: String,
    version: Option<String>,
    cipher_suite: Option<String>,
    alert: Option<String>,
    answer_us: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Ocsp {
    response_status: String,
    cert_status: Option<String>,
    revocation_time: Option<String>,
    produced_at: Option<String>,
    this_update: Option<String>,
    next_update: Option<String>,
    stale: bool,
    responder: String,
    for_leaf: Option<bool>,
    signature_valid: Option<bool>,
    bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timing {
    dns: Option<u64>,
    tcp_connect: u64,
    client_hello_sent: Option<u64>,
    server_hello_first_byte: Option<u64>,
    server_flight_done: Option<u64>,
    cert_verify: Option<u64>,
    client_finished: Option<u64>,
    handshake_total: Option<u64>,
    kernel_rtt: Option<u64>,
    server_think: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Negotiated {
    version: Option<String>,
    cipher_suite: Option<String>,
    kx_group: Option<String>,
    alpn: Option<String>,
    signature_scheme: Option<String>,
    sni: Option<String>,
    handshake_kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Event {
    t_us: u64,
    dir: String,
    msg: String,
    bytes: usize,
    record: String,
    encrypted: bool,
    detail: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cert {
    subject: String,
    issuer: String,
    san: Vec<String>,
    serial: String,
    not_before: String,
    not_after: String,
    days_left: i64,
    key_type: String,
    key_bits: usize,
    signature_algorithm: String,
    sha256: String,
    is_ca: bool,
    self_issued: bool,
    ca_issuers: Vec<String>,
    ocsp: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Certificates {
    received: Vec<Cert>,
    verified_chain: Vec<String>,
    trust_anchor: Option<String>,
    ocsp_stapled_bytes: Option<usize>,
    ocsp: Option<Ocsp>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Problem {
    code: String,
    message: String,
    hint: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verification {
    ok: bool,
    problems: Vec<Problem>,
    checked_name: Option<String>,
    strict: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Warning {
    code: String,
    message: String,
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed: `make deps` installs it");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA and, signed by it, a leaf for lab.test and 127.0.0.1; and a self-signed leaf.
/// Made once per test run: tests run in parallel threads, and one that found a half-written
/// directory would start a server on a key not written yet.
fn pki() -> PathBuf {
    static PKI: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PKI.get_or_init(make_pki).clone()
}

fn make_pki() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netlab-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    openssl(
        &dir,
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
            "30",
            "-subj",
            "/CN=netlab test CA",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=lab.test",
        ],
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=DNS:lab.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "20",
            "-extfile",
            "leaf.ext",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "self.key",
            "-out",
            "self.pem",
            "-days",
            "30",
            "-subj",
            "/CN=self.test",
            "-addext",
            "subjectAltName=DNS:self.test",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
    dir
}

/// `openssl s_server` on a free loopback port; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn s_server(dir: &Path, cert: &str, key: &str, extra: &[&str]) -> Server {
    // The free port may be taken by another test before s_server binds it: try again on a
    // new one when s_server exits; say why when it never listens.
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port();
        let accept = format!("127.0.0.1:{port}");
        let mut args = vec![
            "s_server", "-accept", &accept, "-cert", cert, "-key", key, "-quiet",
        ];
        args.extend_from_slice(extra);
        let mut child = Command::new("openssl")
            .current_dir(dir)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("openssl");
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Server { child, port };
            }
            if let Ok(Some(_)) = child.try_wait() {
                let mut e = String::new();
                if let Some(mut err) = child.stderr.take() {
                    let _ = err.read_to_string(&mut e);
                }
                last = format!("s_server {args:?} exited: {e}");
                break;
            }
            assert!(Instant::now() < until, "s_server did not listen: {args:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("{last}");
}

fn inspect(args: &[&str]) -> (i32, Report) {
    let mut v = vec!["--json", "--timeout", "5s", "tls", "inspect"];
    v.extend_from_slice(args);
    let o = netlab(&v);
    let out = stdout(&o);
    assert!(!out.is_empty(), "no report: {}", stderr(&o));
    (code(&o), parse(&out))
}

fn msgs(r: &Report, dir: &str) -> Vec<String> {
    r.timeline
        .iter()
        .filter(|e| e.dir == dir)
        .map(|e| e.msg.clone())
        .collect()
}

/// `openssl s_client`'s verify return code for the same server, name and CA.
fn s_client_verify(dir: &Path, port: u16, name: &str) -> String {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            name,
            "-verify_hostname",
            name,
            "-CAfile",
            "ca.pem",
            "-brief",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    all.lines()
        .find(|l| l.contains("Verification"))
        .unwrap_or("")
        .to_string()
}

#[test]
fn tls13_valid_chain_timeline_and_verdict() {
    let dir = pki();
    let s = s_server(&dir, "leaf.pem", "leaf.key", &["-CAfile", "ca.pem"]);
    let ca = dir.join("ca.pem");
    let target = format!("127.0.0.1:{}", s.port);
    let (c, r) = inspect(&[&target, "--sni", "lab.test", "--ca", ca.to_str().unwrap()]);
    assert_eq!(c, 0, "{:?} {:?}", r.error, r.verification.problems);
    assert_eq!(r.outcome, "ok");
    assert!(r.verification.ok);
    assert_eq!(r.negotiated.version.as_deref(), Some("TLSv1.3"));
    assert_eq!(r.negotiated.sni.as_deref(), Some("lab.test"));
    assert_eq!(r.negotiated.handshake_kind.as_deref(), Some("full"));
    // IANA names, and the ServerHello's detail names the same suite.
    let suite = r.negotiated.cipher_suite.clone().unwrap();
    assert!(
        [
            "TLS_AES_256_GCM_SHA384",
            "TLS_AES_128_GCM_SHA256",
            "TLS_CHACHA20_POLY1305_SHA256"
        ]
        .contains(&suite.as_str()),
        "{suite}"
    );
    let sh = r.timeline.iter().find(|e| e.msg == "ServerHello").unwrap();
    assert_eq!(sh.detail.as_deref(), Some(suite.as_str()));
    let ch = r.timeline.iter().find(|e| e.msg == "ClientHello").unwrap();
    assert!(
        ch.detail.as_deref().unwrap().contains("SNI lab.test"),
        "{:?}",
        ch.detail
    );
    assert_eq!(r.connections_used, 1);
    // The encrypted flight, labelled by opening it with the session's keys, in order.
    assert_eq!(
        msgs(&r, "in")[..6],
        [
            "ServerHello",
            "ChangeCipherSpec",
            "EncryptedExtensions",
            "Certificate",
            "CertificateVerify",
            "Finished"
        ]
    );
    assert_eq!(msgs(&r, "out")[0], "ClientHello");
    assert!(
        r.timeline
            .iter()
            .any(|e| e.dir == "out" && e.msg == "Finished" && e.encrypted)
    );
    // By default only a short wait (2 ms or 3 RTT) is spent on tickets (a busy test machine
    // may be slower than that); a longer one on request.
    let (_, r2) = inspect(&[
        &target,
        "--sni",
        "lab.test",
        "--ca",
        ca.to_str().unwrap(),
        "--ticket-wait",
        "300ms",
    ]);
    assert_eq!(r2.session_tickets, 2, "openssl sends two tickets");
    let t = &r.timing_us;
    let (ch, sh, fin, total) = (
        t.client_hello_sent.unwrap(),
        t.server_hello_first_byte.unwrap(),
        t.client_finished.unwrap(),
        t.handshake_total.unwrap(),
    );
    assert!(ch <= sh && sh <= fin && fin <= total, "{t:?}");
    assert!(t.cert_verify.is_some() && t.kernel_rtt.is_some());
    let w: Vec<u64> = r.timeline.iter().map(|e| e.t_us).collect();
    assert!(w.windows(2).all(|p| p[0] <= p[1]), "timeline in time order");
    // The chain: leaf from the server, verified up to our CA.
    assert_eq!(r.certificates.received[0].subject, "CN=lab.test");
    assert_eq!(r.certificates.received[0].san, ["lab.test", "127.0.0.1"]);
    assert!(r.certificates.received[0].days_left >= 19);
    assert_eq!(
        r.certificates.trust_anchor.as_deref(),
        Some("CN=netlab test CA")
    );
    assert_eq!(r.certificates.received[0].sha256.len(), 95);
    // openssl s_client agrees.
    assert!(s_client_verify(&dir, s.port, "lab.test").contains("OK"));
    // The IP SAN matches the address when no name is given.
    let (c, r) = inspect(&[&target, "--ca", ca.to_str().unwrap()]);
    assert_eq!(
        (c, r.verification.ok, r.negotiated.sni.clone()),
        (0, true, None)
    );
    // A name the certificate does not carry: a finding, the handshake still complete.
    let (c, r) = inspect(&[&target, "--sni", "other.test", "--ca", ca.to_str().unwrap()]);
    assert_eq!(c, 1);
    assert_eq!(r.outcome, "certificate_problems");
    let codes: Vec<&str> = r
        .verification
        .problems
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    assert_eq!(codes, ["hostname_mismatch"]);
    assert!(
        r.verification.problems[0]
            .message
            .contains("expected other.test")
    );
    assert!(r.timing_us.handshake_total.is_some());
    assert!(!s_client_verify(&dir, s.port, "other.test").contains(": OK"));
    // --strict aborts instead.
    let (c, r) = inspect(&[
        &target,
        "--sni",
        "other.test",
        "--ca",
        ca.to_str().unwrap(),
        "--strict",
    ]);
    assert_eq!((c, r.outcome.as_str()), (1, "failed"));
    assert!(r.timing_us.handshake_total.is_none());
    // Not our CA: this server sends its leaf and the root, which nobody here trusts.
    let (c, r) = inspect(&[&target, "--sni", "lab.test"]);
    assert_eq!(c, 1);
    assert_eq!(r.certificates.received.len(), 2);
    assert_eq!(r.verification.problems[0].code, "unknown_issuer");
    assert!(
        r.verification.problems[0]
            .message
            .contains("CN=netlab test CA")
    );
}

#[test]
fn tls12_server_and_self_signed() {
    let dir = pki();
    let s = s_server(&dir, "leaf.pem", "leaf.key", &["-tls1_2"]);
    let ca = dir.join("ca.pem");
    let target = format!("127.0.0.1:{}", s.port);
    let (c, r) = inspect(&[&target, "--sni", "lab.test", "--ca", ca.to_str().unwrap()]);
    assert_eq!(c, 0, "{:?}", r.error);
    assert_eq!(r.negotiated.version.as_deref(), Some("TLSv1.2"));
    assert!(
        r.negotiated
            .cipher_suite
            .as_deref()
            .unwrap()
            .starts_with("TLS_ECDHE_ECDSA_")
    );
    let inn = msgs(&r, "in");
    for m in [
        "ServerHello",
        "Certificate",
        "ServerKeyExchange",
        "ServerHelloDone",
        "ChangeCipherSpec",
        "Finished",
    ] {
        assert!(inn.contains(&m.to_string()), "{m} in {inn:?}");
    }
    let out = msgs(&r, "out");
    assert_eq!(
        out[..4],
        [
            "ClientHello",
            "ClientKeyExchange",
            "ChangeCipherSpec",
            "Finished"
        ]
    );
    drop(s);
    // --tls13 against a TLS 1.2-only server: refused with an alert, a finding.
    let s = s_server(&dir, "leaf.pem", "leaf.key", &["-tls1_2"]);
    let (c, r) = inspect(&[
        &format!("127.0.0.1:{}", s.port),
        "--tls13",
        "--ca",
        ca.to_str().unwrap(),
    ]);
    assert_eq!(c, 1);
    assert_eq!(r.outcome, "refused", "{:?}", r.error);
    assert!(
        r.alert
            .as_deref()
            .unwrap_or("")
            .contains("protocol_version"),
        "{:?}",
        r.alert
    );
    drop(s);
    let s = s_server(&dir, "self.pem", "self.key", &[]);
    let (c, r) = inspect(&[&format!("127.0.0.1:{}", s.port), "--sni", "self.test"]);
    assert_eq!(c, 1);
    let codes: Vec<&str> = r
        .verification
        .problems
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    assert_eq!(codes, ["self_signed"]);
}

#[test]
fn not_tls_and_bad_input() {
    // A server that answers in plain text: a finding, not a crash.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 512];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    let (c, r) = inspect(&[&format!("127.0.0.1:{port}")]);
    t.join().unwrap();
    assert_eq!(c, 1);
    assert_eq!(r.outcome, "failed");
    assert!(
        r.error.as_deref().unwrap().contains("not TLS"),
        "{:?}",
        r.error
    );
    // A server that closes right after the ClientHello.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 512];
        let _ = s.read(&mut b);
    });
    let (c, r) = inspect(&[&format!("127.0.0.1:{port}")]);
    t.join().unwrap();
    assert_eq!((c, r.outcome.as_str()), (1, "failed"));
    assert!(
        r.error.as_deref().unwrap().contains("closed"),
        "{:?}",
        r.error
    );
    // Bad input: one line, exit 2.
    let closed = free_port();
    for (args, want) in [
        (vec!["tls", "inspect", "127.0.0.1:99999"], "out of range"),
        (
            vec!["tls", "inspect", "127.0.0.1:443", "--alpn", "h2,,x"],
            "bad ALPN",
        ),
        (
            vec![
                "tls",
                "inspect",
                "127.0.0.1:443",
                "--ca",
                "/nonexistent/ca.pem",
            ],
            "CA file",
        ),
    ] {
        let o = netlab(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1);
    }
    let o = netlab(&["tls", "inspect", &format!("127.0.0.1:{closed}")]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("refused"), "{}", stderr(&o));
    // A name that does not resolve: in a network namespace of its own, so the lookup
    // leaves this machine's resolvers alone.
    if !skip_unless_root("tls::not_tls_and_bad_input (unresolvable host)") {
        let o = Command::new("unshare")
            .args([
                "--net",
                "--",
                BIN,
                "tls",
                "inspect",
                "no-such-host.lab.test",
            ])
            .output()
            .unwrap();
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("no-such-host.lab.test"),
            "{}",
            stderr(&o)
        );
        assert_eq!(stderr(&o).trim().lines().count(), 1);
    }
}

/// `netlab lab --tls` on free ports, its files in a directory of this test's own.
fn tls_lab(tag: &str) -> (Lab, crate::contract::TlsLab) {
    let dir = std::env::temp_dir().join(format!("netlab-tlslab-{}-{tag}", std::process::id()));
    let dir_s = dir.display().to_string();
    let lab = Lab::start(
        &[
            "lab",
            "--jsonl",
            "--port-base",
            "0",
            "--tls",
            "--tls-port-base",
            "0",
            "--tls-dir",
            &dir_s,
            "--duration",
            "120s",
        ],
        None,
    );
    let t: crate::contract::TlsLab =
        serde_json::from_value(lab.ready["tls"].clone()).expect("ready.tls");
    (lab, t)
}

fn tls_port(t: &crate::contract::TlsLab, name: &str) -> u16 {
    t.scenarios
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no TLS scenario {name}"))
        .port
}

#[test]
fn lab_matrix_every_verdict_matches_the_scenario_and_openssl() {
    let (_lab, t) = tls_lab("m");
    assert_eq!(t.scenarios.len(), 10);
    let dir = PathBuf::from(&t.dir);
    for s in &t.scenarios {
        let target = format!("127.0.0.1:{}", s.port);
        let (c, r) = inspect(&["--ca", &t.ca_file, &target]);
        let codes: Vec<&str> = r
            .verification
            .problems
            .iter()
            .map(|p| p.code.as_str())
            .collect();
        if s.expect == "ok" {
            assert_eq!((c, r.outcome.as_str()), (0, "ok"), "{}: {codes:?}", s.name);
            assert!(r.verification.ok, "{}", s.name);
        } else {
            assert_eq!(
                (c, r.outcome.as_str()),
                (1, "certificate_problems"),
                "{}",
                s.name
            );
            // Exactly the one problem the scenario is about.
            assert_eq!(codes, [s.expect.as_str()], "{}", s.name);
        }
        // The chain builds (at a moment every certificate is valid, for the dated ones)
        // wherever the server sent one the lab CA issued.
        let chain: &[&str] = if matches!(s.name.as_str(), "self_signed" | "incomplete_chain") {
            &[]
        } else {
            &[
                "O=netlab lab, CN=netlab lab intermediate CA",
                "O=netlab lab, CN=netlab lab root CA",
            ]
        };
        assert_eq!(r.certificates.verified_chain, chain, "{}", s.name);
        // The same verdict from openssl s_client (checking the address, as we do).
        let o = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &target,
                "-verify_ip",
                "127.0.0.1",
                "-CAfile",
                &t.ca_file,
                "-brief",
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let theirs = all
            .lines()
            .find(|l| l.contains("Verification"))
            .unwrap_or("")
            .to_string();
        let want = match s.expect.as_str() {
            "ok" => "Verification: OK",
            "expired" => "certificate has expired",
            "not_yet_valid" => "certificate is not yet valid",
            "hostname_mismatch" => "IP address mismatch",
            "incomplete_chain" => "unable to verify the first certificate",
            "self_signed" => "self-signed certificate",
            other => panic!("unexpected expectation {other}"),
        };
        assert!(theirs.contains(want), "{}: openssl says {theirs:?}", s.name);
        // The files the lab wrote serve the same chain.
        assert!(Path::new(&s.chain_file).exists() && Path::new(&s.key_file).exists());
    }
    assert!(dir.join("ca.pem").exists());

    // Scenario details.
    let at = |n: &str| format!("127.0.0.1:{}", tls_port(&t, n));
    let (_, r) = inspect(&["--ca", &t.ca_file, &at("tls12")]);
    assert_eq!(r.negotiated.version.as_deref(), Some("TLSv1.2"));
    assert!(msgs(&r, "in").contains(&"ServerHelloDone".to_string()));
    let detail = |m: &str| {
        r.timeline
            .iter()
            .find(|e| e.msg == m)
            .and_then(|e| e.detail.clone())
            .unwrap_or_default()
    };
    assert_eq!(detail("Certificate"), "2 certificates");
    assert_eq!(detail("ServerKeyExchange"), "ECDHE X25519");
    assert_eq!(
        Some(detail("ServerHello")),
        r.negotiated.cipher_suite.clone()
    );
    // TLS 1.2 with a staple: the CertificateStatus message carries it.
    let (_, r) = inspect(&["--ca", &t.ca_file, "--tls12", &at("ocsp")]);
    let cs = r
        .timeline
        .iter()
        .find(|e| e.msg == "CertificateStatus")
        .expect("CertificateStatus");
    assert_eq!(
        cs.detail.clone().unwrap(),
        format!(
            "OCSP response, {} bytes",
            r.certificates.ocsp_stapled_bytes.unwrap()
        )
    );

    let (_, r) = inspect(&["--ca", &t.ca_file, &at("hrr")]);
    assert_eq!(
        r.negotiated.handshake_kind.as_deref(),
        Some("full_with_hrr")
    );
    assert_eq!(r.negotiated.kx_group.as_deref(), Some("secp384r1"));
    let out = msgs(&r, "out");
    assert_eq!(
        out.iter().filter(|m| *m == "ClientHello").count(),
        2,
        "{out:?}"
    );
    assert_eq!(msgs(&r, "in")[0], "HelloRetryRequest");
    assert_eq!(
        r.timeline[1].detail.as_deref(),
        Some("asks for a secp384r1 key share")
    );

    let (_, r) = inspect(&["--ca", &t.ca_file, "--alpn", "h2,http/1.1", &at("alpn_h2")]);
    assert_eq!(r.negotiated.alpn.as_deref(), Some("h2"));
    let (_, r) = inspect(&["--ca", &t.ca_file, "--alpn", "http/1.1", &at("alpn_h2")]);
    assert_eq!(r.negotiated.alpn.as_deref(), Some("http/1.1"));

    let (_, r) = inspect(&["--ca", &t.ca_file, &at("expired")]);
    assert!(r.certificates.received[0].days_left < -25);
    let (_, r) = inspect(&["--ca", &t.ca_file, &at("incomplete_chain")]);
    let p = &r.verification.problems[0];
    assert!(
        p.message.contains("http://ca.lab.test/intermediate.crt"),
        "{}",
        p.message
    );
    let (_, r) = inspect(&["--ca", &t.ca_file, &at("wrong_host")]);
    assert!(
        r.verification.problems[0]
            .message
            .contains("other.lab.test")
    );
    // With the name it does carry, the wrong-host leaf is fine.
    let (c, _) = inspect(&[
        "--ca",
        &t.ca_file,
        "--sni",
        "other.lab.test",
        &at("wrong_host"),
    ]);
    assert_eq!(c, 0);

    // The stapled OCSP response, decoded, and what openssl reads in it.
    let (c, r) = inspect(&["--ca", &t.ca_file, "--sni", "tls.lab.test", &at("ocsp")]);
    assert_eq!(c, 0);
    let o = r.certificates.ocsp.expect("stapled OCSP");
    assert_eq!(o.response_status, "successful");
    assert_eq!(o.cert_status.as_deref(), Some("good"));
    assert_eq!(
        (o.for_leaf, o.signature_valid, o.stale),
        (Some(true), Some(true), false)
    );
    assert_eq!(Some(o.bytes), r.certificates.ocsp_stapled_bytes);
    let so = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &at("ocsp"),
            "-status",
            "-servername",
            "tls.lab.test",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&so.stdout);
    assert!(text.contains("Cert Status: good"), "{text}");
    let rid = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Responder Id: "))
        .expect("openssl responder id")
        .to_string();
    assert_eq!(o.responder.replace(':', ""), format!("key hash {rid}"));
    // No staple where none is served.
    let (_, r) = inspect(&["--ca", &t.ca_file, &at("valid")]);
    assert!(r.certificates.ocsp.is_none() && r.certificates.ocsp_stapled_bytes.is_none());
}

#[test]
fn resume_uses_a_second_connection_and_saves_the_certificate() {
    let (_lab, t) = tls_lab("r");
    for (name, version) in [("valid", "TLSv1.3"), ("tls12", "TLSv1.2")] {
        let target = format!("127.0.0.1:{}", tls_port(&t, name));
        let (c, r) = inspect(&["--ca", &t.ca_file, "--resume", &target]);
        assert_eq!(c, 0, "{name}");
        assert_eq!(r.connections_used, 2);
        assert_eq!(r.negotiated.version.as_deref(), Some(version));
        assert_eq!(r.negotiated.handshake_kind.as_deref(), Some("full"));
        let s = r.resumption.expect("resumption");
        assert!(s.offered && s.resumed, "{name}: {s:?}");
        assert_eq!(s.handshake_kind.as_deref(), Some("resumed"));
        assert_eq!(s.certificate_sent, Some(false), "{name}");
        assert!(s.error.is_none());
        let first: usize = r.timeline.iter().map(|e| e.bytes).sum();
        let second: usize = s.timeline.iter().map(|e| e.bytes).sum();
        assert!(second < first, "{name}: {second} vs {first}");
        assert_eq!(
            s.bytes_saved,
            Some(s.full_bytes as i64 - s.bytes.unwrap() as i64)
        );
        assert!(s.bytes_saved.unwrap() > 500, "{name}: {s:?}");
        assert_eq!(s.full_handshake_total_us, r.timing_us.handshake_total);
    }
    // Without --resume: one connection, no resumption object.
    let (_, r) = inspect(&[
        "--ca",
        &t.ca_file,
        &format!("127.0.0.1:{}", tls_port(&t, "valid")),
    ]);
    assert_eq!(r.connections_used, 1);
    assert!(r.resumption.is_none());
}

#[test]
fn legacy_tls10_server_is_described_not_given_up_on() {
    let dir = pki();
    // TLS 1.0 only, at security level 0: rustls refuses it.
    let s = s_server(
        &dir,
        "leaf.pem",
        "leaf.key",
        &["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0", "-serverpref"],
    );
    let ca = dir.join("ca.pem").display().to_string();
    let (c, r) = inspect(&["--ca", &ca, &format!("127.0.0.1:{}", s.port)]);
    assert_eq!(c, 1);
    assert_eq!(r.outcome, "refused", "{:?}", r.error);
    let o = r.server_offers.expect("server_offers");
    assert_eq!(o.versions, ["TLSv1.0"]);
    assert_eq!(r.connections_used, 1 + o.probes.len() as u32);
    let p10 = o.probes.iter().find(|p| p.offered == "TLSv1.0").unwrap();
    assert_eq!(p10.result, "accepted");
    // openssl s_client, offering TLS 1.0 at the same level, agrees on the suite.
    let so = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{}", s.port),
            "-tls1",
            "-cipher",
            "DEFAULT:@SECLEVEL=0",
            "-brief",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = String::from_utf8_lossy(&so.stderr).to_string();
    let theirs = all
        .lines()
        .find_map(|l| l.strip_prefix("Ciphersuite: "))
        .unwrap_or_else(|| panic!("s_client: {all}"));
    // openssl names it ECDHE-ECDSA-AES256-SHA (say), IANA TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA.
    let ours = p10.cipher_suite.as_deref().unwrap();
    let key = |n: &str| {
        n.replace("TLS_", "")
            .replace("_WITH_", "-")
            .replace("_CBC", "")
            .replace('_', "-")
            .replace("AES-", "AES")
    };
    assert_eq!(key(ours), theirs.trim(), "{ours} vs {theirs}");
}

#[test]
fn pinned_self_signed_is_trusted_and_sha1_is_weak() {
    let dir = pki();
    // A self-signed certificate given with --ca is trusted as it is (openssl agrees).
    let s = s_server(&dir, "self.pem", "self.key", &[]);
    let target = format!("127.0.0.1:{}", s.port);
    let pinned = dir.join("self.pem").display().to_string();
    let (c, r) = inspect(&["--ca", &pinned, "--sni", "self.test", &target]);
    assert_eq!((c, r.outcome.as_str()), (0, "ok"), "{:?}", r.verification);
    assert_eq!(r.certificates.trust_anchor.as_deref(), Some("CN=self.test"));
    // ... and its name still counts.
    let (c, r) = inspect(&["--ca", &pinned, "--sni", "other.test", &target]);
    assert_eq!(c, 1);
    let codes: Vec<&str> = r
        .verification
        .problems
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    assert_eq!(codes, ["hostname_mismatch"]);
    drop(s);
    // The same leaf key, signed by the CA with SHA-1.
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-sha1",
            "-set_serial",
            "7",
            "-out",
            "weak.pem",
            "-days",
            "20",
            "-extfile",
            "leaf.ext",
        ],
    );
    let s = s_server(
        &dir,
        "weak.pem",
        "leaf.key",
        &["-cipher", "DEFAULT:@SECLEVEL=0"],
    );
    let ca = dir.join("ca.pem").display().to_string();
    let (c, r) = inspect(&[
        "--ca",
        &ca,
        "--sni",
        "lab.test",
        &format!("127.0.0.1:{}", s.port),
    ]);
    assert_eq!(c, 1);
    assert_eq!(
        r.certificates.received[0].signature_algorithm,
        "ecdsa-with-SHA1"
    );
    let codes: Vec<&str> = r
        .verification
        .problems
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    assert_eq!(codes, ["weak_signature_algorithm"]);
}

#[test]
fn pcap_with_keylog_is_what_tshark_decrypts() {
    if skip_unless_root("tls::pcap_with_keylog_is_what_tshark_decrypts") {
        return;
    }
    let (_lab, t) = tls_lab("p");
    let dir = PathBuf::from(&t.dir);
    let (pcap, keys) = (dir.join("run.pcap"), dir.join("keys.log"));
    let _ = std::fs::remove_file(&keys);
    let target = format!("127.0.0.1:{}", tls_port(&t, "valid"));
    let (c, r) = inspect(&[
        "--ca",
        &t.ca_file,
        "--resume",
        "--pcap",
        pcap.to_str().unwrap(),
        "--keylog",
        keys.to_str().unwrap(),
        &target,
    ]);
    assert_eq!(c, 0);
    let cap = r.capture.expect("capture");
    assert_eq!(cap.interface, "lo");
    assert_eq!(cap.kernel_drops, 0);
    assert!(cap.packets >= 12, "{cap:?}");
    // Both connections' secrets (5 lines each in TLS 1.3).
    let log = std::fs::read_to_string(&keys).unwrap();
    assert_eq!(
        log.lines()
            .filter(|l| l.starts_with("SERVER_HANDSHAKE_TRAFFIC_SECRET"))
            .count(),
        2
    );
    let tshark = |keylog: Option<&Path>| -> Vec<String> {
        let mut cmd = Command::new("tshark");
        cmd.args([
            "-r",
            pcap.to_str().unwrap(),
            "-Y",
            "tls.handshake",
            "-T",
            "fields",
        ]);
        cmd.args(["-e", "tls.handshake.type"]);
        if let Some(k) = keylog {
            cmd.args(["-o", &format!("tls.keylog_file:{}", k.display())]);
        }
        let o = cmd
            .output()
            .expect("tshark is needed: `make deps` installs it");
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .flat_map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>())
            .filter(|x| !x.is_empty())
            .collect()
    };
    // Without the keys tshark sees the hellos only; with them, the encrypted flight too:
    // the certificate once (the resumed connection sends none) and both Finished pairs.
    let plain = tshark(None);
    assert!(!plain.contains(&"11".to_string()), "{plain:?}");
    let open = tshark(Some(&keys));
    let count = |t: &str| open.iter().filter(|x| *x == t).count();
    assert_eq!(count("1"), 2, "{open:?}");
    assert_eq!(count("11"), 1, "{open:?}");
    assert_eq!(count("20"), 4, "{open:?}");
    // Without CAP_NET_RAW, --pcap is refused in one line, exit 77.
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            BIN,
            "tls",
            "inspect",
            "--pcap",
            "/tmp/netlab-never.pcap",
            &target,
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 77, "{}", stderr(&o));
    assert!(stderr(&o).contains("needs CAP_NET_RAW"), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim().lines().count(), 1);
    // The same messages netlab's timelines show.
    let ours = r
        .timeline
        .iter()
        .chain(r.resumption.as_ref().unwrap().timeline.iter());
    assert_eq!(ours.filter(|e| e.msg == "Finished").count(), 4);
}

#[test]
fn no_common_suite_is_described_too() {
    let dir = pki();
    // TLS 1.2, a CBC suite only: rustls offers none of it and the server says no.
    let s = s_server(
        &dir,
        "leaf.pem",
        "leaf.key",
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"],
    );
    let ca = dir.join("ca.pem").display().to_string();
    let (c, r) = inspect(&["--ca", &ca, &format!("127.0.0.1:{}", s.port)]);
    assert_eq!((c, r.outcome.as_str()), (1, "refused"), "{:?}", r.error);
    let o = r.server_offers.expect("server_offers");
    assert_eq!(o.versions, ["TLSv1.2"]);
    let p12 = &o.probes[0];
    assert_eq!(
        (p12.offered.as_str(), p12.result.as_str()),
        ("TLSv1.2", "accepted")
    );
    assert_eq!(
        p12.cipher_suite.as_deref(),
        Some("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA")
    );
    assert!(
        o.probes[1..]
            .iter()
            .all(|p| p.result == "refused" && p.alert.is_some())
    );
}

//! The handshake, one record at a time: DNS, TCP connect, then rustls fed each server record
//! as it completes, and each client flight split into records as it is sent; a timeline entry
//! per handshake message, timed from the moment the TCP connection was up.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nix::poll::{PollFd, PollFlags, ppoll};
use nix::sys::time::TimeSpec;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor};
use rustls::{ClientConfig, ClientConnection, KeyLog};

use crate::GlobalOpts;
use crate::capture::{Capture, bpf};
use crate::error::{Error, Result};
use crate::net::{self, Family};
use crate::tls::InspectArgs;
use crate::tls::record::{self, Reassembler, TrafficKey};
use crate::tls::report::{Event, Negotiated, Resumption, ServerOffers, TimingUs, TlsReport};
use crate::tls::verify::Recorder;

/// How long to keep reading after the handshake for NewSessionTicket messages, at least (3
/// round trips when that is longer): a server sends them as soon as it has our Finished.
const TICKET_WAIT: Duration = Duration::from_millis(2);
/// The same with --resume, which needs a ticket for its second connection.
const TICKET_WAIT_RESUME: Duration = Duration::from_millis(200);
/// After a ticket, how long to wait for the next: a server writes its tickets together, so
/// they come back to back.
const TICKET_MORE: Duration = Duration::from_micros(100);

/// Secrets rustls logs, kept for opening records (and written to --keylog).
#[derive(Debug, Default)]
struct Secrets {
    map: Mutex<HashMap<String, Vec<u8>>>,
    file: Option<Mutex<std::fs::File>>,
}

impl KeyLog for Secrets {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        if let Ok(mut m) = self.map.lock() {
            m.insert(label.to_string(), secret.to_vec());
        }
        if let Some(f) = &self.file
            && let Ok(mut f) = f.lock()
        {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let _ = writeln!(f, "{label} {} {}", hex(client_random), hex(secret));
        }
    }
    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

impl Secrets {
    fn get(&self, label: &str) -> Option<Vec<u8>> {
        self.map.lock().ok()?.get(label).cloned()
    }
}

/// One direction of the conversation as we label it.
#[derive(Debug, Default)]
struct Side {
    /// Plaintext handshake messages.
    plain: Reassembler,
    /// Encrypted handshake messages (TLS 1.3, after opening).
    inner: Reassembler,
    /// TLS 1.3 handshake key, then application key.
    hs_key: Option<TrafficKey>,
    app_key: Option<TrafficKey>,
    /// TLS 1.2: ChangeCipherSpec seen, records after it are encrypted.
    ccs: bool,
}

/// Load trust anchors: the --ca file, or the chosen store.
fn roots(a: &InspectArgs) -> Result<Vec<TrustAnchor<'static>>> {
    if let Some(path) = &a.ca {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| {
                Error::usage(format!(
                    "cannot read CA file {}: {e} (give a PEM file of CA certificates)",
                    path.display()
                ))
            })?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| {
                Error::usage(format!(
                    "bad CA file {}: {e} (give a PEM file of CA certificates)",
                    path.display()
                ))
            })?;
        if certs.is_empty() {
            return Err(Error::usage(format!(
                "no certificate in CA file {} (give a PEM file of CA certificates)",
                path.display()
            )));
        }
        let mut out = Vec::new();
        for c in &certs {
            let ta = webpki::anchor_from_trusted_cert(c).map_err(|e| {
                Error::usage(format!("bad CA certificate in {}: {e}", path.display()))
            })?;
            out.push(ta.to_owned());
        }
        return Ok(out);
    }
    match a.roots {
        crate::tls::Roots::Webpki => Ok(webpki_roots::TLS_SERVER_ROOTS.to_vec()),
        crate::tls::Roots::Native => {
            let r = rustls_native_certs::load_native_certs();
            Ok(r.certs
                .iter()
                .filter_map(|c| {
                    webpki::anchor_from_trusted_cert(c)
                        .ok()
                        .map(|t| t.to_owned())
                })
                .collect())
        }
    }
}

fn parse_alpn(s: &str) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for p in s.split(',') {
        let p = p.trim();
        if p.is_empty() || p.len() > 255 || !p.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::usage(format!(
                "bad ALPN list {s:?}: give comma-separated protocol names (h2,http/1.1)"
            )));
        }
        out.push(p.as_bytes().to_vec());
    }
    Ok(out)
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// One TLS connection, measured.
struct Attempt {
    conn: ClientConnection,
    d: Drive,
    tcp_connect_us: u64,
    handshake_total_us: Option<u64>,
    /// Bytes on the wire until the handshake completed (sent + received).
    handshake_bytes: usize,
    error: Option<String>,
    /// The rustls error that ended the handshake.
    tls_error: Option<rustls::Error>,
    tcp_info: Option<crate::sys::TcpInfo>,
}

/// Connect to `dst` and drive one handshake with `config`; `meanwhile` runs once the
/// handshake is over (or has failed), before the wait for session tickets, while the server
/// prepares them (what arrives in the meantime keeps its kernel receive time). Err only when
/// TCP fails.
fn handshake(
    config: &Arc<ClientConfig>,
    name: ServerName<'static>,
    dst: SocketAddr,
    timeout: Duration,
    secrets: &Arc<Secrets>,
    ticket_wait: Duration,
    meanwhile: &dyn Fn(),
) -> Result<Attempt> {
    if let Ok(mut m) = secrets.map.lock() {
        m.clear();
    }
    let mut conn = ClientConnection::new(config.clone(), name)
        .map_err(|e| Error::measure(format!("TLS client: {e}")))?;
    let deadline = Instant::now() + timeout;
    let c = net::start_connect(dst, None, None)?;
    let connect_started = c.started;
    // Records are timed by their arrival, not by when this process got round to reading
    // them; asked now, so that the server's first answer is stamped too.
    net::stamp_receives(&c.sock);
    match c.wait(deadline) {
        net::ConnectEnd::Connected => {}
        other => {
            return Err(Error::measure(format!(
                "TCP connect to {dst}: {} (check the host and port)",
                match other {
                    net::ConnectEnd::Refused => "refused".to_string(),
                    net::ConnectEnd::TimedOut =>
                        format!("no answer within {}", net::fmt_duration(timeout)),
                    net::ConnectEnd::Unreachable(e) | net::ConnectEnd::Failed(e) => e.to_string(),
                    net::ConnectEnd::Connected => String::new(),
                }
            )));
        }
    }
    let sock: std::net::TcpStream = c.sock.into();
    let mut d = Drive::new(sock, deadline, secrets.clone())?;
    let tcp_connect_us = (d.t0 - connect_started).as_micros() as u64;
    let mut error: Option<String> = None;
    let mut tls_error = None;
    let mut handshake_total_us = None;
    loop {
        if let Err(e) = d.flush(&mut conn) {
            error = Some(format!("send: {e}"));
            break;
        }
        if !conn.is_handshaking() {
            handshake_total_us = Some(d.now_us());
            break;
        }
        match d.read_record() {
            Ok(Some((rec_bytes, at))) => {
                d.label(Dir::In, &rec_bytes, at);
                let mut rd: &[u8] = &rec_bytes;
                while !rd.is_empty() {
                    if let Err(e) = conn.read_tls(&mut rd) {
                        error = Some(format!("TLS: {e}"));
                        break;
                    }
                }
                let processed = conn.process_new_packets();
                if let Some(v) = conn.protocol_version() {
                    d.tls13 = Some(v == rustls::ProtocolVersion::TLSv1_3);
                }
                if let Err(e) = processed {
                    // Send our alert (it shows in the timeline), then stop.
                    let _ = d.flush(&mut conn);
                    error = Some(describe_tls_error(&e));
                    tls_error = Some(e);
                    break;
                }
                if error.is_some() {
                    break;
                }
            }
            Ok(None) => {
                error = Some("the server closed the connection during the handshake".to_string());
                break;
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                error = Some(format!(
                    "no answer within {} (the server stopped mid-handshake)",
                    net::fmt_duration(timeout)
                ));
                break;
            }
            Err(e) => {
                error = Some(format!("receive: {e}"));
                break;
            }
        }
    }
    let handshake_bytes = d.sent + d.received;
    let tcp_info = crate::sys::tcp_info(d.sock.as_fd()).ok();
    meanwhile();
    // Post-handshake: TLS 1.3 session tickets arrive about one round trip after our
    // Finished. Wait up to a few round trips; once one has come, only briefly for more (a
    // server sends its tickets together).
    if error.is_none() && d.tls13 == Some(true) {
        let rtt = Duration::from_micros(tcp_info.as_ref().map_or(0, |t| t.rtt_us as u64));
        d.deadline = Instant::now() + ticket_wait.max(3 * rtt);
        let mut tickets = 0;
        while let Ok(Some((rec_bytes, at))) = d.read_record() {
            d.label(Dir::In, &rec_bytes, at);
            let mut rd: &[u8] = &rec_bytes;
            let _ = conn.read_tls(&mut rd);
            if conn.process_new_packets().is_err() {
                break;
            }
            let now = d
                .timeline
                .iter()
                .filter(|e| e.dir == "in" && e.msg == "NewSessionTicket")
                .count();
            if now > tickets {
                tickets = now;
                d.deadline = d.deadline.min(Instant::now() + TICKET_MORE);
            }
        }
    }
    conn.send_close_notify();
    let _ = d.flush(&mut conn);
    let _ = d.sock.shutdown(std::net::Shutdown::Both);
    // Sent and received records interleave in time; keep each direction's order.
    d.timeline.sort_by_key(|e| e.t_us);
    Ok(Attempt {
        conn,
        d,
        tcp_connect_us,
        handshake_total_us,
        handshake_bytes,
        error,
        tls_error,
        tcp_info,
    })
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        other => format!("{other:?}"),
    }
}

fn kind_name(k: rustls::HandshakeKind) -> String {
    match k {
        rustls::HandshakeKind::Full => "full",
        rustls::HandshakeKind::FullWithHelloRetryRequest => "full_with_hrr",
        rustls::HandshakeKind::Resumed => "resumed",
    }
    .to_string()
}

/// Run one inspection.
pub fn inspect(a: &InspectArgs, g: &GlobalOpts) -> Result<TlsReport> {
    let timeout = g.timeout.unwrap_or(Duration::from_secs(5));
    // The short post-handshake waits (tickets) wake when asked, not up to 50 µs later (the
    // default timer slack).
    let _ = nix::sys::prctl::set_timerslack(1);
    if a.pcap.is_some() && !crate::sys::Privilege::discover().net_raw {
        return Err(Error::Privilege {
            what: "netlab tls inspect --pcap".into(),
            cap: "CAP_NET_RAW",
        });
    }
    let net::HostPort { host, port } = net::parse_host_port_or(&a.target, 443)?;
    let alpn = a.alpn.as_deref().map(parse_alpn).transpose()?;
    let anchors = roots(a)?;
    let keylog_file = match &a.keylog {
        Some(p) => Some(Mutex::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Error::usage(format!("cannot write key log {}: {e}", p.display())))?,
        )),
        None => None,
    };
    let sni_name = if a.no_sni {
        None
    } else {
        Some(a.sni.clone().unwrap_or_else(|| host.clone()))
    };
    // The name the certificate must carry: the SNI, or the host when none is sent.
    let expect_str = sni_name.clone().unwrap_or_else(|| host.clone());
    let expected = ServerName::try_from(expect_str.clone()).map_err(|_| {
        Error::usage(format!(
            "{expect_str:?} is not a valid DNS name or IP address"
        ))
    })?;
    let family = if a.ipv4 {
        Family::V4
    } else if a.ipv6 {
        Family::V6
    } else {
        Family::Any
    };

    // The client is ready before the connection, so ClientHello leaves as soon as it is up.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = if a.tls12 {
        vec![&rustls::version::TLS12]
    } else if a.tls13 {
        vec![&rustls::version::TLS13]
    } else {
        vec![&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let recorder = Arc::new(Recorder::new(
        anchors,
        expected.to_owned(),
        !a.no_hostname_check,
        a.strict,
        provider.clone(),
    ));
    let rec = recorder.rec.clone();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| Error::usage(format!("TLS versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_no_client_auth();
    let secrets = Arc::new(Secrets {
        map: Mutex::new(HashMap::new()),
        file: keylog_file,
    });
    config.key_log = secrets.clone();
    config.enable_sni = sni_name.is_some();
    config.resumption = if a.resume {
        rustls::client::Resumption::in_memory_sessions(8)
    } else {
        rustls::client::Resumption::disabled()
    };
    if let Some(p) = alpn.clone() {
        config.alpn_protocols = p;
    }
    let config = Arc::new(config);
    // The name rustls sends as SNI (and would check): ours, or the address without SNI.
    let conn_name = ServerName::try_from(expect_str.clone())
        .map_err(|_| Error::usage(format!("{expect_str:?} is not a valid server name")))?;

    let t_start = Instant::now();
    let addrs = net::resolve(&host, family, timeout)?;
    let dns_us = if host.parse::<IpAddr>().is_ok() {
        None
    } else {
        Some(t_start.elapsed().as_micros() as u64)
    };
    let ip = addrs[0];
    let dst = SocketAddr::new(ip, port);
    // --pcap: every packet to and from dst:port, read back once the run is over (the kernel
    // keeps them queued, with their arrival timestamps).
    let mut capture = match &a.pcap {
        Some(path) => {
            let route = net::route(dst.ip(), None, None)?;
            Some(Capture::open(
                &route.iface,
                &bpf::program(bpf::tcp_host_port(dst.ip(), dst.port())),
                Some(path),
            )?)
        }
        None => None,
    };
    let wait = a.ticket_wait.unwrap_or(if a.resume {
        TICKET_WAIT_RESUME
    } else {
        TICKET_WAIT
    });
    // netlab's own certificate checks run while the server sends its tickets.
    let first = handshake(
        &config,
        conn_name.clone(),
        dst,
        timeout,
        &secrets,
        wait,
        &|| rec.settle(),
    )?;
    // What the verifier saw on the first connection (a resumed one does not verify again).
    let recorded = rec.settled();
    let resumption = if a.resume && first.error.is_none() && !crate::sys::interrupted() {
        Some(resume(&first, &config, conn_name, dst, timeout, &secrets))
    } else {
        None
    };
    // rustls could not agree with the server: ask it, the old way, what it does speak.
    let offers = match &first.tls_error {
        Some(
            rustls::Error::AlertReceived(_)
            | rustls::Error::PeerIncompatible(_)
            | rustls::Error::PeerMisbehaved(_),
        ) if !crate::sys::interrupted() => {
            let sni = sni_name.as_deref().filter(|n| n.parse::<IpAddr>().is_err());
            Some(crate::tls::legacy::probe(dst, sni, timeout))
        }
        _ => None,
    };
    let Attempt {
        conn,
        d,
        tcp_connect_us,
        handshake_total_us,
        error,
        tcp_info,
        ..
    } = first;
    let negotiated = Negotiated {
        version: conn.protocol_version().map(version_name),
        // The IANA name (rustls spells the TLS 1.3 ones TLS13_...).
        cipher_suite: conn.negotiated_cipher_suite().map(|s| {
            let id = u16::from(s.suite());
            tls_parser::TlsCipherSuite::from_id(id)
                .map(|c| c.name.to_string())
                .unwrap_or_else(|| s.suite().as_str().unwrap_or("unknown").to_string())
        }),
        kx_group: conn
            .negotiated_key_exchange_group()
            .map(|g| format!("{:?}", g.name())),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
        signature_scheme: recorded.signature_scheme.clone(),
        // rustls (like every client) sends no SNI for an address.
        sni: sni_name.clone().filter(|n| n.parse::<IpAddr>().is_err()),
        handshake_kind: conn.handshake_kind().map(kind_name),
    };
    let rtt_us = tcp_info.as_ref().map(|t| t.rtt_us as u64);
    let ch_sh = match (d.client_hello_us, d.first_server_byte_us) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let timing = TimingUs {
        dns: dns_us,
        tcp_connect: tcp_connect_us,
        client_hello_sent: d.client_hello_us,
        server_hello_first_byte: d.first_server_byte_us,
        server_flight_done: d.server_flight_us,
        cert_verify: recorded.verify_us,
        client_finished: d.client_finished_us,
        handshake_total: handshake_total_us,
        kernel_rtt: rtt_us,
        // What the server spent between our ClientHello and its first answer byte, beyond
        // one network round trip (the connect time measures that round trip).
        server_think: ch_sh.map(|x| x.saturating_sub(tcp_connect_us)),
    };
    let mut report = crate::tls::report::build(
        a,
        &host,
        dst,
        timing,
        negotiated,
        d.timeline,
        recorded,
        error,
        d.alert,
        now_unix(),
    );
    if let Some(r) = resumption {
        report.connections_used = 2;
        report.resumption = Some(r);
    }
    if let Some(probes) = offers {
        report.connections_used += probes.len() as u32;
        report.server_offers = Some(ServerOffers::new(probes));
    }
    if let Some(c) = capture.as_mut() {
        // The last segments (FIN, ACK) may still be on their way.
        std::thread::sleep(Duration::from_millis(20));
        c.drain()?;
        report.capture = Some(c.finish()?);
    }
    Ok(report)
}

/// The second connection of `--resume`, compared with the first.
fn resume(
    first: &Attempt,
    config: &Arc<ClientConfig>,
    name: ServerName<'static>,
    dst: SocketAddr,
    timeout: Duration,
    secrets: &Arc<Secrets>,
) -> Resumption {
    let tickets = first
        .d
        .timeline
        .iter()
        .filter(|e| e.dir == "in" && e.msg == "NewSessionTicket")
        .count();
    let mut r = Resumption {
        offered: tickets > 0
            || first.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_2),
        resumed: false,
        handshake_kind: None,
        tcp_connect_us: None,
        handshake_total_us: None,
        full_handshake_total_us: first.handshake_total_us,
        time_saved_us: None,
        bytes: None,
        full_bytes: first.handshake_bytes,
        bytes_saved: None,
        certificate_sent: None,
        timeline: Vec::new(),
        error: None,
    };
    match handshake(config, name, dst, timeout, secrets, TICKET_WAIT, &|| {}) {
        Ok(s) => {
            r.resumed = s.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            r.handshake_kind = s.conn.handshake_kind().map(kind_name);
            r.tcp_connect_us = Some(s.tcp_connect_us);
            r.handshake_total_us = s.handshake_total_us;
            if let (Some(a), Some(b)) = (first.handshake_total_us, s.handshake_total_us) {
                r.time_saved_us = Some(a as i64 - b as i64);
            }
            r.bytes = Some(s.handshake_bytes);
            r.bytes_saved = Some(first.handshake_bytes as i64 - s.handshake_bytes as i64);
            r.certificate_sent = Some(
                s.d.timeline
                    .iter()
                    .any(|e| e.dir == "in" && e.msg == "Certificate"),
            );
            r.error = s.error;
            r.timeline = s.d.timeline;
        }
        Err(e) => r.error = Some(e.to_string()),
    }
    r
}

/// Our reading of rustls errors, in words.
fn describe_tls_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::AlertReceived(a) => format!("the server refused the handshake: alert {a:?}"),
        rustls::Error::PeerIncompatible(p) => format!("the server is incompatible: {p:?}"),
        rustls::Error::InvalidMessage(m) => {
            format!("the server sent something that is not TLS: {m:?}")
        }
        other => format!("{other}"),
    }
}

struct Drive {
    sock: TcpStream,
    t0: Instant,
    deadline: Instant,
    timeline: Vec<Event>,
    client: Side,
    server: Side,
    suite: Option<u16>,
    secrets: Arc<Secrets>,
    rbuf: Vec<u8>,
    hrr: bool,
    tls13: Option<bool>,
    first_server_byte_us: Option<u64>,
    client_hello_us: Option<u64>,
    server_flight_us: Option<u64>,
    client_finished_us: Option<u64>,
    alert: Option<String>,
    closed: bool,
    last_rx: u64,
    /// Bytes written and read on the socket.
    sent: usize,
    received: usize,
}

impl Drive {
    /// Drive a connection that is up now (t0).
    fn new(sock: TcpStream, deadline: Instant, secrets: Arc<Secrets>) -> Result<Drive> {
        let t0 = Instant::now();
        sock.set_nonblocking(false)
            .map_err(|e| Error::io("set blocking", e))?;
        sock.set_nodelay(true).ok();
        Ok(Drive {
            sock,
            t0,
            deadline,
            timeline: Vec::new(),
            client: Side::default(),
            server: Side::default(),
            suite: None,
            secrets,
            rbuf: Vec::new(),
            hrr: false,
            tls13: None,
            first_server_byte_us: None,
            client_hello_us: None,
            server_flight_us: None,
            client_finished_us: None,
            alert: None,
            closed: false,
            last_rx: 0,
            sent: 0,
            received: 0,
        })
    }

    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    /// Send everything rustls has queued, one timeline entry per message.
    fn flush(&mut self, conn: &mut ClientConnection) -> io::Result<()> {
        while conn.wants_write() {
            let mut out = Vec::new();
            conn.write_tls(&mut out)?;
            // Sent when handed to the kernel: on loopback the peer may have it, and answer,
            // before write returns.
            let at = self.now_us();
            self.sock.write_all(&out)?;
            self.sent += out.len();
            let mut buf = out;
            for r in record::split_records(&mut buf) {
                self.label(Dir::Out, &r, at);
            }
        }
        Ok(())
    }

    /// Read until one whole record is buffered: the record and when its last byte came.
    fn read_record(&mut self) -> io::Result<Option<(Vec<u8>, u64)>> {
        loop {
            if let Some(n) = record::record_len(&self.rbuf) {
                let r: Vec<u8> = self.rbuf.drain(..n).collect();
                self.received += r.len();
                return Ok(Some((r, self.last_rx)));
            }
            if self.closed {
                return Ok(None);
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "timeout"));
            }
            // ppoll, not SO_RCVTIMEO: that one counts in scheduler ticks (4 ms here), too
            // coarse for the short post-handshake waits.
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            match ppoll(&mut fds, Some(TimeSpec::from_duration(left)), None) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) if !crate::sys::interrupted() => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
            let mut b = [0u8; 16 * 1024 + 512];
            let (n, ago) = net::recv_stamped(&self.sock, &mut b)?;
            let now = self.now_us();
            let arrived = ago.and_then(|a| now.checked_sub(a.as_micros() as u64));
            if n == 0 {
                self.closed = true;
                if self.rbuf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection inside a record",
                ));
            }
            // Never before an earlier read (a read time next to a kernel stamp, while the
            // kernel is switching its stamps on).
            let at = arrived.unwrap_or_else(|| self.now_us()).max(self.last_rx);
            if self.first_server_byte_us.is_none() {
                self.first_server_byte_us = Some(at);
            }
            self.last_rx = at;
            if self.rbuf.is_empty() && !record::looks_like_record(&b[..n]) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the server answered with something that is not TLS ({:?}…)",
                        String::from_utf8_lossy(&b[..n.min(24)])
                    ),
                ));
            }
            self.rbuf.extend_from_slice(&b[..n]);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Out,
    In,
}

impl Drive {
    fn side(&mut self, dir: Dir) -> &mut Side {
        match dir {
            Dir::Out => &mut self.client,
            Dir::In => &mut self.server,
        }
    }

    /// Open a TLS 1.3 encrypted record with the handshake key of its direction, or the
    /// application key once the handshake key no longer opens it.
    fn open(&mut self, dir: Dir, rec: &[u8]) -> Option<(u8, Vec<u8>)> {
        let suite = self.suite?;
        let (hs, app) = match dir {
            Dir::Out => ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"),
            Dir::In => ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0"),
        };
        let hs_secret = self.secrets.get(hs);
        let app_secret = self.secrets.get(app);
        let side = self.side(dir);
        if side.hs_key.is_none() && side.app_key.is_none() {
            side.hs_key = hs_secret.and_then(|s| TrafficKey::new(suite, &s));
        }
        if let Some(k) = side.hs_key.as_mut()
            && let Some(x) = k.open(rec)
        {
            return Some(x);
        }
        if side.app_key.is_none() {
            side.app_key = app_secret.and_then(|s| TrafficKey::new(suite, &s));
        }
        let x = side.app_key.as_mut()?.open(rec)?;
        side.hs_key = None;
        Some(x)
    }

    fn push(&mut self, dir: Dir, at: u64, msg: String, bytes: usize, ct: u8, encrypted: bool) {
        self.push_detail(dir, at, msg, bytes, ct, encrypted, None);
    }

    #[allow(clippy::too_many_arguments)]
    fn push_detail(
        &mut self,
        dir: Dir,
        at: u64,
        msg: String,
        bytes: usize,
        ct: u8,
        encrypted: bool,
        detail: Option<String>,
    ) {
        self.timeline.push(Event {
            t_us: at,
            dir: if dir == Dir::Out { "out" } else { "in" },
            msg,
            bytes,
            record: match ct {
                record::CHANGE_CIPHER_SPEC => "change_cipher_spec",
                record::ALERT => "alert",
                record::HANDSHAKE => "handshake",
                record::APPLICATION_DATA => "application_data",
                _ => "unknown",
            },
            encrypted,
            detail,
        });
    }

    /// Handshake messages of one direction: name them, note the phase they end.
    fn messages(&mut self, dir: Dir, at: u64, msgs: Vec<record::HsMsg>, encrypted: bool) {
        for m in msgs {
            let mut name = record::handshake_name(m.kind);
            match (dir, m.kind) {
                (Dir::Out, 1) => {
                    self.client_hello_us.get_or_insert(at);
                }
                (Dir::In, 2) => {
                    if record::is_hrr(&m.body) {
                        name = "HelloRetryRequest".into();
                        self.hrr = true;
                    } else if m.body.len() >= 35 {
                        let sid = m.body[34] as usize;
                        if m.body.len() >= 37 + sid {
                            self.suite =
                                Some(u16::from_be_bytes([m.body[35 + sid], m.body[36 + sid]]));
                        }
                    }
                }
                (Dir::In, 14) => self.server_flight_us = Some(at),
                (Dir::In, 20) if self.server_flight_us.is_none() => {
                    self.server_flight_us = Some(at);
                }
                (Dir::Out, 20) => {
                    self.client_finished_us.get_or_insert(at);
                }
                _ => {}
            }
            let tls13 = self.tls13 == Some(true) || (encrypted && self.tls13 != Some(false));
            let detail = if m.body.is_empty() && m.bytes > 4 {
                None // the TLS 1.2 encrypted Finished: unread
            } else {
                record::detail(m.kind, &m.body, tls13)
            };
            self.push_detail(dir, at, name, m.bytes, record::HANDSHAKE, encrypted, detail);
        }
    }

    fn label(&mut self, dir: Dir, r: &[u8], at: u64) {
        let ct = r[0];
        let payload = &r[5..];
        match ct {
            record::HANDSHAKE if !self.side(dir).ccs => {
                let msgs = self.side(dir).plain.push(payload);
                self.messages(dir, at, msgs, false);
            }
            record::HANDSHAKE => {
                // TLS 1.2 after ChangeCipherSpec: the encrypted Finished.
                let msgs = vec![record::HsMsg {
                    kind: 20,
                    bytes: payload.len(),
                    body: Vec::new(),
                }];
                self.messages(dir, at, msgs, true);
            }
            record::CHANGE_CIPHER_SPEC => {
                // In TLS 1.3 it is only for middleboxes: what follows is not encrypted by it
                // (the second ClientHello after a HelloRetryRequest comes after one).
                if self.tls13 != Some(true) {
                    self.side(dir).ccs = true;
                }
                self.push(dir, at, "ChangeCipherSpec".into(), payload.len(), ct, false);
            }
            record::ALERT if payload.len() == 2 => {
                let a = format!(
                    "Alert({}, {})",
                    if payload[0] == 2 { "fatal" } else { "warning" },
                    record::alert_name(payload[1])
                );
                if dir == Dir::In && (payload[0] == 2 || payload[1] != 0) {
                    self.alert = Some(a.clone());
                }
                self.push(dir, at, a, payload.len(), ct, false);
            }
            record::APPLICATION_DATA if self.tls13 != Some(false) => match self.open(dir, r) {
                Some((record::HANDSHAKE, body)) => {
                    let msgs = self.side(dir).inner.push(&body);
                    self.messages(dir, at, msgs, true);
                }
                Some((record::ALERT, body)) if body.len() == 2 => {
                    let a = format!(
                        "Alert({}, {})",
                        if body[0] == 2 { "fatal" } else { "warning" },
                        record::alert_name(body[1])
                    );
                    if dir == Dir::In && (body[0] == 2 || body[1] != 0) {
                        self.alert = Some(a.clone());
                    }
                    self.push(dir, at, a, body.len(), record::ALERT, true);
                }
                Some((_, body)) => {
                    self.push(dir, at, "ApplicationData".into(), body.len(), ct, true);
                }
                None => {
                    self.push(dir, at, "EncryptedRecord".into(), payload.len(), ct, true);
                }
            },
            record::ALERT => {
                // TLS 1.2 after ChangeCipherSpec: an encrypted alert (close_notify, usually).
                self.push(dir, at, "Alert".into(), payload.len(), ct, true);
            }
            _ => {
                let name = if ct == record::APPLICATION_DATA {
                    "ApplicationData".to_string()
                } else {
                    format!("Record({ct})")
                };
                self.push(
                    dir,
                    at,
                    name,
                    payload.len(),
                    ct,
                    ct == record::APPLICATION_DATA,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_timed_by_its_arrival_not_by_its_read() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut server, _) = l.accept().unwrap();
        net::stamp_receives(&c);
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut d = Drive::new(c, deadline, Arc::new(Secrets::default())).unwrap();
        // A whole record (an alert), sent; read only 50 ms later. The kernel starts stamping
        // received packets a moment after the first socket asks (a deferred switch), and a
        // read before that is timed when it is made: a few tries.
        let mut seen = Vec::new();
        for _ in 0..5 {
            server.write_all(&[21, 3, 3, 0, 2, 1, 0]).unwrap();
            let sent = d.now_us();
            std::thread::sleep(Duration::from_millis(50));
            let (rec, at) = d.read_record().unwrap().unwrap();
            assert_eq!(rec, [21, 3, 3, 0, 2, 1, 0]);
            let read = d.now_us();
            assert!(read >= sent + 50_000);
            if seen.is_empty() {
                assert_eq!(d.first_server_byte_us, Some(at));
            }
            seen.push((sent, at, read));
            // Loopback delivers inside the sender's write: the arrival is no later than that
            // (but for microseconds of rounding between the two clocks).
            if at <= sent + 5 {
                return;
            }
        }
        panic!("no read timed by its arrival: (sent, at, read) µs {seen:?}");
    }
}

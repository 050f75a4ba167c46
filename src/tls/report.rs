//! The `tls inspect` report: phases, timeline, negotiated parameters, certificates and the
//! verification verdict, rendered as tables or JSON.

use std::io::{self, Write};
use std::net::SocketAddr;

use serde::Serialize;

use crate::error::{EXIT_FINDING, EXIT_OK, EXIT_USAGE};
use crate::output::{self, Report, SCHEMA_VERSION, Style};
use crate::tls::InspectArgs;
use crate::tls::cert::{self, CertInfo};
use crate::tls::legacy::Probe;
use crate::tls::ocsp::{self, Ocsp};
use crate::tls::verify::{Problem, Recorded};

/// One record or handshake message on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// µs since the TCP connection was up (sent: after the write; received: when the read
    /// that completed its record returned).
    pub t_us: u64,
    /// "out" (client → server) or "in".
    pub dir: &'static str,
    /// ClientHello, ServerHello, HelloRetryRequest, EncryptedExtensions, Certificate,
    /// CertificateVerify, Finished, NewSessionTicket, ChangeCipherSpec, Alert(...), ...
    pub msg: String,
    /// Size: the handshake message with its header, or the record payload.
    pub bytes: usize,
    /// Record content type it came in.
    pub record: &'static str,
    /// Sent encrypted (labelled by opening it with the session's secrets).
    pub encrypted: bool,
    /// What the message says in brief (suites offered, suite chosen, group, certificate
    /// count, OCSP size, ticket lifetime), or null.
    pub detail: Option<String>,
}

/// What was agreed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Negotiated {
    /// TLSv1.3, TLSv1.2.
    pub version: Option<String>,
    /// IANA name (TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ...).
    pub cipher_suite: Option<String>,
    /// X25519, secp256r1, ...
    pub kx_group: Option<String>,
    /// The ALPN protocol the server chose.
    pub alpn: Option<String>,
    /// The server's handshake signature scheme.
    pub signature_scheme: Option<String>,
    /// SNI sent (null: none).
    pub sni: Option<String>,
    /// full, full_with_hrr, resumed.
    pub handshake_kind: Option<String>,
}

/// Phases, µs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TimingUs {
    /// Name resolution (null for an address).
    pub dns: Option<u64>,
    /// connect() to established.
    pub tcp_connect: u64,
    /// ClientHello sent, since the connection was up.
    pub client_hello_sent: Option<u64>,
    /// First byte of the server's answer.
    pub server_hello_first_byte: Option<u64>,
    /// The server's flight complete (its Finished in TLS 1.3, ServerHelloDone in 1.2).
    pub server_flight_done: Option<u64>,
    /// Local certificate verification on the handshake's path (duration): what a standard
    /// client checks (webpki's chain and name), or every check with `--strict`.
    pub cert_verify: Option<u64>,
    /// Our Finished sent.
    pub client_finished: Option<u64>,
    /// Connection up → handshake complete.
    pub handshake_total: Option<u64>,
    /// The kernel's smoothed RTT (TCP_INFO).
    pub kernel_rtt: Option<u64>,
    /// ClientHello → first answer byte, minus one round trip (the connect time).
    pub server_think: Option<u64>,
}

/// Received certificates and the verified chain.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Certificates {
    /// Every certificate the server sent, leaf first.
    pub received: Vec<CertInfo>,
    /// Subjects of the verified chain above the leaf, up to the trust anchor (empty when it
    /// did not verify, or when no moment exists at which every certificate was valid).
    pub verified_chain: Vec<String>,
    /// The trust anchor's subject.
    pub trust_anchor: Option<String>,
    /// A stapled OCSP response was sent (its size).
    pub ocsp_stapled_bytes: Option<usize>,
    /// The stapled OCSP response decoded (null: none stapled).
    pub ocsp: Option<Ocsp>,
}

/// The second connection of `--resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resumption {
    /// The first connection left something to resume with (a TLS 1.3 ticket, or a TLS 1.2
    /// session).
    pub offered: bool,
    /// The server accepted it: an abbreviated handshake.
    pub resumed: bool,
    /// full, full_with_hrr, resumed.
    pub handshake_kind: Option<String>,
    /// TCP connect of the second connection, µs.
    pub tcp_connect_us: Option<u64>,
    /// Its handshake, µs.
    pub handshake_total_us: Option<u64>,
    /// The first (full) handshake, µs.
    pub full_handshake_total_us: Option<u64>,
    /// First minus second, µs (negative: the second was slower).
    pub time_saved_us: Option<i64>,
    /// Bytes on the wire, both directions, until the second handshake completed.
    pub bytes: Option<usize>,
    /// The same for the first.
    pub full_bytes: usize,
    /// First minus second.
    pub bytes_saved: Option<i64>,
    /// The server sent its certificate again.
    pub certificate_sent: Option<bool>,
    /// The second connection's messages.
    pub timeline: Vec<Event>,
    /// Why the second handshake did not complete.
    pub error: Option<String>,
}

/// The verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// No problem found (and the certificate was seen).
    pub ok: bool,
    /// Every problem.
    pub problems: Vec<Problem>,
    /// The name checked (null with --no-hostname-check).
    pub checked_name: Option<String>,
    /// --strict aborted on the first problem.
    pub strict: bool,
}

/// A finding that is not about the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// proxy_suspected, ...
    pub code: &'static str,
    /// In words.
    pub message: String,
}

/// The `tls inspect` report.
#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "tls inspect".
    pub command: &'static str,
    /// As given.
    pub target: String,
    /// Address connected to.
    pub address: String,
    /// ok, certificate_problems, refused (alert from the server), failed (garbage, closed
    /// mid-handshake, a bad signature), timeout.
    pub outcome: &'static str,
    /// Why the handshake did not complete.
    pub error: Option<String>,
    /// The server's alert, when it sent one.
    pub alert: Option<String>,
    /// TCP connections opened.
    pub connections_used: u32,
    /// Phases.
    pub timing_us: TimingUs,
    /// Agreed parameters.
    pub negotiated: Negotiated,
    /// Every record / message.
    pub timeline: Vec<Event>,
    /// NewSessionTicket messages received.
    pub session_tickets: u32,
    /// Certificates.
    pub certificates: Certificates,
    /// Verdict.
    pub verification: Verification,
    /// Other findings.
    pub warnings: Vec<Warning>,
    /// The second connection (`--resume`), or null.
    pub resumption: Option<Resumption>,
    /// When rustls could not agree with the server: what hand-built TLS 1.2 / 1.1 / 1.0
    /// ClientHellos got from it, or null.
    pub server_offers: Option<ServerOffers>,
    /// `--pcap`: what was captured, or null.
    pub capture: Option<crate::capture::CaptureStats>,
}

/// What the server speaks, from hand-built ClientHellos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerOffers {
    /// One probe per version offered, newest first.
    pub probes: Vec<Probe>,
    /// The versions it accepted.
    pub versions: Vec<String>,
}

impl ServerOffers {
    /// Summarise the probes.
    pub fn new(probes: Vec<Probe>) -> ServerOffers {
        let mut versions: Vec<String> = Vec::new();
        for p in &probes {
            if let Some(v) = &p.version
                && !versions.contains(v)
            {
                versions.push(v.clone());
            }
        }
        ServerOffers { probes, versions }
    }
}

/// Assemble the report.
#[allow(clippy::too_many_arguments)]
pub fn build(
    a: &InspectArgs,
    host: &str,
    dst: SocketAddr,
    timing: TimingUs,
    negotiated: Negotiated,
    timeline: Vec<Event>,
    rec: Recorded,
    error: Option<String>,
    alert: Option<String>,
    now: i64,
) -> TlsReport {
    // The verifier described what it received; describe again only what it did not.
    let described = |i: usize, d: &[u8]| -> Option<CertInfo> {
        match rec.infos.get(i) {
            Some(info) if rec.infos.len() == rec.received.len() => info.clone(),
            _ => cert::describe(d, now),
        }
    };
    let received: Vec<CertInfo> = rec
        .received
        .iter()
        .enumerate()
        .filter_map(|(i, d)| described(i, d))
        .collect();
    let mut verified_chain: Vec<String> = rec
        .path
        .iter()
        .filter_map(|d| match rec.received.iter().position(|r| r == d) {
            Some(i) => described(i, d),
            None => cert::describe(d, now),
        })
        .map(|c| c.subject)
        .collect();
    // webpki keeps the anchor's Name without its SEQUENCE header.
    let trust_anchor = rec.anchor_subject.as_ref().map(|s| {
        let mut der = vec![0x30];
        match s.len() {
            n if n < 0x80 => der.push(n as u8),
            n if n < 0x100 => der.extend_from_slice(&[0x81, n as u8]),
            n => der.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
        }
        der.extend_from_slice(s);
        x509_parser::x509::X509Name::from_der(&der)
            .map(|(_, n)| crate::tls::cert::dn_string(&n))
            .unwrap_or_else(|_| "?".into())
    });
    if let Some(t) = &trust_anchor {
        verified_chain.push(t.clone());
    }
    let mut rec = rec;
    // The stapled response, checked against the leaf's issuer (sent, or found by webpki).
    let ocsp = match rec.received.first() {
        Some(leaf) if !rec.ocsp.is_empty() => {
            let issuer = rec.received.get(1).or(rec.path.first());
            ocsp::decode(&rec.ocsp, leaf, issuer.map(|v| v.as_slice()), now)
        }
        _ => None,
    };
    if let Some(o) = &ocsp
        && o.cert_status.as_deref() == Some("revoked")
        && o.for_leaf == Some(true)
    {
        rec.problems.push(Problem {
            code: "revoked",
            message: format!(
                "the stapled OCSP response says the certificate was revoked{}",
                o.revocation_time
                    .as_deref()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default()
            ),
            hint: "the server must get a new certificate (and stop stapling this response)".into(),
        });
    }
    let timed_out = error
        .as_deref()
        .is_some_and(|e| e.starts_with("no answer within"));
    let outcome = if timed_out {
        "timeout"
    } else if alert.is_some() && error.is_some() {
        "refused"
    } else if error.is_some() {
        "failed"
    } else if !rec.problems.is_empty() {
        "certificate_problems"
    } else {
        "ok"
    };
    let mut warnings = Vec::new();
    if let (Some(ch), Some(sh)) = (timing.client_hello_sent, timing.server_hello_first_byte) {
        let exchange = sh.saturating_sub(ch);
        if exchange > 4 * timing.tcp_connect && exchange - timing.tcp_connect > 10_000 {
            warnings.push(Warning {
                code: "proxy_suspected",
                message: format!(
                    "TCP connect took {}, ClientHello → ServerHello {}: the TCP peer answers far \
                     faster than the TLS server (a proxy or load balancer in the path, or a busy server)",
                    fmt(timing.tcp_connect),
                    fmt(exchange)
                ),
            });
        }
    }
    let session_tickets = timeline
        .iter()
        .filter(|e| e.dir == "in" && e.msg == "NewSessionTicket")
        .count() as u32;
    TlsReport {
        schema_version: SCHEMA_VERSION,
        command: "tls inspect",
        target: a.target.clone(),
        address: dst.to_string(),
        outcome,
        error,
        alert,
        connections_used: 1,
        timing_us: timing,
        negotiated,
        timeline,
        session_tickets,
        certificates: Certificates {
            received,
            verified_chain,
            trust_anchor,
            ocsp_stapled_bytes: (!rec.ocsp.is_empty()).then_some(rec.ocsp.len()),
            ocsp,
        },
        verification: Verification {
            ok: rec.ran && rec.problems.is_empty(),
            problems: rec.problems,
            checked_name: (!a.no_hostname_check)
                .then(|| a.sni.clone().unwrap_or_else(|| host.to_string())),
            strict: a.strict,
        },
        warnings,
        resumption: None,
        server_offers: None,
        capture: None,
    }
}

use x509_parser::prelude::FromDer;

fn fmt(v: u64) -> String {
    output::fmt_us(Some(v as f64))
}

fn us(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), fmt)
}

impl Report for TlsReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        let n = &self.negotiated;
        writeln!(
            out,
            "{} {} ({}): {}",
            st.bold("TLS"),
            self.target,
            self.address,
            match self.outcome {
                "ok" => st.good("handshake complete, certificate valid"),
                "certificate_problems" => st.warn("handshake complete, certificate has problems"),
                "refused" => st.bad("the server refused the handshake"),
                "timeout" => st.bad("timed out"),
                _ => st.bad("handshake failed"),
            }
        )?;
        if let Some(e) = &self.error {
            writeln!(out, "  {e}")?;
        }
        writeln!(
            out,
            "  {} {}, {}, group {}, ALPN {}, signature {}, SNI {}, {}",
            st.dim("negotiated:"),
            n.version.as_deref().unwrap_or("-"),
            n.cipher_suite.as_deref().unwrap_or("-"),
            n.kx_group.as_deref().unwrap_or("-"),
            n.alpn.as_deref().unwrap_or("-"),
            n.signature_scheme.as_deref().unwrap_or("-"),
            n.sni.as_deref().unwrap_or("(none)"),
            n.handshake_kind.as_deref().unwrap_or("-"),
        )?;
        let t = &self.timing_us;
        let mut p = output::table(&["phase", "time"]);
        for (k, v) in [
            ("DNS", t.dns),
            ("TCP connect", Some(t.tcp_connect)),
            ("ClientHello sent", t.client_hello_sent),
            ("first ServerHello byte", t.server_hello_first_byte),
            ("server flight complete", t.server_flight_done),
            ("certificate verification (local)", t.cert_verify),
            ("client Finished sent", t.client_finished),
            ("handshake total", t.handshake_total),
            ("kernel RTT (TCP_INFO)", t.kernel_rtt),
            ("server think time (est.)", t.server_think),
        ] {
            p.add_row(vec![k.to_string(), us(v)]);
        }
        writeln!(out, "{p}")?;
        if !st.quiet {
            let mut tl = output::table(&["t", "", "message", "bytes", "detail"]);
            for e in &self.timeline {
                tl.add_row(vec![
                    fmt(e.t_us),
                    if e.dir == "out" {
                        "→".into()
                    } else {
                        "←".into()
                    },
                    if e.encrypted {
                        format!("{} (encrypted)", e.msg)
                    } else {
                        e.msg.clone()
                    },
                    e.bytes.to_string(),
                    e.detail.clone().unwrap_or_default(),
                ]);
            }
            writeln!(out, "{tl}")?;
            for (i, c) in self.certificates.received.iter().enumerate() {
                writeln!(
                    out,
                    "  {} {}\n    issuer {}\n    SAN {}\n    valid {} → {} ({} days left), {} {} bits, {}\n    SHA-256 {}{}",
                    st.bold(&format!("[{i}]")),
                    c.subject,
                    c.issuer,
                    if c.san.is_empty() {
                        "-".into()
                    } else {
                        c.san.join(", ")
                    },
                    c.not_before,
                    c.not_after,
                    c.days_left,
                    c.key_type,
                    c.key_bits,
                    c.signature_algorithm,
                    c.sha256,
                    if c.ca_issuers.is_empty() {
                        String::new()
                    } else {
                        format!("\n    caIssuers {}", c.ca_issuers.join(", "))
                    }
                )?;
            }
            if !self.certificates.verified_chain.is_empty() {
                writeln!(
                    out,
                    "  {} leaf → {}",
                    st.dim("verified chain:"),
                    self.certificates.verified_chain.join(" → ")
                )?;
            }
        }
        if let Some(o) = &self.certificates.ocsp {
            writeln!(
                out,
                "  {} {} — certificate {}{}, this update {}, next update {}{}, responder {}, signature {}{}",
                st.dim("stapled OCSP:"),
                o.response_status,
                o.cert_status.as_deref().unwrap_or("-"),
                o.revocation_time
                    .as_deref()
                    .map(|t| format!(" at {t}"))
                    .unwrap_or_default(),
                o.this_update.as_deref().unwrap_or("-"),
                o.next_update.as_deref().unwrap_or("-"),
                if o.stale { " (stale)" } else { "" },
                o.responder,
                match o.signature_valid {
                    Some(true) => "valid",
                    Some(false) => "INVALID",
                    None => "not checked",
                },
                if o.for_leaf == Some(false) {
                    " (about another certificate)"
                } else {
                    ""
                }
            )?;
        }
        if let Some(r) = &self.resumption {
            writeln!(
                out,
                "  {} {} ({}), handshake {} vs {} full ({} saved), {} vs {} bytes{}{}",
                st.dim("second connection:"),
                if r.resumed {
                    st.good("resumed")
                } else {
                    st.warn("not resumed")
                },
                r.handshake_kind.as_deref().unwrap_or("-"),
                us(r.handshake_total_us),
                us(r.full_handshake_total_us),
                r.time_saved_us
                    .map(|v| format!("{}{}", if v < 0 { "-" } else { "" }, fmt(v.unsigned_abs())))
                    .unwrap_or_else(|| "-".into()),
                r.bytes.map_or_else(|| "-".into(), |b| b.to_string()),
                r.full_bytes,
                if r.offered {
                    ""
                } else {
                    " (the server left no ticket to resume with)"
                },
                r.error
                    .as_deref()
                    .map(|e| format!("; {e}"))
                    .unwrap_or_default()
            )?;
        }
        if let Some(o) = &self.server_offers {
            writeln!(
                out,
                "  {} {}",
                st.dim("what the server speaks (hand-built ClientHellos):"),
                if o.versions.is_empty() {
                    "none of TLS 1.2, 1.1, 1.0".to_string()
                } else {
                    o.versions.join(", ")
                }
            )?;
            for p in &o.probes {
                writeln!(
                    out,
                    "    offer {}: {}{}",
                    p.offered,
                    p.result,
                    match (&p.version, &p.cipher_suite, &p.alert) {
                        (Some(v), Some(c), _) => format!(" → {v}, {c}"),
                        (_, _, Some(a)) => format!(" ({a})"),
                        _ => String::new(),
                    }
                )?;
            }
        }
        for p in &self.verification.problems {
            writeln!(out, "{}: {}\n  fix: {}", st.warn(p.code), p.message, p.hint)?;
        }
        for w in &self.warnings {
            writeln!(out, "{}: {}", st.warn(w.code), w.message)?;
        }
        if let Some(c) = &self.capture {
            writeln!(
                out,
                "  {} {} packets on {}{}{}",
                st.dim("captured:"),
                c.packets,
                c.interface,
                c.pcap_file
                    .as_ref()
                    .map(|p| format!(" → {}", p.display()))
                    .unwrap_or_default(),
                if c.kernel_drops > 0 {
                    format!(" ({} dropped by the kernel)", c.kernel_drops)
                } else {
                    String::new()
                }
            )?;
        }
        if self.session_tickets > 0 {
            writeln!(out, "  {} session tickets", self.session_tickets)?;
        }
        Ok(())
    }

    fn exit_code(&self) -> i32 {
        match self.outcome {
            "ok" => EXIT_OK,
            "timeout" => EXIT_USAGE,
            _ => EXIT_FINDING,
        }
    }
}

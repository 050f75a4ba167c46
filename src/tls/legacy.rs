//! What a server offers when rustls cannot talk to it (TLS 1.0 / 1.1 only, no common cipher
//! suite): a few hand-built ClientHellos, one per protocol version, each offering a broad list
//! of suites old and new; the server's ServerHello (parsed with tls-parser) names the version
//! and suite it picks, or its alert says no.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::Serialize;
use tls_parser::{TlsMessage, TlsMessageHandshake, parse_tls_plaintext};

use crate::tls::record;

/// One probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Probe {
    /// The highest version offered: TLSv1.2, TLSv1.1, TLSv1.0.
    pub offered: &'static str,
    /// accepted (a ServerHello), refused (an alert), closed, timeout, not_tls, failed.
    pub result: &'static str,
    /// The version the server chose.
    pub version: Option<String>,
    /// The suite it chose (IANA name).
    pub cipher_suite: Option<String>,
    /// Its alert, when it refused.
    pub alert: Option<String>,
    /// ClientHello sent → answer, µs.
    pub answer_us: Option<u64>,
}

/// The suites offered: modern AEAD first, then CBC, DHE, plain RSA, 3DES and RC4, so the
/// server's own preference (or its only choice) shows.
const SUITES: [u16; 27] = [
    0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc023, 0xc027, 0xc024, 0xc028, 0xc009, 0xc013,
    0xc00a, 0xc014, 0x009e, 0x009f, 0x0033, 0x0039, 0x009c, 0x009d, 0x003c, 0x003d, 0x002f, 0x0035,
    0x000a, 0x0005, 0x0004,
];

/// Name of a protocol version code.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        0x0301 => "TLSv1.0".into(),
        0x0302 => "TLSv1.1".into(),
        0x0303 => "TLSv1.2".into(),
        0x0304 => "TLSv1.3".into(),
        other => format!("0x{other:04x}"),
    }
}

fn ext(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    out.extend_from_slice(&kind.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn list16(items: &[u16]) -> Vec<u8> {
    let mut b = ((items.len() * 2) as u16).to_be_bytes().to_vec();
    for i in items {
        b.extend_from_slice(&i.to_be_bytes());
    }
    b
}

/// A ClientHello record offering up to `version`, with SNI `sni`.
pub fn client_hello(version: u16, sni: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&rand::random::<[u8; 32]>());
    body.push(0); // no session id
    let mut suites: Vec<u16> = SUITES.to_vec();
    suites.push(0x00ff); // renegotiation SCSV
    body.extend_from_slice(&list16(&suites));
    body.extend_from_slice(&[1, 0]); // null compression
    let mut exts = Vec::new();
    if let Some(name) = sni {
        let n = name.as_bytes();
        let mut e = ((n.len() + 3) as u16).to_be_bytes().to_vec();
        e.push(0);
        e.extend_from_slice(&(n.len() as u16).to_be_bytes());
        e.extend_from_slice(n);
        ext(&mut exts, 0x0000, &e);
    }
    ext(
        &mut exts,
        0x000a,
        &list16(&[0x001d, 0x0017, 0x0018, 0x0019, 0x0100]),
    );
    ext(&mut exts, 0x000b, &[1, 0]);
    if version >= 0x0303 {
        ext(
            &mut exts,
            0x000d,
            &list16(&[
                0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203,
                0x0201,
            ]),
        );
    }
    ext(&mut exts, 0x0017, &[]); // extended master secret
    ext(&mut exts, 0xff01, &[0]); // renegotiation info
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend_from_slice(&exts);
    let mut hs = vec![1u8];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    let mut rec = vec![record::HANDSHAKE, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend_from_slice(&hs);
    rec
}

/// Read what the server says to one ClientHello.
pub fn read_answer(sock: &mut TcpStream, deadline: Instant, p: &mut Probe) {
    let mut buf = Vec::new();
    let sent = Instant::now();
    loop {
        if let Some(n) = record::record_len(&buf) {
            p.answer_us = Some(sent.elapsed().as_micros() as u64);
            match parse_tls_plaintext(&buf[..n]) {
                Ok((_, pt)) => {
                    for m in pt.msg {
                        match m {
                            TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)) => {
                                p.result = "accepted";
                                p.version = Some(version_name(sh.version.0));
                                p.cipher_suite = Some(
                                    tls_parser::TlsCipherSuite::from_id(sh.cipher.0)
                                        .map(|c| c.name.to_string())
                                        .unwrap_or_else(|| format!("0x{:04x}", sh.cipher.0)),
                                );
                                return;
                            }
                            TlsMessage::Alert(a) => {
                                p.result = "refused";
                                p.alert = Some(format!(
                                    "Alert({}, {})",
                                    if a.severity.0 == 2 {
                                        "fatal"
                                    } else {
                                        "warning"
                                    },
                                    record::alert_name(a.code.0)
                                ));
                                return;
                            }
                            _ => {}
                        }
                    }
                    p.result = "failed";
                }
                Err(_) => p.result = "not_tls",
            }
            return;
        }
        if !buf.is_empty() && !record::looks_like_record(&buf) {
            p.result = "not_tls";
            return;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
            p.result = "timeout";
            return;
        }
        let mut b = [0u8; 16 * 1024];
        match sock.read(&mut b) {
            Ok(0) => {
                p.result = "closed";
                return;
            }
            Ok(n) => buf.extend_from_slice(&b[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                p.result = "timeout";
                return;
            }
            Err(_) => {
                p.result = "closed";
                return;
            }
        }
    }
}

/// Probe `dst` with TLS 1.2, 1.1 and 1.0 ClientHellos (one connection each).
pub fn probe(dst: SocketAddr, sni: Option<&str>, timeout: Duration) -> Vec<Probe> {
    let mut out = Vec::new();
    for (v, name) in [
        (0x0303u16, "TLSv1.2"),
        (0x0302, "TLSv1.1"),
        (0x0301, "TLSv1.0"),
    ] {
        if crate::sys::interrupted() {
            break;
        }
        let mut p = Probe {
            offered: name,
            result: "failed",
            version: None,
            cipher_suite: None,
            alert: None,
            answer_us: None,
        };
        let deadline = Instant::now() + timeout;
        // The same connect the handshake uses (net), blocking afterwards.
        let end = match crate::net::start_connect(dst, None, None) {
            Ok(c) => match c.wait(deadline) {
                crate::net::ConnectEnd::Connected => Some(c.sock),
                crate::net::ConnectEnd::TimedOut => {
                    p.result = "timeout";
                    None
                }
                _ => {
                    p.result = "closed";
                    None
                }
            },
            Err(_) => {
                p.result = "closed";
                None
            }
        };
        if let Some(sock) = end {
            let mut s: TcpStream = sock.into();
            let _ = s.set_nonblocking(false);
            let _ = s.set_nodelay(true);
            if s.write_all(&client_hello(v, sni)).is_ok() {
                read_answer(&mut s, deadline, &mut p);
            }
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_parses_back() {
        let ch = client_hello(0x0301, Some("tls.lab.test"));
        assert_eq!(record::record_len(&ch), Some(ch.len()));
        assert_eq!(
            record::detail(1, &ch[9..], false).as_deref(),
            Some("28 suites, SNI tls.lab.test")
        );
        let (_, pt) = parse_tls_plaintext(&ch).unwrap();
        match &pt.msg[0] {
            TlsMessage::Handshake(TlsMessageHandshake::ClientHello(c)) => {
                assert_eq!(c.version.0, 0x0301);
                assert_eq!(c.ciphers.len(), SUITES.len() + 1);
                let (_, exts) =
                    tls_parser::parse_tls_client_hello_extensions(c.ext.unwrap()).unwrap();
                assert!(exts.iter().any(
                    |e| matches!(e, tls_parser::TlsExtension::SNI(v) if v[0].1 == b"tls.lab.test")
                ));
            }
            other => panic!("{other:?}"),
        }
    }
}

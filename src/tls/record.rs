//! TLS on the wire (pure): records split from a byte stream, handshake messages reassembled
//! and named, HelloRetryRequest recognised, and TLS 1.3 records opened with the session's own
//! traffic secrets (RFC 8446 §7.1, §5.2) so the encrypted flight can be labelled.

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;

/// Record content types.
pub const CHANGE_CIPHER_SPEC: u8 = 20;
/// Alert.
pub const ALERT: u8 = 21;
/// Handshake.
pub const HANDSHAKE: u8 = 22;
/// Application data (and every TLS 1.3 encrypted record).
pub const APPLICATION_DATA: u8 = 23;

/// ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest").
pub const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Length of a complete record at the start of `buf`, if there is one.
pub fn record_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 5 {
        return None;
    }
    let n = 5 + u16::from_be_bytes([buf[3], buf[4]]) as usize;
    (buf.len() >= n).then_some(n)
}

/// Does `buf` start like a TLS record (known content type, version 3.x)?
pub fn looks_like_record(buf: &[u8]) -> bool {
    buf.len() >= 3 && (20..=24).contains(&buf[0]) && buf[1] == 3
}

/// Split as many complete records as `buf` holds off its front.
pub fn split_records(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(n) = record_len(buf) {
        out.push(buf.drain(..n).collect());
    }
    out
}

/// The name of a handshake message type.
pub fn handshake_name(t: u8) -> String {
    match t {
        0 => "HelloRequest".into(),
        1 => "ClientHello".into(),
        2 => "ServerHello".into(),
        4 => "NewSessionTicket".into(),
        5 => "EndOfEarlyData".into(),
        8 => "EncryptedExtensions".into(),
        11 => "Certificate".into(),
        12 => "ServerKeyExchange".into(),
        13 => "CertificateRequest".into(),
        14 => "ServerHelloDone".into(),
        15 => "CertificateVerify".into(),
        16 => "ClientKeyExchange".into(),
        20 => "Finished".into(),
        22 => "CertificateStatus".into(),
        24 => "KeyUpdate".into(),
        n => format!("Handshake({n})"),
    }
}

/// The name of an alert description (RFC 8446 §6).
pub fn alert_name(d: u8) -> String {
    match d {
        0 => "close_notify".into(),
        10 => "unexpected_message".into(),
        20 => "bad_record_mac".into(),
        22 => "record_overflow".into(),
        40 => "handshake_failure".into(),
        42 => "bad_certificate".into(),
        43 => "unsupported_certificate".into(),
        44 => "certificate_revoked".into(),
        45 => "certificate_expired".into(),
        46 => "certificate_unknown".into(),
        47 => "illegal_parameter".into(),
        48 => "unknown_ca".into(),
        49 => "access_denied".into(),
        50 => "decode_error".into(),
        51 => "decrypt_error".into(),
        70 => "protocol_version".into(),
        71 => "insufficient_security".into(),
        80 => "internal_error".into(),
        86 => "inappropriate_fallback".into(),
        90 => "user_canceled".into(),
        109 => "missing_extension".into(),
        110 => "unsupported_extension".into(),
        112 => "unrecognized_name".into(),
        113 => "bad_certificate_status_response".into(),
        115 => "unknown_psk_identity".into(),
        116 => "certificate_required".into(),
        120 => "no_application_protocol".into(),
        n => format!("alert({n})"),
    }
}

/// One handshake message: type and whole size (header included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsMsg {
    /// Handshake type.
    pub kind: u8,
    /// Bytes, the 4-byte header included.
    pub bytes: usize,
    /// The message body (for the few we look into).
    pub body: Vec<u8>,
}

/// Reassembles handshake messages from record payloads (one per direction and epoch; a
/// message may span records, a record may hold several).
#[derive(Debug, Default)]
pub struct Reassembler {
    buf: Vec<u8>,
}

impl Reassembler {
    /// Add a handshake record's payload; return the messages it completed.
    pub fn push(&mut self, payload: &[u8]) -> Vec<HsMsg> {
        self.buf.extend_from_slice(payload);
        let mut out = Vec::new();
        while self.buf.len() >= 4 {
            let len = u32::from_be_bytes([0, self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if self.buf.len() < 4 + len {
                break;
            }
            let m: Vec<u8> = self.buf.drain(..4 + len).collect();
            out.push(HsMsg {
                kind: m[0],
                bytes: 4 + len,
                body: m[4..].to_vec(),
            });
        }
        out
    }

    /// Bytes of a message not complete yet.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// What a handshake message says, in a few words (parsed with tls-parser where its formats
/// apply; the TLS 1.3 Certificate by hand): the offer, the choice, the group, the count.
pub fn detail(kind: u8, body: &[u8], tls13: bool) -> Option<String> {
    use tls_parser::{TlsExtension, TlsMessage, TlsMessageHandshake as H};
    let group = |g: u16| format!("{:?}", rustls::NamedGroup::from(g));
    let mut whole = vec![kind];
    whole.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    whole.extend_from_slice(body);
    let parsed = match tls_parser::parse_tls_message_handshake(&whole) {
        Ok((_, TlsMessage::Handshake(h))) => Some(h),
        _ => None,
    };
    match (kind, parsed) {
        (1, Some(H::ClientHello(c))) => {
            let mut sni = None;
            let mut alpn = Vec::new();
            if let Some(Ok((_, exts))) = c.ext.map(tls_parser::parse_tls_client_hello_extensions) {
                for e in exts {
                    match e {
                        TlsExtension::SNI(v) => {
                            sni = v
                                .first()
                                .map(|(_, n)| String::from_utf8_lossy(n).into_owned())
                        }
                        TlsExtension::ALPN(v) => {
                            alpn = v
                                .iter()
                                .map(|p| String::from_utf8_lossy(p).into_owned())
                                .collect()
                        }
                        _ => {}
                    }
                }
            }
            Some(format!(
                "{} suites{}{}",
                c.ciphers.len(),
                sni.map(|n| format!(", SNI {n}")).unwrap_or_default(),
                if alpn.is_empty() {
                    String::new()
                } else {
                    format!(", ALPN {}", alpn.join(","))
                }
            ))
        }
        (2, Some(H::ServerHello(sh))) if is_hrr(body) => {
            let exts = sh
                .ext
                .and_then(|e| tls_parser::parse_tls_server_hello_extensions(e).ok())
                .map(|(_, v)| v)
                .unwrap_or_default();
            exts.iter().find_map(|e| match e {
                TlsExtension::KeyShare(k) if k.len() == 2 => Some(format!(
                    "asks for a {} key share",
                    group(u16::from_be_bytes([k[0], k[1]]))
                )),
                _ => None,
            })
        }
        (2, Some(H::ServerHello(sh))) => Some(
            tls_parser::TlsCipherSuite::from_id(sh.cipher.0)
                .map(|c| c.name.to_string())
                .unwrap_or_else(|| format!("suite 0x{:04x}", sh.cipher.0)),
        ),
        (11, _) if tls13 => {
            // context, then certificate_list<3> of cert_data<3> + extensions<2>.
            let ctx = *body.first()? as usize;
            let mut i = 1 + ctx + 3;
            let mut n = 0;
            while i + 3 <= body.len() {
                let l = u32::from_be_bytes([0, body[i], body[i + 1], body[i + 2]]) as usize;
                i += 3 + l;
                if i + 2 > body.len() {
                    break;
                }
                i += 2 + u16::from_be_bytes([body[i], body[i + 1]]) as usize;
                n += 1;
            }
            Some(format!("{n} certificate{}", if n == 1 { "" } else { "s" }))
        }
        (11, Some(H::Certificate(c))) => Some(format!(
            "{} certificate{}",
            c.cert_chain.len(),
            if c.cert_chain.len() == 1 { "" } else { "s" }
        )),
        (12, Some(H::ServerKeyExchange(ske))) => {
            match tls_parser::parse_ecdh_params(ske.parameters) {
                Ok((_, p)) => match p.curve_params.params_content {
                    tls_parser::ECParametersContent::NamedGroup(g) => {
                        Some(format!("ECDHE {}", group(g.0)))
                    }
                    _ => Some("ECDHE, explicit curve".into()),
                },
                Err(_) => Some("DHE (finite field)".into()),
            }
        }
        (15, _) if body.len() >= 2 => Some(format!(
            "{:?}",
            rustls::SignatureScheme::from(u16::from_be_bytes([body[0], body[1]]))
        )),
        (22, Some(H::CertificateStatus(cs))) => Some(format!(
            "{} response, {} bytes",
            if cs.status_type == 1 {
                "OCSP"
            } else {
                "status"
            },
            cs.blob.len()
        )),
        (4, _) if body.len() >= 4 => Some(format!(
            "lifetime {}s",
            u32::from_be_bytes([body[0], body[1], body[2], body[3]])
        )),
        _ => None,
    }
}

/// Is this ServerHello body a HelloRetryRequest?
pub fn is_hrr(server_hello_body: &[u8]) -> bool {
    server_hello_body.len() >= 34 && server_hello_body[2..34] == HRR_RANDOM
}

/// AEAD of a TLS 1.3 cipher suite (IANA code), with its hash.
fn suite(code: u16) -> Option<(&'static aead::Algorithm, hkdf::Algorithm)> {
    match code {
        0x1301 => Some((&aead::AES_128_GCM, hkdf::HKDF_SHA256)),
        0x1302 => Some((&aead::AES_256_GCM, hkdf::HKDF_SHA384)),
        0x1303 => Some((&aead::CHACHA20_POLY1305, hkdf::HKDF_SHA256)),
        _ => None,
    }
}

struct Len(usize);

impl hkdf::KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

/// HKDF-Expand-Label(secret, label, "", len) of RFC 8446 §7.1.
fn expand_label(alg: hkdf::Algorithm, secret: &[u8], label: &str, len: usize) -> Option<Vec<u8>> {
    let prk = hkdf::Prk::new_less_safe(alg, secret);
    let full = format!("tls13 {label}");
    let info = [
        &(len as u16).to_be_bytes()[..],
        &[full.len() as u8][..],
        full.as_bytes(),
        &[0u8][..],
    ];
    let okm = prk.expand(&info, Len(len)).ok()?;
    let mut out = vec![0u8; len];
    okm.fill(&mut out).ok()?;
    Some(out)
}

/// The keys of one traffic secret, and the next record sequence number under it.
pub struct TrafficKey {
    key: LessSafeKey,
    iv: [u8; 12],
    /// Records opened so far with this key.
    pub seq: u64,
}

impl std::fmt::Debug for TrafficKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrafficKey(seq {})", self.seq)
    }
}

impl TrafficKey {
    /// Derive from a traffic secret of the cipher suite `suite_code`.
    pub fn new(suite_code: u16, secret: &[u8]) -> Option<TrafficKey> {
        let (aead_alg, hkdf_alg) = suite(suite_code)?;
        let key = expand_label(hkdf_alg, secret, "key", aead_alg.key_len())?;
        let iv = expand_label(hkdf_alg, secret, "iv", 12)?;
        Some(TrafficKey {
            key: LessSafeKey::new(UnboundKey::new(aead_alg, &key).ok()?),
            iv: iv.try_into().ok()?,
            seq: 0,
        })
    }

    /// Open one whole encrypted record (header included): the inner content type and the
    /// plaintext, or None when this key does not open it (the sequence number is kept).
    pub fn open(&mut self, record: &[u8]) -> Option<(u8, Vec<u8>)> {
        if record.len() < 5 + 16 {
            return None;
        }
        let mut nonce = self.iv;
        for (i, b) in self.seq.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        let mut data = record[5..].to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&record[..5]),
                &mut data,
            )
            .ok()?;
        let end = plain.iter().rposition(|&b| b != 0)?;
        let kind = plain[end];
        let body = plain[..end].to_vec();
        self.seq += 1;
        Some((kind, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_and_messages_reassemble() {
        // Two records: the first holds a whole 6-byte message and the start of another.
        let mut buf = vec![22, 3, 3, 0, 12, 2, 0, 0, 2, 0xaa, 0xbb, 11, 0, 0, 5, 1, 2];
        buf.extend_from_slice(&[22, 3, 3, 0, 3, 3, 4, 5, 23, 3]);
        let recs = split_records(&mut buf);
        assert_eq!(recs.len(), 2);
        assert_eq!(buf, vec![23, 3], "an incomplete record stays");
        let mut r = Reassembler::default();
        let m = r.push(&recs[0][5..]);
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].kind, m[0].bytes), (2, 6));
        assert_eq!(r.pending(), 6);
        let m = r.push(&recs[1][5..]);
        assert_eq!(
            (m[0].kind, m[0].bytes, m[0].body.clone()),
            (11, 9, vec![1, 2, 3, 4, 5])
        );
        assert_eq!(handshake_name(11), "Certificate");
        assert_eq!(alert_name(48), "unknown_ca");
    }

    #[test]
    fn hrr_is_recognised() {
        let mut body = vec![3, 3];
        body.extend_from_slice(&HRR_RANDOM);
        body.push(0);
        assert!(is_hrr(&body));
        body[5] ^= 1;
        assert!(!is_hrr(&body));
    }

    /// RFC 8448 §3 (simple 1-RTT): the server handshake traffic secret gives this key and
    /// IV, and the first encrypted server record opens to EncryptedExtensions.
    #[test]
    fn rfc8448_server_handshake_key() {
        let hex = |s: &str| -> Vec<u8> {
            let s: String = s.split_whitespace().collect();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let secret = hex(
            "b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc ded9 10 5d 42 be fd 59 d3 91 ad 38",
        );
        assert_eq!(
            expand_label(hkdf::HKDF_SHA256, &secret, "key", 16).unwrap(),
            hex("3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc")
        );
        assert_eq!(
            expand_label(hkdf::HKDF_SHA256, &secret, "iv", 12).unwrap(),
            hex("5d 31 3e b2 67 12 76 ee 13 00 0b 30")
        );
    }
}

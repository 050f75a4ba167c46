//! A stapled OCSP response (RFC 6960) decoded: response status, the certificate's status,
//! this/next update, the responder, whether it is about the leaf, and whether its signature
//! holds (checked with the embedded responder certificate, else the leaf's issuer).

use std::borrow::Cow;

use serde::Serialize;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};
use x509_parser::x509::AlgorithmIdentifier;
use yasna::Tag;

use crate::tls::cert;

/// What the stapled response says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ocsp {
    /// successful, malformed_request, internal_error, try_later, sig_required, unauthorized.
    pub response_status: String,
    /// good, revoked or unknown (null when the response carries none).
    pub cert_status: Option<String>,
    /// When revoked: the revocation time, RFC 3339.
    pub revocation_time: Option<String>,
    /// producedAt, RFC 3339.
    pub produced_at: Option<String>,
    /// thisUpdate, RFC 3339.
    pub this_update: Option<String>,
    /// nextUpdate, RFC 3339 (null: the responder gives none).
    pub next_update: Option<String>,
    /// nextUpdate has passed: the response is stale.
    pub stale: bool,
    /// The responder: its name, or "key hash XX:..".
    pub responder: String,
    /// The response's serial number equals the leaf's.
    pub for_leaf: Option<bool>,
    /// The signature verifies with the responder certificate it carries, or the leaf's
    /// issuer (null: no key to check it with).
    pub signature_valid: Option<bool>,
    /// Size, bytes.
    pub bytes: usize,
}

type R<T> = yasna::ASN1Result<T>;

fn time_str(t: &yasna::models::GeneralizedTime) -> (String, i64) {
    let u = t.datetime().unix_timestamp();
    (cert::rfc3339(u), u)
}

fn strip(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    &b[n.min(b.len().saturating_sub(1))..]
}

/// The raw content bytes of a DER INTEGER's encoding.
fn serial_of(r: yasna::BERReader<'_, '_>) -> R<Vec<u8>> {
    r.read_bigint_bytes().map(|(b, _)| b)
}

struct Single {
    serial: Vec<u8>,
    status: (String, Option<String>),
    this: (String, i64),
    next: Option<(String, i64)>,
}

fn single(der: &[u8]) -> R<Single> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let serial = r.next().read_sequence(|r| {
                r.next().read_der()?; // hashAlgorithm
                r.next().read_bytes()?; // issuerNameHash
                r.next().read_bytes()?; // issuerKeyHash
                serial_of(r.next())
            })?;
            let st = r.next().read_tagged_der()?;
            let status = match st.tag() {
                t if t == Tag::context(0) => ("good".to_string(), None),
                t if t == Tag::context(1) => {
                    // RevokedInfo (implicit SEQUENCE): revocationTime, [0] reason.
                    let mut wrapped = vec![0x30];
                    let v = st.value();
                    if v.len() < 128 {
                        wrapped.push(v.len() as u8);
                    } else {
                        wrapped.extend_from_slice(&[0x81, v.len() as u8]);
                    }
                    wrapped.extend_from_slice(v);
                    let when = yasna::parse_der(&wrapped, |r| {
                        r.read_sequence(|r| {
                            let t = r.next().read_generalized_time()?;
                            r.read_optional(|r| r.read_der())?;
                            Ok(t)
                        })
                    })
                    .ok()
                    .map(|t| time_str(&t).0);
                    ("revoked".to_string(), when)
                }
                _ => ("unknown".to_string(), None),
            };
            let this = time_str(&r.next().read_generalized_time()?);
            let next =
                r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_generalized_time()))?;
            r.read_optional(|r| r.read_tagged(Tag::context(1), |r| r.read_der()))?;
            Ok(Single {
                serial,
                status,
                this,
                next: next.as_ref().map(time_str),
            })
        })
    })
}

/// Decode `der` (a stapled response) for the leaf `leaf` whose issuer may be `issuer`.
/// None when it is not an OCSP response at all.
pub fn decode(der: &[u8], leaf: &[u8], issuer: Option<&[u8]>, now: i64) -> Option<Ocsp> {
    let (status, body) = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let status = r.next().read_enum()?;
            let body = r.read_optional(|r| {
                r.read_tagged(Tag::context(0), |r| {
                    r.read_sequence(|r| {
                        let oid = r.next().read_oid()?;
                        let bytes = r.next().read_bytes()?;
                        Ok((oid, bytes))
                    })
                })
            })?;
            Ok((status, body))
        })
    })
    .ok()?;
    let response_status = match status {
        0 => "successful",
        1 => "malformed_request",
        2 => "internal_error",
        3 => "try_later",
        5 => "sig_required",
        6 => "unauthorized",
        _ => "unknown",
    }
    .to_string();
    let mut o = Ocsp {
        response_status,
        cert_status: None,
        revocation_time: None,
        produced_at: None,
        this_update: None,
        next_update: None,
        stale: false,
        responder: String::new(),
        for_leaf: None,
        signature_valid: None,
        bytes: der.len(),
    };
    let Some((_, basic)) = body else {
        return Some(o);
    };
    let (tbs, alg, sig, certs) = yasna::parse_der(&basic, |r| {
        r.read_sequence(|r| {
            let tbs = r.next().read_der()?;
            let alg = r.next().read_der()?;
            let (sig, _) = r.next().read_bitvec_bytes()?;
            let certs = r.read_optional(|r| {
                r.read_tagged(Tag::context(0), |r| r.collect_sequence_of(|r| r.read_der()))
            })?;
            Ok((tbs, alg, sig, certs.unwrap_or_default()))
        })
    })
    .ok()?;
    let (responder, produced, first) = yasna::parse_der(&tbs, |r| {
        r.read_sequence(|r| {
            r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_i64()))?;
            let id = r.next().read_tagged_der()?;
            let responder = if id.tag() == Tag::context(1) {
                X509Name::from_der(id.value())
                    .map(|(_, n)| cert::dn_string(&n))
                    .unwrap_or_else(|_| "unreadable name".into())
            } else {
                let kh = yasna::parse_der(id.value(), |r| r.read_bytes()).unwrap_or_default();
                format!("key hash {}", cert::colon_hex(&kh))
            };
            let produced = r.next().read_generalized_time()?;
            let mut first = None;
            r.next().read_sequence_of(|r| {
                let d = r.read_der()?;
                first.get_or_insert(d);
                Ok(())
            })?;
            r.read_optional(|r| r.read_tagged(Tag::context(1), |r| r.read_der()))?;
            Ok((responder, produced, first))
        })
    })
    .ok()?;
    o.responder = responder;
    o.produced_at = Some(time_str(&produced).0);
    if let Some(s) = first.as_deref().and_then(|d| single(d).ok()) {
        o.cert_status = Some(s.status.0);
        o.revocation_time = s.status.1;
        o.this_update = Some(s.this.0);
        o.stale = s.next.as_ref().is_some_and(|n| n.1 < now);
        o.next_update = s.next.map(|n| n.0);
        if let Ok((_, l)) = X509Certificate::from_der(leaf) {
            o.for_leaf = Some(strip(&s.serial) == strip(l.raw_serial()));
        }
    }
    // The signer: a responder certificate carried in the response, else the issuer.
    let signer = certs.first().map(|c| c.as_slice()).or(issuer);
    if let Some(sd) = signer
        && let Ok((_, sc)) = X509Certificate::from_der(sd)
        && let Ok((_, alg)) = AlgorithmIdentifier::from_der(&alg)
    {
        let bits = x509_parser::asn1_rs::BitString {
            unused_bits: 0,
            data: Cow::Borrowed(&sig),
        };
        o.signature_valid =
            Some(x509_parser::verify::verify_signature(sc.public_key(), &alg, &bits, &tbs).is_ok());
    }
    Some(o)
}

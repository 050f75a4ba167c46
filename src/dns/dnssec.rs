//! `--dnssec`: for each delegation, the DS records the parent holds against the DNSKEYs the
//! child serves — key tags and digests computed here — and a verdict (pure).

use hickory_proto::dnssec::PublicKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DS};
use hickory_proto::rr::Name;
use serde::Serialize;

use crate::dns::names::text;

/// A verdict for one delegation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A DS at the parent matches a DNSKEY of the child (digest computed).
    Secure,
    /// The parent holds no DS: the child is unsigned as far as the chain goes.
    Insecure,
    /// DS records exist, but none matches a DNSKEY the child serves.
    Bogus,
    /// DS or DNSKEY could not be had (timeouts, lame servers, unsupported digests).
    Indeterminate,
}

/// A DS record at the parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DsOut {
    /// Key tag it names.
    pub key_tag: u16,
    /// Algorithm number.
    pub algorithm: u8,
    /// Digest type (1 SHA-1, 2 SHA-256, 4 SHA-384).
    pub digest_type: u8,
    /// The DNSKEY tag whose computed digest equals this DS's digest, if any.
    pub matches_key_tag: Option<u16>,
}

/// A DNSKEY the child serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyOut {
    /// Computed key tag (RFC 4034 appendix B).
    pub key_tag: u16,
    /// Algorithm number.
    pub algorithm: u8,
    /// Flags field (256 ZSK, 257 KSK).
    pub flags: u16,
}

/// DNSSEC facts of one delegation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DelegationDnssec {
    /// The child zone.
    pub zone: String,
    /// DS records at the parent.
    pub ds: Vec<DsOut>,
    /// The child's DNSKEYs.
    pub dnskeys: Vec<KeyOut>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, in words.
    pub reason: String,
}

/// Judge a delegation from what the parent (DS) and the child (DNSKEY) said. `Err` carries
/// why an RRset could not be had; `Ok(vec![])` means the server said there is none.
pub fn evaluate(
    zone: &Name,
    ds: Result<Vec<DS>, String>,
    keys: Result<Vec<DNSKEY>, String>,
) -> DelegationDnssec {
    let dnskeys: Vec<KeyOut> = keys
        .as_ref()
        .map(|ks| {
            ks.iter()
                .map(|k| KeyOut {
                    key_tag: k.calculate_key_tag().unwrap_or(0),
                    algorithm: u8::from(k.public_key().algorithm()),
                    flags: k.flags(),
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = DelegationDnssec {
        zone: text(zone),
        ds: Vec::new(),
        dnskeys,
        verdict: Verdict::Indeterminate,
        reason: String::new(),
    };
    let ds = match ds {
        Err(e) => {
            out.reason = format!("DS at the parent could not be had: {e}");
            return out;
        }
        Ok(v) => v,
    };
    if ds.is_empty() {
        out.verdict = Verdict::Insecure;
        out.reason = "the parent holds no DS for this zone".into();
        return out;
    }
    let supported = |d: &DS| matches!(u8::from(d.digest_type()), 1 | 2 | 4);
    out.ds = ds
        .iter()
        .map(|d| {
            let m = keys.as_ref().ok().and_then(|ks| {
                ks.iter()
                    .find(|k| supported(d) && d.covers(zone, k).unwrap_or(false))
                    .map(|k| k.calculate_key_tag().unwrap_or(0))
            });
            DsOut {
                key_tag: d.key_tag(),
                algorithm: u8::from(d.algorithm()),
                digest_type: u8::from(d.digest_type()),
                matches_key_tag: m,
            }
        })
        .collect();
    match &keys {
        Err(e) => {
            out.reason =
                format!("the parent holds DS, but the child's DNSKEY could not be had: {e}");
        }
        Ok(ks) if ks.is_empty() => {
            out.verdict = Verdict::Bogus;
            out.reason = "the parent holds DS, but the child serves no DNSKEY".into();
        }
        Ok(_) if out.ds.iter().any(|d| d.matches_key_tag.is_some()) => {
            out.verdict = Verdict::Secure;
            let tags: Vec<String> = out
                .ds
                .iter()
                .filter_map(|d| d.matches_key_tag)
                .map(|t| t.to_string())
                .collect();
            out.reason = format!("DS matches DNSKEY {}", tags.join(", "));
        }
        Ok(_) if !ds.iter().any(supported) => {
            out.reason = "no DS uses a digest type netlab computes (1, 2, 4)".into();
        }
        Ok(_) => {
            out.verdict = Verdict::Bogus;
            let ds_tags: Vec<String> = out.ds.iter().map(|d| d.key_tag.to_string()).collect();
            let key_tags: Vec<String> = out.dnskeys.iter().map(|k| k.key_tag.to_string()).collect();
            out.reason = format!(
                "no DS (key tags {}) matches a DNSKEY of the child (key tags {})",
                ds_tags.join(", "),
                key_tags.join(", ")
            );
        }
    }
    out
}

/// The chain's verdict: bogus if any delegation is; secure if all are; else insecure if one
/// is; else indeterminate.
pub fn overall(ds: &[&DelegationDnssec]) -> Option<Verdict> {
    if ds.is_empty() {
        return None;
    }
    Some(if ds.iter().any(|d| d.verdict == Verdict::Bogus) {
        Verdict::Bogus
    } else if ds.iter().all(|d| d.verdict == Verdict::Secure) {
        Verdict::Secure
    } else if ds.iter().any(|d| d.verdict == Verdict::Insecure) {
        Verdict::Insecure
    } else {
        Verdict::Indeterminate
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::dnssec::{Algorithm, DigestType, PublicKeyBuf};

    fn key(seed: u8, sep: bool) -> DNSKEY {
        DNSKEY::new(
            true,
            sep,
            false,
            PublicKeyBuf::new(vec![seed; 32], Algorithm::ED25519),
        )
    }

    fn ds_for(zone: &Name, k: &DNSKEY) -> DS {
        let digest = k.to_digest(zone, DigestType::SHA256).unwrap();
        DS::new(
            k.calculate_key_tag().unwrap(),
            Algorithm::ED25519,
            DigestType::SHA256,
            digest.as_ref().to_vec(),
        )
    }

    #[test]
    fn verdicts() {
        let z = Name::from_ascii("signed.test.").unwrap();
        let ksk = key(7, true);
        let zsk = key(9, false);
        let good = ds_for(&z, &ksk);
        let d = evaluate(
            &z,
            Ok(vec![good.clone()]),
            Ok(vec![zsk.clone(), ksk.clone()]),
        );
        assert_eq!(d.verdict, Verdict::Secure, "{}", d.reason);
        assert_eq!(
            d.ds[0].matches_key_tag,
            Some(ksk.calculate_key_tag().unwrap())
        );
        assert_eq!(d.dnskeys.len(), 2);
        assert_eq!(d.dnskeys[1].flags, 257);
        // A DS whose digest is wrong (the broken delegation).
        let mut bad_digest = good.digest().to_vec();
        bad_digest[0] ^= 0xff;
        let bad = DS::new(
            good.key_tag(),
            Algorithm::ED25519,
            DigestType::SHA256,
            bad_digest,
        );
        let d = evaluate(
            &z,
            Ok(vec![bad.clone()]),
            Ok(vec![zsk.clone(), ksk.clone()]),
        );
        assert_eq!(d.verdict, Verdict::Bogus);
        assert!(d.reason.contains("no DS"));
        // The DS of another zone does not match (the owner name is in the digest).
        let other = ds_for(&Name::from_ascii("other.test.").unwrap(), &ksk);
        assert_eq!(
            evaluate(&z, Ok(vec![other]), Ok(vec![ksk.clone()])).verdict,
            Verdict::Bogus
        );
        assert_eq!(
            evaluate(&z, Ok(vec![]), Ok(vec![ksk.clone()])).verdict,
            Verdict::Insecure
        );
        assert_eq!(
            evaluate(&z, Ok(vec![good.clone()]), Ok(vec![])).verdict,
            Verdict::Bogus
        );
        assert_eq!(
            evaluate(&z, Err("timeout".into()), Ok(vec![])).verdict,
            Verdict::Indeterminate
        );
        assert_eq!(
            evaluate(&z, Ok(vec![good]), Err("timeout".into())).verdict,
            Verdict::Indeterminate
        );
        let odd = DS::new(1, Algorithm::ED25519, DigestType::Unknown(9), vec![1, 2]);
        assert_eq!(
            evaluate(&z, Ok(vec![odd]), Ok(vec![ksk])).verdict,
            Verdict::Indeterminate
        );
    }

    #[test]
    fn chain_verdict() {
        let mk = |v| DelegationDnssec {
            zone: "x.".into(),
            ds: vec![],
            dnskeys: vec![],
            verdict: v,
            reason: String::new(),
        };
        let (s, i, b, u) = (
            mk(Verdict::Secure),
            mk(Verdict::Insecure),
            mk(Verdict::Bogus),
            mk(Verdict::Indeterminate),
        );
        assert_eq!(overall(&[&s, &s]), Some(Verdict::Secure));
        assert_eq!(overall(&[&s, &i]), Some(Verdict::Insecure));
        assert_eq!(overall(&[&s, &b, &i]), Some(Verdict::Bogus));
        assert_eq!(overall(&[&s, &u]), Some(Verdict::Indeterminate));
        assert_eq!(overall(&[]), None);
    }
}

//! DNSSEC signing for the lab's signed zones (`signed.test.`, `broken.test.`): the crypto
//! half. **Lab-only**: the keys are made at each start (ECDSA P-256 with SHA-256, DNSSEC
//! algorithm 13, through hickory's ring backend), live in memory for one run and are never
//! written anywhere. The zone half (which RRsets, the NSEC chain, answering with DO) is
//! [`crate::lab::dns::Zone::sign`].

use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::dnssec::crypto::EcdsaSigningKey;
use hickory_proto::dnssec::rdata::{DNSKEY, DNSSECRData, DS, RRSIG, SigInput};
use hickory_proto::dnssec::{Algorithm, DigestType, PublicKey, SigningKey, TBS};
use hickory_proto::rr::{DNSClass, Name, RData, Record, SerialNumber};

/// The algorithm of every lab key: ECDSA P-256 with SHA-256 (13).
pub const ALGORITHM: Algorithm = Algorithm::ECDSAP256SHA256;
/// Signatures start this long before the lab does (clock skew between tools).
pub const BACKDATE_S: u32 = 3600;
/// Signatures end this long after the lab starts.
pub const VALIDITY_S: u32 = 7 * 86400;

/// One key pair of a zone: the DNSKEY it publishes and the private half.
pub struct ZoneKey {
    /// The public key as published (flags 257 for a KSK, 256 for a ZSK).
    pub dnskey: DNSKEY,
    /// Its key tag (RFC 4034 appendix B).
    pub tag: u16,
    private: EcdsaSigningKey,
}

impl std::fmt::Debug for ZoneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneKey")
            .field("flags", &self.dnskey.flags())
            .field("tag", &self.tag)
            .finish_non_exhaustive()
    }
}

impl ZoneKey {
    /// Make a fresh key pair: a key-signing key (SEP flag, 257) or a zone-signing key (256).
    pub fn generate(ksk: bool) -> Result<ZoneKey, String> {
        let der = EcdsaSigningKey::generate_pkcs8(ALGORITHM)
            .map_err(|e| format!("generate a DNSSEC key: {e}"))?;
        let private = EcdsaSigningKey::from_pkcs8(&der, ALGORITHM)
            .map_err(|e| format!("load the DNSSEC key: {e}"))?;
        let public = private
            .to_public_key()
            .map_err(|e| format!("DNSSEC public key: {e}"))?;
        let dnskey = DNSKEY::new(true, ksk, false, public);
        let tag = dnskey
            .calculate_key_tag()
            .map_err(|e| format!("key tag: {e}"))?;
        Ok(ZoneKey {
            dnskey,
            tag,
            private,
        })
    }
}

/// A zone's two keys.
#[derive(Debug)]
pub struct Keys {
    /// Signs the DNSKEY RRset; the parent's DS names it.
    pub ksk: ZoneKey,
    /// Signs every other RRset.
    pub zsk: ZoneKey,
}

impl Keys {
    /// A fresh KSK and ZSK (their tags differ, so a DS names exactly one).
    pub fn generate() -> Result<Keys, String> {
        let ksk = ZoneKey::generate(true)?;
        loop {
            let zsk = ZoneKey::generate(false)?;
            if zsk.tag != ksk.tag {
                return Ok(Keys { ksk, zsk });
            }
        }
    }
}

/// When signatures are valid: Unix seconds, as in the RRSIG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Signature inception.
    pub inception: u32,
    /// Signature expiration.
    pub expiration: u32,
}

impl Window {
    /// From [`BACKDATE_S`] before `now` to [`VALIDITY_S`] after it.
    pub fn around(now: SystemTime) -> Window {
        let t = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let t = u32::try_from(t).unwrap_or(u32::MAX - VALIDITY_S);
        Window {
            inception: t.saturating_sub(BACKDATE_S),
            expiration: t.saturating_add(VALIDITY_S),
        }
    }
}

/// The RRSIG record over `rrset` (records of one owner, class IN and type; not empty) made by
/// `key` for the zone `signer`. Its TTL and original TTL are the RRset's.
pub fn sign_rrset(
    rrset: &[Record],
    key: &ZoneKey,
    signer: &Name,
    window: Window,
) -> Result<Record, String> {
    let first = rrset.first().ok_or("an empty RRset")?;
    let input = SigInput {
        type_covered: first.record_type(),
        algorithm: ALGORITHM,
        num_labels: first.name.num_labels(),
        original_ttl: first.ttl,
        sig_expiration: SerialNumber::new(window.expiration),
        sig_inception: SerialNumber::new(window.inception),
        key_tag: key.tag,
        signer_name: signer.clone(),
    };
    let tbs = TBS::from_input(&first.name, DNSClass::IN, &input, rrset.iter())
        .map_err(|e| format!("{} {}: {e}", first.name, first.record_type()))?;
    let sig = key
        .private
        .sign(&tbs)
        .map_err(|e| format!("sign {} {}: {e}", first.name, first.record_type()))?;
    Ok(Record::from_rdata(
        first.name.clone(),
        first.ttl,
        RData::DNSSEC(DNSSECRData::RRSIG(RRSIG::from_sig(input, sig))),
    ))
}

/// The DS (SHA-256, digest type 2) of `key` for `zone`. `broken`: the first byte of the digest
/// is flipped, so the DS still names the key's tag and algorithm but matches no key.
pub fn ds(zone: &Name, key: &DNSKEY, broken: bool) -> Result<DS, String> {
    let mut digest = key
        .to_digest(zone, DigestType::SHA256)
        .map_err(|e| format!("DS digest for {zone}: {e}"))?
        .as_ref()
        .to_vec();
    if broken {
        digest[0] ^= 0xff;
    }
    let tag = key
        .calculate_key_tag()
        .map_err(|e| format!("key tag: {e}"))?;
    Ok(DS::new(
        tag,
        key.public_key().algorithm(),
        DigestType::SHA256,
        digest,
    ))
}

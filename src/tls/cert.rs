//! What a certificate says (x509-parser): subject, issuer, names, validity, key, signature
//! algorithm, fingerprint, AIA URLs.

use serde::Serialize;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS, OID_PKIX_ACCESS_DESCRIPTOR_OCSP,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// One certificate as received (or as the trust anchor of the verified chain).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CertInfo {
    /// Subject DN (RFC 4514 order, as openssl prints it).
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub san: Vec<String>,
    /// Serial number, hex.
    pub serial: String,
    /// notBefore, RFC 3339.
    pub not_before: String,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// Whole days until notAfter (negative: expired that many days ago).
    pub days_left: i64,
    /// RSA, EC, Ed25519 ...
    pub key_type: String,
    /// Key size in bits (curve size for EC).
    pub key_bits: usize,
    /// Signature algorithm (e.g. ecdsa-with-SHA256, sha256WithRSAEncryption).
    pub signature_algorithm: String,
    /// SHA-256 of the DER, hex with colons.
    pub sha256: String,
    /// basicConstraints CA:TRUE.
    pub is_ca: bool,
    /// Subject equals issuer.
    pub self_issued: bool,
    /// AIA caIssuers URLs.
    pub ca_issuers: Vec<String>,
    /// AIA OCSP responder URLs.
    pub ocsp: Vec<String>,
    /// notBefore, seconds since the epoch.
    #[serde(skip)]
    pub not_before_unix: i64,
    /// notAfter, seconds since the epoch.
    #[serde(skip)]
    pub not_after_unix: i64,
}

/// Hex with colons, as openssl prints fingerprints.
pub fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse one DER certificate; None when it is not one.
pub fn describe(der: &[u8], now_unix: i64) -> Option<CertInfo> {
    let (_, c) = X509Certificate::from_der(der).ok()?;
    Some(describe_parsed(&c, der, now_unix))
}

/// Whether the certificate is signed with SHA-1 or MD5.
pub fn weak_signature(info: &CertInfo) -> bool {
    let a = info.signature_algorithm.to_ascii_lowercase();
    a.contains("sha1") || a.contains("md5") || a.contains("md2")
}

fn describe_parsed(c: &X509Certificate<'_>, der: &[u8], now: i64) -> CertInfo {
    let reg = x509_parser::objects::oid_registry();
    let mut san = Vec::new();
    let mut ca_issuers = Vec::new();
    let mut ocsp = Vec::new();
    for ext in c.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectAlternativeName(s) => {
                for n in &s.general_names {
                    match n {
                        GeneralName::DNSName(d) => san.push(d.to_string()),
                        GeneralName::IPAddress(ip) => match ip.len() {
                            4 => san.push(
                                std::net::Ipv4Addr::from(
                                    <[u8; 4]>::try_from(*ip).unwrap_or([0; 4]),
                                )
                                .to_string(),
                            ),
                            16 => san.push(
                                std::net::Ipv6Addr::from(
                                    <[u8; 16]>::try_from(*ip).unwrap_or([0; 16]),
                                )
                                .to_string(),
                            ),
                            _ => {}
                        },
                        _ => {}
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for d in aia.iter() {
                    if let GeneralName::URI(u) = &d.access_location {
                        if d.access_method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS {
                            ca_issuers.push(u.to_string());
                        } else if d.access_method == OID_PKIX_ACCESS_DESCRIPTOR_OCSP {
                            ocsp.push(u.to_string());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let (key_type, key_bits) = match c.public_key().parsed() {
        Ok(PublicKey::RSA(k)) => ("RSA".to_string(), k.key_size()),
        Ok(PublicKey::EC(k)) => ("EC".to_string(), k.key_size()),
        Ok(PublicKey::DSA(_)) => (
            "DSA".to_string(),
            c.public_key().parsed().map_or(0, |k| k.key_size()),
        ),
        _ => {
            let oid = &c.public_key().algorithm.algorithm;
            let name = x509_parser::objects::oid2sn(oid, reg)
                .map(str::to_string)
                .unwrap_or_else(|_| oid.to_id_string());
            let bits = if name.eq_ignore_ascii_case("ed25519") {
                256
            } else {
                0
            };
            (name, bits)
        }
    };
    let sig_oid = &c.signature_algorithm.algorithm;
    let signature_algorithm = x509_parser::objects::oid2sn(sig_oid, reg)
        .map(str::to_string)
        .unwrap_or_else(|_| {
            // Old algorithms the registry does not name (openssl's short names).
            let id = sig_oid.to_id_string();
            match id.as_str() {
                "1.2.840.10045.4.1" => "ecdsa-with-SHA1".to_string(),
                "1.2.840.113549.1.1.4" => "md5WithRSAEncryption".to_string(),
                "1.2.840.113549.1.1.2" => "md2WithRSAEncryption".to_string(),
                "1.2.840.10040.4.3" => "dsa-with-SHA1".to_string(),
                _ => id,
            }
        });
    let nb = c.validity().not_before.timestamp();
    let na = c.validity().not_after.timestamp();
    let subject = c.subject().to_string();
    let issuer = c.issuer().to_string();
    CertInfo {
        self_issued: subject == issuer,
        subject,
        issuer,
        san,
        serial: c.raw_serial_as_string().replace(':', ""),
        not_before: rfc3339(nb),
        not_after: rfc3339(na),
        days_left: (na - now).div_euclid(86_400),
        key_type,
        key_bits,
        signature_algorithm,
        sha256: colon_hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref()),
        is_ca: c.is_ca(),
        ca_issuers,
        ocsp,
        not_before_unix: nb,
        not_after_unix: na,
    }
}

/// Seconds since the epoch → `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}

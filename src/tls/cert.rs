//! What a certificate says (x509-parser): subject, issuer, names, validity, key, signature
//! algorithm, fingerprint, AIA URLs.

use serde::Serialize;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::{
    self as oids, OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS, OID_PKIX_ACCESS_DESCRIPTOR_OCSP, Oid,
};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

/// The abbreviations x509-parser prints for name attributes (its `ABBREV_MAP`).
static DN_ABBREV: &[(Oid<'static>, &str)] = &[
    (oids::OID_X509_COMMON_NAME, "CN"),
    (oids::OID_X509_COUNTRY_NAME, "C"),
    (oids::OID_X509_LOCALITY_NAME, "L"),
    (oids::OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
    (oids::OID_X509_ORGANIZATION_NAME, "O"),
    (oids::OID_X509_ORGANIZATIONAL_UNIT, "OU"),
    (oids::OID_DOMAIN_COMPONENT, "DC"),
    (oids::OID_PKCS9_EMAIL_ADDRESS, "Email"),
];

/// The short names x509-parser's OID registry gives the signature and key algorithms nearly
/// every certificate uses.
static ALG_SN: &[(Oid<'static>, &str)] = &[
    (oids::OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256"),
    (oids::OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384"),
    (oids::OID_SIG_ECDSA_WITH_SHA512, "ecdsa-with-SHA512"),
    (oids::OID_PKCS1_SHA256WITHRSA, "sha256WithRSAEncryption"),
    (oids::OID_PKCS1_SHA384WITHRSA, "sha384WithRSAEncryption"),
    (oids::OID_PKCS1_SHA512WITHRSA, "sha512WithRSAEncryption"),
    (oids::OID_PKCS1_SHA1WITHRSA, "sha1WithRSAEncryption"),
    (oids::OID_PKCS1_RSASSAPSS, "rsassa-pss"),
    (oids::OID_SIG_ED25519, "ed25519"),
];

// The two tables answer first, so describing a usual certificate does not build x509-parser's
// whole OID registry (a few hundred map entries, tens of µs at its first use); any other OID
// is looked up there. A test checks every entry against x509-parser.

fn known(table: &[(Oid<'static>, &'static str)], oid: &Oid<'_>) -> Option<&'static str> {
    table.iter().find(|(o, _)| o == oid).map(|(_, n)| *n)
}

/// An algorithm's short name (x509-parser's `oid2sn`), None when the registry has none.
fn alg_name(oid: &Oid<'_>) -> Option<String> {
    known(ALG_SN, oid).map(str::to_string).or_else(|| {
        x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
            .ok()
            .map(str::to_string)
    })
}

/// A name as x509-parser's `Display` writes it (`CN=a, O=b`, `+` inside a multi-valued RDN).
pub fn dn_string(name: &X509Name<'_>) -> String {
    fast_dn(name).unwrap_or_else(|| name.to_string())
}

/// [`dn_string`] for names of the usual attributes with string values; None otherwise.
fn fast_dn(name: &X509Name<'_>) -> Option<String> {
    let mut acc = String::new();
    for rdn in name.iter() {
        let mut v = String::new();
        for attr in rdn.iter() {
            let a = known(DN_ABBREV, attr.attr_type())?;
            let val = attr.as_str().ok()?;
            if !v.is_empty() {
                v.push_str(" + ");
            }
            v.push_str(a);
            v.push('=');
            v.push_str(val);
        }
        // x509-parser's fold: an empty piece adds no separator while nothing came before.
        if acc.is_empty() {
            acc = v;
        } else {
            acc.push_str(", ");
            acc.push_str(&v);
        }
    }
    Some(acc)
}

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
    /// The subject as encoded (DER).
    #[serde(skip)]
    pub subject_der: Vec<u8>,
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
            let name = alg_name(oid).unwrap_or_else(|| oid.to_id_string());
            let bits = if name.eq_ignore_ascii_case("ed25519") {
                256
            } else {
                0
            };
            (name, bits)
        }
    };
    let sig_oid = &c.signature_algorithm.algorithm;
    let signature_algorithm = alg_name(sig_oid).unwrap_or_else(|| {
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
    let subject = dn_string(c.subject());
    let issuer = dn_string(c.issuer());
    CertInfo {
        subject_der: c.subject().as_raw().to_vec(),
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
    fn the_fast_names_are_x509_parsers() {
        let reg = x509_parser::objects::oid_registry();
        for (oid, name) in DN_ABBREV {
            assert_eq!(x509_parser::objects::oid2abbrev(oid, reg), Ok(*name));
        }
        for (oid, name) in ALG_SN {
            assert_eq!(x509_parser::objects::oid2sn(oid, reg), Ok(*name));
        }
        // Names through the fast path and through x509-parser's Display: the usual ones, a
        // multi-valued RDN, and attributes the tables do not know (serialNumber, title) or
        // values that are not plain strings (BMPString), which go the slow way.
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "DE");
        dn.push(rcgen::DnType::OrganizationName, "netlab lab");
        dn.push(rcgen::DnType::OrganizationalUnitName, "a + b, c");
        dn.push(rcgen::DnType::CommonName, "tls.lab.test");
        let mut odd = rcgen::DistinguishedName::new();
        odd.push(rcgen::DnType::CommonName, "x");
        odd.push(rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), "1234");
        odd.push(
            rcgen::DnType::CustomDnType(vec![2, 5, 4, 12]),
            rcgen::DnValue::BmpString(rcgen::string::BmpString::try_from("Dr").unwrap()),
        );
        let mut bmp = rcgen::DistinguishedName::new();
        bmp.push(
            rcgen::DnType::CommonName,
            rcgen::DnValue::BmpString(rcgen::string::BmpString::try_from("bmp").unwrap()),
        );
        for name in [dn, odd, bmp] {
            let mut p = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
            p.distinguished_name = name;
            let key = rcgen::KeyPair::generate().unwrap();
            let der = p.self_signed(&key).unwrap().der().to_vec();
            let (_, c) = X509Certificate::from_der(&der).unwrap();
            assert_eq!(dn_string(c.subject()), c.subject().to_string());
            let info = describe(&der, 0).unwrap();
            assert_eq!(info.subject, c.subject().to_string());
            assert_eq!(info.signature_algorithm, "ecdsa-with-SHA256");
            assert_eq!(info.subject_der, c.subject().as_raw());
        }
        // A multi-valued RDN, built by hand: SET { CN=a, O=b }.
        let rdn_der = [
            0x30, 0x1a, 0x31, 0x18, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x03, b'a',
            b'+', b'1', 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x03, b'b', b'b', b'b',
        ];
        let (_, n) = X509Name::from_der(&rdn_der).unwrap();
        assert_eq!(dn_string(&n), n.to_string());
        assert_eq!(dn_string(&n), "CN=a+1 + O=bbb");
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}

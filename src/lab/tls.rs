//! The TLS matrix of `netlab lab --tls` (loopback): a private CA made at start (rcgen: root,
//! intermediate, leaves), and one rustls server per scenario: valid TLS 1.3, TLS 1.2 only,
//! expired, not yet valid, wrong hostname, incomplete chain, self-signed, one that forces a
//! HelloRetryRequest, ALPN h2, and a stapled OCSP response. The certificates, keys, chains
//! and the OCSP response are written to a directory, so `netlab tls inspect --ca DIR/ca.pem`
//! trusts the lab and `openssl s_server` or nginx can serve the very same files.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SigningKey,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::{Error, Result};

/// The name every good leaf carries (with 127.0.0.1 and ::1).
pub const HOST: &str = "tls.lab.test";
/// The name the wrong-host leaf carries instead.
pub const OTHER_HOST: &str = "other.lab.test";
/// The leaf's AIA caIssuers URL (where the missing intermediate would be fetched).
pub const CA_ISSUERS_URL: &str = "http://ca.lab.test/intermediate.crt";
/// The leaf's AIA OCSP URL.
pub const OCSP_URL: &str = "http://ocsp.lab.test/";

/// One TLS scenario, for the ready event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsScenario {
    /// valid, tls12, expired, not_yet_valid, wrong_host, incomplete_chain, self_signed, hrr,
    /// alpn_h2, ocsp.
    pub name: &'static str,
    /// Address.
    pub address: String,
    /// Port.
    pub port: u16,
    /// What `tls inspect --ca CA_FILE` should find: "ok" or the problem code.
    pub expect: &'static str,
    /// In words.
    pub behaviour: &'static str,
    /// The chain it serves (PEM, leaf first) and its key, in the TLS directory.
    pub chain_file: String,
    /// Private key (PKCS#8 PEM).
    pub key_file: String,
}

/// What `--tls` serves.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TlsLab {
    /// Directory holding every file.
    pub dir: String,
    /// The lab root CA (PEM): pass it to `netlab tls inspect --ca`.
    pub ca_file: String,
    /// The intermediate CA (PEM).
    pub intermediate_file: String,
    /// The DER OCSP response the ocsp scenario staples ("good", signed by the intermediate).
    pub ocsp_file: String,
    /// The name the good leaves carry (and 127.0.0.1, ::1).
    pub host: &'static str,
    /// The scenarios.
    pub scenarios: Vec<TlsScenario>,
}

/// Scenario names in port order.
pub const NAMES: [&str; 10] = [
    "valid",
    "tls12",
    "expired",
    "not_yet_valid",
    "wrong_host",
    "incomplete_chain",
    "self_signed",
    "hrr",
    "alpn_h2",
    "ocsp",
];

fn behaviour(name: &str) -> (&'static str, &'static str) {
    match name {
        "valid" => ("ok", "TLS 1.3 and 1.2, leaf + intermediate"),
        "tls12" => ("ok", "TLS 1.2 only"),
        "expired" => ("expired", "leaf expired 30 days ago"),
        "not_yet_valid" => ("not_yet_valid", "leaf valid from 30 days ahead"),
        "wrong_host" => ("hostname_mismatch", "leaf names other.lab.test only"),
        "incomplete_chain" => (
            "incomplete_chain",
            "sends the leaf without its intermediate",
        ),
        "self_signed" => ("self_signed", "self-signed leaf"),
        "hrr" => (
            "ok",
            "offers only secp384r1: a HelloRetryRequest for most clients",
        ),
        "alpn_h2" => ("ok", "ALPN h2 and http/1.1 (picks h2 when offered)"),
        _ => ("ok", "staples an OCSP response: good"),
    }
}

fn err(what: &str) -> impl Fn(rcgen::Error) -> Error + '_ {
    move |e| Error::measure(format!("lab --tls: {what}: {e}"))
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// The lab's private PKI.
struct Pki {
    root_pem: String,
    inter_pem: String,
    inter_der: Vec<u8>,
    inter_key: KeyPair,
}

/// A leaf: DER, PEM and key.
struct Leaf {
    der: Vec<u8>,
    pem: String,
    key: KeyPair,
}

pub(crate) fn aia_extension() -> CustomExtension {
    // AuthorityInfoAccess ::= SEQUENCE OF AccessDescription { accessMethod OID,
    // accessLocation GeneralName (uniformResourceIdentifier [6] IA5String) }
    let der = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            for (oid, url) in [
                (&[1u64, 3, 6, 1, 5, 5, 7, 48, 1][..], OCSP_URL),
                (&[1u64, 3, 6, 1, 5, 5, 7, 48, 2][..], CA_ISSUERS_URL),
            ] {
                w.next().write_sequence(|w| {
                    w.next()
                        .write_oid(&yasna::models::ObjectIdentifier::from_slice(oid));
                    w.next()
                        .write_tagged_implicit(yasna::Tag::context(6), |w| w.write_ia5_string(url));
                });
            }
        })
    });
    CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 1], der)
}

impl Pki {
    fn new(now: OffsetDateTime) -> Result<Pki> {
        let root_key = KeyPair::generate().map_err(err("root key"))?;
        let mut root = CertificateParams::default();
        root.distinguished_name = rcgen::DistinguishedName::new();
        root.distinguished_name
            .push(DnType::OrganizationName, "netlab lab");
        root.distinguished_name
            .push(DnType::CommonName, "netlab lab root CA");
        root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // CAs older than any leaf, as real ones are: the expired leaf's chain still builds.
        root.not_before = now - days(3650);
        root.not_after = now + days(3650);
        let root_cert = root.self_signed(&root_key).map_err(err("root CA"))?;
        let root_issuer = Issuer::new(root, root_key);

        let inter_key = KeyPair::generate().map_err(err("intermediate key"))?;
        let mut inter = CertificateParams::default();
        inter.distinguished_name = rcgen::DistinguishedName::new();
        inter
            .distinguished_name
            .push(DnType::OrganizationName, "netlab lab");
        inter
            .distinguished_name
            .push(DnType::CommonName, "netlab lab intermediate CA");
        inter.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        inter.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        inter.use_authority_key_identifier_extension = true;
        inter.not_before = now - days(1000);
        inter.not_after = now + days(1825);
        let inter_cert = inter
            .signed_by(&inter_key, &root_issuer)
            .map_err(err("intermediate CA"))?;
        Ok(Pki {
            root_pem: root_cert.pem(),
            inter_pem: inter_cert.pem(),
            inter_der: inter_cert.der().to_vec(),
            inter_key,
        })
    }

    fn inter_issuer(&self) -> Result<Issuer<'static, &KeyPair>> {
        Issuer::from_ca_cert_der(
            &CertificateDer::from(self.inter_der.clone()),
            &self.inter_key,
        )
        .map_err(err("intermediate issuer"))
    }

    /// A leaf for `names`, valid from `from` to `to` days relative to now.
    fn leaf(
        &self,
        now: OffsetDateTime,
        names: &[&str],
        from: i64,
        to: i64,
        self_signed: bool,
    ) -> Result<Leaf> {
        let key = KeyPair::generate().map_err(err("leaf key"))?;
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .map_err(err("leaf names"))?;
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.not_before = now + days(from);
        p.not_after = now + days(to);
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&rand::random::<[u8; 8]>()));
        let cert = if self_signed {
            p.self_signed(&key).map_err(err("self-signed leaf"))?
        } else {
            p.use_authority_key_identifier_extension = true;
            p.custom_extensions.push(aia_extension());
            p.signed_by(&key, &self.inter_issuer()?)
                .map_err(err("leaf"))?
        };
        Ok(Leaf {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            key,
        })
    }
}

fn gtime(t: OffsetDateTime) -> yasna::models::GeneralizedTime {
    yasna::models::GeneralizedTime::from_datetime(t.replace_nanosecond(0).unwrap_or(t))
}

/// A DER OCSPResponse (RFC 6960) saying `good` for `leaf_der`, signed by the issuer
/// (`issuer_der`, `issuer_key`), valid from `this` to `next`.
pub fn ocsp_good(
    leaf_der: &[u8],
    issuer_der: &[u8],
    issuer_key: &KeyPair,
    this: OffsetDateTime,
    next: OffsetDateTime,
) -> Result<Vec<u8>> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let bad = |w: &str| Error::measure(format!("lab --tls: OCSP: {w}"));
    let (_, leaf) = X509Certificate::from_der(leaf_der).map_err(|_| bad("leaf"))?;
    let (_, issuer) = X509Certificate::from_der(issuer_der).map_err(|_| bad("issuer"))?;
    let sha1 = |b: &[u8]| {
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, b)
            .as_ref()
            .to_vec()
    };
    let name_hash = sha1(issuer.subject().as_raw());
    let key_hash = sha1(&issuer.public_key().subject_public_key.data);
    let serial = leaf.raw_serial().to_vec();
    use yasna::models::ObjectIdentifier as Oid;
    let tbs = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            // responderID byKey [2] EXPLICIT KeyHash
            w.next()
                .write_tagged(yasna::Tag::context(2), |w| w.write_bytes(&key_hash));
            w.next().write_generalized_time(&gtime(this));
            w.next().write_sequence(|w| {
                w.next().write_sequence(|w| {
                    w.next().write_sequence(|w| {
                        w.next().write_sequence(|w| {
                            w.next().write_oid(&Oid::from_slice(&[1, 3, 14, 3, 2, 26]));
                            w.next().write_null();
                        });
                        w.next().write_bytes(&name_hash);
                        w.next().write_bytes(&key_hash);
                        w.next().write_bigint_bytes(&serial, true);
                    });
                    // good [0] IMPLICIT NULL
                    w.next()
                        .write_tagged_implicit(yasna::Tag::context(0), |w| w.write_null());
                    w.next().write_generalized_time(&gtime(this));
                    w.next().write_tagged(yasna::Tag::context(0), |w| {
                        w.write_generalized_time(&gtime(next))
                    });
                });
            });
        })
    });
    let sig = SigningKey::sign(issuer_key, &tbs).map_err(|e| bad(&e.to_string()))?;
    let basic = yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_der(&tbs);
            w.next().write_sequence(|w| {
                // ecdsa-with-SHA256 (the lab's keys are P-256)
                w.next()
                    .write_oid(&Oid::from_slice(&[1, 2, 840, 10045, 4, 3, 2]));
            });
            w.next().write_bitvec_bytes(&sig, sig.len() * 8);
        })
    });
    Ok(yasna::construct_der(|w| {
        w.write_sequence(|w| {
            w.next().write_enum(0); // successful
            w.next().write_tagged(yasna::Tag::context(0), |w| {
                w.write_sequence(|w| {
                    w.next()
                        .write_oid(&Oid::from_slice(&[1, 3, 6, 1, 5, 5, 7, 48, 1, 1]));
                    w.next().write_bytes(&basic);
                })
            });
        })
    }))
}

/// One server's configuration.
fn server_config(
    name: &str,
    chain: Vec<Vec<u8>>,
    key: &KeyPair,
    ocsp: Vec<u8>,
) -> Result<Arc<ServerConfig>> {
    let mut provider = rustls::crypto::ring::default_provider();
    if name == "hrr" {
        provider.kx_groups = vec![rustls::crypto::ring::kx_group::SECP384R1];
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] = if name == "tls12" {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let chain: Vec<CertificateDer<'static>> = chain.into_iter().map(CertificateDer::from).collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let mut c = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .map_err(|e| Error::measure(format!("lab --tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert_with_ocsp(chain, key, ocsp)
        .map_err(|e| Error::measure(format!("lab --tls: {name}: {e}")))?;
    if name == "alpn_h2" {
        c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    Ok(Arc::new(c))
}

fn write(dir: &Path, file: &str, data: &[u8]) -> Result<String> {
    let p = dir.join(file);
    std::fs::write(&p, data)
        .map_err(|e| Error::usage(format!("lab --tls: cannot write {}: {e}", p.display())))?;
    Ok(p.display().to_string())
}

/// Make the PKI, write it to `dir`, and serve every scenario on `ip` from `port_base` on
/// (0: any free ports) until `stop`.
pub fn start(ip: IpAddr, port_base: u16, dir: &Path, stop: Arc<AtomicBool>) -> Result<TlsLab> {
    if port_base > 65535 - NAMES.len() as u16 {
        return Err(Error::usage(format!(
            "--tls-port-base must leave room for {} ports",
            NAMES.len()
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::usage(format!(
            "lab --tls: cannot create {}: {e} (pick another --tls-dir)",
            dir.display()
        ))
    })?;
    let now = OffsetDateTime::now_utc();
    let pki = Pki::new(now)?;
    let ca_file = write(dir, "ca.pem", pki.root_pem.as_bytes())?;
    let intermediate_file = write(dir, "intermediate.pem", pki.inter_pem.as_bytes())?;
    let good_names = [HOST, "127.0.0.1", "::1"];
    let good = pki.leaf(now, &good_names, -1, 90, false)?;
    let ocsp = ocsp_good(
        &good.der,
        &pki.inter_der,
        &pki.inter_key,
        now - time::Duration::hours(1),
        now + days(7),
    )?;
    let ocsp_file = write(dir, "ocsp.der", &ocsp)?;
    let leaf_pem = write(dir, "leaf.pem", good.pem.as_bytes())?;
    let _ = leaf_pem;
    let mut scenarios = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let own;
        let leaf = match *name {
            "expired" => {
                own = pki.leaf(now, &good_names, -120, -30, false)?;
                &own
            }
            "not_yet_valid" => {
                own = pki.leaf(now, &good_names, 30, 120, false)?;
                &own
            }
            "wrong_host" => {
                own = pki.leaf(now, &[OTHER_HOST], -1, 90, false)?;
                &own
            }
            "self_signed" => {
                own = pki.leaf(now, &good_names, -1, 90, true)?;
                &own
            }
            _ => &good,
        };
        let mut chain = vec![leaf.der.clone()];
        let mut chain_pem = leaf.pem.clone();
        if !matches!(*name, "incomplete_chain" | "self_signed") {
            chain.push(pki.inter_der.clone());
            chain_pem.push_str(&pki.inter_pem);
        }
        let chain_file = write(dir, &format!("{name}.chain.pem"), chain_pem.as_bytes())?;
        let key_file = write(
            dir,
            &format!("{name}.key.pem"),
            leaf.key.serialize_pem().as_bytes(),
        )?;
        let staple = if *name == "ocsp" {
            ocsp.clone()
        } else {
            Vec::new()
        };
        let config = server_config(name, chain, &leaf.key, staple)?;
        let port = if port_base == 0 {
            0
        } else {
            port_base + i as u16
        };
        let l = TcpListener::bind(SocketAddr::new(ip, port)).map_err(|e| {
            Error::usage(format!(
                "lab --tls: cannot listen on {}: {e} (pick another --tls-port-base)",
                SocketAddr::new(ip, port)
            ))
        })?;
        let port = l
            .local_addr()
            .map_err(|e| Error::io("lab --tls: local address", e))?
            .port();
        l.set_nonblocking(true)
            .map_err(|e| Error::io("lab --tls: non-blocking listener", e))?;
        let s = stop.clone();
        std::thread::spawn(move || accept_loop(l, config, s));
        let (expect, behaviour) = behaviour(name);
        scenarios.push(TlsScenario {
            name,
            address: ip.to_string(),
            port,
            expect,
            behaviour,
            chain_file,
            key_file,
        });
    }
    Ok(TlsLab {
        dir: dir.display().to_string(),
        ca_file,
        intermediate_file,
        ocsp_file,
        host: HOST,
        scenarios,
    })
}

/// Default directory for the lab's files.
pub fn default_dir() -> PathBuf {
    std::env::temp_dir().join("netlab-lab-tls")
}

fn accept_loop(l: TcpListener, config: Arc<ServerConfig>, stop: Arc<AtomicBool>) {
    while crate::lab::servers::wait_for_connection(&l, &stop) {
        if let Ok((s, _)) = l.accept() {
            let c = config.clone();
            let st = stop.clone();
            std::thread::spawn(move || serve_one(s, c, st));
        }
    }
}

/// Handshake, then answer one HTTP-ish request (so curl and s_client get a reply), then close.
fn serve_one(mut sock: TcpStream, config: Arc<ServerConfig>, stop: Arc<AtomicBool>) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_nodelay(true);
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let Ok(mut conn) = ServerConnection::new(config) else {
        return;
    };
    let mut idle = 0;
    let mut req = Vec::new();
    while !stop.load(Ordering::SeqCst) && idle < 50 {
        match conn.complete_io(&mut sock) {
            Ok((0, 0)) => {
                if conn.is_handshaking() {
                    return; // the peer went away
                }
            }
            Ok(_) => idle = 0,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                idle += 1;
            }
            Err(_) => return,
        }
        if conn.is_handshaking() {
            continue;
        }
        let mut buf = [0u8; 4096];
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => {
                    // close_notify
                    conn.send_close_notify();
                    let _ = conn.complete_io(&mut sock);
                    return;
                }
                Ok(n) => req.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        if req.windows(4).any(|w| w == b"\r\n\r\n") {
            let body = b"netlab lab\n";
            let _ = write!(
                conn.writer(),
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.writer().write_all(body);
            conn.send_close_notify();
            let _ = conn.complete_io(&mut sock);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocsp_response_decodes_as_good_for_the_leaf() {
        let now = OffsetDateTime::now_utc();
        let pki = Pki::new(now).unwrap();
        let leaf = pki.leaf(now, &[HOST], -1, 90, false).unwrap();
        let der = ocsp_good(
            &leaf.der,
            &pki.inter_der,
            &pki.inter_key,
            now,
            now + days(7),
        )
        .unwrap();
        let o =
            crate::tls::ocsp::decode(&der, &leaf.der, Some(&pki.inter_der), now.unix_timestamp())
                .unwrap();
        assert_eq!(o.response_status, "successful");
        assert_eq!(o.cert_status.as_deref(), Some("good"));
        assert_eq!(o.for_leaf, Some(true));
        assert_eq!(o.signature_valid, Some(true));
        assert!(o.responder.starts_with("key hash "), "{}", o.responder);
        assert!(o.next_update.is_some());
    }
}

//! A certificate verifier that records instead of aborting: the handshake goes on so every
//! fact is seen, and each problem is found by its own check (webpki's chain building, the
//! dates, the name, the leaf's CA flag, the signature algorithms), not only the first one
//! webpki would stop at. Handshake signatures are still checked (a bad one ends the
//! handshake). With `strict`, the first problem aborts like a normal client.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, TrustAnchor, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;

use crate::tls::cert::{self, CertInfo};

/// One verification problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// expired, not_yet_valid, hostname_mismatch, unknown_issuer, incomplete_chain,
    /// self_signed, ca_used_as_leaf, bad_signature, weak_signature_algorithm, invalid_chain.
    pub code: &'static str,
    /// What is wrong, in words.
    pub message: String,
    /// What to do about it, one line.
    pub hint: String,
}

/// What the verifier saw.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// The certificates the server sent, in its order (DER).
    pub received: Vec<Vec<u8>>,
    /// The stapled OCSP response (empty: none).
    pub ocsp: Vec<u8>,
    /// Problems found.
    pub problems: Vec<Problem>,
    /// The verified chain above the leaf: the intermediates webpki used (DER).
    pub path: Vec<Vec<u8>>,
    /// The trust anchor's subject (DER name), when the chain verified.
    pub anchor_subject: Option<Vec<u8>>,
    /// `received` described, in the same order (None: not parseable); empty when the checks
    /// did not run.
    pub infos: Vec<Option<CertInfo>>,
    /// Local verification time, µs.
    pub verify_us: Option<u64>,
    /// The handshake signature scheme.
    pub signature_scheme: Option<String>,
    /// Whether verify_server_cert ran.
    pub ran: bool,
}

/// What [`check_chain`] found: problems, the verified path, the anchor's subject, and each
/// received certificate described (None: not parseable), in the server's order.
type ChainFindings = (
    Vec<Problem>,
    Vec<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<Option<CertInfo>>,
);

/// The chain checks, waiting to run.
struct Pending(Box<dyn FnOnce() -> ChainFindings + Send>);

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pending")
    }
}

/// What the verifier shares with the driver: the record, and the chain checks left for after
/// the handshake.
#[derive(Debug, Default)]
pub struct Shared {
    rec: Mutex<Recorded>,
    pending: Mutex<Option<Pending>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.rec.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record what the chain checks found, before the problems the handshake-signature check
    /// already recorded.
    fn store(&self, (mut problems, path, anchor, infos): ChainFindings) {
        let mut r = self.lock();
        problems.append(&mut r.problems);
        r.problems = problems;
        r.path = path;
        r.anchor_subject = anchor;
        r.infos = infos;
    }

    /// Run the chain checks left for after the handshake, if any.
    pub fn settle(&self) {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(job) = pending {
            // A certificate that trips a parser bug is a finding, not a crash of the report.
            let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.0))
                .unwrap_or_else(|_| {
                    (
                        vec![problem(
                            "invalid_chain",
                            "the certificate checks failed unexpectedly".into(),
                            "report this with the server's certificates",
                        )],
                        Vec::new(),
                        None,
                        Vec::new(),
                    )
                });
            self.store(found);
        }
    }

    /// The record once every check is done: the chain checks first, then what the handshake
    /// signature check found.
    pub fn settled(&self) -> Recorded {
        self.settle();
        self.lock().clone()
    }
}

/// The recording verifier.
#[derive(Debug)]
pub struct Recorder {
    roots: Vec<TrustAnchor<'static>>,
    expected: ServerName<'static>,
    check_name: bool,
    strict: bool,
    provider: Arc<CryptoProvider>,
    /// Shared with the driver.
    pub rec: Arc<Shared>,
}

impl Recorder {
    /// A verifier trusting `roots`, checking the certificate against `expected` (the SNI, or
    /// the address when none is sent) when `check_name`.
    pub fn new(
        roots: Vec<TrustAnchor<'static>>,
        expected: ServerName<'static>,
        check_name: bool,
        strict: bool,
        provider: Arc<CryptoProvider>,
    ) -> Recorder {
        Recorder {
            roots,
            expected,
            check_name,
            strict,
            provider,
            rec: Arc::new(Shared::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.rec.lock()
    }

    /// Every check of [`check_chain`] on this chain.
    fn findings(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> ChainFindings {
        check_chain(
            end_entity.as_ref(),
            intermediates,
            &self.roots,
            self.check_name.then_some(&self.expected),
            self.provider.signature_verification_algorithms.all,
            now.as_secs(),
            None,
        )
    }

    /// What a standard client (rustls's webpki verifier) does with the chain: build and check
    /// the path to a root, then the name. Its time is the one reported; the findings come from
    /// [`check_chain`], which reuses the path found here instead of checking the signatures
    /// again.
    fn standard_verification(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<Verified> {
        let ee = webpki::EndEntityCert::try_from(end_entity).ok()?;
        let chain = ee.verify_for_usage(
            self.provider.signature_verification_algorithms.all,
            &self.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            None,
        );
        let verified = chain.ok().map(|p| Verified {
            at: now.as_secs(),
            path: p
                .intermediate_certificates()
                .map(|c| c.der().to_vec())
                .collect(),
            anchor: p.anchor().subject.as_ref().to_vec(),
        });
        if verified.is_some() && self.check_name {
            let _ = ee.verify_is_valid_for_subject_name(&self.expected);
        }
        verified
    }
}

/// A chain webpki verified (signatures, path, usage) at one moment: what [`check_chain`] would
/// find again for that moment.
#[derive(Debug, Clone)]
pub struct Verified {
    /// When, in seconds since the epoch.
    pub at: u64,
    /// The intermediates used, leaf side first (DER).
    pub path: Vec<Vec<u8>>,
    /// The trust anchor's subject (DER name).
    pub anchor: Vec<u8>,
}

fn problem(code: &'static str, message: String, hint: &str) -> Problem {
    Problem {
        code,
        message,
        hint: hint.to_string(),
    }
}

/// Every check on a received chain. Pure but for webpki; `now` in seconds since the epoch.
/// `verified`: the same chain as webpki already verified it (used when it was for the moment
/// the chain is checked at, so the signatures are not checked twice).
pub fn check_chain(
    end_entity: &[u8],
    intermediates: &[CertificateDer<'_>],
    roots: &[TrustAnchor<'_>],
    expected: Option<&ServerName<'_>>,
    algs: &[&dyn rustls::pki_types::SignatureVerificationAlgorithm],
    now: u64,
    verified: Option<Verified>,
) -> ChainFindings {
    let mut out: Vec<Problem> = Vec::new();
    let infos: Vec<Option<CertInfo>> = std::iter::once(end_entity)
        .chain(intermediates.iter().map(|c| c.as_ref()))
        .map(|d| cert::describe(d, now as i64))
        .collect();
    let Some(leaf) = infos[0].clone() else {
        out.push(problem(
            "invalid_chain",
            "the server's certificate is not a valid X.509 certificate".into(),
            "install a well-formed certificate on the server",
        ));
        return (out, Vec::new(), None, infos);
    };
    let ee_der = CertificateDer::from(end_entity.to_vec());
    let Ok(ee) = webpki::EndEntityCert::try_from(&ee_der) else {
        out.push(problem(
            "invalid_chain",
            "webpki cannot parse the server's certificate".into(),
            "install a well-formed certificate on the server",
        ));
        return (out, Vec::new(), None, infos);
    };
    // Dates, certificate by certificate.
    for (i, inf) in infos.iter().enumerate() {
        let Some(inf) = inf else { continue };
        let which = if i == 0 {
            "the certificate".to_string()
        } else {
            format!("intermediate {} ({})", i, inf.subject)
        };
        if cert_expired(inf, now) {
            out.push(problem(
                "expired",
                format!(
                    "{which} expired on {} ({} days ago)",
                    inf.not_after, -inf.days_left
                ),
                "renew the certificate and reload the server",
            ));
        } else if not_yet_valid(inf, now) {
            out.push(problem(
                "not_yet_valid",
                format!("{which} is not valid before {}", inf.not_before),
                "check the server's and this machine's clocks, or wait for the validity start",
            ));
        }
    }
    // The chain to a trust anchor, at a time every certificate is valid (the dates are
    // reported above), so a chain problem is seen even on an expired certificate.
    let inside = infos
        .iter()
        .flatten()
        .map(|c| c.not_before_unix)
        .max()
        .unwrap_or(now as i64);
    let until = infos
        .iter()
        .flatten()
        .map(|c| c.not_after_unix)
        .min()
        .unwrap_or(now as i64);
    let at = if (inside..=until).contains(&(now as i64)) || inside > until {
        now
    } else {
        inside.max(0) as u64 + 1
    };
    let mut path = Vec::new();
    let mut anchor = None;
    // The server's certificate is itself a trust anchor (a pinned self-signed certificate
    // given with --ca): trusted as it is, like openssl does; its dates and name still count.
    let as_anchor = webpki::anchor_from_trusted_cert(&ee_der).ok();
    if let Some(own) = as_anchor.as_ref().filter(|own| {
        roots.iter().any(|r| {
            r.subject.as_ref() == own.subject.as_ref()
                && r.subject_public_key_info.as_ref() == own.subject_public_key_info.as_ref()
        })
    }) {
        anchor = Some(own.subject.as_ref().to_vec());
        if let Some(name) = expected {
            name_problem(&ee, name, &leaf, &mut out);
        }
        return (out, path, anchor, infos);
    }
    match verified.filter(|v| v.at == at) {
        Some(v) => {
            path = v.path;
            anchor = Some(v.anchor);
        }
        None => match ee.verify_for_usage(
            algs,
            roots,
            intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(at)),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        ) {
            Ok(p) => {
                path = p
                    .intermediate_certificates()
                    .map(|c| c.der().to_vec())
                    .collect();
                anchor = Some(p.anchor().subject.as_ref().to_vec());
            }
            // No single moment when every certificate is valid (an expired leaf under a newer
            // intermediate): the dates are already reported above.
            Err(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. })
                if out
                    .iter()
                    .any(|p| p.code == "expired" || p.code == "not_yet_valid") => {}
            Err(e) => out.push(chain_problem(&e, &leaf, &infos)),
        },
    }
    // A lone self-issued certificate no root vouches for is self-signed, whatever else webpki
    // stopped at first.
    if intermediates.is_empty()
        && leaf.self_issued
        && anchor.is_none()
        && !roots
            .iter()
            .any(|r| r.subject.as_ref() == leaf.subject_der.as_slice())
        && !out.iter().any(|p| p.code == "self_signed")
    {
        out.push(problem(
            "self_signed",
            format!("the certificate ({}) is self-signed", leaf.subject),
            "use a certificate from a CA clients trust, or trust this one with --ca FILE",
        ));
    }
    if leaf.is_ca && !out.iter().any(|p| p.code == "ca_used_as_leaf") {
        out.push(problem(
            "ca_used_as_leaf",
            format!(
                "the server's certificate ({}) is a CA certificate (basicConstraints CA:TRUE)",
                leaf.subject
            ),
            "issue a leaf certificate (CA:FALSE) for the server",
        ));
    }
    if let Some(name) = expected {
        name_problem(&ee, name, &leaf, &mut out);
    }
    for (i, inf) in infos.iter().enumerate() {
        if let Some(inf) = inf
            && cert::weak_signature(inf)
            && !(inf.self_issued && i > 0)
            && !out.iter().any(|p| p.code == "weak_signature_algorithm")
        {
            out.push(problem(
                "weak_signature_algorithm",
                format!("{} is signed with {}", inf.subject, inf.signature_algorithm),
                "reissue the certificate with a SHA-256 (or stronger) signature",
            ));
        }
    }
    (out, path, anchor, infos)
}

/// hostname_mismatch when the certificate does not carry `name`.
fn name_problem(
    ee: &webpki::EndEntityCert<'_>,
    name: &ServerName<'_>,
    leaf: &CertInfo,
    out: &mut Vec<Problem>,
) {
    if ee.verify_is_valid_for_subject_name(name).is_err() {
        let want = match name {
            ServerName::DnsName(d) => d.as_ref().to_string(),
            ServerName::IpAddress(ip) => std::net::IpAddr::from(*ip).to_string(),
            _ => "?".into(),
        };
        out.push(problem(
            "hostname_mismatch",
            format!(
                "expected {want}, the certificate is for {}",
                if leaf.san.is_empty() {
                    format!("{} (no subjectAltName)", leaf.subject)
                } else {
                    leaf.san.join(", ")
                }
            ),
            "connect with a name the certificate lists (--sni NAME), or reissue it with this name in subjectAltName",
        ));
    }
}

fn cert_expired(c: &CertInfo, now: u64) -> bool {
    (now as i64) > c.not_after_unix
}

fn not_yet_valid(c: &CertInfo, now: u64) -> bool {
    (now as i64) < c.not_before_unix
}

fn chain_problem(e: &webpki::Error, leaf: &CertInfo, infos: &[Option<CertInfo>]) -> Problem {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => {
            let last = infos.iter().rev().flatten().next().unwrap_or(leaf);
            if infos.len() == 1 && leaf.self_issued {
                problem(
                    "self_signed",
                    format!("the certificate ({}) is self-signed", leaf.subject),
                    "use a certificate from a CA clients trust, or trust this one with --ca FILE",
                )
            } else if last.self_issued {
                problem(
                    "unknown_issuer",
                    format!(
                        "the chain ends at {}, which is not a trusted root",
                        last.subject
                    ),
                    "trust that CA (--ca FILE, or the system store), or use a certificate from a trusted CA",
                )
            } else if last.is_ca || last.ca_issuers.is_empty() {
                // The server sent up to a CA (or a leaf with no hint of an intermediate): what
                // is missing is the root, which this trust store does not have.
                problem(
                    "unknown_issuer",
                    format!(
                        "the chain ends at {}, issued by {}, which is not a trusted root",
                        last.subject, last.issuer
                    ),
                    "trust that CA (--ca FILE, or the system store); if it is itself an intermediate, the server must send it too",
                )
            } else {
                let aia = last
                    .ca_issuers
                    .first()
                    .map(|u| format!("; its issuer is at {u} (AIA caIssuers)"))
                    .unwrap_or_default();
                problem(
                    "incomplete_chain",
                    format!(
                        "the server sent no certificate for {}, the issuer of {}{aia}",
                        last.issuer, last.subject
                    ),
                    "configure the server to send the intermediate certificate(s) after its own",
                )
            }
        }
        E::CaUsedAsEndEntity => problem(
            "ca_used_as_leaf",
            format!(
                "the server's certificate ({}) is a CA certificate",
                leaf.subject
            ),
            "issue a leaf certificate (CA:FALSE) for the server",
        ),
        E::InvalidSignatureForPublicKey => problem(
            "bad_signature",
            "a certificate's signature does not verify with its issuer's key".into(),
            "the chain is corrupt or mixed up: reinstall the certificate and its intermediates",
        ),
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => problem(
            "weak_signature_algorithm",
            format!("a certificate in the chain uses a signature algorithm webpki refuses ({e})"),
            "reissue the certificate with a SHA-256 (or stronger) signature",
        ),
        other => problem(
            "invalid_chain",
            format!("the chain does not verify: {other}"),
            "check the certificate and its intermediates on the server",
        ),
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        {
            let mut r = self.lock();
            r.ran = true;
            r.received = std::iter::once(end_entity)
                .chain(intermediates)
                .map(|c| c.as_ref().to_vec())
                .collect();
            r.ocsp = ocsp_response.to_vec();
        }
        let algs = self.provider.signature_verification_algorithms.all;
        if !self.strict {
            // The handshake goes on whatever is found. On its path, and timed, is what a
            // standard client does (webpki's path and name checks); netlab's own checks of
            // every fact wait until the handshake is over ([`Shared::settle`], while the
            // server sends its tickets), and reuse the path webpki verified here. (They used
            // to run on a thread beside the handshake: starting it cost the handshake more
            // than the checks, once the signatures were no longer checked twice.)
            let t = Instant::now();
            let verified = self.standard_verification(end_entity, intermediates, now);
            self.lock().verify_us = Some(t.elapsed().as_micros() as u64);
            let ee = end_entity.as_ref().to_vec();
            let inter: Vec<CertificateDer<'static>> = intermediates
                .iter()
                .map(|c| c.clone().into_owned())
                .collect();
            let roots = self.roots.clone();
            let expected = self.check_name.then(|| self.expected.clone());
            let secs = now.as_secs();
            let job =
                move || check_chain(&ee, &inter, &roots, expected.as_ref(), algs, secs, verified);
            *self.rec.pending.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Pending(Box::new(job)));
            return Ok(ServerCertVerified::assertion());
        }
        // --strict: every check before the handshake may go on, the first problem ends it.
        let t = Instant::now();
        let found = self.findings(end_entity, intermediates, now);
        let first = found.0.first().cloned();
        self.rec.store(found);
        self.lock().verify_us = Some(t.elapsed().as_micros() as u64);
        match first {
            Some(p) if self.strict => Err(rustls::Error::General(format!(
                "--strict: {}: {}",
                p.code, p.message
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(dss.scheme, || {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        })
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(dss.scheme, || {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        })
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl Recorder {
    fn signature(
        &self,
        scheme: SignatureScheme,
        check: impl FnOnce() -> Result<HandshakeSignatureValid, rustls::Error>,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let res = check();
        let mut r = self.lock();
        r.signature_scheme = Some(format!("{scheme:?}"));
        if let Err(e) = &res {
            r.problems.push(problem(
                "bad_signature",
                format!("the server's handshake signature ({scheme:?}) does not verify: {e}"),
                "the server's key does not match its certificate: reinstall the pair",
            ));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };

    struct Ca {
        der: Vec<u8>,
        issuer: Issuer<'static, KeyPair>,
    }

    fn ca(name: &str, parent: Option<&Ca>) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = match parent {
            Some(pa) => p.signed_by(&key, &pa.issuer).unwrap(),
            None => p.self_signed(&key).unwrap(),
        };
        Ca {
            der: cert.der().to_vec(),
            issuer: Issuer::new(p, key),
        }
    }

    fn leaf(by: &Ca, is_ca: bool, aia: bool) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(vec!["a.test".to_string()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, "a.test");
        if is_ca {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        if aia {
            p.custom_extensions.push(crate::lab::tls::aia_extension());
        }
        p.signed_by(&key, &by.issuer).unwrap().der().to_vec()
    }

    fn codes(ee: &[u8], chain: &[&Vec<u8>], roots: &[&Vec<u8>], name: &str) -> Vec<&'static str> {
        let inter: Vec<CertificateDer<'_>> = chain
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        let root_ders: Vec<CertificateDer<'_>> = roots
            .iter()
            .map(|d| CertificateDer::from(d.as_slice()))
            .collect();
        let anchors: Vec<TrustAnchor<'_>> = root_ders
            .iter()
            .map(|d| webpki::anchor_from_trusted_cert(d).unwrap())
            .collect();
        let sn = ServerName::try_from(name.to_string()).unwrap();
        let algs = rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .all;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let (p, path, anchor, _) = check_chain(ee, &inter, &anchors, Some(&sn), algs, now, None);
        // The verifier a handshake uses (webpki's path reused, no second signature check)
        // finds the same.
        let owned: Vec<TrustAnchor<'static>> = anchors.iter().map(|a| a.to_owned()).collect();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let r = Recorder::new(owned, sn.to_owned(), true, false, provider);
        let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now));
        let ee_der = CertificateDer::from(ee);
        assert!(r.verify_server_cert(&ee_der, &inter, &sn, &[], at).is_ok());
        let seen = r.rec.settled();
        assert_eq!(seen.problems, p);
        assert_eq!(seen.path, path);
        assert_eq!(seen.anchor_subject, anchor);
        p.iter().map(|p| p.code).collect()
    }

    #[test]
    fn each_problem_by_its_own_check() {
        let root = ca("root", None);
        let inter = ca("inter", Some(&root));
        let good = leaf(&inter, false, true);
        assert!(codes(&good, &[&inter.der], &[&root.der], "a.test").is_empty());
        assert_eq!(
            codes(&good, &[&inter.der], &[&root.der], "b.test"),
            ["hostname_mismatch"]
        );
        // The intermediate missing; the leaf's AIA says one exists.
        assert_eq!(
            codes(&good, &[], &[&root.der], "a.test"),
            ["incomplete_chain"]
        );
        // Leaf and intermediate sent, the root not trusted here.
        let other = ca("other root", None);
        assert_eq!(
            codes(&good, &[&inter.der], &[&other.der], "a.test"),
            ["unknown_issuer"]
        );
        // A CA certificate as the server's own.
        let as_leaf = leaf(&inter, true, false);
        let c = codes(&as_leaf, &[&inter.der], &[&root.der], "a.test");
        assert_eq!(c, ["ca_used_as_leaf"]);
        // A corrupted signature (last byte of the ECDSA s value).
        let mut bad = good.clone();
        *bad.last_mut().unwrap() ^= 0x01;
        assert_eq!(
            codes(&bad, &[&inter.der], &[&root.der], "a.test"),
            ["bad_signature"]
        );
    }
}

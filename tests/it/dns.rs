//! `netlab dns trace` against the lab's DNS hierarchy (real UDP/TCP on 127.0.0.x, a port of
//! the test's own), and its JSON contract.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU16, Ordering};

use serde::Deserialize;

use crate::contract::parse;
use crate::util::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceReport {
    pub schema_version: u32,
    pub command: String,
    pub query: Query,
    pub status: String,
    pub answer: Vec<RecordOut>,
    pub chain: Vec<ChainStep>,
    pub levels: Vec<Level>,
    pub warnings: Vec<Warning>,
    pub stats: Stats,
    pub error: Option<String>,
    pub dnssec: Option<DnssecSummary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnssecSummary {
    pub verdict: String,
    pub delegations: usize,
    pub note: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    pub zone: String,
    pub ds: Vec<DsOut>,
    pub dnskeys: Vec<KeyOut>,
    pub verdict: String,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DsOut {
    pub key_tag: u16,
    pub algorithm: u8,
    pub digest_type: u8,
    pub matches_key_tag: Option<u16>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyOut {
    pub key_tag: u16,
    pub algorithm: u8,
    pub flags: u16,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub name: String,
    #[serde(rename = "type")]
    pub qtype: String,
    pub port: u16,
    pub roots: Vec<String>,
    pub dnssec: bool,
    pub tcp: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordOut {
    pub name: String,
    pub ttl_s: u32,
    #[serde(rename = "type")]
    pub rtype: String,
    pub data: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainStep {
    pub from: String,
    pub to: String,
    pub kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Level {
    pub qname: String,
    pub zone: String,
    pub servers: Vec<Server>,
    pub result: Option<String>,
    pub next_zone: Option<String>,
    pub nested: Vec<Nested>,
    pub queries: usize,
    pub elapsed_us: f64,
    pub dnssec: Option<Delegation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nested {
    pub ns: String,
    pub addresses: Vec<String>,
    pub levels: Vec<Level>,
    pub queries: usize,
    pub elapsed_us: f64,
    pub status: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub ns: String,
    pub address: String,
    pub transport: String,
    pub rtt_us: Option<f64>,
    pub bytes: Option<usize>,
    pub rcode: Option<String>,
    pub flags: Option<Flags>,
    pub edns: Option<Edns>,
    pub kind: String,
    pub lame_reason: Option<String>,
    pub error: Option<String>,
    pub referral: Option<Referral>,
    pub answer: Vec<String>,
    pub chosen: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flags {
    pub aa: bool,
    pub tc: bool,
    pub ra: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edns {
    pub udp_size: u16,
    pub do_bit: bool,
    pub nsid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Referral {
    pub zone: String,
    pub ns: Vec<String>,
    pub glue: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warning {
    pub code: String,
    pub severity: String,
    pub message: String,
    pub zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    pub queries: usize,
    pub elapsed_us: f64,
    pub servers: usize,
}

static NEXT: AtomicU16 = AtomicU16::new(0);

/// A lab serving the DNS hierarchy on a port of this test's own.
fn dns_lab() -> (Lab, u16) {
    let port =
        20000 + (std::process::id() % 2000) as u16 * 10 + NEXT.fetch_add(1, Ordering::SeqCst);
    let p = port.to_string();
    let lab = Lab::start(
        &[
            "lab",
            "--jsonl",
            "--port-base",
            "0",
            "--dns",
            "--dns-port",
            &p,
            "--duration",
            "120s",
        ],
        None,
    );
    (lab, port)
}

fn trace(port: u16, args: &[&str]) -> (i32, TraceReport) {
    let p = port.to_string();
    let mut v = vec![
        "--json",
        "--timeout",
        "1s",
        "dns",
        "trace",
        "--root",
        "127.0.0.2",
        "--port",
        &p,
    ];
    v.extend_from_slice(args);
    let o = netlab(&v);
    (code(&o), parse(&stdout(&o)))
}

fn codes(r: &TraceReport) -> Vec<&str> {
    r.warnings.iter().map(|w| w.code.as_str()).collect()
}

#[test]
fn cname_into_a_glueless_zone_every_server_asked() {
    let (_lab, port) = dns_lab();
    let (c, r) = trace(port, &["www.example.test", "A"]);
    assert_eq!(c, 1, "resolved, but with a lame server: exit 1");
    assert_eq!(r.status, "resolved");
    assert_eq!(r.command, "dns trace");
    assert_eq!(r.answer.len(), 1);
    assert_eq!(
        (
            r.answer[0].name.as_str(),
            r.answer[0].rtype.as_str(),
            r.answer[0].data.as_str()
        ),
        ("edge.cdn.test.", "A", "192.0.2.80")
    );
    assert_eq!(r.chain.len(), 1);
    assert_eq!(
        (
            r.chain[0].from.as_str(),
            r.chain[0].to.as_str(),
            r.chain[0].kind.as_str()
        ),
        ("www.example.test.", "edge.cdn.test.", "CNAME")
    );
    let zones: Vec<&str> = r.levels.iter().map(|l| l.zone.as_str()).collect();
    assert_eq!(
        zones,
        [".", "test.", "example.test.", ".", "test.", "cdn.test."]
    );
    // Every NS of every zone, on every address.
    assert_eq!(r.levels[1].servers.len(), 2);
    assert_eq!(r.levels[2].servers.len(), 3);
    for l in &r.levels {
        assert_eq!(
            l.servers.iter().filter(|s| s.chosen).count(),
            1,
            "one followed reply per level"
        );
        for s in &l.servers {
            assert!(
                s.address.starts_with("127.0.0."),
                "only lab addresses: {}",
                s.address
            );
        }
    }
    let lame = r.levels[2]
        .servers
        .iter()
        .find(|s| s.address == "127.0.0.6")
        .unwrap();
    assert_eq!(
        (
            lame.kind.as_str(),
            lame.rcode.as_deref(),
            lame.lame_reason.as_deref()
        ),
        ("lame", Some("REFUSED"), Some("refused"))
    );
    let cdn = &r.levels[4];
    assert_eq!(cdn.next_zone.as_deref(), Some("cdn.test."));
    assert_eq!(cdn.nested.len(), 1);
    assert_eq!(cdn.nested[0].ns, "ns1.cdnhost.test.");
    assert_eq!(cdn.nested[0].addresses, ["127.0.0.9"]);
    let referral = cdn.servers[0].referral.as_ref().unwrap();
    assert!(referral.glue.is_empty(), "glueless delegation");
    assert!(codes(&r).contains(&"lame_server") && codes(&r).contains(&"glueless"));
    assert!(r.stats.queries >= 10 && r.stats.elapsed_us > 0.0);
}

#[test]
fn stale_server_disagreement_is_named() {
    let (_lab, port) = dns_lab();
    let (c, r) = trace(port, &["api.example.test"]);
    assert_eq!(c, 1);
    let d = r
        .warnings
        .iter()
        .find(|w| w.code == "disagreement")
        .expect("disagreement");
    assert!(
        d.message.contains("127.0.0.5") && d.message.contains("192.0.2.10"),
        "{}",
        d.message
    );
    assert!(
        d.message.contains("127.0.0.7") && d.message.contains("192.0.2.99"),
        "{}",
        d.message
    );
    assert_eq!(d.zone.as_deref(), Some("example.test."));
    // The deterministic rule: tie → the first server in (NS name, address) order.
    assert_eq!(r.answer[0].data, "192.0.2.10");
    let (_, again) = trace(port, &["api.example.test"]);
    let path = |r: &TraceReport| -> Vec<String> {
        r.levels
            .iter()
            .flat_map(|l| {
                l.servers
                    .iter()
                    .filter(|s| s.chosen)
                    .map(|s| s.address.clone())
            })
            .collect()
    };
    assert_eq!(path(&r), path(&again), "reruns take the same path");
}

#[test]
fn truncated_udp_is_retried_over_tcp() {
    let (_lab, port) = dns_lab();
    let (_, r) = trace(port, &["txt.big.test", "TXT"]);
    assert_eq!(r.status, "resolved");
    assert_eq!(r.answer.len(), 20);
    let big = r.levels.last().unwrap();
    assert_eq!(big.servers[0].transport, "udp→tcp");
    assert_eq!(big.queries, 2, "the UDP query and its TCP retry");
    assert_eq!(r.stats.queries, 1 + 2 + 2);
    assert!(codes(&r).contains(&"tcp_fallback"));
    let (_, r) = trace(port, &["--tcp", "txt.big.test", "TXT"]);
    assert!(
        r.levels
            .iter()
            .all(|l| l.servers.iter().all(|s| s.transport == "tcp"))
    );
    assert!(r.query.tcp);
}

#[test]
fn nxdomain_nodata_loops_and_limits() {
    let (_lab, port) = dns_lab();
    let (c, r) = trace(port, &["nope.example.test"]);
    assert_eq!((c, r.status.as_str()), (1, "nxdomain"));
    let (c, r) = trace(port, &["mail.example.test", "AAAA"]);
    assert_eq!((c, r.status.as_str()), (1, "nodata"));
    let (c, r) = trace(port, &["loop1.example.test"]);
    assert_eq!((c, r.status.as_str()), (2, "failed"));
    assert!(codes(&r).contains(&"cname_loop"));
    let (c, r) = trace(port, &["--max-queries", "2", "api.example.test"]);
    assert_eq!((c, r.status.as_str()), (2, "failed"));
    assert!(codes(&r).contains(&"limit_queries"));
    let (_, r) = trace(port, &["--nsid", "--dnssec", "api.example.test"]);
    let e = r.levels[2].servers[0].edns.as_ref().unwrap();
    assert_eq!(e.nsid.as_deref(), Some("ns1.example.test."));
    assert!(e.do_bit);
    // Unsigned delegations: the parents hold no DS.
    assert!(r.levels[0].dnssec.is_none(), "the root is not a delegation");
    let d = r.levels[1].dnssec.as_ref().expect("test. checked");
    assert_eq!((d.zone.as_str(), d.verdict.as_str()), ("test.", "insecure"));
    assert_eq!(r.dnssec.as_ref().unwrap().verdict, "insecure");
    assert_eq!(r.dnssec.as_ref().unwrap().delegations, 2);
}

#[test]
fn root_hints_file_and_unreachable_root() {
    let (_lab, port) = dns_lab();
    let dir = tempfile::tempdir().unwrap();
    let hints = dir.path().join("named.root");
    std::fs::write(
        &hints,
        ".  3600000 NS a.root-servers.test.\na.root-servers.test. 3600000 A 127.0.0.2\n",
    )
    .unwrap();
    let p = port.to_string();
    let o = netlab(&[
        "--json",
        "dns",
        "trace",
        "--root-hints",
        hints.to_str().unwrap(),
        "--port",
        &p,
        "api.example.test",
        "AAAA",
    ]);
    let r: TraceReport = parse(&stdout(&o));
    assert_eq!(r.status, "resolved");
    assert_eq!(r.query.roots, ["a.root-servers.test. 127.0.0.2"]);
    assert_eq!(r.levels[0].servers[0].ns, "a.root-servers.test.");
    // A root where nothing listens: could not resolve, exit 2, still a report.
    let o = netlab(&[
        "--json",
        "--timeout",
        "300ms",
        "dns",
        "trace",
        "--root",
        "127.0.0.99",
        "--port",
        &p,
        "api.example.test",
    ]);
    assert_eq!(code(&o), 2);
    let r: TraceReport = parse(&stdout(&o));
    assert_eq!(r.status, "failed");
    assert!(r.error.unwrap().contains("every server of ."));
}

#[test]
fn bad_input_exit_2_one_line() {
    let long_label = format!("{}.test", "a".repeat(64));
    let long_name = format!("{}test", "abcdefghi.".repeat(26));
    let cases: Vec<Vec<&str>> = vec![
        vec!["dns", "trace", "a..test"],
        vec!["dns", "trace", ""],
        vec!["dns", "trace", &long_label],
        vec!["dns", "trace", &long_name],
        vec!["dns", "trace", "example.test", "BOGUS"],
        vec!["dns", "trace", "--root", "not-an-ip", "example.test"],
        vec![
            "dns",
            "trace",
            "--root-hints",
            "/nonexistent/named.root",
            "example.test",
        ],
        vec!["dns", "trace", "-6", "--root", "127.0.0.2", "example.test"],
    ];
    for args in &cases {
        let o = netlab(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.starts_with("netlab: ") && e.trim().lines().count() == 1,
            "{args:?}: {e}"
        );
    }
    assert_eq!(code(&netlab(&["dns", "trace", "--port", "0", "x.test"])), 2);
}

// --- DNSSEC: the signed zones on 127.0.0.11 (signed.test. secure, broken.test. bogus). ---

/// One UDP query with EDNS and DO to a lab server, with hickory directly (not netlab's own
/// query code), so the key facts below are checked independently of `dns trace`.
fn ask_do(
    server: &str,
    port: u16,
    qname: &str,
    qtype: hickory_proto::rr::RecordType,
) -> hickory_proto::op::Message {
    use hickory_proto::op::{Edns, Message, Query};
    use hickory_proto::rr::Name;
    let mut q = Message::query();
    q.add_query(Query::query(Name::from_ascii(qname).unwrap(), qtype));
    let mut e = Edns::new();
    e.set_max_payload(1232);
    e.set_dnssec_ok(true);
    q.set_edns(e);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    s.connect((server, port)).unwrap();
    s.send(&q.to_vec().unwrap()).unwrap();
    let mut buf = [0u8; 65535];
    let n = s
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no answer from {server}:{port}: {e}"));
    let r = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(r.id, q.id);
    r
}

/// The KSK `zone` serves (flags 257) and the DS test. publishes for it, as served.
fn served_ksk_and_ds(
    port: u16,
    zone: &str,
) -> (
    hickory_proto::dnssec::rdata::DNSKEY,
    Vec<hickory_proto::dnssec::rdata::DS>,
) {
    use hickory_proto::dnssec::rdata::DNSSECRData;
    use hickory_proto::rr::{RData, RecordType};
    let keys = ask_do("127.0.0.11", port, zone, RecordType::DNSKEY);
    let ksk = keys
        .answers
        .iter()
        .find_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DNSKEY(k)) if k.flags() == 257 => Some(k.clone()),
            _ => None,
        })
        .expect("a KSK");
    let ds = ask_do("127.0.0.3", port, zone, RecordType::DS)
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::DNSSEC(DNSSECRData::DS(d)) => Some(d.clone()),
            _ => None,
        })
        .collect();
    (ksk, ds)
}

fn level<'a>(r: &'a TraceReport, zone: &str) -> &'a Level {
    r.levels
        .iter()
        .find(|l| l.zone == zone)
        .unwrap_or_else(|| panic!("no level for {zone}"))
}

#[test]
fn dnssec_signed_zone_is_secure() {
    let (_lab, port) = dns_lab();
    let (c, r) = trace(port, &["--dnssec", "www.signed.test", "A"]);
    assert_eq!((c, r.status.as_str()), (0, "resolved"), "{:?}", r.warnings);
    assert!(r.query.dnssec);
    assert_eq!(
        (r.answer.len(), r.answer[0].data.as_str()),
        (1, "192.0.2.53")
    );
    let zones: Vec<&str> = r.levels.iter().map(|l| l.zone.as_str()).collect();
    assert_eq!(zones, [".", "test.", "signed.test."]);
    // signed.test.: the DS in test. matches the KSK the child serves.
    let d = level(&r, "signed.test.").dnssec.as_ref().expect("checked");
    assert_eq!(d.zone, "signed.test.");
    assert_eq!(d.verdict, "secure", "{}", d.reason);
    assert_eq!(d.dnskeys.len(), 2);
    let ksk = d.dnskeys.iter().find(|k| k.flags == 257).expect("a KSK");
    let zsk = d.dnskeys.iter().find(|k| k.flags == 256).expect("a ZSK");
    assert_ne!(ksk.key_tag, zsk.key_tag);
    assert!(d.dnskeys.iter().all(|k| k.algorithm == 13));
    assert_eq!(d.ds.len(), 1);
    assert_eq!(
        (d.ds[0].key_tag, d.ds[0].algorithm, d.ds[0].digest_type),
        (ksk.key_tag, 13, 2)
    );
    assert_eq!(d.ds[0].matches_key_tag, Some(ksk.key_tag));
    // The same facts, with hickory against the servers directly: the KSK's tag, and a DS
    // whose digest covers that key.
    let (key, ds) = served_ksk_and_ds(port, "signed.test.");
    assert_eq!(key.calculate_key_tag().unwrap(), ksk.key_tag);
    let zone = hickory_proto::rr::Name::from_ascii("signed.test.").unwrap();
    assert!(ds[0].covers(&zone, &key).unwrap());
    // test. itself: the root holds no DS for it.
    let t = level(&r, "test.").dnssec.as_ref().expect("checked");
    assert_eq!(t.verdict, "insecure");
    assert!(t.ds.is_empty());
    // The chain: `overall` (src/dns/dnssec.rs) is bogus if any delegation is, secure only if
    // all are, else insecure if one is. The path has two delegations, test. (insecure: no DS
    // at the root) and signed.test. (secure), so the chain is insecure: signed.test. is an
    // island of security below an unsigned TLD, as a validator starting at the root sees it.
    let s = r.dnssec.as_ref().expect("--dnssec summary");
    assert_eq!((s.verdict.as_str(), s.delegations), ("insecure", 2));
    assert!(!codes(&r).contains(&"dnssec_bogus"));
    // DO was set and echoed at every level.
    for l in &r.levels {
        let e = l.servers[0].edns.as_ref().unwrap();
        assert!(e.do_bit, "{}", l.zone);
    }
}

#[test]
fn dnssec_broken_ds_is_bogus() {
    let (_lab, port) = dns_lab();
    let (c, r) = trace(port, &["--dnssec", "www.broken.test", "A"]);
    assert_eq!(c, 2, "bogus: exit 2");
    assert_eq!(r.status, "bogus");
    // The answer is still reported.
    assert_eq!(
        (r.answer.len(), r.answer[0].data.as_str()),
        (1, "192.0.2.54")
    );
    let d = level(&r, "broken.test.").dnssec.as_ref().expect("checked");
    assert_eq!(d.verdict, "bogus", "{}", d.reason);
    assert_eq!(d.dnskeys.len(), 2);
    let ksk = d.dnskeys.iter().find(|k| k.flags == 257).expect("a KSK");
    // The DS names the KSK (tag, algorithm 13, SHA-256), but its digest matches no key.
    assert_eq!(d.ds.len(), 1);
    assert_eq!(
        (d.ds[0].key_tag, d.ds[0].algorithm, d.ds[0].digest_type),
        (ksk.key_tag, 13, 2)
    );
    assert_eq!(d.ds[0].matches_key_tag, None);
    let (key, ds) = served_ksk_and_ds(port, "broken.test.");
    let zone = hickory_proto::rr::Name::from_ascii("broken.test.").unwrap();
    assert!(!ds[0].covers(&zone, &key).unwrap());
    // Named in a warning, and in the chain's verdict.
    let w = r
        .warnings
        .iter()
        .find(|w| w.code == "dnssec_bogus")
        .expect("dnssec_bogus");
    assert_eq!(w.zone.as_deref(), Some("broken.test."));
    assert_eq!(r.dnssec.as_ref().unwrap().verdict, "bogus");
    assert_eq!(
        level(&r, "test.").dnssec.as_ref().unwrap().verdict,
        "insecure"
    );
}

#[test]
fn signed_zones_resolve_normally_without_dnssec() {
    let (_lab, port) = dns_lab();
    for (name, addr) in [
        ("www.signed.test", "192.0.2.53"),
        ("www.broken.test", "192.0.2.54"),
    ] {
        let (c, r) = trace(port, &[name, "A"]);
        assert_eq!((c, r.status.as_str()), (0, "resolved"), "{name}");
        assert_eq!(r.answer.len(), 1, "{name}: no RRSIG in the answer");
        assert_eq!(r.answer[0].data, addr);
        assert!(r.dnssec.is_none() && r.levels.iter().all(|l| l.dnssec.is_none()));
        assert!(!r.query.dnssec);
    }
    let (c, r) = trace(port, &["txt.signed.test", "TXT"]);
    assert_eq!((c, r.answer[0].data.as_str()), (0, "signed"));
    let (c, r) = trace(port, &["--dnssec", "nope.signed.test", "A"]);
    assert_eq!((c, r.status.as_str()), (1, "nxdomain"));
    assert_eq!(
        level(&r, "signed.test.").dnssec.as_ref().unwrap().verdict,
        "secure"
    );
}

/// dig, delv and drill (if installed) see the same: RRSIGs with DO, and a chain that validates
/// from the DS test. publishes (as a trust anchor) for signed.test., but not for broken.test.
#[test]
fn dnssec_peers_validate_the_signed_zones() {
    use std::io::Write;
    use std::process::Command;
    let have = |tool: &str| match Command::new(tool).arg("-v").output() {
        Ok(_) => true,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP {tool} checks of dnssec_peers_validate_the_signed_zones: {e}; apt-get install bind9-dnsutils ldnsutils"
            );
            false
        }
    };
    if !have("dig") {
        return;
    }
    let (_lab, port) = dns_lab();
    let p = port.to_string();
    let dig = |args: &[&str]| -> String {
        let o = Command::new("dig")
            .args(["-p", &p, "+norec", "+tries=1", "+time=2"])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = dig(&["+dnssec", "@127.0.0.11", "DNSKEY", "signed.test"]);
    assert!(
        out.contains("status: NOERROR") && out.contains("flags: qr aa;"),
        "{out}"
    );
    assert!(out.contains("DNSKEY\t257 3 13 "), "{out}");
    assert!(out.contains("DNSKEY\t256 3 13 "), "{out}");
    assert!(out.contains("RRSIG\tDNSKEY 13 2 300 "), "{out}");
    let out = dig(&["@127.0.0.11", "DNSKEY", "signed.test"]);
    assert!(!out.contains("RRSIG"), "no RRSIG without DO: {out}");
    // The DS of each zone, from test., as a trust anchor (one line: tag alg type digest).
    let ds = |zone: &str| -> Vec<String> {
        let out = dig(&["+short", "@127.0.0.3", "DS", zone]);
        let f: Vec<String> = out.split_whitespace().map(str::to_string).collect();
        assert!(f.len() >= 4 && f[1] == "13" && f[2] == "2", "{zone}: {out}");
        f
    };
    let dir = tempfile::tempdir().unwrap();
    if have("delv") {
        for (zone, valid) in [("signed.test", true), ("broken.test", false)] {
            let f = ds(zone);
            let anchor = dir.path().join(format!("{zone}.conf"));
            std::fs::write(
                &anchor,
                format!(
                    "trust-anchors {{ {zone}. static-ds {} {} {} \"{}\"; }};\n",
                    f[0],
                    f[1],
                    f[2],
                    f[3..].concat()
                ),
            )
            .unwrap();
            let o = Command::new("delv")
                .args(["@127.0.0.11", "-p", &p, "-a"])
                .arg(&anchor)
                .arg(format!("+root={zone}"))
                .arg(format!("www.{zone}"))
                .arg("A")
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            if valid {
                assert!(all.contains("; fully validated"), "{zone}: {all}");
                assert!(all.contains("192.0.2.53"), "{all}");
            } else {
                assert!(!all.contains("fully validated"), "{zone}: {all}");
                assert!(all.contains("broken trust chain"), "{zone}: {all}");
            }
        }
        // Negative answers validate too (NSEC).
        let f = ds("signed.test");
        let anchor = dir.path().join("neg.conf");
        std::fs::write(
            &anchor,
            format!(
                "trust-anchors {{ signed.test. static-ds {} {} {} \"{}\"; }};\n",
                f[0],
                f[1],
                f[2],
                f[3..].concat()
            ),
        )
        .unwrap();
        for (q, t, want) in [
            ("nope.signed.test", "A", "NXDOMAIN"),
            ("www.signed.test", "AAAA", "NXRRSET"),
        ] {
            let o = Command::new("delv")
                .args(["@127.0.0.11", "-p", &p, "-a"])
                .arg(&anchor)
                .args(["+root=signed.test", q, t])
                .output()
                .unwrap();
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                all.contains("negative response, fully validated") && all.contains(want),
                "{q} {t}: {all}"
            );
        }
    }
    if have("drill") {
        for (zone, valid) in [("signed.test", true), ("broken.test", false)] {
            let f = ds(zone);
            let key = dir.path().join(format!("{zone}.ds"));
            std::fs::write(
                &key,
                format!(
                    "{zone}. 3600 IN DS {} {} {} {}\n",
                    f[0],
                    f[1],
                    f[2],
                    f[3..].concat()
                ),
            )
            .unwrap();
            let o = Command::new("drill")
                .args(["-S", "-k"])
                .arg(&key)
                .args(["-p", &p, "@127.0.0.11", &format!("www.{zone}"), "A"])
                .output()
                .unwrap();
            let out = String::from_utf8_lossy(&o.stdout).into_owned();
            assert_eq!(
                out.contains(";; Chase successful"),
                valid,
                "{zone}: {out}{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

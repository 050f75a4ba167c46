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

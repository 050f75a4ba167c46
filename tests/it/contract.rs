//! The JSON contract (docs/json.md): real output of every command deserialized into mirrors
//! that reject unknown fields, so any schema change is deliberate (change docs/json.md, these
//! mirrors and, if incompatible, `schema_version`).
#![allow(dead_code)]

use serde::Deserialize;

use crate::util::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandshakeReport {
    pub schema_version: u32,
    pub command: String,
    pub target: Target,
    pub mode: String,
    pub interface: Option<String>,
    pub source: Option<String>,
    pub timing_source: String,
    pub probes: Vec<Probe>,
    pub summary: Summary,
    pub capture: Option<Capture>,
    pub notes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub address: String,
    pub addresses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub seq: u32,
    pub outcome: String,
    pub rtt_us: Option<f64>,
    pub timing_source: String,
    pub connect_us: Option<f64>,
    pub neighbour_us: Option<f64>,
    pub local: String,
    pub remote: String,
    pub syn_ts_ns: Option<u64>,
    pub reply_ts_ns: Option<u64>,
    pub syn_retransmits: u32,
    pub syn: Option<Syn>,
    pub synack: Option<SynAck>,
    pub rst: Option<Rst>,
    pub icmp: Option<Icmp>,
    pub duplicates: u32,
    pub teardown: Option<Teardown>,
    pub error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Syn {
    pub isn: u32,
    pub window: u16,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_perm: bool,
    pub timestamps: bool,
    pub ecn: bool,
    pub unknown_options: Vec<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SynAck {
    pub isn: Option<u32>,
    pub ack: Option<u32>,
    pub ack_ok: Option<bool>,
    pub ttl: Option<u8>,
    pub initial_ttl: Option<u8>,
    pub hops: Option<u8>,
    pub window: Option<u16>,
    pub mss: Option<u16>,
    pub wscale: Option<u8>,
    pub sack_perm: Option<bool>,
    pub timestamps: Option<bool>,
    pub ecn: Option<bool>,
    pub unknown_options: Vec<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rst {
    pub ttl: u8,
    pub initial_ttl: u8,
    pub hops: u8,
    pub ack: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Icmp {
    pub family: String,
    #[serde(rename = "type")]
    pub icmp_type: Option<u8>,
    pub code: Option<u8>,
    pub source: Option<String>,
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Teardown {
    pub first_fin: String,
    pub time_wait: String,
    pub duration_us: Option<f64>,
    pub complete: bool,
    pub reset: bool,
    pub segments: Vec<TeardownSegment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeardownSegment {
    pub t_us: f64,
    pub dir: String,
    pub flags: String,
    pub rel_seq: u32,
    pub rel_ack: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub sent: u32,
    pub open: u32,
    pub closed: u32,
    pub filtered: u32,
    pub unreachable: u32,
    pub loss_pct: f64,
    pub duplicates: u32,
    pub unmatched: u32,
    pub rtt_us: Rtt,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rtt {
    pub min: Option<f64>,
    pub avg: Option<f64>,
    pub max: Option<f64>,
    pub mdev: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub jitter: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capture {
    pub interface: String,
    pub packets: u64,
    pub kernel_drops: u64,
    pub pcap_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabReady {
    pub schema_version: u32,
    pub mode: String,
    pub namespaces: Option<Namespaces>,
    pub delay_ms: Option<f64>,
    pub scenarios: Vec<Scenario>,
    pub try_commands: Vec<String>,
    pub dns: Option<DnsLab>,
    pub resolver: Option<String>,
    pub sockets: Option<SocketScenarios>,
    pub tls: Option<TlsLab>,
    pub io: Option<IoServers>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoServers {
    pub blocking_port: u16,
    pub epoll_port: u16,
    pub pid: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsLab {
    pub dir: String,
    pub ca_file: String,
    pub intermediate_file: String,
    pub ocsp_file: String,
    pub host: String,
    pub scenarios: Vec<TlsScenario>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsScenario {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub expect: String,
    pub behaviour: String,
    pub chain_file: String,
    pub key_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketScenarios {
    pub leak_port: u16,
    pub leak_connections: u32,
    pub churn_port: u16,
    pub churn_connections: u32,
    pub overflow_port: u16,
    pub overflow_backlog: u32,
    pub overflow_connections: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsLab {
    pub port: u16,
    pub root_hints: Vec<String>,
    pub servers: Vec<DnsServer>,
    pub try_commands: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsServer {
    pub name: String,
    pub address: String,
    pub zones: Vec<String>,
    pub behaviour: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespaces {
    pub client: String,
    pub middle: String,
    pub server: String,
    pub client_addresses: Vec<String>,
    pub server_addresses: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    pub address: String,
    pub port: u16,
    pub expect: String,
    pub behaviour: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabReport {
    pub schema_version: u32,
    pub command: String,
    pub mode: String,
    pub accepted: Vec<Accepted>,
    pub forwarded_frames: Option<u64>,
    pub ran_s: f64,
    pub cleaned_up: bool,
    pub dns_queries: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub name: String,
    pub connections: u64,
}

pub fn parse<T: serde::de::DeserializeOwned>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("contract violation: {e}\n{s}"))
}

/// A JSON Lines object: its `type` must be `kind`; the rest must match `T` exactly.
pub fn parse_line<T: serde::de::DeserializeOwned>(line: &str, kind: &str) -> T {
    let mut v: serde_json::Value = parse(line);
    let obj = v.as_object_mut().expect("a JSON object per line");
    assert_eq!(
        obj.remove("type").as_ref().and_then(|t| t.as_str()),
        Some(kind),
        "{line}"
    );
    serde_json::from_value(v).unwrap_or_else(|e| panic!("contract violation: {e}\n{line}"))
}

#[test]
fn tcp_handshake_json_matches_contract() {
    let lab = Lab::loopback();
    for port in [lab.port("open"), lab.port("closed")] {
        for extra in [&[][..], &["--close"][..]] {
            let target = format!("127.0.0.1:{port}");
            let mut args = vec!["--json", "tcp", "handshake", "-c", "2", "-i", "10ms"];
            args.extend_from_slice(extra);
            args.push(&target);
            let o = netlab(&args);
            let r: HandshakeReport = parse(&stdout(&o));
            assert_eq!(r.schema_version, 1);
            assert_eq!(r.command, "tcp handshake");
            assert_eq!(r.probes.len(), 2);
        }
    }
}

#[test]
fn tcp_handshake_jsonl_matches_contract() {
    let lab = Lab::loopback();
    let target = format!("127.0.0.1:{}", lab.port("open"));
    let o = netlab(&[
        "--jsonl",
        "tcp",
        "handshake",
        "-c",
        "3",
        "-i",
        "10ms",
        &target,
    ]);
    let lines: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 4, "3 probes and a summary");
    for l in &lines[..3] {
        let _: Probe = parse_line(l, "probe");
    }
    let s: HandshakeReport = parse_line(lines[3], "summary");
    assert_eq!(s.summary.sent, 3);
}

#[test]
fn lab_jsonl_matches_contract() {
    let mut c = std::process::Command::new(BIN)
        .args(["lab", "--jsonl", "--port-base", "0", "--duration", "300ms"])
        .output()
        .expect("run lab");
    let out = String::from_utf8(std::mem::take(&mut c.stdout)).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let r: LabReady = parse_line(lines[0], "ready");
    assert_eq!(r.mode, "loopback");
    assert_eq!(r.scenarios.len(), 4);
    assert!(r.dns.is_none(), "no DNS without --dns");
    let s: LabReport = parse_line(lines[1], "summary");
    assert!(s.cleaned_up);
    assert_eq!(s.dns_queries, None);
    assert_eq!(c.status.code(), Some(0));
}

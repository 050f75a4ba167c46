//! `netlab arp` on the namespace lab's veth segment (root): who-has with wire timing, the
//! conflict address (two MACs), loss, RFC 5227 probes, announcements, scans, the neighbour
//! table against `ip -j neigh`, bad input, and the JSON contract.
#![allow(dead_code)]

use serde::Deserialize;

use crate::contract::parse;
use crate::util::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhoHas {
    schema_version: u32,
    command: String,
    target: String,
    interface: String,
    source_ip: String,
    source_mac: String,
    off_link_gateway: Option<String>,
    probes: Vec<Probe>,
    macs: Vec<String>,
    conflict: bool,
    summary: Summary,
    capture: Option<crate::contract::Capture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Probe {
    seq: u32,
    rtt_us: Option<f64>,
    timing_source: String,
    request_ts_ns: Option<u64>,
    replies: Vec<Reply>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reply {
    mac: String,
    rtt_us: Option<f64>,
    ts_ns: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    sent: u32,
    answered: u32,
    loss_pct: f64,
    rtt_us: crate::contract::Rtt,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeReport {
    schema_version: u32,
    command: String,
    target: String,
    interface: String,
    probes_sent: u32,
    listened_ms: f64,
    in_use: bool,
    claims: Vec<Claim>,
    capture: Option<crate::contract::Capture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Claim {
    mac: String,
    how: String,
    ts_ns: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Announce {
    schema_version: u32,
    command: String,
    ip: String,
    interface: String,
    mac: String,
    form: String,
    sent_ts_ns: Vec<Option<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scan {
    schema_version: u32,
    command: String,
    network: String,
    interface: String,
    scanned: u32,
    sent: u32,
    hosts: Vec<Host>,
    elapsed_ms: f64,
    oui_source: Option<String>,
    capture: Option<crate::contract::Capture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Host {
    ip: String,
    mac: String,
    vendor: Option<String>,
    rtt_us: Option<f64>,
    locally_administered: bool,
    multicast: bool,
    other_macs: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    schema_version: u32,
    command: String,
    entries: Vec<Neigh>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Neigh {
    ip: String,
    mac: Option<String>,
    state: String,
    interface: String,
    router: bool,
}

const S0: &str = "02:00:c6:12:00:02";
const S1: &str = "02:00:c6:12:00:03";

fn arp<T: serde::de::DeserializeOwned>(lab: &Lab, args: &[&str]) -> (i32, T) {
    let mut v = vec!["--json", "arp"];
    v.extend_from_slice(args);
    let o = lab.client(&v);
    (code(&o), parse(&stdout(&o)))
}

#[test]
fn who_has_reply_conflict_and_loss() {
    if skip_unless_root("who_has_reply_conflict_and_loss") {
        return;
    }
    let lab = Lab::netns("f");
    let (c, r): (i32, WhoHas) = arp(&lab, &["who-has", "-c", "3", "-i", "50ms", "198.18.0.2"]);
    assert_eq!(c, 0);
    assert_eq!(
        (
            r.interface.as_str(),
            r.source_ip.as_str(),
            r.source_mac.as_str()
        ),
        ("c0", "198.18.0.1", "02:00:c6:12:00:01")
    );
    assert_eq!(r.macs, [S0]);
    assert!(!r.conflict);
    assert_eq!(
        (r.summary.sent, r.summary.answered, r.summary.loss_pct),
        (3, 3, 0.0)
    );
    for p in &r.probes {
        assert_eq!(p.timing_source, "af_packet");
        let req = p.request_ts_ns.expect("our request seen leaving");
        assert_eq!(p.replies.len(), 1);
        let rep = &p.replies[0];
        assert_eq!(rep.mac, S0);
        assert!(rep.ts_ns > req);
        assert_eq!(
            p.rtt_us,
            Some(((rep.ts_ns - req) as f64 / 1000.0 * 1000.0).round() / 1000.0)
        );
    }
    // An interval far below the RTT (2 × 2 ms bridge delay): every request still gets its
    // own reply (each MAC's reply goes to the oldest request it has not answered).
    let (_, r): (i32, WhoHas) = arp(
        &lab,
        &[
            "--timeout",
            "300ms",
            "who-has",
            "-c",
            "4",
            "-i",
            "1ms",
            "198.18.0.2",
        ],
    );
    assert_eq!(
        (r.summary.answered, r.summary.loss_pct),
        (4, 0.0),
        "{:?}",
        r.probes
    );
    for p in &r.probes {
        assert_eq!(p.replies.len(), 1);
        assert!(p.replies[0].ts_ns > p.request_ts_ns.unwrap());
    }
    // --pcap: the same frames, with the same kernel timestamps.
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("arp.pcap");
    let (_, r): (i32, WhoHas) = arp(
        &lab,
        &[
            "who-has",
            "-c",
            "2",
            "-i",
            "50ms",
            "--pcap",
            pcap.to_str().unwrap(),
            "198.18.0.2",
        ],
    );
    let mut rd = pcap_file::pcap::PcapReader::new(std::fs::File::open(&pcap).unwrap()).unwrap();
    let mut stamps = Vec::new();
    while let Some(p) = rd.next_packet() {
        stamps.push(p.unwrap().timestamp.as_nanos() as u64);
    }
    for p in &r.probes {
        assert!(stamps.contains(&p.request_ts_ns.unwrap()));
        assert!(stamps.contains(&p.replies[0].ts_ns));
    }
    let (c, r): (i32, WhoHas) = arp(&lab, &["who-has", "-c", "1", "198.18.0.10"]);
    assert_eq!(c, 1, "two MACs for one address is a finding");
    assert!(r.conflict);
    let mut macs = r.macs.clone();
    macs.sort();
    assert_eq!(macs, [S0, S1]);
    assert_eq!(r.probes[0].replies.len(), 2);
    let (c, r): (i32, WhoHas) = arp(
        &lab,
        &[
            "--timeout",
            "200ms",
            "who-has",
            "-c",
            "2",
            "-i",
            "50ms",
            "198.18.0.99",
        ],
    );
    assert_eq!(c, 1);
    assert_eq!((r.summary.answered, r.summary.loss_pct), (0, 100.0));
    assert!(
        r.probes
            .iter()
            .all(|p| p.rtt_us.is_none() && p.replies.is_empty())
    );
}

#[test]
fn duplicate_detection_announce_and_scan() {
    if skip_unless_root("duplicate_detection_announce_and_scan") {
        return;
    }
    let lab = Lab::netns("g");
    let fast = [
        "--interval-min",
        "50ms",
        "--interval-max",
        "100ms",
        "--wait",
        "200ms",
    ];
    let mut args = vec!["probe"];
    args.extend_from_slice(&fast);
    args.push("198.18.0.99");
    let (c, r): (i32, ProbeReport) = arp(&lab, &args);
    assert_eq!((c, r.in_use, r.probes_sent), (0, false, 3));
    args.pop();
    args.push("198.18.0.10");
    let (c, r): (i32, ProbeReport) = arp(&lab, &args);
    assert_eq!((c, r.in_use), (1, true));
    let mut claimed: Vec<&str> = r.claims.iter().map(|x| x.mac.as_str()).collect();
    claimed.sort();
    assert_eq!(claimed, [S0, S1]);
    let (c, r): (i32, Announce) = arp(&lab, &["announce", "-c", "2", "-i", "50ms", "198.18.0.1"]);
    assert_eq!(
        (c, r.form.as_str(), r.interface.as_str()),
        (0, "request", "c0")
    );
    assert!(
        r.sent_ts_ns.iter().all(|t| t.is_some()),
        "each announcement seen leaving"
    );
    let (c, r): (i32, Scan) = arp(&lab, &["scan", "--rate", "1000", "198.18.0.0/28"]);
    assert_eq!(c, 1, "the conflict address makes the scan a finding");
    assert_eq!(r.scanned, 13, "14 hosts of a /28 minus our own address");
    let ips: Vec<&str> = r.hosts.iter().map(|h| h.ip.as_str()).collect();
    assert_eq!(ips, ["198.18.0.2", "198.18.0.3", "198.18.0.10"]);
    assert!(
        r.hosts
            .iter()
            .all(|h| h.locally_administered && !h.multicast && h.rtt_us.is_some())
    );
    assert_eq!(r.hosts[2].other_macs.len(), 1);
}

#[test]
fn table_matches_ip_neigh_and_off_link() {
    if skip_unless_root("table_matches_ip_neigh_and_off_link") {
        return;
    }
    let lab = Lab::netns("h");
    // Let the kernel resolve 198.18.0.2 itself.
    let o = lab.client(&[
        "tcp",
        "handshake",
        "-c",
        "1",
        &format!("198.18.0.2:{}", lab.port("open")),
    ]);
    assert_eq!(code(&o), 0);
    let (c, t): (i32, Table) = arp(&lab, &["table"]);
    assert_eq!(c, 0);
    let ns = format!("{}-c", lab.prefix.as_deref().unwrap());
    let o = std::process::Command::new("ip")
        .args(["netns", "exec", &ns, "ip", "-j", "neigh"])
        .output()
        .unwrap();
    let theirs: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    for n in &theirs {
        let ip = n["dst"].as_str().unwrap();
        let ours = t
            .entries
            .iter()
            .find(|e| e.ip == ip)
            .unwrap_or_else(|| panic!("{ip} missing"));
        assert_eq!(ours.mac.as_deref(), n["lladdr"].as_str(), "{ip}");
        assert_eq!(ours.interface, n["dev"].as_str().unwrap());
        assert!(
            n["state"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s.as_str() == Some(ours.state.as_str())),
            "{ip}: {}",
            ours.state
        );
    }
    assert_eq!(t.entries.len(), theirs.len());
    // --all equals `ip neigh show nud all` (multicast NOARP mappings included). IPv6 entries
    // can appear at any moment, so `ip` is read just before and just after netlab.
    let ip_all = || -> std::collections::BTreeSet<String> {
        let o = std::process::Command::new("ip")
            .args([
                "netns", "exec", &ns, "ip", "-j", "neigh", "show", "nud", "all",
            ])
            .output()
            .unwrap();
        let all: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
        all.iter()
            .map(|n| n["dst"].as_str().unwrap().to_string())
            .collect()
    };
    let before = ip_all();
    let (_, t_all): (i32, Table) = arp(&lab, &["table", "--all"]);
    let after = ip_all();
    let ours: std::collections::BTreeSet<String> =
        t_all.entries.iter().map(|e| e.ip.clone()).collect();
    assert!(
        before.intersection(&after).all(|d| ours.contains(d)),
        "{before:?} {ours:?} {after:?}"
    );
    assert!(
        ours.iter().all(|d| before.contains(d) || after.contains(d)),
        "{before:?} {ours:?} {after:?}"
    );
    assert!(
        t.entries
            .iter()
            .any(|e| e.ip == "198.18.0.2" && e.mac.as_deref() == Some(S0))
    );
    // Off-link: the kernel would ask the gateway; nothing is sent.
    let add = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "ip",
            "route",
            "add",
            "203.0.113.0/24",
            "via",
            "198.18.0.2",
        ])
        .status()
        .unwrap();
    assert!(add.success());
    let (c, r): (i32, WhoHas) = arp(&lab, &["who-has", "203.0.113.5"]);
    assert_eq!(
        (c, r.off_link_gateway.as_deref(), r.probes.len()),
        (1, Some("198.18.0.2"), 0)
    );
}

#[test]
fn arp_bad_input_and_privilege() {
    for args in [
        &["arp", "who-has", "198.18.0.300"][..],
        &["arp", "who-has", "2001:2::2"][..],
        &["arp", "scan", "198.18.0.0/40"][..],
        &["arp", "scan", "198.18.0.0"][..],
    ] {
        let o = netlab(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1);
    }
    if skip_unless_root("arp_bad_input_and_privilege (namespace part)") {
        return;
    }
    let lab = Lab::netns("i");
    for (args, want) in [
        (&["arp", "scan", "198.18.0.0/16"][..], "--force"),
        (
            &["arp", "who-has", "-I", "nope0", "198.18.0.2"][..],
            "unknown interface",
        ),
        (
            &["arp", "who-has", "-I", "lo", "198.18.0.2"][..],
            "no Ethernet address",
        ),
    ] {
        let o = lab.client(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    let mid = format!("{}-m", lab.prefix.as_deref().unwrap());
    let o = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &mid,
            BIN,
            "arp",
            "who-has",
            "-I",
            "m0",
            "198.18.0.2",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no IPv4 address"), "{}", stderr(&o));
    let o = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            BIN,
            "arp",
            "who-has",
            "198.18.0.2",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 77);
    assert!(stderr(&o).contains("needs CAP_NET_RAW"));
}

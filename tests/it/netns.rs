//! Namespace lab (root): client ─ delay bridge ─ server, open / closed / filtered (nft drop) /
//! unreachable (nft reject) ports over IPv4 and IPv6, in connect and --syn mode.

use crate::contract::{HandshakeReport, parse};
use crate::util::*;

fn probe(lab: &Lab, args: &[&str]) -> (i32, HandshakeReport) {
    let mut v = vec![
        "--json",
        "--timeout",
        "400ms",
        "tcp",
        "handshake",
        "-i",
        "20ms",
    ];
    v.extend_from_slice(args);
    let o = lab.client(&v);
    (code(&o), parse(&stdout(&o)))
}

fn outcomes(lab: &Lab, host: &str, mode: &[&str]) {
    let fmt = |p: u16| {
        if host.contains(':') {
            format!("[{host}]:{p}")
        } else {
            format!("{host}:{p}")
        }
    };
    for (name, expect, exit) in [
        ("open", "open", 0),
        ("closed", "closed", 1),
        ("filtered", "filtered", 1),
        ("unreachable", "unreachable", 1),
    ] {
        let t = fmt(lab.port(name));
        let mut args = mode.to_vec();
        args.extend_from_slice(&["-c", "2", &t]);
        let (c, r) = probe(lab, &args);
        assert_eq!(c, exit, "{host} {name} {mode:?}");
        assert_eq!(r.interface.as_deref(), Some("c0"));
        for p in &r.probes {
            assert_eq!(p.outcome, expect, "{host} {name} {mode:?}: {p:?}");
            assert_eq!(p.timing_source, "af_packet");
            match expect {
                "open" => {
                    let sa = p.synack.as_ref().unwrap();
                    assert_eq!(
                        (sa.ttl, sa.hops, sa.ack_ok),
                        (Some(64), Some(0), Some(true)),
                        "L2 bridge: no hop"
                    );
                    assert_eq!(sa.mss, Some(if host.contains(':') { 1440 } else { 1460 }));
                }
                "closed" => assert!(p.rst.is_some()),
                "filtered" => assert!(
                    p.rtt_us.is_none() && p.reply_ts_ns.is_none() && p.syn.is_some(),
                    "{p:?}"
                ),
                _ => {
                    let i = p.icmp.as_ref().expect("icmp decoded");
                    let (t, code) = if host.contains(':') { (1, 1) } else { (3, 13) };
                    assert_eq!((i.icmp_type, i.code), (Some(t), Some(code)), "{i:?}");
                    assert_eq!(i.description, "administratively prohibited");
                    assert!(
                        i.source
                            .as_deref()
                            .unwrap()
                            .starts_with(if host.contains(':') {
                                "2001:2::2"
                            } else {
                                "198.18.0.2"
                            })
                    );
                }
            }
        }
        if expect == "filtered" {
            assert_eq!(r.summary.loss_pct, 100.0);
        }
    }
}

#[test]
fn ipv4_outcomes_connect_and_syn() {
    if skip_unless_root("ipv4_outcomes_connect_and_syn") {
        return;
    }
    let lab = Lab::netns("a");
    // First probe of a fresh namespace: the ARP exchange is reported apart from the RTT.
    let (c, r) = probe(
        &lab,
        &["-4", "-c", "2", &format!("198.18.0.2:{}", lab.port("open"))],
    );
    assert_eq!(c, 0);
    assert!(
        r.probes[0].neighbour_us.is_some(),
        "cold ARP cache: {:?}",
        r.probes[0]
    );
    assert!(r.probes[1].neighbour_us.is_none());
    outcomes(&lab, "198.18.0.2", &[]);
    outcomes(&lab, "198.18.0.2", &["--syn"]);
}

#[test]
fn ipv6_outcomes_connect_and_syn() {
    if skip_unless_root("ipv6_outcomes_connect_and_syn") {
        return;
    }
    let lab = Lab::netns("b");
    outcomes(&lab, "2001:2::2", &[]);
    outcomes(&lab, "2001:2::2", &["--syn"]);
}

#[test]
fn lab_removes_its_namespaces() {
    if skip_unless_root("lab_removes_its_namespaces") {
        return;
    }
    let mut lab = Lab::netns("c");
    let p = lab.prefix.clone().unwrap();
    let exists = |s: &str| std::path::Path::new(&format!("/run/netns/{p}-{s}")).exists();
    assert!(exists("c") && exists("m") && exists("s"));
    assert_eq!(lab.stop(), 0);
    assert!(
        !exists("c") && !exists("m") && !exists("s"),
        "namespaces left behind"
    );
    // A lab killed with SIGKILL leaves them; the next one with the same prefix starts clean.
    let mut again = Lab::netns("c");
    let _ = again.child.kill();
    let _ = again.child.wait();
    assert!(exists("c"));
    let mut third = Lab::netns("c");
    assert_eq!(third.stop(), 0);
    assert!(!exists("c") && !exists("m") && !exists("s"));
}

#[test]
fn interface_and_source_options() {
    if skip_unless_root("interface_and_source_options") {
        return;
    }
    let lab = Lab::netns("d");
    let t = format!("198.18.0.2:{}", lab.port("open"));
    let (c, r) = probe(&lab, &["-c", "1", "-I", "c0", "--source", "198.18.0.1", &t]);
    assert_eq!(c, 0);
    assert_eq!(r.interface.as_deref(), Some("c0"));
    assert!(r.probes[0].local.starts_with("198.18.0.1:"));
    let o = lab.client(&["tcp", "handshake", "-I", "eth9", &t]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unknown interface \"eth9\""),
        "{}",
        stderr(&o)
    );
    // The duplicate-MAC alias answers too: a second address on the server's macvlan.
    let (c, r) = probe(
        &lab,
        &["-c", "1", &format!("198.18.0.3:{}", lab.port("open"))],
    );
    assert_eq!((c, r.probes[0].outcome.as_str()), (0, "open"));
}

#[test]
fn unprivileged_cold_neighbour_cache_is_warmed_first() {
    if skip_unless_root("unprivileged_cold_neighbour_cache_is_warmed_first") {
        return;
    }
    let lab = Lab::netns("e");
    let ns = format!("{}-c", lab.prefix.as_deref().unwrap());
    let t = format!("198.18.0.2:{}", lab.port("open"));
    let o = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .args([
            BIN,
            "--json",
            "tcp",
            "handshake",
            "-c",
            "2",
            "-i",
            "20ms",
            &t,
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: HandshakeReport = parse(&stdout(&o));
    assert_eq!(r.timing_source, "tcp_info");
    let warm: Vec<&String> = r
        .notes
        .iter()
        .filter(|n| n.contains("warm-up SYN"))
        .collect();
    assert_eq!(
        warm.len(),
        1,
        "only the first probe found the cache cold: {:?}",
        r.notes
    );
    assert!(warm[0].starts_with("probe 1:"));
}

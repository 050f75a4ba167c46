//! `netlab tcp handshake` through the real binary on loopback: outcomes, exit codes, bad
//! input, the unprivileged fallback, --pcap, broken pipes, Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::contract::{HandshakeReport, parse};
use crate::util::*;

fn handshake(args: &[&str]) -> (i32, HandshakeReport) {
    let mut v = vec!["--json", "tcp", "handshake"];
    v.extend_from_slice(args);
    let o = netlab(&v);
    (code(&o), parse(&stdout(&o)))
}

#[test]
fn open_port_exit_0_with_decoded_synack() {
    let lab = Lab::loopback();
    let t = format!("127.0.0.1:{}", lab.port("open"));
    let (c, r) = handshake(&["-c", "3", "-i", "10ms", &t]);
    assert_eq!(c, 0);
    assert_eq!(
        (r.summary.sent, r.summary.open, r.summary.loss_pct),
        (3, 3, 0.0)
    );
    assert_eq!(r.interface.as_deref(), Some("lo"));
    for p in &r.probes {
        assert_eq!(p.outcome, "open");
        assert!(p.rtt_us.is_some_and(|v| v > 0.0));
        assert!(p.connect_us.is_some());
        let sa = p.synack.as_ref().expect("synack");
        assert!(sa.wscale.is_some() && sa.sack_perm == Some(true));
        if is_root() {
            assert_eq!(p.timing_source, "af_packet");
            assert_eq!(sa.ack_ok, Some(true), "ack == our ISN + 1");
            assert_eq!(
                (sa.ttl, sa.initial_ttl, sa.hops),
                (Some(64), Some(64), Some(0))
            );
            assert_eq!(sa.mss, Some(65495), "lo MTU 65536 − 40");
            let syn = p.syn.as_ref().expect("our SYN seen on the wire");
            assert_eq!(sa.ack, Some(syn.isn.wrapping_add(1)));
            assert!(p.reply_ts_ns.unwrap() > p.syn_ts_ns.unwrap());
        } else {
            assert_eq!(p.timing_source, "tcp_info");
        }
    }
    let rt = &r.summary.rtt_us;
    assert!(rt.min.unwrap() <= rt.p50.unwrap() && rt.p50.unwrap() <= rt.max.unwrap());
}

#[test]
fn closed_port_exit_1() {
    let lab = Lab::loopback();
    let t = format!("127.0.0.1:{}", lab.port("closed"));
    let (c, r) = handshake(&["-c", "2", "-i", "10ms", &t]);
    assert_eq!(c, 1, "a closed port is a finding: exit 1");
    assert_eq!(
        (r.summary.closed, r.summary.open, r.summary.loss_pct),
        (2, 0, 0.0)
    );
    for p in &r.probes {
        assert_eq!(p.outcome, "closed");
        assert!(p.synack.is_none());
        if is_root() {
            assert_eq!(
                p.rst.as_ref().expect("rst decoded").ack,
                p.syn.as_ref().unwrap().isn.wrapping_add(1)
            );
        }
    }
}

#[test]
fn syn_mode_open_and_closed() {
    if skip_unless_root("syn_mode_open_and_closed") {
        return;
    }
    let lab = Lab::loopback();
    let (c, r) = handshake(&[
        "--syn",
        "-c",
        "2",
        "-i",
        "10ms",
        &format!("127.0.0.1:{}", lab.port("open")),
    ]);
    assert_eq!(c, 0);
    assert_eq!(r.mode, "syn");
    let ports: Vec<&str> = r.probes.iter().map(|p| p.local.as_str()).collect();
    assert_ne!(ports[0], ports[1], "a new source port per probe");
    for p in &r.probes {
        assert_eq!(p.outcome, "open");
        assert_eq!(p.synack.as_ref().unwrap().ack_ok, Some(true));
        assert!(p.connect_us.is_none());
    }
    let (c, r) = handshake(&[
        "--syn",
        "-c",
        "1",
        &format!("127.0.0.1:{}", lab.port("closed")),
    ]);
    assert_eq!((c, r.probes[0].outcome.as_str()), (1, "closed"));
}

#[test]
fn teardown_shows_who_closes_first() {
    if skip_unless_root("teardown_shows_who_closes_first") {
        return;
    }
    let lab = Lab::loopback();
    let t = format!("127.0.0.1:{}", lab.port("closes_first"));
    let (_, r) = handshake(&["-c", "1", "--close", "--hold", "200ms", &t]);
    let td = r.probes[0].teardown.as_ref().expect("teardown");
    assert_eq!(
        (td.first_fin.as_str(), td.time_wait.as_str()),
        ("server", "server")
    );
    assert!(td.complete, "{td:?}");
    assert_eq!(td.segments[0].dir, "in");
    assert!(td.segments[0].flags.contains("FIN"));
    let t = format!("127.0.0.1:{}", lab.port("open"));
    let (_, r) = handshake(&["-c", "1", "--close", &t]);
    let td = r.probes[0].teardown.as_ref().expect("teardown");
    assert_eq!(
        (td.first_fin.as_str(), td.time_wait.as_str()),
        ("client", "client")
    );
    assert!(td.complete && td.segments.len() >= 3, "{td:?}");
}

#[test]
fn unprivileged_falls_back_to_tcp_info_and_says_so() {
    if skip_unless_root(
        "unprivileged_falls_back_to_tcp_info_and_says_so (drops privileges with setpriv)",
    ) {
        return;
    }
    let lab = Lab::loopback();
    let t = format!("127.0.0.1:{}", lab.port("open"));
    let drop = [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        BIN,
    ];
    let run = |extra: &[&str]| {
        Command::new("setpriv")
            .args(drop)
            .args(extra)
            .output()
            .expect("setpriv")
    };
    let o = run(&["--json", "tcp", "handshake", "-c", "1", &t]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r: HandshakeReport = parse(&stdout(&o));
    assert_eq!(r.timing_source, "tcp_info");
    assert_eq!(r.probes[0].timing_source, "tcp_info");
    assert!(r.probes[0].rtt_us.is_some());
    assert!(r.capture.is_none());
    assert!(r.notes.iter().any(|n| n.contains("CAP_NET_RAW")));
    assert_eq!(
        r.probes[0].synack.as_ref().unwrap().isn,
        None,
        "not measured → null"
    );
    for args in [
        &["tcp", "handshake", "--syn", &t][..],
        &["tcp", "handshake", "--pcap", "/tmp/x.pcap", &t][..],
    ] {
        let o = run(args);
        assert_eq!(code(&o), 77);
        let e = stderr(&o);
        assert!(
            e.contains("needs CAP_NET_RAW") && e.contains("setcap"),
            "{e}"
        );
        assert_eq!(e.trim().lines().count(), 1, "one-line error: {e}");
    }
}

#[test]
fn pcap_file_opens_and_holds_the_handshake() {
    if skip_unless_root("pcap_file_opens_and_holds_the_handshake") {
        return;
    }
    let lab = Lab::loopback();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.pcap");
    let t = format!("127.0.0.1:{}", lab.port("open"));
    let (c, r) = handshake(&[
        "-c",
        "2",
        "-i",
        "10ms",
        "--pcap",
        path.to_str().unwrap(),
        &t,
    ]);
    assert_eq!(c, 0);
    let cap = r.capture.expect("capture stats");
    assert_eq!(cap.pcap_file.as_deref(), path.to_str());
    let f = std::fs::File::open(&path).unwrap();
    let mut rd = pcap_file::pcap::PcapReader::new(f).unwrap();
    assert_eq!(
        rd.header().ts_resolution,
        pcap_file::TsResolution::NanoSecond
    );
    let mut stamps = Vec::new();
    while let Some(p) = rd.next_packet() {
        let p = p.unwrap();
        stamps.push(p.timestamp.as_nanos() as u64);
    }
    assert!(
        stamps.len() >= 6,
        "2 × (SYN, SYN-ACK, ACK) at least: {}",
        stamps.len()
    );
    for p in &r.probes {
        assert!(
            stamps.contains(&p.syn_ts_ns.unwrap()),
            "SYN in the pcap with the same timestamp"
        );
        assert!(stamps.contains(&p.reply_ts_ns.unwrap()));
    }
}

#[test]
fn bad_input_is_one_line_exit_2() {
    let cases: &[&[&str]] = &[
        &["tcp", "handshake", "127.0.0.1"],
        &["tcp", "handshake", "127.0.0.1:0"],
        &["tcp", "handshake", "127.0.0.1:65536"],
        &["tcp", "handshake", "127.0.0.1:http"],
        &["tcp", "handshake", "::1:80"],
        &["tcp", "handshake", "-I", "no-such-if0", "127.0.0.1:80"],
        &[
            "tcp",
            "handshake",
            "--source",
            "198.51.100.7",
            "127.0.0.1:80",
        ],
        &["tcp", "handshake", "-6", "127.0.0.1:80"],
        &["tcp", "handshake", "--timeout", "0", "127.0.0.1:80"],
    ];
    for args in cases {
        let o = netlab(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(e.starts_with("netlab: "), "{args:?}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{args:?}: one line: {e}");
        assert!(o.stdout.is_empty());
    }
    // clap-level usage errors exit 2 as well.
    for args in [
        &["tcp", "handshake", "-i", "soon", "127.0.0.1:80"][..],
        &["tcp", "handshake", "-c", "0", "127.0.0.1:80"][..],
        &["nonsense"][..],
    ] {
        assert_eq!(code(&netlab(args)), 2, "{args:?}");
    }
}

#[test]
fn unresolvable_host_exit_2() {
    if skip_unless_root(
        "unresolvable_host_exit_2 (runs in an empty network namespace so no DNS query leaves)",
    ) {
        return;
    }
    let o = Command::new("unshare")
        .args([
            "--net",
            BIN,
            "--timeout",
            "2s",
            "tcp",
            "handshake",
            "no-such-host.test:80",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("resolve no-such-host.test"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn localhost_resolves_from_hosts_file() {
    let lab = Lab::loopback();
    let (c, r) = handshake(&["-4", "-c", "1", &format!("localhost:{}", lab.port("open"))]);
    assert_eq!(c, 0);
    assert_eq!(r.target.address, "127.0.0.1");
    assert!(r.target.addresses.iter().all(|a| a.contains('.')));
}

#[test]
fn closed_stdout_pipe_exits_0_quietly() {
    let lab = Lab::loopback();
    let t = format!("127.0.0.1:{}", lab.port("open"));
    let mut child = Command::new(BIN)
        .args(["tcp", "handshake", "-c", "5", "-i", "50ms", &t])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut r = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    r.read_line(&mut first).unwrap();
    drop(r); // like `| head -1`
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    assert!(o.stderr.is_empty(), "quiet: {}", stderr(&o));
}

#[test]
fn interrupt_prints_the_summary() {
    let lab = Lab::loopback();
    let t = format!("127.0.0.1:{}", lab.port("open"));
    let child = Command::new(BIN)
        .args([
            "--jsonl",
            "tcp",
            "handshake",
            "-c",
            "1000",
            "-i",
            "50ms",
            &t,
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(400));
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let last = out.lines().last().unwrap();
    let s: HandshakeReport = crate::contract::parse_line(last, "summary");
    assert!(s.summary.sent >= 1 && s.summary.sent < 1000);
    assert!(s.notes.iter().any(|n| n.contains("interrupted")));
}

#[test]
fn table_output_reads_like_ping() {
    let lab = Lab::loopback();
    let t = format!("127.0.0.1:{}", lab.port("open"));
    let o = netlab(&["tcp", "handshake", "-c", "2", "-i", "10ms", &t]);
    let s = stdout(&o);
    assert!(s.contains("probe 1") && s.contains("probe 2"), "{s}");
    assert!(
        s.contains("sent") && s.contains("p99") && s.contains("their SYN-ACK"),
        "{s}"
    );
    assert!(
        !s.contains("\x1b["),
        "no colour when NO_COLOR / not a terminal"
    );
    let q = stdout(&netlab(&[
        "-q",
        "tcp",
        "handshake",
        "-c",
        "2",
        "-i",
        "10ms",
        &t,
    ]));
    assert!(
        !q.contains("probe 1   open") && q.contains("sent"),
        "-q keeps only the summary"
    );
    let c = stdout(&netlab(&[
        "--color",
        "always",
        "tcp",
        "handshake",
        "-c",
        "1",
        &t,
    ]));
    assert!(
        c.contains("\x1b[32mopen"),
        "--color always colours outcomes"
    );
}

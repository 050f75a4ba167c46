//! `netlab sockets` against the lab's socket scenarios: exact counts, attribution, diagnoses,
//! filters, an unprivileged run, --watch, and the JSON contract.
#![allow(dead_code)]

use std::process::{Command, Stdio};

use serde::Deserialize;

use crate::contract::parse;
use crate::util::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    schema_version: u32,
    command: String,
    filters: Vec<String>,
    total: u64,
    states: States,
    by_process: Vec<ByProcess>,
    by_local_port: Vec<ByPort>,
    by_peer: Vec<ByPeer>,
    unowned: Unowned,
    not_attributed: u64,
    diagnoses: Vec<Diagnosis>,
    sysctls: Sysctls,
    counters: Counters,
    privileged: bool,
    attribution: String,
    notes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct States {
    established: u64,
    syn_sent: u64,
    syn_recv: u64,
    fin_wait1: u64,
    fin_wait2: u64,
    time_wait: u64,
    close: u64,
    close_wait: u64,
    last_ack: u64,
    listen: u64,
    closing: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ByProcess {
    pid: u32,
    command: String,
    state: String,
    count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ByPort {
    port: u16,
    state: String,
    count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ByPeer {
    peer: String,
    state: String,
    count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Unowned {
    count: u64,
    by_local_port: Vec<UnownedPort>,
    by_flow: Vec<UnownedFlow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnownedPort {
    port: u16,
    state: String,
    count: u64,
    listener_pid: Option<u32>,
    listener_command: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnownedFlow {
    source: String,
    destination: String,
    state: String,
    count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Diagnosis {
    code: String,
    severity: String,
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sysctls {
    ip_local_port_range: Option<String>,
    ephemeral_ports: u64,
    tcp_tw_reuse: Option<String>,
    tcp_fin_timeout: Option<String>,
    tcp_max_tw_buckets: Option<String>,
    somaxconn: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Counters {
    listen_overflows: Option<u64>,
    listen_drops: Option<u64>,
    tcp_time_wait_overflow: Option<u64>,
    interval_s: Option<f64>,
    listen_overflows_delta: Option<u64>,
    listen_drops_delta: Option<u64>,
    tcp_time_wait_overflow_delta: Option<u64>,
}

static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);

/// A lab with the socket scenarios on fixed ports below the ephemeral range (so no other
/// test's connection can share a port number with them).
fn lab() -> (Lab, u16, u16, u16, u32) {
    // 12000..32000: below the ephemeral range; 8 ports per lab, 5 labs per test process.
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 5;
    let base = (12000 + (std::process::id() % 500) as u16 * 40 + n * 8).to_string();
    let lab = Lab::start(
        &[
            "lab",
            "--jsonl",
            "--port-base",
            &base,
            "--sockets",
            "--duration",
            "120s",
        ],
        None,
    );
    let s = &lab.ready["sockets"];
    let p = |k: &str| s[k].as_u64().unwrap() as u16;
    let (l, c, o) = (p("leak_port"), p("churn_port"), p("overflow_port"));
    let pid = lab.child.id();
    (lab, l, c, o, pid)
}

fn sockets(args: &[&str]) -> (i32, Report) {
    let mut v = vec!["--json", "sockets"];
    v.extend_from_slice(args);
    let o = netlab(&v);
    (code(&o), parse(&stdout(&o)))
}

#[test]
fn close_wait_leak_counted_attributed_and_diagnosed() {
    let (_lab, leak, _, _, pid) = lab();
    let (c, r) = sockets(&["--port", &leak.to_string()]);
    assert_eq!(c, 1, "a CLOSE_WAIT leak is a finding");
    assert_eq!(
        (
            r.states.close_wait,
            r.states.fin_wait2,
            r.states.listen,
            r.total
        ),
        (20, 20, 1, 41)
    );
    assert!(
        r.by_process.iter().any(|b| b.pid == pid
            && b.command == "netlab"
            && b.state == "CLOSE_WAIT"
            && b.count == 20),
        "{:?}",
        r.by_process
    );
    assert_eq!(r.unowned.count, 20, "the orphaned FIN_WAIT2 client sides");
    assert_eq!(
        r.unowned.by_flow[0].destination,
        format!("127.0.0.1:{leak}")
    );
    assert_eq!(r.unowned.by_flow[0].count, 20);
    let d = r
        .diagnoses
        .iter()
        .find(|d| d.code == "close_wait_leak")
        .expect("diagnosed");
    assert!(
        d.message.contains(&format!(
            "(pid {pid}) holds 20 CLOSE_WAIT sockets on local port {leak}"
        )),
        "{}",
        d.message
    );
    // Kernel-side state filter.
    let (_, r) = sockets(&["--port", &leak.to_string(), "--state", "close-wait"]);
    assert_eq!(
        (r.total, r.states.close_wait, r.states.fin_wait2),
        (20, 20, 0)
    );
    let (_, r) = sockets(&["--port", &leak.to_string(), "--pid", &pid.to_string()]);
    assert_eq!(r.total, 21, "the lab's CLOSE_WAIT sockets and its listener");
    let (_, r) = sockets(&["--port", &leak.to_string(), "-6"]);
    assert_eq!(r.total, 0);
}

/// The owners found by the eBPF fd walk equal those found through /proc/PID/fd.
#[test]
fn ebpf_fd_walk_and_procfs_agree() {
    if skip_unless_root("ebpf_fd_walk_and_procfs_agree") {
        return;
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIP ebpf_fd_walk_and_procfs_agree: this kernel has no BTF (/sys/kernel/btf/vmlinux)"
        );
        return;
    }
    let (_lab, leak, _, _, pid) = lab();
    let port = leak.to_string();
    let (_, ebpf) = sockets(&["--port", &port]);
    assert_eq!(ebpf.attribution, "ebpf_iter", "{:?}", ebpf.notes);
    assert!(ebpf.notes.is_empty(), "{:?}", ebpf.notes);
    let o = Command::new(BIN)
        .args(["--json", "sockets", "--port", &port])
        .env("NETLAB_FDWALK", "procfs")
        .output()
        .expect("run netlab");
    let procfs: Report = parse(&stdout(&o));
    assert_eq!(procfs.attribution, "procfs");
    let rows = |r: &Report| {
        let mut v: Vec<(u32, String, String, u64)> = r
            .by_process
            .iter()
            .map(|b| (b.pid, b.command.clone(), b.state.clone(), b.count))
            .collect();
        v.sort();
        v
    };
    assert_eq!(rows(&ebpf), rows(&procfs));
    assert!(rows(&ebpf).contains(&(pid, "netlab".into(), "CLOSE_WAIT".into(), 20)));
    assert_eq!(ebpf.not_attributed, 0);
    // Nothing to attribute: no socket matches.
    let (_, none) = sockets(&["--port", "9", "--state", "listen"]);
    assert_eq!((none.total, none.attribution.as_str()), (0, "none"));
}

#[test]
fn time_wait_churn_and_accept_overflow() {
    let (_lab, _, churn, over, pid) = lab();
    let (c, r) = sockets(&["--port", &churn.to_string(), "--state", "time-wait"]);
    assert_eq!(c, 0, "{:?} {:?}", r.diagnoses, r.states);
    assert_eq!((r.total, r.states.time_wait), (30, 30), "{:?}", r.unowned);
    assert_eq!(r.unowned.count, 30);
    assert_eq!(r.unowned.by_flow.iter().map(|f| f.count).sum::<u64>(), 30);
    assert!(
        r.unowned
            .by_flow
            .iter()
            .all(|f| f.destination == format!("127.0.0.1:{churn}"))
    );
    let tw = r
        .diagnoses
        .iter()
        .find(|d| d.code == "time_wait_ports")
        .expect("TIME_WAIT share");
    assert!(
        tw.message
            .contains(&format!("30 TIME_WAIT sockets to 127.0.0.1:{churn}")),
        "{}",
        tw.message
    );
    assert!(r.sysctls.ephemeral_ports > 0);
    let (c, r) = sockets(&["--port", &over.to_string()]);
    assert_eq!(c, 1);
    assert_eq!(
        (r.states.listen, r.states.syn_sent, r.states.established),
        (1, 3, 6),
        "backlog 2 holds 3; 3 wait in SYN_SENT"
    );
    let d = r
        .diagnoses
        .iter()
        .find(|d| d.code == "accept_queue_full")
        .expect("accept queue");
    assert!(
        d.message.contains("3/2") && d.message.contains(&format!("pid {pid}")),
        "{}",
        d.message
    );
    assert!(r.counters.listen_overflows.unwrap_or(0) > 0);
    let (_, r) = sockets(&["--port", &over.to_string(), "--interval", "100ms"]);
    assert_eq!(r.counters.interval_s, Some(0.1));
    assert!(r.counters.listen_overflows_delta.is_some());
}

#[test]
fn unprivileged_counts_but_does_not_attribute() {
    if skip_unless_root(
        "unprivileged_counts_but_does_not_attribute (drops privileges with setpriv)",
    ) {
        return;
    }
    let (_lab, leak, _, _, _) = lab();
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            BIN,
            "--json",
            "sockets",
            "--port",
            &leak.to_string(),
        ])
        .output()
        .unwrap();
    let r: Report = parse(&stdout(&o));
    assert_eq!(
        (r.states.close_wait, r.total),
        (20, 41),
        "counted all the same"
    );
    assert!(!r.privileged);
    assert_eq!(r.not_attributed, 21);
    assert!(r.by_process.is_empty());
    assert!(r.notes.iter().any(|n| n.contains("not attributed")));
}

#[test]
fn watch_streams_and_bad_state() {
    let (_lab, leak, _, _, _) = lab();
    let mut child = Command::new(BIN)
        .args([
            "--jsonl",
            "sockets",
            "--port",
            &leak.to_string(),
            "--watch",
            "0.1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Read three refreshes as they come (however loaded the machine is), then Ctrl-C.
    let mut rd = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut got = Vec::new();
    while got.len() < 3 {
        let mut l = String::new();
        if std::io::BufRead::read_line(&mut rd, &mut l).unwrap() == 0 {
            break;
        }
        got.push(l);
    }
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let st = child.wait().unwrap();
    assert_eq!(
        st.code(),
        Some(1),
        "the leak is a finding; Ctrl-C ends the watch cleanly"
    );
    assert_eq!(got.len(), 3);
    for l in &got {
        let r: Report = crate::contract::parse_line(l, "summary");
        assert_eq!(r.states.close_wait, 20);
    }
    // UDP: a bound socket of our own shows up unconnected (CLOSE), owned by this test.
    let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = u.local_addr().unwrap().port().to_string();
    let (_, r) = sockets(&["--udp", "--port", &port]);
    assert_eq!((r.total, r.states.close), (1, 1));
    assert!(r.filters.contains(&"UDP".to_string()));
    assert_eq!(r.by_process[0].pid, std::process::id());
    let o = netlab(&["sockets", "--state", "bogus"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("unknown state"));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnixReport {
    schema_version: u32,
    command: String,
    family: String,
    filters: Vec<String>,
    total: u64,
    states: UnixStates,
    by_type: Vec<UnixByType>,
    by_process: Vec<ByProcess>,
    by_path: Vec<UnixByPath>,
    listeners: Vec<UnixListener>,
    peer_closed: Vec<UnixPeerClosed>,
    not_attributed: u64,
    diagnoses: Vec<Diagnosis>,
    privileged: bool,
    attribution: String,
    notes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnixStates {
    established: u64,
    listen: u64,
    unconnected: u64,
    connecting: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnixByType {
    #[serde(rename = "type")]
    kind: String,
    state: String,
    count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnixByPath {
    path: String,
    state: String,
    count: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnixListener {
    path: String,
    #[serde(rename = "type")]
    kind: String,
    queue: u32,
    backlog: u32,
    pid: Option<u32>,
    command: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnixPeerClosed {
    pid: Option<u32>,
    command: Option<String>,
    path: Option<String>,
    count: u64,
}

/// `--unix` on a listener of this test's own: 6 accepted connections whose clients have closed
/// (peer-closed, held), a full accept queue (backlog 2, two waiting), an unconnected datagram
/// socket; counts equal `ss -xa` for the same path.
#[test]
fn unix_peer_closed_and_full_queue() {
    use std::os::unix::net::{UnixDatagram, UnixListener as L, UnixStream};
    let dir = std::env::temp_dir().join(format!("netlab-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let p = path.to_str().unwrap().to_string();
    // std listens with a backlog of 128: a second listen() on the same fd lowers it to 2.
    let l = L::bind(&path).unwrap();
    nix::sys::socket::listen(&l, nix::sys::socket::Backlog::new(2).unwrap()).unwrap();
    let mut accepted = Vec::new();
    for _ in 0..6 {
        let c = UnixStream::connect(&path).unwrap();
        accepted.push(l.accept().unwrap().0);
        drop(c);
    }
    let waiting: Vec<UnixStream> = (0..2)
        .map(|_| UnixStream::connect(&path).unwrap())
        .collect();
    let dg = UnixDatagram::bind(dir.join("dg.sock")).unwrap();
    let me = std::process::id().to_string();
    let (c, r): (i32, UnixReport) = {
        let o = netlab(&["--json", "sockets", "--unix", "--pid", &me]);
        (code(&o), parse(&stdout(&o)))
    };
    assert_eq!(c, 1, "peer-closed sockets and a full queue are findings");
    assert_eq!((r.command.as_str(), r.family.as_str()), ("sockets", "unix"));
    assert_eq!(r.schema_version, 1);
    // Ours: listener, 6 accepted, 2 waiting clients, the datagram socket.
    assert_eq!(r.states.listen, 1);
    assert_eq!(r.states.established, 8);
    assert_eq!(r.states.unconnected, 1);
    assert_eq!(r.total, 10);
    let lst = r
        .listeners
        .iter()
        .find(|x| x.path == p)
        .expect("our listener");
    assert_eq!((lst.queue, lst.backlog), (2, 2));
    assert_eq!(lst.pid, Some(std::process::id()));
    assert_eq!(lst.kind, "stream");
    let pc = r
        .peer_closed
        .iter()
        .find(|x| x.path.as_deref() == Some(p.as_str()))
        .expect("peer-closed on our path");
    assert_eq!(pc.count, 6);
    assert_eq!(pc.pid, Some(std::process::id()));
    let codes: Vec<&str> = r.diagnoses.iter().map(|d| d.code.as_str()).collect();
    assert!(codes.contains(&"unix_peer_closed"), "{codes:?}");
    assert!(codes.contains(&"unix_accept_queue_full"), "{codes:?}");
    let row = |st: &str| {
        r.by_path
            .iter()
            .find(|x| x.path == p && x.state == st)
            .map_or(0, |x| x.count)
    };
    assert_eq!(
        row("ESTABLISHED"),
        6,
        "accepted sockets carry the listener's path"
    );
    assert_eq!(row("LISTEN"), 1);
    assert!(
        r.by_type
            .iter()
            .any(|t| t.kind == "dgram" && t.state == "UNCONNECTED")
    );
    // The same path as ss sees it (the whole host, not only our pid: the two sockets waiting
    // in the accept queue carry the path too but belong to no process yet).
    let whole: UnixReport = parse(&stdout(&netlab(&["--json", "sockets", "--unix"])));
    let ours = |st: &str| {
        whole
            .by_path
            .iter()
            .find(|x| x.path == p && x.state == st)
            .map_or(0, |x| x.count)
    };
    let o = Command::new("ss")
        .args(["-xaH", "src", &p])
        .output()
        .expect("ss (iproute2) is needed: `make deps` installs it");
    let text = String::from_utf8_lossy(&o.stdout);
    let n = |st: &str| {
        text.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(st))
            .count() as u64
    };
    assert_eq!(ours("ESTABLISHED"), n("ESTAB"), "ss:\n{text}");
    assert_eq!(ours("LISTEN"), n("LISTEN"), "ss:\n{text}");
    // State filter, and a bad one.
    let (_, r): (i32, UnixReport) = {
        let o = netlab(&[
            "--json", "sockets", "--unix", "--state", "listen", "--pid", &me,
        ]);
        (code(&o), parse(&stdout(&o)))
    };
    assert_eq!((r.total, r.states.listen), (1, 1));
    let o = netlab(&["sockets", "--unix", "--state", "time-wait"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("unknown Unix socket state"));
    let o = netlab(&["sockets", "--unix", "--udp"]);
    assert_eq!(code(&o), 2);
    drop((accepted, waiting, dg, l));
    let _ = std::fs::remove_dir_all(&dir);
}

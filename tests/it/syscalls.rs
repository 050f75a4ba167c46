//! `netlab syscalls` on the lab's I/O servers (a thread-per-connection blocking server and an
//! epoll server): spawn mode sees every thread's calls with decoded addresses; attach mode
//! detaches cleanly on --duration and Ctrl-C; snapshot shows the blocked accept and the epoll
//! wait; a killed tracer leaves nothing stopped; bad input gets one line and exit 2.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::util::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fd {
    fd: i32,
    kind: String,
    local: Option<String>,
    remote: Option<String>,
    state: Option<String>,
    accept_queue: Option<u32>,
    backlog: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Call {
    /// "syscall" in --jsonl; absent inside the --json report's calls[].
    #[serde(rename = "type", default)]
    kind: String,
    ts: f64,
    pid: i32,
    tid: i32,
    syscall: String,
    args: Vec<serde_json::Value>,
    fd: Option<Fd>,
    ret: Option<i64>,
    ret_fd: Option<Fd>,
    errno: Option<String>,
    dur_us: Option<u64>,
    text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerCall {
    syscall: String,
    calls: u64,
    errors: u64,
    time_us: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PerPeer {
    peer: String,
    calls: u64,
    errors: u64,
    bytes: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Summary {
    #[serde(rename = "type", default)]
    kind: String,
    schema_version: u32,
    command: String,
    mode: String,
    target: String,
    calls_total: u64,
    by_syscall: Vec<PerCall>,
    by_peer: Vec<PerPeer>,
    threads: usize,
    processes: usize,
    ended: String,
    detached: bool,
    exit_status: Option<i32>,
    calls: Vec<Call>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Thread {
    tid: i32,
    comm: String,
    state: String,
    syscall: Option<String>,
    nr: Option<u64>,
    args: Vec<String>,
    wchan: Option<String>,
    fd: Option<Fd>,
    epoll_fds: Option<u32>,
    poll_fds: Option<u64>,
    summary: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Snapshot {
    schema_version: u32,
    command: String,
    mode: String,
    pid: i32,
    comm: String,
    threads: Vec<Thread>,
    took_us: u64,
}

/// `netlab ARGS -- netlab --jsonl lab --io-servers ...`: the tracer, its output as it comes
/// (a full pipe would hold the traced threads stopped), and the lab's ready line.
#[allow(clippy::type_complexity)]
fn traced_lab(
    tracer_args: &[&str],
    duration: &str,
) -> (
    Child,
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<()>,
    serde_json::Value,
    String,
) {
    let mut args: Vec<&str> = tracer_args.to_vec();
    args.extend([
        "--",
        BIN,
        "--jsonl",
        "lab",
        "--port-base",
        "0",
        "--io-servers",
        "--io-port-base",
        "0",
        "--duration",
        duration,
    ]);
    let mut child = Command::new(BIN)
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = String::new();
    let ready = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no ready line: {seen}"));
        seen.push_str(&line);
        seen.push('\n');
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["type"] == "ready" {
            break v;
        }
    };
    (child, rx, reader, ready, seen)
}

/// Echo "hello N" through a server and check the answer.
fn echo(port: u16, n: usize) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = s.local_addr().unwrap().to_string();
    let msg = format!("hello {n}\n");
    s.write_all(msg.as_bytes()).unwrap();
    let mut got = vec![0u8; msg.len()];
    s.read_exact(&mut got).expect("echo");
    assert_eq!(got, msg.as_bytes());
    local
}

fn state_of(pid: i32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .map(|s| s.trim().to_string())
}

/// Detached and running: no thread of `pid` has a tracer or is stopped (t/T). Its momentary
/// state may be S or R (it may be serving a client right then).
fn assert_detached(pid: i32) {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("process alive");
    for t in tasks.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        assert_eq!(
            field("TracerPid:"),
            "0",
            "thread {:?} still traced",
            t.file_name()
        );
        let state = field("State:");
        assert!(
            !state.starts_with('t') && !state.starts_with('T') && !state.starts_with('Z'),
            "thread {:?} left {state}",
            t.file_name()
        );
    }
}

/// A tracer whose output goes to a file (a pipe nobody reads would fill up and hold the
/// traced threads stopped while netlab waits to write).
fn tracer(args: &[&str], tag: &str) -> (Child, std::path::PathBuf) {
    let path =
        std::env::temp_dir().join(format!("netlab-syscalls-{}-{tag}.out", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    let child = Command::new(BIN)
        .args(args)
        .stdout(f)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, path)
}

fn finish(child: Child, path: &std::path::Path) -> (i32, String, String) {
    let o = child.wait_with_output().unwrap();
    let out = std::fs::read_to_string(path).unwrap_or_default();
    let _ = std::fs::remove_file(path);
    (
        o.status.code().unwrap_or(-1),
        out,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The lab with its I/O servers, untraced: (lab, blocking port, epoll port, pid).
fn io_lab() -> (Lab, u16, u16, i32) {
    let lab = Lab::io();
    let io = &lab.ready["io"];
    let b = io["blocking_port"].as_u64().unwrap() as u16;
    let e = io["epoll_port"].as_u64().unwrap() as u16;
    let pid = io["pid"].as_u64().unwrap() as i32;
    (lab, b, e, pid)
}

fn parse_stream(out: &str) -> (Vec<Call>, Option<Summary>, Vec<serde_json::Value>) {
    let mut calls = Vec::new();
    let mut summary = None;
    let mut other = Vec::new();
    for line in out.lines() {
        let v: serde_json::Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(_) => continue,
        };
        match v["type"].as_str() {
            Some("syscall") => calls.push(serde_json::from_value(v).expect("syscall contract")),
            Some("summary") if v["command"] == "syscalls" => {
                summary = Some(serde_json::from_value(v).expect("summary contract"))
            }
            _ => other.push(v),
        }
    }
    (calls, summary, other)
}

#[test]
fn spawn_sees_every_thread_with_decoded_addresses() {
    if skip_unless_root("syscalls::spawn_sees_every_thread_with_decoded_addresses") {
        return;
    }
    // The lab itself runs under trace; its ready line comes out on the same stdout.
    let (mut child, rx, reader, ready, mut seen) =
        traced_lab(&["--jsonl", "syscalls", "-e", "socket,send,poll,io"], "3s");
    let bport = ready["io"]["blocking_port"].as_u64().unwrap() as u16;
    let eport = ready["io"]["epoll_port"].as_u64().unwrap() as u16;
    let pid = ready["io"]["pid"].as_u64().unwrap() as i32;
    let b1 = echo(bport, 1);
    let b2 = echo(bport, 2);
    let e1 = echo(eport, 3);
    let st = child.wait().unwrap();
    reader.join().unwrap();
    for line in rx.try_iter() {
        seen.push_str(&line);
        seen.push('\n');
    }
    assert_eq!(st.code(), Some(0), "{}", seen);
    let (calls, summary, _) = parse_stream(&seen);
    let s = summary.expect("summary");
    assert_eq!((s.mode.as_str(), s.ended.as_str()), ("spawn", "exited"));
    assert_eq!(s.exit_status, Some(0));
    assert_eq!(s.calls_total as usize, calls.len());
    assert!(s.threads >= 4, "{s:?}");
    // listen on both ports (the ports chosen by the kernel: bind asked for port 0), the
    // bind before it decoded.
    for port in [bport, eport] {
        let local = format!("127.0.0.1:{port}");
        let listen = calls
            .iter()
            .find(|c| {
                c.syscall == "listen"
                    && c.fd.as_ref().and_then(|f| f.local.as_deref()) == Some(local.as_str())
            })
            .unwrap_or_else(|| panic!("no listen on {local}"));
        let f = listen.fd.as_ref().unwrap();
        assert_eq!(f.state.as_deref(), Some("LISTEN"));
        assert_eq!((f.kind.as_str(), listen.ret), ("tcp", Some(0)));
        let bind = calls
            .iter()
            .rev()
            .filter(|c| c.ts <= listen.ts)
            .find(|c| c.syscall == "bind" && c.pid == listen.pid && c.args[0] == listen.args[0])
            .expect("bind before listen");
        assert_eq!(bind.args[1]["family"], "AF_INET");
        assert_eq!(bind.args[1]["addr"], "127.0.0.1");
        assert_eq!(bind.ret, Some(0));
    }
    // Each client's connection was accepted, the peer decoded, in a thread of the lab.
    for (port, client) in [(bport, &b1), (bport, &b2), (eport, &e1)] {
        let acc = calls
            .iter()
            .find(|c| {
                c.syscall.starts_with("accept")
                    && c.ret.is_some_and(|r| r >= 0)
                    && c.ret_fd.as_ref().and_then(|f| f.remote.as_deref()) == Some(client)
            })
            .unwrap_or_else(|| panic!("no accept of {client}"));
        assert_eq!(acc.pid, pid);
        let addr = &acc.args[1];
        assert_eq!(
            format!("{}:{}", addr["addr"].as_str().unwrap(), addr["port"]),
            *client
        );
        let l = acc.fd.as_ref().expect("listener annotated");
        assert_eq!(
            l.local.as_deref(),
            Some(format!("127.0.0.1:{port}").as_str())
        );
        // What the client sent, read by the server on that connection.
        let conn = acc.ret.unwrap();
        assert!(
            calls
                .iter()
                .any(|c| matches!(c.syscall.as_str(), "read" | "recvfrom")
                    && c.args[0] == conn
                    && c.fd.as_ref().and_then(|f| f.remote.as_deref()) == Some(client)
                    && c.text.contains("hello")),
            "no read of {client}"
        );
    }
    // The blocking server answers from per-connection threads; the epoll server waits.
    let tids: std::collections::HashSet<i32> = calls
        .iter()
        .filter(|c| c.pid == pid && c.text.contains("hello"))
        .map(|c| c.tid)
        .collect();
    assert!(tids.len() >= 3, "{tids:?}");
    assert!(
        calls
            .iter()
            .any(|c| c.syscall.starts_with("epoll_") && c.syscall != "epoll_ctl")
    );
    assert!(
        calls
            .iter()
            .any(|c| c.syscall == "epoll_ctl" && c.text.contains("EPOLL_CTL_ADD"))
    );
}

#[test]
fn attach_detaches_and_snapshot_shows_the_blocked_calls() {
    if skip_unless_root("syscalls::attach_detaches_and_snapshot_shows_the_blocked_calls") {
        return;
    }
    let (_lab, bport, eport, pid) = io_lab();
    // Snapshot first: nothing traced.
    let o = netlab(&["--json", "syscalls", "-p", &pid.to_string(), "--snapshot"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let snap: Snapshot = serde_json::from_str(&stdout(&o)).expect("snapshot contract");
    let acc = snap
        .threads
        .iter()
        .find(|t| t.comm == "blocking-accept")
        .expect("blocking-accept thread");
    assert!(
        matches!(acc.syscall.as_deref(), Some("accept" | "accept4")),
        "{acc:?}"
    );
    let f = acc.fd.as_ref().expect("listener resolved");
    assert_eq!(
        f.local.as_deref(),
        Some(format!("127.0.0.1:{bport}").as_str())
    );
    assert_eq!(f.state.as_deref(), Some("LISTEN"));
    assert!(acc.summary.contains("blocked in accept"), "{}", acc.summary);
    let ep = snap
        .threads
        .iter()
        .find(|t| t.comm == "epoll-loop")
        .expect("epoll-loop thread");
    assert!(
        ep.syscall.as_deref().unwrap_or("").starts_with("epoll_"),
        "{ep:?}"
    );
    assert!(ep.epoll_fds.unwrap_or(0) >= 1, "{ep:?}");

    // Attach for a while, with traffic; it ends by itself and detaches.
    let pid_s = pid.to_string();
    let (t, path) = tracer(
        &["--jsonl", "syscalls", "-p", &pid_s, "--duration", "2s"],
        "a",
    );
    std::thread::sleep(Duration::from_millis(500));
    let client = echo(bport, 7);
    let (rc, out, err) = finish(t, &path);
    assert_eq!(rc, 0, "{err}");
    let (calls, summary, _) = parse_stream(&out);
    let s = summary.expect("summary");
    assert_eq!(
        (s.mode.as_str(), s.ended.as_str(), s.detached),
        ("attach", "duration", true)
    );
    assert!(
        calls.iter().any(|c| c.syscall.starts_with("accept")
            && c.ret_fd.as_ref().and_then(|f| f.remote.as_deref()) == Some(client.as_str())),
        "{:?}",
        calls.iter().map(|c| &c.text).collect::<Vec<_>>()
    );
    assert_detached(pid);
    echo(bport, 8);
    echo(eport, 9);

    // Ctrl-C (SIGINT) detaches too.
    let (t, path) = tracer(&["--jsonl", "syscalls", "-p", &pid_s], "i");
    std::thread::sleep(Duration::from_millis(500));
    echo(eport, 10);
    let _ = Command::new("kill")
        .args(["-INT", &t.id().to_string()])
        .status();
    let (rc, out, err) = finish(t, &path);
    assert_eq!(rc, 0, "{err}");
    let (_, summary, _) = parse_stream(&out);
    let s = summary.expect("summary");
    assert_eq!((s.ended.as_str(), s.detached), ("interrupted", true));
    assert_detached(pid);
    echo(bport, 11);
    echo(eport, 12);
}

/// Clients in a loop until `stop`; counts answers and failures.
fn load(
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        let (mut ok, mut bad) = (0, 0);
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            let r = std::panic::catch_unwind(|| echo(port, 0));
            if r.is_ok() { ok += 1 } else { bad += 1 }
        }
        (ok, bad)
    })
}

#[test]
fn a_killed_tracer_leaves_nothing_stopped() {
    if skip_unless_root("syscalls::a_killed_tracer_leaves_nothing_stopped") {
        return;
    }
    // Attach mode under load, then SIGKILL the tracer: the kernel detaches every thread.
    let (_lab, bport, _eport, pid) = io_lab();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let l = load(bport, stop.clone());
    let mut tracer = Command::new(BIN)
        .args(["syscalls", "-p", &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    tracer.kill().unwrap();
    tracer.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (ok, bad) = l.join().unwrap();
    assert!(ok > 0 && bad == 0, "answers {ok}, failures {bad}");
    assert_detached(pid);
    let t = Instant::now();
    echo(bport, 1);
    assert!(t.elapsed() < Duration::from_secs(1));

    // Spawn mode: the traced command must not outlive the tracer with a filter that would
    // fail its calls (ENOSYS): PTRACE_O_EXITKILL ends it with the tracer.
    let (mut tracer, _rx, _reader, ready, _) = traced_lab(&["syscalls"], "60s");
    let traced = ready["io"]["pid"].as_u64().unwrap() as i32;
    echo(ready["io"]["blocking_port"].as_u64().unwrap() as u16, 2);
    tracer.kill().unwrap();
    tracer.wait().unwrap();
    let until = Instant::now() + Duration::from_secs(1);
    // Gone (a zombie until its parent, the dead tracer's reaper, collects it) — never T.
    loop {
        match state_of(traced) {
            None => break,
            Some(s) if s.starts_with('Z') || s.starts_with('X') => break,
            Some(s) => {
                assert!(
                    !s.starts_with('T') && !s.starts_with('t') || Instant::now() < until,
                    "{s}"
                );
                assert!(Instant::now() < until, "the traced lab still runs: {s}");
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_input_one_line_exit_2() {
    let one_line = |o: &std::process::Output, want: &str| {
        assert_eq!(code(o), 2, "{want}: {}", stderr(o));
        assert!(stderr(o).contains(want), "{want}: {}", stderr(o));
        assert_eq!(stderr(o).trim().lines().count(), 1, "{}", stderr(o));
    };
    one_line(
        &netlab(&["syscalls", "-p", "999999999"]),
        "no process 999999999",
    );
    one_line(
        &netlab(&["syscalls", "-p", "999999999", "--snapshot"]),
        "no process 999999999",
    );
    one_line(
        &netlab(&["syscalls", "--", "/nonexistent/netlab-no-such-command"]),
        "command not found",
    );
    one_line(
        &netlab(&["syscalls", "-e", "nonsense", "--", "true"]),
        "nonsense",
    );
    one_line(&netlab(&["syscalls"]), "give a command");
    // A zombie: a child of ours that exited and was not reaped yet.
    let mut z = Command::new("true").spawn().unwrap();
    let zp = z.id().to_string();
    let until = Instant::now() + Duration::from_secs(5);
    while !state_of(z.id() as i32).is_some_and(|s| s.starts_with('Z')) {
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(10));
    }
    one_line(&netlab(&["syscalls", "-p", &zp]), "zombie");
    one_line(&netlab(&["syscalls", "-p", &zp, "--snapshot"]), "zombie");
    z.wait().unwrap();
    // Not permitted: an unprivileged user attaching to a root process.
    if !skip_unless_root("syscalls::bad_input_one_line_exit_2 (not permitted)") {
        let (_lab, _b, _e, pid) = io_lab();
        let o = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                BIN,
                "syscalls",
                "-p",
                &pid.to_string(),
            ])
            .output()
            .unwrap();
        one_line(&o, "not permitted");
        assert_detached(pid);
    }
}

#[test]
fn json_report_and_counts() {
    if skip_unless_root("syscalls::json_report_and_counts") {
        return;
    }
    // --json: one report with every call in it.
    let o = netlab(&[
        "--json",
        "syscalls",
        "-e",
        "socket",
        "--",
        BIN,
        "lab",
        "--port-base",
        "0",
        "--duration",
        "200ms",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    // The lab's own table output comes first on the same stdout; the report is the JSON.
    let out = stdout(&o);
    let json = &out[out.find("{\n").expect("a JSON report")..];
    let r: Summary = serde_json::from_str(json).expect("report contract");
    assert_eq!(
        (r.mode.as_str(), r.ended.as_str(), r.exit_status),
        ("spawn", "exited", Some(0))
    );
    assert_eq!(r.calls.len() as u64, r.calls_total);
    let n = |name: &str| r.calls.iter().filter(|c| c.syscall == name).count() as u64;
    assert!(n("listen") >= 3, "{:?}", r.by_syscall);
    for pc in &r.by_syscall {
        assert_eq!(pc.calls, n(&pc.syscall), "{}", pc.syscall);
        let failed = r
            .calls
            .iter()
            .filter(|c| c.syscall == pc.syscall && c.errno.is_some())
            .count();
        assert_eq!(pc.errors as usize, failed);
    }
    // Only the socket set: no send/recv/io calls.
    assert!(
        r.calls
            .iter()
            .all(|c| !c.syscall.starts_with("send") && c.syscall != "close")
    );
    // --no-results: entry only, no return values.
    let o = netlab(&[
        "--json",
        "syscalls",
        "--no-results",
        "-e",
        "listen",
        "--",
        BIN,
        "lab",
        "--port-base",
        "0",
        "--duration",
        "200ms",
    ]);
    let out = stdout(&o);
    let r: Summary = serde_json::from_str(&out[out.find("{\n").unwrap()..]).unwrap();
    assert!(r.calls.len() >= 3);
    assert!(
        r.calls
            .iter()
            .all(|c| c.syscall == "listen" && c.ret.is_none() && c.dur_us.is_none())
    );
    // -c: the counts table, no call lines.
    let o = netlab(&[
        "syscalls",
        "-c",
        "-e",
        "socket",
        "--",
        BIN,
        "lab",
        "--port-base",
        "0",
        "--duration",
        "200ms",
    ]);
    assert_eq!(code(&o), 0);
    let out = stdout(&o);
    assert!(out.contains("listen") && out.contains("calls"), "{out}");
    assert!(!out.contains("listen("), "{out}");
}

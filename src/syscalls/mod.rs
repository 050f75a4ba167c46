//! `netlab syscalls`: an strace-style view of a server's network system calls.
//! - `netlab syscalls -- CMD ARGS...`: start CMD behind a seccomp filter that stops only the
//!   selected calls (the rest run untouched), every thread and child followed.
//! - `netlab syscalls -p PID`: PTRACE_SEIZE every thread of a running process; Ctrl-C,
//!   SIGTERM or `--duration` detach them all and the process runs on untouched.
//! - `netlab syscalls -p PID --snapshot`: no tracing: what each thread is blocked in now.
//!
//! Decoding is pure ([`decode`], [`names`]); the ptrace loop is the edge ([`tracer`]).

pub mod decode;
pub mod fds;
pub mod names;
pub mod snapshot;
pub mod tracer;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::GlobalOpts;
use crate::error::{EXIT_FINDING, EXIT_OK, Error, Result};
use crate::net::parse_duration;
use crate::output::{self, Event, Format, Printer, Report, SCHEMA_VERSION, Style};
use crate::syscalls::fds::FdInfo;
use crate::syscalls::tracer::{Call, Target, TraceOptions};

/// Arguments of `netlab syscalls`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  netlab syscalls -- nginx -g 'daemon off;'\n  netlab syscalls -p 1234 --duration 10s -c\n  netlab syscalls -p 1234 --snapshot"
)]
pub struct SyscallsArgs {
    /// Attach to this running process (every thread; detached on exit).
    #[arg(short, long, value_name = "PID", conflicts_with = "command")]
    pub pid: Option<i32>,
    /// With -p: no tracing, show what each thread is blocked in right now.
    #[arg(long, requires = "pid")]
    pub snapshot: bool,
    /// Calls to show: sets network (all), socket, send, poll, io, or names
    /// (accept4,connect), comma-separated.
    #[arg(
        short = 'e',
        long = "trace",
        value_name = "SET",
        default_value = "network"
    )]
    pub trace: String,
    /// Stop only at entry: no return values or durations, less overhead.
    #[arg(long)]
    pub no_results: bool,
    /// Do not resolve descriptors to their sockets (less overhead).
    #[arg(long)]
    pub no_annotate: bool,
    /// Count instead of listing: per call count, errors and time, and per peer.
    #[arg(short = 'c', long = "summary")]
    pub summary: bool,
    /// Stop tracing after this long (attach: detach; spawn: end the command).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// The command to start under trace (after `--`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

/// One call, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct SyscallEvent {
    /// Entry time, seconds since the epoch (µs resolution).
    pub ts: f64,
    /// Process id.
    pub pid: i32,
    /// Thread id.
    pub tid: i32,
    /// Call name.
    pub syscall: &'static str,
    /// Decoded arguments, in order (numbers, strings, objects for addresses and events).
    pub args: Vec<Value>,
    /// The descriptor the call is on, resolved to its socket (like strace -yy), or null.
    pub fd: Option<FdInfo>,
    /// Return value (null with --no-results).
    pub ret: Option<i64>,
    /// The descriptor returned (socket, accept4), resolved, or null.
    pub ret_fd: Option<FdInfo>,
    /// errno name when the call failed.
    pub errno: Option<String>,
    /// Entry to exit, µs (includes tracing overhead, as strace -T does).
    pub dur_us: Option<u64>,
    /// The strace-like line.
    pub text: String,
}

fn clock(ts: f64) -> String {
    let secs = ts as i64;
    let us = ((ts - secs as f64) * 1e6) as u64;
    let day = secs.rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{us:06}",
        day / 3600,
        (day / 60) % 60,
        day % 60
    )
}

impl SyscallEvent {
    /// For -c: the counts need no text.
    fn bare(c: Call) -> SyscallEvent {
        SyscallEvent {
            ts: c.ts,
            pid: c.pid,
            tid: c.tid,
            syscall: c.syscall,
            args: c.args.into_iter().map(|a| a.json).collect(),
            fd: c.fd,
            ret: c.ret,
            ret_fd: c.ret_fd,
            errno: c.errno,
            dur_us: c.dur_us,
            text: String::new(),
        }
    }

    fn from_call(c: Call) -> SyscallEvent {
        let mut texts: Vec<String> = c.args.iter().map(|a| a.text.clone()).collect();
        if let (Some(f), Some(first)) = (&c.fd, texts.first_mut())
            && *first == f.fd.to_string()
        {
            *first = f.text();
        }
        let ret_text = match (c.ret, &c.errno, &c.ret_fd) {
            (None, _, _) => "?".to_string(),
            (Some(r), Some(e), _) => format!("{r} {e}"),
            (Some(_), None, Some(f)) => f.text(),
            (Some(r), None, None) => r.to_string(),
        };
        let text = format!(
            "{}({}) = {}{}",
            c.syscall,
            texts.join(", "),
            ret_text,
            c.dur_us
                .map(|d| format!(" <{}.{:06}>", d / 1_000_000, d % 1_000_000))
                .unwrap_or_default()
        );
        SyscallEvent {
            ts: (c.ts * 1e6).round() / 1e6,
            pid: c.pid,
            tid: c.tid,
            syscall: c.syscall,
            args: c.args.into_iter().map(|a| a.json).collect(),
            fd: c.fd,
            ret: c.ret,
            ret_fd: c.ret_fd,
            errno: c.errno,
            dur_us: c.dur_us,
            text,
        }
    }
}

impl Event for SyscallEvent {
    const KIND: &'static str = "syscall";
    fn write_human(&self, out: &mut dyn Write, _st: &Style) -> io::Result<()> {
        writeln!(out, "{} [{}] {}", clock(self.ts), self.tid, self.text)
    }
}

/// Per call name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PerCall {
    /// Call name.
    pub syscall: String,
    /// Calls.
    pub calls: u64,
    /// Failed calls.
    pub errors: u64,
    /// Time inside them, µs (with tracing overhead).
    pub time_us: u64,
}

/// Per peer address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PerPeer {
    /// ip:port (or a Unix path) of the other end.
    pub peer: String,
    /// Calls on sockets connected to it.
    pub calls: u64,
    /// Failed ones.
    pub errors: u64,
    /// Bytes sent and received (the return values of send/recv/read/write calls).
    pub bytes: u64,
}

/// The report at the end of a trace.
#[derive(Debug, Clone, Serialize)]
pub struct SyscallsReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "syscalls".
    pub command: &'static str,
    /// spawn or attach.
    pub mode: &'static str,
    /// The command, or the PID.
    pub target: String,
    /// Calls seen.
    pub calls_total: u64,
    /// Per call, most frequent first.
    pub by_syscall: Vec<PerCall>,
    /// Per peer, busiest first.
    pub by_peer: Vec<PerPeer>,
    /// Threads traced.
    pub threads: usize,
    /// Processes traced.
    pub processes: usize,
    /// exited (the command ended), interrupted (Ctrl-C / SIGTERM), duration.
    pub ended: &'static str,
    /// Attach mode: every thread was detached (the process runs on).
    pub detached: bool,
    /// Spawn mode: the command's exit status (negative: killed by that signal).
    pub exit_status: Option<i32>,
    /// With --json: every call (with --jsonl they stream as `syscall` events instead).
    pub calls: Vec<SyscallEvent>,
    /// Show the per-call table (-c).
    #[serde(skip)]
    pub table: bool,
}

impl Report for SyscallsReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        if self.table {
            let mut t = output::table(&["syscall", "calls", "errors", "time"]);
            for c in &self.by_syscall {
                t.add_row(vec![
                    c.syscall.clone(),
                    c.calls.to_string(),
                    c.errors.to_string(),
                    output::fmt_us(Some(c.time_us as f64)),
                ]);
            }
            writeln!(out, "{t}")?;
            if !self.by_peer.is_empty() {
                let mut t = output::table(&["peer", "calls", "errors", "bytes"]);
                for p in &self.by_peer {
                    t.add_row(vec![
                        p.peer.clone(),
                        p.calls.to_string(),
                        p.errors.to_string(),
                        p.bytes.to_string(),
                    ]);
                }
                writeln!(out, "{t}")?;
            }
        }
        writeln!(
            out,
            "{} {} calls, {} threads in {} processes; {}{}",
            st.dim("traced:"),
            self.calls_total,
            self.threads,
            self.processes,
            match self.ended {
                "exited" if self.mode == "attach" => "it ended".to_string(),
                "exited" => "the command exited".to_string(),
                "duration" => "--duration reached".to_string(),
                _ => "interrupted".to_string(),
            },
            match (self.mode, self.exit_status) {
                ("attach", _) if !self.detached => " (the process exited)".to_string(),
                ("attach", _) => ", every thread detached (the process runs on)".to_string(),
                (_, Some(s)) if s < 0 => format!(", the command was killed by signal {}", -s),
                (_, Some(s)) => format!(", exit status {s}"),
                _ => String::new(),
            }
        )
    }
    fn exit_code(&self) -> i32 {
        match (self.mode, self.ended, self.exit_status) {
            ("spawn", "exited", Some(s)) if s != 0 => EXIT_FINDING,
            _ => EXIT_OK,
        }
    }
}

#[derive(Default)]
struct Tally {
    total: u64,
    calls: BTreeMap<&'static str, PerCall>,
    peers: BTreeMap<String, PerPeer>,
}

const BYTE_CALLS: &[&str] = &[
    "read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendfile",
];

impl Tally {
    fn add(&mut self, e: &SyscallEvent) {
        self.total += 1;
        let failed = e.errno.is_some();
        let c = self.calls.entry(e.syscall).or_insert_with(|| PerCall {
            syscall: e.syscall.to_string(),
            ..Default::default()
        });
        c.calls += 1;
        c.errors += u64::from(failed);
        c.time_us += e.dur_us.unwrap_or(0);
        // The connected peer, or (UDP) the address a datagram went to or came from.
        let addr_arg = |i: usize| {
            let a = e.args.get(i)?;
            match (a["addr"].as_str(), a["port"].as_u64(), a["path"].as_str()) {
                (Some(ip), Some(p), _) if ip.contains(':') => Some(format!("[{ip}]:{p}")),
                (Some(ip), Some(p), _) => Some(format!("{ip}:{p}")),
                (_, _, Some(path)) => Some(path.to_string()),
                _ => None,
            }
        };
        let peer =
            e.fd.as_ref()
                .and_then(|f| f.remote.clone())
                .or_else(|| e.ret_fd.as_ref().and_then(|f| f.remote.clone()))
                .or_else(|| match e.syscall {
                    "sendto" | "recvfrom" => addr_arg(4),
                    _ => None,
                });
        if let Some(p) = peer {
            if !self.peers.contains_key(&p) {
                self.peers.insert(
                    p.clone(),
                    PerPeer {
                        peer: p.clone(),
                        ..Default::default()
                    },
                );
            }
            let Some(pp) = self.peers.get_mut(&p) else {
                return;
            };
            pp.calls += 1;
            pp.errors += u64::from(failed);
            if BYTE_CALLS.contains(&e.syscall) {
                pp.bytes += e.ret.filter(|r| *r > 0).unwrap_or(0) as u64;
            }
        }
    }
}

/// Run `netlab syscalls`.
pub fn run(a: &SyscallsArgs, _g: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    if !cfg!(any(target_arch = "x86_64", target_arch = "aarch64")) {
        return Err(Error::usage(
            "netlab syscalls supports x86_64 and aarch64 only",
        ));
    }
    if a.snapshot {
        let pid = a.pid.unwrap_or(0);
        let r = snapshot::take(pid)?;
        printer.report(&r)?;
        return Ok(r.exit_code());
    }
    let target = match (a.pid, a.command.is_empty()) {
        (Some(p), _) if p <= 0 => {
            return Err(Error::usage(format!("-p {p}: give a process id above 0")));
        }
        (Some(p), _) => Target::Attach(p),
        (None, false) => Target::Spawn(a.command.clone()),
        (None, true) => {
            return Err(Error::usage(
                "give a command to start (netlab syscalls -- CMD ARGS) or a process (-p PID)",
            ));
        }
    };
    let nrs = names::select(&a.trace).map_err(Error::usage)?;
    let opts = TraceOptions {
        nrs,
        results: !a.no_results,
        annotate: !a.no_annotate,
        duration: a.duration,
        count_only: a.summary,
    };
    if let Target::Attach(pid) = target {
        let n = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| d.count())
            .unwrap_or(0);
        // Said before attaching: every system call of every thread will stop.
        printer.note(&format!(
            "attaching to process {pid} ({n} threads): every one of its system calls will stop while traced (slower); Ctrl-C detaches and it runs on"
        ))?;
    }
    crate::sys::catch_interrupts();
    let json = printer.style.format == Format::Json;
    // Output to a file (or /dev/null): buffered like strace -o, not one write per call.
    let to_file = {
        use std::os::fd::AsFd;
        nix::sys::stat::fstat(std::io::stdout().as_fd()).is_ok_and(|st| {
            let kind = st.st_mode & libc::S_IFMT;
            kind == libc::S_IFREG
                || (kind == libc::S_IFCHR && !std::io::IsTerminal::is_terminal(&std::io::stdout()))
        })
    };
    let mut tally = Tally::default();
    let mut kept = Vec::new();
    let mut out_err: Option<Error> = None;
    let ended = {
        let mut sink = |c: Call| {
            if a.summary {
                tally.add(&SyscallEvent::bare(c));
                return;
            }
            let e = SyscallEvent::from_call(c);
            tally.add(&e);
            if json {
                kept.push(e);
            } else if out_err.is_none()
                && let Err(err) = printer.event_flush(&e, !to_file)
            {
                out_err = Some(err);
            }
        };
        tracer::run(&target, opts, &mut sink)?
    };
    if let Some(e) = out_err {
        return Err(e);
    }
    let mut by_syscall: Vec<PerCall> = tally.calls.into_values().collect();
    by_syscall.sort_by(|x, y| y.calls.cmp(&x.calls).then(x.syscall.cmp(&y.syscall)));
    let mut by_peer: Vec<PerPeer> = tally.peers.into_values().collect();
    by_peer.sort_by(|x, y| y.calls.cmp(&x.calls).then(x.peer.cmp(&y.peer)));
    let report = SyscallsReport {
        schema_version: SCHEMA_VERSION,
        command: "syscalls",
        mode: if a.pid.is_some() { "attach" } else { "spawn" },
        target: match &target {
            Target::Attach(p) => p.to_string(),
            Target::Spawn(argv) => argv.join(" "),
        },
        calls_total: tally.total,
        by_syscall,
        by_peer,
        threads: ended.threads,
        processes: ended.processes,
        ended: ended.reason,
        detached: ended.detached,
        exit_status: ended.exit_status,
        calls: kept,
        table: a.summary,
    };
    printer.report(&report)?;
    Ok(report.exit_code())
}

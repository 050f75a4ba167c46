//! `netlab sockets`: socket-state summaries that explain CLOSE_WAIT and TIME_WAIT, from
//! netlink sock_diag (not /proc/net/tcp, which miscounts under churn). TCP by default, UDP
//! with `--udp`, Unix-domain with `--unix`.

pub mod analyze;
pub mod fdwalk;
pub mod gather;
pub mod unix;

use std::collections::HashSet;
use std::io::{self, IsTerminal, Write};
use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::GlobalOpts;
use crate::error::{Error, Result};
use crate::output::{self, Format, Printer, Report, SCHEMA_VERSION, Style};
use crate::sys::{self, Privilege};
use analyze::{IntBuild, Sock, Summary, Thresholds};

/// Arguments of `netlab sockets`.
#[derive(Debug, Args)]
pub struct SocketsArgs {
    /// Only these states (comma-separated: established, close-wait, time-wait, listen, ...);
    /// the kernel filters.
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// Only sockets whose local or remote port is PORT.
    #[arg(long)]
    pub port: Option<u16>,
    /// Only sockets process PID holds.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Only sockets whose remote address is IP.
    #[arg(long, value_name = "IP")]
    pub peer: Option<IpAddr>,
    /// UDP sockets instead of TCP (states: ESTABLISHED for connected, CLOSE for unconnected).
    #[arg(long)]
    pub udp: bool,
    /// Unix-domain sockets instead of TCP (`ss -x`): by type, state, process and path, with
    /// peer-closed sockets still held and full accept queues (states: established, listen,
    /// unconnected, connecting).
    #[arg(long, conflicts_with_all = ["udp", "port", "peer", "ipv4", "ipv6", "interval", "time_wait_pct"])]
    pub unix: bool,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// CLOSE_WAIT sockets of one process and port that make a diagnosis (with --unix:
    /// peer-closed sockets of one process and path).
    #[arg(long, default_value_t = 5)]
    pub close_wait_min: u64,
    /// Share of the ephemeral port range in TIME_WAIT to one destination that warns, %.
    #[arg(long, default_value_t = 50.0)]
    pub time_wait_pct: f64,
    /// Read the listen counters twice, this far apart, and report the change.
    #[arg(long, value_parser = crate::net::parse_duration)]
    pub interval: Option<Duration>,
    /// Refresh every SECONDS until Ctrl-C (in place on a terminal; JSON Lines with --jsonl).
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<f64>,
}

/// The kernel settings beside the diagnosis.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sysctls {
    /// net.ipv4.ip_local_port_range
    pub ip_local_port_range: Option<String>,
    /// Ephemeral ports in that range.
    pub ephemeral_ports: u64,
    /// net.ipv4.tcp_tw_reuse
    pub tcp_tw_reuse: Option<String>,
    /// net.ipv4.tcp_fin_timeout, seconds (FIN_WAIT2 of orphans; TIME_WAIT is fixed at 60 s).
    pub tcp_fin_timeout: Option<String>,
    /// net.ipv4.tcp_max_tw_buckets
    pub tcp_max_tw_buckets: Option<String>,
    /// net.core.somaxconn
    pub somaxconn: Option<String>,
}

/// Listen-related TcpExt counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counters {
    /// TcpExt ListenOverflows: SYNs or ACKs dropped because an accept queue was full.
    pub listen_overflows: Option<u64>,
    /// TcpExt ListenDrops.
    pub listen_drops: Option<u64>,
    /// TcpExt TCPTimeWaitOverflow: TIME_WAIT sockets not created (tcp_max_tw_buckets).
    pub tcp_time_wait_overflow: Option<u64>,
    /// With --interval: the seconds between the two readings.
    pub interval_s: Option<f64>,
    /// With --interval: ListenOverflows increase.
    pub listen_overflows_delta: Option<u64>,
    /// With --interval: ListenDrops increase.
    pub listen_drops_delta: Option<u64>,
    /// With --interval: TCPTimeWaitOverflow increase.
    pub tcp_time_wait_overflow_delta: Option<u64>,
}

/// The `sockets` report.
#[derive(Debug, Clone, Serialize)]
pub struct SocketsReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "sockets".
    pub command: &'static str,
    /// Filters applied.
    pub filters: Vec<String>,
    /// Counts, breakdowns, diagnoses.
    #[serde(flatten)]
    pub summary: Summary,
    /// Sysctls.
    pub sysctls: Sysctls,
    /// Counters.
    pub counters: Counters,
    /// Every socket's owner could be looked up (root); false: other users' sockets are
    /// counted but not attributed.
    pub privileged: bool,
    /// How sockets were attributed to processes: "ebpf_iter" (one kernel pass over every
    /// fd table, root), "procfs" (/proc/PID/fd), "none" (no socket to attribute).
    pub attribution: &'static str,
    /// Notes.
    pub notes: Vec<String>,
}

impl Report for SocketsReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        let s = &self.summary.states;
        let mut t = output::table(&[
            "ESTAB",
            "CLOSE_WAIT",
            "TIME_WAIT",
            "FIN_WAIT1",
            "FIN_WAIT2",
            "LAST_ACK",
            "SYN_SENT",
            "SYN_RECV",
            "LISTEN",
            "total",
        ]);
        t.add_row(vec![
            s.established.to_string(),
            s.close_wait.to_string(),
            s.time_wait.to_string(),
            s.fin_wait1.to_string(),
            s.fin_wait2.to_string(),
            s.last_ack.to_string(),
            s.syn_sent.to_string(),
            s.syn_recv.to_string(),
            s.listen.to_string(),
            self.summary.total.to_string(),
        ]);
        let proto = if self.filters.iter().any(|f| f == "UDP") {
            "UDP sockets"
        } else {
            "TCP sockets"
        };
        writeln!(
            out,
            "{} {}",
            st.bold(proto),
            if self.filters.is_empty() {
                String::new()
            } else {
                format!("({})", self.filters.join(", "))
            }
        )?;
        writeln!(out, "{t}")?;
        if !st.quiet {
            let mut p = output::table(&["process", "pid", "state", "sockets"]);
            for b in self
                .summary
                .by_process
                .iter()
                .take(if st.verbose > 0 { 100 } else { 10 })
            {
                p.add_row(vec![
                    b.command.clone(),
                    b.pid.to_string(),
                    b.state.to_string(),
                    b.count.to_string(),
                ]);
            }
            if !self.summary.by_process.is_empty() {
                writeln!(out, "{p}")?;
            }
            let mut q = output::table(&["local port", "state", "sockets"]);
            for b in self
                .summary
                .by_local_port
                .iter()
                .take(if st.verbose > 0 { 100 } else { 10 })
            {
                q.add_row(vec![
                    b.port.to_string(),
                    b.state.to_string(),
                    b.count.to_string(),
                ]);
            }
            if !self.summary.by_local_port.is_empty() {
                writeln!(out, "{q}")?;
            }
            let u = &self.summary.unowned;
            if u.count > 0 {
                writeln!(
                    out,
                    "{} sockets without an owner (TIME_WAIT, orphans):",
                    u.count
                )?;
                for x in u.by_local_port.iter().take(5) {
                    writeln!(
                        out,
                        "  server side, port {}: {} {} (listener: {})",
                        x.port,
                        x.count,
                        x.state,
                        x.listener_command
                            .as_deref()
                            .map(|c| format!("{c} pid {}", x.listener_pid.unwrap_or(0)))
                            .unwrap_or_else(|| "unknown".into())
                    )?;
                }
                for x in u.by_flow.iter().take(5) {
                    writeln!(
                        out,
                        "  client side, {} → {}: {} {}",
                        x.source, x.destination, x.count, x.state
                    )?;
                }
            }
        }
        if self.summary.not_attributed > 0 {
            writeln!(
                out,
                "{} sockets belong to processes netlab cannot see ({})",
                self.summary.not_attributed,
                if self.privileged {
                    "outside this PID namespace"
                } else {
                    "run as root to attribute them"
                }
            )?;
        }
        for d in &self.summary.diagnoses {
            let tag = if d.severity == "warning" {
                st.warn(d.code)
            } else {
                st.dim(d.code)
            };
            writeln!(out, "{tag}: {}", d.message)?;
        }
        let sc = &self.sysctls;
        writeln!(
            out,
            "{}",
            st.dim(&format!(
                "ip_local_port_range {} ({} ports), tcp_tw_reuse {}, tcp_fin_timeout {}, tcp_max_tw_buckets {}, somaxconn {}; ListenOverflows {} ListenDrops {} TCPTimeWaitOverflow {}{}",
                sc.ip_local_port_range.as_deref().unwrap_or("?"),
                sc.ephemeral_ports,
                sc.tcp_tw_reuse.as_deref().unwrap_or("?"),
                sc.tcp_fin_timeout.as_deref().unwrap_or("?"),
                sc.tcp_max_tw_buckets.as_deref().unwrap_or("?"),
                sc.somaxconn.as_deref().unwrap_or("?"),
                output::opt(self.counters.listen_overflows),
                output::opt(self.counters.listen_drops),
                output::opt(self.counters.tcp_time_wait_overflow),
                match self.counters.interval_s {
                    Some(s) => format!(" (+{} overflows, +{} drops in {s}s)", output::opt(self.counters.listen_overflows_delta), output::opt(self.counters.listen_drops_delta)),
                    None => String::new(),
                }
            ))
        )?;
        for n in &self.notes {
            writeln!(out, "{} {n}", st.warn("note:"))?;
        }
        Ok(())
    }
    fn exit_code(&self) -> i32 {
        analyze::exit_code(&self.summary.diagnoses)
    }
}

fn sysctls() -> Sysctls {
    let range = gather::sysctl("net.ipv4.ip_local_port_range");
    let ephemeral = range
        .as_deref()
        .and_then(|r| {
            let v: Vec<u64> = r
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 2 && v[1] >= v[0]).then(|| v[1] - v[0] + 1)
        })
        .unwrap_or(0);
    Sysctls {
        ip_local_port_range: range,
        ephemeral_ports: ephemeral,
        tcp_tw_reuse: gather::sysctl("net.ipv4.tcp_tw_reuse"),
        tcp_fin_timeout: gather::sysctl("net.ipv4.tcp_fin_timeout"),
        tcp_max_tw_buckets: gather::sysctl("net.ipv4.tcp_max_tw_buckets"),
        somaxconn: gather::sysctl("net.core.somaxconn"),
    }
}

/// TCP states a socket can be in while a process still holds it (all but TIME_WAIT and
/// NEW_SYN_RECV, which belong to no fd).
const OWNED_STATES: u32 = !((1 << 6) | (1 << 12));

fn build(a: &SocketsArgs, states: u32) -> Result<SocketsReport> {
    let privileged = Privilege::discover().sys_admin || nix::unistd::geteuid().is_root();
    let before = a.interval.map(|_| gather::tcpext());
    // Sockets in these states (or UDP ones) can have an owner to look up.
    let walk = if a.udp || states & OWNED_STATES != 0 {
        gather::start_fd_walk()
    } else {
        None
    };
    let socks = gather::dump_all_proto(!a.ipv6, !a.ipv4, a.udp, states)
        .map_err(|e| Error::measure(format!("sock_diag dump: {e}")))?;
    let socks: Vec<Sock> = socks
        .into_iter()
        .filter(|k| {
            a.port
                .is_none_or(|p| k.local.port() == p || k.remote.port() == p)
        })
        .filter(|k| a.peer.is_none_or(|ip| k.remote.ip() == ip))
        .collect();
    // The fd → inode map only for sockets that have an inode.
    let inodes: HashSet<u32, IntBuild> = socks
        .iter()
        .filter(|k| k.inode != 0)
        .map(|k| k.inode)
        .collect();
    let found = gather::owners(&inodes, walk);
    let owners = &found.map;
    let socks: Vec<Sock> = match a.pid {
        Some(pid) => socks
            .into_iter()
            .filter(|k| owners.get(&k.inode).is_some_and(|o| o.0 == pid))
            .collect(),
        None => socks,
    };
    let sc = sysctls();
    let summary = analyze::summarize(
        &socks,
        owners,
        sc.ephemeral_ports,
        Thresholds {
            close_wait: a.close_wait_min.max(1),
            time_wait_pct: a.time_wait_pct,
        },
    );
    let mut counters = Counters::default();
    let mut after = gather::tcpext();
    if let (Some(b), Some(iv)) = (before, a.interval) {
        sys::sleep_interruptible(iv);
        after = gather::tcpext();
        let d = |k: &str| {
            Some(
                after
                    .get(k)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(b.get(k).copied().unwrap_or(0)),
            )
        };
        counters.interval_s = Some(iv.as_secs_f64());
        counters.listen_overflows_delta = d("ListenOverflows");
        counters.listen_drops_delta = d("ListenDrops");
        counters.tcp_time_wait_overflow_delta = d("TCPTimeWaitOverflow");
    }
    counters.listen_overflows = after.get("ListenOverflows").copied();
    counters.listen_drops = after.get("ListenDrops").copied();
    counters.tcp_time_wait_overflow = after.get("TCPTimeWaitOverflow").copied();
    let mut filters = Vec::new();
    if !a.state.is_empty() {
        filters.push(format!("state {}", a.state.join(",")));
    }
    if let Some(p) = a.port {
        filters.push(format!("port {p}"));
    }
    if let Some(p) = a.pid {
        filters.push(format!("pid {p}"));
    }
    if let Some(p) = a.peer {
        filters.push(format!("peer {p}"));
    }
    if a.udp {
        filters.push("UDP".into());
    }
    if a.ipv4 {
        filters.push("IPv4".into());
    }
    if a.ipv6 {
        filters.push("IPv6".into());
    }
    let mut notes = Vec::new();
    if !privileged && summary.not_attributed > 0 {
        notes.push(format!(
            "not root: {} sockets of other users are counted but not attributed to a process",
            summary.not_attributed
        ));
    }
    attribution_note(&found, privileged, &mut notes);
    Ok(SocketsReport {
        schema_version: SCHEMA_VERSION,
        command: "sockets",
        filters,
        summary,
        sysctls: sc,
        counters,
        privileged,
        attribution: found.method,
        notes,
    })
}

fn build_unix(a: &SocketsArgs, states: u32) -> Result<unix::UnixReport> {
    let privileged = Privilege::discover().sys_admin || nix::unistd::geteuid().is_root();
    let socks = unix::dump(states).map_err(|e| Error::measure(format!("sock_diag dump: {e}")))?;
    let inodes: HashSet<u32, IntBuild> = socks.iter().map(|k| k.inode).collect();
    let found = gather::owners(&inodes, gather::start_fd_walk());
    let owners = &found.map;
    let socks: Vec<unix::UnixSock> = match a.pid {
        Some(pid) => socks
            .into_iter()
            .filter(|k| owners.get(&k.inode).is_some_and(|o| o.0 == pid))
            .collect(),
        None => socks,
    };
    let summary = unix::summarize(&socks, owners, a.close_wait_min.max(1));
    let mut filters = Vec::new();
    if !a.state.is_empty() {
        filters.push(format!("state {}", a.state.join(",")));
    }
    if let Some(p) = a.pid {
        filters.push(format!("pid {p}"));
    }
    let mut notes = Vec::new();
    if !privileged && summary.not_attributed > 0 {
        notes.push(format!(
            "not root: {} sockets of other users are counted but not attributed to a process",
            summary.not_attributed
        ));
    }
    attribution_note(&found, privileged, &mut notes);
    Ok(unix::UnixReport {
        schema_version: SCHEMA_VERSION,
        command: "sockets",
        family: "unix",
        filters,
        summary,
        privileged,
        attribution: found.method,
        notes,
    })
}

/// As root the eBPF fd walk is expected to work; say why it did not.
fn attribution_note(found: &gather::Owners, privileged: bool, notes: &mut Vec<String>) {
    if let (true, Some(e)) = (privileged, &found.ebpf_error) {
        notes.push(format!(
            "processes found through /proc/PID/fd (slower): the eBPF fd walk is unavailable: {e}"
        ));
    }
}

/// Run `netlab sockets`.
pub fn run(a: &SocketsArgs, _g: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    let mut states = 0u32;
    if a.unix {
        for s in &a.state {
            let n = unix::state_number(s).ok_or_else(|| {
                Error::usage(format!(
                    "unknown Unix socket state {s:?}: use established, listen, unconnected, connecting"
                ))
            })?;
            states |= 1 << n;
        }
        if states == 0 {
            states = !0;
        }
    }
    for s in a.state.iter().filter(|_| !a.unix) {
        let n = analyze::state_number(s).ok_or_else(|| {
            Error::usage(format!("unknown state {s:?}: use established, syn-sent, syn-recv, fin-wait1, fin-wait2, time-wait, close, close-wait, last-ack, listen, closing"))
        })?;
        states |= 1 << n;
        if n == 3 {
            states |= 1 << 12;
        }
    }
    if states == 0 {
        states = !(1u32 << 12); // every state but request sockets (like ss)
    }
    // One refresh: print the report, return its exit code.
    let once = |printer: &mut Printer<'_>| -> Result<i32> {
        if a.unix {
            let r = build_unix(a, states)?;
            printer.report(&r)?;
            Ok(r.exit_code())
        } else {
            let r = build(a, states)?;
            printer.report(&r)?;
            Ok(r.exit_code())
        }
    };
    let Some(every) = a.watch else {
        return once(printer);
    };
    if !(every.is_finite() && every > 0.0 && every <= 3600.0) {
        return Err(Error::usage("--watch takes seconds between 0 and 3600"));
    }
    sys::catch_interrupts();
    let tty = io::stdout().is_terminal() && printer.style.format == Format::Table;
    let mut last = 0;
    while !sys::interrupted() {
        if tty {
            printer.note("\x1b[H\x1b[2J")?;
        }
        last = once(printer)?;
        if !sys::sleep_interruptible(Duration::from_secs_f64(every)) {
            break;
        }
    }
    Ok(last)
}

//! `netlab sockets --unix`: Unix-domain sockets from sock_diag (`ss -x`), by type, state,
//! process and bound path, with the Unix side of the CLOSE_WAIT story: a connected stream
//! socket whose peer has gone (the kernel shut it down both ways and dropped the peer) that the
//! application still holds, and listeners whose accept queue is full.

use std::collections::BTreeMap;
use std::io::{self, Write};

use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::unix::nlas::{Nla, UnixDiagName};
use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags, UnixRequest};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use serde::Serialize;

use crate::output::{self, Report, Style};
use crate::sockets::analyze::{self, Diagnosis, sorted};

/// One Unix socket as sock_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSock {
    /// SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5.
    pub kind: u8,
    /// TCP_ESTABLISHED 1, TCP_SYN_SENT 2, TCP_CLOSE 7 (unconnected), TCP_LISTEN 10.
    pub state: u8,
    /// Inode (every Unix socket has one).
    pub inode: u32,
    /// Bound name: a path, `@name` for the abstract namespace; None when unbound.
    pub name: Option<String>,
    /// The peer's inode, when connected to a live peer.
    pub peer: Option<u32>,
    /// Listeners: connections waiting for accept(), and the backlog. Others: receive queue
    /// bytes and send memory.
    pub queue: Option<(u32, u32)>,
    /// sk_shutdown: 1 receive, 2 send, 3 both (the peer has closed).
    pub shutdown: u8,
}

/// `ss` names for the Unix socket types.
pub fn kind_name(k: u8) -> &'static str {
    match k {
        1 => "stream",
        2 => "dgram",
        5 => "seqpacket",
        _ => "other",
    }
}

/// State names as `ss -x` shows them.
pub fn state_name(s: u8) -> &'static str {
    match s {
        1 => "ESTABLISHED",
        2 => "CONNECTING",
        7 => "UNCONNECTED",
        10 => "LISTEN",
        _ => "OTHER",
    }
}

/// State number from a name given to `--state` (established, listen, unconnected or close,
/// connecting or syn-sent).
pub fn state_number(name: &str) -> Option<u8> {
    match name.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "established" | "estab" => Some(1),
        "connecting" | "syn-sent" => Some(2),
        "unconnected" | "unconn" | "close" => Some(7),
        "listen" => Some(10),
        _ => None,
    }
}

/// Dump every Unix socket whose state bit is in `states`.
pub fn dump(states: u32) -> io::Result<Vec<UnixSock>> {
    let req = SockDiagMessage::UnixRequest(UnixRequest {
        state_flags: StateFlags::from_bits_retain(states),
        inode: 0,
        show_flags: ShowFlags::NAME | ShowFlags::PEER | ShowFlags::RQLEN,
        cookie: [0xff; 8],
    });
    let mut out = Vec::new();
    crate::net::netlink::request_each(NETLINK_SOCK_DIAG, req, true, |m| {
        let SockDiagMessage::UnixResponse(r) = m else {
            return;
        };
        let mut s = UnixSock {
            kind: r.header.kind,
            state: r.header.state,
            inode: r.header.inode,
            name: None,
            peer: None,
            queue: None,
            shutdown: 0,
        };
        for n in &r.nlas {
            match n {
                Nla::Name(UnixDiagName::Pathname(p)) => {
                    s.name = Some(p.to_string_lossy().into_owned());
                }
                Nla::Name(UnixDiagName::Abstract(a)) => {
                    s.name = Some(format!("@{}", String::from_utf8_lossy(a)));
                }
                Nla::Peer(p) if *p != 0 => s.peer = Some(*p),
                Nla::ReceiveQueueLength(a, b) => s.queue = Some((*a, *b)),
                Nla::Shutdown(x) => s.shutdown = *x,
                _ => {}
            }
        }
        out.push(s);
    })?;
    Ok(out)
}

/// Counts per state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnixStates {
    /// Connected (stream and seqpacket, and connected datagram sockets).
    pub established: u64,
    /// Listening.
    pub listen: u64,
    /// Not connected (most datagram sockets; unconnected stream sockets).
    pub unconnected: u64,
    /// In connect().
    pub connecting: u64,
}

/// Sockets by type and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByType {
    /// stream, dgram, seqpacket.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// State.
    pub state: &'static str,
    /// Sockets.
    pub count: u64,
}

/// Owned sockets by process and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnixByProcess {
    /// Process id.
    pub pid: u32,
    /// Command name.
    pub command: String,
    /// State.
    pub state: &'static str,
    /// Sockets.
    pub count: u64,
}

/// Sockets by bound name (a server's accepted sockets carry its listener's path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByPath {
    /// The path, or `@name` (abstract).
    pub path: String,
    /// State.
    pub state: &'static str,
    /// Sockets.
    pub count: u64,
}

/// A listening Unix socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnixListener {
    /// Bound path (`@name` for abstract; empty when unbound).
    pub path: String,
    /// Type.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Connections waiting for accept().
    pub queue: u32,
    /// listen() backlog.
    pub backlog: u32,
    /// Owner, when known.
    pub pid: Option<u32>,
    /// Its command.
    pub command: Option<String>,
}

/// Connected stream sockets whose peer has closed, by process and path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerClosed {
    /// Process id (None: owner not visible).
    pub pid: Option<u32>,
    /// Command name.
    pub command: Option<String>,
    /// Bound path of the socket (the listener's for accepted ones), when any.
    pub path: Option<String>,
    /// Sockets.
    pub count: u64,
}

/// Everything computed from one Unix dump.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UnixSummary {
    /// Sockets counted.
    pub total: u64,
    /// Per state.
    pub states: UnixStates,
    /// By type × state.
    pub by_type: Vec<ByType>,
    /// By process × state.
    pub by_process: Vec<UnixByProcess>,
    /// By bound path × state.
    pub by_path: Vec<ByPath>,
    /// Listeners with their accept queue.
    pub listeners: Vec<UnixListener>,
    /// Connected stream sockets whose peer has closed, still held.
    pub peer_closed: Vec<PeerClosed>,
    /// Sockets whose process netlab could not find.
    pub not_attributed: u64,
    /// Findings.
    pub diagnoses: Vec<Diagnosis>,
}

/// (pid, command, path) of peer-closed sockets.
type ClosedKey = (Option<u32>, Option<String>, Option<String>);

/// Group and diagnose. `owners` maps inode → (pid, command); `peer_closed_min` is how many
/// peer-closed sockets of one process and path make a diagnosis.
pub fn summarize(
    socks: &[UnixSock],
    owners: &crate::sockets::analyze::OwnerMap,
    peer_closed_min: u64,
) -> UnixSummary {
    let mut s = UnixSummary {
        total: socks.len() as u64,
        ..UnixSummary::default()
    };
    let mut by_type: BTreeMap<(u8, u8), u64> = BTreeMap::new();
    let mut by_proc: BTreeMap<(u32, std::sync::Arc<str>, u8), u64> = BTreeMap::new();
    let mut by_path: BTreeMap<(String, u8), u64> = BTreeMap::new();
    let mut closed: BTreeMap<ClosedKey, u64> = BTreeMap::new();
    for k in socks {
        match k.state {
            1 => s.states.established += 1,
            2 => s.states.connecting += 1,
            10 => s.states.listen += 1,
            _ => s.states.unconnected += 1,
        }
        *by_type.entry((k.kind, k.state)).or_default() += 1;
        if let Some(n) = &k.name {
            *by_path.entry((n.clone(), k.state)).or_default() += 1;
        }
        let owner = owners.get(&k.inode);
        match owner {
            Some((pid, cmd)) => *by_proc.entry((*pid, cmd.clone(), k.state)).or_default() += 1,
            None => s.not_attributed += 1,
        }
        if k.state == 10 {
            let (queue, backlog) = k.queue.unwrap_or((0, 0));
            s.listeners.push(UnixListener {
                path: k.name.clone().unwrap_or_default(),
                kind: kind_name(k.kind),
                queue,
                backlog,
                pid: owner.map(|o| o.0),
                command: owner.map(|o| o.1.to_string()),
            });
        }
        // The peer closed: the kernel marks this end shut down both ways and drops the peer.
        if k.state == 1 && k.kind != 2 && k.peer.is_none() && k.shutdown == 3 {
            *closed
                .entry((
                    owner.map(|o| o.0),
                    owner.map(|o| o.1.to_string()),
                    k.name.clone(),
                ))
                .or_default() += 1;
        }
    }
    s.by_type = sorted(by_type, |(kind, st), count| ByType {
        kind: kind_name(kind),
        state: state_name(st),
        count,
    });
    s.by_process = sorted(by_proc, |(pid, command, st), count| UnixByProcess {
        pid,
        command: command.to_string(),
        state: state_name(st),
        count,
    });
    s.by_path = sorted(by_path, |(path, st), count| ByPath {
        path,
        state: state_name(st),
        count,
    });
    s.peer_closed = sorted(closed, |(pid, command, path), count| PeerClosed {
        pid,
        command,
        path,
        count,
    });
    s.listeners
        .sort_by(|a, b| b.queue.cmp(&a.queue).then(a.path.cmp(&b.path)));
    for p in &s.peer_closed {
        if p.count < peer_closed_min {
            continue;
        }
        let who = match (&p.command, p.pid) {
            (Some(c), Some(pid)) => format!("{c} (pid {pid})"),
            _ => "a process netlab cannot see".to_string(),
        };
        let on = p
            .path
            .as_deref()
            .map(|x| format!(" on {x}"))
            .unwrap_or_default();
        s.diagnoses.push(Diagnosis {
            code: "unix_peer_closed",
            severity: "warning",
            message: format!(
                "{who} holds {} connected Unix stream sockets{on} whose peer has closed: \
                 it reads EOF there and has not called close() (the Unix side of CLOSE_WAIT)",
                p.count
            ),
        });
    }
    for l in &s.listeners {
        if l.backlog > 0 && l.queue >= l.backlog {
            let who = l
                .command
                .as_deref()
                .map(|c| format!(" of {c} (pid {})", l.pid.unwrap_or(0)))
                .unwrap_or_default();
            s.diagnoses.push(Diagnosis {
                code: "unix_accept_queue_full",
                severity: "warning",
                message: format!(
                    "Unix listener {}{who}: accept queue {}/{} is full: new connect() calls \
                     block or fail with EAGAIN until the application accepts",
                    if l.path.is_empty() {
                        "(unbound)"
                    } else {
                        &l.path
                    },
                    l.queue,
                    l.backlog
                ),
            });
        }
    }
    s
}

/// The `sockets --unix` report.
#[derive(Debug, Clone, Serialize)]
pub struct UnixReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "sockets".
    pub command: &'static str,
    /// "unix".
    pub family: &'static str,
    /// Filters applied.
    pub filters: Vec<String>,
    /// Counts, breakdowns, diagnoses.
    #[serde(flatten)]
    pub summary: UnixSummary,
    /// Every socket's owner could be looked up (root).
    pub privileged: bool,
    /// How sockets were attributed to processes: "ebpf_iter", "procfs" or "none" (as in the
    /// TCP report).
    pub attribution: &'static str,
    /// Notes.
    pub notes: Vec<String>,
}

impl Report for UnixReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        let s = &self.summary.states;
        let mut t = output::table(&["ESTAB", "LISTEN", "UNCONN", "CONNECTING", "total"]);
        t.add_row(vec![
            s.established.to_string(),
            s.listen.to_string(),
            s.unconnected.to_string(),
            s.connecting.to_string(),
            self.summary.total.to_string(),
        ]);
        writeln!(
            out,
            "{} {}",
            st.bold("Unix sockets"),
            if self.filters.is_empty() {
                String::new()
            } else {
                format!("({})", self.filters.join(", "))
            }
        )?;
        writeln!(out, "{t}")?;
        let rows = if st.verbose > 0 { 100 } else { 10 };
        if !st.quiet {
            let mut k = output::table(&["type", "state", "sockets"]);
            for b in &self.summary.by_type {
                k.add_row(vec![b.kind.into(), b.state.into(), b.count.to_string()]);
            }
            if !self.summary.by_type.is_empty() {
                writeln!(out, "{k}")?;
            }
            let mut p = output::table(&["process", "pid", "state", "sockets"]);
            for b in self.summary.by_process.iter().take(rows) {
                p.add_row(vec![
                    b.command.clone(),
                    b.pid.to_string(),
                    b.state.into(),
                    b.count.to_string(),
                ]);
            }
            if !self.summary.by_process.is_empty() {
                writeln!(out, "{p}")?;
            }
            let mut l = output::table(&["listener", "type", "queue", "backlog", "process"]);
            for b in self.summary.listeners.iter().take(rows) {
                l.add_row(vec![
                    if b.path.is_empty() {
                        "(unbound)".into()
                    } else {
                        b.path.clone()
                    },
                    b.kind.into(),
                    b.queue.to_string(),
                    b.backlog.to_string(),
                    b.command
                        .as_deref()
                        .map(|c| format!("{c} pid {}", b.pid.unwrap_or(0)))
                        .unwrap_or_else(|| "-".into()),
                ]);
            }
            if !self.summary.listeners.is_empty() {
                writeln!(out, "{l}")?;
            }
            let mut q = output::table(&["path", "state", "sockets"]);
            for b in self.summary.by_path.iter().take(rows) {
                q.add_row(vec![b.path.clone(), b.state.into(), b.count.to_string()]);
            }
            if !self.summary.by_path.is_empty() {
                writeln!(out, "{q}")?;
            }
        }
        if self.summary.not_attributed > 0 {
            writeln!(
                out,
                "{} sockets belong to processes netlab cannot see ({})",
                self.summary.not_attributed,
                if self.privileged {
                    "outside this PID namespace, or kernel-held"
                } else {
                    "run as root to attribute them"
                }
            )?;
        }
        for d in &self.summary.diagnoses {
            writeln!(out, "{}: {}", st.warn(d.code), d.message)?;
        }
        for n in &self.notes {
            writeln!(out, "{} {n}", st.warn("note:"))?;
        }
        Ok(())
    }

    fn exit_code(&self) -> i32 {
        analyze::exit_code(&self.summary.diagnoses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(kind: u8, state: u8, inode: u32, name: Option<&str>) -> UnixSock {
        UnixSock {
            kind,
            state,
            inode,
            name: name.map(str::to_string),
            peer: Some(inode + 1000),
            queue: None,
            shutdown: 0,
        }
    }

    #[test]
    fn groups_and_diagnoses() {
        let mut socks = vec![sock(1, 10, 1, Some("/run/app.sock"))];
        socks[0].queue = Some((4, 4));
        for i in 0..6 {
            let mut s = sock(1, 1, 10 + i, Some("/run/app.sock"));
            s.peer = None;
            s.shutdown = 3;
            socks.push(s);
        }
        socks.push(sock(2, 7, 50, None));
        socks.push(sock(1, 1, 51, None));
        let mut owners = crate::sockets::analyze::OwnerMap::default();
        for i in [1, 10, 11, 12, 13, 14, 15] {
            owners.insert(i, (42, "app".into()));
        }
        let s = summarize(&socks, &owners, 5);
        assert_eq!(s.total, 9);
        assert_eq!(s.states.established, 7);
        assert_eq!(s.states.listen, 1);
        assert_eq!(s.states.unconnected, 1);
        assert_eq!(s.not_attributed, 2);
        assert_eq!(s.listeners[0].queue, 4);
        assert_eq!(s.listeners[0].pid, Some(42));
        assert_eq!(s.peer_closed.len(), 1);
        assert_eq!(s.peer_closed[0].count, 6);
        assert_eq!(s.peer_closed[0].path.as_deref(), Some("/run/app.sock"));
        let codes: Vec<_> = s.diagnoses.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["unix_peer_closed", "unix_accept_queue_full"]);
        assert!(s.diagnoses[0].message.contains("app (pid 42) holds 6"));
        assert_eq!(s.by_path[0].path, "/run/app.sock");
        assert_eq!(s.by_path[0].count, 6);
        // Below the threshold: listed, not diagnosed.
        let s = summarize(&socks, &owners, 7);
        assert_eq!(s.peer_closed[0].count, 6);
        assert_eq!(s.diagnoses.len(), 1);
    }

    #[test]
    fn state_names_round_trip() {
        for (n, v) in [
            ("established", 1),
            ("listen", 10),
            ("unconnected", 7),
            ("connecting", 2),
        ] {
            assert_eq!(state_number(n), Some(v));
        }
        assert_eq!(state_number("time-wait"), None);
    }
}

//! Sockets → counts, breakdowns and diagnoses in words (pure).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use serde::Serialize;

/// One TCP socket as sock_diag reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sock {
    /// TCP state number (1 ESTABLISHED … 12 NEW_SYN_RECV).
    pub state: u8,
    /// Local address.
    pub local: SocketAddr,
    /// Remote address.
    pub remote: SocketAddr,
    /// Receive queue (accept queue length for listeners).
    pub recv_q: u32,
    /// Send queue (backlog for listeners).
    pub send_q: u32,
    /// Inode; 0 for sockets no process holds (TIME_WAIT, orphans).
    pub inode: u32,
    /// Owner uid.
    pub uid: u32,
    /// ms since data (or the peer's FIN) last arrived, from tcp_info.
    pub last_recv_ms: Option<u32>,
}

/// A socket's owner: (pid, command).
pub type Owner = (u32, Arc<str>);

/// Socket inode → owner.
pub type OwnerMap = HashMap<u32, Owner, IntBuild>;

/// A hasher for integer keys the kernel hands out (inodes, pids): one multiply per word
/// instead of SipHash, for maps of tens of thousands of sockets. No remote party picks these
/// keys, so there is no bucket flooding to defend against.
#[derive(Debug, Default, Clone, Copy)]
pub struct IntHasher(u64);

const MUL: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(MUL);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(n)).wrapping_mul(MUL);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(MUL);
    }
}

/// Builds [`IntHasher`]s.
pub type IntBuild = BuildHasherDefault<IntHasher>;

/// `ss` names for TCP states.
pub fn state_name(s: u8) -> &'static str {
    match s {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        12 => "NEW_SYN_RECV",
        _ => "UNKNOWN",
    }
}

/// State number from a name (`close-wait`, `CLOSE_WAIT`, `time_wait`, ...).
pub fn state_number(name: &str) -> Option<u8> {
    let n = name.trim().to_ascii_uppercase().replace('-', "_");
    (1..=12).find(|s| state_name(*s) == n)
}

/// Counts per state: every state has its key (0 when none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct States {
    /// ESTABLISHED
    pub established: u64,
    /// SYN_SENT
    pub syn_sent: u64,
    /// SYN_RECV (and NEW_SYN_RECV request sockets)
    pub syn_recv: u64,
    /// FIN_WAIT1
    pub fin_wait1: u64,
    /// FIN_WAIT2
    pub fin_wait2: u64,
    /// TIME_WAIT
    pub time_wait: u64,
    /// CLOSE
    pub close: u64,
    /// CLOSE_WAIT
    pub close_wait: u64,
    /// LAST_ACK
    pub last_ack: u64,
    /// LISTEN
    pub listen: u64,
    /// CLOSING
    pub closing: u64,
}

impl States {
    fn add(&mut self, s: u8) {
        match s {
            1 => self.established += 1,
            2 => self.syn_sent += 1,
            3 | 12 => self.syn_recv += 1,
            4 => self.fin_wait1 += 1,
            5 => self.fin_wait2 += 1,
            6 => self.time_wait += 1,
            7 => self.close += 1,
            8 => self.close_wait += 1,
            9 => self.last_ack += 1,
            10 => self.listen += 1,
            11 => self.closing += 1,
            _ => {}
        }
    }
}

/// Owned sockets by process and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByProcess {
    /// Process id.
    pub pid: u32,
    /// Command name.
    pub command: String,
    /// State.
    pub state: &'static str,
    /// Sockets.
    pub count: u64,
}

/// Sockets by local port and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByPort {
    /// Local port.
    pub port: u16,
    /// State.
    pub state: &'static str,
    /// Sockets.
    pub count: u64,
}

/// Sockets by remote address and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ByPeer {
    /// Remote address.
    pub peer: String,
    /// State.
    pub state: &'static str,
    /// Sockets.
    pub count: u64,
}

/// Ownerless sockets of a server port, attributed to the listener's process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnownedPort {
    /// Local port (a listener's).
    pub port: u16,
    /// State.
    pub state: &'static str,
    /// Sockets.
    pub count: u64,
    /// The listener's process, when known.
    pub listener_pid: Option<u32>,
    /// Its command.
    pub listener_command: Option<String>,
}

/// Ownerless client-side sockets by (source address, destination address:port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnownedFlow {
    /// Our address.
    pub source: String,
    /// Where they went.
    pub destination: String,
    /// State.
    pub state: &'static str,
    /// Sockets.
    pub count: u64,
}

/// Sockets no process holds: TIME_WAIT, orphaned FIN_WAIT2 / LAST_ACK ...
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Unowned {
    /// How many.
    pub count: u64,
    /// Server side: attributed by local port to the listener.
    pub by_local_port: Vec<UnownedPort>,
    /// Client side: grouped by (source, destination).
    pub by_flow: Vec<UnownedFlow>,
}

/// A finding in words.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    /// close_wait_leak, time_wait_ports, accept_queue_full, accept_queue_high, listen_overflows.
    pub code: &'static str,
    /// warning or info.
    pub severity: &'static str,
    /// In words.
    pub message: String,
}

/// Exit code for a set of diagnoses: a finding when any is a warning.
pub fn exit_code(diagnoses: &[Diagnosis]) -> i32 {
    if diagnoses.iter().any(|d| d.severity == "warning") {
        crate::error::EXIT_FINDING
    } else {
        crate::error::EXIT_OK
    }
}

/// Thresholds for diagnoses.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    /// CLOSE_WAIT sockets of one process and port that make a diagnosis.
    pub close_wait: u64,
    /// Share of the ephemeral range in TIME_WAIT to one destination that makes a warning, %.
    pub time_wait_pct: f64,
}

/// Everything computed from one dump.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Sockets counted.
    pub total: u64,
    /// Per state.
    pub states: States,
    /// Owned sockets by process × state.
    pub by_process: Vec<ByProcess>,
    /// By local port × state.
    pub by_local_port: Vec<ByPort>,
    /// By remote address × state (listeners left out).
    pub by_peer: Vec<ByPeer>,
    /// Ownerless sockets.
    pub unowned: Unowned,
    /// Sockets with an owner netlab could not see (another user's, without privilege).
    pub not_attributed: u64,
    /// Findings.
    pub diagnoses: Vec<Diagnosis>,
}

pub(crate) fn sorted<K: Ord + Clone, V>(m: BTreeMap<K, u64>, f: impl Fn(K, u64) -> V) -> Vec<V> {
    let mut v: Vec<(K, u64)> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.into_iter().map(|(k, n)| f(k, n)).collect()
}

/// Group and diagnose. `owners` maps inode → (pid, command); `ephemeral` is the size of
/// ip_local_port_range.
pub fn summarize(socks: &[Sock], owners: &OwnerMap, ephemeral: u64, th: Thresholds) -> Summary {
    summarize_range(socks, owners, ephemeral, (32768, 60999), th)
}

/// As [`summarize`], with the ephemeral port range (to tell a server's side from a client's
/// when its listener is gone).
pub fn summarize_range(
    socks: &[Sock],
    owners: &OwnerMap,
    ephemeral: u64,
    range: (u16, u16),
    th: Thresholds,
) -> Summary {
    let ephemeral_port = |p: u16| p >= range.0 && p <= range.1;
    let mut s = Summary {
        total: socks.len() as u64,
        ..Default::default()
    };
    let mut by_proc: BTreeMap<(u32, &str, u8), u64> = BTreeMap::new();
    let mut by_port: BTreeMap<(u16, u8), u64> = BTreeMap::new();
    let mut by_peer: BTreeMap<(IpAddr, u8), u64> = BTreeMap::new();
    let mut cw: BTreeMap<(u32, &str, u16), (u64, u32)> = BTreeMap::new();
    let listeners: HashMap<u16, Option<&Owner>> = socks
        .iter()
        .filter(|k| k.state == 10)
        .map(|k| (k.local.port(), owners.get(&k.inode)))
        .collect();
    let mut un_port: BTreeMap<(u16, u8), u64> = BTreeMap::new();
    let mut un_flow: BTreeMap<(IpAddr, SocketAddr, u8), u64> = BTreeMap::new();
    for k in socks {
        s.states.add(k.state);
        *by_port.entry((k.local.port(), k.state)).or_default() += 1;
        if k.state != 10 {
            *by_peer.entry((k.remote.ip(), k.state)).or_default() += 1;
        }
        if k.inode == 0 {
            s.unowned.count += 1;
            // Server side: a listener on the port, or (listener gone) a fixed local port
            // talking to an ephemeral one.
            let server_side = listeners.contains_key(&k.local.port())
                || (!ephemeral_port(k.local.port()) && ephemeral_port(k.remote.port()));
            if server_side {
                *un_port.entry((k.local.port(), k.state)).or_default() += 1;
            } else {
                *un_flow
                    .entry((k.local.ip(), k.remote, k.state))
                    .or_default() += 1;
            }
            continue;
        }
        match owners.get(&k.inode) {
            Some((pid, cmd)) => {
                *by_proc.entry((*pid, &**cmd, k.state)).or_default() += 1;
                if k.state == 8 {
                    let e = cw.entry((*pid, &**cmd, k.local.port())).or_default();
                    e.0 += 1;
                    e.1 = e.1.max(k.last_recv_ms.unwrap_or(0));
                }
            }
            None => s.not_attributed += 1,
        }
    }
    s.by_process = sorted(by_proc, |(pid, command, st), count| ByProcess {
        pid,
        command: command.to_string(),
        state: state_name(st),
        count,
    });
    s.by_local_port = sorted(by_port, |(port, st), count| ByPort {
        port,
        state: state_name(st),
        count,
    });
    s.by_peer = sorted(by_peer, |(ip, st), count| ByPeer {
        peer: ip.to_string(),
        state: state_name(st),
        count,
    });
    s.unowned.by_local_port = sorted(un_port, |(port, st), count| {
        let l = listeners.get(&port).copied().flatten();
        UnownedPort {
            port,
            state: state_name(st),
            count,
            listener_pid: l.map(|x| x.0),
            listener_command: l.map(|x| x.1.to_string()),
        }
    });
    s.unowned.by_flow = sorted(un_flow, |(src, dst, st), count| UnownedFlow {
        source: src.to_string(),
        destination: dst.to_string(),
        state: state_name(st),
        count,
    });
    // CLOSE_WAIT piling up on a process and port.
    let mut leaks: Vec<_> = cw
        .into_iter()
        .filter(|(_, (n, _))| *n >= th.close_wait)
        .collect();
    leaks.sort_by_key(|l| std::cmp::Reverse(l.1.0));
    for ((pid, cmd, port), (n, oldest)) in leaks {
        let age = if oldest > 0 {
            format!(
                " (the oldest peer closed {:.1}s ago)",
                f64::from(oldest) / 1000.0
            )
        } else {
            String::new()
        };
        s.diagnoses.push(Diagnosis {
            code: "close_wait_leak",
            severity: "warning",
            message: format!(
                "{cmd} (pid {pid}) holds {n} CLOSE_WAIT sockets on local port {port}{age}: the peers closed and {cmd} has not called close() on them"
            ),
        });
    }
    // TIME_WAIT per destination against the ephemeral port range.
    let mut tw: BTreeMap<SocketAddr, u64> = BTreeMap::new();
    for k in socks
        .iter()
        .filter(|k| k.state == 6 && !listeners.contains_key(&k.local.port()))
    {
        *tw.entry(k.remote).or_default() += 1;
    }
    let mut tw: Vec<(SocketAddr, u64)> = tw.into_iter().collect();
    tw.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (dst, n) in tw.into_iter().take(5) {
        let pct = if ephemeral > 0 {
            n as f64 * 100.0 / ephemeral as f64
        } else {
            0.0
        };
        let warn = pct >= th.time_wait_pct;
        s.diagnoses.push(Diagnosis {
            code: "time_wait_ports",
            severity: if warn { "warning" } else { "info" },
            message: format!(
                "{n} TIME_WAIT sockets to {dst}: {pct:.1}% of the {ephemeral} ephemeral ports{}",
                if warn { " — new connections to it will start failing to find a port (raise ip_local_port_range, reuse connections, or enable tcp_tw_reuse)" } else { "" }
            ),
        });
    }
    // Listeners whose accept queue is full or filling.
    for k in socks.iter().filter(|k| k.state == 10 && k.send_q > 0) {
        let fill = f64::from(k.recv_q) * 100.0 / f64::from(k.send_q);
        if k.recv_q >= k.send_q || fill >= 50.0 {
            let who = owners
                .get(&k.inode)
                .map(|(p, c)| format!("{c} (pid {p})"))
                .unwrap_or_else(|| "a process".into());
            s.diagnoses.push(Diagnosis {
                code: if k.recv_q >= k.send_q { "accept_queue_full" } else { "accept_queue_high" },
                severity: "warning",
                message: format!(
                    "listener {} of {who}: accept queue {}/{} ({fill:.0}%){}",
                    k.local,
                    k.recv_q,
                    k.send_q,
                    if k.recv_q >= k.send_q { " — full: new connections are dropped (ListenOverflows); the application is not calling accept() fast enough" } else { "" }
                ),
            });
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sock(state: u8, local: &str, remote: &str, inode: u32) -> Sock {
        Sock {
            state,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            recv_q: 0,
            send_q: 0,
            inode,
            uid: 0,
            last_recv_ms: Some(5000),
        }
    }

    fn th() -> Thresholds {
        Thresholds {
            close_wait: 5,
            time_wait_pct: 50.0,
        }
    }

    #[test]
    fn counts_breakdowns_and_close_wait() {
        let mut v = vec![sock(10, "127.0.0.1:8080", "0.0.0.0:0", 100)];
        for i in 0..6 {
            v.push(sock(
                8,
                "127.0.0.1:8080",
                &format!("127.0.0.1:{}", 40000 + i),
                200 + i,
            ));
        }
        v.push(sock(1, "127.0.0.1:8080", "127.0.0.1:50000", 300));
        for i in 0..4 {
            v.push(sock(
                6,
                "127.0.0.1:8080",
                &format!("127.0.0.1:{}", 41000 + i),
                0,
            )); // server side
            v.push(sock(
                6,
                "127.0.0.1:42000",
                &format!("127.0.0.1:{}", 9000),
                0,
            )); // client side
        }
        let mut owners = OwnerMap::default();
        owners.insert(100, (7, "srv".into()));
        for i in 0..6 {
            owners.insert(200 + i, (7, "srv".into()));
        }
        let s = summarize(&v, &owners, 28232, th());
        assert_eq!(
            (
                s.total,
                s.states.close_wait,
                s.states.time_wait,
                s.states.established,
                s.states.listen
            ),
            (16, 6, 8, 1, 1)
        );
        assert_eq!(s.not_attributed, 1, "inode 300 has no known owner");
        assert_eq!(
            s.by_process[0],
            ByProcess {
                pid: 7,
                command: "srv".into(),
                state: "CLOSE_WAIT",
                count: 6
            }
        );
        assert_eq!(s.unowned.count, 8);
        assert_eq!(s.unowned.by_local_port[0].listener_pid, Some(7));
        assert_eq!(s.unowned.by_local_port[0].count, 4);
        assert_eq!(s.unowned.by_flow[0].destination, "127.0.0.1:9000");
        let d: Vec<&str> = s.diagnoses.iter().map(|d| d.code).collect();
        assert!(d.contains(&"close_wait_leak"));
        assert!(
            s.diagnoses[0]
                .message
                .contains("srv (pid 7) holds 6 CLOSE_WAIT sockets on local port 8080")
        );
        assert!(s.diagnoses[0].message.contains("5.0s ago"));
        let tw = s
            .diagnoses
            .iter()
            .find(|d| d.code == "time_wait_ports")
            .unwrap();
        assert_eq!(tw.severity, "info");
    }

    #[test]
    fn time_wait_share_and_accept_queue() {
        let mut v: Vec<Sock> = (0..60)
            .map(|i| sock(6, &format!("127.0.0.1:{}", 40000 + i), "127.0.0.1:80", 0))
            .collect();
        let mut l = sock(10, "127.0.0.1:9999", "0.0.0.0:0", 1);
        l.recv_q = 5;
        l.send_q = 4;
        v.push(l);
        let s = summarize(&v, &OwnerMap::default(), 100, th());
        let tw = s
            .diagnoses
            .iter()
            .find(|d| d.code == "time_wait_ports")
            .unwrap();
        assert_eq!(tw.severity, "warning");
        assert!(tw.message.contains("60.0% of the 100 ephemeral ports"));
        assert!(
            s.diagnoses
                .iter()
                .any(|d| d.code == "accept_queue_full" && d.message.contains("5/4"))
        );
    }

    #[test]
    fn server_side_time_wait_without_listener_groups_by_port() {
        let v: Vec<Sock> = (0..50)
            .map(|i| sock(6, "127.0.0.5:15500", &format!("127.0.0.1:{}", 40000 + i), 0))
            .collect();
        let s = summarize_range(&v, &OwnerMap::default(), 28232, (32768, 60999), th());
        assert_eq!(s.unowned.by_local_port.len(), 1);
        assert_eq!(s.unowned.by_local_port[0].count, 50);
        assert_eq!(s.unowned.by_local_port[0].listener_pid, None);
        assert!(s.unowned.by_flow.is_empty());
    }

    #[test]
    fn state_names() {
        assert_eq!(state_number("close-wait"), Some(8));
        assert_eq!(state_number("TIME_WAIT"), Some(6));
        assert_eq!(state_number("bogus"), None);
        assert_eq!(state_name(12), "NEW_SYN_RECV");
    }
}

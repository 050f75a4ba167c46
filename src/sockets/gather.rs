//! The I/O edge of `netlab sockets`: sock_diag dumps (one per family, the state filter applied
//! by the kernel), the inode → process map from /proc (built only for the inodes asked, and
//! stopping once all are found), sysctls and TcpExt counters.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use crate::sockets::analyze::{IntBuild, OwnerMap, Sock};

const AF_INET: u8 = libc::AF_INET as u8;
const AF_INET6: u8 = libc::AF_INET6 as u8;
/// Both families in one walk of the kernel's tables (the request below).
const AF_UNSPEC: u8 = libc::AF_UNSPEC as u8;
const IPPROTO_TCP: u8 = libc::IPPROTO_TCP as u8;
const IPPROTO_UDP: u8 = libc::IPPROTO_UDP as u8;
/// `SOCK_DIAG_BY_FAMILY`: `struct inet_diag_req_v2`, one family per request.
const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCPDIAG_GETSOCK`: the older `struct inet_diag_req`, which the kernel answers for both
/// families in one walk (it sets the family to AF_UNSPEC); TCP only.
const TCPDIAG_GETSOCK: u16 = 18;
/// `1 << (INET_DIAG_INFO - 1)`: ask for each TCP socket's `tcp_info`.
const EXT_INFO: u8 = 1 << 1;
/// The `INET_DIAG_INFO` attribute.
const ATTR_INFO: u16 = 2;

/// Dump TCP sockets of one family whose state bit is in `states`.
pub fn dump(family: u8, states: u32) -> io::Result<Vec<Sock>> {
    dump_proto(family, IPPROTO_TCP, states, true)
}

/// TCP states whose sockets carry a `tcp_info` the report uses: CLOSE_WAIT (8), for the time
/// since the peer's FIN arrived.
const INFO_STATES: u32 = 1 << 8;

/// The request for one dump: (nlmsg_type, payload).
fn request(family: u8, protocol: u8, states: u32, ext: u8) -> (u16, Vec<u8>) {
    let mut p = Vec::with_capacity(60);
    if family == AF_UNSPEC {
        // struct inet_diag_req: family (any; the kernel uses AF_UNSPEC), src_len, dst_len,
        // ext, the socket id (48 zero bytes: every socket), states, dbs.
        p.extend_from_slice(&[AF_INET, 0, 0, ext]);
        p.extend_from_slice(&[0u8; 48]);
        p.extend_from_slice(&states.to_ne_bytes());
        p.extend_from_slice(&0u32.to_ne_bytes());
        (TCPDIAG_GETSOCK, p)
    } else {
        // struct inet_diag_req_v2: family, protocol, ext, pad, states, the socket id.
        p.extend_from_slice(&[family, protocol, ext, 0]);
        p.extend_from_slice(&states.to_ne_bytes());
        p.extend_from_slice(&[0u8; 48]);
        (SOCK_DIAG_BY_FAMILY, p)
    }
}

/// Read one `struct inet_diag_msg` (and its `tcp_info` attribute) as a [`Sock`]. The layout
/// is the kernel's ABI: family, state, timer, retrans; the socket id (ports big-endian,
/// addresses, interface, cookie); expires, rqueue, wqueue, uid, inode; then attributes.
pub fn parse_diag_msg(m: &[u8]) -> Option<Sock> {
    if m.len() < 72 {
        return None;
    }
    let u32_at = |at: usize| u32::from_ne_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]]);
    let ip = |at: usize| -> IpAddr {
        if m[0] == AF_INET6 {
            let mut a = [0u8; 16];
            a.copy_from_slice(&m[at..at + 16]);
            IpAddr::from(a)
        } else {
            IpAddr::from([m[at], m[at + 1], m[at + 2], m[at + 3]])
        }
    };
    // tcp_info: last_data_recv (ms since data or FIN last arrived) at offset 52.
    let mut last_recv_ms = None;
    let mut at = 72;
    while at + 4 <= m.len() {
        let len = u16::from_ne_bytes([m[at], m[at + 1]]) as usize;
        let ty = u16::from_ne_bytes([m[at + 2], m[at + 3]]);
        if len < 4 || at + len > m.len() {
            break;
        }
        if ty == ATTR_INFO && len >= 4 + 56 {
            let b = &m[at + 4 + 52..at + 4 + 56];
            last_recv_ms = Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
        }
        at += (len + 3) & !3;
    }
    Some(Sock {
        state: m[1],
        local: SocketAddr::new(ip(8), u16::from_be_bytes([m[4], m[5]])),
        remote: SocketAddr::new(ip(24), u16::from_be_bytes([m[6], m[7]])),
        recv_q: u32_at(56),
        send_q: u32_at(60),
        inode: u32_at(68),
        uid: u32_at(64),
        last_recv_ms,
    })
}

/// Dump TCP or UDP sockets of one family (AF_UNSPEC: both, TCP only) whose state bit is in
/// `states`; `info` asks the kernel for each TCP socket's `tcp_info` as well (it costs the
/// kernel a lock per socket). The answer is read straight from the netlink buffers.
pub fn dump_proto(family: u8, protocol: u8, states: u32, info: bool) -> io::Result<Vec<Sock>> {
    let ext = if protocol == IPPROTO_TCP && info {
        EXT_INFO
    } else {
        0
    };
    let (ty, payload) = request(family, protocol, states, ext);
    let mut out = Vec::new();
    crate::net::netlink::dump_raw(NETLINK_SOCK_DIAG, ty, &payload, |_, m| {
        if let Some(k) = parse_diag_msg(m) {
            out.push(k);
        }
    })?;
    Ok(out)
}

/// Both families (or one), with the state filter (TCP).
pub fn dump_all(v4: bool, v6: bool, states: u32) -> io::Result<Vec<Sock>> {
    dump_all_proto(v4, v6, false, states)
}

/// Both families (or one), TCP or UDP, with the state filter. The kernel's work (walking its
/// socket tables and filling a message per socket) is the cost here: TCP for both families
/// is one walk (the AF_UNSPEC request), and the CLOSE_WAIT sockets (with `tcp_info`) are
/// dumped beside the rest on their own netlink socket, in parallel.
pub fn dump_all_proto(v4: bool, v6: bool, udp: bool, states: u32) -> io::Result<Vec<Sock>> {
    let proto = if udp { IPPROTO_UDP } else { IPPROTO_TCP };
    let families: Vec<u8> = if v4 && v6 && !udp {
        vec![AF_UNSPEC]
    } else {
        [(v4, AF_INET), (v6, AF_INET6)]
            .into_iter()
            .filter_map(|(on, f)| on.then_some(f))
            .collect()
    };
    let mut jobs: Vec<(u8, u32, bool)> = Vec::new();
    for &f in &families {
        if udp {
            jobs.push((f, states, false));
            continue;
        }
        let cw = states & INFO_STATES;
        for (part, info) in [(states & !cw, false), (cw, true)] {
            if part != 0 {
                jobs.push((f, part, info));
            }
        }
    }
    let results: Vec<io::Result<Vec<Sock>>> = std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .iter()
            .map(|&(f, part, info)| s.spawn(move || dump_proto(f, proto, part, info)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("sock_diag dump thread failed")))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(results.iter().flatten().map(Vec::len).sum());
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// The owners of a set of socket inodes, and how they were found.
#[derive(Debug, Default)]
pub struct Owners {
    /// inode → (pid, command); a socket shared by several processes goes to the lowest pid.
    pub map: OwnerMap,
    /// How: "ebpf_iter" (one kernel pass over every fd table), "procfs" (/proc/PID/fd), or
    /// "none" (no socket with an inode to look up).
    pub method: &'static str,
    /// Why the eBPF pass was not used, when it was tried and failed.
    pub ebpf_error: Option<String>,
}

/// The eBPF fd walk running on its thread: (pid, socket inode) pairs when it is done.
pub type FdWalk = std::thread::JoinHandle<io::Result<Vec<(u32, u32)>>>;

/// The eBPF fd walk, started on its own thread so that it runs beside the sock_diag dumps;
/// [`owners`] takes its result. `NETLAB_FDWALK=procfs` skips it (tests and benchmarks
/// compare the two ways).
pub fn start_fd_walk() -> Option<FdWalk> {
    if std::env::var_os("NETLAB_FDWALK").is_some_and(|v| v == "procfs") {
        return None;
    }
    std::thread::Builder::new()
        .name("fdwalk".into())
        .spawn(crate::sockets::fdwalk::walk)
        .ok()
}

/// Who owns each of `inodes`: from the eBPF walk started by [`start_fd_walk`] when it
/// worked (root, a kernel with BTF), else from /proc/PID/fd ([`owners_procfs`]).
pub fn owners(inodes: &HashSet<u32, IntBuild>, walk: Option<FdWalk>) -> Owners {
    let walked = walk.map(|h| {
        h.join()
            .unwrap_or_else(|_| Err(io::Error::other("fd walk thread failed")))
    });
    if inodes.is_empty() {
        return Owners {
            method: "none",
            ..Owners::default()
        };
    }
    let ebpf_error = match walked {
        Some(Ok(pairs)) => {
            return Owners {
                map: crate::sockets::fdwalk::owners_from(&pairs, inodes),
                method: "ebpf_iter",
                ebpf_error: None,
            };
        }
        Some(Err(e)) => Some(e.to_string()),
        None => None,
    };
    Owners {
        map: owners_procfs(inodes).0,
        method: "procfs",
        ebpf_error,
    }
}

/// [`owners`] by walking /proc/PID/fd: only until every inode is found, over as many threads
/// as there are CPUs (at most 4), each reading its share of the processes with `fstatat` on
/// the open fd directory; processes it may not read are counted in the second value.
pub fn owners_procfs(inodes: &HashSet<u32, IntBuild>) -> (OwnerMap, usize) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    if inodes.is_empty() {
        return (OwnerMap::default(), 0);
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (OwnerMap::default(), 0);
    };
    let mut pids: Vec<u32> = procs
        .flatten()
        .filter_map(|p| p.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    pids.sort_unstable();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(pids.len().max(1));
    // Inodes found by any thread: the walk stops once it holds them all.
    let seen: Mutex<HashSet<u32>> = Mutex::new(HashSet::with_capacity(inodes.len()));
    let found_count = AtomicUsize::new(0);
    let unreadable = AtomicUsize::new(0);
    let want = inodes.len();
    // Interleaved shares: busy processes (servers) are spread over the threads.
    let parts: Vec<OwnerMap> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let pids = &pids;
                let found_count = &found_count;
                let unreadable = &unreadable;
                let seen = &seen;
                s.spawn(move || {
                    let mut found = OwnerMap::default();
                    let mut hits = Vec::new();
                    for &pid in pids.iter().skip(t).step_by(threads) {
                        if found_count.load(Ordering::Relaxed) >= want {
                            break;
                        }
                        hits.clear();
                        if !scan_process(pid, inodes, &mut found, &mut hits) {
                            unreadable.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if !hits.is_empty() {
                            let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                            let new = hits.iter().filter(|&&i| seen.insert(i)).count();
                            found_count.fetch_add(new, Ordering::Relaxed);
                        }
                    }
                    found
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut found: OwnerMap = OwnerMap::with_capacity_and_hasher(want, IntBuild::default());
    for part in parts {
        for (ino, owner) in part {
            match found.get(&ino) {
                Some(o) if o.0 <= owner.0 => {}
                _ => {
                    found.insert(ino, owner);
                }
            }
        }
    }
    (found, unreadable.into_inner())
}

/// A process with more fds than this has its fd table read by several threads.
const SPLIT_FDS: usize = 4096;

/// Read one process's fd table; record the owner of every wanted socket inode not yet in
/// `found` (and push it to `hits`). False when the process's fds cannot be read. Each fd is
/// `stat`ed through its /proc link (the socket's inode number, without formatting the
/// `socket:[N]` name `readlink` would).
fn scan_process(
    pid: u32,
    inodes: &HashSet<u32, IntBuild>,
    found: &mut OwnerMap,
    hits: &mut Vec<u32>,
) -> bool {
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    use std::os::fd::AsFd;
    let Ok(mut dir) = nix::dir::Dir::open(
        format!("/proc/{pid}/fd").as_str(),
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(fd) = dir.as_fd().try_clone_to_owned() else {
        return false;
    };
    let names: Vec<std::ffi::CString> = dir
        .iter()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_bytes()
                .first()
                .is_some_and(u8::is_ascii_digit)
        })
        .map(|e| e.file_name().to_owned())
        .collect();
    let wanted = |chunk: &[std::ffi::CString]| -> Vec<u32> {
        chunk
            .iter()
            .filter_map(|name| {
                let st =
                    nix::sys::stat::fstatat(&fd, name.as_c_str(), nix::fcntl::AtFlags::empty())
                        .ok()?;
                if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
                    return None;
                }
                let ino = u32::try_from(st.st_ino).ok()?;
                inodes.contains(&ino).then_some(ino)
            })
            .collect()
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let inos: Vec<u32> = if names.len() > SPLIT_FDS && threads > 1 {
        let per = names.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = names
                .chunks(per)
                .map(|c| s.spawn(move || wanted(c)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    } else {
        wanted(&names)
    };
    let mut comm: Option<std::sync::Arc<str>> = None;
    for ino in inos {
        if let std::collections::hash_map::Entry::Vacant(e) = found.entry(ino) {
            let c = comm.get_or_insert_with(|| command(pid));
            e.insert((pid, c.clone()));
            hits.push(ino);
        }
    }
    true
}

/// A process's command name (/proc/PID/comm); empty when it is gone.
pub fn command(pid: u32) -> std::sync::Arc<str> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| std::sync::Arc::from(s.trim()))
        .unwrap_or_else(|_| std::sync::Arc::from(""))
}

/// Read one sysctl under /proc/sys (dots as in `sysctl`).
pub fn sysctl(name: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/{}", name.replace('.', "/")))
        .ok()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// TcpExt counters from /proc/net/netstat.
pub fn tcpext() -> HashMap<String, u64> {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = HashMap::new();
    for pair in lines.chunks(2) {
        if let [names, values] = pair
            && names.starts_with("TcpExt:")
        {
            for (n, v) in names
                .split_whitespace()
                .skip(1)
                .zip(values.split_whitespace().skip(1))
            {
                if let Ok(v) = v.parse() {
                    out.insert(n.to_string(), v);
                }
            }
        }
    }
    out
}

/// Is `ip` one of this host's? (for client/server side attribution)
pub fn is_unspecified(ip: &IpAddr) -> bool {
    ip.is_unspecified()
}

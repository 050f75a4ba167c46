//! The I/O edge of `netlab sockets`: sock_diag dumps (one per family, the state filter applied
//! by the kernel), the inode → process map from /proc (built only for the inodes asked, and
//! stopping once all are found), sysctls and TcpExt counters.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;

use crate::sockets::analyze::Sock;

/// Dump TCP sockets of one family whose state bit is in `states`.
pub fn dump(family: u8, states: u32) -> io::Result<Vec<Sock>> {
    dump_proto(family, IPPROTO_TCP, states, true)
}

/// TCP states whose sockets carry a `tcp_info` the report uses: CLOSE_WAIT (8), for the time
/// since the peer's FIN arrived.
const INFO_STATES: u32 = 1 << 8;

/// Dump TCP or UDP sockets of one family whose state bit is in `states`; `info` asks the
/// kernel for each TCP socket's `tcp_info` as well (it costs the kernel a lock per socket).
pub fn dump_proto(family: u8, protocol: u8, states: u32, info: bool) -> io::Result<Vec<Sock>> {
    let req = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol,
        extensions: if protocol == IPPROTO_TCP && info {
            ExtensionFlags::INFO
        } else {
            ExtensionFlags::empty()
        },
        states: StateFlags::from_bits_truncate(states),
        socket_id: if family == AF_INET {
            SocketId::new_v4()
        } else {
            SocketId::new_v6()
        },
    });
    let mut out = Vec::new();
    crate::net::netlink::request_each(NETLINK_SOCK_DIAG, req, true, |m| {
        let SockDiagMessage::InetResponse(r) = m else {
            return;
        };
        let h = &r.header;
        // tcp_info: last_data_recv (ms since data or FIN last arrived) at offset 52.
        let last_recv_ms = r.nlas.iter().find_map(|n| match n {
            Nla::TcpInfo(b) if b.len() >= 56 => {
                Some(u32::from_ne_bytes([b[52], b[53], b[54], b[55]]))
            }
            _ => None,
        });
        out.push(Sock {
            state: h.state,
            local: SocketAddr::new(h.socket_id.source_address, h.socket_id.source_port),
            remote: SocketAddr::new(
                h.socket_id.destination_address,
                h.socket_id.destination_port,
            ),
            recv_q: h.recv_queue,
            send_q: h.send_queue,
            inode: h.inode,
            uid: h.uid,
            last_recv_ms,
        });
    })?;
    Ok(out)
}

/// Both families (or one), with the state filter (TCP).
pub fn dump_all(v4: bool, v6: bool, states: u32) -> io::Result<Vec<Sock>> {
    dump_all_proto(v4, v6, false, states)
}

/// Both families (or one), TCP or UDP, with the state filter. The kernel's work (walking its
/// socket tables and filling a message per socket) is the cost here, so the dumps run side by
/// side on their own netlink sockets: per family, and for TCP the TIME_WAIT sockets, the
/// CLOSE_WAIT ones (with `tcp_info`) and the rest apart.
pub fn dump_all_proto(v4: bool, v6: bool, udp: bool, states: u32) -> io::Result<Vec<Sock>> {
    let proto = if udp { IPPROTO_UDP } else { IPPROTO_TCP };
    let families: Vec<u8> = [(v4, AF_INET), (v6, AF_INET6)]
        .into_iter()
        .filter_map(|(on, f)| on.then_some(f))
        .collect();
    let mut jobs: Vec<(u8, u32, bool)> = Vec::new();
    for &f in &families {
        if udp {
            jobs.push((f, states, false));
            continue;
        }
        // Every dump walks the kernel's whole socket table, so more than two per family
        // costs more than the parallelism wins (measured on 54k sockets, 2 CPUs).
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
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Who owns each of `inodes`: (pid, command). Walks /proc/PID/fd only until every inode is
/// found, over as many threads as there are CPUs (at most 4), each reading its share of the
/// processes with `readlinkat` on the open fd directory; processes it may not read are counted
/// in the second value. A socket shared by several processes goes to the lowest pid that was
/// read.
pub fn owners(inodes: &HashSet<u32>) -> (HashMap<u32, (u32, String)>, usize) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    if inodes.is_empty() {
        return (HashMap::new(), 0);
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (HashMap::new(), 0);
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
    let parts: Vec<HashMap<u32, (u32, String)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let pids = &pids;
                let found_count = &found_count;
                let unreadable = &unreadable;
                let seen = &seen;
                s.spawn(move || {
                    let mut found = HashMap::new();
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
    let mut found: HashMap<u32, (u32, String)> = HashMap::with_capacity(want);
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
    inodes: &HashSet<u32>,
    found: &mut HashMap<u32, (u32, String)>,
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
    let mut comm: Option<String> = None;
    for ino in inos {
        if let std::collections::hash_map::Entry::Vacant(e) = found.entry(ino) {
            let c = comm.get_or_insert_with(|| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default()
            });
            e.insert((pid, c.clone()));
            hits.push(ino);
        }
    }
    true
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

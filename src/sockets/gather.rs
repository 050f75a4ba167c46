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
    dump_proto(family, IPPROTO_TCP, states)
}

/// Dump TCP or UDP sockets of one family whose state bit is in `states`.
pub fn dump_proto(family: u8, protocol: u8, states: u32) -> io::Result<Vec<Sock>> {
    let req = SockDiagMessage::InetRequest(InetRequest {
        family,
        protocol,
        extensions: if protocol == IPPROTO_TCP {
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
    let answers = crate::net::netlink::request(NETLINK_SOCK_DIAG, req, true)?;
    Ok(answers
        .into_iter()
        .filter_map(|m| match m {
            SockDiagMessage::InetResponse(r) => {
                let h = &r.header;
                // tcp_info: last_data_recv (ms since data or FIN last arrived) at offset 52.
                let last_recv_ms = r.nlas.iter().find_map(|n| match n {
                    Nla::TcpInfo(b) if b.len() >= 56 => {
                        Some(u32::from_ne_bytes([b[52], b[53], b[54], b[55]]))
                    }
                    _ => None,
                });
                Some(Sock {
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
                })
            }
            _ => None,
        })
        .collect())
}

/// Both families (or one), with the state filter (TCP).
pub fn dump_all(v4: bool, v6: bool, states: u32) -> io::Result<Vec<Sock>> {
    dump_all_proto(v4, v6, false, states)
}

/// Both families (or one), TCP or UDP, with the state filter.
pub fn dump_all_proto(v4: bool, v6: bool, udp: bool, states: u32) -> io::Result<Vec<Sock>> {
    let proto = if udp { IPPROTO_UDP } else { IPPROTO_TCP };
    let mut all = Vec::new();
    if v4 {
        all.extend(dump_proto(AF_INET, proto, states)?);
    }
    if v6 {
        all.extend(dump_proto(AF_INET6, proto, states)?);
    }
    Ok(all)
}

/// Who owns each of `inodes`: (pid, command). Walks /proc/PID/fd only until every inode is
/// found; processes it may not read are counted in the second value.
pub fn owners(inodes: &HashSet<u32>) -> (HashMap<u32, (u32, String)>, usize) {
    let mut found = HashMap::new();
    let mut unreadable = 0;
    if inodes.is_empty() {
        return (found, 0);
    }
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return (found, 0);
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            unreadable += 1;
            continue;
        };
        let mut comm: Option<String> = None;
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            let Some(ino) = t
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if inodes.contains(&ino) && !found.contains_key(&ino) {
                let c = comm.get_or_insert_with(|| {
                    std::fs::read_to_string(p.path().join("comm"))
                        .map(|s| s.trim().to_string())
                        .unwrap_or_default()
                });
                found.insert(ino, (pid, c.clone()));
            }
        }
        if found.len() == inodes.len() {
            break;
        }
    }
    (found, unreadable)
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

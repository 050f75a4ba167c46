//! A traced process's descriptor, resolved to its socket like `strace -yy`: the descriptor
//! is borrowed with pidfd_getfd, asked for its addresses, type and TCP state, and closed.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::sys::socket::{
    SockaddrLike, SockaddrStorage, getpeername, getsockname, getsockopt, sockopt,
};
use serde::Serialize;

use crate::sys::trace;

/// What a descriptor is, when it is a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FdInfo {
    /// The descriptor number.
    pub fd: i32,
    /// tcp, tcp6, udp, udp6, unix, unix_dgram, netlink, socket.
    pub kind: String,
    /// Local address (ip:port, or the path of a Unix socket).
    pub local: Option<String>,
    /// Peer address.
    pub remote: Option<String>,
    /// TCP state (LISTEN, ESTABLISHED, CLOSE_WAIT ...).
    pub state: Option<String>,
    /// Listener: connections waiting in the accept queue.
    pub accept_queue: Option<u32>,
    /// Listener: its backlog.
    pub backlog: Option<u32>,
}

impl FdInfo {
    /// `fd<TCP:[local->remote STATE]>`, as strace -yy writes it (with the state added).
    pub fn text(&self) -> String {
        let proto = self.kind.to_ascii_uppercase();
        let mut s = format!("{}<{proto}:[", self.fd);
        if let Some(l) = &self.local {
            s.push_str(l);
        }
        if let Some(r) = &self.remote {
            s.push_str("->");
            s.push_str(r);
        }
        if let Some(st) = &self.state {
            s.push(' ');
            s.push_str(st);
            if let (Some(q), Some(b)) = (self.accept_queue, self.backlog) {
                s.push_str(&format!(" {q}/{b}"));
            }
        }
        s.push_str("]>");
        s
    }
}

fn addr_text(a: &SockaddrStorage) -> Option<String> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(format!("{}:{}", v4.ip(), v4.port()));
    }
    if let Some(v6) = a.as_sockaddr_in6() {
        return Some(format!("[{}]:{}", v6.ip(), v6.port()));
    }
    if let Some(u) = a.as_unix_addr() {
        if let Some(p) = u.path() {
            return Some(p.display().to_string());
        }
        if let Some(ab) = u.as_abstract() {
            return Some(format!("@{}", String::from_utf8_lossy(ab)));
        }
        return None;
    }
    None
}

/// Resolve descriptor `fd` of the process behind `pidfd`. None: not a socket (or gone).
pub fn resolve(pidfd: &OwnedFd, fd: i32) -> Option<FdInfo> {
    if fd < 0 {
        return None;
    }
    let dup = trace::pidfd_getfd(pidfd, fd).ok()?;
    let raw = dup.as_raw_fd();
    let local: SockaddrStorage = getsockname(raw).ok()?;
    let ty = getsockopt(&dup, sockopt::SockType).ok();
    let fam = local.family();
    use nix::sys::socket::AddressFamily as F;
    use nix::sys::socket::SockType as T;
    let kind = match (fam, ty) {
        (Some(F::Inet), Some(T::Stream)) => "tcp",
        (Some(F::Inet6), Some(T::Stream)) => "tcp6",
        (Some(F::Inet), Some(T::Datagram)) => "udp",
        (Some(F::Inet6), Some(T::Datagram)) => "udp6",
        (Some(F::Inet | F::Inet6), Some(T::Raw)) => "raw",
        (Some(F::Unix), Some(T::Stream)) => "unix",
        (Some(F::Unix), Some(T::Datagram)) => "unix_dgram",
        (Some(F::Unix), Some(T::SeqPacket)) => "unix_seqpacket",
        (Some(F::Netlink), _) => "netlink",
        (Some(F::Packet), _) => "packet",
        _ => "socket",
    }
    .to_string();
    let remote = getpeername::<SockaddrStorage>(raw)
        .ok()
        .and_then(|a| addr_text(&a));
    let (mut state, mut accept_queue, mut backlog) = (None, None, None);
    if kind.starts_with("tcp")
        && let Ok(ti) = crate::sys::tcp_info(dup.as_fd())
    {
        state = Some(crate::sockets::analyze::state_name(ti.state).to_string());
        if ti.state == 10 {
            accept_queue = Some(ti.unacked);
            backlog = Some(ti.sacked);
        }
    }
    Some(FdInfo {
        fd,
        kind,
        local: addr_text(&local),
        remote,
        state,
        accept_queue,
        backlog,
    })
}

/// Per traced process: its pidfd, which descriptors are sockets (for the calls shown only
/// on sockets: read, write, close ...), and what each socket descriptor was last resolved
/// to. A descriptor is resolved again after anything that changes it: a close, a call that
/// returns that number, bind / connect / listen / shutdown, a read that saw the peer close.
#[derive(Debug, Default)]
pub struct Fds {
    pidfds: HashMap<i32, OwnedFd>,
    is_socket: HashMap<(i32, i32), bool>,
    known: HashMap<(i32, i32), FdInfo>,
}

impl Fds {
    /// The pidfd of process `tgid` (opened once).
    pub fn pidfd(&mut self, tgid: i32) -> Option<&OwnedFd> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.pidfds.entry(tgid) {
            e.insert(trace::pidfd_open(tgid).ok()?);
        }
        self.pidfds.get(&tgid)
    }

    /// Resolve `fd` of `tgid` now, remembering the answer.
    pub fn resolve(&mut self, tgid: i32, fd: i32) -> Option<FdInfo> {
        let info = self.pidfd(tgid).and_then(|p| resolve(p, fd));
        self.is_socket.insert((tgid, fd), info.is_some());
        match &info {
            Some(i) => {
                self.known.insert((tgid, fd), i.clone());
            }
            None => {
                self.known.remove(&(tgid, fd));
            }
        }
        info
    }

    /// What `fd` of `tgid` is: remembered, or resolved now.
    pub fn lookup(&mut self, tgid: i32, fd: i32) -> Option<FdInfo> {
        if let Some(i) = self.known.get(&(tgid, fd)) {
            return Some(i.clone());
        }
        if self.is_socket.get(&(tgid, fd)) == Some(&false) {
            return None;
        }
        self.resolve(tgid, fd)
    }

    /// Remember what `info.fd` of `tgid` is (known without asking the kernel).
    pub fn remember(&mut self, tgid: i32, info: FdInfo) {
        self.is_socket.insert((tgid, info.fd), true);
        self.known.insert((tgid, info.fd), info);
    }

    /// Whether `fd` of `tgid` is a socket (cached until it is closed or reused).
    pub fn is_socket(&mut self, tgid: i32, fd: i32) -> bool {
        if let Some(v) = self.is_socket.get(&(tgid, fd)) {
            return *v;
        }
        let link = std::fs::read_link(format!("/proc/{tgid}/fd/{fd}")).ok();
        let v = link.is_some_and(|l| l.to_string_lossy().starts_with("socket:"));
        self.is_socket.insert((tgid, fd), v);
        v
    }

    /// `fd` of `tgid` changed (closed, reused, re-bound, peer closed): forget it.
    pub fn forget(&mut self, tgid: i32, fd: i32) {
        self.is_socket.remove(&(tgid, fd));
        self.known.remove(&(tgid, fd));
    }

    /// The process is gone (or exec'd).
    pub fn gone(&mut self, tgid: i32) {
        self.pidfds.remove(&tgid);
        self.is_socket.retain(|(p, _), _| *p != tgid);
        self.known.retain(|(p, _), _| *p != tgid);
    }
}

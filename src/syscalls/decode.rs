//! Pure decoding of network system calls from their raw arguments, return value and the
//! tracee's memory (read through [`Mem`]): socket addresses (AF_INET, AF_INET6, AF_UNIX,
//! AF_NETLINK), socket types and flags, MSG_* flags, option levels and names, poll fds and
//! revents, epoll operations and event masks, fd sets. Unit-tested on recorded values.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Value, json};

/// Reads the tracee's memory.
pub trait Mem {
    /// `len` bytes at `addr`, or None when unreadable.
    fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>>;
}

/// One decoded argument: its JSON value and its strace-like text.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// For `--json`: a number, a string, or an object (socket address, event).
    pub json: Value,
    /// For people.
    pub text: String,
}

impl Arg {
    fn int(v: i64) -> Arg {
        Arg {
            json: json!(v),
            text: v.to_string(),
        }
    }
    fn text(s: String) -> Arg {
        Arg {
            json: Value::String(s.clone()),
            text: s,
        }
    }
    fn ptr(p: u64) -> Arg {
        if p == 0 {
            Arg::text("NULL".into())
        } else {
            Arg::text(format!("0x{p:x}"))
        }
    }
}

/// Bytes of a buffer shown (like strace -s 32).
pub const STRING_LIMIT: usize = 32;

fn u16_be(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn u32_ne(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_ne(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn i32_ne(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Address family name.
pub fn family(f: u16) -> String {
    match f as i32 {
        libc::AF_UNSPEC => "AF_UNSPEC".into(),
        libc::AF_UNIX => "AF_UNIX".into(),
        libc::AF_INET => "AF_INET".into(),
        libc::AF_INET6 => "AF_INET6".into(),
        libc::AF_NETLINK => "AF_NETLINK".into(),
        libc::AF_PACKET => "AF_PACKET".into(),
        n => format!("AF_{n}"),
    }
}

/// A `struct sockaddr` of `b.len()` bytes.
pub fn sockaddr(b: &[u8]) -> Arg {
    let Some(fam) = b.get(0..2).map(|x| u16::from_ne_bytes([x[0], x[1]])) else {
        return Arg::text("{}".into());
    };
    match fam as i32 {
        libc::AF_INET if b.len() >= 8 => {
            let port = u16_be(b, 2).unwrap_or(0);
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Arg {
                json: json!({"family": "AF_INET", "addr": ip.to_string(), "port": port}),
                text: format!("{{AF_INET, {ip}:{port}}}"),
            }
        }
        libc::AF_INET6 if b.len() >= 24 => {
            let port = u16_be(b, 2).unwrap_or(0);
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[8..24]);
            let ip = Ipv6Addr::from(a);
            let scope = u32_ne(b, 24).unwrap_or(0);
            Arg {
                json: json!({"family": "AF_INET6", "addr": ip.to_string(), "port": port, "scope_id": scope}),
                text: format!("{{AF_INET6, [{ip}]:{port}}}"),
            }
        }
        libc::AF_UNIX => {
            let raw = &b[2.min(b.len())..];
            let path = if raw.first() == Some(&0) && raw.len() > 1 {
                // Abstract: @name (the whole length counts, NULs included).
                format!("@{}", String::from_utf8_lossy(&raw[1..]))
            } else {
                let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
                String::from_utf8_lossy(&raw[..end]).into_owned()
            };
            Arg {
                json: json!({"family": "AF_UNIX", "path": path}),
                text: format!("{{AF_UNIX, {path:?}}}"),
            }
        }
        libc::AF_NETLINK if b.len() >= 12 => {
            let pid = u32_ne(b, 4).unwrap_or(0);
            let groups = u32_ne(b, 8).unwrap_or(0);
            Arg {
                json: json!({"family": "AF_NETLINK", "pid": pid, "groups": groups}),
                text: format!("{{AF_NETLINK, pid={pid}, groups={groups:#x}}}"),
            }
        }
        _ => Arg {
            json: json!({"family": family(fam)}),
            text: format!("{{{}}}", family(fam)),
        },
    }
}

fn flags(v: u64, names: &[(u64, &str)]) -> String {
    let mut left = v;
    let mut out: Vec<String> = Vec::new();
    for (bit, name) in names {
        if *bit != 0 && left & bit == *bit {
            out.push((*name).to_string());
            left &= !bit;
        }
    }
    if left != 0 || out.is_empty() {
        out.push(format!("{left:#x}"));
    }
    out.join("|")
}

/// SOCK_* type with its flags.
pub fn sock_type(t: u64) -> String {
    let base = match (t & 0xf) as i32 {
        libc::SOCK_STREAM => "SOCK_STREAM".to_string(),
        libc::SOCK_DGRAM => "SOCK_DGRAM".to_string(),
        libc::SOCK_RAW => "SOCK_RAW".to_string(),
        libc::SOCK_SEQPACKET => "SOCK_SEQPACKET".to_string(),
        n => format!("{n}"),
    };
    let mut s = base;
    if t & libc::SOCK_NONBLOCK as u64 != 0 {
        s.push_str("|SOCK_NONBLOCK");
    }
    if t & libc::SOCK_CLOEXEC as u64 != 0 {
        s.push_str("|SOCK_CLOEXEC");
    }
    s
}

/// accept4 flags.
pub fn accept_flags(f: u64) -> String {
    if f == 0 {
        return "0".into();
    }
    flags(
        f,
        &[
            (libc::SOCK_NONBLOCK as u64, "SOCK_NONBLOCK"),
            (libc::SOCK_CLOEXEC as u64, "SOCK_CLOEXEC"),
        ],
    )
}

/// MSG_* flags.
pub fn msg_flags(f: u64) -> String {
    if f == 0 {
        return "0".into();
    }
    flags(
        f,
        &[
            (libc::MSG_OOB as u64, "MSG_OOB"),
            (libc::MSG_PEEK as u64, "MSG_PEEK"),
            (libc::MSG_DONTROUTE as u64, "MSG_DONTROUTE"),
            (libc::MSG_CTRUNC as u64, "MSG_CTRUNC"),
            (libc::MSG_TRUNC as u64, "MSG_TRUNC"),
            (libc::MSG_DONTWAIT as u64, "MSG_DONTWAIT"),
            (libc::MSG_EOR as u64, "MSG_EOR"),
            (libc::MSG_WAITALL as u64, "MSG_WAITALL"),
            (libc::MSG_NOSIGNAL as u64, "MSG_NOSIGNAL"),
            (libc::MSG_MORE as u64, "MSG_MORE"),
            (libc::MSG_CMSG_CLOEXEC as u64, "MSG_CMSG_CLOEXEC"),
            (libc::MSG_FASTOPEN as u64, "MSG_FASTOPEN"),
            (libc::MSG_ZEROCOPY as u64, "MSG_ZEROCOPY"),
        ],
    )
}

/// Socket option level.
pub fn level(l: i64) -> String {
    match l as i32 {
        libc::SOL_SOCKET => "SOL_SOCKET".into(),
        libc::IPPROTO_TCP => "IPPROTO_TCP".into(),
        libc::IPPROTO_IP => "IPPROTO_IP".into(),
        libc::IPPROTO_IPV6 => "IPPROTO_IPV6".into(),
        libc::IPPROTO_UDP => "IPPROTO_UDP".into(),
        n => n.to_string(),
    }
}

/// Socket option name within its level.
pub fn optname(l: i64, o: i64) -> String {
    let o = o as i32;
    let n = match l as i32 {
        libc::SOL_SOCKET => match o {
            libc::SO_DEBUG => "SO_DEBUG",
            libc::SO_REUSEADDR => "SO_REUSEADDR",
            libc::SO_TYPE => "SO_TYPE",
            libc::SO_ERROR => "SO_ERROR",
            libc::SO_DONTROUTE => "SO_DONTROUTE",
            libc::SO_BROADCAST => "SO_BROADCAST",
            libc::SO_SNDBUF => "SO_SNDBUF",
            libc::SO_RCVBUF => "SO_RCVBUF",
            libc::SO_KEEPALIVE => "SO_KEEPALIVE",
            libc::SO_OOBINLINE => "SO_OOBINLINE",
            libc::SO_LINGER => "SO_LINGER",
            libc::SO_REUSEPORT => "SO_REUSEPORT",
            libc::SO_RCVLOWAT => "SO_RCVLOWAT",
            libc::SO_RCVTIMEO => "SO_RCVTIMEO",
            libc::SO_SNDTIMEO => "SO_SNDTIMEO",
            libc::SO_ACCEPTCONN => "SO_ACCEPTCONN",
            libc::SO_PROTOCOL => "SO_PROTOCOL",
            libc::SO_DOMAIN => "SO_DOMAIN",
            libc::SO_BINDTODEVICE => "SO_BINDTODEVICE",
            libc::SO_TIMESTAMP => "SO_TIMESTAMP",
            libc::SO_TIMESTAMPNS => "SO_TIMESTAMPNS",
            libc::SO_MARK => "SO_MARK",
            libc::SO_PRIORITY => "SO_PRIORITY",
            libc::SO_PASSCRED => "SO_PASSCRED",
            libc::SO_PEERCRED => "SO_PEERCRED",
            libc::SO_SNDBUFFORCE => "SO_SNDBUFFORCE",
            libc::SO_RCVBUFFORCE => "SO_RCVBUFFORCE",
            libc::SO_BUSY_POLL => "SO_BUSY_POLL",
            libc::SO_INCOMING_CPU => "SO_INCOMING_CPU",
            libc::SO_ZEROCOPY => "SO_ZEROCOPY",
            _ => "",
        },
        libc::IPPROTO_TCP => match o {
            libc::TCP_NODELAY => "TCP_NODELAY",
            libc::TCP_MAXSEG => "TCP_MAXSEG",
            libc::TCP_CORK => "TCP_CORK",
            libc::TCP_KEEPIDLE => "TCP_KEEPIDLE",
            libc::TCP_KEEPINTVL => "TCP_KEEPINTVL",
            libc::TCP_KEEPCNT => "TCP_KEEPCNT",
            libc::TCP_SYNCNT => "TCP_SYNCNT",
            libc::TCP_LINGER2 => "TCP_LINGER2",
            libc::TCP_DEFER_ACCEPT => "TCP_DEFER_ACCEPT",
            libc::TCP_WINDOW_CLAMP => "TCP_WINDOW_CLAMP",
            libc::TCP_INFO => "TCP_INFO",
            libc::TCP_QUICKACK => "TCP_QUICKACK",
            libc::TCP_CONGESTION => "TCP_CONGESTION",
            libc::TCP_FASTOPEN => "TCP_FASTOPEN",
            libc::TCP_USER_TIMEOUT => "TCP_USER_TIMEOUT",
            libc::TCP_NOTSENT_LOWAT => "TCP_NOTSENT_LOWAT",
            _ => "",
        },
        libc::IPPROTO_IP => match o {
            libc::IP_TOS => "IP_TOS",
            libc::IP_TTL => "IP_TTL",
            libc::IP_RECVERR => "IP_RECVERR",
            libc::IP_PKTINFO => "IP_PKTINFO",
            libc::IP_MTU_DISCOVER => "IP_MTU_DISCOVER",
            libc::IP_BIND_ADDRESS_NO_PORT => "IP_BIND_ADDRESS_NO_PORT",
            libc::IP_FREEBIND => "IP_FREEBIND",
            libc::IP_TRANSPARENT => "IP_TRANSPARENT",
            _ => "",
        },
        libc::IPPROTO_IPV6 => match o {
            libc::IPV6_V6ONLY => "IPV6_V6ONLY",
            libc::IPV6_RECVERR => "IPV6_RECVERR",
            libc::IPV6_RECVPKTINFO => "IPV6_RECVPKTINFO",
            libc::IPV6_TCLASS => "IPV6_TCLASS",
            libc::IPV6_UNICAST_HOPS => "IPV6_UNICAST_HOPS",
            _ => "",
        },
        _ => "",
    };
    if n.is_empty() {
        o.to_string()
    } else {
        n.to_string()
    }
}

/// poll events / revents.
pub fn poll_events(e: u64) -> String {
    if e == 0 {
        return "0".into();
    }
    flags(
        e,
        &[
            (libc::POLLIN as u64, "POLLIN"),
            (libc::POLLPRI as u64, "POLLPRI"),
            (libc::POLLOUT as u64, "POLLOUT"),
            (libc::POLLERR as u64, "POLLERR"),
            (libc::POLLHUP as u64, "POLLHUP"),
            (libc::POLLNVAL as u64, "POLLNVAL"),
            (libc::POLLRDNORM as u64, "POLLRDNORM"),
            (libc::POLLRDBAND as u64, "POLLRDBAND"),
            (libc::POLLWRNORM as u64, "POLLWRNORM"),
            (libc::POLLWRBAND as u64, "POLLWRBAND"),
            (libc::POLLRDHUP as u64, "POLLRDHUP"),
        ],
    )
}

/// epoll event mask.
pub fn epoll_events(e: u64) -> String {
    if e == 0 {
        return "0".into();
    }
    flags(
        e,
        &[
            (libc::EPOLLIN as u64, "EPOLLIN"),
            (libc::EPOLLPRI as u64, "EPOLLPRI"),
            (libc::EPOLLOUT as u64, "EPOLLOUT"),
            (libc::EPOLLERR as u64, "EPOLLERR"),
            (libc::EPOLLHUP as u64, "EPOLLHUP"),
            (libc::EPOLLRDNORM as u64, "EPOLLRDNORM"),
            (libc::EPOLLRDBAND as u64, "EPOLLRDBAND"),
            (libc::EPOLLWRNORM as u64, "EPOLLWRNORM"),
            (libc::EPOLLWRBAND as u64, "EPOLLWRBAND"),
            (libc::EPOLLMSG as u64, "EPOLLMSG"),
            (libc::EPOLLRDHUP as u64, "EPOLLRDHUP"),
            (libc::EPOLLEXCLUSIVE as u64, "EPOLLEXCLUSIVE"),
            (libc::EPOLLWAKEUP as u64, "EPOLLWAKEUP"),
            (libc::EPOLLONESHOT as u64, "EPOLLONESHOT"),
            (libc::EPOLLET as u32 as u64, "EPOLLET"),
        ],
    )
}

/// errno name.
pub fn errno_name(e: i64) -> String {
    let n = nix::errno::Errno::from_raw(e as i32);
    if n == nix::errno::Errno::UnknownErrno {
        format!("E{e}")
    } else {
        format!("{n:?}")
    }
}

fn shown_bytes(b: &[u8], total: usize) -> Arg {
    let mut s = String::from("\"");
    for c in b.iter().take(STRING_LIMIT) {
        match *c {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(*c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    if total > STRING_LIMIT.min(b.len()) {
        s.push_str("...");
    }
    Arg {
        json: json!({"bytes": total, "head": String::from_utf8_lossy(&b[..b.len().min(STRING_LIMIT)])}),
        text: s,
    }
}

fn buffer(mem: &dyn Mem, addr: u64, len: usize) -> Arg {
    if addr == 0 {
        return Arg::ptr(0);
    }
    match mem.read(addr, len.min(STRING_LIMIT)) {
        Some(b) => shown_bytes(&b, len),
        None => Arg::ptr(addr),
    }
}

fn addr_at(mem: &dyn Mem, addr: u64, len: usize) -> Arg {
    if addr == 0 {
        return Arg::ptr(0);
    }
    match mem.read(addr, len.min(128)) {
        Some(b) if len > 0 => sockaddr(&b),
        _ => Arg::ptr(addr),
    }
}

/// A socklen_t read through a pointer, shown as `[N]`.
fn socklen_at(mem: &dyn Mem, p: u64) -> (Option<usize>, Arg) {
    if p == 0 {
        return (None, Arg::ptr(0));
    }
    match mem.read(p, 4).and_then(|b| u32_ne(&b, 0)) {
        Some(n) => (
            Some(n as usize),
            Arg {
                json: json!(n),
                text: format!("[{n}]"),
            },
        ),
        None => (None, Arg::ptr(p)),
    }
}

fn timeout_ms(t: i64) -> Arg {
    Arg::int(t)
}

fn timespec_at(mem: &dyn Mem, p: u64) -> Arg {
    if p == 0 {
        return Arg::text("NULL".into());
    }
    match mem.read(p, 16) {
        Some(b) => {
            let s = u64_ne(&b, 0).unwrap_or(0);
            let ns = u64_ne(&b, 8).unwrap_or(0);
            Arg {
                json: json!({"tv_sec": s, "tv_nsec": ns}),
                text: format!("{{tv_sec={s}, tv_nsec={ns}}}"),
            }
        }
        None => Arg::ptr(p),
    }
}

fn pollfds(mem: &dyn Mem, p: u64, n: u64, with_revents: bool) -> Arg {
    let n = n.min(1024) as usize;
    let Some(b) = mem.read(p, n * 8) else {
        return Arg::ptr(p);
    };
    let mut js = Vec::new();
    let mut ts = Vec::new();
    for i in 0..n {
        let fd = i32_ne(&b, i * 8).unwrap_or(-1);
        let ev = u16::from_ne_bytes([b[i * 8 + 4], b[i * 8 + 5]]) as u64;
        let rev = u16::from_ne_bytes([b[i * 8 + 6], b[i * 8 + 7]]) as u64;
        if with_revents {
            js.push(json!({"fd": fd, "events": poll_events(ev), "revents": poll_events(rev)}));
        } else {
            js.push(json!({"fd": fd, "events": poll_events(ev)}));
        }
        ts.push(format!("{{fd={fd}, events={}}}", poll_events(ev)));
    }
    Arg {
        json: Value::Array(js),
        text: format!("[{}]", ts.join(", ")),
    }
}

fn poll_result(mem: &dyn Mem, p: u64, n: u64) -> Option<String> {
    let n = n.min(1024) as usize;
    let b = mem.read(p, n * 8)?;
    let ready: Vec<String> = (0..n)
        .filter_map(|i| {
            let fd = i32_ne(&b, i * 8)?;
            let rev = u16::from_ne_bytes([b[i * 8 + 6], b[i * 8 + 7]]) as u64;
            (rev != 0).then(|| format!("{{fd={fd}, revents={}}}", poll_events(rev)))
        })
        .collect();
    Some(format!("[{}]", ready.join(", ")))
}

fn fd_set(mem: &dyn Mem, p: u64, nfds: u64) -> Arg {
    if p == 0 {
        return Arg::ptr(0);
    }
    let bytes = (nfds as usize).div_ceil(8).min(128);
    match mem.read(p, bytes) {
        Some(b) => {
            let fds: Vec<u64> = (0..(nfds.min(1024)))
                .filter(|i| {
                    b.get((*i / 8) as usize)
                        .is_some_and(|x| x & (1 << (i % 8)) != 0)
                })
                .collect();
            Arg {
                json: json!(fds),
                text: format!(
                    "[{}]",
                    fds.iter()
                        .map(|x| x.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            }
        }
        None => Arg::ptr(p),
    }
}

fn epoll_event_at(mem: &dyn Mem, p: u64) -> Arg {
    if p == 0 {
        return Arg::ptr(0);
    }
    // struct epoll_event is packed on x86_64 (12 bytes), 16 bytes elsewhere.
    let size = if cfg!(target_arch = "x86_64") { 12 } else { 16 };
    match mem.read(p, size) {
        Some(b) => {
            let ev = u32_ne(&b, 0).unwrap_or(0) as u64;
            let data = u64_ne(&b, size - 8).unwrap_or(0);
            Arg {
                json: json!({"events": epoll_events(ev), "data": data}),
                text: format!("{{events={}, data={data:#x}}}", epoll_events(ev)),
            }
        }
        None => Arg::ptr(p),
    }
}

fn epoll_ready(mem: &dyn Mem, p: u64, n: i64) -> Arg {
    let size = if cfg!(target_arch = "x86_64") { 12 } else { 16 };
    let n = n.clamp(0, 256) as usize;
    let Some(b) = mem.read(p, n * size) else {
        return Arg::ptr(p);
    };
    let mut js = Vec::new();
    let mut ts = Vec::new();
    for i in 0..n {
        let ev = u32_ne(&b, i * size).unwrap_or(0) as u64;
        let data = u64_ne(&b, i * size + size - 8).unwrap_or(0);
        js.push(json!({"events": epoll_events(ev), "data": data}));
        ts.push(format!("{{events={}, data={data:#x}}}", epoll_events(ev)));
    }
    Arg {
        json: Value::Array(js),
        text: format!("[{}]", ts.join(", ")),
    }
}

fn msghdr(mem: &dyn Mem, p: u64, ret: Option<i64>) -> Arg {
    // struct msghdr: name(8) namelen(4)+pad iov(8) iovlen(8) control(8) controllen(8) flags(4)
    let Some(b) = mem.read(p, 56) else {
        return Arg::ptr(p);
    };
    let name = u64_ne(&b, 0).unwrap_or(0);
    let namelen = u32_ne(&b, 8).unwrap_or(0) as usize;
    let iovlen = u64_ne(&b, 24).unwrap_or(0);
    let controllen = u64_ne(&b, 40).unwrap_or(0);
    let addr = (name != 0 && namelen > 0).then(|| addr_at(mem, name, namelen));
    let mut text = String::from("{");
    if let Some(a) = &addr {
        text.push_str(&format!("msg_name={}, ", a.text));
    }
    text.push_str(&format!("msg_iovlen={iovlen}, msg_controllen={controllen}"));
    if let Some(r) = ret.filter(|r| *r >= 0) {
        text.push_str(&format!(", bytes={r}"));
    }
    text.push('}');
    Arg {
        json: json!({"msg_name": addr.map(|a| a.json), "msg_iovlen": iovlen, "msg_controllen": controllen}),
        text,
    }
}

/// Decode call `nr` with arguments `a`; `ret` is the return value (None: at entry, only
/// input arguments are meaningful). Unknown calls get their raw arguments.
pub fn decode(nr: u64, a: &[u64; 6], ret: Option<i64>, mem: &dyn Mem) -> Vec<Arg> {
    let name = super::names::name(nr).unwrap_or("");
    let fd = |i: usize| Arg::int(a[i] as i32 as i64);
    let ok = ret.is_some_and(|r| r >= 0);
    match name {
        "socket" => vec![
            Arg::text(family(a[0] as u16)),
            Arg::text(sock_type(a[1])),
            Arg::int(a[2] as i64),
        ],
        "socketpair" => {
            let pair = if ok {
                mem.read(a[3], 8)
                    .map(|b| {
                        let (x, y) = (i32_ne(&b, 0).unwrap_or(-1), i32_ne(&b, 4).unwrap_or(-1));
                        Arg {
                            json: json!([x, y]),
                            text: format!("[{x}, {y}]"),
                        }
                    })
                    .unwrap_or_else(|| Arg::ptr(a[3]))
            } else {
                Arg::ptr(a[3])
            };
            vec![
                Arg::text(family(a[0] as u16)),
                Arg::text(sock_type(a[1])),
                Arg::int(a[2] as i64),
                pair,
            ]
        }
        "bind" | "connect" => vec![
            fd(0),
            addr_at(mem, a[1], a[2] as usize),
            Arg::int(a[2] as i64),
        ],
        "listen" => vec![fd(0), Arg::int(a[1] as i32 as i64)],
        "accept" | "accept4" | "getsockname" | "getpeername" => {
            let (len, len_arg) = socklen_at(mem, a[2]);
            let addr = match (ok, len) {
                (true, Some(n)) if a[1] != 0 => addr_at(mem, a[1], n),
                _ => Arg::ptr(a[1]),
            };
            let mut v = vec![fd(0), addr, len_arg];
            if name == "accept4" {
                v.push(Arg::text(accept_flags(a[3])));
            }
            v
        }
        "shutdown" => vec![
            fd(0),
            Arg::text(
                match a[1] as i32 {
                    libc::SHUT_RD => "SHUT_RD",
                    libc::SHUT_WR => "SHUT_WR",
                    libc::SHUT_RDWR => "SHUT_RDWR",
                    _ => "?",
                }
                .into(),
            ),
        ],
        "setsockopt" | "getsockopt" => {
            let lvl = a[1] as i32 as i64;
            let opt = a[2] as i32 as i64;
            let (val, len) = if name == "setsockopt" {
                let len = a[4] as usize;
                let v = if len == 4 {
                    mem.read(a[3], 4)
                        .and_then(|b| i32_ne(&b, 0))
                        .map(|x| Arg {
                            json: json!(x),
                            text: format!("[{x}]"),
                        })
                        .unwrap_or_else(|| Arg::ptr(a[3]))
                } else {
                    Arg::ptr(a[3])
                };
                (v, Arg::int(len as i64))
            } else {
                let (len, len_arg) = socklen_at(mem, a[4]);
                let v = match (ok, len) {
                    (true, Some(4)) => mem
                        .read(a[3], 4)
                        .and_then(|b| i32_ne(&b, 0))
                        .map(|x| Arg {
                            json: json!(x),
                            text: format!("[{x}]"),
                        })
                        .unwrap_or_else(|| Arg::ptr(a[3])),
                    _ => Arg::ptr(a[3]),
                };
                (v, len_arg)
            };
            vec![
                fd(0),
                Arg::text(level(lvl)),
                Arg::text(optname(lvl, opt)),
                val,
                len,
            ]
        }
        "sendto" => vec![
            fd(0),
            buffer(mem, a[1], a[2] as usize),
            Arg::int(a[2] as i64),
            Arg::text(msg_flags(a[3])),
            addr_at(mem, a[4], a[5] as usize),
            Arg::int(a[5] as i64),
        ],
        "recvfrom" => {
            let got = ret.filter(|r| *r >= 0).map(|r| r as usize);
            let (len, len_arg) = socklen_at(mem, a[5]);
            vec![
                fd(0),
                match got {
                    Some(n) => buffer(mem, a[1], n),
                    None => Arg::ptr(a[1]),
                },
                Arg::int(a[2] as i64),
                Arg::text(msg_flags(a[3])),
                match (ok, len) {
                    (true, Some(n)) if a[4] != 0 && n > 0 => addr_at(mem, a[4], n),
                    _ => Arg::ptr(a[4]),
                },
                len_arg,
            ]
        }
        "sendmsg" | "recvmsg" => vec![fd(0), msghdr(mem, a[1], ret), Arg::text(msg_flags(a[2]))],
        "sendmmsg" | "recvmmsg" => vec![
            fd(0),
            Arg::ptr(a[1]),
            Arg::int(a[2] as i64),
            Arg::text(msg_flags(a[3])),
        ],
        "poll" | "ppoll" => {
            let mut v = vec![pollfds(mem, a[0], a[1], false), Arg::int(a[1] as i64)];
            if name == "poll" {
                v.push(timeout_ms(a[2] as i32 as i64));
            } else {
                v.push(timespec_at(mem, a[2]));
            }
            if ok && let Some(r) = poll_result(mem, a[0], a[1]) {
                v.push(Arg {
                    json: pollfds(mem, a[0], a[1], true).json,
                    text: format!("→ {r}"),
                });
            }
            v
        }
        "select" | "pselect6" => vec![
            Arg::int(a[0] as i64),
            fd_set(mem, a[1], a[0]),
            fd_set(mem, a[2], a[0]),
            fd_set(mem, a[3], a[0]),
            if name == "select" {
                mem.read(a[4], 16)
                    .map(|b| {
                        let s = u64_ne(&b, 0).unwrap_or(0);
                        let us = u64_ne(&b, 8).unwrap_or(0);
                        Arg {
                            json: json!({"tv_sec": s, "tv_usec": us}),
                            text: format!("{{tv_sec={s}, tv_usec={us}}}"),
                        }
                    })
                    .unwrap_or_else(|| Arg::ptr(a[4]))
            } else {
                timespec_at(mem, a[4])
            },
        ],
        "epoll_create" => vec![Arg::int(a[0] as i32 as i64)],
        "epoll_create1" => vec![Arg::text(if a[0] as i32 == libc::EPOLL_CLOEXEC {
            "EPOLL_CLOEXEC".into()
        } else {
            format!("{:#x}", a[0])
        })],
        "epoll_ctl" => vec![
            fd(0),
            Arg::text(
                match a[1] as i32 {
                    libc::EPOLL_CTL_ADD => "EPOLL_CTL_ADD",
                    libc::EPOLL_CTL_MOD => "EPOLL_CTL_MOD",
                    libc::EPOLL_CTL_DEL => "EPOLL_CTL_DEL",
                    _ => "?",
                }
                .into(),
            ),
            fd(2),
            epoll_event_at(mem, a[3]),
        ],
        "epoll_wait" | "epoll_pwait" | "epoll_pwait2" => {
            let events = match ret {
                Some(r) if r > 0 => epoll_ready(mem, a[1], r),
                Some(_) => Arg {
                    json: json!([]),
                    text: "[]".into(),
                },
                None => Arg::ptr(a[1]),
            };
            let timeout = if name == "epoll_pwait2" {
                timespec_at(mem, a[3])
            } else {
                timeout_ms(a[3] as i32 as i64)
            };
            vec![fd(0), events, Arg::int(a[2] as i32 as i64), timeout]
        }
        "close" => vec![fd(0)],
        "read" => vec![
            fd(0),
            match ret {
                Some(r) if r >= 0 => buffer(mem, a[1], r as usize),
                _ => Arg::ptr(a[1]),
            },
            Arg::int(a[2] as i64),
        ],
        "write" => vec![
            fd(0),
            buffer(mem, a[1], a[2] as usize),
            Arg::int(a[2] as i64),
        ],
        "readv" | "writev" => vec![fd(0), Arg::ptr(a[1]), Arg::int(a[2] as i64)],
        "sendfile" => vec![
            fd(0),
            fd(1),
            if a[2] == 0 {
                Arg::ptr(0)
            } else {
                mem.read(a[2], 8)
                    .and_then(|b| u64_ne(&b, 0))
                    .map(|o| Arg {
                        json: json!(o),
                        text: format!("[{o}]"),
                    })
                    .unwrap_or_else(|| Arg::ptr(a[2]))
            },
            Arg::int(a[3] as i64),
        ],
        _ => a.iter().map(|x| Arg::ptr(*x)).collect(),
    }
}

/// The descriptor a call is about (its first argument), when it has one.
pub fn fd_of(nr: u64, a: &[u64; 6]) -> Option<i32> {
    match super::names::name(nr)? {
        "socket" | "socketpair" | "poll" | "ppoll" | "select" | "pselect6" | "epoll_create"
        | "epoll_create1" => None,
        "sendfile" => Some(a[0] as i32),
        _ => Some(a[0] as i32),
    }
}

/// Calls whose return value is a new descriptor.
pub fn returns_fd(nr: u64) -> bool {
    matches!(
        super::names::name(nr),
        Some("socket" | "accept" | "accept4" | "epoll_create" | "epoll_create1")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Recorded tracee memory: address → bytes.
    struct Fake(HashMap<u64, Vec<u8>>);

    impl Mem for Fake {
        fn read(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
            for (base, b) in &self.0 {
                if addr >= *base && addr + len as u64 <= base + b.len() as u64 {
                    let off = (addr - base) as usize;
                    return Some(b[off..off + len].to_vec());
                }
            }
            None
        }
    }

    fn nr(n: &str) -> u64 {
        super::super::names::number(n).unwrap()
    }

    fn texts(v: &[Arg]) -> Vec<String> {
        v.iter().map(|a| a.text.clone()).collect()
    }

    fn sin(port: u16, ip: [u8; 4]) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        b[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[4..8].copy_from_slice(&ip);
        b
    }

    #[test]
    fn socket_bind_listen_accept_connect() {
        let mem = Fake(HashMap::from([
            (0x1000, sin(8080, [127, 0, 0, 1])),
            (0x2000, sin(40000, [127, 0, 0, 9])),
            (0x3000, 16u32.to_ne_bytes().to_vec()),
        ]));
        let a = [2, 0x80801, 6, 0, 0, 0];
        assert_eq!(
            texts(&decode(nr("socket"), &a, Some(3), &mem)),
            ["AF_INET", "SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC", "6"]
        );
        let b = decode(nr("bind"), &[3, 0x1000, 16, 0, 0, 0], Some(0), &mem);
        assert_eq!(b[1].text, "{AF_INET, 127.0.0.1:8080}");
        assert_eq!(b[1].json["port"], 8080);
        assert_eq!(b[1].json["addr"], "127.0.0.1");
        let l = decode(nr("listen"), &[3, 128, 0, 0, 0, 0], Some(0), &mem);
        assert_eq!(texts(&l), ["3", "128"]);
        let ac = decode(
            nr("accept4"),
            &[3, 0x2000, 0x3000, 0x80000, 0, 0],
            Some(5),
            &mem,
        );
        assert_eq!(
            texts(&ac),
            ["3", "{AF_INET, 127.0.0.9:40000}", "[16]", "SOCK_CLOEXEC"]
        );
        // At entry (no result yet) the peer is not known.
        let ac = decode(nr("accept4"), &[3, 0x2000, 0x3000, 0, 0, 0], None, &mem);
        assert_eq!(ac[1].text, "0x2000");
        // A failed accept shows no address either.
        let ac = decode(
            nr("accept4"),
            &[3, 0x2000, 0x3000, 0, 0, 0],
            Some(-11),
            &mem,
        );
        assert_eq!(ac[1].text, "0x2000");
    }

    #[test]
    fn ipv6_and_unix_addresses() {
        let mut s6 = vec![0u8; 28];
        s6[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        s6[2..4].copy_from_slice(&443u16.to_be_bytes());
        s6[23] = 1;
        assert_eq!(sockaddr(&s6).text, "{AF_INET6, [::1]:443}");
        let mut su = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        su.extend_from_slice(b"/run/x.sock\0\0\0");
        assert_eq!(sockaddr(&su).json["path"], "/run/x.sock");
        let mut sa = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
        sa.extend_from_slice(b"\0abstract");
        assert_eq!(sockaddr(&sa).json["path"], "@abstract");
    }

    #[test]
    fn options_flags_and_buffers() {
        let mem = Fake(HashMap::from([
            (0x1000, 1i32.to_ne_bytes().to_vec()),
            (0x2000, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ]));
        let so = decode(nr("setsockopt"), &[3, 1, 2, 0x1000, 4, 0], Some(0), &mem);
        assert_eq!(texts(&so), ["3", "SOL_SOCKET", "SO_REUSEADDR", "[1]", "4"]);
        let so = decode(nr("setsockopt"), &[3, 6, 1, 0x1000, 4, 0], Some(0), &mem);
        assert_eq!(so[2].text, "TCP_NODELAY");
        let r = decode(
            nr("recvfrom"),
            &[5, 0x2000, 1024, 0x40, 0, 0],
            Some(27),
            &mem,
        );
        assert_eq!(r[1].text, "\"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\"");
        assert_eq!(r[1].json["bytes"], 27);
        assert_eq!(r[3].text, "MSG_DONTWAIT");
        assert_eq!(msg_flags(0x4040), "MSG_DONTWAIT|MSG_NOSIGNAL");
        assert_eq!(errno_name(11), "EAGAIN");
        assert_eq!(errno_name(115), "EINPROGRESS");
    }

    #[test]
    fn poll_and_epoll() {
        // pollfd {fd=3, events=POLLIN, revents=POLLIN}, {fd=4, events=POLLOUT, revents=0}
        let mut p = Vec::new();
        p.extend_from_slice(&3i32.to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(&4i32.to_ne_bytes());
        p.extend_from_slice(&4u16.to_ne_bytes());
        p.extend_from_slice(&0u16.to_ne_bytes());
        let size = if cfg!(target_arch = "x86_64") { 12 } else { 16 };
        let mut ev = vec![0u8; size];
        ev[0..4].copy_from_slice(&(libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32).to_ne_bytes());
        ev[size - 8..].copy_from_slice(&7u64.to_ne_bytes());
        let mem = Fake(HashMap::from([(0x1000, p), (0x2000, ev)]));
        if let Some(pn) = super::super::names::number("poll") {
            let d = decode(pn, &[0x1000, 2, 1000, 0, 0, 0], Some(1), &mem);
            assert_eq!(d[0].text, "[{fd=3, events=POLLIN}, {fd=4, events=POLLOUT}]");
            assert_eq!(d[3].text, "→ [{fd=3, revents=POLLIN}]");
        }
        let c = decode(nr("epoll_ctl"), &[5, 1, 3, 0x2000, 0, 0], Some(0), &mem);
        assert_eq!(
            texts(&c),
            [
                "5",
                "EPOLL_CTL_ADD",
                "3",
                "{events=EPOLLIN|EPOLLRDHUP, data=0x7}"
            ]
        );
        let w = decode(
            nr("epoll_pwait"),
            &[5, 0x2000, 64, 100, 0, 0],
            Some(1),
            &mem,
        );
        assert_eq!(w[1].text, "[{events=EPOLLIN|EPOLLRDHUP, data=0x7}]");
        assert_eq!(w[1].json[0]["data"], 7);
    }
}

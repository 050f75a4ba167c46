//! Syscall numbers and names of this build's ABI (from libc's `SYS_*`), and the sets `-e`
//! chooses from.

/// (name, number) of every call netlab can trace and decode.
pub fn table() -> &'static [(&'static str, i64)] {
    use libc::*;
    &[
        ("socket", SYS_socket),
        ("socketpair", SYS_socketpair),
        ("bind", SYS_bind),
        ("listen", SYS_listen),
        #[cfg(target_arch = "x86_64")]
        ("accept", SYS_accept),
        ("accept4", SYS_accept4),
        ("connect", SYS_connect),
        ("shutdown", SYS_shutdown),
        ("getsockopt", SYS_getsockopt),
        ("setsockopt", SYS_setsockopt),
        ("getsockname", SYS_getsockname),
        ("getpeername", SYS_getpeername),
        ("sendto", SYS_sendto),
        ("sendmsg", SYS_sendmsg),
        ("sendmmsg", SYS_sendmmsg),
        ("recvfrom", SYS_recvfrom),
        ("recvmsg", SYS_recvmsg),
        ("recvmmsg", SYS_recvmmsg),
        #[cfg(target_arch = "x86_64")]
        ("poll", SYS_poll),
        ("ppoll", SYS_ppoll),
        #[cfg(target_arch = "x86_64")]
        ("select", SYS_select),
        ("pselect6", SYS_pselect6),
        #[cfg(target_arch = "x86_64")]
        ("epoll_create", SYS_epoll_create),
        ("epoll_create1", SYS_epoll_create1),
        ("epoll_ctl", SYS_epoll_ctl),
        #[cfg(target_arch = "x86_64")]
        ("epoll_wait", SYS_epoll_wait),
        ("epoll_pwait", SYS_epoll_pwait),
        ("epoll_pwait2", SYS_epoll_pwait2),
        ("close", SYS_close),
        ("read", SYS_read),
        ("write", SYS_write),
        ("readv", SYS_readv),
        ("writev", SYS_writev),
        ("sendfile", SYS_sendfile),
    ]
}

/// Calls on a descriptor that may or may not be a socket: shown only for sockets.
pub const FD_GENERIC: &[&str] = &["close", "read", "write", "readv", "writev", "sendfile"];

/// The sets of `-e`.
pub const SETS: &[(&str, &[&str])] = &[
    (
        "socket",
        &[
            "socket",
            "socketpair",
            "bind",
            "listen",
            "accept",
            "accept4",
            "connect",
            "shutdown",
            "getsockopt",
            "setsockopt",
            "getsockname",
            "getpeername",
        ],
    ),
    (
        "send",
        &[
            "sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg", "recvmmsg",
        ],
    ),
    (
        "poll",
        &[
            "poll",
            "ppoll",
            "select",
            "pselect6",
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_wait",
            "epoll_pwait",
            "epoll_pwait2",
        ],
    ),
    (
        "io",
        &["close", "read", "write", "readv", "writev", "sendfile"],
    ),
];

/// Name of a syscall number (a table indexed by number, built once: this runs at every stop).
pub fn name(nr: u64) -> Option<&'static str> {
    static BY_NR: std::sync::OnceLock<Vec<Option<&'static str>>> = std::sync::OnceLock::new();
    let t = BY_NR.get_or_init(|| {
        let max = table().iter().map(|(_, n)| *n as usize).max().unwrap_or(0);
        let mut v = vec![None; max + 1];
        for (name, n) in table() {
            v[*n as usize] = Some(*name);
        }
        v
    });
    t.get(usize::try_from(nr).ok()?).copied().flatten()
}

/// Number of a syscall name.
pub fn number(name: &str) -> Option<u64> {
    table()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, nr)| *nr as u64)
}

/// The calls `-e SPEC` selects: comma-separated set names (`network` = all, `socket`,
/// `send`, `poll`, `io`) and call names. Err names what is unknown.
pub fn select(spec: &str) -> Result<Vec<u64>, String> {
    let mut out: Vec<u64> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let item = item.strip_prefix("trace=").unwrap_or(item);
        let names: Vec<&str> = if item == "network" || item == "all" {
            table().iter().map(|(n, _)| *n).collect()
        } else if let Some((_, set)) = SETS.iter().find(|(n, _)| *n == item) {
            set.to_vec()
        } else if number(item).is_some() {
            vec![item]
        } else {
            return Err(format!(
                "unknown system call or set {item:?}: use network, socket, send, poll, io, or names like accept4,connect"
            ));
        };
        for n in names {
            if let Some(nr) = number(n)
                && !out.contains(&nr)
            {
                out.push(nr);
            }
        }
    }
    if out.is_empty() {
        return Err("-e selects no system call".into());
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_names() {
        let all = select("network").unwrap();
        assert_eq!(all.len(), table().len());
        let s = select("accept4,connect").unwrap();
        assert_eq!(s.len(), 2);
        assert!(name(s[0]).is_some());
        assert!(select("socket,poll").unwrap().len() > 10);
        assert!(select("nonsense").unwrap_err().contains("nonsense"));
        assert_eq!(number("accept4"), Some(libc::SYS_accept4 as u64));
        assert_eq!(name(libc::SYS_connect as u64), Some("connect"));
    }
}

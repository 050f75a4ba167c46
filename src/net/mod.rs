//! Unprivileged network edges: target parsing, name resolution with a deadline, the route's
//! interface and source address, a non-blocking TCP connect with TCP_INFO, and reads that
//! carry the kernel's receive time.

pub mod netlink;

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, Protocol, Socket, Type};

use crate::capture::{self, Interface};
use crate::error::{Error, Result};

/// Address family restriction from `-4` / `-6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Either.
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    /// Does `ip` belong to this family?
    pub fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

/// `HOST:PORT` as the user wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    /// Name or address literal (IPv6 without brackets).
    pub host: String,
    /// Port, 1..=65535.
    pub port: u16,
}

/// Parse `HOST:PORT`, `[V6]:PORT` or `V4:PORT`, with errors that say what to write instead.
pub fn parse_host_port(s: &str) -> Result<HostPort> {
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(|| {
            Error::usage(format!(
                "bad target {s:?}: missing ']' (write [2001:db8::1]:443)"
            ))
        })?;
        let p = after
            .strip_prefix(':')
            .ok_or_else(|| Error::usage(format!("bad target {s:?}: no port (write [{h}]:PORT)")))?;
        (h.to_string(), p)
    } else {
        if s.matches(':').count() > 1 {
            return Err(Error::usage(format!(
                "bad target {s:?}: put an IPv6 address in brackets, e.g. [{s}]:PORT"
            )));
        }
        let (h, p) = s
            .rsplit_once(':')
            .ok_or_else(|| Error::usage(format!("bad target {s:?}: no port (write {s}:PORT)")))?;
        (h.to_string(), p)
    };
    if host.is_empty() {
        return Err(Error::usage(format!(
            "bad target {s:?}: no host (write HOST:{port})"
        )));
    }
    let port = parse_port(port).map_err(|m| Error::usage(format!("bad target {s:?}: {m}")))?;
    Ok(HostPort { host, port })
}

fn parse_port(p: &str) -> std::result::Result<u16, String> {
    match p.parse::<u32>() {
        Ok(0) => Err("port 0 cannot be probed (use 1-65535)".into()),
        Ok(n) if n <= 65535 => Ok(n as u16),
        Ok(n) => Err(format!("port {n} is out of range (use 1-65535)")),
        Err(_) => Err(format!("port {p:?} is not a number (use 1-65535)")),
    }
}

/// Parse `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address; `default` when no port.
pub fn parse_host_port_or(s: &str, default: u16) -> Result<HostPort> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::usage("empty target (write HOST or HOST:PORT)"));
    }
    if t.parse::<IpAddr>().is_ok() || !(t.contains(':') || t.starts_with('[')) {
        return Ok(HostPort {
            host: t.to_string(),
            port: default,
        });
    }
    parse_host_port(t)
}

/// Resolve `host` to every address of the admitted family, within `timeout`.
/// Address literals are returned as they are, without any lookup.
pub fn resolve(host: &str, family: Family, timeout: Duration) -> Result<Vec<IpAddr>> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !family.admits(&ip) {
            return Err(Error::usage(format!(
                "{host} is not an {} address (drop -4/-6)",
                if family == Family::V4 { "IPv4" } else { "IPv6" }
            )));
        }
        return Ok(vec![ip]);
    }
    let (tx, rx) = mpsc::channel();
    let name = host.to_string();
    // getaddrinfo has no timeout of its own: run it on a thread and stop waiting at the deadline.
    std::thread::spawn(move || {
        let r = (name.as_str(), 0u16)
            .to_socket_addrs()
            .map(|it| it.map(|a| a.ip()).collect::<Vec<_>>());
        let _ = tx.send(r);
    });
    let addrs = match rx.recv_timeout(timeout) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            return Err(Error::measure(format!(
                "resolve {host}: {e} (check the name, or give an address)"
            )));
        }
        Err(_) => {
            return Err(Error::measure(format!(
                "resolve {host}: timed out after {} (raise --timeout or give an address)",
                fmt_duration(timeout)
            )));
        }
    };
    let mut out: Vec<IpAddr> = Vec::new();
    for a in addrs {
        if family.admits(&a) && !out.contains(&a) {
            out.push(a);
        }
    }
    if out.is_empty() {
        return Err(Error::measure(format!(
            "resolve {host}: no address of the requested family"
        )));
    }
    Ok(out)
}

/// Where packets to a destination go.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    /// The outgoing interface (`lo` for local destinations).
    pub iface: Interface,
    /// Our source address.
    pub src: IpAddr,
    /// The address whose link-layer address must be known (gateway or the destination);
    /// `None` on `lo`.
    pub next_hop: Option<IpAddr>,
}

/// The interface, source address and next hop the kernel would use to reach `dst`
/// (rtnetlink `ip route get`, and a UDP connect() for the source: no packet is sent).
pub fn route(dst: IpAddr, device: Option<&str>, source: Option<IpAddr>) -> Result<RouteInfo> {
    let all = capture::interfaces();
    let local_is = |ip: &IpAddr| all.iter().any(|i| i.ips.contains(ip));
    let probe = SocketAddr::new(dst, 9);
    let sock = Socket::new(Domain::for_address(probe), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| Error::io("open UDP socket for route lookup", e))?;
    if let Some(dev) = device {
        capture::interface_by_name(dev)?;
        sock.bind_device(Some(dev.as_bytes()))
            .map_err(|e| Error::io(format!("bind to interface {dev}"), e))?;
    }
    if let Some(src) = source {
        if !local_is(&src) {
            return Err(Error::usage(format!(
                "--source {src} is not an address of this host (see `ip addr`)"
            )));
        }
        sock.bind(&SocketAddr::new(src, 0).into())
            .map_err(|e| Error::io(format!("bind to {src}"), e))?;
    }
    let udp: UdpSocket = sock.into();
    udp.connect(probe).map_err(|e| {
        Error::measure(format!(
            "no route to {dst}: {e} (check `ip route get {dst}`)"
        ))
    })?;
    let src = udp
        .local_addr()
        .map_err(|e| Error::io("read route source address", e))?
        .ip();
    let kernel = netlink::route_get(dst).ok();
    let lo = || {
        all.iter()
            .find(|i| i.loopback)
            .cloned()
            .ok_or_else(|| Error::measure("no loopback interface in this namespace"))
    };
    let iface = if let Some(dev) = device {
        capture::interface_by_name(dev)?
    } else if dst.is_loopback() || local_is(&dst) || kernel.as_ref().is_some_and(|r| r.local) {
        lo()?
    } else if let Some(i) = kernel
        .as_ref()
        .and_then(|r| r.oif)
        .and_then(|oif| all.iter().find(|i| i.index == oif))
    {
        i.clone()
    } else {
        all.iter()
            .find(|i| i.ips.contains(&src))
            .cloned()
            .ok_or_else(|| Error::measure(format!("no interface holds source address {src}")))?
    };
    let next_hop = if iface.loopback {
        None
    } else {
        Some(kernel.map(|r| r.next_hop(dst)).unwrap_or(dst))
    };
    Ok(RouteInfo {
        iface,
        src,
        next_hop,
    })
}

/// How a connect() attempt ended.
#[derive(Debug)]
pub enum ConnectEnd {
    /// Handshake completed; the socket is connected.
    Connected,
    /// ECONNREFUSED (a RST, or an ICMP port unreachable).
    Refused,
    /// EHOSTUNREACH / ENETUNREACH / EACCES... from an ICMP error or a local route.
    Unreachable(io::Error),
    /// No answer before the deadline.
    TimedOut,
    /// Anything else.
    Failed(io::Error),
}

/// A TCP socket with a connect in flight.
#[derive(Debug)]
pub struct Connecting {
    /// The socket.
    pub sock: Socket,
    /// Its local address (ephemeral port chosen by the kernel).
    pub local: SocketAddr,
    /// When connect() was called.
    pub started: Instant,
}

/// Start a non-blocking connect to `dst`, optionally bound to a device and source address.
pub fn start_connect(
    dst: SocketAddr,
    device: Option<&str>,
    source: Option<IpAddr>,
) -> Result<Connecting> {
    let sock = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::io("open TCP socket", e))?;
    sock.set_nonblocking(true)
        .map_err(|e| Error::io("set non-blocking", e))?;
    if let Some(dev) = device {
        sock.bind_device(Some(dev.as_bytes()))
            .map_err(|e| Error::io(format!("bind to interface {dev}"), e))?;
    }
    if let Some(src) = source {
        sock.bind(&SocketAddr::new(src, 0).into())
            .map_err(|e| Error::io(format!("bind to {src}"), e))?;
    }
    let started = Instant::now();
    match sock.connect(&dst.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => {
            // Immediate failures (no route) still produce a socket state we can report.
            return Err(Error::io(format!("connect {dst}"), e));
        }
    }
    let local = sock
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .ok_or_else(|| Error::measure("read local address of the probe socket"))?;
    Ok(Connecting {
        sock,
        local,
        started,
    })
}

impl Connecting {
    /// Wait until the connect ends or `deadline` passes.
    pub fn wait(&self, deadline: Instant) -> ConnectEnd {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return ConnectEnd::TimedOut;
            }
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLOUT)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(0) => continue,
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return ConnectEnd::Failed(e.into()),
            }
        }
        match self.sock.take_error() {
            Ok(None) => ConnectEnd::Connected,
            Ok(Some(e)) => classify_connect_error(e),
            Err(e) => ConnectEnd::Failed(e),
        }
    }
}

/// Map a connect() errno to an outcome.
pub fn classify_connect_error(e: io::Error) -> ConnectEnd {
    match e.raw_os_error() {
        Some(libc::ECONNREFUSED) => ConnectEnd::Refused,
        Some(
            libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EACCES | libc::EPERM | libc::EPROTO,
        ) => ConnectEnd::Unreachable(e),
        Some(libc::ETIMEDOUT) => ConnectEnd::TimedOut,
        _ => ConnectEnd::Failed(e),
    }
}

/// Parse a duration: `250ms`, `1.5s`, `2m`, `100us`, or a bare number of seconds (`0.2`).
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("us") {
        (n, 1e-6)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (write 200ms, 1.5s or 0.2)"))?;
    if !v.is_finite() || v < 0.0 || v * scale > 86_400.0 {
        return Err(format!("{s:?} is out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

/// Human form of a duration: `1.5s`, `200ms`, `350µs`.
pub fn fmt_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us >= 1_000_000 {
        format!("{}s", d.as_secs_f64())
    } else if us >= 1000 {
        format!("{}ms", d.as_secs_f64() * 1e3)
    } else {
        format!("{us}µs")
    }
}

/// Ask the kernel to stamp what `sock` receives (SO_TIMESTAMPNS), for [`recv_stamped`]. Best
/// effort. Asked early (before the connection is up) the first answer is stamped too: the
/// kernel switches its stamps on a moment after the first socket asks.
pub fn stamp_receives(sock: &impl AsFd) {
    let _ =
        nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::ReceiveTimestampns, &true);
}

/// One read from a stream socket: the byte count, and how long before the end of this call
/// the kernel received the last of those bytes (None when it gave no stamp: not asked with
/// [`stamp_receives`], not yet switched on, or a clock step between arrival and read). EINTR
/// is retried unless the run was interrupted.
pub fn recv_stamped(sock: &impl AsFd, b: &mut [u8]) -> io::Result<(usize, Option<Duration>)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
    use std::os::fd::AsRawFd;
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut iov = [io::IoSliceMut::new(b)];
    let fd = sock.as_fd().as_raw_fd();
    let msg = loop {
        match recvmsg::<()>(fd, &mut iov, Some(&mut cmsg), MsgFlags::empty()) {
            Err(nix::errno::Errno::EINTR) if !crate::sys::interrupted() => continue,
            r => break r.map_err(io::Error::from)?,
        }
    };
    let stamp = msg.cmsgs().ok().and_then(|mut c| {
        c.find_map(|m| match m {
            ControlMessageOwned::ScmTimestampns(ts) => Some(ts),
            _ => None,
        })
    });
    // The stamp is on the realtime clock: its distance from that clock now (a clock step only
    // matters if it falls between the arrival and the read).
    let ago = stamp.and_then(|ts| {
        let at = std::time::SystemTime::UNIX_EPOCH
            + Duration::new(ts.tv_sec().try_into().ok()?, ts.tv_nsec().try_into().ok()?);
        std::time::SystemTime::now().duration_since(at).ok()
    });
    Ok((msg.bytes, ago))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_with_default_port() {
        let p = |s: &str| parse_host_port_or(s, 443).map(|h| (h.host, h.port));
        assert_eq!(p("example.test").unwrap(), ("example.test".into(), 443));
        assert_eq!(
            p("example.test:8443").unwrap(),
            ("example.test".into(), 8443)
        );
        assert_eq!(p("2001:db8::1").unwrap(), ("2001:db8::1".into(), 443));
        assert_eq!(p("[2001:db8::1]:853").unwrap(), ("2001:db8::1".into(), 853));
        assert!(p("").is_err());
        assert!(p("h:99999").is_err());
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("example.test:443").unwrap(),
            HostPort {
                host: "example.test".into(),
                port: 443
            }
        );
        assert_eq!(parse_host_port("[::1]:80").unwrap().host, "::1");
        assert_eq!(parse_host_port("127.0.0.1:65535").unwrap().port, 65535);
        for bad in [
            "host",
            "host:0",
            "host:65536",
            "host:x",
            ":80",
            "::1:80",
            "[::1]80",
            "[::1",
        ] {
            let e = parse_host_port(bad).unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("0.2").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("100us").unwrap(), Duration::from_micros(100));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("NaN").is_err());
        assert!(parse_duration("1e30").is_err());
    }

    #[test]
    fn literal_resolution_respects_family() {
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            resolve("127.0.0.1", Family::Any, Duration::from_secs(1)).unwrap(),
            vec![v4]
        );
        assert!(resolve("127.0.0.1", Family::V6, Duration::from_secs(1)).is_err());
    }
}

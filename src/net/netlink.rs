//! rtnetlink queries that need no privilege: the kernel's route for a destination
//! (`ip route get`) and the neighbour (ARP / ND) table (`ip neigh`).

use std::io;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkDeserializable, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, NetlinkSerializable,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// The kernel answers within microseconds; this only guards against a wedged socket.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Send one netlink request on `protocol` (NETLINK_ROUTE, NETLINK_SOCK_DIAG, ...) and collect
/// the inner messages of the answer (all of a dump, or the first one).
pub fn request<T>(protocol: isize, msg: T, dump: bool) -> io::Result<Vec<T>>
where
    T: NetlinkSerializable + NetlinkDeserializable + std::fmt::Debug,
{
    let mut out = Vec::new();
    request_each(protocol, msg, dump, |m| out.push(m))?;
    Ok(out)
}

/// Like [`request`], but hand each inner message to `each` as it is read (a dump of tens of
/// thousands of sockets is never held whole).
pub fn request_each<T>(
    protocol: isize,
    msg: T,
    dump: bool,
    mut each: impl FnMut(T),
) -> io::Result<()>
where
    T: NetlinkSerializable + NetlinkDeserializable + std::fmt::Debug,
{
    let mut hdr = NetlinkHeader::default();
    hdr.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
    let mut req = NetlinkMessage::new(hdr, NetlinkPayload::InnerMessage(msg));
    req.finalize();
    let mut buf = vec![0u8; req.header.length as usize];
    req.serialize(&mut buf[..]);
    exchange(protocol, &buf, |raw| {
        let msg: NetlinkMessage<T> = NetlinkMessage::deserialize(raw)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {e}")))?;
        match msg.payload {
            NetlinkPayload::Done(_) => Ok(true),
            NetlinkPayload::Error(e) => Err(e
                .code
                .map(|c| io::Error::from_raw_os_error(-c.get()))
                .unwrap_or_else(|| io::Error::other("netlink error"))),
            NetlinkPayload::InnerMessage(m) => {
                each(m);
                Ok(!dump)
            }
            _ => Ok(false),
        }
    })
}

/// Send one raw netlink dump request (`nlmsg_type` and its payload, built by the caller) and
/// hand each answer message's type and payload to `each` as it is read, with no decoding in
/// between: for dumps of tens of thousands of messages whose layout the caller reads itself.
pub fn dump_raw(
    protocol: isize,
    nlmsg_type: u16,
    payload: &[u8],
    mut each: impl FnMut(u16, &[u8]),
) -> io::Result<()> {
    let len = 16 + payload.len();
    let mut req = Vec::with_capacity(len);
    req.extend_from_slice(&(len as u32).to_ne_bytes());
    req.extend_from_slice(&nlmsg_type.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    req.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    req.extend_from_slice(payload);
    exchange(protocol, &req, |m| match u16::from_ne_bytes([m[4], m[5]]) {
        NLMSG_DONE => Ok(true),
        NLMSG_ERROR => {
            let code = m
                .get(16..20)
                .map_or(0, |c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
            Err(if code < 0 {
                io::Error::from_raw_os_error(-code)
            } else {
                io::Error::other("netlink error")
            })
        }
        NLMSG_NOOP => Ok(false),
        t => {
            each(t, &m[16..]);
            Ok(false)
        }
    })
}

/// The one netlink exchange both requests use: open a socket on `protocol`, send `req` (a
/// whole netlink message), then hand every answer message (header included) to `each` until
/// it says the answer is over, with a deadline on the kernel's silence.
fn exchange(
    protocol: isize,
    req: &[u8],
    mut each: impl FnMut(&[u8]) -> io::Result<bool>,
) -> io::Result<()> {
    let mut socket = Socket::new(protocol)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(req, 0)?;
    let deadline = Instant::now() + TIMEOUT;
    // The kernel fills at most 32 KiB per batch of a dump.
    let mut rbuf = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&socket),
            PollFlags::POLLIN,
        )];
        if ms == 0 || poll(&mut fds, PollTimeout::from(ms)).map_err(io::Error::from)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "netlink: no answer from the kernel",
            ));
        }
        let n = socket.recv(&mut &mut rbuf[..], 0)?;
        let mut off = 0;
        while off + 16 <= n {
            let h = &rbuf[off..n];
            let mlen = u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize;
            if mlen < 16 || mlen > h.len() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "netlink: truncated message",
                ));
            }
            if each(&h[..mlen])? {
                return Ok(());
            }
            off += (mlen + 3) & !3;
        }
    }
}

const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// What `ip route get DST` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Outgoing interface index.
    pub oif: Option<u32>,
    /// Next-hop gateway, when the destination is not on-link.
    pub gateway: Option<IpAddr>,
    /// Preferred source address.
    pub prefsrc: Option<IpAddr>,
    /// True for a local destination (delivered through `lo`).
    pub local: bool,
}

impl Route {
    /// The address whose link-layer address the kernel must know to send to `dst`.
    pub fn next_hop(&self, dst: IpAddr) -> IpAddr {
        self.gateway.unwrap_or(dst)
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

/// Ask the kernel for its route to `dst`.
pub fn route_get(dst: IpAddr) -> io::Result<Route> {
    let mut m = RouteMessage::default();
    m.header.address_family = if dst.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    m.header.destination_prefix_length = if dst.is_ipv4() { 32 } else { 128 };
    m.attributes.push(RouteAttribute::Destination(dst.into()));
    let answers = request(NETLINK_ROUTE, RouteNetlinkMessage::GetRoute(m), false)?;
    let Some(RouteNetlinkMessage::NewRoute(r)) = answers.into_iter().next() else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no route to {dst}"),
        ));
    };
    let mut route = Route {
        oif: None,
        gateway: None,
        prefsrc: None,
        local: r.header.kind == RouteType::Local,
    };
    for a in &r.attributes {
        match a {
            RouteAttribute::Oif(i) => route.oif = Some(*i),
            RouteAttribute::Gateway(g) => route.gateway = ip_of(g),
            RouteAttribute::PrefSource(s) => route.prefsrc = ip_of(s),
            _ => {}
        }
    }
    Ok(route)
}

/// One neighbour-table entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Protocol address.
    pub ip: IpAddr,
    /// Link-layer address, when known.
    pub mac: Option<Vec<u8>>,
    /// State as `ip neigh` prints it: REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE,
    /// NOARP, PERMANENT, NONE.
    pub state: &'static str,
    /// Interface index.
    pub ifindex: u32,
    /// The neighbour is a router (IPv6).
    pub router: bool,
}

impl Neighbour {
    /// True when the kernel can send to it without resolving first.
    pub fn usable(&self) -> bool {
        matches!(
            self.state,
            "REACHABLE" | "STALE" | "DELAY" | "PROBE" | "PERMANENT" | "NOARP"
        )
    }
}

fn state_name(s: NeighbourState) -> &'static str {
    match s {
        NeighbourState::Incomplete => "INCOMPLETE",
        NeighbourState::Reachable => "REACHABLE",
        NeighbourState::Stale => "STALE",
        NeighbourState::Delay => "DELAY",
        NeighbourState::Probe => "PROBE",
        NeighbourState::Failed => "FAILED",
        NeighbourState::Noarp => "NOARP",
        NeighbourState::Permanent => "PERMANENT",
        _ => "NONE",
    }
}

/// The whole neighbour table (IPv4 and IPv6).
pub fn neighbours() -> io::Result<Vec<Neighbour>> {
    let answers = request(
        NETLINK_ROUTE,
        RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
        true,
    )?;
    let mut out = Vec::new();
    for m in answers {
        let RouteNetlinkMessage::NewNeighbour(n) = m else {
            continue;
        };
        let mut ip = None;
        let mut mac = None;
        for a in &n.attributes {
            match a {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v)) => {
                    ip = Some(IpAddr::V4(*v))
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v)) => {
                    ip = Some(IpAddr::V6(*v))
                }
                NeighbourAttribute::LinkLayerAddress(b) => mac = Some(b.clone()),
                _ => {}
            }
        }
        if let Some(ip) = ip {
            out.push(Neighbour {
                ip,
                mac,
                state: state_name(n.header.state),
                ifindex: n.header.ifindex,
                router: n.header.flags.contains(NeighbourFlags::Router),
            });
        }
    }
    Ok(out)
}

/// The neighbour entry for `ip` on interface `ifindex`, if any.
pub fn neighbour(ip: IpAddr, ifindex: u32) -> io::Result<Option<Neighbour>> {
    Ok(neighbours()?
        .into_iter()
        .find(|n| n.ip == ip && n.ifindex == ifindex))
}

//! The DNS hierarchy of `netlab lab --dns`: authoritative servers on 127.0.0.2-127.0.0.10, one
//! port for all (referrals carry no port), serving zone files built into the binary
//! (`src/lab/zones/`). A root, a TLD with two servers, a lame server, a stale secondary, a
//! server that truncates over UDP, and a glueless delegation: the cases `dns trace` explains.
//!
//! Seams: [`Zone`] (parsed zone data) and [`Server::respond`] (query → response, pure, with
//! truncation) are unit-tested with hickory [`Message`]s; [`start`] is the socket loop: one UDP
//! and one TCP thread per server, at most [`MAX_TCP_CONNECTIONS`] connections each, every read
//! with a timeout, all stopped by the lab's stop flag.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};

/// At most this many TCP connections are served at once per server; more are closed at once.
pub const MAX_TCP_CONNECTIONS: usize = 64;
/// A TCP connection with no query for this long is closed.
pub const TCP_IDLE: Duration = Duration::from_secs(5);
/// The EDNS payload size the servers advertise.
pub const SERVER_PAYLOAD: u16 = 1232;
/// The address of the root server: the one root hint.
pub const ROOT_HINT: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// How often blocked reads wake up to look at the stop flag.
const TICK: Duration = Duration::from_millis(100);
/// In-zone CNAME steps followed at most when answering.
const MAX_CNAME_STEPS: usize = 8;

/// The zone files, embedded so an installed binary works: (key, origin, text).
const ZONE_FILES: &[(&str, &str, &str)] = &[
    ("root", ".", include_str!("zones/root.zone")),
    ("test", "test.", include_str!("zones/test.zone")),
    (
        "example.test",
        "example.test.",
        include_str!("zones/example.test.zone"),
    ),
    (
        "example.test.stale",
        "example.test.",
        include_str!("zones/example.test.stale.zone"),
    ),
    ("big.test", "big.test.", include_str!("zones/big.test.zone")),
    ("cdn.test", "cdn.test.", include_str!("zones/cdn.test.zone")),
    (
        "cdnhost.test",
        "cdnhost.test.",
        include_str!("zones/cdnhost.test.zone"),
    ),
];

/// How a server of the hierarchy misbehaves, if it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers from its zones.
    Normal,
    /// Listed as a server of a zone it does not serve: REFUSED to everything.
    Lame,
    /// A secondary that missed an update: older serial, an old record.
    Stale,
    /// Answers over UDP at most 512 bytes whatever the client's EDNS size says.
    Udp512,
}

impl Behaviour {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::Normal => "normal",
            Behaviour::Lame => "lame",
            Behaviour::Stale => "stale",
            Behaviour::Udp512 => "udp_512",
        }
    }

    /// In words, for the table.
    pub fn describe(self) -> &'static str {
        match self {
            Behaviour::Normal => "answers from its zones",
            Behaviour::Lame => "lame: REFUSED to everything",
            Behaviour::Stale => "stale secondary: serial 1, api.example.test A 192.0.2.99",
            Behaviour::Udp512 => "at most 512 bytes over UDP: large answers need TCP",
        }
    }
}

/// One server of the hierarchy, as configured.
#[derive(Debug, Clone, Copy)]
pub struct ServerSpec {
    /// Its NS name (also its NSID).
    pub name: &'static str,
    /// Its loopback address.
    pub address: Ipv4Addr,
    /// Keys into the zone files.
    pub zones: &'static [&'static str],
    /// How it behaves.
    pub behaviour: Behaviour,
}

/// The hierarchy: every server, its address, zones and behaviour.
pub const SERVERS: &[ServerSpec] = &[
    ServerSpec {
        name: "a.root-servers.test.",
        address: Ipv4Addr::new(127, 0, 0, 2),
        zones: &["root"],
        behaviour: Behaviour::Normal,
    },
    ServerSpec {
        name: "ns1.nic.test.",
        address: Ipv4Addr::new(127, 0, 0, 3),
        zones: &["test"],
        behaviour: Behaviour::Normal,
    },
    ServerSpec {
        name: "ns2.nic.test.",
        address: Ipv4Addr::new(127, 0, 0, 4),
        zones: &["test"],
        behaviour: Behaviour::Normal,
    },
    ServerSpec {
        name: "ns1.example.test.",
        address: Ipv4Addr::new(127, 0, 0, 5),
        zones: &["example.test"],
        behaviour: Behaviour::Normal,
    },
    ServerSpec {
        name: "ns2.example.test.",
        address: Ipv4Addr::new(127, 0, 0, 6),
        zones: &[],
        behaviour: Behaviour::Lame,
    },
    ServerSpec {
        name: "ns3.example.test.",
        address: Ipv4Addr::new(127, 0, 0, 7),
        zones: &["example.test.stale"],
        behaviour: Behaviour::Stale,
    },
    ServerSpec {
        name: "ns.big.test.",
        address: Ipv4Addr::new(127, 0, 0, 8),
        zones: &["big.test"],
        behaviour: Behaviour::Udp512,
    },
    ServerSpec {
        name: "ns1.cdnhost.test.",
        address: Ipv4Addr::new(127, 0, 0, 9),
        zones: &["cdn.test"],
        behaviour: Behaviour::Normal,
    },
    ServerSpec {
        name: "ns.cdnhost.test.",
        address: Ipv4Addr::new(127, 0, 0, 10),
        zones: &["cdnhost.test"],
        behaviour: Behaviour::Normal,
    },
];

/// The `dns` object of the lab's `ready` event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DnsLab {
    /// The port every server listens on, UDP and TCP.
    pub port: u16,
    /// Where resolution starts: the root server's address.
    pub root_hints: Vec<String>,
    /// Every server of the hierarchy.
    pub servers: Vec<DnsServer>,
    /// DNS commands to try (also in the event's `try_commands`).
    pub try_commands: Vec<String>,
}

/// One server in the `ready` event.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DnsServer {
    /// NS name, absolute (`a.root-servers.test.`).
    pub name: &'static str,
    /// Loopback address.
    pub address: String,
    /// Origins of the zones it serves (`.`, `test.`, ...).
    pub zones: Vec<String>,
    /// `normal`, `lame`, `stale` or `udp_512`.
    pub behaviour: &'static str,
}

/// What `--dns` on port `port` serves, for the `ready` event.
pub fn describe(port: u16) -> DnsLab {
    let servers = SERVERS
        .iter()
        .map(|s| DnsServer {
            name: s.name,
            address: s.address.to_string(),
            zones: s
                .zones
                .iter()
                .filter_map(|k| ZONE_FILES.iter().find(|z| z.0 == *k))
                .map(|z| z.1.to_string())
                .collect(),
            behaviour: s.behaviour.as_str(),
        })
        .collect();
    let trace = |q: &str| format!("netlab dns trace --root {ROOT_HINT} --port {port} {q}");
    DnsLab {
        port,
        root_hints: vec![ROOT_HINT.to_string()],
        servers,
        try_commands: vec![
            trace("www.example.test A"),
            trace("api.example.test A"),
            trace("txt.big.test TXT"),
            trace("edge.cdn.test AAAA"),
            trace("loop1.example.test A"),
        ],
    }
}

/// One zone: its origin and its records by owner name (names compare case-insensitively).
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex.
    pub origin: Name,
    records: BTreeMap<Name, Vec<Record>>,
}

impl Zone {
    /// Parse zone-file text for `origin`.
    pub fn parse(origin: &str, text: &str) -> std::result::Result<Zone, String> {
        let origin = Name::from_ascii(origin).map_err(|e| format!("origin {origin}: {e}"))?;
        let (origin, sets) = Parser::new(text, None, Some(origin.clone()))
            .parse()
            .map_err(|e| format!("zone {origin}: {e}"))?;
        let mut records: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
        for set in sets.into_values() {
            for r in set.records_without_rrsigs() {
                if !origin.zone_of(&r.name) {
                    return Err(format!("zone {origin}: {} is outside the zone", r.name));
                }
                records.entry(r.name.clone()).or_default().push(r.clone());
            }
        }
        let zone = Zone { origin, records };
        if zone.get(&zone.origin, RecordType::SOA).len() != 1 {
            return Err(format!("zone {}: needs exactly one SOA", zone.origin));
        }
        Ok(zone)
    }

    /// Records of `rtype` at `name` (all of them for ANY).
    pub fn get(&self, name: &Name, rtype: RecordType) -> Vec<Record> {
        self.records
            .get(name)
            .map(|v| {
                v.iter()
                    .filter(|r| rtype == RecordType::ANY || r.record_type() == rtype)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The SOA record.
    pub fn soa(&self) -> Record {
        self.get(&self.origin, RecordType::SOA)
            .into_iter()
            .next()
            .expect("checked at parse")
    }

    /// The serial of the SOA.
    pub fn serial(&self) -> u32 {
        match &self.soa().data {
            RData::SOA(soa) => soa.serial,
            _ => 0,
        }
    }

    /// True when `name` owns records or has descendants that do (an empty non-terminal).
    pub fn exists(&self, name: &Name) -> bool {
        self.records.keys().any(|owner| name.zone_of(owner))
    }

    /// The topmost zone cut strictly below the origin and at or above `name`: the first name
    /// on the way down from the apex that owns NS records.
    pub fn cut(&self, name: &Name) -> Option<Name> {
        let below = self.origin.iter().count() + 1;
        let depth = name.iter().count();
        (below..=depth)
            .map(|n| name.trim_to(n))
            .find(|c| !self.get(c, RecordType::NS).is_empty())
    }

    /// A and AAAA records this zone holds for `name`.
    fn addresses(&self, name: &Name) -> Vec<Record> {
        let mut v = self.get(name, RecordType::A);
        v.extend(self.get(name, RecordType::AAAA));
        v
    }
}

/// Over which transport a query came (decides the size limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Size limit: the client's EDNS payload (512 without EDNS), capped by the server's.
    Udp,
    /// No truncation.
    Tcp,
}

/// One authoritative server: its zones and its limits.
#[derive(Debug, Clone)]
pub struct Server {
    /// NS name, sent as NSID.
    pub name: Name,
    /// The zones it serves (none for a lame server).
    pub zones: Vec<Zone>,
    /// The most it answers over UDP, whatever the client's EDNS size.
    pub udp_limit: u16,
}

impl Server {
    /// Build the server `spec` describes.
    pub fn from_spec(spec: &ServerSpec) -> std::result::Result<Server, String> {
        let name = Name::from_ascii(spec.name).map_err(|e| format!("{}: {e}", spec.name))?;
        let zones = spec
            .zones
            .iter()
            .map(|k| {
                let (_, origin, text) = ZONE_FILES
                    .iter()
                    .find(|z| z.0 == *k)
                    .ok_or_else(|| format!("no zone file {k}"))?;
                Zone::parse(origin, text)
            })
            .collect::<std::result::Result<_, _>>()?;
        let udp_limit = match spec.behaviour {
            Behaviour::Udp512 => 512,
            _ => u16::MAX,
        };
        Ok(Server {
            name,
            zones,
            udp_limit,
        })
    }

    /// The zone whose origin is the longest suffix of `name`.
    fn zone_for(&self, name: &Name) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|z| z.origin.zone_of(name))
            .max_by_key(|z| z.origin.iter().count())
    }

    /// Answer a decoded query: header, question, EDNS, the answer, and over `transport`'s size
    /// limit TC with empty record sections (question and OPT kept).
    pub fn respond(&self, query: &Message, transport: Transport) -> Message {
        let mut resp = Message::response(query.id, query.op_code);
        resp.metadata.recursion_desired = query.recursion_desired;
        resp.add_queries(query.queries.iter().cloned());
        let mut client_payload = 512;
        if let Some(qe) = &query.edns {
            client_payload = qe.max_payload().max(512);
            let mut e = Edns::new();
            e.set_max_payload(SERVER_PAYLOAD);
            e.set_dnssec_ok(qe.flags().dnssec_ok);
            if qe.option(EdnsCode::NSID).is_some()
                && let Ok(p) = NSIDPayload::new(self.name.to_ascii().into_bytes())
            {
                e.options_mut().insert(EdnsOption::NSID(p));
            }
            resp.set_edns(e);
            if qe.version() > 0 {
                resp.metadata.response_code = ResponseCode::BADVERS;
                return resp;
            }
        }
        match (query.op_code, query.queries.as_slice()) {
            (OpCode::Query, [q]) => self.answer(q, &mut resp),
            (OpCode::Query, _) => resp.metadata.response_code = ResponseCode::FormErr,
            _ => resp.metadata.response_code = ResponseCode::NotImp,
        }
        let limit = match transport {
            Transport::Udp => client_payload.min(self.udp_limit),
            Transport::Tcp => u16::MAX,
        };
        let size = resp.to_vec().map(|b| b.len()).unwrap_or(usize::MAX);
        if size > usize::from(limit) {
            resp.metadata.truncation = true;
            resp.answers.clear();
            resp.authorities.clear();
            resp.additionals.clear();
        }
        resp
    }

    /// Fill `resp` with the answer to `q` from this server's zones.
    fn answer(&self, q: &Query, resp: &mut Message) {
        let (qname, qtype) = (q.name(), q.query_type());
        let zone = match self.zone_for(qname) {
            Some(z) if q.query_class() == DNSClass::IN => z,
            _ => {
                resp.metadata.response_code = ResponseCode::Refused;
                return;
            }
        };
        // 1. Below a zone cut: refer (DS at the cut itself is the parent's to answer).
        if let Some(cut) = zone.cut(qname)
            && !(qtype == RecordType::DS && cut == *qname)
        {
            let ns = zone.get(&cut, RecordType::NS);
            // Glue only for servers inside the delegated zone (in bailiwick).
            let glue: Vec<Record> = targets(&ns)
                .iter()
                .filter(|t| cut.zone_of(t))
                .flat_map(|t| zone.addresses(t))
                .collect();
            resp.insert_authorities(ns);
            resp.insert_additionals(glue);
            return;
        }
        resp.metadata.authoritative = true;
        // 2. The records asked for.
        let found = zone.get(qname, qtype);
        if !found.is_empty() {
            let extra = if matches!(qtype, RecordType::NS | RecordType::MX) {
                targets(&found)
                    .iter()
                    .filter(|t| zone.origin.zone_of(t))
                    .flat_map(|t| zone.addresses(t))
                    .collect()
            } else {
                Vec::new()
            };
            resp.insert_answers(found);
            resp.insert_additionals(extra);
            return;
        }
        // An alias: the CNAME, then what it leads to inside this zone (not across a cut).
        if qtype != RecordType::CNAME {
            let mut cname = zone.get(qname, RecordType::CNAME);
            if !cname.is_empty() {
                let mut seen = vec![qname.clone()];
                let mut answers = Vec::new();
                for _ in 0..MAX_CNAME_STEPS {
                    let Some(target) = cname.first().and_then(|r| match &r.data {
                        RData::CNAME(c) => Some(c.0.clone()),
                        _ => None,
                    }) else {
                        break;
                    };
                    answers.append(&mut cname);
                    if !zone.origin.zone_of(&target)
                        || zone.cut(&target).is_some()
                        || seen.contains(&target)
                    {
                        break;
                    }
                    let found = zone.get(&target, qtype);
                    if !found.is_empty() {
                        answers.extend(found);
                        break;
                    }
                    cname = zone.get(&target, RecordType::CNAME);
                    seen.push(target);
                }
                answers.append(&mut cname);
                resp.insert_answers(answers);
                return;
            }
        }
        // 3. NODATA or 4. NXDOMAIN, with the SOA for negative caching.
        if !zone.exists(qname) {
            resp.metadata.response_code = ResponseCode::NXDomain;
        }
        resp.insert_authorities(vec![zone.soa()]);
    }

    /// Decode a packet, answer it, encode the answer. `None`: nothing to send (not even a
    /// header, or not a query). An undecodable query with a header gets FORMERR.
    pub fn handle(&self, packet: &[u8], transport: Transport) -> Option<Vec<u8>> {
        if packet.len() < 12 || packet[2] & 0x80 != 0 {
            return None;
        }
        let resp = match Message::from_vec(packet) {
            Ok(q) if q.message_type == MessageType::Query => self.respond(&q, transport),
            Ok(_) => return None,
            Err(_) => {
                let id = u16::from_be_bytes([packet[0], packet[1]]);
                let op = OpCode::from_u8((packet[2] >> 3) & 0x0f);
                let mut m = Message::error_msg(id, op, ResponseCode::FormErr);
                m.metadata.recursion_desired = packet[2] & 1 != 0;
                m
            }
        };
        resp.to_vec().ok()
    }
}

/// Target names of NS / MX / CNAME records.
fn targets(records: &[Record]) -> Vec<Name> {
    records
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(n) => Some(n.0.clone()),
            RData::MX(mx) => Some(mx.exchange.clone()),
            RData::CNAME(c) => Some(c.0.clone()),
            _ => None,
        })
        .collect()
}

/// Every server of the hierarchy, built (zone files parsed).
pub fn servers() -> Result<Vec<(ServerSpec, Server)>> {
    SERVERS
        .iter()
        .map(|s| {
            Server::from_spec(s)
                .map(|srv| (*s, srv))
                .map_err(|e| Error::measure(format!("lab --dns: bad built-in zone data: {e}")))
        })
        .collect()
}

fn bind_error(addr: SocketAddr, proto: &str, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::PermissionDenied {
        Error::io(
            format!(
                "lab --dns: bind {addr}/{proto} (ports below 1024 need root or CAP_NET_BIND_SERVICE; or use an unprivileged port, e.g. --dns-port 5353)"
            ),
            e,
        )
    } else {
        Error::usage(format!(
            "lab --dns: bind {addr}/{proto}: {e} (pick another port, e.g. --dns-port 5353)"
        ))
    }
}

fn bind_udp(addr: SocketAddr) -> Result<UdpSocket> {
    let s = UdpSocket::bind(addr).map_err(|e| bind_error(addr, "udp", e))?;
    s.set_read_timeout(Some(TICK))
        .map_err(|e| Error::io("SO_RCVTIMEO", e))?;
    Ok(s)
}

fn bind_tcp(addr: SocketAddr) -> Result<TcpListener> {
    let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::io("open lab DNS socket", e))?;
    s.set_reuse_address(true)
        .map_err(|e| Error::io("SO_REUSEADDR", e))?;
    s.bind(&addr.into())
        .map_err(|e| bind_error(addr, "tcp", e))?;
    s.listen(MAX_TCP_CONNECTIONS as i32)
        .map_err(|e| Error::io(format!("listen on {addr}"), e))?;
    // On Linux accept() honours SO_RCVTIMEO: the accept loop wakes to look at the stop flag.
    s.set_read_timeout(Some(TICK))
        .map_err(|e| Error::io("SO_RCVTIMEO", e))?;
    Ok(s.into())
}

/// Start every server of the hierarchy on `port` (UDP and TCP, in this process's network
/// namespace). All sockets are bound before any thread starts, so a bind error leaves nothing
/// running. `answered` counts responses sent, all servers together.
pub fn start(port: u16, stop: Arc<AtomicBool>, answered: Arc<AtomicU64>) -> Result<()> {
    if port == 0 {
        return Err(Error::usage(
            "--dns-port 0: every DNS server needs the same, known port (referrals carry none)",
        ));
    }
    let mut bound = Vec::new();
    for (spec, server) in servers()? {
        let addr = SocketAddr::new(spec.address.into(), port);
        bound.push((Arc::new(server), bind_udp(addr)?, bind_tcp(addr)?));
    }
    for (server, udp, tcp) in bound {
        let (st, an, srv) = (stop.clone(), answered.clone(), server.clone());
        std::thread::spawn(move || serve_udp(&srv, &udp, &st, &an));
        let (st, an) = (stop.clone(), answered.clone());
        std::thread::spawn(move || serve_tcp(server, tcp, st, an));
    }
    Ok(())
}

fn serve_udp(server: &Server, sock: &UdpSocket, stop: &AtomicBool, answered: &AtomicU64) {
    let mut buf = vec![0u8; 65535];
    while !stop.load(Ordering::SeqCst) {
        let (n, peer) = match sock.recv_from(&mut buf) {
            Ok(x) => x,
            Err(_) => continue, // the timeout tick, or a transient error
        };
        if let Some(out) = server.handle(&buf[..n], Transport::Udp)
            && sock.send_to(&out, peer).is_ok()
        {
            answered.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn serve_tcp(
    server: Arc<Server>,
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) {
    let active = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::SeqCst) {
        let Ok((conn, _)) = listener.accept() else {
            continue; // the timeout tick, or a transient error
        };
        if active.load(Ordering::SeqCst) >= MAX_TCP_CONNECTIONS {
            drop(conn);
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (server, stop, answered, active) = (
            server.clone(),
            stop.clone(),
            answered.clone(),
            active.clone(),
        );
        std::thread::spawn(move || {
            serve_connection(&server, conn, &stop, &answered);
            active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// Length-prefixed queries, one after another, until the client closes, goes idle for
/// [`TCP_IDLE`], or the lab stops.
fn serve_connection(server: &Server, mut conn: TcpStream, stop: &AtomicBool, answered: &AtomicU64) {
    let _ = conn.set_read_timeout(Some(TICK));
    let _ = conn.set_write_timeout(Some(TCP_IDLE));
    let _ = conn.set_nodelay(true);
    loop {
        let mut len = [0u8; 2];
        if !read_full(&mut conn, &mut len, stop) {
            return;
        }
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !read_full(&mut conn, &mut msg, stop) {
            return;
        }
        let Some(out) = server.handle(&msg, Transport::Tcp) else {
            continue;
        };
        let Ok(n) = u16::try_from(out.len()) else {
            return;
        };
        let mut framed = n.to_be_bytes().to_vec();
        framed.extend_from_slice(&out);
        if conn.write_all(&framed).is_err() {
            return;
        }
        answered.fetch_add(1, Ordering::Relaxed);
    }
}

/// Fill `buf`; false on end of stream, error, [`TCP_IDLE`] without progress, or stop.
fn read_full(conn: &mut TcpStream, buf: &mut [u8], stop: &AtomicBool) -> bool {
    let mut got = 0;
    let mut deadline = Instant::now() + TCP_IDLE;
    while got < buf.len() {
        if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
            return false;
        }
        match conn.read(&mut buf[got..]) {
            Ok(0) => return false,
            Ok(n) => {
                got += n;
                deadline = Instant::now() + TCP_IDLE;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, CNAME};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_str(s).expect("a valid name literal")
    }

    fn server(ns: &str) -> Server {
        let spec = SERVERS.iter().find(|s| s.name == ns).unwrap();
        Server::from_spec(spec).unwrap()
    }

    fn query(qname: &str, qtype: RecordType, edns: Option<u16>) -> Message {
        let mut m = Message::query();
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(name(qname), qtype));
        if let Some(p) = edns {
            let mut e = Edns::new();
            e.set_max_payload(p);
            m.set_edns(e);
        }
        m
    }

    fn ask(ns: &str, qname: &str, qtype: RecordType) -> Message {
        server(ns).respond(&query(qname, qtype, None), Transport::Udp)
    }

    fn names(records: &[Record]) -> Vec<String> {
        records.iter().map(|r| r.name.to_ascii()).collect()
    }

    fn ns_targets(records: &[Record]) -> Vec<String> {
        targets(records).iter().map(|n| n.to_ascii()).collect()
    }

    fn a(records: &[Record]) -> Vec<(String, Ipv4Addr)> {
        records
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(A(ip)) => Some((r.name.to_ascii(), *ip)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_zone_file_parses_with_its_soa() {
        for (key, origin, text) in ZONE_FILES {
            let z = Zone::parse(origin, text).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(z.origin, name(origin));
            assert!(z.serial() >= 1, "{key}");
        }
        assert_eq!(servers().unwrap().len(), 9);
        let serial = |k| {
            let (_, o, t) = ZONE_FILES.iter().find(|z| z.0 == k).unwrap();
            Zone::parse(o, t).unwrap().serial()
        };
        assert_eq!(serial("example.test"), 2);
        assert_eq!(serial("example.test.stale"), 1);
    }

    #[test]
    fn root_refers_test_with_glue() {
        let r = ask("a.root-servers.test.", "www.example.test.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(!r.authoritative, "a referral is not authoritative");
        assert!(!r.recursion_available);
        assert!(r.recursion_desired, "RD copied");
        assert!(r.answers.is_empty());
        assert_eq!(
            ns_targets(&r.authorities),
            ["ns1.nic.test.", "ns2.nic.test."]
        );
        assert!(names(&r.authorities).iter().all(|n| n == "test."));
        let mut glue = a(&r.additionals);
        glue.sort();
        assert_eq!(
            glue,
            [
                ("ns1.nic.test.".into(), Ipv4Addr::new(127, 0, 0, 3)),
                ("ns2.nic.test.".into(), Ipv4Addr::new(127, 0, 0, 4)),
            ]
        );
    }

    #[test]
    fn referral_carries_in_bailiwick_glue_only() {
        // example.test: all three servers are inside the delegated zone.
        let r = ask("ns1.nic.test.", "api.example.test.", RecordType::A);
        assert!(!r.authoritative);
        assert_eq!(r.authorities.len(), 3);
        assert_eq!(a(&r.additionals).len(), 3);
        // cdnhost.test: glue for ns.cdnhost.test.
        let r = ask("ns2.nic.test.", "ns1.cdnhost.test.", RecordType::A);
        assert_eq!(ns_targets(&r.authorities), ["ns.cdnhost.test."]);
        assert_eq!(
            a(&r.additionals),
            [("ns.cdnhost.test.".into(), Ipv4Addr::new(127, 0, 0, 10))]
        );
    }

    #[test]
    fn cdn_referral_is_glueless() {
        let r = ask("ns1.nic.test.", "edge.cdn.test.", RecordType::AAAA);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(!r.authoritative);
        assert!(r.answers.is_empty());
        assert_eq!(ns_targets(&r.authorities), ["ns1.cdnhost.test."]);
        assert_eq!(names(&r.authorities), ["cdn.test."]);
        assert!(r.additionals.is_empty(), "no glue: {:?}", r.additionals);
    }

    #[test]
    fn authoritative_answer() {
        let r = ask("ns1.example.test.", "api.example.test.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(r.authoritative);
        assert_eq!(
            a(&r.answers),
            [("api.example.test.".into(), Ipv4Addr::new(192, 0, 2, 10))]
        );
        assert!(r.authorities.is_empty());
        // Mixed case in the question is matched and echoed.
        let mut q = query("api.example.test.", RecordType::A, None);
        q.queries[0].set_name(Name::from_ascii("API.Example.TEST.").unwrap());
        let r = server("ns1.example.test.").respond(&q, Transport::Udp);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.queries[0].name().to_ascii(), "API.Example.TEST.");
        // The stale copy has the old address.
        let r = ask("ns3.example.test.", "api.example.test.", RecordType::A);
        assert!(r.authoritative);
        assert_eq!(
            a(&r.answers),
            [("api.example.test.".into(), Ipv4Addr::new(192, 0, 2, 99))]
        );
        // NS at the apex: the servers' addresses come along.
        let r = ask("a.root-servers.test.", ".", RecordType::NS);
        assert!(r.authoritative);
        assert_eq!(ns_targets(&r.answers), ["a.root-servers.test."]);
        assert_eq!(a(&r.additionals).len(), 1);
    }

    #[test]
    fn cname_answers() {
        // Out of zone target: just the CNAME.
        let r = ask("ns1.example.test.", "www.example.test.", RecordType::A);
        assert!(r.authoritative);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert_eq!(r.answers.len(), 1);
        assert_eq!(
            r.answers[0].data,
            RData::CNAME(CNAME(name("edge.cdn.test.")))
        );
        // Asking for the CNAME itself.
        let r = ask("ns1.example.test.", "www.example.test.", RecordType::CNAME);
        assert_eq!(r.answers.len(), 1);
        // A loop stops: loop1 → loop2 → loop1 is not followed again.
        let r = ask("ns1.example.test.", "loop1.example.test.", RecordType::A);
        assert!(r.authoritative);
        assert_eq!(
            names(&r.answers),
            ["loop1.example.test.", "loop2.example.test."]
        );
    }

    #[test]
    fn cname_followed_inside_the_zone() {
        let text = "$ORIGIN z.test.\n$TTL 60\n@ SOA ns.z.test. h.z.test. 1 2 3 4 5\n\
                    @ NS ns.z.test.\nns A 127.0.0.11\nalias CNAME mid\nmid CNAME host\n\
                    host A 192.0.2.1\nout CNAME sub\nsub NS ns.sub.z.test.\n";
        let s = Server {
            name: name("ns.z.test."),
            zones: vec![Zone::parse("z.test.", text).unwrap()],
            udp_limit: u16::MAX,
        };
        let r = s.respond(&query("alias.z.test.", RecordType::A, None), Transport::Udp);
        assert_eq!(
            names(&r.answers),
            ["alias.z.test.", "mid.z.test.", "host.z.test."]
        );
        assert_eq!(
            a(&r.answers),
            [("host.z.test.".into(), Ipv4Addr::new(192, 0, 2, 1))]
        );
        // Not followed across a zone cut.
        let r = s.respond(&query("out.z.test.", RecordType::A, None), Transport::Udp);
        assert_eq!(names(&r.answers), ["out.z.test."]);
    }

    #[test]
    fn nodata() {
        let r = ask("ns1.example.test.", "mail.example.test.", RecordType::AAAA);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(r.authoritative);
        assert!(r.answers.is_empty());
        assert_eq!(r.authorities.len(), 1);
        assert_eq!(r.authorities[0].record_type(), RecordType::SOA);
        // An empty non-terminal (nic.test owns nothing, ns1.nic.test does): NODATA too.
        let r = ask("ns1.nic.test.", "nic.test.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(r.authoritative);
        assert_eq!(r.authorities[0].record_type(), RecordType::SOA);
    }

    #[test]
    fn nxdomain() {
        let r = ask("ns1.example.test.", "nope.example.test.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::NXDomain);
        assert!(r.authoritative);
        assert!(r.answers.is_empty());
        assert_eq!(r.authorities.len(), 1);
        assert_eq!(r.authorities[0].record_type(), RecordType::SOA);
        assert_eq!(r.authorities[0].name.to_ascii(), "example.test.");
        let r = ask("a.root-servers.test.", "nope.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::NXDomain);
    }

    #[test]
    fn refused_outside_its_zones() {
        let r = ask("ns1.example.test.", "edge.cdn.test.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::Refused);
        assert!(!r.authoritative);
        assert!(r.answers.is_empty() && r.authorities.is_empty());
        let r = ask("ns1.nic.test.", "www.example.invalid.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::Refused);
        // Class other than IN.
        let mut q = query("api.example.test.", RecordType::A, None);
        q.queries[0].set_query_class(DNSClass::CH);
        let r = server("ns1.example.test.").respond(&q, Transport::Udp);
        assert_eq!(r.response_code, ResponseCode::Refused);
    }

    #[test]
    fn lame_server_refuses_everything() {
        for (q, t) in [
            ("api.example.test.", RecordType::A),
            ("example.test.", RecordType::SOA),
            (".", RecordType::NS),
        ] {
            let r = ask("ns2.example.test.", q, t);
            assert_eq!(r.response_code, ResponseCode::Refused, "{q}");
            assert!(!r.authoritative);
        }
    }

    #[test]
    fn truncation_at_512_bytes_over_udp() {
        let big = server("ns.big.test.");
        // Over UDP: TC and empty sections, even with a large EDNS size; question and OPT kept.
        let r = big.respond(
            &query("txt.big.test.", RecordType::TXT, Some(4096)),
            Transport::Udp,
        );
        assert!(r.truncation);
        assert!(r.authoritative);
        assert!(r.answers.is_empty() && r.authorities.is_empty() && r.additionals.is_empty());
        assert_eq!(r.queries.len(), 1);
        assert_eq!(
            r.edns.as_ref().map(|e| e.max_payload()),
            Some(SERVER_PAYLOAD)
        );
        assert!(r.to_vec().unwrap().len() <= 512);
        // Over TCP: all of it.
        let r = big.respond(
            &query("txt.big.test.", RecordType::TXT, None),
            Transport::Tcp,
        );
        assert!(!r.truncation);
        assert_eq!(r.answers.len(), 20);
        assert!(r.to_vec().unwrap().len() > 1232);
        // Small answers from the same server fit.
        let r = big.respond(&query("big.test.", RecordType::SOA, None), Transport::Udp);
        assert!(!r.truncation);
        assert_eq!(r.answers.len(), 1);
        // A normal server honours the client's size: 512 without EDNS, more with.
        let ex = server("ns1.example.test.");
        let r = ex.respond(
            &query("example.test.", RecordType::ANY, None),
            Transport::Udp,
        );
        let whole = ex.respond(
            &query("example.test.", RecordType::ANY, None),
            Transport::Tcp,
        );
        assert_eq!(r.truncation, whole.to_vec().unwrap().len() > 512);
    }

    #[test]
    fn ds_at_the_cut_is_answered_by_the_parent() {
        // DS at the cut: the parent answers itself (no DS data yet: NODATA, AA).
        let r = ask("ns1.nic.test.", "example.test.", RecordType::DS);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(r.authoritative);
        assert!(r.answers.is_empty());
        assert_eq!(r.authorities[0].record_type(), RecordType::SOA);
        assert_eq!(r.authorities[0].name.to_ascii(), "test.");
        // Any other type at the cut, or DS below it: a referral.
        let r = ask("ns1.nic.test.", "example.test.", RecordType::NS);
        assert!(!r.authoritative);
        assert_eq!(r.authorities.len(), 3);
        let r = ask("ns1.nic.test.", "sub.example.test.", RecordType::DS);
        assert!(!r.authoritative);
        assert_eq!(r.authorities.len(), 3);
    }

    #[test]
    fn edns_echo_nsid_and_header() {
        let s = server("ns1.example.test.");
        let mut q = query("api.example.test.", RecordType::A, Some(1400));
        let e = q.edns.as_mut().unwrap();
        e.set_dnssec_ok(true);
        e.options_mut()
            .insert(EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap()));
        let r = s.respond(&q, Transport::Udp);
        assert_eq!(r.id, q.id);
        assert_eq!(r.message_type, MessageType::Response);
        let e = r.edns.as_ref().expect("OPT echoed");
        assert!(e.flags().dnssec_ok);
        assert_eq!(e.max_payload(), SERVER_PAYLOAD);
        match e.option(EdnsCode::NSID) {
            Some(EdnsOption::NSID(p)) => assert_eq!(p.as_ref(), b"ns1.example.test."),
            other => panic!("no NSID: {other:?}"),
        }
        // No OPT in, none out.
        let r = s.respond(
            &query("api.example.test.", RecordType::A, None),
            Transport::Udp,
        );
        assert!(r.edns.is_none());
        // EDNS version 1: BADVERS.
        let mut q = query("api.example.test.", RecordType::A, Some(1232));
        q.edns.as_mut().unwrap().set_version(1);
        let r = s.respond(&q, Transport::Udp);
        assert_eq!(r.response_code, ResponseCode::BADVERS);
    }

    #[test]
    fn wire_handling() {
        let s = server("ns1.example.test.");
        let q = query("api.example.test.", RecordType::A, None);
        let out = s.handle(&q.to_vec().unwrap(), Transport::Udp).unwrap();
        let r = Message::from_vec(&out).unwrap();
        assert_eq!(r.id, q.id);
        assert_eq!(r.answers.len(), 1);
        // A header and garbage: FORMERR with the same ID.
        let mut bad = q.to_vec().unwrap();
        bad.truncate(15);
        let r = Message::from_vec(&s.handle(&bad, Transport::Udp).unwrap()).unwrap();
        assert_eq!(r.response_code, ResponseCode::FormErr);
        assert_eq!(r.id, q.id);
        // Two questions: FORMERR.
        let mut two = query("api.example.test.", RecordType::A, None);
        two.add_query(Query::query(name("mail.example.test."), RecordType::A));
        let r = s.respond(&two, Transport::Udp);
        assert_eq!(r.response_code, ResponseCode::FormErr);
        // Not even a header, or a response: nothing.
        assert!(s.handle(&[1, 2, 3], Transport::Udp).is_none());
        let resp = s.respond(&q, Transport::Udp).to_vec().unwrap();
        assert!(s.handle(&resp, Transport::Udp).is_none());
    }

    #[test]
    fn describe_lists_every_server() {
        let d = describe(5353);
        assert_eq!(d.root_hints, ["127.0.0.2"]);
        assert_eq!(d.servers.len(), 9);
        let lame = d.servers.iter().find(|s| s.behaviour == "lame").unwrap();
        assert_eq!(lame.address, "127.0.0.6");
        assert!(lame.zones.is_empty());
        let root = &d.servers[0];
        assert_eq!(
            (root.name, root.zones.clone()),
            ("a.root-servers.test.", vec![".".into()])
        );
        assert!(d.try_commands[0].contains("--root 127.0.0.2 --port 5353 www.example.test A"));
    }
}

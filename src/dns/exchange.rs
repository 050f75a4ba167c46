//! One DNS query to one server: UDP (connected socket, so the kernel drops datagrams from any
//! other source), replies matched on ID and question, TC → retry over TCP; every step bounded
//! by the per-query timeout. The only I/O of `dns trace`; the walk sees it through [`Exchanger`].

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{EdnsOption, NSIDPayload};
use hickory_proto::rr::{Name, RecordType};

use crate::tcp::stats::round_ns;

/// Options every query carries.
#[derive(Debug, Clone, Copy)]
pub struct QueryOpts {
    /// Per-query timeout (UDP and TCP together).
    pub timeout: Duration,
    /// `--tcp`: skip UDP.
    pub tcp_only: bool,
    /// `--dnssec`: set DO.
    pub dnssec: bool,
    /// `--nsid`: ask for the server's NSID.
    pub nsid: bool,
    /// EDNS UDP payload size we advertise.
    pub udp_size: u16,
}

/// How the final reply came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP only.
    Udp,
    /// Truncated over UDP, then TCP.
    UdpTcp,
    /// TCP only (`--tcp`).
    Tcp,
}

impl Transport {
    /// `udp`, `udp→tcp`, `tcp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::UdpTcp => "udp→tcp",
            Transport::Tcp => "tcp",
        }
    }
}

/// The result of one exchange.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// How.
    pub transport: Transport,
    /// Query sent → reply received (over all transports tried), µs; null on failure.
    pub rtt_us: Option<f64>,
    /// Size of the reply, bytes.
    pub bytes: Option<usize>,
    /// The reply, or what went wrong: `timeout`, `mismatch` (only replies whose ID or
    /// question did not match), `malformed`, or an I/O error text.
    pub response: Result<Message, String>,
    /// Datagrams ignored because their ID or question did not match.
    pub mismatches: u32,
}

/// What the walk needs from the network.
pub trait Exchanger: Sync {
    /// Ask `server` for `qname`/`qtype`.
    fn exchange(&self, server: SocketAddr, qname: &Name, qtype: RecordType) -> Exchange;
}

/// Build a query: RD=0, EDNS with our payload size, DO and NSID as asked, a random ID.
pub fn build_query(qname: &Name, qtype: RecordType, opts: &QueryOpts) -> Message {
    let mut m = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = false;
    m.add_query(Query::query(qname.clone(), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(opts.udp_size);
    edns.set_dnssec_ok(opts.dnssec);
    if opts.nsid
        && let Ok(p) = NSIDPayload::new(Vec::new())
    {
        edns.options_mut().insert(EdnsOption::NSID(p));
    }
    m.set_edns(edns);
    m
}

/// Does `reply` answer `query` (same ID and the same question, name compared case-insensitively)?
pub fn matches(query: &Message, reply: &Message) -> bool {
    if reply.metadata.id != query.metadata.id
        || reply.metadata.message_type != MessageType::Response
    {
        return false;
    }
    match (query.queries.first(), reply.queries.first()) {
        (Some(q), Some(r)) => {
            q.name().to_lowercase() == r.name().to_lowercase() && q.query_type() == r.query_type()
        }
        // Some servers omit the question in FORMERR / NOTIMP replies.
        (Some(_), None) => reply.metadata.response_code != hickory_proto::op::ResponseCode::NoError,
        _ => false,
    }
}

/// The real network.
#[derive(Debug, Clone, Copy)]
pub struct Net {
    /// Query options.
    pub opts: QueryOpts,
}

impl Exchanger for Net {
    fn exchange(&self, server: SocketAddr, qname: &Name, qtype: RecordType) -> Exchange {
        let q = build_query(qname, qtype, &self.opts);
        let deadline = Instant::now() + self.opts.timeout;
        let start = Instant::now();
        let elapsed = || round_ns(start.elapsed().as_nanos() as f64 / 1000.0);
        if self.opts.tcp_only {
            let r = tcp(server, &q, deadline);
            return done(Transport::Tcp, r, elapsed(), 0);
        }
        let (r, mism) = udp(server, &q, deadline);
        match r {
            Ok((m, _)) if m.metadata.truncation => {
                let r = tcp(server, &q, deadline);
                done(Transport::UdpTcp, r, elapsed(), mism)
            }
            other => done(Transport::Udp, other, elapsed(), mism),
        }
    }
}

fn done(t: Transport, r: Result<(Message, usize), String>, us: f64, mismatches: u32) -> Exchange {
    match r {
        Ok((m, n)) => Exchange {
            transport: t,
            rtt_us: Some(us),
            bytes: Some(n),
            response: Ok(m),
            mismatches,
        },
        Err(e) => Exchange {
            transport: t,
            rtt_us: None,
            bytes: None,
            response: Err(e),
            mismatches,
        },
    }
}

fn unspecified(server: &SocketAddr) -> SocketAddr {
    match server.ip() {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

fn left(deadline: Instant) -> Option<Duration> {
    let l = deadline.saturating_duration_since(Instant::now());
    (!l.is_zero()).then_some(l)
}

fn udp(
    server: SocketAddr,
    q: &Message,
    deadline: Instant,
) -> (Result<(Message, usize), String>, u32) {
    let mut mismatches = 0;
    let run = |mismatches: &mut u32| -> Result<(Message, usize), String> {
        let bytes = q.to_vec().map_err(|e| format!("encode query: {e}"))?;
        let sock = UdpSocket::bind(unspecified(&server)).map_err(|e| format!("udp socket: {e}"))?;
        sock.connect(server)
            .map_err(|e| format!("udp connect: {e}"))?;
        sock.send(&bytes).map_err(|e| format!("udp send: {e}"))?;
        let mut buf = vec![0u8; 65535];
        let mut malformed = false;
        loop {
            let Some(l) = left(deadline) else {
                return Err(if *mismatches > 0 {
                    "mismatch".into()
                } else if malformed {
                    "malformed".into()
                } else {
                    "timeout".into()
                });
            };
            sock.set_read_timeout(Some(l))
                .map_err(|e| format!("udp: {e}"))?;
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    return Err("port unreachable (nothing listens)".into());
                }
                Err(e) => return Err(format!("udp recv: {e}")),
            };
            match Message::from_vec(&buf[..n]) {
                Ok(m) if matches(q, &m) => return Ok((m, n)),
                Ok(_) => *mismatches += 1,
                Err(_) => malformed = true,
            }
        }
    };
    let r = run(&mut mismatches);
    (r, mismatches)
}

fn tcp(server: SocketAddr, q: &Message, deadline: Instant) -> Result<(Message, usize), String> {
    let bytes = q.to_vec().map_err(|e| format!("encode query: {e}"))?;
    let l = left(deadline).ok_or("timeout")?;
    let mut s = TcpStream::connect_timeout(&server, l).map_err(|e| {
        if e.kind() == std::io::ErrorKind::TimedOut {
            "timeout".to_string()
        } else {
            format!("tcp connect: {e}")
        }
    })?;
    let _ = s.set_nodelay(true);
    let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&bytes);
    s.set_write_timeout(left(deadline))
        .map_err(|e| format!("tcp: {e}"))?;
    s.write_all(&frame).map_err(|e| format!("tcp send: {e}"))?;
    let mut read_exact = |buf: &mut [u8]| -> Result<(), String> {
        let l = left(deadline).ok_or("timeout")?;
        s.set_read_timeout(Some(l))
            .map_err(|e| format!("tcp: {e}"))?;
        s.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "timeout".to_string(),
            _ => format!("tcp recv: {e}"),
        })
    };
    let mut len = [0u8; 2];
    read_exact(&mut len)?;
    let n = usize::from(u16::from_be_bytes(len));
    let mut buf = vec![0u8; n];
    read_exact(&mut buf)?;
    let m = Message::from_vec(&buf).map_err(|_| "malformed".to_string())?;
    if !matches(q, &m) {
        return Err("mismatch".into());
    }
    Ok((m, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> QueryOpts {
        QueryOpts {
            timeout: Duration::from_secs(1),
            tcp_only: false,
            dnssec: true,
            nsid: true,
            udp_size: 1232,
        }
    }

    #[test]
    fn query_is_iterative_with_edns() {
        let q = build_query(
            &Name::from_ascii("www.example.test.").unwrap(),
            RecordType::A,
            &opts(),
        );
        assert!(!q.metadata.recursion_desired);
        let e = q.edns.as_ref().unwrap();
        assert_eq!(e.max_payload(), 1232);
        assert!(e.flags().dnssec_ok);
        assert!(
            e.option(hickory_proto::rr::rdata::opt::EdnsCode::NSID)
                .is_some()
        );
        let wire = q.to_vec().unwrap();
        let back = Message::from_vec(&wire).unwrap();
        assert_eq!(back.queries, q.queries);
    }

    #[test]
    fn replies_match_on_id_and_question() {
        let q = build_query(
            &Name::from_ascii("a.test.").unwrap(),
            RecordType::A,
            &opts(),
        );
        let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        r.add_query(Query::query(
            Name::from_ascii("A.TEST.").unwrap(),
            RecordType::A,
        ));
        assert!(matches(&q, &r));
        let mut other_id = r.clone();
        other_id.metadata.id = q.metadata.id.wrapping_add(1);
        assert!(!matches(&q, &other_id));
        let mut other_q = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        other_q.add_query(Query::query(
            Name::from_ascii("b.test.").unwrap(),
            RecordType::A,
        ));
        assert!(!matches(&q, &other_q));
        let mut aaaa = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        aaaa.add_query(Query::query(
            Name::from_ascii("a.test.").unwrap(),
            RecordType::AAAA,
        ));
        assert!(!matches(&q, &aaaa));
        assert!(!matches(&q, &q), "a query is not a reply");
    }

    #[test]
    fn nothing_listening_is_reported_fast() {
        // A closed UDP port on loopback: ICMP port unreachable → connection refused.
        let free = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = free.local_addr().unwrap();
        drop(free);
        let e = Net { opts: opts() }.exchange(
            addr,
            &Name::from_ascii("a.test.").unwrap(),
            RecordType::A,
        );
        assert!(e.response.is_err());
        assert!(e.rtt_us.is_none());
    }
}

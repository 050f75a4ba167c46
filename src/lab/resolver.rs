//! The lab's recursive resolver (`netlab lab --dns --resolver ADDR`): what a stub resolver in a
//! test namespace talks to. It resolves from the lab's root with netlab's own walk, caches by
//! TTL, and starts with one stale cache entry — `api.example.test. A 192.0.2.99`, the address
//! the zone held before (the stale secondary still has it) — so `dns lookup --compare` has a
//! cached answer that differs from the authoritative one to find.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::dns::exchange::{Net, QueryOpts};
use crate::dns::report::Status;
use crate::dns::walk::{Config, Server, Tracer};
use crate::error::{Error, Result};
use crate::net::Family;

const TICK: Duration = Duration::from_millis(100);

struct Entry {
    rcode: ResponseCode,
    records: Vec<Record>,
    expires: Instant,
}

/// A caching resolver over the lab hierarchy.
pub struct Resolver {
    dns_port: u16,
    cache: Mutex<HashMap<(Name, RecordType), Entry>>,
}

impl Resolver {
    /// A resolver for the hierarchy on `dns_port`, with the stale entry in its cache.
    pub fn new(dns_port: u16) -> Resolver {
        let mut cache = HashMap::new();
        if let (Ok(n), Ok(ip)) = (Name::from_str("api.example.test."), "192.0.2.99".parse()) {
            cache.insert(
                (n.clone(), RecordType::A),
                Entry {
                    rcode: ResponseCode::NoError,
                    records: vec![Record::from_rdata(n, 3600, RData::A(A(ip)))],
                    expires: Instant::now() + Duration::from_secs(3600),
                },
            );
        }
        Resolver {
            dns_port,
            cache: Mutex::new(cache),
        }
    }

    fn resolve(&self, qname: &Name, qtype: RecordType) -> (ResponseCode, Vec<Record>) {
        let key = (qname.to_lowercase(), qtype);
        let now = Instant::now();
        if let Ok(c) = self.cache.lock()
            && let Some(e) = c.get(&key).filter(|e| e.expires > now)
        {
            let left = e.expires.saturating_duration_since(now).as_secs() as u32;
            let recs = e
                .records
                .iter()
                .map(|r| Record::from_rdata(r.name.clone(), left, r.data.clone()))
                .collect();
            return (e.rcode, recs);
        }
        let net = Net {
            opts: QueryOpts {
                timeout: Duration::from_secs(1),
                tcp_only: false,
                dnssec: false,
                nsid: false,
                udp_size: 1232,
            },
        };
        let cfg = Config {
            port: self.dns_port,
            family: Family::V4,
            max_depth: 16,
            max_cname: 8,
            max_queries: 200,
            max_nested: 4,
            parallel: 8,
            deadline: now + Duration::from_secs(5),
            dnssec: false,
        };
        let roots = vec![Server {
            ns: "a.root-servers.test.".into(),
            address: IpAddr::from([127, 0, 0, 2]),
        }];
        let o = Tracer::new(&net, cfg, roots).trace(qname, qtype);
        let mut records: Vec<Record> = o
            .chain
            .iter()
            .filter(|s| s.kind == "CNAME")
            .filter_map(|s| {
                Some(Record::from_rdata(
                    Name::from_str(&s.from).ok()?,
                    300,
                    RData::CNAME(CNAME(Name::from_str(&s.to).ok()?)),
                ))
            })
            .collect();
        records.extend(o.answer);
        let rcode = match o.status {
            Status::Resolved | Status::Nodata => ResponseCode::NoError,
            Status::Nxdomain => ResponseCode::NXDomain,
            Status::Failed | Status::Bogus => ResponseCode::ServFail,
        };
        if rcode != ResponseCode::ServFail {
            let ttl = records.iter().map(|r| r.ttl).min().unwrap_or(60);
            if let Ok(mut c) = self.cache.lock() {
                c.insert(
                    key,
                    Entry {
                        rcode,
                        records: records.clone(),
                        expires: now + Duration::from_secs(u64::from(ttl)),
                    },
                );
            }
        }
        (rcode, records)
    }

    /// Answer one query message; None for garbage.
    pub fn handle(&self, bytes: &[u8], udp: bool) -> Option<Vec<u8>> {
        let q = Message::from_vec(bytes).ok()?;
        if q.metadata.message_type != MessageType::Query {
            return None;
        }
        let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        r.metadata.recursion_desired = q.metadata.recursion_desired;
        r.metadata.recursion_available = true;
        r.queries = q.queries.clone();
        match q.queries.first() {
            Some(question) if q.queries.len() == 1 && q.metadata.recursion_desired => {
                let (rcode, recs) = self.resolve(question.name(), question.query_type());
                r.metadata.response_code = rcode;
                r.answers = recs;
            }
            Some(_) => r.metadata.response_code = ResponseCode::Refused, // iterative queries: not for us
            None => r.metadata.response_code = ResponseCode::FormErr,
        }
        let limit = if udp {
            q.edns
                .as_ref()
                .map(|e| e.max_payload().max(512))
                .unwrap_or(512)
        } else {
            u16::MAX
        };
        if let Some(e) = &q.edns {
            let mut out = hickory_proto::op::Edns::new();
            out.set_max_payload(1232);
            out.set_dnssec_ok(e.flags().dnssec_ok);
            r.set_edns(out);
        }
        let wire = r.to_vec().ok()?;
        if wire.len() > usize::from(limit) {
            r.answers.clear();
            r.metadata.truncation = true;
            return r.to_vec().ok();
        }
        Some(wire)
    }
}

/// Serve the resolver on `addr` (UDP and TCP) until `stop`.
pub fn start(
    addr: SocketAddr,
    dns_port: u16,
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
) -> Result<()> {
    let bind_err = |e: std::io::Error| {
        Error::usage(format!(
            "lab: bind the resolver on {addr}: {e} (port 53 needs root; resolv.conf cannot name another port)"
        ))
    };
    let udp = UdpSocket::bind(addr).map_err(bind_err)?;
    let tcp = TcpListener::bind(addr).map_err(bind_err)?;
    udp.set_read_timeout(Some(TICK))
        .map_err(|e| Error::io("SO_RCVTIMEO", e))?;
    tcp.set_nonblocking(true)
        .map_err(|e| Error::io("set non-blocking", e))?;
    let res = Arc::new(Resolver::new(dns_port));
    let (r2, s2, a2) = (res.clone(), stop.clone(), answered.clone());
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65535];
        while !s2.load(Ordering::SeqCst) {
            let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                continue;
            };
            let (r, a, q) = (r2.clone(), a2.clone(), buf[..n].to_vec());
            let Ok(sock) = udp.try_clone() else { continue };
            // A trace can take a while: answer from a thread so other stubs are not held up.
            std::thread::spawn(move || {
                if let Some(out) = r.handle(&q, true)
                    && sock.send_to(&out, peer).is_ok()
                {
                    a.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok((mut conn, _)) = tcp.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let (r, a) = (res.clone(), answered.clone());
            std::thread::spawn(move || {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
                let mut len = [0u8; 2];
                while conn.read_exact(&mut len).is_ok() {
                    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if conn.read_exact(&mut msg).is_err() {
                        return;
                    }
                    let Some(out) = r.handle(&msg, false) else {
                        return;
                    };
                    let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&out);
                    if conn.write_all(&framed).is_err() {
                        return;
                    }
                    a.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    Ok(())
}

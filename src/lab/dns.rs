//! The DNS hierarchy of `netlab lab --dns`: authoritative servers on 127.0.0.2-127.0.0.11, one
//! port for all (referrals carry no port), serving zone files built into the binary
//! (`src/lab/zones/`). A root, a TLD with two servers, a lame server, a stale secondary, a
//! server that truncates over UDP, a glueless delegation, and two DNSSEC-signed zones (one
//! whose DS at the parent matches its KSK, one whose DS matches nothing): the cases `dns
//! trace` explains.
//!
//! Seams: [`Zone`] (parsed zone data, [`Zone::sign`]) and [`Server::respond`] (query →
//! response, pure, with truncation; RRSIGs, DS in referrals and NSEC proofs when the query has
//! DO) are unit-tested with hickory [`Message`]s; [`zones`] builds the hierarchy's data (keys
//! made and zones signed at each start, DS computed into the parent); [`start`] is the socket
//! loop: one UDP and one TCP thread per server, at most [`MAX_TCP_CONNECTIONS`] connections
//! each, every read with a timeout, all stopped by the lab's stop flag.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::dnssec::rdata::{DNSSECRData, NSEC};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::txt::Parser;
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};
use crate::lab::signing::{self, Keys, Window};

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
    (
        "signed.test",
        "signed.test.",
        include_str!("zones/signed.test.zone"),
    ),
    (
        "broken.test",
        "broken.test.",
        include_str!("zones/broken.test.zone"),
    ),
];

/// What the parent publishes for a signed zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParentDs {
    /// The DS of the zone's KSK (SHA-256): the delegation is secure.
    Matching,
    /// That DS with a flipped digest byte: it matches no DNSKEY, the delegation is bogus.
    Broken,
}

/// Zones signed at each start (keys made then), and the DS their parent publishes. Their
/// parent (`test.`) is not signed; a signed parent would have to be signed after its
/// children's DS are added.
pub const SIGNED_ZONES: &[(&str, ParentDs)] = &[
    ("signed.test", ParentDs::Matching),
    ("broken.test", ParentDs::Broken),
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
    /// Serves DNSSEC-signed zones: RRSIGs (and NSEC proofs) when the query has DO.
    Signed,
}

impl Behaviour {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Behaviour::Normal => "normal",
            Behaviour::Lame => "lame",
            Behaviour::Stale => "stale",
            Behaviour::Udp512 => "udp_512",
            Behaviour::Signed => "signed",
        }
    }

    /// In words, for the table.
    pub fn describe(self) -> &'static str {
        match self {
            Behaviour::Normal => "answers from its zones",
            Behaviour::Lame => "lame: REFUSED to everything",
            Behaviour::Stale => "stale secondary: serial 1, api.example.test A 192.0.2.99",
            Behaviour::Udp512 => "at most 512 bytes over UDP: large answers need TCP",
            Behaviour::Signed => {
                "DNSSEC-signed at start (KSK + ZSK, ECDSA P-256, NSEC); test.'s DS matches signed.test., not broken.test."
            }
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
    ServerSpec {
        name: "ns.signed.test.",
        address: Ipv4Addr::new(127, 0, 0, 11),
        zones: &["signed.test", "broken.test"],
        behaviour: Behaviour::Signed,
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
    /// `normal`, `lame`, `stale`, `udp_512` or `signed`.
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
            trace("--dnssec www.signed.test A"),
            trace("--dnssec www.broken.test A"),
        ],
    }
}

/// One zone: its origin and its records by owner name (names compare case-insensitively, in
/// DNSSEC canonical order), and for a signed zone its RRSIGs by owner name.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The apex.
    pub origin: Name,
    records: BTreeMap<Name, Vec<Record>>,
    rrsigs: BTreeMap<Name, Vec<Record>>,
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
        let zone = Zone {
            origin,
            records,
            rrsigs: BTreeMap::new(),
        };
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

    /// Add a record (a DS at a delegation point, a DNSKEY at the apex, ...).
    pub fn insert(&mut self, record: Record) -> std::result::Result<(), String> {
        if !self.origin.zone_of(&record.name) {
            return Err(format!(
                "zone {}: {} is outside the zone",
                self.origin, record.name
            ));
        }
        self.records
            .entry(record.name.clone())
            .or_default()
            .push(record);
        Ok(())
    }

    /// True once [`Zone::sign`] has run.
    pub fn is_signed(&self) -> bool {
        !self.rrsigs.is_empty()
    }

    /// The RRSIGs at `name` covering `covered` (none in an unsigned zone).
    pub fn signatures(&self, name: &Name, covered: RecordType) -> Vec<Record> {
        self.rrsigs
            .get(name)
            .map(|v| {
                v.iter()
                    .filter(|r| match &r.data {
                        RData::DNSSEC(DNSSECRData::RRSIG(s)) => s.input().type_covered == covered,
                        _ => false,
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names this zone is authoritative for, plus its delegation points (where NS and DS
    /// live): everything but what lies below a zone cut (glue).
    fn owns(&self, name: &Name) -> bool {
        self.cut(name).is_none_or(|c| c == *name)
    }

    /// True for a delegation point (a zone cut strictly below the apex).
    fn is_cut(&self, name: &Name) -> bool {
        *name != self.origin && !self.get(name, RecordType::NS).is_empty()
    }

    /// Sign the zone: the two DNSKEYs at the apex, an NSEC chain over the names it owns
    /// (canonical order, the last pointing back at the apex), and an RRSIG over every RRset it
    /// is authoritative for: the KSK signs the DNSKEY RRset, the ZSK the rest. At a delegation
    /// point only DS and NSEC are signed; glue below a cut is not.
    pub fn sign(&mut self, keys: &Keys, window: Window) -> std::result::Result<(), String> {
        let soa = self.soa();
        let negative_ttl = match &soa.data {
            RData::SOA(s) => s.minimum,
            _ => soa.ttl,
        };
        for k in [&keys.ksk, &keys.zsk] {
            self.insert(Record::from_rdata(
                self.origin.clone(),
                soa.ttl,
                RData::DNSSEC(DNSSECRData::DNSKEY(k.dnskey.clone())),
            ))?;
        }
        let owners: Vec<Name> = self
            .records
            .keys()
            .filter(|n| self.owns(n))
            .cloned()
            .collect();
        for (i, owner) in owners.iter().enumerate() {
            let next = owners.get(i + 1).unwrap_or(&self.origin).clone();
            let cut = self.is_cut(owner);
            let types: Vec<RecordType> = self
                .types_at(owner)
                .into_iter()
                .filter(|t| !cut || matches!(t, RecordType::NS | RecordType::DS))
                .collect();
            self.insert(Record::from_rdata(
                owner.clone(),
                negative_ttl,
                RData::DNSSEC(DNSSECRData::NSEC(NSEC::new_cover_self(next, types))),
            ))?;
        }
        let mut rrsigs: BTreeMap<Name, Vec<Record>> = BTreeMap::new();
        for owner in &owners {
            let cut = self.is_cut(owner);
            for t in self.types_at(owner) {
                if cut && !matches!(t, RecordType::DS | RecordType::NSEC) {
                    continue;
                }
                let key = if t == RecordType::DNSKEY {
                    &keys.ksk
                } else {
                    &keys.zsk
                };
                let sig = signing::sign_rrset(&self.get(owner, t), key, &self.origin, window)?;
                rrsigs.entry(owner.clone()).or_default().push(sig);
            }
        }
        self.rrsigs = rrsigs;
        Ok(())
    }

    /// The distinct record types at `name`, sorted.
    fn types_at(&self, name: &Name) -> Vec<RecordType> {
        let mut types: Vec<RecordType> = self
            .get(name, RecordType::ANY)
            .iter()
            .map(|r| r.record_type())
            .collect();
        types.sort();
        types.dedup();
        types
    }

    /// The NSEC at `name`, or the one that covers it: the NSEC of the last owner at or before
    /// `name` in canonical order (empty in an unsigned zone).
    fn nsec_at_or_before(&self, name: &Name) -> Vec<Record> {
        self.records
            .range(..=name.clone())
            .rev()
            .map(|(_, v)| {
                v.iter()
                    .filter(|r| r.record_type() == RecordType::NSEC)
                    .cloned()
                    .collect::<Vec<_>>()
            })
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    }

    /// The NSEC records that prove a negative answer for `qname` (RFC 4035 3.1.3): NODATA, the
    /// NSEC at the name (or covering an empty non-terminal); NXDOMAIN, the NSEC covering the
    /// name and the one covering the wildcard at its closest encloser. Empty when unsigned.
    fn denial(&self, qname: &Name, nxdomain: bool) -> Vec<Record> {
        if !self.is_signed() {
            return Vec::new();
        }
        let mut proof = self.nsec_at_or_before(qname);
        if nxdomain {
            let apex = usize::from(self.origin.num_labels());
            let encloser = (apex..usize::from(qname.num_labels()))
                .rev()
                .map(|n| qname.trim_to(n))
                .find(|n| self.exists(n))
                .unwrap_or_else(|| self.origin.clone());
            if let Ok(wildcard) = encloser.prepend_label("*") {
                for r in self.nsec_at_or_before(&wildcard) {
                    if !proof.contains(&r) {
                        proof.push(r);
                    }
                }
            }
        }
        proof
    }
}

/// Append to `section` the RRSIGs `zone` holds for each RRset in it.
fn add_rrsigs(zone: &Zone, section: &mut Vec<Record>) {
    let mut seen: Vec<(Name, RecordType)> = Vec::new();
    let mut sigs = Vec::new();
    for r in section.iter() {
        let key = (r.name.clone(), r.record_type());
        if key.1 == RecordType::RRSIG || seen.contains(&key) {
            continue;
        }
        sigs.extend(zone.signatures(&key.0, key.1));
        seen.push(key);
    }
    section.extend(sigs);
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
    /// Build the server `spec` describes, with its zones taken from `zones` (see [`zones`]).
    pub fn from_spec(
        spec: &ServerSpec,
        zones: &BTreeMap<&'static str, Zone>,
    ) -> std::result::Result<Server, String> {
        let name = Name::from_ascii(spec.name).map_err(|e| format!("{}: {e}", spec.name))?;
        let zones = spec
            .zones
            .iter()
            .map(|k| {
                zones
                    .get(k)
                    .cloned()
                    .ok_or_else(|| format!("no zone file {k}"))
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

    /// Answer a decoded query: header, question, EDNS, the answer (with DO: RRSIGs, DS in
    /// referrals, NSEC proofs), and over `transport`'s size limit TC with empty record
    /// sections (question and OPT kept).
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
        let dnssec_ok = query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        match (query.op_code, query.queries.as_slice()) {
            (OpCode::Query, [q]) => self.answer(q, &mut resp, dnssec_ok),
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

    /// Fill `resp` with the answer to `q` from this server's zones; with `dnssec_ok`, the
    /// DNSSEC records that go with it (RFC 4035 3.1): every RRset's RRSIGs, the DS RRset in a
    /// referral (or the NSEC proving there is none, from a signed parent), NSEC proofs in
    /// negative answers. Without it, none of these.
    fn answer(&self, q: &Query, resp: &mut Message, dnssec_ok: bool) {
        let zone = match self.zone_for(q.name()) {
            Some(z) if q.query_class() == DNSClass::IN => z,
            _ => {
                resp.metadata.response_code = ResponseCode::Refused;
                return;
            }
        };
        Self::answer_from(zone, q, resp, dnssec_ok);
        if dnssec_ok && zone.is_signed() {
            add_rrsigs(zone, &mut resp.answers);
            add_rrsigs(zone, &mut resp.authorities);
            add_rrsigs(zone, &mut resp.additionals);
        }
    }

    /// [`Server::answer`] from `zone`, the zone closest to the name, without the RRSIGs.
    fn answer_from(zone: &Zone, q: &Query, resp: &mut Message, dnssec_ok: bool) {
        let (qname, qtype) = (q.name(), q.query_type());
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
            if dnssec_ok {
                let ds = zone.get(&cut, RecordType::DS);
                if ds.is_empty() {
                    resp.add_authorities(zone.get(&cut, RecordType::NSEC));
                } else {
                    resp.add_authorities(ds);
                }
            }
            resp.insert_additionals(glue);
            return;
        }
        resp.metadata.authoritative = true;
        // 2. The records asked for.
        let found = if qtype == RecordType::RRSIG {
            zone.rrsigs.get(qname).cloned().unwrap_or_default()
        } else {
            zone.get(qname, qtype)
        };
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
        // 3. NODATA or 4. NXDOMAIN, with the SOA for negative caching (and with DO, in a
        // signed zone, the NSEC records that prove it).
        let nxdomain = !zone.exists(qname);
        if nxdomain {
            resp.metadata.response_code = ResponseCode::NXDomain;
        }
        resp.insert_authorities(vec![zone.soa()]);
        if dnssec_ok {
            resp.add_authorities(zone.denial(qname, nxdomain));
        }
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

/// Every zone of the hierarchy by key: the zone files parsed; the [`SIGNED_ZONES`] signed
/// with keys made now ([`Keys::generate`]), signatures valid around `now`
/// ([`Window::around`]); and the DS of each (SHA-256 of its KSK, or the broken variant) added
/// to every copy of its parent zone, so the parent always matches what the child serves.
pub fn zones(now: SystemTime) -> std::result::Result<BTreeMap<&'static str, Zone>, String> {
    let mut zones = BTreeMap::new();
    for (key, origin, text) in ZONE_FILES {
        zones.insert(*key, Zone::parse(origin, text)?);
    }
    let window = Window::around(now);
    for (key, parent_ds) in SIGNED_ZONES {
        let keys = Keys::generate()?;
        let zone = zones
            .get_mut(key)
            .ok_or_else(|| format!("no zone file {key}"))?;
        zone.sign(&keys, window)?;
        let origin = zone.origin.clone();
        let ds = signing::ds(&origin, &keys.ksk.dnskey, *parent_ds == ParentDs::Broken)?;
        let parent = origin.base_name();
        let mut published = false;
        for z in zones.values_mut().filter(|z| z.origin == parent) {
            let ttl = z
                .get(&origin, RecordType::NS)
                .first()
                .map(|r| r.ttl)
                .ok_or_else(|| format!("zone {parent}: no delegation of {origin}"))?;
            z.insert(Record::from_rdata(
                origin.clone(),
                ttl,
                RData::DNSSEC(DNSSECRData::DS(ds.clone())),
            ))?;
            published = true;
        }
        if !published {
            return Err(format!("no parent zone {parent} for {origin}"));
        }
    }
    Ok(zones)
}

/// Every server of the hierarchy, built (zone files parsed, signed zones signed now).
pub fn servers() -> Result<Vec<(ServerSpec, Server)>> {
    let bad = |e: String| Error::measure(format!("lab --dns: bad built-in zone data: {e}"));
    let zones = zones(SystemTime::now()).map_err(bad)?;
    SERVERS
        .iter()
        .map(|s| {
            Server::from_spec(s, &zones)
                .map(|srv| (*s, srv))
                .map_err(bad)
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
    use hickory_proto::dnssec::PublicKey;
    use hickory_proto::dnssec::rdata::{DNSKEY, DS, RRSIG};
    use hickory_proto::rr::rdata::{A, CNAME};
    use std::str::FromStr;

    fn name(s: &str) -> Name {
        Name::from_str(s).expect("a valid name literal")
    }

    /// The hierarchy, built once: every server from the same signed zones and keys (so the
    /// DS in test. belongs to the keys signed.test. serves).
    fn hierarchy() -> &'static [(ServerSpec, Server)] {
        static H: std::sync::OnceLock<Vec<(ServerSpec, Server)>> = std::sync::OnceLock::new();
        H.get_or_init(|| servers().unwrap())
    }

    fn server(ns: &str) -> Server {
        hierarchy()
            .iter()
            .find(|(s, _)| s.name == ns)
            .map(|(_, srv)| srv.clone())
            .unwrap()
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
        assert_eq!(servers().unwrap().len(), 10);
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
        assert_eq!(d.servers.len(), 10);
        let lame = d.servers.iter().find(|s| s.behaviour == "lame").unwrap();
        assert_eq!(lame.address, "127.0.0.6");
        assert!(lame.zones.is_empty());
        let root = &d.servers[0];
        assert_eq!(
            (root.name, root.zones.clone()),
            ("a.root-servers.test.", vec![".".into()])
        );
        assert!(d.try_commands[0].contains("--root 127.0.0.2 --port 5353 www.example.test A"));
        let signed = d.servers.iter().find(|s| s.behaviour == "signed").unwrap();
        assert_eq!(
            (signed.name, signed.address.as_str(), signed.zones.clone()),
            (
                "ns.signed.test.",
                "127.0.0.11",
                vec!["signed.test.".into(), "broken.test.".into()]
            )
        );
        assert!(
            d.try_commands
                .iter()
                .any(|c| c.ends_with("--dnssec www.broken.test A"))
        );
    }

    // --- The signed zones (signed.test. and broken.test. on 127.0.0.11). ---

    /// A query with EDNS (1232) and DO set.
    fn query_do(qname: &str, qtype: RecordType) -> Message {
        let mut q = query(qname, qtype, Some(1232));
        q.edns.as_mut().unwrap().set_dnssec_ok(true);
        q
    }

    fn ask_do(ns: &str, qname: &str, qtype: RecordType) -> Message {
        server(ns).respond(&query_do(qname, qtype), Transport::Udp)
    }

    fn rrsigs(records: &[Record]) -> Vec<&RRSIG> {
        records
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::RRSIG(s)) => Some(s),
                _ => None,
            })
            .collect()
    }

    fn of_type(records: &[Record], t: RecordType) -> Vec<Record> {
        records
            .iter()
            .filter(|r| r.record_type() == t)
            .cloned()
            .collect()
    }

    /// The DNSKEYs `zone` serves (asked of its server, as a resolver would).
    fn dnskeys(zone: &str) -> Vec<DNSKEY> {
        ask_do("ns.signed.test.", zone, RecordType::DNSKEY)
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.clone()),
                _ => None,
            })
            .collect()
    }

    fn ksk(zone: &str) -> DNSKEY {
        let keys = dnskeys(zone);
        assert_eq!(keys.len(), 2, "a KSK and a ZSK");
        keys.into_iter().find(|k| k.flags() == 257).expect("a KSK")
    }

    fn zsk(zone: &str) -> DNSKEY {
        dnskeys(zone)
            .into_iter()
            .find(|k| k.flags() == 256)
            .expect("a ZSK")
    }

    /// The DS records test. publishes for `zone`, from both of its servers (they must agree).
    fn ds_at_parent(zone: &str) -> Vec<DS> {
        let mut seen = Vec::new();
        for ns in ["ns1.nic.test.", "ns2.nic.test."] {
            let r = ask(ns, zone, RecordType::DS);
            assert!(r.authoritative, "the parent answers DS at the cut");
            let ds: Vec<DS> = r
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::DS(d)) => Some(d.clone()),
                    _ => None,
                })
                .collect();
            seen.push(ds);
        }
        assert_eq!(seen[0], seen[1], "both servers of test. hold the same DS");
        seen.remove(0)
    }

    #[test]
    fn signed_zone_answers_dnskey_with_rrsig_when_do_is_set() {
        let r = ask_do("ns.signed.test.", "signed.test.", RecordType::DNSKEY);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(r.authoritative);
        assert!(r.edns.as_ref().unwrap().flags().dnssec_ok, "DO echoed");
        let keys = of_type(&r.answers, RecordType::DNSKEY);
        assert_eq!(keys.len(), 2);
        let flags: Vec<u16> = keys
            .iter()
            .filter_map(|r| match &r.data {
                RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k.flags()),
                _ => None,
            })
            .collect();
        assert!(flags.contains(&257) && flags.contains(&256), "{flags:?}");
        for k in dnskeys("signed.test.") {
            assert_eq!(
                k.public_key().algorithm(),
                hickory_proto::dnssec::Algorithm::ECDSAP256SHA256
            );
        }
        // The DNSKEY RRset is signed by the KSK, in the zone's name.
        let sigs = rrsigs(&r.answers);
        assert_eq!(sigs.len(), 1, "{:?}", r.answers);
        let input = sigs[0].input();
        assert_eq!(input.type_covered, RecordType::DNSKEY);
        assert_eq!(input.signer_name, name("signed.test."));
        assert_eq!(
            input.key_tag,
            ksk("signed.test.").calculate_key_tag().unwrap()
        );
        assert_eq!(input.algorithm, signing::ALGORITHM);
        assert_eq!(input.num_labels, 2);
        // Every other RRset by the ZSK.
        let zsk_tag = zsk("signed.test.").calculate_key_tag().unwrap();
        for (q, t, labels) in [
            ("www.signed.test.", RecordType::A, 3),
            ("txt.signed.test.", RecordType::TXT, 3),
            ("signed.test.", RecordType::SOA, 2),
            ("signed.test.", RecordType::NS, 2),
        ] {
            let r = ask_do("ns.signed.test.", q, t);
            assert_eq!(of_type(&r.answers, t).len(), 1, "{q} {t}");
            let sigs = rrsigs(&r.answers);
            assert_eq!(sigs.len(), 1, "{q} {t}: {:?}", r.answers);
            assert_eq!(
                (sigs[0].input().type_covered, sigs[0].input().key_tag),
                (t, zsk_tag)
            );
            assert_eq!(sigs[0].input().num_labels, labels);
        }
        // NS at the apex: the server's address comes along, signed too.
        let r = ask_do("ns.signed.test.", "signed.test.", RecordType::NS);
        assert_eq!(a(&r.additionals).len(), 1);
        assert_eq!(rrsigs(&r.additionals).len(), 1);
        // Without DO: the same records, no RRSIG.
        let r = server("ns.signed.test.").respond(
            &query("signed.test.", RecordType::DNSKEY, Some(1232)),
            Transport::Udp,
        );
        assert_eq!(r.answers.len(), 2);
        assert!(rrsigs(&r.answers).is_empty());
        let r = ask("ns.signed.test.", "www.signed.test.", RecordType::A);
        assert_eq!(
            a(&r.answers),
            [("www.signed.test.".into(), Ipv4Addr::new(192, 0, 2, 53))]
        );
        assert_eq!(r.answers.len(), 1, "no RRSIG without EDNS");
        // An unsigned zone has nothing to add, DO or not.
        let r = ask_do("ns1.example.test.", "api.example.test.", RecordType::A);
        assert_eq!(r.answers.len(), 1);
    }

    #[test]
    fn ds_at_the_parent_matches_the_ksk_of_signed_test() {
        let zone = name("signed.test.");
        let ds = ds_at_parent("signed.test.");
        assert_eq!(ds.len(), 1);
        let (ksk, zsk) = (ksk("signed.test."), zsk("signed.test."));
        assert_eq!(ds[0].key_tag(), ksk.calculate_key_tag().unwrap());
        assert_eq!(u8::from(ds[0].digest_type()), 2, "SHA-256");
        assert_eq!(ds[0].algorithm(), ksk.public_key().algorithm());
        assert!(ds[0].covers(&zone, &ksk).unwrap(), "DS matches the KSK");
        assert!(!ds[0].covers(&zone, &zsk).unwrap(), "not the ZSK");
        // The same DS comes along in a referral when DO is set, and only then.
        let r = ask_do("ns1.nic.test.", "www.signed.test.", RecordType::A);
        assert!(!r.authoritative);
        assert_eq!(ns_targets(&r.authorities), ["ns.signed.test."]);
        let in_referral: Vec<Record> = of_type(&r.authorities, RecordType::DS);
        assert_eq!(in_referral.len(), 1);
        assert_eq!(
            in_referral[0].data,
            RData::DNSSEC(DNSSECRData::DS(ds[0].clone()))
        );
        assert!(rrsigs(&r.authorities).is_empty(), "test. is unsigned");
        assert_eq!(
            a(&r.additionals),
            [("ns.signed.test.".into(), Ipv4Addr::new(127, 0, 0, 11))]
        );
        let r = ask("ns1.nic.test.", "www.signed.test.", RecordType::A);
        assert_eq!(r.authorities.len(), 1, "no DS without DO");
        // An unsigned child: no DS in the referral, DO or not.
        let r = ask_do("ns1.nic.test.", "api.example.test.", RecordType::A);
        assert!(of_type(&r.authorities, RecordType::DS).is_empty());
        assert_eq!(r.authorities.len(), 3);
        // The child's own server holds no DS at its apex: NODATA, proven by the apex NSEC.
        let r = ask_do("ns.signed.test.", "signed.test.", RecordType::DS);
        assert!(r.authoritative && r.answers.is_empty());
        assert_eq!(of_type(&r.authorities, RecordType::NSEC).len(), 1);
    }

    #[test]
    fn broken_ds_matches_no_key_of_broken_test() {
        let zone = name("broken.test.");
        let ds = ds_at_parent("broken.test.");
        assert_eq!(ds.len(), 1);
        let keys = dnskeys("broken.test.");
        assert_eq!(keys.len(), 2);
        for k in &keys {
            assert!(!ds[0].covers(&zone, k).unwrap(), "DS must match no key");
        }
        // It names the KSK (tag, algorithm, SHA-256): only the digest is wrong.
        let ksk = ksk("broken.test.");
        assert_eq!(ds[0].key_tag(), ksk.calculate_key_tag().unwrap());
        assert_eq!(u8::from(ds[0].digest_type()), 2);
        let right = signing::ds(&zone, &ksk, false).unwrap();
        assert!(right.covers(&zone, &ksk).unwrap());
        assert_ne!(right.digest(), ds[0].digest());
        assert_eq!(right.digest()[1..], ds[0].digest()[1..]);
        // netlab's own judgement of the two delegations.
        use crate::dns::dnssec::{Verdict, evaluate};
        assert_eq!(evaluate(&zone, Ok(ds), Ok(keys)).verdict, Verdict::Bogus);
        let signed = name("signed.test.");
        let d = evaluate(
            &signed,
            Ok(ds_at_parent("signed.test.")),
            Ok(dnskeys("signed.test.")),
        );
        assert_eq!(d.verdict, Verdict::Secure, "{}", d.reason);
        // The two zones have keys of their own.
        assert_ne!(ksk, self::ksk("signed.test."));
    }

    #[test]
    fn rrsig_validity_window_contains_now() {
        let now = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let now = u32::try_from(now).unwrap();
        let mut checked = 0;
        for (q, t) in [
            ("signed.test.", RecordType::DNSKEY),
            ("www.signed.test.", RecordType::A),
            ("broken.test.", RecordType::DNSKEY),
            ("www.broken.test.", RecordType::A),
        ] {
            let r = ask_do("ns.signed.test.", q, t);
            for s in rrsigs(&r.answers) {
                let (inc, exp) = (
                    s.input().sig_inception.get(),
                    s.input().sig_expiration.get(),
                );
                assert!(inc <= now && now <= exp, "{q} {t}: {inc} {now} {exp}");
                // Made at start: an hour back, seven days ahead (the build may take a while).
                assert!(inc + signing::BACKDATE_S <= now && now - inc < 2 * signing::BACKDATE_S);
                assert_eq!(exp - inc, signing::BACKDATE_S + signing::VALIDITY_S);
                checked += 1;
            }
        }
        assert_eq!(checked, 4);
        let w = Window::around(std::time::UNIX_EPOCH + Duration::from_secs(1_000_000));
        assert_eq!((w.inception, w.expiration), (996_400, 1_604_800));
    }

    #[test]
    fn rrsigs_verify_with_the_zone_keys() {
        use hickory_proto::dnssec::Verifier;
        for zone in ["signed.test.", "broken.test."] {
            let keys = dnskeys(zone);
            let www = format!("www.{zone}");
            for (q, t, flags) in [
                (zone, RecordType::DNSKEY, 257),
                (zone, RecordType::SOA, 256),
                (zone, RecordType::NS, 256),
                (www.as_str(), RecordType::A, 256),
                (www.as_str(), RecordType::NSEC, 256),
            ] {
                let r = ask_do("ns.signed.test.", q, t);
                let rrset = of_type(&r.answers, t);
                assert!(!rrset.is_empty(), "{q} {t}");
                let sig = rrsigs(&r.answers)[0].clone();
                let key = keys.iter().find(|k| k.flags() == flags).unwrap();
                key.verify_rrsig(&name(q), DNSClass::IN, &sig, rrset.iter())
                    .unwrap_or_else(|e| panic!("{q} {t}: {e}"));
                // The other key does not verify it, nor does a signature whose signed fields
                // were changed (here the original TTL).
                let other = keys.iter().find(|k| k.flags() != flags).unwrap();
                assert!(
                    other
                        .verify_rrsig(&name(q), DNSClass::IN, &sig, rrset.iter())
                        .is_err()
                );
                let mut forged = sig.input().clone();
                forged.original_ttl += 1;
                let forged = RRSIG::from_sig(forged, sig.sig().to_vec());
                assert!(
                    key.verify_rrsig(&name(q), DNSClass::IN, &forged, rrset.iter())
                        .is_err(),
                    "{q} {t}"
                );
            }
        }
    }

    #[test]
    fn nsec_chain_and_negative_answers() {
        // The chain over signed.test., canonical order, closed at the apex.
        let mut owner = name("signed.test.");
        let mut walked = Vec::new();
        loop {
            let r = ask_do("ns.signed.test.", &owner.to_ascii(), RecordType::NSEC);
            let nsec = r
                .answers
                .iter()
                .find_map(|r| match &r.data {
                    RData::DNSSEC(DNSSECRData::NSEC(n)) => Some(n.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| panic!("no NSEC at {owner}"));
            walked.push(owner.to_ascii());
            owner = nsec.next_domain_name().clone();
            if owner == name("signed.test.") || walked.len() > 10 {
                break;
            }
        }
        assert_eq!(
            walked,
            [
                "signed.test.",
                "ns.signed.test.",
                "txt.signed.test.",
                "www.signed.test."
            ]
        );
        let types = |q: &str| -> Vec<RecordType> {
            let r = ask_do("ns.signed.test.", q, RecordType::NSEC);
            match &of_type(&r.answers, RecordType::NSEC)[0].data {
                RData::DNSSEC(DNSSECRData::NSEC(n)) => n.type_bit_maps().collect(),
                _ => unreachable!(),
            }
        };
        let apex = types("signed.test.");
        for t in [
            RecordType::SOA,
            RecordType::NS,
            RecordType::DNSKEY,
            RecordType::NSEC,
            RecordType::RRSIG,
        ] {
            assert!(apex.contains(&t), "{t} in {apex:?}");
        }
        assert!(!apex.contains(&RecordType::A));
        // NODATA: SOA and the NSEC at the name (no AAAA in its bitmap), each with its RRSIG.
        let r = ask_do("ns.signed.test.", "www.signed.test.", RecordType::AAAA);
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(r.answers.is_empty());
        let nsec = of_type(&r.authorities, RecordType::NSEC);
        assert_eq!(names(&nsec), ["www.signed.test."]);
        assert_eq!(of_type(&r.authorities, RecordType::SOA).len(), 1);
        let mut covered: Vec<RecordType> = rrsigs(&r.authorities)
            .iter()
            .map(|s| s.input().type_covered)
            .collect();
        covered.sort();
        assert_eq!(covered, [RecordType::SOA, RecordType::NSEC]);
        // NXDOMAIN: the NSEC covering the name (and the wildcard: here the same one).
        let r = ask_do("ns.signed.test.", "nope.signed.test.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::NXDomain);
        assert_eq!(
            names(&of_type(&r.authorities, RecordType::NSEC)),
            ["signed.test."]
        );
        let r = ask_do("ns.signed.test.", "zz.signed.test.", RecordType::A);
        assert_eq!(r.response_code, ResponseCode::NXDomain);
        assert_eq!(
            names(&of_type(&r.authorities, RecordType::NSEC)),
            ["www.signed.test.", "signed.test."],
            "the last NSEC covers zz, the apex one covers *.signed.test."
        );
        // RRSIG asked for: every signature at the name.
        let r = ask("ns.signed.test.", "signed.test.", RecordType::RRSIG);
        assert!(r.authoritative);
        let mut covered: Vec<RecordType> = rrsigs(&r.answers)
            .iter()
            .map(|s| s.input().type_covered)
            .collect();
        covered.sort();
        assert_eq!(
            covered,
            [
                RecordType::NS,
                RecordType::SOA,
                RecordType::NSEC,
                RecordType::DNSKEY
            ]
        );
        // Without DO: the SOA alone, as before.
        let r = ask("ns.signed.test.", "nope.signed.test.", RecordType::A);
        assert_eq!(r.authorities.len(), 1);
        assert_eq!(r.authorities[0].record_type(), RecordType::SOA);
    }

    #[test]
    fn truncation_still_applies_with_do() {
        let s = server("ns.signed.test.");
        // Everything at the apex with its RRSIGs is more than 512 bytes.
        let mut q = query_do("signed.test.", RecordType::ANY);
        q.edns.as_mut().unwrap().set_max_payload(512);
        let r = s.respond(&q, Transport::Udp);
        assert!(r.truncation);
        assert!(r.answers.is_empty() && r.authorities.is_empty() && r.additionals.is_empty());
        assert!(r.to_vec().unwrap().len() <= 512);
        let r = s.respond(&q, Transport::Tcp);
        assert!(!r.truncation);
        assert!(r.to_vec().unwrap().len() > 512);
        assert!(rrsigs(&r.answers).len() >= 4, "{:?}", r.answers);
        // The same question at 1232 bytes fits.
        let r = s.respond(&query_do("signed.test.", RecordType::ANY), Transport::Udp);
        assert!(!r.truncation);
    }
}

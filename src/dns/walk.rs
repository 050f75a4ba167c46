//! The walk from the root (sans-I/O: every query goes through an [`Exchanger`]).
//!
//! At each level every NS of the zone is asked on every address, in parallel (bounded). Each
//! reply is classified; the walk follows the reply held by the most servers (ties: the first
//! server in (NS name, address) order), so reruns take the same path; servers that disagree are
//! named. Referrals use in-bailiwick glue only; NS names without glue are resolved by a nested
//! walk from the root. Alias targets outside the answer start a new walk from the root.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use hickory_proto::dnssec::rdata::DNSSECRData;

use crate::dns::classify::{self, AliasStep, Classified, Kind};
use crate::dns::dnssec::{self, DelegationDnssec, Verdict};
use crate::dns::exchange::{Exchange, Exchanger};
use crate::dns::names::{is_within, text};
use crate::dns::report::{
    ChainStep, EdnsOut, Flags, Level, Nested, ReferralOut, ServerOut, Status, Warning,
};
use crate::net::Family;
use crate::tcp::stats::round_ns;

/// Limits and settings of a trace.
#[derive(Debug, Clone)]
pub struct Config {
    /// Port every server is asked on.
    pub port: u16,
    /// `-4` / `-6`.
    pub family: Family,
    /// Levels per walk.
    pub max_depth: usize,
    /// Alias steps in total.
    pub max_cname: usize,
    /// Queries in total (nested walks included).
    pub max_queries: usize,
    /// Nested (glueless) walks inside one another.
    pub max_nested: usize,
    /// Queries in flight at once.
    pub parallel: usize,
    /// When the whole trace must end.
    pub deadline: Instant,
    /// `--dnssec`: check DS (parent) against DNSKEY (child) at every delegation.
    pub dnssec: bool,
}

/// A server to ask.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Server {
    /// NS name (or a label for roots given by address).
    pub ns: String,
    /// Address.
    pub address: IpAddr,
}

/// The result of a whole trace.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// How it ended.
    pub status: Status,
    /// Answer records.
    pub answer: Vec<Record>,
    /// Alias steps.
    pub chain: Vec<ChainStep>,
    /// Levels of every walk.
    pub levels: Vec<Level>,
    /// Why it failed.
    pub error: Option<String>,
}

enum End {
    Answer(Vec<Record>),
    Follow(Name),
    Nxdomain,
    Nodata,
    Failed(String),
}

/// A tracer: the exchanger, the roots, and the running totals.
pub struct Tracer<'a> {
    ex: &'a dyn Exchanger,
    cfg: Config,
    roots: Vec<Server>,
    /// Queries sent so far.
    pub queries: usize,
    /// Warnings so far.
    pub warnings: Vec<Warning>,
    /// Every address asked.
    pub asked: BTreeSet<IpAddr>,
    resolving: Vec<Name>,
}

fn rcode_text(r: ResponseCode) -> String {
    match r {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

fn nsid_text(b: &[u8]) -> String {
    if !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
        String::from_utf8_lossy(b).into_owned()
    } else {
        b.iter().map(|c| format!("{c:02x}")).collect()
    }
}

fn edns_out(m: &Message) -> Option<EdnsOut> {
    let e = m.edns.as_ref()?;
    let nsid = match e.option(EdnsCode::NSID) {
        Some(EdnsOption::NSID(p)) => Some(nsid_text(p.as_ref())),
        _ => None,
    };
    Some(EdnsOut {
        udp_size: e.max_payload(),
        do_bit: e.flags().dnssec_ok,
        nsid,
    })
}

/// How to compare replies of one zone's servers: what they say, without TTLs or signatures.
fn signature(c: &Classified) -> Option<String> {
    match c.kind {
        Kind::Lame => None,
        Kind::Referral => c.referral.as_ref().map(|r| {
            let ns: Vec<String> = r.ns.iter().map(text).collect();
            format!("referral to {} [{}]", text(&r.zone), ns.join(", "))
        }),
        Kind::Answer => {
            let mut v: Vec<String> = c
                .chain
                .iter()
                .map(|s| format!("{} {} {}", text(&s.from), s.kind, text(&s.to)))
                .chain(
                    c.answers
                        .iter()
                        .filter(|r| r.record_type() != RecordType::RRSIG)
                        .map(|r| {
                            format!(
                                "{} {} {}",
                                text(&r.name),
                                r.record_type(),
                                classify::rdata_text(r)
                            )
                        }),
                )
                .collect();
            v.sort();
            Some(v.join("; "))
        }
        Kind::Nodata => Some("no record of that type (NODATA)".into()),
        Kind::Nxdomain => Some("no such name (NXDOMAIN)".into()),
    }
}

impl<'a> Tracer<'a> {
    /// A tracer over `ex`, starting at `roots`.
    pub fn new(ex: &'a dyn Exchanger, cfg: Config, roots: Vec<Server>) -> Tracer<'a> {
        Tracer {
            ex,
            cfg,
            roots,
            queries: 0,
            warnings: Vec::new(),
            asked: BTreeSet::new(),
            resolving: Vec::new(),
        }
    }

    fn warn(&mut self, code: &str, severity: &'static str, zone: Option<&Name>, message: String) {
        let w = Warning {
            code: code.into(),
            severity,
            message,
            zone: zone.map(text),
        };
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// Resolve `qname`/`qtype` from the root, following aliases.
    pub fn trace(&mut self, qname: &Name, qtype: RecordType) -> Outcome {
        let mut levels = Vec::new();
        let mut chain: Vec<ChainStep> = Vec::new();
        let mut seen = vec![qname.to_lowercase()];
        let mut name = qname.clone();
        loop {
            let (lv, steps, end) = self.walk(&name, qtype);
            levels.extend(lv);
            chain.extend(steps.iter().map(|s| ChainStep {
                from: text(&s.from),
                to: text(&s.to),
                kind: s.kind.to_string(),
            }));
            let fail = |error: String, levels, chain| Outcome {
                status: Status::Failed,
                answer: Vec::new(),
                chain,
                levels,
                error: Some(error),
            };
            match end {
                End::Answer(answer) => {
                    return Outcome {
                        status: Status::Resolved,
                        answer,
                        chain,
                        levels,
                        error: None,
                    };
                }
                End::Nxdomain => {
                    return Outcome {
                        status: Status::Nxdomain,
                        answer: Vec::new(),
                        chain,
                        levels,
                        error: None,
                    };
                }
                End::Nodata => {
                    return Outcome {
                        status: Status::Nodata,
                        answer: Vec::new(),
                        chain,
                        levels,
                        error: None,
                    };
                }
                End::Failed(e) => return fail(e, levels, chain),
                End::Follow(target) => {
                    let t = target.to_lowercase();
                    let looped = seen.contains(&t)
                        || steps
                            .iter()
                            .any(|s| s.to.to_lowercase() == s.from.to_lowercase());
                    if looped {
                        let msg = format!(
                            "alias loop: {} points back to a name already in the chain",
                            text(&target)
                        );
                        self.warn("cname_loop", "warning", None, msg.clone());
                        return fail(msg, levels, chain);
                    }
                    if chain.len() > self.cfg.max_cname {
                        let msg =
                            format!("more than {} alias steps (--max-cname)", self.cfg.max_cname);
                        self.warn("limit_cname", "warning", None, msg.clone());
                        return fail(msg, levels, chain);
                    }
                    seen.push(t);
                    name = target;
                }
            }
        }
    }

    fn ask_all(&mut self, servers: &[Server], qname: &Name, qtype: RecordType) -> Vec<Exchange> {
        let port = self.cfg.port;
        let ex = self.ex;
        let mut out: Vec<Exchange> = Vec::with_capacity(servers.len());
        for chunk in servers.chunks(self.cfg.parallel.max(1)) {
            let got: Vec<Exchange> = std::thread::scope(|s| {
                let hs: Vec<_> = chunk
                    .iter()
                    .map(|srv| {
                        let addr = SocketAddr::new(srv.address, port);
                        s.spawn(move || ex.exchange(addr, qname, qtype))
                    })
                    .collect();
                hs.into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| Exchange {
                            transport: crate::dns::exchange::Transport::Udp,
                            rtt_us: None,
                            bytes: None,
                            response: Err("internal error in query thread".into()),
                            mismatches: 0,
                        })
                    })
                    .collect()
            });
            out.extend(got);
        }
        for s in servers {
            self.asked.insert(s.address);
        }
        // A truncated UDP reply retried over TCP is two queries.
        self.queries += out
            .iter()
            .map(|e| {
                if e.transport == crate::dns::exchange::Transport::UdpTcp {
                    2
                } else {
                    1
                }
            })
            .sum::<usize>();
        out
    }

    fn server_out(
        &mut self,
        srv: &Server,
        ex: &Exchange,
        zone: &Name,
        qname: &Name,
        qtype: RecordType,
    ) -> (ServerOut, Classified) {
        let mut o = ServerOut {
            ns: srv.ns.clone(),
            address: srv.address.to_string(),
            transport: ex.transport.as_str().into(),
            rtt_us: ex.rtt_us,
            bytes: ex.bytes,
            rcode: None,
            flags: None,
            edns: None,
            kind: Kind::Lame,
            lame_reason: None,
            error: None,
            referral: None,
            answer: Vec::new(),
            chosen: false,
        };
        if ex.mismatches > 0 {
            self.warn(
                "mismatch",
                "warning",
                Some(zone),
                format!(
                    "{} ({}) sent {} replies whose ID or question did not match",
                    srv.ns, srv.address, ex.mismatches
                ),
            );
        }
        let c = match &ex.response {
            Err(e) => {
                let reason = match e.as_str() {
                    "timeout" | "mismatch" | "malformed" => e.clone(),
                    _ => "error".into(),
                };
                o.error = Some(e.clone());
                Classified {
                    kind: Kind::Lame,
                    lame_reason: Some(reason),
                    referral: None,
                    answers: Vec::new(),
                    chain: Vec::new(),
                    follow: None,
                }
            }
            Ok(m) => {
                o.rcode = Some(rcode_text(m.metadata.response_code));
                o.flags = Some(Flags {
                    aa: m.metadata.authoritative,
                    tc: m.metadata.truncation,
                    ra: m.metadata.recursion_available,
                });
                o.edns = edns_out(m);
                classify::classify(zone, qname, qtype, m)
            }
        };
        o.kind = c.kind;
        o.lame_reason = c.lame_reason.clone();
        o.referral = c.referral.as_ref().map(|r| ReferralOut {
            zone: text(&r.zone),
            ns: r.ns.iter().map(text).collect(),
            glue: r
                .glue
                .iter()
                .map(|(n, a)| format!("{} {a}", text(n)))
                .collect(),
        });
        o.answer = c
            .chain
            .iter()
            .map(|s| format!("{} {} {}", text(&s.from), s.kind, text(&s.to)))
            .chain(c.answers.iter().map(classify::record_text))
            .collect();
        if ex.transport == crate::dns::exchange::Transport::UdpTcp {
            self.warn(
                "tcp_fallback",
                "info",
                Some(zone),
                format!(
                    "{} ({}) truncated the UDP reply; asked again over TCP",
                    srv.ns, srv.address
                ),
            );
        }
        if c.kind == Kind::Lame {
            let why = c.lame_reason.clone().unwrap_or_default();
            self.warn(
                "lame_server",
                "warning",
                Some(zone),
                format!(
                    "{} ({}) is lame for {}: {why}",
                    srv.ns,
                    srv.address,
                    text(zone)
                ),
            );
        }
        (o, c)
    }

    fn walk(&mut self, qname: &Name, qtype: RecordType) -> (Vec<Level>, Vec<AliasStep>, End) {
        let mut zone = Name::root();
        let family = self.cfg.family;
        let mut servers: Vec<Server> = self
            .roots
            .iter()
            .filter(|s| family.admits(&s.address))
            .cloned()
            .collect();
        let mut levels = Vec::new();
        let mut depth = 0;
        let mut parent: Option<Server> = None;
        loop {
            depth += 1;
            if depth > self.cfg.max_depth {
                let m = format!("more than {} levels (--max-depth)", self.cfg.max_depth);
                self.warn("limit_depth", "warning", Some(&zone), m.clone());
                return (levels, Vec::new(), End::Failed(m));
            }
            if Instant::now() >= self.cfg.deadline {
                let m = "the overall deadline passed (--deadline)".to_string();
                self.warn("deadline", "warning", Some(&zone), m.clone());
                return (levels, Vec::new(), End::Failed(m));
            }
            if servers.is_empty() {
                let m = format!("no usable server address for {}", text(&zone));
                self.warn("no_servers", "warning", Some(&zone), m.clone());
                return (levels, Vec::new(), End::Failed(m));
            }
            let budget = self.cfg.max_queries.saturating_sub(self.queries);
            if budget == 0 {
                let m = format!("more than {} queries (--max-queries)", self.cfg.max_queries);
                self.warn("limit_queries", "warning", Some(&zone), m.clone());
                return (levels, Vec::new(), End::Failed(m));
            }
            servers.sort();
            servers.dedup();
            servers.truncate(budget);
            let t0 = Instant::now();
            let exchanges = self.ask_all(&servers, qname, qtype);
            let mut outs = Vec::new();
            let mut classes = Vec::new();
            for (srv, ex) in servers.iter().zip(&exchanges) {
                let (o, c) = self.server_out(srv, ex, &zone, qname, qtype);
                outs.push(o);
                classes.push(c);
            }
            // The deterministic choice: the reply most servers give; ties → server order.
            let sigs: Vec<Option<String>> = classes.iter().map(signature).collect();
            let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
            for (i, s) in sigs.iter().enumerate() {
                if let Some(s) = s {
                    match groups.iter_mut().find(|(g, _)| g == s) {
                        Some((_, v)) => v.push(i),
                        None => groups.push((s.clone(), vec![i])),
                    }
                }
            }
            let best = groups
                .iter()
                .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.1[0].cmp(&a.1[0])))
                .map(|g| g.1[0]);
            if groups.len() > 1 {
                let parts: Vec<String> = groups
                    .iter()
                    .map(|(s, idx)| {
                        let who: Vec<String> = idx
                            .iter()
                            .map(|i| format!("{} ({})", servers[*i].ns, servers[*i].address))
                            .collect();
                        format!(
                            "{} {} {s}",
                            who.join(", "),
                            if idx.len() == 1 { "holds" } else { "hold" }
                        )
                    })
                    .collect();
                self.warn(
                    "disagreement",
                    "warning",
                    Some(&zone),
                    format!("servers of {} disagree: {}", text(&zone), parts.join("; ")),
                );
            }
            let mut level = Level {
                qname: text(qname),
                zone: text(&zone),
                servers: Vec::new(),
                result: None,
                next_zone: None,
                nested: Vec::new(),
                queries: exchanges
                    .iter()
                    .map(|e| {
                        if e.transport == crate::dns::exchange::Transport::UdpTcp {
                            2
                        } else {
                            1
                        }
                    })
                    .sum(),
                elapsed_us: 0.0,
                dnssec: None,
            };
            let Some(ci) = best else {
                level.servers = outs;
                level.elapsed_us = round_ns(t0.elapsed().as_nanos() as f64 / 1000.0);
                levels.push(level);
                return (
                    levels,
                    Vec::new(),
                    End::Failed(format!("every server of {} failed", text(&zone))),
                );
            };
            outs[ci].chosen = true;
            level.servers = outs;
            let chosen_server = servers[ci].clone();
            if self.cfg.dnssec
                && let Some(p) = &parent
            {
                let d = self.check_delegation(&zone, p, &chosen_server);
                if d.verdict == Verdict::Bogus {
                    self.warn(
                        "dnssec_bogus",
                        "warning",
                        Some(&zone),
                        format!("{}: {}", text(&zone), d.reason),
                    );
                }
                level.queries += 2;
                level.dnssec = Some(d);
            }
            parent = Some(chosen_server);
            let chosen = classes.swap_remove(ci);
            level.result = Some(chosen.kind);
            let end = match chosen.kind {
                Kind::Referral if chosen.referral.is_none() => Some((
                    Vec::new(),
                    End::Failed(format!("a referral from {} without data", text(&zone))),
                )),
                Kind::Referral => {
                    let r = chosen.referral.unwrap_or_else(|| classify::Referral {
                        zone: Name::root(),
                        ns: Vec::new(),
                        glue: Vec::new(),
                        ignored_glue: Vec::new(),
                    });
                    level.next_zone = Some(text(&r.zone));
                    if !r.ignored_glue.is_empty() {
                        let names: Vec<String> = r.ignored_glue.iter().map(text).collect();
                        self.warn(
                            "ignored_glue",
                            "info",
                            Some(&zone),
                            format!(
                                "glue outside {} ignored for {}",
                                text(&zone),
                                names.join(", ")
                            ),
                        );
                    }
                    let mut next = Vec::new();
                    for ns in &r.ns {
                        let glue: Vec<IpAddr> = r
                            .glue
                            .iter()
                            .filter(|(n, a)| n == ns && family.admits(a))
                            .map(|g| g.1)
                            .collect();
                        if !glue.is_empty() {
                            next.extend(glue.into_iter().map(|address| Server {
                                ns: text(ns),
                                address,
                            }));
                            continue;
                        }
                        if r.glue.iter().any(|(n, _)| n == ns) {
                            continue; // glue exists, only of the other family
                        }
                        if is_within(ns, &r.zone) {
                            self.warn(
                                "missing_glue",
                                "warning",
                                Some(&r.zone),
                                format!("{} is inside {} but the referral gave no glue: it cannot be reached", text(ns), text(&r.zone)),
                            );
                            continue;
                        }
                        if self.resolving.len() >= self.cfg.max_nested
                            || self.resolving.contains(ns)
                        {
                            self.warn(
                                "limit_nested",
                                "warning",
                                Some(&r.zone),
                                format!(
                                    "not resolving {}: glueless walks nested {} deep",
                                    text(ns),
                                    self.resolving.len()
                                ),
                            );
                            continue;
                        }
                        self.warn(
                            "glueless",
                            "info",
                            Some(&r.zone),
                            format!(
                                "{} is delegated to {} without glue: resolved from the root",
                                text(&r.zone),
                                text(ns)
                            ),
                        );
                        let nested = self.resolve_ns(ns);
                        next.extend(nested.addresses.iter().filter_map(|a| a.parse().ok()).map(
                            |address| Server {
                                ns: text(ns),
                                address,
                            },
                        ));
                        level.nested.push(nested);
                    }
                    servers = next;
                    zone = r.zone;
                    None
                }
                Kind::Answer => Some(match chosen.follow {
                    Some(t) => (chosen.chain, End::Follow(t)),
                    None => (chosen.chain, End::Answer(chosen.answers)),
                }),
                Kind::Nxdomain => Some((chosen.chain, End::Nxdomain)),
                Kind::Nodata => Some((Vec::new(), End::Nodata)),
                Kind::Lame => Some((
                    Vec::new(),
                    End::Failed(format!("every server of {} failed", text(&zone))),
                )),
            };
            level.elapsed_us = round_ns(t0.elapsed().as_nanos() as f64 / 1000.0);
            levels.push(level);
            if let Some((chain, end)) = end {
                return (levels, chain, end);
            }
        }
    }

    /// One RRset of `zone` from `srv`: Ok(records) (empty = the server says none), or why not.
    fn rrset(&mut self, srv: &Server, zone: &Name, t: RecordType) -> Result<Vec<RData>, String> {
        let ex = self
            .ex
            .exchange(SocketAddr::new(srv.address, self.cfg.port), zone, t);
        self.queries += 1;
        self.asked.insert(srv.address);
        let m = ex.response?;
        match m.metadata.response_code {
            ResponseCode::NoError => Ok(m
                .answers
                .iter()
                .filter(|r| r.record_type() == t && r.name.to_lowercase() == zone.to_lowercase())
                .map(|r| r.data.clone())
                .collect()),
            rc => Err(format!("{} answered {}", srv.ns, rcode_text(rc))),
        }
    }

    /// DS from the parent's server against DNSKEY from the child's.
    fn check_delegation(
        &mut self,
        zone: &Name,
        parent: &Server,
        child: &Server,
    ) -> DelegationDnssec {
        let ds = self.rrset(parent, zone, RecordType::DS).map(|v| {
            v.into_iter()
                .filter_map(|d| match d {
                    RData::DNSSEC(DNSSECRData::DS(ds)) => Some(ds),
                    _ => None,
                })
                .collect()
        });
        let keys = self.rrset(child, zone, RecordType::DNSKEY).map(|v| {
            v.into_iter()
                .filter_map(|d| match d {
                    RData::DNSSEC(DNSSECRData::DNSKEY(k)) => Some(k),
                    _ => None,
                })
                .collect()
        });
        dnssec::evaluate(zone, ds, keys)
    }

    fn resolve_ns(&mut self, ns: &Name) -> Nested {
        self.resolving.push(ns.to_lowercase());
        let t0 = Instant::now();
        let q0 = self.queries;
        let types: &[RecordType] = match self.cfg.family {
            Family::V4 => &[RecordType::A],
            Family::V6 => &[RecordType::AAAA],
            Family::Any => &[RecordType::A, RecordType::AAAA],
        };
        let mut levels = Vec::new();
        let mut addresses = Vec::new();
        let mut status = Status::Failed;
        for t in types {
            let o = self.trace(ns, *t);
            levels.extend(o.levels);
            for r in &o.answer {
                match &r.data {
                    RData::A(a) => addresses.push(a.0.to_string()),
                    RData::AAAA(a) => addresses.push(a.0.to_string()),
                    _ => {}
                }
            }
            if o.status == Status::Resolved || status == Status::Failed {
                status = o.status;
            }
        }
        self.resolving.pop();
        Nested {
            ns: text(ns),
            addresses,
            levels,
            queries: self.queries - q0,
            elapsed_us: round_ns(t0.elapsed().as_nanos() as f64 / 1000.0),
            status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::classify::tests::{a, cname, n, ns, reply, soa};
    use crate::dns::exchange::Transport;
    use std::time::Duration;

    type Handler = dyn Fn(IpAddr, &Name, RecordType) -> Option<Message> + Sync;

    /// A fake internet: a function from (server, question) to a reply (None = no answer).
    struct Fake(Box<Handler>);

    impl Exchanger for Fake {
        fn exchange(&self, server: SocketAddr, qname: &Name, qtype: RecordType) -> Exchange {
            match (self.0)(server.ip(), qname, qtype) {
                Some(m) => Exchange {
                    transport: Transport::Udp,
                    rtt_us: Some(10.0),
                    bytes: Some(100),
                    response: Ok(m),
                    mismatches: 0,
                },
                None => Exchange {
                    transport: Transport::Udp,
                    rtt_us: None,
                    bytes: None,
                    response: Err("timeout".into()),
                    mismatches: 0,
                },
            }
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn within(q: &Name, z: &str) -> bool {
        is_within(q, &n(z))
    }

    /// root (.1) → test. (.2, .3) → example.test (.5 good, .6 lame, .7 stale); cdn.test
    /// delegated glueless to ns1.cdnhost.test (.9), cdnhost.test (.10) with glue.
    fn world(srv: IpAddr, q: &Name, t: RecordType) -> Option<Message> {
        let last = match srv {
            IpAddr::V4(v) => v.octets()[3],
            _ => return None,
        };
        let referral = |zone: &str, nss: &[(&str, Option<&str>)]| {
            let mut m = reply(false, ResponseCode::NoError);
            for (name, glue) in nss {
                m.add_authority(ns(zone, name));
                if let Some(g) = glue {
                    m.add_additional(a(name, g));
                }
            }
            m
        };
        let answer = |recs: Vec<Record>| {
            let mut m = reply(true, ResponseCode::NoError);
            for r in recs {
                m.add_answer(r);
            }
            m
        };
        let nx = |z: &str| {
            let mut m = reply(true, ResponseCode::NXDomain);
            m.add_authority(soa(z));
            m
        };
        Some(match last {
            1 if within(q, "test.") => referral(
                "test.",
                &[
                    ("ns1.nic.test.", Some("192.0.2.2")),
                    ("ns2.nic.test.", Some("192.0.2.3")),
                ],
            ),
            1 => nx("."),
            2 | 3 if within(q, "example.test.") => referral(
                "example.test.",
                &[
                    ("ns1.example.test.", Some("192.0.2.5")),
                    ("ns2.example.test.", Some("192.0.2.6")),
                    ("ns3.example.test.", Some("192.0.2.7")),
                ],
            ),
            2 | 3 if within(q, "cdn.test.") => {
                referral("cdn.test.", &[("ns1.cdnhost.test.", None)])
            }
            2 | 3 if within(q, "cdnhost.test.") => {
                referral("cdnhost.test.", &[("ns.cdnhost.test.", Some("192.0.2.10"))])
            }
            2 | 3 => nx("test."),
            6 => reply(false, ResponseCode::Refused),
            5 | 7 => {
                let api = if last == 5 {
                    "192.0.2.10"
                } else {
                    "192.0.2.99"
                };
                match (q.to_ascii().as_str(), t) {
                    ("api.example.test.", RecordType::A) => {
                        answer(vec![a("api.example.test.", api)])
                    }
                    ("www.example.test.", _) => {
                        answer(vec![cname("www.example.test.", "edge.cdn.test.")])
                    }
                    ("loop1.example.test.", _) => {
                        answer(vec![cname("loop1.example.test.", "loop2.example.test.")])
                    }
                    ("loop2.example.test.", _) => {
                        answer(vec![cname("loop2.example.test.", "loop1.example.test.")])
                    }
                    ("api.example.test.", _) => {
                        let mut m = reply(true, ResponseCode::NoError);
                        m.add_authority(soa("example.test."));
                        m
                    }
                    _ => nx("example.test."),
                }
            }
            9 => match (q.to_ascii().as_str(), t) {
                ("edge.cdn.test.", RecordType::A) => {
                    answer(vec![a("edge.cdn.test.", "192.0.2.80")])
                }
                _ => nx("cdn.test."),
            },
            10 => match (q.to_ascii().as_str(), t) {
                ("ns1.cdnhost.test.", RecordType::A) => {
                    answer(vec![a("ns1.cdnhost.test.", "192.0.2.9")])
                }
                ("ns1.cdnhost.test.", _) => {
                    let mut m = reply(true, ResponseCode::NoError);
                    m.add_authority(soa("cdnhost.test."));
                    m
                }
                _ => nx("cdnhost.test."),
            },
            _ => return None,
        })
    }

    fn cfg() -> Config {
        Config {
            port: 53,
            family: Family::Any,
            max_depth: 16,
            max_cname: 8,
            max_queries: 200,
            max_nested: 4,
            parallel: 4,
            deadline: Instant::now() + Duration::from_secs(60),
            dnssec: false,
        }
    }

    fn run(q: &str, t: RecordType, cfg: Config) -> (Outcome, Vec<Warning>, usize) {
        let fake = Fake(Box::new(world));
        let roots = vec![Server {
            ns: "a.root.".into(),
            address: ip("192.0.2.1"),
        }];
        let mut tr = Tracer::new(&fake, cfg, roots);
        let o = tr.trace(&n(q), t);
        (o, tr.warnings.clone(), tr.queries)
    }

    fn codes(w: &[Warning]) -> Vec<&str> {
        w.iter().map(|w| w.code.as_str()).collect()
    }

    #[test]
    fn every_server_of_every_level_and_the_disagreement() {
        let (o, w, q) = run("api.example.test.", RecordType::A, cfg());
        assert_eq!(o.status, Status::Resolved);
        let zones: Vec<&str> = o.levels.iter().map(|l| l.zone.as_str()).collect();
        assert_eq!(zones, [".", "test.", "example.test."]);
        assert_eq!(o.levels[1].servers.len(), 2, "both TLD servers asked");
        assert_eq!(o.levels[2].servers.len(), 3);
        assert_eq!(q, 1 + 2 + 3);
        // .5 and .7 disagree 1:1; the tie goes to the first server in order: ns1.
        let chosen: Vec<&str> = o.levels[2]
            .servers
            .iter()
            .filter(|s| s.chosen)
            .map(|s| s.ns.as_str())
            .collect();
        assert_eq!(chosen, ["ns1.example.test."]);
        assert_eq!(o.answer.len(), 1);
        assert_eq!(classify::rdata_text(&o.answer[0]), "192.0.2.10");
        assert!(codes(&w).contains(&"lame_server"));
        assert!(codes(&w).contains(&"disagreement"));
        let d = w.iter().find(|x| x.code == "disagreement").unwrap();
        assert!(
            d.message.contains("192.0.2.99") && d.message.contains("ns3.example.test."),
            "{}",
            d.message
        );
        let lame = &o.levels[2]
            .servers
            .iter()
            .find(|s| s.ns == "ns2.example.test.")
            .unwrap();
        assert_eq!(
            (
                lame.kind,
                lame.lame_reason.as_deref(),
                lame.rcode.as_deref()
            ),
            (Kind::Lame, Some("refused"), Some("REFUSED"))
        );
        // Reruns take the same path.
        let (o2, _, _) = run("api.example.test.", RecordType::A, cfg());
        let path = |o: &Outcome| -> Vec<String> {
            o.levels
                .iter()
                .flat_map(|l| {
                    l.servers
                        .iter()
                        .filter(|s| s.chosen)
                        .map(|s| s.address.clone())
                })
                .collect()
        };
        assert_eq!(path(&o), path(&o2));
    }

    #[test]
    fn cname_into_a_glueless_zone() {
        let (o, w, _) = run("www.example.test.", RecordType::A, cfg());
        assert_eq!(o.status, Status::Resolved, "{:?}", o.error);
        assert_eq!(o.chain.len(), 1);
        assert_eq!(
            (o.chain[0].from.as_str(), o.chain[0].to.as_str()),
            ("www.example.test.", "edge.cdn.test.")
        );
        assert_eq!(classify::rdata_text(&o.answer[0]), "192.0.2.80");
        // The second walk starts at the root again.
        let roots: Vec<usize> = o
            .levels
            .iter()
            .enumerate()
            .filter(|(_, l)| l.zone == ".")
            .map(|(i, _)| i)
            .collect();
        assert_eq!(roots.len(), 2);
        let cdn = o
            .levels
            .iter()
            .find(|l| l.next_zone.as_deref() == Some("cdn.test."))
            .unwrap();
        assert_eq!(cdn.nested.len(), 1);
        assert_eq!(cdn.nested[0].ns, "ns1.cdnhost.test.");
        assert_eq!(cdn.nested[0].addresses, ["192.0.2.9"]);
        assert!(cdn.nested[0].queries >= 3);
        assert!(codes(&w).contains(&"glueless"));
    }

    #[test]
    fn nxdomain_nodata_loop_and_limits() {
        assert_eq!(
            run("nope.example.test.", RecordType::A, cfg()).0.status,
            Status::Nxdomain
        );
        assert_eq!(
            run("nope.invalid.", RecordType::A, cfg()).0.status,
            Status::Nxdomain
        );
        assert_eq!(
            run("api.example.test.", RecordType::MX, cfg()).0.status,
            Status::Nodata
        );
        let (o, w, _) = run("loop1.example.test.", RecordType::A, cfg());
        assert_eq!(o.status, Status::Failed);
        assert!(codes(&w).contains(&"cname_loop"), "{w:?}");
        let (o, w, _) = run(
            "api.example.test.",
            RecordType::A,
            Config {
                max_queries: 3,
                ..cfg()
            },
        );
        assert_eq!(o.status, Status::Failed);
        assert!(codes(&w).contains(&"limit_queries"));
        let (o, w, _) = run(
            "api.example.test.",
            RecordType::A,
            Config {
                max_depth: 2,
                ..cfg()
            },
        );
        assert_eq!(o.status, Status::Failed);
        assert!(codes(&w).contains(&"limit_depth"));
        let (o, w, _) = run(
            "www.example.test.",
            RecordType::A,
            Config {
                max_cname: 0,
                ..cfg()
            },
        );
        assert_eq!(o.status, Status::Failed);
        assert!(codes(&w).contains(&"limit_cname"));
    }

    #[test]
    fn all_servers_silent_is_a_failure() {
        let fake = Fake(Box::new(|_, _, _| None));
        let roots = vec![
            Server {
                ns: "a.root.".into(),
                address: ip("192.0.2.1"),
            },
            Server {
                ns: "b.root.".into(),
                address: ip("192.0.2.2"),
            },
        ];
        let mut tr = Tracer::new(&fake, cfg(), roots);
        let o = tr.trace(&n("x.test."), RecordType::A);
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.levels[0].result, None);
        assert!(
            o.levels[0]
                .servers
                .iter()
                .all(|s| s.lame_reason.as_deref() == Some("timeout"))
        );
    }
}

//! `netlab arp`: who-has with wire-exact timing, every answer and conflicts, RFC 5227 probes,
//! gratuitous announcements, rate-limited scans, and the kernel's neighbour table.
//! IPv4 ARP only: IPv6 neighbour discovery is not covered yet (`arp table` lists IPv6
//! neighbours the kernel knows).

pub mod frame;
pub mod report;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::GlobalOpts;
use crate::capture::{self, Capture, Direction, Interface, bpf};
use crate::error::{Error, Result};
use crate::net::{self, netlink};
use crate::output::{Printer, SCHEMA_VERSION};
use crate::sys::{self, Privilege};
use crate::tcp::report::TimingSource;
use crate::tcp::stats::{RttStats, loss_pct, round_ns};
use report::*;

/// `netlab arp ...`
#[derive(Debug, Args)]
pub struct ArpArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ArpCommand,
}

/// Options every ARP command that sends takes.
#[derive(Debug, Args)]
pub struct LinkOpts {
    /// Interface to use (default: the one the route to the target leaves by).
    #[arg(short = 'I', long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// Write the captured frames to FILE (pcap, nanosecond timestamps).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

/// ARP subcommands.
#[derive(Debug, Subcommand)]
pub enum ArpCommand {
    /// Ask who has IP: every MAC that answers, request → reply time on the wire.
    WhoHas {
        /// The IPv4 address.
        ip: String,
        /// Link options.
        #[command(flatten)]
        link: LinkOpts,
        /// Requests to send.
        #[arg(short, long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        count: u32,
        /// Time between requests (each request's window for replies).
        #[arg(short, long, default_value = "1s", value_parser = net::parse_duration)]
        interval: Duration,
    },
    /// RFC 5227 duplicate address detection: is IP free? (sender 0.0.0.0, listens the whole
    /// window; exit 0 free, 1 in use).
    Probe {
        /// The IPv4 address to test.
        ip: String,
        /// Link options.
        #[command(flatten)]
        link: LinkOpts,
        /// Probes (PROBE_NUM).
        #[arg(short, long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
        count: u32,
        /// Least time between probes (PROBE_MIN).
        #[arg(long, default_value = "1s", value_parser = net::parse_duration)]
        interval_min: Duration,
        /// Most time between probes (PROBE_MAX).
        #[arg(long, default_value = "2s", value_parser = net::parse_duration)]
        interval_max: Duration,
        /// How long to keep listening after the last probe (ANNOUNCE_WAIT).
        #[arg(long, default_value = "2s", value_parser = net::parse_duration)]
        wait: Duration,
    },
    /// Send gratuitous ARP for IP (request form; --reply for the reply form).
    Announce {
        /// The IPv4 address to announce.
        ip: String,
        /// Link options.
        #[command(flatten)]
        link: LinkOpts,
        /// Announcements (ANNOUNCE_NUM).
        #[arg(short, long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=100))]
        count: u32,
        /// Time between announcements (ANNOUNCE_INTERVAL).
        #[arg(short, long, default_value = "2s", value_parser = net::parse_duration)]
        interval: Duration,
        /// Reply form (op 2, target MAC broadcast) instead of request form.
        #[arg(long)]
        reply: bool,
    },
    /// Scan an IPv4 range: who answers, with MAC, vendor and time.
    Scan {
        /// The range, e.g. 198.18.0.0/24.
        #[arg(required_unless_present = "localnet")]
        cidr: Option<String>,
        /// Scan the interface's own IPv4 network instead.
        #[arg(long, conflicts_with = "cidr")]
        localnet: bool,
        /// Link options.
        #[command(flatten)]
        link: LinkOpts,
        /// Requests per second.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        rate: u32,
        /// Extra attempts for addresses that did not answer.
        #[arg(long, default_value_t = 1)]
        retries: u32,
        /// Most addresses without --force.
        #[arg(long, default_value_t = 4096)]
        max_hosts: u32,
        /// Scan more than --max-hosts addresses.
        #[arg(long)]
        force: bool,
    },
    /// The kernel's neighbour table (IPv4 ARP and IPv6 ND entries): address, MAC, state.
    Table {
        /// Include NOARP and NONE entries (multicast mappings), like `ip neigh show nud all`.
        #[arg(long)]
        all: bool,
    },
}

/// Default reply window after the last request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// Run `netlab arp ...`.
pub fn run(a: &ArpArgs, g: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    match &a.command {
        ArpCommand::Table { all } => table(*all, printer),
        ArpCommand::WhoHas {
            ip,
            link,
            count,
            interval,
        } => who_has(ip, link, *count, *interval, g, printer),
        ArpCommand::Probe {
            ip,
            link,
            count,
            interval_min,
            interval_max,
            wait,
        } => probe(
            ip,
            link,
            *count,
            (*interval_min, *interval_max),
            *wait,
            printer,
        ),
        ArpCommand::Announce {
            ip,
            link,
            count,
            interval,
            reply,
        } => announce(ip, link, *count, *interval, *reply, printer),
        ArpCommand::Scan {
            cidr,
            localnet,
            link,
            rate,
            retries,
            max_hosts,
            force,
        } => scan(
            cidr.as_deref(),
            *localnet,
            link,
            *rate,
            *retries,
            (*max_hosts, *force),
            g,
            printer,
        ),
    }
}

fn parse_v4(s: &str) -> Result<Ipv4Addr> {
    s.trim().parse::<Ipv4Addr>().map_err(|_| {
        Error::usage(format!(
            "{s:?} is not an IPv4 address (ARP is IPv4 only; for IPv6 see `netlab arp table`)"
        ))
    })
}

/// Parse `a.b.c.d/n` into (network address, prefix length).
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || {
        Error::usage(format!(
            "{s:?} is not an IPv4 CIDR (write e.g. 198.18.0.0/24)"
        ))
    };
    let (ip, len) = s.trim().split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok((Ipv4Addr::from(u32::from(ip) & mask), len))
}

/// The host addresses of a network (without network and broadcast for prefixes below /31).
pub fn hosts_of(net: Ipv4Addr, len: u8) -> impl Iterator<Item = Ipv4Addr> {
    let base = u32::from(net);
    let size: u64 = 1u64 << (32 - u32::from(len));
    let (first, last) = if len >= 31 {
        (0, size - 1)
    } else {
        (1, size - 2)
    };
    (first..=last).map(move |i| Ipv4Addr::from(base.wrapping_add(i as u32)))
}

/// Where ARP goes out: the interface, our MAC and IPv4 address on it.
struct Link {
    iface: Interface,
    mac: [u8; 6],
    ip: Ipv4Addr,
    gateway: Option<IpAddr>,
}

fn link_for(target: Option<Ipv4Addr>, name: Option<&str>) -> Result<Link> {
    let (iface, route) = match (name, target) {
        (Some(n), _) => (capture::interface_by_name(n)?, None),
        (None, Some(t)) => {
            let r = netlink::route_get(IpAddr::V4(t))
                .map_err(|e| Error::measure(format!("no route to {t}: {e} (give -I IFACE)")))?;
            let all = capture::interfaces();
            // Our own address (announce): the interface that holds it, not lo.
            let holder = all
                .iter()
                .find(|i| !i.loopback && i.ips.contains(&IpAddr::V4(t)))
                .cloned();
            let iface = match holder {
                Some(i) => i,
                None => {
                    let oif = r.oif.ok_or_else(|| {
                        Error::measure(format!(
                            "the route to {t} names no interface (give -I IFACE)"
                        ))
                    })?;
                    all.into_iter().find(|i| i.index == oif).ok_or_else(|| {
                        Error::measure(format!("interface {oif} of the route to {t} is gone"))
                    })?
                }
            };
            (iface, Some(r))
        }
        (None, None) => return Err(Error::usage("give -I IFACE")),
    };
    let mac = iface.mac.filter(|m| *m != [0; 6]).ok_or_else(|| {
        Error::usage(format!(
            "interface {} has no Ethernet address: ARP needs an Ethernet interface (-I IFACE)",
            iface.name
        ))
    })?;
    let v4s: Vec<Ipv4Addr> = iface
        .ips
        .iter()
        .filter_map(|i| match i {
            IpAddr::V4(v) => Some(*v),
            _ => None,
        })
        .collect();
    let pref = route.as_ref().and_then(|r| match r.prefsrc {
        Some(IpAddr::V4(v)) if v4s.contains(&v) => Some(v),
        _ => None,
    });
    let ip = pref.or(v4s.first().copied()).ok_or_else(|| {
        Error::usage(format!(
            "interface {} has no IPv4 address: give -I with one that has",
            iface.name
        ))
    })?;
    Ok(Link {
        gateway: route.and_then(|r| r.gateway),
        iface,
        mac,
        ip,
    })
}

fn need_raw(what: &str) -> Result<()> {
    if !Privilege::discover().net_raw {
        return Err(Error::Privilege {
            what: format!("netlab arp {what}"),
            cap: "CAP_NET_RAW",
        });
    }
    Ok(())
}

fn open(link: &Link, opts: &LinkOpts) -> Result<Capture> {
    Capture::open(&link.iface, &bpf::program(bpf::arp()), opts.pcap.as_deref())
}

fn us(a: u64, b: u64) -> f64 {
    round_ns(b.saturating_sub(a) as f64 / 1000.0)
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

fn who_has(
    ip: &str,
    opts: &LinkOpts,
    count: u32,
    interval: Duration,
    g: &GlobalOpts,
    printer: &mut Printer<'_>,
) -> Result<i32> {
    let target = parse_v4(ip)?;
    need_raw("who-has")?;
    let link = link_for(Some(target), opts.interface.as_deref())?;
    let timeout = g.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let mut rep = WhoHasReport {
        schema_version: SCHEMA_VERSION,
        command: "arp who-has",
        target: target.to_string(),
        interface: link.iface.name.clone(),
        source_ip: link.ip.to_string(),
        source_mac: frame::mac_text(&link.mac),
        off_link_gateway: None,
        probes: Vec::new(),
        macs: Vec::new(),
        conflict: false,
        summary: ArpSummary {
            sent: 0,
            answered: 0,
            loss_pct: 0.0,
            rtt_us: RttStats::default(),
        },
        capture: None,
    };
    if opts.interface.is_none()
        && let Some(gw) = link.gateway
    {
        rep.off_link_gateway = Some(gw.to_string());
        printer.report(&rep)?;
        return Ok(crate::output::Report::exit_code(&rep));
    }
    let mut cap = open(&link, opts)?;
    sys::catch_interrupts();
    let request = frame::request(link.mac, link.ip, target);
    // ARP replies carry no ID: each MAC's reply goes to the oldest request that MAC has not
    // answered yet (a responder answers every request once), so an interval shorter than the
    // RTT still times every request right. A probe is printed once its window has passed.
    let mut probes: Vec<(ArpProbe, Instant, u64)> = Vec::new();
    let mut printed = 0usize;
    let mut seq = 0u32;
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        if seq < count && now >= next_send && !sys::interrupted() {
            seq += 1;
            let sent_ns = now_ns();
            cap.send(&request)?;
            probes.push((
                ArpProbe {
                    seq,
                    rtt_us: None,
                    timing_source: TimingSource::AfPacket,
                    request_ts_ns: None,
                    replies: Vec::new(),
                },
                Instant::now(),
                sent_ns,
            ));
            next_send = now + interval.max(Duration::from_millis(1));
        }
        // Print the probes whose reply window is over.
        while printed < probes.len()
            && (probes[printed].1 + timeout <= Instant::now()
                || (seq == count && sys::interrupted()))
        {
            let p = &mut probes[printed].0;
            p.rtt_us = p.replies.first().and_then(|r| r.rtt_us);
            printer.event(&*p)?;
            printed += 1;
        }
        if printed == probes.len() && (seq == count || sys::interrupted()) {
            break;
        }
        let wake = if seq < count {
            next_send
        } else {
            probes[printed].1 + timeout
        };
        let left = wake.saturating_duration_since(Instant::now());
        let Some(pkt) = cap.next(left)? else { continue };
        let Some(a) = frame::parse(&pkt.bytes) else {
            continue;
        };
        if pkt.direction == Direction::Outgoing
            && a.op == 1
            && a.sender_mac == link.mac
            && a.target_ip == target
        {
            if let Some((p, _, _)) = probes
                .iter_mut()
                .find(|(p, _, _)| p.request_ts_ns.is_none())
            {
                p.request_ts_ns = Some(pkt.ts_ns);
            }
        } else if a.op == 2 && a.sender_ip == target && pkt.direction != Direction::Outgoing {
            let mac = frame::mac_text(&a.sender_mac);
            let slot = probes.iter_mut().find(|(p, _, _)| {
                !p.replies.iter().any(|r| r.mac == mac)
                    && p.request_ts_ns.is_none_or(|t| t < pkt.ts_ns)
            });
            if let Some((p, _, sent_ns)) = slot {
                let (start, source) = match p.request_ts_ns {
                    Some(t) => (t, TimingSource::AfPacket),
                    None => (*sent_ns, TimingSource::Userspace),
                };
                p.timing_source = source;
                p.replies.push(Reply {
                    mac: mac.clone(),
                    rtt_us: Some(us(start, pkt.ts_ns)),
                    ts_ns: pkt.ts_ns,
                });
            }
            if !rep.macs.contains(&mac) {
                rep.macs.push(mac);
            }
        }
    }
    rep.probes = probes.into_iter().map(|(p, _, _)| p).collect();
    let sent = rep.probes.len() as u32;
    let answered = rep.probes.iter().filter(|p| !p.replies.is_empty()).count() as u32;
    let rtts: Vec<f64> = rep.probes.iter().filter_map(|p| p.rtt_us).collect();
    rep.summary = ArpSummary {
        sent,
        answered,
        loss_pct: loss_pct(sent, sent - answered),
        rtt_us: RttStats::from_samples(&rtts),
    };
    rep.conflict = rep.macs.len() > 1;
    rep.capture = Some(cap.finish()?);
    printer.report(&rep)?;
    Ok(crate::output::Report::exit_code(&rep))
}

fn probe(
    ip: &str,
    opts: &LinkOpts,
    count: u32,
    gap: (Duration, Duration),
    wait: Duration,
    printer: &mut Printer<'_>,
) -> Result<i32> {
    let target = parse_v4(ip)?;
    if gap.1 < gap.0 {
        return Err(Error::usage(
            "--interval-max must not be below --interval-min",
        ));
    }
    need_raw("probe")?;
    let link = link_for(Some(target), opts.interface.as_deref())?;
    let mut cap = open(&link, opts)?;
    sys::catch_interrupts();
    let started = Instant::now();
    let mut claims: Vec<Claim> = Vec::new();
    let mut sent = 0;
    let frame_out = frame::probe(link.mac, target);
    for i in 0..count {
        if sys::interrupted() || !claims.is_empty() {
            break;
        }
        cap.send(&frame_out)?;
        sent += 1;
        let span = gap.1.saturating_sub(gap.0);
        let jitter = if span.is_zero() {
            Duration::ZERO
        } else {
            span.mul_f64(rand::random::<f64>())
        };
        let until = Instant::now() + if i + 1 == count { wait } else { gap.0 + jitter };
        while let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            if sys::interrupted() {
                break;
            }
            let Some(pkt) = cap.next(left)? else { break };
            let Some(a) = frame::parse(&pkt.bytes) else {
                continue;
            };
            if a.sender_mac == link.mac || pkt.direction == Direction::Outgoing {
                continue;
            }
            let how = if a.sender_ip == target && a.op == 2 {
                "reply"
            } else if a.sender_ip == target {
                "announce"
            } else if a.is_probe() && a.target_ip == target {
                "probe"
            } else {
                continue;
            };
            let mac = frame::mac_text(&a.sender_mac);
            if !claims.iter().any(|c| c.mac == mac && c.how == how) {
                claims.push(Claim {
                    mac,
                    how,
                    ts_ns: pkt.ts_ns,
                });
            }
        }
    }
    let rep = ProbeReport {
        schema_version: SCHEMA_VERSION,
        command: "arp probe",
        target: target.to_string(),
        interface: link.iface.name.clone(),
        probes_sent: sent,
        listened_ms: round_ns(started.elapsed().as_secs_f64() * 1000.0),
        in_use: !claims.is_empty(),
        claims,
        capture: Some(cap.finish()?),
    };
    printer.report(&rep)?;
    Ok(crate::output::Report::exit_code(&rep))
}

fn announce(
    ip: &str,
    opts: &LinkOpts,
    count: u32,
    interval: Duration,
    reply: bool,
    printer: &mut Printer<'_>,
) -> Result<i32> {
    let addr = parse_v4(ip)?;
    need_raw("announce")?;
    let link = link_for(Some(addr), opts.interface.as_deref())?;
    let mut cap = open(&link, opts)?;
    sys::catch_interrupts();
    let f = frame::announce(link.mac, addr, reply);
    let mut stamps = Vec::new();
    for i in 0..count {
        if sys::interrupted() {
            break;
        }
        cap.send(&f)?;
        let mut ts = None;
        let until = Instant::now() + Duration::from_millis(200);
        while let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            let Some(pkt) = cap.next(left)? else { break };
            if pkt.direction == Direction::Outgoing
                && frame::parse(&pkt.bytes)
                    .is_some_and(|a| a.is_gratuitous() && a.sender_mac == link.mac)
            {
                ts = Some(pkt.ts_ns);
                break;
            }
        }
        stamps.push(ts);
        if i + 1 < count && !sys::sleep_interruptible(interval) {
            break;
        }
    }
    cap.finish()?;
    let rep = AnnounceReport {
        schema_version: SCHEMA_VERSION,
        command: "arp announce",
        ip: addr.to_string(),
        interface: link.iface.name.clone(),
        mac: frame::mac_text(&link.mac),
        form: if reply { "reply" } else { "request" },
        sent_ts_ns: stamps,
    };
    printer.report(&rep)?;
    Ok(crate::output::Report::exit_code(&rep))
}

/// Vendors from the IEEE OUI registry (Debian's ieee-data), for the prefixes asked.
fn vendors(prefixes: &[[u8; 3]]) -> (HashMap<[u8; 3], String>, Option<String>) {
    let path = "/usr/share/ieee-data/oui.txt";
    let Ok(text) = std::fs::read_to_string(path) else {
        return (HashMap::new(), None);
    };
    let mut out = HashMap::new();
    for line in text.lines() {
        // "00-1B-21   (hex)\t\tIntel Corporate"
        let Some((hex, rest)) = line.split_once("(hex)") else {
            continue;
        };
        let b: Vec<u8> = hex
            .trim()
            .split('-')
            .filter_map(|x| u8::from_str_radix(x, 16).ok())
            .collect();
        if b.len() == 3 && prefixes.contains(&[b[0], b[1], b[2]]) {
            out.insert([b[0], b[1], b[2]], rest.trim().to_string());
        }
    }
    (out, Some(path.to_string()))
}

#[allow(clippy::too_many_arguments)]
fn scan(
    cidr: Option<&str>,
    localnet: bool,
    opts: &LinkOpts,
    rate: u32,
    retries: u32,
    limit: (u32, bool),
    g: &GlobalOpts,
    printer: &mut Printer<'_>,
) -> Result<i32> {
    let given = cidr.map(parse_cidr).transpose()?;
    need_raw("scan")?;
    let link =
        link_for(given.map(|n| n.0), opts.interface.as_deref()).or_else(|e| match given {
            Some((net, _)) => link_for(
                Some(Ipv4Addr::from(u32::from(net) | 1)),
                opts.interface.as_deref(),
            )
            .map_err(|_| e),
            None => Err(e),
        })?;
    let (net, len) = match given {
        Some(n) => n,
        None if localnet => {
            let (ip, len) = link
                .iface
                .networks
                .iter()
                .find_map(|(ip, l)| match ip {
                    IpAddr::V4(v) => Some((*v, *l)),
                    _ => None,
                })
                .ok_or_else(|| {
                    Error::usage(format!("interface {} has no IPv4 network", link.iface.name))
                })?;
            parse_cidr(&format!("{ip}/{len}"))?
        }
        None => return Err(Error::usage("give a CIDR or --localnet")),
    };
    let targets: Vec<Ipv4Addr> = hosts_of(net, len).filter(|t| *t != link.ip).collect();
    let n = targets.len() as u64;
    if n > u64::from(limit.0) && !limit.1 {
        return Err(Error::usage(format!(
            "{net}/{len} has {n} addresses, more than --max-hosts {}: narrow the range or add --force",
            limit.0
        )));
    }
    let mut cap = open(&link, opts)?;
    sys::catch_interrupts();
    let started = Instant::now();
    let timeout = g.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
    let pb = crate::output::progress(&printer.style, n * u64::from(retries + 1), "arp scan");
    let mut req_ts: HashMap<Ipv4Addr, u64> = HashMap::new();
    let mut found: BTreeMap<Ipv4Addr, Host> = BTreeMap::new();
    let mut sent = 0u32;
    let mut handle = |pkt: crate::capture::Packet,
                      found: &mut BTreeMap<Ipv4Addr, Host>,
                      printer: &mut Printer<'_>|
     -> Result<()> {
        let Some(a) = frame::parse(&pkt.bytes) else {
            return Ok(());
        };
        if pkt.direction == Direction::Outgoing {
            if a.op == 1 && a.sender_mac == link.mac {
                req_ts.insert(a.target_ip, pkt.ts_ns);
            }
            return Ok(());
        }
        if a.op != 2 || targets.binary_search(&a.sender_ip).is_err() {
            return Ok(());
        }
        let mac = frame::mac_text(&a.sender_mac);
        match found.get_mut(&a.sender_ip) {
            Some(h) => {
                if h.mac != mac && !h.other_macs.contains(&mac) {
                    h.other_macs.push(mac);
                }
            }
            None => {
                let h = Host {
                    ip: a.sender_ip.to_string(),
                    mac,
                    vendor: None,
                    rtt_us: req_ts.get(&a.sender_ip).map(|t| us(*t, pkt.ts_ns)),
                    locally_administered: frame::locally_administered(&a.sender_mac),
                    multicast: frame::multicast(&a.sender_mac),
                    other_macs: Vec::new(),
                };
                printer.event(&h)?;
                found.insert(a.sender_ip, h);
            }
        }
        Ok(())
    };
    'rounds: for round in 0..=retries {
        let todo: Vec<Ipv4Addr> = targets
            .iter()
            .copied()
            .filter(|t| !found.contains_key(t))
            .collect();
        if todo.is_empty() {
            break;
        }
        let mut next = Instant::now();
        for t in todo {
            if sys::interrupted() {
                break 'rounds;
            }
            cap.send(&frame::request(link.mac, link.ip, t))?;
            sent += 1;
            pb.inc(1);
            next += gap;
            while let Some(left) = next
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
            {
                match cap.next(left)? {
                    Some(p) => pb.suspend(|| handle(p, &mut found, printer))?,
                    None => break,
                }
            }
        }
        // Wait for stragglers before the next round (or the end).
        let until = Instant::now()
            + if round == retries {
                timeout
            } else {
                timeout / 2
            };
        while let Some(left) = until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            match cap.next(left)? {
                Some(p) => pb.suspend(|| handle(p, &mut found, printer))?,
                None => break,
            }
        }
    }
    pb.finish_and_clear();
    let prefixes: Vec<[u8; 3]> = found
        .values()
        .filter_map(|h| {
            let b: Vec<u8> = h
                .mac
                .split(':')
                .filter_map(|x| u8::from_str_radix(x, 16).ok())
                .collect();
            (b.len() == 6).then(|| [b[0], b[1], b[2]])
        })
        .collect();
    let (names, oui_source) = vendors(&prefixes);
    let hosts: Vec<Host> = found
        .into_values()
        .map(|mut h| {
            let b: Vec<u8> = h
                .mac
                .split(':')
                .filter_map(|x| u8::from_str_radix(x, 16).ok())
                .collect();
            if b.len() == 6 {
                h.vendor = names.get(&[b[0], b[1], b[2]]).cloned();
            }
            h
        })
        .collect();
    let rep = ScanReport {
        schema_version: SCHEMA_VERSION,
        command: "arp scan",
        network: format!("{net}/{len}"),
        interface: link.iface.name.clone(),
        scanned: n as u32,
        sent,
        hosts,
        elapsed_ms: round_ns(started.elapsed().as_secs_f64() * 1000.0),
        oui_source,
        capture: Some(cap.finish()?),
    };
    printer.report(&rep)?;
    Ok(crate::output::Report::exit_code(&rep))
}

fn table(all: bool, printer: &mut Printer<'_>) -> Result<i32> {
    let names: HashMap<u32, String> = capture::interfaces()
        .into_iter()
        .map(|i| (i.index, i.name))
        .collect();
    let mut entries: Vec<NeighOut> = netlink::neighbours()
        .map_err(|e| Error::measure(format!("read the neighbour table over netlink: {e}")))?
        .into_iter()
        .filter(|n| all || !matches!(n.state, "NOARP" | "NONE"))
        .map(|n| NeighOut {
            ip: n.ip.to_string(),
            mac: n
                .mac
                .as_ref()
                .filter(|m| !m.is_empty())
                .map(|m| frame::mac_text(m)),
            state: n.state.to_string(),
            interface: names
                .get(&n.ifindex)
                .cloned()
                .unwrap_or_else(|| n.ifindex.to_string()),
            router: n.router,
        })
        .collect();
    entries.sort_by_key(|e| (e.ip.contains(':'), e.ip.parse::<IpAddr>().ok()));
    let rep = TableReport {
        schema_version: SCHEMA_VERSION,
        command: "arp table",
        entries,
    };
    printer.report(&rep)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert_eq!(
            parse_cidr("198.18.0.77/24").unwrap(),
            ("198.18.0.0".parse().unwrap(), 24)
        );
        assert!(parse_cidr("198.18.0.0").is_err());
        assert!(parse_cidr("198.18.0.0/33").is_err());
        assert!(parse_cidr("x/24").is_err());
        let h: Vec<Ipv4Addr> = hosts_of("198.18.0.0".parse().unwrap(), 30).collect();
        assert_eq!(
            h,
            [
                "198.18.0.1".parse::<Ipv4Addr>().unwrap(),
                "198.18.0.2".parse().unwrap()
            ]
        );
        assert_eq!(hosts_of("198.18.0.0".parse().unwrap(), 24).count(), 254);
        assert_eq!(hosts_of("198.18.0.7".parse().unwrap(), 32).count(), 1);
        assert_eq!(hosts_of("198.18.0.6".parse().unwrap(), 31).count(), 2);
    }
}

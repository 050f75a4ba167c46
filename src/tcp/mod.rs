//! `netlab tcp handshake`: three-way handshake timing from kernel packet timestamps, the
//! SYN / SYN-ACK details and, with `--close`, the teardown.

pub mod analysis;
pub mod probe;
pub mod report;
pub mod stats;
pub mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::GlobalOpts;
use crate::capture::{Capture, bpf};
use crate::error::{Error, Result};
use crate::net::{self, Family};
use crate::output::{Printer, SCHEMA_VERSION, spinner};
use crate::sys::{self, Privilege};
use report::{HandshakeReport, Mode, Outcome, Summary, TargetInfo, TimingSource};

/// `netlab tcp ...`
#[derive(Debug, Args)]
pub struct TcpArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TcpCommand,
}

/// TCP subcommands.
#[derive(Debug, Subcommand)]
pub enum TcpCommand {
    /// Time the three-way handshake from kernel packet timestamps, like ping for a TCP port.
    ///
    /// Streams one line per probe, then a summary. Every SYN-ACK is decoded (ISN, TTL and
    /// hop guess, window, MSS, window scale, SACK, timestamps, ECN). With CAP_NET_RAW the
    /// times come from the wire (af_packet); without it from TCP_INFO, and the report says so.
    Handshake(HandshakeArgs),
}

/// Arguments of `netlab tcp handshake`.
#[derive(Debug, Args)]
pub struct HandshakeArgs {
    /// Target as HOST:PORT; IPv6 literals in brackets, e.g. `[2001:2::2]:443`.
    #[arg(value_name = "HOST:PORT")]
    pub target: String,
    /// Only IPv4 addresses of HOST.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Only IPv6 addresses of HOST.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Number of probes.
    #[arg(short, long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,
    /// Time between probes (200ms, 1s, 0.5).
    #[arg(short, long, default_value = "1s", value_parser = net::parse_duration)]
    pub interval: Duration,
    /// Send from this local address.
    #[arg(long, value_name = "IP")]
    pub source: Option<std::net::IpAddr>,
    /// Leave by this interface (SO_BINDTODEVICE) and capture on it.
    #[arg(short = 'I', long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// Half-open probe: a crafted SYN with a new source port and random ISN per probe; the
    /// kernel's RST closes it (needs CAP_NET_RAW).
    #[arg(long, conflicts_with = "close")]
    pub syn: bool,
    /// After the handshake, close and show the teardown: who sent FIN first, each FIN and
    /// ACK with its time, and which side holds TIME_WAIT.
    #[arg(long)]
    pub close: bool,
    /// With --close: wait this long for the server to send data or close first.
    #[arg(long, default_value = "0s", value_parser = net::parse_duration, requires = "close")]
    pub hold: Duration,
    /// Write the captured packets to FILE (pcap, nanosecond timestamps; needs CAP_NET_RAW).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
}

/// Default per-probe timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Run `netlab tcp ...`.
pub fn run(args: &TcpArgs, global: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    match &args.command {
        TcpCommand::Handshake(h) => handshake(h, global, printer),
    }
}

fn mtu(iface: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/mtu"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn handshake(a: &HandshakeArgs, global: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    let target = net::parse_host_port(&a.target)?;
    let timeout = global.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err(Error::usage("--timeout must be above zero"));
    }
    let privilege = Privilege::discover();
    let mode = if a.syn { Mode::Syn } else { Mode::Connect };
    if !privilege.net_raw {
        if a.syn {
            return Err(Error::Privilege {
                what: "netlab tcp handshake --syn".into(),
                cap: "CAP_NET_RAW",
            });
        }
        if a.pcap.is_some() {
            return Err(Error::Privilege {
                what: "netlab tcp handshake --pcap".into(),
                cap: "CAP_NET_RAW",
            });
        }
    }
    let family = match (a.ipv4, a.ipv6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Any,
    };
    let sp = spinner(&printer.style, &format!("resolving {}", target.host));
    let addrs = net::resolve(&target.host, family, timeout)?;
    let dst = SocketAddr::new(addrs[0], target.port);
    let route = net::route(dst.ip(), a.interface.as_deref(), a.source)?;
    let (iface, src) = (route.iface.clone(), route.src);
    sp.finish_and_clear();

    let mut notes = Vec::new();
    let capture = if privilege.net_raw {
        let mut prims = vec![bpf::tcp_host_port(dst.ip(), dst.port())];
        if dst.is_ipv4() {
            prims.push(bpf::icmp());
            prims.push(bpf::arp());
        } else {
            prims.push(bpf::icmp6());
        }
        Some(Capture::open(
            &iface,
            &bpf::any_of(&prims),
            a.pcap.as_deref(),
        )?)
    } else {
        notes.push(
            "no CAP_NET_RAW: RTT from TCP_INFO, SYN-ACK partly decoded; run as root or \
             `setcap cap_net_raw+ep` for wire timing"
                .to_string(),
        );
        None
    };
    let overhead = if dst.is_ipv4() { 40 } else { 60 };
    let syn_mss = mtu(&iface.name)
        .map(|m| m.saturating_sub(overhead))
        .unwrap_or(1460)
        .min(65495) as u16;
    let mut prober = probe::Prober {
        mode,
        dst,
        src,
        bind_source: a.source.is_some(),
        device: a.interface.clone(),
        capture,
        timeout,
        close: a.close,
        hold: a.hold,
        syn_mss,
        past: Vec::new(),
        late_duplicates: 0,
        unmatched: 0,
        next_hop: route.next_hop.map(|h| (h, iface.index)),
        holders: std::collections::VecDeque::new(),
        notes: Vec::new(),
    };
    let timing_source = if prober.capture.is_some() {
        TimingSource::AfPacket
    } else {
        TimingSource::TcpInfo
    };
    printer.note(&format!(
        "TCP handshake to {}:{} ({dst}) from {src} via {}, {} probe{}, {} mode",
        target.host,
        target.port,
        iface.name,
        a.count,
        if a.count == 1 { "" } else { "s" },
        if a.syn { "half-open SYN" } else { "connect()" },
    ))?;
    sys::catch_interrupts();
    let mut probes = Vec::new();
    for seq in 1..=a.count {
        if sys::interrupted() {
            break;
        }
        let p = prober.probe(seq)?;
        printer.event(&p)?;
        probes.push(p);
        if seq < a.count && !sys::sleep_interruptible(a.interval) {
            break;
        }
    }
    notes.append(&mut prober.notes);
    if sys::interrupted() {
        notes.push(format!(
            "interrupted after {} of {} probes",
            probes.len(),
            a.count
        ));
    }
    // Late frames after the last probe.
    if let Some(cap) = prober.capture.as_mut() {
        let late: Vec<_> = cap
            .drain()?
            .iter()
            .map(|p| wire::parse(p.ts_ns, &p.bytes))
            .collect();
        let none = analysis::Flow {
            local: SocketAddr::new(src, 0),
            remote: dst,
        };
        prober.sort_strays(&none, &late);
    }
    let capture_stats = match prober.capture.as_mut() {
        Some(c) => Some(c.finish()?),
        None => None,
    };
    if let Some(c) = &capture_stats
        && c.kernel_drops > 0
    {
        {
            notes.push(format!(
                "the kernel dropped {} captured frames: some timings may be missing",
                c.kernel_drops
            ));
        }
    }
    let summary = summarize(&probes, prober.late_duplicates, prober.unmatched);
    let report = HandshakeReport {
        schema_version: SCHEMA_VERSION,
        command: "tcp handshake",
        target: TargetInfo {
            host: target.host.clone(),
            port: target.port,
            address: dst.ip().to_string(),
            addresses: addrs.iter().map(|a| a.to_string()).collect(),
        },
        mode,
        interface: Some(iface.name.clone()),
        source: Some(src.to_string()),
        timing_source,
        probes,
        summary,
        capture: capture_stats,
        notes,
    };
    printer.report(&report)?;
    Ok(crate::output::Report::exit_code(&report))
}

/// Totals and RTT statistics over the probes (pure).
pub fn summarize(probes: &[report::Probe], late_duplicates: u32, unmatched: u32) -> Summary {
    let count = |o: Outcome| probes.iter().filter(|p| p.outcome == o).count() as u32;
    let sent = probes.len() as u32;
    let filtered = count(Outcome::Filtered);
    let samples: Vec<f64> = probes
        .iter()
        .filter(|p| matches!(p.outcome, Outcome::Open | Outcome::Closed))
        .filter_map(|p| p.rtt_us)
        .collect();
    Summary {
        sent,
        open: count(Outcome::Open),
        closed: count(Outcome::Closed),
        filtered,
        unreachable: count(Outcome::Unreachable),
        loss_pct: stats::loss_pct(sent, filtered),
        duplicates: probes.iter().map(|p| p.duplicates).sum::<u32>() + late_duplicates,
        unmatched,
        rtt_us: stats::RttStats::from_samples(&samples),
    }
}

//! The `tcp handshake` report: the single value both the table and the JSON come from.

use std::io::{self, Write};

use serde::Serialize;

use crate::capture::CaptureStats;
use crate::error::{EXIT_FINDING, EXIT_OK};
use crate::output::{self, Event, Report, Style, fmt_us, opt};
use crate::tcp::stats::RttStats;

/// How a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// SYN-ACK received.
    Open,
    /// RST received.
    Closed,
    /// No answer before the timeout.
    Filtered,
    /// An ICMP error (or a local "no route") answered the SYN.
    Unreachable,
}

impl Outcome {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Open => "open",
            Outcome::Closed => "closed",
            Outcome::Filtered => "filtered",
            Outcome::Unreachable => "unreachable",
        }
    }
}

/// Where a time came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimingSource {
    /// Kernel packet timestamps on our AF_PACKET socket (the wire).
    AfPacket,
    /// The kernel's TCP_INFO RTT sample (no privilege needed).
    TcpInfo,
    /// A userspace clock around connect().
    Userspace,
}

/// Probe mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The kernel's connect(), observed on the wire.
    Connect,
    /// A crafted half-open SYN.
    Syn,
}

/// What our SYN offered.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SynInfo {
    /// Our initial sequence number.
    pub isn: u32,
    /// Window.
    pub window: u16,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window-scale option.
    pub wscale: Option<u8>,
    /// SACK-permitted option.
    pub sack_perm: bool,
    /// Timestamps option present.
    pub timestamps: bool,
    /// ECN requested (ECE and CWR set).
    pub ecn: bool,
    /// Other option kinds.
    pub unknown_options: Vec<u8>,
}

/// The decoded SYN-ACK. Fields are null when not measured (no capture privilege).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SynAckInfo {
    /// The server's initial sequence number.
    pub isn: Option<u32>,
    /// The acknowledgement number.
    pub ack: Option<u32>,
    /// ack == our ISN + 1.
    pub ack_ok: Option<bool>,
    /// TTL (IPv4) or hop limit (IPv6) as received.
    pub ttl: Option<u8>,
    /// Guessed initial TTL (the next of 32, 64, 128, 255).
    pub initial_ttl: Option<u8>,
    /// Guessed hop count: initial_ttl − ttl.
    pub hops: Option<u8>,
    /// Window (unscaled, as in the header).
    pub window: Option<u16>,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window-scale option (the server's shift).
    pub wscale: Option<u8>,
    /// SACK-permitted option.
    pub sack_perm: Option<bool>,
    /// Timestamps option present.
    pub timestamps: Option<bool>,
    /// ECE set in the SYN-ACK: the server agreed to ECN.
    pub ecn: Option<bool>,
    /// Other option kinds, in order.
    pub unknown_options: Vec<u8>,
}

/// The RST that closed a probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RstInfo {
    /// TTL / hop limit as received.
    pub ttl: u8,
    /// Guessed initial TTL.
    pub initial_ttl: u8,
    /// Guessed hops.
    pub hops: u8,
    /// Its acknowledgement number.
    pub ack: u32,
}

/// An ICMP error that answered the SYN.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IcmpInfo {
    /// "icmp" or "icmpv6".
    pub family: &'static str,
    /// Type.
    #[serde(rename = "type")]
    pub icmp_type: Option<u8>,
    /// Code.
    pub code: Option<u8>,
    /// Who sent it.
    pub source: Option<String>,
    /// In words ("host unreachable", "administratively prohibited").
    pub description: String,
}

/// Who did something first in a teardown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// netlab's side.
    Client,
    /// The target.
    Server,
    /// Both (simultaneous close).
    Both,
    /// Not observed.
    Unknown,
}

/// One segment of the teardown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TeardownSegment {
    /// µs since the first FIN.
    pub t_us: f64,
    /// "out" (client → server) or "in".
    pub dir: &'static str,
    /// Flags, e.g. "FIN,ACK".
    pub flags: String,
    /// Sequence number, relative to our / their ISN.
    pub rel_seq: u32,
    /// Acknowledgement number, relative.
    pub rel_ack: u32,
}

/// The teardown after `--close`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Teardown {
    /// Who sent the first FIN.
    pub first_fin: Side,
    /// Who holds TIME_WAIT afterwards (the side that closed first).
    pub time_wait: Side,
    /// First FIN to last segment, µs (null without capture).
    pub duration_us: Option<f64>,
    /// FIN, ACK, FIN, ACK all seen.
    pub complete: bool,
    /// A RST ended the connection instead.
    pub reset: bool,
    /// The segments, in wire order (empty without capture).
    pub segments: Vec<TeardownSegment>,
}

/// One probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    /// 1-based probe number.
    pub seq: u32,
    /// How it ended.
    pub outcome: Outcome,
    /// SYN → SYN-ACK (or RST) time, µs.
    pub rtt_us: Option<f64>,
    /// Where `rtt_us` comes from.
    pub timing_source: TimingSource,
    /// connect() call to completion as the application saw it, µs (connect mode).
    pub connect_us: Option<f64>,
    /// An ARP / ND exchange the kernel made before it could send the SYN, µs (not in rtt_us).
    pub neighbour_us: Option<f64>,
    /// Local address of the probe.
    pub local: String,
    /// Address probed.
    pub remote: String,
    /// Kernel timestamp of the SYN the reply answered, ns since the epoch.
    pub syn_ts_ns: Option<u64>,
    /// Kernel timestamp of the reply, ns since the epoch.
    pub reply_ts_ns: Option<u64>,
    /// SYNs sent beyond the first.
    pub syn_retransmits: u32,
    /// Our SYN as seen on the wire.
    pub syn: Option<SynInfo>,
    /// The SYN-ACK, decoded.
    pub synack: Option<SynAckInfo>,
    /// The RST, when closed.
    pub rst: Option<RstInfo>,
    /// The ICMP error, when unreachable.
    pub icmp: Option<IcmpInfo>,
    /// Extra SYN-ACKs for this probe (retransmitted by the server).
    pub duplicates: u32,
    /// The teardown, with `--close`.
    pub teardown: Option<Teardown>,
    /// What went wrong locally, if anything.
    pub error: Option<String>,
}

/// Where the probes went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetInfo {
    /// As given.
    pub host: String,
    /// Port.
    pub port: u16,
    /// The address probed.
    pub address: String,
    /// Every address the name resolved to (of the admitted family).
    pub addresses: Vec<String>,
}

/// Summary over all probes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Probes sent.
    pub sent: u32,
    /// Answered with SYN-ACK.
    pub open: u32,
    /// Answered with RST.
    pub closed: u32,
    /// Not answered.
    pub filtered: u32,
    /// Answered with an ICMP error.
    pub unreachable: u32,
    /// filtered / sent, percent.
    pub loss_pct: f64,
    /// Extra SYN-ACKs (server retransmissions, late answers to earlier probes).
    pub duplicates: u32,
    /// Captured TCP/ICMP frames of the target that matched no probe.
    pub unmatched: u32,
    /// RTT statistics over answered probes (open and closed).
    pub rtt_us: RttStats,
}

/// The whole `tcp handshake` result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandshakeReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "tcp handshake".
    pub command: &'static str,
    /// Target.
    pub target: TargetInfo,
    /// connect or syn.
    pub mode: Mode,
    /// Interface the probes left by.
    pub interface: Option<String>,
    /// Our source address.
    pub source: Option<String>,
    /// Timing source of this run (af_packet with capture privilege, else tcp_info).
    pub timing_source: TimingSource,
    /// Every probe.
    pub probes: Vec<Probe>,
    /// Totals and statistics.
    pub summary: Summary,
    /// Capture statistics (null without capture).
    pub capture: Option<CaptureStats>,
    /// Things the reader should know (fallbacks, interruptions).
    pub notes: Vec<String>,
}

impl Event for Probe {
    const KIND: &'static str = "probe";
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        let outcome = match self.outcome {
            Outcome::Open => st.good("open"),
            Outcome::Closed => st.bad("closed"),
            Outcome::Filtered | Outcome::Unreachable => st.warn(self.outcome.as_str()),
        };
        let src = match self.timing_source {
            TimingSource::AfPacket => "wire",
            TimingSource::TcpInfo => "tcp_info",
            TimingSource::Userspace => "userspace",
        };
        write!(
            out,
            "probe {:<3} {:<11} {} → {}  rtt={} ({src})",
            self.seq,
            outcome,
            self.local,
            self.remote,
            fmt_us(self.rtt_us)
        )?;
        if let Some(c) = self.connect_us {
            write!(out, " connect={}", fmt_us(Some(c)))?;
        }
        if let Some(n) = self.neighbour_us {
            write!(out, " {}", st.dim(&format!("+arp/nd={}", fmt_us(Some(n)))))?;
        }
        if let Some(sa) = &self.synack {
            write!(
                out,
                "  isn={} ttl={} win={} mss={} ws={}{}{}",
                opt(sa.isn),
                opt(sa.ttl),
                opt(sa.window),
                opt(sa.mss),
                opt(sa.wscale),
                if sa.sack_perm == Some(true) {
                    " sack"
                } else {
                    ""
                },
                if sa.timestamps == Some(true) {
                    " ts"
                } else {
                    ""
                },
            )?;
            if sa.ack_ok == Some(false) {
                write!(out, " {}", st.bad("ack!=isn+1"))?;
            }
        }
        if let Some(i) = &self.icmp {
            write!(out, "  {} from {}", i.description, opt(i.source.as_deref()))?;
        }
        if self.syn_retransmits > 0 {
            write!(
                out,
                "  {}",
                st.warn(&format!("syn retransmits={}", self.syn_retransmits))
            )?;
        }
        if let Some(e) = &self.error {
            write!(out, "  ({e})")?;
        }
        writeln!(out)?;
        if let Some(t) = &self.teardown {
            write_teardown(out, st, t)?;
        }
        Ok(())
    }
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Client => "client (netlab)",
        Side::Server => "server",
        Side::Both => "both (simultaneous close)",
        Side::Unknown => "unknown",
    }
}

fn write_teardown(out: &mut dyn Write, st: &Style, t: &Teardown) -> io::Result<()> {
    writeln!(
        out,
        "          teardown: first FIN by {}, TIME_WAIT on {}, {}{}",
        side(t.first_fin),
        side(t.time_wait),
        fmt_us(t.duration_us),
        if t.reset {
            st.warn(" (reset)")
        } else if !t.complete && !t.segments.is_empty() {
            st.warn(" (incomplete)")
        } else {
            String::new()
        }
    )?;
    for s in &t.segments {
        let arrow = if s.dir == "out" {
            "client → server"
        } else {
            "server → client"
        };
        writeln!(
            out,
            "            +{:<12} {arrow}  {:<9} seq={} ack={}",
            fmt_us(Some(s.t_us)),
            s.flags,
            s.rel_seq,
            s.rel_ack
        )?;
    }
    Ok(())
}

impl Report for HandshakeReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        let s = &self.summary;
        writeln!(
            out,
            "\n{} {}:{} ({}) via {} — {} probe{}, timing from {}",
            st.bold("tcp handshake"),
            self.target.host,
            self.target.port,
            self.target.address,
            self.interface.as_deref().unwrap_or("?"),
            s.sent,
            if s.sent == 1 { "" } else { "s" },
            match self.timing_source {
                TimingSource::AfPacket => "kernel packet timestamps (af_packet)",
                TimingSource::TcpInfo => "TCP_INFO (no CAP_NET_RAW)",
                TimingSource::Userspace => "a userspace clock",
            }
        )?;
        let mut t = output::table(&[
            "sent",
            "open",
            "closed",
            "filtered",
            "unreach",
            "loss",
            "dup",
            "unmatched",
        ]);
        t.add_row(vec![
            s.sent.to_string(),
            s.open.to_string(),
            s.closed.to_string(),
            s.filtered.to_string(),
            s.unreachable.to_string(),
            format!("{}%", s.loss_pct),
            s.duplicates.to_string(),
            s.unmatched.to_string(),
        ]);
        writeln!(out, "{t}")?;
        let r = &s.rtt_us;
        if r.min.is_some() {
            let mut t = output::table(&[
                "rtt", "min", "avg", "max", "mdev", "p50", "p90", "p99", "jitter",
            ]);
            t.add_row(vec![
                "".to_string(),
                fmt_us(r.min),
                fmt_us(r.avg),
                fmt_us(r.max),
                fmt_us(r.mdev),
                fmt_us(r.p50),
                fmt_us(r.p90),
                fmt_us(r.p99),
                fmt_us(r.jitter),
            ]);
            writeln!(out, "{t}")?;
        }
        if let Some(p) = self.probes.iter().find(|p| p.synack.is_some()) {
            write_details(out, p)?;
        }
        if let Some(c) = &self.capture
            && (c.kernel_drops > 0 || st.verbose > 0 || c.pcap_file.is_some())
        {
            {
                writeln!(
                    out,
                    "capture on {}: {} frames, {} dropped by the kernel{}",
                    c.interface,
                    c.packets,
                    c.kernel_drops,
                    c.pcap_file
                        .as_ref()
                        .map(|p| format!(", written to {}", p.display()))
                        .unwrap_or_default()
                )?;
            }
        }
        for n in &self.notes {
            writeln!(out, "{} {n}", st.warn("note:"))?;
        }
        Ok(())
    }

    fn exit_code(&self) -> i32 {
        if self.summary.open > 0 {
            EXIT_OK
        } else {
            EXIT_FINDING
        }
    }
}

fn write_details(out: &mut dyn Write, p: &Probe) -> io::Result<()> {
    let Some(sa) = &p.synack else { return Ok(()) };
    let syn = p.syn.as_ref();
    let b = |v: Option<bool>| match v {
        Some(true) => "yes".to_string(),
        Some(false) => "no".to_string(),
        None => "-".to_string(),
    };
    let mut t = output::table(&[
        &format!("handshake (probe {})", p.seq),
        "our SYN",
        "their SYN-ACK",
    ]);
    t.add_row(vec!["ISN".into(), opt(syn.map(|s| s.isn)), opt(sa.isn)]);
    t.add_row(vec![
        "ack".into(),
        "".into(),
        match (sa.ack, sa.ack_ok) {
            (Some(a), Some(ok)) => {
                format!("{a} ({})", if ok { "= our ISN+1" } else { "≠ our ISN+1" })
            }
            (a, _) => opt(a),
        },
    ]);
    t.add_row(vec![
        "window".into(),
        opt(syn.map(|s| s.window)),
        opt(sa.window),
    ]);
    t.add_row(vec![
        "MSS".into(),
        opt(syn.and_then(|s| s.mss)),
        opt(sa.mss),
    ]);
    t.add_row(vec![
        "window scale".into(),
        opt(syn.and_then(|s| s.wscale)),
        opt(sa.wscale),
    ]);
    t.add_row(vec![
        "SACK permitted".into(),
        b(syn.map(|s| s.sack_perm)),
        b(sa.sack_perm),
    ]);
    t.add_row(vec![
        "timestamps".into(),
        b(syn.map(|s| s.timestamps)),
        b(sa.timestamps),
    ]);
    t.add_row(vec!["ECN".into(), b(syn.map(|s| s.ecn)), b(sa.ecn)]);
    t.add_row(vec![
        "TTL / hops".into(),
        "".into(),
        match (sa.ttl, sa.initial_ttl, sa.hops) {
            (Some(t), Some(i), Some(h)) => format!("{t} (initial {i}, {h} hops)"),
            _ => "-".into(),
        },
    ]);
    let unknown = |v: &[u8]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    t.add_row(vec![
        "other options".into(),
        syn.map(|s| unknown(&s.unknown_options))
            .unwrap_or_else(|| "-".into()),
        unknown(&sa.unknown_options),
    ]);
    writeln!(out, "{t}")
}

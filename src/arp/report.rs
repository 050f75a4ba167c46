//! The `arp` reports: one value each for the table and the JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::capture::CaptureStats;
use crate::error::{EXIT_FINDING, EXIT_OK};
use crate::output::{self, Event, Report, Style, fmt_us};
use crate::tcp::report::TimingSource;
use crate::tcp::stats::RttStats;

/// One reply to a who-has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reply {
    /// Sender hardware address.
    pub mac: String,
    /// Request → this reply on the wire, µs.
    pub rtt_us: Option<f64>,
    /// Kernel timestamp of the reply, ns since the epoch.
    pub ts_ns: u64,
}

/// One who-has probe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArpProbe {
    /// 1-based.
    pub seq: u32,
    /// Request → first reply, µs (null: no answer).
    pub rtt_us: Option<f64>,
    /// af_packet (both kernel timestamps) or userspace (the request's own copy was not seen).
    pub timing_source: TimingSource,
    /// Kernel timestamp of our request on the wire.
    pub request_ts_ns: Option<u64>,
    /// Every reply inside this probe's window.
    pub replies: Vec<Reply>,
}

impl Event for ArpProbe {
    const KIND: &'static str = "probe";
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        if self.replies.is_empty() {
            return writeln!(out, "probe {:<3} {}", self.seq, st.warn("no reply"));
        }
        for (i, r) in self.replies.iter().enumerate() {
            writeln!(
                out,
                "probe {:<3} reply from {}  rtt={}{}",
                self.seq,
                r.mac,
                fmt_us(r.rtt_us),
                if i > 0 {
                    st.bad("  (another MAC!)")
                } else {
                    String::new()
                }
            )?;
        }
        Ok(())
    }
}

/// who-has totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArpSummary {
    /// Requests sent.
    pub sent: u32,
    /// Requests answered.
    pub answered: u32,
    /// Unanswered / sent × 100.
    pub loss_pct: f64,
    /// Over first replies.
    pub rtt_us: RttStats,
}

/// The `arp who-has` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhoHasReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "arp who-has".
    pub command: &'static str,
    /// The address asked about.
    pub target: String,
    /// Interface used.
    pub interface: String,
    /// Our address and MAC as sent.
    pub source_ip: String,
    /// Our MAC.
    pub source_mac: String,
    /// When the target is not on the link: the gateway the kernel would ask instead (nothing
    /// is sent then).
    pub off_link_gateway: Option<String>,
    /// Every probe.
    pub probes: Vec<ArpProbe>,
    /// Every distinct MAC that answered.
    pub macs: Vec<String>,
    /// More than one MAC answered for the address (a finding: exit 1).
    pub conflict: bool,
    /// Totals.
    pub summary: ArpSummary,
    /// Capture statistics.
    pub capture: Option<CaptureStats>,
}

impl Report for WhoHasReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        if let Some(g) = &self.off_link_gateway {
            return writeln!(
                out,
                "{} is not on the link of {}: the kernel would ask for the gateway {g} instead (try `netlab arp who-has {g}`)",
                self.target, self.interface
            );
        }
        let s = &self.summary;
        writeln!(
            out,
            "\n{} {} on {} from {} ({}): {} sent, {} answered, {}% loss",
            st.bold("arp who-has"),
            self.target,
            self.interface,
            self.source_ip,
            self.source_mac,
            s.sent,
            s.answered,
            s.loss_pct
        )?;
        if s.rtt_us.min.is_some() {
            let r = &s.rtt_us;
            let mut t = output::table(&["rtt", "min", "avg", "max", "p50", "p99"]);
            t.add_row(vec![
                String::new(),
                fmt_us(r.min),
                fmt_us(r.avg),
                fmt_us(r.max),
                fmt_us(r.p50),
                fmt_us(r.p99),
            ]);
            writeln!(out, "{t}")?;
        }
        if self.conflict {
            writeln!(
                out,
                "{} {} is claimed by {}",
                st.bad("CONFLICT:"),
                self.target,
                self.macs.join(" and ")
            )?;
        } else if let Some(m) = self.macs.first() {
            writeln!(out, "{} is at {m}", self.target)?;
        }
        Ok(())
    }
    fn exit_code(&self) -> i32 {
        if self.conflict || self.summary.answered == 0 || self.off_link_gateway.is_some() {
            EXIT_FINDING
        } else {
            EXIT_OK
        }
    }
}

/// Who claimed an address during duplicate detection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Claim {
    /// The MAC.
    pub mac: String,
    /// reply, probe (someone else probing for it), or announce.
    pub how: &'static str,
    /// Kernel timestamp, ns.
    pub ts_ns: u64,
}

/// The `arp probe` (RFC 5227) report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "arp probe".
    pub command: &'static str,
    /// The address tested.
    pub target: String,
    /// Interface.
    pub interface: String,
    /// Probes sent.
    pub probes_sent: u32,
    /// How long it listened in all, ms.
    pub listened_ms: f64,
    /// The address is in use.
    pub in_use: bool,
    /// Everyone who claimed it.
    pub claims: Vec<Claim>,
    /// Capture statistics.
    pub capture: Option<CaptureStats>,
}

impl Report for ProbeReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        writeln!(
            out,
            "{} {} on {}: {} probes, listened {:.0} ms — {}",
            st.bold("arp probe"),
            self.target,
            self.interface,
            self.probes_sent,
            self.listened_ms,
            if self.in_use {
                st.bad("IN USE")
            } else {
                st.good("free")
            }
        )?;
        for c in &self.claims {
            writeln!(out, "  claimed by {} ({})", c.mac, c.how)?;
        }
        Ok(())
    }
    fn exit_code(&self) -> i32 {
        if self.in_use { EXIT_FINDING } else { EXIT_OK }
    }
}

/// The `arp announce` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnounceReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "arp announce".
    pub command: &'static str,
    /// The address announced.
    pub ip: String,
    /// Interface.
    pub interface: String,
    /// Our MAC.
    pub mac: String,
    /// request or reply.
    pub form: &'static str,
    /// Kernel timestamps of the announcements as they left, ns.
    pub sent_ts_ns: Vec<Option<u64>>,
}

impl Report for AnnounceReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        writeln!(
            out,
            "{} {} is at {} on {}: {} gratuitous ARP {}s sent",
            st.bold("arp announce"),
            self.ip,
            self.mac,
            self.interface,
            self.sent_ts_ns.len(),
            self.form
        )
    }
    fn exit_code(&self) -> i32 {
        EXIT_OK
    }
}

/// A host found by a scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Host {
    /// Address.
    pub ip: String,
    /// First MAC that answered.
    pub mac: String,
    /// Vendor from the IEEE OUI registry (null: not found, or no registry installed).
    pub vendor: Option<String>,
    /// Request → reply, µs.
    pub rtt_us: Option<f64>,
    /// Locally administered MAC (U/L bit).
    pub locally_administered: bool,
    /// Multicast MAC (I/G bit) — never a valid host address.
    pub multicast: bool,
    /// Other MACs that answered for the same address (a conflict).
    pub other_macs: Vec<String>,
}

impl Event for Host {
    const KIND: &'static str = "host";
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        writeln!(
            out,
            "{:<16} {}  {:>10}  {}{}{}",
            self.ip,
            self.mac,
            fmt_us(self.rtt_us),
            self.vendor.as_deref().unwrap_or("-"),
            if self.locally_administered {
                st.dim("  (locally administered)")
            } else {
                String::new()
            },
            if self.other_macs.is_empty() {
                String::new()
            } else {
                st.bad(&format!("  CONFLICT with {}", self.other_macs.join(", ")))
            }
        )
    }
}

/// The `arp scan` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "arp scan".
    pub command: &'static str,
    /// The range scanned.
    pub network: String,
    /// Interface.
    pub interface: String,
    /// Addresses asked.
    pub scanned: u32,
    /// Requests sent (retries included).
    pub sent: u32,
    /// Hosts that answered, in address order.
    pub hosts: Vec<Host>,
    /// Wall time, ms.
    pub elapsed_ms: f64,
    /// Where vendors came from (null: no OUI registry installed).
    pub oui_source: Option<String>,
    /// Capture statistics.
    pub capture: Option<CaptureStats>,
}

impl Report for ScanReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        writeln!(
            out,
            "{} {} on {}: {} hosts answered of {} addresses ({} requests) in {:.0} ms{}",
            st.bold("arp scan"),
            self.network,
            self.interface,
            self.hosts.len(),
            self.scanned,
            self.sent,
            self.elapsed_ms,
            if self.oui_source.is_none() {
                " (no OUI registry: install ieee-data for vendors)"
            } else {
                ""
            }
        )?;
        let conflicts: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| !h.other_macs.is_empty())
            .collect();
        for h in conflicts {
            writeln!(
                out,
                "{} {} is claimed by {} and {}",
                st.bad("CONFLICT:"),
                h.ip,
                h.mac,
                h.other_macs.join(", ")
            )?;
        }
        Ok(())
    }
    fn exit_code(&self) -> i32 {
        if self.hosts.iter().any(|h| !h.other_macs.is_empty()) {
            EXIT_FINDING
        } else {
            EXIT_OK
        }
    }
}

/// A neighbour-table entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NeighOut {
    /// Address.
    pub ip: String,
    /// Link-layer address (null: none yet, e.g. INCOMPLETE / FAILED).
    pub mac: Option<String>,
    /// REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, NOARP, PERMANENT, NONE.
    pub state: String,
    /// Interface name.
    pub interface: String,
    /// The neighbour is a router.
    pub router: bool,
}

/// The `arp table` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "arp table".
    pub command: &'static str,
    /// Entries, IPv4 then IPv6.
    pub entries: Vec<NeighOut>,
}

impl Report for TableReport {
    fn write_human(&self, out: &mut dyn Write, _st: &Style) -> io::Result<()> {
        let mut t = output::table(&["address", "mac", "state", "interface", "router"]);
        for e in &self.entries {
            t.add_row(vec![
                e.ip.clone(),
                e.mac.clone().unwrap_or_else(|| "-".into()),
                e.state.clone(),
                e.interface.clone(),
                if e.router {
                    "yes".into()
                } else {
                    String::new()
                },
            ]);
        }
        writeln!(out, "{t}")
    }
    fn exit_code(&self) -> i32 {
        EXIT_OK
    }
}

//! The shared raw-socket / pcap core: what `tcp handshake`, `arp` and every `--pcap` flag use.
//!
//! [`Capture`] owns one AF_PACKET socket bound to one interface with a classic-BPF filter
//! ([`bpf`]) attached before bind. Each frame comes out as a [`Packet`] with the kernel's
//! nanosecond timestamp and its direction. On `lo` every frame is seen twice (as sent and as
//! received); the outgoing copy is dropped, as libpcap does, so timestamps agree with tcpdump.

pub mod bpf;

use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};
use serde::Serialize;

use crate::error::{Error, IoContext, Result};
use crate::sys::packet::PacketSocket;

/// Which way a frame went, from the kernel's packet type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Addressed to this host (unicast, broadcast or multicast).
    Incoming,
    /// Sent by this host.
    Outgoing,
    /// Seen in promiscuous mode, addressed to another host.
    OtherHost,
}

impl Direction {
    fn from_pkttype(t: u8) -> Direction {
        match t {
            4 => Direction::Outgoing,
            3 => Direction::OtherHost,
            _ => Direction::Incoming,
        }
    }
}

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Packet {
    /// Kernel timestamp, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Which way it went.
    pub direction: Direction,
    /// Interface index it was seen on.
    pub ifindex: u32,
    /// The Ethernet frame (as much as was captured).
    pub bytes: Vec<u8>,
}

/// A network interface as netlab needs it.
#[derive(Debug, Clone)]
pub struct Interface {
    /// Name (`lo`, `eth0`, `veth-c`).
    pub name: String,
    /// Kernel index.
    pub index: u32,
    /// Hardware address, when the interface has one.
    pub mac: Option<[u8; 6]>,
    /// Addresses configured on it.
    pub ips: Vec<IpAddr>,
    /// The same addresses with their prefix lengths.
    pub networks: Vec<(IpAddr, u8)>,
    /// True for the loopback interface.
    pub loopback: bool,
    /// True when administratively up.
    pub up: bool,
}

/// All interfaces of the current network namespace.
pub fn interfaces() -> Vec<Interface> {
    pnet_datalink::interfaces()
        .into_iter()
        .map(|i| Interface {
            loopback: i.is_loopback(),
            up: i.is_up(),
            mac: i.mac.map(|m| m.octets()),
            ips: i.ips.iter().map(|n| n.ip()).collect(),
            networks: i.ips.iter().map(|n| (n.ip(), n.prefix())).collect(),
            index: i.index,
            name: i.name,
        })
        .collect()
}

/// Look an interface up by name, with the error a user can act on.
pub fn interface_by_name(name: &str) -> Result<Interface> {
    let all = interfaces();
    all.iter().find(|i| i.name == name).cloned().ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|i| i.name.as_str()).collect();
        Error::usage(format!(
            "unknown interface {name:?}: pick one of {} (see `ip link`)",
            names.join(", ")
        ))
    })
}

/// Statistics of one capture, for reports.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CaptureStats {
    /// Interface captured on.
    pub interface: String,
    /// Frames delivered to netlab (after the filter, before dropping `lo` duplicates).
    pub packets: u64,
    /// Frames the kernel dropped because netlab did not read fast enough.
    pub kernel_drops: u64,
    /// The pcap file written, if `--pcap` was given.
    pub pcap_file: Option<PathBuf>,
}

/// An open capture on one interface.
pub struct Capture {
    sock: PacketSocket,
    tx: Option<PacketSocket>,
    iface: Interface,
    pcap: Option<(PathBuf, PcapWriter<BufWriter<File>>)>,
    stats: CaptureStats,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("iface", &self.iface.name)
            .finish()
    }
}

impl Capture {
    /// Open a capture on `iface` with `filter`; write a pcap to `pcap` if given.
    /// Needs CAP_NET_RAW.
    pub fn open(iface: &Interface, filter: &bpf::Program, pcap: Option<&Path>) -> Result<Capture> {
        let sock = PacketSocket::open(iface.index, Some(filter))
            .ctx(|| format!("open AF_PACKET capture on {}", iface.name))?;
        let pcap = match pcap {
            Some(p) => {
                let f = File::create(p).ctx(|| format!("create pcap file {}", p.display()))?;
                let header = PcapHeader {
                    datalink: DataLink::ETHERNET,
                    ts_resolution: TsResolution::NanoSecond,
                    snaplen: bpf::SNAPLEN,
                    ..Default::default()
                };
                let w = PcapWriter::with_header(BufWriter::new(f), header)
                    .map_err(|e| Error::measure(format!("write pcap {}: {e}", p.display())))?;
                Some((p.to_path_buf(), w))
            }
            None => None,
        };
        Ok(Capture {
            sock,
            tx: None,
            stats: CaptureStats {
                interface: iface.name.clone(),
                pcap_file: pcap.as_ref().map(|(p, _)| p.clone()),
                ..Default::default()
            },
            iface: iface.clone(),
            pcap,
            buf: vec![0u8; bpf::SNAPLEN as usize],
        })
    }

    /// The interface this capture is bound to.
    pub fn interface(&self) -> &Interface {
        &self.iface
    }

    /// Send one whole Ethernet frame out of this capture's interface. A second socket sends
    /// (with a filter that accepts nothing), because the kernel never shows a packet socket
    /// its own transmissions: this way the capture sees our frame leave, with its timestamp.
    pub fn send(&mut self, frame: &[u8]) -> Result<()> {
        if self.tx.is_none() {
            let none = bpf::Program(vec![bpf::Insn::new(0x06, 0, 0, 0)]);
            self.tx = Some(
                PacketSocket::open(self.iface.index, Some(&none))
                    .ctx(|| format!("open AF_PACKET sender on {}", self.iface.name))?,
            );
        }
        match &self.tx {
            Some(tx) => tx
                .send(frame)
                .map(|_| ())
                .ctx(|| format!("send a frame on {}", self.iface.name)),
            None => Ok(()),
        }
    }

    /// Wait up to `timeout` for the next frame. `Ok(None)` on timeout.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<Packet>> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.sock.recv(&mut self.buf) {
                Ok((meta, n)) => {
                    self.stats.packets += 1;
                    if self.iface.loopback && meta.pkttype == 4 {
                        continue; // lo: the outgoing copy duplicates the received one
                    }
                    let bytes = self.buf[..n].to_vec();
                    if let Some((path, w)) = self.pcap.as_mut() {
                        let ts = Duration::from_nanos(meta.ts_ns);
                        w.write_packet(&PcapPacket::new(ts, meta.wire_len as u32, &bytes))
                            .map_err(|e| {
                                Error::measure(format!("write pcap {}: {e}", path.display()))
                            })?;
                    }
                    return Ok(Some(Packet {
                        ts_ns: meta.ts_ns,
                        direction: Direction::from_pkttype(meta.pkttype),
                        ifindex: meta.ifindex,
                        bytes,
                    }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(format!("read capture on {}", self.iface.name), e)),
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::io("poll capture", e.into())),
            }
        }
    }

    /// Everything already queued, without waiting.
    pub fn drain(&mut self) -> Result<Vec<Packet>> {
        let mut out = Vec::new();
        while let Some(p) = self.next(Duration::ZERO)? {
            out.push(p);
        }
        Ok(out)
    }

    /// Flush the pcap file and return the final statistics (kernel drops included).
    pub fn finish(&mut self) -> Result<CaptureStats> {
        if let Ok(st) = self.sock.stats() {
            self.stats.kernel_drops += u64::from(st.drops);
        }
        if let Some((path, w)) = self.pcap.take() {
            use std::io::Write;
            w.into_writer()
                .flush()
                .ctx(|| format!("write pcap {}", path.display()))?;
        }
        Ok(self.stats.clone())
    }
}

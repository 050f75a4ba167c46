//! The probing edge of `tcp handshake`: connect() or a crafted SYN, with the capture core
//! watching the wire. All decisions are made by [`crate::tcp::analysis`] from what was seen.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::capture::Capture;
use crate::error::{Error, Result};
use crate::net::{self, ConnectEnd};
use crate::sys;
use crate::tcp::analysis::{self, Flow, Observation};
use crate::tcp::report::{IcmpInfo, Mode, Outcome, Probe, Side, Teardown, TimingSource};
use crate::tcp::stats::round_ns;
use crate::tcp::wire::{self, Frame, flags};

/// How long to keep reading the capture for frames that are already on their way once the
/// socket has told us the outcome (they are normally queued before connect() returns).
const GRACE: Duration = Duration::from_millis(100);

/// Everything a probe needs, set up once.
pub struct Prober {
    /// connect or syn.
    pub mode: Mode,
    /// The target.
    pub dst: SocketAddr,
    /// Our source address (route lookup or --source).
    pub src: IpAddr,
    /// --source given explicitly.
    pub bind_source: bool,
    /// --interface.
    pub device: Option<String>,
    /// The capture, when privileged.
    pub capture: Option<Capture>,
    /// Per-probe timeout.
    pub timeout: Duration,
    /// --close.
    pub close: bool,
    /// --hold.
    pub hold: Duration,
    /// MSS our crafted SYN offers.
    pub syn_mss: u16,
    /// Flows of earlier probes, to attribute late frames.
    pub past: Vec<Flow>,
    /// Late SYN-ACKs for earlier probes.
    pub late_duplicates: u32,
    /// Frames of the target that matched no probe.
    pub unmatched: u32,
    /// Next hop and interface index (None on `lo`), to keep a cold neighbour cache out of
    /// TCP_INFO timing.
    pub next_hop: Option<(IpAddr, u32)>,
    /// Ports reserved by earlier `--syn` probes, so no port is reused within a run.
    pub holders: std::collections::VecDeque<Socket>,
    /// Things the report should say.
    pub notes: Vec<String>,
}

/// How many `--syn` source ports stay reserved (a ring: older ones are released).
const HELD_PORTS: usize = 4096;

impl Prober {
    fn collect(
        &mut self,
        deadline: Instant,
        done: impl Fn(&[Frame]) -> bool,
        frames: &mut Vec<Frame>,
    ) -> Result<()> {
        let Some(cap) = self.capture.as_mut() else {
            return Ok(());
        };
        loop {
            // Everything already queued first, so `done` judges all that arrived.
            while let Some(p) = cap.next(Duration::ZERO)? {
                frames.push(wire::parse(p.ts_ns, &p.bytes));
            }
            if done(frames) || sys::interrupted() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            match cap.next(left)? {
                Some(p) => frames.push(wire::parse(p.ts_ns, &p.bytes)),
                None => return Ok(()),
            }
        }
    }

    /// Frames outside this probe's flow: late answers to earlier probes, or strays.
    pub fn sort_strays(&mut self, flow: &Flow, frames: &[Frame]) {
        for f in frames {
            if let Frame::Tcp(s) = f {
                if flow.owns(s) {
                    continue;
                }
                if self.past.iter().any(|p| p.owns(s)) {
                    if s.flags & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK {
                        self.late_duplicates += 1;
                    }
                } else if s.src.ip() == self.dst.ip() || s.dst.ip() == self.dst.ip() {
                    self.unmatched += 1;
                }
            }
        }
    }

    /// Run probe number `seq`.
    pub fn probe(&mut self, seq: u32) -> Result<Probe> {
        let mut frames = Vec::new();
        if let Some(cap) = self.capture.as_mut() {
            // Whatever arrived between probes belongs to earlier probes (or nobody).
            for p in cap.drain()? {
                frames.push(wire::parse(p.ts_ns, &p.bytes));
            }
            let none = Flow {
                local: SocketAddr::new(self.src, 0),
                remote: self.dst,
            };
            self.sort_strays(&none, &frames);
            frames.clear();
        }
        let probe = match self.mode {
            Mode::Connect => self.probe_connect(seq, &mut frames)?,
            Mode::Syn => self.probe_syn(seq, &mut frames)?,
        };
        Ok(probe)
    }

    fn blank(&self, seq: u32, local: SocketAddr, source: TimingSource) -> Probe {
        Probe {
            seq,
            outcome: Outcome::Filtered,
            rtt_us: None,
            timing_source: source,
            connect_us: None,
            neighbour_us: None,
            local: local.to_string(),
            remote: self.dst.to_string(),
            syn_ts_ns: None,
            reply_ts_ns: None,
            syn_retransmits: 0,
            syn: None,
            synack: None,
            rst: None,
            icmp: None,
            duplicates: 0,
            teardown: None,
            error: None,
        }
    }

    /// Fill a probe from the wire observation.
    fn apply(&self, p: &mut Probe, o: &Observation, our_isn: Option<u32>) {
        let syn = o.answered_syn().or(o.syns.first());
        p.syn = syn.map(analysis::syn_info);
        p.syn_ts_ns = o.answered_syn().map(|s| s.ts_ns);
        p.syn_retransmits = (o.syns.len() as u32).saturating_sub(1);
        p.neighbour_us = o.neighbour_us();
        p.duplicates = o.duplicates;
        let isn = our_isn.or(syn.map(|s| s.seq));
        if let Some(outcome) = o.outcome() {
            p.outcome = outcome;
            p.rtt_us = o.rtt_us();
            p.timing_source = TimingSource::AfPacket;
            p.reply_ts_ns = o
                .reply
                .as_ref()
                .map(|r| r.ts_ns)
                .or(o.icmp.as_ref().map(|i| i.ts_ns));
        }
        if let Some(r) = &o.reply {
            if r.flags & flags::SYN != 0 {
                p.synack = Some(analysis::synack_info(r, isn));
            } else {
                p.rst = Some(analysis::rst_info(r));
            }
        }
        p.icmp = o.icmp.as_ref().map(analysis::icmp_info);
    }

    /// Without a capture, TCP_INFO's RTT would include an ARP / ND exchange: when the
    /// neighbour cache has no usable entry, a warm-up SYN resolves it first (the socket is
    /// closed as soon as the entry is usable).
    fn warm_neighbour(&mut self, seq: u32) -> Result<()> {
        let Some((hop, ifindex)) = self.next_hop else {
            return Ok(());
        };
        let usable = || {
            net::netlink::neighbour(hop, ifindex)
                .ok()
                .flatten()
                .is_some_and(|n| n.usable())
        };
        if usable() {
            return Ok(());
        }
        let source = self.bind_source.then_some(self.src);
        let Ok(warm) = net::start_connect(self.dst, self.device.as_deref(), source) else {
            return Ok(());
        };
        let deadline = Instant::now() + self.timeout;
        while Instant::now() < deadline && !usable() && !sys::interrupted() {
            std::thread::sleep(Duration::from_micros(200));
        }
        drop(warm);
        self.notes.push(format!(
            "probe {seq}: the neighbour cache had no entry for {hop}; a warm-up SYN resolved it first, \
             so TCP_INFO's RTT does not include ARP/ND"
        ));
        Ok(())
    }

    fn probe_connect(&mut self, seq: u32, frames: &mut Vec<Frame>) -> Result<Probe> {
        if self.capture.is_none() {
            self.warm_neighbour(seq)?;
        }
        let source = self.bind_source.then_some(self.src);
        let conn = match net::start_connect(self.dst, self.device.as_deref(), source) {
            Ok(c) => c,
            Err(Error::Io { source: e, .. }) => {
                // Refused locally before any packet (no route, network unreachable).
                let mut p = self.blank(seq, SocketAddr::new(self.src, 0), TimingSource::Userspace);
                p.outcome = match net::classify_connect_error(e) {
                    ConnectEnd::Refused => Outcome::Closed,
                    ConnectEnd::Unreachable(e) | ConnectEnd::Failed(e) => {
                        p.error = Some(format!("connect: {e}"));
                        Outcome::Unreachable
                    }
                    _ => Outcome::Filtered,
                };
                return Ok(p);
            }
            Err(e) => return Err(e),
        };
        let flow = Flow {
            local: conn.local,
            remote: self.dst,
        };
        let end = conn.wait(conn.started + self.timeout);
        let elapsed_us = round_ns(conn.started.elapsed().as_nanos() as f64 / 1000.0);
        let privileged = self.capture.is_some();
        let mut p = self.blank(
            seq,
            conn.local,
            if privileged {
                TimingSource::AfPacket
            } else {
                TimingSource::TcpInfo
            },
        );
        let mut tcpi = None;
        match &end {
            ConnectEnd::Connected => {
                p.outcome = Outcome::Open;
                p.connect_us = Some(elapsed_us);
                tcpi = sys::tcp_info(conn.sock.as_fd()).ok();
            }
            ConnectEnd::Refused => {
                p.outcome = Outcome::Closed;
                p.connect_us = Some(elapsed_us);
            }
            ConnectEnd::Unreachable(e) => {
                p.outcome = Outcome::Unreachable;
                p.error = Some(format!("connect: {e}"));
            }
            ConnectEnd::TimedOut => p.outcome = Outcome::Filtered,
            ConnectEnd::Failed(e) => {
                return Err(Error::measure(format!("connect {}: {e}", self.dst)));
            }
        }
        // Frames already on their way: SYN, the answer, our ACK.
        let want_ack = matches!(end, ConnectEnd::Connected);
        let fl = flow;
        self.collect(
            Instant::now() + GRACE,
            |fr| {
                let o = Observation::from_frames(&fl, fr);
                match o.outcome() {
                    Some(Outcome::Open) => !want_ack || o.ack.is_some(),
                    Some(_) => true,
                    None => !matches!(
                        end,
                        ConnectEnd::Connected | ConnectEnd::Refused | ConnectEnd::Unreachable(_)
                    ),
                }
            },
            frames,
        )?;
        let mut o = Observation::from_frames(&flow, frames);
        self.apply(&mut p, &o, None);
        if !privileged {
            if let Some(ti) = tcpi {
                p.rtt_us = Some(f64::from(ti.rtt_us));
                p.synack = Some(crate::tcp::report::SynAckInfo {
                    wscale: (ti.options & sys::TCPI_OPT_WSCALE != 0).then_some(ti.snd_wscale),
                    sack_perm: Some(ti.options & sys::TCPI_OPT_SACK != 0),
                    timestamps: Some(ti.options & sys::TCPI_OPT_TIMESTAMPS != 0),
                    ecn: Some(ti.options & sys::TCPI_OPT_ECN != 0),
                    ..Default::default()
                });
            } else if p.outcome == Outcome::Closed {
                p.rtt_us = p.connect_us;
                p.timing_source = TimingSource::Userspace;
            }
            if let ConnectEnd::Unreachable(_) = end {
                p.icmp = Some(IcmpInfo {
                    family: if self.dst.is_ipv4() { "icmp" } else { "icmpv6" },
                    icmp_type: None,
                    code: None,
                    source: None,
                    description: p.error.clone().unwrap_or_default(),
                });
            }
        } else if p.outcome == Outcome::Open && o.reply.is_none() {
            // The socket says connected but the capture missed the SYN-ACK (kernel drop).
            p.timing_source = TimingSource::TcpInfo;
            p.rtt_us = tcpi.map(|t| f64::from(t.rtt_us));
        }
        if self.close && matches!(end, ConnectEnd::Connected) {
            p.teardown = Some(self.close_and_watch(conn.sock, &flow, frames, &mut o)?);
        }
        self.sort_strays(&flow, frames);
        self.past.push(flow);
        Ok(p)
    }

    fn close_and_watch(
        &mut self,
        sock: Socket,
        flow: &Flow,
        frames: &mut Vec<Frame>,
        o: &mut Observation,
    ) -> Result<Teardown> {
        // Hold: give the server the chance to close first (or to send a banner).
        let mut peer_closed = false;
        let hold_end = Instant::now() + self.hold;
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        while Instant::now() < hold_end && !sys::interrupted() {
            let left = hold_end.saturating_duration_since(Instant::now());
            let ms = u16::try_from(left.as_millis().max(1)).unwrap_or(u16::MAX);
            let mut fds = [nix::poll::PollFd::new(
                sock.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)).unwrap_or(0) == 0 {
                continue;
            }
            match sock.recv(&mut buf) {
                Ok(0) => {
                    peer_closed = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => break,
            }
        }
        drop(sock); // close(): our FIN (or the answer to theirs)
        let our_isn = o.syns.first().map(|s| s.seq).unwrap_or(0);
        let their_isn = o.reply.as_ref().map(|r| r.seq).unwrap_or(0);
        if self.capture.is_none() {
            let first = if peer_closed {
                Side::Server
            } else {
                Side::Client
            };
            return Ok(Teardown {
                first_fin: first,
                time_wait: first,
                duration_us: None,
                complete: false,
                reset: false,
                segments: Vec::new(),
            });
        }
        let fl = *flow;
        self.collect(
            Instant::now() + self.timeout,
            |fr| {
                let o = Observation::from_frames(&fl, fr);
                let t = analysis::teardown(&fl, &o.after, our_isn, their_isn);
                t.complete || t.reset
            },
            frames,
        )?;
        *o = Observation::from_frames(flow, frames);
        Ok(analysis::teardown(flow, &o.after, our_isn, their_isn))
    }

    fn probe_syn(&mut self, seq: u32, frames: &mut Vec<Frame>) -> Result<Probe> {
        // Reserve a local port with a bound, non-listening socket: nobody else gets it, and
        // the kernel still answers the SYN-ACK with a RST (which closes the half-open probe).
        let domain = Domain::for_address(self.dst);
        let holder = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
            .map_err(|e| Error::io("open TCP socket", e))?;
        holder
            .bind(&SocketAddr::new(self.src, 0).into())
            .map_err(|e| Error::io(format!("reserve a port on {}", self.src), e))?;
        let local = holder
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .ok_or_else(|| Error::measure("read reserved port"))?;
        let isn: u32 = rand::random();
        let tsval: u32 = rand::random();
        let segment = build_syn(local, self.dst, isn, tsval, self.syn_mss);
        let raw = Socket::new(domain, Type::RAW, Some(Protocol::TCP))
            .map_err(|e| Error::io("open raw TCP socket (needs CAP_NET_RAW)", e))?;
        if let Some(dev) = &self.device {
            raw.bind_device(Some(dev.as_bytes()))
                .map_err(|e| Error::io(format!("bind raw socket to {dev}"), e))?;
        }
        let dst_raw = SockAddr::from(SocketAddr::new(self.dst.ip(), 0));
        raw.send_to(&segment, &dst_raw)
            .map_err(|e| Error::io(format!("send SYN to {}", self.dst), e))?;
        let flow = Flow {
            local,
            remote: self.dst,
        };
        let fl = flow;
        self.collect(
            Instant::now() + self.timeout,
            |fr| Observation::from_frames(&fl, fr).outcome().is_some(),
            frames,
        )?;
        // Our kernel's RST follows the SYN-ACK; give it a moment so the capture shows it.
        self.collect(
            Instant::now() + Duration::from_millis(20),
            |_| false,
            frames,
        )?;
        let o = Observation::from_frames(&flow, frames);
        let mut p = self.blank(seq, local, TimingSource::AfPacket);
        self.apply(&mut p, &o, Some(isn));
        if p.syn.is_none() {
            p.error = Some("our SYN was not seen on the capture interface".into());
        }
        self.holders.push_back(holder);
        if self.holders.len() > HELD_PORTS {
            self.holders.pop_front();
        }
        self.sort_strays(&flow, frames);
        self.past.push(flow);
        Ok(p)
    }
}

/// A SYN like Linux sends: MSS, SACK-permitted, timestamps, NOP, window scale 7 (built
/// with pnet_packet; checksum over the pseudo-header of `src` → `dst`).
pub fn build_syn(src: SocketAddr, dst: SocketAddr, isn: u32, tsval: u32, mss: u16) -> Vec<u8> {
    use pnet_packet::tcp::{MutableTcpPacket, TcpFlags, TcpOption};
    let mut buf = vec![0u8; 40];
    if let Some(mut t) = MutableTcpPacket::new(&mut buf) {
        t.set_source(src.port());
        t.set_destination(dst.port());
        t.set_sequence(isn);
        t.set_acknowledgement(0);
        t.set_data_offset(10);
        t.set_flags(TcpFlags::SYN);
        t.set_window(64240);
        t.set_options(&[
            TcpOption::mss(mss),
            TcpOption::sack_perm(),
            TcpOption::timestamp(tsval, 0),
            TcpOption::nop(),
            TcpOption::wscale(7),
        ]);
        let sum = match (src.ip(), dst.ip()) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                pnet_packet::tcp::ipv4_checksum(&t.to_immutable(), &s, &d)
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                pnet_packet::tcp::ipv6_checksum(&t.to_immutable(), &s, &d)
            }
            _ => 0,
        };
        t.set_checksum(sum);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crafted_syn_parses_back_with_valid_checksum() {
        use pnet_packet::tcp::{TcpPacket, ipv4_checksum, ipv6_checksum};
        let src: SocketAddr = "198.18.0.1:40000".parse().unwrap();
        let dst: SocketAddr = "198.18.0.2:443".parse().unwrap();
        let seg = build_syn(src, dst, 0xdeadbeef, 7, 1460);
        assert_eq!(seg.len(), 40);
        let pkt = TcpPacket::new(&seg).unwrap();
        assert_eq!(
            (pkt.get_source(), pkt.get_destination(), pkt.get_sequence()),
            (40000, 443, 0xdeadbeef)
        );
        assert_eq!(pkt.get_flags(), crate::tcp::wire::flags::SYN);
        let sum = ipv4_checksum(
            &pkt,
            &"198.18.0.1".parse().unwrap(),
            &"198.18.0.2".parse().unwrap(),
        );
        assert_eq!(sum, pkt.get_checksum());
        let mut o = crate::tcp::wire::TcpOptions::default();
        crate::tcp::wire::parse_options(&seg[20..], &mut o);
        assert_eq!(
            (o.mss, o.wscale, o.sack_perm, o.ts_val),
            (Some(1460), Some(7), true, Some(7))
        );
        let s6: SocketAddr = "[2001:2::1]:40000".parse().unwrap();
        let d6: SocketAddr = "[2001:2::2]:443".parse().unwrap();
        let seg6 = build_syn(s6, d6, 1, 2, 1440);
        let pkt6 = TcpPacket::new(&seg6).unwrap();
        let sum6 = ipv6_checksum(
            &pkt6,
            &"2001:2::1".parse().unwrap(),
            &"2001:2::2".parse().unwrap(),
        );
        assert_eq!(sum6, pkt6.get_checksum());
        assert_ne!(sum6, 0);
    }
}

//! What the captured frames say about one probe (pure: frames and timestamps in, facts out).

use std::net::SocketAddr;

use crate::tcp::report::{
    IcmpInfo, Outcome, RstInfo, Side, SynAckInfo, SynInfo, Teardown, TeardownSegment,
};
use crate::tcp::stats::round_ns;
use crate::tcp::wire::{Frame, IcmpError, Segment, flag_names, flags};

/// The two ends of a probe's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// netlab's address and port.
    pub local: SocketAddr,
    /// The target.
    pub remote: SocketAddr,
}

impl Flow {
    /// Segment sent by us on this flow.
    pub fn is_out(&self, s: &Segment) -> bool {
        s.src == self.local && s.dst == self.remote
    }
    /// Segment received on this flow.
    pub fn is_in(&self, s: &Segment) -> bool {
        s.src == self.remote && s.dst == self.local
    }
    /// Either direction.
    pub fn owns(&self, s: &Segment) -> bool {
        self.is_out(s) || self.is_in(s)
    }
}

/// Facts about one probe from its frames.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Outgoing SYNs, in order.
    pub syns: Vec<Segment>,
    /// The first SYN-ACK or RST from the target.
    pub reply: Option<Segment>,
    /// SYN-ACKs after the first.
    pub duplicates: u32,
    /// Our ACK completing the handshake.
    pub ack: Option<Segment>,
    /// An ICMP error quoting one of our SYNs.
    pub icmp: Option<IcmpError>,
    /// Neighbour resolution before the first SYN: (request ts, reply ts).
    pub neighbour: Option<(u64, u64)>,
    /// Every segment of the flow after the handshake, in order.
    pub after: Vec<Segment>,
}

fn is_synack(s: &Segment) -> bool {
    s.flags & (flags::SYN | flags::ACK) == flags::SYN | flags::ACK
}

impl Observation {
    /// Sort the frames of a probe's time window into facts about `flow`.
    pub fn from_frames(flow: &Flow, frames: &[Frame]) -> Observation {
        let mut o = Observation::default();
        let mut nd_requests: Vec<(u64, std::net::IpAddr)> = Vec::new();
        for f in frames {
            match f {
                Frame::Tcp(s) if flow.is_out(s) => {
                    if s.flags & flags::SYN != 0 && s.flags & flags::ACK == 0 {
                        o.syns.push(s.clone());
                    } else if o.reply.as_ref().is_some_and(is_synack)
                        && o.ack.is_none()
                        && s.flags & flags::ACK != 0
                    {
                        o.ack = Some(s.clone());
                        if s.flags & (flags::FIN | flags::RST) != 0 || s.payload_len > 0 {
                            o.after.push(s.clone());
                        }
                    } else if o.reply.is_some() {
                        o.after.push(s.clone());
                    }
                }
                Frame::Tcp(s) if flow.is_in(s) => {
                    let answer = is_synack(s) || s.flags & flags::RST != 0;
                    if o.reply.is_none() && answer && !o.syns.is_empty() {
                        o.reply = Some(s.clone());
                    } else if is_synack(s) && o.reply.is_some() {
                        o.duplicates += 1;
                    } else if o.reply.is_some() {
                        o.after.push(s.clone());
                    }
                }
                Frame::Icmp(e)
                    if e.quoted_src == flow.local
                        && e.quoted_dst == flow.remote
                        && o.icmp.is_none()
                        && o.reply.is_none() =>
                {
                    o.icmp = Some(e.clone());
                }
                Frame::Neighbour(n) if o.syns.is_empty() => {
                    if n.request {
                        nd_requests.push((n.ts_ns, n.target));
                    } else if o.neighbour.is_none() {
                        // A reply (or advertisement) for an address we asked about.
                        let asked = nd_requests
                            .iter()
                            .find(|(_, t)| *t == n.target || *t == n.sender);
                        if let Some((ts, _)) = asked {
                            o.neighbour = Some((*ts, n.ts_ns));
                        }
                    }
                }
                _ => {}
            }
        }
        o
    }

    /// The SYN the reply answers: the last one sent before it (Karn: ambiguous after a
    /// retransmission, which `syn_retransmits` reports).
    pub fn answered_syn(&self) -> Option<&Segment> {
        let limit = self.reply.as_ref().map(|r| r.ts_ns).unwrap_or(u64::MAX);
        self.syns.iter().rev().find(|s| s.ts_ns <= limit)
    }

    /// The outcome the wire shows, if it shows one.
    pub fn outcome(&self) -> Option<Outcome> {
        match (&self.reply, &self.icmp) {
            (Some(r), _) if is_synack(r) => Some(Outcome::Open),
            (Some(_), _) => Some(Outcome::Closed),
            (None, Some(_)) => Some(Outcome::Unreachable),
            (None, None) => None,
        }
    }

    /// SYN → reply on the wire, µs.
    pub fn rtt_us(&self) -> Option<f64> {
        let reply = self
            .reply
            .as_ref()
            .map(|r| r.ts_ns)
            .or(self.icmp.as_ref().map(|i| i.ts_ns))?;
        let syn = self.answered_syn()?;
        Some(round_ns(reply.saturating_sub(syn.ts_ns) as f64 / 1000.0))
    }

    /// Neighbour resolution time, µs.
    pub fn neighbour_us(&self) -> Option<f64> {
        self.neighbour
            .map(|(a, b)| round_ns(b.saturating_sub(a) as f64 / 1000.0))
    }
}

/// Guess the initial TTL a sender used: the next of the common starting values.
pub fn initial_ttl(ttl: u8) -> u8 {
    [32u8, 64, 128, 255]
        .into_iter()
        .find(|i| ttl <= *i)
        .unwrap_or(255)
}

/// Our SYN, as sent.
pub fn syn_info(s: &Segment) -> SynInfo {
    SynInfo {
        isn: s.seq,
        window: s.window,
        mss: s.options.mss,
        wscale: s.options.wscale,
        sack_perm: s.options.sack_perm,
        timestamps: s.options.ts_val.is_some(),
        ecn: s.flags & (flags::ECE | flags::CWR) == flags::ECE | flags::CWR,
        unknown_options: s.options.unknown.clone(),
    }
}

/// The SYN-ACK, decoded and checked against our ISN.
pub fn synack_info(s: &Segment, our_isn: Option<u32>) -> SynAckInfo {
    let init = initial_ttl(s.ttl);
    SynAckInfo {
        isn: Some(s.seq),
        ack: Some(s.ack),
        ack_ok: our_isn.map(|isn| s.ack == isn.wrapping_add(1)),
        ttl: Some(s.ttl),
        initial_ttl: Some(init),
        hops: Some(init - s.ttl),
        window: Some(s.window),
        mss: s.options.mss,
        wscale: s.options.wscale,
        sack_perm: Some(s.options.sack_perm),
        timestamps: Some(s.options.ts_val.is_some()),
        ecn: Some(s.flags & flags::ECE != 0),
        unknown_options: s.options.unknown.clone(),
    }
}

/// The RST, decoded.
pub fn rst_info(s: &Segment) -> RstInfo {
    let init = initial_ttl(s.ttl);
    RstInfo {
        ttl: s.ttl,
        initial_ttl: init,
        hops: init - s.ttl,
        ack: s.ack,
    }
}

/// The ICMP error in words.
pub fn icmp_info(e: &IcmpError) -> IcmpInfo {
    let v6 = e.source.is_ipv6();
    let description = if v6 {
        match (e.icmp_type, e.code) {
            (1, 0) => "no route to destination",
            (1, 1) => "administratively prohibited",
            (1, 2) => "beyond scope of source address",
            (1, 3) => "address unreachable",
            (1, 4) => "port unreachable",
            (1, 5) => "source address failed policy",
            (1, 6) => "reject route to destination",
            (2, _) => "packet too big",
            (3, _) => "hop limit exceeded",
            _ => "parameter problem",
        }
    } else {
        match (e.icmp_type, e.code) {
            (3, 0) => "net unreachable",
            (3, 1) => "host unreachable",
            (3, 2) => "protocol unreachable",
            (3, 3) => "port unreachable",
            (3, 4) => "fragmentation needed",
            (3, 9) | (3, 10) | (3, 13) => "administratively prohibited",
            (3, _) => "destination unreachable",
            (11, _) => "ttl exceeded",
            _ => "parameter problem",
        }
    };
    IcmpInfo {
        family: if v6 { "icmpv6" } else { "icmp" },
        icmp_type: Some(e.icmp_type),
        code: Some(e.code),
        source: Some(e.source.to_string()),
        description: description.to_string(),
    }
}

/// The teardown from the segments after the handshake.
pub fn teardown(flow: &Flow, after: &[Segment], our_isn: u32, their_isn: u32) -> Teardown {
    let fin_out = after
        .iter()
        .find(|s| flow.is_out(s) && s.flags & flags::FIN != 0);
    let fin_in = after
        .iter()
        .find(|s| flow.is_in(s) && s.flags & flags::FIN != 0);
    let reset = after.iter().any(|s| s.flags & flags::RST != 0);
    // A FIN that acknowledges the other side's FIN was sent after receiving it.
    let acks = |fin: &Segment, other: &Segment| {
        let other_fin_end = other
            .seq
            .wrapping_add(other.payload_len as u32)
            .wrapping_add(1);
        fin.flags & flags::ACK != 0 && fin.ack == other_fin_end
    };
    let first_fin = match (fin_out, fin_in) {
        (Some(o), Some(i)) => {
            if !acks(o, i) && !acks(i, o) {
                Side::Both
            } else if o.ts_ns <= i.ts_ns {
                Side::Client
            } else {
                Side::Server
            }
        }
        (Some(_), None) => Side::Client,
        (None, Some(_)) => Side::Server,
        (None, None) => Side::Unknown,
    };
    let time_wait = if reset { Side::Unknown } else { first_fin };
    // Complete: both FINs, and an ACK of the later FIN from the other side.
    let complete = match (fin_out, fin_in) {
        (Some(o), Some(i)) => {
            let last_fin = if o.ts_ns >= i.ts_ns { o } else { i };
            let end = last_fin
                .seq
                .wrapping_add(last_fin.payload_len as u32)
                .wrapping_add(1);
            after.iter().any(|s| {
                s.ts_ns >= last_fin.ts_ns
                    && s.src == last_fin.dst
                    && s.flags & flags::ACK != 0
                    && s.ack == end
            })
        }
        _ => false,
    };
    let t0 = [fin_out, fin_in].iter().flatten().map(|s| s.ts_ns).min();
    let segments: Vec<TeardownSegment> = match t0 {
        Some(t0) => after
            .iter()
            .filter(|s| s.ts_ns >= t0 || s.flags & flags::FIN != 0)
            .map(|s| {
                let out = flow.is_out(s);
                let (sb, ab) = if out {
                    (our_isn, their_isn)
                } else {
                    (their_isn, our_isn)
                };
                TeardownSegment {
                    t_us: round_ns(s.ts_ns.saturating_sub(t0) as f64 / 1000.0),
                    dir: if out { "out" } else { "in" },
                    flags: flag_names(s.flags),
                    rel_seq: s.seq.wrapping_sub(sb),
                    rel_ack: s.ack.wrapping_sub(ab),
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let duration_us = match (t0, segments.last()) {
        (Some(_), Some(last)) => Some(last.t_us),
        _ => None,
    };
    Teardown {
        first_fin,
        time_wait,
        duration_us,
        complete,
        reset,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::wire::{Neighbour, TcpOptions};

    const C: &str = "198.18.0.1:40000";
    const S: &str = "198.18.0.2:8080";

    fn seg(ts: u64, out: bool, fl: u8, seq: u32, ack: u32) -> Frame {
        let (src, dst) = if out { (C, S) } else { (S, C) };
        Frame::Tcp(Segment {
            ts_ns: ts,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            flags: fl,
            seq,
            ack,
            window: 64240,
            ttl: if out { 64 } else { 62 },
            ip_ecn: 0,
            payload_len: 0,
            options: TcpOptions {
                mss: Some(1460),
                ..Default::default()
            },
        })
    }
    fn flow() -> Flow {
        Flow {
            local: C.parse().unwrap(),
            remote: S.parse().unwrap(),
        }
    }
    const SA: u8 = flags::SYN | flags::ACK;
    const FA: u8 = flags::FIN | flags::ACK;

    #[test]
    fn open_with_duplicate_and_neighbour() {
        let frames = vec![
            Frame::Neighbour(Neighbour {
                ts_ns: 100,
                request: true,
                target: "198.18.0.2".parse().unwrap(),
                sender: "198.18.0.1".parse().unwrap(),
            }),
            Frame::Neighbour(Neighbour {
                ts_ns: 400,
                request: false,
                target: "198.18.0.1".parse().unwrap(),
                sender: "198.18.0.2".parse().unwrap(),
            }),
            seg(1_000, true, flags::SYN, 10, 0),
            seg(41_500, false, SA, 500, 11),
            seg(41_600, true, flags::ACK, 11, 501),
            seg(90_000, false, SA, 500, 11),
        ];
        let o = Observation::from_frames(&flow(), &frames);
        assert_eq!(o.outcome(), Some(Outcome::Open));
        assert_eq!(o.rtt_us(), Some(40.5));
        assert_eq!(o.neighbour_us(), Some(0.3));
        assert_eq!(o.duplicates, 1);
        assert!(o.ack.is_some());
        let sa = synack_info(o.reply.as_ref().unwrap(), Some(10));
        assert_eq!(sa.ack_ok, Some(true));
        assert_eq!(
            (sa.ttl, sa.initial_ttl, sa.hops),
            (Some(62), Some(64), Some(2))
        );
        assert_eq!(
            synack_info(o.reply.as_ref().unwrap(), Some(99)).ack_ok,
            Some(false)
        );
    }

    #[test]
    fn retransmitted_syn_times_from_the_last_one() {
        let frames = vec![
            seg(0, true, flags::SYN, 10, 0),
            seg(1_000_000_000, true, flags::SYN, 10, 0),
            seg(1_000_050_000, false, SA, 500, 11),
        ];
        let o = Observation::from_frames(&flow(), &frames);
        assert_eq!(o.syns.len(), 2);
        assert_eq!(o.rtt_us(), Some(50.0));
    }

    #[test]
    fn closed_filtered_unreachable() {
        let rst = [
            seg(0, true, flags::SYN, 10, 0),
            seg(30_000, false, flags::RST | flags::ACK, 0, 11),
        ];
        assert_eq!(
            Observation::from_frames(&flow(), &rst).outcome(),
            Some(Outcome::Closed)
        );
        let none = [seg(0, true, flags::SYN, 10, 0)];
        let o = Observation::from_frames(&flow(), &none);
        assert_eq!((o.outcome(), o.rtt_us()), (None, None));
        let icmp = [
            seg(0, true, flags::SYN, 10, 0),
            Frame::Icmp(IcmpError {
                ts_ns: 7_000,
                source: "198.18.0.2".parse().unwrap(),
                icmp_type: 3,
                code: 13,
                quoted_src: C.parse().unwrap(),
                quoted_dst: S.parse().unwrap(),
            }),
        ];
        let o = Observation::from_frames(&flow(), &icmp);
        assert_eq!(o.outcome(), Some(Outcome::Unreachable));
        assert_eq!(o.rtt_us(), Some(7.0));
        assert_eq!(
            icmp_info(o.icmp.as_ref().unwrap()).description,
            "administratively prohibited"
        );
        // A segment of another flow is ignored.
        let other = [seg(0, true, flags::SYN, 10, 0), {
            let Frame::Tcp(mut s) = seg(1, false, SA, 1, 11) else {
                unreachable!()
            };
            s.dst.set_port(40001);
            Frame::Tcp(s)
        }];
        assert_eq!(Observation::from_frames(&flow(), &other).outcome(), None);
    }

    #[test]
    fn ttl_guess() {
        assert_eq!(initial_ttl(64), 64);
        assert_eq!(initial_ttl(57), 64);
        assert_eq!(initial_ttl(113), 128);
        assert_eq!(initial_ttl(250), 255);
        assert_eq!(initial_ttl(1), 32);
    }

    fn after(frames: &[Frame]) -> Vec<Segment> {
        let mut all = vec![
            seg(0, true, flags::SYN, 10, 0),
            seg(10, false, SA, 500, 11),
            seg(20, true, flags::ACK, 11, 501),
        ];
        all.extend_from_slice(frames);
        Observation::from_frames(&flow(), &all).after
    }

    #[test]
    fn client_closes_first() {
        let a = after(&[
            seg(1_000, true, FA, 11, 501),
            seg(1_050, false, flags::ACK, 501, 12),
            seg(1_100, false, FA, 501, 12),
            seg(1_150, true, flags::ACK, 12, 502),
        ]);
        let t = teardown(&flow(), &a, 10, 500);
        assert_eq!(
            (t.first_fin, t.time_wait, t.complete, t.reset),
            (Side::Client, Side::Client, true, false)
        );
        assert_eq!(t.segments.len(), 4);
        assert_eq!(t.segments[0].flags, "FIN,ACK");
        assert_eq!((t.segments[0].rel_seq, t.segments[0].rel_ack), (1, 1));
        assert_eq!(t.duration_us, Some(0.15));
    }

    #[test]
    fn server_closes_first() {
        let a = after(&[
            seg(1_000, false, FA, 501, 11),
            seg(1_050, true, flags::ACK, 11, 502),
            seg(5_000, true, FA, 11, 502),
            seg(5_040, false, flags::ACK, 502, 12),
        ]);
        let t = teardown(&flow(), &a, 10, 500);
        assert_eq!(
            (t.first_fin, t.time_wait, t.complete),
            (Side::Server, Side::Server, true)
        );
    }

    #[test]
    fn simultaneous_and_reset() {
        let a = after(&[
            seg(1_000, true, FA, 11, 501),
            seg(1_001, false, FA, 501, 11),
            seg(1_050, true, flags::ACK, 12, 502),
            seg(1_051, false, flags::ACK, 502, 12),
        ]);
        let t = teardown(&flow(), &a, 10, 500);
        assert_eq!(
            (t.first_fin, t.time_wait, t.complete),
            (Side::Both, Side::Both, true)
        );
        let r = after(&[
            seg(1_000, true, FA, 11, 501),
            seg(1_050, false, flags::RST, 501, 0),
        ]);
        let t = teardown(&flow(), &r, 10, 500);
        assert!(t.reset && !t.complete);
        assert_eq!(t.time_wait, Side::Unknown);
    }
}

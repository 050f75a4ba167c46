//! Ethernet frames → typed values for handshake analysis (pure; pnet_packet views).
//! Parsing never panics: every view is length-checked by pnet's `new`, and anything short or
//! unknown becomes `Frame::Other`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use pnet_packet::Packet;
use pnet_packet::arp::ArpPacket;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::icmp::IcmpPacket;
use pnet_packet::icmpv6::Icmpv6Packet;
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::tcp::TcpPacket;
use serde::Serialize;

/// TCP flag bits.
pub mod flags {
    /// FIN
    pub const FIN: u8 = 0x01;
    /// SYN
    pub const SYN: u8 = 0x02;
    /// RST
    pub const RST: u8 = 0x04;
    /// PSH
    pub const PSH: u8 = 0x08;
    /// ACK
    pub const ACK: u8 = 0x10;
    /// URG
    pub const URG: u8 = 0x20;
    /// ECE
    pub const ECE: u8 = 0x40;
    /// CWR
    pub const CWR: u8 = 0x80;
}

/// TCP options as carried in a SYN or SYN-ACK.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TcpOptions {
    /// Maximum segment size.
    pub mss: Option<u16>,
    /// Window scale shift.
    pub wscale: Option<u8>,
    /// SACK permitted.
    pub sack_perm: bool,
    /// Timestamps option (TSval).
    pub ts_val: Option<u32>,
    /// Timestamps option (TSecr).
    pub ts_ecr: Option<u32>,
    /// Option kinds netlab does not decode (e.g. 30 MPTCP, 34 TFO), in order.
    pub unknown: Vec<u8>,
}

/// One TCP segment with the IP facts around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Kernel timestamp, ns.
    pub ts_ns: u64,
    /// Source.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// Flag byte.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Advertised window (unscaled).
    pub window: u16,
    /// TTL or hop limit.
    pub ttl: u8,
    /// ECN field of the IP header (0-3).
    pub ip_ecn: u8,
    /// Payload length.
    pub payload_len: usize,
    /// Decoded options.
    pub options: TcpOptions,
}

/// An ICMP / ICMPv6 error quoting a TCP segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcmpError {
    /// Kernel timestamp, ns.
    pub ts_ns: u64,
    /// Who sent the error.
    pub source: IpAddr,
    /// ICMP type.
    pub icmp_type: u8,
    /// ICMP code.
    pub code: u8,
    /// The quoted segment's source.
    pub quoted_src: SocketAddr,
    /// The quoted segment's destination.
    pub quoted_dst: SocketAddr,
}

/// An ARP or neighbour-discovery message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// Kernel timestamp, ns.
    pub ts_ns: u64,
    /// True for a request / solicitation, false for a reply / advertisement.
    pub request: bool,
    /// The address asked about (ARP target IP; ND target).
    pub target: IpAddr,
    /// The sender's protocol address (ARP sender IP; IPv6 source).
    pub sender: IpAddr,
}

/// What a captured frame is, for netlab's purposes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A TCP segment.
    Tcp(Segment),
    /// An ICMP error about a TCP segment.
    Icmp(IcmpError),
    /// ARP or ND.
    Neighbour(Neighbour),
    /// Anything else.
    Other,
}

/// Parse one Ethernet frame.
pub fn parse(ts_ns: u64, bytes: &[u8]) -> Frame {
    let Some(eth) = EthernetPacket::new(bytes) else {
        return Frame::Other;
    };
    match eth.get_ethertype() {
        EtherTypes::Ipv4 => parse_ipv4(ts_ns, eth.payload()),
        EtherTypes::Ipv6 => parse_ipv6(ts_ns, eth.payload()),
        EtherTypes::Arp => parse_arp(ts_ns, eth.payload()),
        _ => Frame::Other,
    }
}

fn parse_ipv4(ts_ns: u64, b: &[u8]) -> Frame {
    let Some(ip) = Ipv4Packet::new(b) else {
        return Frame::Other;
    };
    let hl = usize::from(ip.get_header_length()) * 4;
    let total = usize::from(ip.get_total_length()).min(b.len());
    if hl < 20 || total < hl || ip.get_fragment_offset() != 0 {
        return Frame::Other;
    }
    let payload = &b[hl..total];
    let src = IpAddr::V4(ip.get_source());
    let dst = IpAddr::V4(ip.get_destination());
    match ip.get_next_level_protocol() {
        IpNextHeaderProtocols::Tcp => tcp(ts_ns, src, dst, ip.get_ttl(), ip.get_ecn(), payload)
            .map(Frame::Tcp)
            .unwrap_or(Frame::Other),
        IpNextHeaderProtocols::Icmp => {
            let Some(icmp) = IcmpPacket::new(payload) else {
                return Frame::Other;
            };
            let t = icmp.get_icmp_type().0;
            // Destination unreachable (3), time exceeded (11), parameter problem (12).
            if !matches!(t, 3 | 11 | 12) || payload.len() < 8 {
                return Frame::Other;
            }
            quoted_v4(&payload[8..])
                .map(|(qs, qd)| {
                    Frame::Icmp(IcmpError {
                        ts_ns,
                        source: src,
                        icmp_type: t,
                        code: icmp.get_icmp_code().0,
                        quoted_src: qs,
                        quoted_dst: qd,
                    })
                })
                .unwrap_or(Frame::Other)
        }
        _ => Frame::Other,
    }
}

fn quoted_v4(b: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let ip = Ipv4Packet::new(b)?;
    let hl = usize::from(ip.get_header_length()) * 4;
    if ip.get_next_level_protocol() != IpNextHeaderProtocols::Tcp || b.len() < hl + 4 {
        return None;
    }
    let ports = &b[hl..hl + 4];
    Some((
        SocketAddr::new(
            IpAddr::V4(ip.get_source()),
            u16::from_be_bytes([ports[0], ports[1]]),
        ),
        SocketAddr::new(
            IpAddr::V4(ip.get_destination()),
            u16::from_be_bytes([ports[2], ports[3]]),
        ),
    ))
}

fn parse_ipv6(ts_ns: u64, b: &[u8]) -> Frame {
    let Some(ip) = Ipv6Packet::new(b) else {
        return Frame::Other;
    };
    let plen = usize::from(ip.get_payload_length()).min(b.len().saturating_sub(40));
    let payload = &b[40..40 + plen];
    let src = IpAddr::V6(ip.get_source());
    let dst = IpAddr::V6(ip.get_destination());
    let ecn = ip.get_traffic_class() & 0x3;
    match ip.get_next_header() {
        IpNextHeaderProtocols::Tcp => tcp(ts_ns, src, dst, ip.get_hop_limit(), ecn, payload)
            .map(Frame::Tcp)
            .unwrap_or(Frame::Other),
        IpNextHeaderProtocols::Icmpv6 => {
            let Some(icmp) = Icmpv6Packet::new(payload) else {
                return Frame::Other;
            };
            let t = icmp.get_icmpv6_type().0;
            match t {
                // Destination unreachable (1), packet too big (2), time exceeded (3),
                // parameter problem (4): 8 bytes of header, then the quoted packet.
                1..=4 if payload.len() >= 8 => quoted_v6(&payload[8..])
                    .map(|(qs, qd)| {
                        Frame::Icmp(IcmpError {
                            ts_ns,
                            source: src,
                            icmp_type: t,
                            code: icmp.get_icmpv6_code().0,
                            quoted_src: qs,
                            quoted_dst: qd,
                        })
                    })
                    .unwrap_or(Frame::Other),
                // Neighbour solicitation (135) / advertisement (136): target at bytes 8..24.
                135 | 136 if payload.len() >= 24 => {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(&payload[8..24]);
                    Frame::Neighbour(Neighbour {
                        ts_ns,
                        request: t == 135,
                        target: IpAddr::V6(Ipv6Addr::from(o)),
                        sender: src,
                    })
                }
                _ => Frame::Other,
            }
        }
        _ => Frame::Other,
    }
}

fn quoted_v6(b: &[u8]) -> Option<(SocketAddr, SocketAddr)> {
    let ip = Ipv6Packet::new(b)?;
    if ip.get_next_header() != IpNextHeaderProtocols::Tcp || b.len() < 44 {
        return None;
    }
    let ports = &b[40..44];
    Some((
        SocketAddr::new(
            IpAddr::V6(ip.get_source()),
            u16::from_be_bytes([ports[0], ports[1]]),
        ),
        SocketAddr::new(
            IpAddr::V6(ip.get_destination()),
            u16::from_be_bytes([ports[2], ports[3]]),
        ),
    ))
}

fn parse_arp(ts_ns: u64, b: &[u8]) -> Frame {
    let Some(arp) = ArpPacket::new(b) else {
        return Frame::Other;
    };
    let op = arp.get_operation().0;
    if !(op == 1 || op == 2) || arp.get_proto_addr_len() != 4 {
        return Frame::Other;
    }
    Frame::Neighbour(Neighbour {
        ts_ns,
        request: op == 1,
        target: IpAddr::V4(arp.get_target_proto_addr()),
        sender: IpAddr::V4(arp.get_sender_proto_addr()),
    })
}

fn tcp(ts_ns: u64, src: IpAddr, dst: IpAddr, ttl: u8, ecn: u8, b: &[u8]) -> Option<Segment> {
    let t = TcpPacket::new(b)?;
    let off = usize::from(t.get_data_offset()) * 4;
    if off < 20 || off > b.len() {
        return None;
    }
    let mut options = TcpOptions::default();
    parse_options(&b[20..off], &mut options);
    Some(Segment {
        ts_ns,
        src: SocketAddr::new(src, t.get_source()),
        dst: SocketAddr::new(dst, t.get_destination()),
        flags: t.get_flags(),
        seq: t.get_sequence(),
        ack: t.get_acknowledgement(),
        window: t.get_window(),
        ttl,
        ip_ecn: ecn,
        payload_len: b.len() - off,
        options,
    })
}

/// Decode TCP options by hand (so unknown kinds are kept, and malformed lengths stop the walk
/// instead of panicking).
pub fn parse_options(mut b: &[u8], o: &mut TcpOptions) {
    while let Some(&kind) = b.first() {
        match kind {
            0 => break,
            1 => {
                b = &b[1..];
                continue;
            }
            _ => {}
        }
        let Some(&len) = b.get(1) else { break };
        let len = usize::from(len);
        if len < 2 || len > b.len() {
            break;
        }
        let body = &b[2..len];
        match (kind, body.len()) {
            (2, 2) => o.mss = Some(u16::from_be_bytes([body[0], body[1]])),
            (3, 1) => o.wscale = Some(body[0]),
            (4, _) => o.sack_perm = true,
            (5, _) => {} // SACK blocks: not in a handshake
            (8, 8) => {
                o.ts_val = Some(u32::from_be_bytes([body[0], body[1], body[2], body[3]]));
                o.ts_ecr = Some(u32::from_be_bytes([body[4], body[5], body[6], body[7]]));
            }
            (2 | 3 | 8, _) => {} // known kind, malformed length: ignored
            _ => o.unknown.push(kind),
        }
        b = &b[len..];
    }
}

/// Flags as text, tcpdump-like: `SYN,ACK`.
pub fn flag_names(f: u8) -> String {
    let names = [
        (flags::SYN, "SYN"),
        (flags::FIN, "FIN"),
        (flags::RST, "RST"),
        (flags::PSH, "PSH"),
        (flags::ACK, "ACK"),
        (flags::URG, "URG"),
        (flags::ECE, "ECE"),
        (flags::CWR, "CWR"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(b, _)| f & b != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join(",")
}

/// The IPv4 unspecified address, for tests and defaults.
pub const UNSPECIFIED_V4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[cfg(test)]
mod tests {
    use super::*;

    /// A real SYN-ACK from lo (127.0.0.1:8080 → 127.0.0.1:40000), captured and annotated.
    fn synack_v4() -> Vec<u8> {
        let mut f = vec![0u8; 12]; // dst MAC, src MAC (lo: zeros)
        f.extend_from_slice(&[0x08, 0x00]); // IPv4
        f.extend_from_slice(&[
            0x45, 0x00, 0x00, 0x3c, // v4, IHL 5, TOS 0, total length 60
            0x00, 0x00, 0x40, 0x00, // id 0, DF
            0x40, 0x06, 0x00, 0x00, // TTL 64, TCP, checksum (unchecked)
            127, 0, 0, 1, 127, 0, 0, 1, // src, dst
            0x1f, 0x90, 0x9c, 0x40, // sport 8080, dport 40000
            0x11, 0x22, 0x33, 0x44, // seq
            0xaa, 0xbb, 0xcc, 0xde, // ack
            0xa0, 0x12, 0xff, 0xcb, // data offset 10 (40 bytes), SYN|ACK, window 65483
            0x00, 0x00, 0x00, 0x00, // checksum, urgent
            0x02, 0x04, 0xff, 0xd7, // MSS 65495
            0x04, 0x02, // SACK permitted
            0x08, 0x0a, 0, 0, 0, 1, 0, 0, 0, 2,    // TS val 1 ecr 2
            0x01, // NOP
            0x03, 0x03, 0x07, // WS 7
        ]);
        f
    }

    #[test]
    fn synack_decodes() {
        let Frame::Tcp(s) = parse(5, &synack_v4()) else {
            panic!("not tcp")
        };
        assert_eq!(s.src, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(s.dst.port(), 40000);
        assert_eq!(s.flags, flags::SYN | flags::ACK);
        assert_eq!(flag_names(s.flags), "SYN,ACK");
        assert_eq!(
            (s.seq, s.ack, s.window, s.ttl),
            (0x11223344, 0xaabbccde, 65483, 64)
        );
        assert_eq!(s.options.mss, Some(65495));
        assert_eq!(s.options.wscale, Some(7));
        assert!(s.options.sack_perm);
        assert_eq!((s.options.ts_val, s.options.ts_ecr), (Some(1), Some(2)));
        assert!(s.options.unknown.is_empty());
    }

    #[test]
    fn every_prefix_is_safe() {
        let f = synack_v4();
        for n in 0..f.len() {
            let _ = parse(0, &f[..n]);
        }
    }

    #[test]
    fn unknown_and_malformed_options() {
        let mut o = TcpOptions::default();
        parse_options(&[30, 4, 0, 0, 1, 34, 2, 2, 9], &mut o); // MPTCP, NOP, TFO, bad MSS len
        assert_eq!(o.unknown, vec![30, 34]);
        assert_eq!(o.mss, None);
        let mut o = TcpOptions::default();
        parse_options(&[2, 0, 1, 1], &mut o); // zero length stops the walk
        assert_eq!(o, TcpOptions::default());
    }

    #[test]
    fn icmp_unreachable_quotes_the_flow() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let mut inner = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ];
        inner.extend_from_slice(&[0x9c, 0x40, 0x1f, 0x90, 0, 0, 0, 1]);
        let total = 20 + 8 + inner.len();
        f.extend_from_slice(&[
            0x45,
            0,
            0,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            1,
            0,
            0,
            198,
            18,
            0,
            2,
            198,
            18,
            0,
            1,
        ]);
        f.extend_from_slice(&[3, 1, 0, 0, 0, 0, 0, 0]); // host unreachable
        f.extend_from_slice(&inner);
        let Frame::Icmp(e) = parse(1, &f) else {
            panic!("not icmp")
        };
        assert_eq!((e.icmp_type, e.code), (3, 1));
        assert_eq!(e.source, "198.18.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(e.quoted_src, "198.18.0.1:40000".parse().unwrap());
        assert_eq!(e.quoted_dst, "198.18.0.2:8080".parse().unwrap());
        for n in 0..f.len() {
            let _ = parse(0, &f[..n]);
        }
    }

    #[test]
    fn arp_request_decodes() {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]); // eth, ipv4, 6, 4, request
        f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 198, 18, 0, 1]);
        f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 198, 18, 0, 2]);
        let Frame::Neighbour(n) = parse(3, &f) else {
            panic!("not arp")
        };
        assert!(n.request);
        assert_eq!(n.target, "198.18.0.2".parse::<IpAddr>().unwrap());
    }
}

//! ARP frames: build requests, RFC 5227 probes and announcements, and parse any ARP frame
//! (pure; pnet_packet views, length-checked, never panics).

use std::net::Ipv4Addr;

use pnet_datalink::MacAddr;
use pnet_packet::Packet;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, ArpPacket, MutableArpPacket};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};

/// Broadcast MAC.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// An ARP frame, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arp {
    /// Ethernet source.
    pub eth_src: [u8; 6],
    /// Ethernet destination.
    pub eth_dst: [u8; 6],
    /// 1 request, 2 reply.
    pub op: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address (0.0.0.0 in a probe).
    pub sender_ip: Ipv4Addr,
    /// Target hardware address.
    pub target_mac: [u8; 6],
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl Arp {
    /// An RFC 5227 probe: a request with sender IP 0.0.0.0.
    pub fn is_probe(&self) -> bool {
        self.op == 1 && self.sender_ip.is_unspecified()
    }
    /// A gratuitous ARP: sender IP == target IP.
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip && !self.sender_ip.is_unspecified()
    }
}

/// Parse an Ethernet frame carrying IPv4-over-Ethernet ARP.
pub fn parse(bytes: &[u8]) -> Option<Arp> {
    let eth = EthernetPacket::new(bytes)?;
    if eth.get_ethertype() != EtherTypes::Arp {
        return None;
    }
    let arp = ArpPacket::new(eth.payload())?;
    if arp.get_hardware_type() != ArpHardwareTypes::Ethernet
        || arp.get_protocol_type() != EtherTypes::Ipv4
        || arp.get_hw_addr_len() != 6
        || arp.get_proto_addr_len() != 4
    {
        return None;
    }
    Some(Arp {
        eth_src: eth.get_source().octets(),
        eth_dst: eth.get_destination().octets(),
        op: arp.get_operation().0,
        sender_mac: arp.get_sender_hw_addr().octets(),
        sender_ip: arp.get_sender_proto_addr(),
        target_mac: arp.get_target_hw_addr().octets(),
        target_ip: arp.get_target_proto_addr(),
    })
}

fn mac(m: [u8; 6]) -> MacAddr {
    MacAddr::new(m[0], m[1], m[2], m[3], m[4], m[5])
}

/// Build an ARP frame (60 bytes: padded to the Ethernet minimum).
pub fn build(
    eth_dst: [u8; 6],
    op: u16,
    sender_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target_mac: [u8; 6],
    target_ip: Ipv4Addr,
) -> Vec<u8> {
    let mut buf = vec![0u8; 60];
    if let Some(mut e) = MutableEthernetPacket::new(&mut buf) {
        e.set_destination(mac(eth_dst));
        e.set_source(mac(sender_mac));
        e.set_ethertype(EtherTypes::Arp);
    }
    if let Some(mut a) = MutableArpPacket::new(&mut buf[14..42]) {
        a.set_hardware_type(ArpHardwareTypes::Ethernet);
        a.set_protocol_type(EtherTypes::Ipv4);
        a.set_hw_addr_len(6);
        a.set_proto_addr_len(4);
        a.set_operation(if op == 2 {
            ArpOperations::Reply
        } else {
            ArpOperations::Request
        });
        a.set_sender_hw_addr(mac(sender_mac));
        a.set_sender_proto_addr(sender_ip);
        a.set_target_hw_addr(mac(target_mac));
        a.set_target_proto_addr(target_ip);
    }
    buf
}

/// who-has TARGET tell US.
pub fn request(our_mac: [u8; 6], our_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    build(BROADCAST, 1, our_mac, our_ip, [0; 6], target)
}

/// RFC 5227 probe: sender IP 0.0.0.0, target MAC zero.
pub fn probe(our_mac: [u8; 6], target: Ipv4Addr) -> Vec<u8> {
    build(BROADCAST, 1, our_mac, Ipv4Addr::UNSPECIFIED, [0; 6], target)
}

/// Gratuitous ARP: request form (target MAC zero) or reply form (target MAC broadcast).
pub fn announce(our_mac: [u8; 6], ip: Ipv4Addr, reply: bool) -> Vec<u8> {
    if reply {
        build(BROADCAST, 2, our_mac, ip, BROADCAST, ip)
    } else {
        build(BROADCAST, 1, our_mac, ip, [0; 6], ip)
    }
}

/// `02:00:c6:12:00:01`.
pub fn mac_text(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Locally administered (U/L bit set).
pub fn locally_administered(m: &[u8; 6]) -> bool {
    m[0] & 0x02 != 0
}

/// Multicast (I/G bit set).
pub fn multicast(m: &[u8; 6]) -> bool {
    m[0] & 0x01 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: [u8; 6] = [0x02, 0, 0xc6, 0x12, 0, 1];

    #[test]
    fn request_round_trip() {
        let f = request(
            ME,
            "198.18.0.1".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
        );
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        let a = parse(&f).unwrap();
        assert_eq!((a.op, a.eth_dst, a.sender_mac), (1, BROADCAST, ME));
        assert_eq!(a.target_ip, "198.18.0.2".parse::<Ipv4Addr>().unwrap());
        assert!(!a.is_probe() && !a.is_gratuitous());
    }

    #[test]
    fn probe_and_announce() {
        let p = parse(&probe(ME, "198.18.0.9".parse().unwrap())).unwrap();
        assert!(p.is_probe());
        assert_eq!(p.target_mac, [0; 6]);
        let g = parse(&announce(ME, "198.18.0.9".parse().unwrap(), false)).unwrap();
        assert!(g.is_gratuitous() && g.op == 1);
        let r = parse(&announce(ME, "198.18.0.9".parse().unwrap(), true)).unwrap();
        assert!(r.is_gratuitous() && r.op == 2 && r.target_mac == BROADCAST);
    }

    #[test]
    fn prefixes_and_other_frames_are_safe() {
        let f = request(
            ME,
            "198.18.0.1".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
        );
        for n in 0..f.len() {
            let _ = parse(&f[..n]);
        }
        assert!(parse(&f[..41]).is_none(), "a truncated ARP body");
        let mut ip = f.clone();
        ip[12] = 0x08;
        ip[13] = 0x00;
        assert!(parse(&ip).is_none());
    }

    #[test]
    fn mac_bits() {
        assert_eq!(mac_text(&ME), "02:00:c6:12:00:01");
        assert!(locally_administered(&ME) && !multicast(&ME));
        assert!(multicast(&[0x01, 0, 0x5e, 0, 0, 1]));
        assert!(!locally_administered(&[0x00, 0x1b, 0x21, 1, 2, 3]));
    }
}

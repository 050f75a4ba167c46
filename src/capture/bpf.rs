//! A small classic-BPF builder for the few filters netlab needs.
//!
//! Each primitive emits the same instructions `tcpdump -dd` (libpcap 1.10, Ethernet link type)
//! emits for the equivalent expression, so the programs are golden-tested against tcpdump's
//! output (`tests/golden/bpf/`). Primitives are written with symbolic jump targets, so that
//! several can be OR-ed into one program: a primitive's "reject" falls through to the next one.

use std::net::IpAddr;

/// Bytes accepted per packet (libpcap's default snap length, 262144).
pub const SNAPLEN: u32 = 0x40000;

/// One classic-BPF instruction, in the kernel's `struct sock_filter` layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

impl Insn {
    /// Build an instruction.
    pub const fn new(code: u16, jt: u8, jf: u8, k: u32) -> Self {
        Insn { code, jt, jf, k }
    }
}

/// A compiled program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program(pub Vec<Insn>);

impl Program {
    /// Render like `tcpdump -dd` does, one `{ code, jt, jf, k },` per line.
    pub fn to_dd(&self) -> String {
        self.0
            .iter()
            .map(|i| format!("{{ 0x{:x}, {}, {}, 0x{:08x} }},\n", i.code, i.jt, i.jf, i.k))
            .collect()
    }

    /// Parse `tcpdump -dd` output (used by the golden tests and `make interop`).
    pub fn from_dd(text: &str) -> Option<Program> {
        let mut out = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let inner = line
                .trim_start_matches('{')
                .trim_end_matches(',')
                .trim_end_matches('}');
            let f: Vec<&str> = inner.split(',').map(str::trim).collect();
            if f.len() != 4 {
                return None;
            }
            let num = |s: &str| -> Option<u32> {
                match s.strip_prefix("0x") {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => s.parse().ok(),
                }
            };
            out.push(Insn::new(
                u16::try_from(num(f[0])?).ok()?,
                u8::try_from(num(f[1])?).ok()?,
                u8::try_from(num(f[2])?).ok()?,
                num(f[3])?,
            ));
        }
        Some(Program(out))
    }

    /// Run the program over a frame, as the kernel would: the accepted length (0 = rejected).
    /// Supports the instructions this builder emits; an unknown one rejects.
    pub fn run(&self, pkt: &[u8]) -> u32 {
        let (mut a, mut x): (u32, u32) = (0, 0);
        let mut pc = 0usize;
        let load = |off: usize, n: usize| -> Option<u32> {
            let b = pkt.get(off..off.checked_add(n)?)?;
            Some(b.iter().fold(0u32, |acc, v| (acc << 8) | u32::from(*v)))
        };
        while let Some(i) = self.0.get(pc) {
            pc += 1;
            let k = i.k as usize;
            match i.code {
                LD_W_ABS | LD_H_ABS | LD_B_ABS => {
                    let n = match i.code {
                        LD_W_ABS => 4,
                        LD_H_ABS => 2,
                        _ => 1,
                    };
                    match load(k, n) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                LD_H_IND => match load(x as usize + k, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                LDX_B_MSH => match load(k, 1) {
                    Some(v) => x = (v & 0xf) * 4,
                    None => return 0,
                },
                JEQ_K | JSET_K | JGE_K => {
                    let t = match i.code {
                        JEQ_K => a == i.k,
                        JGE_K => a >= i.k,
                        _ => a & i.k != 0,
                    };
                    pc += usize::from(if t { i.jt } else { i.jf });
                }
                RET_K => return i.k,
                _ => return 0,
            }
        }
        0
    }
}

// Opcodes used (see linux/filter.h): class | size | mode.
const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_H_IND: u16 = 0x48;
const LDX_B_MSH: u16 = 0xb1;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

const ETHERTYPE_IPV4: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const ETHERTYPE_ARP: u32 = 0x0806;

/// Where a jump goes.
#[derive(Debug, Clone, Copy)]
enum T {
    /// `n` instructions forward, as in raw BPF.
    Skip(u8),
    /// The program's accept.
    Accept,
    /// This primitive fails: the next primitive, or the final reject.
    Reject,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Ld(u16, u32),
    Jmp(u16, u32, T, T),
}

fn ld(code: u16, k: u32) -> Op {
    Op::Ld(code, k)
}
fn jeq(k: u32, jt: T, jf: T) -> Op {
    Op::Jmp(JEQ_K, k, jt, jf)
}

/// One filter primitive: a body whose jumps say accept or reject.
#[derive(Debug, Clone)]
pub struct Primitive(Vec<Op>);

/// `arp`
pub fn arp() -> Primitive {
    Primitive(vec![
        ld(LD_H_ABS, 12),
        jeq(ETHERTYPE_ARP, T::Accept, T::Reject),
    ])
}

/// `icmp` (IPv4)
pub fn icmp() -> Primitive {
    Primitive(vec![
        ld(LD_H_ABS, 12),
        jeq(ETHERTYPE_IPV4, T::Skip(0), T::Reject),
        ld(LD_B_ABS, 23),
        jeq(1, T::Accept, T::Reject),
    ])
}

/// `icmp6` (including behind one fragment header, as libpcap does)
pub fn icmp6() -> Primitive {
    Primitive(vec![
        ld(LD_H_ABS, 12),
        jeq(ETHERTYPE_IPV6, T::Skip(0), T::Reject),
        ld(LD_B_ABS, 20),
        jeq(58, T::Accept, T::Skip(0)),
        jeq(44, T::Skip(0), T::Reject),
        ld(LD_B_ABS, 54),
        jeq(58, T::Accept, T::Reject),
    ])
}

/// `tcp and host H and port P` for an IPv4 or an IPv6 host (for IPv6, the same code as
/// `ip6 and tcp and host H and port P`).
pub fn tcp_host_port(host: IpAddr, port: u16) -> Primitive {
    let p = u32::from(port);
    match host {
        IpAddr::V4(v4) => {
            let h = u32::from(v4);
            Primitive(vec![
                ld(LD_H_ABS, 12),
                jeq(ETHERTYPE_IPV4, T::Skip(0), T::Reject),
                ld(LD_B_ABS, 23),
                jeq(6, T::Skip(0), T::Reject),
                ld(LD_W_ABS, 26),
                jeq(h, T::Skip(2), T::Skip(0)),
                ld(LD_W_ABS, 30),
                jeq(h, T::Skip(0), T::Reject),
                ld(LD_H_ABS, 20),
                Op::Jmp(JSET_K, 0x1fff, T::Reject, T::Skip(0)),
                ld(LDX_B_MSH, 14),
                ld(LD_H_IND, 14),
                jeq(p, T::Accept, T::Skip(0)),
                ld(LD_H_IND, 16),
                jeq(p, T::Accept, T::Reject),
            ])
        }
        IpAddr::V6(v6) => {
            let o = v6.octets();
            let w: Vec<u32> = o
                .chunks(4)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let mut ops = vec![
                ld(LD_H_ABS, 12),
                jeq(ETHERTYPE_IPV6, T::Skip(0), T::Reject),
                ld(LD_B_ABS, 20),
                jeq(6, T::Skip(3), T::Skip(0)),
                jeq(44, T::Skip(0), T::Reject),
                ld(LD_B_ABS, 54),
                jeq(6, T::Skip(0), T::Reject),
            ];
            // Source address: on a mismatch of any word, try the destination (skip to it).
            // The four compares are 8 instructions; the destination block starts after them.
            for (i, word) in w.iter().enumerate() {
                ops.push(ld(LD_W_ABS, 22 + 4 * i as u32));
                let remaining = 3 - i as u8; // words left after this one
                if i < 3 {
                    ops.push(jeq(*word, T::Skip(0), T::Skip(remaining * 2)));
                } else {
                    // Match: skip the destination block (8 insns) to the port check.
                    ops.push(jeq(*word, T::Skip(8), T::Skip(0)));
                }
            }
            for (i, word) in w.iter().enumerate() {
                ops.push(ld(LD_W_ABS, 38 + 4 * i as u32));
                ops.push(jeq(*word, T::Skip(0), T::Reject));
            }
            ops.extend([
                ld(LD_B_ABS, 20),
                jeq(0x84, T::Skip(2), T::Skip(0)),
                jeq(6, T::Skip(1), T::Skip(0)),
                jeq(0x11, T::Skip(0), T::Reject),
                ld(LD_H_ABS, 54),
                jeq(p, T::Accept, T::Skip(0)),
                ld(LD_H_ABS, 56),
                jeq(p, T::Accept, T::Reject),
            ]);
            Primitive(ops)
        }
    }
}

/// Assemble primitives OR-ed together: a packet is accepted when any primitive accepts it.
pub fn any_of(prims: &[Primitive]) -> Program {
    // Layout: body0, body1, ..., bodyN-1, ret SNAPLEN, ret 0.
    let lens: Vec<usize> = prims.iter().map(|p| p.0.len()).collect();
    let total: usize = lens.iter().sum();
    let accept = total;
    let reject = total + 1;
    let mut out = Vec::with_capacity(total + 2);
    let mut start = 0usize;
    for (pi, p) in prims.iter().enumerate() {
        let next = start + lens[pi];
        let fail = if pi + 1 == prims.len() { reject } else { next };
        for (j, op) in p.0.iter().enumerate() {
            let here = start + j;
            let rel = |t: T| -> u8 {
                let dest = match t {
                    T::Skip(n) => here + 1 + usize::from(n),
                    T::Accept => accept,
                    T::Reject => fail,
                };
                // Programs are tiny; offsets always fit in a u8.
                u8::try_from(dest - here - 1).unwrap_or(u8::MAX)
            };
            out.push(match *op {
                Op::Ld(code, k) => Insn::new(code, 0, 0, k),
                Op::Jmp(code, k, jt, jf) => Insn::new(code, rel(jt), rel(jf), k),
            });
        }
        start = next;
    }
    out.push(Insn::new(RET_K, 0, 0, SNAPLEN));
    out.push(Insn::new(RET_K, 0, 0, 0));
    Program(out)
}

/// A single primitive as a program.
pub fn program(p: Primitive) -> Program {
    any_of(&[p])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4_tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, frag: u16) -> Vec<u8> {
        let mut ip = vec![0x45, 0, 0, 40, 0, 0];
        ip.extend_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&[64, 6, 0, 0]);
        ip.extend_from_slice(&src);
        ip.extend_from_slice(&dst);
        ip.extend_from_slice(&sport.to_be_bytes());
        ip.extend_from_slice(&dport.to_be_bytes());
        ip.extend_from_slice(&[0u8; 16]);
        eth(0x0800, &ip)
    }

    #[test]
    fn v4_filter_accepts_only_the_flow() {
        let p = program(tcp_host_port("198.18.0.2".parse().unwrap(), 443));
        let h = [198, 18, 0, 2];
        let o = [198, 18, 0, 1];
        assert_eq!(p.run(&ipv4_tcp(o, h, 40000, 443, 0)), SNAPLEN);
        assert_eq!(p.run(&ipv4_tcp(h, o, 443, 40000, 0)), SNAPLEN);
        assert_eq!(p.run(&ipv4_tcp(o, h, 40000, 444, 0)), 0, "other port");
        assert_eq!(p.run(&ipv4_tcp(o, o, 40000, 443, 0)), 0, "other host");
        assert_eq!(p.run(&ipv4_tcp(o, h, 40000, 443, 0x0010)), 0, "fragment");
        assert_eq!(p.run(&eth(0x0806, &[0; 28])), 0, "arp");
    }

    #[test]
    fn or_composition_accepts_each_part() {
        let p = any_of(&[
            tcp_host_port("198.18.0.2".parse().unwrap(), 443),
            arp(),
            icmp(),
        ]);
        assert_eq!(p.run(&eth(0x0806, &[0; 28])), SNAPLEN);
        let mut icmp_pkt = ipv4_tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 1, 0);
        icmp_pkt[23] = 1;
        assert_eq!(p.run(&icmp_pkt), SNAPLEN);
        assert_eq!(p.run(&ipv4_tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 1, 0)), 0);
        assert_eq!(
            p.run(&ipv4_tcp([1, 1, 1, 1], [198, 18, 0, 2], 1, 443, 0)),
            SNAPLEN
        );
    }

    #[test]
    fn v6_filter_matches_either_direction() {
        let host: std::net::Ipv6Addr = "2001:2::2".parse().unwrap();
        let other: std::net::Ipv6Addr = "2001:2::1".parse().unwrap();
        let p = program(tcp_host_port(host.into(), 8080));
        let pkt = |s: std::net::Ipv6Addr, d: std::net::Ipv6Addr, sp: u16, dp: u16| {
            let mut ip = vec![0x60, 0, 0, 0, 0, 20, 6, 64];
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            ip.extend_from_slice(&sp.to_be_bytes());
            ip.extend_from_slice(&dp.to_be_bytes());
            ip.extend_from_slice(&[0u8; 16]);
            eth(0x86dd, &ip)
        };
        assert_eq!(p.run(&pkt(other, host, 5000, 8080)), SNAPLEN);
        assert_eq!(p.run(&pkt(host, other, 8080, 5000)), SNAPLEN);
        assert_eq!(p.run(&pkt(other, other, 5000, 8080)), 0);
        assert_eq!(p.run(&pkt(other, host, 5000, 8081)), 0);
    }

    #[test]
    fn dd_roundtrip() {
        let p = program(arp());
        assert_eq!(Program::from_dd(&p.to_dd()), Some(p));
        assert_eq!(Program::from_dd("{ 0x6, 0, 0 }"), None);
    }
}

//! The BPF builder emits exactly what `tcpdump -dd` (libpcap 1.10) emits for the same
//! expressions. The golden files were recorded with `tcpdump -i lo -dd EXPR`; `make interop`
//! re-records them with the installed tcpdump and compares, so the goldens stay honest.

use std::net::IpAddr;

use netlab::capture::bpf::{self, Program};

fn build(expr: &str) -> Program {
    let words: Vec<&str> = expr.split_whitespace().collect();
    match words.as_slice() {
        ["arp"] => bpf::program(bpf::arp()),
        ["icmp"] => bpf::program(bpf::icmp()),
        ["icmp6"] => bpf::program(bpf::icmp6()),
        ["tcp", "and", "host", h, "and", "port", p]
        | ["ip6", "and", "tcp", "and", "host", h, "and", "port", p] => {
            let host: IpAddr = h.parse().unwrap();
            bpf::program(bpf::tcp_host_port(host, p.parse().unwrap()))
        }
        _ => panic!("golden with an expression the builder does not cover: {expr}"),
    }
}

#[test]
fn builder_matches_tcpdump_goldens() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/bpf");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expr = text.lines().next().unwrap().trim_start_matches('#').trim();
        let golden = Program::from_dd(&text).expect("golden parses");
        let ours = build(expr);
        assert_eq!(ours.to_dd(), golden.to_dd(), "{}: {expr}", path.display());
        n += 1;
    }
    assert!(n >= 8, "goldens present");
}

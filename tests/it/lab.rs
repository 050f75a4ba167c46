//! `netlab lab` scenarios behave as they say, and the lab refuses to bind outside loopback.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::*;

#[test]
fn loopback_scenarios_behave() {
    let lab = Lab::loopback();
    let addr = |name: &str| format!("127.0.0.1:{}", lab.port(name));
    // closed: refused.
    let e = TcpStream::connect(addr("closed")).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    // closes_first: the server's FIN arrives without us sending anything.
    let mut s = TcpStream::connect(addr("closes_first")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(s.read(&mut buf).unwrap(), 0, "server closed first");
    // slow: the greeting comes, after the configured delay (250 ms by default).
    let t0 = Instant::now();
    let mut s = TcpStream::connect(addr("slow")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = s.read(&mut buf).unwrap();
    assert!(
        std::str::from_utf8(&buf[..n])
            .unwrap()
            .contains("slow hello")
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(250),
        "greeting only after the delay"
    );
    // open: stays open while we keep it.
    let mut s = TcpStream::connect(addr("open")).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let e = s.read(&mut buf).unwrap_err();
    assert!(matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
}

#[test]
fn lab_binds_only_loopback() {
    let o = netlab(&["lab", "--bind", "198.51.100.1", "--duration", "1s"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("not a loopback address"),
        "{}",
        stderr(&o)
    );
    let o = netlab(&["lab", "--netns", "--port-base", "0", "--duration", "1s"]);
    assert!(matches!(code(&o), 2 | 77), "{}", stderr(&o));
}

mod dns {
    //! `netlab lab --dns`: real queries over UDP and TCP to the hierarchy on 127.0.0.2-11.

    use std::io::{Read, Write};
    use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
    use std::str::FromStr;
    use std::time::Duration;

    use hickory_proto::op::{Edns, Message, Query, ResponseCode};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    use crate::util::*;

    const TIMEOUT: Duration = Duration::from_secs(2);

    fn query(qname: &str, qtype: RecordType, edns: bool) -> Message {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_str(qname).unwrap(), qtype));
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            m.set_edns(e);
        }
        m
    }

    fn udp(server: &str, port: u16, qname: &str, qtype: RecordType, edns: bool) -> Message {
        let q = query(qname, qtype, edns);
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.connect((server, port)).unwrap();
        s.send(&q.to_vec().unwrap()).unwrap();
        let mut buf = [0u8; 65535];
        let n = s
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no UDP answer from {server}:{port}: {e}"));
        let r = Message::from_vec(&buf[..n]).unwrap();
        assert_eq!(r.id, q.id);
        r
    }

    fn tcp(server: &str, port: u16, queries: &[(&str, RecordType)]) -> Vec<Message> {
        let addr: SocketAddr = format!("{server}:{port}").parse().unwrap();
        let mut c = TcpStream::connect_timeout(&addr, TIMEOUT).unwrap();
        c.set_read_timeout(Some(TIMEOUT)).unwrap();
        // Several queries on one connection, sent back to back.
        let qs: Vec<Message> = queries.iter().map(|(n, t)| query(n, *t, true)).collect();
        for q in &qs {
            let b = q.to_vec().unwrap();
            let mut framed = (b.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&b);
            c.write_all(&framed).unwrap();
        }
        qs.iter()
            .map(|q| {
                let mut len = [0u8; 2];
                c.read_exact(&mut len).unwrap();
                let mut b = vec![0u8; u16::from_be_bytes(len) as usize];
                c.read_exact(&mut b).unwrap();
                let r = Message::from_vec(&b).unwrap();
                assert_eq!(r.id, q.id);
                r
            })
            .collect()
    }

    fn glue(records: &[Record]) -> Vec<(String, Ipv4Addr)> {
        let mut v: Vec<_> = records
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some((r.name.to_ascii(), a.0)),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    fn ns(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .filter_map(|r| match &r.data {
                RData::NS(n) => Some(n.0.to_ascii()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn lab_dns_hierarchy_answers() {
        let port = 20000 + (std::process::id() % 10000) as u16;
        let mut lab = Lab::dns(port);
        let d = &lab.ready["dns"];
        assert_eq!(d["port"], port);
        assert_eq!(d["root_hints"][0], "127.0.0.2");
        assert_eq!(d["servers"].as_array().unwrap().len(), 10);
        let tries = lab.ready["try_commands"].as_array().unwrap();
        assert!(
            tries.iter().any(|c| c
                .as_str()
                .unwrap()
                .contains(&format!("netlab dns trace --root 127.0.0.2 --port {port}"))),
            "{tries:?}"
        );
        let mut sent = 0;

        // The root refers test. to its two servers, with glue.
        let r = udp("127.0.0.2", port, "www.example.test.", RecordType::A, true);
        sent += 1;
        assert_eq!(r.response_code, ResponseCode::NoError);
        assert!(!r.authoritative && r.answers.is_empty());
        assert_eq!(ns(&r.authorities), ["ns1.nic.test.", "ns2.nic.test."]);
        assert_eq!(
            glue(&r.additionals),
            [
                ("ns1.nic.test.".into(), Ipv4Addr::new(127, 0, 0, 3)),
                ("ns2.nic.test.".into(), Ipv4Addr::new(127, 0, 0, 4)),
            ]
        );
        assert!(r.edns.is_some(), "EDNS echoed");

        // The lame server refuses.
        let r = udp("127.0.0.6", port, "api.example.test.", RecordType::A, false);
        sent += 1;
        assert_eq!(r.response_code, ResponseCode::Refused);

        // The good and the stale copy of example.test disagree.
        let a = |r: &Message| glue(&r.answers);
        let good = udp("127.0.0.5", port, "api.example.test.", RecordType::A, false);
        let stale = udp("127.0.0.7", port, "api.example.test.", RecordType::A, false);
        sent += 2;
        assert!(good.authoritative && stale.authoritative);
        assert_eq!(a(&good)[0].1, Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(a(&stale)[0].1, Ipv4Addr::new(192, 0, 2, 99));

        // big.test over UDP: TC, nothing in the sections; over TCP: the whole answer.
        let r = udp("127.0.0.8", port, "txt.big.test.", RecordType::TXT, true);
        sent += 1;
        assert!(r.truncation, "TC over UDP");
        assert!(r.answers.is_empty() && r.authorities.is_empty() && r.additionals.is_empty());
        let rs = tcp(
            "127.0.0.8",
            port,
            &[
                ("txt.big.test.", RecordType::TXT),
                ("big.test.", RecordType::SOA),
            ],
        );
        sent += 2;
        assert!(!rs[0].truncation);
        assert!(rs[0].authoritative);
        assert_eq!(rs[0].answers.len(), 20);
        assert_eq!(
            rs[1].answers.len(),
            1,
            "a second query on the same connection"
        );

        // cdn.test is delegated without glue.
        let r = udp("127.0.0.3", port, "edge.cdn.test.", RecordType::AAAA, true);
        sent += 1;
        assert!(!r.authoritative && r.answers.is_empty());
        assert_eq!(ns(&r.authorities), ["ns1.cdnhost.test."]);
        assert!(r.additionals.is_empty(), "glueless: {:?}", r.additionals);
        let r = udp("127.0.0.9", port, "edge.cdn.test.", RecordType::AAAA, false);
        sent += 1;
        assert!(r.authoritative);
        assert_eq!(r.answers.len(), 1);

        // dig, if it is installed, sees the same: a CNAME out of the zone, authoritative.
        match std::process::Command::new("dig")
            .args([
                "@127.0.0.5",
                "-p",
                &port.to_string(),
                "+norec",
                "+tries=1",
                "+time=2",
                "www.example.test",
            ])
            .output()
        {
            Ok(o) => {
                sent += 1;
                let out = String::from_utf8_lossy(&o.stdout);
                assert!(o.status.success(), "{out}");
                assert!(out.contains("status: NOERROR"), "{out}");
                assert!(out.contains("flags: qr aa;"), "{out}");
                assert!(out.contains("CNAME\tedge.cdn.test."), "{out}");
                let o = std::process::Command::new("dig")
                    .args(["@127.0.0.2", "-p", &port.to_string(), "+norec"])
                    .args(["+tries=1", "+time=2", "www.example.test"])
                    .output()
                    .unwrap();
                sent += 1;
                let out = String::from_utf8_lossy(&o.stdout);
                assert!(out.contains("status: NOERROR"), "{out}");
                assert!(out.contains("AUTHORITY: 2, ADDITIONAL: 3"), "{out}");
                assert!(
                    out.contains("ns1.nic.test.\t\t86400\tIN\tA\t127.0.0.3"),
                    "{out}"
                );
            }
            Err(e) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP dig checks of lab_dns_hierarchy_answers: dig not found ({e}); apt-get install bind9-dnsutils"
                );
            }
        }

        // The summary counts the answers.
        assert_eq!(lab.stop(), 0);
        let later = lab.later.lock().unwrap().clone();
        let last = later.last().expect("a summary line");
        let s: crate::contract::LabReport = crate::contract::parse_line(last, "summary");
        assert!(s.dns_queries.unwrap() >= sent, "{last}");
    }

    #[test]
    fn lab_dns_port_errors_are_one_line() {
        let o = netlab(&["lab", "--dns", "--dns-port", "0", "--duration", "1s"]);
        assert_eq!(code(&o), 2);
        assert!(stderr(&o).contains("--dns-port 5353"), "{}", stderr(&o));
        assert_eq!(stderr(&o).lines().count(), 1);
        // --dns-port alone is a usage error (it needs --dns).
        let o = netlab(&["lab", "--dns-port", "5353", "--duration", "1s"]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        // A taken port: the error names the address and suggests another port.
        let port = 30000 + (std::process::id() % 10000) as u16;
        let _taken = UdpSocket::bind(("127.0.0.2", port)).unwrap();
        let p = port.to_string();
        let o = netlab(&[
            "lab",
            "--port-base",
            "0",
            "--dns",
            "--dns-port",
            &p,
            "--duration",
            "2s",
        ]);
        assert_eq!(code(&o), 2, "{}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(&format!("127.0.0.2:{port}")) && e.contains("--dns-port 5353"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1, "{e}");
    }
}

#[test]
fn lab_io_servers_echo_and_wait_where_they_say() {
    use std::io::Write;
    let mut lab = Lab::io();
    let io = &lab.ready["io"];
    let pid = io["pid"].as_u64().expect("ready.io.pid") as u32;
    assert_eq!(pid, lab.child.id());
    let ports = [
        io["blocking_port"].as_u64().expect("blocking_port") as u16,
        io["epoll_port"].as_u64().expect("epoll_port") as u16,
    ];
    assert!(ports.iter().all(|p| *p != 0) && ports[0] != ports[1]);
    let tries = lab.ready["try_commands"].as_array().unwrap();
    for want in [
        format!("netlab syscalls -p {pid}"),
        format!("netlab syscalls -p {pid} --snapshot"),
    ] {
        assert!(tries.iter().any(|c| c == &want[..]), "{tries:?}");
    }
    // Two connections to each server at once; each gets back exactly what it sent.
    let mut conns = Vec::new();
    for p in ports {
        for _ in 0..2 {
            let s = TcpStream::connect(("127.0.0.1", p)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            conns.push(s);
        }
    }
    for s in &mut conns {
        s.write_all(b"hello\n").unwrap();
    }
    for s in &mut conns {
        let mut got = [0u8; 6];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello\n");
    }
    // Threads by name, and the syscall each one is blocked in (x86_64 numbers).
    let threads = || -> Vec<(String, String)> {
        let mut v = Vec::new();
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .flatten()
        {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            let sc = std::fs::read_to_string(t.path().join("syscall")).unwrap_or_default();
            let first = sc.split_whitespace().next().unwrap_or("").to_string();
            v.push((comm.trim().to_string(), first));
        }
        v
    };
    let waits = |name: &str, nrs: &[&str]| -> bool {
        threads()
            .iter()
            .any(|(c, s)| c == name && (!cfg!(target_arch = "x86_64") || nrs.contains(&&s[..])))
    };
    let check = |name: &str, nrs: &[&str]| {
        let end = Instant::now() + Duration::from_secs(5);
        while !waits(name, nrs) {
            assert!(
                Instant::now() < end,
                "no {name} thread in syscall {nrs:?}: {:?}",
                threads()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Idle: the listener thread in accept / accept4, the loop in epoll_wait / epoll_pwait(2),
    // and (connections still open) the connection threads in read / recvfrom (std's read).
    check("blocking-accept", &["43", "288"]);
    check("epoll-loop", &["232", "281", "441"]);
    check("blocking-conn", &["0", "45"]);
    // Closed connections end their threads.
    drop(conns);
    let end = Instant::now() + Duration::from_secs(5);
    while threads().iter().any(|(c, _)| c == "blocking-conn") {
        assert!(Instant::now() < end, "blocking-conn threads left");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A connection left open does not hold the lab up at stop.
    let mut held = TcpStream::connect(("127.0.0.1", ports[0])).unwrap();
    held.write_all(b"x").unwrap();
    let t0 = Instant::now();
    assert_eq!(lab.stop(), 0);
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

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

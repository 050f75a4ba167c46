//! Socket-state scenarios of `netlab lab --sockets` (loopback): a server that never closes
//! what it accepted (CLOSE_WAIT on its side), a client churning short connections it closes
//! first (TIME_WAIT on the client side), and a listener that never accepts (its accept queue
//! overflows). Counts are fixed, so `netlab sockets` can be checked against them exactly.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};

/// What the socket scenarios hold, for the ready event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SocketScenarios {
    /// The leaking server's port: `leak_connections` CLOSE_WAIT sockets on its side (held by
    /// the lab process), as many orphaned FIN_WAIT2 on the client side.
    pub leak_port: u16,
    /// Connections made to it.
    pub leak_connections: u32,
    /// The port the churning client connected to (the `open` scenario): `churn_connections`
    /// TIME_WAIT sockets on the client side for 60 s.
    pub churn_port: u16,
    /// Connections made and closed by the client first.
    pub churn_connections: u32,
    /// The never-accepting listener's port.
    pub overflow_port: u16,
    /// Its listen backlog.
    pub overflow_backlog: u32,
    /// Connections attempted to it (backlog + 1 fit in the accept queue; the rest wait in
    /// SYN_SENT while the kernel drops their SYNs).
    pub overflow_connections: u32,
}

/// Most connections any scenario makes.
pub const MAX: u32 = 10_000;

/// Build the scenarios on `ip` (loopback); `open_port` is the lab's open scenario.
/// `ports`: the leaking server's and the never-accepting listener's (0: any).
pub fn start(
    ip: IpAddr,
    open_port: u16,
    ports: (u16, u16),
    counts: (u32, u32, u32),
    stop: Arc<AtomicBool>,
) -> Result<SocketScenarios> {
    let (leak, churn, overflow) = (counts.0.min(MAX), counts.1.min(MAX), counts.2.min(MAX));
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::io(format!("lab --sockets: {what}"), e)
    };
    // CLOSE_WAIT leak: accept, keep, never close.
    let leak_l =
        TcpListener::bind(SocketAddr::new(ip, ports.0)).map_err(io("bind the leaking server"))?;
    let leak_port = leak_l.local_addr().map_err(io("leak port"))?.port();
    let mut clients = Vec::new();
    for _ in 0..leak {
        clients.push(
            TcpStream::connect(SocketAddr::new(ip, leak_port))
                .map_err(io("connect to the leaking server"))?,
        );
    }
    let mut held = Vec::new();
    for _ in 0..leak {
        held.push(leak_l.accept().map_err(io("accept"))?.0);
    }
    drop(clients); // the peers close: the server side goes CLOSE_WAIT and stays there
    // TIME_WAIT churn: the client closes first.
    // Each client binds first: bind() never hands out a port a TIME_WAIT socket holds, while
    // connect() may recycle one (tcp_tw_reuse, on for loopback by default), which would
    // replace an earlier TIME_WAIT and spoil the count.
    let churn_one = || -> Result<()> {
        let c = Socket::new(
            Domain::for_address(SocketAddr::new(ip, 0)),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .map_err(io("socket"))?;
        c.bind(&SocketAddr::new(ip, 0).into())
            .map_err(io("bind a churn client"))?;
        c.connect(&SocketAddr::new(ip, open_port).into())
            .map_err(io("connect to the open scenario"))?;
        let c: TcpStream = c.into();
        let _ = c.shutdown(std::net::Shutdown::Both);
        drop(c);
        Ok(())
    };
    for _ in 0..churn {
        churn_one()?;
    }
    // Accept-queue overflow: a listener that never accepts.
    let backlog = 2;
    let ov = Socket::new(
        Domain::for_address(SocketAddr::new(ip, 0)),
        Type::STREAM,
        Some(Protocol::TCP),
    )
    .map_err(io("socket"))?;
    ov.set_reuse_address(true).map_err(io("SO_REUSEADDR"))?;
    ov.bind(&SocketAddr::new(ip, ports.1).into())
        .map_err(io("bind the overflow listener"))?;
    ov.listen(backlog).map_err(io("listen"))?;
    let overflow_port = ov
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .unwrap_or(0);
    let mut pending = Vec::new();
    for _ in 0..overflow {
        let s = Socket::new(
            Domain::for_address(SocketAddr::new(ip, 0)),
            Type::STREAM,
            Some(Protocol::TCP),
        )
        .map_err(io("socket"))?;
        s.set_nonblocking(true).map_err(io("non-blocking"))?;
        let _ = s.connect(&SocketAddr::new(ip, overflow_port).into());
        pending.push(s);
        // One at a time: each handshake completes (or its SYN is dropped on a full accept
        // queue) before the next SYN, so exactly backlog + 1 connections get queued.
        std::thread::sleep(Duration::from_millis(20));
    }
    // "Ready" means in place: wait (bounded) until the kernel shows the states the scenarios
    // promise, so `netlab sockets` can be checked against exact numbers.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut topped_up = 0u32;
    while std::time::Instant::now() < deadline {
        let socks =
            crate::sockets::gather::dump_all(ip.is_ipv4(), ip.is_ipv6(), !0).unwrap_or_default();
        let count = |st: u8, port: u16, client: bool| {
            socks
                .iter()
                .filter(|k| {
                    k.state == st
                        && if client {
                            k.remote.port() == port
                        } else {
                            k.local.port() == port
                        }
                })
                .count() as u32
        };
        let tw = count(6, open_port, true);
        if count(8, leak_port, false) == leak
            && tw == churn
            && count(2, overflow_port, true) == overflow.saturating_sub(backlog as u32 + 1)
        {
            break;
        }
        // A late duplicate ACK from the server can draw a RST that ends one of our TIME_WAIT
        // sockets (tcp_rfc1337 = 0): make up for it, a bounded number of times.
        let closing = socks
            .iter()
            .filter(|k| k.remote.port() == open_port && matches!(k.state, 4 | 5 | 11))
            .count() as u32;
        if tw + closing < churn && topped_up < churn {
            for _ in 0..(churn - tw - closing) {
                churn_one()?;
                topped_up += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Hold everything until the lab stops.
    std::thread::spawn(move || {
        let _keep = (held, ov, pending, leak_l);
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    Ok(SocketScenarios {
        leak_port,
        leak_connections: leak,
        churn_port: open_port,
        churn_connections: churn,
        overflow_port,
        overflow_backlog: backlog as u32,
        overflow_connections: overflow,
    })
}

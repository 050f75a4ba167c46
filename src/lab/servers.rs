//! The scenario servers of `netlab lab`: plain std sockets, one thread per listener and per
//! connection, bounded in count, stopped by a shared flag.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::{Error, Result};

/// At most this many connections are served at once per scenario; more are closed at once.
pub const MAX_CONNECTIONS: u64 = 512;

/// What a scenario's server does with a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Accept, read until the client closes, then close.
    Open,
    /// Accept, wait, send a greeting, then read until the client closes.
    Slow(Duration),
    /// Accept and close at once: the server sends the first FIN and holds TIME_WAIT.
    ClosesFirst,
}

/// Counters a scenario keeps.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Connections being served now.
    pub active: AtomicU64,
}

/// Bind a TCP socket (dual-stack when `addr` is `[::]`), with SO_REUSEADDR.
fn bind(addr: SocketAddr) -> Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::io("open lab socket", e))?;
    s.set_reuse_address(true)
        .map_err(|e| Error::io("SO_REUSEADDR", e))?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        s.set_only_v6(false)
            .map_err(|e| Error::io("IPV6_V6ONLY", e))?;
    }
    s.bind(&addr.into()).map_err(|e| {
        Error::usage(format!(
            "lab: bind {addr}: {e} (pick other ports with --port-base, or 0 for any)"
        ))
    })?;
    Ok(s)
}

/// A port kept bound but never listening: every SYN to it is answered with RST, and nobody
/// else can take it while the lab runs.
pub fn closed_port(addr: SocketAddr) -> Result<(Socket, u16)> {
    let s = bind(addr)?;
    let port = s
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map(|a| a.port())
        .unwrap_or(0);
    Ok((s, port))
}

/// Wait until `listener` has a connection to accept (false: `stop` was set), waking every
/// 50 ms to look at the flag. No sleep-and-retry: accept runs only when a connection is
/// there, so neither a ClientHello nor a trace of the lab sees a polling delay or EAGAINs.
pub fn wait_for_connection(listener: &TcpListener, stop: &AtomicBool) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use std::os::fd::AsFd;
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        if matches!(poll(&mut fds, PollTimeout::from(50u16)), Ok(n) if n > 0) {
            return true;
        }
    }
    false
}

/// Start a listening scenario on `addr`; returns its port.
pub fn serve(
    addr: SocketAddr,
    behaviour: Behaviour,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
) -> Result<u16> {
    let s = bind(addr)?;
    s.listen(128)
        .map_err(|e| Error::io(format!("listen on {addr}"), e))?;
    let listener: TcpListener = s.into();
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("set non-blocking", e))?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((conn, _)) => {
                    counters.accepted.fetch_add(1, Ordering::SeqCst);
                    if counters.active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                        drop(conn);
                        continue;
                    }
                    counters.active.fetch_add(1, Ordering::SeqCst);
                    let (stop, counters) = (stop.clone(), counters.clone());
                    std::thread::spawn(move || {
                        handle(conn, behaviour, &stop);
                        counters.active.fetch_sub(1, Ordering::SeqCst);
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    wait_for_connection(&listener, &stop);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    Ok(port)
}

fn handle(mut conn: TcpStream, behaviour: Behaviour, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    match behaviour {
        Behaviour::ClosesFirst => return, // dropping the stream closes it: our FIN goes first
        Behaviour::Slow(d) => {
            std::thread::sleep(d);
            let _ = conn.write_all(b"220 netlab lab: slow hello\r\n");
        }
        Behaviour::Open => {}
    }
    // Read until the client closes (or the lab stops); a connection lives at most 10 min.
    let mut buf = [0u8; 4096];
    let end = std::time::Instant::now() + Duration::from_secs(600);
    while !stop.load(Ordering::SeqCst) && std::time::Instant::now() < end {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}

//! I/O-model servers of `netlab lab --io-servers` (loopback): the same echo service written
//! two ways, to watch with a syscall tracer how each one waits and wakes up.
//!
//! - `blocking`: thread per connection. A dedicated "blocking-accept" thread sits in a blocking
//!   accept (accept4(2)); each connection gets a "blocking-conn" thread that sits in a
//!   blocking read (recvfrom(2), what std's `TcpStream::read` calls) and writes back what it
//!   read until EOF.
//! - `epoll`: one "epoll-loop" thread, a non-blocking listener and non-blocking connections
//!   registered with one epoll instance (level-triggered); accept4, read and write happen
//!   only on readiness.
//!
//! Neither sleep-polls. The epoll loop waits at most 100 ms at a time, to see the stop flag;
//! the accept thread is woken at stop by one connection to itself ([`Handle`]'s drop), and it
//! then shuts down the connections it started, which wakes their threads' reads.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::socket::SockFlag;
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};

use super::servers::MAX_CONNECTIONS;
use crate::error::{Error, Result};

/// Where the I/O-model servers listen, for the ready event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IoServers {
    /// Thread-per-connection blocking echo server (port base + 0).
    pub blocking_port: u16,
    /// Single-threaded epoll echo server (port base + 1).
    pub epoll_port: u16,
    /// The lab's process id (what a syscall tracer attaches to).
    pub pid: u32,
}

/// A blocking read returns after this long without data (the thread then checks the stop flag
/// and reads again).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection lives at most this long.
const MAX_LIFE: Duration = Duration::from_secs(600);

/// The longest epoll_wait, in ms: how soon the epoll loop sees the stop flag.
const EPOLL_WAIT_MS: u16 = 100;

/// The epoll token of the listener; connections get 1, 2, ...
const LISTENER: u64 = 0;

/// Keeps the servers running; dropping it stops them (sets the stop flag, wakes the blocked
/// accept, and waits up to a second for both server threads to end).
pub struct Handle {
    stop: Arc<AtomicBool>,
    wake: SocketAddr,
    /// Disconnects when both server threads have ended (each holds a sender).
    finished: Receiver<()>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept thread is blocked in accept(): one connection wakes it up, it sees the
        // flag, and leaves.
        let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
        let _ = self.finished.recv_timeout(Duration::from_secs(1));
    }
}

/// A bound, listening TCP socket on `addr` (SO_REUSEADDR).
fn listen(addr: SocketAddr) -> Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|e| Error::io("lab --io-servers: socket", e))?;
    s.set_reuse_address(true)
        .map_err(|e| Error::io("lab --io-servers: SO_REUSEADDR", e))?;
    s.bind(&addr.into()).map_err(|e| {
        Error::usage(format!(
            "lab: bind {addr}: {e} (pick other ports with --io-port-base, or 0 for any)"
        ))
    })?;
    s.listen(128)
        .map_err(|e| Error::io(format!("lab --io-servers: listen on {addr}"), e))?;
    Ok(s)
}

fn port_of(s: &Socket) -> u16 {
    s.local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .map_or(0, |a| a.port())
}

/// Start both servers on `ip` (loopback): blocking on `base`, epoll on `base + 1` (base 0:
/// the kernel picks both ports). They run until the returned handle is dropped.
pub fn start(ip: IpAddr, base: u16, stop: Arc<AtomicBool>) -> Result<(IoServers, Handle)> {
    if base > 65534 {
        return Err(Error::usage(
            "--io-port-base must leave room for 2 ports (at most 65534)",
        ));
    }
    let port = |i: u16| if base == 0 { 0 } else { base + i };
    let blocking = listen(SocketAddr::new(ip, port(0)))?;
    let epoll_l = listen(SocketAddr::new(ip, port(1)))?;
    let (blocking_port, epoll_port) = (port_of(&blocking), port_of(&epoll_l));
    epoll_l
        .set_nonblocking(true)
        .map_err(|e| Error::io("lab --io-servers: non-blocking listener", e))?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
        .map_err(|e| Error::io("lab --io-servers: epoll_create1", e.into()))?;
    epoll
        .add(&epoll_l, EpollEvent::new(EpollFlags::EPOLLIN, LISTENER))
        .map_err(|e| Error::io("lab --io-servers: epoll_ctl", e.into()))?;
    let (done, finished) = std::sync::mpsc::channel();
    // From here on, dropping the handle (on an error too) stops what was started.
    let handle = Handle {
        stop: stop.clone(),
        wake: SocketAddr::new(ip, blocking_port),
        finished,
    };
    let spawn_err = |e| Error::io("lab --io-servers: start a thread", e);
    let listener: TcpListener = blocking.into();
    let (s, d) = (stop.clone(), done.clone());
    std::thread::Builder::new()
        .name("blocking-accept".into())
        .spawn(move || {
            accept_loop(&listener, &s);
            drop(d);
        })
        .map_err(spawn_err)?;
    std::thread::Builder::new()
        .name("epoll-loop".into())
        .spawn(move || {
            epoll_loop(&epoll, &epoll_l, &stop);
            drop(done);
        })
        .map_err(spawn_err)?;
    Ok((
        IoServers {
            blocking_port,
            epoll_port,
            pid: std::process::id(),
        },
        handle,
    ))
}

/// The blocking server's listener thread: accept (blocking), one thread per connection.
fn accept_loop(listener: &TcpListener, stop: &Arc<AtomicBool>) {
    // Clones of the live connections, to shut them down (and so wake their reads) at stop.
    let live: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
    let active = Arc::new(AtomicU64::new(0));
    let mut next = 0u64;
    loop {
        let conn = match listener.accept() {
            Ok((conn, _)) => conn,
            Err(_) if stop.load(Ordering::SeqCst) => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => {
                // Out of descriptors or memory: back off a little rather than spin.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if stop.load(Ordering::SeqCst) {
            break; // the wake-up connection (or a late client): dropped here
        }
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue;
        }
        next += 1;
        let id = next;
        if let (Ok(clone), Ok(mut l)) = (conn.try_clone(), live.lock()) {
            l.insert(id, clone);
        }
        active.fetch_add(1, Ordering::SeqCst);
        let (s, lv, act) = (stop.clone(), live.clone(), active.clone());
        let started = std::thread::Builder::new()
            .name("blocking-conn".into())
            .spawn(move || {
                echo_blocking(conn, &s);
                if let Ok(mut l) = lv.lock() {
                    l.remove(&id);
                }
                act.fetch_sub(1, Ordering::SeqCst);
            });
        if started.is_err() {
            // The closure (and the connection) was dropped: undo the bookkeeping.
            if let Ok(mut l) = live.lock() {
                l.remove(&id);
            }
            active.fetch_sub(1, Ordering::SeqCst);
        }
    }
    if let Ok(mut l) = live.lock() {
        for (_, c) in l.drain() {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

/// One blocking connection: read (blocking), write back, until EOF or the lab stops.
fn echo_blocking(mut conn: TcpStream, stop: &AtomicBool) {
    let _ = conn.set_read_timeout(Some(READ_TIMEOUT));
    let end = Instant::now() + MAX_LIFE;
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::SeqCst) && Instant::now() < end {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
}

/// A connection of the epoll server.
struct Conn {
    stream: TcpStream,
    /// Read but not yet written back; while not empty, the connection waits for EPOLLOUT
    /// instead of EPOLLIN (the client has to read before it may send more).
    pending: Vec<u8>,
    /// What it is registered for.
    interest: EpollFlags,
}

/// The epoll server: one thread, level-triggered readiness on the listener and every
/// connection.
fn epoll_loop(epoll: &Epoll, listener: &Socket, stop: &AtomicBool) {
    let mut conns: HashMap<u64, Conn> = HashMap::new();
    let mut next = LISTENER;
    let mut events = vec![EpollEvent::empty(); 64];
    let mut buf = [0u8; 4096];
    let flags = (SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC).bits();
    while !stop.load(Ordering::SeqCst) {
        let n = match epoll.wait(&mut events, EPOLL_WAIT_MS) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        };
        for ev in &events[..n] {
            let token = ev.data();
            if token == LISTENER {
                // Accept everything queued: the listener is non-blocking.
                loop {
                    match listener.accept4(flags) {
                        Ok((s, _)) => {
                            if conns.len() as u64 >= MAX_CONNECTIONS {
                                continue; // dropped: closed at once
                            }
                            let stream: TcpStream = s.into();
                            next += 1;
                            let ev = EpollEvent::new(EpollFlags::EPOLLIN, next);
                            if epoll.add(&stream, ev).is_ok() {
                                conns.insert(
                                    next,
                                    Conn {
                                        stream,
                                        pending: Vec::new(),
                                        interest: EpollFlags::EPOLLIN,
                                    },
                                );
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => {}
                        // WouldBlock: the queue is empty. Anything else (out of descriptors):
                        // try again on the next readiness.
                        Err(_) => break,
                    }
                }
                continue;
            }
            let Some(c) = conns.get_mut(&token) else {
                continue;
            };
            let mut keep = serve(c, &mut buf);
            let want = if c.pending.is_empty() {
                EpollFlags::EPOLLIN
            } else {
                EpollFlags::EPOLLOUT
            };
            if keep && want != c.interest {
                c.interest = want;
                keep = epoll
                    .modify(&c.stream, &mut EpollEvent::new(want, token))
                    .is_ok();
            }
            if !keep {
                let _ = epoll.delete(&c.stream);
                conns.remove(&token); // dropping it closes the connection
            }
        }
    }
}

/// Handle readiness of one epoll connection (whatever the event: a read or write that cannot
/// proceed just returns WouldBlock). False: close it (EOF or an error).
fn serve(c: &mut Conn, buf: &mut [u8]) -> bool {
    if !c.pending.is_empty() {
        if !flush(c) {
            return false;
        }
        if !c.pending.is_empty() {
            return true;
        }
    }
    loop {
        return match c.stream.read(buf) {
            Ok(0) => false,
            Ok(n) => {
                c.pending.extend_from_slice(&buf[..n]);
                flush(c)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => e.kind() == ErrorKind::WouldBlock,
        };
    }
}

/// Write what is pending until done or the socket buffer is full. False on an error.
fn flush(c: &mut Conn) -> bool {
    while !c.pending.is_empty() {
        match c.stream.write(&c.pending) {
            Ok(0) => return false,
            Ok(n) => {
                c.pending.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return e.kind() == ErrorKind::WouldBlock,
        }
    }
    true
}

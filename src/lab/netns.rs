//! The namespace lab: client ─veth─ middle ─veth─ server, each its own network namespace.
//! The middle namespace runs a delay bridge (two AF_PACKET sockets, frames forwarded after a
//! fixed delay) because this kernel has no netem. Client and server share one subnet
//! (198.18.0.0/24, 2001:2::/64), so ARP and ND cross the bridge like a real segment.
//! Namespaces are removed when [`Topology`] is dropped (Ctrl-C included).

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::error::{Error, Result};
use crate::sys;
use crate::sys::packet::PacketSocket;

/// Client address (IPv4).
pub const CLIENT_V4: &str = "198.18.0.1";
/// Server address (IPv4).
pub const SERVER_V4: &str = "198.18.0.2";
/// Client address (IPv6).
pub const CLIENT_V6: &str = "2001:2::1";
/// Server address (IPv6).
pub const SERVER_V6: &str = "2001:2::2";
/// A second address answered by the server's macvlan, with a different MAC.
pub const SERVER_ALIAS_V4: &str = "198.18.0.3";
/// An address both s0 and the macvlan s1 hold: two MACs answer ARP for it (a conflict).
pub const CONFLICT_V4: &str = "198.18.0.10";
/// An address nobody holds: ARP for it goes unanswered.
pub const UNUSED_V4: &str = "198.18.0.99";

/// Run `ip` (or another tool) and turn a failure into a one-line error.
pub fn sh(args: &[&str]) -> Result<()> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| {
            Error::measure(format!(
                "lab: run {}: {e} (install iproute2, nftables, ethtool)",
                args[0]
            ))
        })?;
    if !out.status.success() {
        return Err(Error::measure(format!(
            "lab: `{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

fn ns_exec(ns: &str, args: &[&str]) -> Result<()> {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    sh(&v)
}

/// Load an nft ruleset (file syntax, on stdin) inside namespace `ns`.
fn nft(ns: &str, rules: &str) -> Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::measure(format!("lab: run nft: {e} (install nftables)")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(rules.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::measure(format!("lab: nft: {e}")))?;
    if !out.status.success() {
        return Err(Error::measure(format!(
            "lab: nft failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The three namespaces; dropping this removes them.
#[derive(Debug)]
pub struct Topology {
    /// Client namespace name.
    pub client: String,
    /// Middle (delay bridge) namespace name.
    pub middle: String,
    /// Server namespace name.
    pub server: String,
    /// Frames the bridge forwarded.
    pub forwarded: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    removed: bool,
}

/// Does a named network namespace exist?
pub fn exists(name: &str) -> bool {
    netns_path(name).exists()
}

/// `/run/netns/NAME`.
pub fn netns_path(name: &str) -> PathBuf {
    PathBuf::from("/run/netns").join(name)
}

impl Topology {
    /// Create the namespaces, links, addresses and the firewall rules of the server.
    pub fn create(prefix: &str, filtered_port: u16, unreachable_port: u16) -> Result<Topology> {
        let client = format!("{prefix}-c");
        let middle = format!("{prefix}-m");
        let server = format!("{prefix}-s");
        for n in [&client, &middle, &server] {
            if exists(n) {
                // Left over from a lab that was killed with SIGKILL: start clean.
                let _ = sh(&["ip", "netns", "del", n]);
            }
        }
        let t = Topology {
            client: client.clone(),
            middle: middle.clone(),
            server: server.clone(),
            forwarded: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            removed: false,
        };
        // From here on, a failure drops `t`, which removes whatever was created.
        for n in [&client, &middle, &server] {
            sh(&["ip", "netns", "add", n])?;
            ns_exec(n, &["ip", "link", "set", "lo", "up"])?;
        }
        sh(&[
            "ip", "link", "add", "c0", "netns", &client, "type", "veth", "peer", "name", "m0",
            "netns", &middle,
        ])?;
        sh(&[
            "ip", "link", "add", "s0", "netns", &server, "type", "veth", "peer", "name", "m1",
            "netns", &middle,
        ])?;
        // Fixed MACs so that ARP output is predictable.
        ns_exec(
            &client,
            &["ip", "link", "set", "c0", "address", "02:00:c6:12:00:01"],
        )?;
        ns_exec(
            &server,
            &["ip", "link", "set", "s0", "address", "02:00:c6:12:00:02"],
        )?;
        ns_exec(
            &middle,
            &["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
        )?;
        ns_exec(
            &middle,
            &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
        )?;
        for (ns, dev) in [
            (&client, "c0"),
            (&middle, "m0"),
            (&middle, "m1"),
            (&server, "s0"),
        ] {
            // Forwarded frames must carry full checksums and stay within the MTU.
            ns_exec(
                ns,
                &[
                    "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "off",
                ],
            )?;
            ns_exec(ns, &["ip", "link", "set", dev, "up"])?;
        }
        ns_exec(&middle, &["ip", "link", "set", "m0", "promisc", "on"])?;
        ns_exec(&middle, &["ip", "link", "set", "m1", "promisc", "on"])?;
        ns_exec(
            &client,
            &["ip", "addr", "add", &format!("{CLIENT_V4}/24"), "dev", "c0"],
        )?;
        ns_exec(
            &client,
            &[
                "ip",
                "addr",
                "add",
                &format!("{CLIENT_V6}/64"),
                "dev",
                "c0",
                "nodad",
            ],
        )?;
        ns_exec(
            &server,
            &["ip", "addr", "add", &format!("{SERVER_V4}/24"), "dev", "s0"],
        )?;
        ns_exec(
            &server,
            &[
                "ip",
                "addr",
                "add",
                &format!("{SERVER_V6}/64"),
                "dev",
                "s0",
                "nodad",
            ],
        )?;
        // A macvlan answering for a second address with another MAC (duplicate-reply case).
        ns_exec(
            &server,
            &[
                "ip",
                "link",
                "add",
                "s1",
                "link",
                "s0",
                "address",
                "02:00:c6:12:00:03",
                "type",
                "macvlan",
                "mode",
                "bridge",
            ],
        )?;
        ns_exec(
            &server,
            &[
                "ip",
                "addr",
                "add",
                &format!("{SERVER_ALIAS_V4}/24"),
                "dev",
                "s1",
            ],
        )?;
        ns_exec(&server, &["ip", "link", "set", "s1", "up"])?;
        // Each interface answers ARP only for its own addresses (else s0 and s1 would both
        // answer for everything); the conflict address is on both, so both answer for it.
        for conf in ["all", "s0", "s1"] {
            ns_exec(
                &server,
                &[
                    "sysctl",
                    "-qw",
                    &format!("net.ipv4.conf.{conf}.arp_ignore=1"),
                ],
            )?;
        }
        ns_exec(
            &server,
            &[
                "ip",
                "addr",
                "add",
                &format!("{CONFLICT_V4}/24"),
                "dev",
                "s0",
            ],
        )?;
        ns_exec(
            &server,
            &[
                "ip",
                "addr",
                "add",
                &format!("{CONFLICT_V4}/24"),
                "dev",
                "s1",
            ],
        )?;
        let rules = format!(
            "table inet netlab_lab {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    \
             tcp dport {filtered_port} drop\n    \
             meta nfproto ipv4 tcp dport {unreachable_port} reject with icmp type admin-prohibited\n    \
             meta nfproto ipv6 tcp dport {unreachable_port} reject with icmpv6 type admin-prohibited\n  }}\n}}\n"
        );
        nft(&server, &rules)?;
        Ok(t)
    }

    /// Start the delay bridge between m0 and m1 in the middle namespace.
    pub fn start_bridge(&self, delay: Duration) -> Result<()> {
        let path = netns_path(&self.middle);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        for (from, to) in [("m0", "m1"), ("m1", "m0")] {
            let (path, stop, fwd, ready) = (
                path.clone(),
                self.stop.clone(),
                self.forwarded.clone(),
                ready_tx.clone(),
            );
            std::thread::spawn(move || {
                let setup = || -> Result<(PacketSocket, PacketSocket)> {
                    sys::enter_netns(&path)
                        .map_err(|e| Error::io("enter the middle namespace", e))?;
                    let idx = |n: &str| {
                        nix::net::if_::if_nametoindex(n)
                            .map_err(|e| Error::io(format!("find {n}"), e.into()))
                    };
                    let (fi, ti) = (idx(from)?, idx(to)?);
                    let rx = PacketSocket::open(fi, None)
                        .map_err(|e| Error::io(format!("capture on {from}"), e))?;
                    rx.set_promiscuous(fi)
                        .map_err(|e| Error::io("promiscuous mode", e))?;
                    let tx = PacketSocket::open(
                        ti,
                        Some(&crate::capture::bpf::Program(vec![
                            crate::capture::bpf::Insn::new(0x06, 0, 0, 0), // receive nothing
                        ])),
                    )
                    .map_err(|e| Error::io(format!("open {to}"), e))?;
                    Ok((rx, tx))
                };
                match setup() {
                    Ok((rx, tx)) => {
                        let _ = ready.send(Ok(()));
                        bridge(rx, tx, delay, &stop, &fwd);
                    }
                    Err(e) => {
                        let _ = ready.send(Err(e));
                    }
                }
            });
        }
        for _ in 0..2 {
            ready_rx
                .recv_timeout(Duration::from_secs(5))
                .map_err(|_| Error::measure("lab: the delay bridge did not start"))??;
        }
        Ok(())
    }

    /// Path of the server namespace (for threads that serve from it).
    pub fn server_path(&self) -> PathBuf {
        netns_path(&self.server)
    }

    /// Remove the namespaces (also done on drop).
    pub fn remove(&mut self) -> bool {
        self.stop.store(true, Ordering::SeqCst);
        if self.removed {
            return true;
        }
        self.removed = true;
        let mut ok = true;
        for n in [&self.client, &self.middle, &self.server] {
            if exists(n) && sh(&["ip", "netns", "del", n]).is_err() {
                ok = false;
            }
        }
        ok
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Forward frames from `rx` to `tx`, each `delay` after it arrived, in order.
fn bridge(rx: PacketSocket, tx: PacketSocket, delay: Duration, stop: &AtomicBool, fwd: &AtomicU64) {
    let (q_tx, q_rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    let stop_sender = Arc::new(AtomicBool::new(false));
    let stop2 = stop_sender.clone();
    let sender = std::thread::spawn(move || {
        while !stop2.load(Ordering::SeqCst) {
            let Ok((due, frame)) = q_rx.recv_timeout(Duration::from_millis(50)) else {
                continue;
            };
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let _ = tx.send(&frame);
        }
    });
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::SeqCst) && !sys::interrupted() {
        let mut fds = [PollFd::new(rx.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(50u16)).unwrap_or(0) == 0 {
            continue;
        }
        while let Ok((meta, n)) = rx.recv(&mut buf) {
            if meta.pkttype == 4 {
                continue; // our own transmissions on this port
            }
            fwd.fetch_add(1, Ordering::Relaxed);
            let _ = q_tx.send((Instant::now() + delay, buf[..n].to_vec()));
        }
    }
    stop_sender.store(true, Ordering::SeqCst);
    let _ = sender.join();
}

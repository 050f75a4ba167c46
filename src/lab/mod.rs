//! `netlab lab`: a mini-internet on this machine for demos and tests. Serves, in the
//! foreground until Ctrl-C (or `--duration`), the scenarios other commands are tried on, and
//! prints what it serves and where. Binds only loopback, or addresses inside namespaces it
//! creates (and removes on exit). With `--dns`, also a DNS hierarchy on 127.0.0.2-127.0.0.11
//! ([`dns`]; its signed zones: [`signing`]).

pub mod dns;
pub mod io;
pub mod netns;
pub mod resolver;
pub mod servers;
pub mod signing;
pub mod sockets;
pub mod tls;

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use crate::GlobalOpts;
use crate::error::{Error, Result};
use crate::net::{fmt_duration, parse_duration};
use crate::output::{self, Event, Printer, Report, SCHEMA_VERSION, Style};
use crate::sys::{self, Privilege};
use servers::{Behaviour, Counters};

/// Arguments of `netlab lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// Build client / middle / server network namespaces (198.18.0.0/24, 2001:2::/64) with a
    /// delay bridge in the middle, and serve from the server namespace (needs root).
    #[arg(long)]
    pub netns: bool,
    /// Namespace name prefix (PREFIX-c, PREFIX-m, PREFIX-s).
    #[arg(long, default_value = "netlab", value_name = "PREFIX")]
    pub prefix: String,
    /// First port: open, closed, slow, closes-first, filtered, unreachable follow in order.
    /// 0 lets the kernel pick (loopback mode only).
    #[arg(long, default_value_t = 18080, value_name = "PORT")]
    pub port_base: u16,
    /// Loopback address to serve on (loopback mode).
    #[arg(long, default_value = "127.0.0.1", value_name = "ADDR")]
    pub bind: IpAddr,
    /// One-way delay the bridge adds in each direction (netns mode).
    #[arg(long, default_value = "20ms", value_parser = parse_duration)]
    pub delay: Duration,
    /// How long the slow server waits before its greeting.
    #[arg(long, default_value = "250ms", value_parser = parse_duration)]
    pub slow: Duration,
    /// Stop by itself after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Also serve a DNS hierarchy from zone files built into netlab: root 127.0.0.2, test.
    /// 127.0.0.3-4, example.test. 127.0.0.5-7 (one lame, one stale), big.test. 127.0.0.8
    /// (truncates over UDP), cdn.test. 127.0.0.9 (glueless), cdnhost.test. 127.0.0.10,
    /// signed.test. and broken.test. 127.0.0.11 (DNSSEC-signed at start; the DS test. holds
    /// for broken.test. matches no key). Always on this host's loopback, in netns mode too.
    #[arg(long)]
    pub dns: bool,
    /// Port of every DNS server, UDP and TCP (referrals carry no port, so all share one).
    /// Below 1024 needs root or CAP_NET_BIND_SERVICE.
    #[arg(long, default_value_t = 53, value_name = "PORT", requires = "dns")]
    pub dns_port: u16,
    /// Also serve a recursive resolver on ADDR, port 53 (what a stub resolver in a test
    /// namespace points resolv.conf at). It resolves from the lab root and caches; its cache
    /// starts with one stale entry (api.example.test. A 192.0.2.99) for `dns lookup --compare`.
    #[arg(long, value_name = "ADDR", requires = "dns")]
    pub resolver: Option<IpAddr>,
    /// Also build socket-state scenarios on loopback (for `netlab sockets`): a server leaking
    /// CLOSE_WAIT, a client leaving TIME_WAIT, a listener whose accept queue overflows.
    #[arg(long)]
    pub sockets: bool,
    /// With --sockets: connections to the leaking server (CLOSE_WAIT on its side).
    #[arg(long, default_value_t = 20, requires = "sockets")]
    pub leak: u32,
    /// With --sockets: short connections the client closes first (TIME_WAIT).
    #[arg(long, default_value_t = 30, requires = "sockets")]
    pub churn: u32,
    /// With --sockets: connections to the never-accepting listener (backlog 2).
    #[arg(long, default_value_t = 6, requires = "sockets")]
    pub overflow: u32,
    /// Also serve a TLS matrix on --bind with a private CA made at start: valid, tls12,
    /// expired, not_yet_valid, wrong_host, incomplete_chain, self_signed, hrr, alpn_h2, ocsp
    /// (one port each, in that order). Certificates, keys and the CA file go to --tls-dir.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: the first TLS port (0: any free ports).
    #[arg(long, default_value_t = 18443, value_name = "PORT", requires = "tls")]
    pub tls_port_base: u16,
    /// With --tls: where to write the CA, chains, keys and OCSP response [default: the
    /// temporary directory's netlab-lab-tls].
    #[arg(long, value_name = "DIR", requires = "tls")]
    pub tls_dir: Option<std::path::PathBuf>,
    /// Also serve two echo servers on --bind, to watch I/O models with a syscall tracer:
    /// `blocking` (thread per connection: one thread blocked in accept, one per connection
    /// blocked reading) and `epoll` (one thread, non-blocking sockets, epoll_wait).
    #[arg(long)]
    pub io_servers: bool,
    /// With --io-servers: the blocking server's port; the epoll server's is the next one
    /// (0: any free ports).
    #[arg(
        long,
        default_value_t = 18090,
        value_name = "PORT",
        requires = "io_servers"
    )]
    pub io_port_base: u16,
}

/// One thing the lab serves.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Scenario {
    /// Stable name: open, closed, slow, closes_first, filtered, unreachable.
    pub name: &'static str,
    /// Address to probe.
    pub address: String,
    /// Port.
    pub port: u16,
    /// What `tcp handshake` should find.
    pub expect: &'static str,
    /// In words.
    pub behaviour: String,
}

/// Printed once everything is up.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabReady {
    /// JSON contract version.
    pub schema_version: u32,
    /// "loopback" or "netns".
    pub mode: &'static str,
    /// Namespaces, netns mode.
    pub namespaces: Option<Namespaces>,
    /// Bridge delay each way, ms (netns mode).
    pub delay_ms: Option<f64>,
    /// What is served.
    pub scenarios: Vec<Scenario>,
    /// Commands to try.
    pub try_commands: Vec<String>,
    /// The DNS hierarchy (`--dns`), or null.
    pub dns: Option<dns::DnsLab>,
    /// The recursive resolver (`--resolver`), `ADDR:53`, or null.
    pub resolver: Option<String>,
    /// The socket-state scenarios (`--sockets`), or null.
    pub sockets: Option<sockets::SocketScenarios>,
    /// The TLS matrix (`--tls`), or null.
    pub tls: Option<tls::TlsLab>,
    /// The I/O-model servers (`--io-servers`), or null.
    pub io: Option<io::IoServers>,
}

/// The lab's namespaces.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Namespaces {
    /// Run clients here: `ip netns exec CLIENT ...`.
    pub client: String,
    /// The delay bridge.
    pub middle: String,
    /// The servers.
    pub server: String,
    /// Client addresses.
    pub client_addresses: Vec<String>,
    /// Server addresses.
    pub server_addresses: Vec<String>,
}

/// Printed when the lab stops.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LabReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "lab".
    pub command: &'static str,
    /// "loopback" or "netns".
    pub mode: &'static str,
    /// Connections accepted per scenario.
    pub accepted: Vec<Accepted>,
    /// Frames the delay bridge forwarded (netns mode).
    pub forwarded_frames: Option<u64>,
    /// How long the lab ran, seconds.
    pub ran_s: f64,
    /// Namespaces removed (netns mode).
    pub cleaned_up: bool,
    /// DNS queries answered, all servers together (`--dns`), or null.
    pub dns_queries: Option<u64>,
}

/// Connections one scenario accepted.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Accepted {
    /// Scenario name.
    pub name: &'static str,
    /// Count.
    pub connections: u64,
}

impl Event for LabReady {
    const KIND: &'static str = "ready";
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> std::io::Result<()> {
        writeln!(out, "{} ({})", st.bold("netlab lab is serving"), self.mode)?;
        if let Some(n) = &self.namespaces {
            writeln!(
                out,
                "namespaces: client {} ({}) — middle {} (delay bridge, {} each way) — server {} ({})",
                n.client,
                n.client_addresses.join(", "),
                n.middle,
                output::fmt_us(self.delay_ms.map(|d| d * 1000.0)),
                n.server,
                n.server_addresses.join(", ")
            )?;
        }
        let mut t = output::table(&["scenario", "address", "expect", "behaviour"]);
        for s in &self.scenarios {
            let addr = if s.address.contains(':') {
                format!("[{}]:{}", s.address, s.port)
            } else {
                format!("{}:{}", s.address, s.port)
            };
            t.add_row(vec![
                s.name.to_string(),
                addr,
                s.expect.to_string(),
                s.behaviour.clone(),
            ]);
        }
        writeln!(out, "{t}")?;
        if let Some(d) = &self.dns {
            writeln!(
                out,
                "DNS on port {} (UDP and TCP), root hint {}:",
                d.port,
                d.root_hints.join(", ")
            )?;
            let mut t = output::table(&["server", "address", "zones", "behaviour"]);
            for s in &d.servers {
                let behaviour = dns::SERVERS
                    .iter()
                    .find(|x| x.name == s.name)
                    .map(|x| x.behaviour.describe())
                    .unwrap_or(s.behaviour);
                t.add_row(vec![
                    s.name.to_string(),
                    s.address.clone(),
                    if s.zones.is_empty() {
                        "-".into()
                    } else {
                        s.zones.join(" ")
                    },
                    behaviour.to_string(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        if let Some(t) = &self.tls {
            writeln!(
                out,
                "TLS on {} (CA file {}, files in {}):",
                t.scenarios
                    .first()
                    .map(|s| s.address.as_str())
                    .unwrap_or("-"),
                t.ca_file,
                t.dir
            )?;
            let mut tt = output::table(&["scenario", "port", "expect", "behaviour"]);
            for s in &t.scenarios {
                tt.add_row(vec![
                    s.name.to_string(),
                    s.port.to_string(),
                    s.expect.to_string(),
                    s.behaviour.to_string(),
                ]);
            }
            writeln!(out, "{tt}")?;
        }
        if let Some(i) = &self.io {
            let addr = self.scenarios.first().map_or("127.0.0.1", |s| &s.address);
            let hp = |p: u16| {
                if addr.contains(':') {
                    format!("[{addr}]:{p}")
                } else {
                    format!("{addr}:{p}")
                }
            };
            writeln!(
                out,
                "I/O servers: blocking (thread per connection) {}, epoll {}, pid {}",
                hp(i.blocking_port),
                hp(i.epoll_port),
                i.pid
            )?;
        }
        writeln!(out, "try:")?;
        for c in &self.try_commands {
            writeln!(out, "  {c}")?;
        }
        writeln!(
            out,
            "Ctrl-C stops the lab{}.",
            if self.namespaces.is_some() {
                " and removes its namespaces"
            } else {
                ""
            }
        )
    }
}

impl Report for LabReport {
    fn write_human(&self, out: &mut dyn Write, _st: &Style) -> std::io::Result<()> {
        let acc: Vec<String> = self
            .accepted
            .iter()
            .map(|a| format!("{} {}", a.name, a.connections))
            .collect();
        writeln!(
            out,
            "lab stopped after {:.1}s; connections accepted: {}{}{}{}",
            self.ran_s,
            acc.join(", "),
            self.dns_queries
                .map(|q| format!("; DNS queries answered {q}"))
                .unwrap_or_default(),
            self.forwarded_frames
                .map(|f| format!("; bridge forwarded {f} frames"))
                .unwrap_or_default(),
            if self.mode == "netns" {
                if self.cleaned_up {
                    "; namespaces removed"
                } else {
                    "; some namespaces could not be removed"
                }
            } else {
                ""
            }
        )
    }
    fn exit_code(&self) -> i32 {
        if self.cleaned_up {
            0
        } else {
            crate::error::EXIT_USAGE
        }
    }
}

/// Start the four socket scenarios on `addr` (inside the namespace at `ns`, if given).
/// Ports: [open, closed, slow, closes_first].
fn serve_all(
    ns: Option<std::path::PathBuf>,
    addr: IpAddr,
    ports: [u16; 4],
    slow: Duration,
    stop: Arc<AtomicBool>,
    counters: [Arc<Counters>; 3],
) -> Result<[u16; 4]> {
    let (tx, rx) = std::sync::mpsc::channel::<Result<[u16; 4]>>();
    std::thread::spawn(move || {
        let setup = || -> Result<(socket2::Socket, [u16; 4])> {
            if let Some(path) = &ns {
                // Sockets opened (and threads started) from here on belong to that namespace.
                sys::enter_netns(path).map_err(|e| Error::io("enter the server namespace", e))?;
            }
            let sa = |p: u16| SocketAddr::new(addr, p);
            let open = servers::serve(
                sa(ports[0]),
                Behaviour::Open,
                stop.clone(),
                counters[0].clone(),
            )?;
            let (closed_sock, closed) = servers::closed_port(sa(ports[1]))?;
            let slow = servers::serve(
                sa(ports[2]),
                Behaviour::Slow(slow),
                stop.clone(),
                counters[1].clone(),
            )?;
            let first = servers::serve(
                sa(ports[3]),
                Behaviour::ClosesFirst,
                stop.clone(),
                counters[2].clone(),
            )?;
            Ok((closed_sock, [open, closed, slow, first]))
        };
        match setup() {
            Ok((closed_sock, got)) => {
                let _ = tx.send(Ok(got));
                // Keep the closed port reserved until the lab stops.
                while !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                drop(closed_sock);
            }
            Err(e) => {
                let _ = tx.send(Err(e));
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| Error::measure("lab: the servers did not start"))?
}

/// Run `netlab lab`.
pub fn run(a: &LabArgs, _g: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    let started = Instant::now();
    let base = a.port_base;
    if base > 65530 {
        return Err(Error::usage(
            "--port-base must leave room for 6 ports (at most 65530)",
        ));
    }
    let port = |i: u16| if base == 0 { 0 } else { base + i };
    if a.dns && a.dns_port == 0 {
        return Err(Error::usage(
            "--dns-port 0: every DNS server needs the same known port (referrals carry none); try --dns-port 5353",
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counters: [Arc<Counters>; 3] = Default::default();
    let dns_queries = Arc::new(AtomicU64::new(0));
    sys::catch_interrupts();
    let mut topology = None;
    let base_ports = [port(0), port(1), port(2), port(3)];
    let (mode, ports, addresses, namespaces): (
        &'static str,
        [u16; 4],
        Vec<IpAddr>,
        Option<Namespaces>,
    ) = if a.netns {
        let p = Privilege::discover();
        if !(p.net_admin && p.sys_admin) {
            return Err(Error::Privilege {
                what: "netlab lab --netns".into(),
                cap: "CAP_NET_ADMIN and CAP_SYS_ADMIN",
            });
        }
        if base == 0 {
            return Err(Error::usage(
                "--port-base 0 is for loopback mode; the namespace lab needs fixed ports",
            ));
        }
        let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if a.prefix.is_empty() || a.prefix.len() > 24 || !a.prefix.chars().all(valid) {
            return Err(Error::usage(
                "--prefix takes 1-24 letters, digits, '-' or '_'",
            ));
        }
        let t = netns::Topology::create(&a.prefix, port(4), port(5))?;
        t.start_bridge(a.delay)?;
        let any = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
        let ports = serve_all(
            Some(t.server_path()),
            any,
            base_ports,
            a.slow,
            stop.clone(),
            counters.clone(),
        )?;
        let ns = Namespaces {
            client: t.client.clone(),
            middle: t.middle.clone(),
            server: t.server.clone(),
            client_addresses: vec![netns::CLIENT_V4.into(), netns::CLIENT_V6.into()],
            server_addresses: vec![
                netns::SERVER_V4.into(),
                netns::SERVER_V6.into(),
                netns::SERVER_ALIAS_V4.into(),
            ],
        };
        topology = Some(t);
        let addrs = [netns::SERVER_V4, netns::SERVER_V6]
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        ("netns", ports, addrs, Some(ns))
    } else {
        if !a.bind.is_loopback() {
            return Err(Error::usage(format!(
                "lab: {} is not a loopback address; the lab serves only on 127.0.0.0/8 or ::1 (use --netns for a namespace lab)",
                a.bind
            )));
        }
        let ports = serve_all(
            None,
            a.bind,
            base_ports,
            a.slow,
            stop.clone(),
            counters.clone(),
        )?;
        ("loopback", ports, vec![a.bind], None)
    };
    let describe = |name: &str| -> String {
        match name {
            "open" => "accepts, reads until the client closes".into(),
            "closed" => "nothing listens: the kernel answers RST".into(),
            "slow" => format!("accepts, greets after {}, then waits", fmt_duration(a.slow)),
            "closes_first" => {
                "accepts and closes at once: server FIN first, TIME_WAIT on the server".into()
            }
            "filtered" => "nft drops the SYN: no answer".into(),
            _ => "nft rejects with ICMP administratively prohibited".into(),
        }
    };
    let mut named: Vec<(&'static str, u16, &'static str)> = vec![
        ("open", ports[0], "open"),
        ("closed", ports[1], "closed"),
        ("slow", ports[2], "open"),
        ("closes_first", ports[3], "open"),
    ];
    if a.netns {
        named.push(("filtered", port(4), "filtered"));
        named.push(("unreachable", port(5), "unreachable"));
    }
    let mut scenarios = Vec::new();
    for ip in &addresses {
        for (name, p, expect) in &named {
            scenarios.push(Scenario {
                name,
                address: ip.to_string(),
                port: *p,
                expect,
                behaviour: describe(name),
            });
        }
    }
    let hp = |ip: &IpAddr, p: u16| {
        if ip.is_ipv6() {
            format!("[{ip}]:{p}")
        } else {
            format!("{ip}:{p}")
        }
    };
    let pre = namespaces
        .as_ref()
        .map(|n| format!("ip netns exec {} ", n.client))
        .unwrap_or_default();
    let first = addresses[0];
    let mut try_commands = vec![
        format!("{pre}netlab tcp handshake {}", hp(&first, ports[0])),
        format!("{pre}netlab tcp handshake -c 2 {}", hp(&first, ports[1])),
        format!(
            "{pre}netlab tcp handshake -c 1 --close --hold 100ms {}",
            hp(&first, ports[3])
        ),
    ];
    if a.netns {
        try_commands.push(format!(
            "{pre}netlab tcp handshake -c 1 --timeout 500ms {}",
            hp(&first, port(4))
        ));
        try_commands.push(format!(
            "{pre}netlab tcp handshake -c 1 {}",
            hp(&first, port(5))
        ));
        try_commands.push(format!(
            "{pre}netlab tcp handshake --syn -6 {}",
            hp(&addresses[1], ports[0])
        ));
        try_commands.push(format!("{pre}netlab arp who-has 198.18.0.2"));
        try_commands.push(format!(
            "{pre}netlab arp who-has -c 1 {}   # two MACs answer: a conflict",
            netns::CONFLICT_V4
        ));
        try_commands.push(format!(
            "{pre}netlab arp probe --interval-min 100ms --interval-max 200ms --wait 300ms {}",
            netns::UNUSED_V4
        ));
        try_commands.push(format!("{pre}netlab arp scan 198.18.0.0/24"));
    }
    let dns = if a.dns {
        // In this process's own namespace (the host's loopback), in netns mode too. On an
        // error the scenario servers stop, and dropping the topology removes the namespaces.
        dns::start(a.dns_port, stop.clone(), dns_queries.clone())
            .inspect_err(|_| stop.store(true, Ordering::SeqCst))?;
        let d = dns::describe(a.dns_port);
        try_commands.extend(d.try_commands.iter().cloned());
        Some(d)
    } else {
        None
    };
    let resolver = match a.resolver {
        Some(ip) => {
            if !ip.is_loopback() {
                stop.store(true, Ordering::SeqCst);
                return Err(Error::usage(format!(
                    "--resolver {ip}: the lab serves only on loopback addresses"
                )));
            }
            let addr = SocketAddr::new(ip, 53);
            resolver::start(addr, a.dns_port, stop.clone(), dns_queries.clone())
                .inspect_err(|_| stop.store(true, Ordering::SeqCst))?;
            try_commands.push(format!("netlab dns lookup --compare --root 127.0.0.2 --port {} api.example.test (with resolv.conf: nameserver {ip})", a.dns_port));
            Some(addr.to_string())
        }
        None => None,
    };
    let socket_scenarios = if a.sockets {
        if a.netns {
            stop.store(true, Ordering::SeqCst);
            return Err(Error::usage(
                "--sockets runs on loopback: leave out --netns",
            ));
        }
        let s = sockets::start(
            a.bind,
            ports[0],
            (port(6), port(7)),
            (a.leak, a.churn, a.overflow),
            stop.clone(),
        )
        .inspect_err(|_| stop.store(true, Ordering::SeqCst))?;
        try_commands.push(format!(
            "netlab sockets --port {}   # CLOSE_WAIT leak",
            s.leak_port
        ));
        try_commands.push(format!(
            "netlab sockets --port {} --state time-wait",
            s.churn_port
        ));
        try_commands.push(format!(
            "netlab sockets --port {} --state listen",
            s.overflow_port
        ));
        Some(s)
    } else {
        None
    };
    let tls_lab = if a.tls {
        let dir = a.tls_dir.clone().unwrap_or_else(tls::default_dir);
        let t = tls::start(a.bind, a.tls_port_base, &dir, stop.clone())
            .inspect_err(|_| stop.store(true, Ordering::SeqCst))?;
        let hp = |p: u16| {
            if a.bind.is_ipv6() {
                format!("[{}]:{p}", a.bind)
            } else {
                format!("{}:{p}", a.bind)
            }
        };
        let port = |n: &str| {
            t.scenarios
                .iter()
                .find(|s| s.name == n)
                .map_or(0, |s| s.port)
        };
        try_commands.push(format!(
            "netlab tls inspect --ca {} --resume {}",
            t.ca_file,
            hp(port("valid"))
        ));
        try_commands.push(format!(
            "netlab tls inspect --ca {} {}   # expired",
            t.ca_file,
            hp(port("expired"))
        ));
        try_commands.push(format!(
            "netlab tls inspect --ca {} --sni {} {}   # OCSP staple",
            t.ca_file,
            t.host,
            hp(port("ocsp"))
        ));
        Some(t)
    } else {
        None
    };
    // Dropped when run() returns (after the summary, or on an error): that stops them.
    let (io_servers, _io_handle) = if a.io_servers {
        if a.netns {
            stop.store(true, Ordering::SeqCst);
            return Err(Error::usage(
                "--io-servers runs on loopback: leave out --netns",
            ));
        }
        let (i, h) = io::start(a.bind, a.io_port_base, stop.clone())
            .inspect_err(|_| stop.store(true, Ordering::SeqCst))?;
        try_commands.push(format!("netlab syscalls -p {}", i.pid));
        try_commands.push(format!("netlab syscalls -p {} --snapshot", i.pid));
        (Some(i), Some(h))
    } else {
        (None, None)
    };
    printer.event(&LabReady {
        schema_version: SCHEMA_VERSION,
        mode,
        namespaces,
        delay_ms: a.netns.then_some(a.delay.as_secs_f64() * 1000.0),
        scenarios,
        try_commands,
        dns,
        resolver,
        sockets: socket_scenarios,
        tls: tls_lab,
        io: io_servers,
    })?;
    let deadline = a.duration.map(|d| started + d);
    while !sys::interrupted() && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let forwarded_frames = topology
        .as_ref()
        .map(|t: &netns::Topology| t.forwarded.load(Ordering::Relaxed));
    let cleaned_up = topology.as_mut().map(|t| t.remove()).unwrap_or(true);
    let names = ["open", "slow", "closes_first"];
    let report = LabReport {
        schema_version: SCHEMA_VERSION,
        command: "lab",
        mode,
        accepted: names
            .iter()
            .zip(counters.iter())
            .map(|(n, c)| Accepted {
                name: n,
                connections: c.accepted.load(Ordering::SeqCst),
            })
            .collect(),
        forwarded_frames,
        ran_s: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        cleaned_up,
        dns_queries: a.dns.then(|| dns_queries.load(Ordering::SeqCst)),
    };
    printer.report(&report)?;
    Ok(report.exit_code())
}

//! The command line (clap derive only). Dispatch lives in `lib.rs`.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::net::parse_duration;

/// Exit codes, shown in `--help` and in the man pages.
pub const EXIT_CODES_HELP: &str = "\
Exit status:
  0   success: the check passed (port open, ...)
  1   the target failed the check: closed, filtered or unreachable (a finding, not an error)
  2   usage error, or the measurement could not be made (bad host, no route, timeout of set-up)
  77  a needed privilege is missing (CAP_NET_RAW / CAP_NET_ADMIN): run as root or
      `setcap cap_net_raw,cap_net_admin+ep $(command -v netlab)`

Output: tables for people; --json for one JSON document, --jsonl for one JSON object per
event and a final summary (see docs/json.md). NO_COLOR disables colour.";

/// netlab: see how a network conversation really happens, step by step, with exact numbers.
#[derive(Debug, Parser)]
#[command(name = "netlab", version, about, long_about = None, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOpts,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Colour choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is unset.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Global flags.
#[derive(Debug, Args)]
pub struct GlobalOpts {
    /// Print one JSON document (the whole report) on stdout.
    #[arg(long, global = true, conflicts_with = "jsonl")]
    pub json: bool,
    /// Print JSON Lines: one object per event as it happens, then a summary object.
    #[arg(long, global = true)]
    pub jsonl: bool,
    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Timeout of each network operation (200ms, 2s); the command's default otherwise.
    #[arg(long, global = true, value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Only the summary.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// More detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// TCP: handshake timing and teardown.
    Tcp(crate::tcp::TcpArgs),
    /// DNS: resolution from the root, every server, every hop.
    Dns(crate::dns::DnsArgs),
    /// TLS: timed handshake breakdown, certificate chain and every verification problem.
    Tls(crate::tls::TlsArgs),
    /// ARP: who-has with wire timing, conflicts, probes, announcements, scans, the neighbour table.
    Arp(crate::arp::ArpArgs),
    /// Socket-state summary: CLOSE_WAIT / TIME_WAIT by process, port and peer, and why they pile up.
    ///
    /// Sockets come from netlink sock_diag. Their owners come, as root on a kernel with BTF,
    /// from one eBPF pass over every process's fd table (`attribution: "ebpf_iter"`), else
    /// from /proc/PID/fd (`"procfs"`; without root only this user's processes are attributed;
    /// NETLAB_FDWALK=procfs forces this way).
    Sockets(crate::sockets::SocketsArgs),
    /// strace-style view of a server's network system calls: spawn, attach, or a snapshot of
    /// what each thread is blocked in.
    Syscalls(crate::syscalls::SyscallsArgs),
    /// Serve a local mini-internet (loopback or namespaces) for demos and tests.
    Lab(crate::lab::LabArgs),
    /// Write man pages and shell completions (for packagers and `make docs`).
    #[command(hide = true)]
    Generate(crate::generate::GenerateArgs),
}

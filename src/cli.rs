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

/// A command's arguments, added to clap's definition only when that command is used (or when
/// help, man pages or completions are made): a run builds one command's arguments, not every
/// command's, which is a good part of a one-shot command's start-up.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T> std::ops::Deref for Lazy<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: clap::FromArgMatches> clap::FromArgMatches for Lazy<T> {
    fn from_arg_matches(m: &clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(m).map(Lazy)
    }
    fn from_arg_matches_mut(m: &mut clap::ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(m).map(Lazy)
    }
    fn update_from_arg_matches(&mut self, m: &clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(m)
    }
    fn update_from_arg_matches_mut(&mut self, m: &mut clap::ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(m)
    }
}

/// Build every command's arguments at once (man pages and completions need the whole tree).
pub static EAGER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl<T: Args> Lazy<T> {
    /// `augment` applied to `cmd` keeping the description the command already has (the
    /// variant's doc comment, set before this runs), and the exit codes on the commands it
    /// adds.
    fn add(cmd: clap::Command, augment: fn(clap::Command) -> clap::Command) -> clap::Command {
        let about = cmd.get_about().cloned();
        let long_about = cmd.get_long_about().cloned();
        let cmd = crate::generate::with_exit_codes(augment(cmd));
        let cmd = match about {
            Some(a) => cmd.about(a),
            None => cmd.about(None::<&'static str>),
        };
        match long_about {
            Some(a) => cmd.long_about(a),
            None => cmd.long_about(None::<&'static str>),
        }
    }
}

impl<T: Args> Args for Lazy<T> {
    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
    fn augment_args(cmd: clap::Command) -> clap::Command {
        if EAGER.load(std::sync::atomic::Ordering::Relaxed) {
            return T::augment_args(cmd);
        }
        cmd.defer(|c| Self::add(c, T::augment_args))
    }
    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        if EAGER.load(std::sync::atomic::Ordering::Relaxed) {
            return T::augment_args_for_update(cmd);
        }
        cmd.defer(|c| Self::add(c, T::augment_args_for_update))
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// TCP: handshake timing and teardown.
    Tcp(Lazy<crate::tcp::TcpArgs>),
    /// DNS: resolution from the root, every server, every hop.
    Dns(Lazy<crate::dns::DnsArgs>),
    /// TLS: timed handshake breakdown, certificate chain and every verification problem.
    Tls(Lazy<crate::tls::TlsArgs>),
    /// ARP: who-has with wire timing, conflicts, probes, announcements, scans, the neighbour table.
    Arp(Lazy<crate::arp::ArpArgs>),
    /// Socket-state summary: CLOSE_WAIT / TIME_WAIT by process, port and peer, and why they pile up.
    ///
    /// Sockets come from netlink sock_diag. Their owners come, as root on a kernel with BTF,
    /// from one eBPF pass over every process's fd table (`attribution: "ebpf_iter"`), else
    /// from /proc/PID/fd (`"procfs"`; without root only this user's processes are attributed;
    /// NETLAB_FDWALK=procfs forces this way).
    Sockets(Lazy<crate::sockets::SocketsArgs>),
    /// strace-style view of a server's network system calls: spawn, attach, or a snapshot of
    /// what each thread is blocked in.
    Syscalls(Lazy<crate::syscalls::SyscallsArgs>),
    /// Serve a local mini-internet (loopback or namespaces) for demos and tests.
    Lab(Lazy<crate::lab::LabArgs>),
    /// Write man pages and shell completions (for packagers and `make docs`).
    #[command(hide = true)]
    Generate(crate::generate::GenerateArgs),
}

//! netlab: one binary that shows how a network conversation really happens, step by step,
//! with exact numbers — for people (tables) and scripts (JSON).
//!
//! # Architecture
//! `argv` → clap ([`cli`]) → one match in [`run`] → `<capability>::run` builds one typed
//! report → [`output`] renders it as a table, JSON or JSON Lines → the report's exit code.
//!
//! Three seams in every capability:
//! 1. bytes → typed values: pure parsers ([`tcp::wire`], [`capture::bpf`]);
//! 2. the algorithm: pure, fed with values and timestamps ([`tcp::analysis`], [`tcp::stats`]);
//! 3. I/O at the edge: [`net`] (unprivileged sockets), [`capture`] (AF_PACKET + pcap),
//!    [`sys`] (capabilities, raw kernel interfaces: the only `unsafe`).
//!
//! # Invariants
//! - Table and JSON come from the same report value; renderers never compute.
//! - `null` in JSON means "not measured", never 0; units are in key names.
//! - Exit codes: 0 ok, 1 the target failed the check, 2 usage / could not measure,
//!   77 missing privilege ([`error`]).
//! - A negative finding is a result, not an error. Every network operation has a timeout.
//! - Printing happens only in [`output`] and `main`.

pub mod arp;
pub mod capture;
pub mod cli;
pub mod dns;
pub mod error;
pub mod generate;
pub mod lab;
pub mod net;
pub mod output;
pub mod sockets;
pub mod sys;
pub mod syscalls;
pub mod tcp;
pub mod tls;

use std::io::{IsTerminal, Write};

pub use cli::{Cli, Command, GlobalOpts};
use error::Result;
use output::{Format, Printer, Style};

/// The output style the global flags ask for.
pub fn style(g: &GlobalOpts) -> Style {
    let format = if g.json {
        Format::Json
    } else if g.jsonl {
        Format::Jsonl
    } else {
        Format::Table
    };
    let color = match g.color {
        cli::ColorChoice::Always => true,
        cli::ColorChoice::Never => false,
        cli::ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    Style {
        format,
        color: color && format == Format::Table,
        quiet: g.quiet,
        verbose: g.verbose,
    }
}

/// Run a parsed command line, writing to `out`; returns the exit code.
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<i32> {
    let mut printer = Printer::new(out, style(&cli.global));
    match &cli.command {
        Command::Tcp(a) => tcp::run(a, &cli.global, &mut printer),
        Command::Dns(a) => dns::run(a, &cli.global, &mut printer),
        Command::Tls(a) => tls::run(a, &cli.global, &mut printer),
        Command::Arp(a) => arp::run(a, &cli.global, &mut printer),
        Command::Sockets(a) => sockets::run(a, &cli.global, &mut printer),
        Command::Syscalls(a) => syscalls::run(a, &cli.global, &mut printer),
        Command::Lab(a) => lab::run(a, &cli.global, &mut printer),
        Command::Generate(a) => generate::run(a),
    }
}

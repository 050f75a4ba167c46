//! `netlab tls inspect HOST[:PORT]`: a TLS handshake driven by rustls one record at a time, so
//! each message in both directions gets its µs offset and size; the TLS 1.3 encrypted flight is
//! labelled by opening it with the session's own secrets. Negotiated parameters, every
//! certificate, and every verification problem (the verifier records instead of aborting).

pub mod cert;
pub mod driver;
pub mod legacy;
pub mod ocsp;
pub mod record;
pub mod report;
pub mod verify;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::GlobalOpts;
use crate::error::Result;
use crate::output::Printer;

/// `netlab tls ...`
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TlsCommand,
}

/// TLS subcommands.
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Timed TLS handshake breakdown: message timeline, negotiated parameters, certificate
    /// chain and every verification problem.
    Inspect(InspectArgs),
}

/// Which trust store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Roots {
    /// The Mozilla roots built into netlab (webpki-roots).
    Webpki,
    /// The system's store (/etc/ssl/certs).
    Native,
}

/// Arguments of `netlab tls inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// HOST or HOST:PORT (default port 443); an IPv6 address alone, or bracketed with a port.
    pub target: String,
    /// Send this name as SNI and check the certificate against it (connect to HOST anyway).
    #[arg(long, value_name = "NAME", conflicts_with = "no_sni")]
    pub sni: Option<String>,
    /// Send no SNI (the certificate is then checked against HOST).
    #[arg(long)]
    pub no_sni: bool,
    /// Offer these ALPN protocols, comma-separated (h2,http/1.1).
    #[arg(long, value_name = "LIST")]
    pub alpn: Option<String>,
    /// Trust the CA certificates in this PEM file (instead of --roots).
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Trust store when no --ca is given.
    #[arg(long, value_enum, default_value_t = Roots::Webpki)]
    pub roots: Roots,
    /// Offer TLS 1.2 only.
    #[arg(long, conflicts_with = "tls13")]
    pub tls12: bool,
    /// Offer TLS 1.3 only.
    #[arg(long)]
    pub tls13: bool,
    /// Abort on the first certificate problem, like an ordinary client.
    #[arg(long)]
    pub strict: bool,
    /// Do not check the certificate's name.
    #[arg(long)]
    pub no_hostname_check: bool,
    /// After the handshake, wait this long (at least; 3 round trips when longer) for the
    /// server's session tickets [default: 2ms, 200ms with --resume].
    #[arg(long, value_name = "DURATION", value_parser = crate::net::parse_duration)]
    pub ticket_wait: Option<std::time::Duration>,
    /// Open a second connection that resumes the first's session: resumed or not, and the
    /// time and bytes it saved.
    #[arg(long)]
    pub resume: bool,
    /// Capture the run's packets to FILE (pcap, nanosecond timestamps; needs CAP_NET_RAW).
    /// With --keylog, Wireshark decrypts it.
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Append the session's secrets to FILE (SSLKEYLOGFILE format, for Wireshark).
    #[arg(long, value_name = "FILE")]
    pub keylog: Option<PathBuf>,
    /// IPv4 only.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// IPv6 only.
    #[arg(short = '6')]
    pub ipv6: bool,
}

/// Run `netlab tls ...`.
pub fn run(a: &TlsArgs, g: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    match &a.command {
        TlsCommand::Inspect(i) => {
            let r = driver::inspect(i, g)?;
            printer.report(&r)?;
            Ok(crate::output::Report::exit_code(&r))
        }
    }
}

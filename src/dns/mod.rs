//! `netlab dns trace`: iterative resolution from the root, every server of every level.

pub mod classify;
pub mod dnssec;
pub mod exchange;
pub mod hints;
pub mod lookup;
pub mod names;
pub mod report;
pub mod walk;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};

use crate::GlobalOpts;
use crate::error::{Error, Result};
use crate::net::{self, Family};
use crate::output::{Printer, SCHEMA_VERSION, spinner};
use report::{QueryInfo, RecordOut, Stats, TraceReport};

/// `netlab dns ...`
#[derive(Debug, Args)]
pub struct DnsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: DnsCommand,
}

/// DNS subcommands.
#[derive(Debug, Subcommand)]
pub enum DnsCommand {
    /// Resolve NAME from the root as a resolver does, asking every server of every level.
    ///
    /// Each level asks every NS of the zone on every address, in parallel, and classifies each
    /// reply (referral, answer, nodata, nxdomain, lame). The walk follows the reply most
    /// servers give, names servers that disagree, uses glue only within bailiwick, resolves
    /// glueless NS names itself, follows CNAME/DNAME into other zones, and retries truncated
    /// answers over TCP. The system resolver is never used.
    Trace(TraceArgs),
    /// What an application gets for NAME, and why: the hosts file, resolv.conf (servers,
    /// search list, ndots, options), the configured resolver's answer with TTLs and time, and
    /// with --compare the authoritative answer from a trace, flagging stale or different data.
    Lookup(lookup::LookupArgs),
}

/// Arguments of `netlab dns trace`.
#[derive(Debug, Args)]
pub struct TraceArgs {
    /// The name to resolve.
    pub name: String,
    /// Record type (A, AAAA, MX, TXT, NS, DS, ..., or TYPEnnn).
    #[arg(default_value = "A")]
    pub rtype: String,
    /// Start from these root server addresses instead of the IANA root hints.
    #[arg(long, value_name = "ADDR[,ADDR...]", conflicts_with = "root_hints")]
    pub root: Option<String>,
    /// Start from the root servers in FILE (named.root format).
    #[arg(long, value_name = "FILE")]
    pub root_hints: Option<PathBuf>,
    /// Port every server is asked on.
    #[arg(long, default_value_t = 53, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// Only IPv4 server addresses.
    #[arg(short = '4', conflicts_with = "ipv6")]
    pub ipv4: bool,
    /// Only IPv6 server addresses.
    #[arg(short = '6')]
    pub ipv6: bool,
    /// Ask over TCP only.
    #[arg(long)]
    pub tcp: bool,
    /// Set the DO bit (ask for DNSSEC records).
    #[arg(long)]
    pub dnssec: bool,
    /// Ask every server for its NSID.
    #[arg(long)]
    pub nsid: bool,
    /// Most levels one walk may take.
    #[arg(long, default_value_t = 16)]
    pub max_depth: usize,
    /// Most alias (CNAME / DNAME) steps.
    #[arg(long, default_value_t = 8)]
    pub max_cname: usize,
    /// Most queries in total.
    #[arg(long, default_value_t = 500)]
    pub max_queries: usize,
    /// Queries in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: u16,
    /// The whole trace ends after this long (the per-query timeout is --timeout).
    #[arg(long, default_value = "30s", value_parser = net::parse_duration)]
    pub deadline: Duration,
}

/// Default per-query timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// Run `netlab dns ...`.
pub fn run(args: &DnsArgs, global: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    match &args.command {
        DnsCommand::Trace(t) => trace(t, global, printer),
        DnsCommand::Lookup(l) => lookup::run(l, global, printer),
    }
}

fn trace(a: &TraceArgs, global: &GlobalOpts, printer: &mut Printer<'_>) -> Result<i32> {
    let started = Instant::now();
    let qname = names::parse_name(&a.name)?;
    let qtype = names::parse_type(&a.rtype)?;
    let timeout = global.timeout.unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err(Error::usage("--timeout must be above zero"));
    }
    let family = match (a.ipv4, a.ipv6) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Any,
    };
    let hints = match (&a.root, &a.root_hints) {
        (Some(list), _) => hints::from_addresses(list)?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::usage(format!(
                    "--root-hints {}: {e} (give a readable named.root file)",
                    path.display()
                ))
            })?;
            hints::parse_named_root(&text)?
        }
        (None, None) => hints::builtin(),
    };
    let roots: Vec<walk::Server> = hints
        .iter()
        .filter(|h| family.admits(&h.address))
        .map(|h| walk::Server {
            ns: h.ns.clone(),
            address: h.address,
        })
        .collect();
    if roots.is_empty() {
        return Err(Error::usage(
            "no root server address of the requested family (-4/-6)",
        ));
    }
    let opts = exchange::QueryOpts {
        timeout,
        tcp_only: a.tcp,
        dnssec: a.dnssec,
        nsid: a.nsid,
        udp_size: 1232,
    };
    let net = exchange::Net { opts };
    let cfg = walk::Config {
        port: a.port,
        family,
        max_depth: a.max_depth.max(1),
        max_cname: a.max_cname,
        max_queries: a.max_queries.max(1),
        max_nested: 4,
        parallel: usize::from(a.parallel),
        deadline: started + a.deadline,
        dnssec: a.dnssec,
    };
    let sp = spinner(
        &printer.style,
        &format!("tracing {} {qtype}", names::text(&qname)),
    );
    let mut tracer = walk::Tracer::new(&net, cfg, roots.clone());
    let mut out = tracer.trace(&qname, qtype);
    sp.finish_and_clear();
    let dnssec = if a.dnssec {
        let checked: Vec<&dnssec::DelegationDnssec> = out
            .levels
            .iter()
            .filter_map(|l| l.dnssec.as_ref())
            .collect();
        let verdict = dnssec::overall(&checked).unwrap_or(dnssec::Verdict::Indeterminate);
        if verdict == dnssec::Verdict::Bogus && out.status == report::Status::Resolved {
            out.status = report::Status::Bogus;
        }
        Some(report::DnssecSummary {
            verdict,
            delegations: checked.len(),
            note:
                "the root's DNSKEYs are not checked against a trust anchor; RRSIGs are not verified"
                    .into(),
        })
    } else {
        None
    };
    let report = TraceReport {
        schema_version: SCHEMA_VERSION,
        command: "dns trace",
        query: QueryInfo {
            name: names::text(&qname),
            qtype: qtype.to_string(),
            port: a.port,
            roots: roots
                .iter()
                .map(|r| format!("{} {}", r.ns, r.address))
                .collect(),
            dnssec: a.dnssec,
            tcp: a.tcp,
        },
        status: out.status,
        answer: out
            .answer
            .iter()
            .map(|r| RecordOut {
                name: names::text(&r.name),
                ttl_s: r.ttl,
                rtype: r.record_type().to_string(),
                data: classify::rdata_text(r),
            })
            .collect(),
        chain: out.chain,
        levels: out.levels,
        warnings: tracer.warnings.clone(),
        stats: Stats {
            queries: tracer.queries,
            elapsed_us: crate::tcp::stats::round_ns(started.elapsed().as_nanos() as f64 / 1000.0),
            servers: tracer.asked.len(),
        },
        error: out.error,
        dnssec,
    };
    printer.report(&report)?;
    Ok(crate::output::Report::exit_code(&report))
}

//! The `dns trace` report: the one value the table and the JSON are rendered from.

use std::io::{self, Write};

use serde::Serialize;

use crate::dns::classify::Kind;
use crate::error::{EXIT_FINDING, EXIT_OK, EXIT_USAGE};
use crate::output::{self, Report, Style, fmt_us};

/// How the trace ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// An answer was found.
    Resolved,
    /// The name does not exist.
    Nxdomain,
    /// The name exists, without records of that type.
    Nodata,
    /// No answer could be had (every server failed, a limit was hit, a loop).
    Failed,
    /// `--dnssec`: a delegation on the path is bogus (a DS matches no DNSKEY).
    Bogus,
}

impl Status {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Resolved => "resolved",
            Status::Nxdomain => "nxdomain",
            Status::Nodata => "nodata",
            Status::Failed => "failed",
            Status::Bogus => "bogus",
        }
    }
}

/// What was asked.
#[derive(Debug, Clone, Serialize)]
pub struct QueryInfo {
    /// The name, absolute.
    pub name: String,
    /// The record type.
    #[serde(rename = "type")]
    pub qtype: String,
    /// Port every server was asked on.
    pub port: u16,
    /// The root servers started from (`ns address`).
    pub roots: Vec<String>,
    /// DO bit set.
    pub dnssec: bool,
    /// TCP forced.
    pub tcp: bool,
}

/// A record of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordOut {
    /// Owner.
    pub name: String,
    /// TTL, seconds.
    pub ttl_s: u32,
    /// Type.
    #[serde(rename = "type")]
    pub rtype: String,
    /// Data, presentation format.
    pub data: String,
}

/// One alias step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainStep {
    /// Alias.
    pub from: String,
    /// Target.
    pub to: String,
    /// CNAME or DNAME.
    pub kind: String,
}

/// Header flags of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flags {
    /// Authoritative answer.
    pub aa: bool,
    /// Truncated.
    pub tc: bool,
    /// Recursion available.
    pub ra: bool,
}

/// EDNS facts of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdnsOut {
    /// The server's advertised UDP payload size.
    pub udp_size: u16,
    /// DO echoed.
    pub do_bit: bool,
    /// NSID, when asked and given (text if printable, else hex).
    pub nsid: Option<String>,
}

/// A referral as one server gave it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReferralOut {
    /// Child zone.
    pub zone: String,
    /// Its NS names.
    pub ns: Vec<String>,
    /// In-bailiwick glue, `name address`.
    pub glue: Vec<String>,
}

/// One server asked at one level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServerOut {
    /// NS name.
    pub ns: String,
    /// Address asked.
    pub address: String,
    /// `udp`, `udp→tcp`, `tcp`.
    pub transport: String,
    /// Query → reply, µs (null on timeout or error).
    pub rtt_us: Option<f64>,
    /// Reply size, bytes.
    pub bytes: Option<usize>,
    /// Response code (`NOERROR`, `NXDOMAIN`, `REFUSED`, …); null without a reply.
    pub rcode: Option<String>,
    /// Header flags (null without a reply).
    pub flags: Option<Flags>,
    /// EDNS (null without a reply or without OPT).
    pub edns: Option<EdnsOut>,
    /// referral, answer, nodata, nxdomain, lame.
    pub kind: Kind,
    /// Why lame: refused, servfail, notimp, formerr, not_authoritative, upward_referral,
    /// sideways_referral, no_referral, timeout, mismatch, malformed, error.
    pub lame_reason: Option<String>,
    /// Transport-level error text, if any.
    pub error: Option<String>,
    /// The referral it gave.
    pub referral: Option<ReferralOut>,
    /// The answer records it gave (alias steps included).
    pub answer: Vec<String>,
    /// This reply is the one the walk followed.
    pub chosen: bool,
}

/// A walk made to find the address of an NS name that came without glue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nested {
    /// The NS name.
    pub ns: String,
    /// Addresses found.
    pub addresses: Vec<String>,
    /// Its levels.
    pub levels: Vec<Level>,
    /// Queries it made.
    pub queries: usize,
    /// Its duration, µs.
    pub elapsed_us: f64,
    /// resolved, nxdomain, nodata, failed.
    pub status: Status,
}

/// One level of the delegation chain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Level {
    /// The name asked at this level.
    pub qname: String,
    /// The zone whose servers were asked.
    pub zone: String,
    /// Every server asked (sorted by NS name, then address).
    pub servers: Vec<ServerOut>,
    /// What the followed reply was (null when every server failed).
    pub result: Option<Kind>,
    /// The zone the walk went to next (referrals).
    pub next_zone: Option<String>,
    /// Glueless NS names resolved from the root before the next level.
    pub nested: Vec<Nested>,
    /// Queries at this level (nested walks not included).
    pub queries: usize,
    /// Wall time of the level including nested walks, µs.
    pub elapsed_us: f64,
    /// `--dnssec`: DS at the parent against this zone's DNSKEYs (null for the root and
    /// without --dnssec).
    pub dnssec: Option<crate::dns::dnssec::DelegationDnssec>,
}

/// Something the reader should know.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// Stable code: lame_server, disagreement, missing_glue, glueless, ignored_glue,
    /// tcp_fallback, mismatch, cname_loop, limit_depth, limit_queries, limit_cname, deadline,
    /// no_servers.
    pub code: String,
    /// `warning` (exit 1) or `info`.
    pub severity: &'static str,
    /// In words.
    pub message: String,
    /// The zone concerned.
    pub zone: Option<String>,
}

/// Totals.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Queries sent (nested walks included).
    pub queries: usize,
    /// Wall time, µs.
    pub elapsed_us: f64,
    /// Distinct server addresses asked.
    pub servers: usize,
}

/// The whole trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "dns trace".
    pub command: &'static str,
    /// The question.
    pub query: QueryInfo,
    /// How it ended.
    pub status: Status,
    /// The final answer records.
    pub answer: Vec<RecordOut>,
    /// Alias steps, in order (each into another zone starts a new walk from the root).
    pub chain: Vec<ChainStep>,
    /// Every level of every walk, in order.
    pub levels: Vec<Level>,
    /// Warnings and notes.
    pub warnings: Vec<Warning>,
    /// Totals.
    pub stats: Stats,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// `--dnssec`: the chain's verdict (null without --dnssec).
    pub dnssec: Option<DnssecSummary>,
}

/// The chain's DNSSEC verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DnssecSummary {
    /// secure, insecure, bogus, indeterminate (over the delegations of the answer's path).
    pub verdict: crate::dns::dnssec::Verdict,
    /// Delegations checked.
    pub delegations: usize,
    /// The root's keys are not checked against a trust anchor.
    pub note: String,
}

fn kind_str(k: Kind) -> &'static str {
    match k {
        Kind::Referral => "referral",
        Kind::Answer => "answer",
        Kind::Nodata => "nodata",
        Kind::Nxdomain => "nxdomain",
        Kind::Lame => "lame",
    }
}

fn write_levels(out: &mut dyn Write, st: &Style, levels: &[Level], indent: &str) -> io::Result<()> {
    let mut last_q = String::new();
    for (i, l) in levels.iter().enumerate() {
        if l.qname != last_q && i > 0 {
            writeln!(
                out,
                "{indent}{}",
                st.dim(&format!("— new walk from the root for {} —", l.qname))
            )?;
        }
        last_q = l.qname.clone();
        writeln!(
            out,
            "{indent}{} {}  {} server{}, {} quer{}, {}{}",
            st.bold(&format!("{:>2}", i + 1)),
            st.bold(&l.zone),
            l.servers.len(),
            if l.servers.len() == 1 { "" } else { "s" },
            l.queries,
            if l.queries == 1 { "y" } else { "ies" },
            fmt_us(Some(l.elapsed_us)),
            l.next_zone
                .as_ref()
                .map(|z| format!("  → {z}"))
                .unwrap_or_default()
        )?;
        let mut t = output::table(&[
            "", "server", "address", "via", "rtt", "rcode", "flags", "result",
        ]);
        for s in &l.servers {
            let flags = s
                .flags
                .map(|f| {
                    let v: Vec<&str> = [(f.aa, "aa"), (f.tc, "tc"), (f.ra, "ra")]
                        .iter()
                        .filter(|x| x.0)
                        .map(|x| x.1)
                        .collect();
                    v.join(" ")
                })
                .unwrap_or_default();
            let result = match s.kind {
                Kind::Referral => format!(
                    "referral → {} [{}]",
                    s.referral.as_ref().map(|r| r.zone.as_str()).unwrap_or("?"),
                    s.referral
                        .as_ref()
                        .map(|r| r.ns.join(", "))
                        .unwrap_or_default()
                ),
                Kind::Answer => format!("answer: {}", s.answer.join("; ")),
                Kind::Lame => st.warn(&format!(
                    "lame ({})",
                    s.lame_reason
                        .as_deref()
                        .or(s.error.as_deref())
                        .unwrap_or("?")
                )),
                k => kind_str(k).to_string(),
            };
            t.add_row(vec![
                if s.chosen {
                    "→".to_string()
                } else {
                    String::new()
                },
                s.ns.clone(),
                s.address.clone(),
                s.transport.clone(),
                fmt_us(s.rtt_us),
                s.rcode.clone().unwrap_or_else(|| "-".into()),
                flags,
                result,
            ]);
        }
        for line in t.to_string().lines() {
            writeln!(out, "{indent}{line}")?;
        }
        if let Some(d) = &l.dnssec {
            let ds: Vec<String> =
                d.ds.iter()
                    .map(|x| {
                        format!(
                            "DS {}/alg {}/digest {}{}",
                            x.key_tag,
                            x.algorithm,
                            x.digest_type,
                            if x.matches_key_tag.is_some() {
                                " ✓"
                            } else {
                                " ✗"
                            }
                        )
                    })
                    .collect();
            let keys: Vec<String> = d
                .dnskeys
                .iter()
                .map(|k| format!("{}({})", k.key_tag, k.flags))
                .collect();
            let verdict = match d.verdict {
                crate::dns::dnssec::Verdict::Secure => st.good("secure"),
                crate::dns::dnssec::Verdict::Bogus => st.bad("bogus"),
                crate::dns::dnssec::Verdict::Insecure => st.warn("insecure"),
                crate::dns::dnssec::Verdict::Indeterminate => st.warn("indeterminate"),
            };
            writeln!(
                out,
                "{indent}   dnssec: {verdict} — {}; DNSKEY {} — {}",
                if ds.is_empty() {
                    "no DS".to_string()
                } else {
                    ds.join(", ")
                },
                if keys.is_empty() {
                    "none".to_string()
                } else {
                    keys.join(" ")
                },
                d.reason
            )?;
        }
        for n in &l.nested {
            writeln!(
                out,
                "{indent}   {} {} resolved from the root: {} ({} queries, {})",
                st.dim("glueless:"),
                n.ns,
                if n.addresses.is_empty() {
                    "no address".to_string()
                } else {
                    n.addresses.join(", ")
                },
                n.queries,
                fmt_us(Some(n.elapsed_us))
            )?;
            if st.verbose > 0 {
                write_levels(out, st, &n.levels, &format!("{indent}      "))?;
            }
        }
    }
    Ok(())
}

impl Report for TraceReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        writeln!(
            out,
            "{} {} {} — from {} (port {}{})",
            st.bold("dns trace"),
            self.query.name,
            self.query.qtype,
            self.query.roots.join(", "),
            self.query.port,
            if self.query.tcp { ", tcp" } else { "" }
        )?;
        if !st.quiet {
            write_levels(out, st, &self.levels, "")?;
        }
        if !self.chain.is_empty() {
            let steps: Vec<String> = self
                .chain
                .iter()
                .map(|c| format!("{} —{}→ {}", c.from, c.kind, c.to))
                .collect();
            writeln!(out, "chain: {}", steps.join(", "))?;
        }
        if !self.answer.is_empty() {
            writeln!(out, "{}", st.bold("answer:"))?;
            for r in &self.answer {
                writeln!(out, "  {} {} IN {} {}", r.name, r.ttl_s, r.rtype, r.data)?;
            }
        }
        for w in &self.warnings {
            let tag = if w.severity == "warning" {
                st.warn(&w.code)
            } else {
                st.dim(&w.code)
            };
            writeln!(out, "{tag}: {}", w.message)?;
        }
        let status = match self.status {
            Status::Resolved if self.has_warnings() => st.warn("resolved with warnings"),
            Status::Resolved => st.good("resolved"),
            Status::Nxdomain => st.bad("NXDOMAIN: the name does not exist"),
            Status::Nodata => st.bad("NODATA: no record of that type"),
            Status::Failed => st.bad(&format!("failed: {}", self.error.as_deref().unwrap_or("?"))),
            Status::Bogus => st.bad("BOGUS: a DS at the parent matches no DNSKEY of the child"),
        };
        writeln!(
            out,
            "{status} — {} queries to {} servers in {}",
            self.stats.queries,
            self.stats.servers,
            fmt_us(Some(self.stats.elapsed_us))
        )
    }

    fn exit_code(&self) -> i32 {
        match self.status {
            Status::Resolved if self.has_warnings() => EXIT_FINDING,
            Status::Resolved => EXIT_OK,
            Status::Nxdomain | Status::Nodata => EXIT_FINDING,
            Status::Failed | Status::Bogus => EXIT_USAGE,
        }
    }
}

impl TraceReport {
    /// Any warning of severity `warning`.
    pub fn has_warnings(&self) -> bool {
        self.warnings.iter().any(|w| w.severity == "warning")
    }
}

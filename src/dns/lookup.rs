//! `netlab dns lookup`: what an application gets for a name, and why — the hosts file, the
//! stub configuration (resolv.conf: servers, search, ndots, options), the answer the
//! configured resolver returns (through hickory-resolver) with TTLs and time, and with
//! `--compare` the authoritative answer from a trace, flagging a stale or different answer.

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use hickory_proto::rr::RecordType;
use hickory_resolver::Resolver;
use hickory_resolver::config::ResolveHosts;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use serde::Serialize;

use crate::dns::report::{RecordOut, Status};
use crate::dns::{classify, hints, names, walk};
use crate::error::{EXIT_FINDING, EXIT_OK, EXIT_USAGE, Error, Result};
use crate::net::Family;
use crate::output::{self, Report, Style, fmt_us};
use crate::tcp::stats::round_ns;

/// Arguments of `netlab dns lookup`.
#[derive(Debug, Args)]
pub struct LookupArgs {
    /// The name, as an application would pass it (relative names get the search list).
    pub name: String,
    /// Record type.
    #[arg(default_value = "A")]
    pub rtype: String,
    /// Also trace the name from the root and compare the authoritative answer with the
    /// resolver's.
    #[arg(long)]
    pub compare: bool,
    /// With --compare: root server addresses (default: the IANA root hints).
    #[arg(long, value_name = "ADDR[,ADDR...]", requires = "compare")]
    pub root: Option<String>,
    /// With --compare: the port every authoritative server is asked on.
    #[arg(long, default_value_t = 53, requires = "compare")]
    pub port: u16,
    /// The stub resolver configuration to read.
    #[arg(long, default_value = "/etc/resolv.conf", value_name = "FILE")]
    pub resolv_conf: PathBuf,
    /// The hosts file to read.
    #[arg(long, default_value = "/etc/hosts", value_name = "FILE")]
    pub hosts: PathBuf,
}

/// A hosts-file line that names the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostsMatch {
    /// Address.
    pub address: String,
    /// Every name on the line.
    pub names: Vec<String>,
    /// Line number.
    pub line: usize,
}

/// The stub resolver's configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StubConfig {
    /// File read.
    pub file: String,
    /// `nameserver` lines.
    pub nameservers: Vec<String>,
    /// The search list (last `search` or `domain` line).
    pub search: Vec<String>,
    /// `options ndots:N` (default 1).
    pub ndots: u32,
    /// `options timeout:N`, seconds.
    pub timeout_s: u32,
    /// `options attempts:N`.
    pub attempts: u32,
    /// Other options set (rotate, edns0, trust-ad, single-request, use-vc, no-aaaa, ...).
    pub options: Vec<String>,
}

/// What the configured resolver answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolverAnswer {
    /// answer, nxdomain, nodata, error.
    pub status: String,
    /// The name that answered (after the search list).
    pub name: Option<String>,
    /// Records, with the TTLs the resolver gave.
    pub records: Vec<RecordOut>,
    /// Time taken, µs.
    pub elapsed_us: f64,
    /// What went wrong.
    pub error: Option<String>,
}

/// The authoritative side, with `--compare`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// resolved, nxdomain, nodata, failed, bogus (as `dns trace`).
    pub status: Status,
    /// Authoritative records.
    pub records: Vec<RecordOut>,
    /// same, different, missing_at_resolver, missing_at_authority, both_missing, unknown.
    pub verdict: String,
    /// In words (which addresses differ, TTLs).
    pub message: String,
    /// Queries the trace made.
    pub queries: usize,
    /// Trace time, µs.
    pub elapsed_us: f64,
}

/// The `dns lookup` report.
#[derive(Debug, Clone, Serialize)]
pub struct LookupReport {
    /// JSON contract version.
    pub schema_version: u32,
    /// "dns lookup".
    pub command: &'static str,
    /// Name as given.
    pub name: String,
    /// Record type.
    #[serde(rename = "type")]
    pub qtype: String,
    /// Hosts-file lines for the name (A / AAAA only).
    pub hosts: Vec<HostsMatch>,
    /// The stub configuration.
    pub resolv_conf: StubConfig,
    /// The names the stub tries, in order (search list and ndots applied).
    pub candidates: Vec<String>,
    /// The resolver's answer.
    pub resolver: ResolverAnswer,
    /// What an application using getaddrinfo (files before dns) gets, for A / AAAA.
    pub application_gets: Vec<String>,
    /// With --compare: the authoritative answer and the verdict.
    pub compare: Option<Comparison>,
}

/// Parse a hosts file for `name` (case-insensitive, ignoring a trailing dot).
pub fn hosts_matches(text: &str, name: &str, family: Option<Family>) -> Vec<HostsMatch> {
    let want = name.trim_end_matches('.').to_ascii_lowercase();
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        let (Some(addr), names) = (f.next(), f.map(str::to_string).collect::<Vec<_>>()) else {
            continue;
        };
        let Ok(ip) = addr.parse::<IpAddr>() else {
            continue;
        };
        if family.is_some_and(|fam| !fam.admits(&ip)) {
            continue;
        }
        if names
            .iter()
            .any(|n| n.trim_end_matches('.').to_ascii_lowercase() == want)
        {
            out.push(HostsMatch {
                address: ip.to_string(),
                names,
                line: i + 1,
            });
        }
    }
    out
}

/// Parse resolv.conf text.
pub fn stub_config(file: &Path, text: &[u8]) -> Result<StubConfig> {
    let c = resolv_conf::Config::parse(text).map_err(|e| {
        Error::usage(format!(
            "{}: {e} (fix the file or give --resolv-conf)",
            file.display()
        ))
    })?;
    let mut options = Vec::new();
    for (on, name) in [
        (c.rotate, "rotate"),
        (c.edns0, "edns0"),
        (c.trust_ad, "trust-ad"),
        (c.single_request, "single-request"),
        (c.single_request_reopen, "single-request-reopen"),
        (c.use_vc, "use-vc"),
        (c.no_aaaa, "no-aaaa"),
        (c.no_tld_query, "no-tld-query"),
        (c.inet6, "inet6"),
    ] {
        if on {
            options.push(name.to_string());
        }
    }
    Ok(StubConfig {
        file: file.display().to_string(),
        nameservers: c.nameservers.iter().map(|n| n.to_string()).collect(),
        search: c
            .get_last_search_or_domain()
            .filter(|d| *d != "--")
            .map(|d| d.to_string())
            .collect(),
        ndots: c.ndots,
        timeout_s: c.timeout,
        attempts: c.attempts,
        options,
    })
}

/// The names a stub resolver tries, in order (resolv.conf(5): a name with at least `ndots`
/// dots is tried as is first, else after the search domains; an absolute name only as is).
pub fn candidates(name: &str, search: &[String], ndots: u32) -> Vec<String> {
    if name.ends_with('.') {
        return vec![name.to_string()];
    }
    let dots = name.matches('.').count() as u32;
    let abs = format!("{name}.");
    let searched: Vec<String> = search
        .iter()
        .map(|s| format!("{name}.{}.", s.trim_end_matches('.')))
        .collect();
    if dots >= ndots {
        std::iter::once(abs).chain(searched).collect()
    } else {
        searched.into_iter().chain(std::iter::once(abs)).collect()
    }
}

fn record_out(r: &hickory_proto::rr::Record) -> RecordOut {
    RecordOut {
        name: names::text(&r.name),
        ttl_s: r.ttl,
        rtype: r.record_type().to_string(),
        data: classify::rdata_text(r),
    }
}

fn resolve(
    conf_bytes: &[u8],
    name: &str,
    qtype: RecordType,
    timeout: std::time::Duration,
) -> ResolverAnswer {
    let started = Instant::now();
    let fail = |e: String| ResolverAnswer {
        status: "error".into(),
        name: None,
        records: Vec::new(),
        elapsed_us: round_ns(started.elapsed().as_nanos() as f64 / 1000.0),
        error: Some(e),
    };
    let (config, mut opts) = match hickory_resolver::system_conf::parse_resolv_conf(conf_bytes) {
        Ok(x) => x,
        Err(e) => return fail(format!("resolv.conf: {e}")),
    };
    opts.use_hosts_file = ResolveHosts::Never; // the hosts file is shown apart
    opts.timeout = timeout;
    opts.attempts = opts.attempts.clamp(1, 3);
    opts.cache_size = 0;
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("start the resolver runtime: {e}")),
    };
    let r = rt.block_on(async {
        let resolver = Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()?;
        // An overall bound beyond the resolver's own per-attempt timeouts.
        let bound = timeout * 8;
        match tokio::time::timeout(bound, resolver.lookup(name, qtype)).await {
            Ok(r) => r,
            Err(_) => Err(hickory_resolver::net::NetError::Msg(format!(
                "no answer within {}",
                crate::net::fmt_duration(bound)
            ))),
        }
    });
    let elapsed_us = round_ns(started.elapsed().as_nanos() as f64 / 1000.0);
    match r {
        Ok(l) => {
            let records: Vec<RecordOut> = l.answers().iter().map(record_out).collect();
            ResolverAnswer {
                status: "answer".into(),
                name: Some(names::text(l.query().name())),
                records,
                elapsed_us,
                error: None,
            }
        }
        Err(e) if e.is_nx_domain() => ResolverAnswer {
            status: "nxdomain".into(),
            name: None,
            records: Vec::new(),
            elapsed_us,
            error: None,
        },
        Err(e) if e.is_no_records_found() => ResolverAnswer {
            status: "nodata".into(),
            name: None,
            records: Vec::new(),
            elapsed_us,
            error: None,
        },
        Err(e) => ResolverAnswer {
            status: "error".into(),
            name: None,
            records: Vec::new(),
            elapsed_us,
            error: Some(e.to_string()),
        },
    }
}

/// Compare the resolver's answer with the authoritative one (pure).
pub fn compare(
    resolver: &ResolverAnswer,
    auth_status: Status,
    auth: &[RecordOut],
    qtype: &str,
) -> (String, String) {
    let data = |v: &[RecordOut]| -> Vec<String> {
        let mut d: Vec<String> = v
            .iter()
            .filter(|r| r.rtype == qtype)
            .map(|r| r.data.clone())
            .collect();
        d.sort();
        d.dedup();
        d
    };
    let (r, a) = (data(&resolver.records), data(auth));
    match (resolver.status.as_str(), auth_status) {
        ("error", _) | (_, Status::Failed) | (_, Status::Bogus) => (
            "unknown".into(),
            "one side could not be had; nothing to compare".into(),
        ),
        ("answer", Status::Resolved) if r == a => {
            let ttl =
                |v: &[RecordOut]| v.iter().filter(|x| x.rtype == qtype).map(|x| x.ttl_s).max();
            let note = match (ttl(&resolver.records), ttl(auth)) {
                (Some(rt), Some(at)) if rt < at => {
                    format!("TTL {rt}s of {at}s left: a cached copy")
                }
                _ => "fresh".to_string(),
            };
            (
                "same".into(),
                format!("the resolver agrees with the authoritative servers ({note})"),
            )
        }
        ("answer", Status::Resolved) => (
            "different".into(),
            format!(
                "the resolver answers {} but the authoritative servers hold {}: a stale or different cached answer",
                r.join(", "),
                a.join(", ")
            ),
        ),
        ("answer", _) => (
            "missing_at_authority".into(),
            format!(
                "the resolver answers {} but the authoritative servers say the name or type does not exist",
                r.join(", ")
            ),
        ),
        (_, Status::Resolved) => (
            "missing_at_resolver".into(),
            format!(
                "the resolver says {} but the authoritative servers hold {}",
                resolver.status,
                a.join(", ")
            ),
        ),
        _ => ("both_missing".into(), "neither has the record".into()),
    }
}

/// Run `netlab dns lookup`.
pub fn run(
    a: &LookupArgs,
    global: &crate::GlobalOpts,
    printer: &mut crate::output::Printer<'_>,
) -> Result<i32> {
    let name = a.name.trim();
    names::parse_name(name)?; // validates labels and length
    let qtype = names::parse_type(&a.rtype)?;
    let timeout = global.timeout.unwrap_or(crate::dns::DEFAULT_TIMEOUT);
    let conf_bytes = std::fs::read(&a.resolv_conf).map_err(|e| {
        Error::usage(format!(
            "read {}: {e} (give --resolv-conf FILE)",
            a.resolv_conf.display()
        ))
    })?;
    let stub = stub_config(&a.resolv_conf, &conf_bytes)?;
    let hosts_text = std::fs::read_to_string(&a.hosts).unwrap_or_default();
    let fam = match qtype {
        RecordType::A => Some(Family::V4),
        RecordType::AAAA => Some(Family::V6),
        _ => None,
    };
    let hosts = if fam.is_some() {
        hosts_matches(&hosts_text, name, fam)
    } else {
        Vec::new()
    };
    let cands = candidates(name, &stub.search, stub.ndots);
    let resolver = resolve(&conf_bytes, name, qtype, timeout);
    let application_gets: Vec<String> = if !hosts.is_empty() {
        hosts
            .iter()
            .map(|h| format!("{} (from {})", h.address, a.hosts.display()))
            .collect()
    } else if fam.is_some() {
        resolver
            .records
            .iter()
            .filter(|r| r.rtype == qtype.to_string())
            .map(|r| format!("{} (from DNS)", r.data))
            .collect()
    } else {
        Vec::new()
    };
    let compare = if a.compare {
        let roots = match &a.root {
            Some(list) => hints::from_addresses(list)?,
            None => hints::builtin(),
        };
        let qname = match &resolver.name {
            Some(n) => names::parse_name(n)?,
            None => names::parse_name(cands.first().map(String::as_str).unwrap_or(name))?,
        };
        let net = crate::dns::exchange::Net {
            opts: crate::dns::exchange::QueryOpts {
                timeout,
                tcp_only: false,
                dnssec: false,
                nsid: false,
                udp_size: 1232,
            },
        };
        let started = Instant::now();
        let cfg = walk::Config {
            port: a.port,
            family: Family::Any,
            max_depth: 16,
            max_cname: 8,
            max_queries: 500,
            max_nested: 4,
            parallel: 8,
            deadline: started + std::time::Duration::from_secs(30),
            dnssec: false,
        };
        let servers = roots
            .iter()
            .map(|h| walk::Server {
                ns: h.ns.clone(),
                address: h.address,
            })
            .collect();
        let mut t = walk::Tracer::new(&net, cfg, servers);
        let o = t.trace(&qname, qtype);
        let recs: Vec<RecordOut> = o.answer.iter().map(record_out).collect();
        let (verdict, message) = compare(&resolver, o.status, &recs, &qtype.to_string());
        Some(Comparison {
            status: o.status,
            records: recs,
            verdict,
            message,
            queries: t.queries,
            elapsed_us: round_ns(started.elapsed().as_nanos() as f64 / 1000.0),
        })
    } else {
        None
    };
    let report = LookupReport {
        schema_version: output::SCHEMA_VERSION,
        command: "dns lookup",
        name: name.to_string(),
        qtype: qtype.to_string(),
        hosts,
        resolv_conf: stub,
        candidates: cands,
        resolver,
        application_gets,
        compare,
    };
    printer.report(&report)?;
    Ok(report.exit_code())
}

impl Report for LookupReport {
    fn write_human(&self, out: &mut dyn Write, st: &Style) -> io::Result<()> {
        writeln!(
            out,
            "{} {} {}",
            st.bold("dns lookup"),
            self.name,
            self.qtype
        )?;
        let c = &self.resolv_conf;
        writeln!(
            out,
            "stub ({}): nameservers {}; search {}; ndots {}; timeout {}s; attempts {}{}",
            c.file,
            if c.nameservers.is_empty() {
                "none".into()
            } else {
                c.nameservers.join(", ")
            },
            if c.search.is_empty() {
                "none".into()
            } else {
                c.search.join(" ")
            },
            c.ndots,
            c.timeout_s,
            c.attempts,
            if c.options.is_empty() {
                String::new()
            } else {
                format!("; options {}", c.options.join(" "))
            }
        )?;
        writeln!(out, "tries, in order: {}", self.candidates.join(", "))?;
        if self.hosts.is_empty() {
            writeln!(out, "hosts file: no line for this name")?;
        }
        for h in &self.hosts {
            writeln!(
                out,
                "hosts file line {}: {} {}",
                h.line,
                h.address,
                h.names.join(" ")
            )?;
        }
        let r = &self.resolver;
        let mut t = output::table(&["resolver answer", "TTL", "type", "data"]);
        for rec in &r.records {
            t.add_row(vec![
                rec.name.clone(),
                format!("{}s", rec.ttl_s),
                rec.rtype.clone(),
                rec.data.clone(),
            ]);
        }
        if !r.records.is_empty() {
            writeln!(out, "{t}")?;
        }
        writeln!(
            out,
            "resolver: {}{} in {}",
            match r.status.as_str() {
                "answer" => st.good("answer"),
                "error" => st.bad("error"),
                s => st.bad(s),
            },
            r.error
                .as_ref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            fmt_us(Some(r.elapsed_us))
        )?;
        if !self.application_gets.is_empty() {
            writeln!(
                out,
                "an application (getaddrinfo, files then dns) gets: {}",
                self.application_gets.join(", ")
            )?;
        }
        if let Some(c) = &self.compare {
            let data: Vec<&str> = c.records.iter().map(|x| x.data.as_str()).collect();
            writeln!(
                out,
                "authoritative (trace from the root, {} queries, {}): {} {}",
                c.queries,
                fmt_us(Some(c.elapsed_us)),
                c.status.as_str(),
                data.join(", ")
            )?;
            let v = if c.verdict == "same" {
                st.good(&c.verdict)
            } else {
                st.warn(&c.verdict)
            };
            writeln!(out, "compare: {v} — {}", c.message)?;
        }
        Ok(())
    }

    fn exit_code(&self) -> i32 {
        if self.resolver.status == "error" {
            return EXIT_USAGE;
        }
        if let Some(c) = &self.compare
            && c.verdict != "same"
        {
            return EXIT_FINDING;
        }
        if self.resolver.status == "answer" || !self.hosts.is_empty() {
            EXIT_OK
        } else {
            EXIT_FINDING
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_list_and_ndots() {
        let s = vec!["corp.test".to_string(), "test".to_string()];
        assert_eq!(
            candidates("www", &s, 1),
            ["www.corp.test.", "www.test.", "www."]
        );
        assert_eq!(
            candidates("www.example", &s, 1),
            [
                "www.example.",
                "www.example.corp.test.",
                "www.example.test."
            ]
        );
        assert_eq!(
            candidates("www.example", &s, 2),
            [
                "www.example.corp.test.",
                "www.example.test.",
                "www.example."
            ]
        );
        assert_eq!(
            candidates("www.example.test.", &s, 5),
            ["www.example.test."]
        );
    }

    #[test]
    fn hosts_file() {
        let t = "127.0.0.1 localhost\n# comment\n198.51.100.7 app.test app # trailing\n2001:db8::7 app.test\nbad line\n";
        let m = hosts_matches(t, "APP.test.", Some(Family::V4));
        assert_eq!(m.len(), 1);
        assert_eq!((m[0].address.as_str(), m[0].line), ("198.51.100.7", 3));
        assert_eq!(
            hosts_matches(t, "app.test", Some(Family::V6))[0].address,
            "2001:db8::7"
        );
        assert!(hosts_matches(t, "other.test", None).is_empty());
    }

    #[test]
    fn resolv_conf_fields() {
        let c = stub_config(Path::new("r"), b"nameserver 127.0.0.53\nsearch corp.test test\noptions ndots:2 timeout:1 attempts:3 rotate edns0\n").unwrap();
        assert_eq!(c.nameservers, ["127.0.0.53"]);
        assert_eq!(c.search, ["corp.test", "test"]);
        assert_eq!((c.ndots, c.timeout_s, c.attempts), (2, 1, 3));
        assert_eq!(c.options, ["rotate", "edns0"]);
    }

    fn rec(data: &str, ttl: u32) -> RecordOut {
        RecordOut {
            name: "api.example.test.".into(),
            ttl_s: ttl,
            rtype: "A".into(),
            data: data.into(),
        }
    }

    #[test]
    fn comparison_verdicts() {
        let ans = |v: Vec<RecordOut>| ResolverAnswer {
            status: "answer".into(),
            name: None,
            records: v,
            elapsed_us: 1.0,
            error: None,
        };
        assert_eq!(
            compare(
                &ans(vec![rec("192.0.2.10", 100)]),
                Status::Resolved,
                &[rec("192.0.2.10", 300)],
                "A"
            )
            .0,
            "same"
        );
        let (v, m) = compare(
            &ans(vec![rec("192.0.2.99", 3000)]),
            Status::Resolved,
            &[rec("192.0.2.10", 300)],
            "A",
        );
        assert_eq!(v, "different");
        assert!(m.contains("192.0.2.99") && m.contains("192.0.2.10"));
        assert_eq!(
            compare(&ans(vec![rec("192.0.2.10", 1)]), Status::Nxdomain, &[], "A").0,
            "missing_at_authority"
        );
        let nx = ResolverAnswer {
            status: "nxdomain".into(),
            name: None,
            records: vec![],
            elapsed_us: 1.0,
            error: None,
        };
        assert_eq!(
            compare(&nx, Status::Resolved, &[rec("192.0.2.10", 1)], "A").0,
            "missing_at_resolver"
        );
        assert_eq!(compare(&nx, Status::Nxdomain, &[], "A").0, "both_missing");
        assert_eq!(compare(&nx, Status::Failed, &[], "A").0, "unknown");
    }
}

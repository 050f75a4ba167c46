#![allow(dead_code)]
//! `netlab dns lookup` inside a private network + mount namespace (root): the lab serves the
//! DNS hierarchy and a recursive resolver on 127.0.0.53:53 there, and bind-mounted
//! /etc/resolv.conf and /etc/hosts point at it — no lookup can reach the machine's resolver.

use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

use crate::util::*;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupReport {
    schema_version: u32,
    command: String,
    name: String,
    #[serde(rename = "type")]
    qtype: String,
    hosts: Vec<HostsMatch>,
    resolv_conf: StubConfig,
    candidates: Vec<String>,
    resolver: ResolverAnswer,
    application_gets: Vec<String>,
    compare: Option<Comparison>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostsMatch {
    address: String,
    names: Vec<String>,
    line: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StubConfig {
    file: String,
    nameservers: Vec<String>,
    search: Vec<String>,
    ndots: u32,
    timeout_s: u32,
    attempts: u32,
    options: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolverAnswer {
    status: String,
    name: Option<String>,
    records: Vec<crate::dns::RecordOut>,
    elapsed_us: f64,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Comparison {
    status: String,
    records: Vec<crate::dns::RecordOut>,
    verdict: String,
    message: String,
    queries: usize,
    elapsed_us: f64,
}

/// Run each netlab command line (arguments after the binary) in one fresh namespace with
/// the lab up; returns (exit code, JSON) per command.
fn in_namespace(commands: &[&str]) -> Vec<(i32, Value)> {
    let dir = tempfile::tempdir().unwrap();
    let resolv = dir.path().join("resolv.conf");
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &resolv,
        "nameserver 127.0.0.53\nsearch example.test\noptions ndots:1 timeout:1 attempts:2\n",
    )
    .unwrap();
    std::fs::write(&hosts, "127.0.0.1 localhost\n198.51.100.7 app.test app\n").unwrap();
    let mut script = format!(
        "set -u\nip link set lo up\nmount --bind {r} /etc/resolv.conf\nmount --bind {h} /etc/hosts\n\
         {bin} --jsonl lab --port-base 0 --dns --dns-port 53 --resolver 127.0.0.53 --duration 60s > {d}/lab.out 2>&1 &\n\
         lab=$!\nfor i in $(seq 1 100); do [ -s {d}/lab.out ] && break; sleep 0.05; done\n",
        r = resolv.display(),
        h = hosts.display(),
        bin = BIN,
        d = dir.path().display()
    );
    for (i, c) in commands.iter().enumerate() {
        script.push_str(&format!(
            "{BIN} --json {c} > {d}/out{i}.json 2>{d}/err{i}; echo $? > {d}/rc{i}\n",
            d = dir.path().display()
        ));
    }
    script.push_str("kill -TERM $lab; wait $lab\n");
    let o = Command::new("unshare")
        .args(["--net", "--mount", "--fork", "bash", "-c", &script])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "namespace script: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    (0..commands.len())
        .map(|i| {
            let rc: i32 = std::fs::read_to_string(dir.path().join(format!("rc{i}")))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            let out = std::fs::read_to_string(dir.path().join(format!("out{i}.json"))).unwrap();
            let err =
                std::fs::read_to_string(dir.path().join(format!("err{i}"))).unwrap_or_default();
            let v: Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("{}: {e}: {out} {err}", commands[i]));
            // The contract: every field known, none missing.
            let typed: LookupReport = crate::contract::parse(&out);
            assert_eq!(
                (typed.schema_version, typed.command.as_str()),
                (1, "dns lookup")
            );
            (rc, v)
        })
        .collect()
}

#[test]
fn lookup_through_the_lab_resolver() {
    if skip_unless_root("lookup_through_the_lab_resolver (needs a private net+mount namespace)") {
        return;
    }
    let r = in_namespace(&[
        "dns lookup --compare --root 127.0.0.2 --port 53 api.example.test",
        "dns lookup www",
        "dns lookup app.test",
        "dns lookup nope.example.test",
        "dns lookup --compare --root 127.0.0.2 --port 53 www.example.test",
    ]);
    // 1. The resolver's cache holds an old address: --compare finds it.
    let (rc, v) = &r[0];
    assert_eq!(*rc, 1, "{v}");
    assert_eq!(v["resolver"]["status"], "answer");
    assert_eq!(v["resolver"]["records"][0]["data"], "192.0.2.99");
    assert_eq!(v["compare"]["records"][0]["data"], "192.0.2.10");
    assert_eq!(v["compare"]["verdict"], "different");
    assert_eq!(v["resolv_conf"]["nameservers"][0], "127.0.0.53");
    assert_eq!(v["resolv_conf"]["search"][0], "example.test");
    assert_eq!(v["resolv_conf"]["ndots"], 1);
    // 2. A relative name: the search list first (no dots < ndots 1), then as is.
    let (rc, v) = &r[1];
    assert_eq!(*rc, 0, "{v}");
    assert_eq!(
        v["candidates"],
        serde_json::json!(["www.example.test.", "www."])
    );
    let recs = v["resolver"]["records"].as_array().unwrap();
    assert!(
        recs.iter()
            .any(|x| x["type"] == "CNAME" && x["data"] == "edge.cdn.test."),
        "{v}"
    );
    assert!(
        recs.iter()
            .any(|x| x["type"] == "A" && x["data"] == "192.0.2.80"),
        "{v}"
    );
    assert_eq!(v["application_gets"][0], "192.0.2.80 (from DNS)");
    // 3. The hosts file wins for applications.
    let (rc, v) = &r[2];
    assert_eq!(*rc, 0, "{v}");
    assert_eq!(v["hosts"][0]["address"], "198.51.100.7");
    assert_eq!(v["application_gets"][0], "198.51.100.7 (from /etc/hosts)");
    // 4. NXDOMAIN is a finding.
    let (rc, v) = &r[3];
    assert_eq!(
        (*rc, v["resolver"]["status"].as_str()),
        (1, Some("nxdomain")),
        "{v}"
    );
    // 5. Fresh data agrees.
    let (rc, v) = &r[4];
    assert_eq!(*rc, 0, "{v}");
    assert_eq!(v["compare"]["verdict"], "same");
}

#[test]
fn lookup_bad_input() {
    for args in [
        &["dns", "lookup", "a..b"][..],
        &["dns", "lookup", "x.test", "NOPE"][..],
        &[
            "dns",
            "lookup",
            "--resolv-conf",
            "/nonexistent/resolv.conf",
            "x.test",
        ][..],
    ] {
        let o = netlab(args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    }
}

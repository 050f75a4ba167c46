#!/usr/bin/env python3
"""DNS benchmark: `netlab dns trace` against `dig +trace` on the real-server lab.

Run as root (`make bench`):

    python3 tests/interop/dns_bench.py --netlab target/release/netlab

The lab is dns_interop.py's: NSD, BIND and Knot serving src/lab/zones in a private network +
mount namespace, a BIND resolver on 127.0.0.53 that /etc/resolv.conf points at there. For
each name of the interop checks, inside that namespace:

  - wall time of `netlab --json dns trace --root 127.0.0.2 --port 53 NAME TYPE` and of
    `dig +trace @127.0.0.2 NAME TYPE`: hyperfine -N --warmup 2 --runs 10 when hyperfine is
    installed, else the same loop timed by python inside the namespace;
  - queries: netlab's stats.queries; on the wire (tcpdump on the namespace's lo, tshark), for
    one run of each: queries to the lab's servers, look-ups sent to the system resolver
    127.0.0.53, and the queries that resolver sent upstream for them;
  - servers asked per level (netlab: every server; dig: the one it picked).

It prints tables and the netlab/dig wall-time ratio, and asserts nothing about time. The
project's goal: netlab asks every server yet finishes no slower than dig. Without root or a
tool it prints `dns_bench: skipped: <reason>` and exits 0.
"""

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import dns_interop as di  # noqa: E402  (the namespace and the real-server lab)
from interop import drain, run, stop_process  # noqa: E402

WARMUP = 2
RUNS = 10

# Timing loop for when hyperfine is missing: run inside the namespace, so nsenter's own cost
# is not in the figures. argv[1]: JSON [[label, argv], ...]; prints JSON {label: [seconds]}.
PY_TIMER = r"""
import json, subprocess, sys, time
cmds, warmup, runs = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = {}
for label, argv in cmds:
    for _ in range(warmup):
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    out[label] = times
print(json.dumps(out))
"""


def log(msg):
    """Progress to stderr."""
    print(f"dns_bench: {msg}", file=sys.stderr, flush=True)


def stats_ms(times):
    """(mean, sd, min, max) in ms of a list of seconds."""
    n = len(times)
    mean = sum(times) / n
    sd = math.sqrt(sum((t - mean) ** 2 for t in times) / (n - 1)) if n > 1 else 0.0
    return mean * 1000, sd * 1000, min(times) * 1000, max(times) * 1000


def commands(netlab, name, qtype, extra):
    """The two commands timed: (label, argv)."""
    return [("netlab", [netlab, "--json", "dns", "trace", "--root", di.ROOT, "--port", "53",
                        *extra, name, qtype]),
            ("dig", ["dig", "+trace", f"@{di.ROOT}", name, qtype])]


def time_hyperfine(lab, workdir, cmds, tag):
    """hyperfine -N in the namespace: {label: (mean, sd, min, max) ms}."""
    out = Path(workdir) / f"hyperfine-{tag}.json"
    argv = ["hyperfine", "-N", "--warmup", str(WARMUP), "--runs", str(RUNS), "-i",
            "--style", "none", "--export-json", str(out)]
    for label, cmd in cmds:
        argv += ["-n", label, " ".join(cmd)]
    res = lab.ns.run(argv, timeout=600)
    if res.returncode != 0 or not out.exists():
        raise RuntimeError(f"hyperfine exited {res.returncode}: {res.stderr.strip()[:300]}")
    data = json.loads(out.read_text())
    return {r["command"]: stats_ms(r["times"]) for r in data["results"]}


def time_python(lab, cmds):
    """The same loop timed by python inside the namespace: {label: (mean, sd, min, max) ms}."""
    res = lab.ns.run(["python3", "-c", PY_TIMER, json.dumps(cmds), str(WARMUP), str(RUNS)],
                     timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"timing loop exited {res.returncode}: {res.stderr.strip()[:300]}")
    return {k: stats_ms(v) for k, v in json.loads(res.stdout).items()}


def captured(lab, workdir, tag, argv):
    """Run argv in the namespace under tcpdump (lo, port 53): (completed process, queries
    [(src, dst, qname, qtype)]), queries as tshark decodes them (UDP and TCP)."""
    pcap = Path(workdir) / f"{tag}.pcap"
    cap = subprocess.Popen(lab.ns.cmd(["tcpdump", "-i", "lo", "-n", "-U", "--immediate-mode",
                                       "-w", str(pcap), "port 53"]),
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    err = []
    t = threading.Thread(target=drain, args=(cap.stderr, err), daemon=True)
    t.start()
    deadline = time.monotonic() + 10
    while not any("listening on" in line for line in err):
        if cap.poll() is not None or time.monotonic() > deadline:
            stop_process(cap, signal.SIGINT, timeout=5)
            raise RuntimeError(f"tcpdump did not start: {''.join(err).strip()[:300]}")
        time.sleep(0.02)
    try:
        res = lab.ns.run(argv, timeout=120)
        time.sleep(0.3)
    finally:
        stop_process(cap, signal.SIGINT, timeout=10)
        t.join(timeout=5)
    out = run(["tshark", "-n", "-r", str(pcap), "-Y", "dns.flags.response == 0", "-T", "fields",
               "-e", "ip.src", "-e", "ip.dst", "-e", "dns.qry.name", "-e", "dns.qry.type"],
              timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"tshark exited {out.returncode}: {out.stderr.strip()[:300]}")
    queries = [tuple(line.split("\t")[:4]) for line in out.stdout.splitlines() if line.strip()]
    return res, queries


def split_queries(queries):
    """(to the lab's servers, to the system resolver, the resolver's own upstream queries)."""
    direct = [q for q in queries if di.RESOLVER not in (q[0], q[1])]
    stub = [q for q in queries if q[1] == di.RESOLVER]
    upstream = [q for q in queries if q[0] == di.RESOLVER and q[1] != di.RESOLVER]
    return direct, stub, upstream


def netlab_per_level(doc):
    """'1/2/3 + 1/2/1' (one group per walk) and the queries of nested (glueless) walks."""
    walks = " + ".join("/".join(str(len(lv["servers"])) for lv in w) for w in di.walks(doc))
    nested = sum(n.get("queries", 0) for _, lv in di.walk_levels(doc.get("levels", []))
                 for n in lv.get("nested") or [])
    return walks, nested


def dig_per_level(stdout):
    """'1/1/1': servers dig printed a reply from, per level (the root NS priming left out)."""
    hops, errors = di.parse_dig_trace(stdout)
    return "/".join("1" for _ in hops[1:]) + (f" ({len(errors)} errors)" if errors else ""), \
        hops[-1]["server"] if hops else "-"


def main():
    """Run the benchmark and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--netlab", default="target/release/netlab", help="netlab binary")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    opts = ap.parse_args()
    reason = di.preflight(tuple(t for t in di.TOOLS if t != "strace"))
    if reason:
        print(f"dns_bench: skipped: {reason}")
        return 0
    netlab = os.path.abspath(opts.netlab)
    if not os.access(netlab, os.X_OK):
        print(f"dns_bench: {netlab} is not an executable")
        return 1
    have_hyperfine = shutil.which("hyperfine") is not None
    have_capture = shutil.which("tcpdump") is not None and shutil.which("tshark") is not None
    workdir = tempfile.mkdtemp(prefix="netlab-dns-bench-")
    lab = di.RealLab(di.load_zone_files(), workdir)
    status, rows, base = 0, [], None
    try:
        log(f"starting the real-server lab in {workdir}")
        try:
            lab.prepare()
            lab.start()
        except (di.NsError, OSError, subprocess.SubprocessError) as e:
            print(f"dns_bench: the real-server lab did not start: {e}")
            return 1
        for note in lab.notes:
            print(f"dns_bench: note: {note}")
        # Start-up baseline: each tool asking the root one question (one query each).
        log("baseline: one query each")
        base_cmds = [("netlab", [netlab, "--json", "dns", "trace", "--root", di.ROOT, "--port",
                                 "53", ".", "NS"]),
                     ("dig", ["dig", f"@{di.ROOT}", "+norec", ".", "NS"])]
        try:
            base = (time_hyperfine(lab, workdir, base_cmds, "baseline") if have_hyperfine
                    else time_python(lab, base_cmds))
        except (RuntimeError, ValueError, KeyError, subprocess.SubprocessError, OSError) as e:
            print(f"dns_bench: baseline: {e}")
            base, status = None, 1
        for name, qtype, extra in di.trace_list(lab):
            k = di.key(name, qtype)
            log(f"{k}: timing")
            cmds = commands(netlab, name, qtype, extra)
            try:
                times = (time_hyperfine(lab, workdir, cmds, k.replace(" ", "-")) if have_hyperfine
                         else time_python(lab, cmds))
                doc = di.netlab_trace(lab.ns, netlab, name, qtype, extra)
                row = {"name": k, "times": times, "stats": doc["stats"]["queries"],
                       "status": doc.get("status")}
                row["levels"], row["nested"] = netlab_per_level(doc)
                if have_capture:
                    log(f"{k}: queries on the wire")
                    _, q = captured(lab, workdir, f"netlab-{k.replace(' ', '-')}", cmds[0][1])
                    row["netlab_wire"] = split_queries(q)
                    res, q = captured(lab, workdir, f"dig-{k.replace(' ', '-')}", cmds[1][1])
                    row["dig_wire"] = split_queries(q)
                else:
                    res = lab.ns.run(cmds[1][1], timeout=120)
                row["dig_levels"], row["dig_last"] = dig_per_level(res.stdout)
                row["dig_received"] = res.stdout.count(";; Received")
            except (RuntimeError, ValueError, KeyError, di.TraceError,
                    subprocess.SubprocessError, OSError) as e:
                print(f"dns_bench: {k}: {e}")
                status = 1
                continue
            rows.append(row)
    finally:
        lab.stop()
        if opts.keep or status:
            log(f"work directory kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print_tables(rows, base, have_hyperfine, have_capture)
    return status


def print_tables(rows, base, have_hyperfine, have_capture):
    """The wall-time table, the query table, and the ratio summary."""
    how = (f"hyperfine -N --warmup {WARMUP} --runs {RUNS}" if have_hyperfine
           else f"python timing inside the namespace, {WARMUP} warm-up + {RUNS} runs")
    print(f"netlab dns trace vs dig +trace on real servers (NSD, BIND, Knot), wall time: {how}")
    head = (f"{'name':<24} {'netlab ms':>10} {'sd':>6} {'dig ms':>8} {'sd':>6} "
            f"{'netlab/dig':>10}  {'walk: netlab':>12} {'dig':>6} {'ratio':>6}  "
            f"{'netlab status':<13}")
    print(head)
    print("-" * len(head))
    ratios = []
    if base:
        n, d = base["netlab"], base["dig"]
        print(f"{'(start-up: one query)':<24} {n[0]:>10.2f} {n[1]:>6.2f} {d[0]:>8.2f} "
              f"{d[1]:>6.2f} {n[0] / d[0]:>9.2f}x  {'':>12} {'':>6} {'':>6}  "
              "netlab dns trace . NS / dig @127.0.0.2 +norec . NS")
    for r in rows:
        n, d = r["times"]["netlab"], r["times"]["dig"]
        ratio = n[0] / d[0] if d[0] else float("inf")
        ratios.append(ratio)
        walk = ""
        if base:
            wn, wd = n[0] - base["netlab"][0], d[0] - base["dig"][0]
            walk = f"{wn:>12.2f} {wd:>6.2f} " + (f"{wn / wd:>5.2f}x" if min(wn, wd) > 0.05
                                                  else f"{'-':>6}")
        print(f"{r['name']:<24} {n[0]:>10.2f} {n[1]:>6.2f} {d[0]:>8.2f} {d[1]:>6.2f} "
              f"{ratio:>9.2f}x  {walk:<26}  {r['status']:<13}")
    if ratios:
        geo = math.exp(sum(math.log(x) for x in ratios) / len(ratios))
        ok = sum(1 for x in ratios if x <= 1.0)
        print(f"netlab/dig wall time: geometric mean {geo:.2f}x, min {min(ratios):.2f}x, max "
              f"{max(ratios):.2f}x; netlab no slower than dig for {ok} of {len(ratios)} names "
              "(the goal: every server asked, no slower than dig)")
    if base:
        print("walk: mean minus the tool's one-query start-up time above (what the walk itself "
              "costs; dig's start-up dominates its total; noisy: means of 10 runs)")
    print()
    print("Queries and servers asked per level (one run each"
          + (", counted on the wire: tcpdump on the namespace's lo + tshark)" if have_capture
             else "; no tcpdump/tshark: dig counted by its ';; Received' lines)"))
    head = (f"{'name':<24} {'netlab q':>8} {'wire':>5} {'->53':>5} {'nested q':>8}  "
            f"{'dig q':>5} {'->53':>5} {'upstr':>5}  {'netlab per level':<18} {'dig per level':<13}"
            f" {'dig ended at':<12}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if have_capture:
            nd, ns_, _ = r["netlab_wire"]
            dd, ds, du = r["dig_wire"]
            wire, nstub, dq, dstub, dup = len(nd), len(ns_), len(dd), len(ds), len(du)
        else:
            wire = nstub = dstub = dup = "-"
            dq = r["dig_received"]
        print(f"{r['name']:<24} {r['stats']:>8} {wire:>5} {nstub:>5} {r['nested']:>8}  "
              f"{dq:>5} {dstub:>5} {dup:>5}  {r['levels']:<18} {r['dig_levels']:<13} "
              f"{r['dig_last']:<12}")
    print("netlab q: stats.queries (nested walks included); wire: its queries captured (a TCP "
          "retry after TC is a second query); ->53: queries to the system resolver 127.0.0.53.")
    print("dig q: dig's own queries to the lab's servers (the first asks @127.0.0.2 for the root "
          "NS set); ->53: its look-ups of NS names through the system resolver; upstr: what")
    print("that resolver then asked the lab's servers (its cache is warm after the warm-up "
          "runs). Per level: servers asked at each level, '+' between walks (CNAME targets).")


if __name__ == "__main__":
    sys.exit(main())

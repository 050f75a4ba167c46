#!/usr/bin/env python3
"""ARP scan benchmark: `netlab arp scan` against arp-scan on the namespace lab.

Run as root:

    python3 tests/interop/arp_bench.py --netlab target/release/netlab [--rate 500] [--runs 5]

On a namespace lab (`netlab lab --netns --delay 2ms`), inside the client namespace, both tools
scan 198.18.0.0/24 at the same request rate R, alternately, RUNS times each:

    netlab --json arp scan --rate R 198.18.0.0/24
    arp-scan -I c0 --interval=<1e6/R>u 198.18.0.0/24

Rate matching: netlab's --rate is requests per second. arp-scan's --bandwidth is in bits per
second and arp-scan turns it into a packet interval from its own idea of the frame size
(minimum frame plus layer-2 overhead), so instead of guessing that size we give arp-scan the
interval directly: --interval=Nu with N = 1e6 / R microseconds, i.e. R packets per second. The
reference capture of every run (tcpdump on c0, tshark) measures the rate each tool really sent
at (first pass: first request of each address, first to last), so the match is checked on the
wire rather than assumed.

Everything else is each tool's default: both try every silent address twice (arp-scan
--retry=2 = 2 attempts in all; netlab --retries 1 = 1 extra round); arp-scan waits 500 ms per
host, x1.5 per retry, netlab 500 ms between rounds and 1 s (--timeout) after the last. The
phases columns show where the wall time goes: start-up (process start -> first request on the
wire), sending, and the tail (last request -> exit), which is mostly those waits. Wall time is
measured by python around `ip netns exec` (hyperfine is not used: the capture has to be
started and stopped around every run), the same overhead for both tools.

It prints a table (wall mean/min, phases, wire rate, requests, hosts found, duplicate
detection, netlab/arp-scan ratio) and asserts nothing about time. Without root or a tool it
prints `arp_bench: skipped: <reason>` and exits 0.

ARP goes only to the lab's veth segment (198.18.0.0/24 inside the namespaces).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import interop  # noqa: E402
from interop import Capture, Lab, LabError, run  # noqa: E402
from arp_interop import (CLIENT_MAC, IFACE, parse_arpscan, read_arp,  # noqa: E402
                         scan_pairs)

NET = "198.18.0.0/24"
TOOLS = ("tcpdump", "tshark", "ip", "arp-scan")


def log(msg):
    """Progress to stderr."""
    print(f"arp_bench: {msg}", file=sys.stderr, flush=True)


def one_run(lab, workdir, tag, cmd, timeout=120):
    """Run cmd in the client namespace under an ARP capture.

    Returns (result, wall seconds, start ns, end ns, frames)."""
    pcap = Path(workdir) / f"{tag}.pcap"
    full = ["ip", "netns", "exec", lab.client_ns] + cmd
    env = dict(os.environ, NO_COLOR="1")
    with Capture(lab.client_ns, pcap, "arp", iface=IFACE):
        t0_ns = time.time_ns()
        t0 = time.perf_counter()
        res = run(full, timeout=timeout, cwd="/", env=env)
        wall = time.perf_counter() - t0
        t1_ns = time.time_ns()
    return res, wall, t0_ns, t1_ns, read_arp(pcap)


def wire_figures(frames, t0_ns, t1_ns):
    """Our requests on the wire: count, first-pass rate, start-up / send / tail phases (ms)."""
    reqs = sorted((f for f in frames if f.op == 1 and f.sha == CLIENT_MAC), key=lambda f: f.ts)
    if not reqs:
        return None
    seen, first_pass = set(), []
    for f in reqs:
        if f.tpa not in seen:
            seen.add(f.tpa)
            first_pass.append(f)
    span = (first_pass[-1].ts - first_pass[0].ts) / 1e9
    rate = (len(first_pass) - 1) / span if span > 0 else float("nan")
    return {
        "requests": len(reqs),
        "targets": len(first_pass),
        "rate": rate,
        "startup_ms": (reqs[0].ts - t0_ns) / 1e6,
        "send_ms": (reqs[-1].ts - reqs[0].ts) / 1e6,
        "tail_ms": (t1_ns - reqs[-1].ts) / 1e6,
    }


def found_netlab(res):
    """(sorted IPs, sorted duplicate IPs) from netlab's JSON, or raise."""
    if res.returncode not in (0, 1):
        raise RuntimeError(f"netlab exited {res.returncode}: {res.stderr.strip()[:300]}")
    doc = json.loads(res.stdout)
    ips = sorted({ip for ip, _ in scan_pairs(doc)}, key=lambda s: tuple(map(int, s.split("."))))
    dups = sorted(h["ip"] for h in doc.get("hosts", []) if h.get("other_macs"))
    return ips, dups


def found_arpscan(res):
    """(sorted IPs, sorted duplicate IPs) from arp-scan's output, or raise."""
    if res.returncode != 0:
        raise RuntimeError(f"arp-scan exited {res.returncode}: {res.stderr.strip()[:300]}")
    lines = parse_arpscan(res.stdout)
    ips = sorted({ip for ip, _, _ in lines}, key=lambda s: tuple(map(int, s.split("."))))
    dups = sorted({ip for ip, _, dup in lines if dup})
    return ips, dups


def short(ips):
    """'.2 .3 .10' for 198.18.0.x addresses."""
    return " ".join("." + ip.rsplit(".", 1)[1] for ip in ips) or "-"


def main():
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--netlab", default="target/release/netlab", help="netlab binary")
    ap.add_argument("--rate", type=int, default=500, help="requests per second (both tools)")
    ap.add_argument("--runs", type=int, default=5, help="runs per tool")
    ap.add_argument("--keep", action="store_true", help="keep the capture directory")
    opts = ap.parse_args()

    reason = interop.preflight(tools=TOOLS)
    if reason:
        print(f"arp_bench: skipped: {reason}")
        return 0
    netlab = os.path.abspath(opts.netlab)
    if not os.access(netlab, os.X_OK):
        print(f"arp_bench: skipped: {netlab} is not an executable")
        return 0
    rate = max(1, opts.rate)
    interval_us = round(1_000_000 / rate)
    tools = {
        "netlab": ([netlab, "--json", "arp", "scan", "--rate", str(rate), NET], found_netlab),
        "arp-scan": (["arp-scan", "-I", IFACE, f"--interval={interval_us}u", NET],
                     found_arpscan),
    }
    results = {name: [] for name in tools}
    errors = []
    workdir = tempfile.mkdtemp(prefix="netlab-arp-bench-")
    lab = Lab(netlab, f"nlb{os.getpid()}", delay="2ms")
    try:
        log(f"starting the lab ({lab.prefix}); captures in {workdir}")
        try:
            lab.start()
        except (LabError, OSError) as e:
            print(f"arp_bench: the lab did not start: {e}")
            return 1
        for i in range(opts.runs):
            for name, (cmd, parse) in tools.items():  # alternate the tools run by run
                log(f"{name} run {i + 1}/{opts.runs}")
                try:
                    res, wall, t0, t1, frames = one_run(lab, workdir, f"{name}-{i + 1}", cmd)
                    ips, dups = parse(res)
                except (RuntimeError, subprocess.SubprocessError, ValueError) as e:
                    errors.append(f"{name} run {i + 1}: {e}")
                    continue
                results[name].append({"wall": wall, "ips": ips, "dups": dups,
                                      "wire": wire_figures(frames, t0, t1)})
    finally:
        problems = lab.stop()
        if problems:
            print(f"arp_bench: lab stop: {'; '.join(problems)}")
        if opts.keep:
            log(f"captures kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"ARP scan of {NET} on the namespace lab (2 ms each way), {rate} requests/s "
          f"(arp-scan --interval={interval_us}u), {opts.runs} runs each, alternating")
    head = (f"{'tool':<9} {'runs':>4} {'wall mean':>9} {'wall min':>8} {'start-up':>8} "
            f"{'send':>7} {'tail':>7} {'wire rate':>9} {'requests':>9} {'hosts found':<16} "
            f"{'DUP':<5} {'/arp-scan':>9}")
    print(head)
    print(f"{'':<9} {'':>4} {'ms':>9} {'ms':>8} {'ms':>8} {'ms':>7} {'ms':>7} {'pkt/s':>9} "
          f"{'(targets)':>9}")
    print("-" * len(head))
    ref = None
    if results["arp-scan"]:
        ref = statistics.mean(r["wall"] for r in results["arp-scan"])
    for name in tools:
        rs = results[name]
        if not rs:
            print(f"{name:<9} {0:>4} (no successful run)")
            continue
        walls = [r["wall"] * 1000 for r in rs]
        wires = [r["wire"] for r in rs if r["wire"]]

        def avg(key):
            return statistics.mean(w[key] for w in wires) if wires else float("nan")

        found = {(tuple(r["ips"]), tuple(r["dups"])) for r in rs}
        ips, dups = rs[0]["ips"], rs[0]["dups"]
        hosts = f"{len(ips)} ({short(ips)})" + ("" if len(found) == 1 else " varies!")
        reqs = (f"{round(avg('requests'))}({round(avg('targets'))})" if wires else "-")
        ratio = f"{statistics.mean(walls) / (ref * 1000):.2f}x" if ref else "-"
        print(f"{name:<9} {len(rs):>4} {statistics.mean(walls):>9.1f} {min(walls):>8.1f} "
              f"{avg('startup_ms'):>8.1f} {avg('send_ms'):>7.1f} {avg('tail_ms'):>7.1f} "
              f"{avg('rate'):>9.1f} {reqs:>9} {hosts:<16} {short(dups):<5} {ratio:>9}")
    print("wall: process start -> exit (python, around `ip netns exec`); start-up: -> first "
          "request on the wire; send: first -> last request; tail: last request -> exit.")
    print("wire rate: first pass (first request of each address), measured on the wire. "
          "requests: all requests sent (retries included); targets: addresses asked "
          "(arp-scan includes the network, broadcast and its own address).")
    print("DUP: addresses answered by two MACs (netlab other_macs, arp-scan '(DUP: 2)'). "
          "/arp-scan: mean wall time ratio to arp-scan.")
    if errors:
        print("errors: " + "; ".join(errors))
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

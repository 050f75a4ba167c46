#!/usr/bin/env python3
"""TLS benchmark: `netlab tls inspect` against `openssl s_client` and `curl` on one server.

Run (`make bench`):

    python3 tests/interop/tls_bench.py --netlab target/release/netlab

Two loopback servers with the same certificates (leaf + intermediate, from
`netlab lab --tls --jsonl`'s `valid` scenario, TLS 1.3):
  - the lab's own rustls server (it answers an HTTP request with a small 200 and closes);
  - `openssl s_server -www` serving the same chain and key files (tls_interop.py's SServer).
For each, 3 rounds of hyperfine -N (--warmup 3 --runs 20 each; python timing over the same
runs when hyperfine is missing), the commands' order rotated every round, so a stretch of
noise on this shared VM falls on every command rather than on the block of one; each
command's 60 timed runs are pooled. The commands:
  1. `netlab --json tls inspect --ca CA 127.0.0.1:PORT` (one connection: connections_used is
     checked before timing);
  2. `openssl s_client -connect 127.0.0.1:PORT -CAfile CA -verify_ip 127.0.0.1 -brief`, with
     stdin /dev/null so that it closes right after the handshake: hyperfine's --input
     /dev/null when it has the option; hyperfine before 1.16 has none but already gives every
     command /dev/null as stdin (checked here with `readlink /proc/self/fd/0`), so s_client
     runs as it is; only when neither holds is it wrapped in `sh -c '... </dev/null'`, and
     sh's own start-up (timed too, as `sh -c true`) is then part of its row;
  3. `curl -s -o /dev/null --cacert CA https://127.0.0.1:PORT/` (handshake + one GET; left
     out, with a note, when curl is missing).
It prints a table per server (command, mean, sd, median, min and max in ms, the ratios
netlab/s_client and netlab/curl of the means and of the medians) and whether the project's goal is met:
netlab's mean wall time per handshake at most half of s_client's (0.5x), with one
connection. It asserts nothing about time. Without openssl
it prints `tls_bench: skipped: <reason>` and exits 0.

Only loopback (127.0.0.1) ever sees traffic.
"""

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import run  # noqa: E402
from tls_interop import LabError, SServer, TlsLab  # noqa: E402

LOOPBACK = "127.0.0.1"
WARMUP, RUNS, ROUNDS = 3, 20, 3
GOAL = 0.5  # netlab / s_client

# Timing loop for when hyperfine is missing. argv[1]: JSON [[label, argv], ...].
PY_TIMER = r"""
import json, subprocess, sys, time
cmds, warmup, runs = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = {}
for label, argv in cmds:
    for _ in range(warmup):
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    out[label] = times
print(json.dumps(out))
"""


def log(msg):
    """Progress to stderr."""
    print(f"tls_bench: {msg}", file=sys.stderr, flush=True)


def stats_ms(times):
    """(mean, sd, median, min, max) in ms of a list of seconds."""
    n = len(times)
    mean = sum(times) / n
    sd = math.sqrt(sum((t - mean) ** 2 for t in times) / (n - 1)) if n > 1 else 0.0
    ordered = sorted(times)
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2
    return mean * 1000, sd * 1000, median * 1000, ordered[0] * 1000, ordered[-1] * 1000


def hyperfine_stdin():
    """How hyperfine gives s_client /dev/null as stdin: "input" (--input /dev/null), "null"
    (hyperfine already does), or "sh" (wrap it)."""
    res = run(["hyperfine", "--help"], timeout=30)
    if "--input" in res.stdout:
        return "input"
    res = run(["hyperfine", "-N", "--runs", "1", "--show-output", "readlink /proc/self/fd/0"],
              timeout=30)
    if any(line.strip() == "/dev/null" for line in res.stdout.splitlines()):
        return "null"
    return "sh"


def tool_version(argv):
    """The first line a tool prints about its version ('?' when it fails)."""
    try:
        res = run(argv, timeout=10)
    except (subprocess.SubprocessError, OSError):
        return "?"
    lines = (res.stdout or res.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def commands(netlab, ca, port, stdin_mode, have_curl):
    """[(label, argv)] timed for one server."""
    target = f"{LOOPBACK}:{port}"
    s_client = ["openssl", "s_client", "-connect", target, "-CAfile", ca, "-verify_ip",
                LOOPBACK, "-brief"]
    cmds = [("netlab tls inspect", [netlab, "--json", "tls", "inspect", "--ca", ca, target])]
    if stdin_mode == "sh":
        cmds.append(("sh -c 's_client </dev/null'",
                     ["sh", "-c", shlex.join(s_client) + " </dev/null"]))
    else:
        cmds.append(("openssl s_client -brief", s_client))
    if have_curl:
        cmds.append(("curl", ["curl", "-s", "-o", "/dev/null", "--cacert", ca,
                              f"https://{target}/"]))
    if stdin_mode == "sh":
        cmds.append(("sh -c true (info)", ["sh", "-c", "true"]))
    return cmds


def time_rounds(cmds, workdir, tag, stdin_mode):
    """{label: [seconds]} pooled over ROUNDS rounds, the order of `cmds` rotated each round."""
    pooled, tool = {}, None
    for k in range(ROUNDS):
        order = cmds[k % len(cmds):] + cmds[:k % len(cmds)]
        times, tool = time_commands(order, workdir, f"{tag}-{k}", stdin_mode)
        for label, t in times.items():
            pooled.setdefault(label, []).extend(t)
    return pooled, tool


def time_commands(cmds, workdir, tag, stdin_mode):
    """{label: [seconds]} via hyperfine -N (or python), and the tool used."""
    if stdin_mode is not None:
        out = Path(workdir) / f"hyperfine-{tag}.json"
        argv = ["hyperfine", "-N", "--warmup", str(WARMUP), "--runs", str(RUNS), "-i",
                "--style", "none", "--export-json", str(out)]
        if stdin_mode == "input":
            argv += ["--input", "/dev/null"]
        for label, cmd in cmds:
            argv += ["-n", label, shlex.join(cmd)]
        res = run(argv, timeout=300)
        if res.returncode != 0 or not out.exists():
            raise RuntimeError(f"hyperfine exited {res.returncode}: {res.stderr.strip()[:400]}")
        data = json.loads(out.read_text())
        return {r["command"]: r["times"] for r in data["results"]}, "hyperfine -N"
    res = run([sys.executable, "-c", PY_TIMER, json.dumps(cmds), str(WARMUP), str(RUNS)],
              timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"python timer exited {res.returncode}: {res.stderr.strip()[:400]}")
    return json.loads(res.stdout), "python perf_counter"


def precheck(cmds, netlab):
    """Each command runs and succeeds once; netlab's report (problems as strings)."""
    problems, doc = [], None
    for label, cmd in cmds:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             errors="replace", timeout=60, cwd="/")
        if res.returncode != 0:
            problems.append(f"`{label}` exited {res.returncode}: "
                            f"{' '.join((res.stderr or res.stdout).split())[:300]}")
        elif cmd[0] == netlab:
            try:
                doc = json.loads(res.stdout)
            except json.JSONDecodeError as e:
                problems.append(f"netlab printed no JSON: {e}")
    return problems, doc


def bench_server(title, port, netlab, ca, workdir, tag, stdin_mode, have_curl):
    """Time the commands against one server and print its table; the goal ratio (or None)."""
    cmds = commands(netlab, ca, port, stdin_mode, have_curl)
    problems, doc = precheck(cmds, netlab)
    if problems:
        print(f"{title}: not timed: " + "; ".join(problems))
        return None
    conns = doc.get("connections_used")
    neg = doc.get("negotiated") or {}
    log(f"timing {title} ({ROUNDS} rounds of {WARMUP} warm-up + {RUNS} runs each)")
    times, tool = time_rounds(cmds, workdir, tag, stdin_mode)
    rows = [(label, *stats_ms(times[label])) for label, _ in cmds]
    by = {r[0]: r for r in rows}
    netlab_mean, netlab_median = rows[0][1], rows[0][3]
    s_client_mean, s_client_median = rows[1][1], rows[1][3]
    curl_mean = by["curl"][1] if "curl" in by else None
    print(f"{title} (127.0.0.1:{port}; netlab: {neg.get('version')} "
          f"{neg.get('cipher_suite')} {neg.get('kx_group')}, outcome {doc.get('outcome')}, "
          f"connections_used {conns}, handshake_total "
          f"{(doc.get('timing_us') or {}).get('handshake_total')} us)")
    print(f"  wall time, {tool}, {ROUNDS} rounds (order rotated) of {WARMUP} warm-up + {RUNS} "
          f"runs each, {ROUNDS * RUNS} runs pooled per command:")
    w = max(len(r[0]) for r in rows)
    print(f"  {'command':<{w}}  {'mean ms':>8}  {'± sd':>6}  {'med ms':>7}  {'min ms':>7}  "
          f"{'max ms':>7}  {'netlab/this (mean, median)':>26}")
    for label, mean, sd, med, mn, mx in rows:
        ratio = ("" if label == rows[0][0]
                 else f"{netlab_mean / mean:.2f}x, {netlab_median / med:.2f}x")
        print(f"  {label:<{w}}  {mean:8.2f}  {sd:6.2f}  {med:7.2f}  {mn:7.2f}  {mx:7.2f}  "
              f"{ratio:>26}")
    if stdin_mode == "sh" and "sh -c true (info)" in by:
        sh = by["sh -c true (info)"][1]
        print(f"  (s_client's row includes sh's start-up, {sh:.2f} ms: netlab / (s_client - "
              f"sh) = {netlab_mean / max(s_client_mean - sh, 1e-9):.2f}x)")
    ratio = netlab_mean / s_client_mean
    met = "met" if ratio <= GOAL and conns == 1 else "NOT met"
    print(f"  goal: netlab / s_client = {ratio:.2f}x (means; medians "
          f"{netlab_median / s_client_median:.2f}x), goal <= {GOAL}x with one connection "
          f"(connections_used {conns}): {met}"
          + (f"; netlab / curl = {netlab_mean / curl_mean:.2f}x" if curl_mean else ""))
    print()
    return ratio


def main():
    """Start the servers, time each, print the tables, tear down."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--netlab", default="target/release/netlab", help="netlab binary")
    opts = ap.parse_args()
    if shutil.which("openssl") is None:
        print("tls_bench: skipped: missing openssl")
        return 0
    netlab = os.path.abspath(opts.netlab)
    if not os.access(netlab, os.X_OK):
        print(f"tls_bench: {netlab} is not an executable")
        return 1
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))
    have_curl = shutil.which("curl") is not None
    if not have_curl:
        log("curl missing: its row is left out")
    stdin_mode = hyperfine_stdin() if shutil.which("hyperfine") else None
    if stdin_mode is None:
        log("hyperfine missing: python timing")
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="netlab-tls-bench-")
    lab = TlsLab(netlab, os.path.join(workdir, "lab"))
    srv = None
    rc = 0
    try:
        try:
            lab.start()
            valid = lab.scenario("valid")
            srv = SServer("valid", valid, workdir, [])
            srv.start()
        except (LabError, OSError, KeyError) as e:
            print(f"tls_bench: could not start the servers: {e}")
            return 1
        ca = lab.tls["ca_file"]
        how = {"input": "--input /dev/null", "null": "/dev/null from hyperfine",
               "sh": "sh -c wrapper"}.get(stdin_mode)
        print(f"netlab {tool_version([netlab, '--version'])}; "
              f"{tool_version(['openssl', 'version'])}; "
              + (f"{tool_version(['curl', '--version']).split(' (')[0]}; " if have_curl else "")
              + (tool_version(["hyperfine", "--version"]) if stdin_mode else "no hyperfine")
              + (f" (s_client's stdin: {how})" if how else ""))
        print()
        ratios = {}
        for title, port, tag in (("netlab lab rustls server (valid)", valid["port"], "lab"),
                                 ("openssl s_server -www (same chain)", srv.port, "s_server")):
            try:
                ratios[title] = bench_server(title, port, netlab, ca, workdir, tag, stdin_mode,
                                             have_curl)
            except (RuntimeError, subprocess.SubprocessError, OSError) as e:
                print(f"{title}: timing failed: {e}")
                rc = 1
        done = {k: v for k, v in ratios.items() if v is not None}
        if len(done) != len(ratios):
            rc = 1
        if done:
            print("summary: netlab / s_client wall time: "
                  + ", ".join(f"{k}: {v:.2f}x" for k, v in done.items())
                  + f" (goal <= {GOAL}x: "
                  + ("met on every server" if all(v <= GOAL for v in done.values())
                     else "NOT met everywhere") + ")")
    finally:
        if srv is not None:
            srv.stop()
        lab.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"bench wall time: {time.monotonic() - started:.1f}s")
    return rc


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Sockets benchmark: `netlab sockets` against `ss` on a loopback population of ~50,000 sockets.

Run (as root, so both tools see every process's fds):

    python3 tests/interop/sockets_bench.py --netlab target/release/netlab

A bounded generator builds on loopback (127.0.10.0/24 and up, fixed ports below the
ephemeral range) about 24,000 CLOSE_WAIT, 20,000 TIME_WAIT and 10,000 ESTABLISHED TCP
sockets:
  - CLOSE_WAIT: the generator accepts and keeps the connection, the client sends its FIN
    and closes (TCP_LINGER2 1 s on the client, so its orphaned FIN_WAIT2 is gone within about
    a second, silently: the population is the CLOSE_WAIT side only);
  - ESTABLISHED: 5,000 connections with both ends kept;
  - TIME_WAIT: the server side closes first, then the client (TIME_WAIT on the server side,
    60 s: the measurement runs within that window, TIME_WAIT built last).
Each generator process raises RLIMIT_NOFILE to its hard limit; when one process cannot hold
every fd (CLOSE_WAIT and ESTABLISHED sockets each need one), the work is split over several
generator processes (at most 8), and scaled down when that or memory is not enough. Every
connection gets its own (source, destination) pair: several 127.0.x.y destinations per
process, sources bound with IP_BIND_ADDRESS_NO_PORT, so no ephemeral range runs out.

Then, in one hyperfine -N run (--warmup 2 --runs 10; python timing over the same runs when
hyperfine is missing):
  1. `netlab --json sockets` (full summary) vs `sh -c "ss -Htan | awk '{print $1}' | sort |
     uniq -c"`;
  2. `netlab --json sockets --state close-wait` (per-process CLOSE_WAIT) vs
     `ss -tanp state close-wait` (-p: ss reads every process's fds);
and, for information, `NETLAB_FDWALK=procfs netlab --json sockets` (owners found through
/proc/PID/fd, the way netlab takes without root or without kernel BTF, instead of its eBPF
fd walk), against the pipeline of 1. Which way the timed run took is printed (`attribution`).
It prints the population netlab saw before and after the timing (and ss's totals), a table
(command, mean ms, ratio netlab/ss) and whether the project's goals (at most 0.5x and 0.35x)
are met; it asserts nothing about time. Everything is torn down at the end (sockets closed
with RST, so nothing but the TIME_WAIT population is left; the generators end by themselves
after at most 150 s anyway). Without ss the script prints `sockets_bench: skipped: <reason>`
and exits 0.
"""

import argparse
import json
import math
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import run, stop_process  # noqa: E402

TARGET = {"close_wait": 24000, "time_wait": 20000, "established": 10000}
MAX_WORKERS = 8
BATCH = 500               # connections opened at once (listen backlog 4096 holds them)
# Connections per (source, destination) address pair at most. connect() moves a pair's
# starting port on by 2-16 (9 on average) after each connection through the ~14,000 even
# ports of the ephemeral range; a pair that goes round reuses 4-tuples whose client side is
# gone while the server side still holds them (its SYN kills a CLOSE_WAIT or a TIME_WAIT).
# 800 per pair still lost ~0.4% of CLOSE_WAIT here; 400 loses next to none.
PER_DESTINATION = 400
FD_RESERVE = 64 + 2 * BATCH
GENERATOR_MAX_S = 150     # a generator tears down and exits by itself after this
READY_TIMEOUT_S = 90
WARMUP, RUNS = 2, 10
GOALS = {"summary": 0.5, "close-wait": 0.35}
PROCFS_ROW = "netlab sockets, /proc fd walk (info)"
STATE_KEYS = ["established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait",
              "close", "close_wait", "last_ack", "listen", "closing"]

# The generator: one process, a share of each population on its own addresses. argv[1]: JSON
# plan. Prints one JSON line when its sockets are in place, then holds them until "stop" or
# EOF on stdin or its deadline, closes them all with RST and prints a final JSON line.
GENERATOR = r"""
import json, resource, select, socket, struct, sys, time
plan = json.loads(sys.argv[1])
deadline = time.monotonic() + plan["max_s"]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
port, batch = plan["port"], plan["batch"]
dsts, srcs = plan["destinations"], plan["sources"]
held, listeners = [], {}
for d in dsts:
    l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    l.bind((d, port))
    l.listen(4096)
    l.settimeout(10)
    listeners[d] = l
turn = [0]

def pair():
    i = turn[0] % len(dsts)
    turn[0] += 1
    return srcs[i], dsts[i]

def connect_batch(n, linger2=False):
    # n client connections, each with its accepted server side: [(client, server)]
    out, pending = [], {}
    for _ in range(n):
        if time.monotonic() > deadline:
            raise SystemExit("deadline while building")
        src, dst = pair()
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        if linger2:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_LINGER2, 1)
        c.bind((src, 0))
        c.settimeout(10)
        c.connect((dst, port))
        pending.setdefault(dst, []).append(c)
    for dst, cs in pending.items():
        for c in cs:
            s, _ = listeners[dst].accept()
            out.append((c, s))
    return out

def build(n, kind):
    left = n
    while left > 0:
        k = min(batch, left)
        conns = connect_batch(k, linger2=(kind == "close_wait"))
        if kind == "close_wait":
            for c, s in conns:
                held.append(s)
                # The peer closes: our side goes CLOSE_WAIT. FIN first, then close(): the
                # client is in FIN_WAIT2 when it is orphaned, so it becomes a short timewait
                # entry that expires silently (closed while the FIN's ACK is still pending,
                # it would get a FIN_WAIT2 timer that ends in an RST).
                c.shutdown(socket.SHUT_WR)
                c.close()
        elif kind == "established":
            for c, s in conns:
                held.extend((c, s))
        else:                             # time_wait: the server side closes first
            for c, s in conns:
                s.close()
            for c, s in conns:
                c.close()
        left -= k

t0 = time.monotonic()
build(plan["close_wait"], "close_wait")
last_close_wait = time.monotonic()
build(plan["established"], "established")
tw_start = time.monotonic()
build(plan["time_wait"], "time_wait")
tw_end = time.monotonic()
# The clients' orphaned FIN_WAIT2 (TCP_LINGER2 1 s, at least 3.5 RTO) go away silently.
rest = last_close_wait + 1.5 - time.monotonic()
if rest > 0:
    time.sleep(rest)
print(json.dumps({"ready": True, "held": len(held), "rlimit": [soft, hard],
                  "build_s": round(tw_end - t0, 2), "tw_start": tw_start, "tw_end": tw_end}),
      flush=True)
while time.monotonic() < deadline:
    r, _, _ = select.select([sys.stdin], [], [], max(0.0, min(1.0, deadline - time.monotonic())))
    if r:
        line = sys.stdin.readline()
        if not line or line.strip() == "stop":
            break
linger0 = struct.pack("ii", 1, 0)
for s in held + list(listeners.values()):
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
    except OSError:
        pass
    s.close()
print(json.dumps({"closed": len(held)}), flush=True)
"""

# Timing loop for when hyperfine is missing. argv[1]: JSON [[label, argv], ...].
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
    print(f"sockets_bench: {msg}", file=sys.stderr, flush=True)


def mem_available():
    """MemAvailable in bytes (None when unknown)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def plan_population(pid, max_s=GENERATOR_MAX_S):
    """How many of each state, how many generator processes, and their addresses."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    budget = hard - FD_RESERVE  # fds one generator may hold
    want = dict(TARGET)
    notes = []
    scale = 1.0
    held = want["close_wait"] + want["established"]  # sockets with an fd
    if budget < 256:
        scale = 0.0
        notes.append(f"RLIMIT_NOFILE hard limit {hard}: too low for a generator")
    else:
        workers = min(MAX_WORKERS, math.ceil(held / budget))
        if workers * budget < held:
            scale = min(scale, workers * budget / held)
            notes.append(f"scaled to {scale:.2f}: {workers} generators x {budget} fds "
                         f"(RLIMIT_NOFILE hard limit {hard})")
    # Kernel and python memory: ~8 KiB per socket with an fd (both ends counted), ~1 KiB per
    # TIME_WAIT; use at most a quarter of what is available.
    avail = mem_available()
    if avail:
        cost = held * 8192 + want["time_wait"] * 1024
        if cost * scale > avail / 4:
            scale = min(scale, avail / 4 / cost)
            notes.append(f"scaled to {scale:.2f}: MemAvailable {avail >> 20} MiB")
    want = {k: int(v * scale) // 2 * 2 for k, v in want.items()}
    held = want["close_wait"] + want["established"]
    workers = max(1, min(MAX_WORKERS, math.ceil(held / max(budget, 1))))
    port = 12000 + pid % 1000  # below the ephemeral range; listeners bound to own addresses
    plans = []
    for w in range(workers):
        share = {k: (v // (2 if k == "established" else 1)) // workers
                 + (1 if w < (v // (2 if k == "established" else 1)) % workers else 0)
                 for k, v in want.items()}
        conns = sum(share.values())
        n_dst = max(1, min(99, math.ceil(conns / PER_DESTINATION)))
        plans.append({"port": port, "batch": BATCH, "max_s": max_s,
                      "close_wait": share["close_wait"],
                      "established": share["established"],  # connections: 2 sockets each
                      "time_wait": share["time_wait"],
                      "destinations": [f"127.0.{10 + w}.{d + 1}" for d in range(n_dst)],
                      "sources": [f"127.0.{10 + w}.{d + 101}" for d in range(n_dst)]})
    return want, plans, hard, notes


class Generator:
    """One generator process (started by us; stopped by PID)."""

    def __init__(self, plan):
        self.plan = plan
        self.proc = subprocess.Popen([sys.executable, "-c", GENERATOR, json.dumps(plan)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd="/")
        self.lines, self.err = [], []
        self.ready = None
        self.closed = None
        self.threads = [threading.Thread(target=self._read, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for t in self.threads:
            t.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if obj.get("ready"):
                self.ready = obj
            if "closed" in obj:
                self.closed = obj

    def _read_err(self):
        for line in self.proc.stderr:
            self.err.append(line)

    def failed(self):
        """Exited before it was ready."""
        return self.ready is None and self.proc.poll() is not None

    def stop(self):
        """Ask it to close everything; kill it (by its PID) if it does not exit."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("stop\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop_process(self.proc, timeout=5)
        for t in self.threads:
            t.join(timeout=5)


def netlab_states(netlab, args=()):
    """(states, total, document) of `netlab --json sockets ARGS`."""
    res = run([netlab, "--json", "sockets"] + list(args), timeout=60)
    if res.returncode not in (0, 1):
        raise RuntimeError(f"netlab sockets exited {res.returncode}: {res.stderr.strip()[:300]}")
    doc = json.loads(res.stdout)
    return doc["states"], doc["total"], doc


def ss_total_states():
    """Per-state counts of `ss -Htan` (for the population line)."""
    res = run(["ss", "-Htan"], timeout=60)
    out = {}
    for line in res.stdout.splitlines():
        if line.strip():
            out[line.split()[0]] = out.get(line.split()[0], 0) + 1
    return out


def fmt_states(states):
    """'close_wait 24000, time_wait 20000, ...' (non-zero only)."""
    return ", ".join(f"{k} {states[k]}" for k in STATE_KEYS if states.get(k))


def time_commands(cmds, workdir):
    """{label: [seconds]} via hyperfine -N (or python), and the tool used."""
    if shutil.which("hyperfine"):
        out = Path(workdir) / "hyperfine.json"
        argv = ["hyperfine", "-N", "--warmup", str(WARMUP), "--runs", str(RUNS), "-i",
                "--style", "none", "--export-json", str(out)]
        for label, cmd in cmds:
            argv += ["-n", label, shlex.join(cmd)]
        res = run(argv, timeout=150)
        if res.returncode != 0:
            raise RuntimeError(f"hyperfine exited {res.returncode}: {res.stderr.strip()[:400]}")
        data = json.loads(out.read_text())
        return {r["command"]: r["times"] for r in data["results"]}, "hyperfine -N"
    res = run([sys.executable, "-c", PY_TIMER, json.dumps(cmds), str(WARMUP), str(RUNS)],
              timeout=150)
    if res.returncode != 0:
        raise RuntimeError(f"python timer exited {res.returncode}: {res.stderr.strip()[:400]}")
    return json.loads(res.stdout), "python perf_counter"


def stats_ms(times):
    """(mean, sd, min) in ms."""
    n = len(times)
    mean = sum(times) / n
    sd = math.sqrt(sum((t - mean) ** 2 for t in times) / (n - 1)) if n > 1 else 0.0
    return mean * 1000, sd * 1000, min(times) * 1000


def main():
    """Build the population, time both pairs, print the table, tear down."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--netlab", default="target/release/netlab", help="netlab binary")
    ap.add_argument("--hold", type=float, default=0.0, metavar="SECONDS",
                    help="only build the population and hold it this long (for profiling), "
                         "no timing")
    opts = ap.parse_args()
    if shutil.which("ss") is None:
        print("sockets_bench: skipped: missing ss")
        return 0
    netlab = os.path.abspath(opts.netlab)
    if not os.access(netlab, os.X_OK):
        print(f"sockets_bench: {netlab} is not an executable")
        return 1
    if os.geteuid() != 0:
        log("not root: ss -p and netlab see only this user's processes' fds")
    started = time.monotonic()
    want, plans, hard, notes = plan_population(
        os.getpid(), max(GENERATOR_MAX_S, opts.hold + 30) if opts.hold > 0 else GENERATOR_MAX_S)
    for n in notes:
        log(n)
    if not plans or sum(want.values()) == 0:
        print(f"sockets_bench: skipped: {'; '.join(notes) or 'nothing to build'}")
        return 0
    log(f"building ~{sum(want.values())} sockets ({fmt_states(want)}) with {len(plans)} "
        f"generator process(es), RLIMIT_NOFILE hard {hard}, port {plans[0]['port']}")
    pre, pre_total, _ = netlab_states(netlab)
    workdir = tempfile.mkdtemp(prefix="netlab-sockets-bench-")
    gens = []
    rc = 0
    try:
        gens = [Generator(p) for p in plans]
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if any(g.failed() for g in gens) or all(g.ready for g in gens):
                break
            time.sleep(0.05)
        bad = [g for g in gens if not g.ready]
        if bad:
            g = bad[0]
            time.sleep(0.2)
            print(f"sockets_bench: a generator did not get ready (exit {g.proc.poll()}): "
                  f"{''.join(g.err).strip()[-600:]}")
            return 1
        tw_start = min(g.ready["tw_start"] for g in gens)
        log(f"built in {time.monotonic() - started:.1f}s "
            f"(generators: {', '.join(str(g.ready['build_s']) + 's' for g in gens)})")

        if opts.hold > 0:
            log(f"holding the population for {opts.hold:.0f}s (--hold)")
            time.sleep(opts.hold)
            return 0
        before, total, doc = netlab_states(netlab)
        attribution = doc.get("attribution", "?")
        ss_before = ss_total_states()
        cmds = [
            ("netlab sockets", [netlab, "--json", "sockets"]),
            ("ss -Htan | awk | sort | uniq -c",
             ["sh", "-c", "ss -Htan | awk '{print $1}' | sort | uniq -c"]),
            ("netlab sockets --state close-wait",
             [netlab, "--json", "sockets", "--state", "close-wait"]),
            ("ss -tanp state close-wait", ["ss", "-tanp", "state", "close-wait"]),
            # Not a goal: the summary when owners are found through /proc/PID/fd (no root,
            # or a kernel without BTF) instead of the eBPF fd walk.
            (PROCFS_ROW, ["env", "NETLAB_FDWALK=procfs", netlab, "--json", "sockets"]),
        ]
        for label, cmd in cmds:  # each runs and succeeds (netlab: 1 = a warning finding)
            res = run(cmd, timeout=60)
            if res.returncode not in ((0, 1) if netlab in cmd else (0,)):
                print(f"sockets_bench: `{label}` exited {res.returncode}: "
                      f"{res.stderr.strip()[:300]}")
                return 1
        _, _, cw_doc = netlab_states(netlab, ["--state", "close-wait"])
        log(f"timing ({WARMUP} warm-up + {RUNS} runs each)")
        times, tool = time_commands(cmds, workdir)
        after, total_after, _ = netlab_states(netlab)
        tw_age = time.monotonic() - tw_start
        if tw_age > 60:
            log(f"the timing ended {tw_age:.0f}s after the first bench TIME_WAIT: some expired "
                f"during it (see the population after timing)")

        print("Population (netlab --json sockets, whole host):")
        print(f"  before the build: total {pre_total}: {fmt_states(pre) or 'none'}")
        print(f"  before timing: total {total}: {fmt_states(before)}")
        print(f"  after timing:  total {total_after}: {fmt_states(after)} "
              f"(oldest bench TIME_WAIT {tw_age:.0f}s old; they last 60 s)")
        print(f"  ss -Htan before timing: total {sum(ss_before.values())}: "
              + ", ".join(f"{k} {v}" for k, v in sorted(ss_before.items(), key=lambda x: -x[1])))
        print(f"  asked for: {fmt_states(want)}; {len(gens)} generator processes "
              f"(pids {', '.join(str(g.proc.pid) for g in gens)}), "
              f"{', '.join(str(g.ready['held']) for g in gens)} fds held, "
              f"RLIMIT_NOFILE {gens[0].ready['rlimit'][1]}")
        cw_rows = [r for r in cw_doc["by_process"] if r["state"] == "CLOSE_WAIT"]
        print(f"  CLOSE_WAIT by process (netlab --state close-wait): "
              + ", ".join(f"{r['command']} pid {r['pid']}: {r['count']}" for r in cw_rows[:8]))
        print()
        print(f"Wall time, {tool}, {WARMUP} warm-up + {RUNS} runs each:")
        rows = []
        for label, _ in cmds:
            mean, sd, mn = stats_ms(times[label])
            rows.append((label, mean, sd, mn))
        w = max(len(r[0]) for r in rows)
        print(f"  {'command':<{w}}  {'mean ms':>9}  {'± sd':>7}  {'min ms':>8}  netlab/ss")
        for i, (label, mean, sd, mn) in enumerate(rows):
            if label == PROCFS_ROW:  # against the summary pipeline, like row 1
                ratio = f"{mean / rows[1][1]:.2f}x"
            else:
                ratio = f"{mean / rows[i + 1][1]:.2f}x" if i % 2 == 0 else ""
            print(f"  {label:<{w}}  {mean:9.1f}  {sd:7.1f}  {mn:8.1f}  {ratio}")
        print(f"  (netlab sockets: owners found by `{attribution}`; {PROCFS_ROW}: by /proc/PID/fd, "
              f"as without root or kernel BTF)")
        print()
        for (goal_name, goal), i in zip(GOALS.items(), (0, 2)):
            ratio = rows[i][1] / rows[i + 1][1]
            met = "met" if ratio <= goal else "NOT met"
            print(f"goal {goal_name}: {rows[i][0]} / {rows[i + 1][0]} = {ratio:.2f}x, "
                  f"goal <= {goal}x: {met}")
    finally:
        log("tearing down")
        for g in gens:
            g.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    left = [g.proc.pid for g in gens if g.proc.poll() is None]
    closed = sum((g.closed or {}).get("closed", 0) for g in gens)
    print(f"teardown: {len(gens)} generators exited"
          + (f" (still running: {left})" if left else "")
          + f", {closed} sockets closed with RST; the bench's TIME_WAIT sockets expire by "
          f"themselves within 60 s")
    print(f"bench wall time: {time.monotonic() - started:.1f}s")
    return rc


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Syscalls benchmark: nginx under `wrk` on loopback, traced by strace and by `netlab syscalls`.

Run as root (`make bench`):

    python3 tests/interop/syscalls_bench.py --netlab target/release/netlab [--rounds 5]

One nginx process (`daemon off; master_process off; worker_processes 1;`, everything under a
temporary directory, `listen 127.0.0.1:PORT` on a free port, `return 200 "ok\\n"`, access log
off), fresh for every run, loaded by `wrk -t1 -c10 -d3s --latency http://127.0.0.1:PORT/`.
Configurations (tracer output to /dev/null; netlab's stderr kept for errors):
  untraced             nginx alone;
  strace spawn         `strace -f -qq --seccomp-bpf -e trace=network -o /dev/null -- nginx ..`;
  netlab spawn         `netlab syscalls -e socket,send -- nginx ..` (strace's network set);
  netlab spawn network (information) `netlab syscalls -- nginx ..` (default set `network`:
                       also epoll, and read/write/close on sockets);
  netlab spawn no-ann  (information) `netlab syscalls -e socket,send --no-annotate -- nginx ..`;
  strace attach        `strace -f -qq -p PID -e trace=network -o /dev/null` on an untraced
                       nginx (SIGINT after wrk: strace detaches);
  netlab attach        `netlab syscalls -p PID -e socket,send` (SIGTERM after wrk: detaches).
With two CPUs or more, nginx and the tracer run on CPU 0 and wrk on CPU 1 (taskset), in
every configuration alike, which takes most of the run-to-run noise away.
wrk starts once every thread of nginx shows a TracerPid (attach) or nginx answers (spawn).
After each attached run nginx must be in state S with TracerPid 0 (a note otherwise); every
tracer and nginx is ended before the next run. Each round runs every configuration once, in
an order rotated by one each round (interleaved); the table gives per configuration the
median requests/s and median 99th-percentile latency (wrk's --latency), and the throughput
as a ratio of the untraced median. Goals: netlab spawn >= 1.2x strace spawn's throughput,
netlab attach >= 0.9x strace attach's, p99 latency no worse than strace's (spawn and
attach), and `netlab --json syscalls -p PID --snapshot` of an idle untraced nginx under 5 ms
(hyperfine -N, python timing when hyperfine is missing). It asserts nothing about time: the
exit status is 0, or 1 when a configuration could not be measured at all. Without root,
nginx, wrk or strace it prints `syscalls_bench: skipped: <reason>` and exits 0.

Only loopback (127.0.0.1) ever sees traffic.
"""

import argparse
import shutil as _shutil
import os as _os

# With two CPUs or more, nginx and its tracer share CPU 0 and wrk has CPU 1, in every
# configuration alike: otherwise where the scheduler happens to put three busy processes on
# two CPUs moves throughput by 2-3x from one run to the next.
PIN = (_os.cpu_count() or 1) >= 2 and _shutil.which("taskset") is not None
PIN_SERVER = ["taskset", "-c", "0"] if PIN else []
PIN_CLIENT = ["taskset", "-c", "1"] if PIN else []
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import run, stop_process  # noqa: E402

LOOPBACK = "127.0.0.1"
SPAWN_GOAL = 1.2    # netlab spawn / strace --seccomp-bpf spawn throughput
ATTACH_GOAL = 0.9   # netlab attach / strace -p throughput
SNAPSHOT_GOAL_MS = 5.0

NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen {addr}:{port};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def log(msg):
    """Progress to stderr."""
    print(f"syscalls_bench: {msg}", file=sys.stderr, flush=True)


def preflight():
    """Why the benchmark cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "not root (attaching to nginx with ptrace needs root)"
    missing = [t for t in ("nginx", "wrk", "strace") if shutil.which(t) is None]
    if missing:
        return "missing " + ", ".join(missing) + " (apt-get install nginx-light wrk strace)"
    return None


def free_port():
    """A free loopback TCP port (the kernel's pick; nginx binds it right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=15.0):
    """Wait until something accepts on 127.0.0.1:port (False: it did not, or proc exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tool_version(argv):
    """The first line a tool prints about its version ('?' when it fails)."""
    try:
        res = run(argv, timeout=10)
    except (subprocess.SubprocessError, OSError):
        return "?"
    lines = (res.stdout or res.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def proc_status(pid, tid=None):
    """/proc/PID[/task/TID]/status as a dict (empty when gone)."""
    path = f"/proc/{pid}/status" if tid is None else f"/proc/{pid}/task/{tid}/status"
    out = {}
    try:
        for line in Path(path).read_text().splitlines():
            k, _, v = line.partition(":")
            out[k] = v.strip()
    except OSError:
        pass
    return out


def tasks(pid):
    """The thread ids of a process."""
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


def wait_attached(pid, timeout=10.0):
    """Wait until every thread of pid has a tracer (False: not within timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tids = tasks(pid)
        if tids and all(proc_status(pid, t).get("TracerPid", "0") != "0" for t in tids):
            time.sleep(0.2)   # let the tracer finish its set-up
            return True
        time.sleep(0.02)
    return False


def alive(pid):
    """Whether a process exists (and is not a zombie)."""
    st = proc_status(pid).get("State", "")
    return bool(st) and not st.startswith(("Z", "X"))


def kill_pid(pid, sig=signal.SIGTERM, timeout=10.0):
    """Signal a process we started (through a tracer) and wait until it is gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return False


def parse_wrk(text):
    """wrk --latency output -> (requests/s, p99 ms, [problems])."""
    problems = []
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    rps = float(m.group(1)) if m else None
    p99 = None
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if m:
        p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    m = re.search(r"Socket errors: (.*)", text)
    if m:
        problems.append(f"socket errors: {m.group(1).strip()}")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        problems.append(f"{m.group(1)} non-2xx responses")
    if rps is None or p99 is None:
        problems.append(f"unparsable wrk output: {text[-300:]!r}")
    return rps, p99, problems


class Config:
    """One benchmarked configuration."""

    def __init__(self, key, label, kind, info=False):
        self.key = key
        self.label = label
        self.kind = kind      # "untraced", "spawn" or "attach"
        self.info = info      # for information only (no goal)
        self.rps = []
        self.p99 = []
        self.notes = []

    def tracer(self, netlab, pid=None):
        """The tracer's argv (spawn: prefix before nginx's argv; attach: the whole argv)."""
        if self.key == "strace-spawn":
            return ["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=network", "-o",
                    "/dev/null", "--"]
        if self.key == "netlab-spawn":
            return [netlab, "syscalls", "-e", "socket,send", "--"]
        if self.key == "netlab-spawn-network":
            return [netlab, "syscalls", "--"]
        if self.key == "netlab-spawn-noann":
            return [netlab, "syscalls", "-e", "socket,send", "--no-annotate", "--"]
        if self.key == "strace-attach":
            return ["strace", "-f", "-qq", "-p", str(pid), "-e", "trace=network", "-o",
                    "/dev/null"]
        if self.key == "netlab-attach":
            return [netlab, "syscalls", "-p", str(pid), "-e", "socket,send"]
        return []


CONFIGS = [
    ("untraced", "untraced", "untraced", False),
    ("strace-spawn", "strace -f --seccomp-bpf (spawn)", "spawn", False),
    ("netlab-spawn", "netlab -e socket,send (spawn)", "spawn", False),
    ("netlab-spawn-network", "netlab, default set network (spawn)", "spawn", True),
    ("netlab-spawn-noann", "netlab -e socket,send --no-annotate (spawn)", "spawn", True),
    ("strace-attach", "strace -f -p (attach)", "attach", False),
    ("netlab-attach", "netlab -p -e socket,send (attach)", "attach", False),
]


class Runner:
    """Runs nginx (and a tracer) per measurement; remembers what it started for cleanup."""

    def __init__(self, netlab, workdir, duration):
        self.netlab = netlab
        self.workdir = Path(workdir)
        self.duration = duration
        self.procs = []       # Popen objects we started
        self.pids = set()     # nginx pids started under a tracer
        self.n = 0

    def popen(self, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        p = subprocess.Popen(PIN_SERVER + list(cmd), cwd="/", start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def nginx_dir(self):
        """A fresh nginx prefix with its configuration: (dir, port, argv)."""
        self.n += 1
        d = self.workdir / f"nginx-{self.n}"
        d.mkdir(parents=True)
        port = free_port()
        conf = d / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=d, addr=LOOPBACK, port=port))
        return d, port, ["nginx", "-p", str(d), "-c", str(conf)]

    def nginx_pid(self, d, timeout=5.0):
        """nginx's pid from its pid file."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                text = (d / "nginx.pid").read_text().strip()
                if text:
                    return int(text)
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        return None

    def wrk(self, port):
        """One wrk run -> (req/s, p99 ms, problems)."""
        cmd = PIN_CLIENT + ["wrk", "-t1", "-c10", f"-d{self.duration}", "--latency",
                            f"http://{LOOPBACK}:{port}/"]
        res = run(cmd, timeout=120)
        if res.returncode != 0:
            return None, None, [f"wrk exit {res.returncode}: {res.stderr.strip()[-200:]}"]
        return parse_wrk(res.stdout)

    def error_tail(self, path):
        try:
            return " ".join(Path(path).read_text().split())[-300:]
        except OSError:
            return ""

    def measure(self, cfg):
        """One run of a configuration -> (req/s, p99 ms, [notes]); None values on failure."""
        d, port, nginx = self.nginx_dir()
        errf = d / "tracer.err"
        notes = []
        tracer_proc, ng_proc, ng_pid = None, None, None
        try:
            with open(errf, "w") as err:
                if cfg.kind in ("untraced", "attach"):
                    ng_proc = self.popen(nginx)
                    if not wait_port(port, ng_proc):
                        return None, None, [f"nginx did not start: "
                                            f"{self.error_tail(d / 'error.log')}"]
                    ng_pid = ng_proc.pid
                    if cfg.kind == "attach":
                        tracer_proc = self.popen(cfg.tracer(self.netlab, ng_pid), stderr=err)
                        if not wait_attached(ng_pid):
                            return None, None, [f"{cfg.key}: not attached within 10 s "
                                                f"(exit {tracer_proc.poll()}): "
                                                f"{self.error_tail(errf)}"]
                else:
                    tracer_proc = self.popen(cfg.tracer(self.netlab) + nginx, stderr=err)
                    if not wait_port(port, tracer_proc):
                        return None, None, [f"{cfg.key}: nginx did not answer (exit "
                                            f"{tracer_proc.poll()}): {self.error_tail(errf)} "
                                            f"{self.error_tail(d / 'error.log')}"]
                    ng_pid = self.nginx_pid(d)
                    if ng_pid is not None:
                        self.pids.add(ng_pid)
                rps, p99, problems = self.wrk(port)
                notes += problems
                if cfg.kind == "attach":
                    sig = signal.SIGINT if cfg.key.startswith("strace") else signal.SIGTERM
                    rc = stop_process(tracer_proc, sig, timeout=15)
                    if rc not in (0, -signal.SIGINT, 128 + signal.SIGINT):
                        notes.append(f"{cfg.key} exit {rc} on {sig.name}: "
                                     f"{self.error_tail(errf)}")
                    time.sleep(0.1)
                    bad = {t: (proc_status(ng_pid, t).get("State"),
                               proc_status(ng_pid, t).get("TracerPid"))
                           for t in tasks(ng_pid)}
                    bad = {t: v for t, v in bad.items()
                           if not (v[0] or "").startswith("S") or v[1] != "0"}
                    if bad or not tasks(ng_pid):
                        notes.append(f"after detaching, nginx threads not in S / still "
                                     f"traced: {bad or 'gone'}")
                    elif not wait_port(port, ng_proc, timeout=1.0):
                        notes.append("after detaching, nginx did not answer within 1 s")
                return rps, p99, notes
        finally:
            # nginx first (under a tracer, the tracer then ends by itself), then the tracer.
            if ng_pid is not None and cfg.kind == "spawn":
                if not kill_pid(ng_pid, signal.SIGTERM):
                    notes.append("nginx did not end on SIGTERM (killed)")
                self.pids.discard(ng_pid)
            if ng_proc is not None:
                stop_process(ng_proc, signal.SIGTERM, timeout=10)
            if tracer_proc is not None:
                try:
                    tracer_proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    notes.append(f"{cfg.key} did not end after nginx (SIGTERM)")
                    stop_process(tracer_proc, signal.SIGTERM, timeout=5)
                if cfg.kind == "spawn" and tracer_proc.returncode not in (0, None):
                    notes.append(f"{cfg.key} exit {tracer_proc.returncode}: "
                                 f"{self.error_tail(errf)}")
            for p in (ng_proc, tracer_proc):
                if p is not None and p in self.procs:
                    self.procs.remove(p)
            shutil.rmtree(d, ignore_errors=True)

    def stop_all(self):
        """Cleanup (finally, SIGTERM): everything this runner started."""
        for pid in list(self.pids):
            kill_pid(pid, signal.SIGKILL, timeout=2)
        for p in reversed(self.procs):
            try:
                stop_process(p, signal.SIGTERM, timeout=5)
            except (OSError, subprocess.SubprocessError):
                pass


# ---------------------------------------------------------------------------------------------
# Snapshot timing

PY_TIMER = r"""
import json, subprocess, sys, time
argv, warmup, runs = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
for _ in range(warmup):
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def time_snapshot(runner, runs=50):
    """(mean ms, sd ms, min ms, how, netlab's took_us, what nginx was blocked in) or raises."""
    d, port, nginx = runner.nginx_dir()
    ng = runner.popen(nginx)
    try:
        if not wait_port(port, ng):
            raise RuntimeError(f"nginx did not start: {runner.error_tail(d / 'error.log')}")
        time.sleep(0.2)
        argv = [runner.netlab, "--json", "syscalls", "-p", str(ng.pid), "--snapshot"]
        res = run(argv, timeout=30)
        try:
            doc = json.loads(res.stdout)
        except ValueError:
            raise RuntimeError(f"`{' '.join(argv)}` exit {res.returncode}: "
                               f"{res.stderr.strip()[-300:]}") from None
        blocked = ", ".join(f"{t.get('tid')} {t.get('syscall')}" for t in doc.get("threads", []))
        if shutil.which("hyperfine"):
            out = d / "hyperfine.json"
            res = run(["hyperfine", "-N", "--warmup", "5", "--runs", str(runs), "--export-json",
                       str(out), "--style", "none", " ".join(argv)], timeout=300)
            if res.returncode != 0:
                raise RuntimeError(f"hyperfine exit {res.returncode}: {res.stderr[-300:]}")
            times = json.loads(out.read_text())["results"][0]["times"]
            how = "hyperfine -N"
        else:
            res = run([sys.executable, "-c", PY_TIMER, json.dumps(argv), "5", str(runs)],
                      timeout=300)
            times = json.loads(res.stdout)
            how = "python timing"
        st = proc_status(ng.pid)
        if not st.get("State", "").startswith("S") or st.get("TracerPid") != "0":
            blocked += f"; nginx afterwards: {st.get('State')}, TracerPid {st.get('TracerPid')}"
        mean = statistics.mean(times) * 1000
        sd = statistics.stdev(times) * 1000 if len(times) > 1 else 0.0
        return mean, sd, min(times) * 1000, how, doc.get("took_us"), blocked
    finally:
        stop_process(ng, signal.SIGTERM, timeout=10)
        if ng in runner.procs:
            runner.procs.remove(ng)
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------------------------


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, spec):
    return format(x, spec) if x is not None and not (isinstance(x, float) and math.isnan(x)) \
        else "-"


def main():
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--netlab", default="target/release/netlab", help="netlab binary")
    ap.add_argument("--rounds", type=int, default=5, help="rounds (each runs every "
                    "configuration once; default 5)")
    ap.add_argument("--duration", default="3s", help="wrk -d per run (default 3s)")
    opts = ap.parse_args()

    reason = preflight()
    if reason:
        print(f"syscalls_bench: skipped: {reason}")
        return 0
    netlab = os.path.abspath(opts.netlab)
    if not os.access(netlab, os.X_OK):
        print(f"syscalls_bench: skipped: {netlab} is not an executable")
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: sys.exit(128 + signum))

    configs = [Config(*c) for c in CONFIGS]
    workdir = tempfile.mkdtemp(prefix="netlab-syscalls-bench-")
    runner = Runner(netlab, workdir, opts.duration)
    started = time.monotonic()
    rc = 0
    try:
        print(f"netlab {tool_version([netlab, '--version'])}; "
              f"{tool_version(['strace', '-V'])}; {tool_version(['nginx', '-v'])}; "
              f"{tool_version(['wrk', '-v'])}; {os.cpu_count()} CPUs; "
              f"wrk -t1 -c10 -d{opts.duration} --latency; {opts.rounds} rounds, interleaved")
        log("warm-up (untraced, not counted)")
        runner.measure(Config("untraced", "warm-up", "untraced"))
        for r in range(opts.rounds):
            k = r % len(configs)
            order = configs[k:] + configs[:k]
            for cfg in order:
                log(f"round {r + 1}/{opts.rounds}: {cfg.label}")
                rps, p99, notes = runner.measure(cfg)
                if rps is not None and p99 is not None:
                    cfg.rps.append(rps)
                    cfg.p99.append(p99)
                cfg.notes += [f"round {r + 1}: {n}" for n in notes]
        snap = None
        log("snapshot timing")
        try:
            snap = time_snapshot(runner)
        except (RuntimeError, subprocess.SubprocessError, OSError, ValueError, KeyError) as e:
            print(f"snapshot: timing failed: {e}")
            rc = 1

        base = med(configs[0].rps)
        print()
        print(f"{'configuration':<52} {'req/s':>9} {'p99 ms':>8} {'x untraced':>10}  runs  "
              "req/s per round")
        for cfg in configs:
            m, p = med(cfg.rps), med(cfg.p99)
            ratio = m / base if m is not None and base else None
            print(f"{cfg.label + (' [info]' if cfg.info else ''):<52} {fmt(m, '9.0f')} "
                  f"{fmt(p, '8.2f')} {fmt(ratio, '9.3f')}x  {len(cfg.rps):>4}  "
                  + " ".join(f"{x:.0f}" for x in cfg.rps))
        print()
        by = {c.key: c for c in configs}

        def goal(label, num, den, want, higher=True):
            a, b = med(by[num].rps), med(by[den].rps)
            if a is None or b is None:
                print(f"{label}: not measured")
                return
            ratio = a / b
            ok = ratio >= want if higher else ratio <= want
            print(f"{label}: {ratio:.2f}x ({a:.0f} / {b:.0f} req/s; goal >= {want}x: "
                  f"{'met' if ok else 'NOT met'})")

        goal("spawn throughput, netlab / strace --seccomp-bpf", "netlab-spawn", "strace-spawn",
             SPAWN_GOAL)
        goal("attach throughput, netlab / strace -p", "netlab-attach", "strace-attach",
             ATTACH_GOAL)
        for mode in ("spawn", "attach"):
            a, b = med(by[f"netlab-{mode}"].p99), med(by[f"strace-{mode}"].p99)
            if a is None or b is None:
                print(f"{mode} p99 latency: not measured")
            else:
                print(f"{mode} p99 latency, netlab vs strace: {a:.2f} ms vs {b:.2f} ms "
                      f"({a / b:.2f}x; goal no worse: {'met' if a <= b else 'NOT met'})")
        if snap is not None:
            mean, sd, mn, how, took, blocked = snap
            print(f"snapshot `netlab --json syscalls -p PID --snapshot` of idle nginx ({how}): "
                  f"mean {mean:.2f} ms, sd {sd:.2f}, min {mn:.2f} (netlab's took_us {took}; "
                  f"goal < {SNAPSHOT_GOAL_MS} ms: "
                  f"{'met' if mean < SNAPSHOT_GOAL_MS else 'NOT met'}); blocked in: {blocked}")
        notes = [(c.label, n) for c in configs for n in c.notes]
        if notes:
            print()
            for label, n in notes:
                print(f"note: {label}: {n}")
        missing = [c.label for c in configs if not c.rps]
        if missing:
            print(f"could not be measured at all: {', '.join(missing)}")
            rc = 1
        print(f"({time.monotonic() - started:.0f} s)")
    finally:
        runner.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())

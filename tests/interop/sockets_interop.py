#!/usr/bin/env python3
"""Sockets interop checks: `netlab sockets` against iproute2 `ss` on loopback.

Run as root:

    python3 tests/interop/sockets_interop.py --netlab target/release/netlab

Every check prints `PASS name` or `FAIL name: details` (`INFO` lines are informational); the
last line is `N passed, M failed` and the exit status is 1 when anything failed. Without root
or a tool (ss, setpriv) the script prints `sockets_interop: skipped: <reason>` and exits 0.

The lab is `netlab lab --jsonl --port-base B --sockets --duration 300s` (loopback, B fixed
below the ephemeral range); its first stdout line (`ready.sockets`) gives the scenario ports
and counts. The lab's TIME_WAIT and orphaned FIN_WAIT2 sockets last 60 s, so a, b and d run
first, within seconds of `ready`.

What is checked:
  a. stable populations: for the leak, churn and overflow ports, the per-state counts of
     `netlab --json sockets --port P` equal `ss -Htan '( sport = :P or dport = :P )'` and the
     scenario's numbers (leak: close_wait = fin_wait2 = leak_connections, listen 1; churn:
     time_wait = churn_connections, listen 1; overflow: listen 1, syn_sent = connections -
     backlog - 1, established = 2 x (backlog + 1)); the overflow listener's `ss -Htln`
     Recv-Q/Send-Q equal netlab's accept_queue diagnosis (and backlog + 1 / backlog);
  b. per-process CLOSE_WAIT: netlab's by_process CLOSE_WAIT rows (pid, command, count), with
     and without `--state close-wait`, equal `ss -Htanp state close-wait '( sport = :P )'`
     attribution counted per pid (the lab's pid, leak_connections); the close_wait_leak
     diagnosis names that process, count and port;
  d. unprivileged (`setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all`):
     the same per-state counts on the leak port as root's run, nothing attributed
     (by_process empty, not_attributed = the owned sockets root attributed, > 0), privileged
     false, a note saying so;
  c. under churn, 20 repetitions: this script holds a stable population on its own port Q
     (K=50 connections, both ends ESTABLISHED, and K2=30 half-closed by the client: CLOSE_WAIT
     on the server side, FIN_WAIT2 held by the client) while a bounded generator (a listener
     thread and a client thread in this process, short connections each closed by the client,
     up to 4000/s, at most 30000 connections / 60 s) churns on port Q2. Every repetition, `netlab --json
     sockets --port Q --state established,close-wait` (and the same without --state) must
     count exactly the stable population (states, total, by_local_port, by_process), and
     `ss -Htan state established state close-wait '( sport = :Q or dport = :Q )'` must agree;
     the generator must have made connections during every repetition; once, netlab's
     by_process CLOSE_WAIT on Q (this process, K2) equals ss -p's attribution.

Only loopback (127.0.0.1) ever sees traffic.
"""

import json
import os
import queue
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import LabError, begin, run, start_jsonl, stop_process  # noqa: E402

LOOPBACK = "127.0.0.1"
UNPRIV = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
REPS = 20
K_ESTAB = 50        # stable connections on Q: both ends ESTABLISHED
K_CLOSE_WAIT = 30   # stable connections on Q half-closed by the client: CLOSE_WAIT on Q's side
CHURN_MAX_CONNS = 30000
CHURN_MAX_S = 60.0
CHURN_RATE = 4000   # connections/s at most: steady churn without exhausting ephemeral ports
# Churn clients rotate over these sources (TIME_WAIT 4-tuples spread over 8 x the port range).
CHURN_SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
LAB_TTL_S = 50.0    # the lab's TIME_WAIT / FIN_WAIT2 sockets live 60 s: check a, b, d before

STATE_KEYS = ["established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait",
              "close", "close_wait", "last_ack", "listen", "closing"]
# ss's state names (ss -tan) -> netlab's keys.
SS_STATES = {"ESTAB": "established", "SYN-SENT": "syn_sent", "SYN-RECV": "syn_recv",
             "FIN-WAIT-1": "fin_wait1", "FIN-WAIT-2": "fin_wait2", "TIME-WAIT": "time_wait",
             "UNCONN": "close", "CLOSE": "close", "CLOSE-WAIT": "close_wait",
             "LAST-ACK": "last_ack", "LISTEN": "listen", "CLOSING": "closing"}
# users:(("netlab",pid=11298,fd=39)) — one entry per process holding the socket.
SS_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)')
ACCEPT_QUEUE = re.compile(r"^listener (\S+) of .*: accept queue (\d+)/(\d+)")


def log(msg):
    """Progress to stderr (stdout holds only the check lines)."""
    print(f"sockets_interop: {msg}", file=sys.stderr, flush=True)


def preflight():
    """Why the checks cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "not root (ss -p of the lab's sockets and setpriv need root)"
    missing = [t for t in ("ss", "setpriv") if shutil.which(t) is None]
    if missing:
        return "missing " + ", ".join(missing)
    return None


def ports_for(pid):
    """(lab port base B, stable port Q, churn port Q2): fixed, below the ephemeral range."""
    b = 13000 + (pid % 1000) * 8          # the lab takes B .. B+7 (13000 .. 20999)
    q = 21000 + (pid % 1000) * 2          # 21000 .. 22999
    return b, q, q + 1


class RunError(Exception):
    """A command did not produce a usable answer."""


def netlab_sockets(netlab, args, unprivileged=False, timeout=60):
    """`netlab --json sockets ARGS` -> (exit code, document). Exit 0 and 1 both carry a report."""
    cmd = (UNPRIV if unprivileged else []) + [netlab, "--json", "sockets"] + list(args)
    res = run(cmd, timeout=timeout, cwd="/", env=dict(os.environ, NO_COLOR="1"))
    if res.returncode not in (0, 1):
        raise RunError(f"`{' '.join(cmd)}` exited {res.returncode}: {res.stderr.strip()[:400]}")
    try:
        return res.returncode, json.loads(res.stdout)
    except json.JSONDecodeError as e:
        raise RunError(f"`{' '.join(cmd)}` printed no JSON ({e}): {res.stdout[:200]!r}") from None


def ss_lines(args, timeout=60):
    """`ss ARGS` output lines (ss must succeed)."""
    cmd = ["ss"] + list(args)
    res = run(cmd, timeout=timeout)
    if res.returncode != 0:
        raise RunError(f"`{' '.join(cmd)}` exited {res.returncode}: {res.stderr.strip()[:300]}")
    return [ln for ln in res.stdout.splitlines() if ln.strip()]


def ss_states(args):
    """Per-state counts (netlab's keys, every key present) of `ss -Htan ARGS`."""
    counts = dict.fromkeys(STATE_KEYS, 0)
    for line in ss_lines(["-Htan"] + list(args)):
        name = line.split()[0]
        if name not in SS_STATES:
            raise RunError(f"unknown ss state {name!r} in {line!r}")
        counts[SS_STATES[name]] += 1
    return counts


def port_filter(p):
    """ss filter for sockets with local or remote port P."""
    return f"( sport = :{p} or dport = :{p} )"


def diff(got, want, keys=None):
    """'key: got X, want Y' for every key that differs."""
    keys = keys if keys is not None else sorted(set(got) | set(want))
    return [f"{k}: {got.get(k)} vs {want.get(k)}" for k in keys if got.get(k) != want.get(k)]


def nonzero(states):
    """The non-zero entries of a states dict (for messages)."""
    return {k: v for k, v in states.items() if v}


def expect_states(**kw):
    """A full states dict: the given counts, every other state 0."""
    d = dict.fromkeys(STATE_KEYS, 0)
    d.update(kw)
    return d


def ss_comm(pid):
    """A process's command name as ss -p and netlab print it (/proc/PID/comm)."""
    return Path(f"/proc/{pid}/comm").read_text().strip()


def close_wait_rows(doc):
    """netlab's by_process CLOSE_WAIT rows as {(pid, command): count}."""
    out = {}
    for r in doc.get("by_process", []):
        if r["state"] == "CLOSE_WAIT":
            out[(r["pid"], r["command"])] = out.get((r["pid"], r["command"]), 0) + r["count"]
    return out


# ---------------------------------------------------------------------------------------------
# The loopback lab


class SocketsLab:
    """`netlab lab --sockets` (loopback) in the background; stop() (always) ends it."""

    def __init__(self, netlab, port_base, duration="300s"):
        self.cmd = [netlab, "lab", "--jsonl", "--port-base", str(port_base), "--sockets",
                    "--duration", duration]
        self.proc = None
        self.lines = queue.Queue()
        self.stderr = []
        self.threads = []
        self.ready = None
        self.ready_at = None
        self.ready_s = None
        self.summary = None

    def start(self, timeout=30.0):
        """Start the lab and wait for its ready line."""
        t0 = time.monotonic()
        self.ready = start_jsonl(self, want="sockets", timeout=timeout)
        self.ready_at = time.monotonic()
        self.ready_s = self.ready_at - t0

    @property
    def sockets(self):
        """ready.sockets."""
        return self.ready["sockets"]

    def age(self):
        """Seconds since the ready line."""
        return time.monotonic() - self.ready_at

    def stop(self):
        """SIGTERM the lab (only the process we started) and read its summary; problems."""
        problems = []
        if self.proc is None:
            return problems
        rc = stop_process(self.proc, signal.SIGTERM, timeout=15)
        for t in self.threads:
            t.join(timeout=5)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if obj.get("type") == "summary":
                self.summary = obj
        if self.summary is None:
            problems.append(f"no summary line (exit {rc})")
        elif not self.summary.get("cleaned_up", False):
            problems.append("summary says cleaned_up=false")
        return problems


# ---------------------------------------------------------------------------------------------
# a. stable populations of the lab's scenarios


def check_stable(rep, lab, netlab):
    """Per-state counts on each scenario port: netlab = ss = the scenario's numbers."""
    s = lab.sockets
    leak, churn, ov = s["leak_connections"], s["churn_connections"], s["overflow_connections"]
    backlog = s["overflow_backlog"]
    queued = min(ov, backlog + 1)
    want = {
        "leak": (s["leak_port"], expect_states(close_wait=leak, fin_wait2=leak, listen=1)),
        "churn": (s["churn_port"], expect_states(time_wait=churn, listen=1)),
        "overflow": (s["overflow_port"], expect_states(listen=1, established=2 * queued,
                                                       syn_sent=ov - queued)),
    }
    docs = {}
    for name, (port, expected) in want.items():
        try:
            rc, doc = netlab_sockets(netlab, ["--port", str(port)])
            ss = ss_states([port_filter(port)])
        except (RunError, subprocess.SubprocessError, OSError) as e:
            rep.check(f"stable/{name}/netlab_vs_ss", False, str(e))
            continue
        docs[name] = (rc, doc)
        got = doc["states"]
        problems = diff(got, ss, STATE_KEYS)
        if doc["total"] != sum(ss.values()):
            problems.append(f"total {doc['total']} vs ss {sum(ss.values())} sockets")
        rep.problems(f"stable/{name}/netlab_vs_ss", [f"netlab vs ss {p}" for p in problems],
                     f"port {port}: {nonzero(got)} (ss the same)")
        problems = [f"netlab vs scenario {p}" for p in diff(got, expected, STATE_KEYS)]
        if problems and got == ss:
            # ss sees the same: the lab's promise, not netlab's count, is off. The lab waits
            # (at most 5 s) for its states before `ready`; a ready that took that long means
            # its wait expired and ready.sockets still states the intended counts.
            problems.append(f"ss agrees with netlab: the lab's ready.sockets is wrong (ready "
                            f"came {lab.ready_s:.1f}s after start)")
        rep.problems(f"stable/{name}/scenario", problems,
                     f"port {port}: {nonzero(expected)} as ready.sockets promises")
    # The never-accepting listener: ss's Recv-Q / Send-Q against netlab's diagnosis.
    port = s["overflow_port"]
    if "overflow" in docs:
        _, doc = docs["overflow"]
        problems = []
        try:
            lines = ss_lines(["-Htln", f"( sport = :{port} )"])
        except (RunError, subprocess.SubprocessError, OSError) as e:
            lines, problems = [], [str(e)]
        if len(lines) != 1:
            problems.append(f"ss -Htln shows {len(lines)} listeners on port {port}")
        diags = [d for d in doc["diagnoses"] if d["code"] in ("accept_queue_full",
                                                             "accept_queue_high")]
        if len(diags) != 1:
            problems.append(f"{len(diags)} accept_queue diagnoses: {diags}")
        if len(lines) == 1 and len(diags) == 1:
            f = lines[0].split()
            ss_q = (int(f[1]), int(f[2]), f[3])
            m = ACCEPT_QUEUE.match(diags[0]["message"])
            if not m:
                problems.append(f"diagnosis not understood: {diags[0]['message']!r}")
            else:
                nl_q = (int(m.group(2)), int(m.group(3)), m.group(1))
                if nl_q != ss_q:
                    problems.append(f"netlab (queue, backlog, listener) {nl_q} vs ss {ss_q}")
                if ss_q[:2] != (queued, backlog):
                    problems.append(f"ss Recv-Q/Send-Q {ss_q[:2]} vs scenario "
                                    f"{(queued, backlog)}")
                want_code = "accept_queue_full" if queued >= backlog else "accept_queue_high"
                if diags[0]["code"] != want_code or diags[0]["severity"] != "warning":
                    problems.append(f"diagnosis {diags[0]['code']}/{diags[0]['severity']}, "
                                    f"want {want_code}/warning")
        rep.problems("stable/overflow/accept_queue", problems,
                     f"Recv-Q/Send-Q {queued}/{backlog} in ss -Htln and in netlab's "
                     f"{diags[0]['code'] if diags else '?'} diagnosis")
    return docs


# ---------------------------------------------------------------------------------------------
# b. CLOSE_WAIT attribution per process


def ss_close_wait_owners(port):
    """{(pid, command): CLOSE_WAIT sockets} from `ss -Htanp state close-wait`, and the number
    of sockets ss attributed to nobody."""
    owners, nobody = {}, 0
    for line in ss_lines(["-Htanp", "state", "close-wait", f"( sport = :{port} )"]):
        users = SS_USER.findall(line)
        if not users:
            nobody += 1
        for cmd, pid in set(users):
            owners[(int(pid), cmd)] = owners.get((int(pid), cmd), 0) + 1
    return owners, nobody


def check_close_wait(rep, lab, netlab, docs):
    """netlab's by_process CLOSE_WAIT on the leak port = ss -p's attribution."""
    s = lab.sockets
    port, n = s["leak_port"], s["leak_connections"]
    try:
        ss_owners, nobody = ss_close_wait_owners(port)
        runs = {"--port": docs["leak"][1] if "leak" in docs else
                netlab_sockets(netlab, ["--port", str(port)])[1]}
        rc, cw_doc = netlab_sockets(netlab, ["--port", str(port), "--state", "close-wait"])
        runs["--port --state close-wait"] = cw_doc
    except (RunError, subprocess.SubprocessError, OSError) as e:
        rep.check("close_wait/by_process", False, str(e))
        return
    want = {(lab.proc.pid, "netlab"): n}
    problems = []
    if ss_owners != want or nobody:
        problems.append(f"ss -p {ss_owners} ({nobody} unattributed), want {want} "
                        f"(the lab's pid)")
    for label, doc in runs.items():
        got = close_wait_rows(doc)
        if got != ss_owners:
            problems.append(f"netlab {label}: {got} vs ss {ss_owners}")
    rep.problems("close_wait/by_process", problems,
                 f"port {port}: pid {lab.proc.pid} (netlab) holds {n} CLOSE_WAIT in netlab "
                 f"(with and without --state) and ss -p")
    # The diagnosis in words, and the exit code (a warning is a finding: 1).
    problems = []
    leaks = [d for d in cw_doc["diagnoses"] if d["code"] == "close_wait_leak"]
    phrase = f"netlab (pid {lab.proc.pid}) holds {n} CLOSE_WAIT sockets on local port {port}"
    if len(leaks) != 1 or phrase not in leaks[0]["message"] or leaks[0]["severity"] != "warning":
        problems.append(f"want one close_wait_leak warning containing {phrase!r}, got {leaks}")
    if rc != 1:
        problems.append(f"exit {rc}, want 1 (a warning diagnosis)")
    rep.problems("close_wait/diagnosis", problems, f"{phrase!r}, exit 1")


# ---------------------------------------------------------------------------------------------
# d. unprivileged


def check_unprivileged(rep, lab, netlab, docs):
    """As nobody: same counts on the leak port, nothing attributed, privileged false."""
    port = lab.sockets["leak_port"]
    try:
        _, root = netlab_sockets(netlab, ["--port", str(port)])
        rc, doc = netlab_sockets(netlab, ["--port", str(port)], unprivileged=True)
    except (RunError, subprocess.SubprocessError, OSError) as e:
        rep.check("unprivileged/states", False, str(e))
        return
    problems = diff(doc["states"], root["states"], STATE_KEYS)
    if doc["total"] != root["total"]:
        problems.append(f"total {doc['total']} vs root {root['total']}")
    rep.problems("unprivileged/states", [f"nobody vs root {p}" for p in problems],
                 f"port {port}: {nonzero(doc['states'])} as nobody and as root")
    owned = sum(r["count"] for r in root["by_process"])  # sockets with an owner root found
    problems = []
    if doc["privileged"] is not False:
        problems.append(f"privileged {doc['privileged']!r}, want false")
    if root["privileged"] is not True:
        problems.append(f"root's run says privileged {root['privileged']!r}")
    if doc["by_process"]:
        problems.append(f"by_process not empty: {doc['by_process'][:3]}")
    if not doc["not_attributed"] > 0:
        problems.append(f"not_attributed {doc['not_attributed']}, want > 0")
    if doc["not_attributed"] != owned:
        problems.append(f"not_attributed {doc['not_attributed']} vs {owned} sockets root "
                        f"attributed")
    if root["not_attributed"] != 0:
        problems.append(f"root's run: not_attributed {root['not_attributed']}")
    if not any("not root" in n for n in doc["notes"]):
        problems.append(f"no 'not root' note: {doc['notes']}")
    if any(d["code"] == "close_wait_leak" for d in doc["diagnoses"]):
        problems.append("a close_wait_leak diagnosis without an owner")
    rep.problems("unprivileged/attribution", problems,
                 f"by_process empty, not_attributed {doc['not_attributed']} (= the "
                 f"{owned} sockets root attributes), privileged false, exit {rc}")


# ---------------------------------------------------------------------------------------------
# c. exact counts of a stable population while another port churns


class Churn:
    """A bounded loopback churn generator on port Q2: a listener thread (accept, read to EOF,
    close) and a client thread (connect from 127.0.0.2-9, send a byte, close first: TIME_WAIT
    on the client), at most CHURN_RATE connections/s. Stops by itself after max_conns
    connections or max_s seconds."""

    def __init__(self, port, max_conns=CHURN_MAX_CONNS, max_s=CHURN_MAX_S):
        self.port, self.max_conns, self.max_s = port, max_conns, max_s
        self.made = 0
        self.errors = 0
        self.stop_ev = threading.Event()
        self.listener = None
        self.threads = []
        self.started = None
        self.elapsed = None

    def start(self):
        """Bind, listen and start both threads."""
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((LOOPBACK, self.port))
        self.listener.listen(4096)
        self.listener.settimeout(0.2)
        self.deadline = time.monotonic() + self.max_s
        self.started = time.monotonic()
        self.threads = [threading.Thread(target=self._serve, daemon=True),
                        threading.Thread(target=self._client, daemon=True)]
        for t in self.threads:
            t.start()

    def _serve(self):
        while not self.stop_ev.is_set() and time.monotonic() < self.deadline + 2:
            try:
                conn, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            conn.settimeout(1.0)
            try:
                while conn.recv(4096):
                    pass
            except OSError:
                pass
            conn.close()

    def _client(self):
        while (not self.stop_ev.is_set() and self.made < self.max_conns
               and time.monotonic() < self.deadline):
            ahead = self.started + self.made / CHURN_RATE - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.settimeout(2.0)
            try:
                c.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                c.bind((CHURN_SOURCES[self.made % len(CHURN_SOURCES)], 0))
                c.connect((LOOPBACK, self.port))
                c.sendall(b"x")
            except OSError:
                self.errors += 1
            finally:
                c.close()
            self.made += 1
        self.elapsed = time.monotonic() - self.started

    def running(self):
        """The client thread is still making connections."""
        return self.threads[1].is_alive()

    def stop(self):
        """Stop both threads and close the listener."""
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=10)
        if self.listener is not None:
            self.listener.close()
        if self.elapsed is None and self.started is not None:
            self.elapsed = time.monotonic() - self.started


class Stable:
    """The population on port Q that does not change: K connections with both ends open
    (2K ESTABLISHED) and K2 connections the client half-closed (K2 CLOSE_WAIT on Q's side;
    the client keeps its fd, so its FIN_WAIT2 has no timer and the CLOSE_WAIT stays)."""

    def __init__(self, port, k, k2):
        self.port, self.k, self.k2 = port, k, k2
        self.socks = []

    def start(self):
        """Build it; returns once every connection is accepted."""
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind((LOOPBACK, self.port))
        lst.listen(256)
        lst.settimeout(5.0)
        self.socks.append(lst)
        for i in range(self.k + self.k2):
            c = socket.create_connection((LOOPBACK, self.port), timeout=5)
            s, _ = lst.accept()
            self.socks += [c, s]
            if i >= self.k:
                c.shutdown(socket.SHUT_WR)  # our FIN: the accepted side goes CLOSE_WAIT

    def close(self):
        """Close everything (RST: no TIME_WAIT left behind)."""
        for s in self.socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            s.close()
        self.socks = []


def stable_problems(doc, st, pid, with_state):
    """What differs between netlab's report and the known stable population."""
    k, k2, port = st.k, st.k2, st.port
    if with_state:
        want = expect_states(established=2 * k, close_wait=k2)
        want_proc = {"ESTABLISHED": 2 * k, "CLOSE_WAIT": k2}
        want_local = {"ESTABLISHED": k, "CLOSE_WAIT": k2}
    else:
        want = expect_states(established=2 * k, close_wait=k2, fin_wait2=k2, listen=1)
        want_proc = {"ESTABLISHED": 2 * k, "CLOSE_WAIT": k2, "FIN_WAIT2": k2, "LISTEN": 1}
        want_local = {"ESTABLISHED": k, "CLOSE_WAIT": k2, "LISTEN": 1}
    problems = [f"states {p}" for p in diff(doc["states"], want, STATE_KEYS)]
    if doc["total"] != sum(want.values()):
        problems.append(f"total {doc['total']} vs {sum(want.values())}")
    local = {r["state"]: r["count"] for r in doc["by_local_port"] if r["port"] == port}
    problems += [f"by_local_port {port} {p}" for p in diff(local, want_local)]
    procs = {}
    for r in doc["by_process"]:
        if r["pid"] != pid:
            problems.append(f"by_process row of another process: {r}")
        procs[r["state"]] = procs.get(r["state"], 0) + r["count"]
    problems += [f"by_process {p}" for p in diff(procs, want_proc)]
    if doc["not_attributed"] != 0 or doc["unowned"]["count"] != 0:
        problems.append(f"not_attributed {doc['not_attributed']}, unowned "
                        f"{doc['unowned']['count']}")
    return problems


def check_churn(rep, netlab, q, q2):
    """20 repetitions of netlab and ss on the stable population of Q while Q2 churns."""
    st = Stable(q, K_ESTAB, K_CLOSE_WAIT)
    churn = Churn(q2)
    pid = os.getpid()
    try:
        try:
            st.start()
            churn.start()
        except OSError as e:
            rep.check("churn/setup", False, f"loopback ports {q}, {q2}: {e}")
            return
        # Let the churn get going (and fill the table with TIME_WAIT) before measuring.
        t0 = time.monotonic()
        while churn.made < 500 and time.monotonic() - t0 < 5:
            time.sleep(0.01)
        rep.check("churn/setup", churn.made >= 500 and churn.running(),
                  f"stable on {q}: {2 * K_ESTAB} ESTABLISHED + {K_CLOSE_WAIT} CLOSE_WAIT; "
                  f"churn on {q2}: {churn.made} connections before the first repetition")
        exact, exact_full, ss_ok, during = 0, 0, 0, 0
        bad, bad_full, bad_ss, idle = [], [], [], []
        ss_args = ["state", "established", "state", "close-wait", port_filter(q)]
        for i in range(REPS):
            before = churn.made
            try:
                _, doc = netlab_sockets(netlab, ["--port", str(q), "--state",
                                                 "established,close-wait"])
                ss = ss_states(ss_args)
                _, full = netlab_sockets(netlab, ["--port", str(q)])
            except (RunError, subprocess.SubprocessError, OSError) as e:
                bad.append(f"rep {i + 1}: {e}")
                continue
            after = churn.made
            p = stable_problems(doc, st, pid, True)
            if p:
                bad.append(f"rep {i + 1}: " + ", ".join(p[:4]))
            else:
                exact += 1
            p = stable_problems(full, st, pid, False)
            if p:
                bad_full.append(f"rep {i + 1}: " + ", ".join(p[:4]))
            else:
                exact_full += 1
            want_ss = expect_states(established=2 * K_ESTAB, close_wait=K_CLOSE_WAIT)
            p = diff(ss, want_ss, STATE_KEYS) + diff(doc["states"], ss, STATE_KEYS)
            if p:
                bad_ss.append(f"rep {i + 1}: netlab/ss/known " + ", ".join(p[:4]))
            else:
                ss_ok += 1
            if after > before:
                during += 1
            else:
                idle.append(i + 1)
        rep.problems("churn/netlab_exact", bad,
                     f"{exact}/{REPS} repetitions: `--port {q} --state established,close-wait`"
                     f" = {2 * K_ESTAB} ESTABLISHED + {K_CLOSE_WAIT} CLOSE_WAIT, by_local_port "
                     f"and by_process (pid {pid}) exact")
        rep.problems("churn/netlab_full_exact", bad_full,
                     f"{exact_full}/{REPS} repetitions: `--port {q}` (no --state) = the same "
                     f"+ {K_CLOSE_WAIT} FIN_WAIT2 + 1 LISTEN")
        rep.problems("churn/ss_agrees", bad_ss,
                     f"{ss_ok}/{REPS} repetitions: ss -Htan state established state "
                     f"close-wait on port {q} = netlab = the known numbers")
        # Attribution of the stable CLOSE_WAIT (held by this process) against ss -p, once.
        try:
            ss_owners, nobody = ss_close_wait_owners(q)
            _, doc = netlab_sockets(netlab, ["--port", str(q), "--state", "close-wait"])
            got = close_wait_rows(doc)
            want = {(pid, ss_comm(pid)): K_CLOSE_WAIT}
            p = [] if got == ss_owners == want and not nobody else [
                f"netlab {got} vs ss -p {ss_owners} ({nobody} unattributed), want {want}"]
        except (RunError, subprocess.SubprocessError, OSError) as e:
            p = [str(e)]
        rep.problems("churn/close_wait_by_process", p,
                     f"port {q}: this process (pid {pid}) holds {K_CLOSE_WAIT} CLOSE_WAIT in "
                     f"netlab and ss -p, under churn")
        rep.problems("churn/generator_ran", [f"no connection made during repetitions {idle}"]
                     if idle else [],
                     f"connections made on {q2} during each of the {during} repetitions")
    finally:
        churn.stop()
        st.close()
        if churn.started is not None:
            rate = churn.made / churn.elapsed if churn.elapsed else 0
            print(f"INFO churn/generator: {churn.made} connections on {q2} in "
                  f"{churn.elapsed:.1f}s ({rate:.0f}/s), {churn.errors} errors", flush=True)


# ---------------------------------------------------------------------------------------------


def main():
    """Run every check; exit 1 if any failed."""
    started = begin("sockets_interop", __doc__, preflight)
    if isinstance(started, int):
        return started
    _opts, netlab, rep = started

    base, q, q2 = ports_for(os.getpid())
    lab = SocketsLab(netlab, base)
    try:
        log(f"starting the lab (--port-base {base})")
        try:
            lab.start()
        except (LabError, OSError) as e:
            rep.check("lab/start", False, str(e))
        else:
            rep.check("lab/start", True, f"ready after {lab.ready_s:.2f}s: "
                      + json.dumps(lab.sockets, separators=(",", ":")))
            log("a. stable populations")
            docs = check_stable(rep, lab, netlab)
            log("b. CLOSE_WAIT per process")
            check_close_wait(rep, lab, netlab, docs)
            log("d. unprivileged")
            check_unprivileged(rep, lab, netlab, docs)
            rep.check("lab/timing", lab.age() < LAB_TTL_S,
                      f"a, b and d done {lab.age():.1f}s after ready (TIME_WAIT and orphaned "
                      f"FIN_WAIT2 last 60 s)")
            log(f"c. {REPS} repetitions under churn (stable port {q}, churn port {q2})")
            check_churn(rep, netlab, q, q2)
    finally:
        problems = lab.stop()
        if lab.ready is not None:
            rep.problems("lab/stop", problems, "SIGTERM: summary with cleaned_up true")

    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())

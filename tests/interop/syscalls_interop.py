#!/usr/bin/env python3
"""Syscalls interop checks: `netlab syscalls` against `strace -f -e trace=network`.

Run as root (`make interop`):

    python3 tests/interop/syscalls_interop.py --netlab target/release/netlab

Every check prints `PASS name` or `FAIL name: details` (`INFO` lines are informational); the
last line is `N passed, M failed` and the exit status is 1 when anything failed. Without root,
strace or /usr/bin/python3 the script prints `syscalls_interop: skipped: <reason>` and exits 0.

The traced programs are small python3 scripts written to a temporary directory and run with
/usr/bin/python3 (not a pyenv shim, which would fork a shell first). Only loopback
(127.0.0.1, ::1, a unix socket in the temporary directory) ever sees traffic; servers bind
free ports chosen here.

1. spawn: a deterministic server (SERVER_PY: two threads and a forked child) is run four
   times, each with fresh ports: `strace -f -qq -e trace=network -o FILE`, `netlab --jsonl
   syscalls -e socket,send` (strace's network set), `netlab --jsonl syscalls -e
   accept4,connect,sendto,recvmsg` and, when the installed strace has it, `strace -f -qq
   --seccomp-bpf -e trace=network -o FILE`. The server's main thread: socket, SO_REUSEADDR,
   bind 127.0.0.1:PORT, listen, getsockname; then its second thread: a non-blocking recvfrom
   on an empty UDP socket (EAGAIN), a UDP exchange with a UDP peer on 127.0.0.1:UDP (sendto /
   recvfrom both ways), an AF_INET6 datagram to itself on ::1 by sendmsg / recvmsg (when ::1
   is usable), an AF_UNIX datagram to itself (bound to a path), a 100-byte AF_UNIX datagram
   to itself on an abstract address (truncated payloads), a socketpair exchange; then a
   forked child process: a UDP datagram to itself; then the main thread: connect() to a
   closed loopback port (ECONNREFUSED), getsockopt SO_ERROR, and three connections from this
   script's client: accept4, (python's getsockname), TCP_NODELAY, getpeername, recv, send,
   shutdown. For each thread (in the order of their first call), strace's and netlab's
   sequences of (syscall, X) must be equal, one check per X:
     calls      the call names;
     addresses  the decoded socket address (sockaddr argument or msg_name): family and
                address; the server's ports as placeholders <PORT> / <UDP> / <CLOSED>,
                other non-zero ports (ephemeral) as <E1>, <E2>... in order of appearance, so
                only their presence and reuse are compared; AF_UNIX paths as they are;
     results    the return value, or the errno name on failure (strace: -1 ENAME);
     fds        the descriptor argument;
     args       the scalar arguments (socket's domain / type / protocol, socketpair's fds,
                get/setsockopt's level, name and value, listen's backlog, shutdown's how,
                accept4's flags; SOL_TCP is IPPROTO_TCP, IPPROTO_IP is 0);
     payloads   the data of sendto / recvfrom (strace's escapes decoded; both show 32 bytes).
   Also: the thread ids both tracers report are the server's own (it writes them to a file);
   the peers of accept4 / getpeername are the client ports this script used, in order;
   netlab's pid field is the server's (the child's own for the child); netlab's ret is
   -errno (by number) when errno is set; its summary (mode spawn, exited, exit status 0, not
   detached, calls_total, by_syscall calls and errors = strace's counts, 3 threads in 2
   processes); strace --seccomp-bpf gives the very same tuples as netlab; and
   `netlab --jsonl syscalls -e accept4,connect,sendto,recvmsg` (call names) gives exactly
   strace's calls of those names (every component above, per thread).
   Last, a command that cannot be run (a missing path): strace fails at once; `netlab
   syscalls -- PATH` (default set, and -e socket,send) must end by itself, non-zero, within
   5 s (not_found).
2. attach: a looping three-thread server (LOOP_PY: TCP accept loop, UDP echo thread, an idle
   thread in select() on a pipe) is started untraced; then, one after the other,
   `netlab --jsonl syscalls -p PID -e socket,send --duration 3s` and `strace -f -qq -p PID
   -e trace=network -o FILE` (SIGINT after the traffic). Each is attached once every thread
   shows a TracerPid; then the same client traffic (three TCP connections, two UDP
   datagrams). Checks: the accept4 / recvfrom / sendto sequences per thread are equal (peer
   addresses labelled as above) and the peers are this script's client ports; netlab's
   summary (attach, ended duration, detached, exit_status null, 3 threads); after each
   tracer: every thread is in state S with TracerPid 0 and the server still answers a TCP
   and a UDP client within 1 s.
3. snapshot: `netlab --json syscalls -p PID --snapshot` on the idle looping server: its
   threads are /proc/PID/task's; each thread's syscall number and six arguments are those of
   /proc/PID/task/TID/syscall, its name is the number's; the main thread is in accept4 (or
   accept) on the listening socket 127.0.0.1:PORT, state LISTEN; the UDP thread is in
   recvfrom on 127.0.0.1:UDP; the server is still in state S, untraced, afterwards.
"""

import errno as errno_mod
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import begin, run, stop_process  # noqa: E402

LOOPBACK = "127.0.0.1"
PYTHON = "/usr/bin/python3"
N_CONN = 3
ATTACH_DURATION = "3s"
NAMED_SET = "accept4,connect,sendto,recvmsg"   # -e with call names (spawn, checked too)

# The spawn-mode server. argv: PORT UDP_PORT CLOSED_PORT N INFO_FILE UNIX_PATH USE_V6 ABSTRACT
SERVER_PY = r'''
import json, os, socket, sys, threading
port, udp_port, closed_port, n = (int(a) for a in sys.argv[1:5])
info_path, unix_path, use_v6 = sys.argv[5], sys.argv[6], sys.argv[7] == "1"
abstract = b"\0" + sys.argv[8].encode()
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
ls.getsockname()
aux = {}

def datagrams():
    aux["tid"] = threading.get_native_id()
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    peer.bind(("127.0.0.1", udp_port))
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.setblocking(False)
    try:
        u.recvfrom(64)
    except BlockingIOError:
        pass
    u.setblocking(True)
    u.sendto(b"ping", ("127.0.0.1", udp_port))
    data, addr = peer.recvfrom(64)
    peer.sendto(b"pong:" + data, addr)
    u.recvfrom(64)
    u.close()
    peer.close()
    if use_v6:
        s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s6.bind(("::1", 0))
        s6.sendmsg([b"six"], [], 0, s6.getsockname()[:2])
        s6.recvmsg(64)
        s6.close()
    try:
        os.unlink(unix_path)
    except FileNotFoundError:
        pass
    ux = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ux.bind(unix_path)
    ux.sendto(b"unix\x00\x01\n", unix_path)
    ux.recvfrom(64)
    ux.close()
    ab = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ab.bind(abstract)
    ab.sendto(bytes(range(100)), abstract)
    ab.recvfrom(256)
    ab.close()
    a, b = socket.socketpair()
    a.send(b"pair")
    b.recv(64)
    a.close()
    b.close()

t = threading.Thread(target=datagrams)
t.start()
t.join()
child = os.fork()
if child == 0:
    k = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    k.bind(("127.0.0.1", 0))
    k.sendto(b"child", k.getsockname())
    k.recvfrom(64)
    os._exit(0)
os.waitpid(child, 0)
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
c.connect_ex(("127.0.0.1", closed_port))
c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
c.close()
with open(info_path + ".tmp", "w") as f:
    json.dump({"pid": os.getpid(), "main": threading.get_native_id(), "aux": aux["tid"],
               "child": child}, f)
os.rename(info_path + ".tmp", info_path)
for i in range(n):
    conn, addr = ls.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.getpeername()
    data = conn.recv(1024)
    conn.send(b"echo:" + data)
    conn.shutdown(socket.SHUT_WR)
    conn.close()
ls.close()
'''

# The attach-mode server: loops until killed. argv: PORT UDP_PORT INFO_FILE
LOOP_PY = r'''
import json, os, select, socket, sys, threading
port, udp_port, info_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", port))
ls.listen(16)
us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
us.bind(("127.0.0.1", udp_port))
tids = {}
started = threading.Barrier(3)

def udp():
    tids["udp"] = threading.get_native_id()
    started.wait()
    while True:
        data, addr = us.recvfrom(1024)
        us.sendto(b"echo:" + data, addr)

def idle():
    tids["idle"] = threading.get_native_id()
    r, w = os.pipe()
    started.wait()
    while True:
        select.select([r], [], [])

for fn in (udp, idle):
    threading.Thread(target=fn, daemon=True).start()
started.wait()
tids["main"] = threading.get_native_id()
with open(info_path + ".tmp", "w") as f:
    json.dump({"pid": os.getpid(), "listen_fd": ls.fileno(), "udp_fd": us.fileno(), **tids}, f)
os.rename(info_path + ".tmp", info_path)
while True:
    conn, addr = ls.accept()
    data = conn.recv(1024)
    conn.send(b"echo:" + data)
    conn.close()
'''

# Syscall numbers (/proc/PID/syscall's first field) -> names, for the snapshot check.
SYSCALL_NAMES = {
    "x86_64": {0: "read", 7: "poll", 23: "select", 43: "accept", 45: "recvfrom",
               202: "futex", 230: "clock_nanosleep", 232: "epoll_wait", 270: "pselect6",
               271: "ppoll", 281: "epoll_pwait", 288: "accept4", 441: "epoll_pwait2"},
    "aarch64": {63: "read", 72: "pselect6", 73: "ppoll", 22: "epoll_pwait", 98: "futex",
                115: "clock_nanosleep", 202: "accept", 207: "recvfrom", 242: "accept4",
                441: "epoll_pwait2"},
}

STRACE_LEVELS = {"SOL_TCP": "IPPROTO_TCP", "SOL_UDP": "IPPROTO_UDP", "SOL_IP": "IPPROTO_IP",
                 "SOL_IPV6": "IPPROTO_IPV6"}
STRACE_PROTOCOLS = {"IPPROTO_IP": "0"}


def log(msg):
    """Progress to stderr (stdout holds only the check lines)."""
    print(f"syscalls_interop: {msg}", file=sys.stderr, flush=True)


def preflight():
    """Why the checks cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "not root (attaching to processes with ptrace needs root)"
    if shutil.which("strace") is None:
        return "missing strace"
    if not os.access(PYTHON, os.X_OK):
        return f"missing {PYTHON}"
    return None


def free_port(kind=socket.SOCK_STREAM):
    """A free loopback port of that kind (the kernel's pick; bound again right after)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def have_v6():
    """Whether ::1 can be bound (the AF_INET6 part of the scenario needs it)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def strace_has_seccomp():
    """Whether the installed strace knows --seccomp-bpf (and it works here)."""
    try:
        res = run(["strace", "-f", "-qq", "--seccomp-bpf", "-e", "trace=network", "-o",
                   "/dev/null", "true"], timeout=30)
    except (subprocess.SubprocessError, OSError):
        return False
    return res.returncode == 0


def wait_file(path, proc, timeout=15.0):
    """The JSON document the server writes when it is ready (None: it did not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(Path(path).read_text())
        except (OSError, ValueError):
            pass
        if proc is not None and proc.poll() is not None:
            return None
        time.sleep(0.02)
    return None


# ---------------------------------------------------------------------------------------------
# Clients (this process: untraced)


def tcp_client(port, i, timeout=5.0):
    """One connection: send `hello i`, read the answer to EOF. (client port, answer)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        cport = s.getsockname()[1]
        s.sendall(b"hello %d" % i)
        chunks = []
        while True:
            b = s.recv(4096)
            if not b:
                break
            chunks.append(b)
    return cport, b"".join(chunks)


def udp_client(port, i, timeout=5.0):
    """One datagram `dgram i` and its answer. (client port, answer)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.bind((LOOPBACK, 0))
        s.sendto(b"dgram %d" % i, (LOOPBACK, port))
        data, _ = s.recvfrom(1024)
        return s.getsockname()[1], data


# ---------------------------------------------------------------------------------------------
# Parsing both tracers into the same records


class Call:
    """One system call as either tracer showed it, normalised."""

    def __init__(self, tid, name, fd, addr, ret, args, payload):
        self.tid = tid
        self.name = name
        self.fd = fd            # the descriptor argument (None: none)
        self.addr = addr        # ("AF_INET", addr, port) / ("AF_INET6", addr, port, scope)
        #                         / ("AF_UNIX", path) / None; ports relabelled later
        self.raw_addr = addr    # as decoded (relabel() works from this)
        self.ret = ret          # ("ok", int) / ("err", "ENAME")
        self.args = args        # tuple of scalar arguments as text
        self.payload = payload  # bytes (at most 32) / None

    def __repr__(self):
        return f"{self.name}(fd={self.fd}, {self.addr}) = {self.ret}"


def split_top(text):
    """Split strace's argument text at top-level commas (quotes and brackets respected)."""
    out, depth, cur, quote, esc = [], 0, [], False, False
    for ch in text:
        if quote:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                quote = False
            continue
        if ch == '"':
            quote = True
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if cur or out:
        out.append("".join(cur).strip())
    return out


def c_unescape(s):
    """strace's quoted-string escapes (\\n, \\0, \\377, \\x1f, \\\\, \\") -> bytes."""
    out, i = bytearray(), 0
    simple = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "a": 7, "b": 8, "\\": 92, '"': 34,
              "'": 39}
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out += ch.encode("latin-1")
            i += 1
            continue
        nxt = s[i + 1]
        if nxt in simple:
            out.append(simple[nxt])
            i += 2
        elif nxt == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        else:
            m = re.match(r"[0-7]{1,3}", s[i + 1:])
            out.append(int(m.group(0), 8))
            i += 1 + len(m.group(0))
    return bytes(out)


SA_RE = re.compile(
    r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]*)"\)'
    r'|sa_family=AF_INET6, sin6_port=htons\((\d+)\), sin6_flowinfo=htonl\(\d+\), '
    r'inet_pton\(AF_INET6, "([^"]*)", &sin6_addr\), sin6_scope_id=(\d+)'
    r'|sa_family=AF_UNIX(?:, sun_path=(@?)"((?:[^"\\]|\\.)*)")?')
STRING_RE = re.compile(r'^"((?:[^"\\]|\\.)*)"(\.\.\.)?$')


def strace_sockaddr(text):
    """The first decoded socket address in strace's argument text."""
    m = SA_RE.search(text)
    if not m:
        return None
    if m.group(1) is not None:
        return ("AF_INET", m.group(2), int(m.group(1)))
    if m.group(3) is not None:
        return ("AF_INET6", m.group(4), int(m.group(3)), int(m.group(5)))
    path = c_unescape(m.group(7)).decode("latin-1") if m.group(7) is not None else ""
    return ("AF_UNIX", ("@" if m.group(6) else "") + path)


def scalar_args(name, a):
    """The scalar arguments compared (strace text or netlab JSON values, as text)."""
    def val(x):
        if isinstance(x, list):
            return "[" + ", ".join(val(v) for v in x) + "]"
        x = str(x)
        return x[1:-1] if x.startswith("[") and x.endswith("]") and "," not in x else x
    try:
        if name == "socket":
            return (val(a[0]), val(a[1]), val(a[2]))
        if name == "socketpair":
            return (val(a[0]), val(a[1]), val(a[2]), val(a[3]))
        if name in ("setsockopt", "getsockopt"):
            return (val(a[1]), val(a[2]), val(a[3]))
        if name in ("listen", "shutdown"):
            return (val(a[1]),)
        if name == "accept4":
            return (val(a[3]),)
    except IndexError:
        return ("<missing>",)
    return ()


def strace_call(tid, text):
    """One complete strace line (`name(args) = ret [ENAME (msg)]`) -> Call, or None."""
    idx = text.rfind(" = ")
    if idx < 0:
        return None
    head, tail = text[:idx].rstrip(), text[idx + 3:].strip()
    m = re.match(r"^(\w+)\((.*)\)$", head, re.S)
    if not m:
        return None
    name, argtext = m.group(1), m.group(2)
    tm = re.match(r"^(-?\d+|\?|0x[0-9a-f]+)(?:\s+(E[A-Z0-9]+))?", tail)
    if not tm:
        return None
    if tm.group(2):
        ret = ("err", tm.group(2))
    else:
        ret = ("ok", int(tm.group(1), 0) if tm.group(1) != "?" else "?")
    args = split_top(argtext)
    fd = None
    if name not in ("socket", "socketpair") and args and re.fullmatch(r"-?\d+", args[0]):
        fd = int(args[0])
    payload = None
    if name in ("sendto", "recvfrom", "send", "recv") and len(args) > 1:
        sm = STRING_RE.match(args[1])
        if sm:
            payload = c_unescape(sm.group(1))
    sargs = scalar_args(name, args)
    if name == "socket":
        sargs = sargs[:2] + (STRACE_PROTOCOLS.get(sargs[2], sargs[2]),)
    elif name in ("setsockopt", "getsockopt"):
        sargs = (STRACE_LEVELS.get(sargs[0], sargs[0]),) + sargs[1:]
    return Call(tid, name, fd, strace_sockaddr(argtext), ret, sargs, payload)


def parse_strace(path):
    """strace -f -o FILE's text -> ([Call], [unfinished-at-detach lines]). Handles
    `<unfinished ...>` / `<... name resumed>` pairs and `<detached ...>`."""
    calls, pending, detached = [], {}, []
    for raw in Path(path).read_text(errors="replace").splitlines():
        m = re.match(r"^(?:\[pid\s+)?(\d+)\]?\s+(.*)$", raw)
        tid, text = (int(m.group(1)), m.group(2)) if m else (None, raw)
        if text.startswith(("---", "+++")) or not text.strip():
            continue
        rm = re.match(r"^<\.\.\. (\w+) resumed>\s?(.*)$", text)
        if rm:
            start = pending.pop(tid, None)
            if start is None:
                continue
            text = start + rm.group(2)
        elif text.endswith("<unfinished ...>"):
            pending[tid] = text[:-len("<unfinished ...>")].rstrip() + " "
            continue
        if "<detached ...>" in text:
            detached.append(text)
            continue
        c = strace_call(tid, text)
        if c is not None:
            calls.append(c)
    return calls, detached + list(pending.values())


def netlab_sockaddr(args):
    """The first socket address among netlab's decoded arguments (msg_name included)."""
    for a in args:
        if isinstance(a, dict):
            if "family" in a:
                return sockaddr_of(a)
            if isinstance(a.get("msg_name"), dict) and "family" in a["msg_name"]:
                return sockaddr_of(a["msg_name"])
    return None


def sockaddr_of(d):
    """netlab's {"family", "addr", "port"[, "scope_id"]} / {"family", "path"} -> tuple."""
    fam = d.get("family")
    if fam == "AF_INET":
        return ("AF_INET", d.get("addr"), d.get("port"))
    if fam == "AF_INET6":
        return ("AF_INET6", d.get("addr"), d.get("port"), d.get("scope_id"))
    if fam == "AF_UNIX":
        return ("AF_UNIX", d.get("path"))
    return (fam, json.dumps(d, sort_keys=True))


def netlab_call(ev):
    """One netlab `syscall` JSON object -> Call."""
    name, args = ev["syscall"], ev.get("args") or []
    fd = None
    if name not in ("socket", "socketpair") and args and isinstance(args[0], int):
        fd = args[0]
    payload = None
    if name in ("sendto", "recvfrom", "send", "recv") and len(args) > 1 \
            and isinstance(args[1], dict) and "head" in args[1]:
        payload = args[1]["head"].encode("latin-1", errors="replace")
    if ev.get("errno"):
        ret = ("err", ev["errno"])
    else:
        ret = ("ok", ev.get("ret") if ev.get("ret") is not None else "?")
    return Call(ev["tid"], name, fd, netlab_sockaddr(args), ret, scalar_args(name, args),
                payload)


def parse_netlab(path):
    """netlab --jsonl output -> ([Call], [raw syscall events], summary or None)."""
    calls, events, summary = [], [], None
    for line in Path(path).read_text(errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if not isinstance(ev, dict):
            continue
        if ev.get("type") == "syscall":
            events.append(ev)
            calls.append(netlab_call(ev))
        elif ev.get("type") == "summary":
            summary = ev
    return calls, events, summary


# ---------------------------------------------------------------------------------------------
# Normalisation and comparison


def by_thread(calls):
    """[(tid, [Call])] in the order of each thread's first call."""
    order, groups = [], {}
    for c in calls:
        if c.tid not in groups:
            order.append(c.tid)
            groups[c.tid] = []
        groups[c.tid].append(c)
    return [(t, groups[t]) for t in order]


def by_role(threads, info, roles):
    """Threads ordered by their role in the server (unknown threads last)."""
    rank = {info[r]: i for i, r in enumerate(roles)}
    return sorted(threads, key=lambda t: rank.get(t[0], len(roles)))


def relabel(threads, fixed):
    """Replace ports in every Call's address (from the decoded one): the fixed ones by their
    placeholder, other non-zero ports by <E1>, <E2>... (first appearance, threads in order)."""
    eph = {}
    for _, calls in threads:
        for c in calls:
            a = c.addr = c.raw_addr
            if a is None or a[0] not in ("AF_INET", "AF_INET6"):
                continue
            port = a[2]
            if port in fixed:
                label = fixed[port]
            elif port == 0:
                label = "0"
            else:
                label = eph.setdefault(port, f"<E{len(eph) + 1}>")
            c.addr = (a[0], a[1], label) + tuple(a[3:])


def projection(calls, what):
    """[(name, X)] for one compared component."""
    get = {
        "calls": lambda c: None,
        "addresses": lambda c: c.addr,
        "results": lambda c: c.ret,
        "fds": lambda c: c.fd,
        "args": lambda c: c.args,
        "payloads": lambda c: c.payload,
        "full": lambda c: (c.addr, c.ret, c.fd, c.args, c.payload),
    }[what]
    return [(c.name, get(c)) for c in calls]


def first_difference(a, b, la="strace", lb="netlab"):
    """'' when equal, otherwise where the two sequences part."""
    if a == b:
        return ""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"#{i}: {la} {x!r} vs {lb} {y!r}"
    if len(a) != len(b):
        i = min(len(a), len(b))
        extra = (a if len(a) > len(b) else b)[i]
        who = la if len(a) > len(b) else lb
        return f"{la} has {len(a)} calls, {lb} {len(b)}; first extra (#{i}, {who}): {extra!r}"
    return "differ"


COMPONENTS = ("calls", "addresses", "results", "fds", "args", "payloads")


def compare_threads(rep, prefix, st_threads, nl_threads, roles, components=COMPONENTS,
                    la="strace", lb="netlab"):
    """One check per thread and component: the two tracers' sequences are equal."""
    rep.check(f"{prefix}/thread_count", len(st_threads) == len(nl_threads),
              f"{la}: {len(st_threads)}, {lb}: {len(nl_threads)} threads with calls")
    for i, ((st_tid, st_calls), (nl_tid, nl_calls)) in enumerate(zip(st_threads, nl_threads)):
        role = roles.get(nl_tid, roles.get(st_tid, f"t{i}"))
        for comp in components:
            a, b = projection(st_calls, comp), projection(nl_calls, comp)
            d = first_difference(a, b, la, lb)
            rep.check(f"{prefix}/{role}/{comp}", not d,
                      d or f"{len(a)} calls equal" + (
                          " (" + ", ".join(sorted({n for n, _ in a})) + ")"
                          if comp == "calls" else ""))


# ---------------------------------------------------------------------------------------------
# Running things


class Procs:
    """Every process this script started, so that cleanup (finally, SIGTERM) ends them."""

    def __init__(self):
        self.procs = []
        self.pids = []   # servers started under a tracer (their pid comes from the info file)

    def popen(self, cmd, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("cwd", "/")
        p = subprocess.Popen(cmd, start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                stop_process(p, signal.SIGTERM, timeout=5)
            except (OSError, subprocess.SubprocessError):
                pass
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


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


def tracer_pids(pid):
    """{tid: TracerPid} for every thread."""
    return {t: int(proc_status(pid, t).get("TracerPid", "0") or 0) for t in tasks(pid)}


def wait_attached(pid, timeout=10.0):
    """Wait until every thread has a tracer; {tid: TracerPid} at the end."""
    deadline = time.monotonic() + timeout
    tp = tracer_pids(pid)
    while time.monotonic() < deadline:
        tp = tracer_pids(pid)
        if tp and all(tp.values()):
            # Let the tracer finish setting up (PTRACE_SEIZE is done; options follow).
            time.sleep(0.2)
            return tracer_pids(pid)
        time.sleep(0.02)
    return tp


def tgid_of(tid):
    """The process a task belongs to (None when gone)."""
    v = proc_status(tid).get("Tgid")
    return int(v) if v else None


def run_spawn(procs, netlab, workdir, tracer, tag, v6, rep, trace_set="socket,send"):
    """Run SERVER_PY under one tracer with fresh ports and drive it. Returns a dict (calls,
    ports, info, client ports, summary, events) or None (a FAIL was reported)."""
    port, udp_port, closed = free_port(), free_port(socket.SOCK_DGRAM), free_port()
    info = os.path.join(workdir, f"info-{tag}.json")
    script = os.path.join(workdir, "server.py")
    unix_path = os.path.join(workdir, "u.sock")
    server = [PYTHON, script, str(port), str(udp_port), str(closed), str(N_CONN), info,
              unix_path, "1" if v6 else "0", os.path.basename(workdir)]
    out = os.path.join(workdir, f"trace-{tag}.txt")
    err = open(os.path.join(workdir, f"trace-{tag}.err"), "w")
    if tracer == "netlab":
        cmd = [netlab, "--jsonl", "syscalls", "-e", trace_set, "--"] + server
        stdout = open(out, "w")
    else:
        cmd = ["strace", "-f", "-qq"] + (["--seccomp-bpf"] if tracer == "strace-seccomp"
                                         else []) + ["-e", "trace=network", "-o", out, "--"]
        cmd += server
        stdout = subprocess.DEVNULL
    log(f"spawn ({tag}): {' '.join(cmd)}")
    p = procs.popen(cmd, stdout=stdout, stderr=err)
    doc = wait_file(info, p)
    if doc is None:
        stop_process(p, signal.SIGTERM, timeout=5)
        rep.check(f"spawn/{tag}/run", False, f"the server never became ready (exit "
                  f"{p.returncode}): {Path(err.name).read_text()[-300:]!r}")
        return None
    procs.pids.append(doc["pid"])
    clients, problems = [], []
    for i in range(N_CONN):
        try:
            cport, answer = tcp_client(port, i)
            clients.append(cport)
            if answer != b"echo:hello %d" % i:
                problems.append(f"connection {i} answered {answer!r}")
        except OSError as e:
            problems.append(f"connection {i}: {e}")
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        stop_process(p, signal.SIGTERM, timeout=5)
        rc = None
        problems.append("the tracer did not end within 30 s of the last connection")
    if stdout is not subprocess.DEVNULL:
        stdout.close()
    err.close()
    if rc != 0:
        problems.append(f"exit status {rc}; stderr {Path(err.name).read_text()[-300:]!r}")
    rep.problems(f"spawn/{tag}/run", problems, f"{N_CONN} connections answered, exit 0")
    if tracer == "netlab":
        calls, events, summary = parse_netlab(out)
        leftover = []
    else:
        (calls, leftover), events, summary = parse_strace(out), None, None
    return {"calls": calls, "leftover": leftover, "events": events, "summary": summary,
            "ports": {port: "<PORT>", udp_port: "<UDP>", closed: "<CLOSED>"}, "info": doc,
            "clients": clients}


def roles_of(info):
    """{tid: role name} from the server's info file."""
    return {info[k]: k for k in ("main", "aux", "child", "udp", "idle") if k in info}


def check_tids(rep, name, threads, info, expected_roles):
    """The tracer's thread ids are the server's own (in order of first call)."""
    want = [info[r] for r in expected_roles]
    got = [t for t, _ in threads]
    rep.check(name, got == want, f"{got} (roles {', '.join(expected_roles)})"
              if got == want else f"tracer thread ids {got}, server's {want} "
              f"({', '.join(expected_roles)})")


def check_peers(rep, name, threads, info, clients, calls=("accept4", "getpeername")):
    """The peer ports of accept4 / getpeername on the main thread are the client ports."""
    main = dict(threads).get(info["main"], [])
    got = {c: [x.addr[2] if x.addr and len(x.addr) > 2 else None for x in main if x.name == c]
           for c in calls}
    problems = [f"{c}: {got[c]} vs clients {clients}" for c in calls if got[c] != clients]
    rep.problems(name, problems, f"{', '.join(calls)} peers = client ports {clients}")


def check_errno_ret(rep, name, events):
    """netlab: ret is -errno (by number) when errno is set, >= 0 otherwise."""
    problems = []
    for ev in events:
        e, r = ev.get("errno"), ev.get("ret")
        if e:
            num = getattr(errno_mod, e, None)
            if num is None or r != -num:
                problems.append(f"{ev['syscall']}: ret {r}, errno {e} ({num})")
        elif r is None or r < 0:
            problems.append(f"{ev['syscall']}: ret {r} without errno")
    errs = sum(1 for ev in events if ev.get("errno"))
    rep.problems(name, problems, f"{len(events)} calls, {errs} with errno: ret = -errno")


def check_spawn_summary(rep, nl, st_calls):
    """netlab's summary line against the run and strace's counts."""
    s = nl["summary"]
    if s is None:
        rep.check("spawn/netlab/summary", False, "no summary line")
        return
    problems = []
    want = {"command": "syscalls", "mode": "spawn", "ended": "exited", "detached": False,
            "exit_status": 0, "threads": 3, "processes": 2, "calls_total": len(nl["events"])}
    for k, v in want.items():
        if s.get(k) != v:
            problems.append(f"{k}: {s.get(k)!r}, want {v!r}")
    counts = {}
    for c in st_calls:
        n, e = counts.get(c.name, (0, 0))
        counts[c.name] = (n + 1, e + (c.ret[0] == "err"))
    got = {r["syscall"]: (r["calls"], r["errors"]) for r in s.get("by_syscall", [])}
    if got != counts:
        problems.append(f"by_syscall {sorted(got.items())} vs strace {sorted(counts.items())}")
    rep.problems("spawn/netlab/summary", problems,
                 f"spawn, exited 0, {s.get('calls_total')} calls, by_syscall = strace's counts, "
                 "3 threads in 2 processes")


def spawn_checks(rep, procs, netlab, workdir, v6, seccomp):
    """Part 1: the spawned server under strace, netlab and strace --seccomp-bpf."""
    Path(workdir, "server.py").write_text(SERVER_PY)
    st = run_spawn(procs, netlab, workdir, "strace", "strace", v6, rep)
    nl = run_spawn(procs, netlab, workdir, "netlab", "netlab", v6, rep)
    nm = run_spawn(procs, netlab, workdir, "netlab", "netlab-names", v6, rep, NAMED_SET)
    sc = None
    if seccomp:
        sc = run_spawn(procs, netlab, workdir, "strace-seccomp", "strace-seccomp", v6, rep)
    else:
        print("syscalls_interop: strace --seccomp-bpf part skipped: the installed strace "
              "lacks it", flush=True)
    if st is None or nl is None:
        return
    roles = ["main", "aux", "child"]
    st_threads, nl_threads = by_thread(st["calls"]), by_thread(nl["calls"])
    check_tids(rep, "spawn/strace/tids", st_threads, st["info"], roles)
    check_tids(rep, "spawn/netlab/tids", nl_threads, nl["info"], roles)
    # Peer ports before relabelling.
    check_peers(rep, "spawn/strace/peers", st_threads, st["info"], st["clients"])
    check_peers(rep, "spawn/netlab/peers", nl_threads, nl["info"], nl["clients"])
    inf = nl["info"]
    want_pid = {inf["main"]: inf["pid"], inf["aux"]: inf["pid"], inf["child"]: inf["child"]}
    bad = sorted({(ev["tid"], ev["pid"]) for ev in nl["events"]
                  if want_pid.get(ev["tid"]) != ev["pid"]})
    rep.check("spawn/netlab/pid", not bad,
              f"(tid, pid) not the server's: {bad}" if bad else
              f"pid {inf['pid']} for main and aux, {inf['child']} for the forked child")
    check_errno_ret(rep, "spawn/netlab/ret_errno", nl["events"])
    check_spawn_summary(rep, nl, st["calls"])
    relabel(st_threads, st["ports"])
    relabel(nl_threads, nl["ports"])
    role_map = {**{nl["info"][r]: r for r in roles}, **{st["info"][r]: r for r in roles}}
    compare_threads(rep, "spawn", st_threads, nl_threads, role_map)
    if st["leftover"]:
        print(f"INFO spawn/strace: unfinished lines {st['leftover'][:3]}", flush=True)
    if nm is not None:
        # -e with call names: exactly strace's calls of those names.
        # (The aux thread makes the first of these calls: threads paired by role.)
        nm_threads = by_role(by_thread(nm["calls"]), nm["info"], roles)
        check_tids(rep, "spawn/netlab-names/tids", nm_threads, nm["info"], roles)
        relabel(nm_threads, nm["ports"])
        role_map.update({nm["info"][r]: r for r in roles})
        st_named = by_role(by_thread([c for _, calls in st_threads for c in calls
                                      if c.name in NAMED_SET.split(",")]), st["info"], roles)
        relabel(st_named, st["ports"])
        compare_threads(rep, "names", st_named, nm_threads, role_map, ("full",),
                        lb=f"netlab -e {NAMED_SET}")
    if sc is not None:
        sc_threads = by_thread(sc["calls"])
        check_tids(rep, "spawn/strace-seccomp/tids", sc_threads, sc["info"], roles)
        relabel(sc_threads, sc["ports"])
        role_map.update({sc["info"][r]: r for r in roles})
        compare_threads(rep, "seccomp", sc_threads, nl_threads, role_map, ("full",),
                        la="strace --seccomp-bpf")


def check_not_found(rep, procs, netlab, workdir):
    """A command that cannot be run: strace fails at once; netlab (default set and -e
    socket,send) must end by itself too, non-zero, within 5 s."""
    missing = os.path.join(workdir, "no-such-command")
    res = run(["strace", "-f", "-qq", "-e", "trace=network", "-o", "/dev/null", missing],
              timeout=30)
    strace_rc = res.returncode
    for tag, extra in (("default", []), ("socket_send", ["-e", "socket,send"])):
        cmd = [netlab, "syscalls"] + extra + ["--", missing]
        p = procs.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.monotonic()
        try:
            out, err = p.communicate(timeout=5)
            took = time.monotonic() - t0
            ok = p.returncode != 0
            details = (f"exit {p.returncode} after {took:.2f} s: {err.strip()[:120]!r} "
                       f"(strace: exit {strace_rc})")
        except subprocess.TimeoutExpired:
            stop_process(p, signal.SIGTERM, timeout=5)
            out, err = p.communicate()
            ok = False
            details = (f"`{' '.join(cmd)}` still running after 5 s (strace exits {strace_rc} "
                       f"at once); after SIGTERM: exit {p.returncode}, "
                       f"{(out + err).strip()[:160]!r}")
        rep.check(f"spawn/not_found/{tag}", ok, details)


# ---------------------------------------------------------------------------------------------
# Attach and snapshot


def drive_loop(port, udp_port, tag):
    """The attach scenario's traffic: N_CONN TCP connections, 2 datagrams. (tcp client
    ports, udp client ports, problems)."""
    tcp, udp, problems = [], [], []
    for i in range(N_CONN):
        try:
            cport, answer = tcp_client(port, i)
            tcp.append(cport)
            if answer != b"echo:hello %d" % i:
                problems.append(f"{tag}: connection {i} answered {answer!r}")
        except OSError as e:
            problems.append(f"{tag}: connection {i}: {e}")
    for i in range(2):
        try:
            cport, answer = udp_client(udp_port, i)
            udp.append(cport)
            if answer != b"echo:dgram %d" % i:
                problems.append(f"{tag}: datagram {i} answered {answer!r}")
        except OSError as e:
            problems.append(f"{tag}: datagram {i}: {e}")
    return tcp, udp, problems


def check_after(rep, name, pid, port, udp_port):
    """After a tracer: every thread in state S, untraced; the server answers within 1 s."""
    problems = []
    time.sleep(0.2)
    for t in tasks(pid):
        st = proc_status(pid, t)
        if not st.get("State", "").startswith("S"):
            problems.append(f"thread {t} state {st.get('State')!r}")
        if st.get("TracerPid", "0") != "0":
            problems.append(f"thread {t} TracerPid {st.get('TracerPid')}")
    if not tasks(pid):
        problems.append("the server is gone")
    t0 = time.monotonic()
    try:
        _, answer = tcp_client(port, 9, timeout=1.0)
        if answer != b"echo:hello 9":
            problems.append(f"TCP answer {answer!r}")
        _, answer = udp_client(udp_port, 9, timeout=1.0)
        if answer != b"echo:dgram 9":
            problems.append(f"UDP answer {answer!r}")
    except OSError as e:
        problems.append(f"no answer within 1 s: {e}")
    took = (time.monotonic() - t0) * 1000
    if took > 1000:
        problems.append(f"answers took {took:.0f} ms")
    rep.problems(name, problems, f"{len(tasks(pid))} threads in S, TracerPid 0; TCP + UDP "
                 f"answered in {took:.1f} ms")


def attach_netlab(rep, procs, netlab, workdir, info, port, udp_port):
    """netlab -p PID --duration: (calls, events, summary, tcp clients, udp clients)."""
    pid = info["pid"]
    out = os.path.join(workdir, "attach-netlab.jsonl")
    errf = os.path.join(workdir, "attach-netlab.err")
    cmd = [netlab, "--jsonl", "syscalls", "-p", str(pid), "-e", "socket,send", "--duration",
           ATTACH_DURATION]
    log(f"attach: {' '.join(cmd)}")
    with open(out, "w") as o, open(errf, "w") as e:
        p = procs.popen(cmd, stdout=o, stderr=e)
        tp = wait_attached(pid)
        ok = bool(tp) and all(tp.values()) and all(tgid_of(v) == p.pid for v in tp.values())
        rep.check("attach/netlab/attached", ok, f"TracerPid of threads {tp} (netlab {p.pid})")
        tcp, udp, problems = drive_loop(port, udp_port, "netlab")
        try:
            rc = p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stop_process(p, signal.SIGTERM, timeout=5)
            rc = None
    if rc != 0:
        problems.append(f"netlab exit {rc}: {Path(errf).read_text()[-300:]!r}")
    rep.problems("attach/netlab/run", problems, f"traffic answered; netlab ended by itself "
                 f"after --duration {ATTACH_DURATION}, exit 0")
    calls, events, summary = parse_netlab(out)
    return calls, events, summary, tcp, udp


def attach_strace(rep, procs, workdir, info, port, udp_port):
    """strace -f -p PID, SIGINT after the traffic: (calls, leftover, tcp clients, udp)."""
    pid = info["pid"]
    out = os.path.join(workdir, "attach-strace.txt")
    errf = os.path.join(workdir, "attach-strace.err")
    cmd = ["strace", "-f", "-qq", "-p", str(pid), "-e", "trace=network", "-o", out]
    log(f"attach: {' '.join(cmd)}")
    with open(errf, "w") as e:
        p = procs.popen(cmd, stdout=subprocess.DEVNULL, stderr=e)
        tp = wait_attached(pid)
        ok = bool(tp) and all(tp.values()) and all(tgid_of(v) == p.pid for v in tp.values())
        rep.check("attach/strace/attached", ok, f"TracerPid of threads {tp} (strace {p.pid})")
        tcp, udp, problems = drive_loop(port, udp_port, "strace")
        time.sleep(0.3)
        rc = stop_process(p, signal.SIGINT, timeout=10)
    if rc not in (0, -signal.SIGINT, 128 + signal.SIGINT):
        problems.append(f"strace exit {rc} on SIGINT: {Path(errf).read_text()[-300:]!r}")
    rep.problems("attach/strace/run", problems, "traffic answered; strace detached on SIGINT")
    calls, leftover = parse_strace(out)
    return calls, leftover, tcp, udp


def attach_checks(rep, procs, netlab, workdir):
    """Parts 2 and 3: attach both tracers (one after the other) and the snapshot."""
    port, udp_port = free_port(), free_port(socket.SOCK_DGRAM)
    Path(workdir, "loop.py").write_text(LOOP_PY)
    info_path = os.path.join(workdir, "info-loop.json")
    srv = procs.popen([PYTHON, os.path.join(workdir, "loop.py"), str(port), str(udp_port),
                       info_path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    info = wait_file(info_path, srv)
    if info is None:
        stop_process(srv)
        rep.check("attach/server", False, f"the looping server never became ready "
                  f"(exit {srv.returncode})")
        return
    pid = info["pid"]
    time.sleep(0.3)   # let every thread reach its blocking call
    rep.check("attach/server", pid == srv.pid and len(tasks(pid)) == 3,
              f"pid {pid}, threads {tasks(pid)} (main {info['main']}, udp {info['udp']}, "
              f"idle {info['idle']}), 127.0.0.1:{port} tcp+udp")

    snapshot_checks(rep, netlab, info, port, udp_port)

    nl_calls, nl_events, nl_summary, nl_tcp, nl_udp = attach_netlab(
        rep, procs, netlab, workdir, info, port, udp_port)
    check_after(rep, "attach/netlab/after", pid, port, udp_port)
    st_calls, st_left, st_tcp, st_udp = attach_strace(rep, procs, workdir, info, port,
                                                       udp_port)
    check_after(rep, "attach/strace/after", pid, port, udp_port)

    if nl_summary is None:
        rep.check("attach/netlab/summary", False, "no summary line")
    else:
        want = {"mode": "attach", "ended": "duration", "detached": True, "exit_status": None,
                "threads": 3, "processes": 1, "calls_total": len(nl_events)}
        problems = [f"{k}: {nl_summary.get(k)!r}, want {v!r}" for k, v in want.items()
                    if nl_summary.get(k) != v]
        rep.problems("attach/netlab/summary", problems, "attach, ended duration, detached, "
                     f"exit_status null, 3 threads, {len(nl_events)} calls")
    check_errno_ret(rep, "attach/netlab/ret_errno", nl_events)
    if st_left:
        print(f"INFO attach/strace: unfinished at detach: {st_left}", flush=True)

    keep = ("accept4", "accept", "recvfrom", "sendto")
    roles = roles_of(info)
    for tag, calls, tcp, udp in (("netlab", nl_calls, nl_tcp, nl_udp),
                                 ("strace", st_calls, st_tcp, st_udp)):
        threads = by_thread([c for c in calls if c.name in keep])
        got = [roles.get(t, str(t)) for t, _ in threads]
        rep.check(f"attach/{tag}/threads", got == ["main", "udp"],
                  f"threads with calls: {got}")
        d = dict(threads)
        acc = [c.addr[2] if c.addr else None for c in d.get(info["main"], [])
               if c.name in ("accept4", "accept")]
        rcv = [c.addr[2] if c.addr else None for c in d.get(info["udp"], [])
               if c.name == "recvfrom"]
        snd = [c.addr[2] if c.addr else None for c in d.get(info["udp"], [])
               if c.name == "sendto"]
        problems = [f"{n}: {g} vs clients {w}" for n, g, w in
                    (("accept4", acc, tcp), ("recvfrom", rcv, udp), ("sendto", snd, udp))
                    if g != w]
        rep.problems(f"attach/{tag}/peers", problems,
                     f"accept4 peers = TCP client ports {tcp}; UDP recvfrom/sendto peers = "
                     f"{udp}")
    st_threads = by_thread([c for c in st_calls if c.name in keep])
    nl_threads = by_thread([c for c in nl_calls if c.name in keep])
    fixed = {port: "<PORT>", udp_port: "<UDP>"}
    relabel(st_threads, fixed)
    relabel(nl_threads, fixed)
    compare_threads(rep, "attach", st_threads, nl_threads, roles,
                    ("calls", "addresses", "results", "fds", "payloads"))


def proc_syscall(pid, tid):
    """/proc/PID/task/TID/syscall -> (nr, [6 args]) / (None, text)."""
    try:
        text = Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()
    except OSError as e:
        return None, str(e)
    if not text or not re.fullmatch(r"-?\d+", text[0]):
        return None, " ".join(text)
    return int(text[0]), [int(x, 16) for x in text[1:7]]


def snapshot_checks(rep, netlab, info, port, udp_port):
    """Part 3: netlab's snapshot of the idle looping server against /proc."""
    pid = info["pid"]
    cmd = [netlab, "--json", "syscalls", "-p", str(pid), "--snapshot"]
    log(f"snapshot: {' '.join(cmd)}")
    t0 = time.monotonic()
    res = run(cmd, timeout=30, cwd="/")
    took = (time.monotonic() - t0) * 1000
    try:
        doc = json.loads(res.stdout)
    except ValueError:
        rep.check("snapshot/run", False, f"exit {res.returncode}, no JSON: "
                  f"{res.stdout[:200]!r} {res.stderr[-300:]!r}")
        return
    rep.check("snapshot/run", res.returncode == 0 and doc.get("mode") == "snapshot"
              and doc.get("pid") == pid,
              f"exit {res.returncode}, mode {doc.get('mode')}, pid {doc.get('pid')}, "
              f"{took:.1f} ms wall, took_us {doc.get('took_us')}")
    names = SYSCALL_NAMES.get(platform.machine(), {})
    threads = {t.get("tid"): t for t in doc.get("threads", [])}
    rep.check("snapshot/threads", sorted(threads) == tasks(pid),
              f"netlab {sorted(threads)}, /proc {tasks(pid)}")
    roles = roles_of(info)
    for tid in tasks(pid):
        t = threads.get(tid)
        role = roles.get(tid, str(tid))
        if t is None:
            rep.check(f"snapshot/{role}/proc", False, f"thread {tid} missing")
            continue
        nr, args = proc_syscall(pid, tid)
        problems = []
        if nr is None:
            problems.append(f"/proc says {args!r}")
        else:
            if t.get("nr") != nr:
                problems.append(f"nr {t.get('nr')} vs /proc {nr}")
            got_args = []
            for a in t.get("args") or []:
                try:
                    got_args.append(int(a, 0) if isinstance(a, str) else int(a))
                except ValueError:
                    got_args.append(a)
            if got_args != args:
                problems.append(f"args {t.get('args')} vs /proc {[hex(a) for a in args]}")
            if nr in names and t.get("syscall") != names[nr]:
                problems.append(f"syscall {t.get('syscall')!r}, /proc's {nr} is {names[nr]}")
        rep.problems(f"snapshot/{role}/proc", problems,
                     f"{t.get('syscall')} (nr {nr}) with /proc's arguments")
    main = threads.get(info["main"], {})
    fd = main.get("fd") or {}
    want_local = f"{LOOPBACK}:{port}"
    problems = []
    if main.get("syscall") not in ("accept4", "accept"):
        problems.append(f"syscall {main.get('syscall')!r}")
    if fd.get("fd") != info["listen_fd"] or fd.get("local") != want_local \
            or fd.get("state") != "LISTEN" or fd.get("kind") != "tcp":
        problems.append(f"fd {fd} (want fd {info['listen_fd']} tcp {want_local} LISTEN)")
    rep.problems("snapshot/main/listener", problems,
                 f"{main.get('syscall')} on fd {fd.get('fd')} {fd.get('local')} "
                 f"{fd.get('state')}")
    udp = threads.get(info["udp"], {})
    fd = udp.get("fd") or {}
    problems = []
    if udp.get("syscall") != "recvfrom":
        problems.append(f"syscall {udp.get('syscall')!r}")
    if fd.get("fd") != info["udp_fd"] or fd.get("local") != f"{LOOPBACK}:{udp_port}" \
            or fd.get("kind") != "udp":
        problems.append(f"fd {fd} (want fd {info['udp_fd']} udp {LOOPBACK}:{udp_port})")
    rep.problems("snapshot/udp/socket", problems,
                 f"{udp.get('syscall')} on fd {fd.get('fd')} {fd.get('kind')} {fd.get('local')}")
    sts = {t: proc_status(pid, t) for t in tasks(pid)}
    bad = {t: (s.get("State"), s.get("TracerPid")) for t, s in sts.items()
           if not s.get("State", "").startswith("S") or s.get("TracerPid") != "0"}
    rep.check("snapshot/untouched", not bad and bool(sts),
              "every thread in S, untraced" if not bad else f"{bad}")


# ---------------------------------------------------------------------------------------------


def main():
    """Run every check; exit 1 if any failed."""
    started = begin("syscalls_interop", __doc__, preflight, signals=True)
    if isinstance(started, int):
        return started
    opts, netlab, rep = started

    workdir = tempfile.mkdtemp(prefix="netlab-syscalls-interop-")
    procs = Procs()
    try:
        v6 = have_v6()
        seccomp = strace_has_seccomp()
        res = run(["strace", "-V"], timeout=10)
        print(f"INFO tools: {res.stdout.splitlines()[0] if res.stdout else 'strace ?'}; "
              f"{run([netlab, '--version'], timeout=10).stdout.strip()}; "
              f"::1 {'usable' if v6 else 'not usable (AF_INET6 part left out)'}; "
              f"--seccomp-bpf {'yes' if seccomp else 'no'}", flush=True)
        log(f"work directory {workdir}")
        spawn_checks(rep, procs, netlab, workdir, v6, seccomp)
        check_not_found(rep, procs, netlab, workdir)
        attach_checks(rep, procs, netlab, workdir)
    finally:
        procs.stop_all()
        if opts.keep or rep.failed:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())

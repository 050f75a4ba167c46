#!/usr/bin/env python3
"""DNS interop checks: `netlab dns trace` against real authoritative servers and `dig +trace`.

Run as root (`make interop`):

    python3 tests/interop/dns_interop.py --netlab target/release/netlab

The lab's zone files (src/lab/zones/*.zone) are served by real servers inside one private
network + mount namespace (all on its loopback, port 53):

    127.0.0.2        NSD          the root
    127.0.0.3, .4    BIND (view)  test.
    127.0.0.5        BIND (view)  example.test. (the current copy)
    127.0.0.6        BIND (view)  no zones, recursion off: REFUSED for example.test. (lame)
    127.0.0.7        Knot         example.test. (the stale copy, example.test.stale.zone)
    127.0.0.8        BIND (view)  big.test. with max-udp-size 512 (txt.big.test needs TCP)
    127.0.0.9        BIND (view)  cdn.test. (delegated without glue)
    127.0.0.10       BIND (view)  cdnhost.test.
    127.0.0.11       BIND (view)  signed.test. and broken.test., when those zone files exist:
                                  signed here with dnssec-signzone (fresh ECDSA P-256 keys), the
                                  DS added to the copy of test.zone (broken.test's digest with a
                                  flipped byte), as netlab's lab does at start
    127.0.0.53       BIND         a recursive resolver (root hint 127.0.0.2); /etc/resolv.conf
                                  is bind-mounted inside the namespace to point at it, because
                                  `dig +trace` looks NS names up through the system resolver

The zone files are copied and served as they are: they all carry $ORIGIN and parse in NSD,
BIND and Knot unchanged. The one adjustment is in the copy of test.zone, and only when the
signed zones are served: the DS records appended (with a comment saying so). BIND runs one view
per address (match-destinations), so an address serves only its own zones, as in netlab's lab.
Debian's AppArmor profile lets named read /var/cache/bind only, so the work directory is
bind-mounted there inside the mount namespace. Debian 12's dig (BIND 9.18) `dig +trace
@127.0.0.2 NAME TYPE` needs no root hints file: it asks 127.0.0.2 for the root NS set, then
looks every NS name up through the system resolver (getaddrinfo: /etc/resolv.conf), asks one
of them (its pick), and follows referrals the same way; it does not follow a CNAME.

Every check prints `PASS name` or `FAIL name: details` (differences from `dig +trace` that
are expected, e.g. it asks one server per level, print as `INFO` lines and count for
nothing); the last line is `N passed, M failed`, and the exit status is 1 when anything
failed. Without root or a tool it prints `dns_interop: skipped: <reason>` and exits 0.

What is checked, for www.example.test A, api.example.test A, txt.big.test TXT,
nope.example.test A, mail.example.test AAAA, loop1.example.test A, edge.cdn.test AAAA (and
www.signed.test / www.broken.test A with --dnssec when served):
  1. answer/*: netlab's status, final answer and alias chain equal what the authoritative
     servers hold (asked directly with `dig @addr +norec`, following aliases by hand), and
     what the zone files say;
  2. ns/*: at every referral (nested walks too) the NS set (and glue) netlab reports equals
     the NS set in the parent's zone file and the authority section of
     `dig @parent +norec CHILD NS`;
  3. scenario/*: lame server, disagreement, glueless delegation, CNAME across zones, TCP
     fallback, alias loop (and DNSSEC secure / bogus) are detected on the real servers;
  4. dig/*: `dig +trace @127.0.0.2` (same namespace) reaches the same final answer, and at
     every hop dig made the server it asked said what netlab reports for that server;
  5. no_resolver/*: under strace netlab sends nothing to 127.0.0.53 and nothing but to the
     lab's servers on port 53 (and never looks at the nscd socket); with the resolver killed
     the traces still resolve;
  6. own_lab/*: the same traces against `netlab lab --dns` (in a second private namespace,
     port 5300) give the same status, answer, chain, walk (zones, next zones, NS sets, server
     addresses, nested walks), warning codes and DNSSEC verdicts; a server whose reply kind
     differs between the two labs prints as INFO.

`--hold` starts only the real-server lab and prints the nsenter prefix to run commands in it,
for reproducing a finding by hand.

No packet leaves the namespaces: no real root server or the machine's resolver is ever asked.
This file is also imported by dns_bench.py for the namespace and real-server lab helpers.
"""

import ipaddress
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import begin, run, stop_process  # noqa: E402  (check lines, subprocess helpers)

HERE = Path(__file__).resolve().parent
ZONES_DIR = HERE.parent.parent / "src" / "lab" / "zones"

ROOT = "127.0.0.2"
RESOLVER = "127.0.0.53"
OWN_PORT = 5300
# Loopback addresses added to lo in the namespace: BIND listens only on addresses it finds
# on an interface.
ADDRESSES = [f"127.0.0.{i}" for i in range(2, 12)] + [RESOLVER]

# Who serves what on the real-server lab: (address, implementation, zone file keys, note).
# A key is a file name in src/lab/zones without `.zone`.
REAL_SERVERS = [
    (ROOT, "nsd", ["root"], "root"),
    ("127.0.0.3", "bind", ["test"], "test. (1)"),
    ("127.0.0.4", "bind", ["test"], "test. (2)"),
    ("127.0.0.5", "bind", ["example.test"], "example.test. current"),
    ("127.0.0.6", "bind", [], "lame: no zones, recursion off"),
    ("127.0.0.7", "knot", ["example.test.stale"], "example.test. stale"),
    ("127.0.0.8", "bind", ["big.test"], "big.test., max-udp-size 512"),
    ("127.0.0.9", "bind", ["cdn.test"], "cdn.test."),
    ("127.0.0.10", "bind", ["cdnhost.test"], "cdnhost.test."),
    ("127.0.0.11", "bind", ["signed.test", "broken.test"], "signed.test., broken.test."),
]
SIGNED_KEYS = ("signed.test", "broken.test")  # signed at start; broken.test gets a bad DS
# Copies that are not the truth (the stale secondary's): never asked for the expected answer.
STALE_KEYS = ("example.test.stale",)

# The traces: (name, type, extra netlab options).
TRACES = [
    ("www.example.test.", "A", []),
    ("api.example.test.", "A", []),
    ("txt.big.test.", "TXT", []),
    ("nope.example.test.", "A", []),
    ("mail.example.test.", "AAAA", []),
    ("loop1.example.test.", "A", []),
    ("edge.cdn.test.", "AAAA", []),
]
SIGNED_TRACES = [
    ("www.signed.test.", "A", ["--dnssec"]),
    ("www.broken.test.", "A", ["--dnssec"]),
]
# The status each trace must end with (`loop` is the truth's word for an alias loop).
EXPECT_STATUS = {
    "www.example.test.": "resolved", "api.example.test.": "resolved",
    "txt.big.test.": "resolved", "nope.example.test.": "nxdomain",
    "mail.example.test.": "nodata", "loop1.example.test.": "failed",
    "edge.cdn.test.": "resolved", "www.signed.test.": "resolved",
    "www.broken.test.": "bogus",
}

TOOLS = ("unshare", "nsenter", "ip", "mount", "named", "nsd", "knotd", "dig", "strace")
SIGN_TOOLS = ("dnssec-keygen", "dnssec-signzone", "dnssec-dsfromkey")


def log(msg):
    """Progress to stderr (stdout holds only the check lines)."""
    print(f"dns_interop: {msg}", file=sys.stderr, flush=True)


def info(msg):
    """An informational line: printed with the checks, counted as neither pass nor fail."""
    print(f"INFO {msg}", flush=True)


def preflight(tools=TOOLS):
    """Why the checks cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "not root (the private namespaces and port 53 need root)"
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        return "missing " + ", ".join(missing)
    if not (ZONES_DIR / "root.zone").is_file():
        return f"no zone files in {ZONES_DIR}"
    return None


# ---------------------------------------------------------------------------------------------
# Names, records, zone files


def absname(name, origin="."):
    """Absolute, lower-case name: 'www' in 'example.test.' -> 'www.example.test.'."""
    name = name.lower()
    if name == "@":
        return origin
    if name.endswith("."):
        return name
    return name + "." if origin == "." else f"{name}.{origin}"


def within(name, zone):
    """True when `name` is `zone` or below it (both absolute)."""
    return zone == "." or name == zone or name.endswith("." + zone)


NAME_TYPES = {"NS", "CNAME", "DNAME", "PTR"}


def norm_data(rtype, data):
    """A comparable text form of record data: canonical addresses, lower-case absolute names,
    TXT strings without their quotes, whitespace collapsed."""
    rtype = rtype.upper()
    data = " ".join(data.split())
    if rtype in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(data))
        except ValueError:
            return data
    if rtype in NAME_TYPES:
        return absname(data)
    if rtype == "MX":
        pref, _, host = data.partition(" ")
        return f"{pref} {absname(host)}"
    if rtype == "TXT":
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', data)
        return " ".join(parts) if parts else data
    return data.lower()


def rr(owner, rtype, data):
    """A record as a comparable tuple (owner, TYPE, data), TTL and class left out."""
    return (absname(owner), rtype.upper(), norm_data(rtype, data))


def show(records, limit=3):
    """Records for a message: 'edge.cdn.test. A 192.0.2.80; ...'."""
    items = sorted(f"{o} {t} {d}" for o, t, d in records)
    more = f"; (+{len(items) - limit} more)" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more if items else "(none)"


def strip_comment(line):
    """A zone-file line without its ; comment (a ; inside quotes is data)."""
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            break
        out.append(ch)
    return "".join(out)


RTYPES = {"A", "AAAA", "NS", "CNAME", "DNAME", "SOA", "MX", "TXT", "DS", "DNSKEY", "PTR", "SRV",
          "CAA", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM", "HINFO"}


def parse_zone(text, origin):
    """The records of a zone file as [(owner, TYPE, data)] (enough of RFC 1035 for the lab's
    files: $ORIGIN, $TTL, comments, parentheses, an omitted owner, '@', relative names)."""
    records, logical, depth, buf = [], [], 0, ""
    for raw in text.splitlines():
        line = strip_comment(raw)
        if depth == 0:
            buf = line
        else:
            buf += " " + line.strip()
        depth += line.count("(") - line.count(")")
        if depth <= 0:
            logical.append(buf.replace("(", " ").replace(")", " "))
            depth, buf = 0, ""
    owner = origin
    for line in logical:
        if not line.strip():
            continue
        tokens = line.split()
        if tokens[0].upper() == "$ORIGIN":
            origin = absname(tokens[1])
            continue
        if tokens[0].startswith("$"):
            continue
        if not line[0].isspace():
            owner = absname(tokens[0], origin)
            tokens = tokens[1:]
        while tokens and (tokens[0].isdigit() or tokens[0].upper() in ("IN", "CH")):
            tokens = tokens[1:]
        if not tokens or tokens[0].upper() not in RTYPES:
            continue
        rtype, rest = tokens[0].upper(), " ".join(tokens[1:])
        if rtype in NAME_TYPES:
            rest = absname(rest, origin)
        elif rtype == "MX":
            pref, host = rest.split()
            rest = f"{pref} {absname(host, origin)}"
        records.append(rr(owner, rtype, rest))
    return records


class ZoneFile:
    """One of the lab's zone files: key (file name without .zone), origin, records."""

    def __init__(self, path):
        self.path = Path(path)
        self.key = self.path.name[:-len(".zone")]
        self.text = self.path.read_text()
        m = re.search(r"^\$ORIGIN\s+(\S+)", self.text, re.M)
        self.origin = absname(m.group(1)) if m else absname(self.key)
        if self.key == "root":
            self.origin = "."
        self.records = parse_zone(self.text, self.origin)

    def get(self, owner, rtype):
        """Records of `rtype` at `owner`."""
        return {r for r in self.records if r[0] == owner and r[1] == rtype}

    def ns_of(self, child):
        """The NS targets this (parent) zone holds for `child`."""
        return {d for _, _, d in self.get(child, "NS")}

    def addresses(self, name):
        """A / AAAA data this zone holds for `name`."""
        return {d for _, t, d in self.get(name, "A") | self.get(name, "AAAA")}


def load_zone_files(zones_dir=ZONES_DIR):
    """Every zone file of the lab, by key."""
    return {z.key: z for z in (ZoneFile(p) for p in sorted(Path(zones_dir).glob("*.zone")))}


# ---------------------------------------------------------------------------------------------
# dig output


DIG_STATUS = re.compile(r"->>HEADER<<-.*status: (\w+)")
DIG_FLAGS = re.compile(r";; flags: ([^;]*);")
DIG_RECEIVED = re.compile(r"^;; Received (\d+) bytes from ([\d.:a-fA-F]+)#(\d+)\(([^)]*)\) in")


def parse_record_line(line):
    """'name. 300 IN A 1.2.3.4' -> (name, TYPE, data), or None for anything else."""
    parts = line.split(None, 4)
    if len(parts) < 5 or not parts[1].isdigit():
        return None
    return rr(parts[0], parts[3], parts[4])


def parse_dig(text):
    """One answer in dig's default format: status, flags, and the three record sections."""
    out = {"status": None, "flags": set(), "answer": [], "authority": [], "additional": []}
    section = None
    for line in text.splitlines():
        m = DIG_STATUS.search(line)
        if m:
            out["status"] = m.group(1)
        m = DIG_FLAGS.search(line)
        if m:
            out["flags"] = set(m.group(1).split())
        if line.startswith(";; ANSWER SECTION"):
            section = "answer"
        elif line.startswith(";; AUTHORITY SECTION"):
            section = "authority"
        elif line.startswith(";; ADDITIONAL SECTION"):
            section = "additional"
        elif not line.strip() or line.startswith(";;"):
            section = None if not line.strip() else section
        elif section and not line.startswith(";"):
            r = parse_record_line(line)
            if r:
                out[section].append(r)
    return out


def parse_dig_trace(text):
    """`dig +trace +comments` output -> one hop per reply dig printed:
    {'server', 'ns', 'bytes', 'status', 'flags', 'answer', 'authority', 'additional',
    'truncated'}, and the error lines dig printed (timeouts, failed look-ups)."""
    hops, block, errors = [], [], []
    for line in text.splitlines():
        m = DIG_RECEIVED.match(line)
        if m:
            hop = parse_dig("\n".join(block))
            hop.update(server=m.group(2), ns=m.group(4), bytes=int(m.group(1)),
                       truncated=any("Truncated" in b for b in block))
            hops.append(hop)
            block = []
            continue
        block.append(line)
        if DIG_STATUS.search(line):
            continue
        low = line.lower()
        if line.startswith(";;") and any(w in low for w in ("communications error", "couldn't",
                                                            "timed out", "no servers",
                                                            "failed", "truncated")):
            errors.append(line.lstrip("; ").strip())
        elif line.startswith("dig:") or line.startswith("couldn't"):
            errors.append(line.strip())
    return hops, errors


# ---------------------------------------------------------------------------------------------
# Private namespaces


class NsError(Exception):
    """A namespace or a server in it could not be set up."""


def netns_id(pid):
    """The network namespace of a process ('net:[4026532...]'), None if it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


class Netns:
    """A private network namespace (and with `mount`, a private mount namespace), held by a
    sleeping `unshare` child. Its setup script runs inside before the holder says `ready`;
    `cmd()` wraps a command in nsenter. stop() kills, by PID, every process still inside, then
    the holder: the namespace disappears with them."""

    def __init__(self, tag, setup="", mount=False):
        self.tag = tag
        self.mount = mount
        self.setup = setup
        self.proc = None
        self.id = None
        self.children = []  # (name, Popen) of daemons started inside

    def start(self, timeout=15.0):
        """Create the namespace and run its setup script; raises NsError on failure."""
        script = "set -e\nip link set lo up\n" + self.setup + "\necho ready\nexec sleep infinity\n"
        argv = ["unshare", "--net"] + (["--mount", "--propagation", "private"] if self.mount
                                       else []) + ["--", "bash", "-c", script]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            stop_process(self.proc, signal.SIGKILL, timeout=5)
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise NsError(f"namespace {self.tag}: setup failed: {' '.join(err.split())[:500]}")
        self.id = netns_id(self.proc.pid)
        if self.id is None or self.id == netns_id(os.getpid()):
            self.stop()
            raise NsError(f"namespace {self.tag}: the holder is not in a new network namespace")

    def cmd(self, argv):
        """`argv` run inside the namespace(s)."""
        return (["nsenter", "-t", str(self.proc.pid), "-n"] + (["-m"] if self.mount else [])
                + ["--"] + [str(a) for a in argv])

    def run(self, argv, timeout=60, **kw):
        """subprocess.run of `argv` inside, text output captured."""
        return run(self.cmd(argv), timeout=timeout, env=dict(os.environ, NO_COLOR="1"), **kw)

    def spawn(self, name, argv, log_path, stdout=None):
        """Start a daemon inside in the background (nsenter execs it: same PID)."""
        logf = open(log_path, "w")  # noqa: SIM115 (kept open for the daemon's life)
        proc = subprocess.Popen(self.cmd(argv), stdin=subprocess.DEVNULL,
                                stdout=stdout if stdout is not None else logf, stderr=logf,
                                text=True)
        self.children.append((name, proc))
        return proc

    def pids_inside(self):
        """PIDs of processes in this network namespace other than the holder."""
        out = []
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) != self.proc.pid and netns_id(d) == self.id:
                out.append(int(d))
        return out

    def stop(self):
        """Stop every daemon (SIGTERM, then SIGKILL), anything else left inside, the holder."""
        for _, proc in reversed(self.children):
            stop_process(proc, signal.SIGTERM, timeout=10)
        if self.proc is None:
            return
        if self.id:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                left = self.pids_inside()
                for pid in left:
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                deadline = time.monotonic() + 5
                while left and time.monotonic() < deadline:
                    left = self.pids_inside()
                    time.sleep(0.05)
                if not left:
                    break
        stop_process(self.proc, signal.SIGKILL, timeout=5)


def wait_dns(ns, address, qname, authoritative=True, port=53, timeout=15.0):
    """Until the server at address:port answers QNAME SOA: authoritatively (NOERROR, aa: its
    zone is loaded), or with any rcode when `authoritative` is false. False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = ns.run(["dig", f"@{address}", "-p", str(port), "+norec", "+time=1", "+tries=1",
                      qname, "SOA"], timeout=10)
        d = parse_dig(res.stdout)
        if d["status"] and (not authoritative or (d["status"] == "NOERROR"
                                                  and "aa" in d["flags"])):
            return True
        time.sleep(0.1)
    return False


# ---------------------------------------------------------------------------------------------
# The real-server lab


NSD_CONF = """\
# NSD: the root of the lab (127.0.0.2).
server:
    ip-address: {root}
    port: 53
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "{d}/zones"
    zonelistfile: "{d}/nsd/zone.list"
    xfrdfile: "{d}/nsd/xfrd.state"
    xfrdir: "{d}/nsd"
    pidfile: "{d}/nsd/nsd.pid"
    logfile: "{d}/nsd/nsd.log"
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: "."
    zonefile: "root.zone"
"""

KNOT_CONF = """\
# Knot: the stale copy of example.test. (127.0.0.7).
server:
    listen: 127.0.0.7@53
    rundir: "{d}/knot"
log:
  - target: stderr
    any: info
database:
    storage: "{d}/knot/db"
template:
  - id: default
    storage: "{d}/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: example.test.
    file: "example.test.stale.zone"
"""

NAMED_COMMON = """\
    listen-on-v6 {{ none; }};
    pid-file "{d}/{inst}/named.pid";
    session-keyfile "{d}/{inst}/session.key";
    dnssec-validation no;
    notify no;
    allow-query {{ any; }};
"""

RESOLVER_CONF = """\
// The recursive resolver of the namespace (127.0.0.53), root hint 127.0.0.2; /etc/resolv.conf
// points here (dig +trace looks NS names up through the system resolver). Its own queries
// leave from 127.0.0.53 so captures tell them apart.
options {{
    directory "{d}/resolver";
    listen-on port 53 {{ {resolver}; }};
{common}
    recursion yes;
    allow-recursion {{ any; }};
    allow-query-cache {{ any; }};
    query-source address {resolver};
}};
controls {{ }};
zone "." {{ type hint; file "{d}/zones/root.hints"; }};
"""


class RealLab:
    """NSD, BIND and Knot serving the lab's zone files in a private namespace (see the module
    docstring); start() raises NsError, stop() (always, in a finally) tears it down."""

    def __init__(self, zones, workdir, sign=True):
        self.zones = zones              # key -> ZoneFile (the repository's)
        self.work = Path(workdir)
        # named runs under an AppArmor profile on Debian that lets it read /var/cache/bind
        # only: the work directory is bind-mounted there inside the mount namespace.
        self.d = "/var/cache/bind" if os.path.isdir("/var/cache/bind") else str(self.work)
        self.sign = sign
        self.notes = []                 # printed by the caller
        self.signed = {}                # key -> {'ksk': tag, 'zsk': tag, 'ds': text}
        self.servers = []               # REAL_SERVERS rows actually served
        self.ns = None
        self.resolver = None

    # --- set-up -------------------------------------------------------------------------

    def served_keys(self):
        """Zone keys some real server serves."""
        return {k for _, _, keys, _ in self.servers for k in keys}

    def prepare(self):
        """Copy the zone files, sign the signed ones, write every configuration."""
        zdir = self.work / "zones"
        for sub in ("zones", "nsd", "knot", "auth", "resolver", "keys"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        for z in self.zones.values():
            shutil.copy(z.path, zdir / z.path.name)
        want_signed = [k for k in SIGNED_KEYS if k in self.zones]
        missing = [t for t in SIGN_TOOLS if shutil.which(t) is None]
        if want_signed and not self.sign:
            self.notes.append(f"{', '.join(want_signed)} not served: --no-sign")
            want_signed = []
        elif want_signed and missing:
            self.notes.append(f"{', '.join(want_signed)} not served: missing {', '.join(missing)}")
            want_signed = []
        elif want_signed and not all(self.zones["test"].ns_of(absname(k)) for k in want_signed):
            self.notes.append(f"{', '.join(want_signed)} not served: test.zone does not "
                              "delegate them yet")
            want_signed = []
        ds_lines = []
        try:
            for zkey in want_signed:
                ds_lines.append(self.sign_zone(zkey))
        except (NsError, OSError, subprocess.SubprocessError) as e:
            self.notes.append(f"{', '.join(want_signed)} not served: signing failed: {e}")
            ds_lines, self.signed = [], {}
        if ds_lines:
            # The one change to a zone file: the DS records of the zones signed for this run,
            # which netlab's lab also computes into test. at each start.
            with open(zdir / "test.zone", "a") as f:
                f.write("\n; Added by tests/interop/dns_interop.py: the DS of each zone signed "
                        "for this run (SHA-256 of its\n; KSK), as netlab's lab adds them at "
                        "start; broken.test.'s digest has its first byte flipped.\n")
                f.write("".join(ds_lines))
        for row in REAL_SERVERS:
            keys = row[2]
            if any(k in SIGNED_KEYS for k in keys) and not all(k in self.signed for k in keys):
                continue
            if any(k not in self.zones for k in keys):
                self.notes.append(f"{row[0]} ({row[3]}) not served: no zone file "
                                  f"{', '.join(k for k in keys if k not in self.zones)}")
                continue
            self.servers.append(row)
        unserved = sorted(set(self.zones) - self.served_keys()
                          - (set(SIGNED_KEYS) - set(self.signed)))
        if unserved:
            self.notes.append("zone files no real server serves (no mapping in "
                              f"dns_interop.py): {', '.join(unserved)}")
        (zdir / "root.hints").write_text(
            "; root hints of the namespace's resolver: the lab's root only\n"
            ".                      3600000 NS a.root-servers.test.\n"
            f"a.root-servers.test.   3600000 A  {ROOT}\n")
        (self.work / "resolv.conf").write_text(f"nameserver {RESOLVER}\n"
                                               "options timeout:1 attempts:2\n")
        (self.work / "nsd" / "nsd.conf").write_text(NSD_CONF.format(d=self.d, root=ROOT))
        (self.work / "knot" / "knot.conf").write_text(KNOT_CONF.format(d=self.d))
        (self.work / "auth" / "named.conf").write_text(self.auth_conf())
        (self.work / "resolver" / "named.conf").write_text(RESOLVER_CONF.format(
            d=self.d, resolver=RESOLVER, common=NAMED_COMMON.format(d=self.d, inst="resolver")))

    def sign_zone(self, zkey):
        """Sign zones/ZKEY.zone with fresh keys (KSK + ZSK, ECDSA P-256, NSEC) into
        zones/ZKEY.zone.signed; return the DS line for test. (a broken one for broken.test)."""
        origin = self.zones[zkey].origin
        kdir = self.work / "keys"
        tags = {}
        for role, extra in (("ksk", ["-f", "KSK"]), ("zsk", [])):
            res = run(["dnssec-keygen", "-q", "-K", str(kdir), "-a", "ECDSAP256SHA256", "-n",
                       "ZONE"] + extra + [origin], timeout=60, cwd=kdir)
            if res.returncode != 0:
                raise NsError(f"dnssec-keygen {origin}: {res.stderr.strip()[:300]}")
            base = res.stdout.strip().splitlines()[-1]
            tags[role] = (int(base.rsplit("+", 1)[1]), base)
        zfile = self.work / "zones" / f"{zkey}.zone"
        res = run(["dnssec-signzone", "-q", "-S", "-K", str(kdir), "-d", str(kdir), "-o", origin,
                   "-f", str(zfile) + ".signed", str(zfile)], timeout=60, cwd=kdir)
        if res.returncode != 0:
            raise NsError(f"dnssec-signzone {origin}: {(res.stderr + res.stdout).strip()[:300]}")
        res = run(["dnssec-dsfromkey", "-2", str(kdir / (tags["ksk"][1] + ".key"))], timeout=60)
        if res.returncode != 0:
            raise NsError(f"dnssec-dsfromkey {origin}: {res.stderr.strip()[:300]}")
        owner, _cls, _ds, tag, alg, dtype, digest = res.stdout.split()[:7]
        if zkey == "broken.test":
            digest = f"{int(digest[:2], 16) ^ 0xFF:02X}" + digest[2:]
        self.signed[zkey] = {"ksk": tags["ksk"][0], "zsk": tags["zsk"][0], "digest": digest}
        return f"{owner} IN DS {tag} {alg} {dtype} {digest}\n"

    def auth_conf(self):
        """The authoritative BIND: one view per address (match-destinations), so each address
        serves only its own zones, exactly like netlab's lab."""
        bind_rows = [r for r in self.servers if r[1] == "bind"]
        listen = "; ".join(r[0] for r in bind_rows)
        out = ["// Authoritative BIND of the lab: one view per address (match-destinations).",
               "options {", f'    directory "{self.d}/auth";',
               f"    listen-on port 53 {{ {listen}; }};",
               NAMED_COMMON.format(d=self.d, inst="auth").rstrip("\n"),
               "    recursion no;", "};", "controls { };"]
        views = {}
        for addr, _, keys, note in bind_rows:
            views.setdefault(tuple(keys), []).append((addr, note))
        for n, (keys, rows) in enumerate(views.items()):
            addrs = "; ".join(a for a, _ in rows)
            out.append(f"// {rows[0][1]}")
            out.append(f'view "v{n}" {{')
            out.append(f"    match-destinations {{ {addrs}; }};")
            out.append("    recursion no;")
            if "big.test" in keys:
                out.append("    max-udp-size 512;")
            for k in keys:
                z = self.zones[k]
                fname = f"{self.d}/zones/{k}.zone" + (".signed" if k in self.signed else "")
                name = z.origin.rstrip(".") or "."
                out.append(f'    zone "{name}" {{ type primary; file "{fname}"; }};')
            out.append("};")
        return "\n".join(out) + "\n"

    def start(self):
        """The namespace, then every server; waits until each answers."""
        setup = [f"ip addr add {a}/32 dev lo" for a in ADDRESSES]
        if self.d != str(self.work):
            setup.append(f"mount --bind {self.work} {self.d}")
        # /etc/resolv.conf -> 127.0.0.53, in this mount namespace only. A dangling symlink
        # (a resolver daemon that is not running): a tmpfs over the target's directory here.
        setup.append(f"""if [ -e /etc/resolv.conf ]; then
    mount --bind {self.work}/resolv.conf /etc/resolv.conf
else
    t=$(readlink -f /etc/resolv.conf); dir=$(dirname "$t")
    [ -d "$dir" ] || {{ echo "no /etc/resolv.conf to bind over" >&2; exit 1; }}
    mount -t tmpfs netlab-interop "$dir"; cp {self.work}/resolv.conf "$t"
fi""")
        self.ns = Netns("real", "\n".join(setup), mount=True)
        self.ns.start()
        d, w = self.d, self.work
        if any(r[1] == "nsd" for r in self.servers):
            self.ns.spawn("nsd", ["nsd", "-d", "-c", f"{d}/nsd/nsd.conf"], w / "nsd" / "stderr.log")
        if any(r[1] == "knot" for r in self.servers):
            self.ns.spawn("knotd", ["knotd", "-c", f"{d}/knot/knot.conf", "-s",
                                    f"{d}/knot/knot.sock"], w / "knot" / "stderr.log")
        self.ns.spawn("named (authoritative)", ["named", "-4", "-g", "-c",
                                                f"{d}/auth/named.conf"], w / "auth" / "stderr.log")
        self.resolver = self.ns.spawn("named (resolver)", ["named", "-4", "-g", "-c",
                                                           f"{d}/resolver/named.conf"],
                                      w / "resolver" / "stderr.log")
        for addr, impl, keys, note in self.servers + [(RESOLVER, "bind", [], "resolver")]:
            qname = self.zones[keys[0]].origin if keys else "example.test."
            if not wait_dns(self.ns, addr, qname, authoritative=bool(keys)):
                dead = [n for n, p in self.ns.children if p.poll() is not None]
                raise NsError(f"{impl} on {addr} ({note}) does not answer"
                              + (f"; exited: {', '.join(dead)}" if dead else "")
                              + f"; logs in {w}/*/stderr.log: " + self.log_tail(impl))

    def log_tail(self, impl):
        """The last lines of a server's log, for an error message."""
        sub = {"nsd": "nsd", "knot": "knot", "bind": "auth"}.get(impl, "auth")
        text = ""
        for f in ("stderr.log", "nsd.log"):
            p = self.work / sub / f
            if p.exists():
                text += p.read_text()
        return " | ".join(text.strip().splitlines()[-4:])[:600]

    def kill_resolver(self):
        """Kill the recursive resolver (127.0.0.53) by PID."""
        if self.resolver is not None:
            stop_process(self.resolver, signal.SIGKILL, timeout=5)

    def stop(self):
        """Every server and the namespace."""
        if self.ns is not None:
            self.ns.stop()

    # --- what the servers hold ----------------------------------------------------------

    def zone_for(self, name):
        """The most specific served zone (current copies only) holding `name`: (key, address)."""
        best = None
        for addr, _, keys, _ in self.servers:
            for k in keys:
                if k in STALE_KEYS:
                    continue
                o = self.zones[k].origin
                if within(name, o) and (best is None or len(o) > len(self.zones[best[0]].origin)):
                    best = (k, addr)
        return best

    def dig(self, address, qname, qtype, extra=(), port=53):
        """`dig @address +norec QNAME QTYPE` inside the namespace, parsed."""
        res = self.ns.run(["dig", f"@{address}", "-p", str(port), "+norec", "+time=2", "+tries=1",
                           *extra, qname, qtype], timeout=30)
        out = parse_dig(res.stdout)
        out["text"] = res.stdout
        return out


# ---------------------------------------------------------------------------------------------
# netlab's report


class TraceError(Exception):
    """netlab did not produce a usable report."""


def netlab_trace(ns, netlab, name, qtype, extra=(), port=53, wrap=(), timeout=60):
    """`netlab --json dns trace --root 127.0.0.2 --port PORT [extra] NAME TYPE` inside `ns`."""
    argv = list(wrap) + [netlab, "--json", "dns", "trace", "--root", ROOT, "--port", str(port),
                         *extra, name, qtype]
    res = ns.run(argv, timeout=timeout, cwd="/")
    try:
        doc = json.loads(res.stdout)
    except json.JSONDecodeError:
        raise TraceError(f"`{' '.join(argv)}` exited {res.returncode}, no JSON: "
                         f"{' '.join(res.stderr.split())[:300]}") from None
    if res.returncode not in (0, 1, 2):
        raise TraceError(f"`{' '.join(argv)}` exited {res.returncode}")
    doc["_rc"] = res.returncode
    return doc


def walk_levels(levels, path=""):
    """Every level, nested walks included, in order: (path, level)."""
    for i, lv in enumerate(levels, 1):
        here = f"{path}{i}"
        yield here, lv
        for nest in lv.get("nested") or []:
            yield from walk_levels(nest.get("levels") or [], f"{here}/{nest.get('ns')}/")


def walks(doc):
    """The top-level levels split into walks (a new walk starts again at `.`)."""
    out = []
    for lv in doc.get("levels", []):
        if lv.get("zone") == "." or not out:
            out.append([])
        out[-1].append(lv)
    return out


def chosen(level):
    """The server entry the walk followed at this level (None when every server failed)."""
    return next((s for s in level.get("servers", []) if s.get("chosen")), None)


def answer_set(doc):
    """netlab's final answer as comparable records."""
    return {rr(a["name"], a["type"], a["data"]) for a in doc.get("answer", [])}


def chain_list(doc):
    """netlab's alias chain as [(from, to)]."""
    return [(absname(c["from"]), absname(c["to"])) for c in doc.get("chain", [])]


def server_records(server):
    """A server entry's `answer[]` strings as records: alias steps are 'FROM CNAME TO', the
    rest 'OWNER TTL IN TYPE DATA'."""
    out = set()
    for text in server.get("answer", []):
        parts = text.split(None, 4)
        if len(parts) == 3 and parts[1] in ("CNAME", "DNAME"):
            out.add(rr(parts[0], parts[1], parts[2]))
        elif len(parts) == 5:
            out.add(rr(parts[0], parts[3], parts[4]))
    return out


def codes(doc):
    """The set of warning codes."""
    return {w.get("code") for w in doc.get("warnings", [])}


def warnings_of(doc, code):
    """The warnings with `code`."""
    return [w for w in doc.get("warnings", []) if w.get("code") == code]


def key(name, qtype):
    """A trace's name in check names: 'www.example.test A'."""
    return f"{name.rstrip('.')} {qtype}"


# ---------------------------------------------------------------------------------------------
# What the authoritative servers hold


def follow(ask, name, qtype, limit=10):
    """Resolve NAME/TYPE over authoritative sources, following aliases by hand.

    `ask(qname)` returns (rcode, answer records, who) from the source that is authoritative
    for qname. Returns {'status': resolved|nxdomain|nodata|loop|failed, 'answer', 'chain',
    'asked': [(who, qname, rcode)]}."""
    chain, seen, cur, asked = [], [name], name, []
    for _ in range(limit):
        rcode, ans, who = ask(cur)
        asked.append((who, cur, rcode))
        start = cur
        while qtype != "CNAME":
            cn = sorted(r for r in ans if r[0] == cur and r[1] == "CNAME")
            if not cn:
                break
            chain.append((cur, cn[0][2]))
            if cn[0][2] in seen:
                return {"status": "loop", "answer": set(), "chain": chain, "asked": asked}
            cur = cn[0][2]
            seen.append(cur)
        data = {r for r in ans if r[0] == cur and r[1] == qtype}
        if data:
            return {"status": "resolved", "answer": data, "chain": chain, "asked": asked}
        if cur != start:
            continue  # the alias leads elsewhere: ask whoever holds the target
        if rcode == "NXDOMAIN":
            return {"status": "nxdomain", "answer": set(), "chain": chain, "asked": asked}
        if rcode == "NOERROR":
            return {"status": "nodata", "answer": set(), "chain": chain, "asked": asked}
        return {"status": "failed", "answer": set(), "chain": chain, "asked": asked,
                "why": f"{who} said {rcode}"}
    return {"status": "failed", "answer": set(), "chain": chain, "asked": asked,
            "why": "too many aliases"}


def truth_dig(lab, name, qtype):
    """What the authoritative servers hold, asked directly (`dig @addr +norec`)."""
    def ask(qname):
        zk = lab.zone_for(qname)
        if zk is None:
            return "NO_ZONE", set(), "nobody"
        d = lab.dig(zk[1], qname, qtype)
        return d["status"] or "NO_ANSWER", set(d["answer"]), zk[1]
    return follow(ask, name, qtype)


def truth_zone_files(lab, name, qtype):
    """What the zone files say (current copies, most specific zone)."""
    def ask(qname):
        zk = lab.zone_for(qname)
        if zk is None:
            return "NO_ZONE", set(), "nobody"
        z = lab.zones[zk[0]]
        recs = z.get(qname, qtype) | z.get(qname, "CNAME")
        if recs:
            return "NOERROR", recs, z.key
        exists = any(within(o, qname) for o, _, _ in z.records)
        return ("NOERROR" if exists else "NXDOMAIN"), set(), z.key
    return follow(ask, name, qtype)


STATUS_OF_TRUTH = {"resolved": "resolved", "nxdomain": "nxdomain", "nodata": "nodata",
                   "loop": "failed"}


# ---------------------------------------------------------------------------------------------
# Checks


def check_answer(rep, lab, doc, name, qtype):
    """Check 1: status, final answer and chain against the servers and the zone files."""
    cname = f"answer/{key(name, qtype)}"
    t_dig, t_zone = truth_dig(lab, name, qtype), truth_zone_files(lab, name, qtype)
    want = EXPECT_STATUS.get(name)
    got = answer_set(doc)
    p = []
    if doc.get("status") != want:
        p.append(f"status {doc.get('status')}, want {want} ({doc.get('error')})")
    if STATUS_OF_TRUTH.get(t_dig["status"]) is None:
        p.append(f"the servers themselves: {t_dig['status']} ({t_dig.get('why')})")
    elif doc.get("status") != "bogus" and STATUS_OF_TRUTH[t_dig["status"]] != doc.get("status"):
        p.append(f"status {doc.get('status')}, the servers say {t_dig['status']}")
    if got != t_dig["answer"]:
        p.append(f"answer {show(got)} != dig {show(t_dig['answer'])}")
    if t_dig["answer"] != t_zone["answer"] or t_dig["status"] != t_zone["status"]:
        p.append(f"the servers ({t_dig['status']}: {show(t_dig['answer'])}) do not serve the "
                 f"zone files ({t_zone['status']}: {show(t_zone['answer'])})")
    if t_dig["status"] != "loop" and chain_list(doc) != t_dig["chain"]:
        p.append(f"chain {chain_list(doc)} != {t_dig['chain']}")
    if t_dig["status"] == "loop":
        if "cname_loop" not in codes(doc):
            p.append(f"alias loop, but no cname_loop warning: {sorted(codes(doc))}")
        if {c for c in chain_list(doc)} != set(t_dig["chain"]):
            p.append(f"loop chain {chain_list(doc)} != {t_dig['chain']}")
    asked = ", ".join(f"@{w} {q}" for w, q, _ in t_dig["asked"])
    what = show(got, 2) if got else t_dig["status"]
    via = f" via {' -> '.join([c[0] for c in t_dig['chain']] + [t_dig['chain'][-1][1]])}" \
        if t_dig["chain"] else ""
    rep.problems(cname, p, f"{doc.get('status')}: {what}{via} (= dig {asked}; = zone files)")


def check_ns(rep, lab, doc, name, qtype, cache):
    """Check 2: NS set (and glue) of every referral netlab followed, nested walks included."""
    cname = f"ns/{key(name, qtype)}"
    p, seen = [], []
    for path, lv in walk_levels(doc.get("levels", [])):
        if lv.get("result") != "referral":
            continue
        ch = chosen(lv)
        if ch is None or not ch.get("referral"):
            p.append(f"level {path} ({lv.get('zone')}): referral without a chosen referral")
            continue
        ref = ch["referral"]
        parent, child = absname(lv["zone"]), absname(ref["zone"])
        got_ns = {absname(n) for n in ref.get("ns", [])}
        got_glue = {(absname(g.split()[0]), norm_data("A" if ":" not in g.split()[1] else "AAAA",
                                                      g.split()[1])) for g in ref.get("glue", [])}
        zk = lab.zone_for(parent)
        pz = lab.zones[zk[0]] if zk and lab.zones[zk[0]].origin == parent else None
        if pz is None:
            p.append(f"level {path}: no zone file for the parent {parent}")
            continue
        file_ns = pz.ns_of(child)
        file_glue = {(n, a) for n in file_ns if within(n, child) for a in pz.addresses(n)}
        ck = (ch["address"], child)
        if ck not in cache:
            cache[ck] = lab.dig(ch["address"], child, "NS")
        d = cache[ck]
        dig_ns = {r[2] for r in d["authority"] + d["answer"] if r[1] == "NS" and r[0] == child}
        dig_glue = {(r[0], r[2]) for r in d["additional"] if r[1] in ("A", "AAAA")
                    and r[0] in dig_ns and within(r[0], child)}
        where = f"{parent} -> {child} (@{ch['address']})"
        if got_ns != file_ns:
            p.append(f"{where}: netlab NS {sorted(got_ns)} != zone file {sorted(file_ns)}")
        if got_ns != dig_ns:
            p.append(f"{where}: netlab NS {sorted(got_ns)} != dig authority {sorted(dig_ns)}")
        if got_glue != file_glue or got_glue != dig_glue:
            p.append(f"{where}: glue netlab {sorted(got_glue)}, zone file {sorted(file_glue)}, "
                     f"dig {sorted(dig_glue)}")
        for s in lv.get("servers", []):
            if s.get("kind") == "referral" and {absname(n) for n in s["referral"]["ns"]} != got_ns:
                p.append(f"{where}: {s['address']} refers to {s['referral']['ns']}")
        seen.append(f"{parent}->{child} {len(got_ns)} NS" + (f"+{len(got_glue)} glue"
                                                                if got_glue else " no glue"))
    if not seen and doc.get("levels"):
        p.append("no referral in the trace")
    rep.problems(cname, p, "; ".join(dict.fromkeys(seen)))


def level_of(doc, zone, walk=0):
    """The level for `zone` in walk number `walk` (0: the first)."""
    ws = walks(doc)
    if walk >= len(ws):
        return None
    return next((lv for lv in ws[walk] if lv.get("zone") == zone), None)


def server_at(level, address):
    """The server entry of `address` at a level."""
    if level is None:
        return None
    return next((s for s in level.get("servers", []) if s.get("address") == address), None)


def check_scenarios(rep, lab, docs):
    """Check 3: every scenario of the lab is detected on the real servers."""
    # Lame: in every trace that reaches example.test., 127.0.0.6 is lame (REFUSED) and named.
    p, n = [], 0
    for (name, qtype), doc in docs.items():
        lv = level_of(doc, "example.test.")
        if lv is None:
            continue
        n += 1
        s = server_at(lv, "127.0.0.6")
        if s is None:
            p.append(f"{key(name, qtype)}: 127.0.0.6 not asked")
            continue
        if (s.get("kind"), s.get("lame_reason"), s.get("rcode")) != ("lame", "refused", "REFUSED"):
            p.append(f"{key(name, qtype)}: 127.0.0.6 {s.get('kind')}/{s.get('lame_reason')}/"
                     f"{s.get('rcode')}")
        if not any("127.0.0.6" in w.get("message", "") for w in warnings_of(doc, "lame_server")):
            p.append(f"{key(name, qtype)}: no lame_server warning naming 127.0.0.6")
    rep.problems("scenario/lame", p if n else ["no trace reached example.test."],
                 f"127.0.0.6 (BIND view, no zones) kind lame (refused), lame_server warning, "
                 f"in {n} traces")
    # Disagreement: api.example.test, 127.0.0.5 (BIND) vs 127.0.0.7 (Knot, stale).
    doc = docs.get(("api.example.test.", "A"))
    p = []
    if doc:
        ws = warnings_of(doc, "disagreement")
        if not ws:
            p.append(f"no disagreement warning: {sorted(codes(doc))}")
        elif not any("127.0.0.5" in w["message"] and "127.0.0.7" in w["message"] for w in ws):
            p.append(f"the warning does not name 127.0.0.5 and 127.0.0.7: {ws[0]['message']}")
        lv = level_of(doc, "example.test.")
        s5, s7 = server_at(lv, "127.0.0.5"), server_at(lv, "127.0.0.7")
        a5 = server_records(s5) if s5 else set()
        a7 = server_records(s7) if s7 else set()
        if a5 != {rr("api.example.test.", "A", "192.0.2.10")} or \
                a7 != {rr("api.example.test.", "A", "192.0.2.99")}:
            p.append(f"127.0.0.5 gave {show(a5)}, 127.0.0.7 gave {show(a7)}")
        if s5 and not s5.get("chosen"):
            p.append("the tie did not go to the first server (127.0.0.5)")
        detail = ws[0]["message"] if ws else ""
    else:
        p.append("no api.example.test trace")
        detail = ""
    rep.problems("scenario/disagreement", p, detail)
    # Glueless: cdn.test. via a nested walk for ns1.cdnhost.test. -> 127.0.0.9.
    p = []
    doc = docs.get(("edge.cdn.test.", "AAAA"))
    if doc:
        lv = level_of(doc, "test.")
        nested = (lv or {}).get("nested") or []
        ns1 = next((x for x in nested if absname(x.get("ns", "")) == "ns1.cdnhost.test."), None)
        if ns1 is None:
            p.append(f"no nested walk for ns1.cdnhost.test. at test.: {nested}")
        else:
            if ns1.get("addresses") != ["127.0.0.9"]:
                p.append(f"nested walk gave {ns1.get('addresses')}")
            if ns1.get("status") != "resolved":
                p.append(f"nested walk status {ns1.get('status')}")
            # One walk per address type (A, then AAAA): . -> test. -> cdnhost.test. each.
            zones = [x.get("zone") for x in ns1.get("levels", [])]
            if zones not in ([".", "test.", "cdnhost.test."],
                             [".", "test.", "cdnhost.test."] * 2):
                p.append(f"nested walk levels {zones}")
        cdn = level_of(doc, "cdn.test.")
        if cdn is None or [s["address"] for s in cdn["servers"]] != ["127.0.0.9"]:
            p.append("cdn.test. level did not ask 127.0.0.9 only")
        if not warnings_of(doc, "glueless"):
            p.append("no glueless warning")
        detail = (f"test. -> cdn.test. has no glue; nested walk(s) "
                  f"{' -> '.join(x.get('zone') for x in ns1.get('levels', []))} gave "
                  f"ns1.cdnhost.test. {ns1.get('addresses')} in {ns1.get('queries')} queries; "
                  "cdn.test. asked at 127.0.0.9" if ns1 else "")
    else:
        p.append("no edge.cdn.test trace")
        detail = ""
    rep.problems("scenario/glueless", p, detail)
    # CNAME across zones: www.example.test -> edge.cdn.test, a second walk from the root.
    p = []
    doc = docs.get(("www.example.test.", "A"))
    if doc:
        if chain_list(doc) != [("www.example.test.", "edge.cdn.test.")]:
            p.append(f"chain {chain_list(doc)}")
        ws = walks(doc)
        if len(ws) != 2 or ws[1][0].get("qname") != "edge.cdn.test.":
            p.append(f"walks {[[lv.get('zone') for lv in w] for w in ws]}")
        if [w[-1].get("zone") for w in ws] != ["example.test.", "cdn.test."]:
            p.append(f"walks end at {[w[-1].get('zone') for w in ws]}")
    else:
        p.append("no www.example.test trace")
    rep.problems("scenario/cname", p, "chain www.example.test. -> edge.cdn.test., second walk "
                 ". -> test. -> cdn.test.")
    # TCP fallback: 127.0.0.8 (BIND, max-udp-size 512) truncates; netlab retries over TCP.
    p = []
    doc = docs.get(("txt.big.test.", "TXT"))
    udp = lab.dig("127.0.0.8", "txt.big.test.", "TXT", extra=["+ignore", "+bufsize=1232"])
    if "tc" not in udp["flags"]:
        p.append(f"BIND did not truncate over UDP (flags {sorted(udp['flags'])})")
    if doc:
        s = server_at(level_of(doc, "big.test."), "127.0.0.8")
        if s is None or s.get("transport") != "udp\u2192tcp":
            p.append(f"127.0.0.8 transport {s and s.get('transport')}")
        if not warnings_of(doc, "tcp_fallback"):
            p.append("no tcp_fallback warning")
        if len(answer_set(doc)) != 20:
            p.append(f"{len(answer_set(doc))} TXT records, want 20")
        detail = (f"dig +ignore over UDP: tc, {len(udp['answer'])} records; netlab "
                  f"{s and s.get('transport')}, {s and s.get('bytes')} bytes, 20 TXT")
    else:
        p.append("no txt.big.test trace")
        detail = ""
    rep.problems("scenario/tcp_fallback", p, detail)
    # Alias loop.
    p = []
    doc = docs.get(("loop1.example.test.", "A"))
    if doc:
        if doc.get("status") != "failed":
            p.append(f"status {doc.get('status')}")
        if not warnings_of(doc, "cname_loop"):
            p.append(f"no cname_loop warning: {sorted(codes(doc))}")
        detail = f"failed: {doc.get('error')}"
    else:
        p.append("no loop1.example.test trace")
        detail = ""
    rep.problems("scenario/cname_loop", p, detail)
    # DNSSEC, when signed.test / broken.test are served.
    for zone_key, name, verdict in (("signed.test", "www.signed.test.", "secure"),
                                    ("broken.test", "www.broken.test.", "bogus")):
        if zone_key not in lab.signed:
            continue
        doc = docs.get((name, "A"))
        p, info_ = [], lab.signed[zone_key]
        if doc is None:
            rep.check(f"scenario/dnssec_{verdict}", False, f"no {name} trace")
            continue
        dn = next((lv2.get("dnssec") for lv2 in doc.get("levels", [])
                   if (lv2.get("dnssec") or {}).get("zone") == zone_key + "."), None)
        if dn is None:
            p.append(f"no levels[].dnssec for {zone_key}.")
        else:
            if dn.get("verdict") != verdict:
                p.append(f"verdict {dn.get('verdict')} ({dn.get('reason')}), want {verdict}")
            tags = {(k["key_tag"], k["flags"]) for k in dn.get("dnskeys", [])}
            if tags != {(info_["ksk"], 257), (info_["zsk"], 256)}:
                p.append(f"DNSKEY tags {sorted(tags)}, dnssec-keygen made KSK {info_['ksk']} "
                         f"ZSK {info_['zsk']}")
            ds = [(d["key_tag"], d["matches_key_tag"]) for d in dn.get("ds", [])]
            want_ds = [(info_["ksk"], info_["ksk"] if verdict == "secure" else None)]
            if ds != want_ds:
                p.append(f"DS {ds}, want {want_ds}")
        if verdict == "bogus" and not warnings_of(doc, "dnssec_bogus"):
            p.append("no dnssec_bogus warning")
        if (doc.get("dnssec") or {}).get("verdict") != ("insecure" if verdict == "secure"
                                                        else "bogus"):
            p.append(f"overall verdict {(doc.get('dnssec') or {}).get('verdict')}")
        rep.problems(f"scenario/dnssec_{verdict}", p,
                     f"{zone_key}.: {verdict}, DS {info_['ksk']} vs DNSKEYs KSK {info_['ksk']} "
                     f"ZSK {info_['zsk']} (BIND, dnssec-signzone); chain verdict "
                     f"{(doc.get('dnssec') or {}).get('verdict')} (test. has no DS)")


DIG_RUNS = 5  # dig +trace picks one server per level at random: run it a few times


def hop_problems(hop, s):
    """Where netlab's entry for a server disagrees with the reply dig got from it."""
    if s is None:
        return [f"netlab did not ask {hop['server']}"]
    status = hop["status"]
    ans = {r for r in hop["answer"] if r[1] != "RRSIG"}
    want = None
    if status == "REFUSED":
        want = ("lame", "refused")
    elif status == "SERVFAIL" and "aa" in hop["flags"] and any(r[1] == "CNAME" for r in ans):
        # BIND's answer to an in-zone alias loop ("max. restarts reached"): an authoritative
        # SERVFAIL that still carries the CNAMEs. netlab takes the chain (and finds the loop).
        want = ("answer", None)
    elif status == "SERVFAIL":
        want = ("lame", "servfail")
    elif status == "NXDOMAIN":
        want = ("nxdomain", None)
    elif status == "NOERROR" and ans:
        want = ("answer", None)
    elif status == "NOERROR" and "aa" in hop["flags"]:
        want = ("nodata", None)
    elif status == "NOERROR":
        want = ("referral", None)
    got = (s.get("kind"), s.get("lame_reason"))
    p = []
    if want and got != want:
        p.append(f"{hop['server']}: dig got {status} {sorted(hop['flags'])}, netlab says "
                 f"{got[0]}" + (f" ({got[1]})" if got[1] else ""))
    if want == ("answer", None) and server_records(s) != ans:
        p.append(f"{hop['server']}: dig got {show(ans)}, netlab has {show(server_records(s))}")
    if want == ("referral", None):
        dig_ns = {r[2] for r in hop["authority"] if r[1] == "NS"}
        ours = {absname(n) for n in (s.get("referral") or {}).get("ns", [])}
        if dig_ns != ours:
            p.append(f"{hop['server']}: dig got NS {sorted(dig_ns)}, netlab {sorted(ours)}")
    return p


def check_dig(rep, lab, doc, name, qtype, runs=DIG_RUNS):
    """Check 4: `dig +trace` in the same namespace. Every reply dig got must be what netlab
    reports for the same server; where dig ends with an answer it must be netlab's, or the
    answer of a server netlab names in a disagreement. The rest is printed as INFO."""
    cname = f"dig/{key(name, qtype)}"
    first = walks(doc)[0] if walks(doc) else []
    p, finals, notes = [], {}, []
    per_level = {}
    for _ in range(runs):
        res = lab.ns.run(["dig", "+trace", "+comments", f"@{ROOT}", name, qtype], timeout=60)
        hops, errors = parse_dig_trace(res.stdout)
        if res.returncode != 0 or len(hops) < 2:
            p.append(f"dig exited {res.returncode} after {len(hops)} replies: "
                     f"{' '.join((res.stderr + ' '.join(errors)).split())[:200]}")
            continue
        for hop in hops[1:]:  # hops[0]: the root NS set asked of @127.0.0.2
            lv = next((lv for lv in first if server_at(lv, hop["server"])), None)
            if lv is None:
                p.append(f"dig asked {hop['server']}, which no level of netlab's walk has")
                continue
            per_level.setdefault(lv["zone"], set()).add(hop["server"])
            p += hop_problems(hop, server_at(lv, hop["server"]))
        last = hops[-1]
        ans = {r for r in last["answer"] if r[1] != "RRSIG"}
        target, steps = name, []
        while True:
            cn = [r for r in ans if r[0] == target and r[1] == "CNAME"]
            if not cn or qtype == "CNAME":
                break
            steps.append((target, cn[0][2]))
            target = cn[0][2]
            if target == name or len(steps) > 8:
                break
        data = {r for r in ans if r[0] == target and r[1] == qtype}
        if data:
            outcome = "answer " + show(data, 2)
            if data != answer_set(doc):
                dis = " ".join(w["message"] for w in warnings_of(doc, "disagreement"))
                if last["server"] in dis:
                    outcome += " (differs from netlab's: a server netlab names in a disagreement)"
                else:
                    p.append(f"dig's answer {show(data)} from {last['server']} != netlab's "
                             f"{show(answer_set(doc))}")
        elif steps:
            outcome = f"stopped at {steps[-1][0]} CNAME {steps[-1][1]}"
            if last["status"] != "NOERROR":
                outcome += f" ({last['status']})"
            if chain_list(doc)[:len(steps)] != steps and not (
                    "cname_loop" in codes(doc) and set(steps) <= set(chain_list(doc))):
                p.append(f"dig's alias steps {steps} != netlab's chain {chain_list(doc)}")
        elif last["status"] in ("NXDOMAIN",) or (last["status"] == "NOERROR"
                                                 and "aa" in last["flags"]):
            outcome = "nxdomain" if last["status"] == "NXDOMAIN" else "nodata"
            if doc.get("status") != outcome:
                p.append(f"dig ends {outcome}, netlab {doc.get('status')}")
        else:
            outcome = f"stopped silently after {last['status']}"
        label = f"{last['server']} {outcome}"
        finals[label] = finals.get(label, 0) + 1
        if errors:
            notes.append("dig printed: " + "; ".join(dict.fromkeys(errors))[:200])
    ours = " / ".join(f"{lv['zone']} {len(lv['servers'])}" for lv in first)
    theirs = " / ".join(f"{z} {len(a)}" for z, a in per_level.items())
    rep.problems(cname, p, f"{runs} runs, every reply dig got matches netlab's entry for that "
                 "server")
    info(f"dig/{key(name, qtype)}: ends ({runs} runs): " +
         "; ".join(f"{k} x{v}" for k, v in sorted(finals.items())))
    info(f"dig/{key(name, qtype)}: servers asked per level: dig one per level per run "
         f"(distinct over the runs: {theirs}); netlab every one ({ours}"
         + (f", then {len(walks(doc)) - 1} more walk(s)" if len(walks(doc)) > 1 else "") + ")")
    if len(walks(doc)) > 1 and chain_list(doc):
        info(f"dig/{key(name, qtype)}: dig does not follow the {chain_list(doc)[0][0]} CNAME "
             f"into {chain_list(doc)[0][1]}; netlab's answer: {show(answer_set(doc), 2)}")
    if doc.get("dnssec"):
        info(f"dig/{key(name, qtype)}: dig +trace sets DO and prints the RRSIGs but checks no DS "
             f"against the DNSKEYs; netlab: chain verdict {doc['dnssec'].get('verdict')}, "
             f"status {doc.get('status')}")
    if any(lv.get("nested") for lv in first):
        info(f"dig/{key(name, qtype)}: the glueless NS address comes from the system resolver "
             f"(127.0.0.53) and is not shown; netlab resolves it itself (nested walk)")
    for n in dict.fromkeys(notes):
        info(f"dig/{key(name, qtype)}: {n}")


# ---------------------------------------------------------------------------------------------
# The system resolver is never used


SOCKADDR = re.compile(r'sin6?_port=htons\((\d+)\), (?:sin_addr=inet_addr\("([^"]+)"\)|'
                      r'sin6_flowinfo=[^,]*, inet_pton\(AF_INET6, "([^"]+)")')


def check_no_resolver(rep, lab, netlab, workdir, docs):
    """Check 5: under strace netlab sends only to the lab's servers on port 53 and never to
    127.0.0.53 (nor to nscd); then with the resolver killed the traces still resolve."""
    lab_addrs = {r[0] for r in lab.servers}
    for name, qtype in (("www.example.test.", "A"), ("edge.cdn.test.", "AAAA")):
        cname = f"no_resolver/strace/{key(name, qtype)}"
        out = Path(workdir) / f"strace-{name}{qtype}.txt"
        try:
            doc = netlab_trace(lab.ns, netlab, name, qtype, wrap=[
                "strace", "-f", "-qq", "-o", str(out), "-e",
                "trace=connect,sendto,sendmsg,sendmmsg,openat"])
        except (TraceError, subprocess.SubprocessError) as e:
            rep.check(cname, False, str(e))
            continue
        text = out.read_text() if out.exists() else ""
        dests = {}
        for m in SOCKADDR.finditer(text):
            addr = m.group(2) or m.group(3)
            dests[(addr, int(m.group(1)))] = dests.get((addr, int(m.group(1))), 0) + 1
        p = []
        if not dests:
            p.append(f"strace shows no destination at all ({len(text)} bytes of trace)")
        bad = sorted(f"{a}:{port}" for a, port in dests if a not in lab_addrs or port != 53)
        if bad:
            p.append(f"packets to {', '.join(bad)}")
        if any(a == RESOLVER for a, _ in dests):
            p.append("a packet to the system resolver 127.0.0.53")
        if "nscd" in text:
            p.append("connects to nscd (getaddrinfo)")
        if doc.get("status") != "resolved":
            p.append(f"status {doc.get('status')}")
        reads = sorted({f for f in ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf")
                        if f'"{f}"' in text})
        rep.problems(cname, p, f"{sum(dests.values())} sends/connects, all to "
                     f"{', '.join(sorted({a for a, _ in dests}, key=ipaddress.ip_address))} "
                     "port 53; none to 127.0.0.53"
                     + (f"; reads {', '.join(reads)}" if reads else "; reads no resolver "
                        "configuration"))
    # For contrast: dig +trace does use the system resolver (NS addresses).
    out = Path(workdir) / "strace-dig.txt"
    res = lab.ns.run(["strace", "-f", "-qq", "-o", str(out), "-e", "trace=connect,sendto,sendmsg,"
                      "sendmmsg", "dig", "+trace", f"@{ROOT}", "www.example.test.", "A"],
                     timeout=60)
    text = out.read_text() if out.exists() else ""
    to_resolver = sum(1 for m in SOCKADDR.finditer(text) if m.group(2) == RESOLVER)
    info(f"no_resolver: for contrast, dig +trace www.example.test A connects/sends to the system "
         f"resolver {RESOLVER} {to_resolver} times (the NS names' addresses; exit "
         f"{res.returncode}); netlab 0")
    # The resolver killed: the traces (glueless one included) still resolve.
    lab.kill_resolver()
    down = lab.dig(RESOLVER, "ns1.cdnhost.test.", "A", extra=["+time=1"])
    p = []
    if down["status"] is not None:
        p.append(f"127.0.0.53 still answers ({down['status']}) after the kill")
    results = []
    for name, qtype in (("www.example.test.", "A"), ("edge.cdn.test.", "AAAA")):
        try:
            doc = netlab_trace(lab.ns, netlab, name, qtype)
        except (TraceError, subprocess.SubprocessError) as e:
            p.append(str(e))
            continue
        before = docs.get((name, qtype))
        if doc.get("status") != "resolved":
            p.append(f"{key(name, qtype)}: {doc.get('status')} ({doc.get('error')})")
        elif before is not None and answer_set(doc) != answer_set(before):
            p.append(f"{key(name, qtype)}: {show(answer_set(doc))}, before "
                     f"{show(answer_set(before))}")
        results.append(f"{key(name, qtype)} -> {show(answer_set(doc), 1)}")
    rep.problems("no_resolver/resolver_killed", p,
                 "127.0.0.53 down (dig @127.0.0.53 gets no answer); " + "; ".join(results))


# ---------------------------------------------------------------------------------------------
# netlab's own lab


class OwnLab:
    """`netlab lab --dns --dns-port 5300 --port-base 0 --jsonl` in a private network namespace."""

    def __init__(self, netlab, workdir):
        self.netlab = netlab
        self.work = Path(workdir)
        self.ns = Netns("own")
        self.proc = None
        self.ready = None
        self.summary = None

    def start(self, timeout=20.0):
        """Start it and read its `ready` line."""
        self.ns.start()
        self.proc = self.ns.spawn("netlab lab", [self.netlab, "lab", "--dns", "--dns-port",
                                                 str(OWN_PORT), "--port-base", "0", "--jsonl"],
                                  self.work / "own-lab.stderr", stdout=subprocess.PIPE)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        try:
            self.ready = json.loads(line)
        except json.JSONDecodeError:
            err = (self.work / "own-lab.stderr").read_text()
            raise NsError(f"netlab lab: no ready line ({line.strip()[:100]!r}): "
                          f"{' '.join(err.split())[:300]}") from None
        if self.ready.get("type") != "ready" or not self.ready.get("dns"):
            raise NsError(f"netlab lab: unexpected first line {line.strip()[:200]}")

    def zones(self):
        """Zone origins its DNS servers serve."""
        return {z for s in self.ready["dns"]["servers"] for z in s.get("zones", [])}

    def stop(self):
        """SIGTERM the lab (it prints its summary), then the namespace."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout=10)
            try:
                rest = self.proc.stdout.read()
                for line in rest.splitlines():
                    obj = json.loads(line)
                    if obj.get("type") == "summary":
                        self.summary = obj
            except (ValueError, OSError):
                pass
        self.ns.stop()


def walk_shape(doc):
    """What must be the same on both labs: per level (nested too), the zone asked, the name,
    what came back, where it went, the NS set followed, the addresses asked, and the glueless
    names resolved."""
    out = []
    for path, lv in walk_levels(doc.get("levels", [])):
        ch = chosen(lv) or {}
        out.append((path, lv.get("zone"), lv.get("qname"), lv.get("result"), lv.get("next_zone"),
                    tuple(sorted((ch.get("referral") or {}).get("ns", []))),
                    tuple(sorted(s["address"] for s in lv.get("servers", []))),
                    tuple((n.get("ns"), tuple(n.get("addresses", [])))
                          for n in lv.get("nested") or [])))
    return out


def server_kinds(doc):
    """{(level path, address): kind (lame reason)} over every level."""
    return {(path, s["address"]): s.get("kind") + (f" ({s['lame_reason']})"
                                                    if s.get("lame_reason") else "")
            for path, lv in walk_levels(doc.get("levels", [])) for s in lv.get("servers", [])}


def check_own_lab(rep, real, own, name, qtype):
    """Check 6: the same trace on netlab's own lab and on the real servers."""
    cname = f"own_lab/{key(name, qtype)}"
    p = []
    if real.get("status") != own.get("status"):
        p.append(f"status real {real.get('status')}, own {own.get('status')}")
    if answer_set(real) != answer_set(own):
        p.append(f"answer real {show(answer_set(real))}, own {show(answer_set(own))}")
    if chain_list(real) != chain_list(own):
        p.append(f"chain real {chain_list(real)}, own {chain_list(own)}")
    a, b = walk_shape(real), walk_shape(own)
    if a != b:
        diff = next(((x, y) for x, y in zip(a, b) if x != y), None)
        p.append(f"walks differ ({len(a)} vs {len(b)} levels)"
                 + (f": real {diff[0]}, own {diff[1]}" if diff else ""))
    if codes(real) != codes(own):
        p.append(f"warning codes real {sorted(codes(real))}, own {sorted(codes(own))}")
    dv = {(d.get("zone"), d.get("verdict")) for lv in real.get("levels", [])
          for d in [lv.get("dnssec")] if d}
    dw = {(d.get("zone"), d.get("verdict")) for lv in own.get("levels", [])
          for d in [lv.get("dnssec")] if d}
    if dv != dw:
        p.append(f"DNSSEC verdicts real {sorted(dv)}, own {sorted(dw)}")
    rep.problems(cname, p, f"{real.get('status')}, {len(a)} levels, warnings "
                 f"{sorted(codes(real)) or '-'}, answers and NS sets equal")
    ka, kb = server_kinds(real), server_kinds(own)
    for k in sorted(set(ka) | set(kb)):
        if ka.get(k) != kb.get(k):
            info(f"own_lab/{key(name, qtype)}: level {k[0]} {k[1]}: real servers -> {ka.get(k)}, "
                 f"netlab's lab -> {kb.get(k)}")


# ---------------------------------------------------------------------------------------------


def versions():
    """'NSD 4.6.1, BIND 9.18.x, Knot 3.2.x' for the lab line."""
    out = []
    for argv, pat in ((["nsd", "-v"], r"NSD version (\S+)"), (["named", "-v"], r"BIND (\S+)"),
                      (["knotd", "-V"], r"version (\S+)")):
        try:
            res = run(argv, timeout=10)
            m = re.search(pat, res.stdout + res.stderr)
            out.append(f"{argv[0]} {m.group(1) if m else '?'}")
        except (subprocess.SubprocessError, OSError):
            out.append(f"{argv[0]} ?")
    return ", ".join(out)


def trace_list(lab):
    """The traces to run on this lab: the signed ones only when those zones are served."""
    return TRACES + [t for t in SIGNED_TRACES if all(k in lab.signed for k in SIGNED_KEYS)]


def guard(rep, name, fn, *args):
    """Run one check function; an unexpected exception is a FAIL line, not a crash."""
    try:
        fn(rep, *args)
    except Exception as e:  # noqa: BLE001 (any failure of the check is reported as one)
        rep.check(name, False, f"check raised {type(e).__name__}: {e}")


def run_traces(rep, ns, netlab, traces, port, tag):
    """Run every trace; a trace netlab could not produce is one FAIL line."""
    docs = {}
    for name, qtype, extra in traces:
        log(f"{tag}: netlab dns trace {' '.join(extra + [name, qtype])}")
        try:
            docs[(name, qtype)] = netlab_trace(ns, netlab, name, qtype, extra, port=port)
        except (TraceError, subprocess.SubprocessError) as e:
            rep.check(f"{tag}/trace/{key(name, qtype)}", False, str(e))
    return docs


def hold(lab, netlab):
    """--hold: print how to enter the real-server lab, then wait for Ctrl-C / SIGTERM."""
    enter = " ".join(lab.ns.cmd([]))
    print(f"real-server lab up; run commands in it with: {enter} COMMAND", flush=True)
    print(f"  e.g. {enter} {netlab} dns trace --root {ROOT} --port 53 www.example.test A")
    for name, proc in lab.ns.children:
        print(f"  {name}: PID {proc.pid}")
    print("Ctrl-C (or SIGTERM) stops it.", flush=True)
    def interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


def main():
    """Run every check; exit 1 if any failed."""
    def options(ap):
        ap.add_argument("--no-sign", action="store_true",
                        help="do not serve signed.test/broken.test")
        ap.add_argument("--hold", action="store_true",
                        help="only start the real-server lab, print how to enter it, and wait "
                             "for Ctrl-C (to reproduce a finding by hand)")

    started = begin("dns_interop", __doc__, preflight, extra=options)
    if isinstance(started, int):
        return started
    opts, netlab, rep = started

    workdir = tempfile.mkdtemp(prefix="netlab-dns-interop-")
    lab = RealLab(load_zone_files(), workdir, sign=not opts.no_sign)
    own = OwnLab(netlab, workdir)
    try:
        log(f"preparing the real-server lab in {workdir}")
        t0 = time.monotonic()
        try:
            lab.prepare()
            lab.start()
        except (NsError, OSError, subprocess.SubprocessError) as e:
            rep.check("lab/real", False, str(e))
            raise SystemExit(1) from None
        for note in lab.notes:
            print(f"dns_interop: note: {note}", flush=True)
        rep.check("lab/real", True, f"{versions()}; {len(lab.servers)} servers + resolver "
                  f"{RESOLVER} answering after {time.monotonic() - t0:.1f}s")
        if opts.hold:
            hold(lab, netlab)
            return 0
        traces = trace_list(lab)
        docs = run_traces(rep, lab.ns, netlab, traces, 53, "real")

        for (name, qtype), doc in docs.items():
            guard(rep, f"answer/{key(name, qtype)}", check_answer, lab, doc, name, qtype)
        cache = {}
        for (name, qtype), doc in docs.items():
            guard(rep, f"ns/{key(name, qtype)}", check_ns, lab, doc, name, qtype, cache)
        guard(rep, "scenario", check_scenarios, lab, docs)
        for (name, qtype), doc in docs.items():
            log(f"dig +trace {name} {qtype}")
            guard(rep, f"dig/{key(name, qtype)}", check_dig, lab, doc, name, qtype)

        log("netlab's own lab")
        try:
            own.start()
        except (NsError, OSError, subprocess.SubprocessError) as e:
            rep.check("own_lab/start", False, str(e))
        else:
            own_zones = own.zones()
            own_traces = [t for t in traces if t[0] not in ("www.signed.test.", "www.broken.test.")
                          or "signed.test." in own_zones]
            if len(own_traces) < len(traces):
                print("dns_interop: note: netlab's lab serves no signed.test./broken.test.: "
                      "their traces are not compared", flush=True)
            own_docs = run_traces(rep, own.ns, netlab, own_traces, OWN_PORT, "own")
            for k, d in own_docs.items():
                if k in docs:
                    guard(rep, f"own_lab/{key(*k)}", check_own_lab, docs[k], d, *k)

        log("strace, then the resolver killed")
        guard(rep, "no_resolver", check_no_resolver, lab, netlab, workdir, docs)
    finally:
        own.stop()
        lab.stop()
        if opts.keep or rep.failed:
            log(f"work directory (configs, server logs) kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())

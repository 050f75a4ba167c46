#!/usr/bin/env python3
"""ARP interop checks: `netlab arp` against tcpdump/tshark, iputils arping and arp-scan.

Run as root:

    python3 tests/interop/arp_interop.py --netlab target/release/netlab

Every check prints `PASS name` or `FAIL name: details` (`INFO` lines are informational); the
last line is `N passed, M failed` and the exit status is 1 when anything failed. Without root
or a tool (tcpdump, tshark, ip, iputils arping, arp-scan) the script prints
`arp_interop: skipped: <reason>` and exits 0.

What is checked, on the namespace lab (`netlab lab --netns --delay 2ms`), always under a
reference tcpdump in the client namespace (`-i c0 ... --time-stamp-precision=nano arp`):
  a. timing: `arp who-has -c 5 -i 100ms 198.18.0.2`: each probe's request_ts_ns is the kernel
     time tshark shows for our request, each reply's ts_ns the time of that reply frame, and
     |rtt_us - (reply - request)| <= 1 us; the summary agrees with the probes;
  b. MAC sets: who-has 198.18.0.2 / .3 / .10: macs[] is the set of sender MACs of the ARP
     replies on the wire for that address (and what the lab configured); conflict only for
     .10; .99: no reply anywhere, loss_pct 100 (the timing check of a. is applied here too);
  c. `arping -c 3 -I c0 198.18.0.10` (iputils) reports the same MACs as netlab for .10; its
     RTT against the wire is printed as an INFO line;
  d. `arp-scan -I c0 198.18.0.0/28` finds the same IP -> MAC pairs as `arp scan` (hosts[] plus
     other_macs), the duplicate (DUP: 2) on the same address, and both match the wire;
     netlab's hosts[].rtt_us is within 1 us of (first reply - our last request before it);
  e. after a TCP handshake to 198.18.0.2, `arp table` equals `ip -j neigh` (dst, lladdr, dev,
     state) and `arp table --all` equals `ip -j neigh show nud all` (as sets of dst);
  f. RFC 5227: `arp probe` of .99 exits 0 and the wire shows exactly probes_sent probes (sender
     IP 0.0.0.0, target MAC 00:00:00:00:00:00); of .10 it exits 1 and names both MACs;
     `arping -D` agrees (exit 1 for .10, 0 for .99).
At the end: max |rtt error| against tshark per who-has target.

ARP goes only to the veth segment inside the lab's namespaces (198.18.0.0/24): every command
runs under `ip netns exec PREFIX-c` on c0, never on the host's interfaces.
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import interop  # noqa: E402  (lab, capture, tshark and report helpers)
from interop import (Capture, Lab, LabError, RunError, begin, epoch_to_ns,  # noqa: E402
                     netlab_json, run)

IFACE = "c0"
CLIENT_IP = "198.18.0.1"
CLIENT_MAC = "02:00:c6:12:00:01"
SERVER_IP, SERVER_MAC = "198.18.0.2", "02:00:c6:12:00:02"
ALIAS_IP, ALIAS_MAC = "198.18.0.3", "02:00:c6:12:00:03"
CONFLICT_IP = "198.18.0.10"
UNUSED_IP = "198.18.0.99"
ZERO_MAC = "00:00:00:00:00:00"
SCAN_NET = "198.18.0.0/28"

# What the lab configures (src/lab/netns.rs): the MACs that must answer for each address.
EXPECTED = {
    SERVER_IP: {SERVER_MAC},
    ALIAS_IP: {ALIAS_MAC},
    CONFLICT_IP: {SERVER_MAC, ALIAS_MAC},
    UNUSED_IP: set(),
}

# tshark fields for ARP frames (names checked with `tshark -G fields` on tshark 4.0).
ARP_FIELDS = ["frame.time_epoch", "eth.src", "eth.dst", "arp.opcode", "arp.src.hw_mac",
              "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4"]

# iputils arping: "Unicast reply from 198.18.0.10 [02:00:C6:12:00:02]  4.866ms"
ARPING_REPLY = re.compile(r"^(Unicast|Broadcast) reply from (\S+) \[([0-9A-Fa-f:]{17})\]\s+"
                          r"([0-9.]+)ms")
# arp-scan: "198.18.0.10\t02:00:c6:12:00:03\t(Unknown: locally administered) (DUP: 2)"
ARPSCAN_LINE = re.compile(r"^(\d+\.\d+\.\d+\.\d+)\t([0-9A-Fa-f:]{17})\t(.*)$")


def log(msg):
    """Progress to stderr (stdout holds only the check lines and tables)."""
    print(f"arp_interop: {msg}", file=sys.stderr, flush=True)


def preflight():
    """Why the checks cannot run here (None when they can)."""
    reason = interop.preflight(tools=("tcpdump", "tshark", "ip", "arping", "arp-scan"))
    if reason:
        return reason
    try:
        res = run(["arping", "-V"], timeout=10)
    except (subprocess.SubprocessError, OSError) as e:
        return f"arping -V: {e}"
    if "iputils" not in (res.stdout + res.stderr):
        return "arping is not iputils arping (another arping's output and options differ)"
    return None


# ---------------------------------------------------------------------------------------------
# ARP frames from the reference capture


@dataclass
class Arp:
    """One ARP frame as tshark decodes it."""

    ts: int
    eth_src: str
    eth_dst: str
    op: int
    sha: str
    spa: str
    tha: str
    tpa: str


def read_arp(path, timeout=60):
    """ARP frames of a pcap via tshark, in capture order."""
    cmd = ["tshark", "-n", "-r", str(path), "-Y", "arp", "-T", "fields", "-E", "separator=,",
           "-E", "occurrence=f"]
    for f in ARP_FIELDS:
        cmd += ["-e", f]
    res = run(cmd, timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"tshark -r {path} exited {res.returncode}: {res.stderr.strip()[:300]}")
    out = []
    for line in res.stdout.splitlines():
        if not line.strip():
            continue
        v = dict(zip(ARP_FIELDS, line.split(",")))
        out.append(Arp(ts=epoch_to_ns(v["frame.time_epoch"]), eth_src=v["eth.src"].lower(),
                       eth_dst=v["eth.dst"].lower(), op=int(v["arp.opcode"] or 0),
                       sha=v["arp.src.hw_mac"].lower(), spa=v["arp.src.proto_ipv4"],
                       tha=v["arp.dst.hw_mac"].lower(), tpa=v["arp.dst.proto_ipv4"]))
    return out


def replies_for(frames, ip):
    """ARP replies whose sender IP is `ip`."""
    return [f for f in frames if f.op == 2 and f.spa == ip]


def our_requests(frames, ip, sender_ip=CLIENT_IP):
    """Our ARP requests for `ip` (from the client MAC, sender IP `sender_ip`), in time order."""
    return sorted((f for f in frames if f.op == 1 and f.sha == CLIENT_MAC and f.tpa == ip
                   and f.spa == sender_ip), key=lambda f: f.ts)


def captured(lab, workdir, tag, fn):
    """Run fn() under a reference ARP capture in the client namespace; (fn's result, frames)."""
    pcap = Path(workdir) / f"{tag.replace('/', '_')}.pcap"
    with Capture(lab.client_ns, pcap, "arp", iface=IFACE):
        result = fn()
    return result, read_arp(pcap)


def in_ns(lab, cmd, timeout=60):
    """Run a command in the client namespace (captured text output)."""
    return run(["ip", "netns", "exec", lab.client_ns] + list(cmd), timeout=timeout, cwd="/",
               env=dict(os.environ, NO_COLOR="1"))


# ---------------------------------------------------------------------------------------------
# Checks


class Stats:
    """Timing figures for the final table."""

    def __init__(self):
        self.rtt_err = {}    # label -> [|rtt_us - wire| µs] over every reply timed
        self.stamps = [0, 0]  # [netlab timestamps equal to a tshark frame time, all checked]
        self.arping = []     # arping RTT - wire RTT, µs (informational)


def who_has_timing(doc, frames, target, stats, label):
    """Problems of a who-has report against the wire: timestamps, replies per probe, RTTs."""
    probs = []
    reqs = our_requests(frames, target)
    probes = doc.get("probes", [])
    if len(reqs) != len(probes):
        probs.append(f"{len(reqs)} requests on the wire, {len(probes)} probes reported")
    by_ts = {f.ts: i for i, f in enumerate(reqs)}
    errs = []
    for n, p in enumerate(probes):
        seq = p.get("seq")
        if seq != n + 1:
            probs.append(f"probe {n + 1} has seq {seq}")
        rts = p.get("request_ts_ns")
        if p.get("timing_source") != "af_packet":
            probs.append(f"#{seq}: timing_source {p.get('timing_source')}")
        if rts is None:
            probs.append(f"#{seq}: request_ts_ns null")
            continue
        stats.stamps[1] += 1
        stats.stamps[0] += rts in by_ts
        if rts not in by_ts:
            near = min(reqs, key=lambda f: abs(f.ts - rts), default=None)
            probs.append(f"#{seq}: request_ts_ns {rts} is no request frame's time"
                         + (f" (nearest {near.ts}, {near.ts - rts:+d} ns)" if near else ""))
            continue
        i = by_ts[rts]
        if i != n:
            probs.append(f"#{seq}: request_ts_ns is the time of request #{i + 1} on the wire")
        req = reqs[i]
        end = reqs[i + 1].ts if i + 1 < len(reqs) else None
        wire = [(f.sha, f.ts) for f in replies_for(frames, target)
                if f.ts >= req.ts and (end is None or f.ts < end) and f.tpa == CLIENT_IP]
        got = [(r.get("mac"), r.get("ts_ns")) for r in p.get("replies", [])]
        if got != wire:
            probs.append(f"#{seq}: replies (mac, ts_ns) {got} != wire {wire}")
        wire_ts = {ts for _, ts in wire}
        for r in p.get("replies", []):
            stats.stamps[1] += 1
            stats.stamps[0] += r.get("ts_ns") in wire_ts
            if r.get("rtt_us") is None or r.get("ts_ns") is None:
                probs.append(f"#{seq}: reply from {r.get('mac')} without rtt_us / ts_ns")
                continue
            wire_us = (r["ts_ns"] - req.ts) / 1000.0
            if r.get("ts_ns") in wire_ts:
                err = abs(r["rtt_us"] - wire_us)
                errs.append(err)
                if err > 1.0:
                    probs.append(f"#{seq}: reply from {r.get('mac')} rtt_us {r['rtt_us']} vs "
                                 f"wire {wire_us:.3f} (error {err:.3f} us > 1 us)")
        first = (p.get("replies") or [{}])[0].get("rtt_us")
        if p.get("rtt_us") != first:
            probs.append(f"#{seq}: rtt_us {p.get('rtt_us')} is not the first reply's {first}")
    stats.rtt_err.setdefault(label, []).extend(errs)
    return probs, errs


def summary_problems(doc):
    """who-has summary against its probes: sent, answered, loss, rtt min/avg/max."""
    probes, s = doc.get("probes", []), doc.get("summary", {})
    out = []
    answered = sum(1 for p in probes if p.get("replies"))
    if s.get("sent") != len(probes) or s.get("answered") != answered:
        out.append(f"summary sent/answered {s.get('sent')}/{s.get('answered')}, probes say "
                   f"{len(probes)}/{answered}")
    if probes:
        loss = 100.0 * (len(probes) - answered) / len(probes)
        if abs((s.get("loss_pct") or 0.0) - loss) > 0.01:
            out.append(f"loss_pct {s.get('loss_pct')}, probes say {loss:.2f}")
    rtts = [p["rtt_us"] for p in probes if p.get("rtt_us") is not None]
    r = s.get("rtt_us") or {}
    if rtts:
        for key, val in (("min", min(rtts)), ("max", max(rtts)), ("avg", sum(rtts) / len(rtts))):
            if r.get(key) is None or abs(r[key] - val) > 0.0015:
                out.append(f"rtt_us.{key} {r.get(key)}, probes say {val:.3f}")
    return out


def who_has(lab, workdir, tag, ip, args):
    """`netlab --json arp who-has ARGS IP` under a capture; (exit code, doc, frames)."""
    full = ["--json", "arp", "who-has"] + list(args) + [ip]
    (rc, doc), frames = captured(lab, workdir, tag,
                                 lambda: netlab_json(lab.netlab, lab.client_ns, full))
    return rc, doc, frames


def check_timing(rep, lab, workdir, stats):
    """a. who-has -c 5 -i 100ms 198.18.0.2: kernel timestamps and RTTs against tshark."""
    name = "timing/who-has/198.18.0.2"
    try:
        rc, doc, frames = who_has(lab, workdir, name, SERVER_IP, ["-c", "5", "-i", "100ms"])
    except (RunError, RuntimeError, subprocess.SubprocessError, ValueError) as e:
        rep.check(name, False, str(e))
        return
    probs, errs = who_has_timing(doc, frames, SERVER_IP, stats, "who-has 198.18.0.2 (a)")
    if len(doc.get("probes", [])) != 5:
        probs.append(f"{len(doc.get('probes', []))} probes, 5 asked for")
    if rc != 0:
        probs.append(f"exit {rc}, want 0 (one MAC answered)")
    rep.problems(name, probs, f"5 requests and {len(errs)} replies at tshark's exact ns; "
                 f"max |rtt error| {max(errs, default=0):.3f} us")
    rep.problems(f"{name}/summary", summary_problems(doc))


def check_mac_sets(rep, lab, workdir, stats):
    """b. macs[] per address against the wire; conflict only for .10; .99 all lost.

    Returns {ip: netlab's MAC set} for the arping comparison."""
    sets = {}
    for ip in (SERVER_IP, ALIAS_IP, CONFLICT_IP, UNUSED_IP):
        name = f"macs/who-has/{ip}"
        try:
            rc, doc, frames = who_has(lab, workdir, name, ip,
                                      ["-c", "3", "-i", "100ms", "--timeout", "500ms"])
        except (RunError, RuntimeError, subprocess.SubprocessError, ValueError) as e:
            rep.check(name, False, str(e))
            continue
        macs = doc.get("macs", [])
        got = set(macs)
        sets[ip] = got
        wire = {f.sha for f in replies_for(frames, ip)}
        probs = []
        if len(macs) != len(got):
            probs.append(f"macs[] repeats a MAC: {macs}")
        if got != wire:
            probs.append(f"macs {sorted(got)} != wire reply senders {sorted(wire)}")
        if wire != EXPECTED[ip]:
            probs.append(f"the wire shows {sorted(wire)}, the lab configures "
                         f"{sorted(EXPECTED[ip])}")
        want_conflict = ip == CONFLICT_IP
        if doc.get("conflict") is not want_conflict:
            probs.append(f"conflict {doc.get('conflict')}, want {want_conflict}")
        want_rc = 0 if len(EXPECTED[ip]) == 1 else 1
        if rc != want_rc:
            probs.append(f"exit {rc}, want {want_rc}")
        if ip == UNUSED_IP:
            if wire or any(f.op == 2 and f.spa == ip for f in frames):
                probs.append("replies on the wire for an address nobody holds")
            if any(p.get("replies") for p in doc.get("probes", [])):
                probs.append("netlab reports replies")
            if doc.get("summary", {}).get("loss_pct") != 100:
                probs.append(f"summary.loss_pct {doc.get('summary', {}).get('loss_pct')}, "
                             "want 100")
        tprobs, errs = who_has_timing(doc, frames, ip, stats, f"who-has {ip} (b)")
        probs += tprobs + summary_problems(doc)
        detail = (f"macs {sorted(got)} = wire" + (" (conflict)" if want_conflict else "")
                  if got else f"no reply on the wire, loss {doc['summary']['loss_pct']}%")
        if errs:
            detail += f"; {len(errs)} replies timed, max |rtt error| {max(errs):.3f} us"
        rep.problems(name, probs, detail)
    return sets


def check_arping(rep, lab, workdir, stats, netlab_sets):
    """c. iputils arping -c 3 on .10: same MAC set as netlab; its RTT vs the wire (INFO)."""
    name = f"arping/{CONFLICT_IP}"
    try:
        res, frames = captured(lab, workdir, name,
                               lambda: in_ns(lab, ["arping", "-c", "3", "-I", IFACE, CONFLICT_IP],
                                             timeout=30))
    except (RuntimeError, subprocess.SubprocessError, ValueError) as e:
        rep.check(name, False, str(e))
        return
    lines = [m for m in map(ARPING_REPLY.match, res.stdout.splitlines()) if m]
    got = {m.group(3).lower() for m in lines if m.group(2) == CONFLICT_IP}
    want = netlab_sets.get(CONFLICT_IP)
    probs = []
    if want is None:
        probs.append("no netlab result for .10 to compare with (check b failed to run)")
    elif got != want:
        probs.append(f"arping MACs {sorted(got)} != netlab macs {sorted(want)} "
                     f"(arping exit {res.returncode}: {res.stdout.strip()[-300:]!r})")
    wire = {f.sha for f in replies_for(frames, CONFLICT_IP)}
    if got != wire:
        probs.append(f"arping MACs {sorted(got)} != wire reply senders {sorted(wire)}")
    rep.problems(name, probs, f"arping and netlab both see {sorted(got)} "
                 f"({len(lines)} reply lines, arping exit {res.returncode})")
    # Informational: arping's RTT (userspace clock) against the wire. Reply line k is reply
    # frame k; it is timed from the last of our requests before it.
    reqs = sorted((f for f in frames if f.op == 1 and f.sha == CLIENT_MAC
                   and f.tpa == CONFLICT_IP), key=lambda f: f.ts)
    reps = [f for f in replies_for(frames, CONFLICT_IP) if f.tpa == CLIENT_IP]
    diffs = []
    for m, f in zip(lines, reps):
        req = max((r for r in reqs if r.ts <= f.ts), key=lambda r: r.ts, default=None)
        if req is None or m.group(3).lower() != f.sha:
            continue
        wire_us = (f.ts - req.ts) / 1000.0
        diffs.append(float(m.group(4)) * 1000.0 - wire_us)
    stats.arping.extend(diffs)
    if diffs:
        print(f"INFO arping/rtt: arping RTT - wire RTT over {len(diffs)} replies: min "
              f"{min(diffs):.1f} us, mean {sum(diffs) / len(diffs):.1f} us, max "
              f"{max(diffs):.1f} us (arping prints ms with 3 decimals, timed in userspace)",
              flush=True)
    else:
        print("INFO arping/rtt: no arping reply line matched a reply frame", flush=True)


def parse_arpscan(text):
    """[(ip, mac, dup)] of arp-scan's host lines."""
    out = []
    for line in text.splitlines():
        m = ARPSCAN_LINE.match(line)
        if m:
            out.append((m.group(1), m.group(2).lower(), "(DUP:" in m.group(3)))
    return out


def scan_pairs(doc):
    """{(ip, mac)} of a netlab scan report, other_macs included."""
    pairs = set()
    for h in doc.get("hosts", []):
        pairs.add((h.get("ip"), h.get("mac")))
        for m in h.get("other_macs", []):
            pairs.add((h.get("ip"), m))
    return pairs


def wire_pairs(frames, net):
    """{(sender ip, sender mac)} of ARP replies to us from inside `net`."""
    n = ipaddress.ip_network(net)
    return {(f.spa, f.sha) for f in frames if f.op == 2 and f.tpa == CLIENT_IP and f.spa
            and ipaddress.ip_address(f.spa) in n}


def check_scan(rep, lab, workdir):
    """d. arp-scan -I c0 198.18.0.0/28 against `netlab arp scan 198.18.0.0/28`."""
    name = f"scan/{SCAN_NET}"
    try:
        res, aframes = captured(lab, workdir, f"{name}/arp-scan",
                                lambda: in_ns(lab, ["arp-scan", "-I", IFACE, SCAN_NET], 60))
        (rc, doc), nframes = captured(
            lab, workdir, f"{name}/netlab",
            lambda: netlab_json(lab.netlab, lab.client_ns,
                                ["--json", "arp", "scan", SCAN_NET]))
    except (RunError, RuntimeError, subprocess.SubprocessError, ValueError) as e:
        rep.check(name, False, str(e))
        return
    probs = []
    if res.returncode != 0:
        probs.append(f"arp-scan exited {res.returncode}: {res.stderr.strip()[:200]}")
    lines = parse_arpscan(res.stdout)
    theirs = {(ip, mac) for ip, mac, _ in lines}
    ours = scan_pairs(doc)
    expected = {(ip, mac) for ip, macs in EXPECTED.items() for mac in macs}
    if ours != theirs:
        probs.append(f"netlab pairs {sorted(ours)} != arp-scan pairs {sorted(theirs)}")
    if ours != expected:
        probs.append(f"netlab pairs {sorted(ours)} != the lab's {sorted(expected)}")
    w_ours, w_theirs = wire_pairs(nframes, SCAN_NET), wire_pairs(aframes, SCAN_NET)
    if ours != w_ours:
        probs.append(f"netlab pairs {sorted(ours)} != replies on the wire {sorted(w_ours)}")
    if theirs != w_theirs:
        probs.append(f"arp-scan pairs {sorted(theirs)} != replies on the wire "
                     f"{sorted(w_theirs)}")
    dup_theirs = {ip for ip, _, dup in lines if dup}
    dup_ours = {h.get("ip") for h in doc.get("hosts", []) if h.get("other_macs")}
    if dup_ours != dup_theirs:
        probs.append(f"duplicates: netlab {sorted(dup_ours)} (other_macs), arp-scan "
                     f"{sorted(dup_theirs)} (DUP)")
    ips = [h.get("ip") for h in doc.get("hosts", [])]
    if ips != sorted(ips, key=ipaddress.ip_address):
        probs.append(f"hosts[] not in address order: {ips}")
    if rc != 1:
        probs.append(f"netlab exit {rc}, want 1 (an address claimed by two MACs)")
    # hosts[].rtt_us: our last request for the address -> its first reply, on the wire.
    errs = []
    for h in doc.get("hosts", []):
        first = next((f for f in replies_for(nframes, h.get("ip")) if f.sha == h.get("mac")),
                     None)
        req = max((f for f in our_requests(nframes, h.get("ip")) if first and f.ts <= first.ts),
                  key=lambda f: f.ts, default=None)
        if first is None or req is None or h.get("rtt_us") is None:
            probs.append(f"{h.get('ip')}: rtt_us {h.get('rtt_us')}, wire request/reply "
                         f"{req and req.ts}/{first and first.ts}")
            continue
        wire_us = (first.ts - req.ts) / 1000.0
        errs.append(abs(h["rtt_us"] - wire_us))
        if errs[-1] > 1.0:
            probs.append(f"{h.get('ip')}: rtt_us {h['rtt_us']} vs wire {wire_us:.3f}")
    rep.problems(name, probs, f"{len(ours)} IP->MAC pairs identical (netlab, arp-scan, wire); "
                 f"duplicate {sorted(dup_ours)} in both; hosts[].rtt_us max |error| "
                 f"{max(errs, default=0):.3f} us")


def neigh_tuples(entries):
    """{(dst, lladdr, dev, state)} from `ip -j neigh` output."""
    out = set()
    for e in entries:
        st = e.get("state") or []
        out.add((str(ipaddress.ip_address(e["dst"])), (e.get("lladdr") or "").lower() or None,
                 e.get("dev"), "+".join(st) if isinstance(st, list) else str(st)))
    return out


def check_table(rep, lab):
    """e. after a TCP handshake to .2: arp table = ip -j neigh; --all = ip -j neigh nud all."""
    name = "table"
    addr, port, _ = lab.scenario("open", 4)
    code = ("import socket; s = socket.create_connection(('%s', %d), timeout=5); s.close()"
            % (addr, port))
    try:
        res = in_ns(lab, ["python3", "-c", code], timeout=30)
        if res.returncode != 0:
            rep.check(f"{name}/handshake", False, res.stderr.strip()[-300:])
            return

        def ip_neigh(*extra):
            r = in_ns(lab, ["ip", "-j", "neigh", "show"] + list(extra), timeout=30)
            if r.returncode != 0:
                raise RuntimeError(f"ip -j neigh exited {r.returncode}: {r.stderr.strip()}")
            return json.loads(r.stdout or "[]")

        before = ip_neigh()
        _, doc = netlab_json(lab.netlab, lab.client_ns, ["--json", "arp", "table"])
        after = ip_neigh()
        before_all = ip_neigh("nud", "all")
        _, doc_all = netlab_json(lab.netlab, lab.client_ns, ["--json", "arp", "table", "--all"])
        after_all = ip_neigh("nud", "all")
    except (RunError, RuntimeError, subprocess.SubprocessError, ValueError) as e:
        rep.check(name, False, str(e))
        return
    ours = {(str(ipaddress.ip_address(e["ip"])), e.get("mac"), e.get("interface"), e.get("state"))
            for e in doc.get("entries", [])}
    probs = []
    if ours not in (neigh_tuples(before), neigh_tuples(after)):
        probs.append(f"netlab {sorted(ours, key=str)} != ip -j neigh "
                     f"{sorted(neigh_tuples(after), key=str)}")
    if not any(e[0] == SERVER_IP and e[1] == SERVER_MAC for e in ours):
        probs.append(f"no entry {SERVER_IP} -> {SERVER_MAC} after the handshake")
    rep.problems(f"{name}/neigh", probs,
                 f"{len(ours)} entries equal (dst, lladdr, dev, state): "
                 + ", ".join(f"{d} {m} {s}" for d, m, _, s in sorted(ours, key=str)))
    dst_all = {str(ipaddress.ip_address(e["ip"])) for e in doc_all.get("entries", [])}
    ref = [{str(ipaddress.ip_address(e["dst"])) for e in x} for x in (before_all, after_all)]
    rep.problems(f"{name}/all", [] if dst_all in ref else
                 [f"netlab --all {sorted(dst_all)} != ip -j neigh show nud all {sorted(ref[1])}"],
                 f"{len(dst_all)} destinations equal ip -j neigh show nud all")


def check_probe(rep, lab, workdir):
    """f. RFC 5227 probes: netlab against the wire and against arping -D."""
    args = ["--json", "arp", "probe", "--interval-min", "50ms", "--interval-max",
            "100ms", "--wait", "200ms"]
    for ip, free in ((UNUSED_IP, True), (CONFLICT_IP, False)):
        name = f"probe/{ip}"
        try:
            (rc, doc), frames = captured(
                lab, workdir, name, lambda: netlab_json(lab.netlab, lab.client_ns, args + [ip]))
        except (RunError, RuntimeError, subprocess.SubprocessError, ValueError) as e:
            rep.check(name, False, str(e))
            continue
        probs = []
        want_rc = 0 if free else 1
        if rc != want_rc:
            probs.append(f"exit {rc}, want {want_rc}")
        if doc.get("in_use") is free:
            probs.append(f"in_use {doc.get('in_use')}")
        probes = [f for f in frames if f.op == 1 and f.spa == "0.0.0.0"]
        sent = doc.get("probes_sent")
        if len(probes) != sent:
            probs.append(f"{len(probes)} probes (sender IP 0.0.0.0) on the wire, probes_sent "
                         f"{sent}")
        for f in probes:
            if (f.tha, f.sha, f.tpa, f.eth_dst) != (ZERO_MAC, CLIENT_MAC, ip,
                                                    "ff:ff:ff:ff:ff:ff"):
                probs.append(f"probe at {f.ts}: target MAC {f.tha}, sender MAC {f.sha}, target "
                             f"IP {f.tpa}, to {f.eth_dst}")
        if free and sent != 3:
            probs.append(f"probes_sent {sent}, want 3 (the default --count) for a free address")
        claims = doc.get("claims", [])
        cmacs = {c.get("mac") for c in claims}
        wire = {f.sha for f in frames if f.spa == ip and f.sha != CLIENT_MAC}
        if cmacs != EXPECTED[ip]:
            probs.append(f"claims by {sorted(cmacs)}, want {sorted(EXPECTED[ip])}")
        if cmacs != wire:
            probs.append(f"claims by {sorted(cmacs)}, the wire shows {sorted(wire)}")
        stamps = {f.ts for f in frames}
        for c in claims:
            if c.get("ts_ns") not in stamps:
                probs.append(f"claim by {c.get('mac')} ts_ns {c.get('ts_ns')} is no frame's time")
        rep.problems(name, probs,
                     f"exit {rc}, {len(probes)} probes = probes_sent, "
                     + ("no claim" if free else "claimed by " + " and ".join(sorted(cmacs))))
    for ip, want in ((CONFLICT_IP, 1), (UNUSED_IP, 0)):
        name = f"probe/arping-D/{ip}"
        try:
            res = in_ns(lab, ["arping", "-D", "-c", "2", "-I", IFACE, ip], timeout=30)
        except subprocess.SubprocessError as e:
            rep.check(name, False, str(e))
            continue
        seen = sorted({m.group(3).lower() for m in map(ARPING_REPLY.match,
                                                      res.stdout.splitlines()) if m})
        rep.check(name, res.returncode == want,
                  f"arping -D exit {res.returncode} ({'in use' if want else 'free'} like netlab"
                  + (f"; answered by {', '.join(seen)})" if seen else ")")
                  if res.returncode == want else
                  f"arping -D exit {res.returncode}, want {want}: {res.stdout.strip()[-200:]!r}")


def print_table(stats):
    """Max |rtt error| against tshark per who-has run, and arping's (informational)."""
    print()
    print("max |rtt error| against tshark (us)")
    print(f"  {'run':<28} {'replies':>7} {'max':>9} {'mean':>9}")
    every = []
    for label, errs in stats.rtt_err.items():
        every += errs
        if errs:
            print(f"  {label:<28} {len(errs):>7} {max(errs):>9.3f} "
                  f"{sum(errs) / len(errs):>9.3f}")
        else:
            print(f"  {label:<28} {0:>7} {'-':>9} {'-':>9}")
    if every:
        print(f"  {'all netlab who-has':<28} {len(every):>7} {max(every):>9.3f} "
              f"{sum(every) / len(every):>9.3f}")
    if stats.arping:
        a = [abs(d) for d in stats.arping]
        print(f"  {'arping (info, userspace)':<28} {len(a):>7} {max(a):>9.3f} "
              f"{sum(a) / len(a):>9.3f}")
    if stats.stamps[1]:
        print(f"netlab request_ts_ns / replies[].ts_ns equal to tshark's frame time exactly: "
              f"{stats.stamps[0]} of {stats.stamps[1]}")
    print()


def main():
    """Run every check; exit 1 if any failed."""
    started = begin("arp_interop", __doc__, preflight, keep_help="keep the capture directory")
    if isinstance(started, int):
        return started
    opts, netlab, rep = started
    stats = Stats()

    workdir = tempfile.mkdtemp(prefix="netlab-arp-interop-")
    lab = Lab(netlab, f"nla{os.getpid()}", delay="2ms")
    try:
        log(f"starting the lab ({lab.prefix}); captures in {workdir}")
        try:
            lab.start()
        except (LabError, OSError) as e:
            rep.check("lab/start", False, str(e))
        else:
            rep.check("lab/start", True)
            log("a. who-has timing")
            check_timing(rep, lab, workdir, stats)
            log("b. who-has MAC sets")
            sets = check_mac_sets(rep, lab, workdir, stats)
            log("c. arping")
            check_arping(rep, lab, workdir, stats, sets)
            log("d. arp-scan")
            check_scan(rep, lab, workdir)
            # f before e: the handshake of e makes both kernels send ARP of their own.
            log("f. RFC 5227 probes")
            check_probe(rep, lab, workdir)
            log("e. neighbour table")
            check_table(rep, lab)
    finally:
        problems = lab.stop()
        if lab.ready is not None:
            rep.problems("lab/stop", problems)
        if opts.keep or rep.failed:
            log(f"captures kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print_table(stats)
    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())

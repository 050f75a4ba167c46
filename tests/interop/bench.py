#!/usr/bin/env python3
"""Benchmarks: netlab against hping3 and nping, per-probe RTT error against the wire.

Run as root (`make bench`):

    python3 tests/interop/bench.py --netlab target/release/netlab

On a namespace lab (2 ms each way) every tool sends 20 SYNs at 100 ms to the open IPv4 port
while tcpdump captures in the client namespace. Each tool's per-probe RTT is compared with the
wire RTT (SYN -> SYN-ACK of the same source port and sequence number, from the pcap via
tshark). Then hyperfine measures start-up time. The script prints tables and asserts nothing
about time. Without root or a tool it prints `bench: skipped: <reason>` and exits 0.

Traffic goes only to the lab's server namespace (198.18.0.2).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import interop  # noqa: E402  (lab, capture and tshark helpers)
from interop import ACK, SYN, Capture, Lab, LabError, read_pcap, run  # noqa: E402

COUNT = 20
INTERVAL_MS = 100
TOOLS = ("tcpdump", "tshark", "ip", "nft", "setpriv", "hping3", "nping", "hyperfine")


def log(msg):
    """Progress to stderr."""
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def dec_to_ns(text, unit_ns):
    """Exact decimal string times a unit in ns: dec_to_ns('9.4', 1_000_000) -> 9400000."""
    whole, _, frac = text.strip().partition(".")
    digits = len(frac)
    return (int(whole or "0") * 10**digits + int(frac or "0")) * unit_ns // 10**digits


def wire_pairs(frames, client, server, port):
    """[(SYN frame, SYN-ACK frame or None)] in time order for SYNs client -> server:port.

    The SYN-ACK must come from server:port to the SYN's source port, acknowledge its sequence
    number + 1, and arrive before the next SYN from the same source port."""
    syns = [f for f in frames if f.is_tcp and f.src == client and f.dst == server
            and f.dport == port and f.flags & SYN and not f.flags & ACK]
    pairs = []
    for i, s in enumerate(syns):
        nxt = next((t.ts for t in syns[i + 1:] if t.sport == s.sport), None)
        ans = next((f for f in frames if f.is_tcp and f.src == server and f.sport == port
                    and f.dport == s.sport and f.flags & (SYN | ACK) == SYN | ACK
                    and f.ack == (s.seq + 1) % 2**32 and f.ts >= s.ts
                    and (nxt is None or f.ts < nxt)), None)
        pairs.append((s, ans))
    return pairs


def capture_run(lab, workdir, tag, port, cmd, timeout=120):
    """Run `cmd` in the client namespace under tcpdump; (completed process, frames)."""
    pcap = Path(workdir) / f"{tag}.pcap"
    with Capture(lab.client_ns, pcap, f"tcp port {port}"):
        res = run(["ip", "netns", "exec", lab.client_ns] + cmd, timeout=timeout, cwd="/",
                  env=dict(os.environ, NO_COLOR="1"))
    return res, read_pcap(pcap)


# --- per tool: run it; return (probes the tool reported, [(tool rtt ns, wire rtt ns)], notes) ---


def bench_netlab(lab, workdir, netlab, addr, port, mode):
    """netlab --json tcp handshake in `mode` (syn, connect, tcp_info); match by local port."""
    args = ["--json", "tcp", "handshake", "-c", str(COUNT), "-i", f"{INTERVAL_MS}ms"]
    if mode == "syn":
        args.append("--syn")
    cmd = [netlab] + args + [f"{addr}:{port}"]
    if mode == "tcp_info":
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
               "--inh-caps=-all"] + cmd
    res, frames = capture_run(lab, workdir, f"netlab-{mode}", port, cmd)
    if res.returncode not in (0, 1):
        raise RuntimeError(f"netlab exited {res.returncode}: {res.stderr.strip()[:300]}")
    (Path(workdir) / f"netlab-{mode}.json").write_text(res.stdout)
    doc = json.loads(res.stdout)
    pairs = wire_pairs(frames, lab.client_address(4), addr, port)
    by_flow = {(s.sport, s.seq): (s, a) for s, a in pairs}
    by_port = {}
    for s, a in pairs:
        by_port.setdefault(s.sport, []).append((s, a))
    reported, matched, notes = 0, [], []
    for p in doc["probes"]:
        if p.get("rtt_us") is None or p.get("outcome") != "open":
            continue
        reported += 1
        lport = int(p["local"].rsplit(":", 1)[1])
        isn = (p.get("syn") or {}).get("isn")
        if isn is not None:  # port and ISN: a port may come back within one run
            syn, ans = by_flow.get((lport, isn), (None, None))
        else:  # TCP_INFO mode decodes no SYN: the port alone, when it is unambiguous
            syn, ans = by_port[lport][0] if len(by_port.get(lport, [])) == 1 else (None, None)
        if ans is None:
            continue
        matched.append((round(p["rtt_us"] * 1000), ans.ts - syn.ts))
        # Wire timing reads the same kernel timestamps as tcpdump: any difference is news.
        if mode != "tcp_info" and abs(matched[-1][0] - matched[-1][1]) > 1000:
            notes.append(f"netlab {mode} probe {p['seq']} (port {lport}): rtt_us {p['rtt_us']}"
                         f" vs wire {(ans.ts - syn.ts) / 1000:.3f}; syn_ts_ns {p['syn_ts_ns']} vs"
                         f" {syn.ts}, reply_ts_ns {p['reply_ts_ns']} vs {ans.ts}")
    return reported, matched, notes


HPING_REPLY = re.compile(r"sport=(\d+) flags=(\S+) seq=(\d+) .*?rtt=([\d.]+) ms")


def bench_hping3(lab, workdir, addr, port):
    """hping3 -S: per reply `seq=N ... rtt=X ms` (0.1 ms resolution).

    hping3 sends probe N from source port base + N; base is the source port of its first SYN
    on the wire, so the reply with seq=N is matched to the wire pair of port base + N."""
    cmd = ["hping3", "-S", "-p", str(port), "-c", str(COUNT), "-i", f"u{INTERVAL_MS * 1000}",
           addr]
    res, frames = capture_run(lab, workdir, "hping3", port, cmd)
    pairs = wire_pairs(frames, lab.client_address(4), addr, port)
    if not pairs:
        raise RuntimeError(f"no hping3 SYNs on the wire (exit {res.returncode}: "
                           f"{res.stderr.strip()[:200]})")
    base = pairs[0][0].sport
    by_port = {s.sport: (s, a) for s, a in pairs}
    reported, matched = 0, []
    for m in HPING_REPLY.finditer(res.stdout):
        sport, flags, seq, rtt = m.groups()
        if int(sport) != port or "S" not in flags or "A" not in flags:
            continue
        reported += 1
        syn, ans = by_port.get((base + int(seq)) % 65536, (None, None))
        if ans is not None:
            matched.append((dec_to_ns(rtt, 1_000_000), ans.ts - syn.ts))
    return reported, matched, []


NPING_LINE = re.compile(r"^(SENT|RCVD) \(([\d.]+)s\) TCP \[?([\d.]+):(\d+) > ([\d.]+):(\d+) (\S+)",
                        re.M)


def bench_nping(lab, workdir, addr, port):
    """nping --tcp: per probe, RCVD time minus the SENT time before it (0.1 ms resolution).

    nping prints only a min/max/avg summary with µs precision; per probe it prints the SENT
    and RCVD lines with times since start in 0.1 ms steps, and those are what is used here.
    Every nping probe has the same source port and sequence number, so the k-th SENT line is
    matched to the k-th SYN of that port on the wire."""
    cmd = ["nping", "--tcp", "-p", str(port), "-c", str(COUNT), "--delay", f"{INTERVAL_MS}ms",
           addr]
    res, frames = capture_run(lab, workdir, "nping", port, cmd)
    sent, rtts = [], {}
    for kind, t, src, sport, dst, dport, flags in NPING_LINE.findall(res.stdout):
        t_ns = dec_to_ns(t, 1_000_000_000)
        if kind == "SENT" and dst == addr and int(dport) == port:
            sent.append((t_ns, int(sport)))
        elif kind == "RCVD" and src == addr and int(sport) == port and "SA" in flags and sent:
            k = len(sent) - 1  # the reply answers the latest probe
            if k not in rtts:
                rtts[k] = t_ns - sent[k][0]
    pairs = {}
    for s, a in wire_pairs(frames, lab.client_address(4), addr, port):
        pairs.setdefault(s.sport, []).append((s, a))
    matched = []
    for k, rtt in sorted(rtts.items()):
        wire = pairs.get(sent[k][1], [])
        if k < len(wire) and wire[k][1] is not None:
            matched.append((rtt, wire[k][1].ts - wire[k][0].ts))
    return len(rtts), matched, []


def error_stats(matched):
    """(mean, p50, max) of |tool - wire| in µs, or None when nothing matched."""
    errs = sorted(abs(t - w) / 1000.0 for t, w in matched)
    if not errs:
        return None
    mid = len(errs) // 2
    p50 = errs[mid] if len(errs) % 2 else (errs[mid - 1] + errs[mid]) / 2
    return sum(errs) / len(errs), p50, errs[-1]


def ratio(peer, ref):
    """peer / ref as text ('inf' when netlab's error is 0 at its 1 ns resolution)."""
    if peer is None or ref is None:
        return "-"
    if ref == 0:
        return "inf" if peer else "-"
    return f"{peer / ref:.1f}x"


def print_error_table(rows):
    """rows: [(label, reported, matched, stats, wire ms)], the netlab rows first."""
    print(f"Per-probe RTT error against the wire (tcpdump + tshark), {COUNT} probes at "
          f"{INTERVAL_MS} ms, open IPv4 port")
    head = (f"{'tool':<30} {'reported':>8} {'matched':>7} {'mean|err|':>10} {'p50|err|':>9} "
            f"{'max|err|':>9} {'/netlab raw':>11} {'/netlab tcp_info':>16} {'wire rtt':>9}")
    print(head)
    print(f"{'':<30} {'':>8} {'':>7} {'us':>10} {'us':>9} {'us':>9} {'':>11} {'':>16} {'ms':>9}")
    print("-" * len(head))
    means = {label: st[0] for label, _, _, st, _ in rows if st}
    raw = means.get("netlab --syn")
    tcp_info = means.get("netlab (connect, unprivileged)")
    for label, reported, matched, st, wire_ms in rows:
        if st is None:
            print(f"{label:<30} {reported:>8} {len(matched):>7} {'-':>10} {'-':>9} {'-':>9} "
                  f"{'-':>11} {'-':>16} {'-':>9}")
            continue
        mean, p50, mx = st
        print(f"{label:<30} {reported:>8} {len(matched):>7} {mean:>10.3f} {p50:>9.3f} "
              f"{mx:>9.3f} {ratio(mean, raw):>11} {ratio(mean, tcp_info):>16} {wire_ms:>9.3f}")
    print("error = tool RTT - wire RTT. /netlab raw: ratio to netlab --syn's mean |error| (inf "
          "when that is 0 at its 1 ns resolution);")
    print("/netlab tcp_info: ratio to unprivileged netlab (TCP_INFO, 1 us resolution). hping3 "
          "prints RTTs in 0.1 ms steps; nping prints SENT/RCVD times in 0.1 ms steps.")


def hyperfine_supports_n():
    """Does this hyperfine know -N (--shell=none, hyperfine >= 1.13)?"""
    try:
        res = run(["hyperfine", "--help"], timeout=30)
    except (subprocess.SubprocessError, OSError):
        return False
    return "--shell=none" in res.stdout or re.search(r"^\s*-N\b", res.stdout, re.M) is not None


def bench_startup(netlab, workdir):
    """hyperfine --version of each tool; [(command, mean ms, stddev ms)]."""
    out = Path(workdir) / "hyperfine.json"
    cmds = [f"{netlab} --version", "hping3 --version", "nping --version"]
    cmd = ["hyperfine", "--warmup", "3", "--style", "none", "--export-json", str(out)]
    if hyperfine_supports_n():
        cmd.append("-N")
    res = run(cmd + cmds, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"hyperfine exited {res.returncode}: {res.stderr.strip()[:300]}")
    data = json.loads(out.read_text())
    return [(r["command"], r["mean"] * 1000, r["stddev"] * 1000) for r in data["results"]], \
        "-N" in cmd


def print_startup_table(rows, shell_none):
    """Start-up times, each as a ratio to netlab's."""
    print(f"Start-up time (hyperfine --warmup 3{' -N' if shell_none else ''})")
    head = f"{'command':<50} {'mean ms':>8} {'sd ms':>7} {'vs netlab':>9}"
    print(head)
    print("-" * len(head))
    ref = rows[0][1] if rows else None
    for cmd, mean, sd in rows:
        print(f"{cmd:<50} {mean:>8.2f} {sd:>7.2f} {mean / ref if ref else 0:>8.2f}x")


def main():
    """Run the benchmarks and print the tables."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--netlab", default="target/release/netlab", help="netlab binary")
    ap.add_argument("--keep", action="store_true", help="keep the capture directory")
    opts = ap.parse_args()
    reason = interop.preflight(TOOLS)
    if reason:
        print(f"bench: skipped: {reason}")
        return 0
    netlab = os.path.abspath(opts.netlab)
    workdir = tempfile.mkdtemp(prefix="netlab-bench-")
    lab = Lab(netlab, f"nlb{os.getpid()}", delay="2ms")
    status = 0
    rows, notes = [], []
    try:
        log(f"starting the lab ({lab.prefix}); captures in {workdir}")
        try:
            lab.start()
        except (LabError, OSError) as e:
            print(f"bench: the lab did not start: {e}")
            status = 1
        else:
            addr, port, _ = lab.scenario("open", 4)
            runs = [
                ("netlab --syn", lambda: bench_netlab(lab, workdir, netlab, addr, port, "syn")),
                ("netlab (connect)",
                 lambda: bench_netlab(lab, workdir, netlab, addr, port, "connect")),
                ("netlab (connect, unprivileged)",
                 lambda: bench_netlab(lab, workdir, netlab, addr, port, "tcp_info")),
                ("hping3 -S", lambda: bench_hping3(lab, workdir, addr, port)),
                ("nping --tcp", lambda: bench_nping(lab, workdir, addr, port)),
            ]
            for label, fn in runs:
                log(label)
                try:
                    reported, matched, found = fn()
                except (RuntimeError, ValueError, subprocess.SubprocessError, OSError) as e:
                    print(f"bench: {label}: {e}")
                    reported, matched, found = 0, [], []
                    status = 1
                notes += found
                wire_ms = (sum(w for _, w in matched) / len(matched) / 1e6) if matched else 0.0
                rows.append((label, reported, matched, error_stats(matched), wire_ms))
    finally:
        problems = lab.stop()
        if problems and lab.ready is not None:
            print(f"bench: lab stop: {'; '.join(problems)}")
    if rows:
        print_error_table(rows)
        for note in notes:
            print(f"note: {note}")
        print()
    log("start-up times (hyperfine)")
    try:
        startup, shell_none = bench_startup(netlab, workdir)
        print_startup_table(startup, shell_none)
    except (RuntimeError, ValueError, subprocess.SubprocessError, OSError) as e:
        print(f"bench: hyperfine: {e}")
        status = 1
    if opts.keep or status or notes:
        log(f"captures kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

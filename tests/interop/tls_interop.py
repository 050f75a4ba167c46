#!/usr/bin/env python3
"""TLS interop checks: `netlab tls inspect` against `openssl s_client` on the same servers.

Run as root (`make interop`):

    python3 tests/interop/tls_interop.py --netlab target/release/netlab

Every check prints `PASS name` or `FAIL name: details` (`INFO` lines are informational); the
last line is `N passed, M failed` and the exit status is 1 when anything failed. Without root
or openssl the script prints `tls_interop: skipped: <reason>` and exits 0; without nginx the
nginx servers are left out with a `tls_interop: nginx part skipped: <reason>` line.

The certificates come from `netlab lab --tls --jsonl` (loopback): its first stdout line
(`ready.tls`) names the CA, the OCSP response and, per scenario, the chain (leaf first) and
key files its own rustls servers serve. The very same files are then served by
  - the lab's rustls servers themselves (every scenario);
  - `openssl s_server -www -serverpref` (leaf in -cert, the rest of the chain in
    -cert_chain): valid (TLS 1.3), tls12 (-tls1_2), expired, not_yet_valid, wrong_host,
    incomplete_chain, self_signed, hrr (-groups secp384r1: netlab's first key share is
    X25519, so a HelloRetryRequest), alpn_h2 (-alpn h2,http/1.1), ocsp (-status_file, the
    lab's stapled response), and a TLS 1.0-only server (-tls1, DEFAULT:@SECLEVEL=0);
  - one nginx (run by hand, `daemon off; master_process off;`, everything under a temporary
    directory, ssl_prefer_server_ciphers on): valid (TLS 1.2 + 1.3), ocsp
    (ssl_stapling_file), alpn_h2 (`listen ... ssl http2`, when nginx has http_v2), a legacy
    TLS 1.0-1.2 server and a TLS 1.0-only server (both `ssl_ciphers DEFAULT:@SECLEVEL=0`).
Every server binds 127.0.0.1 on a free port (s_server: port 0 and its ACCEPT line).

For each server (by name tls.lab.test with SNI; valid ones also by address, no SNI):
`netlab --json --timeout 5s tls inspect --ca CA [--sni NAME] [--alpn h2,http/1.1]
127.0.0.1:PORT` against `openssl s_client -connect 127.0.0.1:PORT -CAfile CA -showcerts -msg
-no_ticket [-status] [-alpn ...] (-servername NAME -verify_hostname NAME | -verify_ip
127.0.0.1) </dev/null` (-no_ticket: netlab offers no TLS 1.2 session ticket without --resume,
so neither client gets a TLS 1.2 NewSessionTicket), one check each:
  version   negotiated.version = s_client's protocol ("TLSv1" is TLSv1.0);
  cipher    negotiated.cipher_suite = s_client's cipher mapped to its IANA name with
            `openssl ciphers -stdname` (rustls's TLS13_X is IANA's TLS_X);
  group     negotiated.kx_group = "Server Temp Key" (prime256v1 is secp256r1);
  alpn      negotiated.alpn = "ALPN protocol:" (null: "No ALPN negotiated");
  chain     the CNs of certificates.received = s_client's "Certificate chain" subjects and
            issuers; certificates.verified_chain = the chain s_client verified (its depth
            >= 1 lines), when netlab reports one (when both found a problem and netlab
            reports none, e.g. an expired leaf older than its intermediate, an INFO line);
  verdict   verification.ok = "Verify return code: 0 (ok)"; netlab's problem codes = the
            codes of s_client's "verify error" lines (certificate has expired: expired, is
            not yet valid: not_yet_valid, hostname / IP address mismatch: hostname_mismatch,
            unable to get local issuer certificate / unable to verify the first certificate:
            incomplete_chain, self-signed certificate: self_signed); outcome and exit code
            agree with the verdict (ok: 0, certificate_problems: 1);
  expect    netlab gives what the scenario is for (the lab's `expect`; TLS 1.2 for tls12,
            full_with_hrr and secp384r1 for hrr, h2 for alpn_h2, a good staple for ocsp);
  ocsp      (stapling servers) certificates.ocsp response_status, cert_status, produced_at,
            this_update, next_update = `s_client -status`'s decoded response;
  timeline  (valid, tls12, hrr of every server kind, nginx valid) the server's messages
            (handshake and ChangeCipherSpec records, HelloRetryRequest told from ServerHello
            by its random) up to its Finished, in order, = s_client -msg's `<<<` ones; on
            the client side both send the same number of ClientHellos, ClientHello first and
            Finished last (s_client and rustls are different clients: only the shape).
Legacy servers: rustls speaks TLS 1.2 and 1.3 only. Against the TLS 1.0-1.2 server netlab
must just succeed with TLS 1.2 (the checks above, against a default s_client). Against a TLS
1.0-only server: `refused` netlab's outcome is refused or failed, exit 1 or 2, and a default
s_client fails its handshake too; `server_offers` server_offers.versions = ["TLSv1.0"] and
its TLSv1.0 probe was accepted with the version and suite that `s_client -tls1 -cipher
DEFAULT:@SECLEVEL=0` negotiates (the server's preference decides, so both get one suite).

Only loopback (127.0.0.1) ever sees traffic.
"""

import calendar
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.dont_write_bytecode = True  # keep tests/interop free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from interop import LabError, begin, drain, run, start_jsonl, stop_process  # noqa: E402

LOOPBACK = "127.0.0.1"
ALPN = "h2,http/1.1"
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"
TIMELINE_SCENARIOS = ("valid", "tls12", "hrr")
# ServerHello.random of a HelloRetryRequest: SHA-256("HelloRetryRequest").
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")

# s_client's "verify error:num=N:TEXT" -> netlab's problem code.
OPENSSL_ERRORS = {
    "certificate has expired": "expired",
    "certificate is not yet valid": "not_yet_valid",
    "hostname mismatch": "hostname_mismatch",
    "IP address mismatch": "hostname_mismatch",
    "unable to get local issuer certificate": "incomplete_chain",
    "unable to verify the first certificate": "incomplete_chain",
    "self-signed certificate": "self_signed",
    "self signed certificate": "self_signed",
}
# "Server Temp Key" curve names -> netlab's (rustls's) group names.
OPENSSL_GROUPS = {"X25519": "X25519", "X448": "X448", "prime256v1": "secp256r1",
                  "P-256": "secp256r1", "secp384r1": "secp384r1", "P-384": "secp384r1",
                  "secp521r1": "secp521r1", "P-521": "secp521r1"}
OPENSSL_VERSIONS = {"TLSv1": "TLSv1.0", "TLSv1.1": "TLSv1.1", "TLSv1.2": "TLSv1.2",
                    "TLSv1.3": "TLSv1.3", "SSLv3": "SSLv3"}

MSG_LINE = re.compile(r"^(>>>|<<<) ([^,]+), (\w+) \[length ([0-9a-fA-F]+)\](?:, (.*))?$")
HEX_LINE = re.compile(r"^    ((?:[0-9a-f]{2} ?)+)$")
CN = re.compile(r"CN\s*=\s*([^,/]+)")


def log(msg):
    """Progress to stderr (stdout holds only the check lines)."""
    print(f"tls_interop: {msg}", file=sys.stderr, flush=True)


def info(msg):
    """An informational line (counts for nothing)."""
    print(f"INFO {msg}", flush=True)


def preflight():
    """Why the checks cannot run here (None when they can)."""
    if os.geteuid() != 0:
        return "not root (the interop servers and nginx are run as root)"
    if shutil.which("openssl") is None:
        return "missing openssl"
    return None


def nginx_preflight():
    """(why nginx cannot be used or None, whether it has http2)."""
    exe = shutil.which("nginx")
    if exe is None:
        return "nginx not installed (apt-get install nginx-light)", False
    try:
        res = run([exe, "-V"], timeout=10)
    except (subprocess.SubprocessError, OSError) as e:
        return f"nginx -V: {e}", False
    text = res.stdout + res.stderr
    if "--with-http_ssl_module" not in text:
        return "nginx has no http_ssl_module", False
    return None, "--with-http_v2_module" in text


def free_port():
    """A free loopback TCP port (the kernel's pick; bound again by the server right after)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    """Wait until something accepts on 127.0.0.1:port (False: it did not, or proc exited)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def cn_of(dn):
    """The CN value of a DN as netlab ("O=x, CN=y") or openssl ("O = x, CN = y") writes it."""
    m = CN.search(dn or "")
    return m.group(1).strip() if m else (dn or "").strip()


def iana(name):
    """netlab's (rustls's) suite name in IANA spelling: TLS13_AES_256_GCM_SHA384 is
    TLS_AES_256_GCM_SHA384."""
    if name and name.startswith("TLS13_"):
        return "TLS_" + name[len("TLS13_"):]
    return name


def openssl_cipher_names():
    """{openssl name: IANA name} from `openssl ciphers -stdname`."""
    res = run(["openssl", "ciphers", "-stdname", "ALL:COMPLEMENTOFALL:@SECLEVEL=0"], timeout=30)
    names = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "-":
            names[parts[2]] = parts[0]
    return names


def rfc3339_of_openssl(text):
    """'Dec  1 12:14:28 2026 GMT' -> '2026-12-01T12:14:28Z' (None when not understood)."""
    try:
        t = time.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT")
    except ValueError:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(calendar.timegm(t)))


class RunError(Exception):
    """A command did not produce a usable answer."""


# ---------------------------------------------------------------------------------------------
# netlab and s_client


def netlab_inspect(netlab, ca, port, name=None, alpn=False, timeout=30):
    """`netlab --json --timeout 5s tls inspect ...` -> (exit code, document, argv)."""
    cmd = [netlab, "--json", "--timeout", "5s", "tls", "inspect", "--ca", ca]
    if name:
        cmd += ["--sni", name]
    if alpn:
        cmd += ["--alpn", ALPN]
    cmd.append(f"{LOOPBACK}:{port}")
    res = run(cmd, timeout=timeout, cwd="/", env=dict(os.environ, NO_COLOR="1"))
    if res.returncode not in (0, 1, 2):
        raise RunError(f"`{' '.join(cmd)}` exited {res.returncode}: {res.stderr.strip()[:300]}")
    try:
        return res.returncode, json.loads(res.stdout), cmd
    except json.JSONDecodeError as e:
        raise RunError(f"`{' '.join(cmd)}` exited {res.returncode}, printed no JSON ({e}): "
                       f"{res.stdout[:200]!r} {res.stderr.strip()[:200]!r}") from None


class SClient:
    """What one `openssl s_client` run reported."""

    def __init__(self, cmd, rc, text):
        self.cmd, self.rc, self.text = cmd, rc, text
        self.version = self.cipher = self.group = self.alpn = None
        self.verify_code = None      # (number, text) of "Verify return code"
        self.errors = []             # texts of "verify error:num=N:TEXT" lines
        self.depth = {}              # depth -> subject of the verify callback's lines
        self.chain = []              # [(subject, issuer)] of "Certificate chain"
        self.ocsp = None             # decoded -status response (dict), or "none"
        self.msgs = []               # [(dir, kind, name, bytes)] of -msg
        self._parse()

    @property
    def handshake_ok(self):
        """A cipher was agreed."""
        return self.cipher is not None

    def _parse(self):
        lines = self.text.splitlines()
        in_chain = False
        ocsp = None
        i = 0
        while i < len(lines):
            line = lines[i]
            m = MSG_LINE.match(line)
            if m:
                data = bytearray()
                while i + 1 < len(lines) and HEX_LINE.match(lines[i + 1]):
                    i += 1
                    data += bytes.fromhex(lines[i].replace(" ", ""))
                self.msgs.append(("out" if m.group(1) == ">>>" else "in", m.group(3),
                                  (m.group(5) or "").strip(), bytes(data)))
                i += 1
                continue
            i += 1
            s = line.strip()
            if line.startswith("Certificate chain"):
                in_chain = True
                continue
            if in_chain:
                cm = re.match(r"^\s*(\d+) s:(.*)$", line)
                if cm:
                    self.chain.append([cm.group(2).strip(), None])
                    continue
                im = re.match(r"^\s+i:(.*)$", line)
                if im and self.chain:
                    self.chain[-1][1] = im.group(1).strip()
                    continue
                if line.strip() == "---":
                    in_chain = False
                continue
            m = re.match(r"^depth=(\d+) (.*)$", line)
            if m:
                self.depth.setdefault(int(m.group(1)), m.group(2).strip())
                continue
            m = re.match(r"^verify error:num=(\d+):(.*)$", line)
            if m:
                if m.group(2).strip() not in self.errors:
                    self.errors.append(m.group(2).strip())
                continue
            m = re.match(r"^New, (\S+), Cipher is (\S+)$", line)
            if m and self.version is None:
                if m.group(2) != "(NONE)":
                    self.version = OPENSSL_VERSIONS.get(m.group(1), m.group(1))
                    self.cipher = m.group(2)
                continue
            m = re.match(r"^Server Temp Key: (.*)$", line)
            if m and self.group is None:
                parts = [p.strip() for p in m.group(1).split(",")]
                name = parts[1] if parts[0] in ("ECDH", "DH") and len(parts) > 2 else parts[0]
                self.group = OPENSSL_GROUPS.get(name, name)
                continue
            m = re.match(r"^ALPN protocol: (.*)$", line)
            if m:
                self.alpn = m.group(1).strip()
                continue
            m = re.match(r"^Verify return code: (\d+) \((.*)\)$", s)
            if m and self.verify_code is None:
                self.verify_code = (int(m.group(1)), m.group(2))
                continue
            if s.startswith("OCSP response: no response sent"):
                self.ocsp = "none"
                continue
            if s.startswith("OCSP Response Data:"):
                ocsp = {}
                continue
            if ocsp is not None:
                for key, field in (("OCSP Response Status:", "response_status"),
                                   ("Cert Status:", "cert_status"),
                                   ("Produced At:", "produced_at"),
                                   ("This Update:", "this_update"),
                                   ("Next Update:", "next_update")):
                    if s.startswith(key) and field not in ocsp:
                        value = s[len(key):].strip()
                        if field == "response_status":
                            value = value.split()[0]
                        elif field != "cert_status":
                            value = rfc3339_of_openssl(value) or value
                        ocsp[field] = value
                if s.startswith("======") and len(ocsp) >= 2:
                    self.ocsp, ocsp = ocsp, None

    def problem_codes(self):
        """netlab's problem codes for s_client's verify errors (unknown ones as openssl:TEXT)."""
        out = set()
        for e in self.errors:
            out.add(OPENSSL_ERRORS.get(e, f"openssl:{e}"))
        return out

    def verified_above_leaf(self):
        """CNs of the chain s_client verified, above the leaf (depth 1 up)."""
        return [cn_of(self.depth[d]) for d in sorted(self.depth) if d >= 1]

    def handshake_sequence(self):
        """[(dir, msg)]: handshake messages and ChangeCipherSpec records (told by the record
        header's content type, since TLS 1.3 prints no ChangeCipherSpec line for one it
        receives), HelloRetryRequest told from ServerHello by its random."""
        seq = []
        for d, kind, name, data in self.msgs:
            if kind == "RecordHeader":
                if data[:1] == b"\x14":
                    seq.append((d, "ChangeCipherSpec"))
            elif kind == "Handshake":
                if name == "ServerHello" and data[6:38] == HRR_RANDOM:
                    name = "HelloRetryRequest"
                seq.append((d, name))
        return seq


def s_client(ca, port, name=None, alpn=False, status=False, legacy=False, timeout=30):
    """Run `openssl s_client` once (stdin /dev/null: it closes after the handshake).
    -no_ticket: netlab (rustls, resumption off without --resume) offers no TLS 1.2 session
    ticket either, so a TLS 1.2 server sends neither client a NewSessionTicket."""
    cmd = ["openssl", "s_client", "-connect", f"{LOOPBACK}:{port}", "-CAfile", ca,
           "-showcerts", "-msg", "-no_ticket"]
    if name:
        cmd += ["-servername", name, "-verify_hostname", name]
    else:
        cmd += ["-verify_ip", LOOPBACK]
    if alpn:
        cmd += ["-alpn", ALPN]
    if status:
        cmd.append("-status")
    if legacy:
        cmd += ["-tls1", "-cipher", LEGACY_CIPHERS]
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, errors="replace",
                         timeout=timeout, cwd="/")
    return SClient(cmd, res.returncode, res.stdout)


def netlab_sequence(doc):
    """[(dir, msg)] of netlab's timeline: handshake messages and ChangeCipherSpec."""
    return [(e["dir"], e["msg"]) for e in doc.get("timeline", [])
            if e.get("record") in ("handshake", "change_cipher_spec")]


def server_flight(seq):
    """The server's ("in") messages up to and including its Finished."""
    out = []
    for d, m in seq:
        if d != "in":
            continue
        out.append(m)
        if m == "Finished":
            break
    return out


def client_shape(seq):
    """(number of ClientHellos, first message, last handshake message) of the "out" side."""
    hs = [m for d, m in seq if d == "out" and m != "ChangeCipherSpec"]
    return (sum(1 for m in hs if m == "ClientHello"), hs[0] if hs else None,
            hs[-1] if hs else None)


# ---------------------------------------------------------------------------------------------
# The servers




class TlsLab:
    """`netlab lab --tls` (loopback) in the background; stop() (always) ends it."""

    def __init__(self, netlab, tls_dir, duration="300s"):
        self.cmd = [netlab, "lab", "--tls", "--tls-port-base", "0", "--tls-dir", tls_dir,
                    "--port-base", "0", "--jsonl", "--duration", duration]
        self.proc = None
        self.lines = queue.Queue()
        self.stderr = []
        self.threads = []
        self.ready = None
        self.summary = None

    def start(self, timeout=30.0):
        """Start the lab and wait for its ready line."""
        self.ready = start_jsonl(self, want="tls", timeout=timeout)

    @property
    def tls(self):
        """ready.tls."""
        return self.ready["tls"]

    def scenario(self, name):
        """One of ready.tls.scenarios by name."""
        for s in self.tls["scenarios"]:
            if s["name"] == name:
                return s
        raise KeyError(name)

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
        elif self.summary.get("cleaned_up") is False:
            problems.append("summary says cleaned_up=false")
        return problems


def split_chain(chain_file, workdir, tag):
    """(leaf file, rest-of-chain file or None) of a PEM chain, for s_server's -cert and
    -cert_chain."""
    text = Path(chain_file).read_text()
    pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    if not pems:
        raise LabError(f"no certificate in {chain_file}")
    leaf = Path(workdir) / f"{tag}.leaf.pem"
    leaf.write_text(pems[0] + "\n")
    rest = None
    if len(pems) > 1:
        rest = Path(workdir) / f"{tag}.rest.pem"
        rest.write_text("\n".join(pems[1:]) + "\n")
    return str(leaf), (str(rest) if rest else None)


class SServer:
    """One `openssl s_server -www` on 127.0.0.1, port 0 (its ACCEPT line gives the port)."""

    def __init__(self, tag, scen, workdir, extra):
        leaf, rest = split_chain(scen["chain_file"], workdir, tag)
        self.cmd = ["openssl", "s_server", "-accept", f"{LOOPBACK}:0", "-cert", leaf,
                    "-key", scen["key_file"], "-www", "-serverpref"]
        if rest:
            self.cmd += ["-cert_chain", rest]
        self.cmd += list(extra)
        self.tag = tag
        self.proc = None
        self.port = None
        self.lines = queue.Queue()
        self.out = []

    def start(self, timeout=10.0):
        """Start it and read its port."""
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, cwd="/",
                                     start_new_session=True)
        threading.Thread(target=drain, args=(self.proc.stdout, self.lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            self.out.append(line)
            m = re.match(r"^ACCEPT .*:(\d+)\s*$", line)
            if m:
                self.port = int(m.group(1))
                return
        stop_process(self.proc, timeout=5)
        raise LabError(f"`{' '.join(self.cmd)}` gave no ACCEPT line (exit "
                       f"{self.proc.returncode}): {' '.join(''.join(self.out).split())[:400]}")

    def stop(self):
        """End it (the process we started)."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout=5)


NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    ssl_prefer_server_ciphers on;
{servers}}}
"""

NGINX_SERVER = """    server {{
        listen {addr}:{port} ssl{http2};
        server_name {host};
        ssl_certificate {chain};
        ssl_certificate_key {key};
        ssl_protocols {protocols};
{extra}        location / {{ return 200 "ok\\n"; }}
    }}
"""


class Nginx:
    """One nginx process (master_process off) serving several TLS servers on 127.0.0.1."""

    def __init__(self, workdir, host):
        self.dir = Path(workdir) / "nginx"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.servers = {}   # tag -> port
        self.blocks = []
        self.proc = None

    def add(self, tag, scen, protocols, http2=False, ciphers=None, stapling=None):
        """One server block; returns its port."""
        port = free_port()
        extra = ""
        if ciphers:
            extra += f"        ssl_ciphers {ciphers};\n"
        if stapling:
            extra += f"        ssl_stapling on;\n        ssl_stapling_file {stapling};\n"
        self.blocks.append(NGINX_SERVER.format(
            addr=LOOPBACK, port=port, http2=" http2" if http2 else "", host=self.host,
            chain=scen["chain_file"], key=scen["key_file"], protocols=protocols, extra=extra))
        self.servers[tag] = port
        return port

    def start(self, timeout=10.0):
        """Write the configuration, start nginx and wait for every port."""
        conf = self.dir / "nginx.conf"
        conf.write_text(NGINX_CONF.format(dir=self.dir, servers="".join(self.blocks)))
        self.proc = subprocess.Popen(["nginx", "-p", str(self.dir), "-c", str(conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd="/", start_new_session=True)
        for tag, port in self.servers.items():
            if not wait_port(port, self.proc, timeout):
                err = ""
                try:
                    err = " ".join((self.dir / "error.log").read_text().split()[-60:])
                except OSError:
                    pass
                self.stop()
                raise LabError(f"nginx ({tag}) not listening on {LOOPBACK}:{port} "
                               f"(exit {self.proc.returncode}): {err[-500:]}")

    def warnings(self):
        """[warn] / [emerg] / [alert] lines of its error log."""
        try:
            text = (self.dir / "error.log").read_text()
        except OSError:
            return []
        return [ln for ln in text.splitlines() if re.search(r"\[(warn|emerg|alert|crit)\]", ln)]

    def stop(self):
        """End it (the process we started)."""
        if self.proc is not None:
            stop_process(self.proc, signal.SIGTERM, timeout=10)


# ---------------------------------------------------------------------------------------------
# The comparisons


class Target:
    """One server as the checks see it."""

    def __init__(self, sid, scenario, port, name, expect, alpn=False, ocsp=False,
                 timeline=False, legacy=None, version=None):
        self.sid = sid              # check name prefix: s_server/valid, nginx/ocsp, ...
        self.scenario = scenario    # the lab scenario whose files it serves
        self.port = port
        self.name = name            # SNI and name checked (None: by address)
        self.expect = expect        # "ok" or a problem code
        self.alpn = alpn
        self.ocsp = ocsp
        self.timeline = timeline
        self.legacy = legacy        # None, "tls10_12" or "tls10"
        self.version = version      # the version it must give (None: any)


def check_target(rep, netlab, ca, tgt, ciphers):
    """Every comparison for one server."""
    sid = tgt.sid
    try:
        rc, doc, cmd = netlab_inspect(netlab, ca, tgt.port, tgt.name, tgt.alpn)
        sc = s_client(ca, tgt.port, tgt.name, tgt.alpn, tgt.ocsp)
    except (RunError, subprocess.SubprocessError, OSError) as e:
        rep.check(f"{sid}/run", False, str(e))
        return
    if tgt.legacy == "tls10":
        check_legacy(rep, ca, tgt, rc, doc, sc, ciphers)
        return
    neg = doc.get("negotiated") or {}
    where = f"`netlab ... {' '.join(cmd[4:])}`"
    if doc.get("outcome") not in ("ok", "certificate_problems") or not sc.handshake_ok:
        rep.check(f"{sid}/handshake", False,
                  f"netlab outcome {doc.get('outcome')} (exit {rc}, error "
                  f"{doc.get('error')!r}), s_client "
                  + (f"{sc.version} {sc.cipher}" if sc.handshake_ok else
                     f"failed (exit {sc.rc}): {' '.join(sc.text.split())[-300:]}")
                  + f" [{where}]")
        return

    # version / cipher / group / alpn
    rep.check(f"{sid}/version", neg.get("version") == sc.version,
              f"netlab {neg.get('version')}, s_client {sc.version}")
    want = ciphers.get(sc.cipher, sc.cipher)
    got = iana(neg.get("cipher_suite"))
    rep.check(f"{sid}/cipher", got == want,
              f"netlab {neg.get('cipher_suite')} = {got}, s_client {sc.cipher} = {want}")
    rep.check(f"{sid}/group", neg.get("kx_group") == sc.group,
              f"netlab {neg.get('kx_group')}, s_client Server Temp Key {sc.group}")
    rep.check(f"{sid}/alpn", neg.get("alpn") == sc.alpn,
              f"netlab {neg.get('alpn')}, s_client {sc.alpn or 'no ALPN'}"
              + (f" (both offered {ALPN})" if tgt.alpn else " (none offered)"))

    # chain
    certs = doc.get("certificates") or {}
    got = [(cn_of(c["subject"]), cn_of(c["issuer"])) for c in certs.get("received", [])]
    want = [(cn_of(s), cn_of(i)) for s, i in sc.chain]
    problems = []
    if got != want:
        problems.append(f"received (subject, issuer) CNs netlab {got} vs s_client {want}")
    vchain = [cn_of(s) for s in certs.get("verified_chain", [])]
    ssl_chain = sc.verified_above_leaf()
    if vchain:
        if vchain != ssl_chain:
            problems.append(f"verified chain netlab {vchain} vs s_client depth>=1 {ssl_chain}")
    elif sc.verify_code and sc.verify_code[0] == 0 and ssl_chain:
        problems.append(f"netlab verified no chain, s_client verified {ssl_chain}")
    elif ssl_chain:
        # Both found a problem; netlab reports no chain (it builds one only at a moment when
        # every certificate is valid), s_client still shows the one it built.
        info(f"{sid}/chain: netlab's verified_chain is empty "
             f"({', '.join(sorted(p['code'] for p in doc['verification']['problems']))}); "
             f"s_client built {ssl_chain}")
    rep.problems(f"{sid}/chain", problems,
                 f"received {[s for s, _ in got]}; verified above the leaf: netlab "
                 f"{vchain or '(none)'}, s_client {ssl_chain or '(none)'}")

    # verdict
    ver = doc.get("verification") or {}
    codes = {p["code"] for p in ver.get("problems", [])}
    ssl_ok = sc.verify_code is not None and sc.verify_code[0] == 0
    ssl_codes = sc.problem_codes()
    problems = []
    if ver.get("ok") != ssl_ok:
        problems.append(f"verification.ok {ver.get('ok')}, s_client verify return code "
                        f"{sc.verify_code}")
    if codes != ssl_codes:
        problems.append(f"problem codes netlab {sorted(codes)} vs s_client "
                        f"{sorted(ssl_codes)} ({sc.errors})")
    want_outcome, want_rc = ("ok", 0) if ver.get("ok") else ("certificate_problems", 1)
    if doc.get("outcome") != want_outcome or rc != want_rc:
        problems.append(f"outcome {doc.get('outcome')} exit {rc}, want {want_outcome} exit "
                        f"{want_rc} for verification.ok {ver.get('ok')}")
    rep.problems(f"{sid}/verdict", problems,
                 f"netlab ok={ver.get('ok')} {sorted(codes)} {doc.get('outcome')} exit {rc}; "
                 f"s_client verify return code {sc.verify_code[0]} ({sc.verify_code[1]}), "
                 f"errors {sc.errors}" if sc.verify_code else "")

    # what the scenario is for
    problems = []
    if tgt.expect == "ok":
        if doc.get("outcome") != "ok":
            problems.append(f"outcome {doc.get('outcome')}, want ok ({sorted(codes)})")
    elif tgt.expect not in codes:
        problems.append(f"problem {tgt.expect} missing: {sorted(codes)}")
    if tgt.version and neg.get("version") != tgt.version:
        problems.append(f"version {neg.get('version')}, want {tgt.version}")
    if tgt.scenario == "hrr":
        if neg.get("handshake_kind") != "full_with_hrr" or neg.get("kx_group") != "secp384r1":
            problems.append(f"handshake_kind {neg.get('handshake_kind')} group "
                            f"{neg.get('kx_group')}, want full_with_hrr secp384r1")
    if tgt.alpn and neg.get("alpn") != "h2":
        problems.append(f"alpn {neg.get('alpn')}, want h2")
    if tgt.ocsp and (certs.get("ocsp") or {}).get("cert_status") != "good":
        problems.append(f"ocsp {certs.get('ocsp')}, want a good staple")
    rep.problems(f"{sid}/expect", problems,
                 f"{tgt.expect}" + (f", {neg.get('version')}" if tgt.version else "")
                 + (f", {neg.get('handshake_kind')} {neg.get('kx_group')}"
                    if tgt.scenario == "hrr" else "")
                 + (", h2" if tgt.alpn else "") + (", staple good" if tgt.ocsp else ""))

    if tgt.ocsp:
        check_ocsp(rep, sid, certs.get("ocsp"), sc)
    if tgt.timeline:
        check_timeline(rep, sid, doc, sc)


def check_ocsp(rep, sid, ocsp, sc):
    """netlab's decoded staple = s_client -status's."""
    if not isinstance(sc.ocsp, dict):
        rep.check(f"{sid}/ocsp", False, f"s_client -status: {sc.ocsp or 'no OCSP output'}; "
                  f"netlab {ocsp}")
        return
    if not ocsp:
        rep.check(f"{sid}/ocsp", False, f"netlab: no staple; s_client {sc.ocsp}")
        return
    keys = ("response_status", "cert_status", "produced_at", "this_update", "next_update")
    problems = [f"{k}: netlab {ocsp.get(k)} vs s_client {sc.ocsp.get(k)}" for k in keys
                if ocsp.get(k) != sc.ocsp.get(k)]
    rep.problems(f"{sid}/ocsp", problems,
                 f"{ocsp.get('response_status')}, {ocsp.get('cert_status')}, this_update "
                 f"{ocsp.get('this_update')}, next_update {ocsp.get('next_update')} in both")


def check_timeline(rep, sid, doc, sc):
    """The server's flight in order; the client side's shape."""
    ours, theirs = netlab_sequence(doc), sc.handshake_sequence()
    got, want = server_flight(ours), server_flight(theirs)
    problems = []
    if not want or want[-1] != "Finished":
        problems.append(f"s_client -msg shows no server Finished: {want}")
    if got != want:
        problems.append(f"server messages netlab {got} vs s_client -msg {want}")
    g, w = client_shape(ours), client_shape(theirs)
    if g[0] != w[0] or g[1:] != ("ClientHello", "Finished") or w[1:] != ("ClientHello",
                                                                          "Finished"):
        problems.append(f"client side (ClientHellos, first, last) netlab {g} vs s_client {w}")
    rep.problems(f"{sid}/timeline", problems,
                 f"server: {' '.join(got)}; client: {g[0]} ClientHello ... Finished")


def check_legacy(rep, ca, tgt, rc, doc, sc, ciphers):
    """A TLS 1.0-only server: netlab is refused and tells what the server speaks."""
    sid = tgt.sid
    problems = []
    if doc.get("outcome") not in ("refused", "failed") or rc not in (1, 2):
        problems.append(f"netlab outcome {doc.get('outcome')} exit {rc}, want refused or "
                        f"failed, exit 1 or 2")
    if sc.handshake_ok:
        problems.append(f"a default s_client agreed on {sc.version} {sc.cipher}")
    rep.problems(f"{sid}/refused", problems,
                 f"netlab {doc.get('outcome')} (exit {rc}, alert {doc.get('alert')}); a "
                 f"default s_client fails too (exit {sc.rc})")
    try:
        old = s_client(ca, tgt.port, tgt.name, legacy=True)
    except (subprocess.SubprocessError, OSError) as e:
        rep.check(f"{sid}/server_offers", False, f"s_client -tls1: {e}")
        return
    offers = doc.get("server_offers") or {}
    probes = {p.get("offered"): p for p in offers.get("probes", [])}
    p10 = probes.get("TLSv1.0") or {}
    want_suite = ciphers.get(old.cipher, old.cipher)
    problems = []
    if not old.handshake_ok:
        problems.append(f"s_client -tls1 -cipher {LEGACY_CIPHERS} failed (exit {old.rc}): "
                        f"{' '.join(old.text.split())[-200:]}")
    if offers.get("versions") != ["TLSv1.0"]:
        problems.append(f"server_offers.versions {offers.get('versions')}, want ['TLSv1.0']")
    if p10.get("result") != "accepted" or p10.get("version") != old.version:
        problems.append(f"TLSv1.0 probe {p10.get('result')} {p10.get('version')}, s_client "
                        f"-tls1 {old.version}")
    for p in offers.get("probes", []):
        if p.get("result") == "accepted" and p.get("version") != "TLSv1.0":
            problems.append(f"{p.get('offered')} probe accepted with {p.get('version')}")
    if p10.get("cipher_suite") != want_suite:
        problems.append(f"TLSv1.0 probe suite {p10.get('cipher_suite')}, s_client -tls1 "
                        f"{old.cipher} = {want_suite}")
    rep.problems(f"{sid}/server_offers", problems,
                 f"versions {offers.get('versions')}; TLSv1.0 probe {p10.get('version')} "
                 f"{p10.get('cipher_suite')} = s_client -tls1 {old.version} {old.cipher}; "
                 f"probes " + ", ".join(f"{p.get('offered')}: {p.get('result')} "
                                        f"{p.get('version')}"
                                        for p in offers.get("probes", [])))


# ---------------------------------------------------------------------------------------------


def lab_targets(lab):
    """The lab's own rustls servers."""
    host = lab.tls["host"]
    out = []
    for s in lab.tls["scenarios"]:
        name = s["name"]
        out.append(Target(f"lab/{name}", name, s["port"], host, s["expect"],
                          alpn=name == "alpn_h2", ocsp=name == "ocsp",
                          timeline=name in TIMELINE_SCENARIOS,
                          version="TLSv1.2" if name == "tls12" else None))
    valid = lab.scenario("valid")
    out.append(Target("lab/valid_by_address", "valid", valid["port"], None, "ok"))
    return out


# (tag, scenario, extra s_server arguments, version it must give)
S_SERVERS = [
    ("valid", "valid", [], "TLSv1.3"),
    ("tls12", "tls12", ["-tls1_2"], "TLSv1.2"),
    ("expired", "expired", [], None),
    ("not_yet_valid", "not_yet_valid", [], None),
    ("wrong_host", "wrong_host", [], None),
    ("incomplete_chain", "incomplete_chain", [], None),
    ("self_signed", "self_signed", [], None),
    ("hrr", "hrr", ["-groups", "secp384r1"], "TLSv1.3"),
    ("alpn_h2", "alpn_h2", ["-alpn", ALPN], None),
    ("ocsp", "ocsp", None, None),            # -status_file: the lab's response
    ("tls10", "valid", ["-tls1", "-cipher", LEGACY_CIPHERS], None),
]


def start_s_servers(rep, lab, workdir, servers):
    """Start every s_server; their targets."""
    host = lab.tls["host"]
    targets = []
    for tag, scen_name, extra, version in S_SERVERS:
        scen = lab.scenario(scen_name)
        if extra is None:
            extra = ["-status_file", lab.tls["ocsp_file"]]
        srv = SServer(tag, scen, workdir, extra)
        try:
            srv.start()
        except (LabError, OSError) as e:
            rep.check(f"s_server/{tag}/start", False, str(e))
            continue
        servers.append(srv)
        expect = scen["expect"] if tag != "tls10" else "refused"
        targets.append(Target(f"s_server/{tag}", scen_name, srv.port, host, expect,
                              alpn=tag == "alpn_h2", ocsp=tag == "ocsp",
                              timeline=tag in TIMELINE_SCENARIOS,
                              legacy="tls10" if tag == "tls10" else None, version=version))
        if tag == "valid":
            targets.append(Target("s_server/valid_by_address", "valid", srv.port, None, "ok"))
    log(f"s_server: {len(servers)} servers on " + ", ".join(str(s.port) for s in servers))
    return targets


def start_nginx(rep, lab, workdir, http2):
    """One nginx with every server block; (nginx, targets)."""
    host = lab.tls["host"]
    ng = Nginx(workdir, host)
    plan = []
    valid = lab.scenario("valid")
    plan.append(Target("nginx/valid", "valid", ng.add("valid", valid, "TLSv1.2 TLSv1.3"),
                       host, "ok", timeline=True, version="TLSv1.3"))
    ocsp = lab.scenario("ocsp")
    plan.append(Target("nginx/ocsp", "ocsp", ng.add("ocsp", ocsp, "TLSv1.2 TLSv1.3",
                                                     stapling=lab.tls["ocsp_file"]),
                       host, "ok", ocsp=True))
    if http2:
        h2 = lab.scenario("alpn_h2")
        plan.append(Target("nginx/alpn_h2", "alpn_h2",
                           ng.add("alpn_h2", h2, "TLSv1.2 TLSv1.3", http2=True),
                           host, "ok", alpn=True))
    else:
        print("tls_interop: nginx/alpn_h2 skipped: nginx has no http_v2_module", flush=True)
    plan.append(Target("nginx/legacy_tls10_12", "valid",
                       ng.add("legacy_tls10_12", valid, "TLSv1 TLSv1.1 TLSv1.2",
                              ciphers=LEGACY_CIPHERS),
                       host, "ok", legacy="tls10_12", version="TLSv1.2", timeline=True))
    plan.append(Target("nginx/tls10", "valid",
                       ng.add("tls10", valid, "TLSv1", ciphers=LEGACY_CIPHERS),
                       host, "refused", legacy="tls10"))
    try:
        ng.start()
    except (LabError, OSError) as e:
        rep.check("nginx/start", False, str(e))
        return ng, []
    rep.check("nginx/start", True, f"{len(plan)} servers on "
              + ", ".join(f"{t.sid.split('/')[1]} {t.port}" for t in plan))
    return ng, plan


def main():
    """Run every check; exit 1 if any failed."""
    started = begin("tls_interop", __doc__, preflight, signals=True)
    if isinstance(started, int):
        return started
    opts, netlab, rep = started

    ciphers = openssl_cipher_names()
    nginx_reason, http2 = nginx_preflight()
    workdir = tempfile.mkdtemp(prefix="netlab-tls-interop-")
    lab = TlsLab(netlab, os.path.join(workdir, "lab"))
    servers, ng = [], None
    try:
        log(f"starting the lab; work directory {workdir}")
        try:
            lab.start()
        except (LabError, OSError) as e:
            rep.check("lab/start", False, str(e))
        else:
            rep.check("lab/start", True, f"{len(lab.tls['scenarios'])} TLS scenarios, CA "
                      f"{lab.tls['ca_file']}, host {lab.tls['host']}")
            targets = lab_targets(lab)
            log("starting openssl s_server")
            targets += start_s_servers(rep, lab, workdir, servers)
            if nginx_reason:
                print(f"tls_interop: nginx part skipped: {nginx_reason}", flush=True)
            else:
                log("starting nginx")
                ng, more = start_nginx(rep, lab, workdir, http2)
                targets += more
            for tgt in targets:
                log(f"{tgt.sid} (127.0.0.1:{tgt.port}, "
                    f"{('name ' + tgt.name) if tgt.name else 'by address'})")
                check_target(rep, netlab, lab.tls["ca_file"], tgt, ciphers)
            if ng is not None and ng.proc is not None:
                warns = [w for w in ng.warnings() if "[emerg]" in w or "[alert]" in w
                         or "[crit]" in w or "stapling" in w]
                rep.problems("nginx/error_log", warns, "no emerg / alert / crit or stapling "
                             "line in nginx's error log")
    finally:
        if ng is not None:
            ng.stop()
        for srv in servers:
            srv.stop()
        problems = lab.stop()
        if lab.ready is not None:
            rep.problems("lab/stop", problems, "SIGTERM: summary line")
        if opts.keep or rep.failed:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(f"{rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())

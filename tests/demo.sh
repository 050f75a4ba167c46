#!/usr/bin/env bash
# `make demo`: start `netlab lab`, run the headline commands against it, stop it.
# Traffic stays on loopback and inside the lab's own namespaces.
set -uo pipefail
BIN=${1:-target/release/netlab}
out=$(mktemp -d)
lab_pid=""
cleanup() {
  if [ -n "$lab_pid" ] && kill -0 "$lab_pid" 2>/dev/null; then
    kill -TERM "$lab_pid"; wait "$lab_pid" 2>/dev/null
  fi
  rm -rf "$out"
}
trap cleanup EXIT INT TERM

start_lab() { # args... ; waits for the ready line
  "$BIN" --jsonl lab "$@" --duration 300s >"$out/lab.jsonl" 2>"$out/lab.err" &
  lab_pid=$!
  for _ in $(seq 1 100); do
    [ -s "$out/lab.jsonl" ] && return 0
    kill -0 "$lab_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "demo: the lab did not start: $(cat "$out/lab.err")" >&2; exit 2
}
stop_lab() { kill -TERM "$lab_pid"; wait "$lab_pid" 2>/dev/null; lab_pid=""; tail -n1 "$out/lab.jsonl"; echo; }
run() { echo; echo "\$ $*"; "$@"; echo "(exit $?)"; }

echo "== netlab demo: loopback lab (TCP scenarios and a DNS hierarchy on 127.0.0.2-10, port 5353) =="
start_lab --port-base 18080 --dns --dns-port 5353
run "$BIN" tcp handshake -c 3 -i 200ms 127.0.0.1:18080
run "$BIN" tcp handshake -c 2 -i 200ms 127.0.0.1:18081
run "$BIN" tcp handshake -c 1 --close --hold 100ms 127.0.0.1:18083
echo; echo "\$ $BIN --json tcp handshake -c 3 -i 100ms 127.0.0.1:18080 | jq .summary.rtt_us"
"$BIN" --json tcp handshake -c 3 -i 100ms 127.0.0.1:18080 | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["summary"]["rtt_us"], indent=2))'
run "$BIN" dns trace --root 127.0.0.2 --port 5353 www.example.test A
run "$BIN" -q dns trace --root 127.0.0.2 --port 5353 api.example.test A
run "$BIN" -q dns trace --root 127.0.0.2 --port 5353 txt.big.test TXT
run "$BIN" -q dns trace --root 127.0.0.2 --port 5353 nope.example.test
stop_lab

echo "== netlab demo: TLS lab (a private CA made now; one server per scenario on 127.0.0.1:18443-18452) =="
start_lab --port-base 0 --tls --tls-dir "$out/tls"
CA="$out/tls/ca.pem"
run "$BIN" tls inspect --ca "$CA" --resume 127.0.0.1:18443
run "$BIN" -q tls inspect --ca "$CA" 127.0.0.1:18445
run "$BIN" -q tls inspect --ca "$CA" 127.0.0.1:18448
run "$BIN" -q tls inspect --ca "$CA" 127.0.0.1:18450
run "$BIN" -q tls inspect --ca "$CA" --sni tls.lab.test 127.0.0.1:18452
stop_lab

echo "== netlab demo: a server's system calls (the lab's blocking and epoll echo servers) =="
start_lab --port-base 0 --io-servers --io-port-base 18090
LAB=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["io"]["pid"])' "$out/lab.jsonl")
run "$BIN" syscalls -p "$LAB" --snapshot
( sleep 0.5; for p in 18090 18091; do python3 -c 'import socket,sys; c=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); c.sendall(b"hello\n"); c.recv(16)' $p; done ) &
clients=$!
run "$BIN" syscalls -p "$LAB" -e socket,send,io --duration 1.5s
wait "$clients"
stop_lab

if [ "$(id -u)" != 0 ]; then
  echo "demo: the namespace part (wire delay, filtered and unreachable ports, IPv6) needs root; skipped."
  exit 0
fi
echo "== netlab demo: namespace lab (client ─ 20 ms delay bridge ─ server) =="
start_lab --netns --prefix netlab-demo --delay 20ms
NS="ip netns exec netlab-demo-c"
run $NS "$BIN" tcp handshake -c 3 -i 200ms 198.18.0.2:18080
run $NS "$BIN" tcp handshake -c 1 198.18.0.2:18081
run $NS "$BIN" --timeout 500ms tcp handshake -c 1 198.18.0.2:18084
run $NS "$BIN" tcp handshake -c 1 198.18.0.2:18085
run $NS "$BIN" tcp handshake --syn -c 2 -i 200ms '[2001:2::2]:18080'
run $NS "$BIN" tcp handshake -c 1 --close --hold 200ms 198.18.0.2:18083
run $NS "$BIN" arp who-has -c 3 -i 200ms 198.18.0.2
run $NS "$BIN" arp who-has -c 1 198.18.0.10
run $NS "$BIN" arp probe --interval-min 100ms --interval-max 200ms --wait 300ms 198.18.0.99
run $NS "$BIN" arp scan 198.18.0.0/28
run $NS "$BIN" arp table
stop_lab
echo "== netlab demo: what an application gets (a private namespace: resolv.conf → the lab's resolver) =="
printf 'nameserver 127.0.0.53\nsearch example.test\noptions ndots:1 timeout:1\n' > "$out/resolv.conf"
unshare --net --mount --fork bash -c "
  ip link set lo up; mount --bind '$out/resolv.conf' /etc/resolv.conf
  '$BIN' lab --port-base 0 --dns --dns-port 53 --resolver 127.0.0.53 --duration 30s >/dev/null 2>&1 & lab=\$!
  sleep 0.5
  echo; echo '\$ netlab dns lookup --compare --root 127.0.0.2 --port 53 api.example.test'
  '$BIN' dns lookup --compare --root 127.0.0.2 --port 53 api.example.test; echo \"(exit \$?)\"
  echo; echo '\$ netlab dns trace --dnssec --root 127.0.0.2 --port 53 www.broken.test'
  '$BIN' -q dns trace --dnssec --root 127.0.0.2 --port 53 www.broken.test; echo \"(exit \$?)\"
  kill -TERM \$lab; wait \$lab"
echo "demo: done; the lab removed its namespaces: $(ip netns list | grep -c netlab-demo || true) left"

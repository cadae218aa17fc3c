#!/usr/bin/env bash
# One interleaved round of issue 18's comparison: Parley (SQLite history, the default; and --history off) against
# the C relay (bench/ceiling/relay.c) and NetCoreServer's chat and echo examples, every server started fresh for
# every run and stopped by its PID, the same bench binary for all. One part per call, so each fits in one hold of
# the shared measurement lock (about 80 s each); the order of the servers rotates with the round number.
#
#   bench/peers-round.sh ROUND fanout100|fanout1000|echo
#   for r in 1 2 3; do for part in fanout100 fanout1000 echo; do flock /tmp/parley-measure.lock bench/peers-round.sh $r $part; done; done
#
# PARLEY names the parley binary (default: this checkout's Release build), RELAY the built relay (default
# /tmp/relay), NETCORESERVER the directory where NetCoreServer's examples were built (docs/benchmarks.md, "How to
# reproduce"; default /tmp/ncs), OUT the results directory (one JSON line per run). T is the seconds each run sends
# (default 14); the server's CPU (user + system, /proc/PID/stat) is read over WIN seconds (default 5) starting SKIP
# seconds (default 7) after the bench's first progress line, so a .NET server's tiered JIT, busy for the first
# seconds of a fresh process, is not counted against it. History goes to a fresh temporary file every run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
P=${PARLEY:-$here/src/Parley.Cli/bin/Release/net10.0/parley}
RELAY=${RELAY:-/tmp/relay}
NCS=${NETCORESERVER:-/tmp/ncs}
OUTD=${OUT:-/tmp/peers-round}
T=${T:-14} SKIP=${SKIP:-7} WIN=${WIN:-5}
ROUND=$1 PART=$2
mkdir -p "$OUTD"
[ -p "$OUTD/stdin.fifo" ] || mkfifo "$OUTD/stdin.fifo"   # NetCoreServer's examples stop when stdin ends

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start() { # PEER: sets PORT, PID, TMPD
  PORT=$(free_port); TMPD=$(mktemp -d /tmp/peers-run.XXXXXX)
  case $1 in
    parley-sqlite) "$P" serve --chat "$PORT" --rate-limit 0 --history "$TMPD/history.db" --log-level None >/dev/null 2>&1 & ;;
    parley-off) "$P" serve --chat "$PORT" --rate-limit 0 --history off --log-level None >/dev/null 2>&1 & ;;
    parley-echo) "$P" serve --echo "$PORT" --log-level None >/dev/null 2>&1 & ;;
    c-relay) "$RELAY" "$PORT" >/dev/null 2>&1 & ;;
    ncs-chat) dotnet "$NCS/examples/TcpChatServer/bin/Release/net10.0/TcpChatServer.dll" "$PORT" <>"$OUTD/stdin.fifo" >/dev/null 2>&1 & ;;
    ncs-echo) dotnet "$NCS/performance/TcpEchoServer/bin/Release/net10.0/TcpEchoServer.dll" -p "$PORT" <>"$OUTD/stdin.fifo" >/dev/null 2>&1 & ;;
  esac
  PID=$!
  wait_port "$PORT"
}

run() { # PEER KEY MODE BENCH-ARGS...
  local peer=$1 key=$2 mode=$3; shift 3
  start "$peer"
  local load f t0 t1 w0 w1 b
  load=$(cut -d' ' -f1 /proc/loadavg)
  f=$OUTD/$peer.$key.$ROUND
  timeout 120 "$P" bench "$mode" "127.0.0.1:$PORT" "$@" -t "$T" --json > "$f.json" 2> "$f.err" &
  b=$!
  for _ in $(seq 1 600); do grep -q "^$mode: " "$f.err" 2>/dev/null && break; sleep 0.05; done
  sleep "$SKIP"
  t0=$(cpu_ticks "$PID"); w0=$(date +%s.%N)
  sleep "$WIN"
  t1=$(cpu_ticks "$PID"); w1=$(date +%s.%N)
  wait "$b" || true
  kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$TMPD"
  python3 - "$f.json" "$t0" "$t1" "$w0" "$w1" "$load" "$peer" "$key" "$ROUND" "$(getconf CLK_TCK)" <<'PY'
import json, sys
f = sys.argv[1]; t0, t1, w0, w1, load = map(float, sys.argv[2:7]); tick = float(sys.argv[10])
try:
    r = json.loads(open(f).read().strip().splitlines()[-1])
except Exception:
    r = {}
cpu = (t1 - t0) / tick / (w1 - w0)
r.update(server_cpu=round(cpu, 3), load=load, peer=sys.argv[7], key=sys.argv[8], round=int(sys.argv[9]))
rate = r.get('deliveries_per_s') or r.get('messages_per_s')
r['core_s_per_M'] = round(cpu / rate * 1e6, 4) if rate else None
open(f, 'w').write(json.dumps(r) + '\n')
print(f.split('/')[-1], rate, 'server cpu', round(cpu * 100), '% core-s per M', r['core_s_per_M'], 'lost', r.get('lost'), 'load', load, r.get('error', ''))
PY
}

rotate() { local k=$(( $1 % ($# - 1) )); shift; local a=("$@"); echo "${a[@]:$k} ${a[@]:0:$k}"; }

case $PART in
  fanout100|fanout1000)
    n=${PART#fanout}
    for peer in $(rotate "$ROUND" parley-sqlite parley-off c-relay ncs-chat); do
      proto=line; case $peer in parley-*) proto=parley ;; esac
      run "$peer" "fanout-n$n" fanout -n "$n" -p 10 -s 64 --setup-limit 25 --protocol "$proto"
    done ;;
  echo)
    for ck in "1 1" "100 1" "100 100"; do
      set -- $ck
      for peer in $(rotate "$ROUND" parley-echo ncs-echo); do run "$peer" "echo-c$1-k$2" echo -c "$1" -k "$2" -s 32; done
    done ;;
  *) echo "usage: $0 ROUND fanout100|fanout1000|echo" >&2; exit 2 ;;
esac

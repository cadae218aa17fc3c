#!/usr/bin/env bash
# Runs the same `parley bench` matrix against Parley and its peers, one at a time, all on loopback, and prints
# one table with each peer's figure as a ratio of Parley's. Peers: the tutorials' servers (Python 3 ports in
# ../shared/bench), `ncat --broker`, `ncat --chat`, and in fanout the bare C relay of bench/ceiling (when a C
# compiler is there) as the kernel's floor. Every run is bounded (timeout per run, seconds per run).
# NetCoreServer's chat example and its echo server join the echo and fanout parts when NETCORESERVER names a
# directory where they were built, outside this repository (docs/benchmarks.md says how; its code is never committed).
#
#   bench/compare.sh              the full matrix (about 7.5 minutes on 2 cores)
#   bench/compare.sh --quick      a smaller matrix for a first look
#   bench/compare.sh --only fanout   one part of the matrix: echo, fanout or hold
#   bench/compare.sh --only fanout --rounds 3   every echo and fanout point 3 times, peers interleaved; the median is shown
#   SECONDS_PER_RUN=3 bench/compare.sh
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SEEDS=${SEEDS:-$ROOT/../shared/bench}
T=${SECONDS_PER_RUN:-2}
QUICK=0
ONLY=""
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --only) ONLY=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    *) echo "usage: bench/compare.sh [--quick] [--only echo|fanout|hold] [--rounds N]" >&2; exit 2 ;;
  esac
  shift
done
want() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }
OUT=$(mktemp -d)
trap 'stop_peer; rm -rf "$OUT"' EXIT

if ! command -v ncat >/dev/null; then
  echo "installing ncat (Debian package)..." >&2
  (apt-get install -y -qq ncat >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq ncat >/dev/null 2>&1)) || echo "ncat unavailable: its rows will be empty" >&2
fi
dotnet build src/Parley.Cli -c Release -v quiet -nologo >/dev/null || { echo "build failed" >&2; exit 1; }
PARLEY="$ROOT/src/Parley.Cli/bin/Release/net10.0/parley"
RELAY="$OUT/relay"
CEILING=()
if cc -O2 -o "$RELAY" bench/ceiling/relay.c 2>/dev/null; then CEILING=(c-relay); else echo "no C compiler: the c-relay rows will be empty" >&2; fi

NCS_PEERS_ECHO=() NCS_PEERS_FANOUT=()
if [ -n "${NETCORESERVER:-}" ]; then
  NCS_CHAT="$NETCORESERVER/examples/TcpChatServer/bin/Release/net10.0/TcpChatServer.dll"
  NCS_ECHO="$NETCORESERVER/performance/TcpEchoServer/bin/Release/net10.0/TcpEchoServer.dll"
  [ -f "$NCS_CHAT" ] && NCS_PEERS_FANOUT=(ncs-chat) || echo "no $NCS_CHAT: the ncs-chat rows will be empty" >&2
  [ -f "$NCS_ECHO" ] && NCS_PEERS_ECHO=(ncs-echo) || echo "no $NCS_ECHO: the ncs-echo rows will be empty" >&2
  # Both servers stop when their stdin ends: a FIFO opened read-write stays open and empty for as long as they run.
  mkfifo "$OUT/stdin.fifo"
fi

PEER_PID=""
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
stop_peer() { [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null; PEER_PID=""; }

# start_peer NAME -> sets PORT and PEER_PID
start_peer() {
  PORT=$(free_port)
  case "$1" in
    parley-echo) "$PARLEY" serve --echo "$PORT" --log-level None >/dev/null 2>&1 & ;;
    parley-echo-raw) "$PARLEY" serve --echo "$PORT" --framing raw --log-level None >/dev/null 2>&1 & ;;
    parley-chat) "$PARLEY" serve --chat "$PORT" --rate-limit 0 --log-level None >/dev/null 2>&1 & ;;
    tutorial-greet) python3 "$SEEDS/seed_greet_server.py" 127.0.0.1 "$PORT" >/dev/null 2>&1 & ;;
    tutorial-chat) python3 "$SEEDS/seed_chat_server.py" 127.0.0.1 "$PORT" >/dev/null 2>&1 & ;;
    ncat-broker) ncat -l -k --broker --max-conns 20000 127.0.0.1 "$PORT" >/dev/null 2>&1 & ;;
    ncat-chat) ncat -l -k --chat --max-conns 20000 127.0.0.1 "$PORT" >/dev/null 2>&1 & ;;
    c-relay) "$RELAY" "$PORT" >/dev/null 2>&1 & ;;
    ncs-chat) dotnet "$NCS_CHAT" "$PORT" <>"$OUT/stdin.fifo" >/dev/null 2>&1 & ;;
    ncs-echo) dotnet "$NCS_ECHO" -p "$PORT" <>"$OUT/stdin.fifo" >/dev/null 2>&1 & ;;
  esac
  PEER_PID=$!
  wait_port "$PORT" || { echo "$1 did not start" >&2; return 1; }
}

proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

# cpu_split MODE TIMEOUT_PID PROGRESS: the peer's and the bench's CPU (user + system, % of one core) over
# 0.8 s from the bench's "1s" progress line, which it prints only in the measured phase. Both near 100 % means
# the two cores were shared out; one far below the other means the other side was what ran out.
cpu_split() {
  for _ in $(seq 1 1200); do
    grep -q "^$1: 1s " "$3" 2>/dev/null && break
    kill -0 "$2" 2>/dev/null || return 0
    sleep 0.05
  done
  local child s0 b0 s1 b1 hz
  child=$(pgrep -P "$2" | head -1) && [ -n "$child" ] || return 0
  hz=$(getconf CLK_TCK)
  s0=$(proc_ticks "$PEER_PID"); b0=$(proc_ticks "$child"); sleep 0.8; s1=$(proc_ticks "$PEER_PID"); b1=$(proc_ticks "$child")
  [ -n "$s1" ] && [ -n "$b1" ] && echo "$(( (s1 - s0) * 125 / hz )) $(( (b1 - b0) * 125 / hz ))"
  return 0
}

# bench PEER KEY ARGS... : one bounded run against a fresh peer, JSON saved under KEY and the round, with the
# CPU each side used (echo and fanout) beside it
bench() {
  local peer=$1 key=$2 started=$SECONDS; shift 2
  start_peer "$peer" || return
  local pid_arg=() run="$OUT/$peer.$key.${ROUND:-1}"
  [ "$1" = hold ] && pid_arg=(--server-pid "$PEER_PID")
  timeout 90 "$PARLEY" bench "$1" "127.0.0.1:$PORT" "${@:2}" "${pid_arg[@]}" --json 2>"$run.err" > "$run.json" &
  local running=$!
  [ "$1" = hold ] || cpu_split "$1" "$running" "$run.err" > "$run.cpu"
  wait "$running" || echo "exit code $?" >> "$run.err"
  stop_peer
  echo "$1 $peer $key $((SECONDS - started))" >> "$OUT/timing"
  printf '.' >&2
}

if [ $QUICK = 1 ]; then
  ECHO_C="10 100"; ECHO_K="1 100"; ECHO_S="32"; FAN_N="100 1000"; HOLD_N="1000 5000"
else
  ECHO_C="1 10 100"; ECHO_K="1 100"; ECHO_S="32 1024"; FAN_N="10 100 1000"; HOLD_N="1000 5000 10000 19000"
fi

want echo && for ROUND in $(seq 1 "$ROUNDS"); do for c in $ECHO_C; do for k in $ECHO_K; do for s in $ECHO_S; do
  # Parley's echo frames, checks and answers each line; with --framing raw it answers each read as it came, as
  # the tutorials' server does. Both are measured.
  for peer in parley-echo parley-echo-raw tutorial-greet "${NCS_PEERS_ECHO[@]}"; do bench $peer "echo-c$c-k$k-s$s" echo -c "$c" -k "$k" -s "$s" -t "$T"; done
done; done; done; done; ROUND=1
want fanout && for ROUND in $(seq 1 "$ROUNDS"); do for n in $FAN_N; do for p in 10 all; do
  pub=$([ $p = all ] && echo "$n" || echo "$p")
  # 25 s to seat the members: Parley seats 1,000 in about a second, ncat --broker in about 18 s; a peer that
  # cannot is reported, not waited on longer.
  bench parley-chat "fanout-n$n-p$p" fanout -n "$n" -p "$pub" -s 64 -t "$T" --setup-limit 25 --protocol parley
  for peer in tutorial-chat ncat-broker ncat-chat "${CEILING[@]}" "${NCS_PEERS_FANOUT[@]}"; do
    # Seating N members is the same whatever P is and whichever round: a peer that could not seat them once is
    # not waited on again.
    if failed=$(grep -l '"error"' "$OUT/$peer.fanout-n$n-p10".*.json 2>/dev/null | head -1) && [ -n "$failed" ]; then
      cp "$failed" "$OUT/$peer.fanout-n$n-p$p.$ROUND.json"; continue
    fi
    bench $peer "fanout-n$n-p$p" fanout -n "$n" -p "$pub" -s 64 -t "$T" --setup-limit 25 --protocol line
  done
done; done; done; ROUND=1
want hold && for n in $HOLD_N; do
  bench parley-chat "hold-$n" hold -n "$n" --protocol parley
  # Not the C relay: it holds 19,000 in a few KiB (docs/benchmarks.md), and the 20 s it takes here are needed to
  # keep the matrix inside 10 minutes.
  for peer in tutorial-chat ncat-broker; do bench $peer "hold-$n" hold -n "$n" --protocol line; done
done
echo >&2
# Where the time went, so the matrix can be kept inside its 10 minutes.
awk '{ part[$1] += $4; peer[$2] += $4 } END { for (p in part) printf "%s %d s; ", p, part[p]; printf "\n"; for (p in peer) printf "%s %d s; ", p, peer[p]; printf "\n" }' "$OUT/timing" >&2

# The table: one row per run, Parley's figure, then each peer's figure and its ratio to Parley's.
python3 - "$OUT" <<'PY'
import json, os, sys, glob, statistics
out = sys.argv[1]
runs = {}  # (peer, key) -> results of every round
for path in glob.glob(os.path.join(out, '*.json')):
    peer, key, _round, _ = os.path.basename(path).split('.')
    try:
        with open(path) as f:
            result = json.loads(f.read().strip().splitlines()[-1])
    except Exception:
        result = None
    cpu = path[:-len('json')] + 'cpu'
    if result is not None and os.path.exists(cpu):
        with open(cpu) as f:
            result['cpu'] = f.read().split()
    if result is None:
        # No result line: say what the bench printed last instead, so a failed run explains itself.
        try:
            with open(path[:-len('json')] + 'err') as f:
                result = {'error': 'no result: ' + (f.read().strip().splitlines() or ['nothing on stderr'])[-1]}
        except OSError:
            pass
    runs.setdefault((peer, key), []).append(result)
keys = sorted({key for _, key in runs},
              key=lambda k: (k.split('-')[0], [int(''.join(c for c in part if c.isdigit()) or 0) for part in k.split('-')[1:]]))
def figure(r, kind):
    if r is None: return None
    if kind == 'echo': return r.get('messages_per_s')
    if kind == 'fanout': return r.get('deliveries_per_s')
    if kind == 'hold': return r.get('kept')
def extra(r, kind):
    if r is None: return 'failed'
    if 'error' in r: return r['error']
    cpu = f" cpu {r['cpu'][0]}/{r['cpu'][1]}%" if len(r.get('cpu', [])) == 2 else ''
    # The server's CPU per million lines (core-seconds): unlike the rate, it does not depend on how fast the
    # load generator sharing the machine is.
    rate = figure(r, kind)
    if cpu and rate:
        cpu += f" {float(r['cpu'][0]) / 100 / rate * 1e6:.3f} core-s/M"
    if kind == 'echo': return f"p99 {r.get('latency_p99_us','-')}us" + (f" unanswered {r['unanswered']}" if r.get('unanswered') else '') + cpu
    if kind == 'fanout': return f"lost {r.get('lost','-')} p99 {r.get('latency_p99_us','-')}us" + cpu
    if kind == 'hold': return f"{r.get('server_bytes_per_connection','-')} B/conn"
# Several rounds: the median round's figure and detail, and the range of the figures.
def pick(peer, key, kind):
    results = runs.get((peer, key), [])
    measured = sorted((r for r in results if figure(r, kind) is not None), key=lambda r: figure(r, kind))
    if not measured:
        return (None, extra(results[0] if results else None, kind))
    middle = measured[(len(measured) - 1) // 2]
    spread = f" of {figure(measured[0], kind):.0f}-{figure(measured[-1], kind):.0f}" if len(measured) > 1 else ''
    return (figure(middle, kind), extra(middle, kind) + spread)
peers = {'echo': ('parley-echo', ['parley-echo-raw', 'tutorial-greet', 'ncs-echo']), 'fanout': ('parley-chat', ['tutorial-chat', 'ncat-broker', 'ncat-chat', 'c-relay', 'ncs-chat']), 'hold': ('parley-chat', ['tutorial-chat', 'ncat-broker'])}
unit = {'echo': 'msg/s', 'fanout': 'deliveries/s', 'hold': 'kept'}
print(f"{'run':<22} {'parley':>14} {'':<26} | peers (figure, ratio to parley, detail)")
for key in keys:
    kind = key.split('-')[0]
    ours, others = peers[kind]
    f, detail = pick(ours, key, kind)
    row = f"{key:<22} {('%.0f' % f) if f is not None else 'n/a':>14} {detail:<26} |"
    for peer in others:
        if (peer, key) not in runs: continue
        g, other_detail = pick(peer, key, kind)
        ratio = f"{g / f:.2f}x" if (f and g is not None) else '-'
        row += f" {peer}: {('%.0f' % g) if g is not None else 'n/a'} ({ratio}, {other_detail});"
    print(row)
print(f"\nunits: echo {unit['echo']}, fanout {unit['fanout']}, hold connections kept; ratio = peer / parley")
print("with --rounds: the median round, then 'of' the lowest-highest of the rounds")
print("cpu S/B%: the server's and the bench's CPU in % of one core during the measured phase (the machine has 2 cores)")
print("core-s/M: the server's CPU seconds per million deliveries (fanout) or echoed messages (echo), from S% and the rate")
PY

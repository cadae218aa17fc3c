#!/usr/bin/env bash
# Interleaved A/B(/C...) fan-out rounds: every server started fresh for every run, on a port it chooses, and
# stopped by its PID; one bench binary for all. The machine drifts by a third within an hour, so each round runs
# every server once, in turn, and the figures are read as medians and ranges of rounds, never as single runs.
#
#   bench/ab-fanout.sh ROUNDS "N..." LABEL='serve command' [LABEL='serve command' ...]
#   bench/ab-fanout.sh 3 "100 1000" old='/tmp/old/.../parley serve' main='parley serve --history off'
#
# Each serve command gets "--chat 0 --rate-limit 0" appended, and @TMP@ in it is replaced by a fresh temp
# directory (so history files are never shared between runs). BENCH names the bench binary (default: this
# checkout's Release build); T the seconds per run (default 5). WARM=S first runs an unmeasured fan-out of S
# seconds against each server, so the measured run sees a server past its start-up (tiered JIT compiles for the
# first 10-20 s of load, and does more for a server with more code on its path, as the SQLite store), and the
# server's CPU is then counted over the measured run only. Results: one JSON line per run in $OUT.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$here/src/Parley.Cli/bin/Release/net10.0/parley}
T=${T:-5}
OUT=${OUT:-$(mktemp -d /tmp/ab-fanout.XXXXXX)}
rounds=$1 sizes=$2; shift 2
mkdir -p "$OUT"
echo "results in $OUT" >&2

run_one() { # LABEL COMMAND N ROUND
  local label=$1 cmd=$2 n=$3 round=$4 tmp log pid addr
  tmp=$(mktemp -d /tmp/ab-run.XXXXXX); log=$tmp/serve.log
  : > "$log"  # before the server starts, so the first look for its address cannot race the redirection
  # shellcheck disable=SC2086 # the command is word-split on purpose
  ${cmd//@TMP@/$tmp} --chat 0 --rate-limit 0 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    addr=$(grep -o 'chat listening on [0-9.:]*' "$log" | awk '{print $4}') && [ -n "$addr" ] && break
    sleep 0.1
  done
  if [ -z "${addr:-}" ]; then echo "$label: server did not start" >&2; kill "$pid" 2>/dev/null || true; return; fi
  local cpu0=0
  if [ "${WARM:-0}" != 0 ]; then
    timeout 90 "$BENCH" bench fanout "$addr" -n "$n" -p 10 -s 64 -t "$WARM" --setup-limit 25 --json >/dev/null 2>&1 || true
    cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
  fi
  timeout 90 "$BENCH" bench fanout "$addr" -n "$n" -p 10 -s 64 -t "$T" --setup-limit 25 --json \
    > "$OUT/$label.n$n.$round.json" 2> "$OUT/$label.n$n.$round.err" || true
  # The server's CPU time (user + system, clock ticks) for the whole run: on a shared machine its CPU per delivery
  # drifts far less than its deliveries/s do.
  awk -v from="$cpu0" '{print $14 + $15 - from}' "/proc/$pid/stat" > "$OUT/$label.n$n.$round.cpu" 2>/dev/null || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
  printf '%s n=%s round %s: %s\n' "$label" "$n" "$round" "$(tail -1 "$OUT/$label.n$n.$round.json" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read() or "{}"); print(r.get("deliveries_per_s"), "lost", r.get("lost"), "p99", r.get("latency_p99_us"), r.get("error",""))')" >&2
}

for round in $(seq 1 "$rounds"); do
  for n in $sizes; do
    for spec in "$@"; do run_one "${spec%%=*}" "${spec#*=}" "$n" "$round"; done
  done
done

# Medians and ranges per server and N.
python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
runs = {}
for path in glob.glob(os.path.join(sys.argv[1], '*.json')):
    label, n, _round, _ = os.path.basename(path).rsplit('.', 3)
    try:
        r = json.loads(open(path).read().strip().splitlines()[-1])
    except Exception:
        r = {}
    try:
        r['cpu_s'] = int(open(path[:-len('.json')] + '.cpu').read()) / os.sysconf('SC_CLK_TCK')
    except Exception:
        pass
    runs.setdefault((n, label), []).append(r)
for (n, label), rs in sorted(runs.items()):
    d = sorted(r['deliveries_per_s'] for r in rs if 'deliveries_per_s' in r)
    lost = sum(r.get('lost', 0) for r in rs)
    p99 = sorted(r['latency_p99_us'] for r in rs if 'latency_p99_us' in r)
    # Server CPU per delivery, set-up included, and start-up too unless WARM was set (the same for every server compared).
    cpu = sorted(r['cpu_s'] * 1e9 / r['delivered'] for r in rs if r.get('cpu_s') and r.get('delivered'))
    cpu_text = f"  server CPU median {statistics.median(cpu):.0f} ns/delivery ({cpu[0]:.0f}-{cpu[-1]:.0f})" if cpu else ""
    if d:
        print(f"{n:<6} {label:<12} median {statistics.median(d)/1e6:6.2f} M/s  range {d[0]/1e6:.2f}-{d[-1]/1e6:.2f}  runs {len(d)}/{len(rs)}  lost {lost}  p99 {p99[0]}-{p99[-1]} us{cpu_text}")
    else:
        print(f"{n:<6} {label:<12} no result in {len(rs)} runs")
PY

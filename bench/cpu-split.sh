#!/usr/bin/env bash
# Where the machine's CPU goes in a warm fan-out run (N=100, P=10): the server's CPU a line sent, the part of it that
# is the history writer's thread, and everything else on the machine (the bench client, the kernel's own threads),
# all from /proc over the measured run only. Steadier than deliveries/s on a machine whose speed drifts: the
# writer's own CPU a line moved by a few percent between runs where deliveries/s moved by a fifth.
#
#   bench/cpu-split.sh LABEL PARLEY HISTORY        # HISTORY: off, memory, or a file path; @TMP@ is a fresh temp dir
#   bench/cpu-split.sh sqlite src/Parley.Cli/bin/Release/net10.0/parley @TMP@/h.db
#
# WARM (default 10) and T (default 10) are the seconds of the unmeasured and the measured run. The writer is the
# server's one thread that .NET names ".NET Long Running Task" (the store's writer is its only long-running task).
set -euo pipefail
label=$1 parley=$2 history=$3
tmp=$(mktemp -d /tmp/cpu-split.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
: > "$tmp/log"
"$parley" serve --chat 0 --rate-limit 0 --history "${history//@TMP@/$tmp}" --log-level None > "$tmp/log" 2>&1 &
pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(grep -o 'chat listening on [0-9.:]*' "$tmp/log" | awk '{print $4}') && [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "$label: server did not start" >&2; exit 1; }
timeout 90 "$parley" bench fanout "$addr" -n 100 -p 10 -s 64 -t "${WARM:-10}" --json > /dev/null 2>&1 || true
ticks() { sed 's/.*) //' "$1" | awk '{print $12 + $13}'; }
writer() { local sum=0 t; for t in $(grep -l "Long Runni" /proc/"$pid"/task/*/comm 2>/dev/null); do sum=$((sum + $(ticks "$(dirname "$t")/stat"))); done; echo "$sum"; }
machine() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }
s0=$(ticks /proc/$pid/stat) w0=$(writer) m0=$(machine)
timeout 90 "$parley" bench fanout "$addr" -n 100 -p 10 -s 64 -t "${T:-10}" --json > "$tmp/run.json" 2>/dev/null
s1=$(ticks /proc/$pid/stat) w1=$(writer) m1=$(machine)
python3 - "$label" "$s0" "$s1" "$w0" "$w1" $m0 $m1 "$tmp/run.json" <<'PY'
import json, sys
label = sys.argv[1]
s0, s1, w0, w1, b0, i0, b1, i1 = map(float, sys.argv[2:10])
run = json.loads(open(sys.argv[10]).read().strip().splitlines()[-1])
sent, busy, idle = run['sent'], b1 - b0, i1 - i0
per_line = lambda ticks: ticks / 100 / sent * 1e6  # clock ticks (1/100 s) to µs a line sent
print(f"{label}: {run['deliveries_per_s'] / 1e6:.2f} M deliveries/s, machine {100 * busy / (busy + idle):.0f}% busy; "
      f"µs a line: server {per_line(s1 - s0):.2f} (writer {per_line(w1 - w0):.2f}), rest of the machine {per_line(busy - (s1 - s0)):.2f}")
PY

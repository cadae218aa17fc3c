#!/usr/bin/env bash
# IRC fan-out, Parley's IRC front end against ngIRCd (Debian's `ngircd`), in interleaved rounds: each round starts
# every server fresh, runs `parley bench fanout --protocol irc` against it, and stops it by its PID.
#
#   bench/irc-fanout.sh ROUNDS "N..."          e.g. bench/irc-fanout.sh 3 "100 1000"
#
# Parley runs with its defaults (SQLite history in a fresh temp directory) and --rate-limit 0; ngIRCd with its flood
# penalties off (MaxPenaltyTime = 0) and no per-address connection limit, ident and DNS lookups off. PARLEY names the
# parley binary (default: this checkout's Release build), which is also the bench; T the seconds per run (default 5).
# Results: one JSON line per run in $OUT, then medians and ranges.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
PARLEY=${PARLEY:-$here/src/Parley.Cli/bin/Release/net10.0/parley}
T=${T:-5}
OUT=${OUT:-$(mktemp -d /tmp/irc-fanout.XXXXXX)}
rounds=$1 sizes=$2
command -v ngircd >/dev/null || [ -x /usr/sbin/ngircd ] || { echo "ngircd is not installed (apt-get install -y ngircd)" >&2; exit 2; }
NGIRCD=$(command -v ngircd || echo /usr/sbin/ngircd)
mkdir -p "$OUT"
echo "results in $OUT" >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_parley() { # TMP -> prints "PID ADDR"
  local tmp=$1 log=$1/serve.log addr=
  : > "$log"
  "$PARLEY" serve --irc 0 --chat 0 --rate-limit 0 --history "$tmp/history.db" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    addr=$(grep -o 'irc listening on [0-9.:]*' "$log" | awk '{print $4}') && [ -n "$addr" ] && break
    sleep 0.1
  done
  echo "$pid $addr"
}

start_ngircd() { # TMP -> prints "PID ADDR"
  local tmp=$1 port
  port=$(free_port)
  cat > "$tmp/ngircd.conf" <<CONF
[Global]
Name = irc.bench
Info = parley bench
Listen = 127.0.0.1
Ports = $port
PidFile = $tmp/ngircd.pid
ServerUID = $(id -u)
ServerGID = $(id -g)
MotdPhrase = bench
[Limits]
MaxNickLength = 32
MaxConnections = 0
MaxConnectionsIP = 0
MaxJoins = 0
MaxPenaltyTime = 0
[Options]
PAM = no
Ident = no
DNS = no
CONF
  "$NGIRCD" -n -f "$tmp/ngircd.conf" >"$tmp/serve.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  echo "$pid 127.0.0.1:$port"
}

run_one() { # LABEL N ROUND
  local label=$1 n=$2 round=$3 tmp pid addr
  tmp=$(mktemp -d /tmp/irc-run.XXXXXX)
  read -r pid addr < <("start_${label//-/_}" "$tmp")
  if [ -z "${addr:-}" ]; then echo "$label: server did not start" >&2; kill "$pid" 2>/dev/null || true; return; fi
  timeout 120 "$PARLEY" bench fanout "$addr" --protocol irc -n "$n" -p 10 -s 64 -t "$T" --setup-limit 25 --json \
    > "$OUT/$label.n$n.$round.json" 2> "$OUT/$label.n$n.$round.err" || true
  local cpu
  cpu=$(awk '{print ($14+$15)/100}' "/proc/$pid/stat" 2>/dev/null || echo "?")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$tmp"
  printf '%s n=%s round %s: %s server-cpu %ss\n' "$label" "$n" "$round" "$(tail -1 "$OUT/$label.n$n.$round.json" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read() or "{}"); print(r.get("deliveries_per_s"), "lost", r.get("lost"), "p99", r.get("latency_p99_us"), r.get("error",""))')" "$cpu" >&2
}

for round in $(seq 1 "$rounds"); do
  for n in $sizes; do
    for label in parley ngircd; do run_one "$label" "$n" "$round"; done
  done
done

python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
runs = {}
for path in glob.glob(os.path.join(sys.argv[1], '*.json')):
    label, n, rnd, _ = os.path.basename(path).rsplit('.', 3)
    try:
        r = json.loads(open(path).read().strip().splitlines()[-1])
    except Exception:
        r = {}
    runs.setdefault(n, {}).setdefault(rnd, {})[label] = r.get('deliveries_per_s')
for n, rounds in sorted(runs.items()):
    for label in ('parley', 'ngircd'):
        d = sorted(v[label] for v in rounds.values() if v.get(label))
        if d:
            print(f"{n:<6} {label:<7} median {statistics.median(d)/1e6:6.2f} M/s  range {d[0]/1e6:.2f}-{d[-1]/1e6:.2f}  runs {len(d)}")
    ratios = sorted(v['parley'] / v['ngircd'] for v in rounds.values() if v.get('parley') and v.get('ngircd'))
    if ratios:
        print(f"{n:<6} parley/ngircd per round: {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})")
PY

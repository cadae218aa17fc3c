#!/usr/bin/env bash
# Side-by-side fan-out figures: one node, two nodes on one Redis, Redis pub/sub alone; then low-load latency.
# Needs redis-server, redis-cli and redis-benchmark (Debian: redis-server, redis-tools); run after dotnet build -c Release.
set -u
cd "$(dirname "$0")/.." && P=$PWD/src/Parley.Cli/bin/Release/net10.0/parley.dll; cd "$(mktemp -d)"
RPORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no >/dev/null 2>&1 & RPID=$!
sleep 0.5
addr() { grep -m1 -o 'chat listening on [0-9.:]*' "$1" | awk '{print $4}'; }
dotnet $P serve --chat 0 --rate-limit 0 --history memory --log-level warning > one.out 2>one.err & ONE=$!
dotnet $P serve --chat 0 --rate-limit 0 --redis 127.0.0.1:$RPORT --log-level warning > n1.out 2>n1.err & N1=$!
dotnet $P serve --chat 0 --rate-limit 0 --redis 127.0.0.1:$RPORT --log-level warning > n2.out 2>n2.err & N2=$!
for f in one.out n1.out n2.out; do for i in $(seq 50); do [ -n "$(addr $f)" ] && break; sleep 0.2; done; done
A=$(addr one.out); B1=$(addr n1.out); B2=$(addr n2.out)
echo "one=$A nodes=$B1 $B2 redis=$RPORT"
for round in 1 2; do
  echo "## round $round"
  dotnet $P bench fanout $A -n 50 -t 5 --json 2>/dev/null
  dotnet $P bench fanout $B1 $B2 -n 50 -t 5 --json 2>/dev/null
done
echo "## low load, one line per 10 ms from one publisher to one member"
dotnet $P bench fanout $A -n 2 -p 1 --rate 100 -t 10 --json 2>/dev/null
dotnet $P bench fanout $B1 $B2 -n 2 -p 1 --rate 100 -t 10 --json 2>/dev/null
echo "## redis pub/sub alone: 2 subscribers (as 2 nodes), 50 publishers"
redis-cli -p $RPORT subscribe rb > sub1.out & S1=$!
redis-cli -p $RPORT subscribe rb > sub2.out & S2=$!
sleep 0.3
redis-benchmark -p $RPORT -c 50 -n 300000 PUBLISH rb "$(head -c 60 /dev/zero | tr '\0' x)" 2>&1 | grep -E "requests per second|latency summary|avg|^ +[0-9]" | tail -4
echo "## redis pub/sub, 1 publisher, 1 subscriber, low load"
redis-benchmark -p $RPORT -c 1 -n 2000 PUBLISH rb hello 2>&1 | grep -E "requests per second|avg|^ +[0-9]" | tail -3
kill $S1 $S2 $ONE $N1 $N2; wait $ONE $N1 $N2 2>/dev/null; kill $RPID

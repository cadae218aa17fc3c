#!/usr/bin/env python3
"""Interleaved echo A/B rounds, the echo counterpart of bench/ab-fanout.sh.

  bench/ab-echo.py ROUNDS "C K;C K..." LABEL='serve command' [LABEL='serve command' ...]
  bench/ab-echo.py 3 "1 1;100 1;100 100" main='parley serve' x='DOTNET_X=1 /tmp/x/parley serve' ncs=ncs

Every run starts its server fresh on a free port (the command gets "--echo PORT --log-level None" appended; leading
NAME=VALUE words go to its environment), runs `parley bench echo -s 32 -t T` against it and stops it by its PID.
Each round runs every label once per point, in an order rotated by one each round, so drift over the hour falls on
every label alike: read per-round ratios, never single runs. The label `ncs` runs NetCoreServer's echo server from
$NETCORESERVER (built as in docs/benchmarks.md). The server's CPU and context switches are sampled from /proc over
the middle of each run. BENCH names the bench binary (default: this checkout's Release build); T the seconds per
run (default 4); OUT the results directory (one JSON line per run in results.jsonl).
"""
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.environ.get('BENCH', os.path.join(HERE, 'src/Parley.Cli/bin/Release/net10.0/parley'))
SECONDS = int(os.environ.get('T', '4'))
OUT = os.environ.get('OUT') or tempfile.mkdtemp(prefix='ab-echo.')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(200):
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def cpu_seconds(pid):
    fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def context_switches(pid):
    total = 0
    for task in os.listdir(f'/proc/{pid}/task'):
        try:
            for line in open(f'/proc/{pid}/task/{task}/status'):
                if 'ctxt_switches' in line:
                    total += int(line.split()[1])
        except OSError:
            pass  # the thread ended meanwhile
    return total


def start(command, port):
    env = dict(os.environ)
    if command == 'ncs':
        dll = os.path.join(os.environ['NETCORESERVER'], 'performance/TcpEchoServer/bin/Release/net10.0/TcpEchoServer.dll')
        # It stops when its stdin ends, so it gets a pipe that stays open until it is killed.
        return subprocess.Popen(['dotnet', dll, '-p', str(port)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    words = shlex.split(command)
    while words and '=' in words[0] and not words[0].startswith('/'):
        name, value = words.pop(0).split('=', 1)
        env[name] = value
    return subprocess.Popen(words + ['--echo', str(port), '--log-level', 'None'], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(label, command, connections, in_flight, round_number):
    port = free_port()
    server = start(command, port)
    try:
        if not wait_port(port):
            return {'label': label, 'error': 'server did not start'}
        bench = subprocess.Popen(['timeout', str(SECONDS + 60), BENCH, 'bench', 'echo', f'127.0.0.1:{port}', '-c', str(connections),
                                  '-k', str(in_flight), '-s', '32', '-t', str(SECONDS), '--json'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(SECONDS / 2 + 0.5)  # past connecting and the bench's warm-up
        cpu0, switches0, wall0 = cpu_seconds(server.pid), context_switches(server.pid), time.time()
        time.sleep(SECONDS / 2 - 0.6)
        cpu1, switches1, wall1 = cpu_seconds(server.pid), context_switches(server.pid), time.time()
        output, _ = bench.communicate()
    finally:
        server.kill()
        server.wait()
    try:
        result = json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {'error': output[-200:]}
    result.update(label=label, round=round_number, c=connections, k=in_flight, load=open('/proc/loadavg').read().split()[0],
                  server_cpu=round((cpu1 - cpu0) / (wall1 - wall0), 3), server_switches_per_s=round((switches1 - switches0) / (wall1 - wall0)))
    return result


def main():
    rounds, points = int(sys.argv[1]), [tuple(map(int, p.split())) for p in sys.argv[2].split(';')]
    labels = [spec.split('=', 1) for spec in sys.argv[3:]]
    os.makedirs(OUT, exist_ok=True)
    print(f'results in {OUT}', file=sys.stderr)
    results = []
    for round_number in range(rounds):
        for connections, in_flight in points:
            shift = round_number % len(labels)
            for label, command in labels[shift:] + labels[:shift]:
                r = run(label, command, connections, in_flight, round_number)
                results.append(r)
                with open(os.path.join(OUT, 'results.jsonl'), 'a') as f:
                    f.write(json.dumps(r) + '\n')
                rate = r.get('messages_per_s')
                per = f"cpu {r['server_cpu'] * 100:.0f}%, {r['server_cpu'] / rate * 1e6:.1f} us/msg, {r['server_switches_per_s'] / rate:.2f} switches/msg" if rate else r.get('error', '')
                print(f"round {round_number + 1} C={connections} K={in_flight} {label}: {rate} msgs/s p50 {r.get('latency_p50_us')} us, {per}, load {r['load']}", file=sys.stderr)
    first = labels[0][0]
    for connections, in_flight in points:
        for label, _ in labels:
            mine = {r['round']: r['messages_per_s'] for r in results if r.get('messages_per_s') and r['label'] == label and (r['c'], r['k']) == (connections, in_flight)}
            base = {r['round']: r['messages_per_s'] for r in results if r.get('messages_per_s') and r['label'] == first and (r['c'], r['k']) == (connections, in_flight)}
            if not mine:
                continue
            ratios = sorted(mine[n] / base[n] for n in mine if n in base)
            rates = sorted(mine.values())
            ratio_text = f'  / {first} per round {statistics.median(ratios):.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})' if ratios and label != first else ''
            print(f'C={connections} K={in_flight} {label:<10} median {statistics.median(rates):,.0f} msgs/s ({rates[0]:,.0f}-{rates[-1]:,.0f}), {len(rates)} runs{ratio_text}')


if __name__ == '__main__':
    main()

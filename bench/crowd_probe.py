#!/usr/bin/env python3
"""An ordinary pair talking in #lobby while a crowd of silent connections arrives at once (issue 11, target 2).

    bench/crowd_probe.py HOST:PORT SERVER_PID [--crowd 5000] [--seconds 10] [--parley PATH]

Two members take names in the lobby and send each other a probe line every 100 ms for --seconds; half a second
in, `parley bench hold -n CROWD --step CROWD` opens the crowd in one step (they stay in the lobby, silent) and
keeps it until the probes end. Prints one JSON line: probe latency (p50, p95, max), probes lost, the server's
resident memory before, at its peak (sampled every 100 ms) and at the end, and the hold bench's own report.
Bounded: the hold bench runs under a timeout, and stragglers are waited for at most 5 s.
"""
import argparse, asyncio, json, os, random, subprocess, sys, time


def rss_kib(pid):
    with open(f'/proc/{pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return None


async def member(host, port, name):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f'/nick {name}\n'.encode())
    await writer.drain()
    while True:  # our own join notice says the name was taken
        line = (await asyncio.wait_for(reader.readline(), 10)).decode()
        if f'{name} joined' in line or f'is now known as {name}' in line:
            return reader, writer


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('target')
    ap.add_argument('pid', type=int)
    ap.add_argument('--crowd', type=int, default=5000)
    ap.add_argument('--seconds', type=float, default=10)
    ap.add_argument('--parley', default=os.path.join(os.path.dirname(__file__), '..', 'src/Parley.Cli/bin/Release/net10.0/parley'))
    args = ap.parse_args()
    host, port = args.target.rsplit(':', 1)
    tag = random.randrange(10**6)
    a = await member(host, port, f'probeA{tag}')
    b = await member(host, port, f'probeB{tag}')
    sent, latencies = {}, {}
    rss_before = rss_kib(args.pid)
    peak = rss_before

    async def receive(reader):
        while True:
            line = await reader.readline()
            if not line:
                return
            parts = line.decode(errors='replace').split()
            if len(parts) >= 3 and parts[1] == f'probe{tag}' and parts[2] in sent:
                latencies.setdefault(parts[2], (time.monotonic() - sent[parts[2]]) * 1000)

    async def send(writer, side):
        for k in range(int(args.seconds * 10)):
            key = f'{side}{k}'
            sent[key] = time.monotonic()
            writer.write(f'probe{tag} {key}\n'.encode())
            await writer.drain()
            await asyncio.sleep(0.1)

    async def sample():
        nonlocal peak
        while True:
            peak = max(peak, rss_kib(args.pid) or 0)
            await asyncio.sleep(0.1)

    receivers = [asyncio.create_task(receive(a[0])), asyncio.create_task(receive(b[0]))]
    sampler = asyncio.create_task(sample())
    senders = asyncio.gather(send(a[1], 'a'), send(b[1], 'b'))
    await asyncio.sleep(0.5)
    hold = await asyncio.create_subprocess_exec(
        'timeout', str(int(args.seconds) + 60), args.parley, 'bench', 'hold', args.target, '-n', str(args.crowd),
        '--step', str(args.crowd), '--keep', str(max(1, args.seconds - 2)), '--json',
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    await senders
    deadline = time.monotonic() + 5
    while len(latencies) < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    rss_end = rss_kib(args.pid)
    out, _ = await hold.communicate()
    sampler.cancel()
    for r in receivers:
        r.cancel()
    for _, w in (a, b):
        w.close()
    values = sorted(latencies.values())
    pct = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 1) if values else None
    report = {
        'crowd': args.crowd, 'probes_sent': len(sent), 'probes_lost': len(sent) - len(latencies),
        'latency_p50_ms': pct(0.50), 'latency_p95_ms': pct(0.95), 'latency_max_ms': round(values[-1], 1) if values else None,
        'server_rss_before_kib': rss_before, 'server_rss_peak_kib': peak, 'server_rss_end_kib': rss_end,
        'server_rss_peak_growth_mib': round((peak - rss_before) / 1024, 1),
        'hold': json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else None,
    }
    print(json.dumps(report))


asyncio.run(main())

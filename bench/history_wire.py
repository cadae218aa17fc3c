#!/usr/bin/env python3
"""Join replay and /history paging as a client sees them, over the wire (issue 12 targets).

    bench/history_wire.py HOST:PORT [--lines 20000] [--reads 100]

Fills room #histbench with --lines lines at --pace lines/s (in chunks of 2,000, each followed by /ping; the
relay never waits on the disk, so a fill faster than the history writer loses lines from history: the server
logs "History queue full"), waits 3 s for the writer, then alternates: `/join histbench` (20 lines replayed) against `/join` of a
room never used (nothing to replay), and `/history before ID 500` at random ids; each timed from the send to the
`* pong` that follows it, which the server sends once everything before it was handled. Prints one JSON line
with p50/p95/max of each, in ms. Bounded: every read has a 10 s timeout.
"""
import argparse, asyncio, json, random, time


async def until_pong(reader, token):
    # Reads what has arrived in chunks, not line by line: a readline under asyncio.wait_for per line cost this client
    # tens of microseconds a line, which was most of what a 500-line page measured.
    count, pong, buffered = 0, f'* pong {token}\n'.encode(), b''
    while True:
        chunk = await asyncio.wait_for(reader.read(1 << 16), 10)
        if not chunk:
            raise ConnectionError('closed')
        buffered += chunk
        *lines, buffered = buffered.split(b'\n')
        for line in lines:
            if line + b'\n' == pong:
                return count
            count += 1


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('target')
    ap.add_argument('--lines', type=int, default=20000)
    ap.add_argument('--reads', type=int, default=100)
    ap.add_argument('--pace', type=float, default=15000)
    args = ap.parse_args()
    host, port = args.target.rsplit(':', 1)
    reader, writer = await asyncio.open_connection(host, port)
    tag = random.randrange(10**6)
    writer.write(f'/nick hist{tag}\n/join histbench\n/ping start\n'.encode())
    await until_pong(reader, 'start')
    for start in range(0, args.lines, 2000):
        chunk = ''.join(f'line {i}: the quick brown fox jumps over the lazy dog\n' for i in range(start, min(args.lines, start + 2000)))
        writer.write((chunk + f'/ping fill{start}\n').encode())
        await writer.drain()
        await until_pong(reader, f'fill{start}')
        await asyncio.sleep(2000 / args.pace)
    await asyncio.sleep(3)

    async def timed(command, token):
        t = time.perf_counter()
        writer.write(f'{command}\n/ping {token}\n'.encode())
        await writer.drain()
        lines = await until_pong(reader, token)
        return (time.perf_counter() - t) * 1000, lines

    join_hist, join_empty, before, before_lines = [], [], [], []
    for k in range(args.reads):
        ms, _ = await timed(f'/join empty{tag}x{k}', f'e{k}'); join_empty.append(ms)
        ms, _ = await timed('/join histbench', f'j{k}'); join_hist.append(ms)
        ms, n = await timed(f'/history before {random.randrange(1000, args.lines)} 500', f'b{k}')
        before.append(ms); before_lines.append(n)
    writer.close()

    def stats(v):
        v = sorted(v)
        return {'p50': round(v[len(v) // 2], 2), 'p95': round(v[int(len(v) * 0.95)], 2), 'max': round(v[-1], 2)}
    print(json.dumps({'lines_sent': args.lines, 'reads': args.reads, 'join_with_replay_ms': stats(join_hist),
                      'join_empty_room_ms': stats(join_empty), 'history_before_500_ms': stats(before),
                      'history_before_lines_min': min(before_lines)}))


asyncio.run(main())

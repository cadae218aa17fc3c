#!/usr/bin/env python3
"""Time from exec to the first `listening` line of `parley serve`, as a service manager would see it.

usage: bench/startup.py RUNS COMMAND...   e.g. bench/startup.py 9 out/aot/parley
Each run starts `COMMAND serve --chat 0`, reads stdout until the listening line, then stops it with SIGTERM.
"""
import os
import signal
import statistics
import subprocess
import sys
import time

runs = int(sys.argv[1])
command = sys.argv[2:]
times = []
for _ in range(runs):
    start = time.perf_counter()
    server = subprocess.Popen(command + ["serve", "--chat", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = server.stdout.readline()
    times.append((time.perf_counter() - start) * 1000)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=10)
    if b"listening" not in line:
        sys.exit(f"no listening line: {line!r}")
times.sort()
print(f"median {statistics.median(times):.0f} ms, min {times[0]:.0f}, max {times[-1]:.0f} ({runs} runs: {' '.join(f'{t:.0f}' for t in times)})")

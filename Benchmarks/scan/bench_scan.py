#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""memtable scan against just reading the same maps and pagemaps (reader.c),
side by side: the whole machine, and one process with 1, 2 and 4 GiB touched,
normal and transparent huge pages. Medians of interleaved runs; the scan's
maximum RSS against 16 MiB + 12 bytes per distinct page. Each run goes through
RUNNER (runner.c), which times it and reads its maximum RSS: a child forked
from this Python process would start with Python's high-water mark.

    bench_scan.py MEMTABLE READER TOUCHER RUNNER [RUNS]
"""
import json
import statistics
import subprocess
import sys

memtable, reader, toucher, runner = sys.argv[1:5]
runs = int(sys.argv[5]) if len(sys.argv) > 5 else 5


def timed(cmd):
    """Seconds, maximum RSS (bytes) and CPU seconds (all threads) of one run of cmd."""
    p = subprocess.run([runner] + cmd, stdout=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"bench-scan: {' '.join(cmd)} failed")
    ns, kib, cpu = p.stdout.split()
    return int(ns) / 1e9, int(kib) * 1024, int(cpu) / 1e9


def case(name, pids):
    args = [a for pid in pids for a in ("--pid", str(pid))]
    scan_t, read_t, rss, cpu = [], [], [], []
    pages = 0
    for _ in range(runs):
        t, _, _ = timed([reader] + [str(p) for p in pids])
        read_t.append(t)
        t, m, c = timed([memtable, "scan", "--json"] + args)
        scan_t.append(t)
        rss.append(m)
        cpu.append(c)
    pages = json.loads(subprocess.run([memtable, "scan", "--json"] + args, stdout=subprocess.PIPE,
                                      check=True).stdout)["pages"]
    s, r = statistics.median(scan_t), statistics.median(read_t)
    budget = 16 * 2**20 + 12 * pages
    print(f"{name:28} {pages:>9} {r * 1e3:>10.1f} {s * 1e3:>10.1f} {s / r:>7.2f}x"
          f" {statistics.median(cpu) * 1e3:>8.1f} {max(rss) / 2**20:>8.1f} {budget / 2**20:>8.1f}")


print(f"memtable scan against reading the same maps and pagemaps: medians of {runs} interleaved runs")
print(f"{'case':28} {'pages':>9} {'read ms':>10} {'scan ms':>10} {'ratio':>8} {'scan cpu':>8} {'RSS MiB':>8} {'budget':>8}")
case("whole machine", [])
for size in (1024, 2048, 4096):
    for mode in ("normal", "thp"):
        p = subprocess.Popen([toucher, str(size), mode], stdout=subprocess.PIPE)
        pid = int(p.stdout.readline())
        try:
            case(f"{size // 1024} GiB touched, {mode}", [pid])
        finally:
            p.kill()
            p.wait()

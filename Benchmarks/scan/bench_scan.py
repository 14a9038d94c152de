#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""memtable scan against just reading the same maps and pagemaps (reader.c),
side by side: the whole machine, and one process with 1, 2 and 4 GiB touched,
normal and transparent huge pages. Medians of interleaved runs; the scan's
maximum RSS against 16 MiB + 12 bytes per distinct page. Each run goes through
RUNNER (runner.c), which times it and reads its maximum RSS: a child forked
from this Python process would start with Python's high-water mark.

TABLE (table.c) runs beside them: the reader plus the memory table a plain C
program would keep of what it reads, walked once, with nothing of the scan's
semantics and no report. Its ratio to the reader ("table/rd") is what keeping
the counters in the RFC's table costs; the scan's ratio to it ("scan/tbl") is
what the rest of memtable scan costs (below 1 where the scan's range stores and
second thread beat the program's page-at-a-time stores).

    bench_scan.py MEMTABLE READER TOUCHER RUNNER TABLE [RUNS]
"""
import json
import statistics
import subprocess
import sys

memtable, reader, toucher, runner, table = sys.argv[1:6]
runs = int(sys.argv[6]) if len(sys.argv) > 6 else 5


def timed(cmd):
    """Seconds, maximum RSS (bytes) and CPU seconds (all threads) of one run of cmd."""
    p = subprocess.run([runner] + cmd, stdout=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit(f"bench-scan: {' '.join(cmd)} failed")
    ns, kib, cpu = p.stdout.split()
    return int(ns) / 1e9, int(kib) * 1024, int(cpu) / 1e9


def case(name, pids):
    args = [a for pid in pids for a in ("--pid", str(pid))]
    scan_t, read_t, table_t, rss, cpu = [], [], [], [], []
    pages = 0
    for _ in range(runs):
        t, _, _ = timed([reader] + [str(p) for p in pids])
        read_t.append(t)
        t, _, _ = timed([table] + [str(p) for p in pids])
        table_t.append(t)
        t, m, c = timed([memtable, "scan", "--json"] + args)
        scan_t.append(t)
        rss.append(m)
        cpu.append(c)
    pages = json.loads(subprocess.run([memtable, "scan", "--json"] + args, stdout=subprocess.PIPE,
                                      check=True).stdout)["pages"]
    s, r, tb = statistics.median(scan_t), statistics.median(read_t), statistics.median(table_t)
    budget = 16 * 2**20 + 12 * pages
    print(f"{name:28} {pages:>9} {r * 1e3:>8.1f} {tb * 1e3:>8.1f} {s * 1e3:>8.1f} {s / r:>7.2f}x"
          f" {tb / r:>7.2f}x {s / tb:>7.2f}x"
          f" {statistics.median(cpu) * 1e3:>8.1f} {max(rss) / 2**20:>8.1f} {budget / 2**20:>8.1f}")


print(f"memtable scan against reading the same maps and pagemaps: medians of {runs} interleaved runs")
print(f"{'case':28} {'pages':>9} {'read ms':>8} {'table ms':>8} {'scan ms':>8} {'ratio':>8}"
      f" {'table/rd':>8} {'scan/tbl':>8} {'scan cpu':>8} {'RSS MiB':>8} {'budget':>8}")
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

# SPDX-License-Identifier: GPL-2.0-only
#
# Included by the top Makefile: the benchmarks.

# ------------------------------------------------------------- benchmarks ---
#
# Timing lives here, never in tests. make bench installs JudyL (a benchmark-
# only dependency, through make deps) and runs the C benchmark; make bench-swift the Swift one
# (a package of its own, so that the library keeps no dependencies).

BENCH_N    ?= 1048576
BENCH_RUNS ?= 5

$(B)/bench: Benchmarks/bench.c Benchmarks/bench.h $(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -g -Iinclude -o $@ Benchmarks/bench.c $(STATIC) -lJudy -lbsd $(URCU_LIBS)

bench:
	$(MAKE) deps DEPS_EXTRA=libjudy-dev
	$(MAKE) lib $(B)/bench
	$(B)/bench $(BENCH_N) $(BENCH_RUNS)

bench-swift:
	cd Benchmarks/swift && swift build -c release && ./.build/release/memtable-bench $(BENCH_N) $(BENCH_RUNS)

# What shorter walks would do for dependent lookups (Benchmarks/README.md).
$(B)/bench-latency: Benchmarks/latency.c Benchmarks/bench.h $(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -g -Iinclude -o $@ Benchmarks/latency.c $(STATIC) $(URCU_LIBS)

bench-latency: lib $(B)/bench-latency
	$(B)/bench-latency $(BENCH_N) $(if $(filter command line,$(origin BENCH_RUNS)),$(BENCH_RUNS),9)


# The changed walk against a walk of everything, 1% of the pages changed.
$(B)/bench-changed: Benchmarks/changed.c Benchmarks/bench.h $(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -g -Iinclude -o $@ Benchmarks/changed.c $(STATIC) $(URCU_LIBS)

bench-changed: lib $(B)/bench-changed
	$(B)/bench-changed $(BENCH_N) 9 1

# mem_table_store_range against a store per page, ranges of 1 to 500 pages.
$(B)/bench-ranges: Benchmarks/ranges.c Benchmarks/bench.h $(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -g -Iinclude -o $@ Benchmarks/ranges.c $(STATIC) $(URCU_LIBS)

bench-ranges: lib $(B)/bench-ranges
	$(B)/bench-ranges $(if $(filter command line,$(origin BENCH_RUNS)),$(BENCH_RUNS),9)

# mem_table_stats_walk() over sparse and dense tables of pages.
$(B)/bench-stats: Benchmarks/stats.c Benchmarks/bench.h $(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -g -Iinclude -o $@ Benchmarks/stats.c $(STATIC) $(URCU_LIBS)

bench-stats: lib $(B)/bench-stats
	$(B)/bench-stats $(if $(filter command line,$(origin BENCH_RUNS)),$(BENCH_RUNS),31)

# memtable scan against a minimal reader of the same maps and pagemaps, the
# whole machine and processes of 1, 2 and 4 GiB (normal and THP); as root.
$(B)/scan-reader: Benchmarks/scan/reader.c | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -o $@ $<

$(B)/scan-toucher: Benchmarks/scan/toucher.c | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -o $@ $<

$(B)/scan-runner: Benchmarks/scan/runner.c | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -o $@ $<

# The reader plus the memory table, in C: what the table itself costs.
$(B)/scan-table: Benchmarks/scan/table.c Sources/CProcfs/arena.c Sources/CProcfs/include/procfs.h \
		$(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -Iinclude -ISources/CProcfs/include -o $@ Benchmarks/scan/table.c \
	    Sources/CProcfs/arena.c $(STATIC) $(URCU_LIBS)

bench-scan: $(B)/scan-reader $(B)/scan-toucher $(B)/scan-runner $(B)/scan-table
	$(SWIFT_TOOL_BUILD)
	python3 Benchmarks/scan/bench_scan.py .build/release/memtable $(B)/scan-reader $(B)/scan-toucher \
	    $(B)/scan-runner $(B)/scan-table \
	    $(if $(filter command line,$(origin BENCH_RUNS)),$(BENCH_RUNS),5)

# Concurrent readers (Benchmarks/concurrent.c): RCU lookups with and without
# a writer, against a rwlock and a mutex.
$(B)/bench-concurrent: Benchmarks/concurrent.c $(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -g -Iinclude -o $@ Benchmarks/concurrent.c $(STATIC) $(URCU_LIBS)

bench-concurrent: lib $(B)/bench-concurrent
	$(B)/bench-concurrent 1048576 $(BENCH_RUNS) 1

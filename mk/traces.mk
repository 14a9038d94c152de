# SPDX-License-Identifier: GPL-2.0-only
#
# Included by the top Makefile: operation traces, fault injection, fuzzing, the cross-checks.

# ---------------------------------------------------------------- traces ---
#
# Operation traces (Tests/TRACES.md): the C replay through the library or
# the model, the C generator, the replay with allocation failures, the
# fuzzer, and the differential check against the Swift replay.

TRACE_DIR  := Tests/C/trace
TRACE_LIB  := $(TRACE_DIR)/trace.c $(TRACE_DIR)/engine_lib.c $(TRACE_DIR)/engine_model.c
TRACE_HDRS := $(TRACE_DIR)/trace.h $(HEADERS)
TRACES     := $(wildcard Tests/traces/*.trace)
T          := $(B)/trace
TRACE_CFLAGS := $(STD) $(WARNINGS) -O2 -g -Iinclude -ITests/C -I$(TRACE_DIR)
SWIFT_TRACE := .build/release/memtable-trace
DIFF_SEEDS ?= 1000
DIFF_OPS   ?= 1000
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 60

$(T):
	mkdir -p $@

$(T)/memtable-replay: $(TRACE_DIR)/replay.c $(TRACE_LIB) $(TRACE_HDRS) $(OBJS) | $(T)
	$(CC) $(TRACE_CFLAGS) -o $@ $(TRACE_DIR)/replay.c $(TRACE_LIB) $(OBJS) -lbsd $(URCU_LIBS)

$(T)/memtable-replay-faults: $(TRACE_DIR)/replay.c $(TRACE_LIB) $(TRACE_HDRS) $(B)/test/lib.o $(TEST_SRCS) | $(T)
	$(CC) $(TRACE_CFLAGS) -ITests/C -DTRACE_FAULTS -o $@ $(TRACE_DIR)/replay.c $(TRACE_LIB) \
	    $(TEST_SRCS) $(B)/test/lib.o -lbsd $(URCU_LIBS)

# The same under AddressSanitizer and UBSan: the random test's memory checks.
$(T)/memtable-replay-faults-san: $(TRACE_DIR)/replay.c $(TRACE_LIB) $(TRACE_HDRS) $(B)/test/lib_san.o $(TEST_SRCS) | $(T)
	$(CC) $(TRACE_CFLAGS) $(SAN_FLAGS) -ITests/C -DTRACE_FAULTS -o $@ $(TRACE_DIR)/replay.c $(TRACE_LIB) \
	    $(TEST_SRCS) $(B)/test/lib_san.o -lbsd $(URCU_LIBS)

$(T)/libmemtable-failalloc.so: $(TRACE_DIR)/failalloc.c | $(T)
	$(CC) $(TRACE_CFLAGS) -shared -fPIC -o $@ $<

$(T)/memtable-gen: $(TRACE_DIR)/gen.c $(TRACE_DIR)/trace.c $(TRACE_DIR)/trace.h | $(T)
	$(CC) $(TRACE_CFLAGS) -o $@ $(TRACE_DIR)/gen.c $(TRACE_DIR)/trace.c -lbsd $(URCU_LIBS)

$(T)/fuzz: $(TRACE_DIR)/fuzz.c $(TRACE_LIB) $(TRACE_HDRS) $(SRCS) $(INTERNAL) | $(T)
	$(FUZZ_CC) $(STD) -g -O1 -fuse-ld=lld -Iinclude -I$(TRACE_DIR) -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -o $@ $(TRACE_DIR)/fuzz.c $(TRACE_LIB) $(SRCS) -lbsd $(URCU_LIBS)

$(SWIFT_TRACE): Package.swift $(wildcard Sources/*/*.swift) $(SRCS) $(HEADERS) $(INTERNAL)
	swift build -c release --product memtable-trace

# Each example trace: its expected transcript, and the same from all four.
check-traces: $(T)/memtable-replay $(SWIFT_TRACE)
	@for t in $(TRACES); do \
	  $(T)/memtable-replay $$t > $(T)/c.out && \
	  diff -u $${t%.trace}.expected $(T)/c.out && \
	  $(T)/memtable-replay --model $$t | diff -u $(T)/c.out - && \
	  $(SWIFT_TRACE) replay $$t | diff -u $(T)/c.out - && \
	  $(SWIFT_TRACE) replay --model $$t | diff -u $(T)/c.out - || exit 1; \
	done; echo "traces: $(words $(TRACES)) example traces, four identical transcripts each"
	@printf 'store 0x1000 0 1\nstroe 0x2000 0 1\n' > $(T)/bad.trace; \
	! $(T)/memtable-replay $(T)/bad.trace > /dev/null 2> $(T)/bad.err && \
	grep -q "line 2: unknown operation 'stroe'" $(T)/bad.err && \
	! $(SWIFT_TRACE) replay $(T)/bad.trace > /dev/null 2> $(T)/bad.err && \
	grep -q "line 2: unknown operation 'stroe'" $(T)/bad.err && \
	for bad in 'store 0 0 * 3' 'store_range 0 0x2000 *3' 'reserve 0x1000' 'create 0 **1'; do \
	  printf 'store 0x1000 0 *1\n%s\n' "$$bad" > $(T)/bad.trace; \
	  ! $(T)/memtable-replay $(T)/bad.trace > /dev/null 2> $(T)/bad.err && \
	  grep -q "^line 2: .*bad or missing number" $(T)/bad.err && \
	  ! $(SWIFT_TRACE) replay $(T)/bad.trace > /dev/null 2> $(T)/bad.err && \
	  grep -q "line 2: .*bad or missing number" $(T)/bad.err || { echo "accepted: $$bad"; exit 1; }; \
	done && echo "traces: a malformed line is refused with its number by both replays"

# Many seeds, both generators, four transcripts each; two halves at once.
check-diff: $(T)/memtable-replay $(T)/memtable-gen $(SWIFT_TRACE)
	@half=$$(( $(DIFF_SEEDS) / 2 )); \
	$(SWIFT_TRACE) check --c-replay $(T)/memtable-replay --c-gen $(T)/memtable-gen \
	    --seeds $$half --ops $(DIFF_OPS) --first $$(( $(SEED) % 100000 * 1000 + 1 )) --out $(T) & a=$$!; \
	$(SWIFT_TRACE) check --c-replay $(T)/memtable-replay --c-gen $(T)/memtable-gen \
	    --seeds $$(( $(DIFF_SEEDS) - half )) --ops $(DIFF_OPS) \
	    --first $$(( $(SEED) % 100000 * 1000 + 1 + half )) --out $(T); b=$$?; \
	wait $$a && [ $$b = 0 ]

# Every operation of every example trace and of generated ones, first with
# each of its allocations failing in turn, then with each of its consumer op
# calls (ops->split, ->merge, ->clone) refusing in turn: the same
# transcript, the table as it was after each failed run, nothing leaked; in
# C (the counting allocator, the engine's ops; under ASan and UBSan) and
# through the Swift API (a calloc preloaded that fails on request, the
# Swift ops refusing through their fault-injection hook). Generated traces
# on small tables (8 and 4 slots) are long; on x86_64 and LA57 (512 slots,
# a fingerprint of the whole table after every failed run) short.
FAULT_PRELOAD := LD_PRELOAD=$(abspath $(T)/libmemtable-failalloc.so)
FAULT_TRACES  := 1:2000:small 2:2000:tiny 3:2000:small 4:2000:tiny 5:2000:small 6:2000:tiny \
                 7:400:x86_64 8:400:x86_64_la57 9:400:x86_64

check-fault: $(T)/memtable-replay $(T)/memtable-replay-faults-san $(T)/memtable-gen \
             $(T)/libmemtable-failalloc.so $(SWIFT_TRACE)
	@rm -f $(T)/fault*.log; \
	for t in $(TRACES) $$(for g in $(FAULT_TRACES); do set -- $$(echo $$g | tr : ' '); \
	        $(T)/memtable-gen $$1 $$2 $$3 > $(T)/fault-$$1.trace; echo $(T)/fault-$$1.trace; done); do \
	  $(T)/memtable-replay $$t > $(T)/f-plain.out || exit 1; \
	  for how in fail refuse; do \
	    ASAN_OPTIONS=detect_leaks=1 $(T)/memtable-replay-faults-san --$$how-each $$t \
	        2>> $(T)/fault-$$how-c.log > $(T)/f.out || { tail -n 5 $(T)/fault-$$how-c.log; exit 1; }; \
	    diff -u $(T)/f-plain.out $(T)/f.out || { echo "C --$$how-each $$t"; exit 1; }; \
	  done; \
	  $(FAULT_PRELOAD) $(SWIFT_TRACE) replay --fail-each $$t 2>> $(T)/fault-fail-swift.log > $(T)/f.out || \
	    { tail -n 5 $(T)/fault-fail-swift.log; exit 1; }; \
	  diff -u $(T)/f-plain.out $(T)/f.out || { echo "Swift --fail-each $$t"; exit 1; }; \
	  $(SWIFT_TRACE) replay --refuse-each $$t 2>> $(T)/fault-refuse-swift.log > $(T)/f.out || \
	    { tail -n 5 $(T)/fault-refuse-swift.log; exit 1; }; \
	  diff -u $(T)/f-plain.out $(T)/f.out || { echo "Swift --refuse-each $$t"; exit 1; }; \
	done; echo "faults: $$(grep -c . $(T)/fault-fail-c.log) traces, every operation with each allocation failing," \
	  "then each consumer op refusing, in turn:"; \
	awk '{ n += $$3; for (i = 4; i < NF; i++) if ($$(i + 1) == "changed") v += $$i } END { printf "  C:     %d allocation failures injected, %d changed a table, transcripts unchanged\n", n, v }' $(T)/fault-fail-c.log; \
	awk '{ n += $$3; for (i = 4; i < NF; i++) if ($$(i + 1) == "changed") v += $$i } END { printf "  C:     %d consumer op refusals injected, %d changed a table, transcripts unchanged\n", n, v }' $(T)/fault-refuse-c.log; \
	awk '{ n += $$3; for (i = 4; i < NF; i++) if ($$(i + 1) == "changed") v += $$i } END { printf "  Swift: %d allocation failures injected, %d changed a table, transcripts unchanged\n", n, v }' $(T)/fault-fail-swift.log; \
	awk '{ n += $$3; for (i = 4; i < NF; i++) if ($$(i + 1) == "changed") v += $$i } END { printf "  Swift: %d consumer op refusals injected, %d changed a table, transcripts unchanged\n", n, v }' $(T)/fault-refuse-swift.log; \
	rm -f $(T)/fault*.log

fuzz: $(T)/fuzz
	mkdir -p $(T)/corpus && cp $(TRACES) $(T)/corpus/
	$(T)/fuzz -max_total_time=$(FUZZ_TIME) -max_len=4096 -dict=$(TRACE_DIR)/fuzz.dict $(T)/corpus

check-fuzz: $(T)/fuzz
	mkdir -p $(T)/corpus && cp $(TRACES) $(T)/corpus/
	$(T)/fuzz -seed=1 -runs=20000 -max_len=4096 -dict=$(TRACE_DIR)/fuzz.dict $(T)/corpus 2>&1 | tail -n 3


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
	$(CC) $(TRACE_CFLAGS) -o $@ $(TRACE_DIR)/replay.c $(TRACE_LIB) $(OBJS) -lbsd

$(T)/memtable-replay-faults: $(TRACE_DIR)/replay.c $(TRACE_LIB) $(TRACE_HDRS) $(B)/test/lib.o $(TEST_SRCS) | $(T)
	$(CC) $(TRACE_CFLAGS) -ITests/C -DTRACE_FAULTS -o $@ $(TRACE_DIR)/replay.c $(TRACE_LIB) \
	    $(TEST_SRCS) $(B)/test/lib.o -lbsd

$(T)/libmemtable-failalloc.so: $(TRACE_DIR)/failalloc.c | $(T)
	$(CC) $(TRACE_CFLAGS) -shared -fPIC -o $@ $<

$(T)/memtable-gen: $(TRACE_DIR)/gen.c $(TRACE_DIR)/trace.c $(TRACE_DIR)/trace.h | $(T)
	$(CC) $(TRACE_CFLAGS) -o $@ $(TRACE_DIR)/gen.c $(TRACE_DIR)/trace.c -lbsd

$(T)/fuzz: $(TRACE_DIR)/fuzz.c $(TRACE_LIB) $(TRACE_HDRS) $(SRCS) $(INTERNAL) | $(T)
	$(FUZZ_CC) $(STD) -g -O1 -fuse-ld=lld -Iinclude -I$(TRACE_DIR) -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -o $@ $(TRACE_DIR)/fuzz.c $(TRACE_LIB) $(SRCS) -lbsd

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
	echo "traces: a malformed line is refused with its number by both replays"

# Many seeds, both generators, four transcripts each; two halves at once.
check-diff: $(T)/memtable-replay $(T)/memtable-gen $(SWIFT_TRACE)
	@half=$$(( $(DIFF_SEEDS) / 2 )); \
	$(SWIFT_TRACE) check --c-replay $(T)/memtable-replay --c-gen $(T)/memtable-gen \
	    --seeds $$half --ops $(DIFF_OPS) --first $$(( $(SEED) % 100000 * 1000 + 1 )) --out $(T) & a=$$!; \
	$(SWIFT_TRACE) check --c-replay $(T)/memtable-replay --c-gen $(T)/memtable-gen \
	    --seeds $$(( $(DIFF_SEEDS) - half )) --ops $(DIFF_OPS) \
	    --first $$(( $(SEED) % 100000 * 1000 + 1 + half )) --out $(T); b=$$?; \
	wait $$a && [ $$b = 0 ]

# Every operation of every example trace and of generated ones, with each
# of its allocations failing in turn: the same transcript, nothing leaked;
# in C (the counting allocator) and through the Swift API (a calloc
# preloaded that fails on request).
FAULT_PRELOAD := LD_PRELOAD=$(abspath $(T)/libmemtable-failalloc.so)

check-fault: $(T)/memtable-replay $(T)/memtable-replay-faults $(T)/memtable-gen \
             $(T)/libmemtable-failalloc.so $(SWIFT_TRACE)
	@rm -f $(T)/fault.log $(T)/fault-swift.log; \
	for t in $(TRACES) $$(for s in 1 2 3 4 5 6 7 8; do $(T)/memtable-gen $$s 2000 > $(T)/fault-$$s.trace; \
	        echo $(T)/fault-$$s.trace; done); do \
	  $(T)/memtable-replay $$t > $(T)/f-plain.out || exit 1; \
	  $(T)/memtable-replay-faults --fail-each $$t 2>> $(T)/fault.log > $(T)/f.out || { cat $(T)/fault.log; exit 1; }; \
	  diff -u $(T)/f-plain.out $(T)/f.out || exit 1; \
	  $(FAULT_PRELOAD) $(SWIFT_TRACE) replay --fail-each $$t 2>> $(T)/fault-swift.log > $(T)/f.out || \
	    { cat $(T)/fault-swift.log; exit 1; }; \
	  diff -u $(T)/f-plain.out $(T)/f.out || exit 1; \
	done; echo "faults: $$(grep -c . $(T)/fault.log) traces, every operation with each allocation failing in turn:"; \
	awk '{ n += $$3; v += $$9 } END { printf "  C:     %d allocation failures injected, %d changed a table, transcripts unchanged\n", n, v }' $(T)/fault.log; \
	awk '{ n += $$3; v += $$9 } END { printf "  Swift: %d allocation failures injected, %d changed a table, transcripts unchanged\n", n, v }' $(T)/fault-swift.log; \
	rm -f $(T)/fault.log $(T)/fault-swift.log

fuzz: $(T)/fuzz
	mkdir -p $(T)/corpus && cp $(TRACES) $(T)/corpus/
	$(T)/fuzz -max_total_time=$(FUZZ_TIME) -max_len=4096 -dict=$(TRACE_DIR)/fuzz.dict $(T)/corpus

check-fuzz: $(T)/fuzz
	mkdir -p $(T)/corpus && cp $(TRACES) $(T)/corpus/
	$(T)/fuzz -seed=1 -runs=20000 -max_len=4096 -dict=$(TRACE_DIR)/fuzz.dict $(T)/corpus 2>&1 | tail -n 3


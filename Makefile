# SPDX-License-Identifier: GPL-2.0-only
#
# memtable: the Linux RFC "Memory Table" in userspace, a C library and a
# Swift package. `make` builds the C library, `make test` installs what is
# missing and runs every test, `make install` installs the C library.

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

# Installation directories, all overridable (GNU conventions).
PREFIX      ?= /usr/local
prefix      ?= $(PREFIX)
exec_prefix ?= $(prefix)
libdir      ?= $(exec_prefix)/lib
includedir  ?= $(prefix)/include
pkgconfigdir ?= $(libdir)/pkgconfig
DESTDIR     ?=
INSTALL     ?= install

CC       ?= cc
CFLAGS   ?= -O2 -g
WARNINGS := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wpointer-arith -Wundef -Wcast-qual -Wwrite-strings
STD      := -std=gnu11
LIB_CPPFLAGS := -Iinclude
LIB_CFLAGS   := $(STD) $(WARNINGS) -fPIC -fvisibility=hidden

# The C sources live in the SwiftPM C target; SwiftPM builds them too.
SRCDIR   := Sources/CMemTable
SRCS     := $(SRCDIR)/mem_table.c $(SRCDIR)/mem_table_ext.c
HEADERS  := include/mem_table.h include/mem_table_kernel.h
INTERNAL := $(SRCDIR)/mem_table_internal.h
B        := build

LIBNAME  := libmemtable
SONAME   := $(LIBNAME).so.$(VERSION_MAJOR)
SHARED   := $(B)/$(LIBNAME).so.$(VERSION)
STATIC   := $(B)/$(LIBNAME).a

# Debian packages the build and the tests need; `make deps` installs the
# missing ones. swift itself comes with the machine.
DEB_PKGS := gcc g++ libbsd-dev pkg-config valgrind binutils python3
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all lib deps test test-c check-c check-small check-sanitize check-valgrind \
        check-rfc check-install check-headers check-readme swift-build swift-test check-consumer check-docs demo \
        check-traces check-diff check-fault check-fuzz fuzz swift-sanitize swift-valgrind demo-c \
        bench bench-swift bench-latency \
        install uninstall clean

all: lib

lib: $(STATIC) $(SHARED)

$(B)/lib/%.o: $(SRCDIR)/%.c $(HEADERS) $(INTERNAL) | $(B)/lib
	$(CC) $(LIB_CPPFLAGS) $(CPPFLAGS) $(LIB_CFLAGS) $(CFLAGS) -c $< -o $@

OBJS := $(SRCS:$(SRCDIR)/%.c=$(B)/lib/%.o)

$(STATIC): $(OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^
	ln -sf $(LIBNAME).so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $(B)/$(LIBNAME).so

$(B) $(B)/lib $(B)/test:
	mkdir -p $@

# ---------------------------------------------------------------- deps ---

deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The first C block of README.md, which must compile as written.
README_EXAMPLE := awk '/^```c$$/{f=1;next} f&&/^```$$/{exit} f' README.md

# The README's Swift example is the test that runs it, line for line.
check-readme:
	@diff <(awk '/^```swift$$/{f=1;next} f&&/^```$$/{exit} f' README.md | sed '1,2d') \
	      <(sed -n '/README begin/,/README end/{/README/d;s/^    //;p;}' Tests/MemTableTests/ReadmeExampleTests.swift) \
	  && echo "readme: the Swift example is Tests/MemTableTests/ReadmeExampleTests.swift's"

# --------------------------------------------------------------- tests ---
#
# The tests link the library sources built with a counting allocator that
# can be told to fail (Tests/C/check.c), in several configurations.

TEST_SRCS   := Tests/C/check.c
TEST_HDRS   := Tests/C/check.h Tests/C/rng.h $(HEADERS)
TEST_ALLOC  := -Dcalloc=mt_test_calloc -Dfree=mt_test_free
TEST_CFLAGS := $(STD) $(WARNINGS) -g -O1
TEST_LIBS   := -lbsd
SAN_CC      ?= $(CC)
SAN_FLAGS   := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SMALL_GEOM  := -DMEM_TABLE_PTRS_SHIFT=3 -DMAX_PHYSMEM_BITS=23
VALGRIND    := valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all --error-exitcode=1
ifndef SEED
SEED        := $(shell date +%s)
endif
export SEED

# $(call test-prog,output,test source,extra flags,library sources,include dirs)
define test-prog
$(1): $(2) $(4) $(TEST_SRCS) $(TEST_HDRS) | $(B)/test
	$$(CC) $(5) -ITests/C $(TEST_CFLAGS) $(3) -o $$@ $(2) $(TEST_SRCS) \
	    $(4) $(TEST_LIBS)
endef

$(eval $(call test-prog,$(B)/test/test_mem_table,Tests/C/test_mem_table.c,,$(B)/test/lib.o,-Iinclude))
$(eval $(call test-prog,$(B)/test/test_rfc_fixes,Tests/C/test_rfc_fixes.c,,$(B)/test/lib.o,-Iinclude))
$(eval $(call test-prog,$(B)/test/test_mem_table_ext,Tests/C/test_mem_table_ext.c,,$(B)/test/lib.o,-Iinclude))
$(eval $(call test-prog,$(B)/test/test_mem_table_ext_san,Tests/C/test_mem_table_ext.c,$(SAN_FLAGS),$(B)/test/lib_san.o,-Iinclude))
$(eval $(call test-prog,$(B)/test/test_mem_table_small,Tests/C/test_mem_table.c,$(SMALL_GEOM),$(B)/test/lib_small.o,-Iinclude))
$(eval $(call test-prog,$(B)/test/test_mem_table_san,Tests/C/test_mem_table.c,$(SAN_FLAGS),$(B)/test/lib_san.o,-Iinclude))
$(eval $(call test-prog,$(B)/test/test_rfc_fixes_san,Tests/C/test_rfc_fixes.c,$(SAN_FLAGS),$(B)/test/lib_san.o,-Iinclude))
$(eval $(call test-prog,$(B)/test/test_rfc_fixes_rfc,Tests/C/test_rfc_fixes.c,-Wno-parentheses,$(B)/test/rfc.o,-ITests/C/rfc/include/linux -Iinclude))

# $(call test-lib,name,flags): the library's sources, built with the
# counting allocator and @flags, as one relocatable object.
define test-lib
$(B)/test/$(1).o: $(SRCS) $(HEADERS) $(INTERNAL) | $(B)/test
	$$(CC) $(LIB_CPPFLAGS) $(TEST_CFLAGS) $(TEST_ALLOC) $(2) -c $(SRCDIR)/mem_table.c -o $(B)/test/$(1)-core.o
	$$(CC) $(LIB_CPPFLAGS) $(TEST_CFLAGS) $(TEST_ALLOC) $(2) -c $(SRCDIR)/mem_table_ext.c -o $(B)/test/$(1)-ext.o
	$$(CC) -r -nostdlib -o $$@ $(B)/test/$(1)-core.o $(B)/test/$(1)-ext.o
endef

$(eval $(call test-lib,lib,))
$(eval $(call test-lib,lib_small,$(SMALL_GEOM)))
$(eval $(call test-lib,lib_san,$(SAN_FLAGS)))

# The RFC's code as posted, warnings and all: it is the thing under test.
$(B)/test/rfc.o: Tests/C/rfc/kernel/mem_table.c | $(B)/test
	$(CC) -ITests/C/rfc/include -Iinclude $(STD) -w -g -O1 $(TEST_ALLOC) -c $< -o $@

check-c: $(B)/test/test_mem_table $(B)/test/test_rfc_fixes $(B)/test/test_mem_table_ext
	$(B)/test/test_rfc_fixes | tee $(B)/test/summary-fixes.txt
	$(B)/test/test_mem_table $(SEED) | tee $(B)/test/summary-core.txt
	$(B)/test/test_mem_table_ext $(SEED) | tee $(B)/test/summary-ext.txt

check-small: $(B)/test/test_mem_table_small
	$(B)/test/test_mem_table_small $(SEED)

check-sanitize: $(B)/test/test_mem_table_san $(B)/test/test_rfc_fixes_san $(B)/test/test_mem_table_ext_san
	ASAN_OPTIONS=detect_leaks=1 $(B)/test/test_rfc_fixes_san
	ASAN_OPTIONS=detect_leaks=1 $(B)/test/test_mem_table_san $(SEED)
	ASAN_OPTIONS=detect_leaks=1 $(B)/test/test_mem_table_ext_san $(SEED)

check-valgrind: $(B)/test/test_mem_table $(B)/test/test_rfc_fixes $(B)/test/test_mem_table_ext
	$(VALGRIND) $(B)/test/test_rfc_fixes
	$(VALGRIND) $(B)/test/test_mem_table $(SEED) 20000
	$(VALGRIND) $(B)/test/test_mem_table_ext $(SEED) 10000

check-rfc: $(B)/test/test_rfc_fixes_rfc
	$(B)/test/test_rfc_fixes_rfc --rfc

# Each public header compiles on its own: in C (gnu11 with the library's
# warnings, and C99 -pedantic) and in C++ -pedantic; and a program with its own
# BIT, PAGE_SIZE, PAGE_SHIFT, PTRS_PER_* and enum pg_level, defined before or
# after <mem_table.h>, builds and runs against the library.
CXX ?= c++
check-headers: lib | $(B)/test
	@for h in $(HEADERS); do \
	  echo "#include \"$$(basename $$h)\"" > $(B)/test/hdr.c; \
	  $(CC) -Iinclude $(STD) $(WARNINGS) -Werror -fsyntax-only $(B)/test/hdr.c || exit 1; \
	  $(CC) -Iinclude -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only $(B)/test/hdr.c || exit 1; \
	  if command -v $(CXX) >/dev/null; then \
	    $(CXX) -Iinclude -pedantic -Wall -Wextra -Werror -fsyntax-only -x c++ $(B)/test/hdr.c || exit 1; fi; \
	done
	@for where in -DOWN_BEFORE -UOWN_BEFORE; do \
	  $(CC) -Iinclude -std=c99 -pedantic -Wall -Wextra -Werror $$where -o $(B)/test/own_names \
	      Tests/C/headers/own_names.c $(STATIC) && $(B)/test/own_names || exit 1; \
	  if command -v $(CXX) >/dev/null; then \
	    $(CXX) -Iinclude -pedantic -Wall -Wextra -Werror $$where -x c++ -o $(B)/test/own_names \
	      Tests/C/headers/own_names.c -x none $(STATIC) && $(B)/test/own_names || exit 1; fi; \
	done
	@echo "headers: each compiles on its own (C gnu11 and C99 -pedantic, C++ -pedantic);" \
	      "a program's own BIT, PAGE_SIZE, PAGE_SHIFT, PTRS_PER_*, enum pg_level stay its own"

# Install into a scratch prefix and into a DESTDIR staging area, and build
# a consumer out of the tree with pkg-config against each.
check-install: lib
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(MAKE) -s install PREFIX="$$tmp/usr" >/dev/null && \
	$(README_EXAMPLE) > "$$tmp/consumer.c" && cd "$$tmp" && \
	PKG_CONFIG_PATH="$$tmp/usr/lib/pkgconfig" && export PKG_CONFIG_PATH && \
	cc consumer.c $$(pkg-config --cflags --libs memtable) -o consumer && \
	LD_LIBRARY_PATH="$$tmp/usr/lib" ./consumer && \
	cc -static consumer.c $$(pkg-config --cflags memtable) "$$tmp/usr/lib/libmemtable.a" -o consumer-static && \
	./consumer-static >/dev/null && \
	cd - >/dev/null && $(MAKE) -s install DESTDIR="$$tmp/stage" PREFIX=/opt/mt >/dev/null && \
	test -f "$$tmp/stage/opt/mt/include/mem_table.h" && \
	test -L "$$tmp/stage/opt/mt/lib/$(SONAME)" && \
	grep -q '^prefix=/opt/mt$$' "$$tmp/stage/opt/mt/lib/pkgconfig/memtable.pc" && \
	$(MAKE) -s uninstall DESTDIR="$$tmp/stage" PREFIX=/opt/mt >/dev/null && \
	test ! -e "$$tmp/stage/opt/mt/lib/$(SONAME)" && \
	echo "install: pkg-config consumer built and ran; DESTDIR staging and uninstall work"

test-c: deps
	$(MAKE) lib
	$(MAKE) check-headers check-rfc check-install check-readme
	$(MAKE) check-small check-sanitize check-valgrind
	$(MAKE) check-c

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

# ---------------------------------------------------------------- swift ---

# The package has no unsafe flags (a versioned dependency could not build);
# the C warnings are passed here instead.
swift-build:
	swift build -Xswiftc -warnings-as-errors -Xcc -Wall -Xcc -Wextra

# The DocC catalog converted with the library's symbol graph, warnings as
# errors, and every public symbol documented (Tests/docs/coverage.py). The
# symbol graph has a build folder of its own, made anew each time (SwiftPM
# 6.3 cannot rebuild a single target there with these flags).
DOCS_BUILD := .build-docs
check-docs:
	@rm -rf $(DOCS_BUILD)
	swift build -q --scratch-path $(DOCS_BUILD) --target MemTable \
	    -Xswiftc -emit-symbol-graph -Xswiftc -emit-symbol-graph-dir -Xswiftc $(abspath $(DOCS_BUILD))/symbol-graphs \
	    -Xswiftc -symbol-graph-minimum-access-level -Xswiftc public
	docc convert Sources/MemTable/MemTable.docc --additional-symbol-graph-dir $(DOCS_BUILD)/symbol-graphs \
	    --output-path $(DOCS_BUILD)/MemTable.doccarchive --fallback-display-name MemTable \
	    --fallback-bundle-identifier memtable.MemTable --warnings-as-errors
	python3 Tests/docs/coverage.py $(DOCS_BUILD)/symbol-graphs/MemTable*.symbols.json

# A scratch package that depends on this one by version, as a user's does.
check-consumer:
	Tests/consumer/versioned.sh $(VERSION)

swift-test: swift-build
	swift test

# The Swift tests under AddressSanitizer and ThreadSanitizer, and the Swift
# replay under valgrind, each in a build folder of its own.
swift-sanitize:
	swift test --scratch-path .build-asan --sanitize=address --disable-xctest
	swift test --scratch-path .build-tsan --sanitize=thread --disable-xctest --filter Concurrency

swift-valgrind: $(SWIFT_TRACE)
	@cp $(SWIFT_TRACE) $(T)/memtable-trace-stripped && strip $(T)/memtable-trace-stripped
	@for t in $(TRACES); do \
	  valgrind -q --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite \
	    --error-exitcode=1 $(T)/memtable-trace-stripped replay $$t > $(T)/v.out || exit 1; \
	  diff -q $${t%.trace}.expected $(T)/v.out || exit 1; \
	done; echo "valgrind: the Swift replay of $(words $(TRACES)) traces: no error, no leak"

test: test-c
	$(MAKE) swift-test check-consumer check-docs
	$(MAKE) check-traces check-fault check-fuzz swift-valgrind
	$(MAKE) check-diff
	$(MAKE) swift-sanitize
	@grep -h "random model" $(B)/test/summary-*.txt
	@awk '/^(rfc fixes: )?[0-9]+ passed, [0-9]+ failed$$/ { p += $$(NF-3); f += $$(NF-1) } \
	     END { printf "C tests, seed %s, all runs above:\nC: %d passed, %d failed\n", "$(SEED)", p, f; exit f != 0 }' \
	     $(B)/test/summary-*.txt

# The demo: memtable scan over this machine, in release mode (counting
# virtual pages if page frames are out of reach, as they are without root).
demo: deps
	swift build -c release --product memtable
	.build/release/memtable scan || { echo "(page frames need root: counting virtual pages instead)"; \
	    .build/release/memtable scan --virtual; }

# The README's C example, built against the static library and run.
demo-c: lib
	$(README_EXAMPLE) > $(B)/demo.c
	$(CC) -Iinclude $(STD) $(WARNINGS) -Werror -O2 -o $(B)/demo $(B)/demo.c $(STATIC)
	$(B)/demo

# ------------------------------------------------------------- benchmarks ---
#
# Timing lives here, never in tests. make bench installs JudyL (a benchmark-
# only dependency) and runs the C benchmark; make bench-swift the Swift one
# (a package of its own, so that the library keeps no dependencies).

BENCH_N    ?= 1048576
BENCH_RUNS ?= 5

$(B)/bench: Benchmarks/bench.c Benchmarks/bench.h $(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -g -Iinclude -o $@ Benchmarks/bench.c $(STATIC) -lJudy -lbsd

bench:
	@dpkg-query -W -f='$${Status}' libjudy-dev 2>/dev/null | grep -q 'ok installed' || \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libjudy-dev; }
	$(MAKE) deps lib $(B)/bench
	$(B)/bench $(BENCH_N) $(BENCH_RUNS)

bench-swift:
	cd Benchmarks/swift && swift build -c release && ./.build/release/memtable-bench $(BENCH_N) $(BENCH_RUNS)

# What shorter walks would do for dependent lookups (Benchmarks/README.md).
$(B)/bench-latency: Benchmarks/latency.c Benchmarks/bench.h $(STATIC) $(HEADERS) | $(B)
	$(CC) $(STD) $(WARNINGS) -O2 -g -Iinclude -o $@ Benchmarks/latency.c $(STATIC)

bench-latency: lib $(B)/bench-latency
	$(B)/bench-latency $(BENCH_N) $(if $(filter command line,$(origin BENCH_RUNS)),$(BENCH_RUNS),9)

# -------------------------------------------------------------- install ---

install: lib
	$(INSTALL) -d "$(DESTDIR)$(libdir)" "$(DESTDIR)$(includedir)" "$(DESTDIR)$(pkgconfigdir)"
	$(INSTALL) -m 644 $(HEADERS) "$(DESTDIR)$(includedir)/"
	$(INSTALL) -m 644 $(STATIC) "$(DESTDIR)$(libdir)/"
	$(INSTALL) -m 755 $(SHARED) "$(DESTDIR)$(libdir)/"
	ln -sf $(LIBNAME).so.$(VERSION) "$(DESTDIR)$(libdir)/$(SONAME)"
	ln -sf $(SONAME) "$(DESTDIR)$(libdir)/$(LIBNAME).so"
	sed -e 's|@PREFIX@|$(prefix)|' -e 's|@LIBDIR@|$(libdir)|' \
	    -e 's|@INCLUDEDIR@|$(includedir)|' -e 's|@VERSION@|$(VERSION)|' \
	    memtable.pc.in > "$(DESTDIR)$(pkgconfigdir)/memtable.pc"

uninstall:
	rm -f "$(DESTDIR)$(includedir)/mem_table.h" "$(DESTDIR)$(includedir)/mem_table_kernel.h"
	rm -f "$(DESTDIR)$(libdir)/$(LIBNAME).a" "$(DESTDIR)$(libdir)/$(LIBNAME).so" \
	      "$(DESTDIR)$(libdir)/$(SONAME)" "$(DESTDIR)$(libdir)/$(LIBNAME).so.$(VERSION)"
	rm -f "$(DESTDIR)$(pkgconfigdir)/memtable.pc"

clean:
	rm -rf $(B) .build .build-asan .build-tsan $(DOCS_BUILD) Benchmarks/swift/.build

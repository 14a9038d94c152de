# SPDX-License-Identifier: GPL-2.0-only
#
# Included by the top Makefile: the C tests, the header, install and README checks.

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
TEST_LIBS   := -lbsd $(URCU_LIBS)
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
	$$(CC) $(LIB_CPPFLAGS) $(TEST_CFLAGS) $(TEST_ALLOC) $(2) -c $(SRCDIR)/mem_table_alloc.c -o $(B)/test/$(1)-alloc.o
	$$(CC) -r -nostdlib -o $$@ $(B)/test/$(1)-core.o $(B)/test/$(1)-ext.o $(B)/test/$(1)-alloc.o
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
	$(B)/test/test_mem_table_ext | tee $(B)/test/summary-ext.txt

check-small: $(B)/test/test_mem_table_small
	$(B)/test/test_mem_table_small $(SEED)

check-sanitize: $(B)/test/test_mem_table_san $(B)/test/test_rfc_fixes_san $(B)/test/test_mem_table_ext_san
	ASAN_OPTIONS=detect_leaks=1 $(B)/test/test_rfc_fixes_san
	ASAN_OPTIONS=detect_leaks=1 $(B)/test/test_mem_table_san $(SEED)
	ASAN_OPTIONS=detect_leaks=1 $(B)/test/test_mem_table_ext_san

check-valgrind: $(B)/test/test_mem_table $(B)/test/test_rfc_fixes $(B)/test/test_mem_table_ext
	$(VALGRIND) $(B)/test/test_rfc_fixes
	$(VALGRIND) $(B)/test/test_mem_table $(SEED) 20000
	$(VALGRIND) $(B)/test/test_mem_table_ext

# Concurrent readers (mem_table_alloc_rcu()): the stress test against the
# library's plain sources (the counting allocator is not thread-safe), as
# built, under ASan+UBSan, and under TSan (Tests/C/tsan-rcu-suppressions.txt
# says why each suppression is safe); then two deliberately broken builds
# that must fail it: frees without a grace period (ASan sees the reader's
# use after free) and plain stores instead of release stores (TSan sees the
# race with the readers' loads).
RCU_TEST := Tests/C/test_mem_table_rcu.c
RCU_DEPS := $(RCU_TEST) $(SRCS) $(HEADERS) $(INTERNAL) Tests/C/rng.h | $(B)/test
RCU_CC    = $(CC) $(STD) $(WARNINGS) -g -Iinclude -ITests/C -o $@ $(RCU_TEST) $(SRCS) $(URCU_LIBS)
TSAN_RCU := TSAN_OPTIONS="suppressions=$(abspath Tests/C/tsan-rcu-suppressions.txt) halt_on_error=1"

$(B)/test/rcu: $(RCU_DEPS)
	$(RCU_CC) -O2
$(B)/test/rcu-asan: $(RCU_DEPS)
	$(RCU_CC) -O1 $(SAN_FLAGS)
$(B)/test/rcu-tsan: $(RCU_DEPS)
	$(RCU_CC) -O1 -fsanitize=thread
$(B)/test/rcu-broken-free: $(RCU_DEPS)
	$(RCU_CC) -O1 $(SAN_FLAGS) -DMEM_TABLE_RCU_BROKEN
$(B)/test/rcu-broken-publish: $(RCU_DEPS)
	$(RCU_CC) -O1 -fsanitize=thread -DMEM_TABLE_RCU_BROKEN_PUBLISH

check-rcu: $(B)/test/rcu $(B)/test/rcu-asan $(B)/test/rcu-tsan $(B)/test/rcu-broken-free $(B)/test/rcu-broken-publish
	$(B)/test/rcu $(SEED) 300000
	ASAN_OPTIONS=detect_leaks=1 $(B)/test/rcu-asan $(SEED) 100000
	$(TSAN_RCU) $(B)/test/rcu-tsan $(SEED) 20000
	@! ASAN_OPTIONS=detect_leaks=0 $(B)/test/rcu-broken-free $(SEED) 100000 > $(B)/test/rcu-broken.log 2>&1 && \
	  grep -q "heap-use-after-free" $(B)/test/rcu-broken.log && \
	  echo "rcu: the build that frees without a grace period fails the stress test (AddressSanitizer: heap-use-after-free)"
	@! $(TSAN_RCU) $(B)/test/rcu-broken-publish $(SEED) 20000 > $(B)/test/rcu-broken.log 2>&1 && \
	  grep -q "ThreadSanitizer: data race" $(B)/test/rcu-broken.log && \
	  echo "rcu: the build that publishes with plain stores fails the stress test (ThreadSanitizer: data race)"

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
	      Tests/C/headers/own_names.c $(STATIC) $(URCU_LIBS) && $(B)/test/own_names || exit 1; \
	  if command -v $(CXX) >/dev/null; then \
	    $(CXX) -Iinclude -pedantic -Wall -Wextra -Werror $$where -x c++ -o $(B)/test/own_names \
	      Tests/C/headers/own_names.c -x none $(STATIC) $(URCU_LIBS) && $(B)/test/own_names || exit 1; fi; \
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
	cc -static consumer.c $$(pkg-config --cflags memtable) "$$tmp/usr/lib/libmemtable.a" \
	    $$(pkg-config --static --libs-only-l memtable | sed 's/-lmemtable//') -lpthread -o consumer-static && \
	./consumer-static >/dev/null && \
	cd - >/dev/null && $(MAKE) -s install DESTDIR="$$tmp/stage" PREFIX=/opt/mt >/dev/null && \
	test -f "$$tmp/stage/opt/mt/include/mem_table.h" && \
	test -L "$$tmp/stage/opt/mt/lib/$(SONAME)" && \
	grep -q '^prefix=/opt/mt$$' "$$tmp/stage/opt/mt/lib/pkgconfig/memtable.pc" && \
	$(MAKE) -s uninstall DESTDIR="$$tmp/stage" PREFIX=/opt/mt >/dev/null && \
	test ! -e "$$tmp/stage/opt/mt/lib/$(SONAME)" && \
	echo "install: pkg-config consumer built and ran; DESTDIR staging and uninstall work"

# The C half of `make test`.
check-c-all: lib
	$(MAKE) check-headers check-rfc check-install check-readme
	$(MAKE) check-small check-sanitize check-valgrind check-rcu
	$(MAKE) check-c


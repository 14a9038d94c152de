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
DEB_PKGS := libbsd-dev pkg-config valgrind
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all lib deps test test-c check-c check-small check-sanitize check-valgrind \
        check-rfc check-install check-headers check-readme swift-build swift-test demo \
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
TEST_HDRS   := Tests/C/check.h $(HEADERS)
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

# Each public header compiles on its own, in C and in C++.
check-headers: | $(B)/test
	@for h in $(HEADERS); do \
	  echo "#include \"$$(basename $$h)\"" > $(B)/test/hdr.c; \
	  $(CC) -Iinclude $(STD) $(WARNINGS) -Werror -fsyntax-only $(B)/test/hdr.c || exit 1; \
	  if command -v c++ >/dev/null; then \
	    c++ -Iinclude -Wall -Wextra -Werror -fsyntax-only -x c++ $(B)/test/hdr.c || exit 1; fi; \
	done; echo "headers: each compiles on its own"

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

# ---------------------------------------------------------------- swift ---

swift-build:
	swift build -Xswiftc -warnings-as-errors

swift-test: swift-build
	swift test

test: test-c
	$(MAKE) swift-test
	@grep -h "random model" $(B)/test/summary-*.txt
	@awk '/^(rfc fixes: )?[0-9]+ passed, [0-9]+ failed$$/ { p += $$(NF-3); f += $$(NF-1) } \
	     END { printf "C tests (seed %s): %d passed, %d failed\n", "$(SEED)", p, f; exit f != 0 }' \
	     $(B)/test/summary-*.txt

# The demo: the README's C example, which creates, finds and frees entries
# and says what happened.
demo: deps lib
	$(README_EXAMPLE) > $(B)/demo.c
	$(CC) -Iinclude $(STD) $(WARNINGS) -Werror -O2 -o $(B)/demo $(B)/demo.c $(STATIC)
	$(B)/demo

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
	rm -rf $(B) .build

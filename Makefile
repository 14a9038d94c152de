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
SRCS     := $(SRCDIR)/mem_table.c $(SRCDIR)/mem_table_ext.c $(SRCDIR)/mem_table_alloc.c
HEADERS  := include/mem_table.h include/mem_table_kernel.h
INTERNAL := $(SRCDIR)/mem_table_internal.h
B        := build

LIBNAME  := libmemtable
SONAME   := $(LIBNAME).so.$(VERSION_MAJOR)
SHARED   := $(B)/$(LIBNAME).so.$(VERSION)
STATIC   := $(B)/$(LIBNAME).a

# Debian packages the build and the tests need; `make deps` installs the
# missing ones. swift itself comes with the machine. liburcu-dev: the
# library's one dependency (concurrent readers, the memb flavour).
DEB_PKGS := gcc g++ libbsd-dev liburcu-dev pkg-config valgrind binutils python3
URCU_LIBS := -lurcu-memb -lurcu-common -lpthread
# The command-line tool, release, a static executable: no dynamic loader, no
# shared library to map and relocate, so it starts in 1.4 ms where the Swift
# runtime linked in alone gave 2.7 and shared Swift libraries 4 (a scan of a
# small machine notices; Benchmarks/README.md). The linker warns that
# getpw*_r/getgr*_r (FoundationEssentials) and dlopen (the Swift runtime) would
# need glibc's shared libraries at run time: the tool calls none of them.
# Its code reaches the metadata of generic types (Set<Int32>, [String: Int], ...)
# through accessor functions rather than mangled names: the runtime demangles a
# name and looks up each of its conformances, a scan of every conformance record
# of the executable the first time (0.15 ms of a 1.8 ms scan of a small process).
# Linked by the toolchain's lld where it has one, with the functions a scan runs
# side by side (mk/memtable.order, written by mk/hot-functions.sh): they are
# spread over 12 MiB of code otherwise, and each first call into another 64 KiB
# of it is a page fault (a scan of a small process: 201 faults, 161 so).
SWIFT_LLD := $(wildcard $(dir $(realpath $(shell command -v swift 2>/dev/null)))ld.lld)
SWIFT_TOOL_BUILD := swift build -c release --product memtable -Xswiftc -static-executable \
	-Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors \
	$(if $(SWIFT_LLD),-Xswiftc -use-ld=lld -Xlinker --symbol-ordering-file=$(CURDIR)/mk/memtable.order \
	    -Xlinker --no-warn-symbol-ordering)

SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all lib install uninstall deps test demo demo-c clean \
        check-c-all check-c check-small check-sanitize check-valgrind check-rcu check-rfc check-install \
        check-headers check-readme swift-build check-swift check-consumer check-docs \
        check-traces check-diff check-fault check-fuzz fuzz check-swift-sanitize check-swift-valgrind \
        bench bench-swift bench-latency bench-changed bench-ranges bench-stats bench-scan bench-concurrent

all: lib

lib: $(STATIC) $(SHARED)

$(B)/lib/%.o: $(SRCDIR)/%.c $(HEADERS) $(INTERNAL) | $(B)/lib
	$(CC) $(LIB_CPPFLAGS) $(CPPFLAGS) $(LIB_CFLAGS) $(CFLAGS) -c $< -o $@

OBJS := $(SRCS:$(SRCDIR)/%.c=$(B)/lib/%.o)

$(STATIC): $(OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(URCU_LIBS)
	ln -sf $(LIBNAME).so.$(VERSION) $(B)/$(SONAME)
	ln -sf $(SONAME) $(B)/$(LIBNAME).so

$(B) $(B)/lib $(B)/test:
	mkdir -p $@

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

# ---------------------------------------------------------------- deps ---
#
# The one place that installs packages: what the build and the tests need,
# and DEPS_EXTRA on request (make bench asks for libjudy-dev).

DEPS_EXTRA ?=
deps:
	@missing=""; \
	for p in $(DEB_PKGS) $(DEPS_EXTRA); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The first C block of README.md, which must compile as written.
README_EXAMPLE := awk '/^```c$$/{f=1;next} f&&/^```$$/{exit} f' README.md

# ---------------------------------------------------------------- test ---
#
# Every test target is named check-*, in the included makefiles by concern:
# mk/tests.mk (C tests, headers, install, README), mk/traces.mk (traces,
# faults, fuzzing, cross-checks), mk/swift.mk (Swift tests, sanitizers, the
# versioned consumer, DocC). mk/bench.mk has the benchmarks. Only `deps`
# installs packages.

test: deps
	$(MAKE) check-c-all
	$(MAKE) check-swift check-consumer check-docs
	$(MAKE) check-traces check-fault check-fuzz check-swift-valgrind
	$(MAKE) check-diff
	$(MAKE) check-swift-sanitize
	@grep -h "random model" $(B)/test/summary-*.txt
	@awk '/^(rfc fixes: )?[0-9]+ passed, [0-9]+ failed$$/ { p += $$(NF-3); f += $$(NF-1) } \
	     END { printf "C tests, seed %s, all runs above:\nC: %d passed, %d failed\n", "$(SEED)", p, f; exit f != 0 }' \
	     $(B)/test/summary-*.txt

# The demo: memtable scan over this machine, in release mode (counting
# virtual pages if page frames are out of reach, as they are without root).
demo: deps
	$(SWIFT_TOOL_BUILD)
	.build/release/memtable scan || { echo "(page frames need root: counting virtual pages instead)"; \
	    .build/release/memtable scan --virtual; }

# The README's C example, built against the static library and run.
demo-c: lib
	$(README_EXAMPLE) > $(B)/demo.c
	$(CC) -Iinclude $(STD) $(WARNINGS) -Werror -O2 -o $(B)/demo $(B)/demo.c $(STATIC) $(URCU_LIBS)
	$(B)/demo

include mk/tests.mk mk/traces.mk mk/swift.mk mk/bench.mk

clean:
	rm -rf $(B) .build Benchmarks/swift/.build

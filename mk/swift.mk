# SPDX-License-Identifier: GPL-2.0-only
#
# Included by the top Makefile: the Swift build and tests, the versioned consumer, DocC.

# ---------------------------------------------------------------- swift ---

# The package has no unsafe flags (a versioned dependency could not build);
# the C warnings are passed here instead.
swift-build:
	swift build -Xswiftc -warnings-as-errors -Xcc -Wall -Xcc -Wextra

# The DocC catalog converted with the library's symbol graph, warnings as
# errors, and every public symbol documented (Tests/docs/coverage.py). The
# symbol graph has a build folder of its own, made anew each time.
#
# Every second build folder lies inside .build: the C target's path is the
# package root (so that include/ is its own), and SwiftPM 6.3 fails the next
# build in a folder of that root it does not know to skip ("unknown build
# description"); it skips .build.
DOCS_BUILD := .build/docs
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

check-swift: swift-build
	swift test

# The Swift tests under AddressSanitizer and ThreadSanitizer (the
# SharedMemTable stress test among them: Tests/C/tsan-rcu-suppressions.txt
# says why liburcu's grace periods need suppressions), and the Swift replay
# under valgrind, each in a build folder of its own.
check-swift-sanitize:
	LSAN_OPTIONS=suppressions=$(abspath Tests/lsan-suppressions.txt) \
	    swift test --scratch-path .build/asan --sanitize=address --disable-xctest
	TSAN_OPTIONS="suppressions=$(abspath Tests/C/tsan-rcu-suppressions.txt)" \
	    swift test --scratch-path .build/tsan --sanitize=thread --disable-xctest --filter Concurrency

check-swift-valgrind: $(SWIFT_TRACE)
	@cp $(SWIFT_TRACE) $(T)/memtable-trace-stripped && strip $(T)/memtable-trace-stripped
	@for t in $(TRACES); do \
	  valgrind -q --leak-check=full --show-possibly-lost=no --errors-for-leak-kinds=definite \
	    --error-exitcode=1 $(T)/memtable-trace-stripped replay $$t > $(T)/v.out || exit 1; \
	  diff -q $${t%.trace}.expected $(T)/v.out || exit 1; \
	done; echo "valgrind: the Swift replay of $(words $(TRACES)) traces: no error, no leak"


#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Writes mk/memtable.order: the functions that `memtable scan` runs, for the
# linker to put side by side (lld's --symbol-ordering-file, in the Makefile's
# SWIFT_TOOL_BUILD). The static executable is 12 MiB of code, and a scan's
# functions are spread over it: each first call into another 64 KiB of it is a
# page fault. Listed first, they fill a few hundred KiB.
#
# The list is what perf sees of scans of this machine, of a process of huge
# pages and of a small one, as JSON and for a person: the functions sampled,
# then the ones whose code a scan faults in, added to the list there is (run
# it again on the tool built with the new list and it finds the next ones); a
# name the program no longer has is dropped. A function missing from the list
# only costs its page fault.
#
#   mk/hot-functions.sh [TOOL]      (root, perf; TOOL: .build/release/memtable)
set -euo pipefail
cd "$(dirname "$0")/.."
tool=${1:-.build/release/memtable}
out=mk/memtable.order
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

make -s build/scan-toucher
build/scan-toucher 256 thp > "$work/toucher" &
while [ ! -s "$work/toucher" ]; do sleep 0.1; done
huge=$(head -1 "$work/toucher")
sleep 600 &
small=$!
runs=("scan --json" "scan --json --pid $huge" "scan --json --pid $small" "scan --pid $small" "scan"
      "scan --json --pages --pid $small")

# The functions sampled, the most sampled first.
perf record -q -o "$work/samples" -F 49999 -- bash -c "for i in \$(seq 40); do
    for a in $(printf "'%s' " "${runs[@]}"); do $tool \$a > /dev/null; done; done" 2> /dev/null
perf report -i "$work/samples" --dso "$(basename "$tool")" --no-demangle --sort sym -g none 2> /dev/null |
    sed -nE 's/^ *[0-9.]+% +\[\.\] +([^ ]+) *$/\1/p' | grep -v '^0x' > "$work/sampled"

# The functions at the page faults in the code, in the order they come.
for a in "${runs[@]}"; do
    perf record -q -o "$work/faults" -e page-faults -c 1 -d -- $tool $a > /dev/null 2>&1
    perf script -i "$work/faults" -F ip 2> /dev/null
done > "$work/ips"
nm -n "$tool" | awk '$2 ~ /^[tTwW]$/ { print $1, $3 }' > "$work/symbols"
python3 - "$work/symbols" "$work/ips" > "$work/faulted" <<'EOF'
import bisect, sys
symbols = [(int(a, 16), name) for a, name in (line.split() for line in open(sys.argv[1]))]
starts = [a for a, _ in symbols]
seen = set()
for line in open(sys.argv[2]):
    i = bisect.bisect_right(starts, int(line, 16)) - 1
    if i >= 0 and symbols[i][1] not in seen:
        seen.add(symbols[i][1])
        print(symbols[i][1])
EOF

# The list so far, then what is new; only names the program still has.
awk '{ print $2 }' "$work/symbols" > "$work/names"
{ grep -v '^#' "$out" 2> /dev/null || true; cat "$work/sampled" "$work/faulted"; } |
    awk 'NR == FNR { have[$0] = 1; next } have[$0] && !seen[$0]++' "$work/names" - > "$work/order"
{
    echo "# The functions memtable scan runs, for lld --symbol-ordering-file (mk/hot-functions.sh)."
    cat "$work/order"
} > "$out"
echo "$out: $(wc -l < "$work/order") functions ($(wc -l < "$work/sampled") sampled, $(wc -l < "$work/faulted") at page faults)"

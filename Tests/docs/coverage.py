#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Every public symbol of a module documented, and complexity stated where a
member is not O(1): read from the module's symbol graph.

    coverage.py MODULE.symbols.json [MODULE@*.symbols.json ...]

Every symbol declared in the module's source must have a doc comment of its
own; what the compiler makes (default implementations of the standard
library's protocols, marked ::SYNTHESIZED::, and synthesized conformances,
which have no source location) carries the standard library's. Prints what is
missing and exits 1.
"""
import json
import sys

# Members whose work is not O(1) and that must say so ("Complexity").
NEEDS_COMPLEXITY = {
    "MemTable.description", "MemTable.debugDescription", "MemTable.statistics",
    "MemTable.hash(into:)", "MemTable.encode(to:)", "MemTable.init(from:)",
    "MemTable.mapValues(_:)", "MemTable.compactMapValues(_:)", "MemTable.filter(_:)",
    "MemTable.removeAll(where:)", "MemTable.merge(_:uniquingKeysWith:)",
    "MemTable.init(uniqueKeysWithValues:geometry:)", "MemTable.startIndex",
    "MemTable.index(after:)", "MemTable.index(before:)", "MemTable.entries(in:)",
    "MemTable.subscript(_:)", "MemTable.updateValue(_:forAddress:level:)",
    "MemTable.setValue(_:forRange:)",
}

missing, no_complexity, total = [], [], 0
for path in sys.argv[1:]:
    with open(path) as f:
        graph = json.load(f)
    for sym in graph["symbols"]:
        if sym.get("accessLevel") not in ("public", "open"):
            continue
        name = ".".join(sym["pathComponents"])
        if any(p.startswith("_") for p in sym["pathComponents"]):
            continue
        if "::SYNTHESIZED::" in sym["identifier"]["precise"] or "location" not in sym:
            continue
        total += 1
        doc = sym.get("docComment")
        if not doc or not doc.get("lines"):
            missing.append(name)
            continue
        text = "\n".join(l["text"] for l in doc["lines"])
        if name in NEEDS_COMPLEXITY and "Complexity" not in text and "sourceOrigin" not in sym:
            no_complexity.append(name)

for name in sorted(set(missing)):
    print(f"docs: undocumented public symbol {name}")
for name in sorted(set(no_complexity)):
    print(f"docs: {name} does not state its complexity")
if missing or no_complexity:
    sys.exit(1)
print(f"docs: {total} public symbols, every one documented")

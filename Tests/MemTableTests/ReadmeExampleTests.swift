// SPDX-License-Identifier: GPL-2.0-only
//
// The README's Swift example, compiled and run as written: `make check-readme`
// checks that the lines between the markers are the README's.

import MemTable
import Testing

@Test("the README's Swift example")
func readmeExample() throws {
    // README begin
    var counters = MemTable<Int>()              // x86-64, 4-level: 4 KiB pages, 46 bits
    counters[0x1234_5000, default: 0] += 1      // any byte of the page reaches its entry
    counters[0x1234_5fff, default: 0] += 1
    print(counters[0x1234_5000]!)               // 2

    // One value for a 2 MiB large page, then a page inside it (the entry splits).
    try counters.updateValue(7, forAddress: 0x4020_0000, level: .pmd)
    counters[0x4030_0000] = 8
    print(counters.entry(containing: 0x4020_0000)!.level)   // level 0: split into pages

    var copy = counters                         // value semantics: copy on write
    copy.removeAll()
    print(counters.count, copy.count)           // 513 0

    for entry in counters.entries(in: 0x4030_0000..<0x4030_2000) {
        print(entry.range.lowerBound, entry.value)   // 0x40300000 8, then 0x40301000 7
    }
    print(counters.statistics.bytes)            // bytes held by the tables
    // README end
    #expect(counters.count == 513 && copy.isEmpty)
}

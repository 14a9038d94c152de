// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Swift layer's tests.
// What the documentation promises, pinned where an outside client found the
// code and the docs apart: 64-bit geometries to the top, merge by `==`, the
// inline rule, and the edges of the geometry.

import MemTable
import Testing

/// A one-byte value (inline) whose `==` ignores its low bit.
struct Mod: Equatable {
    var bits: UInt8
    static func == (a: Mod, b: Mod) -> Bool { a.bits >> 1 == b.bits >> 1 }
}

/// The same, sixteen bytes wide (boxed).
struct WideMod: Equatable {
    var bits: UInt64
    var pad: UInt64 = 0
    static func == (a: WideMod, b: WideMod) -> Bool { a.bits >> 1 == b.bits >> 1 }
}

/// Two 32-bit halves: eight bytes, inline or not by the documented rule.
struct Pair: Equatable {
    var a: UInt32
    var b: UInt32
}

@Suite("64-bit geometries, to the last address")
struct TopOfTheAddressSpaceTests {
    let geometry = try! Geometry(pageShift: 12, bitsPerLevel: 13, physicalAddressBits: 64)

    @Test func theLastPage() throws {
        var t = MemTable<Int>(geometry: geometry)
        #expect(geometry.lastAddress == PhysicalAddress(.max) && geometry.addressLimit == .max)
        let top = PhysicalAddress(0xFFFF_FFFF_FFFF_F000)
        t[top] = 1
        t[0] = 2
        #expect(t[PhysicalAddress(.max)] == 1)
        let e = try #require(t.entry(containing: PhysicalAddress(.max)))
        #expect(e.addresses == top...PhysicalAddress(.max) && e.level == .pte && e.value == 1)
        #expect(t.entries.map(\.addresses.lowerBound) == [0, top])
        #expect(t.entries(in: top...PhysicalAddress(.max)).map(\.value) == [1])
        #expect(t.entries(in: PhysicalAddress(0x1000)...PhysicalAddress(.max)).map(\.value) == [1])
        #expect(t.map(\.address) == [0, top])
        #expect(t.description == "MemTable([0x0: 2, 0xfffffffffffff000: 1])")
        #expect(t == t && t != MemTable<Int>(geometry: geometry))
        // UInt64.max is within a 64-bit geometry: it reaches the last page.
        t[PhysicalAddress(.max)] = 5
        #expect(t[top] == 5 && t.count == 2)
    }

    @Test func aLargeEntryAtTheTopAndClosedRanges() throws {
        var t = MemTable<Int>(geometry: geometry)
        let size = geometry.entrySize(at: .pmd)  // 32 MiB
        let start = PhysicalAddress(0 &- size)
        try t.updateValue(3, forAddress: start, level: .pmd)
        let e = try #require(t.entry(containing: PhysicalAddress(.max - 5)))
        #expect(e.addresses == start...PhysicalAddress(.max) && e.level == .pmd)
        #expect(t.entries.map(\.level) == [.pmd])
        var u = t
        #expect(u == t)
        // A closed range removes the very last page, splitting the entry.
        #expect(try u.removeValues(inRange: PhysicalAddress(.max - 4095)...PhysicalAddress(.max)) == 1)
        #expect(u[PhysicalAddress(.max)] == nil && u[PhysicalAddress(.max - 4096)] == 3)
        #expect(u.count == 8191 && u != t)
        // And stores over it.
        try u.setValue(4, forRange: PhysicalAddress(.max - 8191)...PhysicalAddress(.max))
        #expect(u[PhysicalAddress(.max)] == 4 && u[PhysicalAddress(.max - 8191)] == 4)
        #expect(u.count == 8192)
        try u.setValue(6, forRange: start...PhysicalAddress(.max))
        #expect(u.count == 1 && u.entry(containing: start)?.level == .pmd)
        #expect(try u.removeValues(inRange: PhysicalAddress(0)...PhysicalAddress(.max)) == 1)
        #expect(u.isEmpty)
        // Bounds that are not a page's first and last address are refused.
        #expect(throws: MemTableError.unalignedAddress(PhysicalAddress(1), level: .pte)) {
            try u.setValue(1, forRange: PhysicalAddress(1)...PhysicalAddress(.max))
        }
        #expect(throws: MemTableError.unalignedAddress(PhysicalAddress(4096), level: .pte)) {
            try u.removeValues(inRange: PhysicalAddress(0)...PhysicalAddress(4096))
        }
        #expect(u.isEmpty)
    }

    @Test func closedRangesInA46BitGeometry() throws {
        var t = MemTable<Int>()
        let last = MemTable<Int>().geometry.lastAddress
        #expect(last == PhysicalAddress((1 << 46) - 1))
        try t.setValue(1, forRange: PhysicalAddress(last.rawValue - 4095)...last)
        #expect(t[last] == 1 && t.count == 1)
        #expect(throws: MemTableError.addressOutOfRange(PhysicalAddress(1 << 46 + 4095), limit: 1 << 46)) {
            try t.setValue(1, forRange: PhysicalAddress(0)...PhysicalAddress(1 << 46 + 4095))
        }
        #expect(t.entries(in: PhysicalAddress(0)...last).map(\.value) == [1])
    }

    @Test func theHalfOpenRangeOfTheTopEntryTraps() async {
        await #expect(processExitsWith: .failure) {
            let g = try! Geometry(pageShift: 12, bitsPerLevel: 13, physicalAddressBits: 64)
            var t = MemTable<Int>(geometry: g)
            t[PhysicalAddress(.max)] = 1
            _ = t.entry(containing: PhysicalAddress(.max))!.range
        }
    }
}

@Suite("merge(at:level:) compares with ==")
struct MergeEqualityTests {
    @Test func inlineValuesMergeByTheirEquality() throws {
        var t = MemTable<Mod>()
        for page in 0..<UInt64(512) { t[PhysicalAddress(page * 4096)] = Mod(bits: page == 7 ? 5 : 4) }
        #expect(t.statistics.inlineEntries[0] == 512)
        #expect(try t.merge(at: 0, level: .pmd))
        #expect(t.count == 1 && t.entry(containing: 0x1000)?.level == .pmd)
        #expect(t[0x7000]?.bits == 4)  // the first page's value
    }

    @Test func boxedValuesMergeByTheirEquality() throws {
        var t = MemTable<WideMod>()
        for page in 0..<UInt64(512) { t[PhysicalAddress(page * 4096)] = WideMod(bits: page == 7 ? 5 : 4) }
        #expect(t.statistics.inlineEntries[0] == 0)
        #expect(try t.merge(at: 0, level: .pmd))
        #expect(t.count == 1 && t[0x7000]?.bits == 4)
    }

    @Test func zeroAndNegativeZeroMerge() throws {
        var t = MemTable<Double>()
        for page in 0..<UInt64(512) { t[PhysicalAddress(page * 4096)] = page == 511 ? -0.0 : 0.0 }
        #expect(try t.merge(at: 0, level: .pmd))
        #expect(t.count == 1 && t[0x1f_f000] == 0.0)
        // Unequal values still do not merge, and nothing changes.
        for page in 0..<UInt64(512) { t[PhysicalAddress(page * 4096)] = Double(page % 2) }
        let before = t
        #expect(try t.merge(at: 0, level: .pmd) == false)
        #expect(t == before && t.count == 512)
    }

    @Test func mergedBoxesAreReleasedOnce() throws {
        let lives = Lives()
        do {
            var t = MemTable<Tracked>()
            // 512 distinct objects that are == (same id).
            for page in 0..<UInt64(512) { t[PhysicalAddress(page * 4096)] = Tracked(lives, 1) }
            #expect(lives.alive == 512)
            #expect(try t.merge(at: 0, level: .pmd))
            #expect(lives.alive == 1 && t.count == 1)
            // A hole or a deeper entry is no full table: no merge, no change.
            for page in 0..<UInt64(511) { t[PhysicalAddress(2 * MiB + page * 4096)] = Tracked(lives, 2) }
            #expect(try t.merge(at: PhysicalAddress(2 * MiB), level: .pmd) == false)
            #expect(lives.alive == 512 && t.count == 512)
        }
        #expect(lives.alive == 0)
    }
}

@Suite("The inline rule")
struct InlineRuleTests {
    func inline<V>(_ value: V) -> Bool {
        var t = MemTable<V>()
        t[0] = value
        return t.statistics.inlineEntries[0] == 1
    }

    @Test func eightByteValuesAreInlineAsSignExtended62BitNumbers() {
        #expect(inline(Int(-1)) && inline(Int(-(1 << 61))) && inline(Int((1 << 61) - 1)))
        #expect(!inline(Int(1 << 61)) && !inline(Int(-(1 << 61) - 1)) && !inline(Int.max))
        #expect(inline(UInt64((1 << 61) - 1)) && !inline(UInt64(1 << 61)))
        #expect(!inline(UInt64((1 << 62) - 1)) && inline(UInt64.max))  // UInt64.max is -1
        #expect(inline(Pair(a: .max, b: 0x1FFF_FFFF)) && !inline(Pair(a: 0, b: 0x3FFF_FFFF)))
        #expect(inline(0.0) && !inline(-0.0) && !inline(1.0))  // -0.0 is Int64.min
    }

    @Test func smallerValuesAreAlwaysInline() {
        #expect(inline(UInt32.max) && inline(Int32.min) && inline((UInt16.max, UInt8.max, UInt32.max)))
        #expect(!inline("a string") && !inline([1, 2]))
    }

    @Test func valuesRoundTripEitherWay() {
        var t = MemTable<UInt64>()
        let values: [UInt64] = [0, 1, (1 << 61) - 1, 1 << 61, (1 << 62) - 1, 1 << 63, .max]
        for (i, v) in values.enumerated() { t[PhysicalAddress(UInt64(i) * 4096)] = v }
        #expect(t.map(\.value) == values)
    }
}

@Suite("The geometry's edges")
struct GeometryEdgeTests {
    @Test func descriptionsNameTheirUnit() throws {
        #expect(try Geometry(pageShift: 8, bitsPerLevel: 8, physicalAddressBits: 32).description
                == "256 B pages, 8 bits per level, 32 address bits, 3 levels")
        #expect(Geometry.arm64_64K.description == "64 KiB pages, 13 bits per level, 48 address bits, 3 levels")
        #expect(try Geometry(pageShift: 21, bitsPerLevel: 9, physicalAddressBits: 48).description
                == "2 MiB pages, 9 bits per level, 48 address bits, 3 levels")
    }

    @Test func removingBeyondTheGeometryDoesNothing() {
        var t: MemTable<Int> = [0x1000: 1]
        t[PhysicalAddress(1 << 46)] = nil
        #expect(t.removeValue(forAddress: PhysicalAddress(.max)) == nil)
        #expect(t.count == 1 && t[0x1000] == 1)
    }

    @Test func splittingToTheLevelAnEntryHasChangesNothing() throws {
        var t = MemTable<Int>()
        try t.updateValue(1, forAddress: 0x20_0000, level: .pmd)
        try t.split(at: 0x20_0000, to: .pmd)
        try t.split(at: 0x20_0000, to: .pmd)
        #expect(t.count == 1 && t.entry(containing: 0x20_0000)?.level == .pmd)
        t[0x1000] = 2
        try t.split(at: 0x1000, to: .pmd)  // a page is below .pmd already
        #expect(t.count == 2)
    }

    @Test func entryCountOfALevelNotInTheGeometryTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = Geometry.x86_64.entryCount(at: 4)
        }
    }
}

@Suite("What changed: the RFC's changed flag")
struct ChangedTests {
    @Test func onlyTheMarkedTablesComeBack() throws {
        var t = MemTable<Int>()
        for page in 0..<UInt64(2048) { t[PhysicalAddress(page << 12)] = 1 }
        #expect(t.takeChangedEntries().count == 2048)
        #expect(t.takeChangedEntries().isEmpty)
        t[PhysicalAddress(1029 << 12)] = 2  // the third table of pages
        let changed = t.takeChangedEntries()
        #expect(changed.count == 512 && changed.first?.addresses.lowerBound == PhysicalAddress(1024 << 12))
        #expect(changed.contains { $0.value == 2 })
        t[PhysicalAddress(1536 << 12)] = nil
        #expect(t.takeChangedEntries().count == 511)
        // A copy takes its own changes; the original keeps its marks.
        t[0] = 3
        var copy = t
        #expect(copy.takeChangedEntries().count == 512 && copy.takeChangedEntries().isEmpty)
        #expect(t.takeChangedEntries().count == 512)
    }
}

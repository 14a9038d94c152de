// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Swift layer's tests.

import MemTable
import Testing

import MemTableTestSupport
import Foundation

/// Counts the instances of `Tracked` alive, per test.
final class Lives {
    var alive = 0
    var made = 0
}

/// A value whose life is counted: every stored value must die exactly once.
final class Tracked: Equatable, CustomStringConvertible {
    let lives: Lives
    let id: Int
    init(_ lives: Lives, _ id: Int) {
        self.lives = lives
        self.id = id
        lives.alive += 1
        lives.made += 1
    }
    deinit { lives.alive -= 1 }
    static func == (a: Tracked, b: Tracked) -> Bool { a.id == b.id }
    var description: String { "#\(id)" }
}

let KiB: UInt64 = 1 << 10
let MiB: UInt64 = 1 << 20
let GiB: UInt64 = 1 << 30

@Suite("PhysicalAddress and PageFrameNumber")
struct AddressTests {
    @Test func literalsDescriptionsAndOrder() {
        let pa: PhysicalAddress = 0x1234_5678
        #expect(pa.description == "0x12345678")
        #expect(pa.pageFrame == 0x12345)
        #expect(pa.pageFrame.description == "pfn 0x12345")
        #expect(pa.pageFrame.address == 0x1234_5000)
        #expect(PhysicalAddress(pageFrame: 3, pageShift: 14) == 0xC000)
        #expect(pa.pageFrame(pageShift: 21) == 0x91)
        #expect(PhysicalAddress(1) < PhysicalAddress(2))
        #expect(Set([pa, pa, pa + 1]).count == 2)
    }
}

@Suite("MemTable as a dictionary")
struct DictionaryTests {
    @Test func getSetRemove() {
        var t = MemTable<Int>()
        #expect(t.isEmpty && t.count == 0)
        t[0x1000] = 1
        t[0x2fff] = 2
        #expect(t[0x1abc] == 1 && t[0x2000] == 2 && t[0x3000] == nil)
        #expect(t.count == 2)
        t[0x1000] = 10
        #expect(t[0x1fff] == 10 && t.count == 2)
        t[0x1000] = nil
        #expect(t[0x1000] == nil && t.count == 1)
        #expect(t.removeValue(forAddress: 0x2000) == 2)
        #expect(t.removeValue(forAddress: 0x2000) == nil)
        #expect(t.isEmpty)
    }

    @Test func updateValueReturnsTheOldOne() throws {
        var t = MemTable<String>()
        #expect(try t.updateValue("a", forAddress: 0x5000) == nil)
        #expect(try t.updateValue("b", forAddress: 0x5001) == "a")
        #expect(t[0x5000] == "b")
    }

    @Test func defaultSubscriptChangesInPlace() {
        var t = MemTable<Int>()
        for _ in 0..<5 { t[0x7000, default: 0] += 1 }
        t[0x7123, default: 100] += 1
        #expect(t[0x7000] == 6 && t.count == 1)
        var s = MemTable<[Int]>()
        s[0x1000, default: []].append(1)
        s[0x1000, default: []].append(2)
        #expect(s[0x1000] == [1, 2])
    }

    @Test func removeAllAndLiterals() {
        var t: MemTable<Int> = [0x1000: 1, 0x2000: 2, 0x40_0000: 3]
        #expect(t.count == 3)
        #expect(t.description == "MemTable([0x1000: 1, 0x2000: 2, 0x400000: 3])")
        t.removeAll()
        #expect(t.isEmpty && t[0x1000] == nil)
        t[0x1000] = 5
        #expect(t.count == 1)
    }

    @Test func valuesOfEveryKind() {
        enum Colour: Equatable { case red, green(Int), blue(String) }
        struct Wide: Equatable { var a, b, c: Int }
        var colours = MemTable<Colour>()
        colours[0x1000] = .green(3)
        colours[0x2000] = .blue("x")
        #expect(colours[0x1000] == .green(3) && colours[0x2000] == .blue("x"))
        var wide = MemTable<Wide>()
        wide[0] = Wide(a: 1, b: 2, c: 3)
        #expect(wide[0] == Wide(a: 1, b: 2, c: 3))
        // Integers at the edges of what fits in a slot, and past them.
        var ints = MemTable<Int>()
        let edges = [0, 1, -1, Int.max, Int.min, 1 << 61, -(1 << 61), (1 << 61) - 1, (1 << 61) + 1]
        for (i, v) in edges.enumerated() { ints[PhysicalAddress(UInt64(i) << 12)] = v }
        for (i, v) in edges.enumerated() { #expect(ints[PhysicalAddress(UInt64(i) << 12)] == v) }
        var doubles = MemTable<Double>()
        doubles[0] = -0.0
        doubles[0x1000] = .infinity
        #expect(doubles[0]?.sign == .minus && doubles[0x1000] == .infinity)
        var small = MemTable<(UInt8, Bool)>()
        small[0] = (7, true)
        #expect(small[0]! == (7, true))
        var unit = MemTable<Void>()
        unit[0x1000] = ()
        #expect(unit.count == 1)
    }
}

@Suite("Value lifetimes: every value released exactly once")
struct LifetimeTests {
    @Test func overwriteEraseAndDrop() {
        let lives = Lives()
        do {
            var t = MemTable<Tracked>()
            t[0x1000] = Tracked(lives, 1)
            t[0x1000] = Tracked(lives, 2)
            #expect(lives.alive == 1)
            t[0x2000] = Tracked(lives, 3)
            t[0x2000] = nil
            #expect(lives.alive == 1)
            t[0x3000] = Tracked(lives, 4)
            t.removeAll()
            #expect(lives.alive == 0)
            t[0x4000] = Tracked(lives, 5)
        }
        #expect(lives.alive == 0 && lives.made == 5)
    }

    @Test func largeEntriesSplitAndMerge() throws {
        let lives = Lives()
        do {
            var t = MemTable<Tracked>()
            try t.updateValue(Tracked(lives, 1), forAddress: PhysicalAddress(2 * MiB), level: .pmd)
            // Storing a page inside splits the 2 MiB entry: 512 entries share one value.
            t[PhysicalAddress(2 * MiB + 4 * KiB)] = Tracked(lives, 2)
            #expect(t.count == 512 && lives.alive == 2)
            #expect(t[PhysicalAddress(3 * MiB)]?.id == 1)
            // Equal again, and merged back.
            do {
                let one = t[PhysicalAddress(2 * MiB)]!
                t[PhysicalAddress(2 * MiB + 4 * KiB)] = one
            }
            #expect(lives.alive == 1)
            #expect(try t.merge(at: PhysicalAddress(2 * MiB), level: .pmd))
            #expect(t.count == 1 && t.entry(containing: PhysicalAddress(3 * MiB))?.level == .pmd)
            try t.split(at: PhysicalAddress(2 * MiB + 8 * KiB))
            #expect(t.count == 512 && lives.alive == 1)
            try t.setValue(Tracked(lives, 3), forRange: PhysicalAddress(0)..<PhysicalAddress(6 * MiB + 8 * KiB))
            #expect(lives.alive == 1 && t.count == 3 + 2)
            #expect(try t.removeValues(inRange: PhysicalAddress(0)..<PhysicalAddress(2 * MiB)) == 1)
        }
        #expect(lives.alive == 0)
    }

    @Test func copyOnWriteKeepsBothAlive() {
        let lives = Lives()
        do {
            var a = MemTable<Tracked>()
            a[0x1000] = Tracked(lives, 1)
            var b = a
            b[0x1000] = Tracked(lives, 2)
            #expect(a[0x1000]?.id == 1 && b[0x1000]?.id == 2)
            #expect(lives.alive == 2)
            var c = b
            c[0x2000] = Tracked(lives, 3)
            _ = c.removeValue(forAddress: 0x1000)
            #expect(b[0x1000]?.id == 2 && b[0x2000] == nil && lives.alive == 3)
        }
        #expect(lives.alive == 0)
    }
}

@Suite("Copy on write")
struct CopyOnWriteTests {
    @Test func copiesAreIndependent() throws {
        var a: MemTable<Int> = [0x1000: 1]
        var b = a
        b[0x1000, default: 0] += 10
        b[0x2000] = 2
        #expect(a[0x1000] == 1 && a[0x2000] == nil && a.count == 1)
        #expect(b[0x1000] == 11 && b.count == 2)
        let c = b
        try b.updateValue(5, forAddress: PhysicalAddress(GiB), level: .pud)
        #expect(c.count == 2 && b.count == 3)
        #expect(a != b && b != c && c == c)
        a.removeAll()
        #expect(b[0x1000] == 11)
    }

    @Test func boxedValuesAreCopiedBeforeAChange() {
        var a = MemTable<[Int]>()
        a[0x1000] = [1]
        var b = a
        b[0x1000, default: []].append(2)
        #expect(a[0x1000] == [1] && b[0x1000] == [1, 2])
    }

    @Test func iterationSeesTheTableAsItWas() {
        var t: MemTable<Int> = [0x1000: 1, 0x2000: 2]
        var seen: [Int] = []
        for (address, value) in t {
            seen.append(value)
            t[address + 0x10_0000] = value * 10
        }
        #expect(seen == [1, 2] && t.count == 4)
    }
}

@Suite("Large entries")
struct LargePageTests {
    @Test func storeReadSplitMerge() throws {
        var t = MemTable<Int>()
        try t.updateValue(7, forAddress: 0x4020_0000, level: .pmd)
        #expect(t[0x4020_0000] == 7 && t[0x403f_ffff] == 7 && t[0x4040_0000] == nil)
        let e = try #require(t.entry(containing: 0x4030_0000))
        #expect(e.range == PhysicalAddress(0x4020_0000)..<PhysicalAddress(0x4040_0000))
        #expect(e.level == .pmd && e.value == 7)
        try t.updateValue(9, forAddress: PhysicalAddress(3 * GiB), level: .pud)
        #expect(t.entry(containing: PhysicalAddress(4 * GiB - 1))?.level == .pud)
        #expect(t.count == 2)
        // A page store inside splits; merging needs equal values.
        t[0x4030_0000] = 8
        #expect(t.count == 512 + 1)
        #expect(try t.merge(at: 0x4020_0000, level: .pmd) == false)
        t[0x4030_0000] = 7
        #expect(try t.merge(at: 0x4020_0000, level: .pmd) == true)
        #expect(t.count == 2)
        try t.split(at: PhysicalAddress(3 * GiB + 5 * MiB), to: .pte)
        #expect(t.count == 1 + 512 + 511)
        #expect(try t.merge(at: PhysicalAddress(3 * GiB + 5 * MiB), level: .pmd))
        #expect(try t.merge(at: PhysicalAddress(3 * GiB), level: .pud))
        #expect(t.count == 2)
    }

    @Test func reservations() throws {
        var t = MemTable<Int>()
        let bare = t.statistics.tables
        try t.reserve(at: 0x20_0000)
        #expect(t.isEmpty && t[0x20_0000] == nil && t.entry(containing: 0x20_0000) == nil)
        #expect(t.statistics.tables[0] == 1)
        // A neighbour's erase leaves the reserved slot's tables; removing its address ends it.
        t[0x20_1000] = 1
        t[0x20_1000] = nil
        #expect(t.statistics.tables[0] == 1)
        #expect(t.removeValue(forAddress: 0x20_0000) == nil)
        #expect(t.statistics.tables == bare)
        // Inside a large entry: split down to the level instead, values kept.
        try t.updateValue(3, forAddress: 0x4000_0000, level: .pmd)
        try t.reserve(at: 0x4000_1000)
        #expect(t.entry(containing: 0x4000_1000)?.level == .pte && t.count == 512)
        #expect(t[0x4000_1000] == 3 && t[0x401f_f000] == 3)
        #expect(throws: MemTableError.smallerEntriesPresent(0x4000_0000, level: .pmd)) {
            try t.reserve(at: 0x4000_0000, level: .pmd)
        }
        // A store ends it; a copy keeps its own.
        try t.reserve(at: 0x8000_0000, level: .pmd)
        let copy = t
        try t.updateValue(9, forAddress: 0x8000_0000, level: .pmd)
        #expect(copy[0x8000_0000] == nil && t[0x8000_0000] == 9)
        #expect(copy.statistics.tables[1] == t.statistics.tables[1])
    }

    @Test func ranges() throws {
        var t = MemTable<Int>()
        try t.setValue(5, forRange: PhysicalAddress(4 * KiB)..<PhysicalAddress(2 * GiB + 8 * KiB))
        let s = t.statistics
        #expect(s.entries[0] == 513 && s.entries[1] == 511 && s.entries[2] == 1)
        #expect(s.pages == Int((2 * GiB + 4 * KiB) / (4 * KiB)))
        #expect(s.inlineEntries == s.entries)
        #expect(try t.removeValues(inRange: PhysicalAddress(GiB)..<PhysicalAddress(GiB + 4 * KiB)) == 1)
        #expect(t[PhysicalAddress(GiB)] == nil && t[PhysicalAddress(GiB + 4 * KiB)] == 5)
    }

    /// statistics(visiting:) counts what statistics counts and visits what
    /// entries lists, in its order: pages, large entries and boxed values.
    @Test func statisticsVisitingEveryEntry() throws {
        var t = MemTable<[Int]>()
        var seed: UInt64 = 0x5ca7_7e12
        for k in 0..<2_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let page = PhysicalAddress((seed >> 20) % (1 << 36) & ~0xfff)
            if k % 100 == 0, t.entry(containing: page) == nil {
                _ = try? t.updateValue([k, k], forAddress: PhysicalAddress(page.rawValue & ~(2 * MiB - 1)), level: .pmd)
            } else {
                t[page] = [k]
            }
        }
        var visited: [MemTable<[Int]>.Entry] = []
        let s = t.statistics { visited.append($0) }
        #expect(s == t.statistics, "seed 0x5ca77e12")
        #expect(visited == Array(t.entries), "seed 0x5ca77e12")
        #expect(visited.contains { $0.level == .pmd } && s.count == visited.count)
        #expect(MemTable<UInt8>().statistics { _ in Issue.record("an entry in an empty table") } == MemTable<UInt8>().statistics)
    }

    /// The stretches are the entries, in order, each once, consecutive
    /// entries of one level and one value; with values in the slots, two
    /// adjacent stretches of one value and level meet only where a table
    /// ends. Values in boxes (`[Int]`), each its own box, are a stretch each.
    @Test(arguments: [0x57e7_c4e5 as UInt64, 0x1dea, 0xf00d_cafe])
    func statisticsVisitingStretches(seed: UInt64) throws {
        func check<V: Equatable>(_ t: MemTable<V>, inline: Bool) {
            var stretches: [MemTable<V>.Stretch] = []
            let s = t.forEachStretch { stretches.append($0) }
            #expect(s == t.statistics, "seed \(seed)")
            var entries: [FlatEntry<V>] = []
            for stretch in stretches {
                #expect(stretch.count >= 1 && (inline || stretch.count == 1), "seed \(seed)")
                #expect(stretch.entrySize == t.geometry.entrySize(at: stretch.level), "seed \(seed)")
                for k in 0..<UInt64(stretch.count) {
                    let start = stretch.addresses.lowerBound.rawValue + k * stretch.entrySize
                    entries.append(FlatEntry(start: start, last: start + stretch.entrySize - 1,
                                             level: stretch.level, value: stretch.value))
                }
            }
            #expect(entries == t.entries.map {
                FlatEntry(start: $0.addresses.lowerBound.rawValue, last: $0.addresses.upperBound.rawValue,
                          level: $0.level, value: $0.value)
            }, "seed \(seed)")
            #expect(s.count == entries.count, "seed \(seed)")
            guard inline else { return }
            for (a, b) in zip(stretches, stretches.dropFirst())
            where a.addresses.upperBound.rawValue &+ 1 == b.addresses.lowerBound.rawValue
                && a.level == b.level && a.value == b.value {
                // Only across tables: b starts a table of its level.
                let span = a.level.rawValue + 1 < t.geometry.levelCount
                    ? t.geometry.entrySize(at: PageLevel(rawValue: a.level.rawValue + 1)) : 0
                #expect(span != 0 && b.addresses.lowerBound.rawValue % span == 0,
                        "seed \(seed): \(a.addresses) and \(b.addresses) could be one stretch")
            }
        }
        var small = MemTable<UInt8>(), boxed = MemTable<[Int]>()
        var state = seed
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 16
        }
        for _ in 0..<400 {
            // Runs of a few values over 64 MiB: pages, ranges, 2 MiB entries.
            let page = next() % (64 * MiB / 4096) * 4096, value = UInt8(next() % 3)
            switch next() % 4 {
            case 0:
                let pages = next() % 700 + 1
                try small.setValue(value, forRange: PhysicalAddress(page)..<PhysicalAddress(page + pages * 4096))
            case 1:
                _ = try? small.updateValue(value, forAddress: PhysicalAddress(page & ~(2 * MiB - 1)), level: .pmd)
            default:
                small[PhysicalAddress(page)] = value
            }
            boxed[PhysicalAddress(page)] = [Int(value)]
        }
        check(small, inline: true)
        check(boxed, inline: false)
        // A range of one value is one stretch per table.
        var one = MemTable<Int>()
        try one.setValue(7, forRange: PhysicalAddress(0x1000)..<PhysicalAddress(0x1000 + 300 * 4096))
        var calls = 0
        one.forEachStretch { stretch in
            calls += 1
            #expect(stretch.count == 300 && stretch.value == 7 && stretch.level == .pte)
        }
        #expect(calls == 1)
        #expect(MemTable<UInt8>().forEachStretch { _ in Issue.record("a stretch in an empty table") }
            == MemTable<UInt8>().statistics)
    }
}

/// An entry as plain fields, to compare stretches with entries.
private struct FlatEntry<V: Equatable>: Equatable {
    var start, last: UInt64
    var level: PageLevel
    var value: V
}

@Suite("Errors")
struct ErrorTests {
    @Test func typedErrorsLeaveTheTableAlone() throws {
        var t: MemTable<Int> = [0x1000: 1]
        #expect(throws: MemTableError.addressOutOfRange(PhysicalAddress(1 << 46), limit: 1 << 46)) {
            try t.updateValue(1, forAddress: PhysicalAddress(1 << 46))
        }
        #expect(throws: MemTableError.unalignedAddress(0x1000, level: .pmd)) {
            try t.updateValue(1, forAddress: 0x1000, level: .pmd)
        }
        #expect(throws: MemTableError.levelNotInGeometry(7)) {
            try t.updateValue(1, forAddress: 0, level: 7)
        }
        #expect(throws: MemTableError.smallerEntriesPresent(0, level: .pmd)) {
            try t.updateValue(1, forAddress: 0, level: .pmd)
        }
        #expect(throws: MemTableError.noEntry(0x5000)) { try t.split(at: 0x5000) }
        #expect(throws: MemTableError.invalidRange(PhysicalAddress(1)..<PhysicalAddress(0x1000))) {
            try t.setValue(1, forRange: PhysicalAddress(1)..<PhysicalAddress(0x1000))
        }
        #expect(throws: MemTableError.invalidGeometry) {
            _ = try Geometry(pageShift: 12, bitsPerLevel: 0, physicalAddressBits: 46)
        }
        #expect(t.count == 1 && t[0x1000] == 1)
        #expect(t[PhysicalAddress(1 << 46)] == nil && t[PhysicalAddress(.max)] == nil)
        #expect(MemTableError.levelNotInGeometry(7).description == "the table's geometry has no level 7")
    }

    @Test func settingOutOfRangeThroughTheSubscriptTraps() async {
        await #expect(processExitsWith: .failure) {
            var t = MemTable<Int>()
            t[PhysicalAddress(1 << 46)] = 1
        }
    }
}

@Suite("Iteration")
struct IterationTests {
    @Test func ascendingOrderAndRanges() throws {
        var t = MemTable<Int>()
        let addresses: [UInt64] = [600 * GiB, 4096, 64 * GiB - 4096, 2 * MiB + 4096, 0]
        for (i, a) in addresses.enumerated() { t[PhysicalAddress(a)] = i }
        try t.updateValue(99, forAddress: PhysicalAddress(2 * GiB), level: .pud)
        #expect(t.map(\.address.rawValue) == [0, 4096, 2 * MiB + 4096, 2 * GiB, 64 * GiB - 4096, 600 * GiB])
        #expect(t.map(\.value) == [4, 1, 3, 99, 2, 0])
        let some = t.entries(in: PhysicalAddress(3 * GiB - 1)..<PhysicalAddress(600 * GiB))
        #expect(some.map(\.value) == [99, 2])
        #expect(t.entries(in: PhysicalAddress(1 << 50)..<PhysicalAddress(1 << 51)).map(\.value).isEmpty)
        #expect(MemTable<Int>().map(\.value).isEmpty)
        // The very last page of the geometry.
        t[PhysicalAddress((1 << 46) - 1)] = 7
        #expect(t.entries.map(\.value).last == 7)
    }
}

@Suite("Geometries and statistics")
struct GeometryTests {
    @Test(arguments: [
        (Geometry.x86_64, 4, 46), (.x86_64_LA57, 5, 52), (.arm64_4K, 4, 48),
        (.arm64_16K, 4, 48), (.arm64_64K, 3, 48),
    ])
    func presets(geometry: Geometry, levels: Int, bits: Int) throws {
        #expect(geometry.levelCount == levels && geometry.physicalAddressBits == bits)
        var t = MemTable<Int>(geometry: geometry)
        let last = PhysicalAddress(geometry.addressLimit - 1)
        t[last] = 1
        t[0] = 2
        #expect(t[last] == 1 && t.geometry == geometry)
        #expect(t.entry(containing: last)?.range.lowerBound == PhysicalAddress(geometry.addressLimit - geometry.pageSize))
        let big = geometry.entrySize(at: .pmd)
        try t.updateValue(3, forAddress: PhysicalAddress(big), level: .pmd)
        #expect(t[PhysicalAddress(2 * big - 1)] == 3)
    }

    /// The subscripts walk the table in Swift (inlined into the caller); the
    /// entry they find must be the C library's, in every geometry: the
    /// presets, a root narrower than the levels below it, a single level.
    @Test(arguments: [
        Geometry.x86_64, .x86_64_LA57, .arm64_4K, .arm64_16K, .arm64_64K,
        try! Geometry(pageShift: 12, bitsPerLevel: 5, physicalAddressBits: 30),
        try! Geometry(pageShift: 16, bitsPerLevel: 16, physicalAddressBits: 28),
    ])
    func inlineWalkFindsTheLibrarysEntry(geometry g: Geometry) throws {
        var state = UInt64(g.levelCount * 7919 + g.physicalAddressBits)
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        var t = MemTable<Int>(geometry: g)
        var probes: [UInt64] = [0, g.addressLimit - 1, g.addressLimit, UInt64.max]
        for i in 0..<300 {
            let address = next() % g.addressLimit
            probes += [address, address ^ g.pageSize, address | (g.pageSize - 1)]
            t[PhysicalAddress(address)] = i
        }
        // Large entries (some over existing pages) and a removal under one.
        for level in 1..<g.levelCount {
            let size = g.entrySize(at: PageLevel(rawValue: level))
            let start = (next() % g.addressLimit) & ~(size - 1)
            try t.removeValues(inRange: PhysicalAddress(start)..<PhysicalAddress(start + size))
            try t.updateValue(-level, forAddress: PhysicalAddress(start), level: PageLevel(rawValue: level))
            probes += [start, start + size - 1, start + size / 2, start &- 1]
        }
        t.removeValue(forAddress: PhysicalAddress(probes[4]))
        for pa in probes {
            let entry = t.entry(containing: PhysicalAddress(pa))
            #expect(t[PhysicalAddress(pa)] == entry?.value, "\(g): \(pa)")
            if pa < g.addressLimit, entry == nil || entry?.level == .pte {
                // The default subscript changes a page's value entry in place.
                t[PhysicalAddress(pa), default: 1000] += 1
                #expect(t[PhysicalAddress(pa)] == (entry?.value ?? 1000) + 1, "\(g): \(pa)")
            }
        }
    }

    @Test func customGeometryAndStatistics() throws {
        let g = try Geometry(pageShift: 12, bitsPerLevel: 3, physicalAddressBits: 24)
        #expect(g.levelCount == 4 && g.entryCount(at: 3) == 8 && g.description.hasPrefix("4 KiB pages"))
        var t = MemTable<Int>(geometry: g)
        for page in 0..<100 { t[PhysicalAddress(UInt64(page) << 12)] = page }
        let s = t.statistics
        #expect(s.count == 100 && s.entries[0] == 100 && s.pages == 100)
        #expect(s.tables == [13, 2, 1, 1])
        #expect(s.bytes > 0)
    }

    @Test func trivialValuesNeedNoAllocationPerEntry() async {
        // In a process of its own: other tests allocate concurrently.
        await #expect(processExitsWith: .success) {
            var t = MemTable<Int>()
            // The first tables, and the runtime's metadata for the paths used.
            t[0] = 0
            t[0, default: 0] += 1
            t[0x1000, default: 0] += 1
            let before = memtable_test_heap_in_use()
            for page in 2..<512 { t[PhysicalAddress(UInt64(page) << 12), default: 0] += page }
            for page in 0..<512 { t[PhysicalAddress(UInt64(page) << 12), default: 0] += 1 }
            let after = memtable_test_heap_in_use()
            // 510 new entries and 512 changes in one existing table: a box per
            // entry would be 16 KiB; a debug build's runtime caches take a few
            // bytes, a release build's nothing.
            precondition(after - before < 510, "heap grew by \(after - before) bytes")
            precondition(t.statistics.inlineEntries[0] == 512)
        }
    }
}

@Suite("Random operations against Dictionary")
struct ModelTests {
    /// xorshift64*, the same generator as the C tests.
    struct Rng {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 0x2545_F491_4F6C_DD1D
        }
        mutating func below(_ n: UInt64) -> UInt64 { next() % n }
    }

    @Test func againstDictionary() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        print("MemTable random model: seed \(seed)")
        let g = try Geometry(pageShift: 12, bitsPerLevel: 3, physicalAddressBits: 24)
        var rng = Rng(state: seed)
        var table = MemTable<Int>(geometry: g)
        var model: [UInt64: Int] = [:]
        var copies: [(MemTable<Int>, [UInt64: Int])] = []
        let pages = g.addressLimit >> 12
        for op in 0..<20_000 {
            let page = rng.below(pages + 4)
            let address = PhysicalAddress(page << 12 | rng.below(4096))
            let value = Int(truncatingIfNeeded: rng.next()) >> Int(rng.below(64))
            let inRange = page < pages
            switch rng.below(10) {
            case 0, 1:
                #expect(table[address] == model[page], "seed \(seed) op \(op): get \(address)")
            case 2, 3:
                if inRange {
                    #expect(try table.updateValue(value, forAddress: address) == model[page],
                            "seed \(seed) op \(op)")
                    model[page] = value
                }
            case 4:
                if inRange {
                    table[address, default: 0] += 1
                    model[page, default: 0] += 1
                }
            case 5:
                if let e = table.entry(containing: address) {
                    var p = e.range.lowerBound.rawValue >> 12
                    while p < e.range.upperBound.rawValue >> 12 { model[p] = nil; p += 1 }
                }
                table.removeValue(forAddress: address)
            case 6:
                let level = PageLevel(rawValue: Int(rng.below(3)))
                let size = g.entrySize(at: level)
                let start = (page << 12) & ~(size - 1)
                if start + size <= g.addressLimit {
                    try table.setValue(value, forRange: PhysicalAddress(start)..<PhysicalAddress(start + size))
                    for p in (start >> 12)..<((start + size) >> 12) { model[p] = value }
                }
            case 7:
                let level = PageLevel(rawValue: 1 + Int(rng.below(3)))
                if inRange { _ = try table.merge(at: address, level: level) }
            case 8:
                if copies.count < 4 { copies.append((table, model)) }
            default:
                #expect(table.count <= model.count, "seed \(seed) op \(op)")
            }
        }
        // Expanded to pages, the table is the model; so are the copies.
        copies.append((table, model))
        for (t, m) in copies {
            var pagesSeen: [UInt64: Int] = [:]
            for e in t.entries {
                var p = e.range.lowerBound.rawValue >> 12
                while p < e.range.upperBound.rawValue >> 12 { pagesSeen[p] = e.value; p += 1 }
            }
            #expect(pagesSeen == m, "seed \(seed): table and Dictionary differ")
            // Both iterators: the same entries, in strictly ascending order.
            let starts = t.entries.map { ($0.range.lowerBound.rawValue, $0.value) }
            #expect(t.map(\.address.rawValue) == starts.map(\.0) && t.map(\.value) == starts.map(\.1),
                    "seed \(seed): for-in and entries differ")
            #expect(zip(starts, starts.dropFirst()).allSatisfy { $0.0 < $1.0 }, "seed \(seed): out of order")
            try collectionMembers(t, m, against: copies[0], seed: seed)
        }
    }

    /// A table's pages and their values, large entries expanded.
    func pages(_ t: MemTable<Int>) -> [UInt64: Int] {
        var seen: [UInt64: Int] = [:]
        for e in t.entries {
            var p = e.addresses.lowerBound.rawValue >> 12
            while p <= e.addresses.upperBound.rawValue >> 12 { seen[p] = e.value; p += 1 }
        }
        return seen
    }

    /// The collection and Dictionary members of a random table, each
    /// against what Dictionary does with the model.
    func collectionMembers(_ t: MemTable<Int>, _ m: [UInt64: Int], against other: (MemTable<Int>, [UInt64: Int]),
                           seed: UInt64) throws {
        let entries = Array(t.entries)
        // Indices both ways, keys and values: the entries in order.
        #expect(t.indices.map { t[$0].address } == entries.map(\.addresses.lowerBound), "seed \(seed)")
        #expect(t.reversed().map(\.value) == entries.reversed().map(\.value), "seed \(seed): reversed")
        #expect(Array(t.keys) == entries.map(\.addresses.lowerBound) && Array(t.values) == entries.map(\.value),
                "seed \(seed): keys and values")
        #expect(t.first?.address == entries.first?.addresses.lowerBound
                && t.last?.address == entries.last?.addresses.lowerBound, "seed \(seed): first, last")
        // Transforming, filtering, removing: the model's pages, likewise.
        #expect(pages(t.mapValues { $0 &* 3 }) == m.mapValues { $0 &* 3 }, "seed \(seed): mapValues")
        #expect(pages(t.compactMapValues { $0 % 3 == 0 ? nil : $0 - 1 })
                == m.compactMapValues { $0 % 3 == 0 ? nil : $0 - 1 }, "seed \(seed): compactMapValues")
        #expect(pages(t.filter { $0.value % 2 == 0 }) == m.filter { $0.value % 2 == 0 }, "seed \(seed): filter")
        var odd = t
        odd.removeAll { $0.value % 2 == 0 }
        #expect(pages(odd) == m.filter { $0.value % 2 != 0 } && pages(t) == m, "seed \(seed): removeAll(where:)")
        // Merging another random table, and its pages as pairs.
        let merged = t.merging(other.0, uniquingKeysWith: &+)
        #expect(pages(merged) == m.merging(other.1, uniquingKeysWith: &+), "seed \(seed): merging a table")
        let pairs = other.1.sorted { $0.key < $1.key }.map { (PhysicalAddress($0.key << 12), $0.value) }
        let byPairs = t.merging(pairs, uniquingKeysWith: &-)
        #expect(pages(byPairs) == m.merging(other.1, uniquingKeysWith: &-), "seed \(seed): merging pairs")
        let built = MemTable(uniqueKeysWithValues: pairs, geometry: t.geometry)
        #expect(pages(built) == other.1 && built.count == other.1.count, "seed \(seed): uniqueKeysWithValues")
        // Pairs with several addresses in one page, combined as Dictionary combines keys.
        let crowded = m.sorted { $0.key < $1.key }.flatMap { page, value in
            [(PhysicalAddress(page << 12), value), (PhysicalAddress(page << 12 | 0xfff), value &* 7)]
        }
        let combined = MemTable(crowded, uniquingKeysWith: &-, geometry: t.geometry)
        let expected = Dictionary(crowded.map { ($0.0.rawValue >> 12, $0.1) }, uniquingKeysWith: &-)
        #expect(pages(combined) == expected, "seed \(seed): init(_:uniquingKeysWith:)")
        // Coding and hashing: the same table back, the same hash.
        let back = try JSONDecoder().decode(MemTable<Int>.self, from: JSONEncoder().encode(t))
        #expect(back == t && back.hashValue == t.hashValue, "seed \(seed): Codable, Hashable")
    }
}

@Suite("Allocation failure")
struct AllocationFailureTests {
    /// With the address space capped, the C library's table allocations
    /// fail; the subscript, which cannot throw, stops with a clear message
    /// (as Array does on out of memory) rather than go on with a half-made
    /// table.
    @Test func outOfMemoryIsAClearTrap() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_AS.rawValue), &limit)
            // What the process has mapped now, plus 16 MiB.
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let vm = status.split(separator: "\n").first { $0.hasPrefix("VmSize:") }
            let kib = vm.flatMap { UInt64($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            limit.rlim_cur = rlim_t((kib + 16 * 1024) * 1024)
            setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
            var t = MemTable<Int>()
            for gib in 0..<UInt64(1 << 16) { t[PhysicalAddress(gib << 30)] = 1 }
        }
        if let result, !isAddressSanitized {
            #expect(String(decoding: result.standardErrorContent, as: UTF8.self).contains("MemTable: out of memory"))
        }
    }

    /// The throwing operations report it instead, table unchanged: a store
    /// whose table cannot be allocated, and the copy of a shared table.
    @Test func outOfMemoryIsAnErrorOfTheThrowingOperations() async {
        await #expect(processExitsWith: .success) {
            // AddressSanitizer's allocator reports out of memory itself.
            guard dlsym(nil, "__asan_init") == nil else { return }
            var saved = rlimit()
            getrlimit(Int32(RLIMIT_AS.rawValue), &saved)
            var t = MemTable<Int>()
            t[0] = 1
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let vm = status.split(separator: "\n").first { $0.hasPrefix("VmSize:") }
            let kib = vm.flatMap { UInt64($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
            var limit = saved
            limit.rlim_cur = rlim_t((kib + 16 * 1024) * 1024)
            setrlimit(Int32(RLIMIT_AS.rawValue), &limit)
            // One page a GiB: two tables each, until there is no room.
            var failedAt: UInt64? = nil
            for gib in 1..<UInt64(1 << 16) {
                do throws(MemTableError) {
                    try t.updateValue(Int(gib), forAddress: PhysicalAddress(gib << 30))
                } catch {
                    precondition(error == .outOfMemory, "\(error)")
                    failedAt = gib
                    break
                }
            }
            guard let failedAt else { preconditionFailure("16 MiB never ran out") }
            // (Checked with what allocates nothing, until there is room again.)
            precondition(t.count == Int(failedAt) && t[PhysicalAddress(failedAt << 30)] == nil)
            // A copy that cannot be made leaves both sharing the old table.
            let shared = t
            do throws(MemTableError) {
                try t.updateValue(-1, forAddress: 0)
                preconditionFailure("copied a table of \(failedAt) GiB slots with no memory left")
            } catch {
                precondition(error == .outOfMemory, "\(error)")
            }
            precondition(t[0] == 1)
            setrlimit(Int32(RLIMIT_AS.rawValue), &saved)
            precondition(t == shared)
            precondition(t.entries.map(\.value) == (0..<Int(failedAt)).map { $0 == 0 ? 1 : $0 })
            // Room again: the same operations succeed.
            try! t.updateValue(Int(failedAt), forAddress: PhysicalAddress(failedAt << 30))
            try! t.updateValue(-1, forAddress: 0)
            precondition(t.count == Int(failedAt) + 1 && shared[0] == 1 && t[0] == -1)
        }
    }
}

/// Whether this process runs under AddressSanitizer (whose allocator reports
/// out of memory itself).
let isAddressSanitized = dlsym(nil, "__asan_init") != nil  // RTLD_DEFAULT is NULL on Linux

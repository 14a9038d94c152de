// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Swift layer's tests.
// Swift's vocabulary: the collection, its views, Dictionary's members,
// hashing, coding and descriptions.

import Foundation
import MemTable
import Testing

/// A table with pages, a 2 MiB entry and a 1 GiB entry.
func sampleTable() throws -> MemTable<Int> {
    var t: MemTable<Int> = [0x1000: 1, 0x3000: 3]
    try t.updateValue(20, forAddress: 0x20_0000, level: .pmd)
    try t.updateValue(30, forAddress: PhysicalAddress(GiB), level: .pud)
    return t
}

@Suite("MemTable as a BidirectionalCollection")
struct CollectionTests {
    @Test func indicesWalkBothWays() throws {
        let t = try sampleTable()
        #expect(t.first?.address == 0x1000 && t.last?.address == PhysicalAddress(GiB))
        #expect(t.last?.value == 30)
        #expect(t.reversed().map(\.value) == [30, 20, 3, 1])
        #expect(t.indices.count == 4 && t.count == 4)
        var i = t.endIndex
        var down: [Int] = []
        while i != t.startIndex {
            i = t.index(before: i)
            down.append(t[i].value)
        }
        #expect(down == [30, 20, 3, 1])
        let slice = t[t.index(after: t.startIndex)...]
        #expect(slice.map(\.value) == [3, 20, 30])
        #expect(t.lastIndex { $0.value < 10 }.map { t[$0].address } == 0x3000)
        #expect(t.firstIndex { $0.value > 10 }.map { t[$0].value } == 20)
        #expect(t.index(forAddress: 0x20_5000).map { t[$0].address } == 0x20_0000)
        #expect(t.index(forAddress: 0x2000) == nil)
        #expect(MemTable<Int>().startIndex == MemTable<Int>().endIndex)
        #expect(MemTable<Int>().first == nil && MemTable<Int>().last == nil)
    }

    @Test func keysAndValues() throws {
        let t = try sampleTable()
        #expect(Array(t.keys) == [0x1000, 0x3000, 0x20_0000, PhysicalAddress(GiB)])
        #expect(Array(t.values) == [1, 3, 20, 30])
        #expect(t.keys.last == PhysicalAddress(GiB) && t.values.reversed().first == 30)
        #expect(t.keys.count == 4 && t.values[t.startIndex] == 1)
    }

    @Test func theLastEntryOfA64BitGeometry() throws {
        let g = try Geometry(pageShift: 12, bitsPerLevel: 9, physicalAddressBits: 64)
        var t = MemTable<Int>(geometry: g)
        t[PhysicalAddress(.max)] = 1
        t[0] = 0
        #expect(t.last?.address == PhysicalAddress(0xFFFF_FFFF_FFFF_F000))
        #expect(t.reversed().map(\.value) == [1, 0])
        #expect(t.index(after: t.index(before: t.endIndex)) == t.endIndex)
    }

    @Test func anIndexUsedAfterAChangeTraps() async {
        await #expect(processExitsWith: .failure) {
            var t: MemTable<Int> = [0x1000: 1]
            let i = t.startIndex
            t[0x1000] = nil
            _ = t[i]
        }
    }
}

@Suite("Dictionary's members")
struct DictionaryMemberTests {
    @Test func buildingFromPairs() {
        let t = MemTable(uniqueKeysWithValues: [(PhysicalAddress(0x1000), "a"), (0x5fff, "b")])
        #expect(t[0x1000] == "a" && t[0x5000] == "b" && t.count == 2)
        let u = MemTable([(PhysicalAddress(0x1000), 1), (0x1fff, 2), (0x2000, 3)], uniquingKeysWith: +)
        #expect(u[0x1000] == 3 && u[0x2000] == 3 && u.count == 2)
        let arm = MemTable(uniqueKeysWithValues: [(PhysicalAddress(0x4000), 1)], geometry: .arm64_16K)
        #expect(arm.geometry == .arm64_16K && arm.entry(containing: 0x7fff)?.value == 1)
    }

    @Test func duplicatePagesTrap() async {
        await #expect(processExitsWith: .failure) {
            _ = MemTable(uniqueKeysWithValues: [(PhysicalAddress(0x1000), 1), (0x1008, 2)])
        }
    }

    @Test func mergingPairsPageByPage() throws {
        var t = try sampleTable()
        t.merge([(PhysicalAddress(0x1000), 10), (0x2000, 2), (0x20_1000, 1)], uniquingKeysWith: +)
        #expect(t[0x1000] == 11 && t[0x2000] == 2 && t[0x20_1000] == 21 && t[0x20_2000] == 20)
        #expect(t.entry(containing: 0x20_2000)?.level == .pte)  // split for the page
        let u = try sampleTable().merging([(PhysicalAddress(0x1000), 5)]) { old, _ in old }
        #expect(u[0x1000] == 1 && u.count == 4)
    }

    @Test func mergingTablesKeepsLargeEntries() throws {
        var a = try sampleTable()
        var b = MemTable<Int>()
        try b.updateValue(100, forAddress: 0, level: .pmd)           // over pages 0x1000, 0x3000
        try b.updateValue(200, forAddress: 0x20_0000, level: .pmd)   // the same 2 MiB entry
        try b.updateValue(300, forAddress: PhysicalAddress(GiB + 2 * MiB), level: .pmd)  // inside 1 GiB
        try b.updateValue(400, forAddress: PhysicalAddress(4 * GiB), level: .pud)        // alone
        a.merge(b, uniquingKeysWith: +)
        #expect(a[0x1000] == 101 && a[0x3000] == 103 && a[0x2000] == 100 && a[0] == 100)
        #expect(a.entry(containing: 0)?.level == .pte)
        #expect(a.entry(containing: 0x20_0000)?.level == .pmd && a[0x20_0000] == 220)
        #expect(a[PhysicalAddress(GiB + 2 * MiB)] == 330 && a[PhysicalAddress(GiB)] == 30)
        #expect(a.entry(containing: PhysicalAddress(GiB + 2 * MiB))?.level == .pmd)
        #expect(a.entry(containing: PhysicalAddress(4 * GiB))?.level == .pud)
        // Page by page, the merge is the sum where both have a value.
        let sum = try sampleTable().merging(b, uniquingKeysWith: +)
        #expect(sum == a)
    }

    @Test func transformingKeepsTheShape() throws {
        let t = try sampleTable()
        let doubled = t.mapValues { $0 * 2 }
        #expect(Array(doubled.values) == [2, 6, 40, 60])
        #expect(doubled.entries.map(\.level) == t.entries.map(\.level))
        let strings = t.compactMapValues { $0 > 2 ? String($0) : nil }
        #expect(Array(strings.values) == ["3", "20", "30"] && strings.entries.map(\.level).last == .pud)
        let big = t.filter { $0.value >= 20 }
        #expect(big.count == 2 && big.entry(containing: PhysicalAddress(GiB + 5))?.level == .pud)
        #expect(MemTable<Int>(geometry: .arm64_64K).filter { _ in true }.geometry == .arm64_64K)
        var u = t
        u.removeAll { $0.address < 0x10_0000 }
        #expect(Array(u.values) == [20, 30] && t.count == 4)
        u.removeAll(keepingCapacity: true)
        #expect(u.isEmpty && u.geometry == t.geometry)
    }
}

@Suite("Hashing, coding and descriptions")
struct CodingTests {
    @Test func hashableAsEqualityIs() throws {
        let a = try sampleTable()
        var b = a
        b[0x9000] = 9
        b[0x9000] = nil
        let set: Set = [a, b, MemTable<Int>()]
        #expect(a == b && a.hashValue == b.hashValue && set.count == 2)
    }

    @Test func codableRoundTripsKeepGeometryAndLargeEntries() throws {
        let t = try sampleTable()
        let data = try JSONEncoder().encode(t)
        let back = try JSONDecoder().decode(MemTable<Int>.self, from: data)
        #expect(back == t && back.entries.map(\.level) == t.entries.map(\.level))
        let g = try Geometry(pageShift: 12, bitsPerLevel: 9, physicalAddressBits: 64)
        var top = MemTable<String>(geometry: g)
        try top.updateValue("top", forAddress: PhysicalAddress(0 &- 2 * MiB), level: .pmd)
        top[0] = "zero"
        let back64 = try JSONDecoder().decode(MemTable<String>.self, from: JSONEncoder().encode(top))
        #expect(back64 == top && back64.geometry == g)
    }

    @Test(arguments: [
        #"{"geometry":{"pageShift":12,"bitsPerLevel":0,"physicalAddressBits":46},"entries":[]}"#,
        #"{"geometry":{"pageShift":12,"bitsPerLevel":9,"physicalAddressBits":46},"entries":[{"address":70368744177664,"level":0,"value":1}]}"#,
        #"{"geometry":{"pageShift":12,"bitsPerLevel":9,"physicalAddressBits":46},"entries":[{"address":4096,"level":1,"value":1}]}"#,
        #"{"geometry":{"pageShift":12,"bitsPerLevel":9,"physicalAddressBits":46},"entries":[{"address":0,"level":9,"value":1}]}"#,
        #"{"geometry":{"pageShift":12,"bitsPerLevel":9,"physicalAddressBits":46},"entries":[{"address":0,"level":-1,"value":1}]}"#,
        #"{"geometry":{"pageShift":12,"bitsPerLevel":9,"physicalAddressBits":46},"entries":[{"address":0,"level":1,"value":1},{"address":4096,"level":0,"value":2}]}"#,
        #"{"geometry":{"pageShift":12,"bitsPerLevel":9,"physicalAddressBits":46},"entries":[{"address":8192,"level":0,"value":1},{"address":4096,"level":0,"value":2}]}"#,
    ])
    func badInputThrowsDecodingError(json: String) {
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MemTable<Int>.self, from: Data(json.utf8))
        }
    }

    @Test func badlyShapedInputThrowsToo() {
        for json in [#"{"entries":[]}"#, #"[1,2]"#, #"{"geometry":{"pageShift":"x"},"entries":[]}"#,
                     #"{"geometry":{"pageShift":12,"bitsPerLevel":9,"physicalAddressBits":46},"entries":[{"address":-1,"level":0,"value":1}]}"#] {
            #expect(throws: DecodingError.self) {
                try JSONDecoder().decode(MemTable<Int>.self, from: Data(json.utf8))
            }
        }
    }

    @Test func debugDescriptionQuotesAsDictionaryDoes() throws {
        var t: MemTable<String> = [0x1000: "a"]
        try t.updateValue("b", forAddress: 0x20_0000, level: .pmd)
        #expect(String(reflecting: t) == #"MemTable<String>([0x1000: "a", 0x200000 (level 1): "b"])"#)
        #expect(t.description == "MemTable([0x1000: a, 0x200000 (level 1): b])")
    }

    @Test func addressesStrideAndCode() throws {
        let pages = stride(from: PhysicalAddress(0x1000), to: 0x4000, by: 4096).map(\.rawValue)
        #expect(pages == [0x1000, 0x2000, 0x3000])
        #expect(PhysicalAddress(0x1000).distance(to: 0) == -4096)
        #expect(PhysicalAddress(0x1000).advanced(by: -4096) == 0 && PhysicalAddress(0) + 5 == 5)
        #expect(Array(stride(from: PhysicalAddress(0x3000), through: 0x1000, by: -4096)).count == 3)
        let json = try JSONEncoder().encode([PhysicalAddress(0x1000)])
        #expect(String(decoding: json, as: UTF8.self) == "[4096]")
        #expect(try JSONDecoder().decode([PageLevel].self, from: Data("[1]".utf8)) == [.pmd])
        #expect(try JSONDecoder().decode(Geometry.self, from: JSONEncoder().encode(Geometry.arm64_16K)) == .arm64_16K)
    }
}

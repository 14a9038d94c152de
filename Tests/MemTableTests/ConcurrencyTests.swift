// SPDX-License-Identifier: GPL-2.0-only
//
// MemTable across tasks: shared for reading, copied for writing. Run under
// ThreadSanitizer by `make swift-sanitize`.

import Foundation
import MemTable
import Synchronization
import Testing

@Suite("Concurrency")
struct ConcurrencyTests {
    @Test func sharedReadsAndCopiedWrites() async throws {
        var shared = MemTable<Int>()
        for page in 0..<4096 { shared[PhysicalAddress(UInt64(page) << 12)] = page }
        #expect(try shared.updateValue(-1, forAddress: PhysicalAddress(1 << 30), level: .pud) == nil)
        let table = shared  // Sendable: Int is
        let sums = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    // Readers share the storage; a writer copies it first.
                    var mine = table
                    var sum = 0
                    for page in 0..<4096 { sum &+= mine[PhysicalAddress(UInt64(page) << 12)] ?? 0 }
                    for (_, value) in table where value < 0 { sum &+= value }
                    mine[PhysicalAddress(UInt64(task) << 12), default: 0] += 1_000_000
                    #expect(mine[PhysicalAddress(UInt64(task) << 12)] == task + 1_000_000)
                    return sum
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(sums == Array(repeating: 4095 * 4096 / 2 - 1, count: 8))
        #expect(table[0x1000] == 1 && table.count == 4097)
    }

    @Test func boxedValuesAcrossTasks() async {
        var shared = MemTable<String>()
        for page in 0..<256 { shared[PhysicalAddress(UInt64(page) << 12)] = "page \(page)" }
        let table = shared
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    var mine = table
                    mine[0, default: ""] += " task \(task)"
                    #expect(mine[0] == "page 0 task \(task)")
                    #expect(table[0] == "page 0")
                }
            }
        }
    }
}

/// What a writer stores in the concurrent stress test: the range the value
/// was made for and when (a counter that only grows). 24 bytes: a box,
/// released after a grace period when unlinked.
struct Stamp: Sendable, Equatable {
    var start: UInt64
    var size: UInt64
    var generation: Int
}

@Suite("Concurrency: SharedMemTable")
struct SharedMemTableTests {
    @Test func basics() throws {
        let t = SharedMemTable<String>()
        #expect(t[0x1000] == nil && t.count == 0)
        #expect(try t.updateValue("a", forAddress: 0x1000) == nil)
        #expect(try t.updateValue("b", forAddress: 0x1000) == "a")
        try t.updateValue("big", forAddress: 0x4000_0000, level: .pmd)
        try t.split(at: 0x4000_1000)
        #expect(t.count == 1 + 512 && t[0x401f_f000] == "big")
        #expect(try t.merge(at: 0x4000_0000, level: .pmd) && t.count == 2)
        #expect(try t.removeValues(inRange: PhysicalAddress(0x4000_0000)..<PhysicalAddress(0x4000_2000)) == 2)
        #expect(t[0x4000_1000] == nil && t[0x4000_2000] == "big")
        let copy = t.snapshot()
        #expect(t.removeValue(forAddress: 0x1000) == "b" && t[0x1000] == nil)
        #expect(copy[0x1000] == "b" && copy.count == t.count + 1)
        #expect(throws: MemTableError.self) { try t.updateValue("x", forAddress: PhysicalAddress(1 << 46)) }
    }

    /// Readers on every core look pages up with no lock while one writer
    /// stores, overwrites, erases, splits, merges and erases ranges. A reader
    /// must always find a value made for a range that covers its address,
    /// and never an older one for a page after a newer (a torn or freed
    /// read fails that; under ASan and TSan, make check-swift-sanitize).
    @Test func readersBesideOneWriter() async throws {
        let geometry = try Geometry(pageShift: 12, bitsPerLevel: 3, physicalAddressBits: 24)
        let table = SharedMemTable<Stamp>(geometry: geometry)
        let pages = UInt64(1 << 12)
        let writes = 20_000
        let readers = max(2, ProcessInfo.processInfo.activeProcessorCount)
        let done = Flag()
        let failures = await withTaskGroup(of: Int.self) { group in
            for r in 0..<readers {
                group.addTask {
                    var rng = SplitMix(seed: UInt64(r) + 1)
                    var seen = [Int](repeating: -1, count: Int(pages))
                    var failures = 0
                    var lookups = 0
                    while !done.isSet {
                        // The pool has a thread a core: let the writer have one.
                        lookups += 1
                        if lookups % 256 == 0 { await Task.yield() }
                        let page = rng.next() % pages
                        guard let s = table[PhysicalAddress(page << 12)] else { continue }
                        if (page << 12) &- s.start >= s.size { failures += 1 }
                        if s.generation < seen[Int(page)] { failures += 1 }
                        seen[Int(page)] = s.generation
                    }
                    return failures
                }
            }
            group.addTask {
                var rng = SplitMix(seed: 99)
                for generation in 0..<writes {
                    if generation % 64 == 0 { await Task.yield() }
                    let level = PageLevel(rawValue: Int(rng.next() % 3))
                    let size = geometry.entrySize(at: level)
                    let start = (rng.next() % pages << 12) & ~(size - 1)
                    let address = PhysicalAddress(start)
                    switch rng.next() % 8 {
                    case 0, 1, 2:
                        _ = try? table.updateValue(Stamp(start: start, size: size, generation: generation),
                                                   forAddress: address, level: level)
                    case 3: table.removeValue(forAddress: address)
                    case 4: try? table.split(at: address)
                    case 5:
                        // Children split from one entry carry its stamp: equal, they merge.
                        _ = try? table.merge(at: address, level: PageLevel(rawValue: level.rawValue + 1))
                    default:
                        _ = try? table.removeValues(inRange: address..<PhysicalAddress(start + size))
                    }
                }
                done.set()
                return 0
            }
            return await group.reduce(0, +)
        }
        #expect(failures == 0)
        let copy = table.snapshot()
        #expect(copy.count == table.count)
        for e in copy.entries { #expect(e.addresses.lowerBound.rawValue &- e.value.start < e.value.size) }
    }
}

/// A flag set once, read by many tasks.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}

/// SplitMix64: a seeded generator for the stress tasks.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

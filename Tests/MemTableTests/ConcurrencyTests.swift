// SPDX-License-Identifier: GPL-2.0-only
//
// MemTable across tasks: shared for reading, copied for writing. Run under
// ThreadSanitizer by `make swift-sanitize`.

import MemTable
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

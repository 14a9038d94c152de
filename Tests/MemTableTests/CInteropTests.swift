// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Swift layer's tests.
// The C library itself from Swift 6, as the DocC article "Using the C
// library from Swift" shows it: the RFC's globals readable in strict
// concurrency, and ops that outlive the table.

import CMemTable
import Testing

/// Counts the frees the C table asks for.
nonisolated(unsafe) private var freed = 0

/// A table and the ops it points to, kept alive together: `mem_table_alloc`
/// keeps the pointer, so `&ops` on a local would dangle after the call.
final class CTableOwner {
    let ops: UnsafeMutablePointer<mem_table_ops>
    let table: UnsafeMutablePointer<mem_table>

    init?() {
        ops = .allocate(capacity: 1)
        ops.initialize(to: mem_table_ops(free: { buf in
            freed += 1
            buf?.deallocate()
        }, split: nil, merge: nil, clone: nil))
        mem_table_init(UInt32(PG_LEVEL_4K.rawValue))
        guard let table = mem_table_alloc(ops) else {
            ops.deallocate()
            return nil
        }
        self.table = table
    }

    deinit {
        mem_table_free(table)  // calls ops.free: the ops must still be there
        ops.deinitialize(count: 1)
        ops.deallocate()
    }
}

@Suite("The C library from Swift 6")
struct CInteropTests {
    @Test func theRFCGlobalsAreReadable() throws {
        mem_table_init(UInt32(PG_LEVEL_4K.rawValue))
        #expect(mem_table_base_level == UInt32(PG_LEVEL_4K.rawValue))
        #expect(mem_table_nlevels == 4)
        let geometry = try #require(mem_table_init_geometry())
        #expect(geometry.pointee.nlevels == mem_table_nlevels && geometry.pointee.phys_bits == 46)
        #expect(mem_table_levels.0.shift == 12 && mem_table_levels.3.nentries == 128)
    }

    @Test func opsOutliveTheTable() throws {
        freed = 0
        do {
            let owner = try #require(CTableOwner())
            let slot = try #require(mem_table_create(owner.table, 0x1234_5000))
            slot.pointee = UnsafeMutableRawPointer.allocate(byteCount: 16, alignment: 16)
            var level: UInt32 = 0
            #expect(mem_table_find(owner.table, 0x1234_5fff, &level) == slot)
            #expect(level == UInt32(PG_LEVEL_4K.rawValue) && mem_table_count(owner.table) == 1)
        }
        #expect(freed == 1)
    }
}

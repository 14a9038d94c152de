// SPDX-License-Identifier: GPL-2.0-only
//
// MemTable: per-physical-page data in a page-table-shaped radix tree, over
// the C library of the Linux RFC "Memory Table".

internal import CMemTable

/// The C library's global state.
enum CLayer {
    /// Runs `mem_table_init(PG_LEVEL_4K)` exactly once, whatever the threads:
    /// a static stored property's initialiser is lazy and runs once, atomically.
    static let initialized: Void = mem_table_init(UInt32(PG_LEVEL_4K.rawValue))

    /// Stores a marker at `address` in a fresh table of borrowed pointers and
    /// reads back the level `mem_table_find` reports, or nil if it fails.
    static func levelOfStoredPage(at address: UInt64) -> UInt32? {
        _ = initialized
        guard let table = mem_table_alloc(nil) else { return nil }
        defer { mem_table_free(table) }
        guard let slot = mem_table_create(table, address) else { return nil }
        slot.pointee = UnsafeMutableRawPointer(bitPattern: 0x1000)
        var level: UInt32 = 0
        guard mem_table_find(table, address, &level) != nil else { return nil }
        return level
    }
}

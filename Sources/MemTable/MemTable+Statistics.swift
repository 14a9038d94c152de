// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// What a table holds and costs.

/// What a ``MemTable`` holds and what it costs; arrays are by level, the
/// smallest pages first.
public struct MemTableStatistics: Hashable, Sendable {
    /// Entries per level.
    public var entries: [Int]
    /// How many of those keep their value in the slot (no allocation).
    public var inlineEntries: [Int]
    /// Tables per level, the root included.
    public var tables: [Int]
    /// Entries in all.
    public var count: Int
    /// Smallest pages covered by entries.
    public var pages: Int
    /// Bytes held by the tables (not by boxed values).
    public var bytes: Int
}

extension MemTable {
    /// Counts what the table holds and costs.
    ///
    /// - Complexity: O(tables).
    /// - Corresponding C function: `mem_table_stats`.
    public var statistics: MemTableStatistics { storage.statistics() }

    /// Counts what the table holds and costs, calling `body` with every
    /// entry on the way, in ascending address order: one walk where a
    /// caller wants both (a table of scattered pages is mostly empty slots,
    /// and each walk reads them all).
    ///
    /// ```swift
    /// var pages = 0
    /// let statistics = table.statistics { entry in pages += entry.level == .pte ? 1 : 512 }
    /// ```
    ///
    /// - Parameter body: Called with each entry; it must not change the table.
    /// - Complexity: O(tables).
    /// - Corresponding C function: `mem_table_stats_walk`.
    @inlinable
    public func statistics(visiting body: (Entry) -> Void) -> MemTableStatistics {
        let storage = self.storage
        let geometry = storage.geometry
        return storage.statistics { raw, start, level in
            let slot = Slot(raw: raw)
            let value = Codec<Value>.mayBeInline && slot.isValue
                ? Codec<Value>.value(payload: slot.payload) : storage.boxedValue(raw)
            body(Entry(start: start, size: geometry.entrySize(at: level), level: level, value: value))
        }
    }
}


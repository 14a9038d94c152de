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
}

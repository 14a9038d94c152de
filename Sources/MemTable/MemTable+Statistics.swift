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
        return storage.statistics { run in
            // A run holds leaves, empty slots and reservations, no table; the
            // walk has read it and says which groups of slots hold a leaf, so
            // the scan reads only those (a table of scattered pages is a few
            // lines of 64). The scan of a stretch of groups is
            // Entries.Iterator.nextLeaf()'s, written out again: a helper for
            // both (the next occupied slot) made the iterator four times
            // slower on full tables (`make bench-swift`, iterate).
            let size: UInt64 = 1 &<< run.shift, level = PageLevel(rawValue: run.level)
            var groups = run.occupied
            while groups != 0 {
                // The next stretch of groups with leaves: a full table is one.
                let first = groups.trailingZeroBitCount
                let after = first &+ (~(groups &>> UInt64(first))).trailingZeroBitCount
                groups = after >= 64 ? 0 : groups & (~0 &<< UInt64(after))
                var i = first &<< run.groupShift
                let end = Swift.min(run.count, after &<< run.groupShift)
                while i < end {
                    let raw = run.slot(i)
                    let slot = Slot(raw: raw)
                    i &+= 1
                    if raw == 0 { continue }
                    let start = run.start &+ UInt64(truncatingIfNeeded: i &- 1) &<< run.shift
                    if _fastPath(Codec<Value>.mayBeInline && slot.isValue) {
                        body(Entry(start: start, size: size, level: level,
                                   value: Codec<Value>.value(payload: slot.payload)))
                    } else if !slot.isVacant {
                        body(Entry(start: start, size: size, level: level, value: storage.boxedValue(raw)))
                    }
                }
            }
        }
    }
}

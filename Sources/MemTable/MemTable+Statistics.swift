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
        forEachStretch { stretch in
            let size = stretch.entrySize
            var start = stretch.addresses.lowerBound.rawValue
            for _ in 0..<stretch.count {
                body(Entry(start: start, size: size, level: stretch.level, value: stretch.value))
                start &+= size
            }
        }
    }

    /// Consecutive entries of one level that hold one value, as
    /// ``forEachStretch(_:)`` hands them out.
    public struct Stretch {
        /// The addresses the entries cover, from the first's first to the
        /// last's last.
        public var addresses: ClosedRange<PhysicalAddress>
        /// The entries' level.
        public var level: PageLevel
        /// How many entries: each covers ``entrySize`` bytes.
        public var count: Int
        /// The value of every one of them.
        public var value: Value

        /// The bytes each entry covers.
        @inlinable
        public var entrySize: UInt64 {
            (addresses.upperBound.rawValue &- addresses.lowerBound.rawValue) / UInt64(count) &+ 1
        }

        @usableFromInline
        init(start: UInt64, size: UInt64, count: Int, level: PageLevel, value: Value) {
            addresses = PhysicalAddress(start)...PhysicalAddress(start &+ (size &* UInt64(count) &- 1))
            self.level = level
            self.count = count
            self.value = value
        }
    }

    /// Calls `body` with every stretch of consecutive entries of one level
    /// that hold the same value, in ascending address order, and counts
    /// what the table holds and costs on the way: a run of pages of one
    /// value is one call, not one per page, and its value is read once.
    ///
    /// Every entry is in exactly one stretch. A stretch is not always as
    /// long as it could be: it ends where a table of entries ends, and two
    /// entries whose values are equal but kept in separate boxes (values
    /// that do not fit in a slot) are two stretches. A caller that merges
    /// ranges of equal values compares the values of adjacent stretches.
    ///
    /// ```swift
    /// var table = MemTable<UInt8>()
    /// try table.setValue(7, forRange: 0..<0x10_0000)
    /// table.forEachStretch { stretch in
    ///     print(stretch.count, stretch.value)  // 256 7
    /// }
    /// ```
    ///
    /// - Parameter body: Called with each stretch; it must not change the table.
    /// - Returns: The table's statistics, as ``statistics``.
    /// - Complexity: O(tables) for the walk, O(1) per stretch.
    /// - Corresponding C function: `mem_table_stats_walk`.
    @inlinable @discardableResult
    public func forEachStretch(_ body: (Stretch) -> Void) -> MemTableStatistics {
        let storage = self.storage
        return storage.statistics { run in
            // A run holds leaves, empty slots and reservations, no table; the
            // walk has read it and says which groups of slots hold a leaf, so
            // the scan reads only those (a table of scattered pages is a few
            // lines of 64). Equal slots hold one value: the same value entry,
            // or the same box; a stretch ends at the first other slot, and at
            // the end of a stretch of groups (an empty group follows). The
            // iterator (Entries.Iterator.nextLeaf()) scans slots on its own: a
            // helper for both made it four times slower on full tables
            // (`make bench-swift`, iterate).
            let size: UInt64 = 1 &<< run.shift, level = PageLevel(rawValue: run.level)
            var groups = run.occupied
            while groups != 0 {
                // The next stretch of groups with leaves: a full table is one.
                let firstGroup = groups.trailingZeroBitCount
                let after = firstGroup &+ (~(groups &>> UInt64(firstGroup))).trailingZeroBitCount
                groups = after >= 64 ? 0 : groups & (~0 &<< UInt64(after))
                var i = firstGroup &<< run.groupShift
                let end = Swift.min(run.count, after &<< run.groupShift)
                // The stretch under way: its first slot and the slot it repeats (0: none).
                var first = i, current: UInt = 0
                while true {
                    let raw = i < end ? run.slot(i) : 0
                    if raw != current {
                        if current != 0 {
                            let slot = Slot(raw: current)
                            let value = Codec<Value>.mayBeInline && slot.isValue
                                ? Codec<Value>.value(payload: slot.payload) : storage.boxedValue(current)
                            body(Stretch(start: run.start &+ UInt64(truncatingIfNeeded: first) &<< run.shift,
                                         size: size, count: i &- first, level: level, value: value))
                        }
                        current = Slot(raw: raw).isVacant ? 0 : raw
                        first = i
                    }
                    if i >= end { break }
                    i &+= 1
                }
            }
        }
    }
}

extension MemTable.Stretch: Equatable where Value: Equatable {}
extension MemTable.Stretch: Sendable where Value: Sendable {}

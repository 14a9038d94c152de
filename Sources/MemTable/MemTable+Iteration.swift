// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// Ordered iteration over a MemTable and over address ranges of it.

extension MemTable: Sequence {
    /// An element: the first address of an entry and its value.
    public typealias Element = (address: PhysicalAddress, value: Value)

    /// Iterates the entries in ascending address order.
    ///
    /// The iterator holds its own reference to the table's storage, so
    /// changing the table while iterating changes a copy.
    public struct Iterator: IteratorProtocol {
        var entries: Entries.Iterator

        public mutating func next() -> Element? {
            guard let e = entries.next() else { return nil }
            return (e.range.lowerBound, e.value)
        }
    }

    /// The entries in ascending address order.
    ///
    /// - Complexity: O(levels) per entry; empty parts of the table are skipped.
    /// - Corresponding C function: `mem_table_next`.
    public func makeIterator() -> Iterator { Iterator(entries: entries.makeIterator()) }

    /// The number of entries.
    public var underestimatedCount: Int { count }
}

extension MemTable {
    /// An entry of a table: the address range it covers, its level, its value.
    public struct Entry {
        /// The addresses the entry covers: one page, or a large range.
        public var range: Range<PhysicalAddress>
        /// The entry's level (``PageLevel/pte`` for a page).
        public var level: PageLevel
        /// The value.
        public var value: Value
    }

    /// The entries whose ranges meet an address range, in ascending order.
    public struct Entries: Sequence {
        let storage: Storage<Value>
        let bounds: Range<UInt64>

        /// Iterates the entries in ascending address order.
        public struct Iterator: IteratorProtocol {
            let storage: Storage<Value>
            var cursor: UInt64
            let end: UInt64
            var done = false

            public mutating func next() -> Entry? {
                guard !done, cursor < end, let e = storage.next(from: cursor), e.start < end
                else {
                    done = true
                    return nil
                }
                let size = storage.geometry.entrySize(at: e.level)
                let (after, overflow) = e.start.addingReportingOverflow(size)
                if overflow { done = true } else { cursor = after }
                return Entry(range: PhysicalAddress(e.start)..<PhysicalAddress(after),
                             level: e.level, value: e.value)
            }
        }

        public func makeIterator() -> Iterator {
            Iterator(storage: storage, cursor: bounds.lowerBound, end: bounds.upperBound)
        }
    }

    /// Every entry, with its range and level, in ascending address order.
    public var entries: Entries {
        Entries(storage: storage, bounds: 0..<storage.geometry.addressLimit)
    }

    /// The entries whose ranges meet `range`, in ascending address order; a
    /// large entry that starts before `range` is included whole.
    ///
    /// - Complexity: O(levels) per entry.
    /// - Corresponding C function: `mem_table_next`.
    public func entries(in range: Range<PhysicalAddress>) -> Entries {
        let limit = storage.geometry.addressLimit
        let lower = Swift.min(range.lowerBound.rawValue, limit)
        let upper = Swift.min(range.upperBound.rawValue, limit)
        return Entries(storage: storage, bounds: lower..<Swift.max(lower, upper))
    }

    /// The entry covering `address`, with its range and level, or nil.
    ///
    /// - Corresponding C function: `mem_table_load`.
    public func entry(containing address: PhysicalAddress) -> Entry? {
        guard let (value, level) = storage.load(address.rawValue) else { return nil }
        let size = storage.geometry.entrySize(at: level)
        let start = address.rawValue & ~(size - 1)
        return Entry(range: PhysicalAddress(start)..<PhysicalAddress(start &+ size),
                     level: level, value: value)
    }
}

extension MemTable.Entry: Equatable where Value: Equatable {}
extension MemTable.Entry: Sendable where Value: Sendable {}
extension MemTable.Entries: @unchecked Sendable where Value: Sendable {}

// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// MemTable as a BidirectionalCollection of its entries, with keys and values
// views, in address order.

extension MemTable: BidirectionalCollection {
    /// A position in a table: an entry's first address.
    ///
    /// Like `Dictionary`'s, an index is valid for the table it came from
    /// until that table changes; using it after a change is a programming
    /// error (reading through it traps if no entry starts there any more).
    public struct Index: Comparable, Hashable, Sendable {
        /// The entry's first address; `UInt64.max` for the end (no entry
        /// starts there: pages are at least 256 bytes).
        @usableFromInline let address: UInt64
        /// The entry's level; -1 for the end.
        @usableFromInline let level: Int

        @usableFromInline
        init(address: UInt64, level: Int) {
            self.address = address
            self.level = level
        }

        static var end: Index { Index(address: .max, level: -1) }

        /// Positions in address order, the end last.
        public static func < (lhs: Index, rhs: Index) -> Bool { lhs.address < rhs.address }
        /// The same position: the same entry's first address.
        public static func == (lhs: Index, rhs: Index) -> Bool { lhs.address == rhs.address }
        /// Hashes the entry's first address, as `==` compares it.
        public func hash(into hasher: inout Hasher) { hasher.combine(address) }
    }

    /// The position of the first entry (the lowest address), or ``endIndex``.
    ///
    /// - Complexity: O(levels), plus the empty slots skipped before it.
    /// - Corresponding C function: `mem_table_next`.
    public var startIndex: Index { index(from: 0) }

    /// The position past the last entry.
    public var endIndex: Index { .end }

    /// The entry at `position`: its first address and its value. A large
    /// entry is one element, at its first address.
    ///
    /// - Precondition: `position` is a valid index of this table, not
    ///   ``endIndex``.
    /// - Complexity: O(levels).
    public subscript(position: Index) -> Element {
        precondition(position.level >= 0, "MemTable: the end index has no element")
        guard let (value, level) = storage.load(position.address),
              level.rawValue == position.level
        else { preconditionFailure("MemTable: an index used after the table changed") }
        return (PhysicalAddress(position.address), value)
    }

    /// The position of the entry after `i`.
    ///
    /// - Precondition: `i` is a valid index, not ``endIndex``.
    /// - Complexity: O(levels), plus the empty slots skipped: O(1) amortised
    ///   over a walk of the table.
    /// - Corresponding C function: `mem_table_next`.
    public func index(after i: Index) -> Index {
        precondition(i.level >= 0, "MemTable: no index after the end index")
        let after = i.address &+ geometry.entrySize(at: PageLevel(rawValue: i.level))
        // The last entry of a 64-bit geometry ends at 2^64.
        guard after != 0 else { return .end }
        return index(from: after)
    }

    /// The position of the entry before `i`.
    ///
    /// - Precondition: `i` is a valid index, not ``startIndex``.
    /// - Complexity: O(levels), plus the empty slots skipped.
    /// - Corresponding C function: `mem_table_prev`.
    public func index(before i: Index) -> Index {
        let from: UInt64
        if i.level < 0 {
            from = geometry.lastAddress.rawValue
        } else {
            precondition(i.address > 0, "MemTable: no index before the start index")
            from = i.address - 1
        }
        guard let (start, level) = storage.previousEntry(from: from) else {
            preconditionFailure("MemTable: no index before the start index")
        }
        return Index(address: start, level: level.rawValue)
    }

    /// The first entry at or after `address`, or the end.
    func index(from address: UInt64) -> Index {
        guard address <= geometry.lastAddress.rawValue,
              let (start, level) = storage.nextEntry(from: address)
        else { return .end }
        return Index(address: start, level: level.rawValue)
    }

    /// The position of the entry covering `address`, or nil (as
    /// `Dictionary.index(forKey:)`).
    ///
    /// - Complexity: O(levels).
    /// - Corresponding C function: `mem_table_load`.
    public func index(forAddress address: PhysicalAddress) -> Index? {
        guard let (_, level) = storage.load(address.rawValue) else { return nil }
        let size = geometry.entrySize(at: level)
        return Index(address: address.rawValue & ~(size &- 1), level: level.rawValue)
    }
}

// MARK: - Keys and values

extension MemTable {
    /// The first addresses of a table's entries, in ascending order.
    public struct Keys: BidirectionalCollection {
        /// An entry's first address.
        public typealias Element = PhysicalAddress
        /// The table's own index: a position is valid in the table and in
        /// its views alike.
        public typealias Index = MemTable.Index
        @usableFromInline let base: MemTable

        @usableFromInline init(base: MemTable) { self.base = base }

        /// The table's ``MemTable/startIndex``.
        ///
        /// - Complexity: O(levels), plus the empty slots skipped.
        public var startIndex: Index { base.startIndex }
        /// The table's ``MemTable/endIndex``.
        public var endIndex: Index { base.endIndex }
        /// The table's ``MemTable/index(after:)``.
        ///
        /// - Complexity: O(levels), plus the empty slots skipped.
        public func index(after i: Index) -> Index { base.index(after: i) }
        /// The table's ``MemTable/index(before:)``.
        ///
        /// - Complexity: O(levels), plus the empty slots skipped.
        public func index(before i: Index) -> Index { base.index(before: i) }
        /// The entry's first address.
        ///
        /// - Precondition: `position` is a valid index, not `endIndex`.
        public subscript(position: Index) -> PhysicalAddress { base[position].address }
        /// The number of entries. Complexity: O(1).
        public var count: Int { base.count }
        /// Whether the table has no entry.
        public var isEmpty: Bool { base.isEmpty }

        /// Iterates the addresses as the table's own iterator does.
        public struct Iterator: IteratorProtocol {
            @usableFromInline var base: MemTable.Iterator
            @usableFromInline init(base: MemTable.Iterator) { self.base = base }
            /// The next entry's first address, or nil after the last.
            @inlinable public mutating func next() -> PhysicalAddress? { base.next()?.address }
        }

        /// An iterator in ascending address order, as fast as the table's own.
        @inlinable public func makeIterator() -> Iterator { Iterator(base: base.makeIterator()) }
    }

    /// The values of a table's entries, in ascending address order.
    public struct Values: BidirectionalCollection {
        /// An entry's value.
        public typealias Element = Value
        /// The table's own index: a position is valid in the table and in
        /// its views alike.
        public typealias Index = MemTable.Index
        @usableFromInline let base: MemTable

        @usableFromInline init(base: MemTable) { self.base = base }

        /// The table's ``MemTable/startIndex``.
        ///
        /// - Complexity: O(levels), plus the empty slots skipped.
        public var startIndex: Index { base.startIndex }
        /// The table's ``MemTable/endIndex``.
        public var endIndex: Index { base.endIndex }
        /// The table's ``MemTable/index(after:)``.
        ///
        /// - Complexity: O(levels), plus the empty slots skipped.
        public func index(after i: Index) -> Index { base.index(after: i) }
        /// The table's ``MemTable/index(before:)``.
        ///
        /// - Complexity: O(levels), plus the empty slots skipped.
        public func index(before i: Index) -> Index { base.index(before: i) }
        /// The entry's value.
        ///
        /// - Precondition: `position` is a valid index, not `endIndex`.
        public subscript(position: Index) -> Value { base[position].value }
        /// The number of entries. Complexity: O(1).
        public var count: Int { base.count }
        /// Whether the table has no entry.
        public var isEmpty: Bool { base.isEmpty }

        /// Iterates the values as the table's own iterator does.
        public struct Iterator: IteratorProtocol {
            @usableFromInline var base: MemTable.Iterator
            @usableFromInline init(base: MemTable.Iterator) { self.base = base }
            /// The next entry's value, or nil after the last.
            @inlinable public mutating func next() -> Value? { base.next()?.value }
        }

        /// An iterator in ascending address order, as fast as the table's own.
        @inlinable public func makeIterator() -> Iterator { Iterator(base: base.makeIterator()) }
    }

    /// The entries' first addresses, in ascending order (a large entry once).
    @inlinable
    public var keys: Keys { Keys(base: self) }

    /// The entries' values, in ascending address order (a large entry once).
    @inlinable
    public var values: Values { Values(base: self) }
}

extension MemTable.Keys: Sendable where Value: Sendable {}
extension MemTable.Values: Sendable where Value: Sendable {}

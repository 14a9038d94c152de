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
        @usableFromInline var entries: Entries.Iterator

        @usableFromInline init(entries: Entries.Iterator) { self.entries = entries }

        /// The next entry's first address and value, or nil after the last.
        ///
        /// - Complexity: O(1) amortised: each table's slots are scanned once.
        @inlinable
        public mutating func next() -> Element? {
            guard let (raw, start) = entries.nextLeaf() else { return nil }
            return (PhysicalAddress(start), entries.value(raw))
        }
    }

    /// The entries in ascending address order.
    ///
    /// - Complexity: O(levels) per entry; empty parts of the table are skipped.
    /// - Corresponding C function: `mem_table_next`.
    @inlinable
    public func makeIterator() -> Iterator { Iterator(entries: entries.makeIterator()) }

    /// The number of entries.
    public var underestimatedCount: Int { count }
}

extension MemTable {
    /// An entry of a table: the addresses it covers, its level, its value.
    public struct Entry {
        /// The addresses the entry covers, first to last: one page, or a
        /// large range. Always representable, also for the last entry of a
        /// 64-bit geometry, which ends at 2^64.
        public var addresses: ClosedRange<PhysicalAddress>
        /// The entry's level (``PageLevel/pte`` for a page).
        public var level: PageLevel
        /// The value.
        public var value: Value

        /// The addresses the entry covers, as a half-open range.
        ///
        /// - Precondition: The entry ends below 2^64: in a 64-bit geometry,
        ///   the last entry's end is not a `PhysicalAddress`; use
        ///   ``addresses`` there.
        public var range: Range<PhysicalAddress> {
            get {
                precondition(addresses.upperBound.rawValue < .max,
                             "MemTable: the entry ends at 2^64; use addresses")
                return addresses.lowerBound..<addresses.upperBound + 1
            }
            set { addresses = newValue.lowerBound...newValue.upperBound - 1 }
        }

        @usableFromInline
        init(start: UInt64, size: UInt64, level: PageLevel, value: Value) {
            self.addresses = PhysicalAddress(start)...PhysicalAddress(start &+ (size &- 1))
            self.level = level
            self.value = value
        }
    }

    /// The entries whose ranges meet an address range, in ascending order.
    public struct Entries: Sequence {
        @usableFromInline let storage: Storage<Value>
        @usableFromInline let bounds: Range<UInt64>

        @usableFromInline
        init(storage: Storage<Value>, bounds: Range<UInt64>) {
            self.storage = storage
            self.bounds = bounds
        }

        /// Iterates the entries in ascending address order, scanning the
        /// slots of one table at a time where they lie (`mem_table_next_run`).
        public struct Iterator: IteratorProtocol {
            @usableFromInline let storage: Storage<Value>
            @usableFromInline var run: Storage<Value>.Run
            @usableFromInline var index = 0
            @usableFromInline let end: UInt64

            @usableFromInline
            init(storage: Storage<Value>, bounds: Range<UInt64>) {
                self.storage = storage
                self.end = bounds.upperBound
                run = storage.run(from: bounds.lowerBound, to: bounds.upperBound)
            }

            /// The next entry, or nil after the last.
            ///
            /// - Complexity: O(1) amortised: each table's slots are scanned once.
            @inlinable
            public mutating func next() -> Entry? {
                guard let (raw, start) = nextLeaf() else { return nil }
                return Entry(start: start, size: 1 &<< run.shift,
                             level: PageLevel(rawValue: run.level), value: value(raw))
            }

            /// The next leaf's raw entry and first address.
            @inlinable
            mutating func nextLeaf() -> (raw: UInt, start: UInt64)? {
                // The scan in locals, written back once per leaf found.
                var i = index
                var count = run.count
                while true {
                    while i < count {
                        let raw = run.slot(i)
                        let slot = Slot(raw: raw)
                        i &+= 1
                        if raw == 0 {
                            // Empty slots eight at a time: scattered pages
                            // leave a table mostly empty.
                            while i &+ 8 <= count && run.anyOfEight(from: i) == 0 { i &+= 8 }
                            continue
                        }
                        // A value entry first: the common leaf.
                        if _fastPath(Codec<Value>.mayBeInline && slot.isValue) {
                            index = i
                            return (raw, run.start &+ UInt64(truncatingIfNeeded: i &- 1) &<< run.shift)
                        }
                        if slot.isVacant { continue }
                        let start = run.start &+ UInt64(truncatingIfNeeded: i &- 1) &<< run.shift
                        // A box (a pointer leaf) is a leaf too.
                        if slot.isLeafOrEmpty {
                            index = i
                            return (raw, start)
                        }
                        // A table: its leaves are the next run's.
                        run = storage.run(from: start, to: end)
                        i = 0
                        count = run.count
                    }
                    guard let from = run.next(before: end) else {
                        index = i
                        return nil
                    }
                    run = storage.run(from: from, to: end)
                    i = 0
                    count = run.count
                }
            }

            /// The value of a leaf's raw entry.
            @inlinable
            func value(_ raw: UInt) -> Value {
                let slot = Slot(raw: raw)
                if _fastPath(Codec<Value>.mayBeInline && slot.isValue) {
                    return Codec<Value>.value(payload: slot.payload)
                }
                return storage.boxedValue(raw)
            }
        }

        /// An iterator over the entries, in ascending address order.
        @inlinable
        public func makeIterator() -> Iterator { Iterator(storage: storage, bounds: bounds) }
    }

    /// Every entry, with its range and level, in ascending address order.
    @inlinable
    public var entries: Entries {
        Entries(storage: storage, bounds: 0..<storage.geometry.addressLimit)
    }

    /// The entries whose ranges meet `range`, in ascending address order; a
    /// large entry that starts before `range` is included whole.
    ///
    /// - Complexity: O(levels) per entry.
    /// - Corresponding C function: `mem_table_next_run`.
    public func entries(in range: Range<PhysicalAddress>) -> Entries {
        let limit = storage.geometry.addressLimit
        let lower = Swift.min(range.lowerBound.rawValue, limit)
        let upper = Swift.min(range.upperBound.rawValue, limit)
        return Entries(storage: storage, bounds: lower..<Swift.max(lower, upper))
    }

    /// The entries whose ranges meet `range`, in ascending address order; a
    /// large entry that starts before `range` is included whole. The form
    /// that reaches the last address of a 64-bit geometry.
    ///
    /// - Complexity: O(levels) per entry.
    /// - Corresponding C function: `mem_table_next_run`.
    public func entries(in range: ClosedRange<PhysicalAddress>) -> Entries {
        // No entry starts at UInt64.max (pages are at least 256 bytes), so
        // an exclusive bound of UInt64.max stands for 2^64.
        let upper = range.upperBound.rawValue == .max ? .max : range.upperBound.rawValue + 1
        return entries(in: range.lowerBound..<PhysicalAddress(upper))
    }

    /// The entry covering `address`, with its addresses and level, or nil.
    ///
    /// - Corresponding C function: `mem_table_load`.
    public func entry(containing address: PhysicalAddress) -> Entry? {
        guard let (value, level) = storage.load(address.rawValue) else { return nil }
        let size = storage.geometry.entrySize(at: level)
        return Entry(start: address.rawValue & ~(size &- 1), size: size, level: level, value: value)
    }
}

extension MemTable.Entry: Equatable where Value: Equatable {}
extension MemTable.Entry: Sendable where Value: Sendable {}
extension MemTable.Entries: @unchecked Sendable where Value: Sendable {}

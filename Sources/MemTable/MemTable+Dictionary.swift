// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// Dictionary's vocabulary: building from pairs, merging, transforming and
// filtering, with large entries and the geometry kept.

extension MemTable {
    // MARK: - Building

    /// A table of page entries from pairs whose addresses lie in distinct
    /// pages.
    ///
    /// - Parameters:
    ///   - keysAndValues: Addresses (any byte of a page) and their values.
    ///   - geometry: The table's format: x86-64 with 4-level paging unless
    ///     given.
    /// - Precondition: No two addresses lie in the same page, and every
    ///   address is within the geometry (as `Dictionary` traps on a
    ///   duplicate key).
    /// - Complexity: O(n × levels).
    public init<S: Sequence>(uniqueKeysWithValues keysAndValues: S, geometry: Geometry = .x86_64)
    where S.Element == (PhysicalAddress, Value) {
        self.init(geometry: geometry)
        for (address, value) in keysAndValues {
            precondition(storage.value(at: address.rawValue) == nil,
                         "MemTable: duplicate page \(address.pageFrame(pageShift: geometry.pageShift))")
            self[address] = value
        }
    }

    /// A table of page entries from pairs, combining the values of
    /// addresses that lie in the same page.
    ///
    /// - Parameters:
    ///   - keysAndValues: Addresses (any byte of a page) and their values.
    ///   - combine: Called with the value so far and the new one, for a page
    ///     that has a value already; its result is the page's value.
    ///   - geometry: The table's format.
    /// - Precondition: Every address is within the geometry.
    /// - Complexity: O(n × levels).
    public init<S: Sequence>(
        _ keysAndValues: S, uniquingKeysWith combine: (Value, Value) throws -> Value,
        geometry: Geometry = .x86_64
    ) rethrows where S.Element == (PhysicalAddress, Value) {
        self.init(geometry: geometry)
        try merge(keysAndValues, uniquingKeysWith: combine)
    }

    // MARK: - Merging

    /// Merges pairs into the table, page by page.
    ///
    /// A pair whose page has a value (its own, or a large entry's that
    /// covers it) stores `combine(old, new)` for that page; a large entry is
    /// split for it. Other pairs store their value for their page.
    ///
    /// - Precondition: Every address is within the geometry.
    /// - Complexity: O(n × levels), plus the splits.
    public mutating func merge<S: Sequence>(
        _ other: S, uniquingKeysWith combine: (Value, Value) throws -> Value
    ) rethrows where S.Element == (PhysicalAddress, Value) {
        for (address, value) in other {
            if let old = self[address] {
                self[address] = try combine(old, value)
            } else {
                self[address] = value
            }
        }
    }

    /// Merges another table into this one, address by address, keeping
    /// large entries where they do not meet.
    ///
    /// Where only one table has a value, it is kept at its level. Where both
    /// have one, the result is `combine(mine, theirs)`, at the smaller of the
    /// two entries' levels (the larger entry is split for it); a hole of one
    /// table inside a large entry of the other keeps the large entry's value.
    ///
    /// - Precondition: Both tables have the same geometry.
    /// - Complexity: O(entries of `other` × levels), plus the splits.
    public mutating func merge(
        _ other: MemTable, uniquingKeysWith combine: (Value, Value) throws -> Value
    ) rethrows {
        precondition(geometry == other.geometry, "MemTable: merging tables of different geometries")
        for theirs in other.entries {
            let first = theirs.addresses.lowerBound, last = theirs.addresses.upperBound
            // Mine inside theirs (or the one of mine that covers theirs).
            if let mine = entry(containing: first), mine.level > theirs.level {
                // A larger entry of mine: split it down, then combine.
                let value = try combine(mine.value, theirs.value)
                do {
                    try split(at: first, to: theirs.level)
                } catch {
                    preconditionFailure("MemTable: \(error)")
                }
                place(value, at: first, level: theirs.level)
                continue
            }
            let inside = Array(entries(in: first...last))
            var next = first.rawValue
            for mine in inside {
                let lower = mine.addresses.lowerBound.rawValue
                if lower > next { fill(theirs.value, PhysicalAddress(next)...PhysicalAddress(lower - 1)) }
                place(try combine(mine.value, theirs.value), at: mine.addresses.lowerBound, level: mine.level)
                next = mine.addresses.upperBound.rawValue &+ 1
            }
            if inside.isEmpty {
                place(theirs.value, at: first, level: theirs.level)
            } else if next != 0, next <= last.rawValue {
                fill(theirs.value, PhysicalAddress(next)...last)
            }
        }
    }

    /// This table with pairs merged in, as ``merge(_:uniquingKeysWith:)-(S,_)``.
    public func merging<S: Sequence>(
        _ other: S, uniquingKeysWith combine: (Value, Value) throws -> Value
    ) rethrows -> MemTable where S.Element == (PhysicalAddress, Value) {
        var copy = self
        try copy.merge(other, uniquingKeysWith: combine)
        return copy
    }

    /// This table with another merged in, as
    /// ``merge(_:uniquingKeysWith:)-(MemTable,_)``.
    public func merging(
        _ other: MemTable, uniquingKeysWith combine: (Value, Value) throws -> Value
    ) rethrows -> MemTable {
        var copy = self
        try copy.merge(other, uniquingKeysWith: combine)
        return copy
    }

    // MARK: - Transforming

    /// A table of the same geometry and entries (large ones kept at their
    /// level) whose values are transformed.
    ///
    /// - Complexity: O(entries × levels).
    public func mapValues<T>(_ transform: (Value) throws -> T) rethrows -> MemTable<T> {
        var result = MemTable<T>(geometry: geometry)
        for e in entries {
            try result.place(transform(e.value), at: e.addresses.lowerBound, level: e.level)
        }
        return result
    }

    /// A table of the same geometry holding the non-nil results of
    /// `transform`, each at its entry's address and level.
    ///
    /// - Complexity: O(entries × levels).
    public func compactMapValues<T>(_ transform: (Value) throws -> T?) rethrows -> MemTable<T> {
        var result = MemTable<T>(geometry: geometry)
        for e in entries {
            if let value = try transform(e.value) {
                result.place(value, at: e.addresses.lowerBound, level: e.level)
            }
        }
        return result
    }

    /// The entries for which `isIncluded` holds, as a table of the same
    /// geometry (large entries kept at their level).
    ///
    /// - Parameter isIncluded: Called with each entry's first address and
    ///   value, in ascending order.
    /// - Complexity: O(entries × levels).
    public func filter(_ isIncluded: (Element) throws -> Bool) rethrows -> MemTable {
        var result = MemTable(geometry: geometry)
        for e in entries where try isIncluded((e.addresses.lowerBound, e.value)) {
            result.place(e.value, at: e.addresses.lowerBound, level: e.level)
        }
        return result
    }

    /// Removes the entries for which `shouldBeRemoved` holds (a large entry
    /// whole).
    ///
    /// - Parameter shouldBeRemoved: Called with each entry's first address
    ///   and value, in ascending order.
    /// - Complexity: O(entries × levels).
    public mutating func removeAll(where shouldBeRemoved: (Element) throws -> Bool) rethrows {
        var doomed: [PhysicalAddress] = []
        for e in self where try shouldBeRemoved(e) { doomed.append(e.address) }
        for address in doomed { removeValue(forAddress: address) }
    }

    /// Removes every entry.
    ///
    /// - Parameter keepCapacity: Accepted for `Dictionary`'s sake: a table
    ///   keeps no spare capacity (its tables are freed as they empty), so
    ///   this changes nothing.
    /// - Complexity: O(tables) to free them.
    public mutating func removeAll(keepingCapacity keepCapacity: Bool = false) {
        storage = Storage(geometry: storage.geometry)
    }

    /// Stores a value the table has room for by construction (an entry of a
    /// table of the same geometry, in ascending order): only memory can
    /// fail, which traps as the subscripts do.
    mutating func place(_ value: Value, at address: PhysicalAddress, level: PageLevel) {
        do {
            try updateValue(value, forAddress: address, level: level)
        } catch {
            preconditionFailure("MemTable: \(error)")
        }
    }

    /// Stores a value over a range of whole pages the table has room for.
    mutating func fill(_ value: Value, _ range: ClosedRange<PhysicalAddress>) {
        do {
            try setValue(value, forRange: range)
        } catch {
            preconditionFailure("MemTable: \(error)")
        }
    }
}

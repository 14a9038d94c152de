// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// Large entries: ranges, splits and merges.

extension MemTable {
    /// Stores `value` over a range of pages, in the largest aligned entries
    /// that fit (large entries in the middle, pages at the edges), replacing
    /// whatever the range held.
    ///
    /// - Parameters:
    ///   - value: The value.
    ///   - range: Page-aligned, non-empty, within the geometry.
    /// - Throws: ``MemTableError/invalidRange(_:)``,
    ///   ``MemTableError/addressOutOfRange(_:limit:)`` or
    ///   ``MemTableError/outOfMemory``; the table is then unchanged.
    /// - Complexity: O(levels × entries stored), plus what the range replaces.
    /// - Corresponding C function: `mem_table_store_range`.
    public mutating func setValue(_ value: Value, forRange range: Range<PhysicalAddress>) throws(MemTableError) {
        try makeUniqueOrThrow()
        try storage.storeRange(value, from: range.lowerBound.rawValue, to: range.upperBound.rawValue)
    }

    /// Stores `value` over a closed range of pages, as
    /// ``setValue(_:forRange:)-(_,Range<PhysicalAddress>)`` does; the form
    /// that reaches the last page of a 64-bit geometry.
    ///
    /// - Parameters:
    ///   - value: The value.
    ///   - range: From the first address of a page to the last address of a
    ///     page, within the geometry.
    /// - Throws: ``MemTableError/unalignedAddress(_:level:)`` for a bound
    ///   that is not a page's first (or last) address,
    ///   ``MemTableError/addressOutOfRange(_:limit:)`` or
    ///   ``MemTableError/outOfMemory``; the table is then unchanged.
    /// - Complexity: O(levels × entries stored).
    /// - Corresponding C function: `mem_table_store_range_incl`.
    public mutating func setValue(_ value: Value, forRange range: ClosedRange<PhysicalAddress>) throws(MemTableError) {
        try makeUniqueOrThrow()
        try storage.storeRange(value, first: range.lowerBound.rawValue, last: range.upperBound.rawValue)
    }

    /// Removes everything in a range of pages; large entries across its
    /// edges are split, keeping what lies outside.
    ///
    /// - Returns: The number of entries removed.
    /// - Throws: As ``setValue(_:forRange:)-(_,Range<PhysicalAddress>)``.
    /// - Corresponding C function: `mem_table_erase_range`.
    @discardableResult
    public mutating func removeValues(inRange range: Range<PhysicalAddress>) throws(MemTableError) -> Int {
        try makeUniqueOrThrow()
        return try storage.eraseRange(from: range.lowerBound.rawValue, to: range.upperBound.rawValue)
    }

    /// Removes everything in a closed range of pages, as
    /// ``removeValues(inRange:)-(Range<PhysicalAddress>)`` does; the form
    /// that reaches the last page of a 64-bit geometry.
    ///
    /// - Returns: The number of entries removed.
    /// - Throws: As ``setValue(_:forRange:)-(_,ClosedRange<PhysicalAddress>)``.
    /// - Corresponding C function: `mem_table_erase_range_incl`.
    @discardableResult
    public mutating func removeValues(inRange range: ClosedRange<PhysicalAddress>) throws(MemTableError) -> Int {
        try makeUniqueOrThrow()
        return try storage.eraseRange(first: range.lowerBound.rawValue, last: range.upperBound.rawValue)
    }

    /// Makes the path to the slot of (`address`, `level`) now, so that a
    /// later ``updateValue(_:forAddress:level:)`` there allocates nothing and
    /// cannot fail for lack of memory, as the XArray's `xa_reserve` does.
    ///
    /// A reserved slot reads as empty: it is not an entry, not counted and
    /// not visited; erasing its neighbours does not free its tables. Storing
    /// there, or removing the address, ends the reservation. Inside a larger
    /// entry the entry is split down to `level` instead (the values stay the
    /// same); a slot that holds an entry already is left as it is. The
    /// promise holds while the table's storage is not shared: a copy made
    /// since (copy on write) allocates on its first change.
    ///
    /// - Parameters:
    ///   - address: Any byte of the page; for a large level, the first
    ///     address of the entry's range.
    ///   - level: The level of the slot: ``PageLevel/pte`` unless given.
    /// - Throws: ``MemTableError/smallerEntriesPresent(_:level:)`` if smaller
    ///   entries lie in the range, the argument errors of
    ///   ``updateValue(_:forAddress:level:)``, or
    ///   ``MemTableError/outOfMemory``; the table is then unchanged.
    /// - Complexity: O(levels), plus the entries of a split.
    /// - Corresponding C function: `mem_table_reserve`.
    public mutating func reserve(at address: PhysicalAddress, level: PageLevel = .pte) throws(MemTableError) {
        try makeUniqueOrThrow()
        try storage.reserve(address.rawValue, level: level)
    }

    /// Splits the large entry covering `address` so that `address` is covered
    /// by an entry of `level`; each smaller entry gets the same value.
    ///
    /// If the entry covering `address` is already at `level` or below, there
    /// is nothing to split: the call succeeds and changes nothing.
    ///
    /// - Throws: ``MemTableError/noEntry(_:)`` if nothing covers `address`,
    ///   or the errors of ``updateValue(_:forAddress:level:)``; the table is
    ///   then unchanged.
    /// - Corresponding C function: `mem_table_split`.
    public mutating func split(at address: PhysicalAddress, to level: PageLevel = .pte) throws(MemTableError) {
        try makeUniqueOrThrow()
        try storage.split(address.rawValue, to: level)
    }
}

extension MemTable where Value: Equatable {
    /// Merges the full table of equal entries under the `level` entry at
    /// `address` into one large entry.
    ///
    /// - Parameters:
    ///   - address: Any address in the range to merge.
    ///   - level: The level of the large entry to make (above ``PageLevel/pte``).
    /// - Returns: true if merged; false if the range's entries are not all
    ///   present, at the level below, and equal.
    ///
    /// Equality is the value's `==`, whether a value lives in its slot or in
    /// a box: 511 pages of `0.0` and one of `-0.0` merge. The merged entry
    /// holds the first page's value.
    /// - Throws: ``MemTableError`` if `address` is out of range, `level` is
    ///   not a large level of the geometry, or a shared table could not be
    ///   copied (``MemTableError/outOfMemory``); the table is then unchanged.
    /// - Corresponding C function: `mem_table_merge`.
    @discardableResult
    public mutating func merge(at address: PhysicalAddress, level: PageLevel) throws(MemTableError) -> Bool {
        try makeUniqueOrThrow()
        return try storage.merge(address.rawValue, level: level, equal: ==)
    }
}

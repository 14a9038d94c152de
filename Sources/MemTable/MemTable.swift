// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// MemTable: per-physical-page values in a page-table-shaped radix tree.

/// Values per physical page, in a sparse table laid out like a page table.
///
/// `MemTable` is to physical addresses what `Dictionary` is to keys, over the
/// C library of the Linux RFC "Memory Table": one slot per page, large
/// entries for 2 MiB and 1 GiB ranges, only the parts of the address space
/// that hold values take memory, and iteration is in address order.
///
/// ```swift
/// var counters = MemTable<Int>()
/// counters[0x1234_5000, default: 0] += 1     // any byte of the page works
/// counters[0x1234_5fff, default: 0] += 1
/// print(counters[0x1234_5000]!)              // 2
///
/// try counters.updateValue(7, forAddress: 0x4020_0000, level: .pmd)  // 2 MiB
/// print(counters[0x4030_0000]!)              // 7
/// for (address, value) in counters { print(address, value) }
/// ```
///
/// It has value semantics: `var b = a` then changing `b` leaves `a` as it
/// was (copy on write, built on `mem_table_clone`). Every stored value is
/// released exactly once: when overwritten, removed, merged or split away,
/// or when the last copy of the table goes.
///
/// Values kept in the slot itself, with no allocation per entry (the C
/// library's value entries, 62 bits): every trivial value (`_isPOD`) of up
/// to 7 bytes; and a trivial value of 8 bytes whose bit pattern, read as an
/// `Int64`, lies in `-2^61 ..< 2^61` (a sign extension of 62 bits, so that
/// small negative integers stay inline: `Int(-1)` does, `UInt64(1 << 61)`
/// does not). Every other value is kept in a box the table retains.
/// ``MemTableStatistics/inlineEntries`` shows which entries are inline.
public struct MemTable<Value> {
    @usableFromInline
    var storage: Storage<Value>

    /// An empty table.
    ///
    /// - Parameter geometry: The table's format: x86-64 with 4-level paging
    ///   unless given.
    /// - Corresponding C function: `mem_table_alloc_geometry`.
    public init(geometry: Geometry = .x86_64) {
        storage = Storage(geometry: geometry)
    }

    /// The table's format.
    public var geometry: Geometry { storage.geometry }

    /// Makes the storage unique before a change (copy on write); stops the
    /// program if the copy cannot be allocated, as `Array` does.
    @inlinable
    mutating func makeUnique() {
        do {
            try makeUniqueOrThrow()
        } catch {
            fatalError("MemTable: out of memory copying a table")
        }
    }

    /// Makes the storage unique before a change of a throwing operation: a
    /// copy that cannot be allocated is its error, and the table stays shared.
    @inlinable
    mutating func makeUniqueOrThrow() throws(MemTableError) {
        if !isKnownUniquelyReferenced(&storage) {
            guard let copy = Storage(copying: storage) else { throw .outOfMemory }
            storage = copy
        }
    }

    // MARK: - Dictionary-like access

    /// The value for the page containing `address`, or nil.
    ///
    /// Reading finds a value stored for the page or for a large entry that
    /// covers it; an address beyond the geometry reads as nil. Setting stores
    /// a page entry (splitting a large entry that covers it); setting nil
    /// removes the entry covering `address`, whatever its size.
    ///
    /// An address beyond the geometry (above ``Geometry/lastAddress``) has no
    /// entry, as a key a `Dictionary` does not hold: reading it gives nil and
    /// setting it to nil does nothing. Only storing a value there traps.
    ///
    /// - Precondition: Setting a value (not nil) needs `address` within the
    ///   geometry.
    /// - Complexity: O(levels).
    /// - Corresponding C functions: `mem_table_load`, `mem_table_store`, `mem_table_erase`.
    @inlinable
    public subscript(address: PhysicalAddress) -> Value? {
        get { value(at: address) }
        set {
            if let newValue {
                if Codec<Value>.mayBeInline, let bits = Codec<Value>.payload(newValue) {
                    // Specialised in the caller: the value goes in the slot.
                    makeUnique()
                    storage.storePagePayload(address.rawValue, bits)
                    return
                }
                do {
                    try updateValue(newValue, forAddress: address)
                } catch {
                    preconditionFailure("MemTable: \(error)")
                }
            } else {
                removeValue(forAddress: address)
            }
        }
    }

    /// The value for the page containing `address`, or `defaultValue`; changed
    /// in place.
    ///
    /// `table[pa, default: 0] += 1` changes a page's value where it lies,
    /// allocating nothing once the page has an entry.
    ///
    /// - Precondition: `address` is within the geometry.
    @inlinable
    public subscript(address: PhysicalAddress, default defaultValue: @autoclosure () -> Value) -> Value {
        get { value(at: address) ?? defaultValue() }
        _modify {
            makeUnique()
            // Specialised in the caller, with a frame small enough to need no
            // allocation: the page's value is moved out of its slot (or box),
            // changed, and moved back, so a trivial value is never boxed and
            // a boxed one (an array, say) is not copied.
            // One walk finds the page's value entry, or that no leaf covers
            // the page (a page stored for the first time).
            let (slot, absent) = Codec<Value>.mayBeInline
                ? storage.pageValueSlotOrAbsence(address.rawValue) : (nil, false)
            var value = slot.map { Codec<Value>.value(payload: Slot(raw: UInt(bitPattern: $0.pointee)).payload) }
                ?? (absent ? nil : value(at: address, taking: true)) ?? defaultValue()
            defer {
                if let slot, let bits = Codec<Value>.payload(value) {
                    // The value entry is rewritten where it lies.
                    slot.pointee = UnsafeMutableRawPointer(bitPattern: Slot(payload: bits).raw)
                } else {
                    putValue(value, at: address)
                }
            }
            yield &value
        }
    }

    /// The value covering `address`: decoded here, specialised, when it is
    /// a value entry; from its box otherwise (moved out of it, for a change
    /// in place, when `taking`).
    @inlinable
    func value(at address: PhysicalAddress, taking: Bool = false) -> Value? {
        if Codec<Value>.mayBeInline {
            let slot = Slot(raw: storage.rawEntry(at: address.rawValue))
            if slot.isValue { return Codec<Value>.value(payload: slot.payload) }
            if slot.isEmpty { return nil }
        }
        return taking ? storage.takeValue(at: address.rawValue) : storage.value(at: address.rawValue)
    }

    @inlinable
    func putValue(_ value: Value, at address: PhysicalAddress) {
        if Codec<Value>.mayBeInline, let bits = Codec<Value>.payload(value) {
            storage.storePagePayload(address.rawValue, bits)
        } else {
            storage.putValue(value, at: address.rawValue)
        }
    }

    /// Stores `value` for the page containing `address`, or for the large
    /// entry of `level` at `address`.
    ///
    /// - Parameters:
    ///   - value: The value.
    ///   - address: Any byte of the page; for a large level, the first
    ///     address of the entry (aligned to its size).
    ///   - level: The entry's level: ``PageLevel/pte`` (a page) unless given.
    /// - Returns: The value the entry held, or nil.
    /// - Throws: ``MemTableError`` if `address` is out of range or unaligned,
    ///   `level` is not in the geometry, smaller entries lie under a large
    ///   entry's range, or a table could not be allocated
    ///   (``MemTableError/outOfMemory``); the table is then unchanged.
    /// - Complexity: O(levels), plus the entries of a split.
    /// - Corresponding C function: `mem_table_store`.
    @discardableResult
    public mutating func updateValue(
        _ value: Value, forAddress address: PhysicalAddress, level: PageLevel = .pte
    ) throws(MemTableError) -> Value? {
        try makeUniqueOrThrow()
        return try storage.store(value, at: address.rawValue, level: level)
    }

    /// Removes the entry covering `address` (a whole large entry if that is
    /// what covers it), or ends the reservation on the way to it
    /// (``reserve(at:level:)``).
    ///
    /// - Returns: The value removed, or nil.
    /// - Corresponding C function: `mem_table_erase`.
    @discardableResult
    public mutating func removeValue(forAddress address: PhysicalAddress) -> Value? {
        // Nothing to remove: no copy, unless a reservation is to end there.
        guard storage.value(at: address.rawValue) != nil || storage.walk.isReserved(address.rawValue)
        else { return nil }
        makeUnique()
        return storage.erase(address.rawValue)?.value
    }

    /// The number of entries; a large entry counts once.
    ///
    /// - Complexity: O(1).
    /// - Corresponding C function: `mem_table_count`.
    public var count: Int { storage.count }

    /// Whether the table has no entry.
    public var isEmpty: Bool { count == 0 }
}

// MARK: - Conformances

/// Sendable when its values are: the storage is only ever changed when this
/// value holds the only reference to it (copy on write), and reading a C
/// table from several threads at once is safe (nothing is written on reads:
/// the Swift layer never leaves the count stale).
extension MemTable: @unchecked Sendable where Value: Sendable {}

extension MemTable: Equatable where Value: Equatable {
    /// Two tables are equal if they hold equal values in entries of the same
    /// addresses and levels.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        if lhs.storage === rhs.storage { return true }
        guard lhs.count == rhs.count else { return false }
        return lhs.entries.elementsEqual(rhs.entries) {
            $0.addresses == $1.addresses && $0.level == $1.level && $0.value == $1.value
        }
    }
}

extension MemTable: ExpressibleByDictionaryLiteral {
    /// A table of page entries.
    ///
    /// - Precondition: Every address is within the default geometry.
    public init(dictionaryLiteral elements: (PhysicalAddress, Value)...) {
        self.init()
        for (address, value) in elements { self[address] = value }
    }
}

extension MemTable: CustomStringConvertible {
    /// As `MemTable([0x1000: 1, 0x200000 (level 1): 2])`.
    ///
    /// - Complexity: O(entries).
    public var description: String {
        let items = entries.map { e in
            "\(e.addresses.lowerBound)\(e.level == .pte ? "" : " (\(e.level))"): \(e.value)"
        }
        return "MemTable([" + items.joined(separator: ", ") + "])"
    }
}

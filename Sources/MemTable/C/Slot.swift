// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
//
// The unsafe edge, part 2: the slot encoding of <mem_table.h>, read in one
// type, and the C walk in inlinable Swift.

internal import CMemTable

// MARK: - The slot encoding

/// What a slot holds, as `<mem_table.h>` encodes it in the table at its top,
/// told apart by the two low bits:
///
/// | slot         | bits         | here          | C predicate               |
/// |--------------|--------------|---------------|---------------------------|
/// | empty        | 0            | `isEmpty`     | `!entry`                  |
/// | pointer leaf | `..00`       | `isPointer`   | `mem_table_is_pointer()`  |
/// | value entry  | `..10`       | `isValue`     | `mem_table_is_value()`    |
/// | table        | `..x1`       | `isTable`     | `mem_table_is_table()`    |
/// | reserved     | 1            | `isReserved`  | `mem_table_is_reserved()` |
///
/// The one place the Swift layer reads tag bits: the subscripts, the
/// iterator and the walk ask this type. A pointer leaf of a Swift table is a
/// retained `Box`; a value entry's 62-bit payload is a value kept inline
/// (`Codec`). `Slot.check()` pins the encoding against the C predicates.
@usableFromInline
struct Slot {
    @usableFromInline let raw: UInt

    @inlinable init(raw: UInt) { self.raw = raw }

    /// A value entry of a 62-bit payload (`mem_table_mk_value`).
    @inlinable init(payload: UInt64) { raw = UInt(truncatingIfNeeded: payload) &<< 2 | 2 }

    /// Empty: no leaf, no table.
    @inlinable var isEmpty: Bool { raw == 0 }
    /// A value entry: bits `10`.
    @inlinable var isValue: Bool { raw & 3 == 2 }
    /// A pointer leaf (a box): bits `00`, not empty.
    @inlinable var isPointer: Bool { raw != 0 && raw & 3 == 0 }
    /// The RFC's `IS_LEAF()`: empty, a pointer or a value entry.
    @inlinable var isLeafOrEmpty: Bool { raw & 1 == 0 }
    /// A reservation: the `MEM_TABLE` bit alone.
    @inlinable var isReserved: Bool { raw == 1 }
    /// Empty or reserved: nothing to read.
    @inlinable var isVacant: Bool { raw <= 1 }
    /// A table: the `MEM_TABLE` bit on a table's address.
    @inlinable var isTable: Bool { raw & 1 == 1 && raw != 1 }

    /// A value entry's payload (`mem_table_to_value`).
    @inlinable var payload: UInt64 { UInt64(raw &>> 2) }

    /// A table entry's slots: the tag off, the slots' offset on.
    @inlinable var tableSlots: UnsafeRawPointer {
        UnsafeRawPointer(bitPattern: raw &- 1 &+ Walk.slotsOffset).unsafelyUnwrapped
    }

    /// The slot as the C library stores it.
    var entry: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: raw) }

    /// Checks, once, that this reading is the C library's.
    static func check() {
        let value = mem_table_mk_value(5)
        let samples: [UnsafeMutableRawPointer?] = [nil, value, UnsafeMutableRawPointer(bitPattern: 1),
                                                   UnsafeMutableRawPointer(bitPattern: 0x1000),
                                                   UnsafeMutableRawPointer(bitPattern: 0x1001)]
        for e in samples {
            let s = Slot(raw: UInt(bitPattern: e))
            precondition(s.isValue == mem_table_is_value(e) && s.isPointer == mem_table_is_pointer(e)
                         && s.isTable == mem_table_is_table(e) && s.isReserved == mem_table_is_reserved(e)
                         && s.isEmpty == (e == nil),
                         "MemTable: the slot encoding differs from <mem_table.h>'s")
        }
        precondition(Slot(payload: 5).raw == UInt(bitPattern: value) && Slot(raw: UInt(bitPattern: value)).payload == 5,
                     "MemTable: the value entry encoding differs from <mem_table.h>'s")
    }
}

// MARK: - The walk

/// The C table's walk from its root, as `mem_table_lookup` does it, in
/// Swift that callers specialise and inline.
@usableFromInline
struct Walk {
    /// A geometry's levels as the walk steps down them: the shift and mask
    /// of the root level, and the levels below it, which all have
    /// `levelBits` bits (as every geometry the Swift layer makes has).
    @usableFromInline
    struct Shape {
        @usableFromInline let topShift: UInt64
        @usableFromInline let topMask: UInt64
        @usableFromInline let levelBits: UInt64
        @usableFromInline let levelMask: UInt64
        @usableFromInline let pageShift: UInt64

        init(pageShift: Int, bitsPerLevel: Int, shifts: [Int], counts: [Int]) {
            let top = shifts.count - 1
            for level in 0..<top {
                precondition(shifts[level] == pageShift + level * bitsPerLevel
                             && counts[level] == 1 << bitsPerLevel,
                             "MemTable: a geometry whose levels below the root differ in size")
            }
            precondition(Walk.slotsOffset == UInt(MemoryLayout<mem_table>.size))
            topShift = UInt64(shifts[top])
            topMask = UInt64(counts[top] - 1)
            levelBits = UInt64(bitsPerLevel)
            levelMask = 1 << levelBits - 1
            self.pageShift = UInt64(pageShift)
        }
    }

    /// The root's slots.
    @usableFromInline let root: UnsafeRawPointer
    @usableFromInline let shape: Shape

    /// Where a table's slots start: `offsetof(struct mem_table, entries)`,
    /// which the C library asserts is `sizeof(struct mem_table)` (two
    /// pointers and a bool); a constant, so that it folds into the loads.
    @inlinable static var slotsOffset: UInt { 3 &* UInt(MemoryLayout<UInt>.size) }

    init(_ table: UnsafeMutablePointer<mem_table>, _ geometry: GeometryBox) {
        root = UnsafeRawPointer(table) + Int(Walk.slotsOffset)
        shape = geometry.walkShape
    }

    /// The slot of the leaf covering `address`, or nil if none does
    /// (`mem_table_lookup_slot`); with `pageOnly`, only a smallest page's.
    @inlinable
    func slot(_ address: UInt64, pageOnly: Bool = false) -> UnsafeRawPointer? {
        // Masking shifts (&>>): every shift here is below 64.
        var shift = shape.topShift
        var index = address &>> shift
        if index > shape.topMask { return nil }
        var slots = root
        while true {
            let slot = slots + Int(truncatingIfNeeded: index &<< 3)
            let entry = Slot(raw: slot.load(as: UInt.self))
            if entry.isLeafOrEmpty {
                if entry.isEmpty || (pageOnly && shift != shape.pageShift) { return nil }
                return slot
            }
            if entry.isReserved { return nil }
            slots = entry.tableSlots
            shift &-= shape.levelBits
            index = (address &>> shift) & shape.levelMask
        }
    }

    /// Where the walk to `address` ends: the slot of the leaf covering it,
    /// or the empty slot where its path stops, and whether that slot is a
    /// smallest page's; nil out of range or at a reservation.
    ///
    /// The same loop as ``slot(_:pageOnly:)``, which is not written on top
    /// of it: returning the pair cost lookups 2.8 to 4.7 ns in `make
    /// bench-swift` (dense, 2^20 pages).
    @inlinable
    func end(_ address: UInt64) -> (slot: UnsafeRawPointer, isPage: Bool)? {
        var shift = shape.topShift
        var index = address &>> shift
        if index > shape.topMask { return nil }
        var slots = root
        while true {
            let slot = slots + Int(truncatingIfNeeded: index &<< 3)
            let entry = Slot(raw: slot.load(as: UInt.self))
            if entry.isLeafOrEmpty { return (slot, shift == shape.pageShift) }
            if entry.isReserved { return nil }
            slots = entry.tableSlots
            shift &-= shape.levelBits
            index = (address &>> shift) & shape.levelMask
        }
    }

    /// Whether a reserved slot lies on the way to `address`
    /// (`mem_table_reserve`).
    func isReserved(_ address: UInt64) -> Bool {
        var shift = shape.topShift
        var index = address &>> shift
        if index > shape.topMask { return false }
        var slots = root
        while true {
            let entry = Slot(raw: (slots + Int(truncatingIfNeeded: index &<< 3)).load(as: UInt.self))
            if entry.isReserved { return true }
            if !entry.isTable { return false }
            slots = entry.tableSlots
            shift &-= shape.levelBits
            index = (address &>> shift) & shape.levelMask
        }
    }
}

/// Owns one C table; freed (with every value released) in `deinit`.

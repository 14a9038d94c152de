// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
//
// The unsafe edge, part 4: the table, one C call per operation.

internal import CMemTable
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// Where the C changed walk's callback puts what it finds (its context).
final class ChangeCollector {
    var found: [(entry: UInt, start: UInt64, level: UInt32)] = []
}

@usableFromInline
final class Storage<Value> {
    let table: UnsafeMutablePointer<mem_table>
    @usableFromInline let geometry: Geometry
    /// What the inline walk (`rawEntry`, `pageValueSlot`) needs, so that a
    /// lookup is specialised into the caller as the C one is into C code.
    @usableFromInline let walk: Walk

    /// Whether readers on other threads may be in the table
    /// (`mem_table_alloc_rcu`): what it hands back is then released after a
    /// grace period.
    let concurrent: Bool

    @usableFromInline
    init(geometry: Geometry, concurrent: Bool = false) {
        _ = CGlobals.initialized
        let made = concurrent ? mem_table_alloc_rcu(geometry.box.c, boxOps)
                              : mem_table_alloc_geometry(geometry.box.c, boxOps)
        guard let table = made else {
            fatalError("MemTable: out of memory allocating a table")
        }
        self.table = table
        self.geometry = geometry
        self.concurrent = concurrent
        walk = Walk(table, geometry.box)
    }

    /// A deep copy: the values are shared (boxes get one more reference).
    /// Nil if a table could not be allocated (`other` is then unchanged).
    @usableFromInline
    init?(copying other: Storage) {
        guard let table = mem_table_clone(other.table) else { return nil }
        self.table = table
        self.geometry = other.geometry
        concurrent = other.concurrent
        walk = Walk(table, other.geometry.box)
    }

    deinit { mem_table_free(table) }

    var count: Int { Int(mem_table_count(table)) }

    /// The level index of a C level number.
    private func level(_ c: UInt32) -> PageLevel { PageLevel(rawValue: Int(c - baseLevel)) }
    private func cLevel(_ level: PageLevel) -> UInt32 { UInt32(level.rawValue) + baseLevel }

    // MARK: Reading

    /// The value covering `address` and the level of its entry.
    func load(_ address: UInt64) -> (value: Value, level: PageLevel)? {
        var level: UInt32 = 0
        guard let entry = mem_table_load(table, address, &level) else { return nil }
        return (Codec<Value>.decode(entry), self.level(level))
    }

    /// The entry covering `address` as an integer (0 if none): a value
    /// entry (bits 10) for the caller to decode, or a box. The C library's
    /// `mem_table_lookup` in Swift, for the specialised fast paths of the
    /// subscripts: inlined into the caller, independent lookups overlap.
    @inlinable
    func rawEntry(at address: UInt64) -> UInt {
        walk.slot(address).map { $0.load(as: UInt.self) } ?? 0
    }

    /// For a change in place of the page containing `address`: the slot of
    /// its value entry if it has one of its own, or whether no leaf covers
    /// it at all (then its value is the default, and nothing needs reading).
    @inlinable
    func pageValueSlotOrAbsence(_ address: UInt64)
        -> (slot: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, absent: Bool)
    {
        guard let (slot, isPage) = walk.end(address) else { return (nil, false) }
        let entry = Slot(raw: slot.load(as: UInt.self))
        if entry.isEmpty { return (nil, true) }
        guard isPage, entry.isValue else { return (nil, false) }
        return (UnsafeMutableRawPointer(mutating: slot).assumingMemoryBound(to: UnsafeMutableRawPointer?.self), false)
    }

    /// Stores a value entry of `payload` for the page containing `address`,
    /// releasing what it replaces.
    ///
    /// - Precondition: `address` is within the geometry.
    @usableFromInline
    func storePagePayload(_ address: UInt64, _ payload: UInt64) {
        var old: UnsafeMutableRawPointer? = nil
        let err = mem_table_store(table, address, baseLevel, mem_table_mk_value(UInt(payload)), &old)
        if err != 0 {
            preconditionFailure("MemTable: \(error(err, address, .pte))")
        }
        if let old { Codec<Value>.release(old) }
    }

    /// The value covering `address`.
    @usableFromInline
    func value(at address: UInt64) -> Value? {
        guard let entry = mem_table_load(table, address, nil) else { return nil }
        return Codec<Value>.decode(entry)
    }

    /// Consecutive slots of one table (`struct mem_table_run`), for an
    /// iterator to scan in place; its storage keeps them alive, and copy on
    /// write keeps them unchanged while it does.
    @usableFromInline
    struct Run {
        @usableFromInline let slots: UnsafePointer<UInt>?
        @usableFromInline let count: Int
        @usableFromInline let start: UInt64
        @usableFromInline let shift: UInt64
        @usableFromInline let level: Int
        /// The groups of slots that may hold an entry, `1 << groupShift`
        /// slots a bit (`mem_table_run.occupied`).
        @usableFromInline let occupied: UInt64
        @usableFromInline let groupShift: Int

        @inlinable
        func slot(_ i: Int) -> UInt { slots.unsafelyUnwrapped[i] }

        /// The slots `i` to `i + 7` or'ed together: 0 if all are empty.
        @inlinable
        func anyOfEight(from i: Int) -> UInt {
            let s = slots.unsafelyUnwrapped + i
            return (s[0] | s[1]) | (s[2] | s[3]) | (s[4] | s[5]) | (s[6] | s[7])
        }

        /// Where the next run starts looking, or nil if nothing lies
        /// after this one before `end`.
        @inlinable
        func next(before end: UInt64) -> UInt64? {
            let after = start &+ UInt64(truncatingIfNeeded: count) &<< shift
            return after > start && after < end ? after : nil
        }
    }

    /// A run as the C library describes it, its first `count` slots.
    private func run(_ r: mem_table_run, count: Int) -> Run {
        let groups = (count - 1) >> Int(r.group_shift) + 1
        return Run(slots: UnsafeRawPointer(r.slots).map { $0.assumingMemoryBound(to: UInt.self) },
                   count: count, start: r.pa, shift: UInt64(r.shift), level: Int(r.level - baseLevel),
                   occupied: groups >= 64 ? r.occupied : r.occupied & (1 &<< UInt64(groups) &- 1),
                   groupShift: Int(r.group_shift))
    }

    /// The run of slots from the first entry at or after `start` to the end
    /// of its table or to `end` (an empty one if there is none before `end`).
    @usableFromInline
    func run(from start: UInt64, to end: UInt64) -> Run {
        var r = mem_table_run()
        guard start < end, mem_table_next_run(table, start, &r) == 1, r.pa < end else {
            return Run(slots: nil, count: 0, start: 0, shift: 0, level: 0, occupied: 0, groupShift: 0)
        }
        // Only the slots that start before `end`: the scan need not check.
        let before = (end - 1 - r.pa) >> UInt64(r.shift) + 1
        return run(r, count: Int(min(UInt64(r.count), before)))
    }

    /// The value of a raw entry that is a box.
    @inlinable @inline(never)
    func boxedValue(_ raw: UInt) -> Value {
        Codec<Value>.boxed(UnsafeRawPointer(bitPattern: raw)!)
    }

    /// The first entry at or after `address`: its start, level and value.
    func next(from address: UInt64) -> (start: UInt64, level: PageLevel, value: Value)? {
        var pa = address
        var level: UInt32 = 0
        guard let slot = mem_table_next(table, &pa, &level), let entry = slot.pointee
        else { return nil }
        return (pa, self.level(level), Codec<Value>.decode(entry))
    }

    /// The first entry at or after `address`: its start and level (the
    /// value left where it is), for an index.
    func nextEntry(from address: UInt64) -> (start: UInt64, level: PageLevel)? {
        var pa = address
        var level: UInt32 = 0
        guard mem_table_next(table, &pa, &level) != nil else { return nil }
        return (pa, self.level(level))
    }

    /// The last entry at or before `address`: its start and level.
    func previousEntry(from address: UInt64) -> (start: UInt64, level: PageLevel)? {
        var pa = address
        var level: UInt32 = 0
        guard mem_table_prev(table, &pa, &level) != nil else { return nil }
        return (pa, self.level(level))
    }

    // MARK: Writing (the caller holds the storage uniquely)

    /// Stores `value` at `level` for `address`; hands back the value replaced.
    func store(_ value: Value, at address: UInt64, level: PageLevel) throws(MemTableError) -> Value? {
        try check(address, level: level)
        let entry = Codec<Value>.encode(value)
        var old: UnsafeMutableRawPointer? = nil
        let err = mem_table_store(table, address, cLevel(level), entry, &old)
        guard err == 0 else {
            Codec<Value>.release(entry)
            throw error(err, address, level)
        }
        guard let old else { return nil }
        defer { releaseReturned(old) }
        return Codec<Value>.decode(old)
    }

    /// Hands back an entry the C library returned: at once, or after a grace
    /// period if readers may still hold it.
    private func releaseReturned(_ entry: UnsafeMutableRawPointer) {
        if concurrent {
            mem_table_rcu_free_leaf(table, entry)
        } else {
            Codec<Value>.release(entry)
        }
    }

    /// The value covering `address`, read with no lock while one writer
    /// may be changing a concurrent table (in an RCU read-side section).
    func loadConcurrently(_ address: UInt64) -> Value? {
        mem_table_rcu_read_lock()
        defer { mem_table_rcu_read_unlock() }
        guard let entry = mem_table_load(table, address, nil) else { return nil }
        return Codec<Value>.decode(entry)
    }

    /// Whether every child entry of the `level` range `[start, last]` is
    /// present, in order, one level down, and equal by `equal`.
    private func childrenEqual(_ start: UInt64, _ last: UInt64, level: PageLevel,
                               equal: (Value, Value) -> Bool) -> Bool {
        let childSize = geometry.entrySize(at: PageLevel(rawValue: level.rawValue - 1))
        var first: Value? = nil
        var expected = start
        var cursor = start
        while let e = next(from: cursor), e.start <= last {
            guard e.start == expected, e.level.rawValue == level.rawValue - 1 else { return false }
            if let f = first {
                if !equal(f, e.value) { return false }
            } else {
                first = e.value
            }
            expected = e.start &+ childSize
            if e.start == last - (childSize - 1) { break }
            cursor = expected
        }
        return first != nil && expected == last &+ 1
    }

    /// Merges as `merge(_:level:equal:)` does, changing no slot before the C
    /// merge: a concurrent table's readers see the children or the merged
    /// entry, nothing between. Equal boxes are merged by `ops->merge`
    /// (the first one's); value entries must also be equal bit for bit.
    func mergeInPlace(_ address: UInt64, level: PageLevel, equal: (Value, Value) -> Bool) throws(MemTableError) -> Bool {
        try check(address, level: level)
        guard level > .pte else { throw .levelNotInGeometry(level) }
        let start = address & ~(geometry.entrySize(at: level) - 1)
        guard childrenEqual(start, start &+ (geometry.entrySize(at: level) - 1), level: level, equal: equal)
        else { return false }
        let err = mem_table_merge(table, address, cLevel(level))
        switch err {
        case 0: return true
        case -ENOENT, -EBUSY: return false
        default: throw error(err, address, level)
        }
    }

    /// Removes the entry covering `address` and hands back its value.
    func erase(_ address: UInt64) -> (value: Value, level: PageLevel)? {
        var level: UInt32 = 0
        guard let entry = mem_table_erase(table, address, &level) else { return nil }
        defer { releaseReturned(entry) }
        return (Codec<Value>.decode(entry), self.level(level))
    }

    /// Reserves the slot of `level` for `address` (`mem_table_reserve`).
    func reserve(_ address: UInt64, level: PageLevel) throws(MemTableError) {
        try check(address, level: level)
        let err = mem_table_reserve(table, address, cLevel(level))
        guard err == 0 else { throw error(err, address, level) }
    }

    func split(_ address: UInt64, to level: PageLevel) throws(MemTableError) {
        try check(address, level: level)
        let err = mem_table_split(table, address, cLevel(level))
        guard err == 0 else { throw error(err, address, level) }
    }

    /// Collapses the full table under the `level` entry at `address`; false if
    /// its entries are not all present, one level down, and equal by `equal`.
    ///
    /// The C library compares value entries by their bits and asks
    /// `ops->merge` for boxes; equality here is the caller's: once `equal`
    /// holds for every entry, each slot is given the first entry's (its bits,
    /// or its box with one more reference), so that the C merge takes them as
    /// one. Nothing can fail after that: the table's shape was checked first.
    func merge(_ address: UInt64, level: PageLevel, equal: (Value, Value) -> Bool) throws(MemTableError) -> Bool {
        try check(address, level: level)
        guard level > .pte else { throw .levelNotInGeometry(level) }
        let start = address & ~(geometry.entrySize(at: level) - 1)
        let last = start &+ (geometry.entrySize(at: level) - 1)
        let childSize = geometry.entrySize(at: PageLevel(rawValue: level.rawValue - 1))
        guard childrenEqual(start, last, level: level, equal: equal) else { return false }
        // One entry for all of them, as the C merge wants them.
        var level0: UInt32 = 0
        let head = mem_table_find(table, start, &level0)!.pointee!
        var pa = start &+ childSize
        while pa != last &+ 1 {
            var l: UInt32 = 0
            let slot = mem_table_find(table, pa, &l)!
            if let old = slot.pointee, old != head {
                slot.pointee = mem_table_is_value(head)
                    ? head : Unmanaged<AnyObject>.fromOpaque(head).retain().toOpaque()
                Codec<Value>.release(old)
            }
            pa &+= childSize
        }
        let err = mem_table_merge(table, address, cLevel(level))
        switch err {
        case 0: return true
        case -ENOENT, -EBUSY: return false
        default: throw error(err, address, level)
        }
    }

    /// Stores `value` over `[start, end)` in the largest aligned entries.
    func storeRange(_ value: Value, from start: UInt64, to end: UInt64) throws(MemTableError) {
        try checkRange(start, end)
        try storeRange(value, first: start, last: end - 1)
    }

    /// Stores `value` over `[first, last]` in the largest aligned entries.
    func storeRange(_ value: Value, first: UInt64, last: UInt64) throws(MemTableError) {
        try checkRange(first: first, last: last)
        let entry = Codec<Value>.encode(value)
        let boxed = !mem_table_is_value(entry)
        // A box cannot be stored in many entries at once (each owns one
        // reference): the range takes a placeholder value entry, all or
        // nothing, and each of its entries then gets its reference.
        let err = mem_table_store_range_incl(table, first, last, boxed ? mem_table_mk_value(0) : entry)
        guard err == 0 else {
            Codec<Value>.release(entry)
            throw error(err, first, .pte)
        }
        guard boxed else { return }
        var pa = first
        var owned = true
        while true {
            var level: UInt32 = 0
            let slot = mem_table_find(table, pa, &level)!
            slot.pointee = owned ? entry : Unmanaged<AnyObject>.fromOpaque(entry).retain().toOpaque()
            owned = false
            let size = geometry.entrySize(at: self.level(level))
            if last - pa == size - 1 { break }
            pa += size
        }
    }

    /// Removes everything in `[start, end)`; returns how many entries went.
    func eraseRange(from start: UInt64, to end: UInt64) throws(MemTableError) -> Int {
        try checkRange(start, end)
        return try eraseRange(first: start, last: end - 1)
    }

    /// Removes everything in `[first, last]`; returns how many entries went.
    func eraseRange(first: UInt64, last: UInt64) throws(MemTableError) -> Int {
        try checkRange(first: first, last: last)
        let n = mem_table_erase_range_incl(table, first, last)
        guard n >= 0 else { throw error(Int32(n), first, .pte) }
        return n
    }

    /// Moves the value of the page containing `address` out for a change in
    /// place (`putValue` moves it back): a boxed value leaves its box empty,
    /// made unique first, so that changing it copies nothing. A page without
    /// an entry of its own reads as the large entry covering it, or nil.
    @usableFromInline
    func takeValue(at address: UInt64) -> Value? {
        var level: UInt32 = 0
        guard let slot = mem_table_find(table, address, &level), let entry = slot.pointee
        else { return nil }
        if level != baseLevel || mem_table_is_value(entry) {
            return Codec<Value>.decode(entry)
        }
        var box = Unmanaged<Box<Value>>.fromOpaque(entry).takeUnretainedValue()
        if !isKnownUniquelyReferenced(&box) {
            // Shared with a split sibling or a merged entry: this page gets its own.
            let own = Box(box.value!)
            slot.pointee = Unmanaged.passRetained(own).toOpaque()
            Codec<Value>.release(entry)
            box = own
        }
        defer { box.value = nil }
        return box.value
    }

    /// Moves a value changed in place back into the page containing `address`,
    /// storing a page entry if it had none.
    ///
    /// - Precondition: `address` is within the geometry.
    @usableFromInline
    func putValue(_ value: Value, at address: UInt64) {
        var level: UInt32 = 0
        if let slot = mem_table_find(table, address, &level), level == baseLevel,
           let entry = slot.pointee
        {
            if !mem_table_is_value(entry) {
                let box = Unmanaged<Box<Value>>.fromOpaque(entry).takeUnretainedValue()
                if box.value == nil {
                    box.value = value
                    return
                }
            }
            slot.pointee = Codec<Value>.encode(value)
            Codec<Value>.release(entry)
            return
        }
        do {
            _ = try store(value, at: address, level: .pte)
        } catch {
            preconditionFailure("MemTable: \(error)")
        }
    }

    // MARK: Changes

    /// The raw entries of the tables marked changed, with their first
    /// address and level, clearing the marks (`mem_table_walk_changed`).
    func takeChanged() -> [(start: UInt64, level: PageLevel, value: Value)] {
        let collector = ChangeCollector()
        let arg = Unmanaged.passUnretained(collector).toOpaque()
        _ = mem_table_walk_changed(table, { entry, pa, level, arg in
            let collector = Unmanaged<ChangeCollector>.fromOpaque(arg!).takeUnretainedValue()
            collector.found.append((UInt(bitPattern: entry), pa, level))
            return 0
        }, arg)
        return collector.found.map { e in
            (e.start, level(e.level), Codec<Value>.decode(UnsafeMutableRawPointer(bitPattern: e.entry)!))
        }
    }

    // MARK: Statistics

    func statistics() -> MemTableStatistics {
        var st = mem_table_stats()
        _ = mem_table_stats(table, &st)
        return statistics(st)
    }

    /// The statistics, with `body` called for the leaves on the way, a
    /// run of slots at a time, in ascending order (`mem_table_stats_walk`):
    /// the caller scans each run as ``Entries`` does, in its own
    /// specialisation.
    @usableFromInline
    func statistics(visitingRuns body: (Run) -> Void) -> MemTableStatistics {
        typealias Visitor = (mem_table_run) -> Void
        var st = mem_table_stats()
        withoutActuallyEscaping(body) { body in
            var visit: Visitor = { r in body(self.run(r, count: Int(r.count))) }
            withUnsafeMutablePointer(to: &visit) { visitor in
                _ = mem_table_stats_walk(table, &st, { run, arg in
                    arg.unsafelyUnwrapped.assumingMemoryBound(to: Visitor.self).pointee(run.unsafelyUnwrapped.pointee)
                    return 0
                }, visitor)
            }
        }
        return statistics(st)
    }

    private func statistics(_ st: mem_table_stats) -> MemTableStatistics {
        let n = Int(st.nlevels)
        func array<T>(_ tuple: T) -> [Int] {
            withUnsafeBytes(of: tuple) { Array($0.bindMemory(to: Int.self).prefix(n)) }
        }
        return MemTableStatistics(
            entries: array(st.leaves), inlineEntries: array(st.values), tables: array(st.tables),
            count: st.count, pages: st.pages, bytes: st.bytes)
    }

    // MARK: Errors

    /// The C library's order: the address, then the level.
    private func check(_ address: UInt64, level: PageLevel) throws(MemTableError) {
        guard address < geometry.addressLimit || geometry.physicalAddressBits >= 64 else {
            throw .addressOutOfRange(PhysicalAddress(address), limit: geometry.addressLimit)
        }
        guard level.rawValue >= 0, level.rawValue < geometry.levelCount else {
            throw .levelNotInGeometry(level)
        }
    }

    /// The C library's order: the first address, its alignment, the last.
    private func checkRange(first: UInt64, last: UInt64) throws(MemTableError) {
        let page = geometry.pageSize
        guard first < geometry.addressLimit || geometry.physicalAddressBits >= 64 else {
            throw .addressOutOfRange(PhysicalAddress(first), limit: geometry.addressLimit)
        }
        guard first % page == 0 else { throw .unalignedAddress(PhysicalAddress(first), level: .pte) }
        guard last % page == page - 1 else { throw .unalignedAddress(PhysicalAddress(last), level: .pte) }
        guard last < geometry.addressLimit || geometry.physicalAddressBits >= 64 else {
            throw .addressOutOfRange(PhysicalAddress(last), limit: geometry.addressLimit)
        }
    }

    /// The C library's order: the start, the range's shape, the end.
    private func checkRange(_ start: UInt64, _ end: UInt64) throws(MemTableError) {
        let page = geometry.pageSize
        guard start < geometry.addressLimit else {
            throw .addressOutOfRange(PhysicalAddress(start), limit: geometry.addressLimit)
        }
        guard start < end, start % page == 0, end % page == 0 else {
            throw .invalidRange(PhysicalAddress(start)..<PhysicalAddress(end))
        }
        guard end <= geometry.addressLimit else {
            throw .addressOutOfRange(PhysicalAddress(end - 1), limit: geometry.addressLimit)
        }
    }

    private func error(_ err: Int32, _ address: UInt64, _ level: PageLevel) -> MemTableError {
        switch -err {
        case ERANGE: return .addressOutOfRange(PhysicalAddress(address), limit: geometry.addressLimit)
        case EEXIST: return .smallerEntriesPresent(PhysicalAddress(address), level: level)
        case ENOENT: return .noEntry(PhysicalAddress(address))
        case ENOMEM: return .outOfMemory
        default: return .unalignedAddress(PhysicalAddress(address), level: level)
        }
    }
}

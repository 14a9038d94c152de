// SPDX-License-Identifier: GPL-2.0-only
//
// memtable-trace: the two Swift engines. `LibEngine` is the public Swift API
// (MemTable<Int>, never the C module); `ModelEngine` is a model written from
// the documentation, on Dictionary.

import MemTable

// MARK: - The Swift API

struct LibEngine: Engine {
    var table: MemTable<Int>
    let geometry: Geometry

    init(pageShift: Int, bits: Int, physBits: Int) {
        geometry = try! Geometry(pageShift: pageShift, bitsPerLevel: bits, physicalAddressBits: physBits)
        table = MemTable(geometry: geometry)
    }

    private func leaf(_ e: MemTable<Int>.Entry) -> Leaf {
        Leaf(start: e.addresses.lowerBound.rawValue, level: e.level.rawValue, value: e.value)
    }

    mutating func store(_ pa: UInt64, level: Int, value: Int) throws(EngineError) -> Leaf? {
        do {
            guard let old = try table.updateValue(value, forAddress: PhysicalAddress(pa),
                                                  level: PageLevel(rawValue: level))
            else { return nil }
            let size = geometry.entrySize(at: PageLevel(rawValue: level))
            return Leaf(start: pa & ~(size - 1), level: level, value: old)
        } catch {
            throw EngineError(error)
        }
    }

    /// The RFC's create: a page slot, refused under a large entry.
    mutating func create(_ pa: UInt64, value: Int) throws(EngineError) -> Leaf? {
        guard pa < geometry.addressLimit else { throw EngineError("ERANGE") }
        let old = table.entry(containing: PhysicalAddress(pa))
        if let old, old.level != .pte { throw EngineError("EEXIST") }
        do {
            try table.updateValue(value, forAddress: PhysicalAddress(pa))
        } catch {
            throw EngineError(error)
        }
        return old.map(leaf)
    }

    /// The entry's start and level come from `entry(containing:)`; its
    /// value must be the subscript's too (the inline walk), or the replay
    /// stops here.
    func load(_ pa: UInt64) -> Leaf? {
        let entry = table.entry(containing: PhysicalAddress(pa))
        let value = table[PhysicalAddress(pa)]
        precondition(value == entry?.value,
                     "memtable-trace: table[\(pa)] is \(value.map(String.init) ?? "nil"), its entry's value \(entry.map { String($0.value) } ?? "nil")")
        return entry.map(leaf)
    }

    /// `removeValue` also where there is no entry: it ends a reservation.
    mutating func erase(_ pa: UInt64) -> Leaf? {
        let e = table.entry(containing: PhysicalAddress(pa))
        if pa < geometry.addressLimit { table.removeValue(forAddress: PhysicalAddress(pa)) }
        return e.map(leaf)
    }

    mutating func reserve(_ pa: UInt64, level: Int) throws(EngineError) {
        do {
            try table.reserve(at: PhysicalAddress(pa), level: PageLevel(rawValue: level))
        } catch {
            throw EngineError(error)
        }
    }

    mutating func split(_ pa: UInt64, level: Int) throws(EngineError) {
        do {
            try table.split(at: PhysicalAddress(pa), to: PageLevel(rawValue: level))
        } catch {
            throw EngineError(error)
        }
    }

    mutating func merge(_ pa: UInt64, level: Int) throws(EngineError) -> Bool {
        do {
            return try table.merge(at: PhysicalAddress(pa), level: PageLevel(rawValue: level))
        } catch {
            throw EngineError(error)
        }
    }

    /// A range the Swift API cannot even express (end before start) is
    /// refused here as the C library refuses it.
    private func range(_ start: UInt64, _ end: UInt64) throws(EngineError) -> Range<PhysicalAddress> {
        guard start < geometry.addressLimit else { throw EngineError("ERANGE") }
        guard start < end else { throw EngineError("EINVAL") }
        return PhysicalAddress(start)..<PhysicalAddress(end)
    }

    mutating func storeRange(_ start: UInt64, _ end: UInt64, value: Int) throws(EngineError) {
        let r = try range(start, end)
        do {
            try table.setValue(value, forRange: r)
        } catch {
            throw EngineError(error)
        }
    }

    mutating func eraseRange(_ start: UInt64, _ end: UInt64) throws(EngineError) -> Int {
        let r = try range(start, end)
        do {
            return try table.removeValues(inRange: r)
        } catch {
            throw EngineError(error)
        }
    }

    func walk(_ start: UInt64, _ end: UInt64, _ body: (Leaf) -> Void) {
        guard start < end else { return }
        for e in table.entries(in: PhysicalAddress(start)..<PhysicalAddress(end)) { body(leaf(e)) }
    }

    func next(_ pa: UInt64) -> Leaf? {
        guard pa < geometry.addressLimit else { return nil }
        var it = table.entries(in: PhysicalAddress(pa)..<PhysicalAddress(geometry.addressLimit)).makeIterator()
        return it.next().map(leaf)
    }

    var count: Int { table.count }

    var stats: Stats {
        let s = table.statistics
        return Stats(count: s.count, pages: s.pages, bytes: s.bytes, leaves: s.entries, tables: s.tables)
    }
}

// MARK: - The model

/// Leaves in a Dictionary keyed by first address, and for each level m > 0
/// the number of smaller leaves under each m-aligned range; reserved slots
/// (first address to level) beside them: a table below the root exists
/// exactly where a leaf or a reservation lies under its range.
struct ModelEngine: Engine {
    var leaves: [UInt64: (level: Int, value: Int)] = [:]
    var below: [[UInt64: Int]]
    var reserved: [UInt64: Int] = [:]
    let shifts: [Int], bits: [Int], limit: UInt64

    init(pageShift: Int, bits perLevel: Int, physBits: Int) {
        var shifts: [Int] = [], bits: [Int] = []
        var shift = pageShift
        while shift < physBits {
            shifts.append(shift)
            bits.append(min(perLevel, physBits - shift))
            shift += bits.last!
        }
        self.shifts = shifts
        self.bits = bits
        limit = physBits >= 64 ? .max : 1 << UInt64(physBits)
        below = Array(repeating: [:], count: shifts.count)
    }

    var levels: Int { shifts.count }
    func span(_ l: Int) -> UInt64 { 1 << UInt64(shifts[l]) }
    func align(_ pa: UInt64, _ l: Int) -> UInt64 { pa & ~(span(l) - 1) }

    func cover(_ pa: UInt64) -> Leaf? {
        guard pa < limit else { return nil }
        for l in 0..<levels {
            if let e = leaves[align(pa, l)], e.level == l {
                return Leaf(start: align(pa, l), level: l, value: e.value)
            }
        }
        return nil
    }

    mutating func add(_ start: UInt64, _ level: Int, _ value: Int) {
        leaves[start] = (level, value)
        for m in (level + 1)..<levels { below[m][align(start, m), default: 0] += 1 }
    }

    mutating func remove(_ leaf: Leaf) {
        leaves[leaf.start] = nil
        for m in (leaf.level + 1)..<levels {
            let key = align(leaf.start, m)
            below[m][key]! -= 1
            if below[m][key] == 0 { below[m][key] = nil }
        }
    }

    /// Split `leaf` down to `level` along `pa`.
    mutating func split(_ leaf: Leaf, along pa: UInt64, to level: Int) {
        var leaf = leaf
        while leaf.level > level {
            remove(leaf)
            let l = leaf.level - 1
            for i in 0..<(UInt64(1) << UInt64(bits[l])) { add(leaf.start + i * span(l), l, leaf.value) }
            leaf = cover(pa)!
        }
    }

    /// Every leaf under the `level` range at `start`, in order.
    func leaves(under start: UInt64, level: Int, _ body: (Leaf) -> Void) {
        if let e = leaves[start], e.level == level {
            body(Leaf(start: start, level: level, value: e.value))
            return
        }
        guard level > 0, below[level][start] != nil else { return }
        for i in 0..<(UInt64(1) << UInt64(bits[level - 1])) {
            leaves(under: start + i * span(level - 1), level: level - 1, body)
        }
    }

    /// The last address of the entry of `level` at `start`.
    func last(_ start: UInt64, _ level: Int) -> UInt64 { start + (span(level) - 1) }

    /// Ends the reservations that meet `lo...hi` (or only those inside it).
    mutating func dropReserved(_ lo: UInt64, _ hi: UInt64, inside: Bool = false) {
        reserved = reserved.filter { start, level in
            inside ? !(lo <= start && last(start, level) <= hi) : !(start <= hi && lo <= last(start, level))
        }
    }

    /// A store ends every reservation it meets: in its slot, below it (their
    /// tables are freed) and above it (a table replaces it).
    mutating func store(_ pa: UInt64, level: Int, value: Int) throws(EngineError) -> Leaf? {
        guard pa < limit else { throw EngineError("ERANGE") }
        guard level < levels, level == 0 || pa & (span(level) - 1) == 0 else { throw EngineError("EINVAL") }
        let lo = align(pa, level)
        if level > 0 && below[level][lo] != nil { throw EngineError("EEXIST") }
        dropReserved(lo, last(lo, level))
        if let c = cover(lo), c.level > level { split(c, along: lo, to: level) }
        let old = cover(lo)
        if let old { remove(old) }
        add(lo, level, value)
        return old
    }

    mutating func create(_ pa: UInt64, value: Int) throws(EngineError) -> Leaf? {
        guard pa < limit else { throw EngineError("ERANGE") }
        let old = cover(pa)
        if let old, old.level > 0 { throw EngineError("EEXIST") }
        dropReserved(align(pa, 0), last(align(pa, 0), 0))
        if let old { remove(old) }
        add(align(pa, 0), 0, value)
        return old
    }

    /// A reservation goes in an empty slot; a larger leaf is split down to
    /// it instead; a slot with a leaf, a reservation, or only reservations
    /// below is left as it is; one with smaller leaves is refused.
    mutating func reserve(_ pa: UInt64, level: Int) throws(EngineError) {
        guard pa < limit else { throw EngineError("ERANGE") }
        guard level < levels, level == 0 || pa & (span(level) - 1) == 0 else { throw EngineError("EINVAL") }
        let lo = align(pa, level)
        if level > 0 && below[level][lo] != nil { throw EngineError("EEXIST") }
        if let c = cover(lo) {
            split(c, along: lo, to: level)
            return
        }
        if reserved.contains(where: { $0.key >= lo && $0.key <= last(lo, level) && $0.value <= level }) { return }
        dropReserved(lo, lo)  // one above: a table replaces it
        reserved[lo] = level
    }

    func load(_ pa: UInt64) -> Leaf? { cover(pa) }

    /// An erase ends the reservation on its way, if there is one.
    mutating func erase(_ pa: UInt64) -> Leaf? {
        guard let c = cover(pa) else {
            if pa < limit { dropReserved(pa, pa) }
            return nil
        }
        remove(c)
        return c
    }

    mutating func split(_ pa: UInt64, level: Int) throws(EngineError) {
        guard pa < limit else { throw EngineError("ERANGE") }
        guard level < levels else { throw EngineError("EINVAL") }
        guard let c = cover(pa) else { throw EngineError("ENOENT") }
        split(c, along: pa, to: level)
    }

    mutating func merge(_ pa: UInt64, level: Int) throws(EngineError) -> Bool {
        guard pa < limit else { throw EngineError("ERANGE") }
        guard level < levels, level > 0 else { throw EngineError("EINVAL") }
        let lo = align(pa, level)
        var children: [Leaf] = []
        for i in 0..<(UInt64(1) << UInt64(bits[level - 1])) {
            let start = lo + i * span(level - 1)
            guard let e = leaves[start], e.level == level - 1 else { return false }
            children.append(Leaf(start: start, level: level - 1, value: e.value))
        }
        guard children.allSatisfy({ $0.value == children[0].value }) else { return false }
        for c in children { remove(c) }
        add(lo, level, children[0].value)
        return true
    }

    func piece(_ pa: UInt64, _ end: UInt64) -> Int {
        var l = levels - 1
        while l > 0 && (pa & (span(l) - 1) != 0 || end - pa < span(l)) { l -= 1 }
        return l
    }

    func checkRange(_ start: UInt64, _ end: UInt64) throws(EngineError) {
        guard start < limit else { throw EngineError("ERANGE") }
        guard start < end, (start | end) & (span(0) - 1) == 0 else { throw EngineError("EINVAL") }
        guard end - 1 < limit else { throw EngineError("ERANGE") }
    }

    /// Splits what crosses the edges, then removes what is inside.
    mutating func clear(_ start: UInt64, _ end: UInt64) -> Int {
        if let c = cover(start), c.start < start { split(c, along: start, to: piece(start, end)) }
        var last = start, pa = start
        while pa < end {
            last = pa
            pa += span(piece(pa, end))
        }
        if let c = cover(end - 1), end - c.start < span(c.level) {
            split(c, along: end - 1, to: piece(last, end))
        }
        var inside: [Leaf] = []
        pa = start
        while pa < end {
            let l = piece(pa, end)
            leaves(under: pa, level: l) { inside.append($0) }
            pa += span(l)
        }
        for leaf in inside { remove(leaf) }
        dropReserved(start, end - 1, inside: true)
        return inside.count
    }

    mutating func storeRange(_ start: UInt64, _ end: UInt64, value: Int) throws(EngineError) {
        try checkRange(start, end)
        _ = clear(start, end)
        dropReserved(start, end - 1)  // and those it meets
        var pa = start
        while pa < end {
            let l = piece(pa, end)
            add(pa, l, value)
            pa += span(l)
        }
    }

    mutating func eraseRange(_ start: UInt64, _ end: UInt64) throws(EngineError) -> Int {
        try checkRange(start, end)
        return clear(start, end)
    }

    func walk(_ start: UInt64, _ end: UInt64, _ body: (Leaf) -> Void) {
        guard start < end, start < limit else { return }
        let top = levels - 1
        let slots = UInt64(1) << UInt64(bits[top])
        var i = start >> UInt64(shifts[top])
        while i < slots && i << UInt64(shifts[top]) < end {
            walk(i << UInt64(shifts[top]), top, start, end, body)
            i += 1
        }
    }

    private func walk(_ base: UInt64, _ level: Int, _ start: UInt64, _ end: UInt64, _ body: (Leaf) -> Void) {
        if let e = leaves[base], e.level == level {
            body(Leaf(start: base, level: level, value: e.value))
            return
        }
        guard level > 0, below[level][base] != nil else { return }
        let l = level - 1
        var i: UInt64 = start > base ? (start - base) >> UInt64(shifts[l]) : 0
        while i < UInt64(1) << UInt64(bits[l]) && base + (i << UInt64(shifts[l])) < end {
            walk(base + (i << UInt64(shifts[l])), l, start, end, body)
            i += 1
        }
    }

    func next(_ pa: UInt64) -> Leaf? {
        var found: Leaf?
        var cursor = pa
        // Walk in growing windows until a leaf turns up or the end is reached.
        var window: UInt64 = span(0) << 4
        while found == nil && cursor < limit {
            let end = cursor > limit - window ? limit : cursor + window
            walk(cursor, end) { if found == nil { found = $0 } }
            cursor = end
            window = window > limit / 2 ? limit : window * 2
        }
        return found
    }

    var count: Int { leaves.count }

    var stats: Stats {
        var s = Stats()
        s.count = leaves.count
        s.leaves = Array(repeating: 0, count: levels)
        s.tables = Array(repeating: 0, count: levels)
        for (_, e) in leaves {
            s.leaves[e.level] += 1
            s.pages += 1 << (shifts[e.level] - shifts[0])
        }
        for m in 1..<levels {
            var regions = Set(below[m].keys)
            for (start, level) in reserved where level < m { regions.insert(align(start, m)) }
            s.tables[m - 1] = regions.count
        }
        s.tables[levels - 1] = 1
        // struct mem_table is 24 bytes, an entry 8, the root's trailer 72 (Sources/CMemTable/mem_table_internal.h).
        for l in 0..<levels { s.bytes += s.tables[l] * (24 + 8 << bits[l]) }
        s.bytes += 72
        return s
    }
}

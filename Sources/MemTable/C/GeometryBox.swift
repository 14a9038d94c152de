// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
//
// The unsafe edge, part 1: the C library's globals and geometries. Every call
// into the C library, every pointer and every retain and release of a stored
// value is in this folder (Sources/MemTable/C), so that it can be read in one
// sitting, as swift-system keeps its syscalls in one place: the geometry box
// here, the slot encoding and the walk in Slot.swift, the values in slots in
// Codec.swift, the table in Storage.swift. Nothing here is public.

internal import CMemTable

// MARK: - The C globals

enum CGlobals {
    /// `mem_table_init(PG_LEVEL_4K)`, run once whatever the threads: a static
    /// stored property is initialised lazily, exactly once, atomically. The
    /// Swift layer uses per-table geometries, but a process that mixes it with
    /// C code using the RFC's globals gets them initialised safely.
    static let initialized: Void = {
        Slot.check()
        mem_table_init(UInt32(PG_LEVEL_4K.rawValue))
    }()
}

/// The level number the C library reports for a smallest page.
let baseLevel = UInt32(PG_LEVEL_4K.rawValue)

// MARK: - Geometry

/// A C `struct mem_table_geometry` that lives as long as any table using it.
final class GeometryBox: @unchecked Sendable {
    // @unchecked: the C struct is written once, in init, and only read after;
    // tables keep pointers into it, so the box must outlive them (Storage
    // holds it).
    let c: UnsafeMutablePointer<mem_table_geometry>
    let pageShift: Int
    let bitsPerLevel: Int
    let physicalAddressBits: Int
    let shifts: [Int]
    let counts: [Int]
    /// The levels as the inline walk steps down them, checked once here.
    let walkShape: Walk.Shape

    private init(copying geo: mem_table_geometry) {
        c = .allocate(capacity: 1)
        c.initialize(to: geo)
        pageShift = Int(geo.page_shift)
        bitsPerLevel = Int(geo.bits_per_level)
        physicalAddressBits = Int(geo.phys_bits)
        var shifts: [Int] = []
        var counts: [Int] = []
        withUnsafeBytes(of: geo.levels) { raw in
            let levels = raw.bindMemory(to: mem_table_level.self)
            for n in 0..<Int(geo.nlevels) {
                shifts.append(Int(levels[n].shift))
                counts.append(Int(levels[n].nentries))
            }
        }
        self.shifts = shifts
        self.counts = counts
        walkShape = Walk.Shape(pageShift: pageShift, bitsPerLevel: bitsPerLevel, shifts: shifts, counts: counts)
    }

    convenience init?(pageShift: Int, bitsPerLevel: Int, physicalAddressBits: Int) {
        guard (0...64).contains(pageShift), (0...64).contains(bitsPerLevel),
              (0...64).contains(physicalAddressBits)
        else { return nil }
        var geo = mem_table_geometry()
        guard mem_table_geometry_init(&geo, UInt32(pageShift), UInt32(bitsPerLevel),
                                      UInt32(physicalAddressBits), baseLevel) == 0
        else { return nil }
        self.init(copying: geo)
    }

    deinit {
        c.deinitialize(count: 1)
        c.deallocate()
    }

    static let x86_64 = GeometryBox(copying: mem_table_geometry_x86_64)
    static let x86_64_LA57 = GeometryBox(copying: mem_table_geometry_x86_64_la57)
    static let arm64_4K = GeometryBox(copying: mem_table_geometry_arm64_4k)
    static let arm64_16K = GeometryBox(copying: mem_table_geometry_arm64_16k)
    static let arm64_64K = GeometryBox(copying: mem_table_geometry_arm64_64k)
}


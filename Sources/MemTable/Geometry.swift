// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// Table formats and their levels.

/// A level of a table: 0 holds the smallest pages, each level above holds
/// entries `2^bitsPerLevel` times larger.
///
/// The names are the kernel's: ``pte`` entries are pages (4 KiB on x86-64),
/// ``pmd`` entries are 2 MiB, ``pud`` entries 1 GiB, ``p4d`` 512 GiB.
public struct PageLevel: RawRepresentable, Hashable, Comparable, Sendable, Codable,
    ExpressibleByIntegerLiteral, CustomStringConvertible
{
    /// The level's index: 0 for the smallest pages.
    public var rawValue: Int

    /// Creates a level from its index.
    @inlinable
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// Creates a level from its index.
    @inlinable
    public init(integerLiteral value: Int) { self.rawValue = value }

    // The levels are inlinable constants, not stored globals: a client's
    // `level == .pte` in a loop over entries would otherwise call the
    // global's accessor each time.

    /// The smallest pages (4 KiB on x86-64).
    @inlinable public static var pte: PageLevel { 0 }
    /// The next size (2 MiB on x86-64).
    @inlinable public static var pmd: PageLevel { 1 }
    /// The next size (1 GiB on x86-64).
    @inlinable public static var pud: PageLevel { 2 }
    /// The next size (512 GiB on x86-64).
    @inlinable public static var p4d: PageLevel { 3 }

    /// Smaller pages first: `.pte < .pmd`.
    @inlinable
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `level 0`, `level 1`...
    public var description: String { "level \(rawValue)" }
}

/// The format of a table: page size, entries per level, address width.
///
/// Tables of different geometries can be used side by side.
///
/// ```swift
/// var arm = MemTable<Int>(geometry: .arm64_16K)
/// arm[0x4000] = 1
/// ```
public struct Geometry: Hashable, Sendable, Codable, CustomStringConvertible {
    let box: GeometryBox

    /// x86-64, 4-level paging: 4 KiB pages, 512 entries per level, 46 address bits.
    public static let x86_64 = Geometry(box: .x86_64)
    /// x86-64, 5-level paging (LA57): 4 KiB pages, 512 entries per level, 52 bits.
    public static let x86_64_LA57 = Geometry(box: .x86_64_LA57)
    /// arm64, 4 KiB granule: 512 entries per level, 48 bits.
    public static let arm64_4K = Geometry(box: .arm64_4K)
    /// arm64, 16 KiB granule: 2048 entries per level, 48 bits.
    public static let arm64_16K = Geometry(box: .arm64_16K)
    /// arm64, 64 KiB granule: 8192 entries per level, 48 bits.
    public static let arm64_64K = Geometry(box: .arm64_64K)

    /// Describes a table format of your own.
    ///
    /// - Parameters:
    ///   - pageShift: log2 of the smallest page, 8 to 30.
    ///   - bitsPerLevel: log2 of the entries per table, 1 to 16.
    ///   - physicalAddressBits: The address width, above `pageShift`, at most 64.
    /// - Throws: ``MemTableError/invalidGeometry`` if the parameters are out of
    ///   range or need more than six levels.
    /// - Corresponding C function: `mem_table_geometry_init`.
    public init(pageShift: Int, bitsPerLevel: Int, physicalAddressBits: Int) throws(MemTableError) {
        guard let box = GeometryBox(pageShift: pageShift, bitsPerLevel: bitsPerLevel,
                                    physicalAddressBits: physicalAddressBits)
        else { throw .invalidGeometry }
        self.box = box
    }

    init(box: GeometryBox) { self.box = box }

    private enum CodingKeys: String, CodingKey { case pageShift, bitsPerLevel, physicalAddressBits }

    /// Decodes the three parameters of ``init(pageShift:bitsPerLevel:physicalAddressBits:)``.
    ///
    /// - Throws: `DecodingError.dataCorrupted` if they describe no geometry.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let pageShift = try c.decode(Int.self, forKey: .pageShift)
        let bitsPerLevel = try c.decode(Int.self, forKey: .bitsPerLevel)
        let bits = try c.decode(Int.self, forKey: .physicalAddressBits)
        do {
            try self.init(pageShift: pageShift, bitsPerLevel: bitsPerLevel, physicalAddressBits: bits)
        } catch {
            throw DecodingError.dataCorruptedError(forKey: .pageShift, in: c, debugDescription: "\(error)")
        }
    }

    /// Encodes `pageShift`, `bitsPerLevel` and `physicalAddressBits`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(pageShift, forKey: .pageShift)
        try c.encode(bitsPerLevel, forKey: .bitsPerLevel)
        try c.encode(physicalAddressBits, forKey: .physicalAddressBits)
    }

    /// log2 of the smallest page size.
    public var pageShift: Int { box.pageShift }
    /// The smallest page size in bytes.
    public var pageSize: UInt64 { 1 << UInt64(box.pageShift) }
    /// log2 of the number of entries of a table below the root.
    public var bitsPerLevel: Int { box.bitsPerLevel }
    /// The address width: addresses are below `2^physicalAddressBits`.
    public var physicalAddressBits: Int { box.physicalAddressBits }
    /// The number of levels.
    public var levelCount: Int { box.shifts.count }
    /// The levels, smallest first.
    public var levels: [PageLevel] { (0..<levelCount).map(PageLevel.init(rawValue:)) }
    /// One past the highest address a table of this geometry accepts,
    /// `2^physicalAddressBits`; for a 64-bit geometry, where that is 2^64,
    /// `UInt64.max`, and every address (`UInt64.max` included) is accepted.
    /// ``lastAddress`` is exact for every geometry.
    public var addressLimit: UInt64 {
        physicalAddressBits >= 64 ? .max : 1 << UInt64(physicalAddressBits)
    }

    /// The highest address a table of this geometry accepts,
    /// `2^physicalAddressBits - 1`.
    public var lastAddress: PhysicalAddress {
        PhysicalAddress(physicalAddressBits >= 64 ? .max : (1 << UInt64(physicalAddressBits)) - 1)
    }

    /// The bytes one entry of `level` covers (4096, 2 MiB, ... on x86-64).
    ///
    /// - Precondition: `level` is one of ``levels``.
    public func entrySize(at level: PageLevel) -> UInt64 {
        precondition(contains(level), "\(level) is not in \(self)")
        return 1 << UInt64(box.shifts[level.rawValue])
    }

    /// The number of entries of a table at `level`.
    ///
    /// - Precondition: `level` is one of ``levels``.
    public func entryCount(at level: PageLevel) -> Int {
        precondition(contains(level), "\(level) is not in \(self)")
        return box.counts[level.rawValue]
    }

    /// Whether `level` is one of ``levels`` (without making the array).
    private func contains(_ level: PageLevel) -> Bool { level.rawValue >= 0 && level.rawValue < levelCount }

    /// Two geometries are equal if their page size, bits per level and
    /// address width are.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.pageShift == rhs.pageShift && lhs.bitsPerLevel == rhs.bitsPerLevel
            && lhs.physicalAddressBits == rhs.physicalAddressBits
    }

    /// Hashes the three parameters that `==` compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(pageShift)
        hasher.combine(bitsPerLevel)
        hasher.combine(physicalAddressBits)
    }

    /// As `4 KiB pages, 9 bits per level, 46 address bits, 4 levels`; the
    /// page size in B, KiB, MiB or GiB.
    public var description: String {
        let units = ["B", "KiB", "MiB", "GiB"]
        let unit = min(pageShift / 10, units.count - 1)
        return "\(pageSize >> UInt64(10 * unit)) \(units[unit]) pages, \(bitsPerLevel) bits per level, "
            + "\(physicalAddressBits) address bits, \(levelCount) levels"
    }
}

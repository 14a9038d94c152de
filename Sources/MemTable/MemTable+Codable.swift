// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// Hashing, coding and debug descriptions.

// MARK: - Hashable

extension MemTable: Hashable where Value: Hashable {
    /// Hashes the entries (first address, level, value) in order, as `==`
    /// compares them.
    ///
    /// - Complexity: O(entries).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for e in entries {
            hasher.combine(e.addresses.lowerBound)
            hasher.combine(e.level)
            hasher.combine(e.value)
        }
    }
}

// MARK: - Codable

/// The coding keys of a table: its geometry, then its entries in order.
private enum TableKeys: String, CodingKey { case geometry, entries }
/// The coding keys of one entry.
private enum EntryKeys: String, CodingKey { case address, level, value }

extension MemTable: Encodable where Value: Encodable {
    /// Encodes the geometry and every entry, large ones with their level:
    /// `{"geometry": {...}, "entries": [{"address": 4096, "level": 0,
    /// "value": ...}, ...]}`, in ascending address order.
    ///
    /// - Complexity: O(entries).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: TableKeys.self)
        try container.encode(geometry, forKey: .geometry)
        var list = container.nestedUnkeyedContainer(forKey: .entries)
        for e in entries {
            var entry = list.nestedContainer(keyedBy: EntryKeys.self)
            try entry.encode(e.addresses.lowerBound, forKey: .address)
            try entry.encode(e.level, forKey: .level)
            try entry.encode(e.value, forKey: .value)
        }
    }
}

extension MemTable: Decodable where Value: Decodable {
    /// Decodes what ``encode(to:)`` encodes.
    ///
    /// - Throws: `DecodingError.dataCorrupted` for a bad geometry, or an
    ///   entry out of range, unaligned, at a level the geometry lacks, or not
    ///   after the entry before it (entries are disjoint and ascending); the
    ///   decoder's errors for missing or mistyped fields. Never traps.
    /// - Complexity: O(entries × levels).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: TableKeys.self)
        self.init(geometry: try container.decode(Geometry.self, forKey: .geometry))
        var list = try container.nestedUnkeyedContainer(forKey: .entries)
        var next: UInt64? = 0  // the lowest address the next entry may start at
        while !list.isAtEnd {
            let entry = try list.nestedContainer(keyedBy: EntryKeys.self)
            let address = try entry.decode(PhysicalAddress.self, forKey: .address)
            let level = try entry.decode(PageLevel.self, forKey: .level)
            let value = try entry.decode(Value.self, forKey: .value)
            guard let lowest = next, address.rawValue >= lowest else {
                throw DecodingError.dataCorruptedError(
                    forKey: .address, in: entry,
                    debugDescription: "entry at \(address) overlaps or precedes the one before it")
            }
            do {
                try updateValue(value, forAddress: address, level: level)
            } catch {
                throw DecodingError.dataCorruptedError(forKey: .address, in: entry,
                                                       debugDescription: "\(error)")
            }
            let end = address.rawValue &+ geometry.entrySize(at: level)
            next = end == 0 ? nil : end
        }
    }
}

// MARK: - Debug description

extension MemTable: CustomDebugStringConvertible {
    /// As `MemTable<String>([0x1000: "a", 0x200000 (level 1): "b"])`: values
    /// as `String(reflecting:)` shows them, strings quoted, as `Dictionary`
    /// does.
    ///
    /// - Complexity: O(entries).
    public var debugDescription: String {
        let items = entries.map { e in
            "\(e.addresses.lowerBound)\(e.level == .pte ? "" : " (\(e.level))"): "
                + String(reflecting: e.value)
        }
        return "MemTable<\(Value.self)>([" + items.joined(separator: ", ") + "])"
    }
}

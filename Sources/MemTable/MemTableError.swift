// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// Errors of the throwing API.

/// Why a ``MemTable`` operation refused: the table is left as it was.
public enum MemTableError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The address is at or above the geometry's limit.
    case addressOutOfRange(PhysicalAddress, limit: UInt64)
    /// A large entry's address is not aligned to its size.
    case unalignedAddress(PhysicalAddress, level: PageLevel)
    /// The geometry has no such level.
    case levelNotInGeometry(PageLevel)
    /// Smaller entries lie under the range of a large entry to store.
    case smallerEntriesPresent(PhysicalAddress, level: PageLevel)
    /// There is no entry there.
    case noEntry(PhysicalAddress)
    /// The range is empty or not page aligned.
    case invalidRange(Range<PhysicalAddress>)
    /// The geometry's parameters are out of range.
    case invalidGeometry
    /// A table (or the copy of a shared one) could not be allocated. The
    /// operations that do not throw (the subscripts, `removeValue`) stop the
    /// program instead, as `Array` and `Dictionary` do.
    case outOfMemory

    /// What went wrong, in words, as `address 0x400000000000 is beyond the
    /// table's limit 0x400000000000`.
    public var description: String {
        switch self {
        case let .addressOutOfRange(address, limit):
            return "address \(address) is beyond the table's limit 0x\(String(limit, radix: 16))"
        case let .unalignedAddress(address, level):
            return "address \(address) is not aligned to the size of a \(level) entry"
        case let .levelNotInGeometry(level):
            return "the table's geometry has no \(level)"
        case let .smallerEntriesPresent(address, level):
            return "smaller entries lie under the \(level) entry at \(address)"
        case let .noEntry(address):
            return "no entry covers \(address)"
        case let .invalidRange(range):
            return "the range \(range.lowerBound)..<\(range.upperBound) is empty or not page aligned"
        case .invalidGeometry:
            return "the geometry's parameters are out of range"
        case .outOfMemory:
            return "out of memory"
        }
    }
}

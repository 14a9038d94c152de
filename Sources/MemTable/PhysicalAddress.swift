// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// Keys: physical addresses and page frame numbers.

/// A physical address: the key of a ``MemTable``.
///
/// Any byte address works as a key: it reaches the entry of the page (or the
/// large page) that contains it.
///
/// ```swift
/// let pa: PhysicalAddress = 0x1234_5678
/// print(pa)                 // 0x12345678
/// print(pa.pageFrame)       // pfn 0x12345 (4 KiB pages)
/// ```
public struct PhysicalAddress: RawRepresentable, Hashable, Strideable, Sendable, Codable,
    ExpressibleByIntegerLiteral, CustomStringConvertible
{
    /// The address as an integer.
    public var rawValue: UInt64

    /// Creates an address from its integer value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Creates an address from its integer value.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Creates an address from an integer literal.
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// The first address of a page frame.
    ///
    /// - Parameters:
    ///   - pageFrame: The page frame number.
    ///   - pageShift: log2 of the page size: 12 (4 KiB) unless given.
    public init(pageFrame: PageFrameNumber, pageShift: Int = 12) {
        self.rawValue = pageFrame.rawValue << UInt64(pageShift)
    }

    /// The number of the 4 KiB page frame holding this address.
    public var pageFrame: PageFrameNumber { PageFrameNumber(rawValue >> 12) }

    /// The number of the page frame holding this address, for a page size.
    ///
    /// - Parameter pageShift: log2 of the page size.
    public func pageFrame(pageShift: Int) -> PageFrameNumber {
        PageFrameNumber(rawValue >> UInt64(pageShift))
    }

    /// Lower addresses first.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The address in hexadecimal, as `0x12345000`.
    public var description: String { "0x" + String(rawValue, radix: 16) }

    /// The address `offset` bytes further on (wrapping is a programming error).
    public static func + (lhs: Self, rhs: UInt64) -> Self { Self(lhs.rawValue + rhs) }

    /// The address `offset` bytes before.
    public static func - (lhs: Self, rhs: UInt64) -> Self { Self(lhs.rawValue - rhs) }

    // MARK: Strideable

    /// A signed distance in bytes, so that page walks read as
    /// `stride(from: start, to: end, by: 4096)`.
    public typealias Stride = Int64

    /// The bytes from this address to `other` (negative if it is lower).
    ///
    /// - Precondition: The distance fits in an `Int64`.
    public func distance(to other: Self) -> Int64 {
        other >= self ? Int64(other.rawValue - rawValue) : -Int64(rawValue - other.rawValue)
    }

    /// The address `n` bytes further on (or before, for a negative `n`).
    ///
    /// - Precondition: The result is between 0 and `UInt64.max`.
    public func advanced(by n: Int64) -> Self {
        Self(n >= 0 ? rawValue + n.magnitude : rawValue - n.magnitude)
    }
}

/// A page frame number: a physical address divided by the page size.
public struct PageFrameNumber: RawRepresentable, Hashable, Comparable, Sendable, Codable,
    ExpressibleByIntegerLiteral, CustomStringConvertible
{
    /// The frame number as an integer.
    public var rawValue: UInt64

    /// Creates a frame number from its integer value.
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    /// Creates a frame number from its integer value.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// Creates a frame number from an integer literal.
    public init(integerLiteral value: UInt64) { self.rawValue = value }

    /// The first address of this 4 KiB frame.
    public var address: PhysicalAddress { PhysicalAddress(pageFrame: self) }

    /// Lower frames first.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The frame number in hexadecimal, as `pfn 0x12345`.
    public var description: String { "pfn 0x" + String(rawValue, radix: 16) }
}

// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
//
// A table shared across threads and tasks: lock-free reads while one writer
// at a time changes it (userspace RCU, as the kernel's XArray is read).

internal import CMemTable
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Musl)
internal import Musl
#endif

/// A memory table that many threads and tasks read with no lock while
/// writers change it one at a time.
///
/// Reads (the subscript) run in a userspace-RCU read-side section of the C
/// library (`mem_table_alloc_rcu`, liburcu's memb flavour): they take no
/// lock, never wait for a writer, and see each entry either as it was or as
/// it is. Writes are serialised by a mutex inside the table; what a write
/// unlinks (a replaced value, an emptied table) is released after every
/// reader that could have seen it is done.
///
/// ```swift
/// let permissions = SharedMemTable<UInt8>()
/// try permissions.updateValue(0b101, forAddress: 0x1000)   // a control thread
/// let p = permissions[0x1000]                              // any vCPU thread, lock-free
/// ```
///
/// It is a reference type: every holder shares one table. ``snapshot()``
/// copies it into a ``MemTable`` value.
public final class SharedMemTable<Value: Sendable>: @unchecked Sendable {
    // @unchecked: `storage` is a C table made for concurrent readers: reads go
    // through RCU read-side sections only (`loadConcurrently`), every other
    // use of it holds `lock`.
    private let storage: Storage<Value>
    private let lock: UnsafeMutablePointer<pthread_mutex_t>

    /// The geometry of the table.
    public let geometry: Geometry

    /// An empty table.
    ///
    /// - Parameter geometry: The table's format: ``Geometry/x86_64`` unless given.
    /// - Complexity: O(1).
    public init(geometry: Geometry = .x86_64) {
        self.geometry = geometry
        storage = Storage(geometry: geometry, concurrent: true)
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
    }

    deinit {
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    private func locked<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body()
    }

    /// The value for the page containing `address` (its own entry's or a
    /// large entry's), or nil; read with no lock.
    ///
    /// - Complexity: O(levels); never waits for a writer.
    /// - Corresponding C function: `mem_table_load` between
    ///   `mem_table_rcu_read_lock` and `mem_table_rcu_read_unlock`.
    public subscript(address: PhysicalAddress) -> Value? {
        storage.loadConcurrently(address.rawValue)
    }

    /// The number of entries; a large entry counts once.
    ///
    /// - Complexity: O(1), after the writer in progress, if any.
    public var count: Int { locked { storage.count } }

    /// Stores `value` for the page containing `address`, or for the large
    /// entry of `level` at `address`, as ``MemTable/updateValue(_:forAddress:level:)``
    /// does.
    ///
    /// - Returns: The value the entry held, or nil.
    /// - Throws: The errors of ``MemTable/updateValue(_:forAddress:level:)``;
    ///   the table is then unchanged.
    /// - Complexity: O(levels), plus the entries of a split.
    @discardableResult
    public func updateValue(
        _ value: Value, forAddress address: PhysicalAddress, level: PageLevel = .pte
    ) throws(MemTableError) -> Value? {
        try locked { () throws(MemTableError) in
            try storage.store(value, at: address.rawValue, level: level)
        }
    }

    /// Removes the entry covering `address`.
    ///
    /// - Returns: The value removed, or nil.
    /// - Complexity: O(levels).
    @discardableResult
    public func removeValue(forAddress address: PhysicalAddress) -> Value? {
        guard address.rawValue < geometry.addressLimit else { return nil }
        return locked { storage.erase(address.rawValue)?.value }
    }

    /// Removes everything in a range of pages, splitting large entries across
    /// its edges, as ``MemTable/removeValues(inRange:)-(Range<PhysicalAddress>)`` does.
    ///
    /// - Returns: The number of entries removed.
    /// - Throws: The errors of that method; the table is then unchanged.
    /// - Complexity: O(levels × entries removed).
    @discardableResult
    public func removeValues(inRange range: Range<PhysicalAddress>) throws(MemTableError) -> Int {
        try locked { () throws(MemTableError) in
            try storage.eraseRange(from: range.lowerBound.rawValue, to: range.upperBound.rawValue)
        }
    }

    /// Splits the large entry covering `address` down to `level`, as
    /// ``MemTable/split(at:to:)`` does; readers see the large entry or the
    /// smaller ones, each with the same value.
    ///
    /// - Throws: The errors of ``MemTable/split(at:to:)``; the table is then unchanged.
    /// - Complexity: O(levels × entries per table).
    public func split(at address: PhysicalAddress, to level: PageLevel = .pte) throws(MemTableError) {
        try locked { () throws(MemTableError) in
            try storage.split(address.rawValue, to: level)
        }
    }

    /// A copy of the table as it is now, as a ``MemTable`` value.
    ///
    /// - Complexity: O(entries), holding the writers off while it copies.
    public func snapshot() -> MemTable<Value> {
        locked {
            var copy = MemTable<Value>(geometry: geometry)
            var cursor: UInt64 = 0
            while let e = storage.next(from: cursor) {
                // A fresh table of the same geometry takes every entry.
                try! copy.updateValue(e.value, forAddress: PhysicalAddress(e.start), level: e.level)
                let end = e.start &+ geometry.entrySize(at: e.level)
                if end == 0 { break }
                cursor = end
            }
            return copy
        }
    }
}

extension SharedMemTable where Value: Equatable {
    /// Merges the full table of equal entries under the `level` entry at
    /// `address` into one large entry, as ``MemTable/merge(at:level:)`` does;
    /// readers see the smaller entries or the large one.
    ///
    /// - Returns: true if merged; false if the entries are not all present,
    ///   one level down, and equal (value entries: bit for bit).
    /// - Throws: ``MemTableError`` for an address out of range or a level not
    ///   above ``PageLevel/pte``.
    /// - Complexity: O(entries per table).
    public func merge(at address: PhysicalAddress, level: PageLevel) throws(MemTableError) -> Bool {
        try locked { () throws(MemTableError) in
            try storage.mergeInPlace(address.rawValue, level: level, equal: ==)
        }
    }
}

// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
//
// The unsafe edge, part 3: how a Swift value lives in a C slot, and the C
// callbacks that retain and release boxes.

internal import CMemTable

// MARK: - Values in slots

/// A stored value that does not fit in a slot. Its value is nil only while
/// `Storage.takeValue` has moved it out for a change in place.
@usableFromInline
final class Box<Value> {
    @usableFromInline var value: Value?
    init(_ value: Value) { self.value = value }
}

/// How a `Value` lives in a slot: trivial values of up to 8 bytes whose bits
/// fit in 62 are value entries, in the slot itself (no allocation); anything
/// else is a retained `Box`.
@usableFromInline
enum Codec<Value> {
    @inlinable
    static var mayBeInline: Bool { _isPOD(Value.self) && MemoryLayout<Value>.size <= 8 }

    /// The 62-bit payload of a value entry for `value`, or nil if it does not
    /// fit. Pure Swift, so that callers specialise it.
    @inlinable
    static func payload(_ value: Value) -> UInt64? {
        var bits: UInt64 = 0
        withUnsafeMutableBytes(of: &bits) { $0.storeBytes(of: value, as: Value.self) }
        if MemoryLayout<Value>.size == 8 {
            // Eight bytes fit if they are a sign extension of 62 bits.
            let signed = Int64(bitPattern: bits)
            guard (signed << 2) >> 2 == signed else { return nil }
            bits &= UInt64.max >> 2
        }
        return bits
    }

    /// The value of a value entry's payload.
    @inlinable
    static func value(payload: UInt64) -> Value {
        var bits = payload
        if MemoryLayout<Value>.size == 8 {
            bits = UInt64(bitPattern: Int64(bitPattern: bits << 2) >> 2)
        }
        return withUnsafeBytes(of: bits) { $0.load(as: Value.self) }
    }

    /// The slot entry for `value`, owning a +1 on a box if there is one.
    static func encode(_ value: Value) -> UnsafeMutableRawPointer {
        if mayBeInline, let bits = payload(value) { return mem_table_mk_value(UInt(bits)) }
        return Unmanaged.passRetained(Box(value)).toOpaque()
    }

    static func decode(_ entry: UnsafeMutableRawPointer) -> Value {
        if mem_table_is_value(entry) {
            return value(payload: UInt64(mem_table_to_value(entry)))
        }
        return boxed(entry)
    }

    /// The value in a box's entry.
    @inlinable
    static func boxed(_ entry: UnsafeRawPointer) -> Value {
        Unmanaged<Box<Value>>.fromOpaque(entry).takeUnretainedValue().value!
    }

    /// Hands back the reference an entry owned (nothing for a value entry).
    static func release(_ entry: UnsafeMutableRawPointer) {
        if !mem_table_is_value(entry) {
            Unmanaged<AnyObject>.fromOpaque(entry).release()
        }
    }
}

/// Consumer op refusals on request, for the tests (the trace replay's
/// `--refuse-each`): not API. The C library lets `ops->split`, `->merge`
/// and `->clone` refuse (return NULL) and promises to leave the table as it
/// was; the Swift callbacks never refuse, so this makes them, to test that
/// the promise carries through the Swift API (an operation throws
/// ``MemTableError/outOfMemory``, or a merge answers false, and the table is
/// unchanged).
///
/// Not thread-safe: set it while no other thread uses a table.
@_spi(FaultInjection)
public enum ConsumerOpRefusals {
    nonisolated(unsafe) static var countdown = -1
    nonisolated(unsafe) static var happened = false

    /// Refuses the `n`-th call of a consumer op from now on (0: the next);
    /// nil refuses none.
    public static func refuse(after n: Int?) {
        countdown = n ?? -1
        happened = false
    }

    /// Whether a call was refused since the last ``refuse(after:)``.
    public static var refused: Bool { happened }

    /// Is this call the one to refuse?
    static func refuse() -> Bool {
        guard countdown >= 0 else { return false }
        countdown -= 1
        guard countdown < 0 else { return false }
        happened = true
        return true
    }
}

/// The C callbacks of every Swift table: boxes are immutable once shared,
/// so splitting, merging and cloning share them with one more reference.
/// Context-free, as `mem_table_ops` wants: a box knows how to die.
nonisolated(unsafe) let boxOps: UnsafeMutablePointer<mem_table_ops> = {
    // nonisolated(unsafe): written once here (lazily, atomically), read-only after.
    let ops = UnsafeMutablePointer<mem_table_ops>.allocate(capacity: 1)
    ops.initialize(to: mem_table_ops(
        free: { entry in Unmanaged<AnyObject>.fromOpaque(entry!).release() },
        split: { entry, _ in
            if ConsumerOpRefusals.refuse() { return nil }
            _ = Unmanaged<AnyObject>.fromOpaque(entry!).retain()
            return entry
        },
        merge: { entries, _, _ in
            if ConsumerOpRefusals.refuse() { return nil }
            // The Swift side checked that the values are equal.
            let first = entries![0]!
            _ = Unmanaged<AnyObject>.fromOpaque(first).retain()
            return first
        },
        clone: { entry in
            if ConsumerOpRefusals.refuse() { return nil }
            _ = Unmanaged<AnyObject>.fromOpaque(entry!).retain()
            return entry
        }))
    return ops
}()


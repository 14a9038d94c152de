// SPDX-License-Identifier: GPL-2.0-only
//
// The arena memtable scan takes its tables from (Sources/CProcfs/arena.c):
// zeroed, aligned, disjoint blocks from 2 MiB aligned spans advised for huge
// pages after the first 64 KiB (256 KiB where few tables are expected), freed
// blocks handed out again for their size, large blocks from calloc(). The tool
// installs it before its first table (a debug build asserts that it did, in
// every run of the tool by these tests); this test process has tables of its
// own, so here the allocator is called directly.

import CProcfs
import Foundation
@testable import MemTableScan
import Testing

@Suite("memtable scan: the huge-page arena for tables")
struct ArenaTests {
    static func usage() -> procfs_arena_usage {
        var u = procfs_arena_usage()
        procfs_arena_usage(&u)
        return u
    }

    static func isZero(_ p: UnsafeMutableRawPointer, _ size: Int) -> Bool {
        UnsafeRawBufferPointer(start: p, count: size).allSatisfy { $0 == 0 }
    }

    @Test func blocksAreZeroedAlignedDisjointAndReused() throws {
        // A table of 512 slots and its header, as the library asks.
        let size = 4120, n = 700
        // The first 64 KiB come from calloc(), so that a small table touches
        // no huge page; 256 KiB where only that many tables are expected
        // (more, and the hint changes nothing); then the spans.
        var early: [UnsafeMutableRawPointer] = []
        #expect(!procfs_arena_installed(), "the test process keeps its tables in calloc()'s memory")
        let fresh = Self.usage().used == 0
        if fresh {
            #expect(procfs_arena_expect(100) == 64 << 10)
            #expect(procfs_arena_expect(60) == 256 << 10)
        }
        while Self.usage().used == 0 {
            let p = try #require(procfs_arena_zalloc(size))
            #expect(Int(bitPattern: p) % 16 == 0 && Self.isZero(p, size))
            early.append(p)
        }
        // Each block takes its size rounded to 16 bytes and a 16-byte header.
        let need = (size + 15) / 16 * 16 + 16
        if fresh { #expect(early.count - 1 == ((256 << 10) + need - 1) / need) }
        // Once a span is out, a hint changes nothing: the next block is the span's.
        let spent = procfs_arena_expect(1)
        if fresh { #expect(spent == (early.count - 1) * need) }
        let used = Self.usage().used
        let inSpan = try #require(procfs_arena_zalloc(size))
        #expect(Self.usage().used == used + need && procfs_arena_expect(1) == spent)
        procfs_arena_release(inSpan)
        for p in early { procfs_arena_release(p) }
        let before = Self.usage()
        var blocks = (0..<n).map { _ in procfs_arena_zalloc(size)! }
        let after = Self.usage()
        #expect(after.blocks == before.blocks + n)
        for p in blocks {
            #expect(Int(bitPattern: p) % 16 == 0)
            #expect(Self.isZero(p, size))
        }
        let sorted = blocks.map { Int(bitPattern: $0) }.sorted()
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(b - a >= size) }
        // In the spans, and the spans advised for huge pages.
        let first = Int(after.first)
        #expect(first != 0 && first % (2 << 20) == 0)
        #expect(after.used >= before.used + n * size && after.reserved >= after.used)
        if FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled") {
            #expect(try Self.vmFlags(containing: first).contains("hg"), "the span is not advised MADV_HUGEPAGE")
        }
        // Written, released, asked for again: the same memory, zeroed.
        for p in blocks { p.initializeMemory(as: UInt8.self, repeating: 0xa5, count: size) }
        for p in blocks { procfs_arena_release(p) }
        #expect(Self.usage().blocks == before.blocks)
        let again = (0..<n).map { _ in procfs_arena_zalloc(size)! }
        #expect(Set(again.map { Int(bitPattern: $0) }) == Set(sorted))
        for p in again { #expect(Self.isZero(p, size)) }
        #expect(Self.usage().used == after.used)
        for p in again { procfs_arena_release(p) }
        blocks = []

        // A large block comes from calloc(): zeroed, outside the arena's use.
        let big = procfs_arena_zalloc(200_000)!
        #expect(Self.isZero(big, 200_000) && Self.usage().used == after.used)
        procfs_arena_release(big)
        // One too large for any object: refused (not wrapped around by the header).
        #expect(procfs_arena_zalloc(.max) == nil)
        #expect(Self.usage().blocks == before.blocks)
    }

    /// The VmFlags of the mapping of /proc/self/smaps that holds `address`.
    static func vmFlags(containing address: Int) throws -> String {
        // The scan's own reader of /proc files (they report a size of 0).
        let smaps = String(decoding: try readFile("/proc/self/smaps"), as: UTF8.self)
        var inside = false
        for line in smaps.split(separator: "\n") {
            if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
               let lo = Int(line[..<dash], radix: 16), let hi = Int(line[line.index(after: dash)..<space], radix: 16) {
                inside = lo <= address && address < hi
            } else if inside && line.hasPrefix("VmFlags:") {
                return String(line)
            }
        }
        return ""
    }
}

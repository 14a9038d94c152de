// SPDX-License-Identifier: GPL-2.0-only
//
// The tool's JSON writer (Sources/memtable/JSON.swift) against Foundation's
// JSONEncoder with [.sortedKeys, .withoutEscapingSlashes], byte for byte.

import Foundation
import MemTable
import MemTableScan
@testable import memtable
import Testing

@Suite("memtable: JSON as JSONEncoder writes it")
struct JSONTests {
    func encoder<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }

    struct Sample: Codable {
        var text: String
        var number: Double
        var small: Float
        var count: Int
        var big: UInt64
        var negative: Int16
        var flag: Bool
        var missing: Int?
        var present: [String]?
        var table: [String: Int]
        var nested: [[UInt8]]
        var empty: [Int]
        var emptyTable: [String: Int]
        // Every other integer type: JSON.scalar names each.
        var integers: Integers

        struct Integers: Codable {
            var i8: Int8, i32: Int32, i64: Int64, u: UInt, u16: UInt16, u32: UInt32
        }
    }

    @Test func samplesAreJSONEncoders() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix(seed: seed)
        let pieces = ["a", "/", "\"", "\\", "\n", "\r", "\t", "\u{8}", "\u{c}", "\u{1}", "\u{1b}[31m", "\u{1f}",
                      "\u{7f}", "é", "\u{2028}", "😀", " ", "memfd:x (deleted)", "B", "Z"]
        let doubles = [0.0, -0.0, 12.0, 13.814752482984575, 1e-5, 1e16, 1e17, 0.1, 2.5, 1e300, .leastNonzeroMagnitude, 4096.0 / 3]
        for round in 0..<300 {
            func text() -> String { (0..<(rng.next() % 5)).map { _ in pieces[Int(rng.next() % UInt64(pieces.count))] }.joined() }
            var table: [String: Int] = [:]
            for _ in 0..<(rng.next() % 5) { table[text()] = Int(rng.next() % 1000) }
            let double = rng.next() % 2 == 0 ? doubles[Int(rng.next() % UInt64(doubles.count))]
                : Double(bitPattern: rng.next() & 0x7fef_ffff_ffff_ffff) // finite
            let sample = Sample(text: text(), number: double, small: Float(rng.next() % 1000) / 8,
                                count: Int(truncatingIfNeeded: rng.next()), big: rng.next(),
                                negative: -Int16(rng.next() % 30000), flag: rng.next() % 2 == 0,
                                missing: rng.next() % 2 == 0 ? nil : 7, present: rng.next() % 2 == 0 ? nil : [text(), text()],
                                table: table, nested: [[1, 2], [], [UInt8(rng.next() % 256)]], empty: [], emptyTable: [:],
                                integers: Sample.Integers(i8: Int8(truncatingIfNeeded: rng.next()),
                                                          i32: Int32(truncatingIfNeeded: rng.next()),
                                                          i64: Int64(truncatingIfNeeded: rng.next()),
                                                          u: UInt(truncatingIfNeeded: rng.next()),
                                                          u16: UInt16(truncatingIfNeeded: rng.next()),
                                                          u32: UInt32(truncatingIfNeeded: rng.next())))
            let mine = try JSON.string(sample), theirs = try encoder(sample)
            #expect(mine == theirs, "seed \(seed) round \(round):\n\(mine)\n\(theirs)")
        }
    }

    /// A real report of this process, with every page, and a watch round.
    @Test func reportsAreJSONEncoders() throws {
        let result = scan(ScanOptions(pids: [getpid()], virtual: true))
        let report = ScanReport(result, summary: heki(result), pages: true)
        #expect(try report.json() == encoder(report))
        let round = WatchCommand.Round(round: 1, pages: 2, processes: 1, wxPfns: [5], addedWXPfns: [5],
                                       removedWXPfns: [], wxMappings: [ScanReport.Alias(pfn: 5, mappings: [
                                           ScanReport.Mapping(pid: 1, command: "a/b\u{1b}", mapping: "0x1-0x2 rwxp")])],
                                       changed: [ScanReport.Page(pfn: 5, r: 1, w: 1, x: 1, procs: 1)])
        #expect(try JSON.string(round) == encoder(round))
        // A long list, as a round's changed pages on a big machine (appending
        // by copying made this one quadratic).
        let many = (0..<200_000).map { ScanReport.Page(pfn: UInt64($0), r: 1, w: 0, x: 1, procs: 2) }
        #expect(try JSON.string(many) == encoder(many))
    }
}

// SPDX-License-Identifier: GPL-2.0-only
//
// The Swift benchmark: MemTable<Int> and a Heki-style counters struct
// against Dictionary<UInt64, Int>, TreeDictionary and the C API called
// directly, on the C benchmark's patterns. Medians of interleaved runs, ns
// per operation; ratios of medians in the same run.
//
// Usage: memtable-bench [N [RUNS]]

import BenchHeap
import CMemTable
import Glibc
import HashTreeCollections
import MemTable

@inline(never) func blackHole<T>(_ x: T) { withExtendedLifetime(x) {} }
nonisolated(unsafe) var sinkValue = 0

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) * 1e9 + Double(ts.tv_nsec)
}

struct Rng {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

let args = CommandLine.arguments
let n = args.count > 1 ? Int(args[1])! : 1 << 20
let runs = args.count > 2 ? max(1, Int(args[2])!) : 5
var rng = Rng()

/// Heki's counters: three 16-bit counts and a process count, 7 bytes.
struct Counters: Hashable { var r: UInt16 = 0, w: UInt16 = 0, x: UInt16 = 0, procs: UInt8 = 0 }

@MainActor
func pattern(_ name: String) -> [UInt64] {
    var pages: [UInt64]
    switch name {
    case "dense": pages = (0..<UInt64(n)).map { $0 }
    case "random 64 GiB":
        var set = Set<UInt64>()
        while set.count < n { set.insert(rng.next() % (64 << 18)) }
        pages = Array(set)
    default:  // 64 slots of 16384 pages, one per 16 GiB, in 1 TiB
        pages = []
        for slot in 0..<UInt64(64) {
            let base = (slot << 22) + ((rng.next() % ((1 << 22) - 16384)) & ~511)
            pages += (0..<UInt64(16384)).map { base + $0 }
        }
        pages = Array(pages.prefix(n))
    }
    return pages
}

typealias Row = [String: Double]  // metric -> ns per operation (or bytes)

func measure(_ body: () -> Void) -> Double {
    let t0 = now()
    body()
    return (now() - t0) / Double(n)
}

/// One run of every structure on `pages`; `probes` is a permutation.
func runAll(_ pages: [UInt64], _ probes: [Int]) -> [String: Row] {
    var rows: [String: Row] = [:]
    let addresses = pages.map { PhysicalAddress($0 << 12) }
    let probeAddresses = probes.map { addresses[$0] }
    let probeKeys = probes.map { pages[$0] }

    do {  // MemTable<Int>
        var row = Row()
        var t = MemTable<Int>()
        let heap0 = bench_heap_in_use()
        row["set"] = measure { for (i, a) in addresses.enumerated() { t[a] = i } }
        row["heap/entry"] = Double(bench_heap_in_use() - heap0) / Double(n)
        row["tables/entry"] = Double(t.statistics.bytes) / Double(n)
        row["boxed"] = Double(t.count - t.statistics.inlineEntries.reduce(0, +))
        var sum = 0
        row["get"] = measure { var s = 0; for a in probeAddresses { s &+= t[a]! }; sum &+= s }
        row["+= 1"] = measure { for a in probeAddresses { t[a, default: 0] += 1 } }
        row["iterate"] = measure { var s = 0; for (_, v) in t { s &+= v }; sum &+= s }
        row["copy+mutate"] = measure {
            var c = t
            c[addresses[0]] = -1
            blackHole(c)
        } * Double(n)  // per copy, not per entry
        blackHole(sum)
        rows["MemTable<Int>"] = row
    }
    do {  // MemTable<Counters>: Heki
        var row = Row()
        var t = MemTable<Counters>()
        row["set"] = measure { for a in addresses { t[a] = Counters(r: 1) } }
        row["+= 1"] = measure { for a in probeAddresses { t[a, default: Counters()].w += 1 } }
        var sum = 0
        row["get"] = measure { var s = 0; for a in probeAddresses { s &+= Int(t[a]!.r) }; sum &+= s }
        row["iterate"] = measure { var s = 0; for (_, v) in t { s &+= Int(v.w) }; sum &+= s }
        row["boxed"] = Double(t.count - t.statistics.inlineEntries.reduce(0, +))
        blackHole(sum)
        rows["MemTable<Counters>"] = row
    }
    do {  // Dictionary
        var row = Row()
        var d: [UInt64: Int] = [:]
        let heap0 = bench_heap_in_use()
        row["set"] = measure { for (i, k) in pages.enumerated() { d[k] = i } }
        row["heap/entry"] = Double(bench_heap_in_use() - heap0) / Double(n)
        var sum = 0
        row["get"] = measure { var s = 0; for k in probeKeys { s &+= d[k]! }; sum &+= s }
        row["+= 1"] = measure { for k in probeKeys { d[k, default: 0] += 1 } }
        row["iterate"] = measure {  // in address order, as MemTable iterates
            var s = 0
            for k in d.keys.sorted() { s &+= d[k]! }
            sum &+= s
        }
        row["copy+mutate"] = measure {
            var c = d
            c[pages[0]] = -1
            blackHole(c)
        } * Double(n)
        blackHole(sum)
        rows["Dictionary"] = row
    }
    do {  // TreeDictionary
        var row = Row()
        var d: TreeDictionary<UInt64, Int> = [:]
        row["set"] = measure { for (i, k) in pages.enumerated() { d[k] = i } }
        var sum = 0
        row["get"] = measure { var s = 0; for k in probeKeys { s &+= d[k]! }; sum &+= s }
        row["+= 1"] = measure { for k in probeKeys { d[k, default: 0] += 1 } }
        row["copy+mutate"] = measure {
            var c = d
            c[pages[0]] = -1
            blackHole(c)
        } * Double(n)
        blackHole(sum)
        rows["TreeDictionary"] = row
    }
    do {  // The C API, called directly
        var row = Row()
        // The C table keeps pointers into its geometry: give it one that stays.
        let geometry = UnsafeMutablePointer<mem_table_geometry>.allocate(capacity: 1)
        geometry.initialize(to: mem_table_geometry_x86_64)
        defer { geometry.deallocate() }
        let t = mem_table_alloc_geometry(geometry, nil)!
        row["set"] = measure {
            for (i, a) in addresses.enumerated() {
                _ = mem_table_store(t, a.rawValue, 1, mem_table_mk_value(UInt(i)), nil)
            }
        }
        var sum = 0
        row["get"] = measure {
            var s = 0
            for a in probeAddresses { s &+= Int(mem_table_to_value(mem_table_lookup(t, a.rawValue))) }
            sum &+= s
            sinkValue = sum
        }
        blackHole(sum)
        mem_table_free(t)
        rows["C mem_table_lookup"] = row
    }
    do {  // A flat array walk: the floor for iteration
        var row = Row()
        let flat = Array(0..<n)
        var sum = 0
        row["iterate"] = measure {
            var s = 0
            for v in flat { s &+= v }
            sum &+= s
            sinkValue = sum
        }
        blackHole(sum)
        rows["flat array"] = row
    }
    return rows
}

let metrics = ["set", "get", "+= 1", "iterate", "copy+mutate", "heap/entry", "tables/entry", "boxed"]
let names = ["MemTable<Int>", "MemTable<Counters>", "C mem_table_lookup", "Dictionary", "TreeDictionary", "flat array"]
print("memtable Swift benchmark: N = \(n), medians of \(runs) interleaved runs, ns per operation")
print("(copy+mutate: ns per copy of the whole table; heap/entry, tables/entry: bytes; boxed: entries boxed)")
for name in ["dense", "random 64 GiB", "64 slots in 1 TiB"] {
    let pages = pattern(name)
    var probes = Array(0..<pages.count)
    probes.shuffle(using: &SystemRandomNumberGenerator.shared)
    var all: [[String: Row]] = []
    for _ in 0..<runs { all.append(runAll(pages, probes)) }
    func median(_ s: String, _ m: String) -> Double? {
        let v = all.compactMap { $0[s]?[m] }.sorted()
        return v.isEmpty ? nil : v[v.count / 2]
    }
    print("\n\(name)")
    print("".padding(20) + metrics.map { $0.leftPadding(13) }.joined())
    for s in names {
        print(s.padding(20) + metrics.map { m in median(s, m).map { String(format1($0)).leftPadding(13) } ?? "-".leftPadding(13) }.joined())
    }
    func ratio(_ a: String, _ b: String, _ m: String, _ ma: String? = nil) -> String {
        guard let x = median(a, ma ?? m), let y = median(b, m) else { return "-" }
        return format2(x / y)
    }
    print("  MemTable<Int> get / C lookup: \(ratio("MemTable<Int>", "C mem_table_lookup", "get"))"
        + "   get / Dictionary: \(ratio("MemTable<Int>", "Dictionary", "get"))"
        + "   set / Dictionary: \(ratio("MemTable<Int>", "Dictionary", "set"))"
        + "   += 1 / Dictionary: \(ratio("MemTable<Int>", "Dictionary", "+= 1"))"
        + "   iterate / flat: \(ratio("MemTable<Int>", "flat array", "iterate"))")
}

extension SystemRandomNumberGenerator { nonisolated(unsafe) static var shared = SystemRandomNumberGenerator() }
extension String {
    func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
    func leftPadding(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
func format1(_ v: Double) -> String { String(Double(Int(v * 100)) / 100) }
func format2(_ v: Double) -> String { String(Double(Int(v * 100)) / 100) }

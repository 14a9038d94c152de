// SPDX-License-Identifier: GPL-2.0-only
//
// memtable-trace: operation traces through the public Swift API.
// The trace format and the transcript, as Tests/TRACES.md documents them
// and Tests/C/trace/trace.c prints them.

import Foundation
@_spi(FaultInjection) import MemTable

/// A trace's geometries, by name.
let geometries: [String: (pageShift: Int, bits: Int, physBits: Int)] = [
    "x86_64": (12, 9, 46), "x86_64_la57": (12, 9, 52), "arm64_4k": (12, 9, 48),
    "arm64_16k": (14, 11, 48), "arm64_64k": (16, 13, 48), "small": (12, 3, 23), "tiny": (12, 2, 22),
]

enum Op: String, CaseIterable {
    case geometry, store, create, find, load, erase, split, merge
    case storeRange = "store_range", eraseRange = "erase_range"
    case walk, next, count, stats, clone, use, free, reserve

    /// The numbers it takes: a(ddress), b (end), l(evel), v(alue).
    var arguments: [Character] {
        switch self {
        case .geometry, .count, .stats, .clone: return []
        case .store: return ["a", "l", "v"]
        case .create: return ["a", "v"]
        case .find, .load, .erase, .next: return ["a"]
        case .split, .merge, .reserve: return ["a", "l"]
        case .storeRange: return ["a", "b", "v"]
        case .eraseRange, .walk: return ["a", "b"]
        case .use, .free: return ["v"]
        }
    }
}

struct Line {
    var op: Op
    var a: UInt64 = 0, b: UInt64 = 0, level: UInt64 = 0, value: UInt64 = 0
    var pointer = false  // the value was written *N
    var name = ""

    /// The value as engines take it: a pointer leaf's with `pointerBit`.
    var encodedValue: Int { Int(value) | (pointer ? pointerBit : 0) }
    var valueText: String { (pointer ? "*" : "") + String(value) }
}

/// Pointer leaves travel through the engines as their value with bit 62
/// set: such an Int does not fit in a value entry, so the Swift API keeps it
/// in a box, split, merged, cloned and released by its consumer ops, as the
/// C engine keeps a pointer leaf in a struct it allocates.
let pointerBit = 1 << 62

struct TraceError: Error, CustomStringConvertible {
    var description: String
}

/// Parses one line; nil for a blank or comment line.
func parse(_ text: Substring) throws -> Line? {
    let code = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    let words = code.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
    guard let first = words.first else { return nil }
    guard let op = Op(rawValue: String(first)) else {
        throw TraceError(description: "unknown operation '\(first)'")
    }
    var line = Line(op: op)
    var rest = words.dropFirst()
    if op == .geometry {
        guard let name = rest.popFirst(), geometries[String(name)] != nil else {
            throw TraceError(description: "unknown geometry '\(rest.first ?? "")'")
        }
        line.name = String(name)
    }
    for arg in op.arguments {
        guard var word = rest.popFirst() else {
            throw TraceError(description: "\(op.rawValue): bad or missing number")
        }
        if arg == "v" && (op == .store || op == .create) && word.first == "*" {
            line.pointer = true
            word = word.dropFirst()
        }
        guard let n = number(word) else {
            throw TraceError(description: "\(op.rawValue): bad or missing number")
        }
        switch arg {
        case "a": line.a = n
        case "b": line.b = n
        case "l": line.level = n
        default: line.value = n
        }
    }
    guard rest.isEmpty else {
        throw TraceError(description: "\(op.rawValue): unexpected '\(rest.joined(separator: " "))'")
    }
    if line.level >= 8 || line.value > 1_000_000 || ((op == .use || op == .free) && line.value >= 8) {
        throw TraceError(description: "\(op.rawValue): number out of range")
    }
    return line
}

/// A number as C's strtoull(…, 0) reads it: decimal, 0x hex, or 0 octal.
func number(_ word: Substring) -> UInt64? {
    guard let c = word.first, c.isASCII, c.isNumber else { return nil }
    if word.hasPrefix("0x") || word.hasPrefix("0X") { return UInt64(word.dropFirst(2), radix: 16) }
    if word.count > 1 && word.hasPrefix("0") { return UInt64(word.dropFirst(), radix: 8) }
    return UInt64(word)
}

/// A leaf as transcripts print it; `value` is encoded (`pointerBit`).
struct Leaf: Equatable {
    var start: UInt64
    var level: Int
    var value: Int
    var pointer: Bool { value & pointerBit != 0 }
    var plainValue: Int { value & ~pointerBit }
    var text: String { "0x\(String(start, radix: 16))@\(level)=\(pointer ? "*" : "")\(plainValue)" }
}

/// An error, by the name of the C errno the library returns for it.
struct EngineError: Error {
    var name: String

    init(_ name: String) { self.name = name }

    init(_ error: MemTableError) {
        switch error {
        case .addressOutOfRange: name = "ERANGE"
        case .smallerEntriesPresent: name = "EEXIST"
        case .noEntry: name = "ENOENT"
        case .unalignedAddress, .levelNotInGeometry, .invalidRange, .invalidGeometry: name = "EINVAL"
        case .outOfMemory: name = "ENOMEM"
        }
    }
}

struct Stats {
    var count = 0, pages = 0, bytes = 0
    var leaves: [Int] = [], tables: [Int] = []
}

/// What a transcript needs of a table: the Swift API, or the model.
protocol Engine {
    init(pageShift: Int, bits: Int, physBits: Int)
    mutating func store(_ pa: UInt64, level: Int, value: Int) throws(EngineError) -> Leaf?
    mutating func create(_ pa: UInt64, value: Int) throws(EngineError) -> Leaf?
    mutating func reserve(_ pa: UInt64, level: Int) throws(EngineError)
    func load(_ pa: UInt64) -> Leaf?
    mutating func erase(_ pa: UInt64) -> Leaf?
    mutating func split(_ pa: UInt64, level: Int) throws(EngineError)
    /// true if merged, false if not mergeable.
    mutating func merge(_ pa: UInt64, level: Int) throws(EngineError) -> Bool
    mutating func storeRange(_ start: UInt64, _ end: UInt64, value: Int) throws(EngineError)
    mutating func eraseRange(_ start: UInt64, _ end: UInt64) throws(EngineError) -> Int
    func walk(_ start: UInt64, _ end: UInt64, _ body: (Leaf) -> Void)
    func next(_ pa: UInt64) -> Leaf?
    var count: Int { get }
    var stats: Stats { get }
}

/// FNV-1a over (start, level, value) as little-endian 64-bit words, as C does.
struct Digest {
    var fnv: UInt64 = 0xcbf2_9ce4_8422_2325
    var n = 0
    var shown: [String] = []

    mutating func add(_ leaf: Leaf) {
        let value = UInt64(leaf.plainValue) | (leaf.pointer ? 1 << 63 : 0)
        for word in [leaf.start, UInt64(leaf.level), value] {
            var w = word
            for _ in 0..<8 {
                fnv = (fnv ^ (w & 0xff)) &* 0x100_0000_01b3
                w >>= 8
            }
        }
        if shown.count < 4 { shown.append(leaf.text) }
        n += 1
    }

    var hex: String {
        let h = String(fnv, radix: 16)
        return "0x" + String(repeating: "0", count: 16 - h.count) + h
    }
}

/// Allocation failures on request, from libmemtable-failalloc.so preloaded
/// (Tests/C/trace/failalloc.c): the Swift replay's `--fail-each`; or the
/// consumer ops' refusals (`ConsumerOpRefusals`): `--refuse-each`.
final class Faults {
    typealias Arm = @convention(c) (Int) -> Void
    typealias Disarm = @convention(c) () -> Void
    typealias Live = @convention(c) () -> Int

    let arm: (Int) -> Void, disarm: () -> Void, live: () -> Int
    /// Did the last armed run fail as armed?
    let failed: (String) -> Bool
    let refusing: Bool
    var injected = 0, violations = 0

    /// Nil unless the allocator is preloaded.
    init?() {
        guard let arm = dlsym(nil, "memtable_fault_arm"), let disarm = dlsym(nil, "memtable_fault_disarm"),
              let live = dlsym(nil, "memtable_fault_live")
        else { return nil }
        let a = unsafeBitCast(arm, to: Arm.self), d = unsafeBitCast(disarm, to: Disarm.self)
        let l = unsafeBitCast(live, to: Live.self)
        self.arm = { a($0) }
        self.disarm = { d() }
        self.live = { l() }
        failed = { $0.hasSuffix("error ENOMEM") }
        refusing = false
    }

    /// The consumer ops refusing in turn (what a refused run allocated is
    /// not counted: the Swift runtime's boxes are not the library's).
    init(refusals: Void) {
        arm = { ConsumerOpRefusals.refuse(after: $0) }
        disarm = { ConsumerOpRefusals.refuse(after: nil) }
        live = { 0 }
        failed = { _ in ConsumerOpRefusals.refused }
        refusing = true
    }
}

/// Replays `text` through engines of type `E`; the transcript, or a
/// `TraceError` naming the line for malformed input.
///
/// With `faults`, every operation that can allocate is first run with each
/// of its allocations failing in turn, as the C replay's `--fail-each` does:
/// it must answer `error ENOMEM`, leave its table as it was and keep
/// nothing it allocated, except the copy of a shared table, which it then
/// owns (copy on write); the operation is then retried from its first
/// allocation. `erase` is left out: it only allocates to copy a shared table,
/// and `removeValue`, like `Dictionary`'s, stops the program on out of memory;
/// so are `clone` (a Swift copy allocates nothing until it changes), `use`
/// and `free`.
func replay<E: Engine>(_ text: String, as _: E.Type, faults: Faults? = nil) throws -> [String] {
    var out: [String] = []
    var geometry = geometries["x86_64"]!
    var tables: [E?] = Array(repeating: nil, count: 8)
    var current = 0
    var started = false
    for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let lineno = index + 1
        let line: Line
        do {
            guard let l = try parse(raw) else { continue }
            line = l
        } catch let error as TraceError {
            throw TraceError(description: "line \(lineno): \(error.description)")
        }
        if line.op == .geometry {
            if started { throw TraceError(description: "line \(lineno): geometry must come first") }
            geometry = geometries[line.name]!
            out.append("geometry \(line.name)")
            continue
        }
        if !started {
            started = true
            tables[0] = E(pageShift: geometry.pageShift, bits: geometry.bits, physBits: geometry.physBits)
        }
        if tables[current] == nil && line.op != .use && line.op != .clone {
            throw TraceError(description: "line \(lineno): table \(current) was freed")
        }
        guard let faults, ![.use, .free, .erase, .clone].contains(line.op) else {
            out.append(try perform(line, lineno, &tables, &current))
            continue
        }
        var n = 0
        var restarted = false
        while true {
            let before = digest(tables[current]!)
            faults.arm(n)
            let result = Result { try perform(line, lineno, &tables, &current) }
            let failed = faults.failed((try? result.get()) ?? "")
            faults.disarm()
            let text = try result.get()
            guard failed else {
                out.append(text)
                break
            }
            faults.injected += 1
            // A refused merge cannot happen: "no"; anything else is out of memory.
            let reported = text.hasSuffix("error ENOMEM") || (faults.refusing && line.op == .merge && text.hasSuffix(": no"))
            let live = faults.live()
            let copied = !restarted && live != 0 && live == tables[current]!.stats.tables.reduce(0, +)
            if !reported || digest(tables[current]!) != before || (live != 0 && !copied) {
                faults.violations += 1
                let what = faults.refusing ? "consumer op \(n) refusing" : "allocation \(n) failing"
                let message = "line \(lineno): \(what) changed the table or kept \(live) allocations: \(text)\n"
                FileHandle.standardError.write(Data(message.utf8))
            }
            // A table that kept its copy now allocates afresh: start over.
            n = copied ? 0 : n + 1
            restarted = restarted || copied
        }
    }
    for (i, table) in tables.enumerated() {
        guard let table else { continue }
        out.append("digest \(i): \(digest(table))")
    }
    return out
}

/// `L leaves, count C, fnv 0x…` of a whole table.
func digest<E: Engine>(_ table: E) -> String {
    var d = Digest()
    table.walk(0, .max) { d.add($0) }
    return "\(d.n) leaves, count \(table.count), fnv \(d.hex)"
}

/// Runs one operation line on `tables`; its transcript line.
func perform<E: Engine>(_ line: Line, _ lineno: Int, _ tables: inout [E?], _ current: inout Int) throws -> String {
    let a = "0x" + String(line.a, radix: 16), b = "0x" + String(line.b, radix: 16)
    let level = Int(line.level), value = line.encodedValue
    func result(_ body: () throws(EngineError) -> Leaf?) -> String {
        do {
            if let old = try body() { return "ok, was \(old.text)" }
            return "ok"
        } catch {
            return "error \(error.name)"
        }
    }
    switch line.op {
    case .store:
        return "store \(a) \(level) \(line.valueText): " + result { () throws(EngineError) in
            try tables[current]!.store(line.a, level: level, value: value)
        }
    case .create:
        return "create \(a) \(line.valueText): " + result { () throws(EngineError) in
            try tables[current]!.create(line.a, value: value)
        }
    case .find, .load, .erase, .next:
        let leaf: Leaf?
        switch line.op {
        case .erase: leaf = tables[current]!.erase(line.a)
        case .next: leaf = tables[current]!.next(line.a)
        default: leaf = tables[current]!.load(line.a)
        }
        return "\(line.op.rawValue) \(a): \(leaf?.text ?? "none")"
    case .reserve:
        return "reserve \(a) \(level): " + result { () throws(EngineError) in
            try tables[current]!.reserve(line.a, level: level)
            return nil
        }
    case .split:
        return "split \(a) \(level): " + result { () throws(EngineError) in
            try tables[current]!.split(line.a, level: level)
            return nil
        }
    case .merge:
        do {
            let merged = try tables[current]!.merge(line.a, level: level)
            return "merge \(a) \(level): \(merged ? "ok" : "no")"
        } catch {
            return "merge \(a) \(level): error \(error.name)"
        }
    case .storeRange:
        return "store_range \(a) \(b) \(value): " + result { () throws(EngineError) in
            try tables[current]!.storeRange(line.a, line.b, value: value)
            return nil
        }
    case .eraseRange:
        do {
            let n = try tables[current]!.eraseRange(line.a, line.b)
            return "erase_range \(a) \(b): \(n) erased"
        } catch {
            return "erase_range \(a) \(b): error \(error.name)"
        }
    case .walk:
        var d = Digest()
        tables[current]!.walk(line.a, line.b) { d.add($0) }
        let shown = d.shown.isEmpty ? " " : " " + d.shown.joined(separator: " ") + "; "
        return "walk \(a) \(b):\(shown)\(d.n) leaves, fnv \(d.hex)"
    case .count:
        return "count: \(tables[current]!.count)"
    case .stats:
        let s = tables[current]!.stats
        return "stats: count \(s.count) pages \(s.pages) leaves "
            + s.leaves.map(String.init).joined(separator: ",") + " tables "
            + s.tables.map(String.init).joined(separator: ",") + " bytes \(s.bytes)"
    case .clone:
        guard tables[current] != nil, let free = tables.firstIndex(where: { $0 == nil }) else {
            throw TraceError(description: "line \(lineno): no table to clone, or no room")
        }
        tables[free] = tables[current]
        return "clone: table \(free)"
    case .use:
        guard tables[Int(line.value)] != nil else { throw TraceError(description: "line \(lineno): no table \(line.value)") }
        current = Int(line.value)
        return "use \(line.value)"
    case .free:
        guard tables[Int(line.value)] != nil else { throw TraceError(description: "line \(lineno): no table \(line.value)") }
        tables[Int(line.value)] = nil
        return "free \(line.value)"
    case .geometry:
        fatalError("geometry is handled by replay")
    }
}

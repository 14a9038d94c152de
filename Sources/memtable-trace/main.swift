// SPDX-License-Identifier: GPL-2.0-only
//
// memtable-trace: replay operation traces through the Swift API (or its
// Dictionary model), generate them, and cross-check the C and Swift layers.
//
//   memtable-trace replay [--model | --fail-each] TRACE
//   memtable-trace generate SEED OPERATIONS [GEOMETRY]
//   memtable-trace check --c-replay PATH --c-gen PATH [--seeds N] [--ops N]
//                        [--first SEED] [--out DIR]

import Foundation
import MemTable

// MARK: - The Swift generator

/// xorshift64*, seeded.
struct Rng {
    var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 2 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    mutating func below(_ n: UInt64) -> UInt64 { n == 0 ? 0 : next() % n }
}

/// A trace whose addresses mix uniform ones with adversarial ones: 0, the
/// top of the range, 512 GiB and 2 MiB boundaries, just out of range. (The C
/// generator clusters addresses into slots instead.)
func generate(seed: UInt64, operations: Int, geometry name: String? = nil) -> String {
    var rng = Rng(seed: seed)
    let names = ["x86_64", "small", "tiny", "x86_64", "small", "tiny", "x86_64_la57", "x86_64", "small", "arm64_64k"]
    let name = name ?? names[Int(rng.below(UInt64(names.count)))]
    let g = geometries[name]!
    let limit: UInt64 = 1 << UInt64(g.physBits)
    let page: UInt64 = 1 << UInt64(g.pageShift)
    let levels = (g.physBits - g.pageShift + g.bits - 1) / g.bits
    func span(_ l: Int) -> UInt64 { 1 << UInt64(min(63, g.pageShift + l * g.bits)) }
    var lines = ["# memtable-trace generate \(seed) \(operations) \(name)", "geometry \(name)"]
    var live = [true] + Array(repeating: false, count: 7)
    var current = 0
    func address() -> UInt64 {
        switch rng.below(8) {
        case 0: return 0
        case 1: return limit - page * (1 + rng.below(3))
        case 2: return limit + rng.below(4) * page  // just out of range
        case 3: return (rng.below(4) << 39) &+ [0, page, 0 &- page][Int(rng.below(3))]  // 512 GiB
        case 4: return (rng.below(limit >> 21) << 21) &+ [0, page, 0 &- page][Int(rng.below(3))]  // 2 MiB
        default: return rng.below(limit) & ~(page - 1)
        }
    }
    for _ in 0..<operations {
        let level = Int(rng.below(UInt64(levels)))
        var pa = address()
        if level > 0 && rng.below(3) > 0 { pa &= ~(span(level) - 1) }
        // Half the stored leaves are pointers (boxes in the Swift API).
        let value = (rng.below(2) == 0 ? "*" : "") + String(rng.below(4))
        let plain = rng.below(4)
        let n = 1 + rng.below(3)
        let a = "0x" + String(pa, radix: 16)
        let end = "0x" + String(pa &+ n &* span(level) &- rng.below(2) &* page, radix: 16)
        switch rng.below(100) {
        case 0..<20: lines.append("store \(a) \(level) \(value)")
        case 20..<27: lines.append("create \(a) \(value)")
        case 27..<30: lines.append("reserve \(a) \(level)")
        case 30..<40: lines.append("load \(a)")
        case 40..<44: lines.append("find \(a)")
        case 44..<52: lines.append("erase \(a)")
        case 52..<58: lines.append("split \(a) \(level)")
        case 58..<66: lines.append("merge \(a) \(max(level, 1))")
        case 66..<71: lines.append("store_range \(a) \(end) \(plain)")
        case 71..<75: lines.append("erase_range \(a) \(end)")
        case 75..<81: lines.append("walk \(a) \(end)")
        case 81..<86: lines.append("next \(a)")
        case 86..<90: lines.append("count")
        case 90..<93: lines.append("stats")
        default:
            let tables = live.filter { $0 }.count
            switch rng.below(3) {
            case 0 where tables < 8:
                live[live.firstIndex(of: false)!] = true
                lines.append("clone")
            case 1 where tables > 1:
                var i = 0
                repeat { i = Int(rng.below(8)) } while !live[i] || i == current
                live[i] = false
                lines.append("free \(i)")
            default:
                var i = 0
                repeat { i = Int(rng.below(8)) } while !live[i]
                current = i
                lines.append("use \(i)")
            }
        }
    }
    return lines.joined(separator: "\n") + "\n"
}

// MARK: - Running the C programs

func run(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// The four transcripts of a trace: C library, C model, Swift API, Swift model.
func transcripts(_ trace: String, cReplay: String, file: String) throws -> [(String, [String])] {
    try trace.write(toFile: file, atomically: true, encoding: .utf8)
    func lines(_ s: String) -> [String] { s.split(separator: "\n").map(String.init) }
    let c = try run(cReplay, [file])
    let m = try run(cReplay, ["--model", file])
    let swiftLib = (try? replay(trace, as: LibEngine.self)) ?? ["(malformed trace)"]
    let swiftModel = (try? replay(trace, as: ModelEngine.self)) ?? ["(malformed trace)"]
    // A malformed trace (exit 2) is the same for everyone; a crash is not.
    func outcome(_ r: (status: Int32, output: String)) -> [String] {
        r.status == 0 ? lines(r.output) : r.status == 2 ? ["(malformed trace)"] : ["(exit \(r.status))"]
    }
    return [("C library", outcome(c)), ("C model", outcome(m)),
            ("Swift API", swiftLib), ("Swift model", swiftModel)]
}

/// The first line where the transcripts differ, or nil.
func divergence(_ ts: [(String, [String])]) -> String? {
    let reference = ts[0].1
    for (name, lines) in ts.dropFirst() where lines != reference {
        let i = zip(reference, lines).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset
            ?? min(reference.count, lines.count)
        let want = i < reference.count ? reference[i] : "(end)"
        let got = i < lines.count ? lines[i] : "(end)"
        return "transcript line \(i + 1):\n  \(ts[0].0): \(want)\n  \(name): \(got)"
    }
    return nil
}

/// Delta reduction: drops ever smaller chunks of operation lines as long as
/// the transcripts still differ.
func shrink(_ trace: String, cReplay: String, file: String) throws -> String {
    var lines = trace.split(separator: "\n").map(String.init)
    let head = lines.prefix { $0.hasPrefix("#") || $0.hasPrefix("geometry") }
    lines.removeFirst(head.count)
    func diverges(_ ops: [String]) throws -> Bool {
        let t = (head + ops).joined(separator: "\n") + "\n"
        return divergence(try transcripts(t, cReplay: cReplay, file: file)) != nil
    }
    var chunk = max(1, lines.count / 2)
    while chunk >= 1 {
        var i = 0
        var removed = false
        while i < lines.count {
            var candidate = lines
            candidate.removeSubrange(i..<min(lines.count, i + chunk))
            if try diverges(candidate) {
                lines = candidate
                removed = true
            } else {
                i += chunk
            }
        }
        if !removed { chunk /= 2 }
    }
    return (head + lines).joined(separator: "\n") + "\n"
}

// MARK: - Commands

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data(("memtable-trace: " + message + "\n").utf8))
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
@MainActor
func option(_ name: String) -> String? {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    defer { args.removeSubrange(i...(i + 1)) }
    return args[i + 1]
}

switch args.first {
case "replay":
    args.removeFirst()
    let model = args.first == "--model"
    if model { args.removeFirst() }
    var faults: Faults? = nil
    if !model && args.first == "--fail-each" {
        args.removeFirst()
        guard let f = Faults() else {
            fail("--fail-each needs LD_PRELOAD=build/trace/libmemtable-failalloc.so")
        }
        faults = f
    } else if !model && args.first == "--refuse-each" {
        args.removeFirst()
        faults = Faults(refusals: ())
    }
    let text: String
    if let path = args.first {
        guard let t = try? String(contentsOfFile: path, encoding: .utf8) else { fail("cannot read \(path)") }
        text = t
    } else {
        text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
    }
    do {
        let out = model ? try replay(text, as: ModelEngine.self) : try replay(text, as: LibEngine.self, faults: faults)
        print(out.joined(separator: "\n"))
        if let faults {
            let what = faults.refusing ? "refusal injection: \(faults.injected) consumer op refusals injected, "
                : "fault injection: \(faults.injected) allocation failures injected, "
            FileHandle.standardError.write(Data((what + "\(faults.violations) changed the table\n").utf8))
            if faults.violations != 0 { exit(1) }
        }
    } catch {
        fail("\(error)")
    }

case "generate":
    guard args.count >= 3, let seed = UInt64(args[1]), let n = Int(args[2]) else {
        fail("usage: memtable-trace generate SEED OPERATIONS [GEOMETRY]")
    }
    if args.count > 3 && geometries[args[3]] == nil { fail("unknown geometry \(args[3])") }
    print(generate(seed: seed, operations: n, geometry: args.count > 3 ? args[3] : nil), terminator: "")

case "check":
    args.removeFirst()
    guard let cReplay = option("--c-replay"), let cGen = option("--c-gen") else {
        fail("usage: memtable-trace check --c-replay PATH --c-gen PATH [--seeds N] [--ops N] [--first SEED] [--out DIR]")
    }
    let seeds = UInt64(option("--seeds") ?? "1000") ?? 1000
    let ops = Int(option("--ops") ?? "1000") ?? 1000
    let first = UInt64(option("--first") ?? "1") ?? 1
    let out = option("--out") ?? "."
    let file = out + "/check-\(getpid()).trace"
    var operations = 0
    for seed in first..<(first + seeds) {
        // Odd seeds: the C generator; even seeds: the Swift one.
        let trace: String
        if seed % 2 == 1 {
            let g = try run(cGen, [String(seed), String(ops)])
            guard g.status == 0 else { fail("memtable-gen \(seed) failed") }
            trace = g.output
        } else {
            trace = generate(seed: seed, operations: ops)
        }
        let ts = try transcripts(trace, cReplay: cReplay, file: file)
        if let where_ = divergence(ts) {
            print("DIVERGENCE at seed \(seed) (\(seed % 2 == 1 ? "C" : "Swift") generator), \(where_)")
            let small = try shrink(trace, cReplay: cReplay, file: file)
            let path = out + "/divergence-\(seed).trace"
            try small.write(toFile: path, atomically: true, encoding: .utf8)
            print("shrunk to \(small.split(separator: "\n").count) lines: \(path)")
            try? FileManager.default.removeItem(atPath: file)
            exit(1)
        }
        operations += trace.split(separator: "\n").count - 2
    }
    try? FileManager.default.removeItem(atPath: file)
    print("cross-checked \(seeds) traces (seeds \(first)...\(first + seeds - 1)), \(operations) operations:"
        + " C library, C model, Swift API and Swift model transcripts identical")

default:
    fail("usage: memtable-trace replay [--model | --fail-each | --refuse-each] TRACE | generate SEED OPERATIONS [GEOMETRY] | check ...")
}

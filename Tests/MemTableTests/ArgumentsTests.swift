// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan's plain argument lists (ScanArguments(plain:), which spares a
// scan ArgumentParser's reflection) against ArgumentParser's own reading.

@testable import memtable
import Testing

@Suite("memtable scan: plain arguments")
struct ArgumentsTests {
    /// Seeded random lists of scan's flags and options, good and bad values,
    /// and strays: every list the plain reading takes, ArgumentParser reads
    /// the same; and it takes every list made of good ones.
    @Test func plainArgumentsAreArgumentParsers() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix(seed: seed)
        func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }
        let flags = ["--json", "--pages", "--virtual", "--declared", "--fail-on-wx"]
        let pids = ["1", "42", "007", "2147483647", "2147483648", "0", "-3", "+5", "abc", "", " 5", "٣"]
        let commands = ["java", "node js", "-x", "", "a=b", "--json"]
        let strays = ["-h", "--help", "--jso", "--json=1", "extra", "--", "--pid", "-j", "--allow-wx"]
        var taken = 0, good = 0
        for round in 0..<600 {
            var list: [String] = []
            var plain = true  // only flags once and good values so far
            var seen = Set<String>()
            for _ in 0..<(rng.next() % 7) {
                switch rng.next() % 10 {
                case 0..<4:
                    let f = pick(flags)
                    plain = plain && seen.insert(f).inserted
                    list.append(f)
                case 4..<7:
                    let v = rng.next() % 4 == 0 ? pick(pids) : String(1 + rng.next() % 100_000)
                    plain = plain && v.allSatisfy { $0.isASCII && $0.isNumber } && (Int32(v) ?? 0) > 0
                    list += rng.next() % 2 == 0 ? ["--pid", v] : ["--pid=" + v]
                case 7..<9:
                    let v = rng.next() % 3 == 0 ? pick(commands) : "comm\(rng.next() % 10)"
                    plain = plain && !v.isEmpty && !v.hasPrefix("-")
                    list += rng.next() % 2 == 0 ? ["--allow-wx", v] : ["--allow-wx=" + v]
                default:
                    plain = false
                    list.append(pick(strays))
                }
            }
            let fast = ScanArguments(plain: list[...])
            let parsed = (try? Memtable.parseAsRoot(["scan"] + list)) as? ScanCommand
            if let fast {
                taken += 1
                #expect(parsed?.arguments == fast,
                        "seed \(seed) round \(round): \(list) reads as \(fast), ArgumentParser \(String(describing: parsed?.arguments))")
            }
            if plain {
                good += 1
                #expect(fast != nil, "seed \(seed) round \(round): \(list) is plain")
            }
        }
        // Strays may make a plain list too ("--allow-wx" then "extra").
        #expect(taken >= 200 && taken >= good, "seed \(seed): \(taken) lists taken, \(good) plain")
    }

    @Test func whatIsLeftToArgumentParser() {
        for list in [["--help"], ["-h"], ["--json", "--json"], ["--pid"], ["--pid", "0"], ["--pid=-3"],
                     ["--allow-wx", "--json"], ["--json=yes"], ["extra"]] {
            #expect(ScanArguments(plain: list[...]) == nil, "\(list)")
        }
        #expect(ScanArguments(plain: ["--pid", "7", "--json", "--pid=8", "--allow-wx=java"][...])
                == ScanArguments(pids: [7, 8], allowWX: ["java"], json: true))
        #expect(ScanArguments(plain: [][...]) == ScanArguments())
    }
}

// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan's table of counters (Scan.swift's CounterTable): a huge page
// kept as one 2 MiB entry, added to, split, against counting each page by
// hand; and the kernel threads named by one read of kthreadd's children.

import CProcfs
import Foundation
import MemTable
@testable import MemTableScan
import Testing

@Suite("memtable scan: counters in large entries")
struct CounterTableTests {
    /// Processes that map a few 2 MiB regions whole (huge pages), in part,
    /// or across their edges, in random order: every page's counters, the
    /// distinct and shared pages and the W^X aliases must be those of adding
    /// each process's counts page by page; a region stays one entry exactly
    /// while every process that maps it maps it whole.
    @Test func hugePagesAsLargeEntriesAgreeWithPages() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix(seed: seed)
        for round in 0..<100 {
            var table = CounterTable(MemTable(geometry: .x86_64))
            var model: [UInt64: PageCounters] = [:]
            var wholeOnly: [UInt64: Bool] = [:]  // region -> only ever mapped whole
            let regions = 1 + rng.next() % 4
            for _ in 0..<(1 + rng.next() % 6) {
                // One process: segments ascending, not overlapping, as the
                // collector gives them.
                var segments: [procfs_segment] = []
                var page = (1 + rng.next() % 3) << 9  // in pages
                while page < (regions + 2) << 9 {
                    let kind = rng.next() % 4
                    let pages: UInt64 = kind == 0 ? 512 - page % 512 : kind == 1 ? 1 + rng.next() % 700
                        : 1 + rng.next() % 40
                    var s = procfs_segment()
                    s.start = page << 12
                    s.pages = pages
                    s.r = UInt16(rng.next() % 3)
                    s.w = UInt16(rng.next() % 2)
                    s.x = UInt16(rng.next() % 2)
                    segments.append(s)
                    page += pages + (rng.next() % 3 == 0 ? rng.next() % 600 : 0)
                }
                // As scan() does: a process added to an empty table stores
                // its pages without looking them up.
                table.fresh = table.counters.isEmpty
                for s in segments {
                    table.add(s)
                    var counts = PageCounters()
                    (counts.r, counts.w, counts.x) = (s.r, s.w, s.x)
                    for q in (s.start >> 12)..<(s.start >> 12) + s.pages {
                        model[q << 12, default: PageCounters()].add(counts)
                    }
                    // Which regions it covers whole, which in part.
                    var q = s.start >> 12
                    while q < (s.start >> 12) + s.pages {
                        let region = q >> 9, end = min((region + 1) << 9, (s.start >> 12) + s.pages)
                        let whole = q == region << 9 && end == (region + 1) << 9
                        wholeOnly[region] = (wholeOnly[region] ?? true) && whole
                        q = end
                    }
                }
            }
            let context = "seed \(seed) round \(round)"
            var found: [UInt64: PageCounters] = [:]
            for (address, c) in PageCountersSequence(table.counters) {
                #expect(found.updateValue(c, forKey: address) == nil, "\(context): \(address) listed twice")
            }
            #expect(found == model, "\(context): \(found.count) pages, the model \(model.count)")
            #expect(table.pages == model.count, "\(context)")
            #expect(table.sharedPages == model.values.filter { $0.procs > 1 }.count, "\(context)")
            #expect(table.aliases.sorted() == model.filter { $0.value.isWXAlias }.keys.sorted(), "\(context)")
            for e in table.counters.entries {
                let region = e.addresses.lowerBound.rawValue >> 21
                #expect(e.level == .pte || (e.level == .pmd && wholeOnly[region] == true), "\(context)")
                if e.level == .pte && wholeOnly[region] == true {
                    Issue.record("\(context): region \(region) was only mapped whole, yet is held page by page")
                }
            }
        }
    }

    /// Every kernel thread is a child of kthreadd (or kthreadd), and every
    /// pid the list names is a kernel thread or a process with mappings of
    /// its own (a user-mode helper, which starts as kthreadd's child).
    @Test func kernelThreadsAreKthreaddAndItsChildren() throws {
        var before: [Int32] = []
        for pid in allPids() where (try? processState(pid))?.kernelThread == true { before.append(pid) }
        let threads = try #require(kernelThreads(), "/proc/2/task/2/children cannot be read")
        #expect(threads.contains(2))
        for pid in before where (try? processState(pid))?.kernelThread == true {
            #expect(threads.contains(pid), "kernel thread \(pid) is not in the list")
        }
        for pid in threads {
            guard let state = try? processState(pid) else { continue }  // gone since
            let hasMappings = ((try? readFile("/proc/\(pid)/maps")) ?? []).isEmpty == false
            #expect(state.kernelThread || hasMappings, "\(pid) is neither a kernel thread nor a process")
        }
    }
}

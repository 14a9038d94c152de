// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan's collector (Sources/CProcfs): runs of pages sorted and swept
// into segments, against counting each page by hand.

import CProcfs
import Foundation
import MemTable
import MemTableScan
import MemTableTestSupport
import Testing

@Suite("memtable scan: runs into segments")
struct CollectorTests {
    /// Random runs, overlapping (a frame mapped at several addresses),
    /// starting together, nested, of up to 512 pages: each page's segment
    /// must carry the number of runs that cover it with each permission.
    @Test func segmentsCountEveryRunThatCoversAPage() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix(seed: seed)
        for round in 0..<200 {
            let c = try #require(procfs_collector_new())
            defer { procfs_collector_free(c) }
            let span = 1 + Int(rng.next() % 2000), count = Int(rng.next() % 300)
            let base: UInt64 = rng.next() % 2 == 0 ? 0 : (rng.next() % (1 << 30))
            var expected = [UInt64: (r: Int, w: Int, x: Int)]()
            // The collector owns its runs, and frees them with free().
            let runs = try #require(malloc(max(count, 1) * 8)).assumingMemoryBound(to: UInt64.self)
            for i in 0..<count {
                let page: UInt64 = base + rng.next() % UInt64(span)
                let pages: UInt64 = 1 + (rng.next() % 8 == 0 ? rng.next() % 512 : rng.next() % 16)
                let p = UInt32(rng.next() % 8)
                runs[i] = page << 12 | (pages - 1) << 3 | UInt64(p)
                for q in page..<page + pages {
                    var e = expected[q] ?? (0, 0, 0)
                    e.r += p & PROCFS_READ != 0 ? 1 : 0
                    e.w += p & PROCFS_WRITE != 0 ? 1 : 0
                    e.x += p & PROCFS_EXECUTE != 0 ? 1 : 0
                    expected[q] = e
                }
            }
            c.pointee.runs = runs
            c.pointee.nr_runs = count
            c.pointee.runs_capacity = max(count, 1)
            #expect(procfs_sort(c) == 0)
            var seen = [UInt64: (r: Int, w: Int, x: Int)]()
            var last: UInt64? = nil
            var out = [procfs_segment](repeating: procfs_segment(), count: 1 + Int(rng.next() % 7))
            while true {
                let n = out.withUnsafeMutableBufferPointer { procfs_segments(c, $0.baseAddress, $0.count) }
                #expect(n >= 0)
                if n <= 0 { break }
                for s in out[0..<n] {
                    let first = s.start >> 12
                    #expect(s.start & 4095 == 0 && s.pages > 0, "seed \(seed) round \(round)")
                    if let last { #expect(first >= last, "seed \(seed) round \(round): segments overlap or descend") }
                    last = first + s.pages
                    for q in first..<first + s.pages { seen[q] = (Int(s.r), Int(s.w), Int(s.x)) }
                }
            }
            #expect(seen.count == expected.count, "seed \(seed) round \(round): \(seen.count) pages, not \(expected.count)")
            for (q, e) in expected {
                let s = seen[q]
                #expect(s?.r == e.r && s?.w == e.w && s?.x == e.x,
                        "seed \(seed) round \(round): page \(q) has \(String(describing: s)), not \(e)")
            }
        }
    }

    /// Mappings side by side, each with its own permissions, some pages of
    /// each touched: the collector reads them in one read while they fit
    /// its buffer (32 MiB of addresses) and the next in another, and every
    /// page must come with its own mapping's permissions. Mappings of 1 to
    /// 40 pages and of 3,000 to 5,000, so that the buffer (8,192 pages)
    /// holds a few of them or a dozen; virtual pages, so no privilege is
    /// needed.
    @Test func mappingsSideBySideReadTogether() throws {
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix(seed: seed)
        let page = 4096
        var lengths: [Int] = []
        for _ in 0..<24 { lengths.append(rng.next() % 4 == 0 ? 3_000 + Int(rng.next() % 2_000) : 1 + Int(rng.next() % 40)) }
        let total = lengths.reduce(0, +)
        let m = try #require(mmap(nil, total * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(m, total * page) }
        _ = madvise(m, total * page, 15 /* MADV_NOHUGEPAGE */)
        let start = UInt64(UInt(bitPattern: m))
        // Each stretch read-only, read-write or read-execute in turn (neighbours
        // differ, so the kernel keeps them apart); a third of its pages touched.
        let protections = [PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC]
        var expected = [UInt64: Int32]()
        var at = 0
        for (i, n) in lengths.enumerated() {
            for k in 0..<n where k % 3 == 0 || k == n - 1 {
                (m + (at + k) * page).storeBytes(of: 1, as: UInt8.self)
                expected[start + UInt64((at + k) * page)] = protections[i % 3]
            }
            #expect(mprotect(m + at * page, n * page, protections[i % 3]) == 0)
            at += n
        }
        let result = scan(ScanOptions(pids: [getpid()], virtual: true))
        let range = PhysicalAddress(start)..<PhysicalAddress(start + UInt64(total * page))
        var found = 0
        for e in result.counters.entries(in: range) {
            #expect(e.level == .pte, "seed \(seed)")
            let address = e.addresses.lowerBound.rawValue
            let want = expected[address]
            let got = Int32(e.value.w > 0 ? PROT_WRITE : 0) | Int32(e.value.x > 0 ? PROT_EXEC : 0)
                | Int32(e.value.r > 0 ? PROT_READ : 0)
            #expect(want == got && e.value.procs == 1,
                    "seed \(seed): page \((address - start) / 4096) has \(e.value), not \(String(describing: want))")
            found += 1
        }
        #expect(found == expected.count, "seed \(seed): \(found) pages found, \(expected.count) touched")
    }

    /// A mapping of 1 GiB (two threads read it, a buffer at a time) with
    /// clusters of pages touched and holes of every size between them
    /// (PAGEMAP_SCAN skips the long ones): the scan finds exactly the pages
    /// touched. Virtual pages, so no privilege is needed. Again with the
    /// scanning thread allowed one CPU, where the collector reads alone.
    @Test(arguments: [false, true])
    func aLargeSparseMappingIsReadWhole(oneCPU: Bool) throws {
        if oneCPU { #expect(memtable_test_pin_thread() == 0, "sched_setaffinity: \(errno)") }
        defer { if oneCPU { #expect(memtable_test_unpin_thread() == 0) } }
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix(seed: seed)
        let size = 1 << 30, pages = UInt64(size / 4096)
        let m = try #require(mmap(nil, size, PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0))
        defer { munmap(m, size) }
        _ = madvise(m, size, 15 /* MADV_NOHUGEPAGE */)
        let start = UInt64(UInt(bitPattern: m))
        var touched = Set<UInt64>()
        for cluster in 0..<16 {
            // The first and the last page, then clusters anywhere.
            let at = cluster == 0 ? 0 : cluster == 1 ? pages - 1 : rng.next() % pages
            for i in 0..<min(1 + rng.next() % 700, pages - at) {
                (m + Int((at + i) * 4096)).storeBytes(of: 1, as: UInt8.self)
                touched.insert(start + (at + i) * 4096)
            }
        }
        let result = scan(ScanOptions(pids: [getpid()], virtual: true))
        let range = PhysicalAddress(start)..<PhysicalAddress(start + UInt64(size))
        var found = Set<UInt64>()
        for e in result.counters.entries(in: range) {
            // 512 pages touched over a 2 MiB region are one entry.
            for page in stride(from: e.addresses.lowerBound.rawValue, through: e.addresses.upperBound.rawValue,
                               by: 4096) {
                found.insert(page)
            }
            #expect(e.value.r == 1 && e.value.w == 1 && e.value.x == 0 && e.value.procs == 1,
                    "seed \(seed): \(e.value) at \(e.addresses.lowerBound)")
        }
        let extra = found.subtracting(touched).count, missed = touched.subtracting(found).count
        #expect(extra == 0 && missed == 0,
                "seed \(seed): \(found.count) pages found, \(touched.count) touched, \(extra) extra, \(missed) missed")
    }

    /// A pagemap made up here (a memfd read as one): runs of consecutive
    /// frames longer than a run holds, flags that change within them (at
    /// each of the first 16 places of a run, and anywhere), a frame out of
    /// line at each of those places, frames
    /// read as 0 and past the 2^52 a key can name, swapped and absent pages,
    /// on a private writable mapping. The runs must hold exactly the present
    /// pages, each with the permissions its flags allow, 512 at most a run.
    @Test func runsFromAMadeUpPagemap() throws {
        let present: UInt64 = 1 << 63, swapped: UInt64 = 1 << 62, file: UInt64 = 1 << 61
        let exclusive: UInt64 = 1 << 56, limit: UInt64 = 1 << 52
        let seed = UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix(seed: seed)
        var entries: [UInt64] = []
        // Consecutive frames that stop following at each place of the first
        // 16 (the collector compares eight at a time): a flag flipped, then
        // a frame out of line.
        for change in 0..<32 {
            var pfn = rng.next() % (1 << 40) + 1
            for k in 0..<40 {
                let f = change < 16 && k == change ? exclusive : 0
                entries.append(present | f | (change >= 16 && k == change - 16 ? pfn + 1000 : pfn))
                pfn += 1
            }
        }
        while entries.count < 7300 {
            // The first: 1,400 frames, more than two runs hold; the second
            // across the frames a key can name.
            let kind = entries.count == 1280 ? 3 : entries.count == 2680 ? 7 : rng.next() % 8
            let length = entries.count == 1280 ? 1400 : Int(rng.next() % 1400) + 1
            var pfn = kind == 7 ? limit - UInt64(length / 2) : rng.next() % (1 << 40) + 1
            let flags = rng.next() % 2 == 0 ? exclusive : (rng.next() % 2 == 0 ? file : 0)
            for k in 0..<length {
                switch kind {
                case 0: entries.append(0)
                case 1: entries.append(swapped | UInt64(k))
                case 2: entries.append(present)    // frame hidden
                default:
                    // A flag changes for one frame of the consecutive ones.
                    let f = k == length / 3 ? flags ^ exclusive : flags
                    entries.append(present | f | pfn)
                    pfn += 1
                }
            }
        }
        let va: UInt64 = 0x4000_0000
        let fd = makeMemfd("memtable-pagemap")
        try #require(fd >= 0)
        defer { close(fd) }
        let written = entries.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(va >> 12 * 8)) }
        try #require(written == entries.count * 8)
        var m = procfs_mapping()
        m.start = va
        m.end = va + UInt64(entries.count) << 12
        m.permissions = PROCFS_READ | PROCFS_WRITE
        let c = try #require(procfs_collector_new())
        defer { procfs_collector_free(c) }
        try #require(procfs_collect(c, fd, &m, 0, 0) == 0)

        // What each page should be: frame -> permissions, in order.
        var want: [(UInt64, UInt32)] = [], hidden = 0, swappedPages = 0
        for e in entries {
            if e & present == 0 {
                if e & swapped != 0 { swappedPages += 1 }
                continue
            }
            let pfn = e & ((1 << 55) - 1)
            if pfn == 0 || pfn >= limit {
                hidden += 1
                continue
            }
            let writable = e & exclusive != 0 && e & file == 0
            want.append((pfn, writable ? PROCFS_READ | PROCFS_WRITE : PROCFS_READ))
        }
        #expect(want.count > 1000, "seed \(seed)")
        var got: [(UInt64, UInt32)] = []
        for i in 0..<c.pointee.nr_runs {
            let run = c.pointee.runs[i]
            let pages = procfs_run_pages(run)
            #expect(pages >= 1 && pages <= 512, "seed \(seed)")
            for k in 0..<pages { got.append((procfs_run_address(run) >> 12 + k, procfs_run_permissions(run))) }
        }
        #expect(got.count == want.count && zip(got, want).allSatisfy { $0 == $1 }, "seed \(seed)")
        #expect(Int(c.pointee.present) == want.count + hidden && Int(c.pointee.hidden) == hidden, "seed \(seed)")
        #expect(Int(c.pointee.swapped) == swappedPages, "seed \(seed)")
    }
}

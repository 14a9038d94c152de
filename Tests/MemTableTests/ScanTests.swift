// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan against mappings of known permissions, checked against
// /proc/self/pagemap read here, independently of the scanner.

import Foundation
import MemTable
import MemTableScan
import Testing

/// The physical frame of the page at `address` in this process, read from
/// /proc/self/pagemap directly (nil if not present or hidden).
func frame(of address: UnsafeRawPointer) -> UInt64? {
    guard let h = FileHandle(forReadingAtPath: "/proc/self/pagemap") else { return nil }
    defer { try? h.close() }
    try? h.seek(toOffset: UInt64(UInt(bitPattern: address)) / 4096 * 8)
    guard let d = try? h.read(upToCount: 8), d.count == 8 else { return nil }
    let e = d.withUnsafeBytes { $0.load(as: UInt64.self) }
    let pfn = e & ((1 << 55) - 1)
    return e >> 63 == 1 && pfn != 0 ? pfn : nil
}

/// Every suite that scans this process, one at a time: a fork() by one
/// (a copy-on-write test, a process ended mid-scan) shares this process's
/// pages with the child for a while, and another's private page would read
/// as not writable meanwhile.
@Suite("Scans of /proc", .serialized, .enabled(if: geteuid() == 0, "page frames are visible to root only"))
struct ProcScans {}

extension ProcScans {
@Suite("memtable scan")
struct ScanTests {
    @Test func knownMappings() throws {
        let page = 4096
        // A memfd mapped twice: once writable, once executable (a W^X alias).
        let fd = makeMemfd("memtable-scan-test")
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(ftruncate(fd, off_t(2 * page)) == 0)
        let rw = try #require(mmap(nil, 2 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        let rx = try #require(mmap(nil, 2 * page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0))
        defer { munmap(rw, 2 * page); munmap(rx, 2 * page) }
        rw.storeBytes(of: 0x5a5a, as: UInt64.self)
        (rw + page).storeBytes(of: 0xa5a5, as: UInt64.self)
        #expect(rx.load(as: UInt64.self) == 0x5a5a && (rx + page).load(as: UInt64.self) == 0xa5a5)
        // A private writable area.
        let anon = try #require(mmap(nil, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(anon, page) }
        anon.storeBytes(of: 1, as: UInt64.self)
        // A shared read-only file.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("memtable-scan-\(getpid())").path
        try Data(repeating: 7, count: page).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let ffd = open(path, O_RDONLY)
        defer { close(ffd) }
        let ro = try #require(mmap(nil, page, PROT_READ, MAP_SHARED, ffd, 0))
        defer { munmap(ro, page) }
        #expect(ro.load(as: UInt8.self) == 7)

        let memfdFrames = [frame(of: rw), frame(of: rw + page)].compactMap { $0 }
        #expect(memfdFrames == [frame(of: rx), frame(of: rx + page)].compactMap { $0 })
        let anonFrame = try #require(frame(of: anon))
        let roFrame = try #require(frame(of: ro))
        try #require(memfdFrames.count == 2)

        let result = scan(ScanOptions(pids: [getpid()]))
        #expect(result.processes == 1 && result.hiddenFrames == 0)
        for pfn in memfdFrames {
            let c = try #require(result.counters[PhysicalAddress(pageFrame: PageFrameNumber(pfn))])
            #expect(c.r == 2 && c.w == 1 && c.x == 1 && c.procs == 1)
            #expect(result.wxPages.contains(pfn << 12))
            let via = result.wxMappings[pfn << 12] ?? []
            #expect(via.contains { $0.mapping.contains("rw-s") && $0.mapping.contains("memfd:memtable-scan-test") })
            #expect(via.contains { $0.mapping.contains("r-xs") && $0.pid == getpid() })
        }
        let a = try #require(result.counters[PhysicalAddress(pageFrame: PageFrameNumber(anonFrame))])
        #expect(a.r == 1 && a.w == 1 && a.x == 0 && !a.isWXAlias && a.permissions == [.read, .write])
        let r = try #require(result.counters[PhysicalAddress(pageFrame: PageFrameNumber(roFrame))])
        #expect(r.r >= 1 && r.w == 0 && r.x == 0)

        // The figures agree with each other.
        let summary = heki(result)
        #expect(summary.histogram.values.reduce(0, +) == result.pages)
        #expect(summary.runs.reduce(0) { $0 + $1.pages } == result.pages)
        #expect(summary.statistics == result.counters.statistics && summary.statistics.pages == result.pages)
        for page in result.wxPages {
            let c = result.counters[PhysicalAddress(page)]!
            #expect(c.w > 0 && c.x > 0)
        }
    }

    /// One memfd of 8 pages mapped three times, partly over itself: every
    /// page counts each mapping that reaches it, and its process once.
    @Test func overlappingMappingsOfOneFile() throws {
        let page = 4096
        let fd = makeMemfd("memtable-scan-overlap")
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(ftruncate(fd, off_t(8 * page)) == 0)
        let all = try #require(mmap(nil, 8 * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        let middle = try #require(mmap(nil, 4 * page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, off_t(2 * page)))
        let tail = try #require(mmap(nil, 4 * page, PROT_READ, MAP_SHARED, fd, off_t(4 * page)))
        defer { munmap(all, 8 * page); munmap(middle, 4 * page); munmap(tail, 4 * page) }
        for i in 0..<8 { (all + i * page).storeBytes(of: UInt64(i + 1), as: UInt64.self) }
        for i in 0..<4 {
            #expect((middle + i * page).load(as: UInt64.self) == UInt64(i + 3))
            #expect((tail + i * page).load(as: UInt64.self) == UInt64(i + 5))
        }
        let frames = try (0..<8).map { try #require(frame(of: all + $0 * page)) }
        let result = scan(ScanOptions(pids: [getpid()]))
        for (i, pfn) in frames.enumerated() {
            let c = try #require(result.counters[PhysicalAddress(pageFrame: PageFrameNumber(pfn))])
            let inMiddle = (2..<6).contains(i), inTail = i >= 4
            #expect(c.r == 1 + (inMiddle ? 1 : 0) + (inTail ? 1 : 0), "page \(i): \(c)")
            #expect(c.w == 1 && c.x == (inMiddle ? 1 : 0) && c.procs == 1, "page \(i): \(c)")
            #expect(result.wxPages.contains(pfn << 12) == inMiddle)
        }
    }

    /// heki() works out the merged table of minimal permissions from the
    /// regions it counts; build that table page by page and merge it, as the
    /// summary says merging would.
    @Test func hekiSummaryAgreesWithATableMergedForReal() throws {
        // 2 MiB regions of one permission set: huge pages where there are.
        let size = 8 << 20
        let m = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(m, size) }
        _ = madvise(m, size, 14 /* MADV_HUGEPAGE */)
        for i in stride(from: 0, to: size, by: 4096) { (m + i).storeBytes(of: UInt8(1), as: UInt8.self) }
        let result = scan(ScanOptions(pids: [getpid()]))
        let summary = heki(result)
        var minimal = MemTable<UInt8>(geometry: result.counters.geometry)
        for (address, c) in result.pageCounters { minimal[PhysicalAddress(address)] = c.permissions.rawValue }
        #expect(summary.entriesBefore == minimal.count && summary.bytesBefore == minimal.statistics.bytes)
        var merged = 0
        for region in Set(result.pageCounters.map { $0.address >> 21 }).sorted()
        where (try? minimal.merge(at: PhysicalAddress(region << 21), level: .pmd)) == true {
            merged += 1
        }
        #expect(summary.mergedLargePages == merged)
        #expect(summary.entriesAfter == minimal.count && summary.bytesAfter == minimal.statistics.bytes,
                "\(summary.entriesAfter) entries, \(summary.bytesAfter) bytes; merged: \(minimal.count), \(minimal.statistics.bytes)")
        print("heki: \(merged) regions merged")
    }

    /// Huge pages, read 512 frames at a time by the collector's fast path,
    /// beside a huge page split by mprotect() into a read-only and a writable
    /// part and a run of small pages: every page's counters as the pagemap
    /// read here says, and a huge page mapped whole is one 2 MiB entry.
    @Test func hugePagesPageByPage() throws {
        let size = 8 << 20, page = 4096
        let raw = try #require(mmap(nil, size + (2 << 20), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(raw, size + (2 << 20)) }
        let m = raw + ((2 << 20) - Int(bitPattern: raw) % (2 << 20)) % (2 << 20)
        _ = madvise(m, size, 14 /* MADV_HUGEPAGE */)
        _ = madvise(m + (6 << 20), 2 << 20, 15 /* MADV_NOHUGEPAGE */)
        for i in stride(from: 0, to: size, by: page) { (m + i).storeBytes(of: UInt8(1), as: UInt8.self) }
        // The second huge page's middle read-only: its mapping splits.
        try #require(mprotect(m + (2 << 20) + 64 * page, 128 * page, PROT_READ) == 0)
        defer { mprotect(m + (2 << 20) + 64 * page, 128 * page, PROT_READ | PROT_WRITE) }
        let frames = (0..<size / page).map { frame(of: m + $0 * page) }
        let result = scan(ScanOptions(pids: [getpid()]))
        #expect(frames == (0..<size / page).map { frame(of: m + $0 * page) }, "the pages moved during the scan")
        var huge = 0
        for (i, f) in frames.enumerated() {
            let pfn = try #require(f)
            let c = try #require(result.counters[PhysicalAddress(pageFrame: PageFrameNumber(pfn))])
            let readOnly = (512 + 64..<512 + 192).contains(i)
            #expect(c.r == 1 && c.w == (readOnly ? 0 : 1) && c.x == 0 && c.procs == 1, "page \(i): \(c)")
            // A huge page mapped whole: 512 consecutive frames from an aligned one.
            if i % 512 == 0, pfn % 512 == 0, (0..<512).allSatisfy({ frames[i + $0] == pfn + UInt64($0) }),
               !(512..<1024).contains(i) {
                huge += 1
                let e = try #require(result.counters.entry(containing: PhysicalAddress(pageFrame: PageFrameNumber(pfn))))
                #expect(e.level == .pmd, "huge page at \(i)")
            }
        }
        print("scan: \(huge) huge pages mapped whole among 4 regions")
    }

    @Test func virtualModeCountsEachProcessPages() throws {
        let result = scan(ScanOptions(pids: [getpid()], virtual: true))
        #expect(result.processes == 1 && result.pages == result.presentPages,
                "\(result.pages) pages in the table, \(result.presentPages) present")
        #expect(result.pageCounters.reduce(0) { n, _ in n + 1 } == result.pages)
        #expect(result.counters.allSatisfy { $0.value.procs == 1 })
    }

    @Test func theWholeMachineIsConsistent() {
        let result = scan(ScanOptions())
        #expect(result.processes > 0)
        let summary = heki(result)
        #expect(summary.histogram.values.reduce(0, +) == result.pages)
        for (p, n) in summary.runsPerPermission {
            #expect(summary.runs.filter { $0.permissions == p }.count == n, "\(p)")
            #expect(summary.runs.filter { $0.permissions == p }.reduce(0) { $0 + $1.pages } == summary.histogram[p])
        }
        #expect(summary.runsPerPermission.values.reduce(0, +) == summary.runs.count)
        #expect(result.wxPages.allSatisfy { result.counters[PhysicalAddress($0)]!.isWXAlias })
        #expect(result.pages <= result.presentPages)
    }
}
}

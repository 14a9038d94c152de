// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan: Heki's permission counters for the physical pages that the
// processes of this machine map, kept in a MemTable.

import MemTable
internal import CProcfs
#if canImport(Glibc)
import Glibc
#endif

/// Heki's counters for one physical page: how many mappings map it
/// readable, writable, executable, and how many processes map it, each
/// saturating at 65,535. Eight bytes: a MemTable keeps them in the slot
/// itself (unless the process count passes 8,191, when they get a box).
public struct PageCounters: Hashable, Sendable {
    public var r: UInt16 = 0
    public var w: UInt16 = 0
    public var x: UInt16 = 0
    public var procs: UInt16 = 0

    public init() {}

    /// The union of the permissions that mappings grant: what the page needs.
    public var permissions: Permissions {
        var p: Permissions = []
        if r > 0 { p.insert(.read) }
        if w > 0 { p.insert(.write) }
        if x > 0 { p.insert(.execute) }
        return p
    }

    /// Whether the page is writable through one mapping and executable
    /// through another (or through one writable and executable mapping).
    public var isWXAlias: Bool { w > 0 && x > 0 }

    /// Adds one process's counts for a page (and the process), saturating.
    /// Returns the process count after, and whether the page just became a
    /// W^X alias.
    @discardableResult
    mutating func add(_ other: PageCounters) -> (procs: UInt16, becameAlias: Bool) {
        func sum(_ a: UInt16, _ b: UInt16) -> UInt16 { a > .max - b ? .max : a + b }
        let wasAlias = isWXAlias
        r = sum(r, other.r)
        w = sum(w, other.w)
        x = sum(x, other.x)
        procs = sum(procs, 1)
        return (procs, !wasAlias && isWXAlias)
    }
}

/// What to scan.
public struct ScanOptions: Sendable {
    /// The processes; nil for all. A process listed twice is scanned once.
    public var pids: [Int32]?
    /// Count virtual pages of the processes instead of physical pages.
    public var virtual = false
    /// Count write as every writable mapping declares it, rather than only
    /// where a write would land in the page's frame (see ``scan(_:)``).
    public var declared = false
    /// Commands (`/proc/PID/comm`) whose processes alias on purpose (JIT
    /// runtimes): a W^X alias reached only through their mappings is
    /// reported as allowed, not as an alias.
    public var allowWX: Set<String> = []
    /// Report progress on stderr.
    public var progress = false
    /// For tests: called with a process id and the index of the mapping
    /// just read (-1 after its maps), so that a test can end the process
    /// there. Nil in real use.
    public var afterReading: (@Sendable (Int32, Int) -> Void)?

    public init(pids: [Int32]? = nil, virtual: Bool = false, declared: Bool = false,
                allowWX: Set<String> = [], progress: Bool = false) {
        self.pids = pids
        self.virtual = virtual
        self.declared = declared
        self.allowWX = allowWX
        self.progress = progress
    }
}

extension ScanResult {
    /// Every page's counters in ascending order, the pages of a large entry
    /// one by one.
    public var pageCounters: PageCountersSequence { PageCountersSequence(counters) }
}

/// The pages of a table of counters in ascending order, the pages of a
/// large entry one by one.
public struct PageCountersSequence: Sequence {
    let entries: MemTable<PageCounters>.Entries
    let pageSize: UInt64

    init(_ counters: MemTable<PageCounters>) {
        entries = counters.entries
        pageSize = counters.geometry.pageSize
    }

    public struct Iterator: IteratorProtocol {
        var base: MemTable<PageCounters>.Entries.Iterator
        let pageSize: UInt64
        var address: UInt64 = 0, left: UInt64 = 0, value = PageCounters()

        public mutating func next() -> (address: UInt64, counters: PageCounters)? {
            if left == 0 {
                guard let e = base.next() else { return nil }
                address = e.addresses.lowerBound.rawValue
                left = (e.addresses.upperBound.rawValue - address) / pageSize + 1
                value = e.value
            }
            defer {
                address &+= pageSize
                left -= 1
            }
            return (address, value)
        }
    }

    public func makeIterator() -> Iterator { Iterator(base: entries.makeIterator(), pageSize: pageSize) }
}

/// A mapping through which a W^X-aliased page is reached.
public struct WXMapping: Hashable, Sendable {
    public var pid: Int32
    public var command: String
    public var mapping: String
}

/// What a scan found.
public struct ScanResult {
    /// Per page (physical, or virtual with `virtual`), Heki's counters; keys
    /// are page addresses (in virtual mode, process number << 47 | address).
    /// A 2 MiB region whose 512 pages one process maps whole with the same
    /// counts (a transparent huge page), and other processes whole or not at
    /// all, is one large entry: `counters[address]` reads any page of it;
    /// ``pageCounters`` lists the pages one by one.
    public var counters: MemTable<PageCounters>
    /// The distinct pages in ``counters``.
    public var pages = 0
    public var virtual: Bool
    public var declared = false
    public var processes = 0
    public var kernelThreads = 0
    public var zombies = 0
    public var mappings = 0
    public var presentPages = 0
    public var swappedPages = 0
    /// Present pages whose frame read as zero (no privilege).
    public var hiddenFrames = 0
    /// Pages mapped by more than one process.
    public var sharedPages = 0
    /// What could not be read, by reason: "exited during the scan": 2, ...
    public var unreadable: [String: Int] = [:]
    /// The processes asked for (`--pid`) that could not be read, and why.
    public var failures: [(pid: Int32, reason: String)] = []
    /// The W^X-aliased pages, ascending, each with the mappings that reach it
    /// (found by a second pass; an alias whose mappings are gone by then,
    /// their processes exited, is not reported).
    public var wxPages: [UInt64] = []
    /// The mappings that reach each W^X-aliased page.
    public var wxMappings: [UInt64: [WXMapping]] = [:]
    /// Aliases reached only through processes of ``ScanOptions/allowWX``.
    public var allowedWXPages: [UInt64] = []
    /// Aliases in the counters whose mappings the second pass no longer found.
    public var vanishedWXPages = 0
}

/// A 64-bit geometry for virtual mode: process number above bit 47.
private let virtualGeometry = try! Geometry(pageShift: 12, bitsPerLevel: 9, physicalAddressBits: 64)

/// Scans the processes and counts, per page, the mappings that grant each
/// permission and the processes that map it.
///
/// Counters are per mapping: a frame mapped at two addresses counts twice,
/// as Heki counts the guest's mappings. Read and execute count as the
/// mapping grants them. Write counts only where a write through the mapping
/// would land in that frame: a shared writable mapping, or a private
/// writable one whose frame is private anonymous memory mapped there alone
/// (pagemap bit 56 set, bit 61 clear). A private writable mapping of a file
/// page not yet written, a page shared copy-on-write after fork, or the zero
/// page does not count: a write would copy the page to a new frame.
/// `declared` counts every writable mapping instead.
///
/// Each process is scanned once, and its counts enter the table only once
/// all of it was read: a process that exits mid-scan counts not at all.
public func scan(_ options: ScanOptions) -> ScanResult {
    var result = ScanResult(counters: MemTable(geometry: options.virtual ? virtualGeometry : .x86_64),
                            virtual: options.virtual)
    result.declared = options.declared
    var table = CounterTable(result.counters)
    result.counters = MemTable()
    let me = getpid()
    var seen = Set<Int32>()
    let pids = (options.pids ?? allPids()).filter {
        (options.pids != nil || $0 != me) && seen.insert($0).inserted
    }
    // Whole-machine scans meet dozens of kernel threads: one read names them.
    let kernelThreads = options.pids == nil ? MemTableScan.kernelThreads() : nil
    let collector = Collector()
    let segments = UnsafeMutableBufferPointer<procfs_segment>.allocate(capacity: 1024)
    defer { segments.deallocate() }
    var scanned: [(pid: Int32, index: Int)] = []
    func failed(_ pid: Int32, _ e: ProcError) {
        result.unreadable[e.reason, default: 0] += 1
        if options.pids != nil { result.failures.append((pid, e.reason)) }
    }

    for (index, pid) in pids.enumerated() {
        if options.progress {
            writeStandardError("\rmemtable scan: \(index + 1)/\(pids.count) processes\u{1b}[K")
        }
        // A child of kthreadd without an executable is a kernel thread (one
        // gone by now counts with them): one readlink, not its maps. A
        // user-mode helper, kthreadd's child too, has one, and maps like any
        // process's.
        if kernelThreads?.contains(pid) == true && !hasExecutable(pid) {
            result.kernelThreads += 1
            continue
        }
        let count: Int
        do {
            count = try collector.readMaps(pid)
        } catch {
            failed(pid, error)
            continue
        }
        if count == 0 {
            switch (try? processState(pid))?.state {
            case "Z"?: result.zombies += 1
            case nil: failed(pid, .exited)
            default: result.kernelThreads += 1
            }
            continue
        }
        options.afterReading?(pid, -1)
        // The whole process into runs first: its counts enter the table only
        // once all of it was read.
        var mappings = 0
        do throws(ProcError) {
            let fd = try openPagemap(pid)
            defer { close(fd) }
            for i in 0..<count where collector.raw(i).pointee.vsyscall == 0 {
                mappings += 1
                try collector.collect(i, pagemap: fd, virtual: options.virtual, declared: options.declared,
                                      base: UInt64(index) << 47)
                options.afterReading?(pid, i)
            }
            try collector.sort()
        } catch {
            failed(pid, error)
            continue
        }
        result.processes += 1
        result.mappings += mappings
        result.presentPages += Int(collector.c.pointee.present)
        result.swappedPages += Int(collector.c.pointee.swapped)
        result.hiddenFrames += Int(collector.c.pointee.hidden)
        scanned.append((pid, index))
        // Each page once, for its process count, with the counts of all its
        // mappings in this process; consecutive segments of equal counts as
        // one, so that a huge page read in two parts is still one region.
        var pending = procfs_segment()
        // A process's segments do not overlap: in an empty table, its pages are new.
        table.fresh = table.counters.isEmpty
        // One process named: its runs say how many tables of pages are coming
        // (a whole machine's are megabytes, whatever its first process says).
        if options.pids != nil && pids.count == 1 { expectTables(collector.smallRuns) }
        while case let next = collector.nextSegments(segments), !next.isEmpty {
            for s in next {
                if pending.pages > 0 && pending.start &+ pending.pages << 12 == s.start
                    && pending.r == s.r && pending.w == s.w && pending.x == s.x {
                    pending.pages += s.pages
                } else {
                    if pending.pages > 0 { table.add(pending) }
                    pending = s
                }
            }
        }
        if pending.pages > 0 { table.add(pending) }
    }
    if options.progress { writeStandardError("\r\u{1b}[K") }
    result.counters = table.counters
    result.pages = table.pages
    result.sharedPages = table.sharedPages
    let aliases = table.aliases
    findWXMappings(&result, aliases: aliases.sorted(), processes: scanned, options: options, collector: collector)
    return result
}

/// The counters on their way into the table, and what the report needs
/// noted as they grow (they only grow: a page becomes shared or aliased
/// once).
///
/// A 2 MiB region that one process maps whole with the same counts (a
/// transparent huge page, whose frames are consecutive and aligned) is
/// stored as one large entry while no other process maps part of it; a
/// later process adds to that entry if it maps the region whole too; a
/// page stored inside it otherwise splits it into its pages, each with the
/// entry's counters (the table does that itself). So a huge page costs one
/// store, not 512, and the table no page table for it.
struct CounterTable {
    var counters: MemTable<PageCounters>
    /// Distinct pages, pages mapped by more than one process.
    var pages = 0, sharedPages = 0
    /// The W^X aliases, as their pages became aliases.
    var aliases: [UInt64] = []
    let pageSize: UInt64
    /// Pages of a large entry, or 0 where the geometry has no 512-page level.
    let regionPages: UInt64
    /// Whether the pages added now have no counters yet (see ``add(_:)``).
    var fresh = false

    init(_ counters: MemTable<PageCounters>) {
        self.counters = counters
        pageSize = counters.geometry.pageSize
        regionPages = counters.geometry.entrySize(at: .pmd) == 512 * pageSize ? 512 : 0
    }

    /// Adds one process's counts for the pages of a segment; with ``fresh``,
    /// the caller knows that none of them has counters yet.
    mutating func add(_ s: procfs_segment) {
        var counts = PageCounters()
        counts.r = s.r
        counts.w = s.w
        counts.x = s.x
        if fresh {
            addNew(s.start, s.pages, counts)
            return
        }
        var page = s.start, left = s.pages
        while left > 0 {
            // The pages of the segment in this region.
            let offset = regionPages > 0 ? (page / pageSize) % regionPages : 0
            let here = regionPages > 0 ? min(left, regionPages - offset) : left
            if here == regionPages && addRegion(page, counts) {
                // done: one entry
            } else {
                for i in 0..<here { addPage(page &+ i &* pageSize, counts) }
            }
            page &+= here &* pageSize
            left -= here
        }
    }

    /// Stores the counts of pages that have none yet: one store of the
    /// range, which walks to each page table once and makes a large entry
    /// of each whole region.
    private mutating func addNew(_ start: UInt64, _ n: UInt64, _ counts: PageCounters) {
        var value = PageCounters()
        let (_, alias) = value.add(counts)
        do {
            try counters.setValue(value, forRange: PhysicalAddress(start)..<PhysicalAddress(start &+ n &* pageSize))
        } catch {
            fatalError("memtable scan: \(error)")
        }
        pages += Int(n)
        if alias {
            for i in 0..<n { aliases.append(start &+ i &* pageSize) }
        }
    }

    private mutating func addPage(_ page: UInt64, _ counts: PageCounters) {
        let (procs, alias) = counters[PhysicalAddress(page), default: PageCounters()].add(counts)
        if procs == 1 { pages += 1 }
        if procs == 2 { sharedPages += 1 }
        if alias { aliases.append(page) }
    }

    /// Adds counts to a whole region as one entry, if it is empty or one
    /// large entry already; false if it holds pages.
    private mutating func addRegion(_ start: UInt64, _ counts: PageCounters) -> Bool {
        let address = PhysicalAddress(start)
        var value = PageCounters()
        if let e = counters.entry(containing: address) {
            guard e.level == .pmd else { return false }
            value = e.value
        }
        let (procs, alias) = value.add(counts)
        do {
            if try counters.updateValue(value, forAddress: address, level: .pmd) == nil {
                pages += Int(regionPages)
            }
        } catch .smallerEntriesPresent {
            return false
        } catch {
            fatalError("memtable scan: \(error)")
        }
        if procs == 2 { sharedPages += Int(regionPages) }
        if alias {
            for i in 0..<regionPages { aliases.append(start &+ i &* pageSize) }
        }
        return true
    }
}

/// Second pass: the mappings that reach W^X pages, writable (as counted)
/// or executable; aliases reached only by allowed commands set apart.
private func findWXMappings(_ result: inout ScanResult, aliases wx: [UInt64], processes: [(pid: Int32, index: Int)],
                            options: ScanOptions, collector: Collector) {
    guard !wx.isEmpty else { return }
    let writeOrExecute = UInt32(PROCFS_WRITE | PROCFS_EXECUTE)
    for (pid, index) in processes {
        guard let count = try? collector.readMaps(pid), count > 0, let fd = try? openPagemap(pid) else { continue }
        defer { close(fd) }
        let command = (try? readFile("/proc/\(pid)/comm")).map {
            String(decoding: $0, as: UTF8.self).trimmingSuffix("\n")
        } ?? "?"
        for i in 0..<count {
            let m = collector.raw(i).pointee
            guard m.vsyscall == 0, m.permissions & writeOrExecute != 0 else { continue }
            collector.clearRuns()
            // What was read before an error still counts (the process may be exiting).
            try? collector.collect(i, pagemap: fd, virtual: options.virtual, declared: options.declared,
                                   base: UInt64(index) << 47)
            var hits = Set<UInt64>()
            for run in collector.runs where procfs_run_permissions(run) & writeOrExecute != 0 {
                let start = procfs_run_address(run), end = start + procfs_run_pages(run) << 12
                var k = lowerBound(wx, start)
                while k < wx.count && wx[k] < end {
                    hits.insert(wx[k])
                    k += 1
                }
            }
            guard !hits.isEmpty else { continue }
            let via = WXMapping(pid: pid, command: command, mapping: collector.mapping(i).description)
            for key in hits { result.wxMappings[key, default: []].append(via) }
        }
    }
    for page in wx {
        guard let via = result.wxMappings[page], !via.isEmpty else {
            result.vanishedWXPages += 1
            continue
        }
        if !options.allowWX.isEmpty, via.allSatisfy({ options.allowWX.contains($0.command) }) {
            result.allowedWXPages.append(page)
        } else {
            result.wxPages.append(page)
        }
    }
}

/// The index of the first element of the ascending `a` not below `key`.
private func lowerBound(_ a: [UInt64], _ key: UInt64) -> Int {
    var lo = 0, hi = a.count
    while lo < hi {
        let mid = (lo + hi) / 2
        if a[mid] < key { lo = mid + 1 } else { hi = mid }
    }
    return lo
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}

// MARK: - The Heki result

/// A run of consecutive pages that need the same permissions.
public struct PermissionRun: Sendable {
    public var start: UInt64
    public var pages: Int
    public var permissions: Permissions
}

public struct HekiSummary {
    /// The minimal permissions per physical range, consecutive pages merged.
    public var runs: [PermissionRun] = []
    /// Pages per minimal permission set.
    public var histogram: [Permissions: Int] = [:]
    /// Runs per minimal permission set.
    public var runsPerPermission: [Permissions: Int] = [:]
    /// 2 MiB ranges whose 512 pages all need the same permissions: large
    /// entries in a table of minimal permissions.
    public var mergedLargePages = 0
    /// That table's entries and bytes before and after merging.
    public var entriesBefore = 0, entriesAfter = 0, bytesBefore = 0, bytesAfter = 0
    /// What the table of counters holds and costs, counted in the same walk.
    public var statistics: MemTableStatistics

    init(statistics: MemTableStatistics) { self.statistics = statistics }
}

/// The minimal permission set per page and per run of pages, and what
/// large-page merging makes of a table of them.
///
/// The table of minimal permissions holds the pages of `result.counters`,
/// one value entry each, so before merging it has their entries and tables
/// (and a page table where the counters hold a large entry); merging turns
/// each 2 MiB region whose 512 pages need the same permissions into one
/// entry and frees that region's page table. The summary counts those
/// regions as the pages pass and works out the table after merging from
/// them, rather than building it page by page.
///
/// One walk of the counters gives the summary and their table's
/// ``HekiSummary/statistics``: a table of scattered pages is mostly empty
/// slots, and each walk reads them all.
public func heki(_ result: ScanResult) -> HekiSummary {
    let pageSize = result.counters.geometry.pageSize
    let merging = !result.virtual && result.counters.geometry.entrySize(at: .pmd) == 512 * pageSize
    var walk = HekiWalk(pageSize: pageSize)
    defer { walk.counts.deallocate() }
    let statistics = result.counters.forEachStretch { walk.visit($0) }
    walk.finish()
    var s = HekiSummary(statistics: statistics)
    s.runs = walk.runs
    for raw in 0..<8 where walk.counts[raw] > 0 {
        s.histogram[Permissions(rawValue: UInt8(raw))] = walk.counts[raw]
        s.runsPerPermission[Permissions(rawValue: UInt8(raw))] = walk.counts[8 + raw]
    }
    s.mergedLargePages = merging ? walk.mergedLargePages : 0
    // The table of minimal permissions has a page table where the counters
    // have a large entry.
    let tableBytes = walk.largeEntries > 0 || s.mergedLargePages > 0 ? pageTableBytes(result.counters.geometry) : 0
    s.entriesBefore = walk.pages
    s.bytesBefore = statistics.bytes + walk.largeEntries * tableBytes
    s.entriesAfter = s.entriesBefore - 511 * s.mergedLargePages
    s.bytesAfter = s.bytesBefore - s.mergedLargePages * tableBytes
    return s
}

/// What heki(_:) gathers stretch by stretch (consecutive entries of one
/// value), in ascending address order: a run of pages with the same
/// counters costs a few comparisons, not a few per page. The counts per
/// permission set are added as each run ends, into a buffer of their own
/// (arrays would check their uniqueness and bounds at each).
private struct HekiWalk {
    let pageSize: UInt64
    /// Pages of a region: what one large entry of the level above holds.
    let regionPages: UInt64 = 512
    var runs: [PermissionRun] = []
    /// Pages, then runs, per permission set.
    let counts = UnsafeMutableBufferPointer<Int>.allocate(capacity: 16)
    var largeEntries = 0, mergedLargePages = 0
    // The region under way, its pages so far and whether they agree.
    var region: UInt64 = .max, inRegion: UInt64 = 0, uniform = true, regionPermissions: UInt8 = 0
    /// The run under way (none while its pages are 0) and the address after it.
    var run = PermissionRun(start: 0, pages: 0, permissions: []), runEnd: UInt64 = 0

    init(pageSize: UInt64) {
        self.pageSize = pageSize
        counts.initialize(repeating: 0)
    }

    /// Pages in all.
    var pages: Int { counts[0..<8].reduce(0, +) }

    @inline(__always)
    mutating func visit(_ s: MemTable<PageCounters>.Stretch) {
        let address = s.addresses.lowerBound.rawValue, p = s.value.permissions
        let n = Int((s.addresses.upperBound.rawValue - address) / pageSize) + 1
        if _slowPath(s.level != .pte) {
            // Large entries (scan() stores a huge page as one).
            largeEntries += s.count
            // Each a region of one permission set already.
            if s.entrySize == regionPages * pageSize { mergedLargePages += s.count }
            region = .max
        } else {
            // The stretch's pages region by region (a table of pages is one
            // region where regions are 512 pages, as on x86-64).
            var page = address / pageSize, left = UInt64(n)
            while left > 0 {
                let here = min(left, regionPages - page % regionPages)
                if page / regionPages != region {
                    region = page / regionPages
                    inRegion = 0
                    uniform = true
                    regionPermissions = p.rawValue
                }
                inRegion &+= here
                uniform = uniform && p.rawValue == regionPermissions
                if inRegion == regionPages && uniform { mergedLargePages += 1 }
                page &+= here
                left &-= here
            }
        }
        if run.pages > 0 && runEnd == address && run.permissions == p {
            run.pages &+= n
        } else {
            finish()
            run = PermissionRun(start: address, pages: n, permissions: p)
        }
        runEnd = s.addresses.upperBound.rawValue &+ 1
    }

    /// Ends the run under way.
    mutating func finish() {
        guard run.pages > 0 else { return }
        runs.append(run)
        counts[Int(run.permissions.rawValue & 7)] += run.pages
        counts[8 + Int(run.permissions.rawValue & 7)] += 1
        run.pages = 0
    }
}

/// ``heki(_:)``, which counts the statistics in its own walk now.
@available(*, deprecated, message: "heki(_:) counts the statistics in its own walk: HekiSummary.statistics")
public func heki(_ result: ScanResult, statistics: MemTableStatistics?) -> HekiSummary { heki(result) }

/// The bytes of one table of the smallest pages: what merging 512 pages
/// into a 2 MiB entry frees, measured as a table holding a page against one
/// holding a 2 MiB entry there.
private func pageTableBytes(_ geometry: Geometry) -> Int {
    var page = MemTable<UInt8>(geometry: geometry), large = MemTable<UInt8>(geometry: geometry)
    page[0] = 0
    do {
        try large.updateValue(0, forAddress: 0, level: .pmd)
    } catch {
        return 0
    }
    return page.statistics.bytes - large.statistics.bytes
}

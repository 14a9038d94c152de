// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan: Heki's permission counters for the physical pages that the
// processes of this machine map, kept in a MemTable.

import MemTable
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

    mutating func addProcess() {
        if procs < .max { procs += 1 }
    }

    mutating func count(_ p: Permissions) {
        if p.contains(.read) { r = r &+ (r == .max ? 0 : 1) }
        if p.contains(.write) { w = w &+ (w == .max ? 0 : 1) }
        if p.contains(.execute) { x = x &+ (x == .max ? 0 : 1) }
    }

    /// Adds one process's counts for a page (and the process), saturating.
    mutating func add(_ other: PageCounters) {
        func sum(_ a: UInt16, _ b: UInt16) -> UInt16 { a > .max - b ? .max : a + b }
        r = sum(r, other.r)
        w = sum(w, other.w)
        x = sum(x, other.x)
        addProcess()
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
    public var counters: MemTable<PageCounters>
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

/// The permissions a mapping grants a page: read and execute as declared;
/// write only where a write would land in that frame (a shared mapping, or
/// private anonymous memory mapped here alone), unless `declared`.
@inline(__always)
func granted(_ m: Mapping, _ entry: PagemapEntry, declared: Bool) -> Permissions {
    var p = m.permissions
    if !declared, p.contains(.write), !m.shared, !entry.privateWriteLandsHere { p.remove(.write) }
    return p
}

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
    let me = getpid()
    var seen = Set<Int32>()
    let pids = (options.pids ?? allPids()).filter {
        (options.pids != nil || $0 != me) && seen.insert($0).inserted
    }
    // One process's pages, each page's key with the permissions its mapping
    // grants in the low bits (keys are page aligned).
    var pending: [UInt64] = []
    var scanned: [(pid: Int32, index: Int)] = []
    func failed(_ pid: Int32, _ e: ProcError) {
        result.unreadable[e.reason, default: 0] += 1
        if options.pids != nil { result.failures.append((pid, e.reason)) }
    }

    for (index, pid) in pids.enumerated() {
        if options.progress {
            writeStandardError("\rmemtable scan: \(index + 1)/\(pids.count) processes\u{1b}[K")
        }
        let maps: [Mapping]
        do {
            maps = parseMaps(try readFile("/proc/\(pid)/maps"))
        } catch {
            failed(pid, error)
            continue
        }
        if maps.isEmpty {
            switch (try? processState(pid))?.state {
            case "Z"?: result.zombies += 1
            case nil: failed(pid, .exited)
            default: result.kernelThreads += 1
            }
            continue
        }
        options.afterReading?(pid, -1)
        let pagemap: Pagemap
        do {
            pagemap = try Pagemap(pid: pid)
        } catch {
            failed(pid, error)
            continue
        }
        pending.removeAll(keepingCapacity: true)
        let base = UInt64(index) << 47
        var present = 0, swapped = 0, hidden = 0, mappings = 0
        var failure: ProcError? = nil
        for (i, m) in maps.enumerated() where m.path != "[vsyscall]" {
            mappings += 1
            do {
                try pagemap.forEachPage(m.start, m.end) { va, entry in
                    guard entry.present else {
                        swapped += 1
                        return
                    }
                    present += 1
                    let key: UInt64
                    if options.virtual {
                        key = base | va
                    } else {
                        guard entry.pfn != 0 else {
                            hidden += 1
                            return
                        }
                        key = entry.pfn << 12
                    }
                    pending.append(key | UInt64(granted(m, entry, declared: options.declared).rawValue))
                }
            } catch {
                failure = error
                break
            }
            options.afterReading?(pid, i)
        }
        if let failure {
            failed(pid, failure)
            continue
        }
        // All of the process was read: its counts go in, each page once for
        // its process count however many mappings it has.
        result.processes += 1
        result.mappings += mappings
        result.presentPages += present
        result.swappedPages += swapped
        result.hiddenFrames += hidden
        scanned.append((pid, index))
        pending.sort()
        var i = 0
        while i < pending.count {
            let key = pending[i] & ~0xfff
            var counts = PageCounters()
            while i < pending.count, pending[i] & ~0xfff == key {
                counts.count(Permissions(rawValue: UInt8(truncatingIfNeeded: pending[i] & 7)))
                i += 1
            }
            result.counters[PhysicalAddress(key), default: PageCounters()].add(counts)
        }
    }
    if options.progress { writeStandardError("\r\u{1b}[K") }
    findWXMappings(&result, processes: scanned, options: options)
    return result
}

/// Second pass: the mappings that reach W^X pages, writable (as counted)
/// or executable; aliases reached only by allowed commands set apart.
private func findWXMappings(_ result: inout ScanResult, processes: [(pid: Int32, index: Int)],
                            options: ScanOptions) {
    let wx = Set(result.counters.lazy.filter { $0.value.isWXAlias }.map { $0.address.rawValue })
    guard !wx.isEmpty else { return }
    for (pid, index) in processes {
        guard let maps = try? parseMaps(readFile("/proc/\(pid)/maps")),
              let pagemap = try? Pagemap(pid: pid)
        else { continue }
        let command = (try? readFile("/proc/\(pid)/comm")).map {
            String(decoding: $0, as: UTF8.self).trimmingSuffix("\n")
        } ?? "?"
        let base = UInt64(index) << 47
        for m in maps where m.path != "[vsyscall]" && !m.permissions.isDisjoint(with: [.write, .execute]) {
            var hits = Set<UInt64>()
            try? pagemap.forEachPage(m.start, m.end) { va, entry in
                guard entry.present, !granted(m, entry, declared: options.declared)
                    .isDisjoint(with: [.write, .execute]) else { return }
                let key = options.virtual ? base | va : entry.pfn << 12
                if wx.contains(key) { hits.insert(key) }
            }
            for key in hits {
                result.wxMappings[key, default: []].append(
                    WXMapping(pid: pid, command: command, mapping: m.description))
            }
        }
    }
    for page in wx.sorted() {
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
    /// 2 MiB ranges whose 512 pages all need the same permissions: large
    /// entries in a table of minimal permissions.
    public var mergedLargePages = 0
    /// That table's entries and bytes before and after merging.
    public var entriesBefore = 0, entriesAfter = 0, bytesBefore = 0, bytesAfter = 0
}

/// The minimal permission set per page and per run of pages, and what
/// large-page merging makes of a table of them.
public func heki(_ result: ScanResult) -> HekiSummary {
    var s = HekiSummary()
    var minimal = MemTable<UInt8>(geometry: result.counters.geometry)
    // The 2 MiB regions whose 512 pages all have counters: pages come in
    // ascending order, so a region's are counted as they pass.
    var full: [UInt64] = []
    var region: UInt64 = .max, inRegion = 0
    let pageSize = result.counters.geometry.pageSize
    for (address, c) in result.counters {
        let p = c.permissions
        s.histogram[p, default: 0] += 1
        minimal[address] = p.rawValue
        if address.rawValue >> 21 != region {
            region = address.rawValue >> 21
            inRegion = 0
        }
        inRegion += 1
        if inRegion == 512 { full.append(region) }
        if var last = s.runs.last, last.permissions == p,
           last.start + UInt64(last.pages) * pageSize == address.rawValue
        {
            last.pages += 1
            s.runs[s.runs.count - 1] = last
        } else {
            s.runs.append(PermissionRun(start: address.rawValue, pages: 1, permissions: p))
        }
    }
    s.entriesBefore = minimal.count
    s.bytesBefore = minimal.statistics.bytes
    if !result.virtual {
        for region in full where (try? minimal.merge(at: PhysicalAddress(region << 21), level: .pmd)) == true {
            s.mergedLargePages += 1
        }
    }
    s.entriesAfter = minimal.count
    s.bytesAfter = minimal.statistics.bytes
    return s
}

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
}

/// What to scan.
public struct ScanOptions: Sendable {
    /// The processes; nil for all.
    public var pids: [Int32]?
    /// Count virtual pages of the processes instead of physical pages.
    public var virtual = false
    /// Report progress on stderr.
    public var progress = false

    public init(pids: [Int32]? = nil, virtual: Bool = false, progress: Bool = false) {
        self.pids = pids
        self.virtual = virtual
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
    public var processes = 0
    public var kernelThreads = 0
    public var mappings = 0
    public var presentPages = 0
    public var swappedPages = 0
    /// Present pages whose frame read as zero (no privilege).
    public var hiddenFrames = 0
    /// What could not be read, by reason: "exited during the scan": 2, ...
    public var unreadable: [String: Int] = [:]
    /// The mappings that reach each W^X-aliased page.
    public var wxMappings: [UInt64: [WXMapping]] = [:]

    /// The page addresses of the W^X-aliased pages, ascending.
    public var wxPages: [UInt64] {
        counters.compactMap { $0.value.isWXAlias ? $0.address.rawValue : nil }
    }
}

/// A 64-bit geometry for virtual mode: process number above bit 47.
private let virtualGeometry = try! Geometry(pageShift: 12, bitsPerLevel: 9, physicalAddressBits: 64)

/// Scans the processes and counts, per page, the mappings that grant each
/// permission and the processes that map it.
public func scan(_ options: ScanOptions) -> ScanResult {
    var result = ScanResult(counters: MemTable(geometry: options.virtual ? virtualGeometry : .x86_64),
                            virtual: options.virtual)
    let me = getpid()
    let pids = (options.pids ?? allPids()).filter { options.pids != nil || $0 != me }
    var keys: [UInt64] = []
    func failed(_ e: ProcError) { result.unreadable[e.reason, default: 0] += 1 }

    for (index, pid) in pids.enumerated() {
        if options.progress {
            writeStandardError("\rmemtable scan: \(index + 1)/\(pids.count) processes\u{1b}[K")
        }
        let maps: [Mapping]
        do {
            maps = parseMaps(try readFile("/proc/\(pid)/maps"))
        } catch {
            failed(error)
            continue
        }
        if maps.isEmpty {
            result.kernelThreads += 1
            continue
        }
        let pagemap: Pagemap
        do {
            pagemap = try Pagemap(pid: pid)
        } catch {
            failed(error)
            continue
        }
        keys.removeAll(keepingCapacity: true)
        let base = UInt64(index) << 47
        var ok = true
        for m in maps where m.path != "[vsyscall]" {
            result.mappings += 1
            do {
                try pagemap.forEachPage(m.start, m.end) { va, entry in
                    guard entry.present else {
                        result.swappedPages += 1
                        return
                    }
                    result.presentPages += 1
                    let key: UInt64
                    if options.virtual {
                        key = base | va
                    } else {
                        guard entry.pfn != 0 else {
                            result.hiddenFrames += 1
                            return
                        }
                        key = entry.pfn << 12
                    }
                    result.counters[PhysicalAddress(key), default: PageCounters()].count(m.permissions)
                    keys.append(key)
                }
            } catch {
                failed(error)
                ok = false
                break
            }
        }
        guard ok else { continue }
        result.processes += 1
        // Each process counts once per page, however many mappings it has.
        keys.sort()
        var last: UInt64? = nil
        for key in keys where key != last {
            last = key
            result.counters[PhysicalAddress(key), default: PageCounters()].addProcess()
        }
    }
    if options.progress { writeStandardError("\r\u{1b}[K") }
    findWXMappings(&result, pids: pids, options: options)
    return result
}

/// Second pass: the writable or executable mappings that reach W^X pages.
private func findWXMappings(_ result: inout ScanResult, pids: [Int32], options: ScanOptions) {
    let wx = Set(result.wxPages)
    guard !wx.isEmpty else { return }
    for (index, pid) in pids.enumerated() {
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
                guard entry.present else { return }
                let key = options.virtual ? base | va : entry.pfn << 12
                if wx.contains(key) { hits.insert(key) }
            }
            for key in hits {
                result.wxMappings[key, default: []].append(
                    WXMapping(pid: pid, command: command, mapping: m.description))
            }
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
    var candidates: [UInt64: Int] = [:]
    let pageSize = result.counters.geometry.pageSize
    for (address, c) in result.counters {
        let p = c.permissions
        s.histogram[p, default: 0] += 1
        minimal[address] = p.rawValue
        candidates[address.rawValue >> 21, default: 0] += 1
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
        for (region, pages) in candidates where pages == 512 {
            if (try? minimal.merge(at: PhysicalAddress(region << 21), level: .pmd)) == true {
                s.mergedLargePages += 1
            }
        }
    }
    s.entriesAfter = minimal.count
    s.bytesAfter = minimal.statistics.bytes
    return s
}

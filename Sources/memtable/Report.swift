// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan's report: one Codable type for the JSON schema (README.md),
// and the same figures for a person.

import MemTable
import MemTableScan

/// The JSON object of `memtable scan --json`. Keys are snake_case; every
/// count is a number, every list sorted. "pfn" is a physical page frame
/// number (with --virtual: process number << 35 | virtual page number).
struct ScanReport: Codable {
    struct Mapping: Codable {
        var pid: Int32
        var command: String
        var mapping: String
    }

    struct Alias: Codable {
        var pfn: UInt64
        var mappings: [Mapping]
    }

    struct Table: Codable {
        var tables: [Int]
        var bytes: Int
        var bytesPerPage: Double
        var largeEntries: Int

        enum CodingKeys: String, CodingKey {
            case tables, bytes
            case bytesPerPage = "bytes_per_page"
            case largeEntries = "large_entries"
        }
    }

    struct Heki: Codable {
        var runs: Int
        var runsByPermission: [String: Int]
        var merged2MEntries: Int
        var entriesBeforeMerge: Int
        var entriesAfterMerge: Int

        enum CodingKeys: String, CodingKey {
            case runs
            case runsByPermission = "runs_by_permission"
            case merged2MEntries = "merged_2m_entries"
            case entriesBeforeMerge = "entries_before_merge"
            case entriesAfterMerge = "entries_after_merge"
        }
    }

    struct Page: Codable {
        var pfn: UInt64
        var r, w, x, procs: UInt16
    }

    var mode: String
    var write: String
    var processes: Int
    var kernelThreads: Int
    var zombies: Int
    var mappings: Int
    var presentPages: Int
    var swappedPages: Int
    var hiddenFrames: Int
    var unreadable: [String: Int]
    var pages: Int
    var sharedPages: Int
    var permissions: [String: Int]
    var wxPfns: [UInt64]
    var wxMappings: [Alias]
    var allowedWXPfns: [UInt64]
    var vanishedWX: Int
    var table: Table
    var heki: Heki
    var pageCounters: [Page]?

    enum CodingKeys: String, CodingKey {
        case mode, write, processes, zombies, mappings, unreadable, pages, permissions, table, heki
        case kernelThreads = "kernel_threads"
        case presentPages = "present_pages"
        case swappedPages = "swapped_pages"
        case hiddenFrames = "hidden_frames"
        case sharedPages = "shared_pages"
        case wxPfns = "wx_pfns"
        case wxMappings = "wx_mappings"
        case allowedWXPfns = "allowed_wx_pfns"
        case vanishedWX = "vanished_wx"
        case pageCounters = "page_counters"
    }

    init(_ result: ScanResult, summary: HekiSummary, pages withPages: Bool) {
        let stats = summary.statistics
        mode = result.virtual ? "virtual" : "physical"
        write = result.declared ? "declared" : "effective"
        processes = result.processes
        kernelThreads = result.kernelThreads
        zombies = result.zombies
        mappings = result.mappings
        presentPages = result.presentPages
        swappedPages = result.swappedPages
        hiddenFrames = result.hiddenFrames
        unreadable = result.unreadable
        pages = result.pages
        sharedPages = result.sharedPages
        permissions = Dictionary(uniqueKeysWithValues: summary.histogram.map { ($0.key.description, $0.value) })
        wxPfns = result.wxPages.map { $0 >> 12 }
        wxMappings = result.wxPages.map { page in
            Alias(pfn: page >> 12, mappings: (result.wxMappings[page] ?? []).map {
                Mapping(pid: $0.pid, command: $0.command, mapping: $0.mapping)
            })
        }
        allowedWXPfns = result.allowedWXPages.map { $0 >> 12 }
        vanishedWX = result.vanishedWXPages
        table = Table(tables: stats.tables, bytes: stats.bytes,
                      bytesPerPage: stats.pages > 0 ? Double(stats.bytes) / Double(stats.pages) : 0,
                      largeEntries: stats.count - stats.entries[0])
        heki = Heki(runs: summary.runs.count,
                    runsByPermission: Dictionary(uniqueKeysWithValues: summary.runsPerPermission.map {
                        ($0.key.description, $0.value)
                    }),
                    merged2MEntries: summary.mergedLargePages, entriesBeforeMerge: summary.entriesBefore,
                    entriesAfterMerge: summary.entriesAfter)
        pageCounters = withPages ? result.pageCounters.map {
            Page(pfn: $0.address >> 12, r: $0.counters.r, w: $0.counters.w, x: $0.counters.x, procs: $0.counters.procs)
        } : nil
    }

    func json() throws -> String { try JSON.string(self) }

    // MARK: - For a person

    static let order = ["R", "RW", "RX", "RWX", "W", "WX", "X", "-"]

    func print(_ result: ScanResult, summary: HekiSummary) {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        func mib(_ bytes: Int) -> String {
            let v = Double(bytes) / 1_048_576
            return v >= 10 ? "\(Int(v.rounded())) MiB" : "\(Double(Int(v * 100)) / 100) MiB"
        }
        func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }
        let physical = mode == "physical"
        output("memtable scan (\(mode) pages\(physical ? "" : ": --virtual counts each process's virtual pages"); "
            + "write \(write == "effective" ? "where a write lands in the frame" : "as mappings declare it"))")
        output("  processes scanned     \(processes)  (+\(kernelThreads) kernel threads, \(zombies) zombies)")
        for (reason, n) in unreadable.sorted(by: { $0.key < $1.key }) {
            output("  not read              \(n) (\(reason))")
        }
        output("  mappings              \(mappings)")
        output("  present pages         \(presentPages)  (+\(swappedPages) swapped out)")
        output("  distinct \(mode) pages  \(pages)  (\(mib(pages * 4096)))")
        output("  shared by processes   \(sharedPages)")
        output("")
        output("Effective permission of each page (the union over its mappings):")
        for k in Self.order {
            guard let n = permissions[k] else { continue }
            let share = pages > 0 ? Double(n) * 100 / Double(pages) : 0
            output("  \(pad(k, 4)) \(lpad(String(n), 10))  \(lpad(fixed(share, 1), 5))%")
        }
        output("")
        output("W^X aliases: \(wxPfns.count) page\(wxPfns.count == 1 ? "" : "s") writable through one mapping "
            + "and executable through another"
            + (allowedWXPfns.isEmpty ? "" : " (\(allowedWXPfns.count) more allowed by --allow-wx)"))
        for alias in wxMappings.prefix(20) {
            let c = result.counters[PhysicalAddress(alias.pfn << 12)] ?? PageCounters()
            output("  \(physical ? "pfn" : "page") \(hex(alias.pfn))  r=\(c.r) w=\(c.w) x=\(c.x) procs=\(c.procs)")
            for m in alias.mappings.prefix(6) {
                output("      pid \(m.pid) (\(visible(m.command)))  \(visible(m.mapping))")
            }
        }
        if wxPfns.count > 20 { output("  ... and \(wxPfns.count - 20) more (--json lists them all)") }
        output("")
        output("The table (MemTable<PageCounters>, \(result.counters.geometry.levelCount) levels):")
        output("  tables per level      " + table.tables.map(String.init).joined(separator: " / ") + "  (pages first)")
        output("  bytes                 \(table.bytes)  (\(mib(table.bytes)))")
        if pages > 0 {
            output("  bytes per page        \(fixed(table.bytesPerPage, 2))"
                + "  (counters live in the slots: no allocation per page)")
        }
        if table.largeEntries > 0 {
            output("  2 MiB entries         \(table.largeEntries)  (a huge page mapped whole: one entry, no page table)")
        }
        output("")
        output("Heki: the minimal permissions per \(mode) range (runs of pages merged): \(summary.runs.count) ranges")
        for k in Self.order {
            guard let p = summary.runsPerPermission.keys.first(where: { $0.description == k }) else { continue }
            output("  \(pad(k, 4)) \(lpad(String(summary.runsPerPermission[p]!), 8)) ranges  "
                + "\(lpad(String(summary.histogram[p] ?? 0), 10)) pages")
        }
        for run in summary.runs.sorted(by: { $0.pages > $1.pages }).prefix(5) {
            output("  largest: \(hex(run.start))-\(hex(run.start + UInt64(run.pages) * 4096)) "
                + "\(run.permissions) (\(run.pages) pages)")
        }
        if physical {
            output("  large pages: \(summary.mergedLargePages) 2 MiB ranges need one permission set throughout;"
                + " merged, the table of minimal permissions goes from \(summary.entriesBefore) entries"
                + " (\(summary.bytesBefore) bytes) to \(summary.entriesAfter) (\(summary.bytesAfter) bytes)")
        }
    }
}

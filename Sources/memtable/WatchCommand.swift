// SPDX-License-Identifier: GPL-2.0-only
//
// memtable watch: the counters of a machine over time, one table kept
// across rounds, each round's changes found through the RFC's changed flag.

import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import MemTable
import MemTableScan

/// Set by SIGINT: the watch ends after the round under way.
nonisolated(unsafe) private var interrupted: sig_atomic_t = 0

struct WatchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Scan every interval and report what changed: counters, W^X aliases added and removed.",
        discussion: """
            Keeps one table of counters across rounds and updates it in place; each round \
            reports the pages whose counters changed (found with the RFC's changed flag: \
            mem_table_walk_changed) and the W^X aliases added and removed, with their \
            processes and mappings. Counters count as for `memtable scan`. Ctrl-C ends it \
            after the round under way.

            Exit status: 0; 1 if nothing could be read; 2 for a usage error; 3 with \
            --fail-on-wx at the first round that finds a W^X alias.
            """)

    @OptionGroup var counting: CountingOptions

    @Option(help: "Seconds between rounds.")
    var interval: Double = 2

    @Option(help: "Stop after this many rounds (0: until Ctrl-C).")
    var count: Int = 0

    @Flag(help: "One JSON object per round, one per line, flushed at the end of each round.")
    var json = false

    func validate() throws {
        guard interval > 0, interval.isFinite else { throw ValidationError("invalid interval '\(interval)'") }
        guard count >= 0 else { throw ValidationError("invalid count '\(count)'") }
    }

    /// One round, as `--json` prints it.
    struct Round: Codable {
        typealias Page = ScanReport.Page

        var round: Int
        var pages: Int
        var processes: Int
        var wxPfns: [UInt64]
        var addedWXPfns: [UInt64]
        var removedWXPfns: [UInt64]
        var wxMappings: [ScanReport.Alias]
        var changed: [Page]

        enum CodingKeys: String, CodingKey {
            case round, pages, processes, changed
            case wxPfns = "wx_pfns"
            case addedWXPfns = "added_wx_pfns"
            case removedWXPfns = "removed_wx_pfns"
            case wxMappings = "wx_mappings"
        }
    }

    func run() throws {
        // Ctrl-C ends the watch after the round under way. A parent may have
        // left SIGINT blocked (the mask is inherited across exec): unblock it.
        signal(SIGINT) { _ in interrupted = 1 }
        var mask = sigset_t()
        sigemptyset(&mask)
        sigaddset(&mask, SIGINT)
        sigprocmask(SIG_UNBLOCK, &mask, nil)
        let huge = takeTablesFromHugePages()
        assert(huge, "memtable watch: the library had memory out before the first round")
        let options = counting.scanOptions
        var table: MemTable<PageCounters>? = nil
        var aliases = Set<UInt64>()
        var round = 0
        while interrupted == 0 && (count == 0 || round < count) {
            if round > 0 {
                var left = interval
                while left > 0 && interrupted == 0 {
                    usleep(useconds_t(min(left, 0.1) * 1_000_000))
                    left -= 0.1
                }
                if interrupted != 0 { break }
            }
            round += 1
            let result = scan(options)
            if result.processes == 0 {
                standardError("memtable: no process could be read\n")
                throw ExitCode(1)
            }
            let changed = update(&table, with: result)
            let now = Set(result.wxPages)
            let added = now.subtracting(aliases).sorted(), removed = aliases.subtracting(now).sorted()
            aliases = now
            let report = Round(
                round: round, pages: result.pages, processes: result.processes,
                wxPfns: result.wxPages.map { $0 >> 12 }, addedWXPfns: added.map { $0 >> 12 },
                removedWXPfns: removed.map { $0 >> 12 },
                wxMappings: added.map { page in
                    ScanReport.Alias(pfn: page >> 12, mappings: (result.wxMappings[page] ?? []).map {
                        ScanReport.Mapping(pid: $0.pid, command: $0.command, mapping: $0.mapping)
                    })
                },
                changed: changed.map { Round.Page(pfn: $0.address >> 12, r: $0.counters.r, w: $0.counters.w,
                                                  x: $0.counters.x, procs: $0.counters.procs) })
            if json {
                output(try JSON.string(report))
            } else {
                output("round \(round): \(report.pages) pages, \(report.processes) processes, "
                    + "\(report.changed.count) pages changed, W^X aliases \(report.wxPfns.count) "
                    + "(+\(added.count) -\(removed.count))")
                for alias in report.wxMappings {
                    output("  + pfn 0x\(String(alias.pfn, radix: 16))")
                    for m in alias.mappings.prefix(6) {
                        output("      pid \(m.pid) (\(visible(m.command)))  \(visible(m.mapping))")
                    }
                }
                for pfn in report.removedWXPfns { output("  - pfn 0x\(String(pfn, radix: 16))") }
            }
            finishOutput()
            if counting.failOnWX && !now.isEmpty { throw ExitCode(3) }
        }
    }

    /// Brings the kept table to this round's counters, in place, and returns
    /// the pages whose counters changed (zeros for a page no longer mapped).
    ///
    /// The kept table holds one entry per page (the scan's may hold a huge
    /// page in one). Changes are written only where the counters differ, so
    /// that the tables they mark are those of changed pages; pages no longer
    /// mapped get zeros. The changed walk then lists the entries of the
    /// marked tables (the neighbours of a changed page come with it: they
    /// are compared with what was written), and the zeros are removed after
    /// it. In the first round every page is new.
    func update(_ kept: inout MemTable<PageCounters>?, with fresh: ScanResult)
        -> [(address: UInt64, counters: PageCounters)]
    {
        var table = kept ?? MemTable(geometry: fresh.counters.geometry)
        kept = nil  // held once from here: changed in place, never copied
        // What differs: both tables in address order, side by side.
        var writes: [(address: PhysicalAddress, counters: PageCounters)] = []
        var was: [UInt64: PageCounters] = [:]
        do {
            var a = table.makeIterator(), b = fresh.pageCounters.makeIterator()
            var x = a.next(), y = b.next()
            while x != nil || y != nil {
                if let old = x, y == nil || old.address.rawValue < y!.address {
                    writes.append((old.address, PageCounters()))
                    was[old.address.rawValue] = old.value
                    x = a.next()
                } else if let new = y, x == nil || new.address < x!.address.rawValue {
                    writes.append((PhysicalAddress(new.address), new.counters))
                    was[new.address] = PageCounters()
                    y = b.next()
                } else {
                    if x!.value != y!.counters {
                        writes.append((x!.address, y!.counters))
                        was[x!.address.rawValue] = x!.value
                    }
                    x = a.next()
                    y = b.next()
                }
            }
        }
        for w in writes { table[w.address] = w.counters }
        var changed: [(address: UInt64, counters: PageCounters)] = []
        for e in table.takeChangedEntries() {
            let address = e.addresses.lowerBound.rawValue
            if let old = was[address], old != e.value { changed.append((address, e.value)) }
        }
        for w in writes where w.counters == PageCounters() { table[w.address] = nil }
        _ = table.takeChangedEntries()  // the removals were this round's, reported
        kept = table
        return changed
    }
}

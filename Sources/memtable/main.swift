// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: Heki's per-page permission counters for the processes of this
// machine, from /proc/PID/maps and /proc/PID/pagemap, kept in a MemTable.

import Foundation
import MemTable
import MemTableScan

let usage = """
    usage: memtable scan [--pid PID]... [--json] [--pages] [--virtual]

    Counts, for every physical page mapped by the processes of this machine
    (or by the given ones), how many mappings map it readable, writable and
    executable, and how many processes map it: the permission counters of
    Heki, the consumer of the Linux RFC "Memory Table". Reports the pages
    writable through one mapping and executable through another (W^X
    aliases), the permissions each page needs, and what the table costs.

      --pid PID   scan this process (repeatable); all processes otherwise
      --json      one JSON object on standard output
      --pages     with --json: the counters of every page ("page_counters")
      --virtual   count the virtual pages of each process instead (no privilege
                  needed: page frame numbers are visible to root only)

    """

func fail(_ message: String, status: Int32 = 2) -> Never {
    var text = "memtable: \(message)\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
    exit(status)
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.first == "scan" else {
    if arguments.first == "--help" || arguments.first == "-h" || arguments.isEmpty {
        print(usage, terminator: "")
        exit(arguments.isEmpty ? 2 : 0)
    }
    fail("unknown command '\(arguments[0])'\n" + usage)
}
arguments.removeFirst()
var options = ScanOptions()
var json = false, pages = false
while let arg = arguments.first {
    arguments.removeFirst()
    switch arg {
    case "--pid":
        guard let value = arguments.first, let pid = Int32(value), pid > 0 else { fail("--pid needs a process id") }
        arguments.removeFirst()
        options.pids = (options.pids ?? []) + [pid]
    case "--json": json = true
    case "--pages": pages = true
    case "--virtual": options.virtual = true
    case "--help", "-h":
        print(usage, terminator: "")
        exit(0)
    default: fail("unknown option '\(arg)'\n" + usage)
    }
}
options.progress = isatty(2) == 1 && (options.pids?.count ?? 2) > 1

let result = scan(options)
let summary = heki(result)
let stats = result.counters.statistics
let shared = result.counters.reduce(0) { $0 + ($1.value.procs > 1 ? 1 : 0) }
let what = options.virtual ? "virtual" : "physical"
let order: [String] = ["R", "RW", "RX", "RWX", "W", "WX", "X", "-"]
let histogram = Dictionary(uniqueKeysWithValues: summary.histogram.map { ($0.key.description, $0.value) })

if result.processes == 0 && result.presentPages == 0 {
    fail("no process could be read" + (result.unreadable.isEmpty ? "" : ": \(result.unreadable)"), status: 1)
}
if !options.virtual && result.presentPages > 0 && result.hiddenFrames == result.presentPages {
    fail("every page frame number read as zero: reading physical frames from /proc/PID/pagemap "
        + "needs CAP_SYS_ADMIN (run as root), or use --virtual to count virtual pages", status: 1)
}

func hex(_ v: UInt64) -> String { "0x" + String(v, radix: 16) }

if json {
    func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }
    var o: [String] = []
    o.append("\"mode\":\(string(what))")
    o.append("\"processes\":\(result.processes)")
    o.append("\"kernel_threads\":\(result.kernelThreads)")
    o.append("\"mappings\":\(result.mappings)")
    o.append("\"present_pages\":\(result.presentPages)")
    o.append("\"swapped_pages\":\(result.swappedPages)")
    o.append("\"hidden_frames\":\(result.hiddenFrames)")
    o.append("\"unreadable\":{" + result.unreadable.sorted { $0.key < $1.key }
        .map { "\(string($0.key)):\($0.value)" }.joined(separator: ",") + "}")
    o.append("\"pages\":\(result.counters.count)")
    o.append("\"shared_pages\":\(shared)")
    o.append("\"permissions\":{" + order.compactMap { k in histogram[k].map { "\(string(k)):\($0)" } }
        .joined(separator: ",") + "}")
    let wx = result.wxPages
    o.append("\"wx_pfns\":[" + wx.map { String($0 >> 12) }.joined(separator: ",") + "]")
    o.append("\"wx_mappings\":[" + wx.map { page in
        "{\"pfn\":\(page >> 12),\"mappings\":[" + (result.wxMappings[page] ?? []).map {
            "{\"pid\":\($0.pid),\"command\":\(string($0.command)),\"mapping\":\(string($0.mapping))}"
        }.joined(separator: ",") + "]}"
    }.joined(separator: ",") + "]")
    o.append("\"table\":{\"tables\":[" + stats.tables.map(String.init).joined(separator: ",")
        + "],\"bytes\":\(stats.bytes),\"bytes_per_page\":"
        + (stats.count > 0 ? String(Double(stats.bytes) / Double(stats.count)) : "0") + "}")
    o.append("\"heki\":{\"runs\":\(summary.runs.count),\"runs_by_permission\":{" + order.compactMap { k in
        let n = summary.runs.filter { $0.permissions.description == k }.count
        return n > 0 ? "\(string(k)):\(n)" : nil
    }.joined(separator: ",") + "},\"merged_2m_entries\":\(summary.mergedLargePages)"
        + ",\"entries_before_merge\":\(summary.entriesBefore),\"entries_after_merge\":\(summary.entriesAfter)}")
    if pages {
        o.append("\"page_counters\":[" + result.counters.map { e in
            "{\"pfn\":\(e.address.rawValue >> 12),\"r\":\(e.value.r),\"w\":\(e.value.w),\"x\":\(e.value.x),\"procs\":\(e.value.procs)}"
        }.joined(separator: ",") + "]")
    }
    print("{" + o.joined(separator: ",") + "}")
    exit(0)
}

// MARK: - For a person

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
func mib(_ bytes: Int) -> String {
    let v = Double(bytes) / 1_048_576
    return v >= 10 ? "\(Int(v.rounded())) MiB" : "\(Double(Int(v * 100)) / 100) MiB"
}

print("memtable scan (\(what) pages\(options.virtual ? ": --virtual counts each process's virtual pages" : ""))")
print("  processes scanned     \(result.processes)  (+\(result.kernelThreads) kernel threads without mappings)")
for (reason, n) in result.unreadable.sorted(by: { $0.key < $1.key }) {
    print("  not read              \(n) (\(reason))")
}
print("  mappings              \(result.mappings)")
print("  present pages         \(result.presentPages)  (+\(result.swappedPages) swapped out)")
print("  distinct \(what) pages  \(result.counters.count)  (\(mib(result.counters.count * 4096)))")
print("  shared by processes   \(shared)")
print("")
print("Effective permission of each page (the union over its mappings):")
for k in order {
    guard let n = histogram[k] else { continue }
    let share = result.counters.count > 0 ? Double(n) * 100 / Double(result.counters.count) : 0
    print("  \(pad(k, 4)) \(lpad(String(n), 10))  \(String(format: "%5.1f", share))%")
}
print("")
let wx = result.wxPages
print("W^X aliases: \(wx.count) page\(wx.count == 1 ? "" : "s") writable through one mapping and executable through another")
for page in wx.prefix(20) {
    let c = result.counters[PhysicalAddress(page)]!
    print("  \(options.virtual ? "page" : "pfn") \(hex(page >> 12))  r=\(c.r) w=\(c.w) x=\(c.x) procs=\(c.procs)")
    for m in (result.wxMappings[page] ?? []).prefix(6) {
        print("      pid \(m.pid) (\(m.command))  \(m.mapping)")
    }
}
if wx.count > 20 { print("  ... and \(wx.count - 20) more (--json lists them all)") }
print("")
print("The table (MemTable<PageCounters>, \(result.counters.geometry.levelCount) levels):")
print("  tables per level      " + stats.tables.map(String.init).joined(separator: " / ") + "  (pages first)")
print("  bytes                 \(stats.bytes)  (\(mib(stats.bytes)))")
if stats.count > 0 {
    let perPage = String(format: "%.2f", Double(stats.bytes) / Double(stats.count))
    print("  bytes per page        \(perPage)  (counters live in the slots: no allocation per page)")
}
print("")
print("Heki: the minimal permissions per \(what) range (runs of pages merged): \(summary.runs.count) ranges")
for k in order {
    let runs = summary.runs.filter { $0.permissions.description == k }
    guard !runs.isEmpty else { continue }
    print("  \(pad(k, 4)) \(lpad(String(runs.count), 8)) ranges  \(lpad(String(runs.reduce(0) { $0 + $1.pages }), 10)) pages")
}
for run in summary.runs.sorted(by: { $0.pages > $1.pages }).prefix(5) {
    print("  largest: \(hex(run.start))-\(hex(run.start + UInt64(run.pages) * 4096)) \(run.permissions) (\(run.pages) pages)")
}
if !options.virtual {
    print("  large pages: \(summary.mergedLargePages) 2 MiB ranges need one permission set throughout;"
        + " merged, the table of minimal permissions goes from \(summary.entriesBefore) entries"
        + " (\(summary.bytesBefore) bytes) to \(summary.entriesAfter) (\(summary.bytesAfter) bytes)")
}

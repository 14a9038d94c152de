// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan counts what the page tables grant: write only where a write
// would land in the frame; each process once, wholly or not at all; swapped
// pages; and the tool's exit codes, escapes and output errors.

import Foundation
import MemTable
import MemTableScan
import Testing

/// The pagemap entry of `address` in process `pid`, read here directly.
func pagemapEntry(pid: Int32, _ address: UnsafeRawPointer) -> UInt64? {
    guard let h = FileHandle(forReadingAtPath: "/proc/\(pid)/pagemap") else { return nil }
    defer { try? h.close() }
    try? h.seek(toOffset: UInt64(UInt(bitPattern: address)) / 4096 * 8)
    guard let d = try? h.read(upToCount: 8), d.count == 8 else { return nil }
    return d.withUnsafeBytes { $0.load(as: UInt64.self) }
}

/// A whole /proc file (Foundation's String(contentsOfFile:) stops after its
/// first read of a /proc file, whose size reads as 0).
func readProc(_ path: String) -> String {
    guard let h = FileHandle(forReadingAtPath: path) else { return "" }
    defer { try? h.close() }
    return String(decoding: h.readDataToEndOfFile(), as: UTF8.self)
}

/// The page counters of the frame behind `address` in this process.
func counters(_ result: ScanResult, _ address: UnsafeRawPointer) -> PageCounters? {
    guard let pfn = frame(of: address) else { return nil }
    return result.counters[PhysicalAddress(pageFrame: PageFrameNumber(pfn))]
}

/// A child made by fork() that waits (only async-signal-safe calls in it),
/// having written `page` first if given, so that it holds its own copy.
func forkChild(writing page: UnsafeMutableRawPointer? = nil) -> pid_t {
    let pid = fork()
    if pid == 0 {
        page?.storeBytes(of: 0x77, as: UInt8.self)
        while true { pause() }
    }
    return pid
}

func reap(_ pid: pid_t) {
    kill(pid, SIGKILL)
    var status: Int32 = 0
    waitpid(pid, &status, 0)
}

/// The memtable tool built beside the tests.
let tool: String = {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("memtable").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return dir.appendingPathComponent("memtable").path
}()

/// Runs the tool; its status, standard output and standard error.
func runTool(_ arguments: [String], stdout path: String? = nil) throws -> (status: Int32, out: String, err: String) {
    let p = Process()
    if let path {
        // Redirected by a shell (a FileHandle given to Process leaks under ASan).
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", "exec \"$0\" \"$@\" > \(path)", tool] + arguments
    } else {
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
    }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

extension ProcScans {
@Suite("memtable scan: what the page tables grant")
struct ScanSemanticsTests {
    let page = 4096

    @Test func aPrivateWritableFileMappingIsNotWritable() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("memtable-priv-\(getpid())").path
        try Data(repeating: 3, count: page).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let m = try #require(mmap(nil, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0))
        defer { munmap(m, page) }
        #expect(m.load(as: UInt8.self) == 3)  // read: the page cache's frame
        let effective = scan(ScanOptions(pids: [getpid()]))
        let c = try #require(counters(effective, m))
        #expect(c.r >= 1 && c.w == 0, "a write would copy the file's page")
        let declared = scan(ScanOptions(pids: [getpid()], declared: true))
        #expect(try #require(counters(declared, m)).w >= 1)
        // Written, the page is this mapping's own anonymous copy: writable.
        m.storeBytes(of: 4, as: UInt8.self)
        let after = scan(ScanOptions(pids: [getpid()]))
        #expect(try #require(counters(after, m)).w == 1)
    }

    @Test func aPageSharedCopyOnWriteAfterForkIsNotWritable() throws {
        let m = try #require(mmap(nil, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(m, page) }
        m.storeBytes(of: 1, as: UInt8.self)
        let mine = scan(ScanOptions(pids: [getpid()]))
        #expect(try #require(counters(mine, m)).w == 1, "exclusive anonymous memory")
        let child = forkChild()
        defer { reap(child) }
        let both = scan(ScanOptions(pids: [getpid(), child]))
        let c = try #require(counters(both, m))
        #expect(c.r == 2 && c.w == 0 && c.procs == 2, "a write by either copies the page")
        #expect(try #require(counters(scan(ScanOptions(pids: [getpid(), child], declared: true)), m)).w == 2)
    }

    @Test func aSharedWritableMemfdAlsoExecutableIsAnAlias() throws {
        let fd = makeMemfd("memtable-wx")
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(ftruncate(fd, off_t(page)) == 0)
        let rw = try #require(mmap(nil, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        let rx = try #require(mmap(nil, page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0))
        defer { munmap(rw, page); munmap(rx, page) }
        rw.storeBytes(of: 9, as: UInt8.self)
        #expect(rx.load(as: UInt8.self) == 9)
        let result = scan(ScanOptions(pids: [getpid()]))
        let pfn = try #require(frame(of: rw))
        #expect(result.wxPages.contains(pfn << 12))
        #expect(result.wxMappings[pfn << 12]?.count == 2)
        // Allowed for this command, it is set apart.
        let me = try String(contentsOfFile: "/proc/self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        let allowed = scan(ScanOptions(pids: [getpid()], allowWX: [me]))
        #expect(!allowed.wxPages.contains(pfn << 12) && allowed.allowedWXPages.contains(pfn << 12))
    }

    @Test func aProcessListedTwiceIsScannedOnce() throws {
        let once = scan(ScanOptions(pids: [getpid()]))
        let twice = scan(ScanOptions(pids: [getpid(), getpid()]))
        #expect(twice.processes == 1 && once.processes == 1)
        // This process's own pages move between two scans; its libraries' do not.
        let libc = try #require(once.counters.first { $0.value.x > 0 })
        #expect(twice.counters[libc.address] == libc.value)
    }

    @Test func aProcessThatExitsMidScanCountsNotAtAll() throws {
        let m = try #require(mmap(nil, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(m, page) }
        m.storeBytes(of: 1, as: UInt8.self)
        let child = forkChild(writing: m)
        defer { reap(child) }
        // The child's own copy of the page, and the index of its mapping.
        var childFrame: UInt64 = 0
        for _ in 0..<200 {
            if let e = pagemapEntry(pid: child, m), e >> 63 == 1, e & ((1 << 55) - 1) != frame(of: m) {
                childFrame = e & ((1 << 55) - 1)
                break
            }
            usleep(10_000)
        }
        try #require(childFrame != 0)
        let maps = readProc("/proc/\(child)/maps").split(separator: "\n")
        let address = UInt64(UInt(bitPattern: m))
        let index = try #require(maps.firstIndex { line in
            let r = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            return r.count == 2 && r[0] <= address && address < r[1]
        })
        try #require(index < maps.count - 1, "a mapping follows the page's")
        var options = ScanOptions(pids: [getpid(), child])
        // End the child right after its page was read, before the rest of it.
        options.afterReading = { pid, i in
            if pid == child && i == index { reap(child) }
        }
        let result = scan(options)
        #expect(result.processes == 1 && result.unreadable["exited during the scan"] == 1)
        #expect(result.counters[PhysicalAddress(pageFrame: PageFrameNumber(childFrame))] == nil,
                "the child's page entered the table though the child was not read whole")
        #expect(result.counters.allSatisfy { $0.value.procs >= 1 })
        #expect(result.failures.map(\.pid) == [child])
    }

    @Test func swappedPagesAreCounted() throws {
        let swap = FileManager.default.temporaryDirectory.appendingPathComponent("memtable-swap-\(getpid())").path
        defer { unlink(swap) }
        let made = Process()
        made.executableURL = URL(fileURLWithPath: "/bin/sh")
        made.arguments = ["-c", "fallocate -l 16M \(swap) && chmod 600 \(swap) && mkswap \(swap) >/dev/null && swapon \(swap)"]
        made.standardError = FileHandle.nullDevice
        try made.run()
        made.waitUntilExit()
        guard made.terminationStatus == 0 else {
            print("memtable scan: swapped pages not tested: swapon refused here")
            return
        }
        defer {
            let off = Process()
            off.executableURL = URL(fileURLWithPath: "/sbin/swapoff")
            off.arguments = [swap]
            try? off.run()
            off.waitUntilExit()
        }
        let n = 16
        let m = try #require(mmap(nil, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(m, n * page) }
        for i in 0..<n { (m + i * page).storeBytes(of: UInt64(i + 1), as: UInt64.self) }
        #expect(madvise(m, n * page, 21 /* MADV_PAGEOUT */) == 0)
        let out = (0..<n).filter { i in (pagemapEntry(pid: getpid(), m + i * page) ?? 0) >> 62 & 1 == 1 }.count
        try #require(out > 0, "MADV_PAGEOUT swapped nothing out")
        let result = scan(ScanOptions(pids: [getpid()]))
        #expect(result.swappedPages >= out)
    }
}

}

extension ProcScans {
@Suite("The memtable tool")
struct ToolTests {
    @Test func usageErrorsAndVersion() throws {
        let bad = try runTool(["scan", "--pid", "abc"])
        #expect(bad.status == 2 && bad.err.contains("invalid process id 'abc'") && bad.out.isEmpty)
        #expect(try runTool(["scan", "--pid=-3"]).status == 2)
        #expect(try runTool(["--version"]).out == "memtable 0.1.0\n")
        #expect(try runTool(["help", "scan"]).out.contains("--fail-on-wx"))
        let gone = try runTool(["scan", "--pid", "3999999"])
        #expect(gone.status == 1 && gone.err.contains("no such process: 3999999") && !gone.err.contains("["))
        let me = try runTool(["scan", "--pid=\(getpid())", "--json", "--pid", "\(getpid())"])
        #expect(me.status == 0 && me.out.contains("\"processes\":1"))
    }

    @Test func failOnWXExitCodesAndEscapes() throws {
        // A process without aliases (this one's may have some, from other tests).
        let child = forkChild()
        defer { reap(child) }
        #expect(try runTool(["scan", "--pid", "\(child)", "--fail-on-wx", "--json"]).status == 0)
        let fd = makeMemfd("evil\u{1b}[31mname")
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(ftruncate(fd, 4096) == 0)
        let rw = try #require(mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        let rx = try #require(mmap(nil, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0))
        defer { munmap(rw, 4096); munmap(rx, 4096) }
        rw.storeBytes(of: 1, as: UInt8.self)
        #expect(rx.load(as: UInt8.self) == 1)
        let alias = try runTool(["scan", "--pid", "\(getpid())", "--fail-on-wx"])
        #expect(alias.status == 3)
        #expect(!alias.out.contains("\u{1b}") && alias.out.contains("evil\\x1b[31mname"))
        let me = try String(contentsOfFile: "/proc/self/comm", encoding: .utf8).trimmingCharacters(in: .newlines)
        let allowed = try runTool(["scan", "--pid", "\(getpid())", "--fail-on-wx", "--allow-wx", me, "--json"])
        #expect(allowed.status == 0 && allowed.out.contains("\"allowed_wx_pfns\":[") && allowed.out.contains("\"wx_pfns\":[]"))
        // JSON escapes control characters as JSON does.
        let json = try runTool(["scan", "--pid", "\(getpid())", "--json"])
        #expect(!json.out.contains("\u{1b}") && json.out.contains("evil\\u001b[31mname"))
    }

    @Test func watchSeesAnAliasComeAndGo() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = ["watch", "--pid", "\(getpid())", "--interval", "0.3", "--count", "40", "--json"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        defer {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        // Round 1 lists every page of this process: a long line, read in
        // chunks, each looked at once for the end of the line.
        var buffer = Data()
        var scanned = 0
        func line() throws -> [String: Any] {
            var end: Data.Index? = nil
            while end == nil {
                end = buffer[(buffer.startIndex + scanned)...].firstIndex(of: UInt8(ascii: "\n"))
                scanned = buffer.count
                if end == nil {
                    let chunk = out.fileHandleForReading.availableData
                    guard !chunk.isEmpty else { break }
                    buffer.append(chunk)
                }
            }
            let stop = try #require(end)
            let text = Data(buffer[..<stop])
            buffer = Data(buffer[(stop + 1)...])
            scanned = 0
            return try #require(JSONSerialization.jsonObject(with: text) as? [String: Any])
        }
        let first = try line()
        #expect(first["round"] as? Int == 1 && (first["changed"] as? [Any])?.isEmpty == false)
        // An alias after round 1: the next rounds see it added (a round under
        // way while it was made may miss it), then, unmapped, removed.
        let fd = makeMemfd("memtable-watch")
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(ftruncate(fd, 4096) == 0)
        let rw = try #require(mmap(nil, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        let rx = try #require(mmap(nil, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0))
        rw.storeBytes(of: 1, as: UInt8.self)
        #expect(rx.load(as: UInt8.self) == 1)
        let pfn = try #require(frame(of: rw))
        /// The first of the next 15 rounds whose list `key` holds the page.
        func round(listing key: String) throws -> [String: Any]? {
            for _ in 0..<15 {
                let round = try line()
                if (round[key] as? [UInt64])?.contains(pfn) == true { return round }
            }
            return nil
        }
        let second = try #require(try round(listing: "added_wx_pfns"), "no round reported the alias as added")
        #expect((second["wx_pfns"] as? [UInt64])?.contains(pfn) == true)
        let changed2 = (second["changed"] as? [[String: Any]]) ?? []
        #expect(changed2.contains { $0["pfn"] as? UInt64 == pfn && $0["w"] as? Int == 1 && $0["x"] as? Int == 1 })
        // The executable mapping goes: the alias is removed, the page still
        // writable; then the other: the page is no longer mapped (zeros).
        munmap(rx, 4096)
        let third = try #require(try round(listing: "removed_wx_pfns"), "no round reported the alias as removed")
        #expect(third["round"] as? Int ?? 0 > second["round"] as? Int ?? 0)
        let changed3 = (third["changed"] as? [[String: Any]]) ?? []
        #expect(changed3.contains { $0["pfn"] as? UInt64 == pfn && $0["w"] as? Int == 1 && $0["x"] as? Int == 0 })
        munmap(rw, 4096)
        var zeroed = false
        for _ in 0..<15 where !zeroed {
            let changed = (try line()["changed"] as? [[String: Any]]) ?? []
            zeroed = changed.contains { $0["pfn"] as? UInt64 == pfn && $0["r"] as? Int == 0 && $0["procs"] as? Int == 0 }
        }
        #expect(zeroed, "no round reported the unmapped page with zero counters")
    }

    @Test func watchEndsCleanlyOnControlC() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = ["watch", "--pid", "\(getpid())", "--interval", "0.2", "--json"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        usleep(700_000)
        kill(p.processIdentifier, SIGINT)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(!lines.isEmpty && lines.allSatisfy { $0.hasPrefix("{") && $0.hasSuffix("}") })
    }

    @Test func aFullDiskIsAnError() throws {
        let full = try runTool(["scan", "--pid", "\(getpid())"], stdout: "/dev/full")
        #expect(full.status == 1 && full.err.contains("cannot write the report"))
    }
}
}

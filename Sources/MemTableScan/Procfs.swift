// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan: reading /proc/PID/maps and /proc/PID/pagemap.

internal import CProcfs
#if canImport(Glibc)
import Glibc
#endif

/// Read, write, execute: what a mapping grants, or what a page needs.
public struct Permissions: OptionSet, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = Permissions(rawValue: 1)
    public static let write = Permissions(rawValue: 2)
    public static let execute = Permissions(rawValue: 4)

    /// `R`, `RW`, `RX`, `RWX`, ... or `-` for none.
    public var description: String {
        let s = (contains(.read) ? "R" : "") + (contains(.write) ? "W" : "") + (contains(.execute) ? "X" : "")
        return s.isEmpty ? "-" : s
    }
}

/// A line of /proc/PID/maps.
public struct Mapping: Sendable {
    public var start: UInt64
    public var end: UInt64
    public var permissions: Permissions
    public var shared: Bool
    public var path: String

    /// As maps shows it: `7f00-7f10 rw-s /memfd:x`.
    public var description: String {
        let p = permissions
        let flags = (p.contains(.read) ? "r" : "-") + (p.contains(.write) ? "w" : "-")
            + (p.contains(.execute) ? "x" : "-") + (shared ? "s" : "p")
        return "0x\(String(start, radix: 16))-0x\(String(end, radix: 16)) \(flags)" + (path.isEmpty ? "" : " \(path)")
    }
}

/// Why something could not be read.
enum ProcError: Error {
    case exited, denied, other(Int32)

    init(errno e: Int32) {
        switch e {
        case ENOENT, ESRCH: self = .exited
        case EACCES, EPERM: self = .denied
        default: self = .other(e)
        }
    }

    var reason: String {
        switch self {
        case .exited: return "exited during the scan"
        case .denied: return "permission denied"
        case let .other(e): return "error \(e)"
        }
    }
}

/// The whole of a small /proc file.
func readFile(_ path: String) throws(ProcError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ProcError(errno: errno) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    let failure: Int32? = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { chunk in
        while true {
            let n = read(fd, chunk.baseAddress, chunk.count)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            if n == 0 { return nil }
            bytes.append(contentsOf: chunk[0..<n])
        }
    }
    if let failure { throw ProcError(errno: failure) }
    return bytes
}

/// One process's pages on their way into the table: the C collector of
/// CProcfs, which parses the maps and reads the pagemap a buffer at a time
/// into runs of pages (see procfs.h). Reused from process to process.
final class Collector {
    let c: UnsafeMutablePointer<procfs_collector>

    init() {
        guard let c = procfs_collector_new() else { fatalError("memtable scan: out of memory") }
        self.c = c
    }

    deinit { procfs_collector_free(c) }

    /// Starts a process: reads and parses its maps, forgets the last
    /// process's pages. Returns the number of mappings.
    func readMaps(_ pid: Int32) throws(ProcError) -> Int {
        let n = procfs_read_maps(c, pid)
        guard n >= 0 else { throw ProcError(errno: Int32(-n)) }
        return n
    }

    /// The i-th mapping read, in C's form.
    func raw(_ i: Int) -> UnsafeMutablePointer<procfs_mapping> { c.pointee.mappings + i }

    /// The i-th mapping read, with its path.
    func mapping(_ i: Int) -> Mapping {
        let m = c.pointee.mappings[i]
        let path = String(decoding: UnsafeRawBufferPointer(
            start: c.pointee.maps_text + Int(m.path_offset), count: Int(m.path_length)), as: UTF8.self)
        return Mapping(start: m.start, end: m.end, permissions: Permissions(rawValue: UInt8(m.permissions)),
                       shared: m.shared != 0, path: path)
    }

    /// Reads the pagemap `fd` of mapping `i` and adds its present pages as
    /// runs (keys `base | address` with `virtual`).
    ///
    /// - Throws: ``ProcError/exited`` if the process's memory is gone (its
    ///   pagemap reads short).
    func collect(_ i: Int, pagemap fd: Int32, virtual: Bool, declared: Bool, base: UInt64) throws(ProcError) {
        let flags = (virtual ? UInt32(PROCFS_VIRTUAL) : 0) | (declared ? UInt32(PROCFS_DECLARED) : 0)
        let r = procfs_collect(c, fd, raw(i), flags, base)
        if r < 0 { throw ProcError(errno: -r) }
    }

    /// The runs collected: (address, pages, permissions).
    var runs: UnsafeBufferPointer<UInt64> { UnsafeBufferPointer(start: c.pointee.runs, count: c.pointee.nr_runs) }

    /// Forgets the runs collected.
    func clearRuns() { procfs_clear_runs(c) }

    /// The runs collected that are not a whole huge page: each needs a table
    /// of pages, or shares one with its neighbours.
    var smallRuns: Int {
        var n = 0
        for run in runs where procfs_run_pages(run) < 512 { n += 1 }
        return n
    }

    /// Sorts the runs collected, for ``forEachSegment(_:)``.
    func sort() throws(ProcError) {
        let r = procfs_sort(c)
        if r < 0 { throw ProcError(errno: -r) }
    }

    /// The next segments of the process's pages (after ``sort()``), into
    /// `out`: each page once, ascending, in segments of pages with the same
    /// number of mappings that grant read, write and execute. Empty at the end.
    func nextSegments(_ out: UnsafeMutableBufferPointer<procfs_segment>) -> Slice<UnsafeMutableBufferPointer<procfs_segment>> {
        let n = procfs_segments(c, out.baseAddress, out.count)
        guard n >= 0 else { fatalError("memtable scan: out of memory") }
        return out[0..<n]
    }
}

/// Opens /proc/PID/pagemap.
func openPagemap(_ pid: Int32) throws(ProcError) -> Int32 {
    let fd = open("/proc/\(pid)/pagemap", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ProcError(errno: errno) }
    return fd
}

/// What /proc/PID/stat says of a process: its state and whether it is a
/// kernel thread.
struct ProcessState {
    /// The state letter: R, S, D, Z (zombie), ...
    var state: Character
    /// PF_KTHREAD in the flags.
    var kernelThread: Bool
}

/// Reads /proc/PID/stat (the command may hold spaces and parentheses: the
/// fields start after its last ')').
func processState(_ pid: Int32) throws(ProcError) -> ProcessState {
    let bytes = try readFile("/proc/\(pid)/stat")
    guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { throw .other(EINVAL) }
    let fields = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
    // After the command: state (3), ppid, pgrp, session, tty_nr, tpgid, flags (9).
    guard fields.count > 6, let state = fields[0].first,
          let flags = UInt64(String(decoding: fields[6], as: UTF8.self))
    else { throw .other(EINVAL) }
    return ProcessState(state: Character(UnicodeScalar(state)), kernelThread: flags & 0x0020_0000 != 0)
}

/// Whether /proc/PID/exe names a file, or might: false only where the
/// process has none (ENOENT: a kernel thread, a zombie, or no process).
func hasExecutable(_ pid: Int32) -> Bool {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { target in
        readlink("/proc/\(pid)/exe", target.baseAddress!, target.count) >= 0 || errno != ENOENT
    }
}

/// The kernel threads, from one read of kthreadd's children rather than a
/// `/proc/PID/stat` each: kthreadd (pid 2, where it is a kernel thread; in a
/// container's pid namespace pid 2 is a process like any) and its children.
/// Nil where that list cannot be read (CONFIG_PROC_CHILDREN). A user-mode
/// helper (modprobe, say) starts as kthreadd's child too: the caller takes
/// for kernel threads only those without an executable (``hasExecutable(_:)``).
func kernelThreads() -> Set<Int32>? {
    guard (try? processState(2))?.kernelThread == true,
          let children = try? readFile("/proc/2/task/2/children")
    else { return nil }
    var threads: Set<Int32> = [2]
    for field in children.split(separator: UInt8(ascii: " ")) {
        guard let pid = Int32(String(decoding: field, as: UTF8.self)) else { return nil }
        threads.insert(pid)
    }
    return threads
}

/// The process ids in /proc, ascending.
func allPids() -> [Int32] {
    guard let dir = opendir("/proc") else { return [] }
    defer { closedir(dir) }
    var pids: [Int32] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if let pid = Int32(name) { pids.append(pid) }
    }
    return pids.sorted()
}

/// Writes to standard error, unbuffered.
func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}

/// memfd_create, for tests.
public func makeMemfd(_ name: String) -> Int32 { procfs_memfd(name) }

/// Takes the tables of every MemTable made from now on from 2 MiB transparent
/// huge pages (procfs.h says why): for a tool about to scan, before its first
/// table. False if the library has memory out already (it keeps `calloc()`),
/// which is slower, not wrong.
@discardableResult
public func takeTablesFromHugePages() -> Bool { procfs_table_arena() == 0 }

/// Tells the arena of ``takeTablesFromHugePages()`` how many tables of pages
/// are coming, at most, before the first is made: a few dozen cost less in
/// small pages than in a huge page cleared for them. Nothing where the arena
/// is not the library's allocator (a program that scans in-process, as the
/// tests do, keeps its tables in `calloc()`'s memory).
func expectTables(_ tables: @autoclosure () -> Int) {
    if procfs_arena_installed() { _ = procfs_arena_expect(tables()) }
}

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
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ProcError(errno: errno)
        }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
}

/// Parses /proc/PID/maps.
func parseMaps(_ bytes: [UInt8]) -> [Mapping] {
    var mappings: [Mapping] = []
    for line in bytes.split(separator: UInt8(ascii: "\n")) {
        let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: true)
        guard fields.count >= 5 else { continue }
        let range = fields[0].split(separator: UInt8(ascii: "-"))
        guard range.count == 2,
              let start = UInt64(String(decoding: range[0], as: UTF8.self), radix: 16),
              let end = UInt64(String(decoding: range[1], as: UTF8.self), radix: 16),
              fields[1].count == 4
        else { continue }
        let f = Array(fields[1])
        var p: Permissions = []
        if f[0] == UInt8(ascii: "r") { p.insert(.read) }
        if f[1] == UInt8(ascii: "w") { p.insert(.write) }
        if f[2] == UInt8(ascii: "x") { p.insert(.execute) }
        var path = fields.count > 5 ? String(decoding: fields[5], as: UTF8.self) : ""
        while path.first == " " { path.removeFirst() }
        mappings.append(Mapping(start: start, end: end, permissions: p,
                                shared: f[3] == UInt8(ascii: "s"), path: path))
    }
    return mappings
}

/// One page of a pagemap (Documentation/admin-guide/mm/pagemap.rst):
/// present or swapped, the frame (0 when hidden), and how it is mapped.
struct PagemapEntry {
    let raw: UInt64
    /// Bit 63: in memory.
    var present: Bool { raw >> 63 == 1 }
    /// Bit 62: swapped out.
    var swapped: Bool { (raw >> 62) & 1 == 1 }
    /// Bit 61: a file page or shared anonymous memory (not private anonymous).
    var fileOrShared: Bool { (raw >> 61) & 1 == 1 }
    /// Bit 56: mapped by this mapping only (page_mapcount() == 1).
    var exclusive: Bool { (raw >> 56) & 1 == 1 }
    /// Bits 0-54: the page frame number (0 without CAP_SYS_ADMIN).
    var pfn: UInt64 { raw & ((1 << 55) - 1) }
    /// Whether a write through a private writable mapping lands in this
    /// frame: only for private anonymous memory mapped here alone. Any other
    /// frame (a file's page, a copy-on-write page shared after fork, the
    /// zero page) is copied to a new frame by the write.
    var privateWriteLandsHere: Bool { exclusive && !fileOrShared }
}

/// An open /proc/PID/pagemap.
final class Pagemap {
    let fd: Int32
    /// Whether PAGEMAP_SCAN works here (Linux 6.7 and later).
    private(set) var canScan = true
    private var buffer = [UInt64](repeating: 0, count: 8192)
    private var regions = [procfs_region](repeating: procfs_region(), count: 1024)

    init(pid: Int32) throws(ProcError) {
        fd = open("/proc/\(pid)/pagemap", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ProcError(errno: errno) }
    }

    deinit { close(fd) }

    /// Calls `body` with the virtual address and entry of every page of
    /// [start, end) that is present or swapped. With PAGEMAP_SCAN only those
    /// runs are read, so that huge sparse mappings cost nothing.
    ///
    /// - Throws: ``ProcError/exited`` if the process went away (its pagemap
    ///   then reads as empty: a short read means the same).
    func forEachPage(_ start: UInt64, _ end: UInt64, _ body: (UInt64, PagemapEntry) -> Void) throws(ProcError) {
        // Every page at most once: what was read lies below `done`, whatever
        // the regions say and however the scan ends.
        var done = start
        if canScan {
            while done < end {
                var walkEnd: UInt64 = 0
                let n = regions.withUnsafeMutableBufferPointer {
                    procfs_present_regions(fd, done, end, $0.baseAddress, $0.count, &walkEnd)
                }
                if n == -Int(ENOTTY) || n == -Int(EINVAL) || n == -Int(EOPNOTSUPP) {
                    canScan = false
                    break
                }
                if n < 0 { throw ProcError(errno: Int32(-n)) }
                for i in 0..<n where regions[i].end > done {
                    try read(max(regions[i].start, done), min(regions[i].end, end), body)
                    done = min(regions[i].end, end)
                }
                guard walkEnd > done else { return }
                done = walkEnd
            }
            if canScan { return }
        }
        try read(done, end, body)
    }

    /// Reads the pagemap of [start, end) in chunks.
    private func read(_ start: UInt64, _ end: UInt64, _ body: (UInt64, PagemapEntry) -> Void) throws(ProcError) {
        var va = start
        while va < end {
            let count = Int(min(UInt64(buffer.count), (end - va) >> 12))
            guard count > 0 else { break }
            let got = buffer.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress, count * 8, off_t((va >> 12) * 8))
            }
            if got < 0 {
                if errno == EINTR { continue }
                throw ProcError(errno: errno)
            }
            // The pagemap covers the whole address space: nothing to read
            // inside a mapping means the process's memory is gone.
            if got == 0 { throw .exited }
            let entries = got / 8
            for i in 0..<entries {
                let e = PagemapEntry(raw: buffer[i])
                if e.present || e.swapped { body(va + UInt64(i) << 12, e) }
            }
            va += UInt64(entries) << 12
        }
    }
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

// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: Heki's per-page permission counters for the processes of this
// machine, from /proc/PID/maps and /proc/PID/pagemap, kept in a MemTable.

import ArgumentParser
import MemTableScan
#if canImport(Glibc)
import Glibc
#endif

@main
struct Memtable: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memtable",
        abstract: "Heki's per-page permission counters for the processes of this machine.",
        discussion: """
            Counts, for every physical page mapped by the processes of this machine (or by \
            the given ones), how many mappings map it readable, writable and executable, and \
            how many processes map it: the permission counters of Heki, the consumer of the \
            Linux RFC "Memory Table", kept in a MemTable.
            """,
        version: "memtable 0.1.0",
        subcommands: [ScanCommand.self, WatchCommand.self])

    /// Usage errors go to standard error with status 2, as the tools of
    /// this field do (ArgumentParser's own is 64); --help and --version to
    /// standard output with 0; a run's own status is its own.
    static func main() {
        do {
            // A plain `scan` needs no reflection over the commands (ScanArguments says why).
            let arguments = CommandLine.arguments.dropFirst()
            if arguments.first == "scan", let plain = ScanArguments(plain: arguments.dropFirst()) {
                assert((try? parseAsRoot(Array(arguments)) as? ScanCommand)??.arguments == plain,
                       "ArgumentParser reads \(Array(arguments)) otherwise")
                try ScanCommand.run(plain)
            } else {
                var command = try parseAsRoot()
                try command.run()
            }
        } catch let code as ExitCode {
            finishOutput()
            Glibc.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .validationFailure {
                standardError(fullMessage(for: error) + "\n")
                Glibc.exit(2)
            }
            exit(withError: error)
        }
        finishOutput()
    }
}

/// What `scan` and `watch` both take: which processes, how to count, what
/// to do about W^X aliases.
struct CountingOptions: ParsableArguments {
    @Option(name: .customLong("pid"),
            help: ArgumentHelp("A process to count (repeatable); all processes otherwise.", valueName: "pid"),
            transform: processID)
    var pids: [Int32] = []

    @Flag(help: "Count the virtual pages of each process (no privilege needed).")
    var virtual = false

    @Flag(help: "Count write as each mapping declares it, not only where a write would land in the frame.")
    var declared = false

    @Flag(name: .customLong("fail-on-wx"), help: "Exit with status 3 when a W^X alias is found (for CI gates).")
    var failOnWX = false

    @Option(name: .customLong("allow-wx"),
            help: ArgumentHelp("A command (as /proc/PID/comm names it) that aliases on purpose, a JIT runtime say: "
                               + "aliases reached only through its processes are allowed (repeatable).",
                               valueName: "comm"))
    var allowWX: [String] = []

    /// The scan these options ask for.
    var scanOptions: ScanOptions {
        ScanArguments(pids: pids, virtual: virtual, declared: declared, allowWX: allowWX).scanOptions
    }
}

/// The process id of `--pid`: a positive number, or a usage error that
/// echoes what was given.
func processID(_ text: String) throws -> Int32 {
    guard let pid = Int32(text), pid > 0 else { throw ValidationError("invalid process id '\(text)'") }
    return pid
}

// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: Heki's per-page permission counters for the processes of this
// machine, from /proc/PID/maps and /proc/PID/pagemap, kept in a MemTable.

import ArgumentParser
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
            var command = try parseAsRoot()
            try command.run()
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

/// The process id of `--pid`: a positive number, or a usage error that
/// echoes what was given.
func processID(_ text: String) throws -> Int32 {
    guard let pid = Int32(text), pid > 0 else { throw ValidationError("invalid process id '\(text)'") }
    return pid
}

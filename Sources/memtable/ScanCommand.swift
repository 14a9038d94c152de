// SPDX-License-Identifier: GPL-2.0-only
//
// memtable scan: the counters of every page, a report for a person or a
// JSON object for a program.

import ArgumentParser
import MemTable
import MemTableScan
#if canImport(Glibc)
import Glibc
#endif

struct ScanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "Count, per physical page, the mappings that grant read, write and execute.",
        discussion: """
            Reads /proc/PID/maps and /proc/PID/pagemap of every process (or of those given) \
            and keeps, per physical page, how many mappings grant read, write and execute and \
            how many processes map it. Write counts only where a write would land in the \
            page's frame (a shared writable mapping, or private anonymous memory mapped there \
            alone); --declared counts every writable mapping. Reports the W^X aliases (pages \
            writable through one mapping and executable through another), the permissions \
            each page needs, and what the table costs. Physical frames need root; --virtual \
            counts each process's virtual pages instead.

            Exit status: 0; 1 if nothing could be read or the report could not be written; \
            2 for a usage error; 3 with --fail-on-wx when a W^X alias was found.
            """)

    @OptionGroup var counting: CountingOptions

    @Flag(help: "Print one JSON object on standard output (the schema is in README.md).")
    var json = false

    @Flag(help: "With --json: the counters of every page (\"page_counters\").")
    var pages = false

    func run() throws {
        var options = counting.scanOptions
        options.progress = !json && isatty(2) == 1 && counting.pids.count != 1
        let result = scan(options)
        for failure in result.failures {
            standardError("memtable: " + (failure.reason == "exited during the scan"
                ? "no such process: \(failure.pid)\n" : "cannot read process \(failure.pid): \(failure.reason)\n"))
        }
        if result.processes == 0 {
            var message = "memtable: no process could be read"
            if geteuid() != 0 && !counting.virtual && result.unreadable["permission denied"] != nil {
                message += ": other users' processes need root (run as root), or use --virtual"
            }
            standardError(message + "\n")
            throw ExitCode(1)
        }
        if !counting.virtual && result.presentPages > 0 && result.hiddenFrames == result.presentPages {
            standardError("memtable: every page frame number read as zero: reading physical frames from "
                + "/proc/PID/pagemap needs CAP_SYS_ADMIN (run as root), or use --virtual to count virtual pages\n")
            throw ExitCode(1)
        }
        let statistics = result.counters.statistics
        let summary = heki(result, statistics: statistics)
        let report = ScanReport(result, statistics: statistics, summary: summary, pages: pages)
        if json {
            output(try report.json())
        } else {
            report.print(result, summary: summary)
        }
        finishOutput()
        // The process ends here, and its tables with it: freeing them one by
        // one first would cost a tenth of the scan.
        withExtendedLifetime(result) {
            Glibc.exit(counting.failOnWX && !result.wxPages.isEmpty ? 3 : 0)
        }
    }
}

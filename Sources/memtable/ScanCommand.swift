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

    /// What was asked for, as ``ScanArguments/init(plain:)`` gives it too.
    var arguments: ScanArguments {
        ScanArguments(pids: counting.pids, virtual: counting.virtual, declared: counting.declared,
                      failOnWX: counting.failOnWX, allowWX: counting.allowWX, json: json, pages: pages)
    }

    func run() throws {
        try Self.run(arguments)
    }

    static func run(_ a: ScanArguments) throws {
        // Before the first table: the scan's tables from huge pages.
        let huge = takeTablesFromHugePages()
        assert(huge, "memtable scan: the library had memory out before the scan")
        var options = a.scanOptions
        options.progress = !a.json && isatty(2) == 1 && a.pids.count != 1
        let result = scan(options)
        for failure in result.failures {
            standardError("memtable: " + (failure.reason == "exited during the scan"
                ? "no such process: \(failure.pid)\n" : "cannot read process \(failure.pid): \(failure.reason)\n"))
        }
        if result.processes == 0 {
            var message = "memtable: no process could be read"
            if geteuid() != 0 && !a.virtual && result.unreadable["permission denied"] != nil {
                message += ": other users' processes need root (run as root), or use --virtual"
            }
            standardError(message + "\n")
            throw ExitCode(1)
        }
        if !a.virtual && result.presentPages > 0 && result.hiddenFrames == result.presentPages {
            standardError("memtable: every page frame number read as zero: reading physical frames from "
                + "/proc/PID/pagemap needs CAP_SYS_ADMIN (run as root), or use --virtual to count virtual pages\n")
            throw ExitCode(1)
        }
        let summary = heki(result)
        let report = ScanReport(result, summary: summary, pages: a.pages)
        if a.json {
            output(try report.json())
        } else {
            report.print(result, summary: summary)
        }
        finishOutput()
        // The process ends here, and its tables with it: freeing them one by
        // one first would cost a tenth of the scan.
        withExtendedLifetime(result) {
            Glibc.exit(a.failOnWX && !result.wxPages.isEmpty ? 3 : 0)
        }
    }
}

/// What `memtable scan` was asked for, however it was parsed.
struct ScanArguments: Equatable {
    var pids: [Int32] = []
    var virtual = false, declared = false, failOnWX = false
    var allowWX: [String] = []
    var json = false, pages = false

    /// The scan these arguments ask for.
    var scanOptions: ScanOptions {
        ScanOptions(pids: pids.isEmpty ? nil : pids, virtual: virtual, declared: declared, allowWX: Set(allowWX))
    }
}

extension ScanArguments {
    /// The arguments after `scan`, when they are a plain list of scan's own
    /// flags (each once) and options (`--pid N`, `--pid=N`, `--allow-wx C`,
    /// `--allow-wx=C`) with good values; nil for anything else (help, a usage
    /// error, a value that starts with '-'), which ArgumentParser then parses.
    ///
    /// ArgumentParser reflects over the whole command tree first: 0.9 ms of a
    /// 3.3 ms scan of 1 GiB of huge pages, every time. This takes
    /// microseconds. Tests/MemTableTests/ArgumentsTests.swift holds it to
    /// ArgumentParser's result on random argument lists, and a debug build
    /// checks every list it takes.
    init?(plain arguments: ArraySlice<String>) {
        var rest = arguments[...]
        func once(_ flag: inout Bool) -> Bool {
            defer { flag = true }
            return !flag
        }
        while let argument = rest.popFirst() {
            var name = Substring(argument), value: Substring?
            if let equals = argument.firstIndex(of: "=") {
                name = argument[..<equals]
                value = argument[argument.index(after: equals)...]
            }
            switch name {
            case "--json" where value == nil: guard once(&json) else { return nil }
            case "--pages" where value == nil: guard once(&pages) else { return nil }
            case "--virtual" where value == nil: guard once(&virtual) else { return nil }
            case "--declared" where value == nil: guard once(&declared) else { return nil }
            case "--fail-on-wx" where value == nil: guard once(&failOnWX) else { return nil }
            case "--pid":
                guard let text = value ?? rest.popFirst().map({ Substring($0) }), !text.isEmpty,
                      text.utf8.allSatisfy({ $0 &- UInt8(ascii: "0") < 10 }), let pid = Int32(text), pid > 0
                else { return nil }
                pids.append(pid)
            case "--allow-wx":
                guard let text = value ?? rest.popFirst().map({ Substring($0) }), !text.isEmpty, !text.hasPrefix("-")
                else { return nil }
                allowWX.append(String(text))
            default:
                return nil
            }
        }
    }
}

// swift-tools-version:6.0
// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace. The C library is the
// target CMemTable (its public headers are include/); MemTable is the Swift
// API over it and keeps no package dependencies. memtable-trace, the trace
// replay of the tests, is a target of this package, not a product.

import PackageDescription

let package = Package(
    name: "memtable",
    products: [
        .library(name: "MemTable", targets: ["MemTable"]),
        // The C library itself, for Swift code that wants the RFC's API.
        .library(name: "CMemTable", targets: ["CMemTable"]),
        .executable(name: "memtable", targets: ["memtable"]),
    ],
    dependencies: [
        // The command-line tool's only dependency; the library products have none.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // The C sources are in Sources/CMemTable, the public headers (and
        // the module map) in include/ at the top, where `make install` takes
        // them from: the target spans the package so that both are its own,
        // with no symlink (a clone without symlinks builds) and no unsafe
        // flags (a versioned dependency builds; `make` passes the warnings).
        .target(
            name: "CMemTable",
            path: ".",
            sources: ["Sources/CMemTable/mem_table.c", "Sources/CMemTable/mem_table_ext.c",
                      "Sources/CMemTable/mem_table_alloc.c"],
            publicHeadersPath: "include",
            // Concurrent readers: liburcu's memb flavour (Debian liburcu-dev).
            linkerSettings: [.linkedLibrary("urcu-memb"), .linkedLibrary("urcu-common")]
        ),
        .target(
            name: "MemTable",
            dependencies: ["CMemTable"]
        ),
        .target(
            name: "CProcfs",
            dependencies: ["CMemTable"],
            path: "Sources/CProcfs"
        ),
        .target(
            name: "MemTableScan",
            dependencies: ["MemTable", "CProcfs"]
        ),
        .executableTarget(
            name: "memtable",
            dependencies: [
                "MemTable", "MemTableScan",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "memtable-trace",
            dependencies: ["MemTable"]
        ),
        .target(
            name: "MemTableTestSupport",
            path: "Tests/MemTableTestSupport"
        ),
        .testTarget(
            name: "MemTableTests",
            dependencies: ["MemTable", "CMemTable", "MemTableScan", "CProcfs", "MemTableTestSupport", "memtable"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

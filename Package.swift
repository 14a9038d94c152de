// swift-tools-version:6.0
// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace. The C library is the
// target CMemTable (its public headers are ../../include); MemTable is the
// Swift API over it and keeps no package dependencies.

import PackageDescription

let package = Package(
    name: "memtable",
    products: [
        .library(name: "MemTable", targets: ["MemTable"]),
        // The C library itself, for Swift code that wants the RFC's API.
        .library(name: "CMemTable", targets: ["CMemTable"]),
        .executable(name: "memtable", targets: ["memtable"]),
        .executable(name: "memtable-trace", targets: ["memtable-trace"]),
    ],
    targets: [
        .target(
            name: "CMemTable",
            path: "Sources/CMemTable",
            publicHeadersPath: "include",
            cSettings: [.unsafeFlags(["-Wall", "-Wextra"])]
        ),
        .target(
            name: "MemTable",
            dependencies: ["CMemTable"]
        ),
        .target(
            name: "CProcfs",
            path: "Sources/CProcfs"
        ),
        .target(
            name: "MemTableScan",
            dependencies: ["MemTable", "CProcfs"]
        ),
        .executableTarget(
            name: "memtable",
            dependencies: ["MemTable", "MemTableScan"]
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
            dependencies: ["MemTable", "MemTableScan", "MemTableTestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

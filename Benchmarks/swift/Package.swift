// swift-tools-version:6.0
// SPDX-License-Identifier: GPL-2.0-only
//
// The Swift benchmark, a package of its own so that the library keeps no
// dependencies: MemTable against Dictionary, swift-collections'
// TreeDictionary and the C API called directly. Run: make bench-swift.

import PackageDescription

let package = Package(
    name: "memtable-bench",
    dependencies: [
        .package(name: "memtable", path: "../.."),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
    ],
    targets: [
        .target(name: "BenchHeap"),
        .executableTarget(
            name: "memtable-bench",
            dependencies: [
                "BenchHeap",
                .product(name: "MemTable", package: "memtable"),
                .product(name: "CMemTable", package: "memtable"),
                .product(name: "HashTreeCollections", package: "swift-collections"),
            ],
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"])]
        ),
    ],
    swiftLanguageModes: [.v6]
)

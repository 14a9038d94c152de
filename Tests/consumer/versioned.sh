#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-only
#
# A Swift user's first contact, from the outside: a scratch package that
# depends on this one by version (`from:`), through a bare clone tagged like
# a release and checked out by SwiftPM without symlinks, builds the README's
# Swift example and runs it.
#
#   Tests/consumer/versioned.sh VERSION
#
# The package is the working tree's files (tracked, plus untracked ones git
# does not ignore), so that an uncommitted change is what gets tested.
set -euo pipefail

version=${1:?usage: versioned.sh VERSION}
top=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cd "$top"
if links=$(git ls-files -s | awk '$1 == 120000 { print $4 }') && [ -n "$links" ]; then
	echo "consumer: symlinks in the tree break clones made without them: $links" >&2
	exit 1
fi

# The release: the working tree's files in a repository of their own, tagged.
mkdir "$tmp/memtable"
git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
	[ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$tmp/memtable"
git -C "$tmp/memtable" init -q
git -C "$tmp/memtable" add -A
git -C "$tmp/memtable" -c user.name=consumer -c user.email=consumer@localhost \
	commit -q -m "memtable $version"
git -C "$tmp/memtable" tag "$version"
git clone -q --bare "$tmp/memtable" "$tmp/memtable.git"

# The user's package: the README's `from:` line, the README's example.
mkdir -p "$tmp/app/Sources/app"
cat > "$tmp/app/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "app",
    dependencies: [
        .package(url: "file://$tmp/memtable.git", from: "$version"),
    ],
    targets: [
        .executableTarget(name: "app", dependencies: [
            .product(name: "MemTable", package: "memtable"),
        ]),
    ]
)
SWIFT
awk '/^```swift$/ { f = 1; next } f && /^```$/ { exit } f' README.md > "$tmp/app/Sources/app/main.swift"

cd "$tmp/app"
# SwiftPM's own clones, made as on a system without symlinks.
export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=core.symlinks GIT_CONFIG_VALUE_0=false
swift build > "$tmp/build.log" 2>&1 || { cat "$tmp/build.log" >&2; exit 1; }
out=$(swift run -q app 2>"$tmp/run.log") || { cat "$tmp/run.log" >&2; exit 1; }
expected='2
level 0
513 0
0x40300000 8
0x40301000 7'
if [ "$(printf '%s\n' "$out" | head -n 5)" != "$expected" ] ||
   ! printf '%s\n' "$out" | sed -n 6p | grep -Eq '^[0-9]+$'; then
	printf 'consumer: the README example printed:\n%s\n' "$out" >&2
	exit 1
fi
echo "consumer: a package depending on memtable from: \"$version\" (a bare clone, checked out without symlinks) built and ran the README's Swift example"

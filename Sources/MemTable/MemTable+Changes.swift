// SPDX-License-Identifier: GPL-2.0-only
//
// memtable: the Linux RFC "Memory Table" in userspace.
// What changed since the last look: the RFC's `changed` flag.

extension MemTable {
    /// The entries of the parts of the table that changed since the last
    /// call, in ascending address order; the marks are cleared.
    ///
    /// The RFC marks a table `changed` whenever a store touches it, so that
    /// Heki sends the hypervisor only what changed. Every change here marks
    /// the tables on its path (a store, an overwrite, a removal, a split, a
    /// merge, a range). This returns every entry of each marked table (a mark
    /// is per table: the entries beside a changed one come too) and skips the
    /// unmarked ones whole. Removed entries are gone and not returned: to see
    /// a removal, compare with what the range held before (`memtable watch`
    /// stores zeros for pages no longer mapped, takes the changes, then
    /// removes them). A new table, and a copy of one, has everything marked.
    ///
    /// - Complexity: O(marked tables × entries per table), not O(entries).
    /// - Corresponding C function: `mem_table_walk_changed`.
    public mutating func takeChangedEntries() -> [Entry] {
        makeUnique()
        return storage.takeChanged().map { e in
            Entry(start: e.start, size: geometry.entrySize(at: e.level), level: e.level, value: e.value)
        }
    }
}

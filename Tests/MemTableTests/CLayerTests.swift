// SPDX-License-Identifier: GPL-2.0-only

import Testing
@testable import MemTable

@Suite("The C layer, seen from Swift")
struct CLayerTests {
    @Test("a 4 KiB page reports PG_LEVEL_4K; beyond 2^46 is rejected")
    func roundTrip() {
        #expect(CLayer.levelOfStoredPage(at: 0x1234_5678) == 1)
        #expect(CLayer.levelOfStoredPage(at: (1 << 46) - 1) == 1)
        #expect(CLayer.levelOfStoredPage(at: 1 << 46) == nil)
    }
}

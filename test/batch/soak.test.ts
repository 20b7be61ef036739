// The soak (soak/soak.ts, `npm run soak`) at a small size: evaluateBatch against the emulator with seeded random
// faults (5 % of streams UNAVAILABLE before their first result, 1 % reset after some results) and 1 % of items
// refused, in completion and in input order. Every check of the full soak must hold, and closing must leave
// nothing behind that would keep the process alive.

import { describe, expect, it } from "vitest";
import { runSoak } from "../../soak/soak.js";

/** Handles that would keep a process alive, by kind. */
function liveHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === "TCPSocketWrap" || kind === "TCPServerWrap" || kind === "Timeout")
      counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

describe("soak, small", () => {
  for (const ordered of [false, true]) {
    it(`every index exactly once${ordered ? ", in input order" : ""}, under faults`, async () => {
      const before = liveHandles();
      const report = await runSoak({
        items: 3_000,
        concurrency: 8,
        ordered,
        seed: ordered ? 11 : 5,
        // Higher rates than the full soak, so that a small run still meets every fault.
        unavailableRate: 0.15,
        resetRate: 0.1,
        emulatorInProcess: true,
      });
      expect(report.problems).toEqual([]);
      expect(report.summary.total).toBe(3_000);
      // 1 % of the items are refusable. Each is refused with its reason and hash (checked in `problems`), unless every
      // send of it met an injected fault first, which the high fault rates here make possible: then it is failed
      // after all its attempts (also checked in `problems`).
      expect(report.refused + report.refusableFailed).toBe(30);
      expect(report.refused).toBeGreaterThan(20);
      // The faults struck: items were sent again. Whether a reset stream's unanswered items had already been
      // evaluated (and so are evaluated twice) depends on scheduling, so only the bound is checked: never more
      // evaluations of an item than its attempts allow.
      expect(report.summary.resends).toBeGreaterThan(0);
      expect(report.mostEvaluations).toBeLessThanOrEqual(3);
      await expect.poll(() => liveHandles()).toEqual(before);
    }, 120_000);
  }
});

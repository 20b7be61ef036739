// The emulator's seeded random faults, and streams reset after several answers (which once made the emulator's
// memory grow without bound, and then crashed Node's HTTP/2).

import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FaultState } from "../../src/emulator/faults.js";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import { ClavataClient, ConnectionError, textContent } from "../../src/index.js";

describe("random faults", () => {
  it("strike about the given share of calls, the same calls for the same seed", () => {
    const draw = (seed: number) => {
      const state = new FaultState(() => {});
      state.random("Evaluate", 0.1, { kind: "fail", code: Code.Unavailable }, seed);
      return Array.from({ length: 2000 }, () => state.take("Evaluate").fail !== undefined);
    };
    const a = draw(7);
    const struck = a.filter(Boolean).length;
    expect(struck).toBeGreaterThan(140);
    expect(struck).toBeLessThan(260);
    expect(draw(7)).toEqual(a);
    expect(draw(8)).not.toEqual(a);
  });

  it("cut streams after a number of answers drawn from the range, only for Evaluate, until clear()", () => {
    const state = new FaultState(() => {});
    state.random("*", 1, { kind: "cutStream", after: [2, 4] });
    const afters = Array.from({ length: 50 }, () => state.take("Evaluate").cutStream?.after);
    expect(new Set(afters)).toEqual(new Set([2, 3, 4]));
    expect(state.take("GetJob").cutStream).toBeUndefined();
    state.clear();
    expect(state.take("Evaluate").cutStream).toBeUndefined();
  });

  it("leave calls alone that a counted fault already hits", () => {
    const state = new FaultState(() => {});
    state.failNext("Evaluate", 1, Code.Internal);
    state.random("Evaluate", 1, { kind: "fail", code: Code.Unavailable });
    expect(state.take("Evaluate").fail?.code).toBe(Code.Internal);
    expect(state.take("Evaluate").fail?.code).toBe(Code.Unavailable);
  });

  it("check their arguments", () => {
    const state = new FaultState(() => {});
    expect(() => state.random("Evaluate", 1.5, { kind: "fail", code: Code.Unavailable })).toThrow(RangeError);
    expect(() => state.random("Evaluate", 0.5, { kind: "fail", code: 99 as Code })).toThrow(RangeError);
    expect(() => state.random("Evaluate", 0.5, { kind: "cutStream", after: [5, 2] })).toThrow(RangeError);
  });
});

describe("a stream reset after several answers", () => {
  let emulator: Emulator;
  let client: ClavataClient;
  beforeAll(async () => {
    emulator = await startEmulator({ logger: false });
    client = new ClavataClient({ baseUrl: emulator.url, insecure: true, apiKey: "k" });
  });
  afterAll(async () => {
    await client.close();
    await emulator.close();
  });

  it("delivers the answers before it, then ends with a reset, many times over", async () => {
    for (const after of [2, 3, 7]) {
      emulator.faults.resetStreamAfter(after, 5);
      for (let round = 0; round < 5; round++) {
        const got: string[] = [];
        const items = Array.from({ length: 10 }, (_, i) => textContent(`reset ${after} ${round} ${i}`));
        const failure = await (async () => {
          for await (const r of client.evaluate({ policyId: "policy-violence", contentData: items }, { maxRetries: 0 }))
            got.push(r.contentHash);
        })().catch((error: unknown) => error);
        expect(got).toHaveLength(after);
        expect(failure).toBeInstanceOf(ConnectionError);
      }
    }
    // The emulator still answers.
    const ok = await client.evaluateOne({ policyId: "policy-violence", contentData: textContent("still there") });
    expect(ok.jobUuid).not.toBe("");
  });
});

// The leak guard's counting (leak-guard.ts runs it after every test file): it must see a server or a timer left
// alive, and let go once they are closed.

import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { activeResources, followTimers, resourcesBeyond, resourcesLeftBehind } from "./active-resources.js";

describe("the leak guard's resource count", () => {
  it("reports a listening server and a ref'd timer beyond the baseline, and nothing once they are closed", async () => {
    const baseline = activeResources();
    followTimers();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const timer = setTimeout(() => {}, 600_000);
    const interval = setInterval(() => {}, 600_000);
    expect(resourcesBeyond(baseline)).toEqual(["1 × TCPServerWrap", "2 × Timeout"]);
    clearTimeout(timer);
    clearInterval(interval);
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(await resourcesLeftBehind(baseline)).toEqual([]);
  });

  it("gives up after its grace period and names what is still alive", async () => {
    const baseline = activeResources();
    followTimers();
    const timer = setTimeout(() => {}, 600_000);
    try {
      expect(await resourcesLeftBehind(baseline, 30)).toEqual(["1 × Timeout"]);
    } finally {
      clearTimeout(timer);
    }
  });

  it("does not count a timer that fired or an unref'd one, which keeps nothing alive", async () => {
    const baseline = activeResources();
    followTimers();
    await new Promise((resolve) => setTimeout(resolve, 1));
    const timer = setTimeout(() => {}, 600_000).unref();
    expect(resourcesBeyond(baseline)).toEqual([]);
    clearTimeout(timer);
  });
});

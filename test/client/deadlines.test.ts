// The client's shared deadline timer, on its own: every deadline expires once, in time order, and a forgotten one
// never does.
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { Deadlines } from "../../src/deadlines.js";

describe("Deadlines", () => {
  it("expires each deadline once, earliest first, also when added out of order", async () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    const now = Date.now();
    deadlines.add(now + 60, () => expired.push("c"));
    deadlines.add(now + 20, () => expired.push("a"));
    deadlines.add(now + 40, () => expired.push("b"));
    for (let i = 0; i < 100 && expired.length < 3; i++) await sleep(10);
    expect(expired).toEqual(["a", "b", "c"]);
    await sleep(50);
    expect(expired).toEqual(["a", "b", "c"]);
  });

  it("never expires a deadline that was forgotten, nor any after clear()", async () => {
    const deadlines = new Deadlines();
    const expired: string[] = [];
    const now = Date.now();
    const forget = deadlines.add(now + 10, () => expired.push("forgotten"));
    deadlines.add(now + 30, () => expired.push("kept"));
    forget();
    for (let i = 0; i < 100 && expired.length < 1; i++) await sleep(10);
    expect(expired).toEqual(["kept"]);
    deadlines.add(Date.now() + 10, () => expired.push("cleared"));
    deadlines.clear();
    await sleep(60);
    expect(expired).toEqual(["kept"]);
  });

  it("does not keep the process alive on its own", () => {
    const deadlines = new Deadlines();
    const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    deadlines.add(Date.now() + 600_000, () => {});
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBe(before);
    deadlines.clear();
  });
});

// A setup file (vitest.config.ts) for every test file: fails the file if, after its last test and its own afterAll
// hooks, it leaves timers, sockets, servers, child processes or HTTP/2 sessions alive that were not there before its
// first test. That is the class of bug that kept a 60-second timer armed after every call (BENCHMARKS.md): a test
// that passes while the process it runs in cannot exit.

import { afterAll, beforeAll } from "vitest";
import {
  activeResources,
  followTimers,
  type ResourceCounts,
  resourcesLeftBehind,
  timersAlive,
  whereMade,
} from "./active-resources.js";

let baseline: ResourceCounts = {};

// Registered before the file's own hooks: with vitest's default "stack" order, this beforeAll runs first and this
// afterAll runs last, after the file has closed what it opened.
beforeAll(() => {
  baseline = activeResources();
  followTimers();
});

afterAll(async () => {
  const left = await resourcesLeftBehind(baseline);
  if (left.length > 0) {
    throw new Error(
      `this test file left ${left.join(", ")} alive after its last test: close every server, client, socket and ` +
        "child process it starts, and clear or unref its timers (see test/support/leak-guard.ts)" +
        timersAlive()
          .map((stack) => `\n  a timer made at ${whereMade(stack)}`)
          .join(""),
    );
  }
});

// What keeps the process alive: the resources Node lists in process.getActiveResourcesInfo() (sockets, servers,
// child processes, pipes, file requests …), counted by type, and the ref'd timers made since a point in time; and
// those that a stretch of code left behind.

import { setTimeout as sleep } from "node:timers/promises";

/** How many active resources of each type there are, such as { TCPWrap: 1, TCPServerWrap: 1 }. */
export type ResourceCounts = Record<string, number>;

// Timers are followed one by one rather than counted: vitest keeps short-lived timers of its own (the timeouts of
// its messages to the main process), so a count of "Timeout" moves by itself and would hide a leaked one. vitest
// took its own copy of setTimeout before any setup file ran, so only the code under test goes through these.
const timers = new Map<NodeJS.Timeout, Error>();
let following = false;

function isLive(timer: NodeJS.Timeout): boolean {
  // Node marks a timer destroyed once it has fired (setTimeout) or been cleared.
  return !(timer as unknown as { _destroyed?: boolean })._destroyed;
}

/**
 * Starts following every timer made through the global setTimeout and setInterval (once per process), and forgets
 * the ones made so far: from now on, timersAlive() names those still armed and ref'd.
 */
export function followTimers(): void {
  timers.clear();
  if (following) return;
  following = true;
  const originalTimeout = globalThis.setTimeout;
  const originalInterval = globalThis.setInterval;
  const keep = (timer: NodeJS.Timeout) => {
    if (timers.size > 10_000) for (const t of timers.keys()) if (!isLive(t)) timers.delete(t);
    // Where it was made, to name in the guard's message.
    timers.set(timer, new Error("timer made here"));
    return timer;
  };
  globalThis.setTimeout = Object.assign(
    (...args: Parameters<typeof originalTimeout>) => keep(originalTimeout(...args)),
    originalTimeout,
  ) as typeof setTimeout;
  globalThis.setInterval = Object.assign(
    (...args: Parameters<typeof originalInterval>) => keep(originalInterval(...args)),
    originalInterval,
  ) as typeof setInterval;
}

/**
 * The timers made since followTimers() that are still armed and ref'd (an unref'd one keeps nothing alive), each
 * as the stack of the call that made it.
 */
export function timersAlive(): string[] {
  const alive: string[] = [];
  for (const [timer, madeAt] of timers) {
    if (!isLive(timer)) timers.delete(timer);
    else if (timer.hasRef()) alive.push(madeAt.stack ?? "");
  }
  return alive;
}

/** The first frames of a stack outside node_modules and this file: where the test or the code under test made it. */
export function whereMade(stack: string): string {
  return stack
    .split("\n")
    .slice(1)
    .filter((line) => !line.includes("node_modules") && !line.includes("active-resources"))
    .slice(0, 4)
    .map((line) => line.trim())
    .join(" < ");
}

/** Counts the active resources other than timers, by type, now. Unref'd sockets and servers are not counted. */
export function activeResources(): ResourceCounts {
  const counts: ResourceCounts = {};
  for (const type of process.getActiveResourcesInfo()) {
    if (type !== "Timeout") counts[type] = (counts[type] ?? 0) + 1;
  }
  return counts;
}

/** The resources there are more of now than in `baseline`, and the live timers, as "2 × TCPWrap"; empty when none. */
export function resourcesBeyond(baseline: ResourceCounts, now: ResourceCounts = activeResources()): string[] {
  const beyond = Object.entries(now)
    .filter(([type, count]) => count > (baseline[type] ?? 0))
    .map(([type, count]) => `${count - (baseline[type] ?? 0)} × ${type}`);
  const live = following ? timersAlive().length : 0;
  if (live > 0) beyond.push(`${live} × Timeout`);
  return beyond.sort();
}

/**
 * Waits up to `graceMs` for the resources beyond `baseline` to go (a closed socket or server lets go of its handle
 * a few event-loop turns after its close() resolves), and returns those still there. Checks every 10 ms, with a
 * timer that vitest's copy of setTimeout would not show and that has fired by each check (expect.poll's own timers
 * are armed while its callback runs, so it would count itself).
 */
export async function resourcesLeftBehind(baseline: ResourceCounts, graceMs = 2000): Promise<string[]> {
  const until = Date.now() + graceMs;
  for (;;) {
    const left = resourcesBeyond(baseline);
    if (left.length === 0 || Date.now() >= until) return left;
    await sleep(10);
  }
}

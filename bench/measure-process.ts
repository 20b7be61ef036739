// The child process that runs one measurement: one scenario, one client, one
// round. A fresh process per measurement keeps one client's garbage, JIT state
// and heap growth out of the other's figures. run.ts forks it with the job as
// JSON in argv[2] (and a .cpuprofile path in argv[3] to profile the timed
// part), and reads the figures from IPC. Without IPC it runs on its own:
//
//   node dist-bench/bench/server.js --port 50051 &
//   node --cpu-prof dist-bench/bench/measure-process.js '{"scenario":"getjob-c1","contestant":"ours","port":50051,"scale":1}'

import { writeFile } from "node:fs/promises";
import { Session } from "node:inspector/promises";
import { type MeasureJob, runMeasurement } from "./scenarios.js";

/** A message from a measurement process to run.ts. @private */
export type MeasureReport =
  | { type: "mark"; phase: "start" | "end" }
  | { type: "result"; metrics: Record<string, number> }
  | { type: "error"; message: string };

/** A message from run.ts to a measurement process: the go-ahead after a mark. @private */
export interface MeasureAck {
  type: "go";
}

function send(report: MeasureReport): Promise<void> {
  return new Promise((resolve, reject) => {
    if (process.send === undefined) {
      resolve();
      return;
    }
    process.send(report, undefined, {}, (error) => (error ? reject(error) : resolve()));
  });
}

/** Reports a mark and waits for run.ts to have read the server's CPU time. */
async function mark(phase: "start" | "end"): Promise<void> {
  if (process.send === undefined) return;
  const go = new Promise<void>((resolve) => process.once("message", () => resolve()));
  await send({ type: "mark", phase });
  await go;
}

/**
 * Marks that also record a V8 CPU profile (the profiler behind `node --cpu-prof`) of exactly the timed part, and
 * write it to `file` as a .cpuprofile that Chrome DevTools and VS Code open.
 */
function profilingMark(file: string): (phase: "start" | "end") => Promise<void> {
  const session = new Session();
  return async (phase) => {
    if (phase === "start") {
      await mark(phase);
      session.connect();
      await session.post("Profiler.enable");
      await session.post("Profiler.setSamplingInterval", { interval: 100 });
      await session.post("Profiler.start");
    } else {
      const { profile } = await session.post("Profiler.stop");
      session.disconnect();
      await writeFile(file, JSON.stringify(profile));
      await mark(phase);
    }
  };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? "{}") as MeasureJob;
  const profile = process.argv[3];
  const metrics = await runMeasurement(job, profile === undefined ? mark : profilingMark(profile));
  await send({ type: "result", metrics });
}

main().then(
  // The official client has no close(), and its channel would keep the process alive: exit explicitly.
  () => process.exit(0),
  async (error: unknown) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    await send({ type: "error", message }).catch(() => {});
    process.exit(1);
  },
);

// `npm run bench`: our client against the official @clavata/sdk, scenario by
// scenario, in alternating rounds (ours, theirs, ours, theirs, ...) so that
// machine drift hits both. The bench server runs in its own process, and every
// measurement in a fresh child process, so neither client shares an event loop,
// a heap or a garbage collector with the server or with the other client.
//
//   node dist-bench/bench/run.js [--json] [--rounds N] [--scale X] [--only id,id] [--profile DIR] [--jobs N] [--in-process] [--with-connect | --with-http2] [--lean-server]

import { type ChildProcess, fork } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ContestantName, DiagnosticName } from "./contestants.js";
import type { MeasureAck, MeasureReport } from "./measure-process.js";
import {
  type BenchReport,
  floorComparisons,
  formatNumber,
  type MeasurementRecord,
  renderReport,
  type ServerGc,
  summarise,
} from "./report.js";
import { renderRestReport, runRestBench } from "./rest.js";
import { MAX_STREAM_ITEMS, type MeasureJob, runMeasurement, SCENARIOS, type ScenarioSpec } from "./scenarios.js";
import { type GcTally, type ServerCommand, type ServerReport, startBenchServer } from "./server.js";

/** The command-line settings of a bench run. */
export interface RunSettings {
  /** Print the report as JSON on stdout instead of the table. Default false. */
  json: boolean;
  /** Rounds per client and scenario; the report shows their median. Default 5. */
  rounds: number;
  /** Multiplies every count and size. Default 1; the smoke test uses a tiny scale. */
  scale: number;
  /** Only these scenario ids. Default: all. */
  only: string[] | undefined;
  /**
   * Write a V8 CPU profile of the timed part of every measurement into this folder, as
   * `<scenario>-<client>-r<round>.cpuprofile` (the profiler of `node --cpu-prof`, at 100 µs).
   */
  profileDir: string | undefined;
  /**
   * How many measurement processes run at once. Default 1, the only setting whose figures mean anything; more is
   * for the smoke test, which checks that the bench runs, not what it measures.
   */
  jobs: number;
  /**
   * Run the server and every measurement in this process, one after another. Default false. Quick, but the
   * clients share a heap and an event loop with the server, so the figures do not compare: the smoke test uses it.
   */
  inProcess: boolean;
  /**
   * Also measure a diagnostic client in a third column: bare Connect-ES (--with-connect) or bare node:http2
   * (--with-http2); see ContestantName. Default none.
   */
  diagnostic: DiagnosticName | undefined;
  /**
   * Serve with the bench's lean gRPC responder instead of Connect-node's server (see BenchServerOptions.lean), a
   * diagnostic of how much of a figure the server sets. Default false.
   */
  leanServer: boolean;
}

const USAGE = `usage: node dist-bench/bench/run.js [--json] [--rounds N] [--scale X] [--only id,id] [--profile DIR] [--jobs N] [--in-process] [--with-connect | --with-http2] [--lean-server]
scenarios: ${SCENARIOS.map((s) => s.id).join(", ")}`;

/** Parses the command line. Throws with the usage text for anything it does not know. */
export function parseSettings(argv: readonly string[]): RunSettings {
  const settings: RunSettings = {
    json: false,
    rounds: 5,
    scale: 1,
    only: undefined,
    profileDir: undefined,
    jobs: 1,
    inProcess: false,
    diagnostic: undefined,
    leanServer: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === "--json") settings.json = true;
    else if (arg === "--rounds") settings.rounds = Number(value());
    else if (arg === "--scale") settings.scale = Number(value());
    else if (arg === "--only")
      settings.only = value()
        .split(",")
        .filter((s) => s !== "");
    else if (arg === "--profile") settings.profileDir = resolve(value());
    else if (arg === "--jobs") settings.jobs = Number(value());
    else if (arg === "--in-process") settings.inProcess = true;
    else if (arg === "--with-connect") settings.diagnostic = "connect";
    else if (arg === "--with-http2") settings.diagnostic = "http2";
    else if (arg === "--lean-server") settings.leanServer = true;
    else throw new Error(`unknown argument "${arg}"\n${USAGE}`);
  }
  if (!Number.isInteger(settings.rounds) || settings.rounds < 1)
    throw new Error(`--rounds must be a whole number ≥ 1\n${USAGE}`);
  if (!Number.isInteger(settings.jobs) || settings.jobs < 1)
    throw new Error(`--jobs must be a whole number ≥ 1\n${USAGE}`);
  if (!(settings.scale > 0 && settings.scale <= 10)) throw new Error(`--scale must be a number in (0, 10]\n${USAGE}`);
  for (const id of settings.only ?? []) {
    if (!SCENARIOS.some((s) => s.id === id)) throw new Error(`unknown scenario "${id}"\n${USAGE}`);
  }
  if (settings.profileDir !== undefined) mkdirSync(settings.profileDir, { recursive: true });
  return settings;
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * A measurement that takes longer than this has hung: its process is killed and the run fails. Generous, because the
 * bulk scenario sends 220,000 items per measurement of our client, which takes minutes on a busy machine.
 */
const MEASUREMENT_TIMEOUT_MS = 600_000;

/** The bench server, and a way to read its CPU time when it runs in its own process. */
interface ServerProcess {
  readonly port: number;
  /** The server's CPU time so far, in µs, and its garbage collection (null in-process). */
  sample(): Promise<{ cpuMicros: number; gc: GcTally | null }>;
  close(): Promise<void>;
}

async function startServerProcess(precompute: number, lean: boolean): Promise<ServerProcess> {
  const child = fork(join(here, "server.js"), ["--precompute", String(precompute), ...(lean ? ["--lean"] : [])], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const waiting = new Map<number, (report: Extract<ServerReport, { type: "cpu" }>) => void>();
  let nextId = 0;
  const port = await new Promise<number>((resolveReady, reject) => {
    child.once("error", reject);
    child.once("exit", (code) =>
      reject(new Error(`the bench server exited with code ${String(code)} before it was ready`)),
    );
    child.on("message", (report: ServerReport) => {
      if (report.type === "ready") resolveReady(report.port);
      else waiting.get(report.id)?.(report);
    });
  });
  child.removeAllListeners("exit");
  return {
    port,
    sample() {
      const id = nextId++;
      return new Promise((resolveSample) => {
        waiting.set(id, (report) => {
          waiting.delete(id);
          resolveSample({ cpuMicros: report.user + report.system, gc: report.gc });
        });
        child.send({ type: "cpu", id } satisfies ServerCommand);
      });
    },
    close() {
      return new Promise((resolveClosed) => {
        if (child.exitCode !== null) {
          resolveClosed();
          return;
        }
        child.once("exit", () => resolveClosed());
        child.send({ type: "close" } satisfies ServerCommand);
      });
    },
  };
}

/** Runs one measurement in this process (--in-process): no server CPU figure. */
async function measureHere(job: MeasureJob, round: number): Promise<MeasurementRecord> {
  const metrics = await runMeasurement(job, async () => {});
  return { scenario: job.scenario, contestant: job.contestant, round, metrics, serverCpuShare: null, serverGc: null };
}

/** Runs one measurement in a fresh process; rejects with the child's error, or when it hangs. */
function measure(
  server: ServerProcess,
  job: MeasureJob,
  settings: RunSettings,
  round: number,
): Promise<MeasurementRecord> {
  const args = [JSON.stringify(job)];
  if (settings.profileDir !== undefined) {
    args.push(join(settings.profileDir, `${job.scenario}-${job.contestant}-r${String(round)}.cpuprofile`));
  }
  const child: ChildProcess = fork(join(here, "measure-process.js"), args, {
    execArgv: ["--expose-gc"],
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  child.stdout?.pipe(process.stderr);
  return new Promise((resolveRecord, reject) => {
    let cpuAtStart = 0;
    let wallAtStart = 0;
    let gcAtStart: GcTally | null = null;
    let serverCpuShare: number | null = null;
    let serverGc: ServerGc | null = null;
    let record: MeasurementRecord | undefined;
    let failure: string | undefined;
    child.on("message", (report: MeasureReport) => {
      if (report.type === "mark") {
        void server.sample().then(({ cpuMicros, gc }) => {
          const now = performance.now();
          if (report.phase === "start") {
            cpuAtStart = cpuMicros;
            wallAtStart = now;
            gcAtStart = gc;
          } else {
            serverCpuShare = (cpuMicros - cpuAtStart) / 1000 / (now - wallAtStart);
            if (gc !== null && gcAtStart !== null) {
              serverGc = {
                ms: gc.ms - gcAtStart.ms,
                longPauses: gc.longPauses - gcAtStart.longPauses,
                longestMs: gc.longestMs,
              };
            }
          }
          child.send({ type: "go" } satisfies MeasureAck);
        });
      } else if (report.type === "result") {
        record = {
          scenario: job.scenario,
          contestant: job.contestant,
          round,
          metrics: report.metrics,
          serverCpuShare,
          serverGc,
        };
      } else {
        failure = report.message;
      }
    });
    const hung = setTimeout(() => {
      failure = `no result after ${String(MEASUREMENT_TIMEOUT_MS / 1000)} s`;
      child.kill();
    }, MEASUREMENT_TIMEOUT_MS);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(hung);
      if (record !== undefined && code === 0) resolveRecord(record);
      else
        reject(
          new Error(
            `${job.scenario} (${job.contestant}, round ${String(round)}) failed: ${failure ?? `exit code ${String(code)}`}`,
          ),
        );
    });
  });
}

function packageVersion(name: string): string {
  const require = createRequire(import.meta.url);
  try {
    let dir = dirname(require.resolve(name));
    for (;;) {
      const file = join(dir, "package.json");
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? "unknown";
      }
      const up = dirname(dir);
      if (up === dir) return "unknown";
      dir = up;
    }
  } catch {
    return "not installed";
  }
}

function headline(scenario: ScenarioSpec, record: MeasurementRecord): string {
  const first = scenario.metrics[0]!;
  const value = record.metrics[first.key];
  return value === undefined ? "n/a" : `${formatNumber(value)} ${first.label}`;
}

/**
 * Runs the bench with `settings` and returns the report; each finished measurement is reported to `progress`
 * (default: a line on standard error). Rejects when the server cannot start or any measurement fails.
 */
export async function runBench(
  settings: RunSettings,
  progress: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<BenchReport> {
  const started = Date.now();
  const scenarios = SCENARIOS.filter((s) => settings.only === undefined || settings.only.includes(s.id));
  const precompute = Math.ceil(MAX_STREAM_ITEMS * settings.scale);
  const server: ServerProcess = settings.inProcess
    ? {
        ...(await startBenchServer({ precompute, lean: settings.leanServer })),
        sample: () => Promise.resolve({ cpuMicros: Number.NaN, gc: null }),
      }
    : await startServerProcess(precompute, settings.leanServer);
  const order: ContestantName[] = [
    "ours",
    "theirs",
    ...(settings.diagnostic === undefined ? [] : [settings.diagnostic]),
  ];
  const plan: MeasureJob[] = [];
  const rounds: number[] = [];
  for (const scenario of scenarios) {
    for (let round = 1; round <= settings.rounds; round++) {
      for (const contestant of scenario.only === undefined ? order : [scenario.only.contestant]) {
        plan.push({ scenario: scenario.id, contestant, port: server.port, scale: settings.scale });
        rounds.push(round);
      }
    }
  }
  const records: MeasurementRecord[] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < plan.length) {
      const i = next++;
      const job = plan[i]!;
      const record = settings.inProcess
        ? await measureHere(job, rounds[i]!)
        : await measure(server, job, settings, rounds[i]!);
      records[i] = record;
      done++;
      const scenario = scenarios.find((s) => s.id === job.scenario)!;
      progress(
        `[${String(done).padStart(String(plan.length).length)}/${String(plan.length)}] ${job.scenario} round ${String(record.round)} ${job.contestant}: ${headline(scenario, record)}`,
      );
    }
  };
  try {
    await Promise.all(Array.from({ length: settings.inProcess ? 1 : settings.jobs }, worker));
  } finally {
    await server.close();
  }
  const summaries = summarise(scenarios, records, settings.diagnostic);
  const cpu = os.cpus()[0];
  const extra = process.argv.slice(2).join(" ");
  return {
    command:
      process.env.npm_lifecycle_event === "bench"
        ? `npm run bench${extra ? ` -- ${extra}` : ""}`
        : `node ${process.argv.slice(1).join(" ")}`,
    startedAt: new Date(started).toISOString(),
    durationSec: (Date.now() - started) / 1000,
    machine: {
      cpu: cpu?.model.trim() ?? "unknown",
      cores: os.cpus().length,
      memoryGiB: Math.round(os.totalmem() / 1024 ** 3),
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.versions.node,
    },
    versions: Object.fromEntries(
      ["@clavata/sdk", "@grpc/grpc-js", "@connectrpc/connect", "@connectrpc/connect-node", "@bufbuild/protobuf"].map(
        (n) => [n, packageVersion(n)],
      ),
    ),
    settings: {
      rounds: settings.rounds,
      scale: settings.scale,
      jobs: settings.jobs,
      inProcess: settings.inProcess,
      diagnostic: settings.diagnostic ?? null,
      leanServer: settings.leanServer,
      order:
        "each scenario's rounds alternate ours, theirs, ours, theirs, ...; " +
        (settings.inProcess ? "all in this process" : "one fresh process per measurement, the server in its own"),
    },
    scenarios: summaries,
    floor: floorComparisons(summaries),
    measurements: records,
  };
}

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const report = await runBench(settings);
  // The REST scenarios (bench/rest.ts) run after the main ones, in this process.
  const rest = settings.only === undefined ? await runRestBench(settings) : undefined;
  const text = settings.json
    ? `${JSON.stringify({ ...report, rest }, null, 2)}\n`
    : `${renderReport(report)}\n${rest === undefined ? "" : `\n${renderRestReport(rest)}\n`}`;
  // Exit once written: after --in-process, timers of cancelled streams would keep the process alive for a minute.
  process.stdout.write(text, () => process.exit(0));
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}

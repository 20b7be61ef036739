// The bench scenarios. Each runs one measurement of one client inside the
// current (child) process: it checks that the client gets correct answers,
// warms it up, then times the measured part between two marks (so run.ts can
// read the server's CPU time over exactly that window) and returns its figures.

import { fromBinary } from "@bufbuild/protobuf";
import {
  CreateJobResponseSchema,
  EvaluateResponseSchema,
  GetJobResponseSchema,
} from "../gen/clavata/gateway/v1/gateway_pb.js";
import { bulkScenario } from "./bulk.js";
import {
  type BenchItem,
  type Contestant,
  type ContestantName,
  createContestant,
  type PreparedItems,
} from "./contestants.js";
import { GENERATED_DECODE_METRICS, generatedDecodeFigures } from "./generated-decode.js";
import { BENCH_JOB_UUID, encodedResponses, HOLD_POLICY_ID, JOB_RESULTS, REPORT_SECTIONS } from "./responses.js";

/** Whether a larger or a smaller figure is better. */
export type Better = "higher" | "lower";

/** One figure a scenario reports. */
export interface MetricSpec {
  readonly key: string;
  /** What it is, with its unit, as the table shows it. */
  readonly label: string;
  readonly better: Better;
}

/** What a measurement gets from the process that runs it. */
export interface MeasureContext {
  readonly name: ContestantName;
  /** Loads and makes the client (not called by scenarios that need none). */
  readonly contestant: () => Promise<Contestant>;
  /** Multiplies every count and size; 1 is the full bench, 0.002 the smoke test. */
  readonly scale: number;
  /** Called right before the timed part starts and right after it ends. */
  readonly mark: (phase: "start" | "end") => Promise<void>;
  /** The bench server's port on 127.0.0.1, for a scenario that makes a client of its own. */
  readonly port: number;
}

/** A scenario: its figures and how to measure them. */
export interface ScenarioSpec {
  readonly id: string;
  readonly title: string;
  readonly metrics: readonly MetricSpec[];
  /** Measure only this client, and why the others are left out. Default: every client. */
  readonly only?: { readonly contestant: ContestantName; readonly why: string };
  /** Runs one measurement; rejects when a client gives a wrong answer or fails. */
  run(context: MeasureContext): Promise<Record<string, number>>;
}

/** The most items any scenario sends in one stream at scale 1; the server precomputes that many answers. */
export const MAX_STREAM_ITEMS = 10_000;

const TEXT =
  "Honestly the moderators here are useless, this thread is full of spam links and nobody does anything. " +
  "Check out my profile for a limited offer, only today, click the link in bio!!";

function scaled(n: number, scale: number, min = 1): number {
  return Math.max(min, Math.round(n * scale));
}

function textItems(count: number): BenchItem[] {
  return Array.from({ length: count }, (_, i) => ({ id: String(i), text: TEXT }));
}

function cpuMicros(usage: NodeJS.CpuUsage): number {
  return usage.user + usage.system;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  collect?.();
}

/** Checks that the client's answers are the bench server's: every item answered, full reports, the right job. */
async function checkAnswers(c: Contestant): Promise<void> {
  const items = c.prepare(textItems(3));
  const ids = new Set<string>();
  for await (const result of c.evaluate(items)) {
    const { id, sections } = c.describeResult(result);
    if (id === undefined || sections !== REPORT_SECTIONS) {
      throw new Error(
        `${c.name}: Evaluate answered with id ${String(id)} and ${String(sections)} sections; expected ${String(REPORT_SECTIONS)}`,
      );
    }
    ids.add(id);
  }
  if (ids.size !== 3) throw new Error(`${c.name}: Evaluate answered ${String(ids.size)} of 3 items`);
  const job = c.describeJob(await c.getJob(BENCH_JOB_UUID));
  if (job.uuid !== BENCH_JOB_UUID || job.results !== JOB_RESULTS) {
    throw new Error(`${c.name}: GetJob answered job ${String(job.uuid)} with ${String(job.results)} results`);
  }
  const created = c.describeJob(await c.createJob(c.prepare(textItems(1))));
  if (created.uuid !== BENCH_JOB_UUID) throw new Error(`${c.name}: CreateJob answered job ${String(created.uuid)}`);
}

/** Runs `streams` Evaluate streams at once and counts every result; resolves with the count. */
async function drainStreams(c: Contestant, prepared: readonly PreparedItems[]): Promise<number> {
  let count = 0;
  let matched = 0;
  await Promise.all(
    prepared.map(async (items) => {
      for await (const result of c.evaluate(items)) {
        count++;
        if (c.matched(result)) matched++;
      }
    }),
  );
  if (matched !== count) throw new Error(`${c.name}: ${String(count - matched)} results lost their outcome`);
  return count;
}

function streamScenario(id: string, title: string, streams: number, itemsPerStream: number): ScenarioSpec {
  return {
    id,
    title,
    metrics: [
      { key: "resultsPerSec", label: "results/s", better: "higher" },
      { key: "cpuUsPerResult", label: "client CPU µs/result", better: "lower" },
    ],
    async run({ contestant, scale, mark }) {
      const c = await contestant();
      await checkAnswers(c);
      const perStream = scaled(itemsPerStream, scale);
      const prepared = Array.from({ length: streams }, () => c.prepare(textItems(perStream)));
      const warmup = Array.from({ length: streams }, () => c.prepare(textItems(Math.ceil(perStream / 5))));
      await drainStreams(c, warmup);
      gc();
      await mark("start");
      const cpu = process.cpuUsage();
      const started = performance.now();
      const count = await drainStreams(c, prepared);
      const ms = performance.now() - started;
      const cpuUs = cpuMicros(process.cpuUsage(cpu));
      await mark("end");
      if (count !== streams * perStream)
        throw new Error(`${c.name}: ${String(count)} of ${String(streams * perStream)} results arrived`);
      await c.close();
      return { resultsPerSec: (count / ms) * 1000, cpuUsPerResult: cpuUs / count };
    },
  };
}

function unaryScenario(
  id: string,
  title: string,
  method: "getJob" | "createJob",
  concurrency: number,
  calls: number,
): ScenarioSpec {
  return {
    id,
    title,
    metrics: [
      { key: "callsPerSec", label: "calls/s", better: "higher" },
      { key: "p50Ms", label: "latency p50 ms", better: "lower" },
      { key: "p99Ms", label: "latency p99 ms", better: "lower" },
      { key: "cpuUsPerCall", label: "client CPU µs/call", better: "lower" },
    ],
    async run({ contestant, scale, mark }) {
      const c = await contestant();
      await checkAnswers(c);
      const item = c.prepare(textItems(1));
      const call = method === "getJob" ? () => c.getJob(BENCH_JOB_UUID) : () => c.createJob(item);
      const runCalls = async (total: number, latencies?: Float64Array) => {
        let next = 0;
        const worker = async () => {
          while (next < total) {
            const i = next++;
            const t = performance.now();
            await call();
            if (latencies !== undefined) latencies[i] = performance.now() - t;
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
      };
      const total = scaled(calls, scale, concurrency);
      await runCalls(Math.ceil(total / 4));
      gc();
      const latencies = new Float64Array(total);
      await mark("start");
      const cpu = process.cpuUsage();
      const started = performance.now();
      await runCalls(total, latencies);
      const ms = performance.now() - started;
      const cpuUs = cpuMicros(process.cpuUsage(cpu));
      await mark("end");
      await c.close();
      latencies.sort();
      return {
        callsPerSec: (total / ms) * 1000,
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
        cpuUsPerCall: cpuUs / total,
      };
    },
  };
}

const memoryScenario: ScenarioSpec = {
  id: "memory-1000-streams",
  title: "1,000 concurrent open Evaluate streams",
  metrics: [
    { key: "rssGrowthMiB", label: "RSS growth MiB", better: "lower" },
    { key: "heapGrowthMiB", label: "JS heap growth MiB", better: "lower" },
    { key: "openMs", label: "ms until all open", better: "lower" },
  ],
  async run({ contestant, scale, mark }) {
    const c = await contestant();
    await checkAnswers(c);
    const held = c.prepare([{ id: "held", text: TEXT }]);
    const open = async (n: number) => {
      const iterators = Array.from({ length: n }, () => c.evaluate(held, HOLD_POLICY_ID)[Symbol.asyncIterator]());
      const firsts = await Promise.all(iterators.map((it) => it.next()));
      for (const first of firsts) {
        if (first.done === true || !c.matched(first.value)) throw new Error(`${c.name}: a held stream gave no result`);
      }
      return iterators;
    };
    const cancel = (iterators: Array<AsyncIterator<unknown>>) => Promise.all(iterators.map((it) => it.return?.()));
    await cancel(await open(20));
    const streams = scaled(1000, scale, 2);
    gc();
    const before = process.memoryUsage();
    await mark("start");
    const started = performance.now();
    const iterators = await open(streams);
    const ms = performance.now() - started;
    await mark("end");
    gc();
    const after = process.memoryUsage();
    await cancel(iterators);
    await c.close();
    const MiB = 1024 * 1024;
    return {
      rssGrowthMiB: (after.rss - before.rss) / MiB,
      heapGrowthMiB: (after.heapUsed - before.heapUsed) / MiB,
      openMs: ms,
    };
  },
};

function imageBytes(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  // Random-looking bytes after a PNG signature: nothing on the way can shrink them.
  let x = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return bytes;
}

const uploadScenario: ScenarioSpec = {
  id: "upload-8mib",
  title: "Evaluate one 8 MiB image, 3 in a row",
  metrics: [
    { key: "mbPerSec", label: "upload MB/s", better: "higher" },
    { key: "cpuMsPerUpload", label: "client CPU ms/upload", better: "lower" },
  ],
  async run({ contestant, scale, mark }) {
    const c = await contestant();
    await checkAnswers(c);
    const size = scaled(8 * 1024 * 1024, scale, 64 * 1024);
    const uploads = 3;
    const image = c.prepare([{ id: "upload", image: imageBytes(size) }]);
    const upload = async () => {
      let results = 0;
      for await (const result of c.evaluate(image)) if (c.matched(result)) results++;
      if (results !== 1) throw new Error(`${c.name}: the upload got ${String(results)} results`);
    };
    await upload();
    gc();
    await mark("start");
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < uploads; i++) await upload();
    const ms = performance.now() - started;
    const cpuUs = cpuMicros(process.cpuUsage(cpu));
    await mark("end");
    await c.close();
    return { mbPerSec: (size * uploads) / 1e6 / (ms / 1000), cpuMsPerUpload: cpuUs / 1000 / uploads };
  },
};

/** Decodes `bytes` with `decode` `n` times (after a warm-up) and returns µs per decode. */
function decodeMicros(n: number, bytes: Uint8Array, decode: (bytes: Uint8Array) => unknown): number {
  let sink = 0;
  const loop = (count: number) => {
    for (let i = 0; i < count; i++) if (decode(bytes) !== undefined) sink++;
  };
  loop(Math.ceil(n / 4));
  const started = performance.now();
  loop(n);
  const ms = performance.now() - started;
  if (sink === 0) throw new Error("nothing was decoded");
  return (ms * 1000) / n;
}

const floorScenario: ScenarioSpec = {
  id: "decode-floor",
  title: "protobuf-es and generated decode of the same answers in a loop, no client: the floor of our client's CPU",
  metrics: [
    { key: "evaluateDecodeUs", label: "EvaluateResponse decode µs", better: "lower" },
    { key: "getJobDecodeUs", label: "GetJobResponse decode µs", better: "lower" },
    { key: "createJobDecodeUs", label: "CreateJobResponse decode µs", better: "lower" },
    ...GENERATED_DECODE_METRICS,
  ],
  only: {
    contestant: "ours",
    why: "@clavata/sdk exports no codec",
  },
  async run({ scale, mark }) {
    const bytes = encodedResponses();
    const n = scaled(20_000, scale, 20);
    gc();
    await mark("start");
    const figures = {
      evaluateDecodeUs: decodeMicros(n, bytes.evaluate, (b) => fromBinary(EvaluateResponseSchema, b)),
      getJobDecodeUs: decodeMicros(Math.ceil(n / JOB_RESULTS), bytes.getJob, (b) =>
        fromBinary(GetJobResponseSchema, b),
      ),
      createJobDecodeUs: decodeMicros(n, bytes.createJob, (b) => fromBinary(CreateJobResponseSchema, b)),
    };
    const generated = generatedDecodeFigures(n, bytes, decodeMicros);
    await mark("end");
    return { ...figures, ...generated };
  },
};

/** Every scenario, in the order the table shows them. */
export const SCENARIOS: readonly ScenarioSpec[] = [
  streamScenario("evaluate-1x10000", "Evaluate, 1 stream of 10,000 items", 1, MAX_STREAM_ITEMS),
  streamScenario("evaluate-64x100", "Evaluate, 64 concurrent streams of 100 items", 64, 100),
  unaryScenario("getjob-c1", "GetJob (completed, 10 results), concurrency 1", "getJob", 1, 300),
  unaryScenario("getjob-c64", "GetJob (completed, 10 results), concurrency 64", "getJob", 64, 1_280),
  unaryScenario("createjob-c1", "CreateJob (1 text item), concurrency 1", "createJob", 1, 800),
  unaryScenario("createjob-c64", "CreateJob (1 text item), concurrency 64", "createJob", 64, 3_200),
  memoryScenario,
  uploadScenario,
  floorScenario,
  bulkScenario,
];

/** One measurement: which scenario, which client, the bench server's port, the scale. */
export interface MeasureJob {
  readonly scenario: string;
  readonly contestant: ContestantName;
  readonly port: number;
  readonly scale: number;
}

/**
 * Runs one measurement in this process and resolves with its figures. `mark` is called right before and right
 * after the timed part. Rejects for an unknown scenario, a wrong answer or a client failure.
 */
export function runMeasurement(job: MeasureJob, mark: MeasureContext["mark"]): Promise<Record<string, number>> {
  const scenario = SCENARIOS.find((s) => s.id === job.scenario);
  if (scenario === undefined) return Promise.reject(new Error(`unknown scenario "${job.scenario}"`));
  return scenario.run({
    name: job.contestant,
    contestant: () => createContestant(job.contestant, job.port),
    scale: job.scale,
    mark,
    port: job.port,
  });
}

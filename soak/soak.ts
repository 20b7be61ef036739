// `npm run soak`: client.evaluateBatch against the emulator with faults, at scale. 100,000 items from an async
// generator over 16 streams, with ≈ 5 % of streams failing UNAVAILABLE before their first result, ≈ 1 % reset after
// some results, and ≈ 1 % of items refused. It checks, and exits 1 unless:
//
// - every input index has exactly one outcome (and, with --ordered, in input order);
// - every refused item is one the emulator refuses, with its reason and content hash, and every failed item used
//   all its attempts (only injected faults fail items here);
// - no item was evaluated more times than its attempts allow, by the emulator's own log of evaluated content;
// - the resident set of this process (the SDK's side: the emulator runs in a child process) grew by less than
//   100 MiB over the run, after a warm-up batch under the same faults;
// - after close() the process exits by itself (nothing is left holding the event loop; `npm run soak` would hang).
//
//   node dist-soak/soak/soak.js [--items N] [--concurrency N] [--ordered] [--both] [--seed N] [--json]
//     [--unavailable-rate X] [--reset-rate X]

import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Code } from "@connectrpc/connect";
import { contentHash } from "../src/content-hash.js";
import { startEmulator } from "../src/emulator/index.js";
import {
  type BatchOutcome,
  type BatchSummary,
  ClavataClient,
  type ContentDataInit,
  imageContent,
  RefusalReason,
  textContent,
} from "../src/index.js";

/** What a soak run does. */
export interface SoakSettings {
  /** Items in the batch. Default 100,000. */
  items: number;
  /** Streams at once. Default 16. */
  concurrency: number;
  /** Yield in input order. Default false. */
  ordered: boolean;
  /** The seed of the emulator's random faults. Default 1. */
  seed: number;
  /** The share of streams that fail UNAVAILABLE before their first result. Default 0.05. */
  unavailableRate: number;
  /** The share of streams that are reset after some results. Default 0.01. */
  resetRate: number;
  /** Most sends per item. Default 3. */
  maxAttempts: number;
  /** Run the emulator in this process instead of a child (for the test suite; RSS then counts it too). */
  emulatorInProcess?: boolean;
}

/** What a soak run saw; `problems` is empty when every check held. */
export interface SoakReport {
  settings: SoakSettings;
  summary: BatchSummary;
  /** Evaluate calls the emulator counted. */
  emulatorCalls: number;
  /** Items refused. */
  refused: number;
  /**
   * Items the emulator refuses that ended `failed` instead: every send of them met a fault before the gateway could
   * refuse them. `refused + refusableFailed` is every refusable item.
   */
  refusableFailed: number;
  /** Failed items by their error (name and message): what the faults left after every attempt. */
  failures: Record<string, number>;
  /** Items the emulator evaluated more than once (each billed again on a real gateway). */
  evaluatedTwiceOrMore: number;
  /** The most times one item was evaluated. */
  mostEvaluations: number;
  /** Resident set growth over the run, in MiB (peak minus the baseline after a warm-up). */
  rssGrowthMiB: number;
  elapsedSeconds: number;
  problems: string[];
}

/** The default settings: the issue's soak. */
export const DEFAULT_SOAK: SoakSettings = {
  items: 100_000,
  concurrency: 16,
  ordered: false,
  seed: 1,
  unavailableRate: 0.05,
  resetRate: 0.01,
  maxAttempts: 3,
};

const GIF_HEADER = Buffer.from("R0lGODlhAQABAAAAACw=", "base64");

/** Item i's kind: ≈ 1 % are refused, half as blocked (CSAM) text, half as GIF images. */
function kindOf(i: number): "text" | "blocked" | "gif" {
  if (i % 200 === 37) return "blocked";
  if (i % 200 === 137) return "gif";
  return "text";
}

function textOf(i: number): string {
  return kindOf(i) === "blocked" ? `soak blocked ${i}` : `soak item ${i}: see you at practice tomorrow`;
}

/** The bytes item i is hashed from: its text, or its GIF (unique per item). */
function bytesOf(i: number): Uint8Array {
  if (kindOf(i) === "gif") return Buffer.concat([GIF_HEADER, Buffer.from(String(i))]);
  return Buffer.from(textOf(i), "utf8");
}

/** Items `first` to `first + n - 1`; the warm-up uses items past the end of the measured ones. */
async function* soakItems(n: number, first = 0): AsyncGenerator<ContentDataInit> {
  for (let i = first; i < first + n; i++) {
    const metadata = { id: `soak-${i}` };
    yield kindOf(i) === "gif" ? imageContent(bytesOf(i), { metadata }) : textContent(textOf(i), { metadata });
  }
}

const MiB = 1024 * 1024;

/**
 * Runs one soak against an emulator of its own and closes everything it opened. Resolves with what it saw; the
 * checks that failed are in `problems`.
 */
export async function runSoak(overrides: Partial<SoakSettings> = {}): Promise<SoakReport> {
  const settings = { ...DEFAULT_SOAK, ...overrides };
  const emulator = settings.emulatorInProcess
    ? await startSoakEmulator(settings)
    : await startEmulatorProcess(settings);
  const client = new ClavataClient({ baseUrl: emulator.url, insecure: true, apiKey: "sk-soak" });
  const problems: string[] = [];
  try {
    // Warm up under the same faults (connection, JIT, the heap's working size) before the baseline.
    const warmItems = Math.min(5_000, Math.ceil(settings.items / 10));
    for await (const _ of client.evaluateBatch(soakItems(warmItems, settings.items), {
      policyId: "policy-violence",
      concurrency: settings.concurrency,
    })) {
      // only warming up
    }
    const before = await emulator.log();
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;

    const seen = new Uint8Array(settings.items);
    let next = 0;
    let refused = 0;
    let refusableFailed = 0;
    const failures: Record<string, number> = {};
    const started = performance.now();
    const batch = client.evaluateBatch(soakItems(settings.items), {
      policyId: "policy-violence",
      concurrency: settings.concurrency,
      ordered: settings.ordered,
      maxAttempts: settings.maxAttempts,
    });
    for await (const outcome of batch) {
      check(outcome, settings, seen, problems);
      if (settings.ordered && outcome.index !== next && problems.length < 20) {
        problems.push(`ordered: index ${outcome.index} came where ${next} was due`);
      }
      next++;
      if (outcome.kind === "refused") refused++;
      if (outcome.kind === "failed") {
        if (kindOf(outcome.index) !== "text") refusableFailed++;
        const what = `${outcome.error.name}: ${outcome.error.message}`;
        failures[what] = (failures[what] ?? 0) + 1;
      }
      if ((next & 1023) === 0) peak = Math.max(peak, process.memoryUsage().rss);
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    const elapsedSeconds = (performance.now() - started) / 1000;

    const missing = seen.reduce((n, v) => n + (v === 0 ? 1 : 0), 0);
    if (missing > 0) problems.push(`${missing} input indices got no outcome`);
    const summary = batch.summary;
    if (summary.total !== settings.items) problems.push(`the summary counts ${summary.total} outcomes`);
    const after = await emulator.log();
    const emulatorCalls = after.calls - before.calls;
    if (emulatorCalls !== summary.streams) {
      problems.push(`the emulator counted ${emulatorCalls} Evaluate calls, the batch ${summary.streams} streams`);
    }
    // The emulator's log of evaluated content: no item evaluated more often than its attempts allow.
    let evaluatedTwiceOrMore = 0;
    let mostEvaluations = 0;
    for (let i = 0; i < settings.items; i++) {
      const hash = contentHash(bytesOf(i));
      const times = (after.evaluations[hash] ?? 0) - (before.evaluations[hash] ?? 0);
      mostEvaluations = Math.max(mostEvaluations, times);
      if (times > 1) evaluatedTwiceOrMore++;
      if (times > settings.maxAttempts && problems.length < 20) {
        problems.push(`item ${i} was evaluated ${times} times; at most ${settings.maxAttempts} are allowed`);
      }
      if (kindOf(i) !== "text" && times > 0 && problems.length < 20) {
        problems.push(`refused item ${i} was evaluated`);
      }
    }
    const rssGrowthMiB = (peak - baseline) / MiB;
    if (rssGrowthMiB >= 100) problems.push(`RSS grew by ${rssGrowthMiB.toFixed(1)} MiB (limit 100)`);
    return {
      settings,
      summary,
      emulatorCalls,
      refused,
      refusableFailed,
      failures,
      evaluatedTwiceOrMore,
      mostEvaluations,
      rssGrowthMiB,
      elapsedSeconds,
      problems,
    };
  } finally {
    await client.close();
    await emulator.close();
  }
}

function check(outcome: BatchOutcome, settings: SoakSettings, seen: Uint8Array, problems: string[]): void {
  const i = outcome.index;
  const report = (problem: string) => {
    if (problems.length < 20) problems.push(`item ${i}: ${problem}`);
  };
  if (!Number.isInteger(i) || i < 0 || i >= settings.items) {
    report("an index outside the input");
    return;
  }
  if (seen[i] !== 0) {
    report("a second outcome");
    return;
  }
  seen[i] = 1;
  if (outcome.id !== `soak-${i}`) report(`id ${String(outcome.id)}`);
  if (outcome.attempts > settings.maxAttempts) report(`${outcome.attempts} attempts`);
  const kind = kindOf(i);
  if (outcome.kind === "refused") {
    const reason = kind === "blocked" ? RefusalReason.CSAM : RefusalReason.UNSUPPORTED_FORMAT;
    if (kind === "text") {
      report("refused, but the emulator accepts it");
      return;
    }
    if (outcome.refusal.reason !== reason) report(`refused for ${outcome.refusal.reason}, not ${reason}`);
    if (outcome.refusal.contentHash !== contentHash(bytesOf(i))) report("refused with another item's hash");
  } else if (outcome.kind === "failed") {
    // Only faults end an item as failed here, and only once its sends are used up (resending is on).
    if (outcome.attempts !== settings.maxAttempts) report(`failed after ${outcome.attempts} attempts`);
  } else if (kind !== "text" && outcome.kind === "result") {
    report("evaluated, but the emulator refuses it");
  } else if (outcome.kind === "result") {
    if (outcome.result.contentHash !== contentHash(bytesOf(i))) report("the result of another item");
  }
}

/** The emulator, in a child process so that its memory is not the SDK's. */
interface EmulatorProcess {
  url: string;
  /** Evaluate calls so far, and how many times each content hash was evaluated. */
  log(): Promise<{ calls: number; evaluations: Record<string, number> }>;
  close(): Promise<void>;
}

type ChildMessage =
  | { type: "ready"; url: string }
  | { type: "log"; calls: number; evaluations: Record<string, number> };

async function startEmulatorProcess(settings: SoakSettings): Promise<EmulatorProcess> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ["--emulator-child", JSON.stringify(settings)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const next = async <T extends ChildMessage["type"]>(type: T) => {
    const [message] = (await once(child, "message")) as [ChildMessage];
    if (message.type !== type) throw new Error(`soak: the emulator process sent ${message.type}, not ${type}`);
    return message as Extract<ChildMessage, { type: T }>;
  };
  const { url } = await next("ready");
  return {
    url,
    async log() {
      child.send("log");
      const { calls, evaluations } = await next("log");
      return { calls, evaluations };
    },
    async close() {
      const exited = once(child, "exit");
      child.send("close");
      await exited;
    },
  };
}

/** An emulator with the soak's faults and refusals, and its log. */
async function startSoakEmulator(settings: SoakSettings): Promise<EmulatorProcess> {
  const emulator = await startEmulator({
    logger: false,
    recordEvaluations: true,
    faults: [
      {
        kind: "random",
        method: "Evaluate",
        probability: settings.unavailableRate,
        fault: { kind: "fail", code: Code.Unavailable },
        seed: settings.seed,
      },
      {
        kind: "random",
        method: "Evaluate",
        probability: settings.resetRate,
        fault: { kind: "cutStream", after: [1, 50] },
        seed: settings.seed + 1,
      },
    ],
  });
  // The warm-up's items follow the measured ones.
  const total = settings.items + Math.min(5_000, Math.ceil(settings.items / 10));
  for (let i = 0; i < total; i++) if (kindOf(i) === "blocked") emulator.engine.blockHash(contentHash(bytesOf(i)));
  return {
    url: emulator.url,
    log: async () => ({ calls: emulator.calls.Evaluate, evaluations: Object.fromEntries(emulator.evaluations) }),
    close: () => emulator.close(),
  };
}

/** The child's side: the soak's emulator, answering "log" and "close". */
async function emulatorChild(settings: SoakSettings): Promise<void> {
  const emulator = await startSoakEmulator(settings);
  process.on("message", (message) => {
    if (message === "log") {
      void emulator.log().then((log) => process.send!({ type: "log", ...log } satisfies ChildMessage));
    } else if (message === "close") {
      void emulator.close().then(() => process.disconnect());
    }
  });
  process.send!({ type: "ready", url: emulator.url } satisfies ChildMessage);
}

function parseArgs(argv: string[]): { settings: Partial<SoakSettings>; both: boolean; json: boolean } {
  const settings: Partial<SoakSettings> = {};
  let both = false;
  let json = false;
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k]!;
    const value = () => {
      const v = Number(argv[++k]);
      if (!Number.isFinite(v)) throw new Error(`${arg} needs a number`);
      return v;
    };
    if (arg === "--items") settings.items = value();
    else if (arg === "--concurrency") settings.concurrency = value();
    else if (arg === "--seed") settings.seed = value();
    else if (arg === "--unavailable-rate") settings.unavailableRate = value();
    else if (arg === "--reset-rate") settings.resetRate = value();
    else if (arg === "--ordered") settings.ordered = true;
    else if (arg === "--both") both = true;
    else if (arg === "--json") json = true;
    else throw new Error(`unknown argument ${arg}; see the header of soak/soak.ts`);
  }
  return { settings, both, json };
}

function describe(report: SoakReport): string {
  const s = report.summary;
  const lines = [
    `soak ${report.settings.ordered ? "ordered" : "completion order"}: ${s.total} items in ${report.elapsedSeconds.toFixed(1)} s (${s.itemsPerSecond.toFixed(0)} items/s), concurrency ${report.settings.concurrency}`,
    `  outcomes: ${s.results} results, ${s.refused} refused (${Object.entries(s.refusalsByReason)
      .map(([r, n]) => `${r} ${n}`)
      .join(", ")}), ${s.failed} failed (${report.refusableFailed} of them refusable items that met only faults)`,
    `  streams: ${s.streams} (emulator: ${report.emulatorCalls}), resends: ${s.resends}; evaluated twice or more: ${report.evaluatedTwiceOrMore} items, at most ${report.mostEvaluations} times`,
    ...Object.entries(report.failures).map(([what, n]) => `  failed: ${n} × ${what}`),
    `  RSS growth: ${report.rssGrowthMiB.toFixed(1)} MiB`,
    report.problems.length === 0
      ? "  every check held"
      : `  PROBLEMS:\n${report.problems.map((p) => `    ${p}`).join("\n")}`,
  ];
  return lines.join("\n");
}

async function main(): Promise<void> {
  if (process.argv[2] === "--emulator-child") return emulatorChild(JSON.parse(process.argv[3]!) as SoakSettings);
  const { settings, both, json } = parseArgs(process.argv.slice(2));
  const runs = both
    ? [
        { ...settings, ordered: false },
        { ...settings, ordered: true },
      ]
    : [settings];
  let failed = false;
  for (const run of runs) {
    const report = await runSoak(run);
    console.log(json ? JSON.stringify(report) : describe(report));
    if (report.problems.length > 0) failed = true;
  }
  // No process.exit(): the process must end by itself once everything is closed.
  if (failed) process.exitCode = 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

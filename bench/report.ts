// The bench report: the medians of every round, the ratio ours / theirs with
// which way is better, how close our client is to the cost of decoding alone,
// and the two renderings, a table for people and JSON for machines.

import { CONTESTANT_LABELS, type ContestantName, type DiagnosticName } from "./contestants.js";
import type { Better, ScenarioSpec } from "./scenarios.js";

/** One measurement: one scenario, one client, one round, in its own process. */
export interface MeasurementRecord {
  readonly scenario: string;
  readonly contestant: ContestantName;
  readonly round: number;
  readonly metrics: Record<string, number>;
  /** The bench server's CPU time over the timed part, as a share of one core (1 = one core busy); null in-process. */
  readonly serverCpuShare: number | null;
  /** The bench server's garbage collection over the timed part; null in-process. */
  readonly serverGc: ServerGc | null;
}

/** The bench server's garbage-collection pauses over one timed part. */
export interface ServerGc {
  /** Milliseconds paused. */
  readonly ms: number;
  /** Pauses of 4 ms or more (server.ts, LONG_GC_PAUSE_MS). */
  readonly longPauses: number;
  /** The longest pause. */
  readonly longestMs: number;
}

/** One client's figure for a metric: the median of its rounds, or why it has none. */
export type ContestantFigure = { median: number; samples: number[] } | { unsupported: string };

/** One metric of one scenario, for both clients. */
export interface MetricSummary {
  readonly key: string;
  readonly label: string;
  readonly better: Better;
  readonly ours: ContestantFigure;
  readonly theirs: ContestantFigure;
  /** The diagnostic client (`--with-connect` or `--with-http2`), when one ran. */
  readonly diagnostic?: ContestantFigure;
  /** ours / theirs of the medians; null when either has no figure or one is not positive. */
  readonly ratio: number | null;
  /** "better", "worse" or "same" (within 3 %) for our client; "n/a" without a ratio. */
  readonly verdict: "better" | "worse" | "same" | "n/a";
  /** The largest (max - min) / median of the two clients' rounds: how noisy the figure is. */
  readonly spread: number | null;
}

/** One scenario's figures. */
export interface ScenarioSummary {
  readonly id: string;
  readonly title: string;
  readonly metrics: readonly MetricSummary[];
  /** The median server CPU share over each client's timed parts (null: not measured, as with --in-process). */
  readonly serverCpuShare: Readonly<Partial<Record<ContestantName, number | null>>>;
  /** Per client, the medians of the server's GC figures over its timed parts (null: not measured). */
  readonly serverGc: Readonly<Partial<Record<ContestantName, ServerGc | null>>>;
}

/** How our client's CPU per result or call compares with decoding that message alone. */
export interface FloorComparison {
  readonly scenario: string;
  readonly message: string;
  /** Our client's CPU per result or call, µs. */
  readonly clientUs: number;
  /** protobuf-es decode of the same message, µs. */
  readonly decodeUs: number;
  /** clientUs / decodeUs. */
  readonly times: number;
}

/** What `npm run bench -- --json` prints. */
export interface BenchReport {
  readonly command: string;
  readonly startedAt: string;
  readonly durationSec: number;
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly memoryGiB: number;
    readonly os: string;
    readonly node: string;
  };
  readonly versions: Readonly<Record<string, string>>;
  readonly settings: {
    readonly rounds: number;
    readonly scale: number;
    readonly jobs: number;
    readonly inProcess: boolean;
    /** The diagnostic client that ran beside the two, if any. */
    readonly diagnostic: DiagnosticName | null;
    /** Whether the bench's lean gRPC responder served instead of Connect-node's server (--lean-server). */
    readonly leanServer: boolean;
    readonly order: string;
  };
  readonly scenarios: readonly ScenarioSummary[];
  readonly floor: readonly FloorComparison[];
  readonly measurements: readonly MeasurementRecord[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function figureOf(records: readonly MeasurementRecord[], key: string): ContestantFigure {
  const samples: number[] = [];
  for (const record of records) {
    const value = record.metrics[key];
    if (value !== undefined) samples.push(value);
  }
  if (samples.length === 0) return { unsupported: "not measured" };
  return { median: median(samples), samples };
}

function spreadOf(figure: ContestantFigure): number | null {
  if (!("median" in figure) || figure.median === 0) return null;
  return (Math.max(...figure.samples) - Math.min(...figure.samples)) / Math.abs(figure.median);
}

/**
 * Summarises the measurements of `scenarios`: medians per client, ratios, verdicts and spreads. `diagnostic` adds
 * that diagnostic client's figures.
 */
export function summarise(
  scenarios: readonly ScenarioSpec[],
  records: readonly MeasurementRecord[],
  diagnostic?: DiagnosticName,
): ScenarioSummary[] {
  return scenarios.map((scenario) => {
    const of = (name: ContestantName) => records.filter((r) => r.scenario === scenario.id && r.contestant === name);
    const metrics = scenario.metrics.map((metric): MetricSummary => {
      const figure = (name: ContestantName): ContestantFigure =>
        scenario.only !== undefined && scenario.only.contestant !== name
          ? { unsupported: scenario.only.why }
          : figureOf(of(name), metric.key);
      const ours = figure("ours");
      const theirs = figure("theirs");
      let ratio: number | null = null;
      let verdict: MetricSummary["verdict"] = "n/a";
      // A growth at or below zero (noise at tiny sizes) has no meaningful ratio.
      if ("median" in ours && "median" in theirs && ours.median > 0 && theirs.median > 0) {
        ratio = ours.median / theirs.median;
        const gain = metric.better === "higher" ? ratio : 1 / ratio;
        verdict = Math.abs(gain - 1) <= 0.03 ? "same" : gain > 1 ? "better" : "worse";
      }
      const spreads = [spreadOf(ours), spreadOf(theirs)].filter((s): s is number => s !== null);
      return {
        key: metric.key,
        label: metric.label,
        better: metric.better,
        ours,
        theirs,
        ...(diagnostic === undefined ? {} : { diagnostic: figure(diagnostic) }),
        ratio,
        verdict,
        spread: spreads.length > 0 ? Math.max(...spreads) : null,
      };
    });
    const share = (name: ContestantName) => {
      const values = of(name).flatMap((r) => (r.serverCpuShare === null ? [] : [r.serverCpuShare]));
      return values.length > 0 ? median(values) : null;
    };
    const serverCpuShare: Partial<Record<ContestantName, number | null>> = {
      ours: share("ours"),
      theirs: share("theirs"),
    };
    if (diagnostic !== undefined) serverCpuShare[diagnostic] = share(diagnostic);
    const gcOf = (name: ContestantName): ServerGc | null => {
      const values = of(name).flatMap((r) => (r.serverGc === null ? [] : [r.serverGc]));
      if (values.length === 0) return null;
      return {
        ms: median(values.map((v) => v.ms)),
        longPauses: median(values.map((v) => v.longPauses)),
        longestMs: median(values.map((v) => v.longestMs)),
      };
    };
    const serverGc: Partial<Record<ContestantName, ServerGc | null>> = { ours: gcOf("ours"), theirs: gcOf("theirs") };
    if (diagnostic !== undefined) serverGc[diagnostic] = gcOf(diagnostic);
    return { id: scenario.id, title: scenario.title, metrics, serverCpuShare, serverGc };
  });
}

/** Compares our client's CPU per result or call with the decode floor, for every scenario measured with both. */
export function floorComparisons(summaries: readonly ScenarioSummary[]): FloorComparison[] {
  const oursMedian = (scenario: string, key: string): number | undefined => {
    const figure = summaries.find((s) => s.id === scenario)?.metrics.find((m) => m.key === key)?.ours;
    return figure !== undefined && "median" in figure ? figure.median : undefined;
  };
  const pairs: Array<[string, string, string, string]> = [
    ["evaluate-1x10000", "cpuUsPerResult", "evaluateDecodeUs", "EvaluateResponse"],
    ["evaluate-64x100", "cpuUsPerResult", "evaluateDecodeUs", "EvaluateResponse"],
    ["getjob-c1", "cpuUsPerCall", "getJobDecodeUs", "GetJobResponse"],
    ["getjob-c64", "cpuUsPerCall", "getJobDecodeUs", "GetJobResponse"],
    ["createjob-c1", "cpuUsPerCall", "createJobDecodeUs", "CreateJobResponse"],
    ["createjob-c64", "cpuUsPerCall", "createJobDecodeUs", "CreateJobResponse"],
  ];
  const out: FloorComparison[] = [];
  for (const [scenario, clientKey, decodeKey, message] of pairs) {
    const clientUs = oursMedian(scenario, clientKey);
    const decodeUs = oursMedian("decode-floor", decodeKey);
    if (clientUs === undefined || decodeUs === undefined) continue;
    out.push({ scenario, message, clientUs, decodeUs, times: clientUs / decodeUs });
  }
  return out;
}

/** Formats a figure with about three significant digits and thousands separators. */
export function formatNumber(value: number): string {
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(figure: ContestantFigure): string {
  return "median" in figure ? formatNumber(figure.median) : "n/a";
}

function verdictText(m: MetricSummary): string {
  if (m.ratio === null) {
    const reason =
      "unsupported" in m.theirs
        ? m.theirs.unsupported
        : "unsupported" in m.ours
          ? m.ours.unsupported
          : "a figure is not positive";
    return `n/a: ${reason}`;
  }
  // The change from theirs to ours, signed: "-28%" throughput is worse, "+27%" CPU is worse.
  const percent = Math.round((m.ratio - 1) * 100);
  const change = `${percent > 0 ? "+" : ""}${String(percent)}%`;
  if (m.verdict === "same") return `same (${change})`;
  return `${m.verdict === "better" ? "ours better" : "ours WORSE"} (${change})`;
}

function table(rows: string[][], rightAligned: ReadonlySet<number>): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Renders the report as the plain-text tables `npm run bench` prints. */
export function renderReport(report: BenchReport): string {
  const diagnostic = report.settings.diagnostic;
  const rows: string[][] = [
    [
      "scenario",
      "metric",
      CONTESTANT_LABELS.ours,
      CONTESTANT_LABELS.theirs,
      "ours/theirs",
      "spread",
      "verdict",
      ...(diagnostic === null ? [] : [`${CONTESTANT_LABELS[diagnostic]} (diagnostic)`, "ours/bare"]),
    ],
  ];
  for (const scenario of report.scenarios) {
    scenario.metrics.forEach((m, i) => {
      const row = [
        i === 0 ? scenario.id : "",
        `${m.label} (${m.better} is better)`,
        cell(m.ours),
        cell(m.theirs),
        m.ratio === null ? "n/a" : m.ratio.toFixed(2),
        m.spread === null ? "" : `±${String(Math.round((m.spread * 100) / 2))}%`,
        verdictText(m),
      ];
      if (diagnostic !== null) {
        const bare = m.diagnostic ?? { unsupported: "not measured" };
        row.push(cell(bare), "median" in m.ours && "median" in bare ? (m.ours.median / bare.median).toFixed(2) : "n/a");
      }
      rows.push(row);
    });
  }
  const lines = [
    `clavata-connect vs @clavata/sdk ${report.versions["@clavata/sdk"] ?? ""}: median of ${String(report.settings.rounds)} rounds` +
      `${report.settings.scale !== 1 ? ` at scale ${String(report.settings.scale)}` : ""}, ${report.settings.order}`,
    ...(report.settings.jobs > 1
      ? [
          `WARNING: ${String(report.settings.jobs)} measurements ran at once (--jobs): these figures only show that the bench runs`,
        ]
      : []),
    ...(report.settings.inProcess
      ? ["WARNING: server and clients shared one process (--in-process): these figures only show that the bench runs"]
      : []),
    ...(report.settings.leanServer
      ? ["Server: the bench's lean gRPC responder on node:http2 (--lean-server), not Connect-node's server"]
      : []),
    `${report.machine.cpu}, ${String(report.machine.cores)} cores, ${String(report.machine.memoryGiB)} GiB, ${report.machine.os}, Node ${report.machine.node}`,
    "",
    table(rows, new Set([2, 3, 4, 5])),
  ];
  if (report.floor.length > 0) {
    lines.push("", "Our client's CPU per result or call vs protobuf-es decoding the same message alone:");
    const floorRows = [["scenario", "message", "client CPU µs", "decode µs", "beyond decode µs", "client/decode"]];
    for (const f of report.floor) {
      floorRows.push([
        f.scenario,
        f.message,
        formatNumber(f.clientUs),
        formatNumber(f.decodeUs),
        formatNumber(f.clientUs - f.decodeUs),
        `${f.times.toFixed(2)}×`,
      ]);
    }
    lines.push(table(floorRows, new Set([2, 3, 4, 5])));
  }
  const shares = report.scenarios.filter((s) => s.id !== "decode-floor");
  if (shares.every((s) => Object.values(s.serverCpuShare).every((v) => v === null))) {
    lines.push("", `took ${report.durationSec.toFixed(0)} s`);
    return lines.join("\n");
  }
  lines.push(
    "",
    "Bench server CPU over the timed part (share of one core; near 1.00 means the server, not the client, set the pace):",
  );
  const contestants: ContestantName[] = ["ours", "theirs", ...(diagnostic === null ? [] : [diagnostic])];
  /** One row per scenario, one column per client, of a server figure; "n/a" where it was not measured. */
  const serverTable = <T>(
    of: (s: ScenarioSummary) => Readonly<Partial<Record<ContestantName, T | null>>>,
    format: (v: T) => string,
  ) =>
    table(
      [
        ["scenario", ...contestants.map((c) => CONTESTANT_LABELS[c])],
        ...shares.map((s) => [
          s.id,
          ...contestants.map((c) => {
            const v = of(s)[c];
            return v === null || v === undefined ? "n/a" : format(v);
          }),
        ]),
      ],
      new Set([1, 2, 3]),
    );
  lines.push(
    serverTable(
      (s) => s.serverCpuShare,
      (v) => v.toFixed(2),
    ),
  );
  lines.push(
    "",
    "Bench server garbage collection over the timed part (ms paused / pauses of 4 ms or more / longest pause ms; a long pause delays whichever calls are in flight):",
  );
  lines.push(
    serverTable(
      (s) => s.serverGc,
      (v) => `${v.ms.toFixed(0)} / ${v.longPauses.toFixed(0)} / ${v.longestMs.toFixed(1)}`,
    ),
  );
  lines.push("", `took ${report.durationSec.toFixed(0)} s`);
  return lines.join("\n");
}

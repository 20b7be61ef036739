// A smoke run of the benchmark (bench/, `npm run bench`) at tiny sizes, so that
// it cannot rot: every scenario runs for both clients against the bench server
// and yields every figure and ratio. It checks that the bench works, never how
// fast anything is. The real run is not part of the tests.

import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type BenchReport, renderReport } from "../../bench/report.js";
import { parseSettings, runBench } from "../../bench/run.js";
import { SCENARIOS } from "../../bench/scenarios.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

function checkFigures(report: BenchReport, scenarioIds: readonly string[]): void {
  expect(report.scenarios.map((s) => s.id)).toEqual(scenarioIds);
  for (const scenario of report.scenarios) {
    const spec = SCENARIOS.find((s) => s.id === scenario.id)!;
    expect(scenario.metrics.map((m) => m.key)).toEqual(spec.metrics.map((m) => m.key));
    for (const metric of scenario.metrics) {
      const where = `${scenario.id} ${metric.key}`;
      if (!("median" in metric.ours)) throw new Error(`${where}: our client has no figure: ${metric.ours.unsupported}`);
      expect(Number.isFinite(metric.ours.median), where).toBe(true);
      if (spec.only !== undefined) {
        // Only the decode floor is ours alone, and it says why.
        expect(metric.theirs, where).toEqual({ unsupported: spec.only.why });
        expect(metric.ratio, where).toBeNull();
        continue;
      }
      if (!("median" in metric.theirs))
        throw new Error(`${where}: the official client has no figure: ${metric.theirs.unsupported}`);
      expect(Number.isFinite(metric.theirs.median), where).toBe(true);
      // Memory growth can be zero or below at tiny sizes; every other figure is a positive rate, time or size.
      if (!metric.key.endsWith("GrowthMiB")) {
        expect(metric.ours.median, where).toBeGreaterThan(0);
        expect(metric.ratio, where).toBeCloseTo(metric.ours.median / metric.theirs.median, 6);
        expect(["better", "worse", "same"], where).toContain(metric.verdict);
      }
    }
  }
}

describe("bench smoke run", () => {
  it("runs every scenario for both clients in-process and reports every figure and ratio", async () => {
    const lines: string[] = [];
    const report = await runBench(parseSettings(["--in-process", "--rounds", "1", "--scale", "0.002"]), (line) =>
      lines.push(line),
    );
    checkFigures(
      report,
      SCENARIOS.map((s) => s.id),
    );
    // One measurement per client and scenario (the floor is ours alone), each reported as it finished.
    expect(lines).toHaveLength(SCENARIOS.length * 2 - 1);
    expect(report.versions["@clavata/sdk"]).toMatch(/^\d+\.\d+\.\d+/);

    const table = renderReport(report);
    expect(table).toContain("shared one process");
    for (const scenario of report.scenarios) {
      for (const metric of scenario.metrics) {
        if (metric.ratio !== null) expect(table).toContain(metric.ratio.toFixed(2));
      }
    }
    expect(JSON.parse(JSON.stringify(report))).toEqual(report);
    // Every scenario for both clients is a fixed amount of work; a loaded machine needs longer than the default limit.
  }, 120_000);

  it("runs compiled, with the server and each measurement in processes of their own", () => {
    // Compile bench/ (and the src/ and gen/ it imports) the way `npm run bench` does, without type checking.
    const out = join(root, "dist-bench", `smoke-${String(process.pid)}`);
    try {
      const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
      const compiled = spawnSync(process.execPath, [tsc, "-p", "bench/tsconfig.json", "--noCheck", "--outDir", out], {
        cwd: root,
        encoding: "utf8",
      });
      expect(compiled.stdout + compiled.stderr).toBe("");
      expect(compiled.status).toBe(0);

      const run = spawnSync(
        process.execPath,
        [
          join(out, "bench", "run.js"),
          "--json",
          "--rounds",
          "1",
          "--scale",
          "0.002",
          "--only",
          "getjob-c1,decode-floor",
        ],
        { cwd: root, encoding: "utf8", timeout: 60_000 },
      );
      expect(run.status, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as BenchReport;
      checkFigures(report, ["getjob-c1", "decode-floor"]);
      expect(report.settings.inProcess).toBe(false);
      // The forked server reports its CPU time around each timed part.
      for (const record of report.measurements) {
        expect(record.serverCpuShare).toBeGreaterThanOrEqual(0);
        // And its garbage collection over the same part.
        expect(record.serverGc?.longPauses).toBeGreaterThanOrEqual(0);
        expect(record.serverGc?.ms).toBeGreaterThanOrEqual(0);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    // A compile and two processes: on a loaded machine that takes longer than the default limit, never forever (the
    // run itself is killed after 60 s).
  }, 120_000);
});

// A smoke run of the bench's REST scenarios (bench/rest.ts) at a tiny scale, so that they cannot rot: both
// protocols answer every item and call correctly and yield a figure. It checks that the bench works, never how
// fast anything is.
import { describe, expect, it } from "vitest";
import { renderRestReport, runRestBench } from "../../bench/rest.js";

describe("bench REST scenarios smoke run", () => {
  it("measures evaluate and GetJob over gRPC and REST and reports every figure", async () => {
    const report = await runRestBench({ rounds: 1, scale: 0.01 });
    expect(report.scenarios.map((s) => s.id)).toEqual(["rest-evaluate-stream", "rest-get-job"]);
    for (const s of report.scenarios) {
      expect(Number.isFinite(s.grpc) && s.grpc > 0, s.id).toBe(true);
      expect(Number.isFinite(s.rest) && s.rest > 0, s.id).toBe(true);
    }
    expect(renderRestReport(report)).toContain("REST/gRPC");
  });
});

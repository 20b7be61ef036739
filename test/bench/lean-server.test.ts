// The bench's diagnostics: the lean gRPC responder (`--lean-server`) answers exactly what Connect-node's bench server
// answers, and the bare node:http2 client (`--with-http2`) measures beside the two clients. They check that the
// diagnostics work, never how fast anything is.

import { afterEach, describe, expect, it } from "vitest";
import { renderReport } from "../../bench/report.js";
import { BENCH_JOB_UUID, BENCH_POLICY_ID } from "../../bench/responses.js";
import { parseSettings, runBench } from "../../bench/run.js";
import { startBenchServer } from "../../bench/server.js";
import { ClavataClient, textContent } from "../../src/index.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function answersOf(lean: boolean) {
  const server = await startBenchServer({ lean });
  cleanup.push(() => server.close());
  const client = new ClavataClient({ apiKey: "bench-api-key", baseUrl: server.url, insecure: true });
  cleanup.push(() => client.close());
  const items = ["a", "b", "c"].map((id) => textContent("some text", { metadata: { id } }));
  const results = [];
  for await (const result of client.evaluate({ policyId: BENCH_POLICY_ID, contentData: items })) results.push(result);
  return {
    results: results.sort((x, y) =>
      String(x.policyEvaluationReport?.contentMetadata.id).localeCompare(
        String(y.policyEvaluationReport?.contentMetadata.id),
      ),
    ),
    job: await client.getJob(BENCH_JOB_UUID),
    created: await client.createJob({ policyId: BENCH_POLICY_ID, contentData: [textContent("x")] }),
  };
}

describe("bench diagnostics", () => {
  it("the lean responder answers Evaluate, GetJob and CreateJob as Connect-node's bench server does", async () => {
    const lean = await answersOf(true);
    const connect = await answersOf(false);
    expect(lean.results).toHaveLength(3);
    expect(lean.job.results.length).toBeGreaterThan(0);
    expect(lean).toEqual(connect);
  });

  it("runs with the lean server and the bare node:http2 client, and says so in the report", async () => {
    const report = await runBench(
      parseSettings([
        "--in-process",
        "--rounds",
        "1",
        "--scale",
        "0.01",
        "--only",
        "getjob-c1,evaluate-1x10000",
        "--lean-server",
        "--with-http2",
      ]),
      () => {},
    );
    for (const scenario of report.scenarios) {
      for (const metric of scenario.metrics) {
        expect("median" in (metric.diagnostic ?? {}), `${scenario.id} ${metric.key}`).toBe(true);
      }
    }
    const table = renderReport(report);
    expect(table).toContain("lean gRPC responder");
    expect(table).toContain("bare node:http2 (diagnostic)");
  }, 120_000);
});

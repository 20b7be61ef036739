// The REST scenarios of `npm run bench`: our client over gRPC and over REST/JSON, against the same canned answers
// (bench/responses.ts), so that the cost of JSON and HTTP/1.1 is a known figure. The gRPC side is the bench server;
// the REST side is a server of this file that answers the very same messages as proto3 JSON, serialised once up
// front (NDJSON for the Evaluate stream), so the figures measure the clients' transports, not the servers.
//
// Everything runs in this one process, in alternating rounds (gRPC, REST, gRPC, REST, ...): unlike the main
// bench, the clients share the process with both servers, so read the ratio, not the absolute figures.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { toJsonString } from "@bufbuild/protobuf";
import { EvaluateResponseSchema, GetJobResponseSchema } from "../gen/clavata/gateway/v1/gateway_pb.js";
import { ClavataClient, textContent } from "../src/index.js";
import { BENCH_JOB_UUID, BENCH_POLICY_ID, completedJobResponse, evaluateResponse, JOB_RESULTS } from "./responses.js";
import { startBenchServer } from "./server.js";

/** One REST scenario's figures, per protocol (the median of the rounds). */
export interface RestScenarioFigures {
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly grpc: number;
  readonly rest: number;
}

/** What runRestBench reports. */
export interface RestBenchReport {
  readonly rounds: number;
  readonly scenarios: readonly RestScenarioFigures[];
}

/** A REST server answering Evaluate (NDJSON) and GetJob with the bench's canned answers. @private */
export async function startRestBenchServer(): Promise<{ url: string; close(): Promise<void> }> {
  const lines = new Map<string, string>();
  const lineFor = (id: string) => {
    let line = lines.get(id);
    if (line === undefined) {
      line = `{"result":${toJsonString(EvaluateResponseSchema, evaluateResponse({ id }, BENCH_JOB_UUID))}}\n`;
      lines.set(id, line);
    }
    return line;
  };
  const job = toJsonString(GetJobResponseSchema, completedJobResponse());
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    if (req.method === "POST" && req.url === "/v1/jobs/stream") {
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        contentData: { metadata?: { id?: string } }[];
      };
      res.writeHead(200, { "content-type": "application/x-ndjson" });
      for (const item of body.contentData) {
        if (!res.write(lineFor(item.metadata?.id ?? ""))) await new Promise((r) => res.once("drain", r));
      }
      res.end();
    } else if (req.method === "GET" && req.url?.startsWith("/v1/jobs/")) {
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(job) });
      res.end(job);
    } else {
      res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Measures our client over gRPC and over REST: an Evaluate stream of 10,000 items (results per second) and 2,000
 * GetJob calls one after another (calls per second), times `scale`, for `rounds` alternating rounds. Checks every
 * answer; rejects when one is wrong.
 */
export async function runRestBench(settings: { rounds: number; scale: number }): Promise<RestBenchReport> {
  const items = Math.max(1, Math.round(10_000 * settings.scale));
  const calls = Math.max(1, Math.round(2000 * settings.scale));
  const grpcServer = await startBenchServer({ precompute: items });
  const restServer = await startRestBenchServer();
  const clients = {
    grpc: new ClavataClient({ apiKey: "bench-api-key", baseUrl: grpcServer.url, insecure: true }),
    rest: new ClavataClient({ apiKey: "bench-api-key", baseUrl: restServer.url, insecure: true, protocol: "rest" }),
  };
  const contentData = Array.from({ length: items }, (_, i) =>
    textContent(`bench item ${String(i)}`, { metadata: { id: String(i) } }),
  );
  const samples = {
    evaluate: { grpc: [] as number[], rest: [] as number[] },
    getJob: { grpc: [] as number[], rest: [] as number[] },
  };
  try {
    for (let round = 0; round <= settings.rounds; round++) {
      for (const protocol of ["grpc", "rest"] as const) {
        const client = clients[protocol];
        let started = performance.now();
        let seen = 0;
        for await (const r of client.evaluate({ policyId: BENCH_POLICY_ID, contentData })) {
          if (r.policyEvaluationReport?.contentMetadata.id === undefined)
            throw new Error(`${protocol}: a result lost its metadata`);
          seen++;
        }
        if (seen !== items) throw new Error(`${protocol}: ${String(seen)} results for ${String(items)} items`);
        const evaluateSeconds = (performance.now() - started) / 1000;
        started = performance.now();
        for (let i = 0; i < calls; i++) {
          const job = await client.getJob(BENCH_JOB_UUID);
          if (job.results.length !== JOB_RESULTS) throw new Error(`${protocol}: GetJob lost results`);
        }
        const getJobSeconds = (performance.now() - started) / 1000;
        // Round 0 warms both clients up and is not counted.
        if (round === 0) continue;
        samples.evaluate[protocol].push(items / evaluateSeconds);
        samples.getJob[protocol].push(calls / getJobSeconds);
      }
    }
  } finally {
    await clients.grpc.close();
    await clients.rest.close();
    await grpcServer.close();
    await restServer.close();
  }
  return {
    rounds: settings.rounds,
    scenarios: [
      {
        id: "rest-evaluate-stream",
        title: `Evaluate, one stream of ${String(items)} items`,
        unit: "results/s",
        grpc: median(samples.evaluate.grpc),
        rest: median(samples.evaluate.rest),
      },
      {
        id: "rest-get-job",
        title: `GetJob (${String(JOB_RESULTS)} results), ${String(calls)} calls in a row`,
        unit: "calls/s",
        grpc: median(samples.getJob.grpc),
        rest: median(samples.getJob.rest),
      },
    ],
  };
}

/** The REST report as a table, for the end of the bench's text report. */
export function renderRestReport(report: RestBenchReport): string {
  const rows = report.scenarios.map(
    (s) =>
      `  ${s.title.padEnd(46)} ${s.unit.padEnd(10)} gRPC ${s.grpc.toFixed(0).padStart(8)}   REST ${s.rest.toFixed(0).padStart(8)}   REST/gRPC ${(s.rest / s.grpc).toFixed(2)}`,
  );
  return [
    `Our client over gRPC and over REST/JSON (same canned answers; median of ${String(report.rounds)} rounds; all in one process):`,
    ...rows,
  ].join("\n");
}

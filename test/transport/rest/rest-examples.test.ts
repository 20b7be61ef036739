// The request and response bodies of the gateway's public REST reference (rest-examples.json), replayed through the
// REST transport: what the client sends for the documented requests, how it reads the documented answers, and
// which ClavataError each documented error body becomes.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Code } from "@connectrpc/connect";
import { afterEach, describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ClavataClient,
  type ClavataError,
  ConnectionError,
  type EvaluateResponse,
  EvaluationRefusedError,
  InvalidRequestError,
  imageContent,
  NotFoundError,
  Outcome,
  PrecheckMatchConfidence,
  RateLimitError,
  RefusalReason,
  textContent,
} from "../../../src/index.js";
import { drain, thrown } from "../../support/calls.js";
import { json, type ScriptedServer, startScriptedServer } from "./http-server.js";

const fixture = fileURLToPath(new URL("../../fixtures/rest-examples.json", import.meta.url));
// The project's shared folder sits beside the checkout; when it is there, the committed copy must not drift from it.
const shared = fileURLToPath(new URL("../../../../shared/rest-examples.json", import.meta.url));
const examples = JSON.parse(readFileSync(fixture, "utf8")) as {
  evaluate_stream: { request: { path: string; body: Record<string, unknown> }; response_lines: unknown[] };
  evaluate_labels: { request: { path: string; body: Record<string, unknown> }; response: unknown };
  errors: Record<string, unknown>;
};

const KEY = "sk-rest-examples-0123456789";
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function serve(answer: Parameters<typeof startScriptedServer>[0]): Promise<{
  server: ScriptedServer;
  client: ClavataClient;
}> {
  const server = await startScriptedServer(answer);
  cleanup.push(() => server.close());
  const client = new ClavataClient({
    apiKey: KEY,
    baseUrl: server.url,
    insecure: true,
    protocol: "rest",
    retryBackoff: { initialDelayMs: 1, maxDelayMs: 5 },
  });
  cleanup.push(() => client.close());
  return { server, client };
}

const PNG = Buffer.from(
  (examples.evaluate_stream.request.body.contentData as { image?: string }[])[1]!.image!,
  "base64",
);

describe("rest-examples.json", () => {
  it("the committed copy matches ../shared/rest-examples.json when it is present", () => {
    expect(examples.evaluate_stream.request.path).toBe("/v1/jobs/stream");
    if (existsSync(shared)) expect(readFileSync(fixture, "utf8")).toBe(readFileSync(shared, "utf8"));
  });

  it("evaluate sends the documented body and reads each line, ending with the error line after a result", async () => {
    const { server, client } = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      for (const line of examples.evaluate_stream.response_lines) res.write(`${JSON.stringify(line)}\n`);
      res.end();
    });
    const body = examples.evaluate_stream.request.body;
    const seen: EvaluateResponse[] = [];
    const error = await thrown(
      (async () => {
        for await (const r of client.evaluate({
          policyId: body.policyId as string,
          contentData: [
            textContent("If you post that again I will hurt you", { metadata: { id: "c2" } }),
            imageContent(PNG, { metadata: { id: "p1" } }),
          ],
          threshold: 0.5,
          expedited: false,
          options: { options: { expedited: "false" } },
        }))
          seen.push(r);
      })(),
    );
    const [request] = server.requests;
    expect(request!.method).toBe("POST");
    expect(request!.url.pathname).toBe(examples.evaluate_stream.request.path);
    expect(request!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request!.headers["content-type"]).toBe("application/json");
    expect(request!.body).toEqual(body);
    // The result line, fully decoded.
    expect(seen).toHaveLength(1);
    const report = seen[0]!.policyEvaluationReport!;
    expect(seen[0]!.jobUuid).toBe("6f1d2c3b-8a9e-4f70-b1c2-d3e4f5a6b7c8");
    expect(report.reviewResult?.outcome).toBe(Outcome.TRUE);
    expect(report.sectionEvaluationReports[0]!.exceptionEvaluationReport?.reviewResult?.score).toBe(0.05);
    expect(report.labelMatches.Threats).toBeCloseTo(0.95);
    expect(report.tokenUsage?.billedTokens).toBe(12);
    expect(report.contentMetadata).toEqual({ id: "c2" });
    // The error line after it ends the stream with its status (UNAVAILABLE), and is not retried.
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBe(Code.Unavailable);
    expect(error.rawMessage).toBe("upstream unavailable");
    expect(server.requests).toHaveLength(1);
  });

  it("evaluateLabels sends the documented body and reads the documented answer", async () => {
    const { server, client } = await serve((_req, res) => json(res, 200, examples.evaluate_labels.response));
    const body = examples.evaluate_labels.request.body as {
      labelVersionIds: string[];
      globalContext: string;
    };
    const response = await client.evaluateLabels({
      contentData: textContent("You're pathetic. Call me at 555-123-4567.", { metadata: { id: "m7" } }),
      threshold: 0.5,
      labelVersionIds: body.labelVersionIds,
      labelEvalOptions: { bypassCache: false, expedited: true, bundleSize: 4n, threshold: 0.5, stack: "" },
      globalContext: body.globalContext,
    });
    expect(server.requests[0]!.url.pathname).toBe(examples.evaluate_labels.request.path);
    expect(server.requests[0]!.body).toEqual(examples.evaluate_labels.request.body);
    expect(response.results.map((r) => r.labelVersionId)).toEqual(["lv-insults-3", "lv-pii-1"]);
    expect(response.results[0]!.evaluation?.report?.labelId).toBe("l-insults");
    expect(response.results[1]!.error).toBe("label version lv-pii-1 is not published");
  });

  it("each documented error body becomes its ClavataError, with the gateway's message", async () => {
    const cases: [string, number, new (...args: never[]) => ClavataError][] = [
      ["400", 400, InvalidRequestError],
      ["401", 401, AuthenticationError],
      ["404", 404, NotFoundError],
      ["429", 429, RateLimitError],
    ];
    for (const [name, status, cls] of cases) {
      const { client } = await serve((_req, res) => json(res, status, examples.errors[name]));
      const error = await thrown(client.getJob("3fa85f64-5717-4562-b3fc-2c963f66afa6", { maxRetries: 0 }));
      expect(error, name).toBeInstanceOf(cls);
      expect(error.rawMessage).toBe((examples.errors[name] as { message: string }).message);
    }
  });

  it("a 499 refusal, with or without @type on each detail, is an EvaluationRefusedError with the same fields", async () => {
    const refusals = [];
    for (const name of ["499_with_type", "499_without_type"]) {
      const { client, server } = await serve((_req, res) => json(res, 499, examples.errors[name]));
      const error = await thrown(drain(client.evaluate({ policyId: "p", contentData: [imageContent(PNG)] })));
      expect(error, name).toBeInstanceOf(EvaluationRefusedError);
      expect(error.code).toBe(Code.Canceled);
      expect(server.requests).toHaveLength(1);
      refusals.push((error as EvaluationRefusedError).refusals);
    }
    expect(refusals[0]).toEqual([
      {
        reason: RefusalReason.UNSUPPORTED_FORMAT,
        contentHash: "fnv1a128::6de318c415c21e44c261a52df944baab",
        message: "unsupported image format: image/gif",
        matchConfidence: PrecheckMatchConfidence.UNSPECIFIED,
      },
    ]);
    expect(refusals[1]).toEqual([
      {
        reason: RefusalReason.CSAM,
        contentHash: "fnv1a128::1f2e3d4c5b6a79880706050403020100",
        message: "content matched a known hash",
        matchConfidence: PrecheckMatchConfidence.UNSPECIFIED,
      },
    ]);
  });
});

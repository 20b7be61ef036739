// The example Worker (examples/cloudflare-worker), bundled as Wrangler would and run in workerd under Miniflare
// (no Node.js compatibility flag), evaluating content over REST against the emulator's REST port. It proves that what
// a REST-only user imports loads in an edge runtime: no node: module, no `process` at load. Needs dist/ (npm test
// builds it first).
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";

const KEY = "sk-worker-example-0a1b2c3d";
const edgeBuild = fileURLToPath(new URL("../../dist/edge/index.js", import.meta.url));

let emu: Emulator;
let mf: Miniflare;
let dir: string;

beforeAll(async () => {
  if (!existsSync(edgeBuild)) throw new Error("dist/edge/index.js is missing: run npm run build first");
  const { bundleWorker } = (await import(
    fileURLToPath(new URL("../../examples/cloudflare-worker/build.mjs", import.meta.url))
  )) as { bundleWorker: (outfile: string) => Promise<string> };
  dir = mkdtempSync(join(tmpdir(), "clavata-worker-"));
  const scriptPath = await bundleWorker(join(dir, "worker.js"));
  emu = await startEmulator({ logger: false, restPort: 0, apiKeys: [KEY] });
  mf = new Miniflare({
    modules: true,
    // The bundle's text, so that workerd does not resolve a path outside its working directory.
    script: readFileSync(scriptPath, "utf8"),
    compatibilityDate: "2025-01-01",
    bindings: { CLAVATA_API_KEY: KEY, CLAVATA_BASE_URL: emu.restUrl! },
  });
  await mf.ready;
}, 60_000);

afterAll(async () => {
  await mf?.dispose();
  await emu?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the example Cloudflare Worker", () => {
  it("evaluates texts over REST from inside workerd", async () => {
    const res = await mf.dispatchFetch("http://worker.example/", {
      method: "POST",
      body: JSON.stringify({ policyId: SAMPLE_POLICY_IDS.violence, texts: ["I will kill you", "have a nice day"] }),
    });
    expect(res.status).toBe(200);
    const verdicts = (await res.json()) as { text: string; outcome: string; score: number }[];
    expect(verdicts.sort((a, b) => a.text.localeCompare(b.text))).toEqual([
      { text: "have a nice day", outcome: "FALSE", score: expect.any(Number) },
      { text: "I will kill you", outcome: "TRUE", score: expect.any(Number) },
    ]);
    expect(emu.calls.Evaluate).toBe(1);
  });

  it("reports the gateway's errors as the SDK classifies them", async () => {
    const res = await mf.dispatchFetch("http://worker.example/", {
      method: "POST",
      body: JSON.stringify({ policyId: "no-such-policy", texts: ["x"] }),
    });
    expect(res.status).toBe(502);
    const body = await res.json();
    expect(body).toMatchObject({ error: "NotFoundError", code: "NOT_FOUND" });
  });

  it("the edge build says to use REST when asked for gRPC", async () => {
    const edge = (await import(edgeBuild)) as typeof import("../../src/index.js");
    expect(() => new edge.ClavataClient({ apiKey: KEY })).toThrow(/gRPC needs node:http2.*protocol: "rest"/);
    await using rest = new edge.ClavataClient({ apiKey: KEY, protocol: "rest" });
    expect(rest.baseUrl).toBe("https://gateway.app.clavata.ai:8443");
  });
});

// Runs every program of examples/ against the emulator, as a user would: the TypeScript ones type-checked and
// compiled by `npm run examples` (into dist-examples/), the JavaScript ones as they are, each in a process of its
// own that imports "clavata-connect" from the built package (npm test builds dist/ first).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import { ClavataClient, Code, textContent } from "../../src/index.js";
import { generateWebhookSecret, webhookWithSecret } from "../../src/webhooks/index.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** A running example: its output so far, and how to stop it. */
interface Program {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** The URL it printed after "listening on". */
  readonly url: string;
  /** Resolves with the exit code when the process ends. */
  readonly exited: Promise<number | null>;
}

let emulator: Emulator;
const running = new Set<ChildProcess>();

function gatewayEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { port } = new URL(emulator.url);
  return {
    ...process.env,
    CLAVATA_API_KEY: "sk-examples-test",
    CLAVATA_HOST: "127.0.0.1",
    CLAVATA_PORT: port,
    CLAVATA_INSECURE: "1",
    PORT: "0",
    ...extra,
  };
}

/** Starts an example; for a server, waits for its "listening on <url>" line. */
function start(file: string, env: NodeJS.ProcessEnv, args: string[] = [], server = true): Promise<Program> {
  const child = spawn(process.execPath, [file, ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const lines: string[] = [];
  let errors = "";
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  let buffered = "";
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (chunk: Buffer) => {
      errors += chunk.toString();
    });
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        const url = /^listening on (http:\/\/\S+)$/.exec(line)?.[1];
        if (url !== undefined) resolve({ child, lines, url, exited });
      }
    });
    if (!server) resolve({ child, lines, url: "", exited });
    void exited.then((code) => {
      if (buffered !== "") lines.push(buffered);
      if (server) reject(new Error(`${file} exited (${String(code)}) before listening: ${errors}`));
    });
  });
}

async function stop(program: Program): Promise<number | null> {
  program.child.kill("SIGTERM");
  return program.exited;
}

beforeAll(async () => {
  // The TypeScript examples: type-checked against the built package's declarations, and compiled.
  await promisify(execFile)(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "examples"], {
    cwd: ROOT,
  });
  emulator = await startEmulator({ logger: false, jobDelayMs: 10 });
}, 120_000);

afterAll(async () => {
  for (const child of running) child.kill("SIGKILL");
  await emulator?.close();
});

describe("examples/moderation-middleware.ts", () => {
  it("stores a clear comment, refuses a matching one with its labels, and fails closed when the gateway is down", async () => {
    const program = await start("dist-examples/moderation-middleware.js", gatewayEnv());
    const post = (body: unknown) =>
      fetch(`${program.url}/comments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    const clear = await post({ text: "See you at practice tomorrow!" });
    expect(clear.status).toBe(201);
    const threat = await post({ text: "I will hurt you" });
    expect(threat.status).toBe(422);
    expect(await threat.json()).toMatchObject({ outcome: "match", labels: [{ name: "Threats" }] });
    expect((await post({ nope: 1 })).status).toBe(400);
    expect(await (await fetch(`${program.url}/comments`)).json()).toEqual(["See you at practice tomorrow!"]);

    // The first attempt and both retries fail: the middleware answers 503 and stores nothing.
    emulator.faults.failNext("Evaluate", 3, Code.Unavailable);
    expect((await post({ text: "hello again" })).status).toBe(503);
    expect(await (await fetch(`${program.url}/comments`)).json()).toHaveLength(1);
    emulator.faults.clear();

    expect(await stop(program)).toBe(0);
  });
});

describe("examples/bulk-evaluate-csv.ts", () => {
  it("gives every row a verdict, a refused row included, in chunks", async () => {
    const dir = mkdtempSync(join(tmpdir(), "clavata-bulk-"));
    try {
      const csv = join(dir, "comments.csv");
      writeFileSync(
        csv,
        [
          "id,kind,content",
          'c1,text,"Great photo, thanks for sharing!"',
          "c2,text,I will hurt you if you post that again",
          "c3,image_url,https://cdn.example.com/banner.gif",
          'c4,text,"Selling my old hunting rifle, message me"',
          'c5,text,"She said ""I\'m fine"", then left"',
        ].join("\n"),
      );
      const program = await start(
        "dist-examples/bulk-evaluate-csv.js",
        gatewayEnv(),
        [csv, "policy-violence", "2", "2"],
        false,
      );
      expect(await program.exited).toBe(0);
      expect(program.lines.slice(0, -1).sort()).toEqual([
        "c1 clear",
        "c2 match Threats",
        "c3 refused UNSUPPORTED_FORMAT",
        "c4 match Weapons",
        "c5 clear",
      ]);
      expect(program.lines.at(-1)).toBe("5 rows: 2 matched, 2 clear, 1 refused");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.each([
  ["examples/webhook-express.js", "examples/webhook-express.js"],
  ["examples/webhook-fastify.ts", "dist-examples/webhook-fastify.js"],
])("%s", (_name, file) => {
  it("receives a job's webhook with the right secret, and refuses a forged call", async () => {
    const secret = generateWebhookSecret();
    const program = await start(file, { ...process.env, PORT: "0", CLAVATA_WEBHOOK_SECRET: secret });
    const client = new ClavataClient({ baseUrl: emulator.url, insecure: true, apiKey: "sk-examples-test" });
    try {
      const job = await client.createJob({
        policyId: "policy-violence",
        contentData: [
          textContent("I'm going to stab you after school.", { metadata: { id: "m1" } }),
          textContent("See you at practice tomorrow!", { metadata: { id: "m2" } }),
        ],
        webhook: webhookWithSecret(program.url, secret),
      });
      expect((await emulator.waitForDelivery(job.jobUuid, 15_000)).status).toBe(200);
      await expect
        .poll(() => program.lines)
        .toEqual(expect.arrayContaining([`job ${job.jobUuid} COMPLETED`, "  m1: flagged (Threats)", "  m2: fine"]));

      const forged = await client.createJob({
        policyId: "policy-violence",
        contentData: [textContent("hello")],
        webhook: webhookWithSecret(program.url, generateWebhookSecret()),
      });
      const delivery = await emulator.waitForDelivery(forged.jobUuid, 15_000);
      expect(delivery.status).toBe(401);
      expect(program.lines).toContain("refused a call: 401 wrong_secret");
      expect(program.lines.some((line) => line.includes(forged.jobUuid))).toBe(false);
    } finally {
      await client.close();
    }
    expect(await stop(program)).toBe(0);
  });
});

describe("examples/graceful-shutdown.js", () => {
  it("finishes the request in flight on SIGTERM, closes the client, and exits 0", async () => {
    const program = await start("examples/graceful-shutdown.js", gatewayEnv());
    expect(await (await fetch(`${program.url}/check?text=${encodeURIComponent("see you")}`)).json()).toBe("clear");

    // Hold the next evaluation in the emulator, so that SIGTERM arrives while a request is in flight.
    emulator.faults.delay("Evaluate", 1_000, 1);
    const before = emulator.calls.Evaluate;
    const inFlight = fetch(`${program.url}/check?text=${encodeURIComponent("I will hurt you")}`);
    await expect.poll(() => emulator.calls.Evaluate).toBe(before + 1);
    program.child.kill("SIGTERM");

    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(await answer.json()).toBe("match");
    expect(await program.exited).toBe(0);
    expect(program.lines).toContain("SIGTERM: shutting down");
    expect(program.lines.at(-1)).toBe("closed the server and the client");
  });
});

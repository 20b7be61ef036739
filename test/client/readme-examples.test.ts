// Runs every ```ts and ```js block of README.md and docs/*.md against the emulator, so the docs cannot drift from
// the SDK. A block that cannot run (a server that listens until stopped) says so in the line before it:
// `<!-- not run: why -->`. The blocks import from "clavata-connect" (and its /emulator and /webhooks subpaths); the
// glue below maps those imports to the source, with ClavataClient pointed at the emulator, and gives every block a
// `client` of that emulator, the `emulator` itself and a `console` whose lines each block's expectation checks.
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as emulatorModule from "../../src/emulator/index.js";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import * as sdk from "../../src/index.js";
import * as webhooksModule from "../../src/webhooks/index.js";
import { DOC_FILES, docBlocks } from "../support/markdown.js";
import { TRANSPORT } from "../support/transports.js";

/** The modules a block's imports resolve to; anything else is imported for real. */
function moduleFor(from: string): string | undefined {
  return {
    "clavata-connect": "__sdk",
    "clavata-connect/emulator": "__emulator",
    "clavata-connect/webhooks": "__webhooks",
  }[from];
}

/** Dynamic import for the blocks: code made with `new Function` has no module to import from. */
const load = (specifier: string): Promise<unknown> => import(specifier);

/** Turns a block into the body of an async function of the glue's modules, client, emulator and console. */
function runnable(code: string): string {
  const withoutImports = code
    .replace(/^import\s+type\s[^;]*;\s*$/gm, "")
    .replace(/^import\s*\{([^}]*)\}\s*from\s*"([^"]+)";\s*$/gm, (_all, names: string, from: string) => {
      const bindings = names
        .split(",")
        .map((n) => n.trim())
        .filter((n) => n !== "" && !n.startsWith("type "))
        .map((n) => n.replace(/^(\w+)\s+as\s+(\w+)$/, "$1: $2"))
        .join(", ");
      return `const { ${bindings} } = ${moduleFor(from) ?? `await __import(${JSON.stringify(from)})`};`;
    })
    .replace(/^import\s+(\w+)\s+from\s*"([^"]+)";\s*$/gm, (_all, name: string, from: string) => {
      return `const ${name} = (await __import(${JSON.stringify(from)})).default;`;
    })
    .replace(/^export\s+(const|function|async function|class)\s/gm, "$1 ");
  expect(withoutImports).not.toMatch(/^import\s/m);
  const js = ts.transpileModule(withoutImports, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  // A block of its own, so the block's declarations may shadow the glue's `client` and `emulator`.
  return `{\n${js.replace(/^export \{\};\s*$/m, "")}\n}`;
}

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
  ...args: string[]
) => (...args: unknown[]) => Promise<void>;

/** What each block must print against the emulator's sample policies (json blocks: what they must parse to). */
const expectations: Record<string, (lines: string[], parsed?: unknown) => void> = {
  "README.md › A tour": (lines) => {
    expect(lines[0]).toMatch(/^match 0\.\d+$/);
    // Streamed results come in completion order.
    expect(lines.slice(1).sort()).toEqual(["c1 -", "c2 Commercial spam"]);
  },
  "README.md › A tour (2)": (lines) => expect(lines).toEqual(["clear 0"]),

  "docs/bulk.md › Draining a queue: `evaluateBatch`": (lines) =>
    expect(lines).toEqual([
      "msg-1 breaks the policy",
      "msg-3 breaks the policy",
      expect.stringMatching(/^4 evaluated, 0 refused, 0 failed, \d+ tokens billed$/),
    ]),
  "docs/bulk.md › Evaluating a CSV file in chunks": (lines) => {
    expect(lines.slice(0, -1).sort()).toEqual([
      "c1 clear",
      "c2 match Threats",
      "c3 refused UNSUPPORTED_FORMAT",
      "c4 match Weapons",
    ]);
    expect(lines.at(-1)).toBe("4 rows: 2 matched, 1 clear, 1 refused");
  },

  "docs/client.md › Making a client": (lines) => expect(lines).toEqual(["clear"]),
  "docs/client.md › Options": (lines) => expect(lines).toEqual(["true false"]),
  "docs/client.md › Transports and proxies": (lines) => expect(lines).toEqual(["false"]),
  "docs/client.md › The generated message types": (lines) =>
    expect(lines).toEqual([expect.stringMatching(/^\d+ true$/), "server_streaming", "2"]),

  "docs/emulator.md › Starting it": (lines) => expect(lines).toEqual(["true"]),
  "docs/emulator.md › Starting it (2)": (lines) => {
    expect(lines[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines[1]).toBe("policy-violence, policy-spam, policy-harassment, policy-images");
  },
  "docs/emulator.md › Policy file format": (_lines, parsed) => {
    const engine = new emulatorModule.PolicyEngine({
      policies: (parsed as { policies: emulatorModule.PolicyEngineOptions["policies"] }).policies,
    });
    expect(engine).toBeDefined();
  },
  "docs/emulator.md › Fault injection": (lines) => expect(lines).toEqual([expect.stringMatching(/^\d+ \d+$/)]),

  "docs/errors.md › The error classes": (lines) => expect(lines).toEqual(["NotFoundError true NOT_FOUND"]),
  "docs/errors.md › Refusals": (lines) =>
    expect(lines).toEqual([expect.stringMatching(/^UNSUPPORTED_FORMAT fnv1a128::[0-9a-f]{32} /)]),
  "docs/errors.md › Retries and timeouts": (lines) => expect(lines).toEqual([]),
  "docs/errors.md › Validation and limits": (lines) =>
    expect(lines).toEqual([expect.stringMatching(/^threshold threshold is 5; a threshold is a number from 0 to 1/)]),
  "docs/errors.md › Validation and limits (2)": (lines) => expect(lines).toEqual(["jobUuid"]),

  "docs/glossary.md › The verdict": (lines) =>
    expect(lines).toEqual(["match true c5", "Insults 0.70", "Personal information 0.60", "match TRUE"]),

  "docs/jobs.md › Creating a job and waiting for it": (lines) =>
    expect(lines).toEqual(["PENDING", "m1 true Commercial spam"]),
  "docs/jobs.md › Listing jobs and pagination": (lines) => expect(lines).toEqual(["true last page"]),

  "docs/labels.md › Labels": (lines) => {
    expect(lines.slice(0, 2)).toEqual(["label-threats-v1 clear", "label-weapons-v1 match"]);
    expect(lines[2]).toMatch(/^label-no-such-label .*label-no-such-label/);
    expect(lines).toHaveLength(3);
  },

  "docs/migrating.md › Streaming: errors are thrown, not yielded": (lines) =>
    expect(lines).toEqual([expect.stringMatching(/^1 match Threats$/), "refused: UNSUPPORTED_FORMAT"]),
  "docs/migrating.md › Pagination": (lines) => expect(lines).toEqual(["true"]),

  "docs/regenerating.md › 1. Before regenerating: the field survives as an unknown field": (lines) =>
    expect(lines).toEqual(["1"]),

  "docs/streaming.md › Streaming many items: `evaluate`": (lines) =>
    expect(lines).toEqual(["comment c2 breaks the policy: Threats"]),
  "docs/streaming.md › One item: `evaluateOne`": (lines) =>
    expect(lines).toEqual([
      "match 0.7",
      "Insults match WARN",
      "Personal information clear BLOCK",
      expect.stringMatching(/^(clear|match)$/),
    ]),

  "docs/webhooks.md › 1. Create the job with a secret": (lines) => expect(lines).toEqual(["43", "36"]),
  "docs/webhooks.md › Try it end to end on your machine": (lines) => {
    expect(lines[0]).toMatch(/^created job [0-9a-f-]{36}, waiting for its webhook$/);
    expect(lines.slice(1).sort()).toEqual(["post-1: flagged", "post-2: fine"]);
  },
  "docs/webhooks.md › Express, Fastify and fetch-style servers": (lines) => expect(lines).toEqual([]),
  "docs/webhooks.md › Express, Fastify and fetch-style servers (2)": (lines) => expect(lines).toEqual([]),
  "docs/webhooks.md › Testing your handler": (lines) =>
    expect(lines).toEqual(["200 3f1c0c6e-0000-4000-8000-000000000001"]),
};

const blocks = docBlocks();

describe("the code blocks of README.md and docs/", () => {
  let emu: Emulator;
  let spare: Emulator;
  let client: sdk.ClavataClient;
  const created: sdk.ClavataClient[] = [];
  const key = "sk-readme-examples-0123456789";
  let secretBefore: string | undefined;

  // The blocks' ClavataClient: the real one, pointed at the emulator with a test key unless the block says otherwise.
  class ClavataClient extends sdk.ClavataClient {
    constructor(options: sdk.ClavataClientOptions = {}) {
      super(
        options.transport
          ? { apiKey: key, ...options }
          : { apiKey: key, baseUrl: emu.url, insecure: true, transport: TRANSPORT, ...options },
      );
      created.push(this);
    }
  }

  beforeAll(async () => {
    emu = await startEmulator({ logger: false, jobDelayMs: 10 });
    spare = await startEmulator({ logger: false });
    client = new ClavataClient();
    secretBefore = process.env.CLAVATA_WEBHOOK_SECRET;
    process.env.CLAVATA_WEBHOOK_SECRET = webhooksModule.generateWebhookSecret();
  });
  afterAll(async () => {
    if (secretBefore === undefined) delete process.env.CLAVATA_WEBHOOK_SECRET;
    else process.env.CLAVATA_WEBHOOK_SECRET = secretBefore;
    for (const c of created) await c.close();
    await emu?.close();
    await spare?.close();
  });

  it("are found, each with an expectation, in every page", () => {
    const runnableKeys = blocks.filter((b) => b.run).map((b) => b.key);
    expect(runnableKeys.sort()).toEqual(Object.keys(expectations).sort());
    // Every page of docs/ has at least one block that runs, except the pages that only describe.
    const withCode = new Set(blocks.filter((b) => b.run).map((b) => b.key.split(" › ")[0]));
    for (const file of DOC_FILES.filter(
      (f) => !["docs/cli.md", "docs/development.md", "docs/performance.md"].includes(f),
    )) {
      expect(withCode, `${file} has no code block that runs`).toContain(file);
    }
  });

  it("mark every block that does not run with a reason", () => {
    const skipped = blocks.filter((b) => !b.run).map((b) => b.key);
    expect(skipped).toEqual([
      "docs/jobs.md › Batch jobs (REST)",
      "docs/migrating.md › Migrating from `@clavata/sdk`",
      "docs/regenerating.md › 4. Use it",
      "docs/webhooks.md › 2. Receive it",
    ]);
  });

  for (const block of blocks.filter((b) => b.run)) {
    it(`"${block.key}" runs`, async () => {
      const check = expectations[block.key];
      expect(check, `no expectation for ${block.key}`).toBeDefined();
      if (block.lang === "json") {
        check!([], JSON.parse(block.code));
        return;
      }
      const lines: string[] = [];
      const console = { log: (...args: unknown[]) => void lines.push(args.map(String).join(" ")) };
      const run = new AsyncFunction(
        ...["__sdk", "__emulator", "__webhooks", "__import", "client", "emulator", "console"],
        runnable(block.code),
      );
      // `emulator` is an emulator of its own, so that the faults a block arms there cannot reach `client`.
      await run({ ...sdk, ClavataClient }, emulatorModule, webhooksModule, load, client, spare, console);
      check!(lines);
    });
  }

  it("closed every client they made", () => {
    const made = created.filter((c) => c !== client);
    expect(made.length).toBeGreaterThanOrEqual(5);
    expect(made.filter((c) => !c.closed)).toEqual([]);
  });
});

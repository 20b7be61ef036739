// Runs every ```ts example of the client's README sections against the
// emulator, so the README cannot drift from the SDK. The examples import from
// "clavata-connect" and use a `client`; the glue below supplies both, with
// ClavataClient pointed at the emulator.
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, startEmulator } from "../../src/emulator/index.js";
import * as sdk from "../../src/index.js";

const MARKER = "<!-- clavata-client-examples";
const END_MARKER = "<!-- /clavata-client-examples -->";
const SOURCES = [new URL("../../README.md", import.meta.url)];
const source = SOURCES.map((u) => fileURLToPath(u)).find(
  (p) => existsSync(p) && readFileSync(p, "utf8").includes(MARKER),
);

interface Example {
  heading: string;
  code: string;
}

/** The ```ts blocks between the markers, each with the heading of its section. */
function examples(markdown: string): Example[] {
  const end = markdown.indexOf(END_MARKER);
  const text = markdown.slice(markdown.indexOf(MARKER), end < 0 ? undefined : end);
  const out: Example[] = [];
  let heading = "";
  const re = /^(#{2,3}) (.+)$|^```ts\n([\s\S]*?)^```$/gm;
  for (const m of text.matchAll(re)) {
    if (m[2] !== undefined) heading = m[2].trim();
    else out.push({ heading, code: m[3]! });
  }
  return out;
}

/** Turns an example into the body of an async function of (__sdk, client, console). */
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
      return from === "clavata-connect"
        ? `const { ${bindings} } = __sdk;`
        : `const { ${bindings} } = await import(${JSON.stringify(from)});`;
    });
  const js = ts.transpileModule(withoutImports, {
    compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
  }).outputText;
  return js.replace(/^export \{\};\s*$/m, "");
}

const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (
  ...args: string[]
) => (...args: unknown[]) => Promise<void>;

/** What each section's example must print against the emulator's sample policies. */
const expectations: Record<string, (lines: string[]) => void> = {
  "Using the client": (lines) => expect(lines).toEqual([expect.stringMatching(/^matched 0\.\d+$/)]),
  Streaming: (lines) => expect(lines).toEqual(["comment c2 breaks the policy"]),
  "Jobs and webhooks": (lines) => expect(lines).toEqual([expect.stringMatching(/^Spam \d$/)]),
  Pagination: (lines) => {
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.at(-1)).toBe(`${String(lines.length - 1)} last page`);
  },
  Labels: (lines) => expect(lines).toEqual(["label-threats-v1 no match", "label-weapons-v1 match"]),
  "Error handling and refusals": (lines) => {
    expect(lines[0]).toMatch(/^UNSUPPORTED_FORMAT fnv1a128::[0-9a-f]{32} /);
    expect(lines[1]).toMatch(/^threshold is 5; a threshold is a number from 0 to 1/);
    expect(lines).toHaveLength(2);
  },
  "Retries and timeouts": (lines) => expect(lines).toEqual([]),
  "Bulk evaluation": (lines) =>
    expect(lines).toEqual([
      "msg-1 breaks the policy",
      "msg-3 breaks the policy",
      expect.stringMatching(/^4 evaluated, 0 refused, 0 failed, \d+ tokens billed$/),
    ]),
};

describe("README client examples", () => {
  let emu: Emulator;
  let client: sdk.ClavataClient;
  const created: sdk.ClavataClient[] = [];
  const key = "sk-readme-examples-0123456789";

  // The examples' ClavataClient: the real one, pointed at the emulator with a test key.
  class ClavataClient extends sdk.ClavataClient {
    constructor(options: sdk.ClavataClientOptions = {}) {
      super({ apiKey: key, baseUrl: emu.url, insecure: true, ...options });
      created.push(this);
    }
  }

  beforeAll(async () => {
    emu = await startEmulator({ logger: false, jobDelayMs: 10 });
    client = new ClavataClient();
  });
  afterAll(async () => {
    for (const c of created) await c.close();
    await emu.close();
  });

  it("are found", () => {
    expect(source, `no file with ${MARKER} among ${SOURCES.map(String).join(", ")}`).toBeDefined();
    const found = examples(readFileSync(source!, "utf8")).map((e) => e.heading);
    expect(found).toEqual(Object.keys(expectations));
  });

  for (const { heading, code } of source ? examples(readFileSync(source, "utf8")) : []) {
    it(`"${heading}" runs`, async () => {
      const lines: string[] = [];
      const console = { log: (...args: unknown[]) => void lines.push(args.map(String).join(" ")) };
      const run = new AsyncFunction("__sdk", "client", "console", runnable(code));
      await run({ ...sdk, ClavataClient }, client, console);
      expectations[heading]!(lines);
    });
  }

  it("closed every client they made", async () => {
    const made = created.filter((c) => c !== client);
    expect(made.length).toBeGreaterThanOrEqual(2);
    expect(made.every((c) => c.closed)).toBe(true);
  });
});

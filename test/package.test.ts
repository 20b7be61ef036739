// The built package works for both `import` and `require` users, and its
// tarball holds only what a user needs.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { VERSION } from "../src/index.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
  version: string;
  name: string;
};

// What both module systems must see, read through the package's own name.
const probe = `
  const m = MOD;
  const out = {
    version: m.VERSION,
    outcomeTrue: m.Outcome.TRUE,
    jobCanceled: m.JobStatus.CANCELED,
    evaluate: m.GatewayService.method.evaluate.methodKind,
    labels: m.LabelsService.typeName,
    schema: m.EvaluateRequestSchema.typeName,
  };
  console.log(JSON.stringify(out));
`;
const expected = {
  version: pkg.version,
  outcomeTrue: 2,
  jobCanceled: 5,
  evaluate: "server_streaming",
  labels: "clavata.gateway.v1.LabelsService",
  schema: "clavata.gateway.v1.EvaluateRequest",
};

// `npm test` builds dist/ before vitest starts, so every test file sees one finished build.
describe("the built package", () => {
  beforeAll(() => {
    if (!existsSync(new URL("../dist/cjs/package.json", import.meta.url))) {
      throw new Error("dist/ is missing: run the tests with `npm test`, which builds first (or run `npm run build`)");
    }
  });

  it("has VERSION equal to package.json's version", () => {
    expect(VERSION).toBe(pkg.version);
  });

  it("loads with require()", async () => {
    const script = probe.replace("MOD", `require(${JSON.stringify(pkg.name)})`);
    const { stdout } = await run(process.execPath, ["-e", script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual(expected);
  });

  it("loads with import", async () => {
    const script = probe.replace("MOD", `await import(${JSON.stringify(pkg.name)})`);
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual(expected);
  });

  it("recognises its errors across the ESM and CommonJS builds loaded in one process", async () => {
    const script = `
      import { createRequire } from "node:module";
      const esm = await import(${JSON.stringify(pkg.name)});
      const cjs = createRequire(process.cwd() + "/")(${JSON.stringify(pkg.name)});
      const fromCjs = new cjs.NotFoundError("gone", { code: 5 });
      const fromEsm = new esm.RateLimitError("slow", { code: 8 });
      console.log(JSON.stringify([
        esm.ClavataError === cjs.ClavataError,
        fromCjs instanceof esm.NotFoundError,
        fromCjs instanceof esm.ClavataError,
        fromCjs instanceof esm.RateLimitError,
        fromEsm instanceof cjs.RateLimitError,
        esm.toClavataError(fromCjs) === fromCjs,
        new Error("x") instanceof esm.ClavataError,
        { name: "NotFoundError" } instanceof esm.NotFoundError,
      ]));
    `;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual([false, true, true, false, true, true, false, false]);
  });

  it("packs only what a user needs", async () => {
    const { stdout } = await run("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: root });
    const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
    expect(files).toContain("package.json");
    expect(files).toContain("README.md");
    expect(files).toContain("dist/esm/src/index.js");
    expect(files).toContain("dist/esm/src/index.d.ts");
    expect(files).toContain("dist/cjs/src/index.js");
    expect(files).toContain("dist/cjs/src/index.d.ts");
    expect(files).toContain("dist/cjs/package.json");
    expect(files).toContain("dist/edge/index.js");
    expect(files).toContain("proto/clavata/gateway/v1/gateway.proto");
    const allowed = /^(package\.json|README\.md|LICENSE|dist\/(esm|cjs)\/.+|dist\/edge\/index\.js|proto\/.+\.proto)$/;
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    expect(files.some((f) => f.startsWith("test/") || f.startsWith("src/") || f.startsWith("gen/"))).toBe(false);
  });

  it("exports clavata-connect/emulator and clavata-connect/webhooks for import and require", async () => {
    for (const [flags, mod] of [
      [[], `require("clavata-connect/emulator")`],
      [[], `require("clavata-connect/webhooks")`],
      [["--input-type=module"], `await import("clavata-connect/webhooks")`],
      [["--input-type=module"], `await import("clavata-connect/emulator")`],
    ] as const) {
      const entry = mod.includes("webhooks") ? "createNodeWebhookHandler" : "startEmulator";
      const script = `const m = ${mod}; console.log(typeof m.${entry}, Object.keys(m).length > 3);`;
      const { stdout } = await run(process.execPath, [...flags, "-e", script], { cwd: root });
      expect(stdout.trim()).toBe("function true");
    }
  });
});

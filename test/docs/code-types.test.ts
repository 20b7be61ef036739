// Type-checks every ```ts block of README.md and docs/ that runs, as a user's TypeScript would see it: each block
// is its own module, importing "clavata-connect" from the built package (npm test builds dist/ first), under strict
// settings. The blocks' `client` and `emulator` (which the runner supplies) are declared as globals.
import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { docBlocks } from "../support/markdown.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
// Inside the package, so that "clavata-connect" resolves to the package itself; git-ignored.
const DIR = join(ROOT, "dist-docs-check");

const GLOBALS = `import type { ClavataClient } from "clavata-connect";
import type { Emulator } from "clavata-connect/emulator";

declare global {
  /** The client the docs' blocks use: new ClavataClient() in a real program. */
  const client: ClavataClient;
  /** What startEmulator() resolved to. */
  const emulator: Emulator;
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: "ES2022",
    lib: ["ES2022", "DOM"],
    module: "NodeNext",
    moduleResolution: "NodeNext",
    types: ["node"],
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  },
  include: ["*.ts"],
};

describe("the TypeScript blocks of README.md and docs/", () => {
  afterAll(() => rmSync(DIR, { recursive: true, force: true }));

  it("type-check", async () => {
    const blocks = docBlocks().filter((b) => b.lang === "ts" && b.run);
    expect(blocks.length).toBeGreaterThan(15);
    rmSync(DIR, { recursive: true, force: true });
    mkdirSync(DIR);
    writeFileSync(join(DIR, "tsconfig.json"), JSON.stringify(TSCONFIG));
    writeFileSync(join(DIR, "globals.ts"), GLOBALS);
    const names = new Map<string, string>();
    blocks.forEach((block, i) => {
      const name = `block-${String(i)}.ts`;
      names.set(name, block.key);
      // "export {}" keeps a block without imports a module (top-level await needs one).
      writeFileSync(join(DIR, name), `${block.code}\nexport {};\n`);
    });
    const tsc = join(ROOT, "node_modules/typescript/bin/tsc");
    const result = await promisify(execFile)(process.execPath, [tsc, "-p", DIR, "--pretty", "false"], {
      cwd: ROOT,
    }).then(
      () => "",
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    // Name each error by its block, not by the scratch file.
    const errors = result.replace(/^dist-docs-check\/(block-\d+\.ts)/gm, (_all, file: string) => names.get(file)!);
    expect(errors).toBe("");
  }, 60_000);
});

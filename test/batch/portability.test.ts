// evaluateBatch works over whichever transport the client uses, in any runtime: nothing it imports, directly or
// through other SDK files, may be a `node:` module or the emulator.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = resolve(dirname(fileURLToPath(import.meta.url)), "../../src");

/** Every SDK file reachable from `entry` through relative imports that are not type-only, with its imports. */
function reachable(entries: string[]): Map<string, string[]> {
  const files = new Map<string, string[]>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    const text = readFileSync(file, "utf8");
    const specifiers = [...text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+"([^"]+)";/gms)].map(
      (m) => m[1]!,
    );
    files.set(file, specifiers);
    for (const s of specifiers) {
      if (s.startsWith(".") && !s.includes("/gen/")) visit(resolve(dirname(file), s.replace(/\.js$/, ".ts")));
    }
  };
  for (const entry of entries) visit(entry);
  return files;
}

describe("evaluateBatch's imports", () => {
  it("include no node: module and nothing of the emulator", () => {
    const entries = readdirSync(join(src, "batch")).map((f) => join(src, "batch", f));
    const files = reachable([...entries, join(src, "content-hash.ts")]);
    expect(files.size).toBeGreaterThan(entries.length);
    const offending = [...files].flatMap(([file, specifiers]) =>
      specifiers
        .filter((s) => s.startsWith("node:") || s.includes("emulator"))
        .map((s) => `${relative(src, file)} imports ${s}`),
    );
    expect(offending).toEqual([]);
  });
});

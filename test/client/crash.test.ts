// A peer that does not speak HTTP/2 properly must fail the client's calls, never take the host process down. Each
// case runs in a child process with no 'uncaughtException' handler, so an unhandled 'error' event ends it non-zero.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { TRANSPORT } from "../support/transports.js";

const run = promisify(execFile);
const child = fileURLToPath(new URL("../fixtures/hostile-peer-child.mjs", import.meta.url));

describe("a misbehaving peer does not crash the host process", () => {
  for (const variant of ["http1", "random", "continuation-flood", "push-promise", "push-promise-early"]) {
    it(`four calls in a row against a ${variant} peer each fail, and the process exits 0`, async () => {
      const { stdout } = await run(process.execPath, [child, variant, TRANSPORT], { timeout: 15_000 });
      expect(stdout).toContain("4 of 4 calls failed with a ClavataError");
    });
  }
});

// `npm run demo` (after its build step): the built demo runs on its own emulator and exits 0 with every section.

import { beforeAll, describe, expect, it } from "vitest";
import { CLI_DEMO, requireBuild, runScript } from "../support/spawn-cli.js";

beforeAll(() => requireBuild());

describe("the demo", () => {
  it("runs every step against an in-process emulator and exits 0", async () => {
    const run = await runScript(CLI_DEMO, []);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const out = run.stdout;
    expect(out).toMatch(/Emulator at http:\/\/127\.0\.0\.1:\d+ with the sample policies/);
    for (const section of [
      "── 1. A batch of comments, streamed (client.evaluate)",
      "── 2. Images, one call each (client.evaluateOne)",
      "── 3. Labels (client.evaluateLabels)",
      "── 4. A background job with a webhook",
      "── Next",
    ]) {
      expect(out).toContain(section);
    }
    // Clean and violating texts, with the exceptions that clear some of them.
    expect(out).toMatch(/c1\s+"Great photo, thanks for sharing!"\s+clear/);
    expect(out).toMatch(/c2\s+".*"\s+BLOCK Threats 0\.95/);
    expect(out).toMatch(/c4\s+".*"\s+BLOCK Commercial spam 0\.85, REVIEW Links 0\.55/);
    expect(out).toContain("5 of 9 comments need action");
    // A PNG evaluated, a known image blocked, an unsupported image refused with its reason.
    expect(out).toMatch(/photo\.png\s+clear/);
    expect(out).toMatch(/flagged\.png\s+BLOCK Known images 1\.00/);
    expect(out).toMatch(/banner\.gif\s+refused: UNSUPPORTED_FORMAT/);
    expect(out).toMatch(/broken\.png\s+refused: INVALID_CONTENT/);
    // Labels.
    expect(out).toMatch(/label-insults-v1\s+match\s+0\.90/);
    // The job's webhook, received on loopback and verified.
    expect(out).toMatch(/Job [0-9a-f-]{36} created: PENDING/);
    expect(out).toContain("Webhook received and verified: job COMPLETED, 3 results.");
    expect(out).toMatch(/m2\s+".*"\s+BLOCK Threats 0\.95/);
    expect(out).toContain("A forged call with the wrong secret got 401 (wrong_secret).");
    expect(out).toMatch(/Demo finished in \d+\.\d s\./);
  });
});

// vitest settings for every run: npm test (both projects, after a build), npm run test:unit (the "unit" project, no
// build), npx vitest run <file>.
import { configDefaults, defineConfig } from "vitest/config";

/** The test files that run the built dist/ (the bin, the demo, the packed package, a child process importing it). */
const BUILT = ["test/cli/bin.test.ts", "test/cli/demo.test.ts", "test/client/crash.test.ts", "test/package.test.ts"];

export default defineConfig({
  test: {
    // Generous limits: these bound a hung test on a loaded machine; no test waits for them to pass.
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Fails a test file that leaves timers, sockets or servers alive after its last test.
    setupFiles: ["test/support/leak-guard.ts"],
    // expect.poll waits for an event that a loaded machine may deliver late; it returns as soon as it holds.
    expect: { poll: { timeout: 10_000 } },
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["test/**/*.test.ts"], exclude: [...configDefaults.exclude, ...BUILT] },
      },
      { extends: true, test: { name: "built", include: BUILT } },
    ],
  },
});

// Builds dist/ (npm run build) only when it is missing or older than what it is built from, so that
// `npm run demo`, `npm run emulator` and `npm run clavata` start at once on a second run and still never run stale
// code. Prints what it does on standard error, so the command's own output stays clean.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const stamp = join(root, "dist", ".build-stamp");
const sources = ["src", "gen", "package.json", "tsconfig.json", "tsconfig.build.json", "tsconfig.cjs.json"];

/** The newest modification time under `path` (a file or a folder, recursively), or 0 when it does not exist. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const changed = Math.max(...sources.map((source) => newest(join(root, source))));
if (built === 0 || changed > built) {
  process.stderr.write(built === 0 ? "building dist/ (not built yet)…\n" : "building dist/ (the sources changed)…\n");
  execFileSync("npm", ["run", "--silent", "build"], { cwd: root, stdio: ["ignore", process.stderr, "inherit"] });
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

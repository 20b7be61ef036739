// Sums V8 CPU profiles (from `npm run bench -- --profile DIR`, or `node
// --cpu-prof`) by where the time went: each npm package, our own files, and
// groups of Node.js internals. With the number of calls or results the profile
// covers, it prints µs per call or result, side by side for several profiles:
//
//   node dist-bench/bench/profile-summary.js --per 800 DIR/createjob-c1-ours-r1.cpuprofile DIR/createjob-c1-theirs-r1.cpuprofile

import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The parts of a .cpuprofile this reads. */
interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string } }>;
  samples: number[];
  timeDeltas: number[];
}

/** Where a sampled function's time counts. */
export function bucketOf(functionName: string, url: string): string {
  if (url === "") return functionName.startsWith("(") ? functionName : `native ${functionName}`;
  const path = url.replace(/^file:\/\//, "");
  const pkg = /node_modules\/(@[^/]+\/[^/]+|[^/]+)\//.exec(path);
  if (pkg !== null) return pkg[1]!;
  const own = /\/(src|gen|bench)\/(.+)\.js$/.exec(path);
  if (own !== null) return own[1] === "src" ? `src/${own[2]!}` : own[1]!;
  if (path.startsWith("node:internal/deps/undici")) return "node Headers (undici)";
  if (/abort_controller|domexception|event_target/.test(path)) return "node AbortController/EventTarget";
  if (path.includes("http2")) return "node http2";
  if (/streams|stream_base/.test(path)) return "node streams";
  if (path.includes("timers")) return "node timers";
  return "node other";
}

/** The busy time (µs, idle excluded) of a profile, in total and by bucket. */
export function summariseProfile(profile: CpuProfile): { busyUs: number; byBucket: Map<string, number> } {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byBucket = new Map<string, number>();
  let busyUs = 0;
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id);
    const us = profile.timeDeltas[i] ?? 0;
    if (frame === undefined || frame.functionName === "(idle)") return;
    busyUs += us;
    const bucket = bucketOf(frame.functionName, frame.url);
    byBucket.set(bucket, (byBucket.get(bucket) ?? 0) + us);
  });
  return { busyUs, byBucket };
}

function main(): void {
  const args = process.argv.slice(2);
  let per = 1;
  if (args[0] === "--per") {
    per = Number(args[1]);
    args.splice(0, 2);
  }
  if (args.length === 0 || !(per > 0)) {
    process.stderr.write("usage: node dist-bench/bench/profile-summary.js [--per N] FILE.cpuprofile...\n");
    process.exit(2);
  }
  const columns = args.map((file) => ({
    name: basename(file).replace(/\.cpuprofile$/, ""),
    ...summariseProfile(JSON.parse(readFileSync(file, "utf8")) as CpuProfile),
  }));
  const buckets = [...new Set(columns.flatMap((c) => [...c.byBucket.keys()]))];
  const largest = (b: string) => Math.max(...columns.map((c) => c.byBucket.get(b) ?? 0));
  buckets.sort((a, b) => largest(b) - largest(a));
  const width = Math.max(12, ...columns.map((c) => c.name.length));
  const line = (label: string, values: number[]) =>
    `${label.padEnd(34)}${values.map((v) => (v / per).toFixed(1).padStart(width + 2)).join("")}`;
  const unit = per === 1 ? "µs" : "µs per op";
  process.stdout.write(`${"".padEnd(34)}${columns.map((c) => c.name.padStart(width + 2)).join("")}\n`);
  process.stdout.write(
    `${line(
      `busy (${unit})`,
      columns.map((c) => c.busyUs),
    )}\n`,
  );
  for (const bucket of buckets) {
    if (largest(bucket) / per < 0.5) continue;
    process.stdout.write(
      `${line(
        bucket,
        columns.map((c) => c.byBucket.get(bucket) ?? 0),
      )}\n`,
    );
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) main();

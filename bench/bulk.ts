// The bulk scenario: 100,000 items over 16 concurrent streams, no faults. Our client drives them two ways, with
// client.evaluateBatch and with hand-written concurrent evaluate() streams (16 workers taking chunks of 100 items),
// and the official client with its own concurrent streams the same hand-written way. The table compares ours with
// theirs per figure; `evaluateBatch ÷ hand-written` is our own two figures' ratio (the target is at least 0.9).

import type { BenchItem, Contestant, PreparedItems } from "./contestants.js";
import { BENCH_POLICY_ID } from "./responses.js";
import type { ScenarioSpec } from "./scenarios.js";

const ITEMS = 100_000;
const CONCURRENCY = 16;
const CHUNK = 100;
const TEXT =
  "Check out my profile for a limited offer, only today, click the link in bio!! The moderators are useless.";

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  collect?.();
}

/**
 * The items, in chunks of CHUNK. Ids repeat every CHUNK items (the bench server caches an answer per distinct
 * metadata, and evaluateBatch's correlation key is the position in the stream), so that the server's cost is the
 * same for every way of sending them.
 */
function chunksOf(c: Contestant, count: number): PreparedItems[] {
  const chunks: PreparedItems[] = [];
  for (let start = 0; start < count; start += CHUNK) {
    const list: BenchItem[] = [];
    for (let i = start; i < Math.min(count, start + CHUNK); i++) list.push({ id: String(i % CHUNK), text: TEXT });
    chunks.push(c.prepare(list));
  }
  return chunks;
}

/** Hand-written concurrency: CONCURRENCY workers, each taking the next chunk as one evaluate() stream. */
async function handWritten(c: Contestant, chunks: readonly PreparedItems[]): Promise<number> {
  let next = 0;
  let count = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++]!;
      for await (const result of c.evaluate(chunk)) if (c.matched(result)) count++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return count;
}

/** The scenario; `run` measures evaluateBatch only for our client (the official one has no bulk call). */
export const bulkScenario: ScenarioSpec = {
  id: "bulk-100000-c16",
  title: "100,000 items, 16 concurrent streams of 100: ours evaluateBatch vs the official client's own streams",
  metrics: [
    { key: "itemsPerSec", label: "items/s (ours: evaluateBatch; official: its streams)", better: "higher" },
    { key: "handItemsPerSec", label: "items/s, hand-written concurrent evaluate()", better: "higher" },
    { key: "cpuUsPerItem", label: "client CPU µs/item (evaluateBatch; official: its streams)", better: "lower" },
  ],
  async run({ name, contestant, scale, mark, port }) {
    const c = await contestant();
    const count = Math.max(CHUNK, Math.round(ITEMS * scale));
    const chunks = chunksOf(c, count);
    const warmChunks = chunksOf(c, Math.max(CHUNK, Math.round(count / 10)));
    // Ours also runs evaluateBatch, on its own client over the same items (the contestant exposes evaluate only).
    const sdk = name === "ours" ? await import("../src/index.js") : undefined;
    const client =
      sdk === undefined
        ? undefined
        : new sdk.ClavataClient({
            apiKey: "bench-api-key",
            baseUrl: `http://127.0.0.1:${String(port)}`,
            insecure: true,
          });
    const flat = (list: readonly PreparedItems[]) => list.flatMap((p) => p.items as never[]);
    const batch = async (items: readonly unknown[]) => {
      let n = 0;
      for await (const outcome of client!.evaluateBatch(items as never, {
        policyId: BENCH_POLICY_ID,
        concurrency: CONCURRENCY,
        chunkSize: CHUNK,
      })) {
        if (outcome.kind !== "result") throw new Error(`evaluateBatch: item ${outcome.index} is ${outcome.kind}`);
        n++;
      }
      return n;
    };
    const allItems = client === undefined ? [] : flat(chunks);
    if (client !== undefined) await batch(flat(warmChunks));
    await handWritten(c, warmChunks);
    gc();
    await mark("start");
    let cpu = process.cpuUsage();
    let started = performance.now();
    const handCount = await handWritten(c, chunks);
    const handMs = performance.now() - started;
    const handCpuUs = process.cpuUsage(cpu);
    let itemsPerSec = (handCount / handMs) * 1000;
    let cpuUsPerItem = (handCpuUs.user + handCpuUs.system) / handCount;
    if (client !== undefined) {
      gc();
      cpu = process.cpuUsage();
      started = performance.now();
      const batchCount = await batch(allItems);
      const batchMs = performance.now() - started;
      const batchCpu = process.cpuUsage(cpu);
      if (batchCount !== count) throw new Error(`evaluateBatch: ${batchCount} of ${count} results`);
      itemsPerSec = (batchCount / batchMs) * 1000;
      cpuUsPerItem = (batchCpu.user + batchCpu.system) / batchCount;
    }
    await mark("end");
    if (handCount !== count) throw new Error(`${c.name}: ${handCount} of ${count} results`);
    await client?.close();
    await c.close();
    return { itemsPerSec, handItemsPerSec: (handCount / handMs) * 1000, cpuUsPerItem };
  },
};

// Evaluates every row of a CSV file (columns id, kind, content; kind is text or image_url) against a policy, in
// chunks streamed with client.evaluate, a few chunks at once. A chunk that the gateway refuses is evaluated again
// row by row, so each refusal lands on its own row and the other rows still get their verdicts. Prints one line per
// row (in completion order) and a summary.
//
//   CLAVATA_API_KEY=… node dist-examples/bulk-evaluate-csv.js comments.csv policy-violence [chunk size] [concurrency]
//
// CLAVATA_HOST, CLAVATA_PORT and CLAVATA_INSECURE=1 point it at a local gateway or the emulator.

import { readFile } from "node:fs/promises";
import {
  ClavataClient,
  EvaluationRefusedError,
  imageUrlContent,
  matchedLabels,
  textContent,
  verdictOf,
} from "clavata-connect";

interface Row {
  id: string;
  kind: string;
  content: string;
}

interface RowVerdict {
  id: string;
  outcome: string;
  detail: string;
}

const [file, policyId, chunkArg, concurrencyArg] = process.argv.slice(2);
if (file === undefined || policyId === undefined) {
  console.error("usage: bulk-evaluate-csv <file.csv> <policy id> [chunk size, default 100] [concurrency, default 4]");
  process.exit(2);
}
const chunkSize = Number(chunkArg ?? 100);
const concurrency = Number(concurrencyArg ?? 4);

/** One CSV line into fields: quoted fields may hold commas and doubled quotes (not line breaks, in this example). */
function fields(line: string): string[] {
  return [...line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)].map(([, f = ""]) =>
    f.startsWith('"') ? f.slice(1, -1).replaceAll('""', '"') : f,
  );
}

function parseCsv(text: string): Row[] {
  const [header = "", ...lines] = text.trim().split(/\r?\n/);
  const columns = fields(header);
  const at = (name: string) => {
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`${file}: the header has no "${name}" column`);
    return i;
  };
  const [id, kind, content] = [at("id"), at("kind"), at("content")];
  return lines.map((line) => {
    const f = fields(line);
    return { id: f[id] ?? "", kind: f[kind] ?? "text", content: f[content] ?? "" };
  });
}

const client = new ClavataClient({
  host: process.env.CLAVATA_HOST || undefined,
  port: process.env.CLAVATA_PORT ? Number(process.env.CLAVATA_PORT) : undefined,
  insecure: process.env.CLAVATA_INSECURE === "1",
});

function item(row: Row) {
  const build = row.kind === "image_url" ? imageUrlContent : textContent;
  return build(row.content, { metadata: { id: row.id } });
}

async function evaluateChunk(chunk: Row[]): Promise<RowVerdict[]> {
  const verdicts: RowVerdict[] = [];
  try {
    // A chunk of images can take a while: give each stream more than the default 60 s.
    for await (const result of client.evaluate(
      { policyId: policyId!, contentData: chunk.map(item) },
      { timeoutMs: 300_000 },
    )) {
      const verdict = verdictOf(result);
      const labels = matchedLabels(result).map((l) => l.name);
      verdicts.push({ id: verdict.metadata.id ?? "?", outcome: verdict.outcome, detail: labels.join(", ") });
    }
    return verdicts;
  } catch (err) {
    if (!(err instanceof EvaluationRefusedError)) throw err;
    if (chunk.length === 1) return [{ id: chunk[0]!.id, outcome: "refused", detail: err.topReason }];
    // One refused item refused the whole chunk: evaluate its rows one by one.
    return (await Promise.all(chunk.map((row) => evaluateChunk([row])))).flat();
  }
}

try {
  const rows = parseCsv(await readFile(file, "utf8"));
  const chunks: Row[][] = [];
  for (let i = 0; i < rows.length; i += chunkSize) chunks.push(rows.slice(i, i + chunkSize));
  const verdicts: RowVerdict[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < chunks.length) {
        for (const v of await evaluateChunk(chunks[next++]!)) {
          verdicts.push(v);
          console.log([v.id, v.outcome, v.detail].filter(Boolean).join(" "));
        }
      }
    }),
  );
  const count = (outcome: string) => verdicts.filter((v) => v.outcome === outcome).length;
  console.log(`${rows.length} rows: ${count("match")} matched, ${count("clear")} clear, ${count("refused")} refused`);
} finally {
  await client.close();
}

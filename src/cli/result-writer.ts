// Writing item results as they arrive: a readable table (id, outcome, score, matched labels) or NDJSON, in arrival
// order or, with --ordered, in input order (each result is held back until every earlier one has been written).

import { type ItemResult, resultJson } from "./item-result.js";

/** Something drawn on the terminal that must step aside while a line is written, such as a progress bar. */
export interface Overlay {
  clear(): void;
  redraw(): void;
}

/** How to write results. */
export interface ResultWriterOptions {
  /** Where results go (standard output). */
  out: NodeJS.WritableStream;
  /** NDJSON (one JSON object per line) instead of the table. */
  json: boolean;
  /** Write in input order (by `index`) instead of as results arrive. */
  ordered: boolean;
  /** The ids to size the table's first column for. */
  ids: readonly string[];
  /** A progress bar on the same terminal as `out`, erased around each line. */
  overlay?: Overlay | undefined;
}

const MAX_ID_WIDTH = 40;
const OUTCOME_WIDTH = 8;
const SCORE_WIDTH = 5;

// Long ids lose their start: the end of a path or a numbered id is what tells rows apart.
function fitToWidth(text: string, width: number): string {
  const oneLine = text.replace(/[\r\n\t]+/g, " ");
  return oneLine.length > width ? `…${oneLine.slice(oneLine.length - width + 1)}` : oneLine.padEnd(width);
}

/** The table's last column: the matched labels with their scores, the refusal reason, or why evaluation failed. */
export function detailOf(result: ItemResult): string {
  switch (result.outcome) {
    case "refused":
      return `${result.refusal?.reason ?? "UNKNOWN"}: ${result.refusal?.message ?? ""}`.trim();
    case "failed":
      return result.error ?? "";
    default:
      return Object.entries(result.labels)
        .sort(([, a], [, b]) => b - a)
        .map(([name, score]) => `${name} ${score.toFixed(2)}`)
        .join(", ");
  }
}

/** Writes results to a stream as a table or NDJSON, optionally restoring input order. */
export class ResultWriter {
  readonly #options: ResultWriterOptions;
  readonly #idWidth: number;
  readonly #held = new Map<number, ItemResult>();
  #next = 0;
  #headerWritten = false;
  #written = 0;

  /** Makes a writer; nothing is written until the first result (or `header()`). */
  constructor(options: ResultWriterOptions) {
    this.#options = options;
    // A loop, not Math.max(...ids): spreading a batch of a few hundred thousand ids overflows the call stack.
    let widest = 2;
    for (const id of options.ids) widest = Math.max(widest, id.length);
    this.#idWidth = Math.min(MAX_ID_WIDTH, widest);
  }

  /** How many results have been written so far. */
  get written(): number {
    return this.#written;
  }

  /** Writes the table header (once), unless the output is NDJSON. */
  header(): void {
    if (this.#headerWritten || this.#options.json) return;
    this.#headerWritten = true;
    this.#line(
      `${"ID".padEnd(this.#idWidth)}  ${"OUTCOME".padEnd(OUTCOME_WIDTH)}  ${"SCORE".padEnd(SCORE_WIDTH)}  LABELS`,
    );
  }

  /** Takes one result: writes it now, or holds it until the results before it (with `ordered`). */
  add(result: ItemResult): void {
    if (!this.#options.ordered || result.index < 0) {
      this.#write(result);
      return;
    }
    this.#held.set(result.index, result);
    while (this.#held.has(this.#next)) {
      const ready = this.#held.get(this.#next)!;
      this.#held.delete(this.#next);
      this.#next++;
      this.#write(ready);
    }
  }

  /** Writes every held result, in input order, skipping items that never got one (after an error). */
  flush(): void {
    for (const index of [...this.#held.keys()].sort((a, b) => a - b)) this.#write(this.#held.get(index)!);
    this.#held.clear();
  }

  #write(result: ItemResult): void {
    this.#written++;
    if (this.#options.json) {
      this.#line(JSON.stringify(resultJson(result)));
      return;
    }
    this.header();
    const score = result.score === undefined ? "-" : result.score.toFixed(2);
    this.#line(
      `${fitToWidth(result.id, this.#idWidth)}  ${result.outcome.padEnd(OUTCOME_WIDTH)}  ${score.padEnd(SCORE_WIDTH)}  ${detailOf(result)}`.trimEnd(),
    );
  }

  #line(text: string): void {
    this.#options.overlay?.clear();
    this.#options.out.write(`${text}\n`);
    this.#options.overlay?.redraw();
  }
}

// `clavata evaluate --input … --checkpoint FILE`: remembers which items of a batch are finished, so that a rerun
// with the same input skips them and a million-row run that dies does not start over.
//
// The file is text: a header line with the input's fingerprint and item count, then one finished item index per
// line, appended as results arrive. An item is finished once it has a result or a refusal; failed items are not
// recorded, so a rerun tries them again. A line cut short by a crash is ignored (that item is simply redone).

import { createHash } from "node:crypto";
import { createWriteStream, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { UsageError } from "./args.js";
import type { InputItem } from "./input-items.js";

const MAGIC = "clavata-checkpoint 1";

/** A fingerprint of a batch's items: their ids, contents and metadata, in order. */
export function inputFingerprint(items: readonly InputItem[]): string {
  const hash = createHash("sha256");
  for (const item of items) {
    hash.update(`${item.id}\0${item.content.case}\0`);
    hash.update(item.content.value);
    hash.update(`\0${JSON.stringify(item.metadata)}\n`);
  }
  return hash.digest("hex");
}

/** The finished items of a batch, read from and appended to a checkpoint file. */
export class Checkpoint {
  readonly #out: WriteStream;
  /** The indices finished in earlier runs (and not changed by this one). */
  readonly finished: ReadonlySet<number>;
  /** The file's path. */
  readonly path: string;

  private constructor(path: string, out: WriteStream, finished: ReadonlySet<number>) {
    this.path = path;
    this.#out = out;
    this.finished = finished;
  }

  /**
   * Opens the checkpoint file for these items: reads the finished indices if the file exists, else starts it.
   * Throws UsageError when the file was written for another input, or cannot be read or written.
   */
  static async open(path: string, items: readonly InputItem[], command: string): Promise<Checkpoint> {
    const header = `${MAGIC} ${inputFingerprint(items)} ${items.length}`;
    let text: string | undefined;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
        throw new UsageError(`--checkpoint: cannot read ${path}: ${(error as Error).message}`, command);
      }
    }
    const finished = new Set<number>();
    if (text !== undefined && text !== "") {
      const lines = text.split("\n");
      if (!lines[0]!.startsWith(MAGIC)) {
        throw new UsageError(
          `--checkpoint: ${path} is not a checkpoint file; pass a new file name (it is created) or delete it`,
          command,
        );
      }
      if (lines[0] !== header) {
        throw new UsageError(
          `--checkpoint: ${path} was written for another input (other items, or another order); delete it to start over, or pass the input it was made for`,
          command,
        );
      }
      for (const line of lines.slice(1)) {
        if (!/^\d+$/.test(line)) continue;
        const index = Number(line);
        if (index < items.length) finished.add(index);
      }
    }
    const out = createWriteStream(path, { flags: "a" });
    await new Promise<void>((resolve, reject) => {
      out.once("open", () => resolve());
      out.once("error", (error) =>
        reject(new UsageError(`--checkpoint: cannot write ${path}: ${error.message}`, command)),
      );
    });
    if (text === undefined || text === "") out.write(`${header}\n`);
    else if (!text.endsWith("\n")) out.write("\n");
    return new Checkpoint(path, out, finished);
  }

  /** Records that the item at `index` is finished. */
  record(index: number): void {
    this.#out.write(`${index}\n`);
  }

  /** Flushes and closes the file. */
  close(): Promise<void> {
    return new Promise((resolve) => this.#out.end(() => resolve()));
  }
}

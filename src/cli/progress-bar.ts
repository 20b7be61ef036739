// The progress bar of a batch: drawn on standard error, and only when that is a terminal, so that it never ends up
// in a file or a pipe. It shows items done, the rate and the time left.

import type { CliOutput } from "./command-context.js";

/** Formats a duration in seconds as "45s", "2m05s" or "1h02m". */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * One line of progress, such as `[#########...........] 420/1000  42%  310 items/s  ETA 2s`, fitted to `columns`
 * characters. The rate and ETA appear once some time has passed and an item is done.
 */
export function renderProgress(done: number, total: number, elapsedMs: number, columns = 80): string {
  const fraction = total === 0 ? 1 : Math.min(1, done / total);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  const counts = `${done}/${total}`;
  let tail = "";
  if (elapsedMs > 0 && done > 0) {
    const rate = (done * 1000) / elapsedMs;
    const rateText = rate >= 10 ? String(Math.round(rate)) : rate.toFixed(1);
    tail = `  ${rateText} items/s`;
    if (done < total) tail += `  ETA ${formatEta((total - done) / rate)}`;
  }
  const text = ` ${counts} ${percent}${tail}`;
  const barWidth = Math.max(10, Math.min(40, columns - text.length - 3));
  const filled = Math.round(fraction * barWidth);
  return `[${"#".repeat(filled)}${".".repeat(barWidth - filled)}]${text}`;
}

/** A progress bar on a terminal stream. Redraws at most every 100 ms, and on `redraw()`. */
export class ProgressBar {
  readonly #stream: CliOutput;
  readonly #total: number;
  readonly #started = Date.now();
  #done = 0;
  #drawnAt = 0;
  #visible = false;

  /** Makes a bar for `total` items on `stream` (a terminal); nothing is drawn until the first tick. */
  constructor(stream: CliOutput, total: number) {
    this.#stream = stream;
    this.#total = total;
  }

  /** Counts one more item done, and redraws if the last drawing is old enough. */
  tick(): void {
    this.#done++;
    const now = Date.now();
    if (now - this.#drawnAt >= 100 || this.#done === this.#total) this.redraw(now);
  }

  /** Draws the bar now. */
  redraw(now = Date.now()): void {
    this.#drawnAt = now;
    this.#visible = true;
    this.#stream.write(
      `\r\x1b[2K${renderProgress(this.#done, this.#total, now - this.#started, this.#stream.columns || 80)}`,
    );
  }

  /** Erases the bar (before other output goes to the same terminal). */
  clear(): void {
    if (!this.#visible) return;
    this.#stream.write("\r\x1b[2K");
    this.#visible = false;
  }
}

// The summary of a run: how many items had each outcome, the refusals by reason, and the tokens billed.

import type { ItemOutcome, ItemResult } from "./item-result.js";

const numbers = new Intl.NumberFormat("en-US");

const bySeverity = ["CSAM", "UNSUPPORTED_FORMAT", "INVALID_CONTENT"];

function severity(reason: string): number {
  const rank = bySeverity.indexOf(reason);
  return rank < 0 ? bySeverity.length : rank;
}

/** Counts results as they arrive and says what they add up to. */
export class ResultTally {
  /** Items per outcome. */
  readonly counts: Record<ItemOutcome, number> = { match: 0, clear: 0, refused: 0, failed: 0 };
  /** Refused items per reason. */
  readonly refusals = new Map<string, number>();
  /** Input tokens counted. */
  inputTokens = 0;
  /** Tokens billed. */
  billedTokens = 0;

  /** Counts one result. */
  add(result: ItemResult): void {
    this.counts[result.outcome]++;
    if (result.refusal !== undefined)
      this.refusals.set(result.refusal.reason, (this.refusals.get(result.refusal.reason) ?? 0) + 1);
    if (result.tokens !== undefined) {
      this.inputTokens += result.tokens.input;
      this.billedTokens += result.tokens.billed;
    }
  }

  /** How many results were counted. */
  get total(): number {
    return this.counts.match + this.counts.clear + this.counts.refused + this.counts.failed;
  }

  /**
   * The summary as lines of text: the counts per outcome, the refusals by reason (when there are any), the
   * tokens, and how many of `expected` items got no result (when some did not).
   */
  lines(expected = this.total): string[] {
    const c = this.counts;
    const items = expected === 1 ? "1 item" : `${numbers.format(expected)} items`;
    const lines = [
      `${items}: ${numbers.format(c.match)} matched, ${numbers.format(c.clear)} clear, ${numbers.format(c.refused)} refused, ${numbers.format(c.failed)} failed`,
    ];
    const missing = expected - this.total;
    if (missing > 0) lines.push(`${numbers.format(missing)} without a result (the run stopped early)`);
    if (this.refusals.size > 0) {
      // Most frequent first; ties by severity, so the line does not depend on the order answers arrived in.
      const reasons = [...this.refusals]
        .sort(([ra, a], [rb, b]) => b - a || severity(ra) - severity(rb) || ra.localeCompare(rb))
        .map(([reason, n]) => `${reason} ${numbers.format(n)}`);
      lines.push(`refused by reason: ${reasons.join(", ")}`);
    }
    lines.push(`tokens: ${numbers.format(this.inputTokens)} input, ${numbers.format(this.billedTokens)} billed`);
    return lines;
  }
}

/**
 * A per-API-key request limit: at most `requests` calls in any `perMs` window. Calls over the limit are answered
 * RESOURCE_EXHAUSTED with a google.rpc.RetryInfo hint: `retryDelayMs` when given, otherwise the time until the key
 * may call again.
 */
export interface RateLimit {
  requests: number;
  perMs: number;
  retryDelayMs?: number;
}

/**
 * Counts calls per key in a sliding window.
 * @internal
 */
export class RateLimiter {
  private readonly calls = new Map<string, number[]>();

  constructor(
    private readonly limit: RateLimit,
    private readonly now: () => number = Date.now,
  ) {
    if (!Number.isInteger(limit.requests) || limit.requests < 1) {
      throw new RangeError(`rateLimit.requests must be a whole number, 1 or more, got ${limit.requests}`);
    }
    if (!(limit.perMs > 0)) throw new RangeError(`rateLimit.perMs must be more than 0, got ${limit.perMs}`);
    if (limit.retryDelayMs !== undefined && !(limit.retryDelayMs >= 0)) {
      throw new RangeError(`rateLimit.retryDelayMs must be 0 or more, got ${limit.retryDelayMs}`);
    }
  }

  /**
   * Records a call for `key` when it is within the limit and returns undefined; over the limit, records nothing and
   * returns how long the caller should wait, in milliseconds.
   */
  take(key: string): number | undefined {
    const t = this.now();
    const windowStart = t - this.limit.perMs;
    const recent = (this.calls.get(key) ?? []).filter((at) => at > windowStart);
    if (recent.length >= this.limit.requests) {
      this.calls.set(key, recent);
      return this.limit.retryDelayMs ?? Math.max(1, recent[0]! + this.limit.perMs - t);
    }
    recent.push(t);
    this.calls.set(key, recent);
    return undefined;
  }
}

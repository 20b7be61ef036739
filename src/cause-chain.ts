// The walk along an error's `cause` chain, written once: retry decisions, TLS hints and protocol-failure mapping
// all look for a Node.js error code somewhere below a ConnectError.

/**
 * The error and every error in its `cause` chain, outermost first. Stops at a value that is not an Error and at
 * a cycle, so a hostile or buggy chain cannot loop forever; at most `limit` (default 32) entries.
 */
export function causeChain(error: unknown, limit = 32): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && !chain.includes(current) && chain.length < limit) {
    chain.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return chain;
}

/** The string `code` properties (such as "ECONNRESET") found along the cause chain, outermost first. */
export function causeCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (const e of causeChain(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") codes.push(code);
  }
  return codes;
}

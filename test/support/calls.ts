// What the client tests do with a call's outcome: take the ClavataError it threw, or every message of a stream.
import { expect } from "vitest";
import { ClavataError, Code, InvalidRequestError } from "../../src/index.js";

/** The ClavataError a call rejected with; fails the test if it resolved or threw anything else. */
export async function thrown(promise: Promise<unknown>): Promise<ClavataError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ClavataError);
    return error as ClavataError;
  }
  throw new Error("expected the call to throw");
}

/** Runs `fn`, expects it to throw an InvalidRequestError (code INVALID_ARGUMENT) at once, and returns it. */
export function invalidRequest(fn: () => unknown): InvalidRequestError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).code).toBe(Code.InvalidArgument);
    return error as InvalidRequestError;
  }
  throw new Error("expected an InvalidRequestError");
}

/** Every message of a stream, in the order they came. */
export async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** The messages a stream yields before it fails, and what it failed with; fails the test if it ends without failing. */
export async function drainToError<T>(iterable: AsyncIterable<T>): Promise<{ messages: T[]; error: unknown }> {
  const messages: T[] = [];
  try {
    for await (const message of iterable) messages.push(message);
  } catch (error) {
    return { messages, error };
  }
  throw new Error("expected the stream to fail");
}

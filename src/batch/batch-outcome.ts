// What a bulk evaluation yields for each input item: exactly one outcome, its result, its refusal or its error.

import type { EvaluateResponse } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import type { ClavataError } from "../errors.js";
import type { RefusedContent } from "../refusals.js";

/** What every outcome says about its item. */
interface OutcomeBase {
  /** The item's position in the input, from 0. */
  readonly index: number;
  /** The item's own id: its `metadata.id`, when it has one. */
  readonly id: string | undefined;
  /** How many times the item was sent (sends that the gateway refused before evaluating do not count). */
  readonly attempts: number;
}

/** The item was evaluated: `result` is its EvaluateResponse, with the metadata you sent in its report. */
export interface BatchResultOutcome extends OutcomeBase {
  readonly kind: "result";
  readonly result: EvaluateResponse;
  readonly refusal?: undefined;
  readonly error?: undefined;
}

/** The gateway refused the item (a precheck: CSAM hash, unsupported or corrupt image), with its reason and hash. */
export interface BatchRefusedOutcome extends OutcomeBase {
  readonly kind: "refused";
  readonly refusal: RefusedContent;
  readonly result?: undefined;
  readonly error?: undefined;
}

/**
 * The item could not be evaluated: bad content (InvalidRequestError, never sent), or its last attempt failed
 * (ConnectionError, ServerError, TimeoutError, RateLimitError…).
 */
export interface BatchFailedOutcome extends OutcomeBase {
  readonly kind: "failed";
  readonly error: ClavataError;
  readonly result?: undefined;
  readonly refusal?: undefined;
}

/** The one outcome of one input item; tell the kinds apart by `kind`. */
export type BatchOutcome = BatchResultOutcome | BatchRefusedOutcome | BatchFailedOutcome;

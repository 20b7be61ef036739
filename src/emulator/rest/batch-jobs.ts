// Batch jobs in the emulator (REST only, as on the gateway): BatchJobService,
// the presigned upload URL (a loopback URL with an HMAC signature and an
// expiry), the state progression once the CSV arrives, the webhook call on
// completion, and the output file. The output format is the gateway's secret;
// the emulator writes JSON lines (or CSV), with a column the SDK does not know,
// so that clients are tested for keeping unknown columns.

import { createHmac, randomBytes, randomUUID, timingSafeEqual } from "node:crypto";
import type * as http from "node:http";
import { create, toJsonString } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  type BatchJob,
  BatchJobErrorCode,
  BatchJobSchema,
  type BatchJobService,
  BatchJobState,
} from "../../../gen/clavata/gateway/v1/batch_pb.js";
import { ContentDataSchema, Outcome } from "../../../gen/clavata/shared/v1/public_pb.js";
import { csvLine, csvRecords } from "../../batch-csv.js";
import { isLoopbackHost } from "../../loopback.js";
import type { PolicyEngine } from "../engine.js";
import { kCustomerId } from "../service.js";
import { sleep, timerDelay } from "../timers.js";

/** One webhook call of a completed batch job. */
export interface BatchWebhookDelivery {
  readonly batchJobId: string;
  readonly url: string;
  /** "delivered" (2xx), "failed", or "not-contacted" (not a loopback URL: the emulator never calls out). */
  readonly outcome: "delivered" | "failed" | "not-contacted";
  /** The JSON body sent: the BatchJob as proto3 JSON. */
  readonly body: string;
}

/** One PUT to an upload URL, as received (header names only, for tests that check what was sent). */
export interface BatchUpload {
  readonly batchJobId: string;
  readonly headerNames: readonly string[];
  readonly bytes: number;
}

/** How batch jobs behave. @private */
export interface BatchJobStoreOptions {
  engine: PolicyEngine;
  /** The REST base URL, known once the server listens. */
  baseUrl: () => string;
  /** How long each state lasts before the next, in ms. */
  stepDelayMs: number;
  /** The output file's format. */
  outputFormat: "jsonl" | "csv";
  /** How long an upload URL is valid, in ms. */
  uploadValidityMs?: number;
  log: (line: string) => void;
}

interface Entry {
  job: BatchJob;
  customerId: string;
  webhookUrl: string | undefined;
  output: string | undefined;
  stop: AbortController;
}

const HOUR = 3_600_000;

/** The emulator's batch jobs. @private */
export class BatchJobStore {
  readonly #jobs = new Map<string, Entry>();
  readonly #secret = randomBytes(32);
  readonly #options: BatchJobStoreOptions;
  readonly #closed = new AbortController();
  readonly deliveries: BatchWebhookDelivery[] = [];
  readonly uploads: BatchUpload[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(options: BatchJobStoreOptions) {
    this.#options = options;
  }

  /** BatchJobService over this store. */
  service(): ServiceImpl<typeof BatchJobService> {
    return {
      createBatchJob: (req, ctx) => {
        const policy = this.#options.engine.getPolicy(req.policyId ?? "");
        if (policy === undefined) {
          return {
            batchJobId: "",
            name: req.name ?? "",
            inputFileUploadUrl: "",
            error: {
              errorCode: BatchJobErrorCode.BATCH_JOB_ERROR_INVALID_POLICY,
              errorMessage: `policy "${req.policyId ?? ""}" not found; this emulator has: ${this.#options.engine.policies.map((p) => p.id).join(", ")}`,
            },
          };
        }
        const now = timestampFromDate(new Date());
        const batchJobId = randomUUID();
        const job = create(BatchJobSchema, {
          batchJobId,
          name: req.name ?? "",
          state: BatchJobState.INITIALIZED,
          createdAt: now,
          updatedAt: now,
          policyId: policy.id,
        });
        this.#jobs.set(batchJobId, {
          job,
          customerId: ctx.values.get(kCustomerId),
          webhookUrl: req.webhookUrl,
          output: undefined,
          stop: new AbortController(),
        });
        return {
          batchJobId,
          name: job.name,
          inputFileUploadUrl: this.#signedUrl("batch-uploads", batchJobId, this.#options.uploadValidityMs ?? 4 * HOUR),
        };
      },
      getBatchJobs: (req, ctx) => {
        const ids = new Set(req.batchJobIds);
        const states = new Set(req.states);
        const batchJobs = [...this.#jobs.values()]
          .filter((e) => e.customerId === ctx.values.get(kCustomerId))
          .filter((e) => ids.size === 0 || ids.has(e.job.batchJobId))
          .filter((e) => states.size === 0 || states.has(e.job.state))
          .map((e) => e.job);
        return { batchJobs };
      },
      cancelBatchJob: (req, ctx: HandlerContext) => {
        const entry = this.#jobs.get(req.batchJobId);
        if (entry === undefined || entry.customerId !== ctx.values.get(kCustomerId)) {
          throw new ConnectError(`batch job ${req.batchJobId} not found`, Code.NotFound);
        }
        if (entry.job.state === BatchJobState.COMPLETED || entry.job.state === BatchJobState.ERROR) {
          return {
            batchJobId: req.batchJobId,
            state: entry.job.state,
            error: {
              errorCode: BatchJobErrorCode.BATCH_JOB_ERROR_UNSPECIFIED,
              errorMessage: `batch job is already ${BatchJobState[entry.job.state]}`,
            },
          };
        }
        entry.stop.abort();
        this.#setState(entry, BatchJobState.CANCELLED);
        return { batchJobId: req.batchJobId, state: entry.job.state };
      },
    };
  }

  /** Answers the upload and output URLs; false for any other request. */
  async handleRaw(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
    const m = /^\/(batch-uploads|batch-outputs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return false;
    const [, kind, batchJobId] = m as unknown as [string, string, string];
    const entry = this.#jobs.get(batchJobId);
    if (entry === undefined || !this.#verify(kind, batchJobId, url)) {
      // A storage service answers a bad or expired signature with 403 and a short text, never the key.
      res.writeHead(403, { "content-type": "text/plain" }).end("signature does not match or has expired");
      return true;
    }
    if (kind === "batch-uploads") {
      if (req.method !== "PUT") {
        res.writeHead(405, { allow: "PUT" }).end();
        return true;
      }
      await this.#receiveUpload(entry, req, res);
      return true;
    }
    if (req.method !== "GET" || entry.output === undefined) {
      res.writeHead(404, { "content-type": "text/plain" }).end("no output file");
      return true;
    }
    res.writeHead(200, {
      "content-type": this.#options.outputFormat === "csv" ? "text/csv" : "application/x-ndjson",
      "content-length": Buffer.byteLength(entry.output),
    });
    res.end(entry.output);
    return true;
  }

  /** Resolves with the webhook delivery of a batch job; rejects after `timeoutMs`. */
  waitForDelivery(batchJobId: string, timeoutMs = 5000): Promise<BatchWebhookDelivery> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.deliveries.find((d) => d.batchJobId === batchJobId);
        if (found === undefined) return false;
        this.#waiters.delete(check as () => void);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check as () => void);
        reject(new Error(`no webhook delivery for batch job ${batchJobId} within ${timeoutMs} ms`));
      }, timerDelay(timeoutMs));
      if (!check()) this.#waiters.add(check as () => void);
    });
  }

  /** Stops every batch job in progress. */
  close(): void {
    this.#closed.abort();
    for (const entry of this.#jobs.values()) entry.stop.abort();
  }

  #signedUrl(kind: string, batchJobId: string, validMs: number): string {
    const expires = String(Date.now() + validMs);
    const signature = this.#sign(kind, batchJobId, expires);
    return `${this.#options.baseUrl()}/${kind}/${batchJobId}?expires=${expires}&signature=${signature}`;
  }

  #sign(kind: string, batchJobId: string, expires: string): string {
    return createHmac("sha256", this.#secret).update(`${kind}\n${batchJobId}\n${expires}`).digest("hex");
  }

  #verify(kind: string, batchJobId: string, url: URL): boolean {
    const expires = url.searchParams.get("expires") ?? "";
    const given = Buffer.from(url.searchParams.get("signature") ?? "", "utf8");
    const expected = Buffer.from(this.#sign(kind, batchJobId, expires), "utf8");
    return given.length === expected.length && timingSafeEqual(given, expected) && Number(expires) > Date.now();
  }

  #setState(entry: Entry, state: BatchJobState): void {
    entry.job.state = state;
    entry.job.updatedAt = timestampFromDate(new Date());
  }

  async #receiveUpload(entry: Entry, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    this.uploads.push({ batchJobId: entry.job.batchJobId, headerNames: Object.keys(req.headers), bytes: body.length });
    res.writeHead(200).end();
    if (entry.job.state !== BatchJobState.INITIALIZED) return; // the real service ignores late uploads too
    this.#setState(entry, BatchJobState.QUEUED);
    void this.#process(entry, body.toString("utf8")).catch((error: unknown) => {
      if (entry.stop.signal.aborted) return;
      this.#options.log(
        `batch job ${entry.job.batchJobId} failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      this.#setState(entry, BatchJobState.ERROR);
    });
  }

  async #process(entry: Entry, csv: string): Promise<void> {
    const signal = entry.stop.signal;
    const step = async (state: BatchJobState) => {
      await sleep(this.#options.stepDelayMs, signal);
      this.#setState(entry, state);
    };
    await step(BatchJobState.PREPROCESSING);
    const rows = await parseInput(csv);
    await step(BatchJobState.PREPROCESSED);
    const policy = this.#options.engine.getPolicy(entry.job.policyId);
    if (policy === undefined) throw new Error(`policy ${entry.job.policyId} no longer exists`);
    entry.job.policyVersionId = policy.versionId;
    await step(BatchJobState.SUBMITTED);
    const out: Record<string, unknown>[] = [];
    for (const row of rows) {
      const item = create(ContentDataSchema, {
        content: row.type === "text" ? { case: "text", value: row.content } : { case: "imageUrl", value: row.content },
      });
      try {
        const verdict = await this.#options.engine.evaluate(policy, item, undefined);
        if (verdict.kind === "refused") {
          out.push({
            ref_id: row.refId,
            content_hash: verdict.contentHash,
            outcome: "",
            score: "",
            error: verdict.failure.message,
          });
        } else {
          const review = verdict.report.reviewResult;
          out.push({
            ref_id: row.refId,
            content_hash: verdict.contentHash,
            // The enum's proto name, as proto3 JSON writes it.
            outcome: `OUTCOME_${Outcome[review?.outcome ?? Outcome.UNSPECIFIED]}`,
            score: review?.score ?? 0,
            error: "",
            emulator_note: "a column the SDK does not know",
          });
        }
      } catch (error) {
        out.push({
          ref_id: row.refId,
          content_hash: "",
          outcome: "",
          score: "",
          error: error instanceof Error ? error.message : String(error),
        });
      }
      if (signal.aborted) return;
    }
    await step(BatchJobState.POSTPROCESSING);
    entry.output =
      this.#options.outputFormat === "csv"
        ? csvLine(["ref_id", "content_hash", "outcome", "score", "error", "emulator_note"]) +
          out
            .map((r) =>
              csvLine(
                ["ref_id", "content_hash", "outcome", "score", "error", "emulator_note"].map((k) => String(r[k] ?? "")),
              ),
            )
            .join("")
        : out.map((r) => `${JSON.stringify(r)}\n`).join("");
    await step(BatchJobState.POSTPROCESSED);
    await step(BatchJobState.COMPLETED);
    entry.job.outputFileUrl = this.#signedUrl("batch-outputs", entry.job.batchJobId, 24 * HOUR);
    await this.#callWebhook(entry);
  }

  async #callWebhook(entry: Entry): Promise<void> {
    const url = entry.webhookUrl;
    if (url === undefined || url === "") return;
    const body = toJsonString(BatchJobSchema, entry.job);
    let outcome: BatchWebhookDelivery["outcome"] = "not-contacted";
    let host = "";
    try {
      host = new URL(url).hostname;
    } catch {
      outcome = "failed";
    }
    if (host !== "" && isLoopbackHost(host)) {
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body,
          signal: AbortSignal.any([this.#closed.signal, AbortSignal.timeout(10_000)]),
        });
        await res.body?.cancel();
        outcome = res.ok ? "delivered" : "failed";
      } catch {
        outcome = "failed";
      }
    }
    this.deliveries.push({ batchJobId: entry.job.batchJobId, url, outcome, body });
    for (const waiter of [...this.#waiters]) waiter();
  }
}

interface InputRow {
  refId: string;
  type: "text" | "image_url";
  content: string;
}

/** Reads the input CSV: a header with ref_id, type and content, unique ref_ids. Throws Error when it is not so. */
async function parseInput(csv: string): Promise<InputRow[]> {
  const rows: InputRow[] = [];
  let columns: { refId: number; type: number; content: number } | undefined;
  const seen = new Set<string>();
  for await (const record of csvRecords(
    (async function* () {
      yield csv;
    })(),
  )) {
    if (columns === undefined) {
      const names = record.map((n) => n.trim().toLowerCase());
      columns = { refId: names.indexOf("ref_id"), type: names.indexOf("type"), content: names.indexOf("content") };
      if (columns.refId < 0 || columns.type < 0 || columns.content < 0) {
        throw new Error("the input file needs the columns ref_id, type and content");
      }
      continue;
    }
    const refId = record[columns.refId] ?? "";
    const type = record[columns.type] ?? "";
    if (refId === "" || seen.has(refId)) throw new Error(`ref_id "${refId}" is empty or repeated`);
    if (type !== "text" && type !== "image_url") throw new Error(`type "${type}" is not text or image_url`);
    seen.add(refId);
    rows.push({ refId, type, content: record[columns.content] ?? "" });
  }
  return rows;
}

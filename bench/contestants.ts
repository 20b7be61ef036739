// The clients under test behind one small interface: ours (ClavataClient,
// Connect-ES over node:http2), the official @clavata/sdk (@grpc/grpc-js), and
// a diagnostic bare Connect-ES client. Each takes its input in its own format,
// prepared before the clock starts, and is used the way its README shows; the
// bench touches one field of each result, as any caller would. Each
// measurement process loads only the client it measures (a dynamic import),
// so none pays for loading another.

import type OfficialClient from "@clavata/sdk";
import type { EvaluateResponse as OfficialEvaluateMessage } from "@clavata/sdk";
import type { ClavataClient, ContentDataInit, EvaluateResponse } from "../src/index.js";
import { BENCH_POLICY_ID } from "./responses.js";

type OurModule = typeof import("../src/index.js");
type OfficialModule = typeof import("@clavata/sdk");
type BareModules = [
  typeof import("@connectrpc/connect"),
  typeof import("@connectrpc/connect-node"),
  typeof import("../gen/clavata/gateway/v1/gateway_pb.js"),
  typeof import("../gen/clavata/shared/v1/public_pb.js"),
];

/**
 * Which client: "ours" (clavata-connect), "theirs" (@clavata/sdk), or "connect", a diagnostic: the generated
 * service used through bare Connect-ES (createClient over createGrpcTransport, only an auth header added), which
 * shows how much of our figures is Connect-ES itself and how much is our client's own layer.
 */
export type ContestantName = "ours" | "theirs" | "connect";

/** The display name of each client. */
export const CONTESTANT_LABELS: Readonly<Record<ContestantName, string>> = {
  ours: "clavata-connect",
  theirs: "@clavata/sdk",
  connect: "bare Connect-ES",
};

/** One content item as the bench describes it; `id` goes into the item's metadata and comes back in its report. */
export interface BenchItem {
  readonly id: string;
  readonly text?: string;
  readonly image?: Uint8Array;
}

/** Content items in a client's own input format, built before a measurement starts. */
export interface PreparedItems {
  /** The client's own item objects. @private */
  readonly items: unknown;
}

/** What the bench needs from a client. Every method throws what the client throws. */
export interface Contestant {
  readonly name: ContestantName;
  /** Turns items into the client's input format (outside the timed part). */
  prepare(items: readonly BenchItem[]): PreparedItems;
  /** Starts an Evaluate stream; iterating yields one result per item. Ending the iteration early cancels it. */
  evaluate(items: PreparedItems, policyId?: string): AsyncIterable<unknown>;
  /** Creates a job for the items and returns it. */
  createJob(items: PreparedItems): Promise<unknown>;
  /** Gets a job. */
  getJob(jobUuid: string): Promise<unknown>;
  /**
   * Whether a result's review outcome is TRUE: the one field the bench reads from every result. Throws the
   * stream's failure when the client delivers it as an item.
   */
  matched(result: unknown): boolean;
  /** A result's echoed metadata id and its number of section reports, for checking answers. */
  describeResult(result: unknown): { id: string | undefined; sections: number };
  /** A job's uuid and its number of results, for checking answers. */
  describeJob(job: unknown): { uuid: string | undefined; results: number };
  /** Closes what can be closed. */
  close(): Promise<void>;
}

/** The API key both clients send; the bench server accepts any. */
const BENCH_API_KEY = "bench-api-key";

/** Our client, speaking gRPC over plaintext HTTP/2 to `port` on 127.0.0.1. */
function createOurs(port: number, { ClavataClient, imageContent, Outcome, textContent }: OurModule): Contestant {
  const client = new ClavataClient({
    apiKey: BENCH_API_KEY,
    baseUrl: `http://127.0.0.1:${String(port)}`,
    insecure: true,
  });
  const items = (p: PreparedItems) => p.items as ContentDataInit[];
  return {
    name: "ours",
    prepare(list) {
      const prepared = list.map((item) =>
        item.image !== undefined
          ? imageContent(item.image, { metadata: { id: item.id } })
          : textContent(item.text ?? "", { metadata: { id: item.id } }),
      );
      return { items: prepared };
    },
    evaluate: (p, policyId = BENCH_POLICY_ID) => client.evaluate({ policyId, contentData: items(p) }),
    createJob: (p) => client.createJob({ policyId: BENCH_POLICY_ID, contentData: items(p) }),
    getJob: (uuid) => client.getJob(uuid),
    matched: (r) => (r as EvaluateResponse).policyEvaluationReport?.reviewResult?.outcome === Outcome.TRUE,
    describeResult(r) {
      const report = (r as EvaluateResponse).policyEvaluationReport;
      return { id: report?.contentMetadata.id, sections: report?.sectionEvaluationReports.length ?? 0 };
    },
    describeJob(j) {
      const job = j as Awaited<ReturnType<ClavataClient["getJob"]>>;
      return { uuid: job.jobUuid, results: job.results.length };
    },
    close: () => client.close(),
  };
}

type OfficialItem = Parameters<OfficialClient["evaluate"]>[0]["contentData"][number];

/**
 * The official client, plaintext to `port` on 127.0.0.1 (its `insecure` option), with its default retry and
 * keepalive settings. It has no close(): its channel lives as long as the process.
 */
function createTheirs(port: number, { default: OfficialClient, StreamError }: OfficialModule): Contestant {
  const client = new OfficialClient({ apiKey: BENCH_API_KEY, server: `127.0.0.1:${String(port)}`, insecure: true });
  const items = (p: PreparedItems) => p.items as OfficialItem[];
  return {
    name: "theirs",
    prepare(list) {
      const prepared: OfficialItem[] = list.map((item) => ({
        content:
          item.image !== undefined ? { $case: "image", value: item.image } : { $case: "text", value: item.text ?? "" },
        contentType: item.image !== undefined ? "image/png" : "text",
        metadata: { id: item.id },
      }));
      return { items: prepared };
    },
    evaluate: (p, policyId = BENCH_POLICY_ID) => client.evaluate({ policyId, contentData: items(p) }),
    createJob: (p) => client.createJob({ policyId: BENCH_POLICY_ID, contentData: items(p) }),
    getJob: (uuid) => client.getJob(uuid),
    matched(r) {
      // The official stream yields a failure as a StreamError item instead of throwing (its README checks each item).
      if (r instanceof StreamError) throw r;
      return (r as OfficialEvaluateMessage).result === "TRUE";
    },
    describeResult(r) {
      if (r instanceof StreamError) throw r;
      const message = r as OfficialEvaluateMessage;
      const id = message.metadata?.id;
      return { id: typeof id === "string" ? id : undefined, sections: message.report?.sectionReports.length ?? 0 };
    },
    describeJob(j) {
      const job = j as Awaited<ReturnType<OfficialClient["getJob"]>>;
      return { uuid: job?.jobUuid, results: job?.results.length ?? 0 };
    },
    close: async () => {},
  };
}

/** The generated GatewayService through bare Connect-ES: no retries, deadlines, logging or error mapping. */
function createBareConnect(
  port: number,
  [{ createClient }, { createGrpcTransport, Http2SessionManager }, { GatewayService }, { Outcome }]: BareModules,
): Contestant {
  const baseUrl = `http://127.0.0.1:${String(port)}`;
  const sessionManager = new Http2SessionManager(baseUrl);
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager,
    interceptors: [
      (next) => (req) => {
        req.header.set("authorization", `Bearer ${BENCH_API_KEY}`);
        return next(req);
      },
    ],
  });
  const client = createClient(GatewayService, transport);
  const items = (p: PreparedItems) => p.items as ContentDataInit[];
  return {
    name: "connect",
    prepare(list) {
      const prepared: ContentDataInit[] = list.map((item) => ({
        content:
          item.image !== undefined ? { case: "image", value: item.image } : { case: "text", value: item.text ?? "" },
        metadata: { id: item.id },
      }));
      return { items: prepared };
    },
    evaluate: (p, policyId = BENCH_POLICY_ID) => client.evaluate({ policyId, contentData: items(p) }),
    createJob: async (p) => (await client.createJob({ policyId: BENCH_POLICY_ID, contentData: items(p) })).job,
    getJob: async (uuid) => (await client.getJob({ jobUuid: uuid })).job,
    matched: (r) => (r as EvaluateResponse).policyEvaluationReport?.reviewResult?.outcome === Outcome.TRUE,
    describeResult(r) {
      const report = (r as EvaluateResponse).policyEvaluationReport;
      return { id: report?.contentMetadata.id, sections: report?.sectionEvaluationReports.length ?? 0 };
    },
    describeJob(j) {
      const job = j as Awaited<ReturnType<ClavataClient["getJob"]>> | undefined;
      return { uuid: job?.jobUuid, results: job?.results.length ?? 0 };
    },
    close: async () => sessionManager.abort(),
  };
}

/** Loads and makes the named client for a bench server on `port`. */
export async function createContestant(name: ContestantName, port: number): Promise<Contestant> {
  switch (name) {
    case "ours":
      return createOurs(port, await import("../src/index.js"));
    case "theirs":
      return createTheirs(port, await import("@clavata/sdk"));
    case "connect":
      return createBareConnect(
        port,
        await Promise.all([
          import("@connectrpc/connect"),
          import("@connectrpc/connect-node"),
          import("../gen/clavata/gateway/v1/gateway_pb.js"),
          import("../gen/clavata/shared/v1/public_pb.js"),
        ]),
      );
  }
}

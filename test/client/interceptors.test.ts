// A caller's own Connect interceptors: they run on every attempt, after the client's own (so they see its auth and
// identification headers), for unary calls and streams, on either transport.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { afterEach, expect, it } from "vitest";
import { ClavataClient, JobStatus, textContent } from "../../src/index.js";
import { drain } from "../support/calls.js";
import { startTestServer } from "../support/test-server.js";
import { TRANSPORT } from "../support/transports.js";

const KEY = "sk-interceptors-0123456789";
const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

it("a caller's interceptors run on every attempt of unary calls and streams, and may add headers", async () => {
  let getJobs = 0;
  const s = await startTestServer({
    gateway: {
      getJob() {
        if (++getJobs === 1) throw new ConnectError("once", Code.Unavailable);
        return { job: { jobUuid: JOB, status: JobStatus.COMPLETED } };
      },
      async *evaluate() {
        yield { contentHash: "h::1" };
      },
    },
  });
  cleanup.push(() => s.close());
  const seen: string[] = [];
  const mine: Interceptor = (next) => async (req) => {
    seen.push(`${req.method.name} ${req.header.get("authorization") === `Bearer ${KEY}` ? "with" : "without"} auth`);
    req.header.set("x-mine", "yes");
    return next(req);
  };
  const client = new ClavataClient({
    apiKey: KEY,
    baseUrl: s.url,
    insecure: true,
    transport: TRANSPORT,
    interceptors: [mine],
    retryBackoff: { initialDelayMs: 1 },
  });
  cleanup.push(() => client.close());
  expect((await client.getJob(JOB)).status).toBe(JobStatus.COMPLETED);
  expect(await drain(client.evaluate({ policyId: "p", contentData: [textContent("a")] }))).toHaveLength(1);
  expect(seen).toEqual(["GetJob with auth", "GetJob with auth", "Evaluate with auth"]);
  expect(s.requests.map((r) => r.headers["x-mine"])).toEqual(["yes", "yes", "yes"]);
});

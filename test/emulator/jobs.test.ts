import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  type CreateJobRequest_Webhook,
  CreateJobRequest_WebhookSchema,
  type ListJobsRequest_QuerySchema,
  ListJobsRequestSchema,
} from "../../gen/clavata/gateway/v1/gateway_pb.js";
import {
  ContentDataSchema,
  type Job,
  type JobResult,
  JobResultSchema,
  JobStatus,
  JobType,
  Outcome,
  TimeRangeSchema,
} from "../../gen/clavata/shared/v1/public_pb.js";
import { JobStore, type JobStoreOptions, type NewJob } from "../../src/emulator/jobs.js";

const stores: JobStore[] = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.close();
});

function makeStore(options: JobStoreOptions): JobStore {
  const store = new JobStore(options);
  stores.push(store);
  return store;
}

function text(value: string, metadata: Record<string, string> = {}) {
  return create(ContentDataSchema, { content: { case: "text", value }, metadata });
}

function newJob(init: Partial<NewJob> = {}): NewJob {
  return {
    customerId: "cust-a",
    policyId: "policy-1",
    policyVersionId: "version-1",
    contentData: [text("hello")],
    threshold: 0.5,
    ...init,
  };
}

/** One result per content item, echoing its metadata, as the server's policy engine would. */
async function echoResults(job: Job): Promise<JobResult[]> {
  return job.contentData.map((item) =>
    create(JobResultSchema, {
      report: {
        policyId: job.policyId ?? "",
        policyVersionId: job.policyVersionId ?? "",
        contentMetadata: item.metadata,
        reviewResult: { outcome: Outcome.FALSE, score: 0.1 },
        threshold: job.threshold,
      },
    }),
  );
}

function listRequest(init: MessageInitShape<typeof ListJobsRequestSchema> = {}) {
  return create(ListJobsRequestSchema, init);
}

function ms(t: number) {
  return timestampFromDate(new Date(t));
}

function expectInvalidArgument(fn: () => unknown, message: RegExp) {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ConnectError);
  expect((caught as ConnectError).code).toBe(Code.InvalidArgument);
  expect((caught as ConnectError).rawMessage).toMatch(message);
}

/** Walks every page of a listing (from init.pageToken, if given) and returns the job ids in the order received. */
function walk(store: JobStore, customerId: string, init: MessageInitShape<typeof ListJobsRequestSchema>): string[] {
  const ids: string[] = [];
  let pageToken = init.pageToken ?? "";
  for (let pages = 0; pages < 1000; pages++) {
    const page = store.list(customerId, listRequest({ ...init, pageToken }));
    ids.push(...page.jobs.map((job) => job.jobUuid));
    if (page.nextPageToken === "") return ids;
    pageToken = page.nextPageToken;
  }
  throw new Error("the listing never ended");
}

describe("JobStore create and get", () => {
  it("stores a PENDING STANDARD job with the request's fields and returns copies", () => {
    const now = new Date("2025-01-02T03:04:05.678Z");
    const store = makeStore({ run: echoResults, delayMs: 60_000, now: () => now });
    const content = [text("one", { id: "1" }), text("two", { id: "2" })];
    const job = store.create(newJob({ contentData: content, threshold: 0.7 }));

    expect(job.jobUuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(job.customerId).toBe("cust-a");
    expect(job.status).toBe(JobStatus.PENDING);
    expect(job.jobType).toBe(JobType.STANDARD);
    expect(job.policyId).toBe("policy-1");
    expect(job.policyVersionId).toBe("version-1");
    expect(job.threshold).toBe(0.7);
    // Job.content_data is input only: the store keeps the content for the run and never hands it out.
    expect(job.contentData).toEqual([]);
    expect(job.results).toEqual([]);
    expect(timestampDate(job.created!)).toEqual(now);
    expect(timestampDate(job.updated!)).toEqual(now);
    expect(job.completed).toBeUndefined();

    // The returned job cannot reach into the store.
    job.status = JobStatus.FAILED;
    const again = store.get("cust-a", job.jobUuid)!;
    expect(again.status).toBe(JobStatus.PENDING);
    expect(again.contentData).toEqual([]);
  });

  it("keeps the content for the run only: run gets a copy of it, and no job handed out carries it", async () => {
    const seenByRun: Job[] = [];
    const finished: Job[] = [];
    const store = makeStore({
      delayMs: 1,
      run: (job) => {
        seenByRun.push(job);
        return echoResults(job);
      },
      onFinished: (job) => finished.push(job),
    });
    const content = [text("one", { id: "1" }), text("two", { id: "2" })];
    const created = store.create(newJob({ contentData: content }));
    // The caller's input cannot reach into the store.
    content[1]!.metadata.id = "changed";
    const ended = await store.waitForEnd(created.jobUuid);
    expect(seenByRun).toHaveLength(1);
    expect(seenByRun[0]!.contentData.map((item) => item.metadata.id)).toEqual(["1", "2"]);
    expect(ended.results.map((r) => r.report?.contentMetadata.id)).toEqual(["1", "2"]);
    for (const job of [created, ended, store.get("cust-a", created.jobUuid)!, ...finished]) {
      expect(job.contentData).toEqual([]);
    }
    expect(store.list("cust-a", listRequest()).jobs.map((j) => j.contentData)).toEqual([[]]);
  });

  it("gives every job a fresh id", () => {
    const store = makeStore({ run: echoResults, delayMs: 60_000 });
    const ids = new Set(Array.from({ length: 50 }, () => store.create(newJob()).jobUuid));
    expect(ids.size).toBe(50);
  });

  it("keeps customers apart in get and list", () => {
    const store = makeStore({ run: echoResults, delayMs: 60_000 });
    const a = store.create(newJob({ customerId: "cust-a" }));
    const b = store.create(newJob({ customerId: "cust-b" }));
    expect(store.get("cust-a", a.jobUuid)?.jobUuid).toBe(a.jobUuid);
    expect(store.get("cust-b", a.jobUuid)).toBeUndefined();
    expect(store.get("cust-a", b.jobUuid)).toBeUndefined();
    expect(store.get("cust-a", "no-such-job")).toBeUndefined();
    expect(store.list("cust-a", listRequest()).jobs.map((job) => job.jobUuid)).toEqual([a.jobUuid]);
    expect(store.list("cust-b", listRequest()).jobs.map((job) => job.jobUuid)).toEqual([b.jobUuid]);
    expect(store.list("cust-c", listRequest())).toEqual({ jobs: [], nextPageToken: "" });
  });

  it("rejects a negative delay", () => {
    expect(() => new JobStore({ run: echoResults, delayMs: -1 })).toThrow(/delayMs/);
  });
});

describe("JobStore state changes", () => {
  it("goes PENDING → RUNNING → COMPLETED with one result per item, and reports the end once", async () => {
    let clock = 1_000_000;
    const finished: Array<{ job: Job; webhook: CreateJobRequest_Webhook | undefined }> = [];
    const seenByRun: Job[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const store = makeStore({
      delayMs: 5,
      now: () => new Date(clock),
      run: async (job) => {
        seenByRun.push(job);
        await released;
        return echoResults(job);
      },
      onFinished: (job, webhook) => finished.push({ job, webhook }),
    });
    const webhook = create(CreateJobRequest_WebhookSchema, {
      url: "https://example.com/hook",
      extraHeaders: { Secret: "s" },
    });
    const created = store.create(newJob({ contentData: [text("a", { id: "a" }), text("b", { id: "b" })], webhook }));
    expect(created.status).toBe(JobStatus.PENDING);

    clock = 2_000_000;
    await vi.waitFor(() => expect(seenByRun).toHaveLength(1));
    expect(seenByRun[0]!.status).toBe(JobStatus.RUNNING);
    const running = store.get("cust-a", created.jobUuid)!;
    expect(running.status).toBe(JobStatus.RUNNING);
    expect(timestampDate(running.updated!).getTime()).toBe(2_000_000);
    expect(timestampDate(running.created!).getTime()).toBe(1_000_000);
    expect(running.completed).toBeUndefined();

    clock = 3_000_000;
    release();
    const ended = await store.waitForEnd(created.jobUuid);
    expect(ended.status).toBe(JobStatus.COMPLETED);
    expect(timestampDate(ended.completed!).getTime()).toBe(3_000_000);
    expect(timestampDate(ended.updated!).getTime()).toBe(3_000_000);
    expect(timestampDate(ended.created!).getTime()).toBe(1_000_000);
    expect(ended.results).toHaveLength(2);
    for (const [i, result] of ended.results.entries()) {
      expect(result.jobUuid).toBe(created.jobUuid);
      expect(timestampDate(result.created!).getTime()).toBe(3_000_000);
      expect(result.report?.contentMetadata).toEqual({ id: ["a", "b"][i] });
    }
    expect(store.get("cust-a", created.jobUuid)).toEqual(ended);

    expect(finished).toHaveLength(1);
    expect(finished[0]!.job).toEqual(ended);
    expect(finished[0]!.webhook).toEqual(webhook);
    // Resolves at once for a job that has already ended.
    await expect(store.waitForEnd(created.jobUuid)).resolves.toEqual(ended);
  });

  it("keeps a result's own created time", async () => {
    const store = makeStore({
      delayMs: 0,
      run: async (job) => [create(JobResultSchema, { created: ms(42_000), report: { policyId: job.policyId ?? "" } })],
    });
    const ended = await store.waitForEnd(store.create(newJob()).jobUuid);
    expect(timestampDate(ended.results[0]!.created!).getTime()).toBe(42_000);
  });

  it("ends FAILED, with completed set and no results, when run rejects", async () => {
    let clock = 5_000;
    const reasons: Array<string | undefined> = [];
    const store = makeStore({
      delayMs: 0,
      now: () => new Date(clock),
      run: async () => {
        clock = 9_000;
        throw new Error("policy engine exploded");
      },
      onFinished: (_job, webhook, reason) => {
        expect(webhook).toBeUndefined();
        reasons.push(reason);
      },
    });
    const job = store.create(newJob());
    const ended = await store.waitForEnd(job.jobUuid);
    expect(ended.status).toBe(JobStatus.FAILED);
    expect(ended.results).toEqual([]);
    expect(timestampDate(ended.completed!).getTime()).toBe(9_000);
    expect(timestampDate(ended.updated!).getTime()).toBe(9_000);
    expect(reasons).toEqual(["policy engine exploded"]);
  });

  it("ends FAILED when run throws synchronously or returns the wrong number of results", async () => {
    const reasons: Array<string | undefined> = [];
    const throwing = makeStore({
      delayMs: 0,
      run: () => {
        throw new Error("sync");
      },
      onFinished: (_job, _webhook, reason) => reasons.push(reason),
    });
    expect((await throwing.waitForEnd(throwing.create(newJob()).jobUuid)).status).toBe(JobStatus.FAILED);

    const short = makeStore({
      delayMs: 0,
      run: async () => [],
      onFinished: (_job, _webhook, reason) => reasons.push(reason),
    });
    expect((await short.waitForEnd(short.create(newJob()).jobUuid)).status).toBe(JobStatus.FAILED);
    expect(reasons[0]).toBe("sync");
    expect(reasons[1]).toMatch(/0 results for 1 content items/);
  });

  it("rejects waitForEnd for an unknown job and on timeout", async () => {
    const store = makeStore({ run: echoResults, delayMs: 60_000 });
    await expect(store.waitForEnd("no-such-job")).rejects.toThrow(/no job no-such-job/);
    const job = store.create(newJob());
    await expect(store.waitForEnd(job.jobUuid, 20)).rejects.toThrow(/did not end within 20 ms \(it is PENDING\)/);
  });

  it("waitForEnd with a timeout longer than a timer can take waits for the job (Node fired it after 1 ms)", async () => {
    const store = makeStore({ run: echoResults, delayMs: 10 });
    const job = store.create(newJob());
    // A 30-day deadline, then one of 99999999 hours, as a grpc-timeout may carry.
    await expect(store.waitForEnd(job.jobUuid, 30 * 86_400_000)).resolves.toMatchObject({
      status: JobStatus.COMPLETED,
    });
    const other = store.create(newJob());
    await expect(store.waitForEnd(other.jobUuid, 99_999_999 * 3_600_000)).resolves.toMatchObject({
      status: JobStatus.COMPLETED,
    });
  });

  it("close() stops the timers: a job left PENDING stays PENDING", async () => {
    const runs: string[] = [];
    const run = async (job: Job) => {
      runs.push(job.jobUuid);
      return echoResults(job);
    };
    const closed = makeStore({ run, delayMs: 10 });
    const control = makeStore({ run, delayMs: 10 });
    const stopped = closed.create(newJob());
    const waiting = closed.waitForEnd(stopped.jobUuid, 60_000);
    closed.close();
    closed.close(); // idempotent
    await expect(waiting).rejects.toThrow(/closed/);

    // The control store, with the same timers, gets all the way to COMPLETED meanwhile.
    const other = control.create(newJob());
    expect((await control.waitForEnd(other.jobUuid)).status).toBe(JobStatus.COMPLETED);
    expect(runs).toEqual([other.jobUuid]);
    expect(closed.get("cust-a", stopped.jobUuid)?.status).toBe(JobStatus.PENDING);
    expect(closed.list("cust-a", listRequest()).jobs.map((job) => job.jobUuid)).toEqual([stopped.jobUuid]);

    let error: unknown;
    try {
      closed.create(newJob());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.Unavailable);
  });

  it("close() leaves a RUNNING job RUNNING even when run settles later", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started = false;
    const finished: Job[] = [];
    const store = makeStore({
      delayMs: 0,
      run: async (job) => {
        started = true;
        await released;
        return echoResults(job);
      },
      onFinished: (job) => finished.push(job),
    });
    const job = store.create(newJob());
    await vi.waitFor(() => expect(started).toBe(true));
    store.close();
    release();
    await released;
    await new Promise((resolve) => setImmediate(resolve));
    expect(store.get("cust-a", job.jobUuid)?.status).toBe(JobStatus.RUNNING);
    expect(finished).toEqual([]);
  });
});

describe("JobStore ListJobs filters", () => {
  // Five jobs with exactly known times (ms since the epoch):
  //   job   policy  created  running(updated)  ended(updated = completed)  final status
  //   j1    p1      1000     1500              2000                        COMPLETED
  //   j2    p1      2000     2500              3000                        COMPLETED
  //   j3    p2      3000     3500              4000                        FAILED
  //   j4    p2      4000     4500              -                           RUNNING
  //   j5    p1      5000     -                 -                           PENDING
  async function fiveJobs() {
    let clock = 0;
    const controls = new Map<
      string,
      { resolve: (results: JobResult[]) => void; reject: (error: Error) => void; job: Job }
    >();
    const store = makeStore({
      delayMs: 0,
      now: () => new Date(clock),
      run: (job) => new Promise<JobResult[]>((resolve, reject) => controls.set(job.jobUuid, { resolve, reject, job })),
    });
    async function scripted(policyId: string, created: number, running?: number, ended?: number, fail = false) {
      clock = created;
      const job = store.create(newJob({ policyId }));
      if (running === undefined) return job.jobUuid;
      clock = running;
      await vi.waitFor(() => expect(controls.has(job.jobUuid)).toBe(true));
      if (ended === undefined) return job.jobUuid;
      clock = ended;
      const control = controls.get(job.jobUuid)!;
      if (fail) control.reject(new Error("failed on purpose"));
      else control.resolve(await echoResults(control.job));
      await store.waitForEnd(job.jobUuid);
      return job.jobUuid;
    }
    const j1 = await scripted("p1", 1000, 1500, 2000);
    const j2 = await scripted("p1", 2000, 2500, 3000);
    const j3 = await scripted("p2", 3000, 3500, 4000, true);
    const j4 = await scripted("p2", 4000, 4500);
    const j5 = await scripted("p1", 5000);
    // Freeze j4 RUNNING and j5 PENDING.
    store.close();
    return { store, j1, j2, j3, j4, j5 };
  }

  it("has the scripted states", async () => {
    const { store, j1, j2, j3, j4, j5 } = await fiveJobs();
    const statuses = [j1, j2, j3, j4, j5].map((id) => store.get("cust-a", id)!.status);
    expect(statuses).toEqual([
      JobStatus.COMPLETED,
      JobStatus.COMPLETED,
      JobStatus.FAILED,
      JobStatus.RUNNING,
      JobStatus.PENDING,
    ]);
    const updated = [j1, j2, j3, j4, j5].map((id) => timestampDate(store.get("cust-a", id)!.updated!).getTime());
    expect(updated).toEqual([2000, 3000, 4000, 4500, 5000]);
  });

  it("filters by every range kind, inclusive and exclusive at exact boundaries, and open-ended", async () => {
    const { store, j1, j2, j3, j4, j5 } = await fiveJobs();
    const ids = (query: MessageInitShape<typeof ListJobsRequest_QuerySchema>) =>
      store.list("cust-a", listRequest({ query })).jobs.map((job) => job.jobUuid);
    const range = (start: number | undefined, end: number | undefined, inclusive: boolean) =>
      create(TimeRangeSchema, {
        start: start === undefined ? undefined : ms(start),
        end: end === undefined ? undefined : ms(end),
        inclusive,
      });

    // No query at all, and an empty query: everything, newest first.
    expect(store.list("cust-a", listRequest()).jobs.map((job) => job.jobUuid)).toEqual([j5, j4, j3, j2, j1]);
    expect(ids({})).toEqual([j5, j4, j3, j2, j1]);

    // created
    expect(ids({ createdTimeRange: range(2000, 4000, true) })).toEqual([j4, j3, j2]);
    expect(ids({ createdTimeRange: range(2000, 4000, false) })).toEqual([j3]);
    expect(ids({ createdTimeRange: range(undefined, 2000, true) })).toEqual([j2, j1]);
    expect(ids({ createdTimeRange: range(undefined, 2000, false) })).toEqual([j1]);
    expect(ids({ createdTimeRange: range(4000, undefined, true) })).toEqual([j5, j4]);
    expect(ids({ createdTimeRange: range(4000, undefined, false) })).toEqual([j5]);
    expect(ids({ createdTimeRange: range(undefined, undefined, false) })).toEqual([j5, j4, j3, j2, j1]);
    expect(ids({ createdTimeRange: range(3000, 3000, true) })).toEqual([j3]);
    expect(ids({ createdTimeRange: range(3000, 3000, false) })).toEqual([]);
    // One nanosecond past a job's time excludes it even from an inclusive range.
    expect(
      ids({
        createdTimeRange: create(TimeRangeSchema, { start: { seconds: 2n, nanos: 1 }, end: ms(3000), inclusive: true }),
      }),
    ).toEqual([j3]);

    // updated: 2000, 3000, 4000, 4500, 5000
    expect(ids({ updatedTimeRange: range(3000, 4500, true) })).toEqual([j4, j3, j2]);
    expect(ids({ updatedTimeRange: range(3000, 4500, false) })).toEqual([j3]);
    expect(ids({ updatedTimeRange: range(undefined, 3000, true) })).toEqual([j2, j1]);
    expect(ids({ updatedTimeRange: range(4500, undefined, false) })).toEqual([j5]);

    // completed: 2000, 3000, 4000; j4 and j5 have none and never match, even an open range.
    expect(ids({ completedTimeRange: range(undefined, undefined, true) })).toEqual([j3, j2, j1]);
    expect(ids({ completedTimeRange: range(2000, 3000, true) })).toEqual([j2, j1]);
    expect(ids({ completedTimeRange: range(2000, 4000, false) })).toEqual([j2]);
    expect(ids({ completedTimeRange: range(3000, undefined, true) })).toEqual([j3, j2]);
    expect(ids({ completedTimeRange: range(undefined, 4000, false) })).toEqual([j2, j1]);
  });

  it("filters by status and policy id, and by several filters at once", async () => {
    const { store, j1, j2, j3, j4, j5 } = await fiveJobs();
    const ids = (query: MessageInitShape<typeof ListJobsRequest_QuerySchema>) =>
      store.list("cust-a", listRequest({ query })).jobs.map((job) => job.jobUuid);

    expect(ids({ status: JobStatus.UNSPECIFIED })).toEqual([j5, j4, j3, j2, j1]);
    expect(ids({ status: JobStatus.COMPLETED })).toEqual([j2, j1]);
    expect(ids({ status: JobStatus.FAILED })).toEqual([j3]);
    expect(ids({ status: JobStatus.RUNNING })).toEqual([j4]);
    expect(ids({ status: JobStatus.PENDING })).toEqual([j5]);
    expect(ids({ status: JobStatus.CANCELED })).toEqual([]);

    expect(ids({ policyId: "p1" })).toEqual([j5, j2, j1]);
    expect(ids({ policyId: "p2" })).toEqual([j4, j3]);
    expect(ids({ policyId: "" })).toEqual([]);
    expect(ids({ policyId: "nope" })).toEqual([]);

    const from2000 = create(TimeRangeSchema, { start: ms(2000), inclusive: true });
    expect(ids({ policyId: "p1", status: JobStatus.COMPLETED, createdTimeRange: from2000 })).toEqual([j2]);
    expect(ids({ policyId: "p2", status: JobStatus.COMPLETED })).toEqual([]);
    expect(
      ids({
        policyId: "p2",
        createdTimeRange: from2000,
        updatedTimeRange: create(TimeRangeSchema, { end: ms(4500), inclusive: false }),
      }),
    ).toEqual([j3]);

    // Another customer's listing with the same filters is empty.
    expect(store.list("cust-b", listRequest({ query: { policyId: "p1" } })).jobs).toEqual([]);
  });

  it("evaluates filters against each job's state at the time of the call", async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const store = makeStore({
      delayMs: 0,
      run: async (job) => {
        await released;
        return echoResults(job);
      },
    });
    const job = store.create(newJob());
    const running = listRequest({ query: { status: JobStatus.RUNNING } });
    await vi.waitFor(() => expect(store.list("cust-a", running).jobs).toHaveLength(1));
    release();
    await store.waitForEnd(job.jobUuid);
    expect(store.list("cust-a", running).jobs).toEqual([]);
    expect(store.list("cust-a", listRequest({ query: { status: JobStatus.COMPLETED } })).jobs).toHaveLength(1);
  });

  it("rejects a range whose start is after its end, and timestamps with bad nanos", () => {
    const store = makeStore({ run: echoResults, delayMs: 60_000 });
    expectInvalidArgument(
      () => store.list("cust-a", listRequest({ query: { createdTimeRange: { start: ms(2000), end: ms(1000) } } })),
      /query\.created_time_range: start \(1970-01-01T00:00:02\.000Z\) is after end/,
    );
    expectInvalidArgument(
      () =>
        store.list(
          "cust-a",
          listRequest({ query: { updatedTimeRange: { start: ms(2000), end: ms(1999), inclusive: true } } }),
        ),
      /query\.updated_time_range/,
    );
    expectInvalidArgument(
      () => store.list("cust-a", listRequest({ query: { completedTimeRange: { start: ms(5), end: ms(4) } } })),
      /query\.completed_time_range/,
    );
    expectInvalidArgument(
      () =>
        store.list(
          "cust-a",
          listRequest({ query: { createdTimeRange: { start: { seconds: 1n, nanos: 1_000_000_000 } } } }),
        ),
      /created_time_range\.start\.nanos/,
    );
  });
});

describe("JobStore ListJobs pages", () => {
  /** 25 jobs, created in groups of three sharing a created time, so that ties are broken by id. */
  function twentyFiveJobs() {
    let clock = 0;
    const store = makeStore({ run: echoResults, delayMs: 60_000, now: () => new Date(clock) });
    const jobs: Job[] = [];
    for (let i = 0; i < 25; i++) {
      clock = 1000 * Math.floor(i / 3);
      jobs.push(store.create(newJob()));
    }
    const expected = [...jobs]
      .sort((a, b) => {
        const byTime = timestampDate(b.created!).getTime() - timestampDate(a.created!).getTime();
        return byTime !== 0 ? byTime : a.jobUuid < b.jobUuid ? -1 : 1;
      })
      .map((job) => job.jobUuid);
    return {
      store,
      expected,
      setClock: (t: number) => {
        clock = t;
      },
    };
  }

  it("uses a page size of 10 by default", () => {
    const { store, expected } = twentyFiveJobs();
    const page = store.list("cust-a", listRequest({ pageSize: 0 }));
    expect(page.jobs.map((job) => job.jobUuid)).toEqual(expected.slice(0, 10));
    expect(page.nextPageToken).not.toBe("");
    expect(page.nextPageToken).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it("accepts a page size of 1000 and rejects 1001 and negative sizes", () => {
    const { store, expected } = twentyFiveJobs();
    const page = store.list("cust-a", listRequest({ pageSize: 1000 }));
    expect(page.jobs.map((job) => job.jobUuid)).toEqual(expected);
    expect(page.nextPageToken).toBe("");
    expectInvalidArgument(
      () => store.list("cust-a", listRequest({ pageSize: 1001 })),
      /page_size must be between 0 and 1000.*got 1001/,
    );
    expectInvalidArgument(
      () => store.list("cust-a", listRequest({ pageSize: -1 })),
      /page_size must be between 0 and 1000.*got -1/,
    );
  });

  it("walks 25 jobs in pages of 7, each job once, in order", () => {
    const { store, expected } = twentyFiveJobs();
    const sizes: number[] = [];
    let pageToken = "";
    const ids: string[] = [];
    do {
      const page = store.list("cust-a", listRequest({ pageSize: 7, pageToken }));
      sizes.push(page.jobs.length);
      ids.push(...page.jobs.map((job) => job.jobUuid));
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(sizes).toEqual([7, 7, 7, 4]);
    expect(ids).toEqual(expected);
    expect(walk(store, "cust-a", { pageSize: 5 })).toEqual(expected); // exactly 5 full pages, then an empty token
  });

  it("ends with an empty token when the last page is exactly full", () => {
    const { store, expected } = twentyFiveJobs();
    const first = store.list("cust-a", listRequest({ pageSize: 20 }));
    const last = store.list("cust-a", listRequest({ pageSize: 5, pageToken: first.nextPageToken }));
    expect(last.jobs.map((job) => job.jobUuid)).toEqual(expected.slice(20));
    expect(last.nextPageToken).toBe("");
  });

  it("walks a filtered listing", () => {
    const { store, expected } = twentyFiveJobs();
    // Created at 2000..5000 inclusive: jobs 6..17 in creation order.
    const query = { createdTimeRange: { start: ms(2000), end: ms(5000), inclusive: true } };
    const matching = expected.filter((id) => {
      const t = timestampDate(store.get("cust-a", id)!.created!).getTime();
      return t >= 2000 && t <= 5000;
    });
    expect(matching).toHaveLength(12);
    expect(walk(store, "cust-a", { query, pageSize: 5 })).toEqual(matching);
  });

  it("does not repeat or skip jobs when a job is created between pages", () => {
    const { store, expected, setClock } = twentyFiveJobs();
    const first = store.list("cust-a", listRequest({ pageSize: 7 }));
    setClock(100_000);
    const newcomer = store.create(newJob());
    const rest = walk(store, "cust-a", { pageSize: 7, pageToken: first.nextPageToken });
    const all = [...first.jobs.map((job) => job.jobUuid), ...rest];
    expect(all).toEqual(expected);
    expect(all).not.toContain(newcomer.jobUuid);
    // A fresh listing starts with the newcomer.
    expect(store.list("cust-a", listRequest({ pageSize: 1 })).jobs[0]?.jobUuid).toBe(newcomer.jobUuid);
  });

  it("rejects a tampered, invented or truncated token", () => {
    const { store } = twentyFiveJobs();
    const token = store.list("cust-a", listRequest({ pageSize: 7 })).nextPageToken;
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    for (const bad of [
      flip(token, 0),
      flip(token, token.length - 5),
      token.slice(0, -4),
      `${token}AAAA`,
      "!!!",
      "not a token",
      "AAAA",
    ]) {
      expectInvalidArgument(
        () => store.list("cust-a", listRequest({ pageSize: 7, pageToken: bad })),
        /page_token is malformed or was altered/,
      );
    }
    // A token from another store (same shape, different key) is not accepted either.
    const other = makeStore({ run: echoResults, delayMs: 60_000 });
    for (let i = 0; i < 8; i++) other.create(newJob());
    const foreign = other.list("cust-a", listRequest({ pageSize: 7 })).nextPageToken;
    expectInvalidArgument(() => store.list("cust-a", listRequest({ pageToken: foreign })), /malformed or was altered/);
  });

  it("rejects a token used with a different query or by another customer, but allows a new page size", () => {
    const { store, expected } = twentyFiveJobs();
    const token = store.list(
      "cust-a",
      listRequest({ pageSize: 7, query: { status: JobStatus.PENDING } }),
    ).nextPageToken;
    expectInvalidArgument(
      () =>
        store.list(
          "cust-a",
          listRequest({ pageToken: token, query: { status: JobStatus.PENDING, policyId: "policy-1" } }),
        ),
      /page_token was made for a different query/,
    );
    expectInvalidArgument(() => store.list("cust-a", listRequest({ pageToken: token })), /different query/);
    expectInvalidArgument(
      () => store.list("cust-b", listRequest({ pageToken: token, query: { status: JobStatus.PENDING } })),
      /different query/,
    );
    const next = store.list(
      "cust-a",
      listRequest({ pageSize: 3, pageToken: token, query: { status: JobStatus.PENDING } }),
    );
    expect(next.jobs.map((job) => job.jobUuid)).toEqual(expected.slice(7, 10));
  });
});

// The ListJobs query builder.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { InvalidRequestError, JobQueryBuilder, JobStatus, jobQuery } from "../../src/index.js";

describe("jobQuery", () => {
  it("builds every common filter", () => {
    const start = new Date("2024-01-01T00:00:00Z");
    const end = new Date("2024-01-31T00:00:00Z");
    const query = jobQuery()
      .createdBetween(start, end)
      .updatedBetween("2024-02-01T00:00:00Z", undefined, { inclusive: false })
      .completedBetween(undefined, end.getTime())
      .status(JobStatus.COMPLETED)
      .policy("policy-violence")
      .build();
    expect(timestampDate(query.createdTimeRange!.start as never).toISOString()).toBe(start.toISOString());
    expect(timestampDate(query.createdTimeRange!.end as never).toISOString()).toBe(end.toISOString());
    expect(query.createdTimeRange!.inclusive).toBe(true);
    expect(query.updatedTimeRange!.inclusive).toBe(false);
    expect(query.updatedTimeRange!.end).toBeUndefined();
    expect(query.completedTimeRange!.start).toBeUndefined();
    expect(query.status).toBe(JobStatus.COMPLETED);
    expect(query.policyId).toBe("policy-violence");
  });

  it("returns a new object from each build, so a builder makes several queries", () => {
    const builder = jobQuery().status(JobStatus.RUNNING);
    const first = builder.build();
    const second = builder.policy("p").build();
    expect(first.policyId).toBeUndefined();
    expect(second.policyId).toBe("p");
    expect(builder).toBeInstanceOf(JobQueryBuilder);
  });

  it("refuses bad filters, saying what to fix", () => {
    expect(() => jobQuery().createdBetween("2024-02-01", "2024-01-01")).toThrow(/starts after it ends/);
    expect(() => jobQuery().createdBetween("yesterday", undefined)).toThrow(InvalidRequestError);
    expect(() => jobQuery().createdBetween(undefined, undefined)).toThrow(/needs a start, an end, or both/);
    expect(() => jobQuery().status(17 as JobStatus)).toThrow(/not a JobStatus/);
    expect(() => jobQuery().policy(" ")).toThrow(/non-empty policy id/);
    // A date that does not exist is not moved to the next month.
    expect(() => jobQuery().createdBetween("2024-02-30", undefined)).toThrow(/not a valid date/);
    expect(() => jobQuery().createdBetween("2023-02-29T10:00:00Z", undefined)).toThrow(InvalidRequestError);
    expect(() => jobQuery().createdBetween("2024-02-29T23:30:00-05:00", undefined)).not.toThrow();
  });

  it("refuses a Timestamp its type declares invalid before anything is sent", async () => {
    const { ClavataClient } = await import("../../src/index.js");
    await using client = new ClavataClient({
      apiKey: "sk-query-test-0123456789",
      baseUrl: "http://127.0.0.1:9",
      insecure: true,
    });
    const bad = [
      [{ seconds: 1n, nanos: 2_000_000_000 }, /nanos.*0 to 999 999 999/],
      [{ seconds: 1n, nanos: -1 }, /nanos/],
      [{ seconds: -99_999_999_999_999n, nanos: 0 }, /years 1 to 9999/],
      [{ seconds: "253402300800" }, /years 1 to 9999/],
    ] as const;
    for (const [start, message] of bad) {
      const error = await client
        .listJobs({ query: { createdTimeRange: { start: start as never } } })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRequestError);
      expect((error as Error).message).toMatch(message);
    }
  });
});

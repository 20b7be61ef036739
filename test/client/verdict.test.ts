// The verdict helpers read real results from the emulator: a streamed result, a job's result and a bare report
// give the same verdict, in the words the CLI and the docs use.
import { create } from "@bufbuild/protobuf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Emulator, SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import {
  ClavataClient,
  isMatch,
  matchedLabels,
  Outcome,
  outcomeWord,
  PolicyEvaluationReportSchema,
  reportOf,
  scoreOf,
  sectionsOf,
  textContent,
  verdictOf,
} from "../../src/index.js";

describe("verdict helpers", () => {
  let emulator: Emulator;
  let client: ClavataClient;
  beforeAll(async () => {
    emulator = await startEmulator({ logger: false });
    client = new ClavataClient({ apiKey: "verdict-test-key-0123456789abc", baseUrl: emulator.url, insecure: true });
  });
  afterAll(async () => {
    await client.close();
    await emulator.close();
  });

  it("read a match from a streamed result: outcome, score, labels strongest first, sections", async () => {
    const result = await client.evaluateOne({
      policyId: SAMPLE_POLICY_IDS.spam,
      contentData: textContent("BUY NOW!!! Free money, click here: http://deals.example/win", {
        metadata: { id: "c4" },
      }),
    });
    const report = result.policyEvaluationReport!;
    expect(isMatch(result)).toBe(true);
    expect(scoreOf(result)).toBe(report.reviewResult?.score);
    const labels = matchedLabels(result);
    expect(labels.length).toBeGreaterThan(0);
    expect(labels.map((l) => l.name).sort()).toEqual(Object.keys(report.labelMatches).sort());
    for (let i = 1; i < labels.length; i++) expect(labels[i - 1]!.score).toBeGreaterThanOrEqual(labels[i]!.score);
    const sections = sectionsOf(result);
    expect(sections.map((s) => s.name)).toEqual(report.sectionEvaluationReports.map((s) => s.name));
    expect(
      sections
        .filter((s) => s.outcome === "match")
        .map((s) => s.name)
        .sort(),
    ).toEqual(labels.map((l) => l.name).sort());
    const verdict = verdictOf(result);
    expect(verdict).toMatchObject({ outcome: "match", matched: true, metadata: { id: "c4" } });
    expect(verdict.contentHash).toBe(result.contentHash);
  });

  it("read a clear result, and give the same verdict from a job's result as from the stream", async () => {
    const streamed = await client.evaluateOne({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: textContent("See you tomorrow"),
    });
    expect(isMatch(streamed)).toBe(false);
    expect(verdictOf(streamed).outcome).toBe("clear");
    expect(matchedLabels(streamed)).toEqual([]);

    const job = await client.createJob({
      policyId: SAMPLE_POLICY_IDS.violence,
      contentData: [textContent("See you tomorrow")],
    });
    const done = await client.waitForJob(job.jobUuid, { pollIntervalMs: 10 });
    const fromJob = done.results[0]!;
    expect(verdictOf(fromJob).outcome).toBe("clear");
    expect(verdictOf(fromJob).contentHash).toBe(streamed.contentHash);
    expect(reportOf(fromJob)).toBe(fromJob.report);
  });

  it("say unknown with no report, and fall back to the deprecated result of an old report", () => {
    expect(verdictOf(undefined)).toMatchObject({ outcome: "unknown", matched: false, labels: [], sections: [] });
    expect(isMatch(undefined)).toBe(false);
    expect(scoreOf(undefined)).toBeUndefined();
    const old = create(PolicyEvaluationReportSchema, { result: Outcome.TRUE });
    expect(isMatch(old)).toBe(true);
    expect(verdictOf(old).outcome).toBe("match");
  });

  it("name every wire outcome with one word", () => {
    expect([Outcome.TRUE, Outcome.FALSE, Outcome.FAILED, Outcome.UNSPECIFIED, 99 as Outcome].map(outcomeWord)).toEqual([
      "match",
      "clear",
      "failed",
      "unknown",
      "unknown",
    ]);
  });
});

// Content helpers and the checks every request passes before it is sent.
// (That nothing reaches the network on bad input is checked over the wire in
// client-wire.test.ts and emulator.test.ts.)
import { toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  EvaluateLabelsRequestSchema,
  EvaluateRequestSchema,
  imageContent,
  imageUrlContent,
  JobStatus,
  jobQuery,
  textContent,
} from "../../src/index.js";
import {
  buildCreateJobRequest,
  buildEvaluateLabelsRequest,
  buildEvaluateOneRequest,
  buildEvaluateRequest,
  buildGetJobRequest,
  buildListJobsRequest,
} from "../../src/requests.js";
import { invalidRequest } from "../support/calls.js";

describe("content helpers", () => {
  it("textContent builds a text item with metadata and title", () => {
    expect(textContent("hi", { metadata: { id: "1" }, title: "t" })).toEqual({
      content: { case: "text", value: "hi" },
      metadata: { id: "1" },
      title: "t",
    });
    expect(textContent("hi")).toEqual({ content: { case: "text", value: "hi" } });
  });

  it("imageContent takes a Uint8Array, a Buffer or an ArrayBuffer, without copying", () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    const fromBuffer = imageContent(Buffer.from(png)).content as { case: string; value: Uint8Array };
    expect(fromBuffer.case).toBe("image");
    expect(fromBuffer.value.constructor).toBe(Uint8Array);
    expect([...fromBuffer.value]).toEqual([...png]);
    const fromArrayBuffer = imageContent(png.buffer).content as { value: Uint8Array };
    expect(fromArrayBuffer.value.buffer).toBe(png.buffer);
    expect(imageContent(png, { metadata: { k: "v" } }).metadata).toEqual({ k: "v" });
  });

  it("imageUrlContent takes a string or a URL", () => {
    expect(imageUrlContent(new URL("https://example.com/a.jpg")).content).toEqual({
      case: "imageUrl",
      value: "https://example.com/a.jpg",
    });
  });

  it("encodes like the golden vector", () => {
    const bytes = toBinary(
      EvaluateRequestSchema,
      buildEvaluateRequest({
        contentData: [textContent("hello", { metadata: { id: "1" } })],
        policyId: "p1",
        threshold: 0.5,
        options: { options: { expedited: "true" } },
      }),
    );
    expect(Buffer.from(bytes).toString("hex")).toBe(
      "0a10120568656c6c6f4a070a0269641201311202703121000000000000e03f32130a110a09657870656469746564120474727565",
    );
  });

  it("refuse bad content at once, saying what to fix", () => {
    expect(invalidRequest(() => textContent("")).message).toMatch(/empty text/);
    expect(invalidRequest(() => textContent(42 as unknown as string)).message).toMatch(/empty text/);
    expect(invalidRequest(() => imageContent(new Uint8Array())).message).toMatch(/no image bytes/);
    expect(invalidRequest(() => imageUrlContent("ftp://x/y.png")).message).toMatch(/not an http or https URL/);
    expect(invalidRequest(() => imageUrlContent("not a url")).message).toMatch(/not an http or https URL/);
    const meta = invalidRequest(() => textContent("x", { metadata: { n: 1 as unknown as string } }));
    expect(meta.message).toMatch(/metadata\["n"\] is a number/);
  });
});

describe("request checks", () => {
  const ok = { policyId: "p", contentData: [textContent("x")] };

  it("needs content", () => {
    const e = invalidRequest(() => buildEvaluateRequest({ policyId: "p", contentData: [] }));
    expect(e.field).toBe("contentData");
    expect(e.message).toMatch(/contentData is empty/);
    invalidRequest(() => buildEvaluateRequest({ policyId: "p" }));
    invalidRequest(() => buildCreateJobRequest({ policyId: "p", contentData: [] }));
  });

  it("needs exactly one kind of content per item", () => {
    const none = invalidRequest(() =>
      buildEvaluateRequest({ policyId: "p", contentData: [textContent("a"), { metadata: { a: "b" } }] }),
    );
    expect(none.field).toBe("contentData[1].content");
    expect(none.message).toMatch(/contentData\[1\] has no content/);
    const two = invalidRequest(() =>
      buildEvaluateRequest({
        policyId: "p",
        contentData: [{ content: { case: "text", value: "a" }, imageUrl: "https://x/y.png" } as never],
      }),
    );
    expect(two.message).toMatch(/contentData\[0\] has 2 kinds of content \(text, imageUrl\)/);
    const twoJson = invalidRequest(() =>
      buildEvaluateRequest({ policyId: "p", contentData: [{ text: "a", image: new Uint8Array([1]) } as never] }),
    );
    expect(twoJson.message).toMatch(/2 kinds of content/);
    const jsonForm = invalidRequest(() =>
      buildEvaluateRequest({ policyId: "p", contentData: [{ text: "a" } as never] }),
    );
    expect(jsonForm.message).toMatch(/JSON form.*textContent/);
    invalidRequest(() => buildEvaluateRequest({ policyId: "p", contentData: [null as never] }));
  });

  it("needs a policy id", () => {
    for (const policyId of ["", "   ", undefined]) {
      const e = invalidRequest(() => buildEvaluateRequest({ ...ok, policyId: policyId as string }));
      expect(e.field).toBe("policyId");
      invalidRequest(() => buildCreateJobRequest({ ...ok, policyId: policyId as string }));
    }
  });

  it("needs a threshold in [0, 1]", () => {
    for (const threshold of [-0.1, 1.01, Number.NaN, Infinity, "0.5" as unknown as number]) {
      expect(invalidRequest(() => buildEvaluateRequest({ ...ok, threshold })).field).toBe("threshold");
      invalidRequest(() => buildCreateJobRequest({ ...ok, threshold }));
      invalidRequest(() =>
        buildEvaluateLabelsRequest({ contentData: textContent("x"), labelVersionIds: ["l"], threshold }),
      );
      invalidRequest(() =>
        buildEvaluateLabelsRequest({
          contentData: textContent("x"),
          labelVersionIds: ["l"],
          labelEvalOptions: { threshold },
        }),
      );
    }
    expect(buildEvaluateRequest({ ...ok, threshold: 0 }).threshold).toBe(0);
    expect(buildEvaluateRequest({ ...ok, threshold: 1 }).threshold).toBe(1);
  });

  it("checks free-form options", () => {
    invalidRequest(() =>
      buildEvaluateRequest({ ...ok, options: { options: { expedited: true as unknown as string } } }),
    );
  });

  it("evaluateOne takes a single item", () => {
    expect(buildEvaluateOneRequest({ policyId: "p", contentData: textContent("x") }).contentData).toHaveLength(1);
    expect(
      invalidRequest(() => buildEvaluateOneRequest({ policyId: "p", contentData: [textContent("x")] as never }))
        .message,
    ).toMatch(/use evaluate\(\)/);
    invalidRequest(() => buildEvaluateOneRequest({ policyId: "p" } as never));
    invalidRequest(() => buildEvaluateOneRequest({ policyId: "", contentData: textContent("x") }));
  });

  it("checks a webhook on CreateJob", () => {
    const e = invalidRequest(() => buildCreateJobRequest({ ...ok, webhook: { url: "http://example.com/hook" } }));
    expect(e.field).toBe("webhook.url");
    invalidRequest(() =>
      buildCreateJobRequest({ ...ok, webhook: { url: "https://x/y", extraHeaders: { "X-Webhook-Secret": "s" } } }),
    );
    expect(
      buildCreateJobRequest({ ...ok, webhook: { url: "https://x/y", extraHeaders: { Secret: "s" } } }).webhook?.url,
    ).toBe("https://x/y");
  });

  it("needs a job id", () => {
    expect(invalidRequest(() => buildGetJobRequest("")).field).toBe("jobUuid");
    expect(buildGetJobRequest("abc").jobUuid).toBe("abc");
  });

  it("checks the page size and the query of ListJobs", () => {
    for (const pageSize of [-1, 1001, 1.5])
      expect(invalidRequest(() => buildListJobsRequest({ pageSize })).field).toBe("pageSize");
    expect(buildListJobsRequest({ pageSize: 1000 }).pageSize).toBe(1000);
    expect(buildListJobsRequest().pageSize).toBe(0);
    const built = buildListJobsRequest({ query: jobQuery().status(JobStatus.COMPLETED).policy("p"), pageToken: "t" });
    expect(built.query?.status).toBe(JobStatus.COMPLETED);
    expect(built.query?.policyId).toBe("p");
    expect(built.pageToken).toBe("t");
    const backwards = invalidRequest(() =>
      buildListJobsRequest({ query: { createdTimeRange: { start: { seconds: 10n }, end: { seconds: 5n } } } }),
    );
    expect(backwards.message).toMatch(/starts after it ends/);
    invalidRequest(() => buildListJobsRequest({ query: { status: 42 as JobStatus } }));
    invalidRequest(() => buildListJobsRequest({ query: { policyId: "" } }));
  });

  it("takes 1 to 10 label version ids", () => {
    const content = textContent("x");
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `label-${String(i)}`);
    const request = buildEvaluateLabelsRequest({ contentData: content, labelVersionIds: ids(10) });
    expect(toBinary(EvaluateLabelsRequestSchema, request).length).toBeGreaterThan(0);
    const eleven = invalidRequest(() => buildEvaluateLabelsRequest({ contentData: content, labelVersionIds: ids(11) }));
    expect(eleven.message).toMatch(/11 ids but a call takes at most 10/);
    invalidRequest(() => buildEvaluateLabelsRequest({ contentData: content, labelVersionIds: [] }));
    invalidRequest(() => buildEvaluateLabelsRequest({ contentData: content, labelVersionIds: ["ok", ""] }));
    invalidRequest(() => buildEvaluateLabelsRequest({ labelVersionIds: ["l"] }));
    invalidRequest(() => buildEvaluateLabelsRequest({ contentData: {}, labelVersionIds: ["l"] }));
  });
});

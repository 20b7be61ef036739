// The sending-side webhook helper: attaching a webhook to a CreateJob request.
import { create, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  addWebhook,
  CreateJobRequestSchema,
  createWebhook,
  imageUrlContent,
  WEBHOOK_HEADER_PREFIX,
} from "../../src/index.js";
import { invalidRequest } from "../support/calls.js";

describe("createWebhook and addWebhook", () => {
  it("attach a webhook without changing the request, encoding like the golden vector", () => {
    const request = { contentData: [imageUrlContent("https://x/y.png")], policyId: "p1" };
    const withHook = addWebhook(request, "https://h/k", { A: "b" });
    expect("webhook" in request).toBe(false);
    expect(withHook.webhook).toEqual({ url: "https://h/k", extraHeaders: { A: "b" } });
    const hex = Buffer.from(toBinary(CreateJobRequestSchema, create(CreateJobRequestSchema, withHook))).toString("hex");
    expect(hex).toBe("0a11220f68747470733a2f2f782f792e706e671202703132150a0b68747470733a2f2f682f6b12060a0141120162");
  });

  it("takes a URL object and copies the headers", () => {
    const headers = { Secret: "s" };
    const hook = createWebhook(new URL("https://example.com/hooks?x=1"), headers);
    headers.Secret = "changed";
    expect(hook).toEqual({ url: "https://example.com/hooks?x=1", extraHeaders: { Secret: "s" } });
    expect(WEBHOOK_HEADER_PREFIX).toBe("X-Webhook-");
  });

  it("allows http only for a loopback host", () => {
    for (const url of [
      "http://127.0.0.1:8080/h",
      "http://localhost/h",
      "http://[::1]:9000/h",
      "http://api.localhost/h",
    ]) {
      expect(createWebhook(url).url).toBe(url);
    }
    for (const url of ["http://example.com/h", "http://10.0.0.1/h", "http://127.0.0.1.nip.io/h"]) {
      expect(invalidRequest(() => createWebhook(url)).message).toMatch(/must use https/);
    }
    expect(invalidRequest(() => createWebhook("ftp://example.com/h")).message).toMatch(/https URL/);
    expect(invalidRequest(() => createWebhook("/relative")).message).toMatch(/not an absolute URL/);
    expect(invalidRequest(() => createWebhook("")).field).toBe("webhook.url");
  });

  it("refuses credentials in the URL without repeating them", () => {
    const e = invalidRequest(() => createWebhook("https://user:hunter2@example.com/h"));
    expect(e.message).toMatch(/credentials/);
    expect(e.message).not.toContain("hunter2");
  });

  it("refuses header names and values that are not legal, without repeating the value", () => {
    expect(invalidRequest(() => createWebhook("https://x/h", { "Bad Name": "v" })).message).toMatch(
      /not a legal header name/,
    );
    expect(invalidRequest(() => createWebhook("https://x/h", { "A:B": "v" })).message).toMatch(
      /not a legal header name/,
    );
    expect(invalidRequest(() => createWebhook("https://x/h", { "A\r\nB": "v" })).message).toMatch(
      /not a legal header name/,
    );
    for (const value of ["a\r\nInjected: yes", "a\nb", "a\0b", "naïve"]) {
      const e = invalidRequest(() => createWebhook("https://x/h", { Secret: value }));
      expect(e.message).toMatch(/line break, a control character or non-ASCII/);
      expect(e.message).not.toContain(value);
      expect(e.field).toBe('webhook.extraHeaders["Secret"]');
    }
    expect(invalidRequest(() => createWebhook("https://x/h", { Secret: 1 as unknown as string })).message).toMatch(
      /must be strings/,
    );
    expect(createWebhook("https://x/h", { Secret: "tab\tand space ok" }).extraHeaders).toEqual({
      Secret: "tab\tand space ok",
    });
  });

  it("explains the X-Webhook- prefix instead of doubling it", () => {
    const e = invalidRequest(() => createWebhook("https://x/h", { "x-webhook-secret": "s" }));
    expect(e.message).toMatch(/leave out the "X-Webhook-" prefix/);
  });

  it("refuses the same header twice in different case", () => {
    expect(invalidRequest(() => createWebhook("https://x/h", { Secret: "a", secret: "b" })).message).toMatch(
      /given twice/,
    );
  });
});

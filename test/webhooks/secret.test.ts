// The shared-secret check: missing versus wrong, rotation, constant-time comparison, and the sending-side helper.
import crypto from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { InvalidRequestError } from "../../src/index.js";
import {
  generateWebhookSecret,
  verifyWebhookSecret,
  webhookHeaderName,
  webhookWithSecret,
} from "../../src/webhooks/index.js";
import { SecretCheck } from "../../src/webhooks/secret.js";
import { rejection } from "../support/webhook-servers.js";

const SECRET = "whsec-correct-horse-battery-staple";
const OLD_SECRET = "whsec-the-one-before-rotation-0001";

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error("expected an error, but nothing was thrown");
}

describe("verifyWebhookSecret", () => {
  it("accepts the right secret in X-Webhook-Secret, whatever the header's letter case", () => {
    expect(() => verifyWebhookSecret({ "x-webhook-secret": SECRET }, { secret: SECRET })).not.toThrow();
    expect(() => verifyWebhookSecret({ "X-Webhook-Secret": SECRET }, { secret: SECRET })).not.toThrow();
    expect(() => verifyWebhookSecret(new Headers({ "X-WEBHOOK-SECRET": SECRET }), { secret: SECRET })).not.toThrow();
  });

  it("reads a Map's header names in any letter case, and says what to pass for headers that are not headers", () => {
    expect(() => verifyWebhookSecret(new Map([["X-Webhook-Secret", SECRET]]), { secret: SECRET })).not.toThrow();
    for (const headers of [null, undefined, "x-webhook-secret"]) {
      const error = thrown(() => verifyWebhookSecret(headers as unknown as Headers, { secret: SECRET }));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toMatch(
        /^verifyWebhookSecret: headers is (null|undefined|a string); pass the request's headers/,
      );
    }
  });

  it("says the header is missing (401) when it is absent or empty, naming the header and the fix", () => {
    for (const headers of [{}, { "x-webhook-secret": "" }, new Headers()]) {
      const error = rejection(() => verifyWebhookSecret(headers, { secret: SECRET }));
      expect(error.reason).toBe("missing_secret");
      expect(error.status).toBe(401);
      expect(error.message).toContain("X-Webhook-Secret");
      expect(error.message).toContain("webhookWithSecret(url, secret)");
      expect(error.message).not.toContain(SECRET);
    }
  });

  it("says the secret is wrong (401), never quoting either secret", () => {
    const error = rejection(() => verifyWebhookSecret({ "x-webhook-secret": "guess-1234" }, { secret: SECRET }));
    expect(error.reason).toBe("wrong_secret");
    expect(error.status).toBe(401);
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain("guess-1234");
  });

  it("compares the whole value: a prefix, an extension or other letter case of the secret is wrong", () => {
    for (const value of [SECRET.slice(0, -1), `${SECRET}x`, SECRET.toUpperCase(), `${SECRET}, ${SECRET}`]) {
      expect(rejection(() => verifyWebhookSecret({ "x-webhook-secret": value }, { secret: SECRET })).reason).toBe(
        "wrong_secret",
      );
    }
  });

  it("accepts any of several secrets while they are rotated, and nothing else", () => {
    const options = { secret: [OLD_SECRET, SECRET] };
    expect(() => verifyWebhookSecret({ "x-webhook-secret": OLD_SECRET }, options)).not.toThrow();
    expect(() => verifyWebhookSecret({ "x-webhook-secret": SECRET }, options)).not.toThrow();
    expect(
      rejection(() => verifyWebhookSecret({ "x-webhook-secret": "whsec-retired-long-ago-000000" }, options)).reason,
    ).toBe("wrong_secret");
    // After the rotation the old one is refused.
    expect(rejection(() => verifyWebhookSecret({ "x-webhook-secret": OLD_SECRET }, { secret: [SECRET] })).reason).toBe(
      "wrong_secret",
    );
  });

  it("reads a custom header name, and says which header is missing with the matching fix", () => {
    expect(() => verifyWebhookSecret({ "x-webhook-token": SECRET }, { secret: SECRET, header: "Token" })).not.toThrow();
    const error = rejection(() =>
      verifyWebhookSecret({ "x-webhook-secret": SECRET }, { secret: SECRET, header: "Token" }),
    );
    expect(error.reason).toBe("missing_secret");
    expect(error.message).toContain("X-Webhook-Token");
    expect(error.message).toContain('{ header: "Token" }');
  });

  it("refuses options that could never match, without showing the secret", () => {
    expect(() => verifyWebhookSecret({}, { secret: [] })).toThrow(/pass `secret`/);
    expect(() => verifyWebhookSecret({}, { secret: undefined as unknown as string })).toThrow(TypeError);
    expect(() => verifyWebhookSecret({}, { secret: "" })).toThrow(/non-empty string/);
    for (const bad of [" padded-secret", "padded-secret ", "line\nbreak", "non-ascii-sécret"]) {
      const error = thrown(() => verifyWebhookSecret({}, { secret: bad }));
      expect(error).toBeInstanceOf(TypeError);
      expect(error.message).toMatch(/printable ASCII/);
      expect(error.message).not.toContain(bad);
    }
    expect(thrown(() => verifyWebhookSecret({}, { secret: [SECRET, " x"] })).message).toContain("secret[1]");
    expect(() => verifyWebhookSecret({}, { secret: SECRET, header: "X-Webhook-Secret" })).toThrow(
      /without the "X-Webhook-" prefix/,
    );
    expect(() => verifyWebhookSecret({}, { secret: SECRET, header: "Bad Name" })).toThrow(/not a legal header name/);
  });
});

describe("constant-time comparison", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  // The clock is not measured: the test checks that the code path is the same wherever a wrong secret differs and
  // whatever its length, and that it goes through crypto.timingSafeEqual on equal-length digests.
  it("runs timingSafeEqual on 32-byte digests against every secret, wherever the value differs and whatever its length", () => {
    const check = new SecretCheck([OLD_SECRET, SECRET]);
    const spy = vi.spyOn(crypto, "timingSafeEqual");
    const firstByte = `X${SECRET.slice(1)}`;
    const lastByte = `${SECRET.slice(0, -1)}X`;
    const cases = {
      "differs at the first byte": firstByte,
      "differs at the last byte": lastByte,
      "is one byte long": "X",
      "is far longer": SECRET.repeat(20),
    };
    const paths: string[] = [];
    for (const [what, value] of Object.entries(cases)) {
      spy.mockClear();
      expect(rejection(() => check.verify(value)).reason, what).toBe("wrong_secret");
      expect(spy, what).toHaveBeenCalledTimes(2);
      for (const [a, b] of spy.mock.calls) {
        expect((a as Buffer).byteLength, what).toBe(32);
        expect((b as Buffer).byteLength, what).toBe(32);
      }
      // The received value is digested once and compared against each expected secret.
      expect(spy.mock.calls[0]![0]).toEqual(spy.mock.calls[1]![0]);
      expect(
        spy.mock.results.every((r) => r.type === "return" && r.value === false),
        what,
      ).toBe(true);
      paths.push(spy.mock.calls.map(([a, b]) => `${(a as Buffer).byteLength}:${(b as Buffer).byteLength}`).join(","));
    }
    expect(new Set(paths).size).toBe(1);
  });

  it("keeps comparing after a match, so the time does not say which of the rotated secrets matched", () => {
    const check = new SecretCheck([OLD_SECRET, SECRET]);
    const spy = vi.spyOn(crypto, "timingSafeEqual");
    check.verify(OLD_SECRET);
    expect(spy).toHaveBeenCalledTimes(2);
    expect(spy.mock.results.map((r) => r.value)).toEqual([true, false]);
    spy.mockClear();
    check.verify(SECRET);
    expect(spy.mock.results.map((r) => r.value)).toEqual([false, true]);
  });

  it("never compares the raw values: what reaches timingSafeEqual is not the secret's bytes", () => {
    const check = new SecretCheck(SECRET);
    const spy = vi.spyOn(crypto, "timingSafeEqual");
    check.verify(SECRET);
    const [received, expected] = spy.mock.calls[0]! as [Buffer, Buffer];
    expect(received.equals(Buffer.from(SECRET))).toBe(false);
    expect(received.equals(expected)).toBe(true);
  });

  it("keeps no plain secret on the checker, where logging it would leak it", () => {
    const check = new SecretCheck(SECRET);
    expect(JSON.stringify(check)).not.toContain(SECRET);
    expect(Object.values(check).some((v) => String(v).includes(SECRET))).toBe(false);
  });
});

describe("webhookWithSecret", () => {
  it("builds the CreateJob webhook with the secret as the extra header Secret", () => {
    expect(webhookWithSecret("https://example.com/hooks/clavata", SECRET)).toEqual({
      url: "https://example.com/hooks/clavata",
      extraHeaders: { Secret: SECRET },
    });
    expect(
      webhookWithSecret(new URL("https://example.com/h"), SECRET, {
        header: "Token",
        extraHeaders: { Tenant: "acme" },
      }),
    ).toEqual({
      url: "https://example.com/h",
      extraHeaders: { Tenant: "acme", Token: SECRET },
    });
    expect(webhookWithSecret("http://127.0.0.1:8080/h", SECRET).url).toBe("http://127.0.0.1:8080/h");
  });

  it("names the header the receiver reads", () => {
    expect(webhookHeaderName()).toBe("X-Webhook-Secret");
    expect(webhookHeaderName("Token")).toBe("X-Webhook-Token");
  });

  it("refuses what the gateway could not carry or should not get, without showing the secret", () => {
    expect(() => webhookWithSecret("https://example.com/h", SECRET, { header: "X-Webhook-Secret" })).toThrow(
      /without the "X-Webhook-" prefix/,
    );
    expect(() => webhookWithSecret("http://example.com/h", SECRET)).toThrow(/https/);
    expect(() => webhookWithSecret("https://example.com/h", SECRET, { extraHeaders: { secret: "other" } })).toThrow(
      /twice/,
    );
    // The same name in the same case too: the secret must not silently replace the caller's header.
    const clash = thrown(() =>
      webhookWithSecret("https://example.com/h", SECRET, { extraHeaders: { Secret: "the caller's own value" } }),
    );
    expect(clash).toBeInstanceOf(InvalidRequestError);
    expect(clash.message).toMatch(/twice/);
    expect(clash.message).not.toContain(SECRET);
    const error = thrown(() => webhookWithSecret("https://example.com/h", `${SECRET}\r\nInjected: yes`));
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).field).toBe("secret");
    expect(error.message).not.toContain(SECRET);
  });
});

describe("generateWebhookSecret", () => {
  it("makes 32 random bytes as base64url, different each time and accepted as a secret", () => {
    const a = generateWebhookSecret();
    const b = generateWebhookSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, "base64url")).toHaveLength(32);
    expect(a).not.toBe(b);
    expect(() => verifyWebhookSecret({ "x-webhook-secret": a }, { secret: a })).not.toThrow();
  });
});

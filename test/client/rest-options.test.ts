// The protocol option: REST's own default port, and the options that do not apply to it.
import { describe, expect, it } from "vitest";
import { SAMPLE_POLICY_IDS, startEmulator } from "../../src/emulator/index.js";
import { ClavataClient, DEFAULT_REST_PORT, InvalidRequestError, ServerError, textContent } from "../../src/index.js";
import { thrown } from "../support/calls.js";

const apiKey = "sk-options-rest-0123";

describe("protocol: rest", () => {
  it("defaults to the REST gateway on port 8443, and takes host, port and baseUrl as gRPC does", async () => {
    await using byDefault = new ClavataClient({ apiKey, protocol: "rest" });
    expect(byDefault.baseUrl).toBe(`https://gateway.app.clavata.ai:${String(DEFAULT_REST_PORT)}`);
    await using byHost = new ClavataClient({ apiKey, protocol: "rest", host: "gw.example.com" });
    expect(byHost.baseUrl).toBe("https://gw.example.com:8443");
    await using byUrl = new ClavataClient({ apiKey, protocol: "rest", baseUrl: "https://api.clavata.ai" });
    expect(byUrl.baseUrl).toBe("https://api.clavata.ai");
    await using grpc = new ClavataClient({ apiKey });
    expect(grpc.baseUrl).toBe("https://gateway.app.clavata.ai");
  });

  it("refuses an unknown protocol and TLS options, which fetch does not take, saying what to do", () => {
    expect(() => new ClavataClient({ apiKey, protocol: "http3" as "rest" })).toThrow(InvalidRequestError);
    let error: unknown;
    try {
      new ClavataClient({ apiKey, protocol: "rest", tls: { ca: "pem" } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidRequestError);
    expect((error as InvalidRequestError).field).toBe("options.tls");
    expect((error as Error).message).toMatch(/NODE_EXTRA_CA_CERTS/);
  });
});

describe("proxy and fetch", () => {
  it("refuses a proxy URL where it would be bypassed (REST, connect-node), and fetch outside REST", () => {
    const field = (options: ConstructorParameters<typeof ClavataClient>[0]) => {
      try {
        new ClavataClient({ apiKey, ...options });
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidRequestError);
        return [(e as InvalidRequestError).field, (e as Error).message];
      }
      throw new Error("expected InvalidRequestError");
    };
    expect(field({ protocol: "rest", proxy: "http://proxy.internal:3128" })).toEqual([
      "options.proxy",
      expect.stringMatching(/pass a fetch that uses your proxy as the fetch option/),
    ]);
    expect(field({ transport: "connect-node", proxy: "http://proxy.internal:3128" })[0]).toBe("options.proxy");
    expect(field({ fetch: globalThis.fetch })).toEqual(["options.fetch", 'fetch applies to protocol "rest" only']);
    expect(field({ protocol: "rest", fetch: "fetch" as never })[0]).toBe("options.fetch");
    expect(() => new ClavataClient({ apiKey, protocol: "rest", proxy: false })).not.toThrow();
  });

  it("sends REST calls and batch-job transfers through the fetch option", async () => {
    await using emu = await startEmulator({ logger: false, restPort: 0, port: 0, apiKeys: [apiKey] });
    const urls: string[] = [];
    const fetch: typeof globalThis.fetch = (input, init) => {
      urls.push(new URL(input instanceof Request ? input.url : String(input)).pathname);
      return globalThis.fetch(input, init);
    };
    await using client = new ClavataClient({ apiKey, baseUrl: emu.restUrl, insecure: true, protocol: "rest", fetch });
    await client.evaluateOne({ policyId: SAMPLE_POLICY_IDS.violence, contentData: textContent("hello") });
    const batch = await client.createBatchJob({ policyId: SAMPLE_POLICY_IDS.violence });
    await client.uploadBatchInput(batch.inputFileUploadUrl, [{ refId: "a", type: "text", content: "hello" }]);
    expect(urls[0]).toBe("/v1/jobs/stream");
    expect(urls[1]).toBe("/v1/batch-jobs");
    expect(urls).toHaveLength(3);
  });
});

describe("maxReceiveMessageBytes over REST", () => {
  it("limits each answer the REST client reads, as it does over gRPC", async () => {
    await using emu = await startEmulator({ logger: false, restPort: 0, port: 0, apiKeys: [apiKey] });
    const options = { apiKey, baseUrl: emu.restUrl, insecure: true, protocol: "rest" } as const;
    await using small = new ClavataClient({ ...options, maxReceiveMessageBytes: 16 });
    const error = await thrown(
      small.createJob({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("hello")] }),
    );
    expect(error).toBeInstanceOf(ServerError);
    expect(error.message).toMatch(/maxReceiveMessageBytes/);
    await using roomy = new ClavataClient(options);
    expect(
      (await roomy.createJob({ policyId: SAMPLE_POLICY_IDS.spam, contentData: [textContent("hello")] })).jobUuid,
    ).toMatch(/^[0-9a-f-]{36}$/);
  });
});

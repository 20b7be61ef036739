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

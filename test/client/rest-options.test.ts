// The protocol option: REST's own default port, and the options that do not apply to it.
import { describe, expect, it } from "vitest";
import { ClavataClient, DEFAULT_REST_PORT, InvalidRequestError } from "../../src/index.js";

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

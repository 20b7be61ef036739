// One loopback rule: the client's webhook helpers and the emulator's webhook dispatcher accept and refuse the same
// webhook URLs, and an `app.localhost` webhook created with the client is delivered by the emulator.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { CreateJobRequest_WebhookSchema } from "../../gen/clavata/gateway/v1/gateway_pb.js";
import { startEmulator } from "../../src/emulator/index.js";
import { WebhookDispatcher } from "../../src/emulator/webhook-dispatcher.js";
import { ClavataClient, createWebhook, InvalidRequestError, textContent } from "../../src/index.js";
import { isLoopbackHost } from "../../src/loopback.js";

const KEY = "loopback-agreement-key-0123456789";

function clientAccepts(url: string): boolean {
  try {
    createWebhook(url, { Secret: "s" });
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidRequestError);
    return false;
  }
}

function emulatorAccepts(url: string): boolean {
  try {
    WebhookDispatcher.validate(create(CreateJobRequest_WebhookSchema, { url, extraHeaders: { Secret: "s" } }));
    return true;
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    return false;
  }
}

describe("the client and the emulator agree on webhook URLs", () => {
  it.each([
    ["http://app.localhost:9/hook", true],
    ["http://localhost.:9/hook", true],
    ["http://LOCALHOST:9/hook", true],
    ["http://[::ffff:7f00:1]:9/hook", true],
    ["http://[::ffff:127.0.0.1]:9/hook", true],
    ["http://[::1]:9/hook", true],
    ["http://127.1:9/hook", true],
    ["http://127.255.255.254/hook", true],
    ["https://example.com/hook", true],
    ["http://example.com/hook", false],
    ["http://localhost.example.com/hook", false],
    ["http://10.0.0.1/hook", false],
    ["http://[::2]/hook", false],
    ["http://0.0.0.0/hook", false],
    ["http://[::ffff:a00:1]/hook", false],
    ["ftp://localhost/hook", false],
    ["https://user:pass@localhost/hook", false],
  ])("%s → %s", (url, accepted) => {
    expect(clientAccepts(url)).toBe(accepted);
    expect(emulatorAccepts(url)).toBe(accepted);
  });

  it("the loopback rule itself", () => {
    expect(isLoopbackHost("app.localhost")).toBe(true);
    expect(isLoopbackHost("[::ffff:7f00:1]")).toBe(true);
    expect(isLoopbackHost("[::ffff:a00:1]")).toBe(false);
  });
});

describe("an app.localhost webhook through the client and the emulator", () => {
  it("is accepted by the client and delivered by the emulator to 127.0.0.1, with the name in Host", async () => {
    const received: Array<{ host: string | undefined; secret: string | undefined; body: string }> = [];
    const receiver = http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        received.push({ host: req.headers.host, secret: req.headers["x-webhook-secret"] as string, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
    const port = (receiver.address() as AddressInfo).port;
    const emulator = await startEmulator({ logger: false, jobDelayMs: 1 });
    const client = new ClavataClient({ apiKey: KEY, baseUrl: emulator.url, insecure: true });
    try {
      for (const host of ["app.localhost", "localhost.", "[::ffff:7f00:1]"]) {
        const webhook = createWebhook(`http://${host}:${String(port)}/hook`, { Secret: "s3cret" });
        const job = await client.createJob({
          policyId: "policy-violence",
          contentData: [textContent("hello")],
          webhook,
        });
        const delivery = await emulator.waitForDelivery(job.jobUuid, 10_000);
        expect(delivery.outcome, `${host}: ${delivery.error ?? ""}`).toBe("delivered");
      }
      expect(received.map((r) => r.host)).toEqual([
        `app.localhost:${String(port)}`,
        `localhost.:${String(port)}`,
        `[::ffff:7f00:1]:${String(port)}`,
      ]);
      for (const r of received) {
        expect(r.secret).toBe("s3cret");
        expect(JSON.parse(r.body)).toHaveProperty("jobUuid");
      }
    } finally {
      await client.close();
      await emulator.close();
      await new Promise<void>((resolve) => receiver.close(() => resolve()));
    }
  });
});

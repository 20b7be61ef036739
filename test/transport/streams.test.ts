// Server streams on the client's own transport: a slow reader pauses the HTTP/2 stream (and so the server)
// instead of buffering without bound.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { ClavataClient, textContent } from "../../src/index.js";
import { evaluateFrame } from "./hostile.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

it("a slow reader pauses the stream: the server is held back by flow control, not buffered without bound", async () => {
  const total = 2000;
  const message = evaluateFrame(`h::${"x".repeat(60_000)}`);
  let written = 0;
  let waitingSince: number | undefined;
  const h2 = http2.createServer();
  h2.on("session", (session) => session.on("error", () => {}));
  h2.on("stream", (stream) => {
    stream.on("error", () => {});
    stream.respond({ ":status": 200, "content-type": "application/grpc+proto" }, { waitForTrailers: true });
    stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
    const pump = () => {
      waitingSince = undefined;
      while (written < total && !stream.destroyed) {
        written++;
        if (!stream.write(message)) {
          waitingSince = Date.now();
          stream.once("drain", pump);
          return;
        }
      }
      stream.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => h2.listen(0, "127.0.0.1", resolve));
  cleanup.push(() => new Promise<void>((resolve) => h2.close(() => resolve())));
  const client = new ClavataClient({
    apiKey: "sk-streams-0123456789",
    baseUrl: `http://127.0.0.1:${String((h2.address() as AddressInfo).port)}`,
    insecure: true,
  });
  cleanup.push(() => client.close());
  // One result per item, as the gateway sends.
  const contentData = Array.from({ length: total }, (_, i) => textContent(`item ${String(i)}`));
  const stream = client.evaluate({ policyId: "p", contentData });
  const first = await stream.next();
  expect(first.done).toBe(false);
  // The reader now stops. The server must end up blocked on flow control, far from done.
  await expect
    .poll(() => waitingSince !== undefined && Date.now() - waitingSince > 300, { timeout: 15_000, interval: 50 })
    .toBe(true);
  const bytes = written * message.length;
  expect(bytes).toBeLessThan(total * message.length * 0.2);
  // Reading on resumes the stream until its end.
  let count = 1;
  for await (const _ of stream) count++;
  expect(count).toBe(total);
});

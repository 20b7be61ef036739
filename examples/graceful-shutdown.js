// Graceful shutdown: an HTTP service that checks text with the gateway, and on SIGTERM (what Kubernetes, systemd and
// Docker send) or Ctrl-C stops taking new connections, lets the requests in flight finish, then closes the client,
// whose open HTTP/2 connection would otherwise keep the process alive.
//
//   CLAVATA_API_KEY=… node examples/graceful-shutdown.js
//   curl 'localhost:3000/check?text=hello'
//
// PORT (default 3000; 0 picks a free port) and POLICY_ID (default policy-violence) configure it. CLAVATA_HOST,
// CLAVATA_PORT and CLAVATA_INSECURE=1 point it at a local gateway or the emulator.

import { createServer } from "node:http";
import { ClavataClient, ClavataError, textContent, verdictOf } from "clavata-connect";

const policyId = process.env.POLICY_ID ?? "policy-violence";
const client = new ClavataClient({
  host: process.env.CLAVATA_HOST || undefined,
  port: process.env.CLAVATA_PORT ? Number(process.env.CLAVATA_PORT) : undefined,
  insecure: process.env.CLAVATA_INSECURE === "1",
});

let stopping = false;

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://localhost");
  const text = url.searchParams.get("text");
  if (url.pathname !== "/check" || !text) {
    res.writeHead(404).end();
    return;
  }
  try {
    const verdict = verdictOf(await client.evaluateOne({ policyId, contentData: textContent(text) }));
    // While shutting down, end each keep-alive connection with its answer, so that server.close() can finish.
    if (stopping) res.setHeader("connection", "close");
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(verdict.outcome));
  } catch (err) {
    if (!(err instanceof ClavataError)) throw err;
    if (stopping) res.setHeader("connection", "close");
    res.writeHead(503).end();
  }
});

server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

async function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: shutting down`);
  // No new connections; idle keep-alive connections are closed, and close() waits for requests in flight.
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeIdleConnections();
  await closed;
  // The requests are done, so no call is in flight: closing the client ends its HTTP/2 connection.
  await client.close();
  console.log("closed the server and the client");
  // Nothing is left to keep the event loop alive: the process exits with code 0 on its own.
}

process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));

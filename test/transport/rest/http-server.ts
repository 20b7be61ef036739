// A scripted HTTP/1.1 server on 127.0.0.1 for the REST transport's tests: each test says what to answer, and sees
// every request it got (method, path, headers, parsed body).
import { once } from "node:events";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** One request the server received. */
export interface ReceivedRequest {
  method: string;
  url: URL;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/** A running scripted server. */
export interface ScriptedServer {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** Starts a server whose every request is answered by `answer` (after its body has been read). */
export async function startScriptedServer(
  answer: (req: ReceivedRequest, res: http.ServerResponse) => void | Promise<void>,
): Promise<ScriptedServer> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    const text = Buffer.concat(chunks).toString("utf8");
    const received: ReceivedRequest = {
      method: req.method ?? "",
      url: new URL(req.url ?? "/", "http://test"),
      headers: req.headers,
      body: text === "" ? undefined : (JSON.parse(text) as unknown),
    };
    requests.push(received);
    await answer(received, res);
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers JSON with a status and optional headers. */
export function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

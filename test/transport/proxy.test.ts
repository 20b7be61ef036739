// HTTP CONNECT proxies for the client's own transport: which proxy the options and the environment pick, and calls
// through a CONNECT proxy of the test's own on 127.0.0.1, in plaintext HTTP/2 and over TLS. The proxy resolves the
// name gateway.test to 127.0.0.1 itself, so a gateway "behind" it needs no DNS.
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startEmulator } from "../../src/emulator/index.js";
import {
  ClavataClient,
  type ClavataClientOptions,
  ConnectionError,
  InvalidRequestError,
  TimeoutError,
} from "../../src/index.js";
import { proxyFor } from "../../src/transport/proxy.js";
import { thrown } from "../support/calls.js";
import { startTestServer } from "../support/test-server.js";

const JOB = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

describe("proxyFor", () => {
  const https = new URL("https://gateway.example.com");
  const h2c = new URL("http://gateway.example.com:8080");

  it("takes the proxy option first, and false turns proxies off", () => {
    const env = { HTTPS_PROXY: "http://env-proxy:3128" };
    expect(proxyFor(https, "http://option-proxy:8080", env)?.href).toBe("http://option-proxy:8080/");
    expect(proxyFor(https, false, env)).toBeUndefined();
  });

  it("reads grpc_proxy, https_proxy and HTTPS_PROXY for a TLS gateway, http_proxy first for plaintext", () => {
    expect(proxyFor(https, undefined, { HTTPS_PROXY: "http://a:1" })?.host).toBe("a:1");
    expect(proxyFor(https, undefined, { https_proxy: "b:2", HTTPS_PROXY: "http://a:1" })?.host).toBe("b:2");
    expect(proxyFor(https, undefined, { grpc_proxy: "http://c:3", https_proxy: "b:2" })?.host).toBe("c:3");
    expect(proxyFor(https, undefined, { http_proxy: "http://d:4" })).toBeUndefined();
    expect(proxyFor(h2c, undefined, { http_proxy: "http://d:4", https_proxy: "b:2" })?.host).toBe("d:4");
    expect(proxyFor(https, undefined, {})).toBeUndefined();
  });

  it("honours NO_PROXY: names with their subdomains, a leading dot or *., ports, IPs and *", () => {
    const env = (NO_PROXY: string) => ({ HTTPS_PROXY: "http://p:1", NO_PROXY });
    expect(proxyFor(https, undefined, env("example.com"))).toBeUndefined();
    expect(proxyFor(https, undefined, env(".example.com"))).toBeUndefined();
    expect(proxyFor(https, undefined, env("*.example.com"))).toBeUndefined();
    expect(proxyFor(https, undefined, env("other.com, gateway.example.com"))).toBeUndefined();
    expect(proxyFor(https, undefined, env("gateway.example.com:443"))).toBeUndefined();
    expect(proxyFor(https, undefined, env("gateway.example.com:8443"))?.host).toBe("p:1");
    expect(proxyFor(https, undefined, env("*"))).toBeUndefined();
    expect(proxyFor(https, undefined, env("ample.com"))?.host).toBe("p:1");
    expect(proxyFor(new URL("https://10.0.0.7"), undefined, env("10.0.0.7"))).toBeUndefined();
    expect(proxyFor(https, undefined, { HTTPS_PROXY: "http://p:1", no_proxy: "example.com" })).toBeUndefined();
  });

  it("never proxies a loopback gateway from the environment, so a developer's proxy cannot capture the emulator", () => {
    const env = { HTTPS_PROXY: "http://p:1", HTTP_PROXY: "http://p:1" };
    for (const url of ["http://127.0.0.1:50051", "https://localhost", "http://[::1]:8080"]) {
      expect(proxyFor(new URL(url), undefined, env)).toBeUndefined();
    }
    expect(proxyFor(new URL("http://127.0.0.1:50051"), "http://p:1", env)?.host).toBe("p:1");
  });
});

/** A CONNECT proxy on 127.0.0.1 that tunnels to 127.0.0.1 whatever host is asked for. */
async function connectProxy(options: { requireAuth?: string } = {}) {
  const tunnels: string[] = [];
  const auth: (string | undefined)[] = [];
  const sockets = new Set<net.Socket>();
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on("connect", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    sockets.add(socket);
    socket.on("error", () => {});
    tunnels.push(req.url ?? "");
    auth.push(req.headers["proxy-authorization"]);
    if (options.requireAuth !== undefined && req.headers["proxy-authorization"] !== options.requireAuth) {
      socket.end("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n");
      return;
    }
    const port = Number((req.url ?? "").split(":").pop());
    const upstream = net.connect(port, "127.0.0.1", () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${String((proxy.address() as net.AddressInfo).port)}`, tunnels, auth };
}

function clientFor(options: ClavataClientOptions): ClavataClient {
  const client = new ClavataClient({ apiKey: "sk-proxy-0123456789", maxRetries: 0, ...options });
  cleanup.push(() => client.close());
  return client;
}

describe("calls through a CONNECT proxy", () => {
  it("the proxy option tunnels plaintext HTTP/2 to the emulator", async () => {
    const emu = await startEmulator({ logger: false });
    cleanup.push(() => emu.close());
    const proxy = await connectProxy();
    const client = clientFor({ baseUrl: emu.url, insecure: true, proxy: proxy.url });
    expect((await client.listJobs()).jobs).toEqual([]);
    expect(proxy.tunnels).toEqual([`127.0.0.1:${String(emu.port)}`]);
  });

  it("HTTPS_PROXY tunnels TLS to a gateway by name, with credentials from the proxy URL", async () => {
    const s = await startTestServer({
      tls: { cert: fixture("server-cert.pem"), key: fixture("server-key.pem") },
      gateway: { getJob: () => ({ job: { jobUuid: JOB } }) },
    });
    cleanup.push(() => s.close());
    const proxy = await connectProxy({ requireAuth: `Basic ${Buffer.from("user:p@ss").toString("base64")}` });
    const saved = process.env.HTTPS_PROXY;
    process.env.HTTPS_PROXY = proxy.url.replace("http://", "http://user:p%40ss@");
    try {
      const client = clientFor({
        baseUrl: `https://gateway.test:${String(s.port)}`,
        tls: { ca: fixture("test-ca-cert.pem") },
      });
      expect((await client.getJob(JOB)).jobUuid).toBe(JOB);
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY;
      else process.env.HTTPS_PROXY = saved;
    }
    expect(proxy.tunnels).toEqual([`gateway.test:${String(s.port)}`]);
    expect(s.requests[0]?.headers[":authority"] ?? "gateway.test").toMatch(/gateway\.test/);
  });

  it("a proxy that refuses the tunnel is a ConnectionError that names the proxy and the status", async () => {
    const proxy = await connectProxy({ requireAuth: "Basic nope" });
    const client = clientFor({ baseUrl: "http://127.0.0.1:9", insecure: true, proxy: proxy.url });
    const error = await thrown(client.getJob(JOB));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toMatch(/the proxy 127\.0\.0\.1:\d+ refused the tunnel to 127\.0\.0\.1:9 \(HTTP 407/);
  });

  it("a proxy that never answers the CONNECT: each call times out, and its tunnel is abandoned", async () => {
    const sockets: net.Socket[] = [];
    let closed = 0;
    const silent = net.createServer((socket) => {
      sockets.push(socket);
      socket.on("error", () => {});
      socket.on("close", () => closed++);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const proxyUrl = `http://127.0.0.1:${String((silent.address() as net.AddressInfo).port)}`;
    const client = clientFor({ baseUrl: "http://127.0.0.1:9", insecure: true, proxy: proxyUrl, timeoutMs: 200 });
    expect(await thrown(client.getJob(JOB))).toBeInstanceOf(TimeoutError);
    // The tunnel the call waited for is given up: its CONNECT request's socket closes.
    await expect.poll(() => closed).toBe(1);
    // The next call does not wait on the dead tunnel: it opens its own.
    expect(await thrown(client.getJob(JOB))).toBeInstanceOf(TimeoutError);
    expect(sockets).toHaveLength(2);
  });

  it("a proxy option that is not an http(s) URL is an InvalidRequestError", () => {
    expect(() => clientFor({ baseUrl: "http://127.0.0.1:9", insecure: true, proxy: "socks5://p:1080" })).toThrow(
      InvalidRequestError,
    );
  });
});

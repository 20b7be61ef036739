// HTTP CONNECT proxies: which proxy (if any) a connection to the gateway goes through, and the tunnel itself. Like
// @grpc/grpc-js and curl, the proxy comes from the `proxy` option, else from grpc_proxy / https_proxy / HTTPS_PROXY
// (http_proxy / HTTP_PROXY for a plaintext gateway), and NO_PROXY lists hosts that are reached directly.

import * as http from "node:http";
import * as https from "node:https";
import type { Socket } from "node:net";
import { TransportFailure } from "../errors.js";
import { isLoopbackHost } from "../loopback.js";

/**
 * The proxy to reach `target` through, or undefined for a direct connection. `option` is the client's `proxy`
 * option: a URL, or false for never. Without it the environment decides; a loopback gateway (localhost, 127.0.0.0/8,
 * ::1) is always reached directly then, as Go's net/http does, so a developer's proxy settings cannot capture a
 * local emulator. Throws TypeError for a proxy URL that does not parse. @internal
 */
export function proxyFor(
  target: URL,
  option: string | false | undefined,
  env: Record<string, string | undefined> = process.env,
): URL | undefined {
  if (option === false) return undefined;
  if (option !== undefined) return parseProxy(option);
  const host = target.hostname.replace(/^\[|\]$/g, "");
  if (isLoopbackHost(host)) return undefined;
  const value =
    env.grpc_proxy ??
    (target.protocol === "https:"
      ? (env.https_proxy ?? env.HTTPS_PROXY)
      : (env.http_proxy ?? env.HTTP_PROXY ?? env.https_proxy ?? env.HTTPS_PROXY));
  if (value === undefined || value.trim() === "") return undefined;
  if (
    excluded(
      host,
      target.port || (target.protocol === "https:" ? "443" : "80"),
      env.no_grpc_proxy ?? env.no_proxy ?? env.NO_PROXY,
    )
  ) {
    return undefined;
  }
  return parseProxy(value.trim());
}

function parseProxy(value: string): URL {
  // "host:port" without a scheme is common in proxy variables.
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new TypeError(`proxy ${url.protocol}// is not supported; use an http:// or https:// CONNECT proxy`);
  }
  return url;
}

/**
 * Whether NO_PROXY exempts the host: "*" exempts all; each comma-separated entry is a host name (matching itself
 * and its subdomains, with or without a leading dot), an IP address, or either with ":port".
 */
function excluded(host: string, port: string, noProxy: string | undefined): boolean {
  if (noProxy === undefined) return false;
  const name = host.toLowerCase();
  for (const raw of noProxy.split(/[\s,]+/)) {
    let entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    const portMatch = /^(.*[^:]):(\d+)$/.exec(entry);
    if (portMatch && !entry.includes("]") && entry.split(":").length === 2) {
      if (portMatch[2] !== port) continue;
      entry = portMatch[1]!;
    }
    entry = entry.replace(/^\*?\./, "").replace(/^\[|\]$/g, "");
    if (name === entry || name.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/**
 * Opens a tunnel to `authority` ("host:port") through the proxy with HTTP CONNECT, and resolves with the socket
 * once the proxy answered 200. Sends Proxy-Authorization (Basic) when the proxy URL carries credentials. Rejects
 * with a TransportFailure ("proxy-failed", unprocessed) when the proxy cannot be reached or refuses, and with the
 * signal's reason when `signal` aborts first (the CONNECT request and its socket are destroyed). @internal
 */
export function openTunnel(proxy: URL, authority: string, signal?: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason);
      return;
    }
    const headers: Record<string, string> = { host: authority };
    if (proxy.username !== "") {
      const credentials = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
      headers["proxy-authorization"] = `Basic ${Buffer.from(credentials).toString("base64")}`;
    }
    const request = (proxy.protocol === "https:" ? https : http).request({
      host: proxy.hostname.replace(/^\[|\]$/g, ""),
      port: proxy.port || (proxy.protocol === "https:" ? 443 : 80),
      method: "CONNECT",
      path: authority,
      headers,
      agent: false,
    });
    const where = `the proxy ${proxy.host}`;
    const onAbort = () => {
      request.destroy();
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    request.once("close", () => signal?.removeEventListener("abort", onAbort));
    request.once("connect", (response, socket, head: Buffer) => {
      signal?.removeEventListener("abort", onAbort);
      if (response.statusCode === 200) {
        // An HTTP/2 server speaks first (its SETTINGS): bytes that came with the proxy's answer belong to the tunnel.
        if (head.length > 0) socket.unshift(head);
        resolve(socket);
        return;
      }
      socket.destroy();
      reject(
        new TransportFailure(
          "proxy-failed",
          `${where} refused the tunnel to ${authority} (HTTP ${String(response.statusCode)}` +
            `${response.statusCode === 407 ? ": it wants credentials; put them in the proxy URL" : ""})`,
          { unprocessed: true },
        ),
      );
    });
    request.once("response", (response) => {
      response.resume();
      reject(
        new TransportFailure("proxy-failed", `${where} answered the CONNECT with HTTP ${String(response.statusCode)}`, {
          unprocessed: true,
        }),
      );
    });
    // `on`, not `once`: destroying the request (abandoned) may report an error after another one.
    request.on("error", (error) => {
      reject(
        new TransportFailure("proxy-failed", `could not reach ${where} (${error.message})`, {
          unprocessed: true,
          cause: error,
        }),
      );
    });
    request.end();
  });
}

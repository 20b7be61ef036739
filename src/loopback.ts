// Whether a host name stays on this machine: THE one loopback rule. Plaintext is allowed only there (the gateway
// connection, webhook URLs, the CLI's --insecure), and the emulator contacts nothing else (webhooks, image URLs).
// The client, the webhook helpers, the emulator and the CLI all import it, so they cannot disagree.

/** 4 or 6 for an IP address literal, 0 otherwise; like node:net's isIP, which edge runtimes do not have. */
function isIP(h: string): 4 | 6 | 0 {
  if (/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(h)) return 4;
  if (!h.includes(":") || !/^[0-9a-f:.]+$/i.test(h)) return 0;
  try {
    new URL(`http://[${h}]/`);
    return 6;
  } catch {
    return 0;
  }
}

/** The hostname without IPv6 brackets, lower case, without a trailing root dot. */
function bare(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

/** The IPv4 address inside an IPv4-mapped IPv6 address (::ffff:a.b.c.d, or ::ffff:7f00:1 as URL writes it). */
function mappedIpv4(h: string): string | undefined {
  const dotted = /^(?:0:0:0:0:0:|::)ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (dotted) return dotted[1];
  const hex = /^(?:0:0:0:0:0:|::)ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (!hex) return undefined;
  const high = Number.parseInt(hex[1]!, 16);
  const low = Number.parseInt(hex[2]!, 16);
  return `${String(high >> 8)}.${String(high & 0xff)}.${String(low >> 8)}.${String(low & 0xff)}`;
}

/**
 * Whether `host` (a URL's hostname: IPv6 in brackets or not) is a loopback address or name: "localhost" and
 * "*.localhost" (RFC 6761; a trailing root dot allowed), 127.0.0.0/8, ::1, and ::ffff:127.x.y.z in either
 * spelling. Does no DNS lookup, so a name that merely resolves to loopback does not count.
 */
export function isLoopbackHost(host: string): boolean {
  const h = bare(host);
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  switch (isIP(h)) {
    case 4:
      return h.split(".")[0] === "127";
    case 6: {
      if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
      return mappedIpv4(h)?.split(".")[0] === "127";
    }
    default:
      return false;
  }
}

/**
 * The literal address to connect to for a loopback host, so that no resolver (or hosts file) is ever asked and a
 * loopback name cannot be sent off the machine: every name ("localhost", "app.localhost", "localhost.") is
 * 127.0.0.1, an IPv4-mapped address is its IPv4 address, and other addresses lose their brackets.
 * Throws RangeError for a host that is not loopback (check with isLoopbackHost first).
 */
export function loopbackConnectAddress(host: string): string {
  if (!isLoopbackHost(host)) throw new RangeError(`${host} is not a loopback host`);
  const h = bare(host);
  if (isIP(h) === 0) return "127.0.0.1";
  return mappedIpv4(h) ?? h;
}

// Whether a host name stays on this machine. Plaintext is allowed only there,
// both for the gateway connection and for webhook URLs.

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

/**
 * Whether `host` (a URL's hostname: IPv6 in brackets or not) is a loopback address or name: "localhost" and
 * "*.localhost", 127.0.0.0/8, ::1, and ::ffff:127.x.y.z. Does no DNS lookup, so a name that merely resolves to
 * loopback does not count.
 * @private
 */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  switch (isIP(h)) {
    case 4:
      return h.split(".")[0] === "127";
    case 6: {
      if (h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
      const mapped = /^(?:0:0:0:0:0|):ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
      if (mapped) return mapped[1]!.split(".")[0] === "127";
      // URL normalises ::ffff:127.0.0.1 to ::ffff:7f00:1.
      return /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(h);
    }
    default:
      return false;
  }
}

import type { MiddlewareHandler } from "hono";

/**
 * Headers on every console answer. The CSP allows only belay's own files: the one stylesheet
 * and the one script under /console/assets/, so no inline script or style is ever needed.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** A chart belay drew, shown through <img>: it can run nothing, and its inline styles are its own. */
const IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const h = c.res.headers;
    const type = h.get("content-type") ?? "";
    h.set("content-security-policy", type.startsWith("image/") ? IMAGE_CSP : CONSOLE_CSP);
    h.set("x-content-type-options", "nosniff");
    h.set("referrer-policy", "same-origin");
    h.set("x-frame-options", "DENY");
    h.set("cross-origin-opener-policy", "same-origin");
    h.set("cross-origin-resource-policy", "same-origin");
    // Pages, fragments and events show live state (and who is signed in): never stored. Assets may be cached briefly.
    if (!c.req.path.startsWith("/console/assets/")) h.set("cache-control", "no-store");
    else if (!h.has("cache-control")) h.set("cache-control", "public, max-age=300");
  };
}

/**
 * A loopback peer, by the socket's remote address (never a header: X-Forwarded-For is whatever
 * the client wrote). 127.0.0.0/8, ::1, and IPv4-mapped ::ffff:127.x.
 */
export function isLoopback(address: string | undefined | null): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  if (a === "::1" || a === "0:0:0:0:0:0:0:1") return true;
  const v4 = a.startsWith("::ffff:") ? a.slice("::ffff:".length) : a;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v4);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255) && m[1] === "127";
}

/**
 * A Host header naming this machine's loopback (localhost, 127.x, [::1], with any port). A
 * loopback socket alone does not make a person on this machine: a web page whose name was
 * rebound to 127.0.0.1 reaches belay from the browser's loopback socket, with its own name
 * as Host.
 */
export function isLoopbackHostHeader(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(host.trim());
  if (!m) return false;
  const name = m[1]!.toLowerCase();
  if (name === "localhost") return true;
  return isLoopback(name.startsWith("[") ? name.slice(1, -1) : name);
}

/** Headers a reverse proxy adds: a request carrying one came from someone else through a proxy on this host. */
export const FORWARDING_HEADERS = ["forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip"] as const;

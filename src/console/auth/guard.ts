import { createHash, timingSafeEqual } from "node:crypto";
import type { Context } from "hono";

/**
 * Where a sign-in may return to: a path under /console/ on belay itself, never another site
 * (`//evil.example`, `/\evil`, `https://...`) and never a path outside the console.
 */
export function safeReturnPath(returnTo: string | undefined | null): string {
  const fallback = "/console/";
  if (!returnTo || returnTo.length > 2048 || !returnTo.startsWith("/console") || /[\\\u0000-\u001f\u007f]/.test(returnTo)) return fallback;
  let u: URL;
  try {
    u = new URL(returnTo, "http://belay.invalid");
  } catch {
    return fallback;
  }
  if (u.origin !== "http://belay.invalid") return fallback;
  if (u.pathname !== "/console" && !u.pathname.startsWith("/console/")) return fallback;
  return `${u.pathname}${u.search}${u.hash}`;
}

/** Equal strings, in time that does not depend on where they differ. */
export function sameToken(a: string | undefined, b: string): boolean {
  if (typeof a !== "string" || a.length === 0) return false;
  const h = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

/**
 * Why a state-changing request is cross-site, or null when it comes from belay's own pages.
 * Browsers send Origin on every POST (and Sec-Fetch-Site with it); a request with neither is
 * refused too, since nothing then shows where it came from.
 */
export function crossSiteReason(c: Context, publicOrigin: string): string | null {
  const origin = c.req.header("origin");
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined && site !== "same-origin") return `cross-site request refused (Sec-Fetch-Site is not same-origin); decide from belay's own page at ${publicOrigin}/console/`;
  if (origin !== undefined) {
    if (origin !== publicOrigin) return `cross-site request refused (Origin is not ${publicOrigin}); decide from belay's own page at ${publicOrigin}/console/`;
    return null;
  }
  if (site === "same-origin") return null;
  return `request refused: it carries no Origin header; decide from belay's own page at ${publicOrigin}/console/`;
}

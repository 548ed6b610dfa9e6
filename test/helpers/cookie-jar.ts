/**
 * A small cookie jar for driving browser flows with plain fetch: cookies per host (ports share
 * them, as in browsers), sent where the path matches, dropped on Max-Age=0 or a past Expires.
 * Enough for sign-in tests; not a full RFC 6265 implementation.
 */
interface Stored {
  name: string;
  value: string;
  host: string;
  path: string;
  expiresAt: number | null;
  attrs: Record<string, string | true>;
}

export class CookieJar {
  private cookies: Stored[] = [];

  /** Records a response's Set-Cookie headers. */
  store(url: string | URL, res: Response): void {
    const u = new URL(url);
    for (const header of res.headers.getSetCookie()) {
      const [pair, ...rest] = header.split(";");
      const eq = pair!.indexOf("=");
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const attrs: Record<string, string | true> = {};
      for (const a of rest) {
        const i = a.indexOf("=");
        if (i < 0) attrs[a.trim().toLowerCase()] = true;
        else attrs[a.slice(0, i).trim().toLowerCase()] = a.slice(i + 1).trim();
      }
      const path = typeof attrs.path === "string" ? attrs.path : defaultPath(u.pathname);
      let expiresAt: number | null = null;
      if (typeof attrs["max-age"] === "string") expiresAt = Date.now() + Number(attrs["max-age"]) * 1000;
      else if (typeof attrs.expires === "string") expiresAt = Date.parse(attrs.expires);
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.host === u.hostname && c.path === path));
      if (expiresAt !== null && expiresAt <= Date.now()) continue;
      this.cookies.push({ name, value, host: u.hostname, path, expiresAt, attrs });
    }
  }

  /** The Cookie header for a request to this URL ("" when none). */
  header(url: string | URL): string {
    const u = new URL(url);
    const now = Date.now();
    return this.cookies
      .filter((c) => c.host === u.hostname && (c.expiresAt === null || c.expiresAt > now) && pathMatches(u.pathname, c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join("; ");
  }

  /** The stored cookie, with its attributes, for assertions. */
  get(name: string): Stored | undefined {
    return this.cookies.find((c) => c.name === name);
  }

  /** The first stored cookie whose name matches. */
  find(name: RegExp): Stored | undefined {
    return this.cookies.find((c) => name.test(c.name));
  }

  set(host: string, name: string, value: string, path = "/"): void {
    this.cookies = this.cookies.filter((c) => !(c.name === name && c.host === host && c.path === path));
    this.cookies.push({ name, value, host, path, expiresAt: null, attrs: {} });
  }

  /**
   * fetch with the jar's cookies, never following redirects itself (the caller sees each hop);
   * records what the response sets.
   */
  async fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookie = this.header(url);
    if (cookie) headers.set("cookie", cookie);
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    this.store(url, res);
    return res;
  }
}

function defaultPath(pathname: string): string {
  const i = pathname.lastIndexOf("/");
  return i <= 0 ? "/" : pathname.slice(0, i);
}

function pathMatches(reqPath: string, cookiePath: string): boolean {
  if (reqPath === cookiePath) return true;
  if (!reqPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || reqPath[cookiePath.length] === "/";
}

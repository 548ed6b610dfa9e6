import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { serve as serveNode, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createConsoleAuth, safeReturnPath, type ConsoleAuth } from "../../src/console/auth/index.ts";
import { loadConfig, type Config } from "../../src/config.ts";
import { createConsoleApp } from "../../src/console/app.ts";
import { LiveHub } from "../../src/console/live.ts";
import type { Engine } from "../../src/execute/engine.ts";
import { getApprovals } from "../../src/store/runs.ts";
import { fakeService, servicePlaybook } from "../fixtures/playbooks.ts";
import { consoleCore } from "../helpers/console.ts";
import { openTestStore, type TestStore } from "../helpers/db.ts";
import { testEngine } from "../helpers/engine.ts";
import type { Logger } from "../../src/execute/deps.ts";
import { People } from "../../src/identity/people.ts";
import { CookieJar } from "../helpers/cookie-jar.ts";
import { freePort, startTestProvider, type TestProvider } from "../helpers/oidc-provider.ts";

/**
 * Sign-in against a real OpenID provider on loopback, driven with plain HTTP. The app here is
 * the auth's routes plus two stand-in console routes (a page showing the session, a decision
 * that asks checkStateChange), so these tests need no store; the browser tests drive the real
 * console.
 */
const SESSION_KEY = "console-auth-test-session-key-0123456789";
const logs: string[] = [];
const logger: Logger = {
  info: (o, m) => logs.push(JSON.stringify([o, m])),
  warn: (o, m) => logs.push(JSON.stringify([o, m])),
  error: (o, m) => logs.push(JSON.stringify([o, m])),
  debug: (o, m) => logs.push(JSON.stringify([o, m])),
};
let clock = Date.parse("2026-12-03T09:00:00Z");

let idp: TestProvider;
let origin: string;
let server: ServerType;
let auth: ConsoleAuth;
let config: Config;

beforeAll(async () => {
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  idp = await startTestProvider({
    redirectUri: `${origin}/console/auth/callback`,
    accounts: {
      alice: { email: "alice@example.com", email_verified: true, name: "Alice Example" },
      // Claims bob's address, unverified: must not become bob.
      mallory: { email: "bob@example.com", email_verified: false, name: "Mallory" },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "belay-console-auth-"));
  writeFileSync(join(dir, "belay.yaml"), "people:\n  alice: { email: alice@example.com }\n  bob: { email: bob@example.com }\n");
  config = loadConfig({
    BELAY_CONFIG: join(dir, "belay.yaml"),
    BELAY_PUBLIC_URL: origin,
    BELAY_OIDC_ISSUER: idp.issuer,
    BELAY_OIDC_CLIENT_ID: idp.clientId,
    BELAY_OIDC_CLIENT_SECRET: idp.clientSecret,
    BELAY_CONSOLE_SESSION_KEY: SESSION_KEY,
  });
  auth = await createConsoleAuth(config, { people: config.people, logger, now: () => clock });
  const app = new Hono();
  auth.mount(app);
  app.get("/console/*", async (c) => {
    const s = await auth.session(c);
    if (!s) return c.html(`<p>not signed in</p><a href="${auth.loginUrl(c.req.path)}">Sign in</a>`);
    return c.html(`<p>signed in as ${s.displayName}, person ${s.principal?.person ?? "(none)"}</p><form method="post"><input type="hidden" name="_csrf" value="${s.csrf}"></form>`);
  });
  app.post("/console/decide", async (c) => {
    const s = await auth.session(c);
    if (!s) return c.text("sign in first", 401);
    const form = await c.req.parseBody();
    const why = auth.checkStateChange(c, s, typeof form._csrf === "string" ? form._csrf : undefined);
    if (why) return c.text(why, 403);
    return c.text(`decided by ${s.principal!.person} via ${s.principal!.surface}/${s.principal!.auth.method}`);
  });
  server = serveNode({ fetch: app.fetch, port, hostname: "127.0.0.1" });
});

afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  await idp?.close();
});

/** Follows a sign-in from belay's login URL through the provider's login and consent forms back to belay. */
async function signIn(jar: CookieJar, login: string, returnTo = "/console/incidents/42"): Promise<{ landed: string; hops: string[] }> {
  return followSignIn(jar, `${origin}${auth.loginUrl(returnTo)}`, login);
}

/** Follows a sign-in from `start` (belay's login URL, or the provider's authorization URL it sent to). */
async function followSignIn(jar: CookieJar, start: string, login: string): Promise<{ landed: string; hops: string[] }> {
  let url = start;
  const hops: string[] = [];
  for (let i = 0; i < 20; i++) {
    hops.push(url);
    const res = await jar.fetch(url);
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get("location")!, url).href;
      if (url.startsWith(origin) && !url.startsWith(`${origin}/console/auth/`)) return { landed: url, hops };
      continue;
    }
    const html = await res.text();
    expect(res.status, html.slice(0, 300)).toBe(200);
    const action = new URL(/<form[^>]*action="([^"]+)"/.exec(html)![1]!.replace(/&amp;/g, "&"), url).href;
    const prompt = /name="prompt" value="(\w+)"/.exec(html)![1]!;
    const body = new URLSearchParams(prompt === "login" ? { prompt, login, password: "any" } : { prompt });
    const posted = await jar.fetch(action, { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded" } });
    expect(posted.status).toBeGreaterThanOrEqual(300);
    url = new URL(posted.headers.get("location")!, action).href;
  }
  throw new Error(`sign-in did not come back to belay: ${hops.join(" -> ")}`);
}

async function csrfOf(jar: CookieJar): Promise<string> {
  const html = await (await jar.fetch(`${origin}/console/`)).text();
  return /name="_csrf" value="([^"]+)"/.exec(html)![1]!;
}

const decide = (jar: CookieJar, body: Record<string, string>, headers: Record<string, string> = { origin: "" }) =>
  jar.fetch(`${origin}/console/decide`, { method: "POST", body: new URLSearchParams(body), headers: { "content-type": "application/x-www-form-urlencoded", ...headers } });

describe("console sign-in with OpenID Connect (authorization code + PKCE)", () => {
  it("sends state, nonce and an S256 PKCE challenge, and no secret, to the provider", async () => {
    const jar = new CookieJar();
    const res = await jar.fetch(`${origin}${auth.loginUrl("/console/")}`);
    expect(res.status).toBe(302);
    const to = new URL(res.headers.get("location")!);
    expect(to.origin).toBe(idp.issuer);
    expect(to.searchParams.get("code_challenge_method")).toBe("S256");
    expect(to.searchParams.get("code_challenge")).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(to.searchParams.get("state")).toBeTruthy();
    expect(to.searchParams.get("nonce")).toBeTruthy();
    expect(to.searchParams.get("redirect_uri")).toBe(`${origin}/console/auth/callback`);
    expect(to.href).not.toContain(idp.clientSecret);
    const pending = jar.find(/^belay_login_/)!;
    expect(pending.attrs.httponly).toBe(true);
    expect(pending.attrs.path).toBe("/console/auth");
    expect(pending.value).not.toContain(to.searchParams.get("state")!);
  });

  it("signs a mapped person in through the provider's form: a sealed HttpOnly SameSite=Lax cookie on /console, back where they started", async () => {
    const jar = new CookieJar();
    const { landed } = await signIn(jar, "alice");
    expect(landed).toBe(`${origin}/console/incidents/42`);
    const cookie = jar.get("belay_session")!;
    expect(cookie.attrs.httponly).toBe(true);
    expect(String(cookie.attrs.samesite).toLowerCase()).toBe("lax");
    expect(cookie.attrs.path).toBe("/console");
    expect(cookie.attrs.secure).toBeUndefined(); // http:// public URL; https:// sets Secure
    expect(Number(cookie.attrs["max-age"])).toBe(8 * 3600);
    expect(cookie.value).not.toMatch(/alice/i);
    expect(await (await jar.fetch(`${origin}/console/`)).text()).toContain("signed in as Alice Example, person alice");
    const res = await decide(jar, { _csrf: await csrfOf(jar) }, { origin });
    expect(await res.text()).toBe("decided by alice via console/oidc");
  });

  it("two sign-ins started in two tabs of one browser both complete", async () => {
    const jar = new CookieJar();
    const first = (await jar.fetch(`${origin}${auth.loginUrl("/console/incidents/1")}`)).headers.get("location")!;
    const second = (await jar.fetch(`${origin}${auth.loginUrl("/console/incidents/2")}`)).headers.get("location")!;
    expect((await followSignIn(jar, first, "alice")).landed).toBe(`${origin}/console/incidents/1`);
    expect((await followSignIn(jar, second, "alice")).landed).toBe(`${origin}/console/incidents/2`);
  });

  it("someone whose email the provider did not verify is signed in but is nobody: cannot decide, and is told what to add", async () => {
    const jar = new CookieJar();
    await signIn(jar, "mallory");
    expect(await (await jar.fetch(`${origin}/console/`)).text()).toContain("signed in as Mallory, person (none)");
    const res = await decide(jar, { _csrf: await csrfOf(jar) }, { origin });
    expect(res.status).toBe(403);
    expect(await res.text()).toMatch(/^not mapped: add oidc: mallory to your entry in people: in BELAY_CONFIG/);
  });

  it("refuses a cross-site POST that carries a valid session cookie (and a missing or wrong CSRF token)", async () => {
    const jar = new CookieJar();
    await signIn(jar, "alice");
    const csrf = await csrfOf(jar);
    const crossOrigin = await decide(jar, { _csrf: csrf }, { origin: "https://evil.example" });
    expect(crossOrigin.status).toBe(403);
    expect(await crossOrigin.text()).toContain("cross-site request refused");
    expect((await decide(jar, { _csrf: csrf }, { "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect((await decide(jar, { _csrf: csrf }, { origin, "sec-fetch-site": "same-site" })).status).toBe(403);
    expect((await decide(jar, { _csrf: csrf }, {})).status).toBe(403); // neither header: nothing shows where it came from
    expect((await decide(jar, { _csrf: csrf }, { origin: "null" })).status).toBe(403); // a sandboxed frame or a data: page
    expect((await decide(jar, { _csrf: csrf }, { origin: `${origin}.evil.example` })).status).toBe(403);
    // Another session's token is not this session's.
    const other = new CookieJar();
    await signIn(other, "alice");
    expect((await decide(jar, { _csrf: await csrfOf(other) }, { origin })).status).toBe(403);
    expect((await decide(jar, {}, { origin })).status).toBe(403);
    const wrong = await decide(jar, { _csrf: `${csrf.slice(0, -2)}xx` }, { origin });
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).toContain("CSRF token is missing or does not match");
    expect((await decide(jar, { _csrf: csrf }, { origin, "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect((await decide(jar, { _csrf: csrf }, { "sec-fetch-site": "same-origin" })).status).toBe(200);
  });

  it("a forged, foreign or expired session cookie is no session", async () => {
    const jar = new CookieJar();
    await signIn(jar, "alice");
    const good = jar.get("belay_session")!.value;
    const csrf = await csrfOf(jar);
    jar.set("127.0.0.1", "belay_session", `${good.slice(0, 20)}${good[20] === "A" ? "B" : "A"}${good.slice(21)}`, "/console");
    expect((await decide(jar, { _csrf: csrf }, { origin })).status).toBe(401);
    // The sign-in cookie sealed under the same key is not a session.
    const other = new CookieJar();
    await other.fetch(`${origin}${auth.loginUrl("/console/")}`);
    jar.set("127.0.0.1", "belay_session", other.find(/^belay_login_/)!.value, "/console");
    expect((await decide(jar, { _csrf: csrf }, { origin })).status).toBe(401);
    // Expiry is checked by belay, whatever the browser keeps.
    jar.set("127.0.0.1", "belay_session", good, "/console");
    expect((await decide(jar, { _csrf: csrf }, { origin })).status).toBe(200);
    clock += 8 * 3_600_000 + 1;
    try {
      expect((await decide(jar, { _csrf: csrf }, { origin })).status).toBe(401);
    } finally {
      clock -= 8 * 3_600_000 + 1;
    }
  });

  it("sign-out needs a same-origin POST with the CSRF token, then the cookie is gone", async () => {
    const jar = new CookieJar();
    await signIn(jar, "alice");
    const csrf = await csrfOf(jar);
    const logout = (headers: Record<string, string>, body: Record<string, string>) =>
      jar.fetch(`${origin}/console/auth/logout`, { method: "POST", body: new URLSearchParams(body), headers: { "content-type": "application/x-www-form-urlencoded", ...headers } });
    expect((await logout({ origin: "https://evil.example" }, { _csrf: csrf })).status).toBe(403);
    expect((await logout({ origin }, {})).status).toBe(403);
    expect(jar.get("belay_session")).toBeDefined();
    const out = await logout({ origin }, { _csrf: csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get("location")).toBe("/console/");
    expect(jar.get("belay_session")).toBeUndefined();
    expect(await (await jar.fetch(`${origin}/console/`)).text()).toContain("not signed in");
  });

  it("the callback shows nothing from the query unless its state matches this browser's sign-in", async () => {
    const hostile = encodeURIComponent("<script>alert(1)</script>Your account is locked, call +1 555");
    const fresh = new CookieJar();
    const noCookie = await fresh.fetch(`${origin}/console/auth/callback?error=access_denied&error_description=${hostile}&state=x`);
    expect(noCookie.status).toBe(400);
    expect(await noCookie.text()).not.toMatch(/script|locked|access_denied/);

    const jar = new CookieJar();
    const start = new URL((await jar.fetch(`${origin}${auth.loginUrl("/console/")}`)).headers.get("location")!);
    const wrongState = await jar.fetch(`${origin}/console/auth/callback?error=access_denied&error_description=${hostile}&state=not-the-state`);
    expect(wrongState.status).toBe(400);
    expect(await wrongState.text()).not.toMatch(/script|locked|access_denied/);

    const matching = await jar.fetch(`${origin}/console/auth/callback?error=access_denied&error_description=${hostile}&state=${start.searchParams.get("state")}`);
    expect(matching.status).toBe(403);
    const page = await matching.text();
    expect(page).toContain("access_denied");
    expect(page).toContain("&lt;script&gt;");
    expect(page).not.toContain("<script>");
    expect(matching.headers.get("content-security-policy")).not.toContain("unsafe-inline");

    // The sign-in's own pages are sinks like every page: a secret the provider quotes is redacted.
    const again = new URL((await jar.fetch(`${origin}${auth.loginUrl("/console/")}`)).headers.get("location")!);
    const quoting = encodeURIComponent("upstream refused postgres://idp:hunter2-s3cret@db.internal/idp");
    const leaky = await (await jar.fetch(`${origin}/console/auth/callback?error=server_error&error_description=${quoting}&state=${again.searchParams.get("state")}`)).text();
    expect(leaky).toContain("server_error");
    expect(leaky).not.toContain("hunter2-s3cret");
  });

  it("a stolen code cannot be redeemed without this browser's PKCE verifier and state", async () => {
    const victim = new CookieJar();
    let code = "";
    let url = `${origin}${auth.loginUrl("/console/")}`;
    // Stop at the callback: the attacker has the code, not the victim's belay_login cookie.
    for (let i = 0; i < 20 && !code; i++) {
      const res = await victim.fetch(url);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get("location")!, url).href;
        if (url.startsWith(`${origin}/console/auth/callback`)) code = url;
        continue;
      }
      const html = await res.text();
      const action = new URL(/<form[^>]*action="([^"]+)"/.exec(html)![1]!, url).href;
      const prompt = /name="prompt" value="(\w+)"/.exec(html)![1]!;
      const posted = await victim.fetch(action, { method: "POST", body: new URLSearchParams(prompt === "login" ? { prompt, login: "alice", password: "x" } : { prompt }), headers: { "content-type": "application/x-www-form-urlencoded" } });
      url = new URL(posted.headers.get("location")!, action).href;
    }
    expect(code).toContain("code=");
    const attacker = new CookieJar();
    await attacker.fetch(`${origin}${auth.loginUrl("/console/")}`); // a sign-in of the attacker's own
    const res = await attacker.fetch(code);
    expect(res.status).toBe(400);
    expect(attacker.get("belay_session")).toBeUndefined();
  });

  it("returns only to /console/ paths (no open redirect)", () => {
    for (const bad of ["https://evil.example/console/", "//evil.example/console/", "/\\evil.example", "/console/../admin", "/consolex", "javascript:alert(1)", "/console/\n//evil"]) {
      expect(safeReturnPath(bad), bad).toBe("/console/");
      expect(auth.loginUrl(bad)).toBe("/console/auth/login?return=%2Fconsole%2F");
    }
    expect(safeReturnPath("/console/runs/r1?x=1#step-2")).toBe("/console/runs/r1?x=1#step-2");
  });

  it("logs no secret: not the client secret, the session key, a code or a cookie", () => {
    const all = logs.join("\n");
    expect(all).toContain("console sign-in");
    for (const secret of [idp.clientSecret, SESSION_KEY, "code=", "belay_session="]) expect(all).not.toContain(secret);
  });
});

describe("the console's own decision route, with this sign-in", () => {
  let store: TestStore;
  let engine: Engine;
  let consoleApp: ReturnType<typeof createConsoleApp>;
  let runId: string;
  beforeAll(async () => {
    store = await openTestStore("pg", "console_auth");
    ({ engine } = testEngine({ db: store.db, playbooks: [servicePlaybook(fakeService())] }));
    consoleApp = createConsoleApp({ core: consoleCore(store.db, engine, config), auth, live: new LiveHub(), clock: () => new Date() });
    ({ runId } = await engine.propose({ playbookId: "fix-service", params: { name: "api" }, requestedBy: "bob", surface: "cli" }));
    await engine.drive(runId);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
  });

  it("refuses a cross-site POST that carries a valid session cookie and the right CSRF token, and decides nothing", async () => {
    const jar = new CookieJar();
    await signIn(jar, "alice");
    const cookie = jar.header(`${origin}/console/`);
    const page = await consoleApp.request(`${origin}/console/runs/${runId}`, { headers: { cookie } });
    expect(page.status).toBe(200);
    const html = await page.text();
    const form = /<form method="post" action="[^"]*\/decide" class="decide">([\s\S]*?)<\/form>/.exec(html)![1]!;
    const fields = Object.fromEntries([...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!]));
    expect(fields._csrf).toBeTruthy();
    const post = (headers: Record<string, string>) =>
      consoleApp.request(`${origin}/console/runs/${runId}/decide`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", cookie, ...headers }, body: new URLSearchParams({ ...fields, action: "approve" }) });
    const crossSite: Record<string, string>[] = [{ origin: "https://evil.example", "sec-fetch-site": "cross-site" }, { origin: "http://127.0.0.1:1" }, { "sec-fetch-site": "same-site" }, {}];
    for (const headers of crossSite) {
      const res = await post(headers);
      expect(res.status, JSON.stringify(headers)).toBe(403);
      expect(await res.text()).toMatch(/^Refused: (cross-site request refused|request refused: it carries no Origin header)/);
    }
    expect(await getApprovals(store.db, runId)).toHaveLength(0);
    const ok = await post({ origin, "sec-fetch-site": "same-origin" });
    expect(ok.status).toBe(200);
    const [approval] = await getApprovals(store.db, runId);
    expect(approval).toMatchObject({ actor: "alice", surface: "console", auth: { method: "oidc", issuer: idp.issuer, subject: "alice" } });
  });
});

describe("over https", () => {
  it("the session and sign-in cookies are Secure when BELAY_PUBLIC_URL is https", async () => {
    const cfg = loadConfig({ BELAY_PUBLIC_URL: "https://belay.example.com", BELAY_OIDC_ISSUER: idp.issuer, BELAY_OIDC_CLIENT_ID: idp.clientId, BELAY_OIDC_CLIENT_SECRET: idp.clientSecret, BELAY_CONSOLE_SESSION_KEY: SESSION_KEY });
    const https = await createConsoleAuth(cfg, { people: cfg.people, logger, now: () => clock });
    const app = new Hono();
    https.mount(app);
    const res = await app.request("/console/auth/login?return=/console/");
    expect(res.status).toBe(302);
    expect(new URL(res.headers.get("location")!).searchParams.get("redirect_uri")).toBe("https://belay.example.com/console/auth/callback");
    expect(res.headers.get("set-cookie")).toMatch(/^belay_login_[\w-]{16}=[^;]+;.*\bSecure\b/i);
    expect(res.headers.get("set-cookie")).toMatch(/HttpOnly/i);
  });
});

describe("a provider that does not answer", () => {
  it("sign-in says so in one line (502), with no secret, and belay keeps serving", async () => {
    const down = await freePort();
    const cfg = loadConfig({ BELAY_PUBLIC_URL: origin, BELAY_OIDC_ISSUER: `http://127.0.0.1:${down}`, BELAY_OIDC_CLIENT_ID: "belay", BELAY_OIDC_CLIENT_SECRET: "never-shown-secret-42", BELAY_CONSOLE_SESSION_KEY: SESSION_KEY });
    const a = await createConsoleAuth(cfg, { people: cfg.people, logger, now: () => clock });
    const app = new Hono();
    a.mount(app);
    const res = await app.request("/console/auth/login");
    expect(res.status).toBe(502);
    const page = await res.text();
    expect(page).toContain(`The sign-in provider at http://127.0.0.1:${down} did not answer its discovery request`);
    expect(page).not.toContain("never-shown-secret-42");
    expect(logs.join("\n")).not.toContain("never-shown-secret-42");
  });
});

describe("without OIDC", () => {
  it("is off: no sessions, every state change refused; without a session key it warns sessions are per process", async () => {
    const off = await createConsoleAuth(loadConfig({}), { people: loadConfig({}).people, logger, now: () => clock });
    expect(off.enabled).toBe(false);
    const app = new Hono();
    off.mount(app);
    app.get("/console/", async (c) => c.text(String(await off.session(c))));
    expect(await (await app.request("/console/")).text()).toBe("undefined");
    expect((await app.request("/console/auth/login")).status).toBe(404);
    const warned: string[] = [];
    const cfg = loadConfig({ BELAY_PUBLIC_URL: origin, BELAY_OIDC_ISSUER: idp.issuer, BELAY_OIDC_CLIENT_ID: "x", BELAY_OIDC_CLIENT_SECRET: "y" });
    await createConsoleAuth(cfg, { people: cfg.people, logger: { ...logger, warn: (o) => warned.push(String(o)) }, now: () => clock });
    expect(warned.join()).toContain("BELAY_CONSOLE_SESSION_KEY is not set");
  });
});

describe("a session cookie from another belay", () => {
  async function signedIn(): Promise<CookieJar> {
    const jar = new CookieJar();
    await signIn(jar, "alice");
    expect((await decide(jar, { _csrf: await csrfOf(jar) }, { origin })).status).toBe(200);
    return jar;
  }
  const sessionWith = async (other: ConsoleAuth, jar: CookieJar) => {
    const app = new Hono();
    app.get("/console/", async (c) => c.text(String((await other.session(c))?.principal?.person ?? "none")));
    return (await app.request("/console/", { headers: { cookie: jar.header(`${origin}/console/`) } })).text();
  };

  it("one that restarted with a random key (no BELAY_CONSOLE_SESSION_KEY) accepts no session from before", async () => {
    const jar = await signedIn();
    const cfg = loadConfig({ BELAY_PUBLIC_URL: origin, BELAY_OIDC_ISSUER: idp.issuer, BELAY_OIDC_CLIENT_ID: idp.clientId, BELAY_OIDC_CLIENT_SECRET: idp.clientSecret });
    const restarted = await createConsoleAuth(cfg, { people: new People({ alice: { email: "alice@example.com" } }), logger, now: () => clock });
    expect(await sessionWith(restarted, jar)).toBe("none");
  });

  it("one whose BELAY_OIDC_ISSUER is now another provider accepts no session the old provider signed in, even with the same key", async () => {
    const jar = await signedIn();
    const cfg = loadConfig({ BELAY_PUBLIC_URL: origin, BELAY_OIDC_ISSUER: "https://other-idp.example.com", BELAY_OIDC_CLIENT_ID: "x", BELAY_OIDC_CLIENT_SECRET: "y", BELAY_CONSOLE_SESSION_KEY: SESSION_KEY });
    const moved = await createConsoleAuth(cfg, { people: new People({ alice: { email: "alice@example.com" } }), logger, now: () => clock });
    expect(await sessionWith(moved, jar)).toBe("none");
    // The same settings as the belay that signed it in: the session holds.
    const same = await createConsoleAuth({ ...cfg, console: { ...cfg.console, oidc: { issuer: idp.issuer, clientId: idp.clientId, clientSecret: idp.clientSecret } } }, { people: new People({ alice: { email: "alice@example.com" } }), logger, now: () => clock });
    expect(await sessionWith(same, jar)).toBe("alice");
  });
});

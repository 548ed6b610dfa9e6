import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { serve } from "../../src/main.ts";
import type { Serving } from "../../src/core.ts";
import { getRun } from "../../src/store/runs.ts";
import { launchBrowser, loopbackContext, screenshot, signInAtProvider } from "../helpers/browser.ts";
import { seedIncident } from "../helpers/console.ts";
import { freshPgDatabase } from "../helpers/db.ts";
import { freePort, startTestProvider, type TestProvider } from "../helpers/oidc-provider.ts";
import { startOwnRedis, type OwnRedis } from "../helpers/own-redis.ts";

/**
 * The console in real headless Chromium against `belay serve` in this process: a Postgres
 * database of this file's own, a Redis of its own that the playbook really changes, and a real
 * OpenID provider on loopback whose login form people sign in through. A second `belay serve`
 * on the same database without OIDC is the read-only, loopback-only console.
 * Screenshots: test-artifacts/console/.
 */
const INCIDENT = "inc_browser1";
const SESSION_KEY = "browser-test-session-key-0123456789abcdef";
let redis: OwnRedis;
let db: { url: string; drop: () => Promise<void> };
let idp: TestProvider;
let belay: Serving;
let roEnv: Record<string, string>;
let origin: string;
let browser: Browser;
let runId: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  redis = await startOwnRedis({ args: ["--maxmemory", "64mb", "--maxmemory-policy", "noeviction"] });
  db = await freshPgDatabase("console_browser");
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  idp = await startTestProvider({
    redirectUri: `${origin}/console/auth/callback`,
    accounts: {
      alice: { email: "alice@example.com", email_verified: true, name: "Alice Requester" },
      bob: { email: "bob@example.com", email_verified: true, name: "Bob Oncall" },
      carol: { email: "carol@example.com", email_verified: true, name: "Carol Lead" },
    },
  });
  const dir = mkdtempSync(join(tmpdir(), "belay-console-browser-"));
  writeFileSync(
    join(dir, "belay.yaml"),
    [
      "targets:",
      `  redis: { cache: { url: "${redis.url}", labels: { instance: "cache-exporter:9121" } } }`,
      "people:",
      "  alice: { oidc: alice, email: alice@example.com }",
      "  bob: { oidc: bob }",
      "  carol: { email: carol@example.com }", // mapped by verified email
      "",
    ].join("\n"),
  );
  const env = {
    DATABASE_URL: db.url,
    BELAY_CONFIG: join(dir, "belay.yaml"),
    BELAY_PLAYBOOKS_DIR: join(import.meta.dirname, "playbooks"),
    BELAY_LOG_LEVEL: "silent",
    BELAY_DATA_DIR: join(dir, "data"),
  };
  belay = await serve(
    loadConfig({
      ...env,
      BELAY_PUBLIC_URL: origin,
      BELAY_OIDC_ISSUER: idp.issuer,
      BELAY_OIDC_CLIENT_ID: idp.clientId,
      BELAY_OIDC_CLIENT_SECRET: idp.clientSecret,
      BELAY_CONSOLE_SESSION_KEY: SESSION_KEY,
    }),
    { port, host: "127.0.0.1" },
  );
  roEnv = env;
  await seedIncident(belay.core.db, INCIDENT, { title: "Cache at maxmemory: writes refused" });
  ({ runId } = await belay.core.engine.propose({ playbookId: "console-demo", params: { redis: "cache" }, requestedBy: "alice", surface: "cli", incidentId: INCIDENT }));
  await waitFor(async () => (await getRun(belay.core.db, runId))?.status === "awaiting_approval", "the run to wait for approval of set-policy");
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await belay?.close();
  await idp?.close();
  await db?.drop();
  await redis?.stop();
});

async function waitFor(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function personPage(opts: { viewport?: { width: number; height: number } } = {}): Promise<Page> {
  const context = await loopbackContext(browser, opts);
  contexts.push(context);
  return context.newPage();
}

/** Signs `login` in through the provider's form, starting from a console page that asks for it. */
async function signedIn(login: string, path: string, shot?: string, viewport?: { width: number; height: number }): Promise<Page> {
  const page = await personPage(viewport ? { viewport } : {});
  await page.goto(`${origin}${path}`);
  expect(page.url().startsWith(idp.issuer), `${path} sends a signed-out person to the provider`).toBe(true);
  await signInAtProvider(page, login, origin, shot);
  expect(new URL(page.url()).pathname).toBe(path);
  return page;
}

const redisConfig = async (name: string): Promise<string> => {
  const r = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    return ((await r.config("GET", name)) as string[])[1]!;
  } finally {
    r.disconnect();
  }
};

/** Step `idx` of the run on this page, in `status` (the step's class s-<status>). */
const stepIn = (page: Page, idx: number, status: string) => page.locator(`li#step-${runId}-${idx}.s-${status}`);

// Chromium on two shared cores: each sign-in and page is a second or two.
describe("the console in Chromium", { timeout: 90_000 }, () => {
  it("without OIDC: read-only from loopback, the incident and its whole plan, no decision forms", async () => {
    // Another replica on the same database, without OIDC. Closed before anything is approved:
    // its engine would take the run, and a page follows the events of its own replica only.
    const readOnly = await serve(loadConfig(roEnv), { port: 0, host: "127.0.0.1" });
    const page = await personPage();
    let closed = false;
    onTestFinished(async () => {
      await page.context().close();
      if (!closed) await readOnly.close();
    });
    await page.goto(`${readOnly.url}/console/`);
    await expect.poll(() => page.locator("main").innerText()).toContain("Cache at maxmemory: writes refused");
    await screenshot(page, "01-readonly-overview");
    await page.click(`a[href="/console/incidents/${INCIDENT}"]`);
    const text = await page.locator("main").innerText();
    for (const s of ["set-policy", "raise-maxmemory", "medium risk", "high risk", "maxmemory-policy"]) expect(text).toContain(s);
    expect(await page.locator("text=Read-only: sign-in is not configured").count()).toBeGreaterThan(0);
    expect(await page.locator('button[value="approve"]').count()).toBe(0);
    await screenshot(page, "02-readonly-incident");
    // A state change from the page itself is refused.
    const status = await page.evaluate(async (url) => (await fetch(url, { method: "POST", body: new URLSearchParams({ action: "abort" }) })).status, `/console/runs/${runId}/decide`);
    expect(status).toBe(403);

    // belay serve stops (SIGTERM) while the page is open: its EventSource reconnects every 3 s
    // on the same keep-alive connection, which must not keep the server from closing.
    await expect.poll(() => page.locator("#live-status").innerText()).toMatch(/^(Live|Updated at)/);
    const stopped = await Promise.race([readOnly.close().then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 10_000))]);
    closed = stopped;
    expect(stopped, "belay serve closed within 10 s with a console page open").toBe(true);
  });

  it("signs in through the provider's login form, sees the incident and its plan, approves a step and watches it run without a reload", async () => {
    const page = await signedIn("bob", `/console/incidents/${INCIDENT}`, "03-provider-login");
    await expect.poll(() => page.locator("header").innerText()).toContain("Signed in as Bob Oncall (bob)");
    await screenshot(page, "04-signed-in-incident");
    await page.click('button:has-text("Approve set-policy")');
    await page.waitForLoadState();
    // From here on the page must change by itself: a reload would lose this marker.
    await page.evaluate("window.belayMarker = 1");
    await stepIn(page, 1, "succeeded").waitFor({ timeout: 20_000 });
    await page.locator('button:has-text("Approve raise-maxmemory")').waitFor({ timeout: 20_000 });
    expect(await page.evaluate("window.belayMarker")).toBe(1);
    expect(await redisConfig("maxmemory-policy")).toBe("allkeys-lru");
    await screenshot(page, "05-step-ran-live");
  });

  it("the requester is refused the high-risk step; a stale page is refused; two other people approve it and it runs", async () => {
    const alice = await signedIn("alice", `/console/runs/${runId}`);
    await alice.click('button:has-text("Approve raise-maxmemory")');
    await expect.poll(() => alice.locator('[role="alert"]').innerText()).toMatch(/Refused: .*alice/);
    await screenshot(alice, "06-requester-refused");

    const bob = await signedIn("bob", `/console/runs/${runId}`);
    await bob.click('button:has-text("Approve raise-maxmemory")');
    await expect.poll(() => bob.locator(`#step-${runId}-2`).innerText()).toContain("1 of 2");

    // Carol's page stops following events (a laptop that lost its network), then the plan changes under it.
    const carol = await signedIn("carol", `/console/runs/${runId}`);
    await carol.context().route("**/console/events", (r) => r.abort());
    await carol.reload();
    const shown = await carol.locator(`section[data-run-id="${runId}"]`).getAttribute("data-plan-hash");
    await belay.core.db.query("UPDATE runs SET plan_hash = $2 WHERE id = $1", [runId, "f".repeat(64)]);
    await carol.click('button:has-text("Approve raise-maxmemory")');
    await expect.poll(() => carol.locator('[role="alert"]').innerText()).toContain("The plan changed since this page was loaded");
    expect(shown).not.toBe("f".repeat(64));
    await screenshot(carol, "07-stale-page-refused");

    // The page after the refusal shows the current plan; bob's approval was for the old one.
    await carol.click('button:has-text("Approve raise-maxmemory")');
    await expect.poll(() => carol.locator('[role="status"].notice, .notice.ok').first().innerText()).toBeTruthy();
    // goto, not reload: bob's page is the answer to his POST, and a reload would send it again.
    await bob.goto(`${origin}/console/runs/${runId}`);
    await bob.click('button:has-text("Approve raise-maxmemory")');
    await bob.evaluate("window.belayMarker = 2");
    await stepIn(bob, 2, "succeeded").waitFor({ timeout: 20_000 });
    expect(await bob.evaluate("window.belayMarker")).toBe(2);
    expect(await redisConfig("maxmemory")).toBe(String(96 * 1024 * 1024));
    await screenshot(bob, "08-high-risk-ran");
  });

  it("a cross-site form POST that carries the valid session cookie is refused (even with the right CSRF token)", async () => {
    const bob = await signedIn("bob", `/console/incidents/${INCIDENT}`);
    const csrf = await bob.locator('input[name="_csrf"]').first().inputValue();
    // Another port of the same host is the same site: SameSite=Lax sends the cookie, so only the origin check stands.
    const evil: Server = createServer((_req, res) => {
      res.setHeader("content-type", "text/html");
      res.end(`<form id="f" method="post" action="${origin}/console/runs/${runId}/decide"><input name="_csrf" value="${csrf}"><input name="action" value="abort"></form><script>document.getElementById("f").submit()</script>`);
    });
    await new Promise<void>((r) => evil.listen(0, "127.0.0.1", r));
    try {
      const answered = bob.waitForResponse((r) => r.url().endsWith(`/console/runs/${runId}/decide`));
      await bob.goto(`http://127.0.0.1:${(evil.address() as AddressInfo).port}/`);
      const res = await answered;
      expect(res.status()).toBe(403);
      expect(await res.text()).toContain("cross-site request refused");
      expect(res.request().headers().cookie ?? (await res.request().allHeaders()).cookie).toContain("belay_session=");
      await screenshot(bob, "09-cross-site-refused");
    } finally {
      await new Promise<void>((r) => evil.close(() => r()));
    }
    expect((await getRun(belay.core.db, runId))?.abortRequested ?? null).toBeNull();
  });

  it("cancelling at the provider shows its refusal on belay's page, with a way to sign in again", async () => {
    const page = await personPage();
    await page.goto(`${origin}/console/`);
    await page.waitForSelector('input[name="login"]');
    await page.click("text=[ Cancel ]");
    await page.waitForURL((u) => u.href.startsWith(`${origin}/console/auth/callback`));
    await expect.poll(() => page.locator("h1").innerText()).toBe("The sign-in provider refused");
    expect(await page.locator("main").innerText()).toContain("access_denied");
    await screenshot(page, "11-provider-refused");
    await page.click("text=Sign in again");
    await signInAtProvider(page, "carol", origin);
    expect(await page.locator("header").innerText()).toContain("Signed in as Carol Lead (carol)");
  });

  it("reads on a phone", async () => {
    const page = await signedIn("carol", `/console/runs/${runId}`, undefined, { width: 390, height: 844 });
    await screenshot(page, "10-phone-run");
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - document.documentElement.clientWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    // No secret in a page: not the client secret, the session key, or the session cookie itself.
    const html = await page.content();
    const cookie = (await page.context().cookies()).find((c) => c.name === "belay_session")!;
    expect(cookie.httpOnly).toBe(true);
    for (const secret of [idp.clientSecret, SESSION_KEY, cookie.value]) expect(html).not.toContain(secret);
  });
});
